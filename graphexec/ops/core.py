"""Source and state ops: constants, placeholders, variable reads and assignments."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import DTypeError, ShapeError
from ..registry import Spec, register, shapes_match
from ..tensor import to_numpy

if TYPE_CHECKING:
    from ..tensor import Variable

__all__: list[str] = []


def _no_inputs(*specs, **attrs):
    raise AssertionError("source ops are never inferred through apply")


@register("constant", infer=_no_inputs, kind="source", arity=0, differentiable=False)
def _constant(xp, value):
    return xp.asarray(value)


@register("placeholder", infer=_no_inputs, kind="source", arity=0, differentiable=False)
def _placeholder(xp, shape, dtype):
    raise RuntimeError("a placeholder is fed, never executed")


@register("read_variable", infer=_no_inputs, kind="source", pure=False, arity=0)
def _read_variable(xp, var):
    return xp.asarray(var._value)


def _assign_infer(value: Spec, var: Variable) -> Spec:
    if value.dtype != var.dtype:
        raise DTypeError(f"value dtype {value.dtype} differs from variable {var.var_name}'s "
                         f"{var.dtype}")
    if not shapes_match(value.shape, var.shape):
        raise ShapeError(f"value shape {value.shape} differs from variable {var.var_name}'s "
                         f"{var.shape}")
    return Spec(tuple(var.shape), var.dtype)


@register("assign", infer=_assign_infer, pure=False, arity=1, differentiable=False)
def _assign(xp, value, var):
    # NOTE: variables live on the host as read-only arrays, so a fetched read cannot change
    # one.  A writable array that owns its memory is a fresh kernel result (feeds, constants
    # and variable reads reach kernels as read-only views): it is taken over without a copy.
    host = to_numpy(value)
    if type(host) is np.ndarray and host.flags.writeable and host.base is None:
        stored = host
    else:
        stored = np.array(host)  # also turns a 0-d kernel result into an array
    stored.flags.writeable = False
    var._value = stored
    return value
