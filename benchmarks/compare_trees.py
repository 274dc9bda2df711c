"""Before/after: the same workloads timed in two checkouts of graphexec, run alternately in
fresh processes so that both see the same machine load; prints the median time of each and the
ratio after/before.

    python benchmarks/compare_trees.py BEFORE_DIR AFTER_DIR [--rounds 7]

Workloads use only the public API, so any two versions with it compare: eager per-op cost, the
executor's per-node cost, MLP inference at levels 1 and 3, one training step at levels 1 and 3,
and compile time (optimize + lower) of a 150-node graph at level 3.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

WORKER = r'''
import json, sys, time
import numpy as np
import graphexec as gx

# NOTE: benchmarks/timing.py's rule, written out: an old checkout may not have that module
def best(fn, number, repeat=5):
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return sorted(times)[len(times) // 2]

rng = np.random.default_rng(0)
out = {}
# eager: 100 tiny elementwise ops
x = gx.constant(rng.standard_normal((4, 4)).astype("float32"))
def eager_chain():
    y = x
    for _ in range(50):
        y = y * 1.001 + 0.5
    return y
out["eager 100 tiny ops"] = best(eager_chain, 20)
# executor: the same chain as a graph, level 1 (folding and CSE cannot shrink it)
with gx.graph() as g:
    p = gx.placeholder((4, 4), "float32", name="p")
    y = p
    for i in range(50):
        y = y * gx.placeholder((), "float32", name=f"a{i}") + 0.5
feeds = {"p": np.ones((4, 4), "float32"), **{f"a{i}": np.float32(1.001) for i in range(50)}}
out["graph 100 tiny ops, level 1"] = best(lambda: g.run(y, feeds), 50)
# MLP inference, batch 32
ws = [(rng.standard_normal((a, b)) * 0.05).astype("float32") for a, b in
      ((784, 256), (256, 256), (256, 10))]
with gx.graph() as gm:
    xm = gx.placeholder((None, 784), "float32", name="x")
    h = xm
    for i, w in enumerate(ws):
        h = h @ gx.constant(w) + 0.1
        h = gx.nn.relu(h) if i < 2 else h
xb = rng.standard_normal((32, 784)).astype("float32")
for level in (1, 3):
    gm.run(h, {xm: xb}, optimize=level)
    out[f"MLP inference, level {level}"] = best(lambda: gm.run(h, {xm: xb}, optimize=level), 50)
# one SGD step of the MLP
model = gx.nn.Sequential([gx.layers.Dense(256, activation="relu", seed=0),
                          gx.layers.Dense(10, seed=1)])
opt = gx.optimizers.SGD(0.01)
with gx.graph() as gt:
    xt = gx.placeholder((None, 784), "float32", name="x")
    yt = gx.placeholder((None,), "int64", name="y")
    loss = gx.losses.sparse_categorical_crossentropy(yt, model(xt), from_logits=True)
    step = opt.apply(gx.gradients(loss, model.trainable_variables), model.trainable_variables)
fetch = [loss, *step] if isinstance(step, list) else [loss, step]
tfeeds = {xt: xb, yt: rng.integers(0, 10, 32)}
for level in (1, 3):
    gt.run(fetch, tfeeds, optimize=level)
    out[f"train step, level {level}"] = best(lambda: gt.run(fetch, tfeeds, optimize=level), 20)
# compile: optimize + lower a 150-node graph (level 3, no jit: the numpy fusion backend)
gx.config.set_fusion_backend("numpy")
def build_and_compile():
    with gx.graph() as gc:
        z = gx.placeholder((None, 64), "float32", name="z")
        for _ in range(50):
            z = gx.tanh(z * 0.9 + 0.1)
    gc.compile(z, optimize=3)
out["compile 150 nodes, level 3"] = best(build_and_compile, 3)
print(json.dumps(out))
'''


def run(tree: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": tree}
    res = subprocess.run([sys.executable, "-c", WORKER], env=env, cwd=tree, check=True,
                         capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--rounds", type=int, default=7)
    args = p.parse_args()
    samples: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
    for _ in range(args.rounds):
        for side, tree in (("before", args.before), ("after", args.after)):
            for k, v in run(tree).items():
                samples[side].setdefault(k, []).append(v)
    print(f"median of {args.rounds} alternating rounds; each the best of 5 repeats")
    print(f"{'workload':32} {'before':>11} {'after':>11} {'after/before':>13}")
    for k, before in samples["before"].items():
        b, a = statistics.median(before), statistics.median(samples["after"][k])
        unit, scale = ("ms", 1e3) if b > 1e-3 else ("µs", 1e6)
        print(f"{k:32} {b * scale:8.1f} {unit} {a * scale:8.1f} {unit} {a / b:12.2f}x")


if __name__ == "__main__":
    main()
