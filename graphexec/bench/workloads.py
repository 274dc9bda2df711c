"""The built-in workloads of ``gx.bench.compare`` and ``graphexec bench``: small programs that
show where each execution mode wins and loses.

Each ``Workload`` makes its data from a seed (``arrays``: named numpy arrays, inputs and
weights alike, so a peer framework can run the very same numbers) and builds a function of
tensors from them (``build``: ``(fn, args)``, with fresh Variables for the weights of a
training step).

>>> from graphexec.bench.workloads import WORKLOADS
>>> list(WORKLOADS)  # doctest: +NORMALIZE_WHITESPACE
['tiny_ops', 'elementwise_4m', 'mlp_inference', 'mlp_train', 'cnn_inference', 'cnn_train',
 'matmul_const', 'padding_pipeline']
>>> fn, args = WORKLOADS["tiny_ops"].build()
>>> fn(*args).shape
(16,)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import losses, optimizers
from .. import nn as gnn
from ..autodiff import GradientTape
from ..ops.math import exp, sin, tanh
from ..ops.math import sum as gsum
from ..ops.pad import pad
from ..ops.state import Variable

__all__ = ["Workload", "WORKLOADS", "get"]

Arrays = dict[str, np.ndarray]

#: the learning rate of the training steps (plain SGD)
LR = 0.01
MLP_SIZES = (784, 256, 256, 10)


@dataclass(frozen=True)
class Workload:
    """One benchmark program: ``arrays(seed)`` makes its inputs and weights, ``build(arrays)``
    the function and its arguments (``inputs`` names the arrays passed as arguments; the others
    are weights: constants, or Variables when ``training``)."""

    name: str
    description: str
    make_arrays: Callable[[np.random.Generator], Arrays]
    inputs: tuple[str, ...]
    make_fn: Callable[[Arrays], Callable[..., Any]]
    training: bool = False

    def arrays(self, seed: int = 0) -> Arrays:
        """The workload's arrays, the same for every run with this seed."""
        return self.make_arrays(np.random.default_rng(seed))

    def build(self, arrays: Arrays | None = None) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """``(fn, args)``: call ``fn(*args)``; a training step's weights are new Variables."""
        arrays = self.arrays() if arrays is None else arrays
        return self.make_fn(arrays), tuple(arrays[k] for k in self.inputs)


def _f32(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# -- 100 tiny chained ops: all dispatch, no arithmetic
def _tiny_arrays(rng: np.random.Generator) -> Arrays:
    return {"x": _f32(rng, 16)}


def _tiny_fn(a: Arrays) -> Callable[..., Any]:
    def tiny_ops(x: Any) -> Any:
        for _ in range(25):
            x = sin(x * 0.5 + 1.0) - 0.25
        return x
    return tiny_ops


# -- a 4M-element elementwise chain: memory traffic
def _ew_arrays(rng: np.random.Generator) -> Arrays:
    return {"x": _f32(rng, 2048, 2048)}


def _ew_fn(a: Arrays) -> Callable[..., Any]:
    def elementwise_4m(x: Any) -> Any:
        y = gnn.relu(x * 2.0 + 1.0)
        y = y * exp(-y) + sin(x)
        return y * 0.5 - 0.125
    return elementwise_4m


# -- MLP 784-256-256-10
def _mlp_arrays(rng: np.random.Generator) -> Arrays:
    out: Arrays = {"x": _f32(rng, 64, 784), "y": rng.integers(0, 10, 64).astype(np.int64)}
    for i, (n_in, n_out) in enumerate(itertools.pairwise(MLP_SIZES), 1):
        out[f"w{i}"] = _f32(rng, n_in, n_out, scale=float(np.sqrt(2.0 / n_in)))
        out[f"b{i}"] = np.zeros(n_out, np.float32)
    return out


def _mlp_logits(p: list[Any], x: Any) -> Any:
    w1, b1, w2, b2, w3, b3 = p
    h = gnn.relu(x @ w1 + b1)
    h = gnn.relu(h @ w2 + b2)
    return h @ w3 + b3


_MLP_WEIGHTS = ("w1", "b1", "w2", "b2", "w3", "b3")


def _mlp_infer_fn(a: Arrays) -> Callable[..., Any]:
    p = [a[k] for k in _MLP_WEIGHTS]

    def mlp_inference(x: Any) -> Any:
        return gnn.softmax(_mlp_logits(p, x))
    return mlp_inference


def _train_step(name: str, weights: list[Variable], logits: Callable[[list[Any], Any], Any]
                ) -> Callable[..., Any]:
    opt = optimizers.SGD(LR)

    def step(x: Any, y: Any) -> Any:
        with GradientTape() as tape:
            loss = losses.sparse_categorical_crossentropy(y, logits(weights, x),
                                                          from_logits=True)
        opt.apply(tape.gradient(loss, weights), weights)
        return loss
    step.__name__ = step.__qualname__ = name
    return step


def _mlp_train_fn(a: Arrays) -> Callable[..., Any]:
    return _train_step("mlp_train", [Variable(a[k].copy(), name=k) for k in _MLP_WEIGHTS],
                       _mlp_logits)


# -- CNN: Conv2D with reflect padding, pooling, Dense
def _cnn_arrays(rng: np.random.Generator) -> Arrays:
    return {"x": rng.random((32, 28, 28, 1)).astype(np.float32),
            "y": rng.integers(0, 10, 32).astype(np.int64),
            "k1": _f32(rng, 3, 3, 1, 16, scale=float(np.sqrt(2.0 / 9))),
            "c1": np.zeros(16, np.float32),
            "k2": _f32(rng, 3, 3, 16, 32, scale=float(np.sqrt(2.0 / 144))),
            "c2": np.zeros(32, np.float32),
            "w": _f32(rng, 7 * 7 * 32, 10, scale=float(np.sqrt(1.0 / 1568))),
            "b": np.zeros(10, np.float32)}


_CNN_WEIGHTS = ("k1", "c1", "k2", "c2", "w", "b")
_REFLECT1 = [[0, 0], [1, 1], [1, 1], [0, 0]]


def _cnn_logits(p: list[Any], x: Any) -> Any:
    k1, c1, k2, c2, w, b = p
    h = gnn.relu(gnn.conv2d(pad(x, _REFLECT1, mode="reflect"), k1) + c1)
    h = gnn.max_pool2d(h, 2, 2)
    h = gnn.relu(gnn.conv2d(pad(h, _REFLECT1, mode="reflect"), k2) + c2)
    h = gnn.max_pool2d(h, 2, 2)
    return h.reshape((-1, 7 * 7 * 32)) @ w + b


def _cnn_infer_fn(a: Arrays) -> Callable[..., Any]:
    p = [a[k] for k in _CNN_WEIGHTS]

    def cnn_inference(x: Any) -> Any:
        return gnn.softmax(_cnn_logits(p, x))
    return cnn_inference


def _cnn_train_fn(a: Arrays) -> Callable[..., Any]:
    return _train_step("cnn_train", [Variable(a[k].copy(), name=k) for k in _CNN_WEIGHTS],
                       _cnn_logits)


# -- a matmul chain with constant sub-expressions: what constant folding is for
def _mm_arrays(rng: np.random.Generator) -> Arrays:
    return {"x": _f32(rng, 64, 256), "a": _f32(rng, 256, 256, scale=1 / 16),
            "b": _f32(rng, 256, 256, scale=1 / 16), "c": _f32(rng, 256, 256, scale=1 / 16)}


def _mm_fn(arr: Arrays) -> Callable[..., Any]:
    from ..ops.creation import constant

    a, b, c = constant(arr["a"]), constant(arr["b"]), constant(arr["c"])

    def matmul_const(x: Any) -> Any:
        m = (a @ b) * 0.5 + c   # constant: folded once at level 1
        h = tanh(x @ m)
        return h @ (m @ a) + gsum(b @ c, axis=0)  # constant too
    return matmul_const


# -- a padding-heavy image pipeline
def _pad_arrays(rng: np.random.Generator) -> Arrays:
    return {"x": rng.random((8, 64, 64, 3)).astype(np.float32)}


def _pad_fn(a: Arrays) -> Callable[..., Any]:
    def padding_pipeline(x: Any) -> Any:
        p = pad(x, [[0, 0], [2, 2], [2, 2], [0, 0]], mode="reflect")
        blur = (p[:, :-4, 2:-2] + p[:, 4:, 2:-2] + p[:, 2:-2, :-4] + p[:, 2:-2, 4:]
                + p[:, 2:-2, 2:-2]) * 0.2
        q = pad(blur, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="symmetric")
        edges = q[:, 2:, 1:-1] - q[:, :-2, 1:-1]
        e = pad(edges, [[0, 0], [0, 0], [1, 1], [0, 0]], mode="edge")
        edges = e[:, :, 2:] - e[:, :, :-2] + edges
        w = pad(x, [[0, 0], [3, 3], [3, 3], [0, 0]], mode="wrap")[:, :-6, 6:]
        return blur + 0.5 * edges + 0.1 * w
    return padding_pipeline


WORKLOADS: dict[str, Workload] = {w.name: w for w in (
    Workload("tiny_ops", "100 chained elementwise ops on 16 floats (dispatch cost)",
             _tiny_arrays, ("x",), _tiny_fn),
    Workload("elementwise_4m", "10 elementwise ops on a 2048x2048 float32 (memory traffic)",
             _ew_arrays, ("x",), _ew_fn),
    Workload("mlp_inference", "MLP 784-256-256-10, batch 64, softmax", _mlp_arrays, ("x",),
             _mlp_infer_fn),
    Workload("mlp_train", "MLP 784-256-256-10, batch 64: one SGD training step", _mlp_arrays,
             ("x", "y"), _mlp_train_fn, training=True),
    Workload("cnn_inference", "CNN: 2x (Conv2D 3x3 reflect-padded, max pool), Dense; 32x28x28",
             _cnn_arrays, ("x",), _cnn_infer_fn),
    Workload("cnn_train", "the CNN, batch 32: one SGD training step", _cnn_arrays, ("x", "y"),
             _cnn_train_fn, training=True),
    Workload("matmul_const", "matmul chain with constant sub-expressions (constant folding)",
             _mm_arrays, ("x",), _mm_fn),
    Workload("padding_pipeline", "reflect/symmetric/edge/wrap padding and shifted slices, "
             "8x64x64x3", _pad_arrays, ("x",), _pad_fn),
)}


def get(name: str) -> Workload:
    """The workload called ``name`` (InvalidArgumentError naming the choices otherwise)."""
    from ..errors import InvalidArgumentError

    try:
        return WORKLOADS[name]
    except KeyError:
        raise InvalidArgumentError(f"bench: no workload {name!r}; choose from "
                                   f"{', '.join(WORKLOADS)}") from None
