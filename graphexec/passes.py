"""Graph optimization passes: dead code elimination, common subexpression elimination and
constant folding, plus ``optimize`` which runs them to a fixed point.

Each pass is ``fn(graph, ...) -> changed`` and rewrites ``graph.nx`` in place, keeping each
node's ``inputs`` tuple and its keyed input edges in agreement, so it can be handed to
``Graph.apply_pass``.  A pass may append a line per rewrite to ``actions``.

Passes remove nodes (DCE, CSE): name the nodes you will fetch in ``keep`` so they survive.
Constant folding rewrites a node into a constant in place, keeping its name.
"""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .ir import Graph
from .registry import REGISTRY

__all__ = [
    "dead_code_elimination",
    "common_subexpression_elimination",
    "constant_folding",
    "optimize",
    "OptimizationReport",
    "PassRecord",
    "replace_uses",
]

Ref = tuple[str, int]
_SOURCES = ("constant", "placeholder", "read_variable")


# -- helpers -------------------------------------------------------------------------------------
def replace_uses(graph: Graph, old: Ref, new: Ref) -> int:
    """Make every input slot fed by tensor ``old`` read tensor ``new`` instead, updating both
    the consumers' ``inputs`` tuples and their keyed edges; returns how many slots changed.

    >>> import graphexec as gx
    >>> from graphexec.passes import replace_uses
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((2,), "float64", name="x")
    ...     y = gx.exp(x) * gx.exp(x) + gx.sin(x)
    >>> replace_uses(g, ("exp_1", 0), ("exp", 0))
    1
    >>> g.nx.nodes["multiply"]["inputs"], g.validate()
    ((('exp', 0), ('exp', 0)), None)
    """
    g = graph.nx
    src, idx = old
    uses = [(dst, slot) for _, dst, slot, d in g.out_edges(src, keys=True, data=True)
            if d["out_index"] == idx]
    for dst, slot in uses:
        inputs = list(g.nodes[dst]["inputs"])
        inputs[slot] = new
        g.nodes[dst]["inputs"] = tuple(inputs)
        g.remove_edge(src, dst, key=slot)
        g.add_edge(new[0], dst, key=slot, out_index=new[1])
    captures = getattr(graph, "_captures", None)
    if captures:  # eager tensors captured as ``old`` now resolve to ``new``
        for k, (t, ref) in list(captures.items()):
            if ref == old:
                captures[k] = (t, new)
    return len(uses)


def _remove_node(graph: Graph, node: str) -> None:
    graph.nx.remove_node(node)
    captures = getattr(graph, "_captures", None)
    if captures:
        for k in [k for k, (_, ref) in captures.items() if ref[0] == node]:
            del captures[k]


def _keep_names(keep: Iterable[Any]) -> set[str]:
    names = set()
    for k in keep:
        if isinstance(k, str):
            names.add(k.partition(":")[0])
        else:  # a tensor
            names.add(k._node)
    return names


def _is_pure(op: str) -> bool:
    opdef = REGISTRY.get(op)
    return opdef is not None and opdef.pure


class _Unhashable:
    """Marker for an attribute value with no canonical key: such a node is never merged."""


def _canon(v: Any) -> Any:
    """A hashable key for an attribute value, equal only for values that act the same."""
    if v is None or isinstance(v, str | bool | int | np.integer | np.bool_):
        return (type(v), v)
    if isinstance(v, float | np.floating):
        # repr tells 0.0 from -0.0; the bytes tell NaN payloads apart
        return (type(v), repr(v), np.asarray(v).tobytes())
    if isinstance(v, complex | np.complexfloating):
        return (type(v), repr(v), np.asarray(v).tobytes())
    if isinstance(v, np.dtype):
        return (np.dtype, v.str)
    if isinstance(v, type):
        return (type, v.__module__, v.__qualname__)
    if isinstance(v, tuple | list):
        return (type(v), *(_canon(x) for x in v))
    if isinstance(v, np.ndarray):
        return (np.ndarray, v.dtype.str, v.shape, v.tobytes())
    raise TypeError(type(v))


def _node_key(d: dict[str, Any]) -> Any:
    if d["op"] == "constant":
        value = np.asarray(d["attrs"]["value"])
        return ("constant", value.dtype.str, value.shape, value.tobytes())
    attrs = tuple(sorted((k, _canon(v)) for k, v in d["attrs"].items()))
    return (d["op"], tuple(d["inputs"]), attrs, tuple(d["specs"]))


# -- passes --------------------------------------------------------------------------------------
def dead_code_elimination(graph: Graph, keep: Iterable[Any] = (),
                          actions: list[str] | None = None) -> bool:
    """Remove nodes nothing can need: a node with no consumers is dead unless it is impure
    (``assign``, ``read_variable``, random ops), a placeholder, or named in ``keep`` (node
    names or tensors); repeated to a fixed point.  Returns whether anything was removed.

    >>> import graphexec as gx
    >>> from graphexec.passes import dead_code_elimination
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((2,), "float64", name="x")
    ...     y = gx.exp(x)
    ...     unused = gx.sin(gx.negative(x))
    >>> g.apply_pass(lambda graph: dead_code_elimination(graph, keep=[y]))
    True
    >>> sorted(g.nx)
    ['exp', 'x']
    """
    g = graph.nx
    kept = _keep_names(keep)

    def dead(n: str) -> bool:
        op = g.nodes[n]["op"]
        return (g.out_degree(n) == 0 and n not in kept and op != "placeholder"
                and _is_pure(op))

    work = [n for n in g if dead(n)]
    removed = 0
    while work:
        n = work.pop()
        if n not in g or not dead(n):
            continue
        preds = {src for src, _ in g.nodes[n]["inputs"]}
        op = g.nodes[n]["op"]
        _remove_node(graph, n)
        removed += 1
        if actions is not None:
            actions.append(f"removed {n} ({op})")
        work.extend(p for p in preds if p in g and dead(p))
    return removed > 0


def common_subexpression_elimination(graph: Graph, keep: Iterable[Any] = (),
                                     actions: list[str] | None = None) -> bool:
    """Merge pure nodes computing the same thing: same op, inputs and attributes (floats
    compared by type and repr, so ``0.0`` and ``-0.0`` stay apart), and constants with equal
    dtype, shape and bytes.  Impure nodes (variable reads, assignments, random ops) and
    placeholders are never merged, and a node named in ``keep`` is never the one removed.
    Nodes are visited in topological order, so chains collapse in one pass.

    >>> import graphexec as gx
    >>> from graphexec.passes import common_subexpression_elimination
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((2,), "float64", name="x")
    ...     y = gx.exp(x) + gx.exp(x)
    >>> len(g), g.apply_pass(common_subexpression_elimination), len(g)
    (4, True, 3)
    >>> g.run(y, {x: [0.0, 0.0]})
    array([2., 2.])
    """
    g = graph.nx
    kept = _keep_names(keep)
    seen: dict[Any, str] = {}
    merged = 0
    for n in graph.topological_order():
        d = g.nodes[n]
        op = d["op"]
        if op in ("placeholder", "read_variable") or not _is_pure(op):
            continue
        try:
            key = _node_key(d)
        except TypeError:  # an attribute with no canonical key
            continue
        first = seen.get(key)
        if first is None:
            seen[key] = n
            continue
        if n in kept:
            continue
        for i in range(len(d["specs"])):
            replace_uses(graph, (n, i), (first, i))
        _remove_node(graph, n)
        merged += 1
        if actions is not None:
            actions.append(f"merged {n} into {first} ({op})")
    return merged > 0


def constant_folding(graph: Graph, max_bytes: int = 1 << 20,
                     actions: list[str] | None = None) -> bool:
    """Evaluate each pure single-output node whose inputs are all constants once, with its
    registered kernel, and turn it into a constant node (same name, same spec).  Results
    larger than ``max_bytes``, or that do not match the node's spec exactly, are left alone,
    as are impure ops (variable reads, random ops) and nodes whose kernel raises.

    >>> import graphexec as gx
    >>> from graphexec.passes import constant_folding
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((2,), "float64", name="x")
    ...     y = x + gx.exp(gx.constant([0.0, 1.0]))
    >>> g.apply_pass(constant_folding)
    True
    >>> g.nx.nodes["exp"]["op"], g.run(y, {x: [1.0, 1.0]})
    ('constant', array([2.        , 3.71828183]))
    """
    g = graph.nx
    folded = 0
    for n in graph.topological_order():
        d = g.nodes[n]
        op = d["op"]
        opdef = REGISTRY.get(op)
        if (opdef is None or op in _SOURCES or not opdef.pure or opdef.n_outputs != 1
                or len(d["specs"]) != 1):
            continue
        if not all(g.nodes[src]["op"] == "constant" for src, _ in d["inputs"]):
            continue
        spec = d["specs"][0]
        if None in spec.shape or int(np.prod(spec.shape)) * spec.dtype.itemsize > max_bytes:
            continue
        values = []
        for src, _ in d["inputs"]:
            v = np.asarray(g.nodes[src]["attrs"]["value"]).view()
            v.flags.writeable = False  # as the executor hands constants to kernels
            values.append(v)
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                out = opdef.kernel(np, *values, **d["attrs"])
        except Exception:  # left to fail (and be reported) when the graph runs
            continue
        if spec.shape == ():
            out = np.asarray(out)
        if (not isinstance(out, np.ndarray) or out.shape != spec.shape
                or out.dtype != spec.dtype or out.nbytes > max_bytes):
            continue
        value = np.array(out)  # own the memory: never a view of another constant
        for u, _, k in list(g.in_edges(n, keys=True)):
            g.remove_edge(u, n, key=k)
        d.update(op="constant", attrs={"value": value}, inputs=())
        folded += 1
        if actions is not None:
            actions.append(f"folded {n} ({op}) to {spec!r}")
    return folded > 0


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
