"""Primitives the gradient rules are built from: reduce a gradient to an operand's shape, or
broadcast it back out, with shapes read at run time (so unknown dims work), and
``stop_gradient``."""

from __future__ import annotations

from typing import Any

from ..fusable import Fusion, same_loop
from ..registry import Spec, defvjp, register
from ..tensor import Tensor, apply, as_tensor

__all__ = ["unbroadcast", "broadcast_like", "stop_gradient"]


def _like_infer(g: Spec, like: Spec) -> Spec:
    return Spec(like.shape, g.dtype)


@register("sum_to_like", infer=_like_infer, kind="reduction", arity=2, shape_only=(1,))
def sum_to_like_p(xp, g, like):
    shape = like.shape
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    out = g.sum(axis=tuple(range(lead))) if lead else g
    axes = tuple(i for i, d in enumerate(shape) if d == 1 and out.shape[i] != 1)
    return out.sum(axis=axes, keepdims=True) if axes else out


@register("broadcast_like", infer=_like_infer, arity=2, shape_only=(1,))
def broadcast_like_p(xp, g, like):
    return xp.broadcast_to(g, like.shape)


@register("stop_gradient", infer=lambda x: Spec(x.shape, x.dtype), kind="elementwise",
          arity=1, fusion=Fusion(same_loop, lambda j, dt, a, attrs: ([], a[0])))
def stop_gradient_p(xp, x):
    return x


def stop_gradient(x: Any) -> Tensor:
    """``x`` unchanged, but no gradient flows back through it (``tf.stop_gradient``).

    >>> import graphexec as gx
    >>> x = gx.constant(2.0)
    >>> with gx.GradientTape() as tape:
    ...     tape.watch(x)
    ...     y = x * gx.stop_gradient(x)
    >>> tape.gradient(y, x).numpy()
    array(2., dtype=float32)
    """
    return apply(stop_gradient_p, as_tensor(x))


def unbroadcast(g: Tensor, x: Tensor) -> Tensor:
    """``g`` summed over the axes along which ``x`` was broadcast, to ``x``'s shape."""
    if g.shape == x.shape and None not in g.shape:
        return g
    return apply(sum_to_like_p, g, x)


def broadcast_like(g: Tensor, x: Tensor) -> Tensor:
    """``g`` broadcast to ``x``'s shape (read at run time)."""
    if g.shape == x.shape and None not in g.shape:
        return g
    return apply(broadcast_like_p, g, x)


defvjp(sum_to_like_p, lambda g, out, x, like: (broadcast_like(g, x), None))
defvjp(broadcast_like_p, lambda g, out, x, like: (unbroadcast(g, x), None))
