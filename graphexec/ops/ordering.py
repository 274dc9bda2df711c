"""Ops along one axis: ``cumsum``, ``cumprod``, ``sort``, ``argsort``, ``top_k``; and
``einsum``.

>>> import graphexec as gx
>>> gx.cumsum(gx.constant([1.0, 2.0, 3.0])).numpy(), gx.sort(gx.constant([3, 1, 2])).numpy()
(array([1., 3., 6.], dtype=float32), array([1, 2, 3]))
"""

from __future__ import annotations

import operator
import re
from typing import Any

import numpy as np

from ..checks import check_axis
from ..errors import DTypeError, InvalidArgumentError, ShapeError, op_error
from ..registry import Spec, defvjp, fmt_shape, refuse_vjp, register
from ..tensor import Tensor, apply, as_tensor
from . import math as m
from .array import check_indices, scatter_add
from .creation import zeros_like

__all__ = ["cumsum", "cumprod", "sort", "argsort", "top_k", "take_along_axis", "einsum"]


# -- cumulative sums and products -----------------------------------------------------------------
def _cum_infer(x: Spec, axis: int, reverse: bool) -> Spec:
    """The input's spec (integers and bools accumulate in numpy's dtype for them)."""
    if not 0 <= axis < max(len(x.shape), 1):
        raise InvalidArgumentError(f"axis {axis} is out of range for {fmt_shape(x.shape)}")
    return Spec(x.shape, np.cumsum(np.zeros(1, x.dtype)).dtype)


def _flip(xp: Any, x: Any, axis: int, reverse: bool) -> Any:
    return xp.flip(x, axis) if reverse else x


@register("cumsum", infer=_cum_infer, arity=1)
def cumsum_p(xp, x, axis, reverse):
    return _flip(xp, xp.cumsum(_flip(xp, x, axis, reverse), axis=axis), axis, reverse)


@register("cumprod", infer=_cum_infer, arity=1)
def cumprod_p(xp, x, axis, reverse):
    return _flip(xp, xp.cumprod(_flip(xp, x, axis, reverse), axis=axis), axis, reverse)


def _cum(op: Any, x: Any, axis: int, reverse: bool) -> Tensor:
    t = as_tensor(x)
    if t.ndim == 0:
        raise op_error(ShapeError, op.name, "needs at least one axis")
    return apply(op, t, axis=check_axis(axis, t.ndim, op.name, t.shape), reverse=bool(reverse))


def cumsum(x: Any, axis: int = 0, reverse: bool = False) -> Tensor:
    """The running sums along ``axis`` (from the end with ``reverse``), as ``np.cumsum`` and
    ``tf.math.cumsum``.

    >>> import graphexec as gx
    >>> gx.cumsum(gx.constant([[1, 2], [3, 4]]), axis=1, reverse=True).numpy()
    array([[3, 2],
           [7, 4]])
    """
    return _cum(cumsum_p, x, axis, reverse)


def cumprod(x: Any, axis: int = 0, reverse: bool = False) -> Tensor:
    """The running products along ``axis`` (from the end with ``reverse``).  Its gradient is
    exact where ``x`` has zeros too (no division by ``x``).

    >>> import graphexec as gx
    >>> gx.cumprod(gx.constant([2.0, 3.0, 0.5])).numpy()
    array([2., 6., 3.], dtype=float32)
    """
    return _cum(cumprod_p, x, axis, reverse)


defvjp(cumsum_p, lambda g, out, x, axis, reverse: (cumsum(g, axis, not reverse),))


def _cumprod_grad_infer(g: Spec, x: Spec, axis: int, reverse: bool) -> Spec:
    """The input's spec."""
    return x


@register("cumprod_grad", infer=_cumprod_grad_infer, arity=2)
def cumprod_grad_p(xp, g, x, axis, reverse):
    # NOTE: d out_j / d x_i = prod_{k <= j, k != i} x_k (i <= j): the running product before
    # i times S_i = g_i + x_{i+1} S_{i+1}, a reverse recurrence; no division, so zeros are exact
    xt, gt = xp.moveaxis(x, axis, 0), xp.moveaxis(g, axis, 0)
    if reverse:
        xt, gt = xt[::-1], gt[::-1]
    n = xt.shape[0]
    out = xp.empty(xt.shape, np.result_type(xt.dtype, gt.dtype))
    before = xp.ones(xt.shape[1:], out.dtype)
    exclusive = xp.empty_like(out)
    for i in range(n):
        exclusive[i] = before
        before = before * xt[i]
    s = xp.zeros(xt.shape[1:], out.dtype)
    for i in range(n - 1, -1, -1):
        s = gt[i] + (xt[i + 1] * s if i + 1 < n else 0)
        out[i] = exclusive[i] * s
    if reverse:
        out = out[::-1]
    return xp.ascontiguousarray(xp.moveaxis(out, 0, axis)).astype(x.dtype)


def _cumprod_vjp(g: Tensor, out: Tensor, x: Tensor, axis: int, reverse: bool
                 ) -> tuple[Tensor]:
    return (apply(cumprod_grad_p, g, x, axis=axis, reverse=reverse),)


refuse_vjp(cumprod_grad_p, "is the gradient of cumprod: it has no gradient of its own yet")
defvjp(cumprod_p, _cumprod_vjp)


# -- sorting --------------------------------------------------------------------------------------
def _sort_infer(x: Spec, axis: int, descending: bool) -> Spec:
    """The input's spec."""
    if not 0 <= axis < len(x.shape):
        raise InvalidArgumentError(f"axis {axis} is out of range for {fmt_shape(x.shape)}")
    if x.dtype.kind == "c":
        raise DTypeError("complex values have no order")
    return x


def _argsort_infer(x: Spec, axis: int, descending: bool) -> Spec:
    """int64 positions, of the input's shape."""
    return Spec(_sort_infer(x, axis, descending).shape, np.dtype(np.int64))


@register("argsort", infer=_argsort_infer, arity=1)
def argsort_p(xp, x, axis, descending):
    # NOTE: stable both ways (ties keep their order); NaN sorts last ascending, first descending
    if descending:
        n = x.shape[axis]
        idx = xp.argsort(xp.flip(x, axis), axis=axis, kind="stable")
        return (n - 1 - xp.flip(idx, axis)).astype(np.int64)
    return xp.argsort(x, axis=axis, kind="stable").astype(np.int64)


@register("sort", infer=_sort_infer, arity=1)
def sort_p(xp, x, axis, descending):
    return xp.take_along_axis(x, argsort_p.kernel(xp, x, axis, descending), axis=axis)


def _sorted(op: Any, x: Any, axis: int, descending: bool) -> Tensor:
    t = as_tensor(x)
    if t.ndim == 0:
        raise op_error(ShapeError, op.name, "needs at least one axis")
    return apply(op, t, axis=check_axis(axis, t.ndim, op.name, t.shape),
                 descending=bool(descending))


def sort(x: Any, axis: int = -1, descending: bool = False) -> Tensor:
    """``x`` sorted along ``axis`` (stable; NaN last, as numpy); gradients flow back to the
    positions the values came from.

    >>> import graphexec as gx
    >>> gx.sort(gx.constant([[3.0, 1.0, 2.0]]), descending=True).numpy()
    array([[3., 2., 1.]], dtype=float32)
    """
    return _sorted(sort_p, x, axis, descending)


def argsort(x: Any, axis: int = -1, descending: bool = False) -> Tensor:
    """The int64 positions that sort ``x`` along ``axis`` (stable: equal values keep their
    order, descending too).

    >>> import graphexec as gx
    >>> gx.argsort(gx.constant([3.0, 1.0, 3.0, 2.0]), descending=True).numpy()
    array([0, 2, 3, 1])
    """
    return _sorted(argsort_p, x, axis, descending)


def _take_infer(x: Spec, indices: Spec, axis: int) -> Spec:
    """The indices' shape, the values' dtype (numpy's ``take_along_axis``)."""
    if indices.dtype.kind not in "iu":
        raise DTypeError(f"indices must be integers, got {indices.dtype}")
    if len(indices.shape) != len(x.shape) or not 0 <= axis < len(x.shape):
        raise ShapeError(f"indices {fmt_shape(indices.shape)} must have the rank of "
                         f"{fmt_shape(x.shape)} and axis {axis} be one of its axes")
    for d, (a, b) in enumerate(zip(x.shape, indices.shape, strict=True)):
        if d != axis and None not in (a, b) and a != b:  # NOTE: numpy would broadcast them
            raise ShapeError(f"indices {fmt_shape(indices.shape)} and values "
                             f"{fmt_shape(x.shape)} differ in dim {d}, which is not the axis "
                             f"{axis}; they must agree there (nothing is broadcast)")
    return Spec(tuple(b if d == axis or a is None else a
                      for d, (a, b) in enumerate(zip(x.shape, indices.shape, strict=True))),
                x.dtype)


@register("take_along_axis", infer=_take_infer, arity=2)
def take_along_axis_p(xp, x, indices, axis):
    check_indices(indices, x.shape[axis], axis)
    # NOTE: dims unknown when the graph was built are checked now: numpy would broadcast them
    # (a ValueError: the executor names the node)
    try:
        _take_infer(Spec(x.shape, x.dtype), Spec(indices.shape, indices.dtype), axis)
    except ShapeError as e:
        raise ValueError(str(e)) from None
    return xp.take_along_axis(x, indices, axis=axis)


def _take_grad_infer(g: Spec, indices: Spec, like: Spec, axis: int) -> Spec:
    """The values' spec, in the gradient's dtype."""
    return Spec(like.shape, g.dtype)


@register("take_along_axis_grad", infer=_take_grad_infer, arity=3, shape_only=(2,))
def take_along_axis_grad_p(xp, g, indices, like, axis):
    grid = [xp.asarray(k) for k in np.ix_(*[np.arange(d) for d in indices.shape])]
    grid[axis] = indices
    return scatter_add(xp, like.shape, tuple(grid), g)


def take_along_axis(x: Any, indices: Any, axis: int) -> Tensor:
    """Values of ``x`` at ``indices`` along ``axis`` (``np.take_along_axis``; out-of-range
    indices are an error when it runs).

    >>> import graphexec as gx
    >>> gx.take_along_axis(gx.constant([[10, 20, 30]]), gx.constant([[2, 0]]), 1).numpy()
    array([[30, 10]])
    """
    t, idx = as_tensor(x), as_tensor(indices)
    return apply(take_along_axis_p, t, idx, axis=check_axis(axis, t.ndim, "take_along_axis",
                                                            t.shape))


defvjp(take_along_axis_p, lambda g, out, x, indices, axis: (
    apply(take_along_axis_grad_p, g, indices, x, axis=axis), None))
defvjp(take_along_axis_grad_p, lambda g, out, gin, indices, like, axis: (
    take_along_axis(g, indices, axis), None, None))
defvjp(sort_p, lambda g, out, x, axis, descending: (
    take_along_axis(g, argsort(argsort(x, axis, descending), axis), axis),))


def top_k(x: Any, k: int) -> tuple[Tensor, Tensor]:
    """The ``k`` largest values along the last axis, largest first, and their int64
    positions (``tf.math.top_k``; on ties, the earlier position first).

    >>> import graphexec as gx
    >>> values, indices = gx.top_k(gx.constant([1.0, 5.0, 3.0, 5.0]), 2)
    >>> values.numpy(), indices.numpy()
    (array([5., 5.], dtype=float32), array([1, 3]))
    """
    t = as_tensor(x)
    if t.ndim == 0:
        raise op_error(ShapeError, "top_k", "needs at least one axis")
    k = operator.index(k)
    n = t.shape[-1]
    if k < 0 or (n is not None and k > n):
        raise op_error(InvalidArgumentError, "top_k", f"k={k} is outside [0, {n}] for the last "
                       f"axis of {fmt_shape(t.shape)}")
    idx = argsort(t, -1, descending=True)[..., :k]
    return take_along_axis(t, idx, t.ndim - 1), idx


# -- einsum ---------------------------------------------------------------------------------------
_SPEC = re.compile(r"^([a-zA-Z]*(?:,[a-zA-Z]*)*)->([a-zA-Z]*)$")


def _einsum_parse(spec: str, n: int) -> tuple[list[str], str]:
    s = spec.replace(" ", "")
    if "->" not in s:  # numpy's implicit output: the letters seen once, sorted
        letters = s.replace(",", "")
        s = f"{s}->{''.join(sorted(c for c in set(letters) if letters.count(c) == 1))}"
    hit = _SPEC.match(s)
    if hit is None:
        raise InvalidArgumentError(f"spec {spec!r}: write letters like 'ij,jk->ik' (no "
                                   "ellipsis)")
    ins, out = hit.group(1).split(","), hit.group(2)
    if len(ins) != n:
        raise InvalidArgumentError(f"spec {spec!r} names {len(ins)} operands, got {n}")
    if len(set(out)) != len(out) or any(c not in "".join(ins) for c in out):
        raise InvalidArgumentError(f"spec {spec!r}: each output letter once, and from an input")
    return ins, out


def _einsum_infer(*xs: Spec, spec: str) -> Spec:
    """Each letter one size across the operands; the output in numpy's result dtype."""
    ins, out = _einsum_parse(spec, len(xs))
    sizes: dict[str, int | None] = {}
    for sub, x in zip(ins, xs, strict=True):
        if len(sub) != len(x.shape):
            raise ShapeError(f"spec {spec!r}: {sub!r} names {len(sub)} dims of "
                             f"{fmt_shape(x.shape)}")
        if len(set(sub)) != len(sub):
            raise InvalidArgumentError(f"spec {spec!r}: a letter twice in one operand ({sub!r}; "
                                       "diagonals are not supported)")
        for c, d in zip(sub, x.shape, strict=True):
            known = sizes.get(c)
            if known is not None and d is not None and known != d:
                raise ShapeError(f"spec {spec!r}: {c!r} is {known} and {d}")
            if known is None:
                sizes[c] = d
    dtype = np.result_type(*[x.dtype for x in xs])
    return Spec(tuple(sizes[c] for c in out), dtype)


@register("einsum", infer=_einsum_infer)
def einsum_p(xp, *xs, spec):
    return xp.asarray(xp.einsum(spec, *xs))


def einsum(spec: str, *operands: Any) -> Tensor:
    """Einstein summation, as ``np.einsum`` (letters and ``->``; no ellipsis or diagonals):
    ``gx.einsum("ij,jk->ik", a, b)`` is ``a @ b``.  Each operand's gradient is an einsum too.

    >>> import graphexec as gx
    >>> gx.einsum("ij,j->i", gx.constant([[1.0, 2.0], [3.0, 4.0]]), gx.constant([1.0, 1.0])
    ...           ).numpy()
    array([3., 7.], dtype=float32)
    """
    xs = [as_tensor(x) for x in operands]
    if not isinstance(spec, str):
        raise op_error(InvalidArgumentError, "einsum", f"spec must be a string, got "
                       f"{type(spec).__name__}")
    ins, out = _checked_parse(spec, len(xs))
    return apply(einsum_p, *xs, spec=f"{','.join(ins)}->{out}")


def _checked_parse(spec: str, n: int) -> tuple[list[str], str]:
    try:
        return _einsum_parse(spec, n)
    except InvalidArgumentError as e:
        raise op_error(InvalidArgumentError, "einsum", str(e)) from None


def _einsum_vjp(g: Tensor, out: Tensor, *xs: Tensor, spec: str) -> tuple[Any, ...]:
    ins, res = _einsum_parse(spec, len(xs))
    grads: list[Any] = []
    for i, x in enumerate(xs):
        others = [s for j, s in enumerate(ins) if j != i]
        # NOTE: letters of x not in the output nor the others are summed over in the forward
        # pass: their gradient is broadcast back (a ones of x's shape carries them)
        missing = [c for c in ins[i] if c not in res and not any(c in s for s in others)]
        args = [g, *(xs[j] for j in range(len(xs)) if j != i)]
        subs = [res, *others]
        if missing:
            args.append(m.add(zeros_like(x), 1.0))
            subs.append(ins[i])
        gi = einsum(f"{','.join(subs)}->{ins[i]}", *args)
        grads.append(gi if gi.dtype == x.dtype else m.cast(gi, x.dtype))
    return tuple(grads)


defvjp(einsum_p, _einsum_vjp)
