"""Padding: ``gx.pad`` in numpy's five modes, with results identical to ``numpy.pad``.

The kernel pads one axis at a time.  "constant" allocates the filled output and assigns the
interior; the other modes gather along the axis with an integer index map,
``out = take(x, index_map(n, before, after, mode), axis)``, so the gradient is a scatter-add
of ``g`` back through the same maps (and, for "constant", the interior slice of ``g``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, ShapeError, op_error
from ..registry import Spec, defvjp, fmt_shape, register
from ..tensor import Tensor, apply, as_tensor
from .array import getitem
from .state import static_value

__all__ = ["pad"]

MODES = ("constant", "reflect", "symmetric", "edge", "wrap")


@lru_cache(maxsize=512)
def index_map(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """Source index along an axis of size ``n`` for each of the ``before + n + after`` output
    positions, in a non-constant ``mode``; wide pads repeat the pattern as numpy does.

    >>> index_map(3, 2, 2, "reflect").tolist(), index_map(3, 2, 2, "symmetric").tolist()
    ([2, 1, 0, 1, 2, 1, 0], [1, 0, 0, 1, 2, 2, 1])
    """
    i = np.arange(-before, n + after)
    if mode == "edge" or (mode == "reflect" and n == 1):  # numpy extends a size-1 axis by edge
        idx = np.clip(i, 0, n - 1)
    elif mode == "wrap":
        idx = i % n
    elif mode == "symmetric":  # period 2n: 0 1 .. n-1 n-1 .. 1 0
        j = i % (2 * n)
        idx = np.where(j < n, j, 2 * n - 1 - j)
    elif mode == "reflect":  # period 2(n-1): 0 1 .. n-1 n-2 .. 1
        j = i % (2 * n - 2)
        idx = np.where(j < n, j, 2 * n - 2 - j)
    else:
        raise ValueError(f"no index map for mode {mode!r}")
    idx.flags.writeable = False  # cached and shared
    return idx


def _check_pad_attrs(x: Spec, paddings: tuple[tuple[int, int], ...], mode: str) -> None:
    """The checks ``pad`` and its gradient share: a known mode, one pair per axis, no
    negative pad."""
    if mode not in MODES:
        raise InvalidArgumentError(f"unknown mode {mode!r}; modes are {', '.join(MODES)}")
    if len(paddings) != len(x.shape):
        raise ShapeError(f"paddings give {len(paddings)} (before, after) pair(s) for "
                         f"{fmt_shape(x.shape)}, a tensor of rank {len(x.shape)}; "
                         f"give one pair per axis")
    if any(b < 0 or a < 0 for b, a in paddings):
        raise InvalidArgumentError(f"negative paddings {paddings}")


def _pad_infer(x: Spec, paddings: tuple[tuple[int, int], ...], mode: str,
               constant_values: Any) -> Spec:
    _check_pad_attrs(x, paddings, mode)
    if mode != "constant" and constant_values is not None:
        raise InvalidArgumentError(f"constant_values is only for mode 'constant', not {mode!r}")
    for axis, (d, (b, a)) in enumerate(zip(x.shape, paddings, strict=True)):
        if d == 0 and (b or a) and mode != "constant":
            raise ShapeError(f"{fmt_shape(x.shape)}: mode {mode!r} cannot extend axis {axis} "
                             "of size 0; only 'constant' can")
    shape = tuple(None if d is None else d + b + a
                  for d, (b, a) in zip(x.shape, paddings, strict=True))
    return Spec(shape, x.dtype)


@register("pad", infer=_pad_infer, kind="opaque", arity=1)
def pad_p(xp, x, paddings, mode, constant_values):
    if mode == "constant":
        shape = tuple(d + b + a for d, (b, a) in zip(x.shape, paddings, strict=True))
        out = xp.full(shape, constant_values, dtype=x.dtype)
        out[tuple(slice(b, b + d) for d, (b, _) in zip(x.shape, paddings, strict=True))] = x
        return out
    out = x
    for axis, (b, a) in enumerate(paddings):
        if b or a:
            n = x.shape[axis]
            if n == 0:  # only reachable with dims unknown at build time
                raise ValueError(f"mode {mode!r} cannot extend axis {axis} of size 0 "
                                 f"(input shape {x.shape}); only 'constant' can")
            out = xp.take(out, xp.asarray(index_map(n, b, a, mode)), axis=axis)
    return out.copy() if out is x else out


def _pairs(paddings: Any, ndim: int) -> tuple[tuple[int, int], ...]:
    """numpy's and TF's paddings forms -> one (before, after) pair of ints per axis."""
    p = static_value(paddings)
    if p is None:
        raise op_error(InvalidArgumentError, "pad", "paddings must be known when the graph "
                       f"is built, got symbolic tensor {paddings.name!r}")
    if p.size and not np.issubdtype(p.dtype, np.integer):
        raise op_error(InvalidArgumentError, "pad",
                       f"paddings must be integers, got {p.dtype} values {p.tolist()}")
    p = p.astype(np.int64)
    if p.shape in ((), (1,)):
        return ((int(p.flat[0]),) * 2,) * ndim
    if p.shape in ((2,), (1, 2)):
        return ((int(p.flat[0]), int(p.flat[1])),) * ndim
    if p.ndim == 2 and p.shape[1] == 2:
        return tuple((int(b), int(a)) for b, a in p)
    if p.shape == (0,) and ndim == 0:  # [] : no pairs for no axes
        return ()
    raise op_error(ShapeError, "pad", f"paddings of shape {fmt_shape(p.shape)} do not fit a "
                   f"tensor of rank {ndim}: give [[before, after]] * {ndim} (shape ({ndim}, 2)), "
                   "one (before, after) pair for every axis, or one int")


def _fill_value(value: Any, dtype: np.dtype) -> Any:
    """``value`` stored into ``dtype`` exactly as ``numpy.pad`` stores it (so 0.5 in an int
    tensor truncates to 0, and 300 in uint8 wraps to 44), as a Python scalar attr."""
    v = static_value(value)
    if v is None:
        raise op_error(InvalidArgumentError, "pad", "constant_values must be known when the "
                       f"graph is built, got symbolic tensor {value.name!r}")
    v = np.asarray(v)
    if v.size != 1:
        raise op_error(InvalidArgumentError, "pad", "constant_values must be a scalar, got "
                       f"shape {fmt_shape(v.shape)}")
    out = np.empty(1, dtype)
    try:
        out[0:1] = v.ravel()[0]  # numpy.pad's own assignment
    except (TypeError, ValueError, OverflowError) as e:
        raise op_error(InvalidArgumentError, "pad",
                       f"constant_values {value!r} cannot be stored in {dtype}: {e}") from None
    return out[0].item()


def _is_zero(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and value == 0


def pad(x: Any, paddings: Any, mode: str = "constant", constant_values: Any = 0) -> Tensor:
    """Pad ``x`` with the rows and columns ``paddings`` asks for; same result as ``numpy.pad``.

    ``paddings`` is TF's ``[[before, after], ...]`` (one pair per axis), or numpy's shorthand:
    one ``(before, after)`` pair or one int for every axis.  ``mode`` (any case) is
    "constant" (fill with ``constant_values``), "reflect" (mirror without repeating the edge),
    "symmetric" (mirror repeating the edge), "edge" (repeat the edge) or "wrap" (periodic).
    Pads wider than the axis repeat the pattern, as numpy does (TF refuses them); a size-1 axis
    in "reflect" repeats its one value.  ``constant_values`` is a scalar stored in ``x``'s dtype
    the way numpy stores it (0.5 into an int tensor gives 0); a nonzero value with any other
    mode is an InvalidArgumentError, since it would be ignored.  Only "constant" can extend an
    axis of size 0; with that dim unknown at build time the check happens at run time (an
    ExecutionError naming the node).

    >>> import graphexec as gx
    >>> x = gx.constant([1, 2, 3])
    >>> gx.pad(x, [[2, 2]], "REFLECT").numpy()
    array([3, 2, 1, 2, 3, 2, 1])
    >>> gx.pad(x, 2, "symmetric").numpy()
    array([2, 1, 1, 2, 3, 3, 2])
    >>> gx.pad(x, (2, 1), constant_values=9).numpy()
    array([9, 9, 1, 2, 3, 9])
    """
    x = as_tensor(x)
    mode = mode.lower() if isinstance(mode, str) else mode
    pairs = _pairs(paddings, x.ndim)
    value = None
    if mode == "constant":
        value = _fill_value(constant_values, x.dtype)
    elif mode in MODES and not _is_zero(constant_values):
        raise op_error(InvalidArgumentError, "pad", f"constant_values={constant_values!r} is "
                       f"only for mode 'constant'; mode {mode!r} takes no fill value")
    return apply(pad_p, x, paddings=pairs, mode=mode, constant_values=value)


# ---------------------------------------------------------------------------------------------
# gradient rules: "constant" gives g's interior slice; the other modes scatter-add g back
# through the index maps with the primitive "pad_grad", whose own gradient is pad again.

@lru_cache(maxsize=512)
def _runs(n: int, before: int, after: int, mode: str) -> tuple[tuple[int, int, int, int], ...]:
    """``index_map(n, before, after, mode)`` cut into runs ``(start, stop, source, step)``:
    output positions ``start:stop`` read sources ``source, source + step, ...`` with ``step``
    -1, 0 or 1, so the scatter-add is one sliced add per run (about ``(before + after) / n``
    of them) and needs nothing but slicing from the array module.

    >>> _runs(3, 2, 2, "symmetric")
    ((0, 2, 1, -1), (2, 5, 0, 1), (5, 7, 2, -1))
    """
    idx = index_map(n, before, after, mode).tolist()
    out: list[tuple[int, int, int, int]] = []
    start = 0
    while start < len(idx):
        stop = start + 1
        step = idx[stop] - idx[start] if stop < len(idx) else 1
        if step not in (-1, 0, 1):
            step = 1
        else:
            while stop < len(idx) and idx[stop] - idx[stop - 1] == step:
                stop += 1
        out.append((start, stop, idx[start], step))
        start = stop
    return tuple(out)


def _pad_grad_infer(g: Spec, paddings: tuple[tuple[int, int], ...], mode: str,
                    constant_values: Any) -> Spec:
    _check_pad_attrs(g, paddings, mode)
    shape: list[int | None] = []
    for axis, (d, (b, a)) in enumerate(zip(g.shape, paddings, strict=True)):
        n = None if d is None else d - b - a
        if n is not None and (n < 0 or (n == 0 and (b or a) and mode != "constant")):
            raise ShapeError(f"axis {axis} of {fmt_shape(g.shape)} is too short for paddings "
                             f"({b}, {a}) in mode {mode!r}")
        shape.append(n)
    return Spec(tuple(shape), g.dtype)


@register("pad_grad", infer=_pad_grad_infer, kind="opaque", arity=1)
def pad_grad_p(xp, g, paddings, mode, constant_values):
    """Adjoint of ``pad``: the sum of ``g`` over the output positions reading each input
    element (the interior alone for "constant")."""
    if mode == "constant":
        return g[tuple(slice(b, d - a) for d, (b, a) in zip(g.shape, paddings, strict=True))]
    out = g
    for axis, (b, a) in enumerate(paddings):
        if not (b or a):
            continue
        n = out.shape[axis] - b - a
        if n <= 0:  # only reachable with dims unknown at build time
            raise ValueError(f"a gradient of shape {g.shape} is too short for paddings "
                             f"{paddings} in mode {mode!r}")
        src = xp.moveaxis(out, axis, 0)
        acc = xp.zeros((n, *src.shape[1:]), dtype=out.dtype)
        for start, stop, k, step in _runs(n, b, a, mode):
            if step == 0:
                acc[k] += src[start:stop].sum(axis=0)
            elif step == 1:
                acc[k:k + stop - start] += src[start:stop]
            else:
                acc[k - (stop - start) + 1:k + 1] += src[start:stop][::-1]
        out = xp.moveaxis(acc, 0, axis)
    return out


def _pad_vjp(g: Tensor, out: Tensor, x: Tensor, paddings: tuple[tuple[int, int], ...],
             mode: str, constant_values: Any) -> tuple[Tensor]:
    if not any(b or a for b, a in paddings):
        return (g,)
    if mode == "constant":
        return (getitem(g, tuple(slice(b, -a if a else None) for b, a in paddings)),)
    return (apply(pad_grad_p, g, paddings=paddings, mode=mode, constant_values=None),)


def _pad_grad_vjp(g: Tensor, out: Tensor, x: Tensor, paddings: tuple[tuple[int, int], ...],
                  mode: str, constant_values: Any) -> tuple[Tensor]:
    fill = 0 if mode == "constant" else None
    return (apply(pad_p, g, paddings=paddings, mode=mode, constant_values=fill),)


defvjp(pad_p, _pad_vjp)
defvjp(pad_grad_p, _pad_grad_vjp)
