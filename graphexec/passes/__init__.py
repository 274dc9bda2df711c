"""GraphIR optimization: the passes and ``optimize``, which runs them level by level to a fixed
point and reports what each did.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..config import LEVELS, check_level
from ..ir import GraphIR
from .basic import common_subexpression_elimination, constant_folding, dead_code_elimination
from .batchnorm import batchnorm_folding
from .core import keep_names, replace_uses
from .epilogue import epilogue_fusion
from .fusion import elementwise_fusion
from .history import Change, History, Step
from .memory import memory_plan
from .simplify import algebraic_simplification

__all__ = [
    "dead_code_elimination",
    "common_subexpression_elimination",
    "constant_folding",
    "optimize",
    "OptimizationReport",
    "PassRecord",
    "LEVELS",
    "replace_uses",
    "History",
    "Step",
    "Change",
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
    #: level 3: the memory plan for fetching the kept nodes (``executor.MemoryPlan``)
    memory: Any = None
    #: what each pass run changed, node by node (None when optimize ran with history=False)
    history: History | None = None

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
        idle: dict[str, float] = {}
        for r in self.records:
            if not (r.changed or r.actions):
                idle[r.name] = idle.get(r.name, 0.0) + r.seconds
                continue
            shown = "; ".join(r.actions[:3]) + (f"; ... (+{len(r.actions) - 3})"
                                                if len(r.actions) > 3 else "")
            lines.append(f"  {r.round:5d}  {r.name.ljust(width)}  {r.nodes_before:6d}  "
                         f"{r.nodes_after:5d}  {r.seconds * 1e3:5.1f}  {shown or '-'}")
        if idle:
            total = sum(idle.values())
            lines.append(f"  {'':5}  {'(no change)'.ljust(width)}  {'':6}  {'':5}  "
                         f"{total * 1e3:5.1f}  {', '.join(idle)}")
        total = sum(r.seconds for r in self.records)
        lines.append(f"  total {total * 1e3:.1f} ms")
        return "\n".join(lines)


def _basic_passes(keep: list[Any]) -> list[tuple[str, Callable[..., bool]]]:
    return [
        ("common_subexpression_elimination",
         functools.partial(common_subexpression_elimination, keep=keep)),
        ("constant_folding", constant_folding),
        ("algebraic_simplification", functools.partial(algebraic_simplification, keep=keep)),
        ("dead_code_elimination", functools.partial(dead_code_elimination, keep=keep)),
    ]


def _fusion_passes(keep: list[Any]) -> list[tuple[str, Callable[..., bool]]]:
    return [
        ("batchnorm_folding", functools.partial(batchnorm_folding, keep=keep)),
        ("constant_folding", constant_folding),  # NOTE: folded weights of constant ones
        ("epilogue_fusion", functools.partial(epilogue_fusion, keep=keep)),
        ("elementwise_fusion", functools.partial(elementwise_fusion, keep=keep)),
        ("dead_code_elimination", functools.partial(dead_code_elimination, keep=keep)),
    ]


def _to_fixed_point(graph: GraphIR, report: OptimizationReport,
                    passes: list[tuple[str, Callable[..., bool]]], max_rounds: int) -> None:
    history = report.history
    for _ in range(max_rounds):
        rnd = report.rounds + 1
        any_changed = False
        for name, fn in passes:
            actions: list[str] = []
            before = len(graph)
            t0 = time.perf_counter()
            changed = graph.apply_pass(functools.partial(fn, actions=actions), validate=False)
            seconds = time.perf_counter() - t0
            report.records.append(PassRecord(name, rnd, before, len(graph), seconds, changed,
                                             actions))
            if history is not None and graph._journal:
                history.observe(graph, name, rnd, actions, seconds)
            any_changed |= changed
        if not any_changed:
            break


def optimize(graph: GraphIR, level: int = 1, keep: Iterable[Any] = (),
             max_rounds: int = 10, validate: bool = True,
             history: bool = True, owned: bool = False) -> OptimizationReport:
    """Optimize ``graph`` in place and report what each pass did.

    - level 0: nothing;
    - level 1 (basic): common subexpression elimination, constant folding, algebraic
      simplification and dead code elimination, repeated until a round changes nothing.
      Every rewrite is exact: results stay bit-identical to eager mode;
    - level 2 (extended): then batch-norm folding (an inference ``batch_norm`` into the
      matmul or conv2d before it: equal within rounding), dense/conv2d epilogue fusion and
      elementwise fusion (one
      compiled loop per group with the ``jit`` extra, numpy in place without it);
    - level 3 (all): then memory planning: when the graph is lowered, elementwise ops write
      into inputs that die at them and dead buffers are reused (``graph.plan_memory``).

    With ``history`` (the default), ``report.history`` records what each pass run changed,
    node by node, and why (``passes.History``: the viewer's filmstrip reads it).  ``owned``:
    nothing will change ``graph`` after this call (``Graph.compile``'s private copy), so the
    history reads its final nodes without copying them.

    Name every node you will fetch in ``keep`` (node names or tensors): other nodes may be
    merged away, fused or removed.  ``GraphIR.run(..., optimize=level)``, ``GraphIR.compile`` and
    ``gx.function(optimize=level)`` do this on a copy of the graph for you.

    >>> import graphexec as gx
    >>> from graphexec.passes import optimize
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((2,), "float64", name="x")
    ...     c = gx.exp(gx.constant([0.0, 0.0]))
    ...     y = gx.sin(x * c) + gx.sin(x * c)
    >>> report = optimize(g, keep=[y])
    >>> len(g), g.run(y, {x: [0.0, 0.0]})
    (3, array([0., 0.]))
    >>> print(g)  # doctest: +ELLIPSIS
    graph g... (3 nodes)
      x: f64[2] = placeholder() ...
      sin: f64[2] = sin(x) ...
      add: f64[2] = add(sin, sin) ...
    """
    level = check_level(level, "optimize")
    keep = [keep] if isinstance(keep, str) else list(keep)  # one name, or many
    # NOTE: a tensor of another graph names the node of the same name here (a copy's)
    keep_names(keep)  # checked: names or tensors
    report = OptimizationReport(graph.name, level)
    if history:
        report.history = History(graph)
    try:
        with no_cyclic_gc():
            _run_levels(graph, report, level, keep, max_rounds)
    finally:
        graph._journal = None  # NOTE: recording never outlives the call, even one that raised
    if report.history is not None:
        report.history.finish(graph, copy=not owned)
    if validate:
        graph.validate()
    return report


@contextlib.contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """The cyclic garbage collector paused for the block (as it was, afterwards).

    The passes make and drop many small dicts and tuples: the collector's full collections,
    which walk every object of the process, would take a quarter of the time of optimizing a
    100k-node graph.  Reference counting still frees what the block drops; cycles wait for the
    next collection after it.

    >>> import gc
    >>> from graphexec.passes import no_cyclic_gc
    >>> with no_cyclic_gc():
    ...     gc.isenabled()
    False
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _run_levels(graph: GraphIR, report: OptimizationReport, level: int, keep: list[Any],
                max_rounds: int) -> None:
    if level == 0:
        return
    _subgraph_levels(graph, level)
    _to_fixed_point(graph, report, _basic_passes(keep), max_rounds)
    _subgraph_levels(graph, level)  # NOTE: also those a folded cond's branch brought in
    if level >= 2:
        _to_fixed_point(graph, report, _fusion_passes(keep), max_rounds)
    if level >= 3:
        t0 = time.perf_counter()
        graph.plan_memory = True
        memory = _memory_preview(graph, keep)
        report.memory = memory
        seconds = time.perf_counter() - t0
        report.records.append(PassRecord(
            "memory_planning", report.rounds, len(graph), len(graph),
            seconds, False, [] if memory is None else [memory.summary()]))
        if report.history is not None and memory is not None:
            report.history.observe_memory(graph, memory, seconds, report.rounds)


def _subgraph_levels(graph: GraphIR, level: int) -> None:
    """Nodes running subgraphs (cond, while, scan) run them optimized at the graph's level."""
    for n, d in graph.nx.nodes(data=True):
        if d["op"].subgraphs and d["attrs"].get("level") != level:
            graph.touch(n)
            d["attrs"] = {**d["attrs"], "level": level}


def _memory_preview(graph: GraphIR, keep: list[Any]) -> Any:
    """The memory plan for fetching the kept nodes (None when nothing is kept); lowering the
    same fetches later reuses it."""
    names = dict.fromkeys(n for k in keep for n in keep_names([k]))  # in the order kept
    refs = tuple((n, i) for n in names if n in graph.nx
                 for i in range(len(graph.nx.nodes[n]["specs"])))
    if not refs:
        return None
    return memory_plan(graph, refs)
