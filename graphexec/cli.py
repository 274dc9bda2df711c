"""The ``graphexec`` command (also ``python -m graphexec``): ``demo``, ``bench``, ``viz``.

    graphexec demo [--out DIR] [--tiny]
    graphexec bench [--workload NAME ...] [--modes MODE ...] [--peers] [--json FILE] [--plot FILE]
    graphexec viz [--model mlp|cnn] [--level N] [--out DIR] [--filmstrip] [--format svg|png]
    graphexec show FILE [--level N] [--render PICTURE]
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
    """One column per workload: graphexec eager's time per call, then every other mode (its
    own and the peers') as a speed-up over it (higher is faster), all measured in this run."""
    by_peer: dict[tuple[str, str], dict[str, Any]] = {}
    peer_modes: list[str] = []
    for rec in peers:
        for m in rec.get("modes", []):
            by_peer[(rec.get("workload", ""), m["mode"])] = m
            if m["mode"] not in peer_modes:
                peer_modes.append(m["mode"])
    names = [r.name for r in results]
    heads = [n.split("_", 1) if "_" in n else [n, ""] for n in names]
    widths = [max(9, *(len(h) + 2 for h in hs)) for hs in heads]
    label = 26
    lines = ["speed-up over graphexec eager (median time per call; higher is faster; '!' noisy, "
             "'≠' results differ, 'x' failed, '-' not run)"]
    for row in range(2):
        lines.append(" " * label + "".join(f"{h[row]:>{w}}" for h, w in zip(heads, widths,
                                                                              strict=True)))
    if results and all(r.eager is None for r in results):  # no eager: times, not speed-ups
        lines[0] = "median time per call (ms), graphexec's modes only ('!' noisy)"
        for mode in [m.mode for m in results[0].modes]:
            cells = [f"{r[mode].steady.median * 1e3:.3f}" + ("!" if r[mode].steady.noisy else "")
                     for r in results]
            lines.append(f"{'graphexec ' + mode:<{label}}" + "".join(
                f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)))
        return "\n".join(lines)
    lines.append(f"{'graphexec eager (ms)':<{label}}" + "".join(
        f"{(r.eager.steady.median * 1e3 if r.eager else float('nan')):>{w}.3f}"
        for r, w in zip(results, widths, strict=True)))
    modes = [m.mode for m in results[0].modes if m.level is not None] if results else []
    for mode in modes:
        cells = []
        for r in results:
            m = r[mode]
            mark = ("!" if m.steady.noisy else "") + ("" if m.parity_ok else "≠")
            cells.append("-" if m.speedup is None else f"{m.speedup:.2f}{mark}")
        lines.append(f"{'graphexec ' + mode:<{label}}" + "".join(
            f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)))
    for mode in peer_modes:
        cells = []
        for r in results:
            pm = by_peer.get((r.name, mode))
            base = r.eager.steady.median if r.eager else float("nan")
            if pm is None:
                cells.append("-")
            elif pm.get("error"):
                cells.append("x")
            else:
                mark = ("!" if pm.get("noisy") else "") + (
                    "≠" if pm.get("matches") is False else "")
                cells.append(f"{base / pm['median_s']:.2f}{mark}")
        lines.append(f"{mode:<{label}}" + "".join(
            f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)))
    for rec in peers:
        if rec.get("available") is False:
            lines.append(f"  {rec['framework']}: not run ({rec.get('reason', 'not installed')})")
    failed = {(rec.get("framework"), m["mode"], m["error"].splitlines()[0][:90])
              for rec in peers for m in rec.get("modes", []) if m.get("error")}
    failed |= {(rec.get("framework"), "all modes", str(rec["error"]).splitlines()[-1][:90])
               for rec in peers if rec.get("error") and not rec.get("modes")}
    for fw, mode, err in sorted(failed, key=str):
        lines.append(f"  {fw} {mode}: failed: {err}")
    return "\n".join(lines)


def _writable(flag: str, path: str) -> None:
    """InvalidArgumentError unless ``path`` can be written: checked before minutes of
    measuring, not after."""
    from .errors import InvalidArgumentError

    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InvalidArgumentError(f"bench: {flag} {path}: its folder does not exist")
    if os.path.isdir(path) or not os.access(folder, os.W_OK) or (
            os.path.exists(path) and not os.access(path, os.W_OK)):
        raise InvalidArgumentError(f"bench: {flag} {path}: not a file that can be written")


def _bench(args: argparse.Namespace) -> int:
    from .bench import compare, parse_mode
    from .bench.compare import _finite
    from .bench.workloads import WORKLOADS, get
    from .profiler import check_min_time

    names = args.workload or list(WORKLOADS)
    workloads = [get(n) for n in names]
    for m in args.modes:
        parse_mode(m)
    check_min_time("bench", args.min_time)
    stem, ext = "", ".png"
    if args.plot:  # NOTE: bad output paths fail now, not after minutes of measuring
        from .bench.plot import chart_path, pyplot

        stem, ext = os.path.splitext(chart_path(args.plot))
        pyplot()
    for flag, path in (("--json", args.json), ("--plot", args.plot)):
        if path:
            _writable(flag, path if flag == "--json" else f"{stem}{ext}")
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
            json.dump(_finite(doc), f, indent=1, default=str, allow_nan=False)
        print(f"wrote {args.json}")
    if args.plot:
        for r in results:
            path = f"{stem}{ext}" if len(results) == 1 else f"{stem}-{r.name}{ext}"
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


def _show(args: argparse.Namespace) -> int:
    """What a saved file holds: a graph file's or ONNX model's inputs, results, Variables and
    graph (optimized at ``--level``, drawn with ``--render``); a weights file's or checkpoint's
    tensors."""
    from . import io, viz, weights
    from .registry import short_dtype

    def show(text: str) -> None:  # NOTE: names come from the file: no escape sequences
        print("".join(c if c.isprintable() or c == "\n" else ascii(c)[1:-1] for c in text))

    path = args.file
    if path.endswith(".onnx"):
        from .onnx import load as load_onnx

        program = load_onnx(path)
    else:
        tensors, meta = weights.load_file(path)
        if meta.get("format") != "graphexec.program":
            kind = meta.get("format", "safetensors")
            show(f"{path}: {kind} {meta.get('format_version', '')}".rstrip())
            width = max((len(k) for k in tensors), default=0)
            for k, a in tensors.items():
                dims = ",".join(map(str, a.shape))
                show(f"  {k.ljust(width)}  {short_dtype(a.dtype)}[{dims}]")
            total = sum(int(a.size) for a in tensors.values())
            print(f"{len(tensors)} tensors, {total:,} numbers")
            return 0
        program = io.load(path)
    show(f"{path}: {program!r}")
    shown = [":".join(map(str, program.outputs[r])) if isinstance(r, int) else repr(r.value)
             for r in program.results]
    show(f"  a {program.kind}: {len(program.variables)} variables; results "
          f"{program.treedef.format(shown)}")
    graph = program.graph if args.level is None else program.compile(optimize=args.level).graph
    show(str(graph))
    if args.render:
        print(viz.render(graph, args.render))
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
    sub = p.add_subparsers(dest="command", metavar="{demo,bench,viz,show}")
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
    s = sub.add_parser("show", help="what a saved file holds: a graph file (gx.save), an ONNX "
                       "model, a weights file or a checkpoint")
    s.add_argument("file", help="a .gx, .onnx or .safetensors file")
    s.add_argument("--level", type=int, choices=[0, 1, 2, 3], help="optimize the graph first")
    s.add_argument("--render", metavar="PICTURE", help="draw the graph (.svg, .png or .pdf)")
    s.set_defaults(run=_show)
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
    except OSError as e:  # a file that cannot be written
        print(f"graphexec {args.command}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
