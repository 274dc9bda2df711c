"""Validation of user arguments shared by the frontends (before ``apply``): each error names
the op and the user's line, and is one of graphexec's exception types."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InvalidArgumentError, op_error
from .registry import Shape, fmt_shape, normalize_axes, normalize_axis

__all__ = ["check_dtype", "check_shape", "check_axis", "check_axes"]


def check_dtype(dtype: Any, op: str) -> np.dtype:
    """``dtype`` as a numpy dtype; InvalidArgumentError naming ``op`` if it is none.

    >>> from graphexec.checks import check_dtype
    >>> check_dtype("float32", "demo")
    dtype('float32')
    >>> check_dtype("no_such_type", "demo")
    Traceback (most recent call last):
        ...
    graphexec.errors.InvalidArgumentError: demo: unknown dtype 'no_such_type' — at ...
    """
    try:
        return np.dtype(dtype)
    except TypeError:
        raise op_error(InvalidArgumentError, op, f"unknown dtype {dtype!r}") from None


def check_shape(shape: Any, op: str, unknown: bool = False) -> tuple[Any, ...]:
    """``shape`` (an int or a sequence) as a tuple of non-negative ints; ``None`` dims are
    allowed when ``unknown``.  Floats and bools are refused, never truncated.

    >>> from graphexec.checks import check_shape
    >>> check_shape(3, "demo"), check_shape([None, 2], "demo", unknown=True)
    ((3,), (None, 2))
    """
    items = (shape,) if isinstance(shape, int | np.integer) else shape
    try:
        dims = tuple(items)
    except TypeError:
        raise op_error(InvalidArgumentError, op, f"shape must be a sequence of ints, got "
                       f"{shape!r}") from None
    for d in dims:
        ok = (d is None and unknown) or (
            isinstance(d, int | np.integer) and not isinstance(d, bool) and d >= 0)
        if not ok:
            want = "ints >= 0 or None" if unknown else "ints >= 0"
            raise op_error(InvalidArgumentError, op, f"shape {shape!r} must hold {want}; "
                           f"{d!r} is not")
    return tuple(None if d is None else int(d) for d in dims)


def check_axis(axis: Any, ndim: int, op: str, shape: Shape | None = None) -> int:
    """One axis of a rank-``ndim`` tensor (of ``shape``, named in errors) as an int >= 0.

    >>> from graphexec.checks import check_axis
    >>> check_axis(-1, 3, "demo")
    2
    """
    try:
        return normalize_axis(axis, ndim)
    except InvalidArgumentError as e:
        raise op_error(InvalidArgumentError, op, _with_shape(e, shape)) from None


def check_axes(axis: Any, ndim: int, op: str, shape: Shape | None = None) -> tuple[int, ...]:
    """Reduction axes (an int, a sequence, or ``None`` for all) as a sorted tuple.

    >>> from graphexec.checks import check_axes
    >>> check_axes([2, 0], 3, "demo"), check_axes(None, 2, "demo"), check_axes(-1, 2, "demo")
    ((0, 2), (0, 1), (1,))
    """
    try:
        return normalize_axes(axis, ndim)
    except InvalidArgumentError as e:
        raise op_error(InvalidArgumentError, op, _with_shape(e, shape)) from None


def _with_shape(e: Exception, shape: Shape | None) -> str:
    return str(e) if shape is None else f"{e} (shape {fmt_shape(shape)})"
