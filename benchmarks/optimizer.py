"""The optimizer's payoff: optimization levels against eager mode and numpy written by hand.

Five sections, each measured side by side in this one run (medians of several repeats, see
``timing.py``, taken in turns) and printed as ratios:

1. a chain of 100 tiny elementwise ops on 4x4 float32: the per-op overhead fusion removes;
2. an elementwise expression on 4M float32: one fused loop against one array per op;
3. MLP 784-256-256-10 inference, batch 32: epilogue fusion against numpy by hand;
4. peak memory of a residual MLP block stack with a gelu-like expression (tracemalloc: numpy
   reports its allocations to it), against eager mode and level 0;
5. compile time of each graph: optimize + lower per level, and the numba compilations cold
   (fresh cache directory, new process), cached in the process and cached on disk.

A summary lists each target and whether it was met.  Timings are never asserted: machines are
noisy.  Usage: ``python benchmarks/optimizer.py [--repeats N] [--quick]``.

On a small machine shared with other work, multithreaded BLAS and numba's parallel kernels
can stall while their threads wait for a core; the header shows the load and thread settings.
For steadier single-core numbers run with ``OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from timing import median_time

import graphexec as gx
from graphexec.fusion import jit_stats
from graphexec.fusion import program as fused

LEVELS = (0, 1, 2, 3)
RESULTS: list[tuple[str, str, bool | None]] = []  # (target, measured, met) for the summary


# -- helpers ---------------------------------------------------------------------------------
def stats_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """``jit_stats()`` counters gained between two readings."""
    return {k: v - before.get(k, 0) for k, v in after.items()}


@contextlib.contextmanager
def fusion_backend(name: str | None) -> Iterator[None]:
    """Run the block with fusion backend ``name`` ("numba", "numpy"; None: leave it)."""
    if name is None:
        yield
        return
    old = gx.config.fusion_backend()
    gx.config.set_fusion_backend(name)
    try:
        yield
    finally:
        gx.config.set_fusion_backend(old)


@contextlib.contextmanager
def serial_numba(on: bool) -> Iterator[None]:
    """Run the block with numba's parallel (prange) kernels off, when ``on``."""
    if not on:
        yield
        return
    old = fused.PARALLEL_MIN_SIZE
    fused.PARALLEL_MIN_SIZE = sys.maxsize
    try:
        yield
    finally:
        fused.PARALLEL_MIN_SIZE = old


def interleaved(fns: dict[str, Callable[[], Any]], repeats: int,
                budget: float = 0.05) -> dict[str, float]:
    """Median seconds per call of each function: ``repeats`` rounds, each timing every
    function in turn (``median_time`` of enough calls to fill about ``budget`` s), so a slow
    spell of a noisy machine weighs on all of them alike."""
    number = {}
    for k, fn in fns.items():
        fn()
        t0 = time.perf_counter()
        fn()
        number[k] = max(1, min(20000, int(budget / max(time.perf_counter() - t0, 1e-7))))
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            samples[k].append(median_time(fn, 1, number[k]))
    return {k: statistics.median(v) for k, v in samples.items()}


def fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:8.1f} µs"
    if s < 1:
        return f"{s * 1e3:8.2f} ms"
    return f"{s:8.3f} s "


def fmt_bytes(n: float) -> str:
    return f"{n / 2**20:8.2f} MiB"


def environment() -> str:
    """CPUs, load and the thread settings that sway the timings, in one line."""
    env = ", ".join(f"{k}={os.environ[k]}" for k in (
        "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OMP_WAIT_POLICY",
        "NUMBA_THREADING_LAYER") if k in os.environ)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return f"{os.cpu_count()} CPUs, load average {load}; {env or 'no thread settings in env'}"


def numba_threads() -> str:
    """``; numba: N threads, layer L`` once numba has run a parallel kernel, else ``""``."""
    numba = sys.modules.get("numba")
    if numba is None:
        return ""
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel has run
        layer = "none used"
    return f"; numba {numba.get_num_threads()} threads, layer {layer}"


def target(name: str, measured: str, met: bool | None) -> None:
    RESULTS.append((name, measured, met))


@dataclass
class Variant:
    """One way of running a case: ``fn()`` computes the result."""

    name: str
    fn: Callable[[], Any]
    compiled: Any = None  # the CompiledGraph, for graph variants
    error: str | None = None  # why the variant could not be built


@dataclass
class Case:
    """A model written once with gx ops (run eagerly and as graphs) and once in numpy."""

    name: str
    model: Callable[..., Any]  # gx tensors -> gx tensor (eager or symbolic)
    by_hand: Callable[..., np.ndarray]  # numpy arrays -> numpy array
    inputs: dict[str, np.ndarray]
    #: placeholder shapes (None = unknown dim); defaults to the inputs' shapes
    shapes: dict[str, tuple[int | None, ...]] = field(default_factory=dict)
    rtol: float = 1e-5

    def graph(self) -> tuple[gx.Graph, Any, dict[Any, np.ndarray]]:
        """A fresh graph of the model: (graph, fetch, feeds)."""
        with gx.graph() as g:
            ps = {k: gx.placeholder(self.shapes.get(k, v.shape), v.dtype.name, name=k)
                  for k, v in self.inputs.items()}
            y = self.model(**ps)
        return g, y, {ps[k]: v for k, v in self.inputs.items()}

    def variants(self, levels: tuple[int, ...] = LEVELS, numpy_fusion: tuple[int, ...] = (),
                 serial: tuple[int, ...] = ()) -> list[Variant]:
        """By hand, eager, and one graph per level (and per level of ``numpy_fusion`` with the
        numpy fusion backend, of ``serial`` with numba's parallel kernels off)."""
        consts = {k: gx.constant(v) for k, v in self.inputs.items()}
        out = [Variant("numpy by hand", lambda: self.by_hand(**self.inputs)),
               Variant("eager", lambda: self.model(**consts))]
        # NOTE: the plain levels run under the default fusion backend ("auto": numba when
        # installed), without a switch per call that would weigh on the tiny cases
        specs: list[tuple[str, int, str | None, bool]] = [
            (f"level {lv}", lv, None, False) for lv in levels]
        if gx.config.numba_available():
            specs += [(f"level {lv} (numpy fusion)", lv, "numpy", False) for lv in numpy_fusion]
            specs += [(f"level {lv} (serial numba)", lv, "numba", True) for lv in serial]
        for name, lv, backend, ser in specs:
            out.append(self.graph_variant(name, lv, backend, ser))
        return out

    def graph_variant(self, name: str, level: int, backend: str | None,
                      serial: bool = False) -> Variant:
        g, y, feeds = self.graph()
        try:
            with fusion_backend(backend), serial_numba(serial):
                compiled = g.compile(y, optimize=level)
                g.run(y, feeds, optimize=level)  # the first run compiles fused kernels
        except Exception as e:  # a level not built yet is reported, not fatal
            return Variant(name, lambda: None, error=f"{type(e).__name__}: {e}"[:90])
        if backend is None and not serial:
            return Variant(name, lambda: g.run(y, feeds, optimize=level), compiled)

        def run() -> Any:
            with fusion_backend(backend), serial_numba(serial):
                return g.run(y, feeds, optimize=level)

        return Variant(name, run, compiled)

    def check(self, variants: list[Variant]) -> None:
        """Every variant agrees with numpy by hand (to ``rtol``: numba may differ by ulps)."""
        want = self.by_hand(**self.inputs)
        for v in variants:
            if v.error:
                continue
            got = v.fn()
            got = got.numpy() if hasattr(got, "numpy") else got
            np.testing.assert_allclose(got, want, rtol=self.rtol, atol=self.rtol,
                                       err_msg=f"{self.name}: {v.name}")


def timing_table(title: str, variants: list[Variant], repeats: int, base: str,
                 also: str | None = None) -> dict[str, float]:
    """Time every variant; print times and ratios to ``base`` (and to ``also``)."""
    t = interleaved({v.name: v.fn for v in variants if not v.error}, repeats)
    print(f"\n{title}")
    head = f"  {'variant':28s} {'time':>11s} {'/ ' + base:>18s}"
    if also:
        head += f" {'/ ' + also:>14s}"
    print(head + "   nodes")
    for v in variants:
        if v.error:
            print(f"  {v.name:28s} unavailable: {v.error}")
            continue
        row = f"  {v.name:28s} {fmt_time(t[v.name])} {t[v.name] / t[base]:17.2f}x"
        if also:
            row += f" {t[v.name] / t[also]:13.2f}x"
        if v.compiled is not None:
            row += f"   {len(v.compiled.source)} -> {len(v.compiled.graph)}"
        print(row)
    return t


# -- the cases ------------------------------------------------------------------------------
def chain_case(n: int = 100, seed: int = 0) -> Case:
    """``n`` chained tiny elementwise ops on 4x4 float32; the by-hand version is generated."""
    rng = np.random.default_rng(seed)
    steps: list[tuple[str, float | None]] = []
    for _ in range(n):
        kind = ["add", "multiply", "subtract", "relu", "tanh"][rng.integers(5)]
        if kind == "multiply":
            steps.append((kind, round(float(rng.uniform(0.8, 1.2)), 3)))
        elif kind in ("add", "subtract"):
            steps.append((kind, round(float(rng.uniform(-0.5, 0.5)), 3)))
        else:
            steps.append((kind, None))

    def model(x: Any) -> Any:
        for op, c in steps:
            if op == "relu":
                x = gx.nn.relu(x)
            elif op == "tanh":
                x = gx.tanh(x)
            else:
                x = getattr(gx, op)(x, c)
        return x

    lines = ["def by_hand(x):"]
    for op, c in steps:
        if op == "relu":
            lines.append("    x = np.maximum(x, np.float32(0))")
        elif op == "tanh":
            lines.append("    x = np.tanh(x)")
        else:
            lines.append(f"    x = np.{op}(x, np.float32({c!r}))")
    lines.append("    return x")
    ns: dict[str, Any] = {"np": np}
    exec("\n".join(lines), ns)
    x = rng.normal(size=(4, 4)).astype(np.float32)
    return Case(f"chain of {n} elementwise ops, 4x4 float32", model, ns["by_hand"], {"x": x},
                rtol=1e-4)


def elementwise_case(size: int) -> Case:
    def model(x: Any, z: Any) -> Any:
        y = (x * 1.5 + 0.25) * z - x
        y = y * y + z * 0.5
        return gx.nn.relu(y)

    def by_hand(x: np.ndarray, z: np.ndarray) -> np.ndarray:
        y = (x * np.float32(1.5) + np.float32(0.25)) * z - x
        y = y * y + z * np.float32(0.5)
        return np.maximum(y, np.float32(0))

    rng = np.random.default_rng(1)
    x = rng.normal(size=size).astype(np.float32)
    z = rng.normal(size=size).astype(np.float32)
    return Case(f"elementwise chain on {size:,} float32", model, by_hand, {"x": x, "z": z})


def mlp_case(batch: int) -> Case:
    rng = np.random.default_rng(2)
    sizes = (784, 256, 256, 10)
    ws = [rng.normal(0, np.sqrt(2 / a), (a, b)).astype(np.float32)
          for a, b in itertools.pairwise(sizes)]
    bs = [rng.normal(0, 0.1, b).astype(np.float32) for b in sizes[1:]]
    w1, w2, w3 = ws
    b1, b2, b3 = bs
    variables: list[Any] = []

    def model(x: Any) -> Any:
        if not variables:  # the same Variables in eager mode and in every graph
            variables.extend(gx.Variable(a) for a in (*ws, *bs))
        v1, v2, v3, c1, c2, c3 = variables
        h = gx.nn.relu(gx.matmul(x, v1) + c1)
        h = gx.nn.relu(gx.matmul(h, v2) + c2)
        return gx.matmul(h, v3) + c3

    def by_hand(x: np.ndarray) -> np.ndarray:
        h = np.maximum(x @ w1 + b1, np.float32(0))
        h = np.maximum(h @ w2 + b2, np.float32(0))
        return h @ w3 + b3

    with gx.eager():
        model(gx.constant(np.zeros((1, 784), np.float32)))  # creates the variables eagerly
    x = rng.normal(size=(batch, 784)).astype(np.float32)
    return Case(f"MLP 784-256-256-10 inference (logits), batch {batch}, float32", model,
                by_hand, {"x": x}, shapes={"x": (None, 784)}, rtol=1e-4)


def resblock_case(rows: int, width: int, blocks: int) -> Case:
    rng = np.random.default_rng(3)
    ws = [rng.normal(0, 1 / np.sqrt(width), (width, width)).astype(np.float32)
          for _ in range(blocks)]
    bs = [rng.normal(0, 0.1, width).astype(np.float32) for _ in range(blocks)]

    def model(x: Any) -> Any:
        for w, b in zip(ws, bs):
            h = gx.matmul(x, w) + b
            h = 0.5 * h * (1.0 + gx.tanh(0.7978845608 * (h + 0.044715 * h * h * h)))
            x = x + h
        return x

    def by_hand(x: np.ndarray) -> np.ndarray:
        f = np.float32
        for w, b in zip(ws, bs):
            h = x @ w + b
            h = f(0.5) * h * (f(1.0) + np.tanh(f(0.7978845608) * (h + f(0.044715) * h * h * h)))
            x = x + h
        return x

    x = rng.normal(size=(rows, width)).astype(np.float32)
    return Case(f"{blocks} residual blocks (matmul + bias + gelu-like), ({rows}, {width}) "
                f"float32", model, by_hand, {"x": x}, rtol=1e-4)


def cases(quick: bool) -> dict[str, Case]:
    return {
        "chain": chain_case(100),
        "elementwise": elementwise_case(1 << 18 if quick else 1 << 22),
        "mlp": mlp_case(32),
        "resblock": resblock_case(*((512, 256, 2) if quick else (4096, 512, 4))),
    }


# -- sections -------------------------------------------------------------------------------
def section_chain(case: Case, repeats: int) -> None:
    vs = case.variants()
    case.check(vs)
    t = timing_table(f"1. {case.name}; ratios to numpy by hand", vs, repeats, "numpy by hand")
    if "level 3" in t:
        r = t["level 3"] / t["numpy by hand"]
        target("1. tiny chain: level 3 faster than numpy by hand", f"{r:.2f}x by hand", r < 1)
    else:
        target("1. tiny chain: level 3 faster than numpy by hand", "level 3 unavailable", None)


def section_elementwise(case: Case, repeats: int) -> None:
    vs = case.variants(numpy_fusion=(2, 3), serial=(3,))
    case.check(vs)
    t = timing_table(f"2. {case.name}; ratios to eager (lower is faster)", vs, repeats,
                     "eager", also="numpy by hand")
    print("  speed-up over eager: " + ", ".join(
        f"{name} {t['eager'] / t[name]:.1f}x" for name in t if name.startswith("level")))
    if "level 3" in t:
        speedup = t["eager"] / t["level 3"]
        target("2. elementwise chain: level 3 >= 8x faster than eager", f"{speedup:.1f}x",
               speedup >= 8)
    else:
        target("2. elementwise chain: level 3 >= 8x faster than eager", "level 3 unavailable", None)


def section_mlp(case: Case, repeats: int) -> None:
    vs = case.variants()
    case.check(vs)
    t = timing_table(f"3. {case.name}; ratios to numpy by hand", vs, repeats, "numpy by hand")
    if "level 3" in t:
        r = t["level 3"] / t["numpy by hand"]
        target("3. MLP inference: level 3 <= 1.0x numpy by hand", f"{r:.2f}x", r <= 1.0)
    else:
        target("3. MLP inference: level 3 <= 1.0x numpy by hand", "level 3 unavailable", None)


def traced_peak(fn: Callable[[], Any]) -> int:
    """Bytes allocated at the peak of one call of ``fn`` above what was allocated before it
    (so the inputs are not counted; the result is)."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        out = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del out
    return peak - base


def section_memory(case: Case, repeats: int) -> None:
    vs = case.variants(numpy_fusion=(3,), serial=(3,))
    case.check(vs)
    peaks = {v.name: min(traced_peak(v.fn) for _ in range(2)) for v in vs if not v.error}
    x = case.inputs["x"]
    print(f"\n4. peak memory: {case.name}; input {fmt_bytes(x.nbytes).strip()}, peak traced "
          "above the inputs (result included)")
    print(f"  {'variant':28s} {'peak':>12s} {'/ eager':>8s} {'/ level 0':>10s}   "
          "plan: planned / unplanned peak")
    for v in vs:
        if v.error:
            print(f"  {v.name:28s} unavailable: {v.error}")
            continue
        p = peaks[v.name]
        row = (f"  {v.name:28s} {fmt_bytes(p)} {p / peaks['eager']:7.2f}x "
               f"{p / peaks['level 0']:9.2f}x")
        mem = getattr(getattr(v.compiled, "plan", None), "memory", None)
        if mem is not None:
            row += f"   {fmt_bytes(mem.planned_peak)} / {fmt_bytes(mem.unplanned_peak)}"
        print(row)
    t = timing_table("   and their times (ratios to eager)", vs, repeats, "eager")
    del t
    if "level 3" in peaks:
        r = peaks["level 3"] / peaks["eager"]
        target("4. peak memory: level 3 <= 0.6x eager", f"{r:.2f}x", r <= 0.6)
    else:
        target("4. peak memory: level 3 <= 0.6x eager", "level 3 unavailable", None)


# -- 5. compile time ------------------------------------------------------------------------
def compile_once(case: Case, level: int) -> dict[str, Any]:
    """Compile a fresh graph of ``case`` at ``level`` and run it twice: the seconds of the
    compile, what the first run took beyond the second, the numba counters gained and the
    optimizer's report."""
    g, y, feeds = case.graph()
    before = jit_stats()
    t0 = time.perf_counter()
    compiled = g.compile(y, optimize=level)
    t1 = time.perf_counter()
    g.run(y, feeds, optimize=level)
    t2 = time.perf_counter()
    g.run(y, feeds, optimize=level)
    t3 = time.perf_counter()
    return {"seconds": compiled.seconds, "compile": t1 - t0,
            "optimize": sum(r.seconds for r in compiled.report.records),
            "first_run": (t2 - t1) - (t3 - t2), "jit": stats_delta(before, jit_stats()),
            "report": str(compiled.report)}


def worker(name: str) -> None:
    """In a new process: compile ``name`` at level 3 twice (cold or disk-cached, then cached
    in the process); print the measurements as one JSON line."""
    case = cases(quick=True)[name]
    first = compile_once(case, 3)
    again = compile_once(case, 3)
    print(json.dumps({"first": first, "again": again, "stats": jit_stats()}))


def run_worker(name: str, cache_dir: str) -> dict[str, Any]:
    env = dict(os.environ, GRAPHEXEC_CACHE_DIR=cache_dir)
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, __file__, "--worker", name], env=env,
                       capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        return {"error": (p.stderr.strip().splitlines() or ["?"])[-1][:90]}
    out = json.loads(p.stdout.strip().splitlines()[-1])
    out["wall"] = wall
    return out


def fmt_jit(j: dict[str, Any]) -> str:
    if not j:
        return "-"
    return ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in j.items())


def section_compile(all_cases: dict[str, Case]) -> None:
    print("\n5a. optimize + lower in this process (CompiledGraph.seconds; optimize = the "
          "report's pass times)")
    print(f"  {'graph':12s} {'nodes':>6s} " + " ".join(f"{'level ' + str(lv):>21s}"
                                                        for lv in LEVELS[1:]))
    print(f"  {'':12s} {'':6s} " + " ".join(f"{'total / optimize':>21s}" for _ in LEVELS[1:]))
    report = ""
    for name, case in all_cases.items():
        g, _, _ = case.graph()
        cells = []
        for lv in LEVELS[1:]:
            try:
                r = compile_once(case, lv)
                cells.append(f"{r['seconds'] * 1e3:9.1f} / {r['optimize'] * 1e3:6.1f} ms")
                report = r["report"]
            except Exception as e:
                cells.append(f"{type(e).__name__:>21s}")
        print(f"  {name:12s} {len(g):6d} " + " ".join(cells))
    print("  (fused kernels are compiled on their first run: see 5b)\n  the last one's report:")
    print("\n".join("    " + line for line in report.splitlines()))

    if not gx.config.numba_available():
        print("\n5b. numba compilation: unavailable (numba is not installed)")
        target("5. compile: disk-cached numba faster than cold", "unavailable", None)
        return
    print("\n5b. numba compilation at level 3, each in a new process (small inputs): cold = "
          "fresh GRAPHEXEC_CACHE_DIR;\n    in-process hit = the same graph built again; disk "
          "hit = a new process on the cold run's cache")
    print(f"  {'graph':12s} {'':14s} {'compile':>11s} {'1st run extra':>13s}  jit_stats delta")
    colds, disks = 0.0, 0.0
    for name in all_cases:
        with tempfile.TemporaryDirectory(prefix="gx-cache-") as tmp:
            cold = run_worker(name, tmp)
            disk = run_worker(name, tmp)
        if "error" in cold or "error" in disk:
            print(f"  {name:12s} failed: {cold.get('error') or disk.get('error')}")
            continue
        rows = [("cold", cold["first"]), ("in-process hit", cold["again"]),
                ("disk hit", disk["first"])]
        for label, r in rows:
            print(f"  {name if label == 'cold' else '':12s} {label:14s} "
                  f"{fmt_time(r['compile'])} {fmt_time(max(r['first_run'], 0.0)):>13s}  "
                  f"{fmt_jit(r['jit'])}")
        colds += cold["first"]["compile"] + cold["first"]["first_run"]
        disks += disk["first"]["compile"] + disk["first"]["first_run"]
        print(f"  {'':12s} {'process wall':14s} cold {cold['wall']:.2f} s, disk-cached "
              f"{disk['wall']:.2f} s (imports included)")
    if colds:
        target("5. compile: disk-cached numba faster than cold (info)",
               f"{disks:.2f} s vs {colds:.2f} s cold", disks < colds)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args.worker)
        return
    all_cases = cases(args.quick)
    print(f"graphexec optimizer benchmarks; median of {args.repeats} repeats"
          f"{' (quick sizes)' if args.quick else ''}; fusion backend "
          f"{gx.config.fusion_backend()}")
    print(f"  {environment()}")
    section_chain(all_cases["chain"], args.repeats)
    section_elementwise(all_cases["elementwise"], args.repeats)
    section_mlp(all_cases["mlp"], args.repeats)
    section_memory(all_cases["resblock"], args.repeats)
    section_compile(all_cases)
    print(f"\nsummary ({environment()}{numba_threads()})")
    for name, measured, met in RESULTS:
        verdict = "n/a" if met is None else ("met" if met else "NOT met")
        print(f"  {name:52s} {measured:>24s}  {verdict}")


if __name__ == "__main__":
    main()
