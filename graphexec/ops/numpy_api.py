"""numpy functions on tensors: ``np.exp(t)``, ``np.sum(t, axis=0)``, ``ndarray + t``.

One rule for all of them.  A numpy ufunc or function called on tensors runs graphexec's op
where graphexec has one for it (``UFUNCS`` and ``FUNCTIONS``): the result is a Tensor, the same
eagerly and in a graph (where it adds a node), and gradient tapes record it.  A numpy argument
that op does not take (``out=``, ``where=``, a reduction's ``dtype=``) is an
InvalidArgumentError naming it.  Any other numpy function (``np.isnan``, ``np.allclose``,
``np.add.reduce``), and a ufunc writing into a numpy array (``out=``, ``ndarray += t``), reads
eager tensors as arrays and returns numpy's result, as it would for ``t.numpy()``; on a graph
tensor, which has no value yet, it is a GraphError.  ``np.asarray(t)``
is always numpy's array of the value.

>>> import numpy as np, graphexec as gx
>>> t = gx.constant([1.0, 4.0])
>>> np.sqrt(t), np.sum(t, axis=0), np.ones(2) + t
(Tensor([1., 2.], shape=(2,), dtype=float32), Tensor(5., shape=(), dtype=float32), \
Tensor([2., 5.], shape=(2,), dtype=float64))
>>> np.isnan(t)
array([False, False])
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import tree
from ..errors import GraphError, InvalidArgumentError, user_location
from ..tensor import Tensor, as_tensor
from . import array, creation, linalg
from . import math as m

__all__ = ["UFUNCS", "FUNCTIONS", "array_ufunc", "array_function"]

#: numpy ufuncs graphexec runs as its own ops
UFUNCS: dict[np.ufunc, Callable[..., Tensor]] = {
    np.add: m.add, np.subtract: m.subtract, np.multiply: m.multiply, np.divide: m.divide,
    np.floor_divide: m.floor_divide, np.remainder: m.mod, np.power: m.pow,
    np.maximum: m.maximum, np.minimum: m.minimum, np.negative: m.negative,
    np.absolute: m.abs, np.sign: m.sign, np.square: m.square, np.sqrt: m.sqrt,
    np.reciprocal: m.reciprocal, np.exp: m.exp, np.expm1: m.expm1, np.log: m.log,
    np.log1p: m.log1p, np.sin: m.sin, np.cos: m.cos, np.tan: m.tan, np.tanh: m.tanh,
    np.equal: m.equal, np.not_equal: m.not_equal, np.less: m.less,
    np.less_equal: m.less_equal, np.greater: m.greater, np.greater_equal: m.greater_equal,
    np.logical_and: m.logical_and, np.logical_or: m.logical_or, np.logical_not: m.logical_not,
    np.matmul: linalg.matmul,
    # the bool operators: logical on bool tensors, an error on others (as ``t & u``)
    np.bitwise_and: lambda x, y: as_tensor(x) & y, np.bitwise_or: lambda x, y: as_tensor(x) | y,
    np.bitwise_xor: lambda x, y: as_tensor(x) ^ y, np.invert: lambda x: ~as_tensor(x),
}

def _where(condition: Any, x: Any = None, y: Any = None) -> Tensor:
    if x is None or y is None:
        raise InvalidArgumentError(f"np.where: graphexec's where takes a condition and both "
                                   f"branches; for the indices of np.where(condition), use "
                                   f"np.nonzero(t.numpy()) — at {user_location()}")
    return array.where(condition, x, y)


def _clip(a: Any, lo: Any = None, hi: Any = None) -> Tensor:
    """numpy's clip: ``minimum(maximum(a, lo), hi)``, either bound None (not both)."""
    if lo is None and hi is None:
        raise InvalidArgumentError(f"np.clip: give a_min or a_max — at {user_location()}")
    out = a if lo is None else m.maximum(a, lo)
    return out if hi is None else m.minimum(out, hi)


def _concatenate(arrays: Any, axis: Any = 0) -> Tensor:
    if axis is None:  # numpy flattens every array first
        return array.concat([array.reshape(a, (-1,)) for a in arrays], 0)
    return array.concat(list(arrays), axis)


def _tile(a: Any, reps: Any) -> Tensor:
    """numpy's tile: ``reps`` shorter than ``a``'s rank repeats the last axes; longer, ``a``
    takes leading axes of size 1."""
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    t = as_tensor(a)
    for _ in range(len(reps) - t.ndim):
        t = array.expand_dims(t, 0)
    return array.tile(t, (1,) * (t.ndim - len(reps)) + reps)


def _split(ary: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    if not isinstance(indices_or_sections, int):
        raise InvalidArgumentError(f"np.split: graphexec splits into equal sections or by "
                                   f"sizes (gx.split), not at indices "
                                   f"{indices_or_sections!r} — at {user_location()}")
    return array.split(ary, indices_or_sections, axis)


def _round(a: Any, decimals: int = 0) -> Tensor:
    if decimals != 0:
        raise InvalidArgumentError(f"np.round: graphexec's round takes no decimals= (got "
                                   f"{decimals!r}) — at {user_location()}")
    return m.round(a)


_REDUCE: dict[str, int | str] = {"a": 0, "axis": "axis", "keepdims": "keepdims"}
_REDUCTIONS: list[tuple[Callable[..., Any], Callable[..., Any]]] = [
    (np.sum, m.sum), (np.mean, m.mean), (np.max, m.max), (np.amax, m.max), (np.min, m.min),
    (np.amin, m.min), (np.prod, m.prod), (np.all, m.all), (np.any, m.any),
    (np.argmax, m.argmax), (np.argmin, m.argmin)]
#: numpy functions graphexec runs as its own: the op, and where each numpy parameter it takes
#: goes (0: the first positional argument, else a keyword of the op)
FUNCTIONS: dict[Callable[..., Any], tuple[Callable[..., Any], dict[str, int | str]]] = {
    **{f: (g, _REDUCE) for f, g in _REDUCTIONS},
    np.transpose: (array.transpose, {"a": 0, "axes": "perm"}),
    np.reshape: (array.reshape, {"a": 0, "shape": "shape"}),
    np.concatenate: (_concatenate, {"arrays": 0, "axis": "axis"}),
    np.tile: (_tile, {"A": 0, "reps": "reps"}),
    np.split: (_split, {"ary": 0, "indices_or_sections": "indices_or_sections",
                        "axis": "axis"}),
    np.round: (_round, {"a": 0, "decimals": "decimals"}),
    np.around: (_round, {"a": 0, "decimals": "decimals"}),
    np.linalg.inv: (linalg.inv, {"a": 0}),
    np.linalg.det: (linalg.det, {"a": 0}),
    np.linalg.solve: (linalg.solve, {"a": 0, "b": "b"}),
    np.stack: (array.stack, {"arrays": 0, "axis": "axis"}),
    np.expand_dims: (array.expand_dims, {"a": 0, "axis": "axis"}),
    np.squeeze: (array.squeeze, {"a": 0, "axis": "axis"}),
    np.broadcast_to: (array.broadcast_to, {"array": 0, "shape": "shape"}),
    np.clip: (_clip, {"a": 0, "a_min": "lo", "a_max": "hi", "min": "lo", "max": "hi"}),
    np.where: (_where, {"condition": 0, "x": "x", "y": "y"}),
    np.zeros_like: (creation.zeros_like, {"a": 0, "dtype": "dtype"}),
    np.ones_like: (creation.ones_like, {"a": 0, "dtype": "dtype"}),
}
_SIGNATURES: dict[Callable[..., Any], inspect.Signature] = {}
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)




def _numpy_fallback(name: str, func: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    """``func`` run by numpy on the values of eager tensors; refused on graph tensors."""
    for v in tree.leaves((args, kwargs)):
        if isinstance(v, Tensor) and v._graph is not None:
            raise GraphError(f"np.{name} on graph tensor {v.name!r}: graphexec has no op for "
                             f"it, and a graph tensor has no value until the graph runs; use "
                             f"a gx function, or np.{name} on the fetched result — at "
                             f"{user_location()}")
    out = kwargs.get("out")
    if any(isinstance(v, Tensor) for v in tree.leaves(out)):
        raise InvalidArgumentError(f"np.{name}: out= cannot be a Tensor (tensors are "
                                   f"immutable) — at {user_location()}")
    values = tree.map_leaves(lambda v: v.numpy() if isinstance(v, Tensor) else v,
                             (args, kwargs))
    return func(*values[0], **values[1])


def array_ufunc(self: Any, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
    """``Tensor.__array_ufunc__``: the op of ``ufunc`` (see the module docstring)."""
    op = UFUNCS.get(ufunc)
    if op is None or method != "__call__" or "out" in kwargs:  # (ndarray += t: numpy's)
        name = ufunc.__name__ + ("" if method == "__call__" else f".{method}")
        return _numpy_fallback(name, getattr(ufunc, method), inputs, kwargs)
    if kwargs:
        raise InvalidArgumentError(f"np.{ufunc.__name__}: graphexec's op takes no "
                                   f"{', '.join(k + '=' for k in kwargs)}; convert with "
                                   f"t.numpy() to use numpy's — at {user_location()}")
    return op(*inputs)


def array_function(self: Any, func: Callable[..., Any], types: Any, args: Any,
                   kwargs: Any) -> Any:
    """``Tensor.__array_function__``: graphexec's function for ``func`` (module docstring)."""
    name = getattr(func, "__name__", repr(func))
    module = getattr(func, "__module__", None) or "numpy"
    if module.startswith("numpy.") and not module.startswith("numpy._"):
        name = f"{module[6:]}.{name}"  # np.linalg.inv, not np.inv
    entry = FUNCTIONS.get(func)
    if entry is None:
        return _numpy_fallback(name, func, args, kwargs)
    op, takes = entry
    sig = _SIGNATURES.get(func)
    if sig is None:
        sig = _SIGNATURES[func] = inspect.signature(func)
    bound = sig.bind(*args, **kwargs)
    bound.apply_defaults()
    first: Any = None
    keywords: dict[str, Any] = {}
    for param, value in bound.arguments.items():
        default = sig.parameters[param].default
        if value is np._NoValue or (sig.parameters[param].kind in _VARIADIC and not value):
            continue
        where = takes.get(param)
        if where is None:
            if value is default or (_plain(value) and value == default):
                continue
            raise InvalidArgumentError(f"np.{name}: graphexec's {op.__name__} takes no "
                                       f"{param}= (got {value!r}); convert with t.numpy() to "
                                       f"use numpy's — at {user_location()}")
        if where == 0:
            first = value
        else:
            keywords[str(where)] = value
    return op(first, **keywords)


def _plain(v: Any) -> bool:
    return isinstance(v, str | int | float | bool) or v is None
