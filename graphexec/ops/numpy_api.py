"""numpy functions on tensors: ``np.exp(t)``, ``np.sum(t, axis=0)``, ``ndarray + t``.

One rule for all of them.  A numpy ufunc or function called on tensors runs graphexec's op
where graphexec has one for it (``UFUNCS`` and ``FUNCTIONS``): the result is a Tensor, the same
eagerly and in a graph (where it adds a node), and gradient tapes record it.  A numpy argument
that op does not take (``out=``, ``where=``, a reduction's ``dtype=``) is an
InvalidArgumentError naming it.  Any other numpy function (``np.isnan``, ``np.allclose``,
``np.add.reduce``) reads eager tensors as arrays and returns numpy's result, as it would for
``t.numpy()``; on a graph tensor, which has no value yet, it is a GraphError.  ``np.asarray(t)``
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


def _clip(a: Any, clip_value_min: Any = None, clip_value_max: Any = None) -> Tensor:
    return m.clip(a, clip_value_min, clip_value_max)  # numpy may leave out either bound


_REDUCE: dict[str, int | str] = {"a": 0, "axis": "axis", "keepdims": "keepdims"}
_REDUCTIONS: list[tuple[Callable[..., Any], Callable[..., Tensor]]] = [
    (np.sum, m.sum), (np.mean, m.mean), (np.max, m.max), (np.amax, m.max), (np.min, m.min),
    (np.amin, m.min), (np.prod, m.prod), (np.all, m.all), (np.any, m.any),
    (np.argmax, m.argmax), (np.argmin, m.argmin)]
#: numpy functions graphexec runs as its own: the op, and where each numpy parameter it takes
#: goes (0: the first positional argument, else a keyword of the op)
FUNCTIONS: dict[Callable[..., Any], tuple[Callable[..., Tensor], dict[str, int | str]]] = {
    **{f: (g, _REDUCE) for f, g in _REDUCTIONS},
    np.transpose: (array.transpose, {"a": 0, "axes": "perm"}),
    np.reshape: (array.reshape, {"a": 0, "shape": "shape"}),
    np.concatenate: (array.concat, {"arrays": 0, "axis": "axis"}),
    np.stack: (array.stack, {"arrays": 0, "axis": "axis"}),
    np.expand_dims: (array.expand_dims, {"a": 0, "axis": "axis"}),
    np.squeeze: (array.squeeze, {"a": 0, "axis": "axis"}),
    np.broadcast_to: (array.broadcast_to, {"array": 0, "shape": "shape"}),
    np.clip: (_clip, {"a": 0, "a_min": "clip_value_min", "a_max": "clip_value_max",
                       "min": "clip_value_min", "max": "clip_value_max"}),
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
    if op is None or method != "__call__":
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
