"""Data-dependent control flow written once, run eagerly and as a graph with the same results.

1. An RNN reads each 8x8 digit of scikit-learn's digits one row at a time (``gx.scan`` over
   the rows), and a Dense layer classifies its last state; it is trained eagerly and as a graph
   (``gx.function``: the scan, its gradient and the Adam updates are nodes of one graph) from
   the same weights on the same batches, and both loss curves are printed.
2. Newton's method for square roots stops when it has converged (``gx.while_loop``): a different
   number of iterations for each input, in both modes.

    python examples/control_flow.py [--epochs 3] [--optimize 3]
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

import graphexec as gx
from graphexec.demo import batches, load_digits


class RNNClassifier:
    """h_t = tanh(x_t W + h_{t-1} U + b) over the rows of an image, then Dense(10) of h_T."""

    def __init__(self, hidden: int = 32, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.w = gx.Variable(rng.normal(0, 0.3, (8, hidden)).astype("float32"), name="w")
        self.u = gx.Variable((np.eye(hidden) * 0.5).astype("float32"), name="u")
        self.b = gx.Variable(np.zeros(hidden, "float32"), name="b")
        self.out = gx.layers.Dense(10, seed=seed + 1)
        self.hidden = hidden

    def __call__(self, images: Any) -> gx.Tensor:
        rows = gx.transpose(gx.reshape(images, (-1, 8, 8)), (1, 0, 2))  # (time, batch, 8)
        h0 = gx.zeros_like(rows[0] @ self.w)  # (batch, hidden), whatever the batch

        def step(h: Any, x: Any) -> tuple[Any, None]:
            return gx.tanh(x @ self.w + h @ self.u + self.b), None

        last, _ = gx.scan(step, h0, rows)
        return self.out(last)

    @property
    def trainable_variables(self) -> list[gx.Variable]:
        return [self.w, self.u, self.b, *self.out.trainable_variables]


def train(model: RNNClassifier, x: np.ndarray, y: np.ndarray, *, epochs: int, graph: bool,
          optimize: int) -> list[float]:
    """Adam steps on the same batches; eagerly, or one gx.function holding the whole step."""
    opt = gx.optimizers.Adam(1e-2)

    def step(xb: Any, yb: Any) -> Any:
        with gx.GradientTape() as tape:
            loss = gx.losses.sparse_categorical_crossentropy(yb, model(xb), from_logits=True)
        opt.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss

    run = gx.function(step, optimize=optimize) if graph else step
    return [float(run(x[idx], y[idx])) for idx in batches(len(y), 64, epochs, seed=0)]


def accuracy(model: RNNClassifier, x: np.ndarray, y: np.ndarray) -> float:
    return float((model(x).numpy().argmax(-1) == y).mean())


def newton_sqrt(a: Any) -> tuple[Any, Any]:
    """Iterate x <- (x + a / x) / 2 until |x^2 - a| <= 1e-6 a: the iterations it took, and x."""
    return gx.while_loop(lambda k, x: gx.abs(x * x - a) > a * 1e-6,
                         lambda k, x: (k + 1, (x + a / x) * 0.5),
                         (gx.constant(0, "int64"), a + 1.0))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--optimize", type=int, default=1, help="the graph's optimization level")
    args = p.parse_args(argv)
    x_train, y_train, x_test, y_test = load_digits()
    results: dict[str, Any] = {}
    for graph in (False, True):
        model = RNNClassifier()
        losses = train(model, x_train, y_train, epochs=args.epochs, graph=graph,
                       optimize=args.optimize)
        mode = f"graph (level {args.optimize})" if graph else "eager"
        results[mode] = (losses, accuracy(model, x_test, y_test))
        print(f"{mode:>16}: loss {losses[0]:.4f} -> {losses[-1]:.4f} over {len(losses)} steps, "
              f"test accuracy {results[mode][1]:.1%}")
    (e, _), (g, _) = results.values()
    diff = max(abs(a - b) / max(abs(a), 1e-12) for a, b in zip(e, g, strict=True))
    print(f"largest relative difference of the two loss curves: {diff:.2e}")
    results["newton"] = []
    for a in (2.0, 9.0, 1e4):
        k_e, x_e = newton_sqrt(gx.constant(a, "float64"))
        k_g, x_g = gx.function(newton_sqrt)(np.float64(a))
        print(f"sqrt({a:g}): eager {float(x_e):.9g} after {int(k_e)} iterations, graph "
              f"{float(x_g):.9g} after {int(k_g)}")
        results["newton"].append((int(k_e), float(x_e), int(k_g), float(x_g)))
    results["loss_difference"] = diff
    return results


if __name__ == "__main__":
    main()
