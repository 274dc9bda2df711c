"""Graph optimization: the passes and ``optimize``, which runs them level by level to a fixed
point and reports what each did.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..ir import Graph
from .basic import common_subexpression_elimination, constant_folding, dead_code_elimination
from .core import replace_uses

__all__ = [
    "dead_code_elimination",
    "common_subexpression_elimination",
    "constant_folding",
    "optimize",
    "OptimizationReport",
    "PassRecord",
    "replace_uses",
]


# -- the driver ----------------------------------------------------------------------------------
@dataclass
class PassRecord:
    """One run of one pass inside ``optimize``."""

    name: str
    round: int
    nodes_before: int
    nodes_after: int
    seconds: float
    changed: bool
    actions: list[str] = field(default_factory=list)


@dataclass
class OptimizationReport:
    """What ``optimize`` did: one ``PassRecord`` per pass run, in order; ``str`` gives a table.

    >>> import graphexec as gx
    >>> from graphexec.passes import optimize
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((2,), "float64", name="x")
    ...     y = gx.exp(x) + gx.exp(x)
    >>> report = optimize(g, keep=[y])
    >>> report.nodes_before, report.nodes_after, report.changed
    (4, 3, True)
    >>> print(report)  # doctest: +ELLIPSIS
    optimize g... level 1: 4 -> 3 nodes in 2 round(s)
      round  pass                              before  after     ms  actions
          1  common_subexpression_elimination       4      3  ...  merged exp_1 into exp (exp)
    ...
    """

    graph: str
    level: int
    records: list[PassRecord] = field(default_factory=list)

    @property
    def nodes_before(self) -> int:
        """Node count before the first pass."""
        return self.records[0].nodes_before if self.records else -1

    @property
    def nodes_after(self) -> int:
        """Node count after the last pass."""
        return self.records[-1].nodes_after if self.records else -1

    @property
    def changed(self) -> bool:
        """Whether any pass changed the graph."""
        return any(r.changed for r in self.records)

    @property
    def rounds(self) -> int:
        """How many rounds of passes ran."""
        return max((r.round for r in self.records), default=0)

    def actions(self, name: str | None = None) -> list[str]:
        """Every action recorded (by pass ``name`` only, if given), in order."""
        return [a for r in self.records if name is None or r.name == name for a in r.actions]

    def __str__(self) -> str:
        head = (f"optimize {self.graph} level {self.level}: {self.nodes_before} -> "
                f"{self.nodes_after} nodes in {self.rounds} round(s)")
        if not self.records:
            return f"optimize {self.graph} level {self.level}: nothing run"
        width = max(len(r.name) for r in self.records)
        lines = [head, f"  round  {'pass'.ljust(width)}  before  after     ms  actions"]
        for r in self.records:
            shown = ", ".join(r.actions[:3]) + (f", ... (+{len(r.actions) - 3})"
                                                if len(r.actions) > 3 else "")
            lines.append(f"  {r.round:5d}  {r.name.ljust(width)}  {r.nodes_before:6d}  "
                         f"{r.nodes_after:5d}  {r.seconds * 1e3:5.1f}  {shown or '-'}")
        return "\n".join(lines)


def optimize(graph: Graph, level: int = 1, keep: Iterable[Any] = (),
             max_rounds: int = 10) -> OptimizationReport:
    """Optimize ``graph`` in place.  Level 0 does nothing; level 1 runs common subexpression
    elimination, constant folding and dead code elimination, each through
    ``Graph.apply_pass``, until a round changes nothing.  Name every node you will fetch in
    ``keep`` (node names or tensors): other nodes may be merged away or removed.

    >>> import graphexec as gx
    >>> from graphexec.passes import optimize
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((2,), "float64", name="x")
    ...     c = gx.exp(gx.constant([0.0, 0.0]))
    ...     y = gx.sin(x * c) + gx.sin(x * c)
    >>> report = optimize(g, keep=[y])
    >>> len(g), g.run(y, {x: [0.0, 0.0]})
    (5, array([0., 0.]))
    """
    if level not in (0, 1):
        raise ValueError(f"optimize: unknown level {level!r} (0 or 1)")
    keep = list(keep)
    report = OptimizationReport(graph.name, level)
    if level == 0:
        return report
    passes: list[tuple[str, Callable[..., bool]]] = [
        ("common_subexpression_elimination",
         functools.partial(common_subexpression_elimination, keep=keep)),
        ("constant_folding", constant_folding),
        ("dead_code_elimination", functools.partial(dead_code_elimination, keep=keep)),
    ]
    for rnd in range(1, max_rounds + 1):
        any_changed = False
        for name, fn in passes:
            actions: list[str] = []
            before = len(graph)
            t0 = time.perf_counter()
            changed = graph.apply_pass(functools.partial(fn, actions=actions))
            report.records.append(PassRecord(name, rnd, before, len(graph),
                                             time.perf_counter() - t0, changed, actions))
            any_changed |= changed
        if not any_changed:
            break
    return report
