"""graphexec's exception types and the helper that points errors at the user's line."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import FrameType

__all__ = [
    "GraphexecError",
    "ShapeError",
    "DTypeError",
    "GraphError",
    "FeedError",
    "InvalidArgumentError",
    "ExecutionError",
    "MissingExtraError",
]

_PKG_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class GraphexecError(Exception):
    """Base class of every error graphexec raises on purpose."""


class ShapeError(GraphexecError, ValueError):
    """Operand shapes do not fit the op (raised at build time in graph mode)."""


class DTypeError(GraphexecError, TypeError):
    """Operand dtypes do not fit the op."""


class InvalidArgumentError(GraphexecError, ValueError):
    """An attribute of an op is out of range or of the wrong kind (a bad pad mode, axis, ...)."""


class GraphError(GraphexecError):
    """A graph is used wrongly: tensors of two graphs mixed, a closed graph extended, ..."""


class FeedError(GraphError, ValueError):
    """A feed given to ``Graph.run`` is missing, unknown, or of the wrong shape or dtype."""


class ExecutionError(GraphexecError, RuntimeError):
    """A kernel failed while running (a singular matrix, say); names the node and its line."""


class MissingExtraError(GraphexecError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


def user_location(skip: int = 1) -> str:
    """``file:line`` of the innermost stack frame outside the graphexec package."""
    f: FrameType | None = sys._getframe(skip)
    while f is not None and f.f_code.co_filename.startswith(_PKG_DIR):
        f = f.f_back
    if f is None:
        return "<unknown>"
    return f"{os.path.basename(f.f_code.co_filename)}:{f.f_lineno}"


def op_error(cls: type[GraphexecError], op: str, msg: str,
             loc: str | None = None) -> GraphexecError:
    """Build ``cls`` with the standard message ``op: msg — at file:line``."""
    return cls(f"{op}: {msg} — at {loc or user_location(2)}")
