"""Train an MLP and a small CNN on scikit-learn's handwritten digits, eagerly and as a graph.

The same model, seeds and batches are trained twice: once eagerly (GradientTape, each op runs
now) and once as a static graph (the forward pass, its gradients and the optimizer updates are
all nodes of one graph, run once per batch).  Both call the same kernels, so their loss curves
agree; the script prints both, their largest relative difference and the test accuracies.

    python examples/train_digits.py                 # both models, float32
    python examples/train_digits.py --model cnn --dtype float64 --epochs 5

The data set ships inside scikit-learn (``sklearn.datasets.load_digits``): nothing is downloaded.
"""

from __future__ import annotations

import argparse
import functools
import time
from typing import Any

import numpy as np

import graphexec as gx
from graphexec.demo import MODELS, batches, load_digits

try:
    from tqdm import tqdm
except ImportError:  # the progress bar is optional

    def tqdm(it: Any, **kwargs: Any) -> Any:
        return it


# the data set, the two models and the batches are the demo's (graphexec demo)
load_data = load_digits


def loss_fn(model: gx.nn.Sequential, x: Any, y: Any) -> gx.Tensor:
    return gx.losses.sparse_categorical_crossentropy(y, model(x), from_logits=True)


def train_eager(model: gx.nn.Sequential, x: np.ndarray, y: np.ndarray, *, epochs: int,
                batch_size: int, lr: float, seed: int, dtype: str) -> list[float]:
    """Each op runs now; the tape records them and differentiates afterwards."""
    opt = gx.optimizers.Adam(lr)
    x = x.astype(dtype)
    losses = []
    steps = list(batches(len(y), batch_size, epochs, seed))
    for idx in tqdm(steps, desc="eager", leave=False):
        with gx.GradientTape() as tape:
            loss = loss_fn(model, x[idx], y[idx])
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply(grads, model.trainable_variables)
        losses.append(float(loss))
    return losses


def train_graph(model: gx.nn.Sequential, x: np.ndarray, y: np.ndarray, *, epochs: int,
                batch_size: int, lr: float, seed: int, dtype: str, optimize: int = 1
                ) -> list[float]:
    """Forward pass, gradients and updates are built once into one graph, optimized at level
    ``optimize``, then run per batch."""
    opt = gx.optimizers.Adam(lr)
    x = x.astype(dtype)
    with gx.graph() as g:
        xb = gx.placeholder((None, *x.shape[1:]), dtype, name="images")
        yb = gx.placeholder((None,), "int64", name="labels")
        model(xb)  # builds the layers' variables (eagerly) on the first call
        variables = model.trainable_variables
        loss = loss_fn(model, xb, yb)
        step = opt.apply(gx.gradients(loss, variables), variables)
    losses = []
    steps = list(batches(len(y), batch_size, epochs, seed))
    for idx in tqdm(steps, desc="graph", leave=False):
        out = g.run([loss, step], {xb: x[idx], yb: y[idx]}, optimize=optimize)
        losses.append(float(out[0]))
    return losses


def accuracy(model: gx.nn.Sequential, x: np.ndarray, y: np.ndarray, dtype: str) -> float:
    logits = model(gx.constant(x.astype(dtype))).numpy()
    return float(np.mean(np.argmax(logits, axis=1) == y))


def run(name: str, *, epochs: int, batch_size: int = 32, lr: float = 3e-3, seed: int = 0,
        dtype: str = "float32", optimize: int = 1, verbose: bool = True) -> dict[str, Any]:
    """Train model ``name`` both ways; returns both loss curves and both test accuracies."""
    xtr, ytr, xte, yte = load_data(seed)
    result: dict[str, Any] = {}
    for mode, train in (("eager", train_eager),
                        ("graph", functools.partial(train_graph, optimize=optimize))):
        model = MODELS[name](dtype)
        t0 = time.perf_counter()
        losses = train(model, xtr, ytr, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                       dtype=dtype)
        result[mode] = {"losses": losses, "seconds": time.perf_counter() - t0,
                        "accuracy": accuracy(model, xte, yte, dtype)}
    e, g = np.array(result["eager"]["losses"]), np.array(result["graph"]["losses"])
    result["max_rel_diff"] = float(np.max(np.abs(e - g) / np.maximum(np.abs(e), 1e-12)))
    if verbose:
        print(f"{name}: {len(e)} steps of batch {batch_size}, {dtype}, graph at optimization "
              f"level {optimize}")
        for mode in ("eager", "graph"):
            r = result[mode]
            curve = " ".join(f"{v:.3f}" for v in r["losses"][:: max(1, len(e) // 8)])
            print(f"  {mode}: loss {curve} ... {r['losses'][-1]:.4f}; test accuracy "
                  f"{r['accuracy']:.2%}; {r['seconds']:.1f} s")
        print(f"  eager vs graph loss curves: max relative difference {result['max_rel_diff']:.1e}")
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=["mlp", "cnn", "both"], default="both")
    p.add_argument("--epochs", type=int, default=0, help="default: 30 for mlp, 15 for cnn")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--optimize", type=int, choices=[0, 1, 2, 3], default=1,
                   help="the graph's optimization level (default 1)")
    args = p.parse_args()
    for name in (["mlp", "cnn"] if args.model == "both" else [args.model]):
        run(name, epochs=args.epochs or {"mlp": 30, "cnn": 15}[name], dtype=args.dtype,
            optimize=args.optimize)


if __name__ == "__main__":
    main()
