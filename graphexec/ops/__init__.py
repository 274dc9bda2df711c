"""Every primitive op and its frontend function; importing this registers them all."""

from __future__ import annotations

from ..tensor import Tensor
from . import array, core, creation, linalg, math, nn, pad  # noqa: F401  (registers ops)


def _bind_operators() -> None:
    m = math

    def rev(fn):
        return lambda self, other: fn(other, self)

    ops = {
        "__add__": m.add, "__sub__": m.subtract, "__mul__": m.multiply,
        "__truediv__": m.divide, "__floordiv__": m.floor_divide, "__mod__": m.mod,
        "__pow__": m.pow, "__matmul__": linalg.matmul,
        "__eq__": m.equal, "__ne__": m.not_equal, "__lt__": m.less, "__le__": m.less_equal,
        "__gt__": m.greater, "__ge__": m.greater_equal,
    }
    for name, fn in ops.items():
        setattr(Tensor, name, fn)
    for name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul"):
        setattr(Tensor, f"__r{name}__", rev(ops[f"__{name}__"]))
    Tensor.__neg__ = m.negative
    Tensor.__pos__ = lambda self: self
    Tensor.__abs__ = m.abs
    Tensor.__getitem__ = array.getitem
    for name in ("sum", "mean", "max", "min", "prod", "argmax", "argmin", "clip"):
        setattr(Tensor, name, getattr(m, name))
    Tensor.astype = m.cast
    Tensor.squeeze = array.squeeze

    def reshape(self, *shape):
        """``x.reshape(2, 3)`` or ``x.reshape((2, 3))``, as numpy."""
        return array.reshape(self, shape[0] if len(shape) == 1 else shape)

    def transpose(self, *perm):
        """``x.transpose()``, ``x.transpose(1, 0)`` or ``x.transpose((1, 0))``, as numpy."""
        return array.transpose(self, (perm[0] if len(perm) == 1 else perm) or None)

    Tensor.reshape = reshape
    Tensor.transpose = transpose


_bind_operators()
