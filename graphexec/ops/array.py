"""Transformation and indexing ops: cast, reshape, transpose, stack/split, gather, where,
``x[...]``; and their gradient rules, with the primitives those need (scatter-add, slice
assignment)."""

from __future__ import annotations

import math
import operator
from typing import Any
from typing import cast as type_cast  # ``cast`` is the tensor op below

import numpy as np

from ..checks import check_axes, check_axis, check_dtype
from ..errors import DTypeError, InvalidArgumentError, ShapeError, op_error
from ..fusable import Fusion, conv, np_name
from ..registry import (
    Spec,
    broadcast_shapes,
    defvjp,
    fmt_shape,
    register,
    shapes_match,
)
from ..tensor import Tensor, apply, as_tensor, weak
from .grad import unbroadcast
from .state import static_value

__all__ = [
    "reshape", "transpose", "expand_dims", "squeeze", "broadcast_to", "tile",
    "stack", "unstack", "concat", "split",
    "gather", "where", "getitem", "cast", "shape", "size",
]

Shape = tuple[int | None, ...]


# ---------------------------------------------------------------------------------------------
# frontend helpers (also used by ops/creation.py)

_HINTS = {
    "reshape": " (one dim may be -1)",
    "zeros": "; for a tensor shaped like x use gx.zeros_like(x)",
    "ones": "; for a tensor shaped like x use gx.ones_like(x)",
}


def _ints(value: Any, op: str, what: str) -> tuple[int, ...]:
    """A static int or sequence of ints (an eager tensor too) as a tuple of Python ints."""
    if isinstance(value, Tensor):
        known = static_value(value)
        if known is None:
            raise op_error(InvalidArgumentError, op, f"{what} must be static ints, not the "
                           f"tensor {value.name!r} whose value is known only at run time")
        value = known
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, int | np.integer):
        value = (value,)
    try:
        return tuple(operator.index(v) for v in value)
    except TypeError:
        if isinstance(value, tuple | list) and any(v is None for v in value):
            msg = f"{what} {fmt_shape(tuple(value))} has unknown (None) dims; it must be fully "
            raise op_error(InvalidArgumentError, op, msg + "known" + _HINTS.get(op, "")) from None
        raise op_error(InvalidArgumentError, op,
                       f"{what} must be an int or a sequence of ints, got {value!r}") from None


def _shape(value: Any, op: str) -> tuple[int, ...]:
    """A static shape: non-negative ints."""
    shape = _ints(value, op, "shape")
    if any(d < 0 for d in shape):
        raise op_error(InvalidArgumentError, op, f"negative dim in shape {fmt_shape(shape)}")
    return shape


def _check_axis(axis: int, ndim: int) -> None:
    if not 0 <= axis < ndim:
        raise InvalidArgumentError(f"axis {axis} is out of range for a tensor of rank {ndim}")


def _tensors(values: Any, op: str) -> list[Tensor]:
    if isinstance(values, Tensor):
        values = [values]
    values = [as_tensor(v) for v in values]
    if not values:
        raise op_error(InvalidArgumentError, op, "needs at least one tensor")
    return values


def _join_dims(specs: tuple[Spec, ...], skip: int | None, what: str) -> list[int | None]:
    """The common dims of ``specs`` (all of one rank), except axis ``skip``."""
    out: list[int | None] = list(specs[0].shape)
    for s in specs[1:]:
        for i, d in enumerate(s.shape):
            if i == skip or d is None:
                continue
            if out[i] is None:
                out[i] = d
            elif out[i] != d:
                shapes = ", ".join(fmt_shape(s.shape) for s in specs)
                raise ShapeError(f"{what}: shapes {shapes} differ in axis {i}")
    return out


# ---------------------------------------------------------------------------------------------
# shape and size at run time

def _shape_infer(x: Spec) -> Spec:
    """A vector of int64: one entry per dim of the input."""
    return Spec((len(x.shape),), np.dtype(np.int64))


@register("shape", infer=_shape_infer, arity=1, shape_only=(0,))
def shape_p(xp, x):
    return xp.asarray(np.array(x.shape, np.int64))


def _size_infer(x: Spec) -> Spec:
    """An int64 scalar: the number of elements of the input."""
    return Spec((), np.dtype(np.int64))


@register("size", infer=_size_infer, arity=1, shape_only=(0,))
def size_p(xp, x):
    return xp.asarray(np.int64(x.size))


def shape(x: Any) -> Tensor:
    """The dims of ``x`` as an int64 tensor, known when the graph runs (``x.shape`` is the
    static shape, with None for a dim only a run knows) — TF's ``tf.shape``.

    >>> import numpy as np, graphexec as gx
    >>> f = gx.function(lambda x: gx.shape(x)[0] * 3,
    ...                 input_signature=[gx.TensorSpec((None, 4), "float64")])
    >>> f(np.ones((5, 4))).numpy(), f.python_function(gx.constant(np.ones((2, 4)))).numpy()
    (array(15), array(6))
    """
    return apply(shape_p, as_tensor(x))


def size(x: Any) -> Tensor:
    """The number of elements of ``x`` as an int64 scalar tensor, known when the graph runs.

    >>> import graphexec as gx
    >>> gx.size(gx.zeros((2, 3))).numpy()
    array(6)
    """
    return apply(size_p, as_tensor(x))


# ---------------------------------------------------------------------------------------------
# reshape

def _cast_infer(x: Spec, dtype: np.dtype) -> Spec:
    return Spec(x.shape, dtype)


def _cast_loop(dtypes: tuple[np.dtype, ...], out: np.dtype, attrs: Any
               ) -> tuple[np.dtype, ...] | None:
    keys = [k for k, _ in attrs]
    return dtypes if keys == ["dtype"] and np.dtype(attrs[0][1]) == out else None


def _int_range(dtype: np.dtype) -> tuple[float, float, int, int]:
    """``lo, hi, min, max`` of integer ``dtype``: a float ``x`` converts exactly (toward zero)
    when ``lo <= x < hi``; both are powers of two, exact in every float dtype."""
    info = np.iinfo(dtype)
    return float(info.min), float(info.max) + 1.0, int(info.min), int(info.max)


def _emit_cast(j: int, dt: np.dtype, a: list[str], attrs: dict[str, Any]
               ) -> tuple[list[str], str]:
    to = np.dtype(attrs["dtype"])
    if dt.kind != "f" or to.kind not in "iu":
        return [], conv(a[0], dt, to)
    lo, hi, imin, imax = _int_range(to)
    t = np_name(to)
    low = f"({imin + 1} - 1)"  # NOTE: -2**63 written as a literal would overflow int64
    return [], (f"({t}({a[0]}) if ({a[0]} >= {lo!r} and {a[0]} < {hi!r}) else "
                f"{t}({imax}) if {a[0]} > 0 else {t}({low}) if {a[0]} < 0 else {t}(0))")


@register("cast", infer=_cast_infer, kind="elementwise", arity=1,
          fusion=Fusion(_cast_loop, _emit_cast))
def cast_p(xp, x, dtype):
    if x.dtype.kind != "f" or dtype.kind not in "iu":
        return x.astype(dtype)
    # NOTE: numpy leaves a float to integer conversion of NaN, an infinity or an out-of-range
    # value undefined (and CPUs differ: x86 gives INT_MIN, CUDA and ARM saturate): graphexec
    # saturates and gives 0 for NaN on every device, as JAX does
    lo, hi, imin, imax = _int_range(dtype)
    if x.dtype.itemsize < 4:  # NOTE: the bounds overflow float16: compare in float32
        x = x.astype(np.float32)
    fits = (x >= lo) & (x < hi)
    if xp is np and fits.all():  # NOTE: no check on a GPU, which would wait for the device
        return x.astype(dtype)
    out = xp.where(fits, x, 0).astype(dtype)
    return xp.where(fits, out, xp.where(x > 0, dtype.type(imax),
                                        xp.where(x < 0, dtype.type(imin), dtype.type(0))))


def cast(x: Any, dtype: Any) -> Tensor:
    """``x`` converted to ``dtype``.  Float to int truncates toward zero, as numpy; a value
    out of the integer's range saturates to its minimum or maximum and NaN gives 0, the same
    on every device and in every mode (numpy leaves these undefined; JAX saturates too).  The
    gradient is cast back to the dtype of ``x`` when both dtypes are floats; a cast to or from
    another kind passes no gradient.

    >>> import numpy as np, graphexec as gx
    >>> gx.cast(gx.constant([1.7, -1.7]), "int32").numpy()
    array([ 1, -1], dtype=int32)
    >>> gx.cast(gx.constant([np.nan, np.inf, -1.0, 300.0]), "uint8").numpy()
    array([  0, 255,   0, 255], dtype=uint8)
    """
    return apply(cast_p, as_tensor(x), dtype=check_dtype(dtype, "cast"))


def _cast_vjp(g: Tensor, out: Tensor, x: Tensor, dtype: np.dtype) -> tuple[Tensor | None]:
    if np.dtype(x.dtype).kind != "f" or np.dtype(dtype).kind != "f":
        return (None,)
    return (cast(g, x.dtype) if g.dtype != x.dtype else g,)


defvjp(cast_p, _cast_vjp)


def _reshape_infer(x: Spec, shape: tuple[int, ...]) -> Spec:
    if sum(d == -1 for d in shape) > 1 or any(d < -1 for d in shape):
        raise InvalidArgumentError(f"bad target shape {fmt_shape(shape)}: dims must be >= 0, "
                                   "with at most one -1")
    known = math.prod(d for d in x.shape if d is not None)
    rest = math.prod(d for d in shape if d != -1)
    what = f"cannot reshape {fmt_shape(x.shape)} into {fmt_shape(shape)}"
    if None in x.shape:
        if -1 in shape:
            if rest == 0:
                raise ShapeError(f"{what}: the -1 dim is ambiguous next to a 0 dim")
            return Spec(tuple(None if d == -1 else d for d in shape), x.dtype)
        if known and rest % known:
            raise ShapeError(f"{what}: {rest} elements is not a multiple of {known}")
        return Spec(shape, x.dtype)
    if -1 in shape:
        if rest == 0 or known % rest:
            raise ShapeError(f"{what}: {known} elements do not divide into dims of {rest}")
        return Spec(tuple(known // rest if d == -1 else d for d in shape), x.dtype)
    if rest != known:
        raise ShapeError(f"{what}: {known} elements != {rest} elements")
    return Spec(shape, x.dtype)


@register("reshape", infer=_reshape_infer, arity=1)
def reshape_p(xp, x, shape):
    return xp.reshape(x, shape)


def reshape(tensor: Any, shape: Any) -> Tensor:
    """``tensor`` with a new shape of the same size; one dim may be -1 (inferred).

    >>> import numpy as np, graphexec as gx
    >>> gx.reshape(np.arange(6), (3, -1)).numpy()
    array([[0, 1],
           [2, 3],
           [4, 5]])
    """
    shape = _ints(shape, "reshape", "shape")
    return apply(reshape_p, as_tensor(tensor), shape=shape)


def _reshape_vjp(g: Tensor, out: Tensor, x: Tensor, shape: tuple[int, ...]) -> tuple[Tensor]:
    if None in x.shape:  # x's shape is known only at run time
        return (apply(reshape_like_p, g, x),)
    return (reshape(g, x.shape),)


defvjp(reshape_p, _reshape_vjp)


# ---------------------------------------------------------------------------------------------
# transpose, expand_dims, squeeze, broadcast_to, tile

def _transpose_infer(x: Spec, perm: tuple[int, ...]) -> Spec:
    if sorted(perm) != list(range(len(x.shape))):
        raise InvalidArgumentError(f"perm {perm} is not a permutation of the axes of "
                                   f"{fmt_shape(x.shape)} (rank {len(x.shape)})")
    return Spec(tuple(x.shape[p] for p in perm), x.dtype)


@register("transpose", infer=_transpose_infer, arity=1)
def transpose_p(xp, x, perm):
    return xp.transpose(x, perm)


def transpose(a: Any, perm: Any = None) -> Tensor:
    """``a`` with its axes permuted: output axis ``i`` is input axis ``perm[i]``; by default
    the axes are reversed.

    >>> import numpy as np, graphexec as gx
    >>> gx.transpose(np.zeros((2, 3, 4)), perm=(1, 0, 2)).shape
    (3, 2, 4)
    >>> gx.transpose(np.zeros((2, 3, 4))).shape
    (4, 3, 2)
    """
    x = as_tensor(a)
    if perm is None:
        perm = tuple(reversed(range(x.ndim)))
    perm = tuple(p + x.ndim if -x.ndim <= p < 0 else p for p in _ints(perm, "transpose", "perm"))
    return apply(transpose_p, x, perm=perm)


def _transpose_vjp(g: Tensor, out: Tensor, x: Tensor, perm: tuple[int, ...]) -> tuple[Tensor]:
    inverse = tuple(sorted(range(len(perm)), key=perm.__getitem__))
    return (transpose(g, inverse),)


defvjp(transpose_p, _transpose_vjp)


def _expand_dims_infer(x: Spec, axis: tuple[int, ...]) -> Spec:
    ndim = len(x.shape) + len(axis)
    if list(axis) != sorted(set(axis)) or any(not 0 <= a < ndim for a in axis):
        raise InvalidArgumentError(f"axis {axis} is out of range or repeated for a result of "
                                   f"rank {ndim}")
    dims = iter(x.shape)
    return Spec(tuple(1 if i in axis else next(dims) for i in range(ndim)), x.dtype)


@register("expand_dims", infer=_expand_dims_infer, arity=1)
def expand_dims_p(xp, x, axis):
    shape = list(x.shape)
    for a in axis:
        shape.insert(a, 1)
    return xp.reshape(x, shape)


def expand_dims(input: Any, axis: Any) -> Tensor:  # noqa: A002 - the TF name
    """``input`` with a new size-1 axis inserted at ``axis`` (an int, or a tuple as numpy).

    >>> import numpy as np, graphexec as gx
    >>> gx.expand_dims(np.zeros((2, 3)), -1).shape
    (2, 3, 1)
    """
    x = as_tensor(input)
    axes = _ints(axis, "expand_dims", "axis")
    ndim = x.ndim + len(axes)
    norm = tuple(sorted({check_axis(a, ndim, "expand_dims") for a in axes}))
    if len(norm) != len(axes):
        raise op_error(InvalidArgumentError, "expand_dims", f"repeated axis in {axis}")
    return apply(expand_dims_p, x, axis=norm)


defvjp(expand_dims_p, lambda g, out, x, axis: (squeeze(g, axis),))


def _squeeze_infer(x: Spec, axis: tuple[int, ...]) -> Spec:
    for a in axis:
        _check_axis(a, len(x.shape))
        if x.shape[a] not in (1, None):
            raise ShapeError(f"cannot squeeze axis {a} of size {x.shape[a]} in shape "
                             f"{fmt_shape(x.shape)}")
    return Spec(tuple(d for i, d in enumerate(x.shape) if i not in axis), x.dtype)


@register("squeeze", infer=_squeeze_infer, arity=1)
def squeeze_p(xp, x, axis):
    return xp.squeeze(x, axis=axis)


def squeeze(input: Any, axis: Any = None) -> Tensor:  # noqa: A002 - the TF name
    """``input`` without size-1 axes: all of them, or those in ``axis`` (an int or a tuple).

    >>> import numpy as np, graphexec as gx
    >>> gx.squeeze(np.zeros((1, 3, 1))).shape
    (3,)
    >>> gx.squeeze(np.zeros((1, 3, 1)), axis=-1).shape
    (1, 3)
    """
    x = as_tensor(input)
    if axis is None:
        if None in x.shape:
            raise op_error(InvalidArgumentError, "squeeze", f"shape {fmt_shape(x.shape)} has "
                           "unknown dims, so which axes have size 1 is unknown; pass axis=")
        axes = tuple(i for i, d in enumerate(x.shape) if d == 1)
    else:
        axes = check_axes(_ints(axis, "squeeze", "axis"), x.ndim, "squeeze", x.shape)
    return apply(squeeze_p, x, axis=axes)


defvjp(squeeze_p, lambda g, out, x, axis: (expand_dims(g, axis),))


def _broadcast_to_infer(x: Spec, shape: tuple[int, ...]) -> Spec:
    lead = len(shape) - len(x.shape)
    if lead < 0 or any(d not in (1, None, s) for d, s in zip(x.shape, shape[lead:])):
        raise ShapeError(f"cannot broadcast {fmt_shape(x.shape)} to {fmt_shape(shape)}")
    return Spec(shape, x.dtype)


@register("broadcast_to", infer=_broadcast_to_infer, arity=1)
def broadcast_to_p(xp, x, shape):
    return xp.broadcast_to(x, shape)


def broadcast_to(input: Any, shape: Any) -> Tensor:  # noqa: A002 - the TF name
    """``input`` broadcast to ``shape`` with numpy's rules.

    >>> import graphexec as gx
    >>> gx.broadcast_to([1, 2, 3], (2, 3)).numpy()
    array([[1, 2, 3],
           [1, 2, 3]])
    """
    return apply(broadcast_to_p, as_tensor(input), shape=_shape(shape, "broadcast_to"))


defvjp(broadcast_to_p, lambda g, out, x, shape: (unbroadcast(g, x),))


def _tile_infer(x: Spec, multiples: tuple[int, ...]) -> Spec:
    if any(m < 0 for m in multiples):
        raise InvalidArgumentError(f"multiples {multiples} must be >= 0")
    n = max(len(multiples), len(x.shape))
    reps = (1,) * (n - len(multiples)) + multiples
    dims = (1,) * (n - len(x.shape)) + x.shape
    return Spec(tuple(0 if r == 0 else None if d is None else d * r for d, r in zip(dims, reps)),
                x.dtype)


@register("tile", infer=_tile_infer, arity=1)
def tile_p(xp, x, multiples):
    return xp.tile(x, multiples)


def tile(input: Any, multiples: Any) -> Tensor:  # noqa: A002 - the TF name
    """``input`` repeated ``multiples[i]`` times along axis ``i``. As ``np.tile``, a shorter
    ``multiples`` is padded with leading 1s and a longer one adds leading axes.

    >>> import graphexec as gx
    >>> gx.tile([[1, 2]], (2, 2)).numpy()
    array([[1, 2, 1, 2],
           [1, 2, 1, 2]])
    """
    return apply(tile_p, as_tensor(input), multiples=_ints(multiples, "tile",
                                                                      "multiples"))


def _tile_vjp(g: Tensor, out: Tensor, x: Tensor, multiples: tuple[int, ...]) -> tuple[Tensor]:
    return (apply(tile_grad_p, g, x, multiples=multiples),)


defvjp(tile_p, _tile_vjp)


# ---------------------------------------------------------------------------------------------
# joining and splitting

def _stack_infer(*xs: Spec, axis: int) -> Spec:
    if {len(x.shape) for x in xs} != {len(xs[0].shape)}:
        raise ShapeError("shapes " + ", ".join(fmt_shape(x.shape) for x in xs)
                         + " differ in rank")
    dims = _join_dims(xs, None, "values must have one shape")
    _check_axis(axis, len(dims) + 1)
    dims.insert(axis, len(xs))
    return Spec(tuple(dims), np.result_type(*(x.dtype for x in xs)))


@register("stack", infer=_stack_infer)
def stack_p(xp, *xs, axis):
    return xp.stack(xs, axis=axis)


def stack(values: Any, axis: int = 0) -> Tensor:
    """Tensors of one shape joined along a new axis ``axis``.

    >>> import graphexec as gx
    >>> gx.stack([[1, 2], [3, 4]], axis=1).numpy()
    array([[1, 3],
           [2, 4]])
    """
    xs = _tensors(values, "stack")
    return apply(stack_p, *xs, axis=check_axis(axis, xs[0].ndim + 1, "stack"))


defvjp(stack_p, lambda g, out, *xs, axis: tuple(unstack(g, len(xs), axis)))


def _unstack_infer(x: Spec, num: int, axis: int) -> tuple[Spec, ...]:
    _check_axis(axis, len(x.shape))
    d = x.shape[axis]
    if num < 0 or d not in (None, num):
        raise ShapeError(f"num={num}, but axis {axis} of {fmt_shape(x.shape)} has size {d}")
    return (Spec(x.shape[:axis] + x.shape[axis + 1:], x.dtype),) * num


@register("unstack", infer=_unstack_infer, arity=1, n_outputs=None)
def unstack_p(xp, x, num, axis):
    if x.shape[axis] != num:
        raise ValueError(f"num={num}, but axis {axis} of the input {x.shape} has size "
                         f"{x.shape[axis]}")
    lead = (slice(None),) * axis
    return [xp.asarray(x[(*lead, i)]) for i in range(num)]


def unstack(value: Any, num: int | None = None, axis: int = 0) -> list[Tensor]:
    """The slices of ``value`` along ``axis``, as a list; ``num`` is needed when that axis's
    size is unknown until run time.

    >>> import numpy as np, graphexec as gx
    >>> [t.numpy() for t in gx.unstack(np.array([[1, 2], [3, 4]]), axis=1)]
    [array([1, 3]), array([2, 4])]
    """
    x = as_tensor(value)
    axis = check_axis(axis, x.ndim, "unstack")
    if num is None:
        num = x.shape[axis]
        if num is None:
            raise op_error(InvalidArgumentError, "unstack", f"axis {axis} of "
                           f"{fmt_shape(x.shape)} has a size unknown until run time; pass num= "
                           "to fix the number of outputs")
    return list(apply(unstack_p, x, num=operator.index(num), axis=axis))


defvjp(unstack_p, lambda g, out, x, num, axis: (stack(list(g), axis),))


def _concat_infer(*xs: Spec, axis: int) -> Spec:
    shapes = ", ".join(fmt_shape(x.shape) for x in xs)
    if {len(x.shape) for x in xs} != {len(xs[0].shape)}:
        raise ShapeError(f"shapes {shapes} differ in rank")
    if not xs[0].shape:
        raise ShapeError("0-d tensors cannot be concatenated")
    _check_axis(axis, len(xs[0].shape))
    dims = _join_dims(xs, axis, f"values must match except in axis {axis}")
    sizes = [x.shape[axis] for x in xs]
    dims[axis] = None if None in sizes else sum(type_cast("list[int]", sizes))
    return Spec(tuple(dims), np.result_type(*(x.dtype for x in xs)))


@register("concat", infer=_concat_infer)
def concat_p(xp, *xs, axis):
    return xp.concatenate(xs, axis=axis)


def concat(values: Any, axis: int) -> Tensor:
    """Tensors joined along the existing axis ``axis``.

    >>> import numpy as np, graphexec as gx
    >>> gx.concat([np.zeros((2, 1)), np.ones((2, 2))], axis=1).numpy()
    array([[0., 1., 1.],
           [0., 1., 1.]])
    """
    xs = _tensors(values, "concat")
    if xs[0].ndim == 0:
        raise op_error(ShapeError, "concat", "0-d tensors cannot be concatenated")
    return apply(concat_p, *xs, axis=check_axis(axis, xs[0].ndim, "concat"))


def _concat_vjp(g: Tensor, out: Tensor, *xs: Tensor, axis: int) -> tuple[Tensor, ...]:
    sizes = [x.shape[axis] for x in xs]
    if sizes.count(None) > 1:  # the cut points are known only at run time
        return tuple(apply(split_like_p, g, *xs, axis=axis))
    return tuple(split(g, [-1 if s is None else s for s in sizes], axis))


defvjp(concat_p, _concat_vjp)


def _split_sizes(d: int | None, splits: int | tuple[int, ...], shape: Shape,
                 axis: int) -> list[int | None]:
    """The size of each piece of axis ``axis`` (of size ``d``) split by ``splits``."""
    where = f"axis {axis} of {fmt_shape(shape)}"
    if isinstance(splits, int):
        if splits < 1:
            raise InvalidArgumentError(f"cannot split into {splits} parts")
        if d is not None and d % splits:
            raise ShapeError(f"{where} has size {d}, which does not split into {splits} "
                             "equal parts")
        return [None if d is None else d // splits] * splits
    if sum(s == -1 for s in splits) > 1 or any(s < -1 for s in splits):
        raise InvalidArgumentError(f"bad sizes {splits}: sizes must be >= 0, with at most one -1")
    fixed = sum(s for s in splits if s != -1)
    if d is None:
        return [None if s == -1 else s for s in splits]
    if -1 in splits:
        if fixed > d:
            raise ShapeError(f"sizes {splits} need at least {fixed} elements, but {where} has {d}")
        return [d - fixed if s == -1 else s for s in splits]
    if fixed != d:
        raise ShapeError(f"sizes {splits} sum to {fixed}, but {where} has size {d}")
    return list(splits)


def _split_infer(x: Spec, splits: int | tuple[int, ...], axis: int) -> tuple[Spec, ...]:
    _check_axis(axis, len(x.shape))
    sizes = _split_sizes(x.shape[axis], splits, x.shape, axis)
    return tuple(Spec((*x.shape[:axis], s, *x.shape[axis + 1:]), x.dtype) for s in sizes)


@register("split", infer=_split_infer, arity=1, n_outputs=None)
def split_p(xp, x, splits, axis):
    try:
        # a concrete array's axis has a size, so every piece does
        sizes = type_cast("list[int]", _split_sizes(x.shape[axis], splits, x.shape, axis))
    except (ShapeError, InvalidArgumentError) as e:
        raise ValueError(str(e)) from None
    lead = (slice(None),) * axis
    out, start = [], 0
    for s in sizes:
        out.append(x[(*lead, slice(start, start + s))])
        start += s
    return out


def split(value: Any, num_or_size_splits: Any, axis: int = 0) -> list[Tensor]:
    """``value`` cut along ``axis`` into ``num_or_size_splits`` equal pieces (an int), or into
    pieces of the listed sizes (one size may be -1: the rest).

    >>> import numpy as np, graphexec as gx
    >>> [t.shape for t in gx.split(np.zeros((6, 2)), 3)]
    [(2, 2), (2, 2), (2, 2)]
    >>> [t.shape for t in gx.split(np.zeros((6, 2)), [1, -1])]
    [(1, 2), (5, 2)]
    """
    x = as_tensor(value)
    axis = check_axis(axis, x.ndim, "split")
    splits: int | tuple[int, ...]
    n = num_or_size_splits
    if isinstance(n, int | np.integer) or getattr(n, "ndim", None) == 0:
        splits = operator.index(n)
        if splits < 1:
            raise op_error(InvalidArgumentError, "split", f"cannot split into {splits} parts")
    else:
        splits = _ints(n, "split", "num_or_size_splits")
    return list(apply(split_p, x, splits=splits, axis=axis))


defvjp(split_p, lambda g, out, x, splits, axis: (concat(list(g), axis),))


# ---------------------------------------------------------------------------------------------
# gather, where

def _gather_infer(params: Spec, indices: Spec, axis: int) -> Spec:
    if not np.issubdtype(indices.dtype, np.integer):
        raise DTypeError(f"indices must be integers, got {indices.dtype}")
    _check_axis(axis, len(params.shape))
    return Spec(params.shape[:axis] + indices.shape + params.shape[axis + 1:], params.dtype)


def check_indices(indices: Any, n: int, axis: int) -> None:
    """IndexError for an index outside ``[-n, n)`` (numpy's take raises; cupy's take and
    take_along_axis wrap out-of-range indices silently, so kernels check on every device)."""
    bad = (indices < -n) | (indices >= n)
    if bad.any():
        raise IndexError(f"index {int(indices[bad].ravel()[0])} is out of range for axis "
                         f"{axis} of size {n}")


@register("gather", infer=_gather_infer, arity=2)
def gather_p(xp, params, indices, axis):
    check_indices(indices, params.shape[axis], axis)
    return xp.asarray(xp.take(params, indices, axis=axis))


def gather(params: Any, indices: Any, axis: int = 0) -> Tensor:
    """The slices of ``params`` along ``axis`` at integer ``indices`` (``np.take``: negative
    indices count from the end; out-of-range ones raise at run time).

    >>> import numpy as np, graphexec as gx
    >>> gx.gather(np.array([10, 20, 30]), [[2, 0], [-1, 1]]).numpy()
    array([[30, 10],
           [30, 20]])
    """
    x = as_tensor(params)
    idx = as_tensor(indices)
    if not isinstance(indices, Tensor) and idx.dtype.kind == "f" and idx.shape == (0,):
        idx = as_tensor(indices, np.intp)  # [] is an empty index list, not float data
    return apply(gather_p, x, idx, axis=check_axis(axis, x.ndim, "gather"))


def _gather_vjp(g: Tensor, out: Tensor, params: Tensor, indices: Tensor,
                axis: int) -> tuple[Tensor, None]:
    return (apply(gather_grad_p, g, indices, params, axis=axis), None)


defvjp(gather_p, _gather_vjp)


def _where_infer(c: Spec, x: Spec, y: Spec) -> Spec:
    if c.dtype != np.bool_:
        raise DTypeError(f"condition must be bool, got {c.dtype}; compare it first "
                         "(e.g. x > 0) or cast it")
    return Spec(broadcast_shapes(c.shape, x.shape, y.shape), np.result_type(x.dtype, y.dtype))


def _where_loop(dtypes: tuple[np.dtype, ...], out: np.dtype, attrs: Any
                ) -> tuple[np.dtype, ...] | None:
    ok = not attrs and len(dtypes) == 3 and dtypes[0] == np.bool_
    return (dtypes[0], out, out) if ok and np.result_type(*dtypes[1:]) == out else None


@register("where", infer=_where_infer, kind="elementwise", arity=3,
          fusion=Fusion(_where_loop,
                        lambda j, dt, a, attrs: ([], f"({a[1]} if {a[0]} else {a[2]})")))
def where_p(xp, c, x, y):
    return xp.where(c, x, y)


def where(condition: Any, x: Any, y: Any) -> Tensor:
    """``x`` where ``condition`` is true, else ``y``, all three broadcast (``np.where``).

    >>> import graphexec as gx
    >>> gx.where(gx.constant([True, False]), [1.0, 2.0], 0.0).numpy()
    array([1., 0.], dtype=float32)
    """
    c = as_tensor(condition)
    if isinstance(x, bool | int | float | complex) and not isinstance(y, bool | int | float
                                                                      | complex):
        y = as_tensor(y)
        x = weak(x, y)
    else:
        x = as_tensor(x)
        y = weak(y, x)
    return apply(where_p, c, x, y)


def _where_vjp(g: Tensor, out: Tensor, c: Tensor, x: Tensor,
               y: Tensor) -> tuple[None, Tensor | None, Tensor | None]:
    return (None,
            unbroadcast(where(c, g, 0), x) if _float(x) else None,
            unbroadcast(where(c, 0, g), y) if _float(y) else None)


defvjp(where_p, _where_vjp)


# ---------------------------------------------------------------------------------------------
# x[key]: basic indexing. The key is normalized into a tuple of tagged tuples:
#   ("i", k) an int index, ("s", start, stop, step) a slice, ("n",) a new axis.

_FULL = ("s", None, None, 1)


def _getitem_infer(x: Spec, key: tuple[tuple, ...]) -> Spec:
    shape: list[int | None] = []
    i = 0
    for k in key:
        if k[0] == "n":
            shape.append(1)
            continue
        if i >= len(x.shape):
            n = sum(k[0] != "n" for k in key)
            raise ShapeError(f"too many indices for a tensor of rank {len(x.shape)} "
                             f"{fmt_shape(x.shape)}: {n} were given")
        d = x.shape[i]
        if k[0] == "i":
            if d is not None and not -d <= k[1] < d:
                raise ShapeError(f"index {k[1]} is out of range for axis {i} of size {d} "
                                 f"in shape {fmt_shape(x.shape)}")
        elif k[3] == 0:
            raise InvalidArgumentError("slice step cannot be zero")
        else:
            shape.append(None if d is None else len(range(d)[slice(*k[1:])]))
        i += 1
    return Spec((*shape, *x.shape[i:]), x.dtype)


def _index(k: tuple) -> Any:
    return k[1] if k[0] == "i" else None if k[0] == "n" else slice(*k[1:])


@register("getitem", infer=_getitem_infer, arity=1)
def getitem_p(xp, x, key):
    return xp.asarray(x[tuple(_index(k) for k in key)])


def _bound(v: Any) -> int | None:
    if v is None:
        return None
    if isinstance(v, Tensor | bool | np.bool_):
        raise TypeError
    return operator.index(v)


def _normalize_key(key: Any, shape: Shape) -> tuple[tuple, ...]:
    items = key if isinstance(key, tuple) else (key,)
    out: list[tuple] = []
    ellipsis = None
    for k in items:
        if k is Ellipsis:
            if ellipsis is not None:
                raise op_error(InvalidArgumentError, "getitem",
                               "an index can only have a single ellipsis ('...')")
            ellipsis = len(out)
        elif k is None:
            out.append(("n",))
        elif isinstance(k, slice):
            try:
                start, stop, step = _bound(k.start), _bound(k.stop), _bound(k.step)
            except TypeError:
                raise op_error(InvalidArgumentError, "getitem", f"slice bounds must be Python "
                               f"ints or None, got {k}; slicing by tensors is not "
                               "supported") from None
            if step == 0:
                raise op_error(InvalidArgumentError, "getitem", "slice step cannot be zero")
            out.append(("s", start, stop, 1 if step is None else step))
        elif isinstance(k, int | np.integer) and not isinstance(k, bool | np.bool_):
            out.append(("i", int(k)))
        else:
            if isinstance(k, Tensor):
                what = f"tensor {k.name!r}" if k.name else f"tensor of shape {fmt_shape(k.shape)}"
            else:
                what = f"{type(k).__name__} {k!r}"
            raise op_error(InvalidArgumentError, "getitem", f"advanced indexing with a {what} "
                           "is not supported; use gx.gather(x, indices, axis) for integer "
                           "indices, or gx.where(mask, x, y) for a boolean mask")
    if ellipsis is not None:
        n = len(shape) - sum(k[0] != "n" for k in out)
        out[ellipsis:ellipsis] = [_FULL] * max(n, 0)
    while out and out[-1] == _FULL:
        out.pop()
    return tuple(out)


def getitem(x: Any, key: Any) -> Tensor:
    """``x[key]`` with numpy's basic indexing: ints, slices, ``None`` and ``...``.

    >>> import numpy as np, graphexec as gx
    >>> x = gx.constant(np.arange(12).reshape(3, 4))
    >>> x[1:, ::-2].numpy()
    array([[ 7,  5],
           [11,  9]])
    >>> x[..., None, -1].shape
    (3, 1)
    """
    x = as_tensor(x)
    return apply(getitem_p, x, key=_normalize_key(key, x.shape))


# ---------------------------------------------------------------------------------------------
# primitives of the backward passes: each writes an incoming gradient back into the shape of
# an operand (the ``like`` input, whose value is not read, only its run-time shape)

def _grad_like_infer(g: Spec, like: Spec, expected: Shape) -> Spec:
    """The gradient of ``like``: its shape, ``g``'s dtype; ``g`` must be shaped ``expected``."""
    if not shapes_match(g.shape, expected):
        raise ShapeError(f"the gradient has shape {fmt_shape(g.shape)}, but the "
                         f"output it belongs to has shape {fmt_shape(expected)}")
    return Spec(like.shape, g.dtype)


def _reshape_like_infer(g: Spec, like: Spec) -> Spec:
    if None not in g.shape and None not in like.shape and (
            math.prod(type_cast("tuple[int, ...]", g.shape))
            != math.prod(type_cast("tuple[int, ...]", like.shape))):
        raise ShapeError(f"cannot reshape {fmt_shape(g.shape)} into {fmt_shape(like.shape)}: "
                         "the sizes differ")
    return Spec(like.shape, g.dtype)


@register("reshape_like", infer=_reshape_like_infer, arity=2, shape_only=(1,))
def reshape_like_p(xp, g, like):
    return xp.reshape(g, like.shape)


# the backward primitives: each is linear in g, so its gradient is the forward op again
defvjp(reshape_like_p, lambda g, out, x, like: (apply(reshape_like_p, g, x), None))


def _tile_grad_infer(g: Spec, like: Spec, multiples: tuple[int, ...]) -> Spec:
    return _grad_like_infer(g, like, _tile_infer(like, multiples).shape)


@register("tile_grad", infer=_tile_grad_infer, arity=2, shape_only=(1,))
def tile_grad_p(xp, g, like, multiples):
    # the sum over the tiles: axis i of g, of size reps[i] * dims[i], is cut into (reps, dims)
    n = g.ndim
    reps = (1,) * (n - len(multiples)) + tuple(multiples)
    dims = (1,) * (n - like.ndim) + like.shape
    parts = xp.reshape(g, tuple(v for rd in zip(reps, dims) for v in rd))
    return xp.reshape(parts.sum(axis=tuple(range(0, 2 * n, 2))), like.shape)


defvjp(tile_grad_p, lambda g, out, x, like, multiples: (tile(g, multiples), None))


def _split_like_infer(g: Spec, *likes: Spec, axis: int) -> tuple[Spec, ...]:
    _check_axis(axis, len(g.shape))
    if any(len(s.shape) != len(g.shape) for s in likes):
        raise ShapeError(f"the pieces {', '.join(fmt_shape(s.shape) for s in likes)} and the "
                         f"gradient {fmt_shape(g.shape)} differ in rank")
    sizes = [s.shape[axis] for s in likes]
    if None not in sizes and g.shape[axis] not in (None, sum(type_cast("list[int]", sizes))):
        raise ShapeError(f"pieces of sizes {sizes} along axis {axis} do not make up the "
                         f"gradient {fmt_shape(g.shape)}")
    return tuple(Spec((*g.shape[:axis], d, *g.shape[axis + 1:]), g.dtype) for d in sizes)


@register("split_like", infer=_split_like_infer, n_outputs=None)
def split_like_p(xp, g, *likes, axis):
    lead = (slice(None),) * axis
    out, start = [], 0
    for s in likes:
        stop = start + s.shape[axis]
        out.append(g[(*lead, slice(start, stop))])
        start = stop
    return out


defvjp(split_like_p, lambda g, out, x, *likes, axis: (concat(list(g), axis),
                                                       *(None,) * len(likes)))


def _getitem_grad_infer(g: Spec, like: Spec, key: tuple[tuple, ...]) -> Spec:
    return _grad_like_infer(g, like, _getitem_infer(like, key).shape)


@register("getitem_grad", infer=_getitem_grad_infer, arity=2, shape_only=(1,))
def getitem_grad_p(xp, g, like, key):
    out = xp.zeros(like.shape, g.dtype)
    out[tuple(_index(k) for k in key)] = g
    return out


defvjp(getitem_p, lambda g, out, x, key: (apply(getitem_grad_p, g, x, key=key),))


defvjp(getitem_grad_p, lambda g, out, x, like, key: (
    apply(getitem_p, g, key=key), None))


def _gather_grad_infer(g: Spec, indices: Spec, like: Spec, axis: int) -> Spec:
    return _grad_like_infer(g, like, _gather_infer(like, indices, axis).shape)


@register("gather_grad", infer=_gather_grad_infer, arity=3, shape_only=(2,))
def gather_grad_p(xp, g, indices, like, axis):
    # a scatter-add: repeated indices add up
    return scatter_add(xp, like.shape, (*(slice(None),) * axis, indices), g)


def scatter_add(xp: Any, shape: tuple[int, ...], key: Any, g: Any) -> Any:
    """Zeros of ``shape`` with ``g`` added at ``key`` (repeated indices add up).  cupy (>= 12;
    the cuda extra needs 13) has ``add.at`` too, the documented ``cupyx.scatter_add``, which is
    CUDA's atomicAdd with few dtypes: the others add in one it has, with the same (wrapping)
    result."""
    if xp is np or g.dtype in _ATOMIC_ADD:
        out = xp.zeros(shape, g.dtype)
        xp.add.at(out, key, g)
        return out
    if g.dtype.kind == "c":  # the real and imaginary parts, each a float scatter-add
        out = xp.empty(shape, g.dtype)
        out.real[...] = scatter_add(xp, shape, key, xp.ascontiguousarray(g.real))
        out.imag[...] = scatter_add(xp, shape, key, xp.ascontiguousarray(g.imag))
        return out
    wide = np.dtype(_ATOMIC_WIDE[g.dtype.kind if g.dtype.itemsize < 8 else g.dtype.str[1:]])
    out = xp.zeros(shape, wide)
    xp.add.at(out, key, g.astype(wide) if g.dtype.itemsize < 8 else g.view(wide))
    if g.dtype.kind == "b":
        return out != 0
    return out.astype(g.dtype) if g.dtype.itemsize < 8 else out.view(g.dtype)


#: the dtypes of CUDA's atomicAdd, which cupy's ``add.at`` takes
_ATOMIC_ADD = frozenset(np.dtype(c) for c in ("int32", "uint32", "uint64", "float16", "float32",
                                               "float64"))
#: what the others add in: narrow ints in 32 bits (wrapping back as numpy's do), int64 as the
#: same bits in uint64 (two's complement addition is the same operation)
_ATOMIC_WIDE = {"b": "int32", "i": "int32", "u": "uint32", "i8": "uint64"}


defvjp(gather_grad_p, lambda g, out, x, indices, like, axis: (
    gather(g, indices, axis), None, None))


# ---------------------------------------------------------------------------------------------
# helpers the gradient rules share (each rule stands with its op above)

def _float(x: Tensor) -> bool:
    return np.dtype(x.dtype).kind in "fc"
