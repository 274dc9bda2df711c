"""Compiling a graph for a set of fetches: an optimized private copy of the part of the graph
the fetches need, lowered once.  ``Graph.run(..., optimize=level)``, ``Graph.compile`` and
``gx.function(optimize=level)`` go through here; the user's graph itself is never changed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from .errors import InvalidArgumentError
from .executor import Plan, lower, needed_nodes

__all__ = ["CompiledGraph", "set_default_level", "default_level", "check_level"]

_DEFAULT_LEVEL = 1


def check_level(level: Any, where: str) -> int:
    """``level`` as an int in 0..3, or InvalidArgumentError naming ``where``."""
    from .passes import LEVELS

    if level is None:
        return _DEFAULT_LEVEL
    if isinstance(level, bool) or not isinstance(level, int) or level not in LEVELS:
        raise InvalidArgumentError(f"{where}: optimize={level!r} is not a level; levels are "
                                   + "; ".join(f"{k} ({v.partition(':')[0]})"
                                               for k, v in LEVELS.items()))
    return level


def set_default_level(level: int) -> None:
    """Set the optimization level ``Graph.run`` and ``gx.function`` use when not given one
    (initially 1: exact rewrites only, so graphs give eager mode's bits).

    >>> from graphexec.compiler import default_level, set_default_level
    >>> set_default_level(3); default_level()
    3
    >>> set_default_level(1)
    """
    global _DEFAULT_LEVEL
    _DEFAULT_LEVEL = check_level(level, "set_default_level")


def default_level() -> int:
    """The optimization level used when none is given.

    >>> from graphexec.compiler import default_level
    >>> default_level()
    1
    """
    return _DEFAULT_LEVEL


class CompiledGraph:
    """A graph compiled for one set of fetches: ``graph`` is the optimized copy, ``report``
    what the optimizer did, ``plan`` the lowered code; call it with feeds.  Made by
    ``Graph.compile``.  It is a snapshot: nodes added to the source graph later are not in it
    (Variables are still read when it runs).

    >>> import numpy as np, graphexec as gx
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((None, 4), "float32", name="x")
    ...     y = gx.nn.relu((x * 1.5 + 0.25) * 2.0 - x)
    >>> f = g.compile(y, optimize=2)
    >>> len(g), len(f.graph)
    (9, 2)
    >>> f({x: np.ones((2, 4), "float32")})
    array([[2.5, 2.5, 2.5, 2.5],
           [2.5, 2.5, 2.5, 2.5]], dtype=float32)
    """

    def __init__(self, source: Any, fetches: Any, level: int | None = None,
                 backend: str = "numpy") -> None:
        from .ir import Graph, _flatten_fetches
        from .passes import optimize

        self.level = check_level(level, "compile")
        self.backend = backend
        self.source = source
        flat, self._rebuild = _flatten_fetches(fetches)
        self.fetches: tuple[tuple[str, int], ...] = tuple(source._fetch_ref(t) for t in flat)
        t0 = time.perf_counter()
        g = Graph(name=source.name if self.level == 0 else f"{source.name}@O{self.level}")
        needed = needed_nodes(source, self.fetches)
        g.nx = source.nx.subgraph(needed).copy()
        g.nx.graph["name"] = g.name
        self.graph = g
        self.report = optimize(g, self.level, keep=[n for n, _ in self.fetches])
        preview = g._preview
        if (preview is not None and backend == "numpy" and preview[0] == self.fetches
                and preview[1].version == g.version):
            self.plan: Plan = preview[1]
        else:
            self.plan = lower(g, self.fetches, backend, plan_memory=g.plan_memory)
        # NOTE: every placeholder the fetches depend on must still be fed, even one the
        # optimizer made unneeded (x*0 of an int x): errors do not depend on the level
        used = set(self.plan.placeholders)
        self.plan.placeholders = self.plan.placeholders + [
            n for n in source.nx if n in needed and n not in used
            and source.nx.nodes[n]["op"] == "placeholder"]
        self.version = source.version
        # NOTE: the plan's version is that of the source graph, so Graph.run's cache check
        # drops it when the source changes
        self.plan.version = source.version
        self.seconds = time.perf_counter() - t0

    def __call__(self, feeds: Mapping[Any, Any] | None = None) -> Any:
        """Run with ``feeds`` (placeholders of the source graph, or their names)."""
        return self._rebuild(self.plan.run(self.source._check_feeds(self.plan, feeds)))

    def __repr__(self) -> str:
        return (f"<CompiledGraph {self.graph.name}: {len(self.graph)} nodes from "
                f"{len(self.source)}, level {self.level}, {self.backend}>")

