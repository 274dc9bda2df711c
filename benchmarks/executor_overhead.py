"""Executor and eager overhead: the same kernels run by the graph executor, eagerly, and by hand.

A chain of N elementwise ops (add, multiply, maximum, subtract with scalar constants) over a
float32 array is run four ways, each timed as the median of several repeats in this one run:

- ``by hand``: the numpy calls written out as straight-line Python (generated code);
- ``kernels by hand``: the registry's kernels called straight-line (what the executor calls);
- ``graph``: ``Graph.run`` on the same chain (one placeholder feed, one fetch);
- ``eager``: the chain written with graphexec tensors in eager mode.

Ratios are to ``by hand``.  Usage: ``python benchmarks/executor_overhead.py [--ops N]``.
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import median_time

import graphexec as gx
from graphexec.registry import REGISTRY

OPS = [("add", np.add, 0.5), ("multiply", np.multiply, 0.99), ("maximum", np.maximum, -1.0),
       ("subtract", np.subtract, 0.25)]


def chain_by_hand(n: int):
    lines = ["def f(x, np=np):"]
    for i in range(n):
        fn = OPS[i % len(OPS)][1]
        lines.append(f"    x = np.{fn.__name__}(x, c{i})")
    lines.append("    return x")
    consts = {f"c{i}": np.asarray(OPS[i % len(OPS)][2], np.float32) for i in range(n)}
    ns = {"np": np, **consts}
    exec("\n".join(lines), ns)
    return ns["f"]


def chain_kernels_by_hand(n: int):
    lines = ["def f(x, np=np):"]
    kernels = {}
    for i in range(n):
        name, _, _ = OPS[i % len(OPS)]
        kernels[f"k_{name}"] = REGISTRY[name].kernel
        lines.append(f"    x = k_{name}(np, x, c{i})")
    lines.append("    return x")
    consts = {f"c{i}": np.asarray(OPS[i % len(OPS)][2], np.float32) for i in range(n)}
    ns = {"np": np, **consts, **kernels}
    exec("\n".join(lines), ns)
    return ns["f"]


def chain_gx(x, n: int):
    for i in range(n):
        name, _, c = OPS[i % len(OPS)]
        x = getattr(gx, name)(x, c)
    return x


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ops", type=int, default=100, help="ops in the chain")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--sizes", default="4x4,64x64,256x256,1024x1024")
    args = p.parse_args()
    n = args.ops
    print(f"chain of {n} elementwise ops, float32; median of {args.repeats} repeats")
    print(f"{'size':>10} {'by hand':>10} {'kernels':>8} {'graph':>8} {'eager':>8}   "
          f"(µs per chain; ratios to by hand)")
    for size in args.sizes.split(","):
        shape = tuple(int(s) for s in size.split("x"))
        a = np.random.default_rng(0).normal(size=shape).astype(np.float32)
        hand, kern = chain_by_hand(n), chain_kernels_by_hand(n)
        with gx.graph() as g:
            x = gx.placeholder(shape, "float32", name="x")
            y = chain_gx(x, n)
        feeds = {x: a}
        np.testing.assert_array_equal(g.run(y, feeds), hand(a))
        ta = gx.constant(a)
        np.testing.assert_array_equal(chain_gx(ta, n).numpy(), hand(a))
        runs = {
            "hand": lambda f=hand, a=a: f(a),
            "kernels": lambda f=kern, a=a: f(a),
            "graph": lambda g=g, y=y, feeds=feeds: g.run(y, feeds),
            "eager": lambda ta=ta: chain_gx(ta, n),
        }
        number = max(1, int(2e-2 / max(median_time(runs["hand"], 1, 1), 1e-7)))
        t = {k: median_time(f, args.repeats, number) for k, f in runs.items()}
        t_hand, t_kern, t_graph, t_eager = t["hand"], t["kernels"], t["graph"], t["eager"]
        print(f"{size:>10} {t_hand * 1e6:>10.1f} {t_kern / t_hand:>7.2f}x "
              f"{t_graph / t_hand:>7.2f}x {t_eager / t_hand:>7.2f}x")
        print(f"{'':>10} per-op overhead over by-hand: graph "
              f"{(t_graph - t_hand) / n * 1e6:.2f} µs, eager {(t_eager - t_hand) / n * 1e6:.2f} µs")


if __name__ == "__main__":
    main()
