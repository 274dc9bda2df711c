"""Memory planning, the level-3 pass: which results may be written in place or into dead
buffers, decided on the schedule the executor will run.  ``schedule`` and ``Slots`` (the
order of the steps and the Python name of every tensor) are shared with lowering
(``graphexec.executor``), which writes the plan into the generated code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import networkx as nx

from ..errors import GraphError
from ..ir import GraphIR, Ref, needed_nodes
from ..ops.state import assign_p, constant_p, placeholder_p, read_variable_p

__all__ = ["schedule", "Slots", "MemoryPlan", "plan_buffers", "memory_plan"]


def schedule(graph: GraphIR, fetches: Sequence[Ref]) -> list[str]:
    """The nodes ``fetches`` need (through inputs and control inputs) in topological order,
    creation order on ties, in which the reads and assignments of each variable keep their
    program order (as TF's automatic control dependencies do): a read written before an update
    sees the old value, one written after it the new value, and two updates apply in turn.

    >>> import graphexec as gx
    >>> from graphexec.passes.memory import schedule
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((2,), name="x")
    ...     y = gx.exp(x) + gx.sin(x)
    >>> schedule(g, [("add", 0)])
    ['x', 'exp', 'sin', 'add']
    """
    g = graph.nx
    needed = needed_nodes(graph, [n for n, _ in fetches])
    assigns = [n for n in needed if g.nodes[n]["op"] is assign_p]
    if not assigns:
        return graph.topological_order(needed)
    rank = {n: i for i, n in enumerate(g)}
    per_var: dict[int, list[str]] = {}
    for n in needed:
        d = g.nodes[n]
        if d["op"] is read_variable_p or d["op"] is assign_p:
            per_var.setdefault(id(d["attrs"]["var"]), []).append(n)
    sub: nx.DiGraph[str] = nx.DiGraph(g.subgraph(needed))
    for nodes in per_var.values():
        nodes.sort(key=rank.__getitem__)
        last_assign: str | None = None
        reads_since: list[str] = []
        for n in nodes:
            if g.nodes[n]["op"] is assign_p:
                for r in reads_since:
                    sub.add_edge(r, n)
                if last_assign is not None:
                    sub.add_edge(last_assign, n)
                last_assign, reads_since = n, []
            else:
                if last_assign is not None:
                    sub.add_edge(last_assign, n)
                reads_since.append(n)
    if not nx.is_directed_acyclic_graph(sub):
        raise GraphError(f"graph {graph.name}: the reads and assignments of a variable cannot "
                         "keep their program order")
    return list(nx.lexicographical_topological_sort(sub, key=rank.__getitem__))


class MemoryPlan:
    """What the memory planner decided for one plan.

    ``out`` maps a step index to the Python name of the buffer the step writes into (a dying
    input, in place, or a dead buffer of the same shape and dtype); ``guards`` maps each such
    step to the run-time condition for the write (layout, and shapes with unknown dims);
    ``hold`` maps a buffer name to the step that takes it over (it is kept alive until then).
    Byte counts cover tensors whose shapes are fully known: ``unplanned_sum`` adds up every
    intermediate result, ``unplanned_peak`` is the most held at once with one fresh array per
    result, ``planned_peak`` the most held at once with the plan's reuse.
    """

    def __init__(self) -> None:
        self.out: dict[int, str] = {}
        self.guards: dict[int, str] = {}
        self.hold: dict[str, int] = {}
        self.in_place = 0
        self.reused = 0
        #: node -> ("in place" or "reuses", the node whose buffer it writes into)
        self.writes: dict[str, tuple[str, str]] = {}
        self.unplanned_sum = 0
        self.unplanned_peak = 0
        self.planned_peak = 0
        self.unknown = 0  # results whose size is unknown until run time

    def summary(self) -> str:
        """One line: what was reused and the byte counts."""
        unknown = f"; {self.unknown} result(s) of unknown size" if self.unknown else ""
        return (f"{self.in_place} in place, {self.reused} reused; peak "
                f"{fmt_bytes(self.planned_peak)} planned vs {fmt_bytes(self.unplanned_peak)} "
                f"unplanned, sum of results {fmt_bytes(self.unplanned_sum)}{unknown}")

    def __repr__(self) -> str:
        return f"<MemoryPlan: {self.summary()}>"


def fmt_bytes(n: int | None) -> str:
    """``n`` bytes in B, KiB, MiB or GiB (``-`` for None: a size known only at run time)."""
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n:.1f} GiB"


def spec_nbytes(spec: Any) -> int | None:
    """The bytes of a value of ``spec`` (None where a dim is known only at run time)."""
    if None in spec.shape:
        return None
    size = 1
    for d in spec.shape:
        size *= d
    return size * spec.dtype.itemsize


def plan_buffers(graph: GraphIR, computed: list[str], fetches: Sequence[Ref],
                 names: dict[Ref, str], last_use: dict[Ref, int]) -> MemoryPlan:
    """Plan buffers for the scheduled nodes ``computed``: an op that can write into ``out``
    (``OpDef.out_arg``) writes into an input that dies at it (elementwise ops, same shape and
    dtype), else into a dead result of the same static shape and dtype.

    Aliasing is tracked by *roots*: a fresh result (``OpDef.fresh``) is its own root; any other
    result may be a view of its inputs (reshape, transpose, getitem, split, ...) and carries
    their roots, so a buffer dies only when every
    view of it has.  Constants, feeds and variable values are never written.  Results that are
    fetched, or assigned to a variable (the variable takes the array over), are never reused.
    """
    g = graph.nx
    mp = MemoryPlan()
    pos = {n: k for k, n in enumerate(computed)}
    fresh: set[Ref] = set()
    roots: dict[Ref, frozenset[Ref]] = {}
    escaped: set[Ref] = set(fetches)
    for n in computed:
        d = g.nodes[n]
        opdef = d["op"]
        outs = [(n, i) for i in range(len(d["specs"]))]
        if len(outs) == 1 and opdef.fresh:
            fresh.add(outs[0])
            roots[outs[0]] = frozenset(outs)
        else:
            union = frozenset().union(*(roots.get(r, frozenset()) for r in d["inputs"]))
            for r in outs:
                roots[r] = union
        if opdef is assign_p:
            for r in d["inputs"]:
                escaped |= roots.get(r, frozenset())
    for r in fetches:
        escaped |= roots.get(r, frozenset())
    # a root's buffer dies at the last use of any tensor carrying it
    death: dict[Ref, int] = {r: pos[r[0]] for r in fresh}
    for r, k in last_use.items():
        for root in roots.get(r, ()):
            if death[root] < k:
                death[root] = k
    # byte accounting: when each result's memory is released without a plan
    release: dict[int, list[Ref]] = {}
    for r in roots:
        if r in escaped:
            continue
        k = death[r] if r in fresh else last_use.get(r, pos[r[0]])
        release.setdefault(k, []).append(r)

    pool: dict[tuple[Any, ...], list[Ref]] = {}
    taken: dict[int, Ref] = {}  # step -> the buffer (root) it writes into
    for k, n in enumerate(computed):
        d = g.nodes[n]
        opdef = d["op"]
        spec = d["specs"][0] if d["specs"] else None
        out0 = (n, 0)
        if spec is not None and out0 in fresh and opdef.out_arg and spec.shape != ():
            took = None
            if opdef.kind == "elementwise":
                took = _in_place(g, d, k, roots, fresh, escaped, death, names, mp)
            if took is None and None not in spec.shape:
                bucket = pool.get((spec.shape, spec.dtype))
                if bucket:
                    took = bucket.pop()
                    mp.out[k] = names[took]
                    mp.hold[names[took]] = k
                    mp.guards[k] = _layout_guard(
                        names[took], [names[r] for r in d["inputs"]]
                        if opdef.kind == "elementwise" else [], [])
                    mp.reused += 1
            if took is not None:
                taken[k] = took
                # NOTE: a reused buffer died before this step: only an in-place write reads it
                mp.writes[n] = ("in place" if took in d["inputs"] else "reuses", took[0])
        if d["specs"] and k not in taken and opdef is not read_variable_p:
            # NOTE: this step allocates: a dead buffer held across it would raise the peak
            pool.clear()
        for r in release.get(k, ()):
            spec_r = g.nodes[r[0]]["specs"][r[1]]
            if r in fresh and r != taken.get(k) and None not in spec_r.shape and spec_r.shape:
                pool.setdefault((spec_r.shape, spec_r.dtype), []).append(r)

    # byte accounting, without and with the plan
    passed_on = set(taken.values())  # buffers another result took over
    live = live_planned = 0
    for k, n in enumerate(computed):
        d = g.nodes[n]
        for i, spec in enumerate(d["specs"]):
            if d["op"] is read_variable_p:  # the variable's own array: nothing allocated
                break
            b = spec_nbytes(spec)
            if b is None:
                mp.unknown += 1
                continue
            mp.unplanned_sum += b
            live += b
            if not (i == 0 and k in taken):
                live_planned += b
        mp.unplanned_peak = max(mp.unplanned_peak, live)
        mp.planned_peak = max(mp.planned_peak, live_planned)
        for r in release.get(k, ()):
            src = g.nodes[r[0]]
            b = 0 if src["op"] is read_variable_p else spec_nbytes(src["specs"][r[1]]) or 0
            live -= b
            if r not in passed_on:
                live_planned -= b
    return mp


def _in_place(g: Any, d: dict[str, Any], k: int, roots: dict[Ref, frozenset[Ref]],
              fresh: set[Ref], escaped: set[Ref], death: dict[Ref, int],
              names: dict[Ref, str], mp: MemoryPlan) -> Ref | None:
    """An input of elementwise node ``d`` (step ``k``) whose buffer dies here and can take the
    result, or None; records the choice in ``mp``."""
    spec = d["specs"][0]
    inputs = d["inputs"]
    for r in inputs:
        if (r not in fresh or r in escaped or death[r] != k
                or g.nodes[r[0]]["specs"][r[1]] != spec):
            continue
        # NOTE: an input that is another view of the same buffer would be overwritten while
        # it is read: then no in-place write
        if any(o != r and r in roots.get(o, ()) for o in inputs):
            continue
        shapes = []
        if None in spec.shape:
            # the result's shape is the inputs' broadcast shape: when another input has an
            # unknown dim, check at run time that it matches this one
            for o in inputs:
                if o != r and None in g.nodes[o[0]]["specs"][o[1]].shape:
                    shapes.append(f"{names[o]}.shape == {names[r]}.shape")
        mp.out[k] = names[r]
        mp.guards[k] = _layout_guard(names[r], [names[o] for o in inputs], shapes)
        mp.in_place += 1
        return r
    return None


def _layout_guard(out: str, inputs: list[str], shapes: list[str]) -> str:
    """The run-time condition for writing into buffer ``out``: the ``shapes`` checks, and a
    C-contiguous ``out`` (and ``inputs``, for an elementwise op) — so the result has the
    memory layout the op gives on its own: numpy's ufuncs follow their operands' layout, and a
    later matmul or sum may round differently in another."""
    flags = [f"{n}.flags.c_contiguous" for n in dict.fromkeys([out, *inputs])]
    return " and ".join(sorted(set(shapes)) + flags)


class Slots:
    """The schedule of ``fetches`` and the Python name of every tensor in the generated code:
    ``p{i}`` for the placeholders, ``c{i}`` for the constants, ``t{k}`` (``t{k}_{i}`` for
    several outputs) for the result of step ``k``; ``last_use`` maps a tensor to the last step
    that reads it."""

    def __init__(self, graph: GraphIR, fetches: Sequence[Ref]) -> None:
        g = graph.nx
        self.order = schedule(graph, fetches)
        self.names: dict[Ref, str] = {}
        self.placeholders: list[str] = []
        self.constants: list[str] = []
        self.computed: list[str] = []
        for n in self.order:
            d = g.nodes[n]
            if d["op"] is constant_p:
                self.constants.append(n)
                self.names[(n, 0)] = f"c{len(self.constants)}"
            elif d["op"] is placeholder_p:
                self.names[(n, 0)] = f"p{len(self.placeholders)}"
                self.placeholders.append(n)
            else:
                k = len(self.computed)
                for i in range(len(d["specs"])):
                    self.names[(n, i)] = f"t{k}" if len(d["specs"]) == 1 else f"t{k}_{i}"
                self.computed.append(n)
        self.last_use: dict[Ref, int] = {}
        for k, n in enumerate(self.computed):
            for r in g.nodes[n]["inputs"]:
                self.last_use[r] = k


def memory_plan(graph: GraphIR, fetches: Sequence[Ref], slots: Slots | None = None
                ) -> MemoryPlan:
    """The memory plan for fetching ``fetches``: the one the optimizer previewed for them when
    the graph has not changed since (level 3), else a new one.

    >>> import numpy as np, graphexec as gx
    >>> from graphexec.passes.memory import memory_plan
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((4, 4), "float32", name="x")
    ...     y = gx.exp(gx.sin(x))
    >>> memory_plan(g, [("exp", 0)])
    <MemoryPlan: 1 in place, 0 reused; peak 64 B planned vs 128 B unplanned, sum of results 128 B>
    """
    fetches = tuple(fetches)
    hit = graph._preview
    if hit is not None and hit[0] == fetches and hit[1] == graph.version:
        return hit[2]
    slots = Slots(graph, fetches) if slots is None else slots
    mp = plan_buffers(graph, slots.computed, fetches, slots.names, slots.last_use)
    graph._preview = (fetches, graph.version, mp)
    return mp
