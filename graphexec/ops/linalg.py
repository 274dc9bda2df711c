"""Matrix ops: matmul and the ``gx.linalg`` family."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DTypeError, ShapeError
from ..registry import REGISTRY, Spec, broadcast_shapes, fmt_shape, register, ufunc_dtype
from ..tensor import Tensor, apply, as_tensor

__all__ = ["matmul"]


def _matmul_infer(x: Spec, y: Spec) -> Spec:
    if not x.shape or not y.shape:
        what = f"{fmt_shape(x.shape)} @ {fmt_shape(y.shape)}"
        raise ShapeError(f"{what}: matmul needs operands of rank >= 1, not scalars")
    if x.dtype == np.bool_ or y.dtype == np.bool_:
        what = f"{fmt_shape(x.shape)} @ {fmt_shape(y.shape)}"
        raise DTypeError(f"{what}: matmul of bool tensors is not supported")
    k1, k2 = x.shape[-1], y.shape[-2 if len(y.shape) > 1 else -1]
    if k1 is not None and k2 is not None and k1 != k2:
        what = f"{fmt_shape(x.shape)} @ {fmt_shape(y.shape)}"
        raise ShapeError(f"{what}: inner sizes {k1} and {k2} differ")
    try:
        batch = broadcast_shapes(x.shape[:-2], y.shape[:-2])
    except ShapeError:
        what = f"{fmt_shape(x.shape)} @ {fmt_shape(y.shape)}"
        raise ShapeError(f"{what}: batch dims {fmt_shape(x.shape[:-2])} and "
                         f"{fmt_shape(y.shape[:-2])} do not broadcast") from None
    rows = x.shape[-2:-1]  # () for a vector operand, as np.matmul drops that dim
    cols = y.shape[-1:] if len(y.shape) > 1 else ()
    return Spec(batch + rows + cols, ufunc_dtype(np.matmul, x.dtype, y.dtype))


@register("matmul", infer=_matmul_infer, arity=2)
def _matmul(xp, x, y):
    return xp.matmul(x, y)


def matmul(x: Any, y: Any) -> Tensor:
    """Matrix product with ``np.matmul`` semantics: batched, broadcasting batch dims, 1-D
    operands treated as vectors.

    >>> import numpy as np, graphexec as gx
    >>> a = gx.constant(np.ones((2, 3, 4)))
    >>> gx.matmul(a, np.ones((4, 5))).shape
    (2, 3, 5)
    """
    return apply(REGISTRY["matmul"], as_tensor(x), as_tensor(y))
