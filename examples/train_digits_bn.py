"""A digits CNN with BatchNormalization and Dropout, trained eagerly and as a graph.

Training and inference differ for these layers: in training, Dropout drops a seeded mask's
elements and BatchNormalization normalizes by the batch's statistics while it updates its
moving ones; at inference Dropout is the identity and BatchNormalization uses the moving
statistics (and graph optimization folds it into the convolution before it, level 2 and up).
The same model, seeds and batches are trained twice, eagerly and as one ``gx.function`` per
step; ``training`` is a Python argument, so each mode has a training and an inference trace.

    python examples/train_digits_bn.py [--epochs 15] [--optimize 1]

At level 1 (the default) both modes compute the same bits: the loss curves are identical.  At
level 3 the fused loops and the folded batch norm round differently, and over hundreds of
steps the curves drift apart (the accuracy stays).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

import graphexec as gx
from graphexec.demo import batches, load_digits


class DigitsCNN:
    """conv3x3(16) -> BN -> relu -> pool -> conv3x3(32) -> BN -> relu -> pool -> dropout ->
    dense(10)."""

    def __init__(self, seed: int = 0, dropout: float = 0.3) -> None:
        L = gx.layers
        self.conv1 = L.Conv2D(16, 3, padding="same", padding_mode="reflect", use_bias=False,
                              seed=seed)
        self.bn1 = L.BatchNormalization(momentum=0.9)
        self.conv2 = L.Conv2D(32, 3, padding="same", padding_mode="reflect", use_bias=False,
                              seed=seed + 1)
        self.bn2 = L.BatchNormalization(momentum=0.9)
        self.pool, self.flat = L.MaxPool2D(), L.Flatten()
        self.drop = L.Dropout(dropout, seed=seed + 2)
        self.dense = L.Dense(10, seed=seed + 3)

    def __call__(self, x: Any, training: bool = False) -> gx.Tensor:
        h = self.pool(gx.nn.relu(self.bn1(self.conv1(x), training=training)))
        h = self.pool(gx.nn.relu(self.bn2(self.conv2(h), training=training)))
        return self.dense(self.drop(self.flat(h), training=training))

    @property
    def layers(self) -> list[gx.layers.Layer]:
        return [self.conv1, self.bn1, self.conv2, self.bn2, self.drop, self.dense]

    @property
    def trainable_variables(self) -> list[gx.Variable]:
        return [v for layer in self.layers for v in layer.trainable_variables]


def train(model: DigitsCNN, x: np.ndarray, y: np.ndarray, *, epochs: int, graph: bool,
          optimize: int, lr: float = 3e-3) -> list[float]:
    """Adam steps on the seeded batches: eagerly, or each step one gx.function call."""
    opt = gx.optimizers.Adam(lr)

    def step(xb: Any, yb: Any) -> Any:
        with gx.GradientTape() as tape:
            logits = model(xb, training=True)
            loss = gx.losses.sparse_categorical_crossentropy(yb, logits, from_logits=True)
        opt.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss

    run = gx.function(step, optimize=optimize) if graph else step
    return [float(run(x[idx], y[idx])) for idx in batches(len(y), 64, epochs, seed=0)]


def accuracy(model: DigitsCNN, x: np.ndarray, y: np.ndarray, graph: bool, optimize: int
             ) -> float:
    infer = gx.function(lambda t: model(t), optimize=optimize) if graph else model
    return float((np.asarray(infer(x)).argmax(-1) == y).mean())


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--optimize", type=int, default=1, help="the graph's optimization level")
    args = p.parse_args(argv)
    x_train, y_train, x_test, y_test = load_digits()
    results: dict[str, Any] = {}
    for graph in (False, True):
        model = DigitsCNN()
        t0 = time.perf_counter()
        losses = train(model, x_train, y_train, epochs=args.epochs, graph=graph,
                       optimize=args.optimize)
        seconds = time.perf_counter() - t0
        acc = accuracy(model, x_test, y_test, graph, args.optimize)
        mode = f"graph (level {args.optimize})" if graph else "eager"
        results[mode] = {"losses": losses, "accuracy": acc, "seconds": seconds,
                         "moving_mean": model.bn1.moving_mean.numpy()}
        print(f"{mode:>16}: loss {losses[0]:.4f} -> {losses[-1]:.4f} over {len(losses)} steps "
              f"in {seconds:.1f} s, test accuracy {acc:.2%}")
    e, g = results.values()
    diff = max(abs(a - b) / max(abs(a), 1e-12) for a, b in zip(e["losses"], g["losses"],
                                                                strict=True))
    print(f"largest relative difference of the two loss curves: {diff:.2e}")
    results["loss_difference"] = diff
    return results


if __name__ == "__main__":
    main()
