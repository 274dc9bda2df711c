"""The ONNX op table of ``gx.onnx.load``: ``CONVERTERS`` maps each ONNX op type to a converter
``fn(node, *inputs) -> tensor | tensors`` written with graphexec's frontend ops, so that one
converter builds graph nodes on placeholders and computes values on eager tensors.  ``node``
(a ``node.Node``) holds the attributes, the opset and the static values of inputs that
stand for shapes, axes or pads.  ONNX's layouts are NCHW; graphexec's convolution is NHWC:
converters transpose around it.  The larger converters (attention, recurrent layers, grid
sampling, signal ops, quantization) are in ``import_nn`` and join the table.
"""

from __future__ import annotations

import itertools
import math
import string
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..control import cond, scan, while_loop
from ..errors import GraphError, InvalidArgumentError, ShapeError
from ..ops import math as m
from ..ops.array import (
    broadcast_to,
    cast,
    concat,
    expand_dims,
    gather,
    getitem,
    reshape,
    shape,
    size,
    split,
    squeeze,
    stack,
    tile,
    transpose,
    where,
)
from ..ops.creation import constant, ones_like, zeros_like
from ..ops.linalg import det, matmul
from ..ops.nn import conv2d, erf, log_softmax, max_pool2d, one_hot, relu, sigmoid, softmax
from ..ops.ordering import argsort, cumprod, cumsum, einsum, take_along_axis
from ..ops.pad import pad
from ..ops.state import static_value
from ..tensor import Tensor
from .import_nn import NN_CONVERTERS
from .node import Dim, Node, constant_eager, onnx_dtype

__all__ = ["CONVERTERS"]

Converter = Callable[..., Any]


# ---------------------------------------------------------------------------------------------
# helpers

def _axis(a: int, rank: int) -> int:
    return a + rank if a < 0 else a


def _axes(n: Node, x: Tensor, i: int, attr: str = "axes") -> tuple[int, ...] | None:
    """The axes from input ``i`` or attribute ``attr``, made non-negative (None: not given)."""
    axes = n.ints(i, attr)
    return None if axes is None else tuple(_axis(a, x.ndim) for a in axes)


def _float_like(v: Any, x: Tensor) -> Any:
    """A Python number in ``x``'s dtype (a weak scalar next to it)."""
    return float(v) if x.dtype.kind == "f" else v


def _scalar_like(n: Node, v: float, x: Tensor) -> Any:
    """An attribute's number as a weak scalar of ``x``'s dtype (an integral one for ints)."""
    if x.dtype.kind == "f":
        return float(v)
    if float(v) != int(v):
        raise n.error(InvalidArgumentError, f"{v} is not an integer, and the operands are "
                      f"{x.dtype}")
    return int(v)


def _static(n: Node, x: Tensor) -> tuple[int, ...]:
    return n.static_shape(x)


def _known(n: Node, x: Tensor, axes: Sequence[int]) -> list[int]:
    """The sizes of ``axes`` of ``x``, which must be known at import (others need not be:
    a batch dim may stay unknown)."""
    dims = [x.shape[a] for a in axes]
    if None in dims:
        raise n.error(GraphError, f"the input's dims {list(axes)} must be known at import; "
                      f"its shape is {tuple(x.shape)}")
    return [int(d) for d in dims]  # type: ignore[arg-type]


def _slice_axis(x: Tensor, axis: int, start: int | None, stop: int | None,
                step: int = 1) -> Tensor:
    key = (slice(None),) * axis + (slice(start, stop, step),)
    return getitem(x, key)


def _pad_crop(x: Tensor, before: Sequence[int], after: Sequence[int], first: int = 0,
              mode: str = "constant", value: Any = 0) -> Tensor:
    """``x`` padded from axis ``first`` on; negative pads crop, first (as ONNX Runtime: the
    modes that copy values then copy what is left)."""
    k = len(before)
    if any(b < 0 or a < 0 for b, a in zip(before, after, strict=True)):
        key = [slice(None)] * first + [slice(-min(b, 0), None if a >= 0 else a)
                                       for b, a in zip(before, after, strict=True)]
        x = getitem(x, tuple(key))
    lead = [(0, 0)] * first
    pairs = lead + [(max(b, 0), max(a, 0)) for b, a in zip(before, after, strict=True)]
    pairs += [(0, 0)] * (x.ndim - first - k)
    if any(p != (0, 0) for p in pairs):
        x = pad(x, pairs, mode, value) if mode == "constant" else pad(x, pairs, mode)
    return x


def _channel(v: Tensor, rank: int) -> Tensor:
    """A per-channel vector shaped to broadcast against an NC... tensor of ``rank``."""
    return reshape(v, (-1,) + (1,) * (rank - 2))


# ---------------------------------------------------------------------------------------------
# elementwise

def _unary(fn: Callable[[Tensor], Tensor]) -> Converter:
    return lambda n, x: fn(x)


def _binary(fn: Callable[[Tensor, Tensor], Tensor]) -> Converter:
    return lambda n, x, y: fn(x, y)


def _variadic(fn: Callable[[Tensor, Tensor], Tensor]) -> Converter:
    def convert(n: Node, *xs: Tensor) -> Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = fn(out, x)
        return out
    return convert


def _mean(n: Node, *xs: Tensor) -> Tensor:
    if xs[0].dtype == np.float16:  # NOTE: the sum in float32, as ONNX Runtime does
        return cast(_mean(n, *[cast(x, "float32") for x in xs]), "float16")
    return m.divide(_variadic(m.add)(n, *xs), _float_like(len(xs), xs[0]))


def _trunc_div(x: Tensor, y: Tensor) -> Tensor:
    q = m.floor_divide(x, y)
    if x.dtype.kind == "u":
        return q
    inexact = m.logical_and(m.not_equal(m.multiply(q, y), x),
                            m.not_equal(m.less(x, 0), m.less(y, 0)))
    return where(inexact, m.add(q, 1), q)


def _div(n: Node, x: Tensor, y: Tensor) -> Tensor:
    # NOTE: ONNX's integer division truncates toward zero (C's), numpy's floors
    return _trunc_div(x, y) if x.dtype.kind in "iu" else m.divide(x, y)


def _mod(n: Node, x: Tensor, y: Tensor) -> Tensor:
    if not n.attr("fmod", 0):
        return m.mod(x, y)
    if x.dtype.kind in "iu":  # C's fmod: the sign of the dividend
        return m.subtract(x, m.multiply(y, _trunc_div(x, y)))
    # NOTE: from numpy's remainder (the divisor's sign): one divisor back where the signs
    # differ; a remainder that rounded to the divisor means a dividend too small to move it,
    # and an infinite divisor leaves a finite dividend as it is (C's fmod)
    r = m.mod(x, y)
    out = where(m.logical_and(m.not_equal(r, 0), m.not_equal(m.less(r, 0), m.less(x, 0))),
                m.subtract(r, y), r)
    keep = m.logical_or(m.equal(r, y), m.logical_and(_isinf_(y), m.equal(x, x)))
    return where(m.logical_and(keep, m.not_equal(m.abs(x), np.inf)), x, out)


def _isinf_(x: Tensor) -> Tensor:
    return m.equal(m.abs(x), np.inf)


def _pow(n: Node, x: Tensor, y: Tensor) -> Tensor:
    # NOTE: ONNX's Pow keeps the base's dtype, whatever the exponent's
    if x.dtype.kind in "iu":  # NOTE: as ONNX Runtime: in float64 (2 ** -1 is 0), truncated
        return cast(m.pow(cast(x, "float64"), cast(y, "float64")), x.dtype)
    return m.pow(x, cast(y, x.dtype))


def _bitshift(n: Node, x: Tensor, y: Tensor) -> Tensor:
    # NOTE: shifts are exact as products and floor quotients by powers of two (wrapping as
    # two's complement does); a shift by the width or more, or by a negative count, shifts
    # every bit out (the sign bit fills a signed right shift)
    bits = x.dtype.itemsize * 8
    big = m.logical_or(m.less(y, 0), m.greater_equal(y, bits))
    s = where(big, bits - 1, y)
    two = constant(np.array(2, x.dtype))
    if n.attr("direction") == "LEFT":
        return where(big, zeros_like(x), m.multiply(x, m.pow(two, s)))
    half = m.floor_divide(s, 2)  # NOTE: 2 ** (bits - 1) does not fit a signed dtype
    out = m.floor_divide(m.floor_divide(x, m.pow(two, half)), m.pow(two, m.subtract(s, half)))
    return where(big, zeros_like(x), out) if x.dtype.kind == "u" else out


def _clip(n: Node, x: Tensor, lo: Tensor | None = None, hi: Tensor | None = None) -> Tensor:
    if n.opset < 11:
        lo_v, hi_v = n.attr("min"), n.attr("max")
        lo = None if lo_v is None else constant(np.array(lo_v, x.dtype))
        hi = None if hi_v is None else constant(np.array(hi_v, x.dtype))
    out = x
    if lo is not None:
        out = m.maximum(out, lo)
    if hi is not None:
        out = m.minimum(out, hi)
    return out


def _isinf(n: Node, x: Tensor) -> Tensor:
    pos, neg = n.attr("detect_positive", 1), n.attr("detect_negative", 1)
    hits = [m.equal(x, math.inf)] * pos + [m.equal(x, -math.inf)] * neg
    if x.dtype.kind != "f" or not hits:
        return zeros_like(x, "bool")
    return hits[0] if len(hits) == 1 else m.logical_or(*hits)


def _sign(n: Node, x: Tensor) -> Tensor:
    return m.sign(x)


# NOTE: the inverse and hyperbolic functions, written so that they neither overflow (x**2 of a
# large x, exp(89) in float32) nor cancel (log(1 + tiny)); computed in float64 for float16
_LN2 = math.log(2.0)


def _in_float64(fn: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """``fn`` computed in float64 for narrower floats (then rounded once, to their dtype)."""
    def wide(x: Tensor) -> Tensor:
        if x.dtype in (np.float16, np.float32):
            return cast(fn(cast(x, "float64")), x.dtype)
        return fn(x)
    wide.__name__ = fn.__name__
    return wide


def _big(x: Tensor) -> float:
    """Beyond this ``x * x`` loses ``1`` next to it (``1 / sqrt(eps)``)."""
    return float(1 / np.sqrt(np.finfo(x.dtype).eps))


def _asinh(x: Tensor) -> Tensor:
    a = m.abs(x)
    small = m.log1p(m.add(a, m.divide(m.square(a), m.add(1.0, m.sqrt(m.add(m.square(a),
                                                                            1.0))))))
    r = where(m.greater(a, _big(x)), m.add(m.log(a), _LN2), small)
    return where(m.less(x, 0), m.negative(r), r)


def _acosh(x: Tensor) -> Tensor:
    t = m.subtract(x, 1.0)
    small = m.log1p(m.add(t, m.sqrt(m.add(m.multiply(2.0, t), m.square(t)))))
    return where(m.greater(x, _big(x)), m.add(m.log(x), _LN2), small)


def _atanh(x: Tensor) -> Tensor:
    return m.multiply(0.5, m.subtract(m.log1p(x), m.log1p(m.negative(x))))


def _sinh(x: Tensor) -> Tensor:
    a = m.abs(x)
    near = m.multiply(0.5, m.subtract(m.expm1(a), m.expm1(m.negative(a))))
    far = m.subtract(m.exp(m.subtract(a, _LN2)), m.exp(m.subtract(m.negative(a), _LN2)))
    r = where(m.less(a, 1.0), near, far)
    return where(m.less(x, 0), m.negative(r), r)


def _cosh(x: Tensor) -> Tensor:
    a = m.abs(x)
    return m.add(m.exp(m.subtract(a, _LN2)), m.exp(m.subtract(m.negative(a), _LN2)))


# ---------------------------------------------------------------------------------------------
# activations

def _softplus(x: Tensor) -> Tensor:
    # NOTE: log(1 + exp(x)) overflows for large x; max(x, 0) + log1p(exp(-|x|)) does not
    return m.add(relu(x), m.log1p(m.exp(m.negative(m.abs(x)))))


def _elu(n: Node, x: Tensor) -> Tensor:
    alpha = n.attr("alpha", 1.0)
    return where(m.less(x, 0), m.multiply(alpha, m.expm1(x)), x)


def _celu(n: Node, x: Tensor) -> Tensor:
    alpha = n.attr("alpha", 1.0)
    neg = m.multiply(alpha, m.expm1(m.divide(m.minimum(x, 0.0), alpha)))
    return m.add(relu(x), neg)


def _selu(n: Node, x: Tensor) -> Tensor:
    alpha = n.attr("alpha", 1.67326319217681884765625)
    gamma = n.attr("gamma", 1.05070102214813232421875)
    return m.multiply(gamma, where(m.less_equal(x, 0), m.multiply(alpha, m.expm1(x)), x))


def _leaky_relu(n: Node, x: Tensor) -> Tensor:
    return where(m.less(x, 0), m.multiply(n.attr("alpha", 0.01), x), x)


def _thresholded_relu(n: Node, x: Tensor) -> Tensor:
    return where(m.greater(x, n.attr("alpha", 1.0)), x, 0.0)


def _hard_sigmoid(n: Node, x: Tensor) -> Tensor:
    y = m.add(m.multiply(n.attr("alpha", 0.2), x), n.attr("beta", 0.5))
    return m.minimum(m.maximum(y, 0.0), 1.0)


def _hard_swish(n: Node, x: Tensor) -> Tensor:
    return m.multiply(x, m.minimum(m.maximum(m.add(m.divide(x, 6.0), 0.5), 0.0), 1.0))


def _softsign(n: Node, x: Tensor) -> Tensor:
    return m.divide(x, m.add(m.abs(x), 1.0))


def _gelu(n: Node, x: Tensor) -> Tensor:
    if x.dtype == np.float16:
        return cast(_gelu(n, cast(x, "float32")), "float16")
    if n.attr("approximate", "none") == "tanh":
        inner = m.multiply(m.add(x, m.multiply(0.044715, m.multiply(m.square(x), x))),
                           math.sqrt(2 / math.pi))
        return m.multiply(m.multiply(0.5, x), m.add(1.0, m.tanh(inner)))
    return m.multiply(m.multiply(0.5, x), m.add(1.0, erf(m.multiply(x, math.sqrt(0.5)))))


def _mish(n: Node, x: Tensor) -> Tensor:
    return m.multiply(x, m.tanh(_softplus(x)))


def _swish(n: Node, x: Tensor) -> Tensor:
    return m.multiply(x, sigmoid(m.multiply(n.attr("alpha", 1.0), x)))


def _shrink(n: Node, x: Tensor) -> Tensor:
    lambd, bias = n.attr("lambd", 0.5), n.attr("bias", 0.0)
    b = constant(np.asarray(bias).astype(x.dtype))  # NOTE: in x's dtype, as ONNX says
    lo = m.add(x, b)
    hi = m.subtract(x, b)
    return where(m.less(x, -lambd), lo, where(m.greater(x, lambd), hi, zeros_like(x)))


def _prelu(n: Node, x: Tensor, slope: Tensor) -> Tensor:
    return where(m.less(x, 0), m.multiply(slope, x), x)


def _softmax_like(fn: Callable[[Tensor, int], Tensor]) -> Converter:
    def convert(n: Node, x: Tensor) -> Tensor:
        axis = _axis(n.attr("axis", 1 if n.opset < 13 else -1), x.ndim)
        if n.opset >= 13:
            return fn(x, axis)
        # NOTE: before opset 13 the input is flattened to 2-D at axis
        shp = _static(n, x)
        flat = reshape(x, (math.prod(shp[:axis]), math.prod(shp[axis:])))
        return reshape(fn(flat, 1), shp)
    return convert


def _hardmax_rows(x: Tensor, axis: int) -> Tensor:
    first = m.argmax(x, axis=axis, keepdims=True)
    return cast(m.equal(_positions(x, axis), first), x.dtype)


def _positions(x: Tensor, axis: int) -> Tensor:
    grid = [1] * x.ndim
    grid[axis] = int(x.shape[axis])  # type: ignore[arg-type]
    return constant(np.arange(grid[axis]).reshape(grid))


# ---------------------------------------------------------------------------------------------
# reductions

def _reduce(fn: Callable[..., Tensor], empty: float | None = None,
            pre: Callable[[Tensor], Tensor] | None = None,
            post: Callable[[Tensor], Tensor] | None = None) -> Converter:
    def convert(n: Node, x: Tensor, axes_in: Tensor | None = None) -> Tensor:
        # ReduceSum takes its axes as an input from opset 13, the others from 18
        axes = _axes(n, x, 1, "axes")
        keepdims = bool(n.attr("keepdims", 1))
        if not axes:
            if n.attr("noop_with_empty_axes", 0):
                return x
            axes = tuple(range(x.ndim))
        y = x if pre is None else pre(x)
        if empty is not None and any(x.shape[a] == 0 for a in axes):
            dims = [1 if a in axes else d for a, d in enumerate(x.shape)]
            if not keepdims:
                dims = [d for a, d in enumerate(dims) if a not in axes]
            return constant(np.full(dims, _extreme(empty, y.dtype), y.dtype))
        out = fn(y, axis=axes, keepdims=keepdims)
        out = out if post is None else post(out)
        # NOTE: ONNX's reductions keep the input's dtype (numpy's mean of ints is a float,
        # its sum of int32 an int64)
        return out if out.dtype == x.dtype else cast(out, x.dtype)
    return convert


def _extreme(v: float, dtype: np.dtype) -> Any:
    """``v`` (an infinity or NaN) as the nearest value of ``dtype``."""
    if dtype.kind in "fc" or not math.isinf(v):
        return v
    if dtype.kind == "b":
        return v > 0
    info = np.iinfo(dtype)
    return info.max if v > 0 else info.min


def _arg(fn: Callable[..., Tensor]) -> Converter:
    def convert(n: Node, x: Tensor) -> Tensor:
        axis = _axis(n.attr("axis", 0), x.ndim)
        keepdims = bool(n.attr("keepdims", 1))
        if not n.attr("select_last_index", 0):
            return fn(x, axis=axis, keepdims=keepdims)
        (size,) = _known(n, x, [axis])
        last = size - 1
        return m.subtract(last, fn(_slice_axis(x, axis, None, None, -1), axis=axis,
                                   keepdims=keepdims))
    return convert


# ---------------------------------------------------------------------------------------------
# shapes and indexing

def _cast(n: Node, x: Tensor) -> Tensor:
    return cast(x, onnx_dtype(n.attr("to"), f"{n}: "))


def _reshape(n: Node, x: Tensor, _: Tensor | None = None) -> Tensor:
    target = _target(n, x)
    if not n.attr("allowzero", 0):
        target = [x.shape[i] if d == 0 else d for i, d in enumerate(target)]
    if None in target:
        known = [d for d in x.shape if d is not None]
        copied = [i for i, d in enumerate(target) if d is None]
        unknown = sum(d is None for d in x.shape)
        if unknown != len(copied) or (len(copied) > 1 and -1 in target):
            raise n.error(GraphError, f"cannot reshape {tuple(x.shape)} into {target} with "
                          "dims only known at run time")
        rest = [d for d in target if d not in (None, -1)]
        if -1 in target:
            target[target.index(-1)] = math.prod(known) // max(math.prod(rest), 1)
        target[copied[0]] = -1
    return reshape(x, tuple(target))


def _target(n: Node, x: Tensor) -> list[Any]:
    """Reshape's target shape: known at import, or in part (a size of ``x`` itself known only
    when it runs, in the same place, is a copied dim: None, as a 0 is)."""
    if n.has(1) and n.inputs[1] is not None and n.inputs[1]._graph is not None:
        known = n.partial(1)
        here = (x._node, x._index) if x._graph is not None else None
        if known is not None and all(
                not isinstance(d, Dim) or (d.ref == here and d.axis == i)
                for i, d in enumerate(known.tolist())):
            return [None if isinstance(d, Dim) else int(d) for d in known.tolist()]
    return list(n.ints(1, "shape"))


def _flatten(n: Node, x: Tensor) -> Tensor:
    axis = _axis(n.attr("axis", 1), x.ndim)
    head, tail = x.shape[:axis], x.shape[axis:]
    if None in tail and None in head:
        raise n.error(GraphError, f"cannot flatten {tuple(x.shape)} at axis {axis}: both "
                      "sides have dims only known at run time")
    if None in head:
        return reshape(x, (-1, math.prod(tail)))  # type: ignore[arg-type]
    return reshape(x, (math.prod(head), -1))  # type: ignore[arg-type]


def _transpose(n: Node, x: Tensor) -> Tensor:
    perm = n.attr("perm")
    return transpose(x, tuple(reversed(range(x.ndim))) if perm is None else tuple(perm))


def _squeeze(n: Node, x: Tensor, _: Tensor | None = None) -> Tensor:
    axes = _axes(n, x, 1)
    if axes is None:
        if None in x.shape:  # NOTE: whether an unknown dim is 1 is only known when it runs
            raise n.error(GraphError, f"Squeeze without axes of a shape with unknown dims "
                          f"{tuple(x.shape)}: give the axes")
        axes = tuple(i for i, d in enumerate(x.shape) if d == 1)
    return squeeze(x, axes) if axes else x


def _unsqueeze(n: Node, x: Tensor, _: Tensor | None = None) -> Tensor:
    rank = x.ndim + len(n.ints(1, "axes"))
    return expand_dims(x, tuple(_axis(a, rank) for a in n.ints(1, "axes")))


def _concat(n: Node, *xs: Tensor) -> Tensor:
    return concat(list(xs), _axis(n.attr("axis"), xs[0].ndim))


def _split(n: Node, x: Tensor, _: Tensor | None = None) -> list[Tensor]:
    axis = _axis(n.attr("axis", 0), x.ndim)
    sizes = n.ints(1, "split")
    if sizes is None:
        parts = n.attr("num_outputs", n.n_outputs)
        (length,) = _known(n, x, [axis])
        chunk = -(-length // parts)
        sizes = tuple(min(chunk, length - i * chunk) for i in range(parts))
    return split(x, list(sizes), axis)


def _slice(n: Node, x: Tensor, *_: Tensor | None) -> Tensor:
    if n.opset < 10:
        starts, ends = n.attr("starts"), n.attr("ends")
        axes, steps = n.attr("axes"), None
    else:
        starts, ends, axes, steps = n.ints(1), n.ints(2), n.ints(3), n.ints(4)
    axes = range(len(starts)) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    key = [slice(None)] * x.ndim
    for a, s, e, st in zip(axes, starts, ends, steps, strict=True):
        key[_axis(a, x.ndim)] = slice(s, e, st)
    return getitem(x, tuple(key))


def _center_crop_pad(n: Node, x: Tensor, _: Tensor) -> Tensor:
    shp = _static(n, x)
    axes = [_axis(a, x.ndim) for a in n.attr("axes", range(x.ndim))]
    before, after = [0] * x.ndim, [0] * x.ndim
    for a, want in zip(axes, n.ints(1), strict=True):
        gap = want - shp[a]  # > 0 pads, < 0 crops; the odd one goes after
        small = -(-gap // 2) if gap < 0 else gap // 2
        before[a], after[a] = small, gap - small
    return _pad_crop(x, before, after)


def _reverse_sequence(n: Node, x: Tensor, lens: Tensor) -> Tensor:
    b_ax, t_ax = n.attr("batch_axis", 1), n.attr("time_axis", 0)
    shp = _static(n, x)
    steps = shp[t_ax]
    # index (batch, time): lens[b] - 1 - t within each sequence, t past its end
    t = constant(np.arange(steps).reshape(1, steps))
    lens = expand_dims(cast(lens, "int64"), 1)
    index = where(m.less(t, lens), m.subtract(m.subtract(lens, 1), t), t)
    if b_ax > t_ax:
        index = transpose(index, (1, 0))
    index = reshape(index, tuple(shp[i] if i in (b_ax, t_ax) else 1 for i in range(x.ndim)))
    return take_along_axis(x, broadcast_to(index, shp), t_ax)


def _gather(n: Node, x: Tensor, idx: Tensor) -> Tensor:
    return gather(x, idx, _axis(n.attr("axis", 0), x.ndim))


def _wrapped(idx: Tensor, size: int) -> Tensor:
    return where(m.less(idx, 0), m.add(idx, size), idx)


def _gather_elements(n: Node, x: Tensor, idx: Tensor) -> Tensor:
    axis = _axis(n.attr("axis", 0), x.ndim)
    return take_along_axis(x, _wrapped(idx, _known(n, x, [axis])[0]), axis)


def _gather_nd(n: Node, x: Tensor, idx: Tensor) -> Tensor:
    b = n.attr("batch_dims", 0)
    xs, ishape = _static(n, x), _static(n, idx)
    k = ishape[-1]
    batch, inner, rest = xs[:b], xs[b:b + k], xs[b + k:]
    strides = np.array([math.prod(inner[j + 1:]) for j in range(k)], np.int64)
    dims = np.array(inner, np.int64)
    i64 = cast(idx, "int64")
    i64 = where(m.less(i64, 0), m.add(i64, dims), i64)
    linear = m.sum(m.multiply(i64, strides), axis=-1)  # (batch..., I...)
    nb, ni = math.prod(batch), math.prod(ishape[b:-1])
    offsets = constant((np.arange(nb, dtype=np.int64) * math.prod(inner)).reshape(nb, 1))
    linear = m.add(reshape(linear, (nb, ni)), offsets)
    flat = reshape(x, (nb * math.prod(inner), *rest))
    return reshape(gather(flat, linear, 0), (*batch, *ishape[b:-1], *rest))


def _scatter_elements(n: Node, x: Tensor, idx: Tensor, updates: Tensor) -> Tensor:
    axis = _axis(n.attr("axis", 0), x.ndim)
    xs, ishape = _static(n, x), _static(n, idx)
    hot = m.equal(expand_dims(_wrapped(idx, xs[axis]), axis + 1),
                  _positions_of(xs[axis], axis + 1, len(ishape) + 1))
    hot_shape = list(ishape)
    hot_shape.insert(axis + 1, xs[axis])
    upd = expand_dims(updates, axis + 1)
    return _scatter(n, x, hot, upd, axis, hot_shape, xs)


def _positions_of(size: int, axis: int, rank: int) -> Tensor:
    grid = [1] * rank
    grid[axis] = size
    return constant(np.arange(size).reshape(grid))


def _scatter(n: Node, x: Tensor, hot: Tensor, upd: Tensor, axis: int,
             hot_shape: list[int], xs: tuple[int, ...]) -> Tensor:
    """Scatter by a one-hot mask (the scattered positions along a new axis after ``axis``)."""
    reduction = n.attr("reduction", "none")
    hot = broadcast_to(hot, tuple(hot_shape))
    upd = broadcast_to(upd, tuple(hot_shape))
    hit = m.any(hot, axis=axis)
    if reduction in ("none", "add"):
        total = m.sum(where(hot, upd, zeros_like(upd)), axis=axis)
    elif reduction == "mul":
        total = m.prod(where(hot, upd, ones_like(upd)), axis=axis)
    else:
        low = np.finfo(x.dtype).min if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        high = np.finfo(x.dtype).max if x.dtype.kind == "f" else np.iinfo(x.dtype).max
        fill = low if reduction == "max" else high
        reduce = m.max if reduction == "max" else m.min
        total = reduce(where(hot, upd, constant(np.array(fill, x.dtype))), axis=axis)
    # the indices may cover less than x along the other axes: pad the result up to x's shape
    got = [d for i, d in enumerate(hot_shape) if i != axis]
    after = [t - g for t, g in zip(xs, got, strict=True)]
    hit = _pad_crop(hit, [0] * len(xs), after)
    total = _pad_crop(total, [0] * len(xs), after)
    combine = {"none": lambda a, b: b, "add": m.add, "mul": m.multiply,
               "max": m.maximum, "min": m.minimum}[reduction]
    return where(hit, combine(x, cast(total, x.dtype)), x)


def _scatter_nd(n: Node, x: Tensor, idx: Tensor, updates: Tensor) -> Tensor:
    xs, ishape = _static(n, x), _static(n, idx)
    k = ishape[-1]
    inner, rest = xs[:k], xs[k:]
    strides = np.array([math.prod(inner[j + 1:]) for j in range(k)], np.int64)
    i64 = cast(idx, "int64")
    i64 = where(m.less(i64, 0), m.add(i64, np.array(inner, np.int64)), i64)
    linear = reshape(m.sum(m.multiply(i64, strides), axis=-1), (-1,))  # (U,)
    total = math.prod(inner)
    hot = m.equal(expand_dims(linear, 1), constant(np.arange(total).reshape(1, total)))
    upd = reshape(updates, (-1, 1, *rest))  # (U, 1, rest...)
    hot = reshape(hot, (-1, total) + (1,) * len(rest))
    flat = reshape(x, (total, *rest))
    count = math.prod(ishape[:-1])
    out = _scatter(n, flat, hot, upd, 0, [count, total, *rest], (total, *rest))
    return reshape(out, xs)


def _tile(n: Node, x: Tensor, _: Tensor) -> Tensor:
    return tile(x, n.ints(1))


def _expand(n: Node, x: Tensor, _: Tensor) -> Tensor:
    target = np.broadcast_shapes(_static(n, x), n.ints(1))
    return broadcast_to(x, target)


def _constant(n: Node) -> Tensor:
    for key, dtype in (("value", None), ("value_float", "float32"), ("value_floats", "float32"),
                       ("value_int", "int64"), ("value_ints", "int64")):
        if key in n.attrs:
            return constant(np.asarray(n.attrs[key], dtype))
    raise n.error(InvalidArgumentError, f"attribute(s) {sorted(n.attrs)}: graphexec reads "
                  "value, value_float(s) and value_int(s) (no strings, no sparse tensors)")


def _constant_of_shape(n: Node, _: Tensor) -> Tensor:
    value = n.attr("value", np.zeros(1, "float32"))
    return constant(np.full(n.ints(0), value.reshape(-1)[0], value.dtype))


def _range(n: Node, start: Tensor, limit: Tensor, delta: Tensor) -> Tensor:
    values = [n.value(i) for i in range(3)]
    if any(v.size != 1 for v in values):
        raise n.error(ShapeError, f"start, limit and delta must be scalars, got shapes "
                      f"{[v.shape for v in values]}")
    s, lim, d = (v.reshape(()) for v in values)  # NOTE: one-element tensors are read as scalars
    count = max(int(np.ceil((lim - s) / d)), 0)
    return constant((s + np.arange(count) * d).astype(start.dtype))


def _eye_like(n: Node, x: Tensor) -> Tensor:
    rows, cols = _static(n, x)
    dtype = x.dtype if n.attr("dtype") is None else onnx_dtype(n.attr("dtype"), f"{n}: ")
    return constant(np.eye(rows, cols, n.attr("k", 0), dtype))


def _one_hot(n: Node, idx: Tensor, depth: Tensor, values: Tensor) -> Tensor:
    d = int(n.value(1).reshape(-1)[0])
    off, on = n.value(2)
    axis = _axis(n.attr("axis", -1), idx.ndim + 1)
    idx = _wrapped(cast(idx, "int64") if idx.dtype.kind == "f" else idx, d)
    return one_hot(idx, d, on, off, axis, values.dtype)


def _shape(n: Node, x: Tensor) -> Tensor:
    start, end = n.attr("start", 0), n.attr("end")
    dims = x.shape[slice(start, end)]
    if None in dims:
        return _slice_axis(shape(x), 0, start, end)
    return constant_eager(np.array(dims, np.int64))


def _size(n: Node, x: Tensor) -> Tensor:
    if None in x.shape:
        return size(x)
    return constant_eager(np.array(math.prod(x.shape), np.int64))  # type: ignore[arg-type]


def _pad(n: Node, x: Tensor, *_: Tensor | None) -> Tensor:
    mode = n.attr("mode", "constant")
    if n.opset < 11:
        pads, value = n.attr("pads") or n.attr("paddings"), n.attr("value", 0.0)
        axes = tuple(range(x.ndim))
    else:
        pads = n.ints(1)
        value = n.value(2, np.zeros(()))
        value = value.reshape(-1)[0] if value.size else 0
        axes = _axes(n, x, 3) or tuple(range(x.ndim))
    before, after = [0] * x.ndim, [0] * x.ndim
    for j, a in enumerate(axes):
        before[a], after[a] = pads[j], pads[j + len(axes)]
    value = np.asarray(value).astype(x.dtype).item()
    return _pad_crop(x, before, after, 0, "constant" if mode == "constant" else mode, value)


def _depth_to_space(n: Node, x: Tensor) -> Tensor:
    b = n.attr("blocksize")
    nb, c, h, w = _static(n, x)
    if n.attr("mode", "DCR") == "DCR":
        y = transpose(reshape(x, (nb, b, b, c // b ** 2, h, w)), (0, 3, 4, 1, 5, 2))
    else:
        y = transpose(reshape(x, (nb, c // b ** 2, b, b, h, w)), (0, 1, 4, 2, 5, 3))
    return reshape(y, (nb, c // b ** 2, h * b, w * b))


def _space_to_depth(n: Node, x: Tensor) -> Tensor:
    b = n.attr("blocksize")
    nb, c, h, w = _static(n, x)
    perm = (0, 3, 5, 1, 2, 4) if n.attr("mode", "DCR") == "DCR" else (0, 1, 3, 5, 2, 4)
    y = transpose(reshape(x, (nb, c, h // b, b, w // b, b)), perm)
    return reshape(y, (nb, c * b * b, h // b, w // b))


def _trilu(n: Node, x: Tensor, _: Tensor | None = None) -> Tensor:
    k = int(n.value(1, np.zeros(())).reshape(-1)[0]) if n.has(1) else 0
    rows, cols = _static(n, x)[-2:]
    tri = np.triu if n.attr("upper", 1) else np.tril
    keep = tri(np.ones((rows, cols), bool), k)
    return where(constant(keep), x, zeros_like(x))


def _cumulative(fn: Callable[..., Tensor], unit: int) -> Converter:
    def convert(n: Node, x: Tensor, _: Tensor) -> Tensor:
        axis = _axis(int(n.value(1).reshape(-1)[0]), x.ndim)
        reverse = bool(n.attr("reverse", 0))
        y = cast(fn(x, axis, reverse), x.dtype)
        if not n.attr("exclusive", 0):
            return y
        # shift by one along the axis, the identity coming in
        before, after = [0] * x.ndim, [0] * x.ndim
        (after if reverse else before)[axis] = 1
        (before if reverse else after)[axis] = -1
        return _pad_crop(y, before, after, 0, "constant", unit)
    return convert


def _top_k(n: Node, x: Tensor, _: Tensor | None = None) -> list[Tensor]:
    k = n.ints(1, "k")[0] if n.opset >= 10 else n.attr("k")
    axis = _axis(n.attr("axis", -1), x.ndim)
    largest = bool(n.attr("largest", 1))
    order = argsort(x, axis, descending=largest)
    idx = _slice_axis(order, axis, 0, k)
    return [take_along_axis(x, idx, axis), idx]


def _where(n: Node, c: Tensor, x: Tensor, y: Tensor) -> Tensor:
    return where(c, x, y)


def _compress(n: Node, x: Tensor, c: Tensor) -> Tensor:
    keep = np.nonzero(_value_only(n, 1))[0]
    axis = n.attr("axis")
    if axis is None:
        return gather(reshape(x, (-1,)), keep[keep < math.prod(_static(n, x))], 0)
    axis = _axis(axis, x.ndim)
    return gather(x, keep[keep < _known(n, x, [axis])[0]], axis)


def _value_only(n: Node, i: int) -> np.ndarray:
    """Input ``i``, whose value sets the output's shape: known at import, or an error (it
    is data, which the backend does not specialize the graph on)."""
    x = n.inputs[i]
    if x is not None and x._graph is not None and static_value(x) is None:
        raise n.error(GraphError, "the output's shape depends on the values of input "
                      f"{n.proto.input[i]!r}, which are only known at run time; a graph "
                      "needs static shapes (run this model eagerly)")
    return n.value(i)


def _non_zero(n: Node, x: Tensor) -> Tensor:
    return constant(np.array(np.nonzero(_value_only(n, 0)), np.int64))


def _identity(n: Node, x: Tensor) -> Tensor:
    return x


def _dropout(n: Node, x: Tensor, ratio: Tensor | None = None,
             training: Tensor | None = None) -> Any:
    train = bool(n.value(2, np.array(False))) if n.opset >= 12 else False
    rate = float(n.value(1, np.array(0.5))) if n.opset >= 12 else n.attr("ratio", 0.5)
    if train and rate > 0:
        raise n.error(InvalidArgumentError, "training-mode dropout (random) is not "
                      "supported: graphexec imports models for inference")
    if n.n_outputs < 2:
        return x
    return [x, m.equal(zeros_like(x, "bool"), False)]


# ---------------------------------------------------------------------------------------------
# linear algebra

def _gemm(n: Node, a: Tensor, b: Tensor, c: Tensor | None = None) -> Tensor:
    if n.attr("transA", 0):
        a = transpose(a, (1, 0))
    if n.attr("transB", 0):
        b = transpose(b, (1, 0))
    y = matmul(a, b)
    alpha, beta = n.attr("alpha", 1.0), n.attr("beta", 1.0)
    if alpha != 1.0:
        y = m.multiply(_scalar_like(n, alpha, y), y)
    if c is not None and beta != 0.0:
        y = m.add(y, c if beta == 1.0 else m.multiply(_scalar_like(n, beta, c), c))
    return y


def _einsum(n: Node, *xs: Tensor) -> Tensor:
    spec = n.attr("equation").replace(" ", "")
    ins, _, out = spec.partition("->")
    subs = ins.split(",")
    free = iter(c for c in string.ascii_letters if c not in spec)
    dots = ""
    if "..." in spec:  # NOTE: gx.einsum spells every dim: name the ellipsis dims
        rank = max(x.ndim - len(s) + 3 for s, x in zip(subs, xs, strict=True) if "..." in s)
        dots = "".join(next(free) for _ in range(rank))
        subs = [s.replace("...", dots[len(dots) - (x.ndim - len(s) + 3):])
                for s, x in zip(subs, xs, strict=True)]
    if not _:
        letters = "".join(subs)
        out = dots + "".join(sorted(c for c in set(letters) if letters.count(c) == 1
                                    and c not in dots))
    out = out.replace("...", dots)
    # NOTE: a letter twice in one operand (a diagonal) becomes two letters tied by an eye
    operands, eyes = list(xs), []
    for j, s in enumerate(subs):
        seen = ""
        for pos, c in enumerate(s):
            if c in seen:
                fresh = next(free)
                s = s[:pos] + fresh + s[pos + 1:]
                size_ = int(operands[j].shape[pos])  # type: ignore[arg-type]
                eyes.append((c + fresh, constant(np.eye(size_, dtype=operands[j].dtype))))
            seen += s[pos]
        subs[j] = s
    subs += [e for e, _ in eyes]
    operands += [t for _, t in eyes]
    return einsum(",".join(subs) + "->" + out, *operands)


# ---------------------------------------------------------------------------------------------
# normalization and losses

def _moments(x: Tensor, axes: tuple[int, ...]) -> tuple[Tensor, Tensor]:
    mean = m.mean(x, axis=axes, keepdims=True)
    return mean, m.mean(m.square(m.subtract(x, mean)), axis=axes, keepdims=True)


def _batch_norm(n: Node, x: Tensor, scale: Tensor, bias: Tensor, mean: Tensor,
                var: Tensor) -> Any:
    eps = n.attr("epsilon", 1e-5)
    rank = x.ndim
    if n.attr("training_mode", 0):
        axes = (0, *range(2, rank))
        bmean, bvar = _moments(x, axes)
        y = m.multiply(m.subtract(x, bmean), m.rsqrt(m.add(bvar, eps)))
        y = m.add(m.multiply(y, _channel(scale, rank)), _channel(bias, rank))
        mom = n.attr("momentum", 0.9)
        run_mean = m.add(m.multiply(mean, mom), m.multiply(reshape(bmean, (-1,)), 1 - mom))
        run_var = m.add(m.multiply(var, mom), m.multiply(reshape(bvar, (-1,)), 1 - mom))
        return [y, run_mean, run_var][:n.n_outputs]
    inv = m.rsqrt(m.add(_channel(var, rank), eps))
    y = m.multiply(m.subtract(x, _channel(mean, rank)), inv)
    return m.add(m.multiply(y, _channel(scale, rank)), _channel(bias, rank))


def _instance_norm(n: Node, x: Tensor, scale: Tensor, bias: Tensor) -> Tensor:
    mean, var = _moments(x, tuple(range(2, x.ndim)))
    y = m.multiply(m.subtract(x, mean), m.rsqrt(m.add(var, n.attr("epsilon", 1e-5))))
    return m.add(m.multiply(y, _channel(scale, x.ndim)), _channel(bias, x.ndim))


def _stash(n: Node, x: Tensor) -> Tensor:
    return cast(x, "float32") if n.attr("stash_type", 1) == 1 and x.dtype != np.float64 else x


def _layer_norm(n: Node, x: Tensor, scale: Tensor, bias: Tensor | None = None) -> Any:
    axes = tuple(range(_axis(n.attr("axis", -1), x.ndim), x.ndim))
    xf = _stash(n, x)
    mean, var = _moments(xf, axes)
    inv = m.rsqrt(m.add(var, n.attr("epsilon", 1e-5)))
    y = m.multiply(cast(m.multiply(m.subtract(xf, mean), inv), x.dtype), scale)
    if bias is not None:
        y = m.add(y, bias)
    return [y, mean, inv][:n.n_outputs]


def _rms_norm(n: Node, x: Tensor, scale: Tensor) -> Tensor:
    axes = tuple(range(_axis(n.attr("axis", -1), x.ndim), x.ndim))
    xf = _stash(n, x)
    ms = m.mean(m.square(xf), axis=axes, keepdims=True)
    y = m.multiply(xf, m.rsqrt(m.add(ms, n.attr("epsilon", 1e-5))))
    return m.multiply(cast(y, x.dtype), scale)


def _group_norm(n: Node, x: Tensor, scale: Tensor, bias: Tensor) -> Tensor:
    groups = n.attr("num_groups")
    shp = _static(n, x)
    c = shp[1]
    xf = _stash(n, x)
    grouped = reshape(xf, (shp[0], groups, -1))
    mean, var = _moments(grouped, (2,))
    y = m.multiply(m.subtract(grouped, mean), m.rsqrt(m.add(var, n.attr("epsilon", 1e-5))))
    y = cast(reshape(y, shp), x.dtype)
    if n.opset < 21:  # NOTE: opset 18's scale and bias are per group, not per channel
        scale = reshape(broadcast_to(reshape(scale, (groups, 1)), (groups, c // groups)), (c,))
        bias = reshape(broadcast_to(reshape(bias, (groups, 1)), (groups, c // groups)), (c,))
    return m.add(m.multiply(y, _channel(scale, x.ndim)), _channel(bias, x.ndim))


def _lp_norm(n: Node, x: Tensor) -> Tensor:
    axis = _axis(n.attr("axis", -1), x.ndim)
    p = n.attr("p", 2)
    if p == 1:
        norm = m.sum(m.abs(x), axis=axis, keepdims=True)
    else:
        norm = m.sqrt(m.sum(m.square(x), axis=axis, keepdims=True))
    return where(m.equal(norm, 0), zeros_like(x), m.divide(x, norm))


def _mvn(n: Node, x: Tensor) -> Tensor:
    axes = tuple(_axis(a, x.ndim) for a in n.attr("axes", [0, 2, 3]))
    mean, var = _moments(x, axes)
    return m.divide(m.subtract(x, mean), m.add(m.sqrt(var), 1e-9))


def _lrn(n: Node, x: Tensor) -> Tensor:
    size_ = n.attr("size")
    alpha, beta, bias = n.attr("alpha", 1e-4), n.attr("beta", 0.75), n.attr("bias", 1.0)
    sq = _pad_crop(m.square(x), [(size_ - 1) // 2], [size_ // 2], 1)
    c = int(x.shape[1])  # type: ignore[arg-type]
    total = m.add_n([_slice_axis(sq, 1, j, j + c) for j in range(size_)])
    return m.divide(x, m.pow(m.add(m.multiply(total, alpha / size_), bias), beta))


def _nll(n: Node, logp: Tensor, target: Tensor, weight: Tensor | None) -> Tensor:
    ignore = n.attr("ignore_index")
    safe = target if ignore is None else where(m.equal(target, ignore), zeros_like(target),
                                               target)
    picked = squeeze(take_along_axis(logp, expand_dims(safe, 1), 1), 1)
    w = None if weight is None else gather(weight, safe)
    if ignore is not None:
        w = where(m.equal(target, ignore), 0.0, ones_like(picked) if w is None else w)
    loss = m.negative(picked if w is None else m.multiply(picked, w))
    reduction = n.attr("reduction", "mean")
    if reduction == "none":
        return loss
    if reduction == "sum":
        return m.sum(loss)
    return m.divide(m.sum(loss), m.sum(w)) if w is not None else m.mean(loss)


def _nll_loss(n: Node, logp: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    return _nll(n, logp, target, weight)


def _softmax_ce(n: Node, scores: Tensor, labels: Tensor, weight: Tensor | None = None) -> Any:
    logp = log_softmax(scores, axis=1)
    loss = _nll(n, logp, labels, weight)
    return [loss, logp][:n.n_outputs]


# ---------------------------------------------------------------------------------------------
# convolution and pooling, NCHW

def _spatial(n: Node, x: Tensor, kernel: Sequence[int], dilations: Sequence[int] | None = None,
             ceil: bool = False) -> tuple[list[int], list[int], list[int], list[int]]:
    """Strides, dilations, pads before and after (the ceil mode's extra included) of a
    convolution or pooling node over the spatial dims of ``x``."""
    k = len(kernel)
    sizes = _known(n, x, range(2, x.ndim))
    strides = list(n.attr("strides", [1] * k))
    dil = list(dilations or n.attr("dilations", [1] * k))
    auto = n.attr("auto_pad", "NOTSET")
    pads = list(n.attr("pads", [0] * 2 * k))
    before, after = pads[:k], pads[k:]
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        for i in range(k):
            out = -(-sizes[i] // strides[i])
            total = max((out - 1) * strides[i] + (kernel[i] - 1) * dil[i] + 1 - sizes[i], 0)
            small, big = total // 2, total - total // 2
            before[i], after[i] = (small, big) if auto == "SAME_UPPER" else (big, small)
    elif auto == "VALID":
        before, after = [0] * k, [0] * k
    if ceil:
        for i in range(k):
            span = sizes[i] + before[i] + after[i] - (kernel[i] - 1) * dil[i] - 1
            out = -(-span // strides[i]) + 1
            if (out - 1) * strides[i] >= sizes[i] + before[i]:
                out -= 1
            after[i] += max((out - 1) * strides[i] - span, 0)
    return strides, dil, before, after


def _windows(x: Tensor, kernel: Sequence[int], strides: Sequence[int],
             dil: Sequence[int]) -> list[Tensor]:
    """The strided views of a padded NC... ``x``, one per kernel offset."""
    sizes = x.shape[2:]
    outs = [(int(s) - (k - 1) * d - 1) // st + 1  # type: ignore[arg-type]
            for s, k, d, st in zip(sizes, kernel, dil, strides, strict=True)]
    views = []
    for offset in itertools.product(*(range(k) for k in kernel)):
        key = [slice(None), slice(None)]
        for o, d, st, out in zip(offset, dil, strides, outs, strict=True):
            key.append(slice(o * d, o * d + (out - 1) * st + 1, st))
        views.append(getitem(x, tuple(key)))
    return views


def _pool_kernel(n: Node) -> list[int]:
    return list(n.attr("kernel_shape"))


def _max_pool(n: Node, x: Tensor) -> Any:
    kernel = _pool_kernel(n)
    strides, dil, before, after = _spatial(n, x, kernel, ceil=bool(n.attr("ceil_mode", 0)))
    if (len(kernel) == 2 and n.n_outputs < 2 and dil == [1, 1]
            and min(*before, *after) >= 0 and x.dtype.kind == "f"):
        # NOTE: graphexec's own (NHWC) pool: one kernel instead of a stack of strided views
        y = max_pool2d(transpose(x, (0, 2, 3, 1)), tuple(kernel), tuple(strides),
                       [[before[0], after[0]], [before[1], after[1]]])
        return transpose(y, (0, 3, 1, 2))
    low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    padded = _pad_crop(x, before, after, 2, "constant", low)
    stacked = stack(_windows(padded, kernel, strides, dil), axis=-1)
    values = m.max(stacked, axis=-1)
    if n.n_outputs < 2:
        return values
    shp = _static(n, x)
    index = np.arange(math.prod(shp), dtype=np.int64).reshape(shp)
    if n.attr("storage_order", 0):  # column-major positions within each image
        hw = np.arange(math.prod(shp[2:]), dtype=np.int64).reshape(shp[2:][::-1]).T
        index = (np.arange(shp[0] * shp[1]) * math.prod(shp[2:])).reshape(
            shp[:2] + (1,) * len(shp[2:])) + hw
    ipad = _pad_crop(constant(index), before, after, 2, "constant", -1)
    istack = stack(_windows(ipad, kernel, strides, dil), axis=-1)
    where_max = m.argmax(stacked, axis=-1, keepdims=True)
    return [values, squeeze(take_along_axis(istack, where_max, -1), -1)]


def _average_pool(n: Node, x: Tensor) -> Tensor:
    kernel = _pool_kernel(n)
    ceil = bool(n.attr("ceil_mode", 0))
    strides, dil, before, after = _spatial(n, x, kernel, ceil=ceil)
    total = m.add_n(_windows(_pad_crop(x, before, after, 2), kernel, strides, dil))
    # the window sizes: count the input's elements (and with count_include_pad the pads,
    # not the ceil mode's extra) under each window, at import
    sizes = _known(n, x, range(2, x.ndim))
    inside = np.ones((1, 1, *sizes))
    if n.attr("count_include_pad", 0):
        _, _, eb, ea = _spatial(n, x, kernel)
        inside = np.pad(inside, [(0, 0), (0, 0), *zip(eb, ea, strict=True)], constant_values=1)
        before = [b - e for b, e in zip(before, eb, strict=True)]
        after = [a - e for a, e in zip(after, ea, strict=True)]
    counts = np.pad(inside, [(0, 0), (0, 0), *zip(before, after, strict=True)])
    with_eager = [np.asarray(v) for v in _np_windows(counts, kernel, strides, dil)]
    count = sum(with_eager)
    return m.divide(total, constant(np.asarray(count, x.dtype)))


def _np_windows(x: np.ndarray, kernel: Sequence[int], strides: Sequence[int],
                dil: Sequence[int]) -> list[np.ndarray]:
    outs = [(s - (k - 1) * d - 1) // st + 1
            for s, k, d, st in zip(x.shape[2:], kernel, dil, strides, strict=True)]
    views = []
    for offset in itertools.product(*(range(k) for k in kernel)):
        key = (slice(None), slice(None), *(
            slice(o * d, o * d + (out - 1) * st + 1, st)
            for o, d, st, out in zip(offset, dil, strides, outs, strict=True)))
        views.append(x[key])
    return views


def _lp_pool(n: Node, x: Tensor) -> Tensor:
    kernel = _pool_kernel(n)
    p = n.attr("p", 2)
    strides, dil, before, after = _spatial(n, x, kernel, ceil=bool(n.attr("ceil_mode", 0)))
    powered = m.pow(m.abs(x), _float_like(p, x))
    total = m.add_n(_windows(_pad_crop(powered, before, after, 2), kernel, strides, dil))
    return m.pow(total, 1.0 / p)


def _global(fn: Callable[..., Tensor]) -> Converter:
    return lambda n, x: fn(x, axis=tuple(range(2, x.ndim)), keepdims=True)


def _global_lp(n: Node, x: Tensor) -> Tensor:
    p = n.attr("p", 2)
    total = m.sum(m.pow(m.abs(x), _float_like(p, x)), axis=tuple(range(2, x.ndim)),
                  keepdims=True)
    return m.pow(total, 1.0 / p)


def _col2im(n: Node, x: Tensor, image: Tensor, block: Tensor) -> Tensor:
    # NOTE: a product with a 0/1 matrix (built at import) adding each column entry into the
    # padded image; the pads are cropped after
    dims, kernel = n.ints(1), n.ints(2)
    k = len(dims)
    strides = list(n.attr("strides", [1] * k))
    dil = list(n.attr("dilations", [1] * k))
    pads = list(n.attr("pads", [0] * 2 * k))
    padded = [d + pads[i] + pads[i + k] for i, d in enumerate(dims)]
    outs = [(p - (kk - 1) * dl - 1) // st + 1
            for p, kk, dl, st in zip(padded, kernel, dil, strides, strict=True)]
    rows = []
    for offset in itertools.product(*(range(kk) for kk in kernel)):
        for window in itertools.product(*(range(o) for o in outs)):
            pos = [w * st + o * dl for w, o, st, dl in zip(window, offset, strides, dil,
                                                             strict=True)]
            rows.append(np.ravel_multi_index(pos, padded))
    place = np.zeros((len(rows), math.prod(padded)), x.dtype)
    place[np.arange(len(rows)), rows] = 1
    nb, ckl, _ = _static(n, x)
    c = ckl // math.prod(kernel)
    y = matmul(reshape(x, (nb, c, len(rows))), constant(place))
    y = reshape(y, (nb, c, *padded))
    return _pad_crop(y, [-p for p in pads[:k]], [-p for p in pads[k:]], 2)


def _max_unpool(n: Node, x: Tensor, idx: Tensor, _: Tensor | None = None) -> Tensor:
    shp = _static(n, x)
    kernel = list(n.attr("kernel_shape"))
    k = len(kernel)
    strides = list(n.attr("strides", [1] * k))
    pads = list(n.attr("pads", [0] * 2 * k))
    out = (*shp[:2], *((s - 1) * st - pads[i] - pads[i + k] + kk
                       for i, (s, st, kk) in enumerate(zip(shp[2:], strides, kernel,
                                                           strict=True))))
    # NOTE: the indices are positions in the whole flattened output of the inferred shape
    # (as MaxPool gives them); a larger output_shape pads that at the end
    total = math.prod(out)
    hot = m.equal(reshape(idx, (-1, 1)), constant(np.arange(total).reshape(1, total)))
    y = reshape(matmul(reshape(x, (1, -1)), cast(hot, x.dtype)), out)
    want = n.ints(2) if n.has(2) else out
    return _pad_crop(y, [0] * len(out), [w - o for w, o in zip(want, out, strict=True)])


def _conv_nd(x: Tensor, w: Tensor, strides: Sequence[int], dil: Sequence[int],
             before: Sequence[int], after: Sequence[int], group: int) -> Tensor:
    """An N-d grouped convolution of NC... ``x`` with OI... filters ``w``."""
    if group > 1:
        xs, ws = split(x, group, 1), split(w, group, 0)
        return concat([_conv_nd(a, b, strides, dil, before, after, 1)
                       for a, b in zip(xs, ws, strict=True)], 1)
    k = w.ndim - 2
    if k == 1:  # as a 2-D convolution of height 1
        y = _conv_nd(expand_dims(x, 2), expand_dims(w, 2), [1, *strides], [1, *dil],
                     [0, *before], [0, *after], 1)
        return squeeze(y, 2)
    if k == 2:
        pads = [[before[0], after[0]], [before[1], after[1]]]
        if min(*before, *after) < 0:
            x, pads = _pad_crop(x, before, after, 2), [[0, 0], [0, 0]]
        y = conv2d(transpose(x, (0, 2, 3, 1)), transpose(w, (2, 3, 1, 0)), tuple(strides),
                   pads, tuple(dil))
        return transpose(y, (0, 3, 1, 2))
    # NOTE: no N-d convolution op: a sum over the kernel's offsets of strided views
    kernel = [int(d) for d in w.shape[2:]]  # type: ignore[arg-type]
    views = _windows(_pad_crop(x, before, after, 2), kernel, strides, dil)
    letters = "defghijklm"[:k]
    terms = [einsum(f"nc{letters},oc->no{letters}", v, getitem(w, (slice(None), slice(None),
                                                                   *offset)))
             for v, offset in zip(views, itertools.product(*(range(d) for d in kernel)),
                                  strict=True)]
    return m.add_n(terms)


def _conv(n: Node, x: Tensor, w: Tensor, b: Tensor | None = None) -> Tensor:
    kernel = list(n.attr("kernel_shape") or _static(n, w)[2:])
    strides, dil, before, after = _spatial(n, x, kernel)
    y = _conv_nd(x, w, strides, dil, before, after, n.attr("group", 1))
    return y if b is None else m.add(y, _channel(b, y.ndim))


def _conv_transpose(n: Node, x: Tensor, w: Tensor, b: Tensor | None = None) -> Tensor:
    # NOTE: a transposed convolution is a convolution of the input spread out by the strides
    # (zeros between its elements) with the flipped filters, padded by the kernel's extent
    group = n.attr("group", 1)
    kernel = list(_static(n, w)[2:])
    k = len(kernel)
    sizes = _known(n, x, range(2, x.ndim))
    strides = list(n.attr("strides", [1] * k))
    dil = list(n.attr("dilations", [1] * k))
    extra = list(n.attr("output_padding", [0] * k))
    pads = list(n.attr("pads", [0] * 2 * k))
    before, after = pads[:k], pads[k:]
    spans = [(kk - 1) * d + 1 for kk, d in zip(kernel, dil, strict=True)]
    full = [s * (i - 1) + e + sp for s, i, e, sp in zip(strides, sizes, extra, spans,
                                                          strict=True)]
    out_shape = n.attr("output_shape")
    auto = n.attr("auto_pad", "NOTSET")
    if out_shape is not None or auto in ("SAME_UPPER", "SAME_LOWER"):
        want = list(out_shape)[-k:] if out_shape is not None else [
            i * s for i, s in zip(sizes, strides, strict=True)]
        for i in range(k):
            total = full[i] - want[i]
            small, big = (total // 2, total - total // 2) if total >= 0 else (0, total)
            # NOTE: as the ONNX reference (and its node tests): the larger half first only for
            # SAME_LOWER
            before[i], after[i] = (big, small) if auto == "SAME_LOWER" else (small, big)
    spread = x
    for i, s in enumerate(strides):
        if s > 1:
            ax = 2 + i
            zeros = zeros_like(spread)
            spread = stack([spread] + [zeros] * (s - 1), axis=ax + 1)
            shp = [-1 if d is None else d for d in spread.shape]  # NOTE: the batch may be
            merged = [*shp[:ax], shp[ax] * s, *shp[ax + 2:]]  # unknown, the rest is known
            spread = _slice_axis(reshape(spread, tuple(merged)), ax, 0, (sizes[i] - 1) * s + 1)
    flip = getitem(w, (slice(None), slice(None), *[slice(None, None, -1)] * k))
    c_in = int(w.shape[0])  # type: ignore[arg-type]
    per = c_in // group
    # (C, M/g, k...) -> per group (M/g, C/g, k...), stacked as (M, C/g, k...)
    parts = [transpose(_slice_axis(flip, 0, j * per, (j + 1) * per), (1, 0, *range(2, k + 2)))
             for j in range(group)]
    filters = concat(parts, 0) if group > 1 else parts[0]
    pb = [sp - 1 - p for sp, p in zip(spans, before, strict=True)]
    pa = [sp - 1 - p + e for sp, p, e in zip(spans, after, extra, strict=True)]
    y = _conv_nd(spread, filters, [1] * k, dil, pb, pa, group)
    return y if b is None else m.add(y, _channel(b, y.ndim))


# ---------------------------------------------------------------------------------------------
# resize: separable, one axis at a time; nearest gathers, linear and cubic multiply by a
# weight matrix computed at import

def _source_coords(mode: str, size: int, out: int, scale: float,
                   roi: tuple[float, float]) -> np.ndarray:
    y = np.arange(out, dtype=np.float64)
    width = scale * size
    if mode == "align_corners":  # NOTE: by scale * size, as the ONNX reference (and its node
        # tests) compute it; ONNX Runtime divides by the output's length
        return np.zeros(out) if width == 1 else y * (size - 1) / (width - 1)
    if mode == "tf_half_pixel_for_nn":
        return (y + 0.5) / scale
    if mode == "asymmetric":
        return y / scale
    if mode == "tf_crop_and_resize":
        lo, hi = roi
        if out == 1:
            return np.full(out, (hi - lo) * (size - 1) / 2 + lo * (size - 1))
        return y * (hi - lo) * (size - 1) / (out - 1) + lo * (size - 1)
    if mode == "pytorch_half_pixel":
        return np.zeros(out) if out == 1 else (y + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        offset = size / 2 * (1 - out / width)
        return offset + (y + 0.5) / scale - 0.5
    return (y + 0.5) / scale - 0.5


def _cubic(t: np.ndarray, a: float) -> np.ndarray:
    t = np.abs(t)
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


def _resize_weights(n: Node, src: np.ndarray, size: int) -> np.ndarray:
    """The (out, in) matrix of linear or cubic interpolation at source coordinates ``src``."""
    base = np.floor(src)
    frac = src - base
    if n.attr("mode") == "linear":
        offsets, coeffs = np.array([0, 1]), np.stack([1 - frac, frac], 1)
    else:
        offsets = np.array([-1, 0, 1, 2])
        coeffs = _cubic(frac[:, None] - offsets[None, :], n.attr("cubic_coeff_a", -0.75))
    idx = base[:, None].astype(np.int64) + offsets[None, :]
    if n.attr("exclude_outside", 0):
        coeffs = np.where((idx < 0) | (idx >= size), 0.0, coeffs)
        coeffs = coeffs / coeffs.sum(1, keepdims=True)
    w = np.zeros((len(src), size))
    rows = np.repeat(np.arange(len(src)), len(offsets))
    np.add.at(w, (rows, np.clip(idx, 0, size - 1).ravel()), coeffs.ravel())
    return w


def _nearest(n: Node, src: np.ndarray, size: int) -> np.ndarray:
    mode = n.attr("nearest_mode", "round_prefer_floor")
    rounded = {"round_prefer_floor": np.ceil(src - 0.5), "round_prefer_ceil": np.floor(src + 0.5),
               "floor": np.floor(src), "ceil": np.ceil(src)}[mode]
    return np.clip(rounded, 0, size - 1).astype(np.int64)


def _resize(n: Node, x: Tensor, *_: Tensor | None) -> Tensor:
    if n.attr("antialias", 0) or n.opset < 11:
        raise n.error(InvalidArgumentError, "antialiasing and opset 10's Resize are not "
                      "supported")
    axes = [_axis(a, x.ndim) for a in n.attr("axes", range(x.ndim))]
    coord = n.attr("coordinate_transformation_mode", "half_pixel")
    sizes = n.value(3) if n.has(3) else None
    scales = None if sizes is not None and sizes.size else [float(v) for v in n.value(2)]
    # NOTE: an axis scaled by 1 is left as it is (its size may be unknown: a batch)
    changed = [a for j, a in enumerate(axes) if scales is None or scales[j] != 1.0
               or coord == "tf_crop_and_resize"]
    shp = [-1 if d is None else int(d) for d in x.shape]  # NOTE: -1: unknown, left alone
    for a, d in zip(changed, _known(n, x, changed), strict=True):
        shp[a] = d
    scale, out = [1.0] * x.ndim, list(shp)
    if scales is None:
        assert sizes is not None
        ratios = [int(s) / shp[a] for a, s in zip(axes, sizes, strict=True)]
        policy = n.attr("keep_aspect_ratio_policy", "stretch")
        if policy != "stretch":
            ratios = [(min if policy == "not_larger" else max)(ratios)] * len(axes)
        for a, r, s in zip(axes, ratios, sizes, strict=True):
            scale[a] = r
            out[a] = int(s) if policy == "stretch" else int(r * shp[a] + 0.5)
    else:
        for a, sc in zip(axes, scales, strict=True):
            if a in changed:
                scale[a], out[a] = sc, int(np.floor(shp[a] * sc))
    roi = n.value(1) if n.has(1) else None
    y = x
    for j, a in enumerate(axes):
        if a not in changed:
            continue
        lo_hi = (float(roi[j]), float(roi[j + len(axes)])) if roi is not None and roi.size \
            else (0.0, 1.0)
        src = _source_coords(coord, shp[a], out[a], scale[a], lo_hi)
        if n.attr("mode", "nearest") == "nearest":
            y = gather(y, _nearest(n, src, shp[a]), a)
        else:
            y = _interpolate(y, a, _resize_weights(n, src, shp[a]))
        if coord == "tf_crop_and_resize":
            outside = (src < 0) | (src > shp[a] - 1)
            grid = [1] * x.ndim
            grid[a] = out[a]
            fill = np.asarray(n.attr("extrapolation_value", 0.0), x.dtype)
            y = where(constant(outside.reshape(grid)), constant(fill), y)
    return y


def _upsample(n: Node, x: Tensor, _: Tensor | None = None) -> Tensor:
    shp = _static(n, x)
    scales = n.value(1) if n.has(1) else n.attr("scales")
    y = x
    for a, s in enumerate(scales):
        out = int(np.floor(shp[a] * float(s)))
        if out == shp[a]:
            continue
        src = np.arange(out, dtype=np.float64) / float(s)
        if n.attr("mode", "nearest") == "nearest":
            y = gather(y, np.clip(np.floor(src), 0, shp[a] - 1).astype(np.int64), a)
        else:
            y = _interpolate(y, a, _resize_weights(n, src, shp[a]))
    return y


def _interpolate(y: Tensor, a: int, w: np.ndarray) -> Tensor:
    """``y`` with axis ``a`` mapped through the (out, in) weight matrix ``w``."""
    perm = [*range(a), *range(a + 1, y.ndim), a]
    back = np.argsort(perm)
    if y.dtype.kind != "f":  # NOTE: integers are interpolated in float32, then truncated
        lo, hi = np.iinfo(y.dtype).min, np.iinfo(y.dtype).max
        out = _interpolate(cast(y, "float32"), a, w)
        return cast(m.minimum(m.maximum(out, float(lo)), float(hi)), y.dtype)
    out = matmul(transpose(y, perm), constant(w.T.astype(y.dtype)))
    return transpose(out, tuple(int(p) for p in back))


# ---------------------------------------------------------------------------------------------
# control flow: the bodies are ONNX graphs run by the importer's walker, seeing the values of
# the graphs around them; gx.cond, gx.while_loop and gx.scan trace them in a graph and run
# them as Python's if and for eagerly

def _body_names(n: Node, name: str) -> list[str]:
    return [v.name for v in n.attrs[name].input]


def _scalar(n: Node, x: Tensor, what: str) -> Tensor:
    """``x``, a one-element tensor (as ONNX allows for a condition or a count), as a scalar."""
    if x.ndim and any(d != 1 for d in x.shape):
        raise n.error(ShapeError, f"{what} must hold one element, got shape {tuple(x.shape)}")
    return reshape(x, ()) if x.ndim else x


def _if(n: Node, c: Tensor) -> list[Tensor]:
    c = _scalar(n, c, "the condition")
    known = static_value(c)
    if known is not None:  # NOTE: known at import: only that branch (its shapes may differ)
        return n.run_subgraph("then_branch" if bool(known) else "else_branch", {})
    return cond(c, lambda: n.run_subgraph("then_branch", {}),
                lambda: n.run_subgraph("else_branch", {}))


def _loop(n: Node, trip: Tensor | None, go: Tensor | None, *state: Tensor) -> list[Tensor]:
    names = _body_names(n, "body")
    n_state = len(state)

    def body(i: Tensor, c: Tensor, *xs: Tensor) -> list[Tensor]:
        return n.run_subgraph("body", dict(zip(names, [i, c, *xs], strict=True)))

    trip = None if trip is None else _scalar(n, trip, "the trip count")
    go = None if go is None else _scalar(n, go, "the condition")
    if n.n_outputs == n_state:  # no scan outputs: a while loop, its trip count run-time
        start = [constant(np.array(0, np.int64)), go if go is not None else constant(True)]

        def keep_going(i: Tensor, c: Tensor, *xs: Tensor) -> Tensor:
            return c if trip is None else m.logical_and(c, m.less(i, trip))

        def step(i: Tensor, c: Tensor, *xs: Tensor) -> list[Tensor]:
            out = body(i, c, *xs)
            return [m.add(i, 1), cast(out[0], "bool"), *out[1:]]

        return list(while_loop(keep_going, step, [*start, *state]))[2:]
    # NOTE: scan outputs have one row per iteration: the count must be known at import, so
    # the loop unrolls (with its trip count and conditions bound to their values)
    count = int(n.value(0)) if trip is not None else None
    going = bool(n.value(1)) if go is not None else True
    rows: list[list[Tensor]] = []
    i = 0
    while going and (count is None or i < count):
        out = body(constant(np.array(i, np.int64)), constant(going), *state)
        state = tuple(out[1:1 + n_state])
        rows.append(out[1 + n_state:])
        flag = static_value(out[0])
        if flag is None:
            raise n.error(GraphError, "a loop with scan outputs needs its condition known at "
                          "import (their length is the number of iterations); here it is "
                          "computed at run time")
        going, i = bool(np.asarray(flag)), i + 1
    if not rows:
        raise n.error(GraphError, "a loop with scan outputs that runs no iteration: their "
                      "shape is unknown")
    return [*state, *[stack([r[k] for r in rows]) for k in range(len(rows[0]))]]


def _scan(n: Node, *xs: Tensor | None) -> list[Tensor]:
    if n.opset < 9:  # opset 8: a batch axis first, each batch scanned over axis 1
        if xs[0] is not None:
            raise n.error(InvalidArgumentError, "opset 8's sequence_lens is not supported")
        args = [x for x in xs[1:] if x is not None]
        batch = _static(n, args[0])[0]
        runs = [_scan_run(n, [getitem(x, (b,)) for x in args]) for b in range(batch)]
        return [stack([r[k] for r in runs]) for k in range(len(runs[0]))]
    return _scan_run(n, [x for x in xs if x is not None])


def _scan_run(n: Node, xs: Sequence[Tensor]) -> list[Tensor]:
    k = n.attr("num_scan_inputs")
    state, seqs = list(xs[:len(xs) - k]), list(xs[len(xs) - k:])
    in_axes = n.attr("scan_input_axes") or [0] * k
    in_dirs = n.attr("scan_input_directions") or [0] * k
    rows = []
    for x, a, d in zip(seqs, in_axes, in_dirs, strict=True):
        a = _axis(a, x.ndim)
        x = transpose(x, (a, *(i for i in range(x.ndim) if i != a))) if a else x
        rows.append(_slice_axis(x, 0, None, None, -1) if d else x)
    names = _body_names(n, "body")

    def step(carry: list[Tensor], row: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        out = n.run_subgraph("body", dict(zip(names, [*carry, *row], strict=True)))
        return out[:len(carry)], out[len(carry):]

    final, ys = scan(step, state, rows)
    n_y = len(ys)
    out_axes = n.attr("scan_output_axes") or [0] * n_y
    out_dirs = n.attr("scan_output_directions") or [0] * n_y
    outs = []
    for y, a, d in zip(ys, out_axes, out_dirs, strict=True):
        y = _slice_axis(y, 0, None, None, -1) if d else y
        a = _axis(a, y.ndim)
        outs.append(transpose(y, (*range(1, a + 1), 0, *range(a + 1, y.ndim))) if a else y)
    return [*final, *outs]


# ---------------------------------------------------------------------------------------------
# the table

def _unary_table() -> dict[str, Converter]:
    fns: dict[str, Callable[[Tensor], Tensor]] = {
        "Abs": m.abs, "Neg": m.negative, "Exp": m.exp, "Log": m.log, "Sqrt": m.sqrt,
        "Reciprocal": m.reciprocal, "Floor": m.floor, "Ceil": m.ceil, "Sin": m.sin,
        "Cos": m.cos, "Tan": m.tan, "Tanh": m.tanh, "Sigmoid": sigmoid, "Relu": relu,
        "Erf": erf, "Round": m.round, "Not": m.logical_not, "Sinh": _in_float64(_sinh),
        "Cosh": _in_float64(_cosh),
        "Asinh": _in_float64(_asinh), "Acosh": _in_float64(_acosh),
        "Atanh": _in_float64(_atanh), "Asin": m.arcsin,
        "Acos": m.arccos, "Atan": m.arctan, "BitwiseNot": m.bitwise_not,
        "IsNaN": lambda x: m.not_equal(x, x), "Softplus": _softplus,
    }
    return {k: _unary(f) for k, f in fns.items()}


def _binary_table() -> dict[str, Converter]:
    fns: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
        "Add": m.add, "Sub": m.subtract, "Mul": m.multiply, "Equal": m.equal,
        "Less": m.less, "LessOrEqual": m.less_equal, "Greater": m.greater,
        "GreaterOrEqual": m.greater_equal, "And": m.logical_and, "Or": m.logical_or,
        "Xor": m.not_equal, "MatMul": matmul, "BitwiseAnd": m.bitwise_and,
        "BitwiseOr": m.bitwise_or, "BitwiseXor": m.bitwise_xor,
    }
    return {k: _binary(f) for k, f in fns.items()}


def _sum_square(x: Tensor) -> Tensor:
    return m.square(x)


#: ONNX op type -> converter
CONVERTERS: dict[str, Converter] = {
    **_unary_table(),
    **_binary_table(),
    "Div": _div, "Mod": _mod, "Pow": _pow, "BitShift": _bitshift, "Clip": _clip,
    "Sum": _variadic(m.add), "Max": _variadic(m.maximum), "Min": _variadic(m.minimum),
    "Mean": _mean, "IsInf": _isinf, "Sign": _sign, "PRelu": _prelu,
    "Elu": _elu, "Celu": _celu, "Selu": _selu, "LeakyRelu": _leaky_relu,
    "ThresholdedRelu": _thresholded_relu, "HardSigmoid": _hard_sigmoid,
    "HardSwish": _hard_swish, "Softsign": _softsign, "Gelu": _gelu, "Mish": _mish,
    "Swish": _swish, "Shrink": _shrink,
    "Softmax": _softmax_like(softmax), "LogSoftmax": _softmax_like(log_softmax),
    "Hardmax": _softmax_like(_hardmax_rows),
    "ReduceSum": _reduce(m.sum, 0.0), "ReduceMean": _reduce(m.mean, math.nan),
    "ReduceMax": _reduce(m.max, -math.inf), "ReduceMin": _reduce(m.min, math.inf),
    "ReduceProd": _reduce(m.prod, 1.0),
    "ReduceL1": _reduce(m.sum, 0.0, pre=m.abs),
    "ReduceL2": _reduce(m.sum, 0.0, pre=m.square, post=m.sqrt),
    "ReduceSumSquare": _reduce(m.sum, 0.0, pre=_sum_square),
    "ReduceLogSum": _reduce(m.sum, -math.inf, post=m.log),
    "ReduceLogSumExp": _reduce(m.logsumexp, -math.inf),
    "ArgMax": _arg(m.argmax), "ArgMin": _arg(m.argmin),
    "Cast": _cast, "CastLike": lambda n, x, like: cast(x, like.dtype),
    "Reshape": _reshape, "Flatten": _flatten, "Transpose": _transpose,
    "Squeeze": _squeeze, "Unsqueeze": _unsqueeze, "Concat": _concat, "Split": _split,
    "Slice": _slice, "Gather": _gather, "GatherElements": _gather_elements,
    "GatherND": _gather_nd, "ScatterElements": _scatter_elements, "ScatterND": _scatter_nd,
    "Tile": _tile, "Expand": _expand, "Identity": _identity, "Constant": _constant,
    "ConstantOfShape": _constant_of_shape, "Range": _range, "EyeLike": _eye_like,
    "OneHot": _one_hot, "Shape": _shape, "Size": _size, "Pad": _pad,
    "DepthToSpace": _depth_to_space, "SpaceToDepth": _space_to_depth, "Trilu": _trilu,
    "CumSum": _cumulative(cumsum, 0), "CumProd": _cumulative(cumprod, 1), "TopK": _top_k,
    "Where": _where, "Compress": _compress, "NonZero": _non_zero, "Dropout": _dropout,
    "Gemm": _gemm, "Einsum": _einsum, "Det": lambda n, x: det(x),
    "BatchNormalization": _batch_norm, "InstanceNormalization": _instance_norm,
    "LayerNormalization": _layer_norm, "RMSNormalization": _rms_norm,
    "GroupNormalization": _group_norm, "LpNormalization": _lp_norm,
    "MeanVarianceNormalization": _mvn, "LRN": _lrn,
    "NegativeLogLikelihoodLoss": _nll_loss, "SoftmaxCrossEntropyLoss": _softmax_ce,
    "MaxPool": _max_pool, "AveragePool": _average_pool, "LpPool": _lp_pool,
    "GlobalMaxPool": _global(m.max), "GlobalAveragePool": _global(m.mean),
    "GlobalLpPool": _global_lp, "Conv": _conv, "ConvTranspose": _conv_transpose,
    "CenterCropPad": _center_crop_pad, "ReverseSequence": _reverse_sequence,
    "Col2Im": _col2im, "MaxUnpool": _max_unpool,
    "Resize": _resize, "Upsample": _upsample, "If": _if, "Loop": _loop, "Scan": _scan,
    **NN_CONVERTERS,
}

