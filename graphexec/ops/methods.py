"""The operators and methods of ``Tensor`` (``x + y``, ``x @ w``, ``x[1:]``, ``x.sum()``, ...):
thin calls into the op frontends, installed on the class here so that ``graphexec.tensor``
imports no op module (as JAX installs its array methods from above).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import DTypeError, op_error
from ..tensor import Tensor, as_tensor
from . import array, linalg, numpy_api
from . import math as m

__all__ = ["TensorMethods"]


class TensorMethods:
    """The definitions; ``_install`` copies them onto ``Tensor``, which names this class as its
    base for type checkers only."""

    # numpy functions on tensors: graphexec's op where it has one (``ops/numpy_api.py``)
    __array_ufunc__ = numpy_api.array_ufunc
    __array_function__ = numpy_api.array_function

    @property
    def T(self) -> Tensor:
        """The axes reversed (``transpose()``).

        >>> import graphexec as gx
        >>> gx.constant([[1, 2, 3]]).T.shape
        (3, 1)
        """
        return array.transpose(self)

    def __iter__(self) -> Iterator[Tensor]:
        t: Any = self
        if not t.shape:
            raise TypeError("iteration over a 0-d tensor")
        return iter(array.unstack(self, axis=0))

    # NOTE: the arithmetic operators call the op's dispatch directly: one Python call less
    # per eager op than through the frontends (``m.add``), which do nothing more
    def __add__(self, other: Any) -> Tensor:
        return m._binary(m.add_p, self, other)

    def __radd__(self, other: Any) -> Tensor:
        return m._binary(m.add_p, other, self)

    def __sub__(self, other: Any) -> Tensor:
        return m._binary(m.subtract_p, self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return m._binary(m.subtract_p, other, self)

    def __mul__(self, other: Any) -> Tensor:
        return m._binary(m.multiply_p, self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return m._binary(m.multiply_p, other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return m.divide(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return m.divide(other, self)

    def __floordiv__(self, other: Any) -> Tensor:
        return m.floor_divide(self, other)

    def __rfloordiv__(self, other: Any) -> Tensor:
        return m.floor_divide(other, self)

    def __mod__(self, other: Any) -> Tensor:
        return m.mod(self, other)

    def __rmod__(self, other: Any) -> Tensor:
        return m.mod(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return m.pow(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return m.pow(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return linalg.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return linalg.matmul(other, self)

    def __neg__(self) -> Tensor:
        return m.negative(self)

    def __pos__(self) -> Tensor:
        t: Any = self
        return t

    def __abs__(self) -> Tensor:
        return m.abs(self)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return m.equal(self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return m.not_equal(self, other)

    def __lt__(self, other: Any) -> Tensor:
        return m.less(self, other)

    def __le__(self, other: Any) -> Tensor:
        return m.less_equal(self, other)

    def __gt__(self, other: Any) -> Tensor:
        return m.greater(self, other)

    def __ge__(self, other: Any) -> Tensor:
        return m.greater_equal(self, other)

    def __and__(self, other: Any) -> Tensor:
        return _bitwise("&", self, other)

    def __rand__(self, other: Any) -> Tensor:
        return _bitwise("&", other, self)

    def __or__(self, other: Any) -> Tensor:
        return _bitwise("|", self, other)

    def __ror__(self, other: Any) -> Tensor:
        return _bitwise("|", other, self)

    def __xor__(self, other: Any) -> Tensor:
        return _bitwise("^", self, other)

    def __rxor__(self, other: Any) -> Tensor:
        return _bitwise("^", other, self)

    def __invert__(self) -> Tensor:
        x = as_tensor(self)
        _bit_dtypes("~", x)
        return m.logical_not(x) if x.dtype == np.bool_ else m.bitwise_not(x)

    def __getitem__(self, key: Any) -> Tensor:
        return array.getitem(self, key)

    def reshape(self, *shape: Any) -> Tensor:
        """``x.reshape(2, 3)`` or ``x.reshape((2, 3))``, as numpy.

        >>> import graphexec as gx
        >>> gx.constant([1, 2, 3, 4, 5, 6]).reshape(2, -1).numpy()
        array([[1, 2, 3],
               [4, 5, 6]])
        """
        return array.reshape(self, shape[0] if len(shape) == 1 else shape)

    def transpose(self, *perm: Any) -> Tensor:
        """``x.transpose()``, ``x.transpose(1, 0)`` or ``x.transpose((1, 0))``, as numpy.

        >>> import graphexec as gx
        >>> gx.zeros((2, 3, 4)).transpose(2, 0, 1).shape
        (4, 2, 3)
        """
        return array.transpose(self, (perm[0] if len(perm) == 1 else perm) or None)

    def squeeze(self, axis: Any = None) -> Tensor:
        """Drop axes of size 1 (all of them, or those in ``axis``); see ``gx.squeeze``.

        >>> import graphexec as gx
        >>> gx.zeros((1, 3, 1)).squeeze().shape
        (3,)
        """
        return array.squeeze(self, axis)

    def astype(self, dtype: Any) -> Tensor:
        """Converted to ``dtype``; see ``gx.cast``.

        >>> import graphexec as gx
        >>> gx.constant([1.7, -1.7]).astype("int32").numpy()
        array([ 1, -1], dtype=int32)
        """
        return m.cast(self, dtype)

    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Sum over ``axis`` (``None``: all axes); see ``gx.sum``.

        >>> import graphexec as gx
        >>> gx.constant([[1, 2], [3, 4]]).sum(axis=0).numpy()
        array([4, 6])
        """
        return m.sum(self, axis, keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Mean over ``axis`` (``None``: all axes); see ``gx.mean``.

        >>> import graphexec as gx
        >>> gx.constant([1.0, 2.0, 6.0]).mean().item()
        3.0
        """
        return m.mean(self, axis, keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Largest value over ``axis`` (``None``: all axes); see ``gx.max``."""
        return m.max(self, axis, keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Smallest value over ``axis`` (``None``: all axes); see ``gx.min``."""
        return m.min(self, axis, keepdims)

    def prod(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Product over ``axis`` (``None``: all axes); see ``gx.prod``."""
        return m.prod(self, axis, keepdims)

    def argmax(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """Index of the largest value along ``axis`` (``None``: flat index); see ``gx.argmax``.

        >>> import graphexec as gx
        >>> gx.constant([[1.0, 9.0], [5.0, 0.0]]).argmax(axis=1).numpy()
        array([1, 0])
        """
        return m.argmax(self, axis, keepdims)

    def argmin(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """Index of the smallest value along ``axis`` (``None``: flat index); see
        ``gx.argmin``."""
        return m.argmin(self, axis, keepdims)

    def clip(self, clip_value_min: Any, clip_value_max: Any) -> Tensor:
        """Values limited to ``[clip_value_min, clip_value_max]``; see ``gx.clip``.

        >>> import graphexec as gx
        >>> gx.constant([-2.0, 0.5, 3.0]).clip(0.0, 1.0).numpy()
        array([0. , 0.5, 1. ], dtype=float32)
        """
        return m.clip(self, clip_value_min, clip_value_max)


_LOGICAL = {"&": m.logical_and, "|": m.logical_or, "^": m.not_equal}
_BITWISE = {"&": m.bitwise_and, "|": m.bitwise_or, "^": m.bitwise_xor}


def _bitwise(symbol: str, x: Any, y: Any) -> Tensor:
    """``x symbol y`` as numpy computes it: logical for two bool operands, bit by bit for
    integers (a Python int joins as a weak scalar); floats are a DTypeError."""
    tx, ty = (t if isinstance(t, Tensor) else as_tensor(t) for t in (x, y))
    _bit_dtypes(symbol, tx, ty)
    if tx.dtype == np.bool_ and ty.dtype == np.bool_:
        return _LOGICAL[symbol](tx, ty)
    return _BITWISE[symbol](x, y)


def _bit_dtypes(symbol: str, *ts: Tensor) -> None:
    for t in ts:
        if np.dtype(t.dtype).kind not in "biu":
            raise op_error(DTypeError, f"operator {symbol}", f"needs integer or bool tensors, "
                           f"got {t.dtype}; for a truth value compare first (x > 0)")


def _install() -> None:
    for name, value in vars(TensorMethods).items():
        # NOTE: __hash__ too: defining __eq__ set it to None here; a Tensor hashes by identity
        if name in ("__module__", "__qualname__", "__doc__", "__dict__", "__weakref__",
                    "__hash__"):
            continue
        setattr(Tensor, name, value)


_install()
