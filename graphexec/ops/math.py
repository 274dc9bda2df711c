"""Elementwise math, comparisons, casts and reductions."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, op_error
from ..registry import REGISTRY, Spec, elementwise_infer, register
from ..tensor import Tensor, apply, as_tensor, weak

__all__ = [
    "add", "subtract", "multiply", "divide", "floor_divide", "mod", "pow", "negative", "abs",
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "cast",
]


def _ufunc(name: str):
    """Kernel calling ufunc ``name`` of whichever array module ``xp`` is."""

    def kernel(xp, *xs):
        return getattr(xp, name)(*xs)

    kernel.__name__ = name
    return kernel


def _register_ufuncs(table: dict[str, str], arity: int, differentiable: bool = True) -> None:
    for op_name, ufunc in table.items():
        register(op_name, infer=elementwise_infer(getattr(np, ufunc)), kind="elementwise",
                 arity=arity, differentiable=differentiable)(_ufunc(ufunc))


# op name -> numpy ufunc name
_register_ufuncs({
    "add": "add", "subtract": "subtract", "multiply": "multiply", "divide": "true_divide",
    "pow": "power", "maximum": "maximum", "minimum": "minimum",
}, 2)
_register_ufuncs({"floor_divide": "floor_divide", "mod": "mod"}, 2, differentiable=False)
_register_ufuncs({
    "equal": "equal", "not_equal": "not_equal", "less": "less", "less_equal": "less_equal",
    "greater": "greater", "greater_equal": "greater_equal",
}, 2, differentiable=False)
_register_ufuncs({"negative": "negative", "abs": "absolute"}, 1)


def _binary(name: str, x: Any, y: Any) -> Tensor:
    if not isinstance(x, Tensor):
        if not isinstance(y, Tensor):
            y = as_tensor(y)
        x = weak(x, y)
    elif not isinstance(y, Tensor):
        y = weak(y, x)
    return apply(REGISTRY[name], x, y)


def add(x: Any, y: Any) -> Tensor:
    """``x + y`` elementwise, broadcasting as numpy.

    >>> import graphexec as gx
    >>> gx.add(gx.constant([1.0, 2.0]), 1.0).numpy()
    array([2., 3.])
    """
    return _binary("add", x, y)


def subtract(x: Any, y: Any) -> Tensor:
    """``x - y`` elementwise, broadcasting as numpy."""
    return _binary("subtract", x, y)


def multiply(x: Any, y: Any) -> Tensor:
    """``x * y`` elementwise, broadcasting as numpy."""
    return _binary("multiply", x, y)


def divide(x: Any, y: Any) -> Tensor:
    """``x / y`` (true division; integers give float64 as in numpy)."""
    return _binary("divide", x, y)


def floor_divide(x: Any, y: Any) -> Tensor:
    """``x // y`` elementwise."""
    return _binary("floor_divide", x, y)


def mod(x: Any, y: Any) -> Tensor:
    """``x % y`` elementwise (sign of the divisor, as numpy and Python)."""
    return _binary("mod", x, y)


def pow(x: Any, y: Any) -> Tensor:  # noqa: A001 - the TF name
    """``x ** y`` elementwise.

    >>> import graphexec as gx
    >>> gx.pow(gx.constant([2.0, 3.0]), 2).numpy()
    array([4., 9.])
    """
    return _binary("pow", x, y)


def negative(x: Any) -> Tensor:
    """``-x`` elementwise."""
    return apply(REGISTRY["negative"], as_tensor(x))


def abs(x: Any) -> Tensor:  # noqa: A001 - the TF name
    """``|x|`` elementwise."""
    return apply(REGISTRY["abs"], as_tensor(x))


def equal(x: Any, y: Any) -> Tensor:
    """``x == y`` elementwise, a bool tensor."""
    return _binary("equal", x, y)


def not_equal(x: Any, y: Any) -> Tensor:
    """``x != y`` elementwise, a bool tensor."""
    return _binary("not_equal", x, y)


def less(x: Any, y: Any) -> Tensor:
    """``x < y`` elementwise, a bool tensor."""
    return _binary("less", x, y)


def less_equal(x: Any, y: Any) -> Tensor:
    """``x <= y`` elementwise, a bool tensor."""
    return _binary("less_equal", x, y)


def greater(x: Any, y: Any) -> Tensor:
    """``x > y`` elementwise, a bool tensor."""
    return _binary("greater", x, y)


def greater_equal(x: Any, y: Any) -> Tensor:
    """``x >= y`` elementwise, a bool tensor."""
    return _binary("greater_equal", x, y)


def _cast_infer(x: Spec, dtype: np.dtype) -> Spec:
    return Spec(x.shape, dtype)


@register("cast", infer=_cast_infer, kind="elementwise", arity=1)
def _cast(xp, x, dtype):
    return x.astype(dtype)


def cast(x: Any, dtype: Any) -> Tensor:
    """``x`` converted to ``dtype`` (float to int truncates toward zero, as numpy).

    >>> import graphexec as gx
    >>> gx.cast(gx.constant([1.7, -1.7]), "int32").numpy()
    array([ 1, -1], dtype=int32)
    """
    try:
        dtype = np.dtype(dtype)
    except TypeError as e:
        raise op_error(InvalidArgumentError, "cast", f"unknown dtype {dtype!r}") from e
    return apply(REGISTRY["cast"], as_tensor(x), dtype=dtype)
