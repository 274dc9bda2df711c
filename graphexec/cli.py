"""The ``graphexec`` command (also ``python -m graphexec``): ``demo``, ``bench``, ``viz``.

    graphexec demo [--out DIR] [--tiny]
    graphexec bench [--workload NAME ...] [--modes MODE ...] [--peers] [--json FILE] [--plot FILE]
    graphexec viz [--model mlp|cnn] [--level N] [--out DIR] [--filmstrip] [--format svg|png]
    graphexec --version
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__
from .errors import GraphexecError

__all__ = ["main"]

DEFAULT_MODES = ("eager", "graph:0", "graph:1", "graph:2", "graph:3")


def _bar(total: int, desc: str) -> Any:
    """A tqdm progress bar (a silent stand-in without tqdm)."""
    try:
        from tqdm import tqdm
    except ImportError:
        class _Quiet:
            def update(self, n: int = 1) -> None: ...
            def set_postfix_str(self, s: str) -> None: ...
            def close(self) -> None: ...
        return _Quiet()
    return tqdm(total=total, desc=desc, unit="workload", leave=False, file=sys.stderr)


def _summary(results: list[Any], peers: list[dict[str, Any]]) -> str:
    """One row per workload: graphexec eager's time per call, and every other mode (its own
    and the peers') as a speed-up over it (higher is faster), all measured in this run."""
    modes = [m.mode for m in results[0].modes if m.level is not None] if results else []
    peer_modes: list[str] = []
    for rec in peers:
        for m in rec.get("modes", []):
            if m["mode"] not in peer_modes:
                peer_modes.append(m["mode"])
    cols = [*modes, *peer_modes]
    width = max([12, *(len(c) + 2 for c in cols)])
    head = f"{'workload':<18}{'eager ms':>10}" + "".join(f"{c:>{width}}" for c in cols)
    lines = ["speed-up over graphexec eager (median time per call, higher is faster; "
             "'!' noisy, 'x' failed, '≠' results differ)", head]
    by_peer: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in peers:
        for m in rec.get("modes", []):
            by_peer[(rec.get("workload", ""), m["mode"])] = m
    for r in results:
        eager = r.eager
        base = eager.steady.median if eager else float("nan")
        row = f"{r.name:<18}{base * 1e3:>10.3f}"
        for c in modes:
            m = r[c]
            mark = ("!" if m.steady.noisy else "") + ("" if m.parity_ok else "≠")
            row += f"{f'{m.speedup:.2f}{mark}':>{width}}"
        for c in peer_modes:
            pm = by_peer.get((r.name, c))
            if pm is None:
                cell = "-"
            elif pm.get("error"):
                cell = "x"
            else:
                diff = pm.get("max_abs_diff")
                mark = ("!" if pm.get("noisy") else "") + (
                    "≠" if diff is not None and diff > 1e-3 else "")
                cell = f"{base / pm['median_s']:.2f}{mark}"
            row += f"{cell:>{width}}"
        lines.append(row)
    absent = [rec for rec in peers if rec.get("available") is False]
    for rec in absent:
        lines.append(f"  {rec['framework']}: not run ({rec.get('reason', 'not installed')})")
    failed = {(rec.get("framework"), m["mode"], m["error"].splitlines()[0][:90])
              for rec in peers for m in rec.get("modes", []) if m.get("error")}
    failed |= {(rec.get("framework"), "all modes", str(rec["error"]).splitlines()[-1][:90])
               for rec in peers if rec.get("error") and not rec.get("modes")}
    for fw, mode, err in sorted(failed, key=str):
        lines.append(f"  {fw} {mode}: failed: {err}")
    return "\n".join(lines)


def _bench(args: argparse.Namespace) -> int:
    from .bench import compare
    from .bench.workloads import WORKLOADS, get

    names = args.workload or list(WORKLOADS)
    workloads = [get(n) for n in names]
    results = []
    bar = _bar(len(workloads), "bench")
    for w in workloads:
        bar.set_postfix_str(w.name)
        fn, fargs = w.build()
        results.append(compare(fn, *fargs, modes=args.modes, min_time=args.min_time,
                               name=w.name, description=w.description))
        bar.update()
    bar.close()
    peers: list[dict[str, Any]] = []
    if args.peers:
        from .bench.peers import run_peers

        print(f"running peers in {args.peer_python or sys.executable} ...", file=sys.stderr)
        peers = run_peers(names, python=args.peer_python, min_time=args.min_time,
                          progress=lambda s: print(f"  {s}", file=sys.stderr))
    if args.verbose:
        for r in results:
            print(r.table() + "\n")
    print(_summary(results, peers))
    print(results[0].table().splitlines()[-1].replace("  on ", "measured on ", 1))
    if args.json:
        doc = {"results": [r.to_dict() for r in results], "peers": peers,
               "env": results[0].env if results else {}}
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1, default=str)
        print(f"wrote {args.json}")
    if args.plot:
        stem, ext = os.path.splitext(args.plot)
        for r in results:
            path = args.plot if len(results) == 1 else f"{stem}-{r.name}{ext or '.png'}"
            print(f"wrote {r.plot(path)}")
    return 0


def _viz(args: argparse.Namespace) -> int:
    import numpy as np

    from . import viz
    from .demo import MODELS, training_step
    from .function import function
    from .ops.creation import constant

    model = MODELS[args.model]("float32")
    x = np.random.default_rng(0).random((8, 8, 8, 1)).astype(np.float32)
    y = np.arange(8, dtype=np.int64) % 10
    model(constant(x))
    fn = function(training_step(model) if args.train else model, optimize=args.level)
    fargs = (x, y) if args.train else (x,)
    compiled = fn.get_compiled(*fargs)
    os.makedirs(args.out, exist_ok=True)
    stem = f"{args.model}{'_step' if args.train else ''}"
    if args.format == "html":
        print(viz.html(compiled, os.path.join(args.out, f"{stem}_O{args.level}.html")))
        return 0
    if args.filmstrip:
        for p in viz.render_passes(compiled, os.path.join(args.out, f"{stem}_passes"),
                                   fmt=args.format):
            print(p)
        return 0
    print(viz.render(fn.get_graph(*fargs), os.path.join(args.out, f"{stem}.{args.format}")))
    print(viz.render(compiled, os.path.join(args.out, f"{stem}_O{args.level}.{args.format}")))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import FULL, TINY, run_demo

    run_demo(args.out, TINY if args.tiny else FULL)
    return 0


def parser() -> argparse.ArgumentParser:
    """The command line's parser (every subcommand has ``--help``)."""
    p = argparse.ArgumentParser(prog="graphexec", description="graphexec: eager and graph "
                                "execution of tensor programs, and what each costs")
    p.add_argument("--version", action="version", version=f"graphexec {__version__}")
    sub = p.add_subparsers(dest="command", metavar="{demo,bench,viz}")
    d = sub.add_parser("demo", help="train the digits MLP and CNN both ways; write pictures, "
                       "the profile and the comparison chart")
    d.add_argument("--out", default="demo-output", help="folder to write into (demo-output)")
    d.add_argument("--tiny", action="store_true", help="one epoch each, short timings (a test)")
    d.set_defaults(run=_demo)
    b = sub.add_parser("bench", help="compare the modes on the built-in workloads")
    b.add_argument("--workload", action="append", metavar="NAME",
                   help="a workload (repeat for several; default: all): " + ", ".join(
                       ["tiny_ops", "elementwise_4m", "mlp_inference", "mlp_train",
                        "cnn_inference", "cnn_train", "matmul_const", "padding_pipeline"]))
    b.add_argument("--modes", nargs="+", default=list(DEFAULT_MODES),
                   help="modes to compare (default: eager graph:0 graph:1 graph:2 graph:3)")
    b.add_argument("--min-time", type=float, default=1.0,
                   help="seconds of steady-state timing per mode (default 1)")
    b.add_argument("--peers", action="store_true", help="also run PyTorch, TensorFlow and "
                   "JAX where installed, each in its own process")
    b.add_argument("--peer-python", metavar="PYTHON",
                   help="the interpreter that has the peer frameworks (default: this one)")
    b.add_argument("--json", metavar="FILE", help="write every result as JSON")
    b.add_argument("--plot", metavar="FILE", help="write the chart (one per workload)")
    b.add_argument("-v", "--verbose", action="store_true", help="each workload's full table")
    b.set_defaults(run=_bench)
    v = sub.add_parser("viz", help="draw an example model's graph, or its optimizer filmstrip")
    v.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    v.add_argument("--train", action="store_true", help="the training step, not inference")
    v.add_argument("--level", type=int, choices=[0, 1, 2, 3], default=3)
    v.add_argument("--out", default="graphexec-viz", help="folder (graphexec-viz)")
    v.add_argument("--format", choices=["svg", "png", "pdf", "html"], default="svg")
    v.add_argument("--filmstrip", action="store_true", help="one picture per optimizer step")
    v.set_defaults(run=_viz)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    p = parser()
    args = p.parse_args(argv)
    if getattr(args, "run", None) is None:
        p.print_help()
        return 2
    try:
        return int(args.run(args))
    except GraphexecError as e:  # bad input or a missing extra: the message, no traceback
        print(f"graphexec {args.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
