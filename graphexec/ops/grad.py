"""Primitives the gradient rules are built from: reduce a gradient to an operand's shape, or
broadcast it back out, with shapes read at run time (so unknown dims work), and
``stop_gradient``."""

from __future__ import annotations

from ..registry import REGISTRY, Spec, defvjp, register
from ..tensor import Tensor, apply

__all__: list[str] = []


def _like_infer(g: Spec, like: Spec) -> Spec:
    return Spec(like.shape, g.dtype)


@register("sum_to_like", infer=_like_infer, kind="reduction", arity=2)
def _sum_to_like(xp, g, like):
    shape = like.shape
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    out = g.sum(axis=tuple(range(lead))) if lead else g
    axes = tuple(i for i, d in enumerate(shape) if d == 1 and out.shape[i] != 1)
    return out.sum(axis=axes, keepdims=True) if axes else out


@register("broadcast_like", infer=_like_infer, arity=2)
def _broadcast_like(xp, g, like):
    return xp.broadcast_to(g, like.shape)


@register("stop_gradient", infer=lambda x: Spec(x.shape, x.dtype), kind="elementwise",
          arity=1, differentiable=False)
def _stop_gradient(xp, x):
    return x


def unbroadcast(g: Tensor, x: Tensor) -> Tensor:
    """``g`` summed over the axes along which ``x`` was broadcast, to ``x``'s shape."""
    if g.shape == x.shape and None not in g.shape:
        return g
    return apply(REGISTRY["sum_to_like"], g, x)


def broadcast_like(g: Tensor, x: Tensor) -> Tensor:
    """``g`` broadcast to ``x``'s shape (read at run time)."""
    if g.shape == x.shape and None not in g.shape:
        return g
    return apply(REGISTRY["broadcast_like"], g, x)


defvjp("sum_to_like", lambda g, out, x, like: (broadcast_like(g, x), None))
defvjp("broadcast_like", lambda g, out, x, like: (unbroadcast(g, x), None))
