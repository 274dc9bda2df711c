"""One training step of an MLP 784-256-256-10 (batch 64, softmax cross-entropy, SGD, float32):
graphexec eager (GradientTape), graphexec graph (forward + gradients + updates in one graph),
the same step written by hand in numpy (forward, backward, update) and ``jax.jit`` where JAX is
installed.  Ratios to the numpy step, medians of several repeats in one run; the BLAS library
and kernel that ran are printed (threadpoolctl, where installed).
Usage: ``python benchmarks/train_step.py [--repeats 11]``.
"""

from __future__ import annotations

import argparse
import itertools
from typing import Any

import numpy as np
from timing import median_time

import graphexec as gx
from graphexec.fusion.jit import wait_for_background_compiles

SIZES = (784, 256, 256, 10)


def init(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    params = []
    for n_in, n_out in itertools.pairwise(SIZES):
        params += [rng.normal(0, np.sqrt(2 / n_in), (n_in, n_out)).astype(np.float32),
                   np.zeros(n_out, np.float32)]
    return params


def numpy_step(params: list[np.ndarray], x: np.ndarray, y: np.ndarray, lr: float) -> float:
    w1, b1, w2, b2, w3, b3 = params
    h1 = np.maximum(x @ w1 + b1, 0)
    h2 = np.maximum(h1 @ w2 + b2, 0)
    z = h2 @ w3 + b3
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    n = len(y)
    loss = -logp[np.arange(n), y].mean()
    dz = np.exp(logp)
    dz[np.arange(n), y] -= 1
    dz /= n
    dw3, db3 = h2.T @ dz, dz.sum(axis=0)
    dh2 = (dz @ w3.T) * (h2 > 0)
    dw2, db2 = h1.T @ dh2, dh2.sum(axis=0)
    dh1 = (dh2 @ w2.T) * (h1 > 0)
    dw1, db1 = x.T @ dh1, dh1.sum(axis=0)
    for p, g in zip(params, (dw1, db1, dw2, db2, dw3, db3), strict=True):
        p -= lr * g
    return float(loss)


def model_fn(variables: list[gx.Variable], x: gx.Tensor) -> gx.Tensor:
    w1, b1, w2, b2, w3, b3 = variables
    h = gx.nn.relu(x @ w1 + b1)
    h = gx.nn.relu(h @ w2 + b2)
    return h @ w3 + b3


def make_jax_step(x: np.ndarray, y: np.ndarray, lr: float) -> Any:
    """The step under ``jax.jit`` (compiled here, outside the timing), or None without JAX."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    params = [jnp.asarray(a) for a in init()]
    jx, jy = jnp.asarray(x), jnp.asarray(y)

    def loss_fn(p: Any, x: Any, y: Any) -> Any:
        w1, b1, w2, b2, w3, b3 = p
        h = jax.nn.relu(x @ w1 + b1)
        h = jax.nn.relu(h @ w2 + b2)
        logp = jax.nn.log_softmax(h @ w3 + b3)
        return -jnp.mean(logp[jnp.arange(len(y)), y])

    @jax.jit
    def step(p: Any, x: Any, y: Any) -> Any:
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        return loss, [a - lr * b for a, b in zip(p, g, strict=True)]

    state = [params]

    def run() -> Any:
        loss, state[0] = step(state[0], jx, jy)
        return loss.block_until_ready()

    run.first = float(run())  # type: ignore[attr-defined]  # the first call: compiles
    return run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--number", type=int, default=20)
    args = p.parse_args()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 784)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    lr = 0.01

    np_params = init()
    eager_vars = [gx.Variable(a) for a in init()]
    graph_vars = [gx.Variable(a) for a in init()]
    opt_e, opt_g = gx.optimizers.SGD(lr), gx.optimizers.SGD(lr)
    tx, ty = gx.constant(x), gx.constant(y)

    def eager_step() -> None:
        with gx.GradientTape() as tape:
            loss = gx.losses.sparse_categorical_crossentropy(ty, model_fn(eager_vars, tx),
                                                             from_logits=True)
        opt_e.apply(tape.gradient(loss, eager_vars), eager_vars)

    with gx.graph() as g:
        xs = gx.placeholder((None, 784), "float32", name="x")
        ys = gx.placeholder((None,), "int64", name="y")
        loss = gx.losses.sparse_categorical_crossentropy(ys, model_fn(graph_vars, xs),
                                                         from_logits=True)
        step = opt_g.apply(gx.gradients(loss, graph_vars), graph_vars)
    fetches = [loss, step]
    feeds = {xs: x, ys: y}

    # the three agree on the first step
    first = numpy_step(init(), x, y, lr)
    assert abs(float(g.run(fetches, feeds)[0]) - first) < 1e-4 * abs(first)

    for level in (1, 2, 3):  # compile (and jit) outside the timing
        g.run(fetches, feeds, optimize=level)
    wait_for_background_compiles()
    runs = {"numpy by hand": lambda: numpy_step(np_params, x, y, lr),
            "graph level 0": lambda: g.run(fetches, feeds, optimize=0),
            "graph level 1": lambda: g.run(fetches, feeds, optimize=1),
            "graph level 3": lambda: g.run(fetches, feeds, optimize=3),
            "eager": eager_step}
    jax_step = make_jax_step(x, y, lr)
    if jax_step is not None:
        runs["jax.jit"] = jax_step
    t = {k: median_time(f, args.repeats, args.number) for k, f in runs.items()}
    base = t["numpy by hand"]
    print(f"MLP 784-256-256-10, batch 64, float32, SGD; median of {args.repeats} x "
          f"{args.number} steps")
    for k, v in t.items():
        print(f"  {k:14s} {v * 1e3:7.3f} ms/step   {v / base:5.2f}x numpy by hand")
    try:
        from threadpoolctl import threadpool_info
        print("  BLAS: " + "; ".join(f"{i['internal_api']} {i.get('version')} "
                                     f"({i.get('architecture')}, {i['num_threads']} threads)"
                                     for i in threadpool_info() if i["user_api"] == "blas"))
    except ImportError:
        pass
    print("  graph nodes: " + ", ".join(
        f"level {lv}: {len(g.compile(fetches, optimize=lv).graph)}" for lv in (0, 1, 3)))


if __name__ == "__main__":
    main()
