"""``gx.losses``: Keras-style losses, called as ``loss(y_true, y_pred)``.

Each loss computes one value per sample (reducing the last axis, or the class ``axis``) and
then applies ``reduction``: ``"mean"`` (the mean of the per-sample losses), ``"sum"`` or
``"none"`` (the per-sample losses).  ``y_true`` and ``y_pred`` must have the same shape
(the sparse loss: ``y_pred``'s shape without the class axis); nothing is broadcast.
``y_true`` is cast to ``y_pred``'s dtype, as Keras does.

>>> import graphexec as gx
>>> gx.losses.mean_squared_error([[0.0, 1.0]], [[1.0, 1.0]]).numpy()
array(0.5, dtype=float32)
"""

from __future__ import annotations

from typing import Any

from .checks import check_axis
from .errors import DTypeError, InvalidArgumentError, ShapeError, op_error
from .ops import math as m
from .ops.array import squeeze
from .ops.nn import log_softmax, nll_loss, relu
from .registry import fmt_shape, shapes_match
from .tensor import Tensor, as_tensor

__all__ = ["mean_squared_error", "mean_absolute_error", "huber", "binary_crossentropy",
           "categorical_crossentropy", "sparse_categorical_crossentropy"]

#: Keras' ``backend.epsilon()``: probabilities are clipped to ``[EPSILON, 1 - EPSILON]``
EPSILON = 1e-7
REDUCTIONS = ("mean", "sum", "none")


def _reduction(op: str, reduction: str) -> str:
    r = reduction.lower() if isinstance(reduction, str) else reduction
    if r not in REDUCTIONS:
        raise op_error(InvalidArgumentError, op, f"unknown reduction {reduction!r}; choose one "
                       f"of {', '.join(REDUCTIONS)}")
    return r


def _reduce(per_sample: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return m.mean(per_sample)
    return m.sum(per_sample) if reduction == "sum" else per_sample


def _pair(op: str, y_true: Any, y_pred: Any) -> tuple[Tensor, Tensor]:
    """Both as tensors of one shape (known dims equal), ``y_true`` in ``y_pred``'s dtype."""
    y_pred = as_tensor(y_pred)
    y_true = as_tensor(y_true)
    a, b = y_true.shape, y_pred.shape
    if not shapes_match(a, b):
        raise op_error(ShapeError, op, f"y_true {fmt_shape(a)} and y_pred {fmt_shape(b)} "
                       "differ in shape; losses do not broadcast")
    if not b:
        raise op_error(ShapeError, op, "y_true and y_pred are scalars; a loss needs at least "
                       "one axis to reduce")
    if y_true.dtype != y_pred.dtype:
        y_true = m.cast(y_true, y_pred.dtype)
    return y_true, y_pred


def _log_probs(y_pred: Tensor, from_logits: bool, axis: int) -> Tensor:
    """Log-probabilities along ``axis``: ``log_softmax`` of logits, or Keras' treatment of
    probabilities (rescaled to sum to 1 along ``axis``, clipped to ``[eps, 1 - eps]``)."""
    if from_logits:
        return log_softmax(y_pred, axis=axis)
    p = y_pred / m.sum(y_pred, axis=axis, keepdims=True)
    return m.log(m.clip(p, EPSILON, 1.0 - EPSILON))


def mean_squared_error(y_true: Any, y_pred: Any, reduction: str = "mean") -> Tensor:
    """``mean((y_pred - y_true) ** 2)`` over the last axis per sample, then ``reduction``.

    >>> import graphexec as gx
    >>> y_true, y_pred = [[0.0, 1.0], [1.0, 1.0]], [[1.0, 1.0], [1.0, 0.0]]
    >>> gx.losses.mean_squared_error(y_true, y_pred, reduction="none").numpy()
    array([0.5, 0.5], dtype=float32)
    """
    reduction = _reduction("mean_squared_error", reduction)
    y_true, y_pred = _pair("mean_squared_error", y_true, y_pred)
    d = y_pred - y_true
    return _reduce(m.mean(d * d, axis=-1), reduction)


def categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                             axis: int = -1, reduction: str = "mean") -> Tensor:
    """``-sum(y_true * log(p))`` along the class ``axis`` per sample, then ``reduction``.

    With ``from_logits`` ``y_pred`` holds logits and ``log p = log_softmax(y_pred)``, finite
    for logits of any size.  Otherwise ``y_pred`` holds probabilities which, as in Keras, are
    first divided by their sum along ``axis`` and then clipped to ``[1e-7, 1 - 1e-7]``.

    >>> import graphexec as gx
    >>> float(gx.losses.categorical_crossentropy([[0.0, 1.0]], [[0.5, 0.5]]))
    0.6931471824645996
    >>> gx.losses.categorical_crossentropy([[0.0, 1.0]], [[0.0, 1e4]], from_logits=True).numpy()
    array(0., dtype=float32)
    """
    op = "categorical_crossentropy"
    reduction = _reduction(op, reduction)
    y_true, y_pred = _pair(op, y_true, y_pred)
    axis = check_axis(axis, y_pred.ndim, op, y_pred.shape)
    logp = _log_probs(y_pred, from_logits, axis)
    return _reduce(-m.sum(y_true * logp, axis=axis), reduction)


def sparse_categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                                    axis: int = -1, reduction: str = "mean") -> Tensor:
    """Categorical cross-entropy with integer class labels ``y_true`` (the shape of
    ``y_pred`` without its class ``axis``; as in Keras, a trailing axis of size 1 is also
    accepted when the class axis is the last).  ``from_logits`` and the treatment of
    probabilities are those of :func:`categorical_crossentropy`.  A label outside
    ``[0, classes)`` is an error when the loss runs (Keras' numpy backend would count it as
    a zero loss).

    >>> import graphexec as gx
    >>> gx.losses.sparse_categorical_crossentropy([1, 0], [[0.5, 0.5], [1.0, 0.0]],
    ...                                           reduction="none").numpy().round(4)
    array([0.6931, 0.    ], dtype=float32)
    """
    op = "sparse_categorical_crossentropy"
    reduction = _reduction(op, reduction)
    y_pred, y_true = as_tensor(y_pred), as_tensor(y_true)
    if y_true.dtype.kind not in "iu":
        raise op_error(DTypeError, op, f"y_true must hold integer class labels, got "
                       f"{y_true.dtype}")
    axis = check_axis(axis, y_pred.ndim, op, y_pred.shape)
    if axis == y_pred.ndim - 1 and y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = squeeze(y_true, axis=-1)
    want = y_pred.shape[:axis] + y_pred.shape[axis + 1:]
    if not shapes_match(y_true.shape, want):
        raise op_error(ShapeError, op, f"labels y_true {fmt_shape(y_true.shape)} do not fit "
                       f"y_pred {fmt_shape(y_pred.shape)}: expected {fmt_shape(want)}, the "
                       f"shape of y_pred without its class axis {axis}")
    logp = _log_probs(y_pred, from_logits, axis)
    return _reduce(nll_loss(logp, y_true, axis=axis), reduction)


def binary_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                        reduction: str = "mean") -> Tensor:
    """``-(y log p + (1 - y) log(1 - p))`` averaged over the last axis per sample, then
    ``reduction``.  With ``from_logits`` it is computed from the logits ``z`` without overflow
    (``max(z, 0) - z y + log1p(exp(-|z|))``); probabilities are clipped to ``[1e-7, 1 - 1e-7]``
    as in Keras.

    >>> import graphexec as gx
    >>> round(float(gx.losses.binary_crossentropy([[1.0, 0.0]], [[0.9, 0.2]])), 5)
    0.16425
    >>> gx.losses.binary_crossentropy([[1.0]], [[1e4]], from_logits=True).numpy()
    array(0., dtype=float32)
    """
    op = "binary_crossentropy"
    reduction = _reduction(op, reduction)
    y, z = _pair(op, y_true, y_pred)
    if from_logits:
        per = relu(z) - z * y + m.log1p(m.exp(m.minimum(z, -z)))  # NOTE: softplus's form
    else:
        p = m.clip(z, EPSILON, 1.0 - EPSILON)
        per = -(y * m.log(p) + (1.0 - y) * m.log(1.0 - p))
    return _reduce(m.mean(per, axis=-1), reduction)


def mean_absolute_error(y_true: Any, y_pred: Any, reduction: str = "mean") -> Tensor:
    """``mean(|y_pred - y_true|)`` over the last axis per sample, then ``reduction``.

    >>> import graphexec as gx
    >>> gx.losses.mean_absolute_error([[0.0, 1.0]], [[1.0, -1.0]]).numpy()
    array(1.5, dtype=float32)
    """
    reduction = _reduction("mean_absolute_error", reduction)
    y_true, y_pred = _pair("mean_absolute_error", y_true, y_pred)
    return _reduce(m.mean(m.abs(y_pred - y_true), axis=-1), reduction)


def huber(y_true: Any, y_pred: Any, delta: float = 1.0, reduction: str = "mean") -> Tensor:
    """Huber loss: ``0.5 d**2`` where ``|d| <= delta``, else ``delta * (|d| - 0.5 delta)``
    (``d = y_pred - y_true``), averaged over the last axis per sample, then ``reduction``.

    >>> import graphexec as gx
    >>> gx.losses.huber([[0.0, 0.0]], [[0.5, 3.0]], reduction="none").numpy()
    array([1.3125], dtype=float32)
    """
    op = "huber"
    reduction = _reduction(op, reduction)
    if isinstance(delta, bool) or not isinstance(delta, int | float) or not delta > 0:
        raise op_error(InvalidArgumentError, op, f"delta must be a positive number, got "
                       f"{delta!r}")
    y_true, y_pred = _pair(op, y_true, y_pred)
    a = m.abs(y_pred - y_true)
    q = m.minimum(a, float(delta))  # NOTE: the quadratic part; the rest is linear
    return _reduce(m.mean(q * q * 0.5 + (a - q) * float(delta), axis=-1), reduction)
