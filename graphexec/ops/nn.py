"""Neural-network primitives and functional ops: activations, erf, conv2d and pooling (NHWC)."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any
from typing import cast as type_cast  # ``cast`` is the tensor op

import numpy as np

from .. import config
from ..checks import check_axis, check_dtype
from ..errors import DTypeError, InvalidArgumentError, ShapeError, op_error
from ..fusable import ArraySteps, Fusion, formula_fusion, np_name, same_loop
from ..registry import (
    OpDef,
    Spec,
    defvjp,
    fmt_shape,
    register,
    shapes_match,
    ufunc_dtype,
)
from ..tensor import Tensor, apply, as_tensor
from . import math as m
from .array import expand_dims, reshape, where
from .creation import constant, range_p
from .linalg import unshared
from .pad import pad

__all__ = [
    "relu", "sigmoid", "tanh", "softmax", "log_softmax", "gelu", "erf",
    "conv2d", "max_pool2d", "avg_pool2d", "nll_loss", "one_hot", "batch_norm",
    "leaky_relu", "elu", "selu", "softplus", "silu", "swish", "hard_sigmoid",
]

tanh = m.tanh

Pads = tuple[tuple[int, int], tuple[int, int]]


# ---------------------------------------------------------------------------------------------
# activations

def _float_dtype(dtype: np.dtype) -> np.dtype:
    """The float dtype numpy computes ``exp`` of ``dtype`` in (ints give float64)."""
    if dtype.kind == "c":
        raise DTypeError(f"needs a real tensor, got {dtype}")
    return ufunc_dtype(np.exp, dtype)


def _float_infer(x: Spec, **attrs: Any) -> Spec:
    return Spec(x.shape, _float_dtype(x.dtype))


def _as_float(x: Any) -> Any:
    return x if x.dtype.kind == "f" else x.astype(_float_dtype(x.dtype))


def _relu_infer(x: Spec) -> Spec:
    if x.dtype.kind == "c":
        raise DTypeError(f"needs a real tensor, got {x.dtype}")
    return Spec(x.shape, x.dtype)


# NOTE: the kernel refuses what infer refuses (complex), so eager mode skips infer
def _emit_relu(j: int, dt: np.dtype, a: list[str], attrs: dict[str, Any]
               ) -> tuple[list[str], str]:
    if dt.kind == "b":
        return [], a[0]
    T = np_name(dt)
    nan = f" or {a[0]} != {a[0]}" if dt.kind == "f" else ""  # NaN stays NaN, as np.maximum
    return [], f"({a[0]} if ({a[0]} > {T}(0){nan}) else {T}(0))"


@register("relu", infer=_relu_infer, kind="elementwise", arity=1, kernel_checks=True,
          out_arg=True, fusion=Fusion(same_loop, _emit_relu))
def relu_p(xp, x, out=None):
    if x.dtype.kind == "c":
        raise TypeError("relu of a complex tensor")
    # a typed zero keeps bool and small ints as they are
    if out is None:
        return xp.maximum(x, x.dtype.type(0))
    return xp.maximum(x, x.dtype.type(0), out=out)


def _float_loop(dtypes: tuple[np.dtype, ...], out: np.dtype, attrs: Any
                ) -> tuple[np.dtype, ...] | None:
    """The loop of sigmoid and erf: computed in the float dtype exp gives the input."""
    ok = not attrs and out.kind == "f" and np.exp.resolve_dtypes((dtypes[0], None))[1] == out
    return (out,) if ok else None


def _sigmoid_steps(m: Any, x: Any) -> Any:
    """The sigmoid, written once for the kernel and the fused loop (``fusable.formula_fusion``):
    ``exp`` of ``-|x|`` is in (0, 1], so no step overflows for any ``x``."""
    e = m.exp(m.neg(m.abs(x)))
    r = m.div(m.const(1), m.add(m.const(1), e))
    return m.where(m.ge(x, m.const(0)), r, m.mul(e, r))


@register("sigmoid", infer=_float_infer, kind="elementwise", arity=1,
          fusion=formula_fusion(_sigmoid_steps, _float_loop, transcendental=True,
                                ulp={"float32": 8}))
def sigmoid_p(xp, x):
    return _sigmoid_steps(ArraySteps(xp), _as_float(x))


def _softmax_infer(x: Spec, axis: int) -> Spec:
    if not 0 <= axis < len(x.shape):
        raise InvalidArgumentError(f"axis {axis} is out of range for {fmt_shape(x.shape)}")
    return _float_infer(x)


@register("softmax", infer=_softmax_infer, arity=1)
def softmax_p(xp, x, axis):
    x = _as_float(x)
    if x.shape[axis] == 0:
        return xp.empty_like(x)
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)


@register("log_softmax", infer=_softmax_infer, arity=1)
def log_softmax_p(xp, x, axis):
    x = _as_float(x)
    if x.shape[axis] == 0:
        return xp.empty_like(x)
    s = x - xp.max(x, axis=axis, keepdims=True)
    return s - xp.log(xp.sum(xp.exp(s), axis=axis, keepdims=True))


# NOTE: numpy has no erf.  Below |x| = 2.5 we sum the series
#   erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)),
# whose terms are all positive (no cancellation); above it the continued fraction
#   erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))).
# 40 series terms and 30 fraction levels give |error| < 2e-15 in float64 everywhere.
_ERF_SPLIT = 2.5
_ERF_SERIES = tuple(2.0**n / math.prod(range(1, 2 * n + 2, 2)) for n in range(40))
_ERF_LEVELS = 30


def _erf_steps(m: Any, x: Any) -> Any:
    """erf, written once for the kernel and the fused loop (``fusable.formula_fusion``)."""
    a = m.abs(x)
    lo = m.minimum(a, m.const(_ERF_SPLIT))
    z = m.mul(lo, lo)
    p = m.horner(z, _ERF_SERIES[::-1])  # in x^2
    small = m.mul(m.mul(m.mul(lo, p), m.exp(m.neg(z))), m.const(2 / math.sqrt(math.pi)))
    hi = m.maximum(a, m.const(_ERF_SPLIT))
    f = m.fraction(hi, tuple(k / 2 for k in range(_ERF_LEVELS, 0, -1)))  # from its tail
    big = m.sub(m.const(1), m.div(m.exp(m.mul(m.neg(hi), hi)),
                                  m.mul(f, m.const(math.sqrt(math.pi)))))
    return m.copysign(m.where(m.lt(a, m.const(_ERF_SPLIT)), small, big), x)


@register("erf", infer=_float_infer, kind="elementwise", arity=1,
          fusion=formula_fusion(_erf_steps, _float_loop, transcendental=True,
                                ulp={"float32": 8}))
def erf_p(xp, x):
    x = _as_float(x)
    wide = x.astype(np.float32) if x.dtype == np.float16 else x
    return _erf_steps(ArraySteps(xp), wide).astype(x.dtype, copy=False)


def relu(x: Any) -> Tensor:
    """``max(x, 0)`` elementwise (NaN stays NaN).

    >>> import graphexec as gx
    >>> gx.nn.relu([-1.0, 0.5]).numpy()
    array([0. , 0.5], dtype=float32)
    """
    return apply(relu_p, as_tensor(x))


def _relu_vjp(g: Tensor, out: Tensor, x: Tensor) -> tuple[Tensor]:
    return (where(x > 0, g, 0.0),)


defvjp(relu_p, _relu_vjp)


def sigmoid(x: Any) -> Tensor:
    """``1 / (1 + exp(-x))``, computed without overflow for any ``x``.

    >>> import graphexec as gx
    >>> gx.nn.sigmoid([-1000.0, 0.0, 1000.0]).numpy()
    array([0. , 0.5, 1. ], dtype=float32)
    """
    return apply(sigmoid_p, as_tensor(x))


defvjp(sigmoid_p, lambda g, out, x: (g * out * (1.0 - out),))


def erf(x: Any) -> Tensor:
    """The error function, accurate to about 1e-15 in float64.

    >>> import graphexec as gx
    >>> round(float(gx.nn.erf(1.0)), 12)
    0.842700779438
    """
    return apply(erf_p, as_tensor(x))


defvjp(erf_p, lambda g, out, x: (g * (2 / math.sqrt(math.pi)) * m.exp(-(x * x)),))


def softmax(x: Any, axis: int = -1) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``axis`` (shifted by the max, so large logits are safe).

    >>> import graphexec as gx
    >>> gx.nn.softmax([[1.0, 1.0], [0.0, 1000.0]]).numpy()
    array([[0.5, 0.5],
           [0. , 1. ]], dtype=float32)
    """
    x = as_tensor(x)
    return apply(softmax_p, x, axis=check_axis(axis, x.ndim, "softmax", x.shape))


defvjp(softmax_p, lambda g, out, x, axis: (
    out * (g - m.sum(g * out, axis=axis, keepdims=True)),))


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """``x - logsumexp(x)`` along ``axis``: finite for logits of any size.

    >>> import graphexec as gx
    >>> gx.nn.log_softmax([-1000.0, 1000.0]).numpy()
    array([-2000.,     0.], dtype=float32)
    """
    x = as_tensor(x)
    return apply(log_softmax_p, x, axis=check_axis(axis, x.ndim, "log_softmax", x.shape))


defvjp(log_softmax_p, lambda g, out, x, axis: (
    g - m.exp(out) * m.sum(g, axis=axis, keepdims=True),))


def gelu(x: Any, approximate: bool = False) -> Tensor:
    """Gaussian error linear unit ``x * Phi(x)``: exact with ``erf``, or the tanh approximation
    of TF and PyTorch when ``approximate``.

    >>> import graphexec as gx
    >>> gx.nn.gelu([-1.0, 0.0, 1.0]).numpy().round(6)
    array([-0.158655,  0.      ,  0.841345], dtype=float32)
    """
    x = as_tensor(x)
    if approximate:
        inner = (x + 0.044715 * (x * x * x)) * math.sqrt(2 / math.pi)
        return 0.5 * x * (1.0 + tanh(inner))
    return 0.5 * x * (1.0 + erf(x * math.sqrt(0.5)))


# ---------------------------------------------------------------------------------------------
# convolution and pooling, NHWC

def _pair(op: str, what: str, v: Any) -> tuple[int, int]:
    """An int, a pair, or TF's length-1 / length-4 (NHWC) form, as a pair of positive ints."""
    vals: list[Any]
    if isinstance(v, int | np.integer):
        vals = [v]
    else:
        vals = list(v) if isinstance(v, Sequence | np.ndarray) else [None]
    if len(vals) == 4:
        if vals[0] != 1 or vals[3] != 1:
            raise op_error(InvalidArgumentError, op, f"{what} {v!r}: the batch and channel "
                           "entries of the length-4 form must be 1")
        vals = vals[1:3]
    if len(vals) == 1:
        vals = vals * 2
    if len(vals) != 2 or not all(isinstance(a, int | np.integer) and a > 0 for a in vals):
        raise op_error(InvalidArgumentError, op, f"{what} {v!r}: expected a positive int, a "
                       "pair of them, or the length-4 NHWC form")
    return int(vals[0]), int(vals[1])


def _explicit_pads(op: str, padding: Any) -> Pads:
    """``[[t, b], [l, r]]`` or the NHWC ``[[0, 0], [t, b], [l, r], [0, 0]]`` as a tuple."""
    try:
        rows = [tuple(int(a) for a in p) for p in padding]
    except (TypeError, ValueError):
        rows = []
    if len(rows) == 4 and rows[0] == rows[3] == (0, 0):
        rows = rows[1:3]
    if len(rows) != 2 or any(len(p) != 2 or min(p) < 0 for p in rows):
        raise op_error(InvalidArgumentError, op, f"padding {padding!r}: expected 'VALID', "
                       "'SAME', or non-negative [[top, bottom], [left, right]]")
    return type_cast(Pads, (rows[0], rows[1]))  # each row is a pair: checked above


def _padding(op: str, padding: Any) -> str | Pads:
    if isinstance(padding, str):
        mode = padding.upper()
        if mode not in ("VALID", "SAME"):
            raise op_error(InvalidArgumentError, op, f"padding {padding!r}: expected 'VALID', "
                           "'SAME' or explicit [[top, bottom], [left, right]]")
        return mode
    return _explicit_pads(op, padding)


def same_pads(size: int, k: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TF's SAME padding of one spatial axis: ``(before, after)``, the extra on the after side.

    >>> from graphexec.ops.nn import same_pads
    >>> same_pads(4, 3, 2), same_pads(5, 3, 1)
    ((0, 1), (1, 1))
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + (k - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _check_rank4(x: Spec, f: Spec | None = None) -> None:
    if len(x.shape) != 4:
        raise ShapeError(f"input {fmt_shape(x.shape)} must have rank 4 (NHWC)")
    if f is not None and len(f.shape) != 4:
        raise ShapeError(f"filters {fmt_shape(f.shape)} must have rank 4 (HWIO)")


def _out_size(window: str, size: int | None, k: int | None, stride: int, dilation: int = 1,
              what: str = "input") -> int | None:
    """Output length of a VALID sliding window; ShapeError when the input is too small."""
    if size is None or k is None:
        return None
    span = (k - 1) * dilation + 1
    if size < span:
        raise ShapeError(f"{what} {size} is smaller than the {window} window {span}")
    return (size - span) // stride + 1


def _conv2d_infer(x: Spec, f: Spec, strides: tuple[int, int],
                  dilations: tuple[int, int]) -> Spec:
    _check_rank4(x, f)
    what = f"input {fmt_shape(x.shape)}, filters {fmt_shape(f.shape)}"
    c, fc = x.shape[3], f.shape[2]
    if c is not None and fc is not None and c != fc:
        raise ShapeError(f"{what}: the input has {c} channels, the filters expect {fc}")
    if np.dtype(bool) in (x.dtype, f.dtype):
        raise DTypeError(f"{what}: conv2d of bool tensors is not supported")
    try:
        oh, ow = (_out_size("filter", x.shape[i + 1], f.shape[i], strides[i], dilations[i],
                            what=f"padded input {('height', 'width')[i]}") for i in (0, 1))
    except ShapeError as e:
        raise ShapeError(f"{what}: {e}") from None
    return Spec((x.shape[0], oh, ow, f.shape[3]), ufunc_dtype(np.matmul, x.dtype, f.dtype))


@register("conv2d", infer=_conv2d_infer, arity=2)
def conv2d_p(xp, x, f, strides, dilations):
    n, h, w, c = x.shape
    kh, kw = f.shape[:2]
    (sh, sw), (dh, dw) = strides, dilations
    oh, ow = (h - (kh - 1) * dh - 1) // sh + 1, (w - (kw - 1) * dw - 1) // sw + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"input {x.shape} is smaller than the dilated filter {f.shape}")
    s0, s1, s2, s3 = x.strides
    # im2col as a view: patches[n, i, j, a, b, c] = x[n, i*sh + a*dh, j*sw + b*dw, c]
    patches = xp.lib.stride_tricks.as_strided(
        x, (n, oh, ow, kh, kw, c), (s0, s1 * sh, s2 * sw, s1 * dh, s2 * dw, s3))
    return xp.tensordot(patches, unshared(xp, x, f), axes=3)


def _known_dim(what: str, *dims: int | None) -> int | None:
    """The one value of the known ``dims`` (ShapeError if they differ), or ``None``."""
    seen = {d for d in dims if d is not None}
    if len(seen) > 1:
        raise ShapeError(f"{what}: sizes {sorted(seen)} differ")
    return seen.pop() if seen else None


def _check_conv_grad(what: str, x: Spec, f: Spec, g: Spec, strides: tuple[int, int],
                     dilations: tuple[int, int]) -> tuple[int | None, ...]:
    """Check that ``g`` fits the output of conv2d(x, f); the known dims of x (shape)."""
    _check_rank4(x, f)
    if len(g.shape) != 4:
        raise ShapeError(f"{what}: gradient {fmt_shape(g.shape)} must have rank 4 (NHWC)")
    if np.dtype(bool) in (x.dtype, f.dtype, g.dtype):
        raise DTypeError(f"{what}: bool tensors are not supported")
    n = _known_dim(f"{what}: batch", x.shape[0], g.shape[0])
    c = _known_dim(f"{what}: input channels", x.shape[3], f.shape[2])
    _known_dim(f"{what}: output channels", g.shape[3], f.shape[3])
    try:
        for i in (0, 1):
            o = _out_size("filter", x.shape[i + 1], f.shape[i], strides[i], dilations[i],
                          what=f"input {('height', 'width')[i]}")
            _known_dim(f"{what}: output {('height', 'width')[i]}", o, g.shape[i + 1])
    except ShapeError as e:
        raise ShapeError(f"{what}: {e}") from None
    return (n, x.shape[1], x.shape[2], c)


def _conv_input_grad_infer(g: Spec, f: Spec, like: Spec, strides: tuple[int, int],
                           dilations: tuple[int, int]) -> Spec:
    what = f"gradient {fmt_shape(g.shape)}, filters {fmt_shape(f.shape)}, input " \
           f"{fmt_shape(like.shape)}"
    shape = _check_conv_grad(what, like, f, g, strides, dilations)
    return Spec(shape, ufunc_dtype(np.matmul, g.dtype, f.dtype))


@register("conv2d_backprop_input", infer=_conv_input_grad_infer, arity=3, shape_only=(2,))
def conv2d_backprop_input_p(xp, g, f, like, strides, dilations):
    """The gradient of conv2d with respect to its input: each output pixel's ``g @ f^T``
    added back onto the input pixels of its window."""
    kh, kw = f.shape[:2]
    (sh, sw), (dh, dw) = strides, dilations
    oh, ow = g.shape[1:3]
    cols = xp.tensordot(g, unshared(xp, g, f), axes=([3], [3]))  # (n, oh, ow, kh, kw, c)
    dx = xp.zeros(like.shape, cols.dtype)
    for a in range(kh):
        for b in range(kw):
            i, j = a * dh, b * dw
            dx[:, i:i + (oh - 1) * sh + 1:sh, j:j + (ow - 1) * sw + 1:sw, :] += cols[:, :, :, a, b]
    return dx


# NOTE: the backward primitives come in adjoint pairs, so each one's rule is built from the
# other (which gives gradients of any order)


def _conv_filter_grad_infer(x: Spec, g: Spec, like: Spec, strides: tuple[int, int],
                            dilations: tuple[int, int]) -> Spec:
    what = f"input {fmt_shape(x.shape)}, gradient {fmt_shape(g.shape)}, filters " \
           f"{fmt_shape(like.shape)}"
    _check_conv_grad(what, x, like, g, strides, dilations)
    kh, kw, c, o = like.shape
    shape = (kh, kw, c if c is not None else x.shape[3], o if o is not None else g.shape[3])
    return Spec(shape, ufunc_dtype(np.matmul, x.dtype, g.dtype))


@register("conv2d_backprop_filter", infer=_conv_filter_grad_infer, arity=3, shape_only=(2,))
def conv2d_backprop_filter_p(xp, x, g, like, strides, dilations):
    """The gradient of conv2d with respect to its filters: the im2col windows of ``x``
    contracted with ``g`` over batch and output positions."""
    n, _, _, c = x.shape
    kh, kw = like.shape[:2]
    (sh, sw), (dh, dw) = strides, dilations
    oh, ow = g.shape[1:3]
    s0, s1, s2, s3 = x.strides
    patches = xp.lib.stride_tricks.as_strided(
        x, (n, oh, ow, kh, kw, c), (s0, s1 * sh, s2 * sw, s1 * dh, s2 * dw, s3))
    # NOTE: operands CSE merged into one buffer would round as BLAS syrk, not as gemm
    return xp.tensordot(patches, unshared(xp, x, g), axes=([0, 1, 2], [0, 1, 2]))


defvjp(conv2d_backprop_input_p, lambda gg, out, g, f, like, **at: (
    apply(conv2d_p, gg, f, **at), apply(conv2d_backprop_filter_p, gg, g, f, **at), None))


defvjp(conv2d_backprop_filter_p, lambda gg, out, x, g, like, **at: (
    apply(conv2d_backprop_input_p, g, gg, x, **at), apply(conv2d_p, x, gg, **at), None))


def _conv_pads(x: Tensor, f: Tensor, padding: str | Pads, strides: tuple[int, int],
               dilations: tuple[int, int]) -> Pads:
    if padding == "VALID":
        return (0, 0), (0, 0)
    if padding != "SAME":
        return type_cast(Pads, padding)  # _padding gives "VALID", "SAME" or explicit pads
    pads = []
    for i in (0, 1):
        size, k, s = x.shape[i + 1], f.shape[i], strides[i]
        if k is None or (size is None and s != 1):
            raise op_error(ShapeError, "conv2d", f"SAME padding of input {fmt_shape(x.shape)} "
                           f"with filters {fmt_shape(f.shape)} and strides {strides} needs the "
                           "filter size and, for strides > 1, the input size at build time; "
                           "give explicit padding instead")
        # with stride 1 the SAME padding is (k - 1) * dilation whatever the input size
        pads.append(same_pads(1 if size is None else size, k, s, dilations[i]))
    return pads[0], pads[1]


def conv2d(x: Any, filters: Any, strides: Any = 1, padding: Any = "VALID",
           dilations: Any = 1) -> Tensor:
    """2-D convolution (cross-correlation) as ``tf.nn.conv2d``: ``x`` is NHWC, ``filters`` is
    HWIO (height, width, in channels, out channels).

    ``strides`` and ``dilations`` are an int, a pair or TF's ``[1, sh, sw, 1]``; ``padding``
    is ``"VALID"``, ``"SAME"`` (TF's: output ``ceil(in / stride)``, the odd pixel after) or
    explicit ``[[top, bottom], [left, right]]``.  Padding is a separate ``pad`` node in front
    of a VALID convolution.

    >>> import numpy as np, graphexec as gx
    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> gx.nn.conv2d(x, np.ones((2, 2, 1, 1)), strides=2).numpy()[0, :, :, 0]
    array([[10., 18.],
           [42., 50.]])
    >>> gx.nn.conv2d(x, np.ones((3, 3, 1, 2)), padding="SAME").shape
    (1, 4, 4, 2)
    """
    x, filters = as_tensor(x), as_tensor(filters)
    strides, dilations = _pair("conv2d", "strides", strides), _pair("conv2d", "dilations",
                                                                    dilations)
    padding = _padding("conv2d", padding)
    try:
        _check_rank4(x.spec, filters.spec)
    except ShapeError as e:
        raise op_error(ShapeError, "conv2d", str(e)) from None
    (t, b), (left, r) = _conv_pads(x, filters, padding, strides, dilations)
    if t or b or left or r:
        x = pad(x, [[0, 0], [t, b], [left, r], [0, 0]])
    return apply(conv2d_p, x, filters, strides=strides, dilations=dilations)


# NOTE: conv2d is VALID here: SAME and explicit padding are a pad node in front of it
defvjp(conv2d_p, lambda g, out, x, f, needs=(True, True), **at: (
    apply(conv2d_backprop_input_p, g, f, x, **at) if needs[0] else None,
    apply(conv2d_backprop_filter_p, x, g, f, **at) if needs[1] else None))


def _pool_pads(padding: str | Pads, h: int, w: int, ksize: tuple[int, int],
               strides: tuple[int, int]) -> Pads:
    if padding == "VALID":
        return (0, 0), (0, 0)
    if padding == "SAME":
        return same_pads(h, ksize[0], strides[0]), same_pads(w, ksize[1], strides[1])
    return type_cast(Pads, padding)


def _pool_infer(x: Spec, ksize: tuple[int, int], strides: tuple[int, int],
                padding: str | Pads) -> tuple[int | None, ...]:
    _check_rank4(x)
    dims = []
    for i in (0, 1):
        size = x.shape[i + 1]
        if padding == "SAME":
            dims.append(None if size is None else -(-size // strides[i]))
            continue
        if size is not None and padding != "VALID":
            size += sum(type_cast(Pads, padding)[i])
        try:
            dims.append(_out_size("pooling", size, ksize[i], strides[i],
                                  what=f"(padded) input {('height', 'width')[i]}"))
        except ShapeError as e:
            raise ShapeError(f"input {fmt_shape(x.shape)}, ksize {ksize}: {e}") from None
    return (x.shape[0], dims[0], dims[1], x.shape[3])


def _windows(xp, x, ksize, strides, pads, fill):
    """``x`` padded with ``fill``, as a view of shape (n, oh, ow, c, kh, kw) of its windows."""
    (t, b), (left, r) = pads
    if t or b or left or r:
        x = xp.pad(x, ((0, 0), (t, b), (left, r), (0, 0)), constant_values=fill)
    n, h, w, c = x.shape
    (kh, kw), (sh, sw) = ksize, strides
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    s0, s1, s2, s3 = x.strides
    return xp.lib.stride_tricks.as_strided(
        x, (n, oh, ow, c, kh, kw), (s0, s1 * sh, s2 * sw, s3, s1, s2))


def _max_pool_infer(x: Spec, ksize: tuple[int, int], strides: tuple[int, int],
                    padding: str | Pads) -> Spec:
    if x.dtype.kind == "c":
        raise DTypeError(f"max_pool2d of a complex tensor ({x.dtype}) is not supported")
    return Spec(_pool_infer(x, ksize, strides, padding), x.dtype)


def _lowest(dt: np.dtype) -> Any:
    """The padding value that never wins a max."""
    return -np.inf if dt.kind == "f" else (False if dt.kind == "b" else np.iinfo(dt).min)


@register("max_pool2d", infer=_max_pool_infer, arity=1)
def max_pool2d_p(xp, x, ksize, strides, padding):
    pads = _pool_pads(padding, x.shape[1], x.shape[2], ksize, strides)
    return xp.max(_windows(xp, x, ksize, strides, pads, _lowest(x.dtype)), axis=(4, 5))


def _pool_grad_check(what: str, x: Spec, g: Spec, ksize: tuple[int, int],
                     strides: tuple[int, int], padding: str | Pads) -> tuple[int | None, ...]:
    """Check that ``g`` has the pooled shape of ``x``; the known dims of x."""
    pooled = _pool_infer(x, ksize, strides, padding)
    if not shapes_match(g.shape, pooled):
        raise ShapeError(f"{what}: the gradient must have the pooled shape {fmt_shape(pooled)}")
    if g.dtype.kind not in "fiu" or x.dtype.kind == "c":
        raise DTypeError(f"{what}: unsupported dtypes {x.dtype}, {g.dtype}")
    n = _known_dim(f"{what}: batch", x.shape[0], g.shape[0])
    c = _known_dim(f"{what}: channels", x.shape[3], g.shape[3])
    return (n, x.shape[1], x.shape[2], c)


def _max_pool_grad_infer(x: Spec, g: Spec, ksize: tuple[int, int], strides: tuple[int, int],
                         padding: str | Pads) -> Spec:
    what = f"input {fmt_shape(x.shape)}, gradient {fmt_shape(g.shape)}"
    return Spec(_pool_grad_check(what, x, g, ksize, strides, padding), g.dtype)


def _window_argmax(xp, x, ksize, strides, padding):
    """The flat (row-major) index of the first maximum in each pooling window of ``x``, shape
    (n, oh, ow, c), and the padding used."""
    pads = _pool_pads(padding, x.shape[1], x.shape[2], ksize, strides)
    win = _windows(xp, x, ksize, strides, pads, _lowest(x.dtype))
    n, oh, ow, c, kh, kw = win.shape
    return xp.argmax(win.reshape(n, oh, ow, c, kh * kw), axis=-1), pads


def _scatter_windows(xp, parts, shape, dtype, ksize, strides, pads):
    """Sum ``parts(a, b)`` (one (n, oh, ow, c) array per window offset) back onto the input
    pixels each window position covers; ``shape`` is the unpadded input's."""
    n, h, w, c = shape
    (t, bottom), (left, r) = pads
    (kh, kw), (sh, sw) = ksize, strides
    out = xp.zeros((n, h + t + bottom, w + left + r, c), dtype)
    for a in range(kh):
        for b in range(kw):
            p = parts(a, b)
            oh, ow = p.shape[1:3]
            out[:, a:a + (oh - 1) * sh + 1:sh, b:b + (ow - 1) * sw + 1:sw, :] += p
    return out[:, t:t + h, left:left + w, :]


@register("max_pool2d_grad", infer=_max_pool_grad_infer, arity=2)
def max_pool2d_grad_p(xp, x, g, ksize, strides, padding):
    """The gradient of max_pool2d: ``g`` routed to the first maximum of each window (TF's
    rule for ties)."""
    arg, pads = _window_argmax(xp, x, ksize, strides, padding)
    zero = g.dtype.type(0)
    kw = ksize[1]
    return _scatter_windows(xp, lambda a, b: xp.where(arg == a * kw + b, g, zero), x.shape,
                            g.dtype, ksize, strides, pads)


def _max_pool_grad_grad_infer(x: Spec, gg: Spec, ksize: tuple[int, int],
                              strides: tuple[int, int], padding: str | Pads) -> Spec:
    what = f"input {fmt_shape(x.shape)}, gradient {fmt_shape(gg.shape)}"
    if not shapes_match(x.shape, gg.shape):
        raise ShapeError(f"{what}: the gradient must have the input's shape")
    if gg.dtype.kind not in "fiu" or x.dtype.kind == "c":
        raise DTypeError(f"{what}: unsupported dtypes {x.dtype}, {gg.dtype}")
    return Spec(_pool_infer(x, ksize, strides, padding), gg.dtype)


@register("max_pool2d_grad_grad", infer=_max_pool_grad_grad_infer, arity=2)
def max_pool2d_grad_grad_p(xp, x, gg, ksize, strides, padding):
    """``gg`` (input-shaped) read at the first maximum of each window of ``x``: the adjoint
    of max_pool2d_grad."""
    arg, pads = _window_argmax(xp, x, ksize, strides, padding)
    win = _windows(xp, gg, ksize, strides, pads, 0)
    n, oh, ow, c, kh, kw = win.shape
    picked = xp.take_along_axis(win.reshape(n, oh, ow, c, kh * kw), arg[..., None], axis=-1)
    return picked[..., 0]


defvjp(max_pool2d_grad_p, lambda gg, out, x, g, **at: (
    None, apply(max_pool2d_grad_grad_p, x, gg, **at)))


defvjp(max_pool2d_grad_grad_p, lambda g, out, x, gg, **at: (
    None, apply(max_pool2d_grad_p, x, g, **at)))


def _avg_dtype(dtype: np.dtype) -> np.dtype:
    if dtype.kind == "c":
        raise DTypeError(f"avg_pool2d of a complex tensor ({dtype}) is not supported")
    return dtype if dtype.kind == "f" else np.dtype(np.float64)  # as np.mean


def _avg_pool_infer(x: Spec, ksize: tuple[int, int], strides: tuple[int, int],
                    padding: str | Pads) -> Spec:
    return Spec(_pool_infer(x, ksize, strides, padding), _avg_dtype(x.dtype))


def _valid_counts(xp: Any, size: int, k: int, stride: int, before: int, n_out: int) -> Any:
    """How many of the ``k`` taps of each output position fall inside the unpadded input."""
    start = xp.arange(n_out) * stride - before
    return xp.minimum(start + k, size) - xp.maximum(start, 0)


@register("avg_pool2d", infer=_avg_pool_infer, arity=1)
def avg_pool2d_p(xp, x, ksize, strides, padding):
    dt = _avg_dtype(x.dtype)
    pads = _pool_pads(padding, x.shape[1], x.shape[2], ksize, strides)
    total = xp.sum(_windows(xp, x, ksize, strides, pads, 0), axis=(4, 5), dtype=dt)
    if padding == "VALID":
        return total / dt.type(ksize[0] * ksize[1])
    # NOTE: TF divides by the taps inside the input, not the full window, at SAME borders
    ch = _valid_counts(xp, x.shape[1], ksize[0], strides[0], pads[0][0], total.shape[1])
    cw = _valid_counts(xp, x.shape[2], ksize[1], strides[1], pads[1][0], total.shape[2])
    return total / (ch[:, None] * cw[None, :]).astype(dt)[:, :, None]


def _avg_pool_grad_infer(g: Spec, like: Spec, ksize: tuple[int, int], strides: tuple[int, int],
                         padding: str | Pads) -> Spec:
    what = f"gradient {fmt_shape(g.shape)}, input {fmt_shape(like.shape)}"
    return Spec(_pool_grad_check(what, like, g, ksize, strides, padding), _avg_dtype(g.dtype))


@register("avg_pool2d_grad", infer=_avg_pool_grad_infer, arity=2, shape_only=(1,))
def avg_pool2d_grad_p(xp, g, like, ksize, strides, padding):
    """The gradient of avg_pool2d: each window's ``g / count`` spread over its input pixels
    (with TF's SAME-padding counts)."""
    dt = _avg_dtype(g.dtype)
    g = g.astype(dt, copy=False)
    h, w = like.shape[1:3]
    pads = _pool_pads(padding, h, w, ksize, strides)
    if padding == "VALID":
        g = g / dt.type(ksize[0] * ksize[1])
    else:
        ch = _valid_counts(xp, h, ksize[0], strides[0], pads[0][0], g.shape[1])
        cw = _valid_counts(xp, w, ksize[1], strides[1], pads[1][0], g.shape[2])
        g = g / (ch[:, None] * cw[None, :]).astype(dt)[:, :, None]
    return _scatter_windows(xp, lambda a, b: g, like.shape, dt, ksize, strides, pads)


defvjp(avg_pool2d_grad_p, lambda gg, out, g, like, **at: (apply(avg_pool2d_p, gg, **at), None))


def _pool(opdef: OpDef, x: Any, ksize: Any, strides: Any, padding: Any, explicit: bool) -> Tensor:
    op = opdef.name
    x = as_tensor(x)
    ksize, strides = _pair(op, "ksize", ksize), _pair(op, "strides", strides)
    padding = _padding(op, padding)
    if not isinstance(padding, str):
        if not explicit:
            raise op_error(InvalidArgumentError, op, f"padding {padding!r}: expected 'VALID' "
                           "or 'SAME'")
        if any(p >= k for pair, k in zip(padding, ksize) for p in pair):
            raise op_error(InvalidArgumentError, op, f"padding {padding} must be smaller than "
                           f"the window {ksize} on each side")
    return apply(opdef, x, ksize=ksize, strides=strides, padding=padding)


def max_pool2d(x: Any, ksize: Any, strides: Any, padding: Any = "VALID") -> Tensor:
    """Max over ``ksize`` windows of NHWC ``x``, as ``tf.nn.max_pool2d``; ``padding`` is
    ``"VALID"``, ``"SAME"`` or explicit ``[[top, bottom], [left, right]]`` (padding never wins
    the max).

    >>> import numpy as np, graphexec as gx
    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> gx.nn.max_pool2d(x, 2, 2).numpy()[0, :, :, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    """
    return _pool(max_pool2d_p, x, ksize, strides, padding, explicit=True)


# max pooling routes gradients by the argmax of x, which is locally constant in x
defvjp(max_pool2d_p, lambda g, out, x, **at: (apply(max_pool2d_grad_p, x, g, **at),))


def avg_pool2d(x: Any, ksize: Any, strides: Any, padding: Any = "VALID") -> Tensor:
    """Mean over ``ksize`` windows of NHWC ``x``, as ``tf.nn.avg_pool2d``; with ``"SAME"``
    padding a border window averages only the elements inside the input.

    >>> import numpy as np, graphexec as gx
    >>> x = np.arange(9.0).reshape(1, 3, 3, 1)
    >>> gx.nn.avg_pool2d(x, 2, 2, "SAME").numpy()[0, :, :, 0]
    array([[2. , 3.5],
           [6.5, 8. ]])
    """
    return _pool(avg_pool2d_p, x, ksize, strides, padding, explicit=False)


defvjp(avg_pool2d_p, lambda g, out, x, **at: (apply(avg_pool2d_grad_p, g, x, **at),))


# ---------------------------------------------------------------------------------------------
# picking log-probabilities by integer label

def _nll_infer(logp: Spec, labels: Spec, axis: int) -> Spec:
    what = f"log-probabilities {fmt_shape(logp.shape)}, labels {fmt_shape(labels.shape)}"
    if labels.dtype.kind not in "iu":
        raise DTypeError(f"{what}: labels must be integers, got {labels.dtype}")
    if logp.dtype.kind != "f":
        raise DTypeError(f"{what}: log-probabilities must be floating, got {logp.dtype}")
    if not 0 <= axis < len(logp.shape):
        raise InvalidArgumentError(f"{what}: axis {axis} is out of range")
    want = logp.shape[:axis] + logp.shape[axis + 1:]
    if not shapes_match(labels.shape, want):
        raise ShapeError(f"{what}: labels must have the shape {fmt_shape(want)} of the "
                         f"log-probabilities without their class axis {axis}")
    return Spec(tuple(b if a is None else a for a, b in zip(want, labels.shape)), logp.dtype)


@register("nll_loss", infer=_nll_infer, arity=2)
def nll_loss_p(xp, logp, labels, axis):
    n = logp.shape[axis]
    if labels.size and (labels.min() < 0 or labels.max() >= n):
        bad = (labels < 0) | (labels >= n)
        raise IndexError(f"label {int(labels[bad].ravel()[0])} is outside the valid range "
                         f"[0, {n}) of the class axis")
    if logp.ndim == 2 and axis == 1:  # NOTE: (batch, classes): one gather, no index grids
        return -logp[xp.arange(logp.shape[0]), labels]
    return -xp.squeeze(xp.take_along_axis(logp, xp.expand_dims(labels, axis), axis=axis), axis)


def _nll_grad_infer(g: Spec, labels: Spec, like: Spec, axis: int) -> Spec:
    what = f"gradient {fmt_shape(g.shape)}, labels {fmt_shape(labels.shape)}, " \
           f"log-probabilities {fmt_shape(like.shape)}"
    if g.dtype.kind != "f":
        raise DTypeError(f"{what}: the gradient must be floating, got {g.dtype}")
    picked = _nll_infer(like, labels, axis)
    if not shapes_match(g.shape, picked.shape):
        raise ShapeError(f"{what}: the gradient must have the labels' shape")
    shape = list(like.shape)
    for i, d in enumerate(picked.shape):
        j = i if i < axis else i + 1
        shape[j] = _known_dim(what, shape[j], d, g.shape[i])
    return Spec(tuple(shape), g.dtype)


@register("nll_loss_grad", infer=_nll_grad_infer, arity=3, shape_only=(2,))
def nll_loss_grad_p(xp, g, labels, like, axis):
    """The gradient of nll_loss: ``-g`` at each label's position along the class ``axis`` of
    a tensor shaped like the log-probabilities, zeros elsewhere."""
    n = like.shape[axis]
    if like.ndim == 2 and axis == 1:  # NOTE: (batch, classes): one scatter into zeros
        out = xp.zeros(like.shape, g.dtype)
        out[xp.arange(like.shape[0]), labels] = -g
        return out
    grid = [1] * like.ndim
    grid[axis] = n
    hot = xp.expand_dims(labels, axis) == xp.arange(n).reshape(grid)
    return xp.where(hot, -xp.expand_dims(g, axis), g.dtype.type(0))


defvjp(nll_loss_grad_p, lambda gg, out, g, labels, like, axis: (
    apply(nll_loss_p, gg, labels, axis=axis), None, None))


def nll_loss(log_probs: Any, labels: Any, axis: int = -1) -> Tensor:
    """``-log_probs[..., labels[...], ...]``: the negative log-probability of each integer
    label along the class ``axis`` (no reduction).  A label outside ``[0, classes)`` is an
    error when the op runs.

    >>> import numpy as np, graphexec as gx
    >>> logp = np.log([[0.5, 0.5], [0.25, 0.75]])
    >>> gx.nn.nll_loss(logp, [1, 0]).numpy().round(4)
    array([0.6931, 1.3863])
    """
    logp, labels = as_tensor(log_probs), as_tensor(labels)
    axis = check_axis(axis, logp.ndim, "nll_loss", logp.shape)
    return apply(nll_loss_p, logp, labels, axis=axis)


defvjp(nll_loss_p, lambda g, out, logp, labels, axis: (
    apply(nll_loss_grad_p, g, labels, logp, axis=axis), None))


# -- one_hot (built from range, equal and where)

def one_hot(indices: Any, depth: int, on_value: Any = 1, off_value: Any = 0, axis: int = -1,
            dtype: Any = None) -> Tensor:
    """``on_value`` where position ``i`` along the new axis ``axis`` equals the index, else
    ``off_value``; indices outside ``[0, depth)`` give a row of ``off_value`` (as TF).

    >>> import graphexec as gx
    >>> gx.one_hot([0, 2, -1], 3).numpy()
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 0., 0.]], dtype=float32)
    """
    idx = as_tensor(indices)
    if not np.issubdtype(idx.dtype, np.integer):
        raise op_error(DTypeError, "one_hot", f"indices must be integers, got {idx.dtype}")
    depth = operator.index(depth)
    if depth < 0:
        raise op_error(InvalidArgumentError, "one_hot", f"depth must be >= 0, got {depth}")
    axis = check_axis(axis, idx.ndim + 1, "one_hot")
    grid = [1] * (idx.ndim + 1)
    grid[axis] = depth
    positions = reshape(apply(range_p, start=0, limit=depth, delta=1,
                              dtype=np.dtype(np.int64)), grid)
    hot = m.equal(expand_dims(idx, axis), positions)
    dtype = check_dtype(config.floatx() if dtype is None else dtype, "one_hot")
    return where(hot, constant(on_value, dtype), constant(off_value, dtype))


# -- dropout's mask and batch normalization at inference -------------------------------------------

def _dropout_mask_infer(x: Spec, step: Spec, rate: float, seed: int) -> Spec:
    """The input's shape and (float) dtype; ``step`` an integer scalar."""
    if x.dtype.kind != "f":
        raise DTypeError(f"dropout needs floating inputs, got {x.dtype}")
    if step.dtype.kind not in "iu" or len(step.shape) != 0:
        raise DTypeError(f"the step must be an integer scalar, got {step!r}")
    return Spec(x.shape, x.dtype)


@register("dropout_mask", infer=_dropout_mask_infer, arity=2, shape_only=(0,))
def dropout_mask_p(xp, x, step, rate, seed):
    # NOTE: a pure function of (seed, step), drawn on the host with numpy on every device,
    # so eager and graph mode, and every device, drop the same elements at the same step
    keep = np.random.default_rng([seed, int(step)]).random(x.shape) >= rate
    return xp.asarray((keep / x.dtype.type(1.0 - rate)).astype(x.dtype))


def _batch_norm_infer(x: Spec, mean: Spec, var: Spec, gamma: Spec, beta: Spec,
                      epsilon: float) -> Spec:
    """The input's spec; the statistics and the scale and offset are vectors of its last
    dim."""
    if x.dtype.kind != "f" or not x.shape:
        raise DTypeError(f"batch_norm needs a floating input with a channel axis, got {x!r}")
    c = x.shape[-1]
    for what, s in (("mean", mean), ("variance", var), ("gamma", gamma), ("beta", beta)):
        if s.dtype != x.dtype or len(s.shape) != 1 or (
                None not in (c, s.shape[0]) and s.shape[0] != c):
            raise ShapeError(f"{what} is {s!r}; it must be a {x.dtype} vector of the input's "
                             f"last dim ({c})")
    return x


@register("batch_norm", infer=_batch_norm_infer, arity=5)
def batch_norm_p(xp, x, mean, var, gamma, beta, epsilon):
    scale = gamma / xp.sqrt(var + x.dtype.type(epsilon))
    return (x - mean) * scale + beta


def batch_norm(x: Any, mean: Any, variance: Any, gamma: Any, beta: Any,
               epsilon: float = 1e-3) -> Tensor:
    """``(x - mean) * gamma / sqrt(variance + epsilon) + beta`` over the last axis (the
    channels): batch normalization with given statistics, as at inference.

    >>> import graphexec as gx
    >>> gx.nn.batch_norm(gx.constant([[1.0, 4.0]]), [1.0, 2.0], [4.0, 1.0], [2.0, 1.0],
    ...                  [0.0, 0.5], epsilon=0.0).numpy()
    array([[0. , 2.5]], dtype=float32)
    """
    x = as_tensor(x)
    stats = [as_tensor(v, x.dtype) if not isinstance(v, Tensor) else v
             for v in (mean, variance, gamma, beta)]
    return apply(batch_norm_p, x, *stats, epsilon=float(epsilon))


def _batch_norm_vjp(g: Tensor, out: Tensor, x: Tensor, mean: Tensor, var: Tensor,
                    gamma: Tensor, beta: Tensor, epsilon: float) -> tuple[Tensor, ...]:
    axes = tuple(range(len(x.shape) - 1))
    inv = m.rsqrt(var + epsilon)
    centered = x - mean
    gs = m.sum(g, axes)
    gc = m.sum(g * centered, axes)
    return (g * (gamma * inv), -gs * gamma * inv, gc * gamma * (inv * inv * inv) * -0.5,
            gc * inv, gs)


defvjp(batch_norm_p, _batch_norm_vjp)


# -- more activations, written with the primitives (so they fuse and differentiate through the
# primitives' own rules, on every device) -------------------------------------------------------

def _float_input(x: Any, what: str) -> Tensor:
    t = as_tensor(x)
    if np.dtype(t.dtype).kind != "f":
        raise op_error(DTypeError, what, f"needs a floating input, got {t.dtype}")
    return t


def leaky_relu(x: Any, alpha: float = 0.2) -> Tensor:
    """``x`` where positive, else ``alpha * x`` (Keras's default ``alpha`` 0.2; PyTorch's 0.01).

    >>> import graphexec as gx
    >>> gx.nn.leaky_relu([-2.0, 3.0]).numpy()
    array([-0.4,  3. ], dtype=float32)
    """
    t = _float_input(x, "leaky_relu")
    return where(t > 0, t, t * alpha)


def elu(x: Any, alpha: float = 1.0) -> Tensor:
    """``x`` where positive, else ``alpha * (exp(x) - 1)`` (with ``expm1``).

    >>> import graphexec as gx
    >>> gx.nn.elu([-1.0, 2.0]).numpy()
    array([-0.63212055,  2.        ], dtype=float32)
    """
    t = _float_input(x, "elu")
    return where(t > 0, t, m.expm1(m.minimum(t, 0.0)) * alpha)


#: SELU's constants (Klambauer et al. 2017), as Keras and PyTorch use them
SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def selu(x: Any) -> Tensor:
    """``scale * elu(x, alpha)`` with SELU's self-normalizing constants.

    >>> import graphexec as gx
    >>> gx.nn.selu([-1.0, 1.0]).numpy()
    array([-1.1113307,  1.050701 ], dtype=float32)
    """
    return elu(_float_input(x, "selu"), SELU_ALPHA) * SELU_SCALE


def softplus(x: Any) -> Tensor:
    """``log(1 + exp(x))``, computed without overflow: ``max(x, 0) + log1p(exp(-|x|))`` (its
    gradient ``sigmoid(x)``, 0.5 at 0).

    >>> import graphexec as gx
    >>> gx.nn.softplus([-1000.0, 0.0, 1000.0]).numpy()
    array([0.000000e+00, 6.931472e-01, 1.000000e+03], dtype=float32)
    """
    t = _float_input(x, "softplus")
    # NOTE: min(t, -t) is -|t| with the gradient 0.5 (sigmoid(0)) at 0, where abs gives none
    return relu(t) + m.log1p(m.exp(m.minimum(t, -t)))


def silu(x: Any) -> Tensor:
    """``x * sigmoid(x)`` (also called swish).

    >>> import graphexec as gx
    >>> gx.nn.silu([-1.0, 0.0, 2.0]).numpy()
    array([-0.2689414,  0.       ,  1.761594 ], dtype=float32)
    """
    t = _float_input(x, "silu")
    return t * sigmoid(t)


swish = silu


def hard_sigmoid(x: Any) -> Tensor:
    """``clip(x / 6 + 0.5, 0, 1)``, the piecewise-linear sigmoid (Keras 3 and PyTorch).

    >>> import graphexec as gx
    >>> gx.nn.hard_sigmoid([-4.0, 0.0, 1.5, 4.0]).numpy()
    array([0.  , 0.5 , 0.75, 1.  ], dtype=float32)
    """
    t = _float_input(x, "hard_sigmoid")
    return m.minimum(m.maximum(t / 6.0 + 0.5, 0.0), 1.0)
