"""The first call of a compiled training step (MLP 784-256-256-10, batch 64, SGD), each in a
new process: graphexec at level 3 with tiered compilation (the default: fused groups run as
numpy ufuncs until their numba kernels are ready) and without it, with numba's disk cache cold
(a fresh ``GRAPHEXEC_CACHE_DIR``) and warm (the same directory again), and ``jax.jit``'s first
call where JAX is installed.  Each figure is the median over ``--repeats`` processes of the
seconds from the built graph (or the defined function) to the first result; imports are
timed apart, and so are the training steps run while the kernels compile (slower than
either path alone: numba's import and compile hold the GIL much of the time).
Usage: ``python benchmarks/first_call.py [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

#: what both children do first: their imports (timed), then the data and the initial weights
PREAMBLE = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
IMPORTS
sys.path.insert(0, HERE)
from train_step import init, model_fn, make_jax_step
t1 = time.perf_counter()
rng = np.random.default_rng(1)
x = rng.normal(size=(64, 784)).astype(np.float32)
y = rng.integers(0, 10, 64)
"""

GRAPHEXEC = PREAMBLE.replace(
    "IMPORTS", "import graphexec as gx\nfrom graphexec.fusion import jit") + r"""
vs = [gx.Variable(a) for a in init()]
with gx.graph() as g:
    xs = gx.placeholder((None, 784), "float32", name="x")
    ys = gx.placeholder((None,), "int64", name="y")
    loss = gx.losses.sparse_categorical_crossentropy(ys, model_fn(vs, xs), from_logits=True)
    step = gx.optimizers.SGD(0.01).apply(gx.gradients(loss, vs), vs)
t2 = time.perf_counter()
first = float(g.run([loss, step], {xs: x, ys: y}, optimize=3)[0])
t3 = time.perf_counter()
steps = []  # the steps a training loop runs while the kernels compile
while not jit.wait_for_background_compiles(0):
    s0 = time.perf_counter()
    g.run([loss, step], {xs: x, ys: y}, optimize=3)
    steps.append(time.perf_counter() - s0)
t4 = time.perf_counter()
s = jit.jit_stats()
print(json.dumps({"import": t1 - t0, "first": t3 - t2, "ready": t4 - t2, "loss": first,
                  "steps": len(steps), "step": sorted(steps)[len(steps) // 2] if steps else 0,
                  "compiles": s["compiles"], "disk_hits": s["disk_hits"]}))
"""

# NOTE: make_jax_step compiles and runs the step once: that is jax.jit's first call
JAX = PREAMBLE.replace("IMPORTS", "import jax") + r"""
t2 = time.perf_counter()
step = make_jax_step(x, y, 0.01)
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "first": t3 - t2, "ready": t3 - t2,
                  "loss": step.first, "steps": 0, "step": 0}))
"""


def run(code: str, env: dict[str, str]) -> dict[str, float]:
    res = subprocess.run([sys.executable, "-c", f"HERE = {HERE!r}\n" + code], env=env,
                         capture_output=True, text=True, timeout=600, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    cases: dict[str, list[dict[str, float]]] = {}
    for tiered in ("1", "0"):
        for _ in range(args.repeats):
            cache = tempfile.mkdtemp(prefix="gx-first-call-")
            env = {**os.environ, "GRAPHEXEC_CACHE_DIR": cache,
                   "GRAPHEXEC_BACKGROUND_COMPILE": tiered}
            label = "tiered" if tiered == "1" else "blocking"
            cases.setdefault(f"graphexec level 3, {label}, cold cache", []).append(run(GRAPHEXEC,
                                                                                       env))
            cases.setdefault(f"graphexec level 3, {label}, warm cache", []).append(run(GRAPHEXEC,
                                                                                       env))
    try:
        import jax  # noqa: F401
        cases["jax.jit"] = [run(JAX, dict(os.environ)) for _ in range(args.repeats)]
    except ImportError:
        pass
    print(f"first call of an MLP training step, each in a new process; medians of "
          f"{args.repeats} processes (seconds)")
    print(f"  {'':42s}{'first call':>11s}{'kernels ready':>15s}{'imports':>9s}"
          f"{'steps meanwhile':>17s}{'their median':>14s}")
    for name, rs in cases.items():
        med = {k: statistics.median(r[k] for r in rs)
               for k in ("first", "ready", "import", "steps", "step")}
        print(f"  {name:42s}{med['first']:11.3f}{med['ready']:15.3f}{med['import']:9.3f}"
              f"{med['steps']:17.0f}{med['step'] * 1e3:11.2f} ms")
    losses = {name: rs[0]["loss"] for name, rs in cases.items()}
    print("  first losses: " + ", ".join(f"{v:.6f}" for v in losses.values()))


if __name__ == "__main__":
    main()
