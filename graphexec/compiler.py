"""Compiling a graph for a set of fetches: an optimized private copy of the part of the graph
the fetches need, lowered once.  ``Graph.run(..., optimize=level)``, ``Graph.compile`` and
``gx.function(optimize=level)`` go through here; the user's graph itself is never changed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from . import tree
from .config import check_level
from .device import Device
from .executor import Plan, lower
from .ir import is_ref, needed_nodes, ordered_subgraph
from .ops.state import placeholder_p
from .passes import optimize

__all__ = ["CompiledGraph"]

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
        self.level = check_level(level, "compile")
        self.backend = backend
        self.source = source
        flat, self._treedef = tree.flatten(fetches, is_leaf=is_ref)
        self.fetches: tuple[tuple[str, int], ...] = tuple(source._fetch_ref(t) for t in flat)
        t0 = time.perf_counter()
        # NOTE: the copy is of the source's own class (the runnable graph), made from above
        g = type(source)(name=source.name if self.level == 0 else f"{source.name}@O{self.level}")
        needed = needed_nodes(source, [n for n, _ in self.fetches])
        g.nx = ordered_subgraph(source, needed)
        g.nx.graph["name"] = g.name
        g.gradient_nodes = source.gradient_nodes & needed
        self.graph = g
        t1 = time.perf_counter()
        self.report = optimize(g, self.level, keep=[n for n, _ in self.fetches], owned=True)
        t2 = time.perf_counter()
        self.plan: Plan = lower(g, self.fetches, backend, plan_memory=g.plan_memory)
        # NOTE: every placeholder the fetches depend on must still be fed, even one the
        # optimizer made unneeded (x*0 of an int x): errors do not depend on the level
        used = set(self.plan.placeholders)
        self.plan.placeholders = self.plan.placeholders + [
            n for n in source.nx if n in needed and n not in used
            and source.nx.nodes[n]["op"] is placeholder_p]
        self.version = source.version
        # NOTE: the plan's version is that of the source graph, so Graph.run's cache check
        # drops it when the source changes
        self.plan.version = source.version
        t3 = time.perf_counter()
        self.seconds = t3 - t0
        #: seconds spent copying the needed part of the graph, optimizing it and lowering it
        self.phases = {"copy": t1 - t0, "optimize": t2 - t1, "lower": t3 - t2}

    @property
    def history(self) -> Any:
        """What each optimization pass did, node by node (a ``passes.History``): its steps,
        the graph after each (``history.graph(k)``) and each node's provenance."""
        return self.report.history

    def __call__(self, feeds: Mapping[Any, Any] | None = None) -> Any:
        """Run with ``feeds`` (placeholders of the source graph, or their names)."""
        if self.backend == "numpy":
            return self._treedef.unflatten(
                self.plan.run(self.source._check_feeds(self.plan, feeds)))
        dev = Device.of_backend(self.backend)
        with dev.xp("compiled graph").cuda.Device(dev.index):
            return self._treedef.unflatten(
                self.plan.run(self.source._check_feeds(self.plan, feeds)))

    def __repr__(self) -> str:
        return (f"<CompiledGraph {self.graph.name}: {len(self.graph)} nodes from "
                f"{len(self.source)}, level {self.level}, {self.backend}>")

