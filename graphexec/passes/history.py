"""The pass history: for every pass run that changed the graph, which nodes it added, removed,
rewrote or rewired, what each came from and why; and the graph after any pass, rebuilt from
these diffs (the history keeps the optimized graph's nodes and, per pass, only the old data of
the nodes it touched, and walks back from the end).

``optimize`` fills one in (``OptimizationReport.history``; ``CompiledGraph.history``): the
viewer's filmstrip, ``gx.viz.render_passes`` and the profiler read it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..ir import GraphIR, control_key
from .core import Action

__all__ = ["Change", "Step", "History", "KINDS"]

#: what a pass can do to a node: ``rewired`` is a node whose op stayed but whose inputs were
#: redirected (its producer was merged away); ``in place`` a node the memory planner lets write
#: into the buffer of another
KINDS = ("added", "removed", "rewritten", "rewired", "in place")


@dataclass(frozen=True, slots=True)
class Change:
    """What one pass run did to one node: ``kind`` (one of ``KINDS``), the node's name, its
    stable ``id``, its op (after the change; before, for a removed node), ``why`` in a few words
    and the nodes it came from (``origin``)."""

    kind: str
    node: str
    id: int | None
    op: str
    why: str
    origin: tuple[str, ...] = ()

    def __str__(self) -> str:
        came = f" <- {', '.join(self.origin)}" if self.origin else ""
        return f"{self.kind} {self.node} ({self.op}): {self.why}{came}"


class Step:
    """One pass run that changed the graph.  It keeps only the data of the nodes the pass
    touched, as they were before it (``before``; None for a node it added); ``changes`` (what
    happened to each, and why) is worked out from these when first read."""

    def __init__(self, history: History, name: str, rnd: int, seconds: float,
                 nodes_after: int, actions: list[str],
                 before: dict[str, dict[str, Any] | None],
                 changes: list[Change] | None = None) -> None:
        self.name, self.round, self.seconds, self.nodes_after = name, rnd, seconds, nodes_after
        self.actions = actions
        self.before = before
        self._history = history
        self._changes = changes

    @property
    def changes(self) -> list[Change]:
        """The nodes this pass run added, rewrote and rewired (in the order it touched them),
        then those it removed."""
        if self._changes is None:
            self._history._resolve()
        assert self._changes is not None
        return self._changes

    def count(self, kind: str) -> int:
        """How many changes of ``kind`` this step made."""
        return sum(c.kind == kind for c in self.changes)

    def summary(self) -> str:
        """One line: the pass, its round, and how many nodes of each kind it changed."""
        counts = ", ".join(f"{self.count(k)} {k}" for k in KINDS if self.count(k))
        return f"{self.name} (round {self.round}): {counts or 'nothing'}; {self.nodes_after} nodes"

    def __str__(self) -> str:
        return "\n".join([self.summary(), *(f"  {c}" for c in self.changes)])

    def __repr__(self) -> str:
        return f"<Step {self.summary()}>"


def _rewired(old: dict[str, Any], new: dict[str, Any]) -> str:
    """Why a node whose op stayed changed: which inputs now read another tensor."""
    parts = [f"{a[0]}:{a[1]} -> {b[0]}:{b[1]}" for a, b in zip(old["inputs"], new["inputs"])
             if a != b]
    if len(old["inputs"]) != len(new["inputs"]):
        parts.append(f"{len(old['inputs'])} -> {len(new['inputs'])} inputs")
    if old["control"] != new["control"]:
        parts.append("control inputs redone")
    return "inputs: " + ", ".join(parts)


def _kind(old: dict[str, Any] | None, new: dict[str, Any] | None) -> str | None:
    if new is None:
        return None if old is None else "removed"
    if old is None:
        return "added"
    if (old["op"] is not new["op"] or old["attrs"] is not new["attrs"]
            or old["specs"] != new["specs"]):
        return "rewritten"
    if old["inputs"] != new["inputs"] or old["control"] != new["control"]:
        return "rewired"
    return None


def _changes(name: str, actions: list[str], before: dict[str, dict[str, Any] | None],
             after: dict[str, dict[str, Any]]) -> list[Change]:
    """What a pass did to the nodes it touched (``before``), given the nodes after it."""
    own: dict[str, Action] = {}
    absorbed: dict[str, Action] = {}
    for line in actions:
        if isinstance(line, Action):
            own[line.node] = line
            for o in line.origin:
                if o != line.node:
                    absorbed.setdefault(o, line)
    changes: list[Change] = []
    removed: list[Change] = []
    for n, old in before.items():
        new = after.get(n)
        kind = _kind(old, new)
        if kind is None:
            continue
        a = own.get(n)
        if a is not None:
            why, origin = a.why, a.origin
        elif kind == "rewired" and old is not None and new is not None:
            why, origin = _rewired(old, new), ()
        elif kind == "removed" and n in absorbed:
            b = absorbed[n]
            why, origin = f"{b.why.partition(':')[0]} into {b.node}", ()
        elif kind == "removed":
            why, origin = "dead: no consumers left", ()
        else:
            why, origin = name.replace("_", " "), ()
        d = new if new is not None else old
        assert d is not None
        change = Change(kind, n, d.get("id"), d["op"].name, why, origin)
        (changes if new is not None else removed).append(change)
    return changes + removed


def build_graph(name: str, state: dict[str, dict[str, Any]],
                gradient_nodes: Iterable[str] = ()) -> GraphIR:
    """A GraphIR holding the nodes ``state`` (name -> node data), its edges redrawn from each
    node's inputs and control inputs (which must all be in ``state``)."""
    g = GraphIR(name=name)
    g.nx.add_nodes_from((n, dict(d)) for n, d in state.items())
    for n, d in state.items():
        for slot, (src, idx) in enumerate(d["inputs"]):
            g.nx.add_edge(src, n, key=slot, out_index=idx)
        for j, src in enumerate(d["control"]):
            g.nx.add_edge(src, n, key=control_key(j), out_index=None)
    g.gradient_nodes = set(gradient_nodes) & set(state)
    return g


def _undo(state: dict[str, dict[str, Any]], step: Step) -> None:
    """Turn the node data after ``step`` into the node data before it."""
    for n, old in step.before.items():
        if old is None:
            state.pop(n, None)
        else:
            state[n] = old


class History:
    """What ``optimize`` did, pass by pass and node by node.

    ``len(history)`` steps (pass runs that changed the graph), ``history[k]`` the ``Step``,
    ``history.graph(k)`` the graph after step ``k`` (``0``: before any pass), and
    ``history.provenance(node)`` every change of one node.  Recording costs in proportion to
    what the passes change, not to the graph's size: the pass helpers (``rewrite_node``,
    ``replace_uses``, ``remove_node``, ...) say which nodes they are about to change
    (``GraphIR.touch``), and each step keeps those nodes' data from before it, nothing else.

    >>> import graphexec as gx
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((2,), "float64", name="x")
    ...     y = gx.exp(x) * 1.0 + gx.exp(x)
    >>> h = g.compile(y, optimize=2).history
    >>> print(h)  # doctest: +NORMALIZE_WHITESPACE
    history of g...@O2: 6 -> 2 nodes in 3 steps
      1. common_subexpression_elimination (round 1): 1 removed, 1 rewired; 5 nodes
      2. algebraic_simplification (round 1): 2 removed, 1 rewired; 3 nodes
      3. elementwise_fusion (round 3): 1 removed, 1 rewritten; 2 nodes
    >>> for c in h[2].changes: print(c)
    rewritten add (fused_elementwise): fused: 2 members <- exp, add
    removed exp (exp): fused into add
    >>> len(h.graph(0)), len(h.graph(2)), len(h.graph())
    (6, 3, 2)
    >>> h.provenance("add")  # doctest: +ELLIPSIS
    [(1, Change(kind='rewired', node='add', ...why='inputs: exp_1:0 -> exp:0'...)), ...]
    """

    def __init__(self, graph: GraphIR) -> None:
        self.name = graph.name
        self.gradient_nodes = set(graph.gradient_nodes)
        self.steps: list[Step] = []
        self.nodes_before = len(graph)
        self._final: dict[str, dict[str, Any]] = {}  # the nodes after the last pass
        graph._journal = {}

    # -- recording ----------------------------------------------------------------------
    def observe(self, graph: GraphIR, name: str, rnd: int, actions: list[str],
                seconds: float) -> Step | None:
        """Record that pass ``name`` just ran on ``graph``: the data of the nodes it touched
        (``GraphIR.touch``), as they were, and its ``Action`` lines (why).  None when it
        touched nothing."""
        journal, graph._journal = graph._journal, {}
        if not journal:
            return None
        step = Step(self, name, rnd, seconds, len(graph), actions, journal)
        self.steps.append(step)
        return step

    def observe_memory(self, graph: GraphIR, memory: Any, seconds: float, rnd: int) -> None:
        """Record the memory plan's buffer decisions (``MemoryPlan.writes``) as a step."""
        writes = getattr(memory, "writes", None)
        if not writes:
            return
        nodes = graph.nx.nodes
        changes = []
        for n, (how, into) in writes.items():
            d = nodes[n]
            why = (f"in place: writes into {into}" if how == "in place"
                   else f"reuses: the buffer of {into}")
            changes.append(Change("in place", n, d.get("id"), d["op"].name, why, (into,)))
        self.steps.append(Step(self, "memory_planning", rnd, seconds, len(graph), [], {},
                               changes))

    def finish(self, graph: GraphIR, copy: bool = True) -> None:
        """Stop recording: the graph's nodes now are the state after the last step.  They are
        copied unless ``copy`` is false, for a graph nothing will change again (the private
        copy ``Graph.compile`` optimizes)."""
        graph._journal = None
        self._final = ({n: dict(d) for n, d in graph.nx.nodes.items()} if copy
                       else dict(graph.nx.nodes.items()))

    @property
    def final(self) -> dict[str, dict[str, Any]]:
        """The node data after the last pass (name -> data)."""
        return dict(self._final)

    # -- reading ------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, k: int) -> Step:
        return self.steps[k]

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def nodes(self, k: int = -1) -> dict[str, dict[str, Any]]:
        """The node data after step ``k`` (``0``: before any pass; ``-1``: after the last),
        undoing the later steps from the final graph, in the order the nodes were made."""
        if not isinstance(k, int) or isinstance(k, bool):
            raise TypeError(f"history of {self.name}: a step number, not {k!r}")
        k = len(self.steps) if k == -1 else k
        if not 0 <= k <= len(self.steps):
            raise IndexError(f"history of {self.name} has steps 0..{len(self.steps)}, not {k}")
        state = self.final
        for step in reversed(self.steps[k:]):
            _undo(state, step)
        if k == len(self.steps) or any(d.get("id") is None for d in state.values()):
            return state
        # NOTE: nodes put back come last; ids count up as nodes are made: program order again
        return dict(sorted(state.items(), key=lambda kv: kv[1]["id"]))

    def _resolve(self) -> None:
        """Work out every step's changes, walking back from the final graph."""
        state = self.final
        for step in reversed(self.steps):
            if step._changes is None:
                step._changes = _changes(step.name, step.actions, step.before, state)
            _undo(state, step)

    def graph(self, k: int = -1) -> GraphIR:
        """The graph after step ``k`` (``0``: before any pass; ``-1``: after the last), rebuilt
        from the diffs: data only (draw it, print it; it is not for running)."""
        return build_graph(f"{self.name}#{len(self.steps) if k == -1 else k}",
                           self.nodes(k), self.gradient_nodes)

    def diff(self, k: int) -> tuple[GraphIR, dict[str, Change], list[tuple[str, str]]]:
        """What step ``k`` (from 1) did, as one graph to draw: the graph after it plus the
        nodes it removed; each changed node's ``Change``; and the (producer, consumer) edges
        it took away from nodes that stayed."""
        union, changes, ghosts = self.diff_nodes(k)
        return build_graph(f"{self.name}#{k}", union, self.gradient_nodes), changes, ghosts

    def diff_nodes(self, k: int) -> tuple[dict[str, dict[str, Any]], dict[str, Change],
                                          list[tuple[str, str]]]:
        """``diff``, with the node data of the union graph (name -> data) for the graph."""
        if not 1 <= k <= len(self.steps):
            raise IndexError(f"history of {self.name} has steps 1..{len(self.steps)}, not {k}")
        before, after = self.nodes(k - 1), self.nodes(k)
        union = {n: after.get(n) or before[n] for n in before}
        union.update((n, d) for n, d in after.items() if n not in before)
        ghosts = []
        for n, old in self.steps[k - 1].before.items():
            new = after.get(n)
            if old is None or new is None:
                continue
            now = {src for src, _ in new["inputs"]}
            ghosts += [(src, n) for src in dict.fromkeys(s for s, _ in old["inputs"])
                       if src not in now]
        changes = {c.node: c for c in self.steps[k - 1].changes}
        return union, changes, ghosts

    def provenance(self, node: str) -> list[tuple[int, Change]]:
        """Every change of ``node`` (by name), as (step number from 1, change)."""
        return [(k, c) for k, step in enumerate(self.steps, 1) for c in step.changes
                if c.node == node]

    def __str__(self) -> str:
        after = self.steps[-1].nodes_after if self.steps else self.nodes_before
        lines = [f"history of {self.name}: {self.nodes_before} -> {after} nodes in "
                 f"{len(self.steps)} steps"]
        lines += [f"  {k}. {s.summary()}" for k, s in enumerate(self.steps, 1)]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<History of {self.name}: {len(self.steps)} steps>"
