"""Execution modes: ``gx.eager()`` (the default) and the graph being built (``gx.graph()``,
in ``graphexec.graph``), built on contextvars.

The current mode is a ``ContextVar`` holding the graph being built (``None`` = eager), so
modes are per-thread and per-async-task, and blocks nest: an ``eager()`` block inside a
``graph()`` block runs eagerly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .ir import GraphIR as Graph

__all__ = ["eager", "current_graph", "executing_eagerly", "name_scope"]

_GRAPH: ContextVar[Graph | None] = ContextVar("graphexec_graph", default=None)
_SCOPE: ContextVar[str] = ContextVar("graphexec_name_scope", default="")
#: the gradient tapes recording in this context (innermost last); empty: nothing is recorded
_TAPES: ContextVar[tuple[Any, ...]] = ContextVar("graphexec_tapes", default=())


def current_graph() -> Graph | None:
    """The graph being built in this context, or ``None`` in eager mode.

    >>> import graphexec as gx
    >>> with gx.graph() as g:
    ...     print(gx.current_graph() is g)
    True
    >>> print(gx.current_graph())
    None
    """
    return _GRAPH.get()


def executing_eagerly() -> bool:
    """True when ops run immediately (no ``graph()`` block is active here).

    >>> import graphexec as gx
    >>> with gx.graph():
    ...     print(gx.executing_eagerly())
    False
    >>> gx.executing_eagerly()
    True
    """
    return _GRAPH.get() is None


@contextlib.contextmanager
def eager() -> Iterator[None]:
    """Run the ops of the block immediately, even inside a ``graph()`` block.

    >>> import graphexec as gx
    >>> with gx.graph():
    ...     with gx.eager():
    ...         print(gx.constant([1.0, 2.0]).numpy() * 2)
    [2. 4.]
    """
    token = _GRAPH.set(None)
    try:
        yield
    finally:
        _GRAPH.reset(token)


@contextlib.contextmanager
def name_scope(name: str) -> Iterator[str]:
    """Prefix the names of graph nodes created in the block with ``name/``.

    >>> import graphexec as gx
    >>> with gx.graph() as g, gx.name_scope("block"):
    ...     y = gx.constant(1.0) + 1.0
    >>> y.name
    'block/add'
    """
    prefix = _SCOPE.get() + name + "/"
    token = _SCOPE.set(prefix)
    try:
        yield prefix
    finally:
        _SCOPE.reset(token)


def scope_prefix() -> str:
    """The prefix of the enclosing ``name_scope`` blocks (``""`` outside any).

    >>> import graphexec as gx
    >>> from graphexec.context import scope_prefix
    >>> with gx.name_scope("model"), gx.name_scope("dense"):
    ...     print(scope_prefix())
    model/dense/
    """
    return _SCOPE.get()
