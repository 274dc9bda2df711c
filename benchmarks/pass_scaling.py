"""How the optimizer's passes scale: ``gx.optimize`` at levels 1, 2 and 3 on synthetic graphs of
1k, 10k and 100k nodes, timed per pass from the report's records.

Each graph is many parallel chains over one shared placeholder, built so that every pass has
work in every chain: duplicate subexpressions (CSE), identity constants ``x*1`` and ``x-0``
(algebraic simplification), constant-only subtrees (constant folding), a dead branch (DCE), a
``relu(matmul + bias)`` (epilogue fusion) and elementwise runs (elementwise fusion).  Every
chain's result is kept.

Printed per level and pass: milliseconds, microseconds per node, and the growth of the time
per 10x nodes (linear is 10x, n log n a little more).  A pass that grows much faster is
profiled with pyinstrument at the largest size and the graphexec function that takes the time
is named.  Timings are never asserted.  Usage:
``python benchmarks/pass_scaling.py [--repeats N] [--quick] [--max-nodes N] [--profile PASS]``;
``--history N`` instead times ``optimize`` of the N-node graph with and without the pass history
(``report.history``), interleaved, and prints both medians of CPU time and their ratio per level.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import numpy as np

import graphexec as gx

#: growth per 10x nodes above which a pass is called super-linear (linear: 10, n log n about
#: 12, quadratic: 100; a loaded machine can double a time)
SUPERLINEAR = 25.0
#: ... when both of its times are at least this (tiny times are mostly noise)
MIN_SECONDS = 0.01
#: the function each report record's pass runs (the name pyinstrument shows)
PASS_FUNCTIONS = {"memory_planning": "_memory_preview"}


def build(n_nodes: int, seed: int = 0) -> tuple[gx.Graph, list[Any]]:
    """A graph of at least ``n_nodes`` nodes made of parallel chains; (graph, kept tensors)."""
    rng = np.random.default_rng(seed)
    f32 = np.float32
    outs: list[Any] = []
    with gx.graph() as g:
        x = gx.placeholder((4, 8), "float32", name="x")
        w = gx.constant(rng.normal(size=(8, 8)).astype(f32))
        b = gx.constant(rng.normal(size=8).astype(f32))
        i = 0
        while len(g) < n_nodes:
            c = 1.0 + i / 2**20  # distinct in float32: no two chains merge
            a = x * c
            a_dup = x * c  # a duplicate subexpression
            a1 = (a * 1.0) - 0.0  # identities
            k = gx.constant(f32(2.0)) * gx.constant(f32(c))  # a constant-only subtree
            dead = gx.exp(a1) + 1.0  # a dead branch
            del dead
            h = gx.nn.relu(gx.matmul(a1, w) + b)  # an epilogue
            y = gx.tanh(a1 + a_dup) * k - h
            outs.append(gx.nn.relu(y * 0.5 + 0.25))
            i += 1
    return g, outs


def copy(g: gx.Graph) -> gx.Graph:
    """A private copy of ``g`` to optimize in place (as ``Graph.compile`` makes one)."""
    c = gx.Graph(name=f"{g.name}-copy")
    c.nx = g.nx.copy()
    c.nx.graph["name"] = c.name
    return c


def time_optimize(g: gx.Graph, keep: list[Any], level: int) -> tuple[dict[str, float], int]:
    """Seconds per pass (summed over rounds) of one ``optimize`` of a copy of ``g``; "total"
    is the whole call, "validate + driver" what the records do not cover, "idle passes" the
    part of the total spent in pass runs that changed nothing (the fixed point's checks);
    and the number of rounds."""
    c = copy(g)
    t0 = time.perf_counter()
    report = gx.optimize(c, level, keep=keep)
    total = time.perf_counter() - t0
    per: dict[str, float] = defaultdict(float)
    for r in report.records:
        per[r.name] += r.seconds
    per["validate + driver"] = total - sum(r.seconds for r in report.records)
    per["total"] = total
    per["(of which idle passes)"] = sum(r.seconds for r in report.records
                                        if not (r.changed or r.actions))
    return dict(per), report.rounds


def history_overhead(n_nodes: int, levels: list[int], repeats: int) -> None:
    """Median ``optimize`` CPU seconds with and without the pass history, runs interleaved
    (either first in turn)."""
    g, outs = build(n_nodes)
    gc.collect()
    gc.freeze()
    print(f"pass history overhead: optimize of {len(g):,} nodes, median of {repeats} "
          "interleaved runs each")
    print(f"  {'level':>5}  {'without ms':>10}  {'with ms':>8}  {'ratio':>6}  steps  changes")
    for level in levels:
        times: dict[bool, list[float]] = {False: [], True: []}
        steps = changes = 0
        for r in range(repeats):
            for on in (False, True) if r % 2 == 0 else (True, False):  # neither always first
                c = copy(g)
                gc.collect()  # each run starts from the same collector state
                t0 = time.process_time()  # NOTE: CPU time: what another VM steals is not ours
                # NOTE: owned, as Graph.compile's private copy: its final nodes are not copied
                report = gx.optimize(c, level, keep=outs, history=on, owned=True)
                times[on].append(time.process_time() - t0)
                if report.history is not None:
                    steps = len(report.history)
                    changes = sum(len(s.changes) for s in report.history)
        off, on_ = statistics.median(times[False]), statistics.median(times[True])
        print(f"  {level:5d}  {off * 1e3:10.1f}  {on_ * 1e3:8.1f}  {on_ / off:6.3f}  "
              f"{steps:5d}  {changes:,}")


def growth(t_small: float, t_big: float, n_small: int, n_big: int) -> float:
    """Growth of ``t`` per 10x nodes (the node counts are not exactly 10x apart)."""
    return t_big / max(t_small, 1e-9) * 10 / (n_big / n_small)


# -- profiling ------------------------------------------------------------------------------
def _walk(frame: Any) -> Iterator[Any]:
    """``frame`` and every real frame under it (not pyinstrument's synthetic self-time
    frames, whose time ``total_self_time`` already counts)."""
    yield frame
    for child in frame.children:
        if not child.is_synthetic:
            yield from _walk(child)


def _is_graphexec(frame: Any) -> bool:
    path = frame.file_path or ""
    return "graphexec" in path and "benchmarks" not in path


def profile_pass(g: gx.Graph, keep: list[Any], level: int, name: str,
                 verdict: str = "to blame") -> None:
    """Profile ``optimize`` at ``level`` and print where pass ``name`` spends its time: the
    graphexec functions it runs, each charged with the time of the library code it calls."""
    from pyinstrument import Profiler

    func = PASS_FUNCTIONS.get(name, name)
    c = copy(g)
    profiler = Profiler(interval=0.0005)
    profiler.start()
    gx.optimize(c, level, keep=keep)
    session = profiler.stop()
    root = session.root_frame()
    if root is None:
        print("    (no samples)")
        return
    tops = [f for f in _walk(root) if f.function == func]
    # the outermost frames of the pass only (a recursive pass nests)
    tops = [f for f in tops if not any(p.function == func for p in _ancestors(f))]
    total = sum(f.time for f in tops)
    if not tops:
        print(f"    {func} did not run at level {level}")
        return
    charged: dict[tuple[str, str], float] = defaultdict(float)
    for top in tops:
        _charge(top, top, charged)
    print(f"    profile of {func} at level {level}: {total * 1e3:.0f} ms sampled in "
          f"{len(tops)} run(s); graphexec functions by time charged (own code + the "
          "library code they call):")
    ranked = sorted(charged.items(), key=lambda kv: -kv[1])
    for (fn, where), t in ranked[:6]:
        print(f"      {t * 1e3:9.1f} ms  {100 * t / max(total, 1e-9):5.1f}%  {fn}  ({where})")
    if ranked:
        (fn, where), t = ranked[0]
        print(f"    -> {verdict}: {fn} ({where}), {100 * t / max(total, 1e-9):.0f}% of the pass")
    own: dict[str, float] = defaultdict(float)
    for top in tops:
        for f in _walk(top):
            own[f"{f.function} ({f.file_path_short}:{f.line_no})"] += f.total_self_time
    hot = sorted(own.items(), key=lambda kv: -kv[1])[:4]
    print("    hottest functions (own time): " + "; ".join(
        f"{k} {t * 1e3:.0f} ms" for k, t in hot))


def _ancestors(frame: Any) -> Iterator[Any]:
    p = frame.parent
    while p is not None:
        yield p
        p = p.parent


def _charge(frame: Any, owner: Any, charged: dict[tuple[str, str], float]) -> None:
    """Charge ``frame``'s own time to ``owner``, the nearest graphexec frame at or above it;
    graphexec frames own themselves."""
    if _is_graphexec(frame):
        owner = frame
    key = (owner.function, f"{owner.file_path_short}:{owner.line_no}")
    charged[key] += frame.total_self_time
    for child in frame.children:
        if not child.is_synthetic:
            _charge(child, owner, charged)


# -- main -----------------------------------------------------------------------------------
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="1k and 10k nodes, one repeat")
    p.add_argument("--max-nodes", type=int, default=100_000, help="largest graph")
    p.add_argument("--levels", default="1,2,3")
    p.add_argument("--fusion-backend", default="numpy",
                   help="fusion backend while optimizing (numpy: no numba compiles in lowering)")
    p.add_argument("--no-profile", action="store_true", help="do not profile slow passes")
    p.add_argument("--profile", default="",
                   help="passes to profile at the largest size anyway (comma-separated, "
                        "at the highest level given)")
    p.add_argument("--history", type=int, default=0, metavar="N",
                   help="time the pass history's overhead on an N-node graph instead")
    args = p.parse_args()
    if args.history:
        history_overhead(args.history, [int(s) for s in args.levels.split(",")],
                         max(args.repeats, 5))
        return
    max_nodes = min(args.max_nodes, 10_000) if args.quick else args.max_nodes
    repeats = 1 if args.quick else args.repeats
    levels = [int(s) for s in args.levels.split(",")]
    sizes = [n for n in (1_000, 10_000, 100_000, 1_000_000) if n <= max_nodes] or [max_nodes]
    setter = getattr(gx.config, "set_fusion_backend", None)
    if setter is not None:
        setter(args.fusion_backend)
    backend = gx.config.fusion_backend() if setter is not None else "n/a"

    graphs: dict[int, tuple[gx.Graph, list[Any]]] = {}
    print(f"pass scaling: optimize levels {args.levels} on graphs of "
          f"{', '.join(f'{n:,}' for n in sizes)} nodes; median of {repeats} repeat(s); "
          f"fusion backend {backend}")
    print(f"  load average {', '.join(f'{v:.1f}' for v in os.getloadavg())} on "
          f"{os.cpu_count()} CPUs")
    for n in sizes:
        t0 = time.perf_counter()
        graphs[n] = build(n)
        g, outs = graphs[n]
        print(f"  built {len(g):,} nodes ({len(outs):,} chains, all kept) in "
              f"{time.perf_counter() - t0:.2f} s")
    # NOTE: the graphs live throughout; frozen, the collector's full passes skip them, so
    # the small graphs' times do not include scans of the big ones
    gc.collect()
    gc.freeze()

    flagged: list[tuple[int, str, float]] = []
    for level in levels:
        runs: dict[int, list[tuple[dict[str, float], int]]] = {}
        for n in sizes:
            g, outs = graphs[n]
            try:
                runs[n] = [time_optimize(g, outs, level) for _ in range(repeats)]
            except Exception as e:  # a level not built yet is reported, not fatal
                print(f"\nlevel {level}: optimize failed: {type(e).__name__}: {e}")
                break
        if len(runs) < len(sizes):
            continue
        rounds = ", ".join(str(runs[n][0][1]) for n in sizes)
        names = list(dict.fromkeys(k for n in sizes for per, _ in runs[n] for k in per))
        med = {n: {k: statistics.median(per.get(k, 0.0) for per, _ in runs[n]) for k in names}
               for n in sizes}
        counts = {n: len(graphs[n][0]) for n in sizes}
        width = max(len(k) for k in names)
        print(f"\nlevel {level} (rounds of passes: {rounds})")
        head = f"  {'pass'.ljust(width)}"
        for n in sizes:
            head += f" {f'{counts[n]:,} nodes: ms':>20s} {'µs/node':>8s}"
        steps = list(itertools.pairwise(sizes))
        for lo, hi in steps:
            head += f" {f'{lo // 1000}k→{hi // 1000}k':>9s}"
        print(head + "   (growth per 10x nodes; linear ≈ 10x)")
        for k in names:
            row = f"  {k.ljust(width)}"
            for n in sizes:
                t = med[n][k]
                row += f" {t * 1e3:20.1f} {t / counts[n] * 1e6:8.2f}"
            mark = ""
            for lo, hi in steps:
                gr = growth(med[lo][k], med[hi][k], counts[lo], counts[hi])
                row += f" {gr:8.1f}x"
                if gr > SUPERLINEAR and med[lo][k] >= MIN_SECONDS:
                    mark = "  <- super-linear"
                    if not k.startswith(("total", "validate", "(")):
                        flagged.append((level, k, gr))
            print(row + mark)

    print()
    if not flagged:
        print(f"no pass grows faster than {SUPERLINEAR:.0f}x per 10x nodes")
    seen: set[str] = set()
    for level, name, gr in flagged:
        if name in seen:
            continue
        seen.add(name)
        print(f"super-linear: level {level} {name} grows {gr:.1f}x per 10x nodes")
        if not args.no_profile:
            g, outs = graphs[sizes[-1]]
            profile_pass(g, outs, level, name)
    for name in filter(None, args.profile.split(",")):
        if name not in seen:
            print(f"profile asked for: {name}")
            g, outs = graphs[sizes[-1]]
            profile_pass(g, outs, max(levels), name, verdict="most time in")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
