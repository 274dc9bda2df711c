"""Reverse-mode differentiation: ``GradientTape`` (eager and graph) and ``gradients`` (graph).

One backward engine serves both modes.  It walks a record of ``(op, inputs, attrs, outputs)``
in reverse and calls each op's gradient rule (``OpDef.vjp``), which is written with graphexec
ops: eagerly those run now (and a surrounding tape records them, which gives higher-order
gradients); in a graph they add ordinary nodes, so the backward pass is a graph too.
The record is the tape's list of executed ops in eager mode, and the graph's own nodes in
graph mode.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import tree
from .context import _TAPES, current_graph
from .errors import (
    GraphError,
    InvalidArgumentError,
    ShapeError,
    user_location,
)
from .ir import needed_nodes
from .ops.creation import ones_like, zeros_like
from .ops.grad import stop_gradient
from .ops.state import Variable, read_variable_p
from .registry import OpDef, fmt_shape, shapes_match
from .tensor import TAPES_OPEN, SymbolicTensor, Tensor, as_tensor

__all__ = ["GradientTape", "gradients", "stop_gradient"]

Entry = tuple[OpDef, Sequence[Tensor], dict[str, Any], Any]
_LOCK = threading.Lock()


def _key(t: Tensor) -> Any:
    """Identity of a tensor in a record: the object eagerly, the (node, output) in a graph."""
    return id(t) if t._graph is None else (t._node, t._index)


def _differentiable(t: Tensor) -> bool:
    return np.dtype(t.dtype).kind in "fc"


class GradientTape:
    """Records ops on watched tensors to compute gradients, like ``tf.GradientTape``.

    Trainable Variables used inside the block are watched automatically (unless
    ``watch_accessed_variables=False``); other tensors with ``tape.watch``.  Eagerly the tape
    records the ops as they run, each Variable with the value that op read; inside
    ``gx.graph()`` or a traced function it differentiates the nodes built inside its block,
    with the same watch rules, so both modes give the same gradients.

    >>> import graphexec as gx
    >>> x = gx.constant(3.0)
    >>> with gx.GradientTape() as tape:
    ...     tape.watch(x)
    ...     y = x * x + 2.0 * x
    >>> tape.gradient(y, x).numpy()
    array(8., dtype=float32)
    """

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True) -> None:
        self.persistent = persistent
        self.watch_accessed_variables = watch_accessed_variables
        self._entries: list[Entry] | None = []
        self._watched: dict[Any, Tensor] = {}  # key -> tensor (kept alive so ids stay unique)
        self._watched_vars: dict[int, Variable] = {}
        self._reads: dict[int, list[Tensor]] = {}  # id(variable) -> the reads recorded
        self._graph: Any = None
        self._start = 0  # graph mode: the first node built inside the block
        self._token: Any = None

    def __enter__(self) -> GradientTape:
        self._graph = current_graph()
        if self._graph is None:
            self._token = _TAPES.set((*_TAPES.get(), self))
            with _LOCK:
                TAPES_OPEN[0] += 1
        else:
            self._start = len(self._graph.nx)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._token is not None:
            _TAPES.reset(self._token)
            self._token = None
            with _LOCK:
                TAPES_OPEN[0] -= 1

    def watch(self, *tensors: Any) -> None:
        """Record operations on these tensors or Variables (or lists of them) too."""
        for t in tensors:
            if isinstance(t, list | tuple):
                self.watch(*t)
            elif isinstance(t, Variable):
                self._watched_vars[id(t)] = t
            elif isinstance(t, Tensor):
                self._watched[_key(t)] = t

    def _watches(self, var: Variable) -> bool:
        return id(var) in self._watched_vars or (self.watch_accessed_variables and var.trainable)

    def _record(self, op: OpDef, inputs: Sequence[Tensor], attrs: dict[str, Any],
                outputs: Any, snapshots: dict[int, Tensor]) -> None:
        if not op.differentiable or self._entries is None:
            return
        watched = self._watched
        hit = False
        recorded = list(inputs)
        for i, x in enumerate(inputs):
            if isinstance(x, Variable):
                if self._watches(x):
                    # NOTE: record the value this op read, not the Variable: a later
                    # assignment must not change what the gradient of this op sees.  Every
                    # tape records the same snapshot, so an outer tape sees the backward ops
                    # an inner tape runs on it (higher-order gradients through Variables).
                    snap = snapshots.get(id(x))
                    if snap is None:
                        snap = snapshots[id(x)] = Tensor(x._value)
                    recorded[i] = snap
                    if id(snap) not in watched:  # x*x reads once
                        self._reads.setdefault(id(x), []).append(snap)
                        watched[id(snap)] = snap
                    hit = True
            elif id(x) in watched:
                hit = True
        if hit:
            self._entries.append((op, recorded, attrs, outputs))
            for o in outputs if isinstance(outputs, tuple) else (outputs,):
                watched[id(o)] = o

    def gradient(self, target: Any, sources: Any, output_gradients: Any = None,
                 unconnected_gradients: str = "none") -> Any:
        """Gradients of ``target`` (a tensor, or a list summed) with respect to ``sources`` (a
        tensor/Variable or a nested list of them, returned in the same structure).

        A source the target does not depend on, or that the tape did not watch, gets ``None``
        (``unconnected_gradients="zero"``: zeros).  A non-persistent tape computes gradients
        once; a persistent one called inside its block records the gradient ops too (as TF).
        """
        if self._entries is None:
            raise GraphError("GradientTape.gradient: a non-persistent tape computes gradients "
                             "only once; use GradientTape(persistent=True) — at "
                             f"{user_location()}")
        seeds = _seeds(target, output_gradients)
        targets = tree.leaves(target)
        if self._graph is not None:
            g = self._graph
            inside = set(list(g.nx)[self._start:])
            reads = {id(v): [g.tensor(n) for n in inside
                             if g.nx.nodes[n]["op"] is read_variable_p
                             and g.nx.nodes[n]["attrs"]["var"] is v]
                     for v in tree.leaves(sources) if isinstance(v, Variable) and self._watches(v)}
            watched = self._watched
            if not self.persistent:
                self._entries = None
            return _structured(sources, lambda flat: _differentiate(
                g, targets, flat, seeds, unconnected_gradients,
                lambda s: reads.get(id(s), []) if isinstance(s, Variable)
                else ([s] if _key(s) in watched else []), inside))
        entries = list(self._entries)
        if not self.persistent:
            self._entries = None
        watched_ids = self._watched
        reads_eager = self._reads

        def run(flat: list[Any]) -> list[Any]:
            def expand(s: Any) -> list[Tensor]:
                if isinstance(s, Variable):
                    return reads_eager.get(id(s), [])
                return [s] if id(s) in watched_ids else []

            return _sum_per_source(flat, expand, lambda keyed: _backward(
                entries, targets, keyed, seeds, unconnected_gradients,
                lambda t: id(t) in watched_ids), unconnected_gradients)

        return _structured(sources, run)


def gradients(ys: Any, xs: Any, grad_ys: Any = None,
              unconnected_gradients: str = "none") -> Any:
    """Add the gradients of ``ys`` (summed) with respect to ``xs`` to the current graph.

    ``xs`` may be graph tensors or Variables (the gradient flows into every read of the
    variable).  The backward pass is made of ordinary nodes, which later passes optimize.

    >>> import numpy as np, graphexec as gx
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((3,), "float64", name="x")
    ...     y = gx.sum(x * x)
    ...     (dx,) = gx.gradients(y, [x])
    >>> g.run(dx, {x: np.array([1.0, 2.0, 3.0])})
    array([2., 4., 6.])
    """
    g = current_graph()
    if g is None:
        raise GraphError(f"gx.gradients builds graph nodes: call it inside a graph block; "
                         f"eagerly, use gx.GradientTape — at {user_location()}")
    targets = tree.leaves(ys)

    def expand(s: Any) -> list[Tensor]:
        if isinstance(s, Variable):
            return [g.tensor(n) for n, d in g.nx.nodes(data=True)
                    if d["op"] is read_variable_p and d["attrs"]["var"] is s]
        return [s]

    return _structured(xs, lambda flat: _differentiate(
        g, targets, flat, _seeds(ys, grad_ys), unconnected_gradients, expand, None))


def _differentiate(g: Any, targets: list[Any], flat: list[Any], seeds: list[Any] | None,
                   unconnected: str, expand: Callable[[Any], list[Tensor]],
                   allowed: set[str] | None) -> list[Any]:
    """Graph gradients of ``targets`` for each source, through the nodes in ``allowed``."""
    for t in targets:
        if not isinstance(t, Tensor) or t._graph is not g:
            raise GraphError(f"gradients: target {t!r} is not a tensor of graph {g.name} — at "
                             f"{user_location()}")

    def backward(keyed: list[Tensor]) -> list[Any]:
        entries, between = _graph_entries(g, targets, keyed, allowed)
        return _backward(entries, targets, keyed, seeds, "none", lambda t: t._node in between)

    before = set(g.nx)
    out = _sum_per_source(flat, expand, backward, unconnected)
    g.gradient_nodes.update(n for n in g.nx if n not in before)
    return out


def _sum_per_source(flat: list[Any], expand: Callable[[Any], list[Tensor]],
                    backward: Callable[[list[Tensor]], list[Any]], unconnected: str) -> list[Any]:
    """Each source stands for the tensors ``expand`` gives (a Variable: its reads); its gradient
    is the sum of theirs."""
    groups = [expand(s) for s in flat]
    grads = iter(backward([t for group in groups for t in group]))
    out = []
    for s, group in zip(flat, groups, strict=True):
        parts = [p for p in (next(grads) for _ in group) if p is not None]
        total = parts[0] if parts else None
        for p in parts[1:]:
            total = total + p
        out.append(_unconnected(s, total, unconnected))
    return out


# ---------------------------------------------------------------------------------------------
# the engine

def _seeds(targets: Any, output_gradients: Any) -> list[Any] | None:
    """The output gradients as a flat list matching the flattened targets."""
    if output_gradients is None:
        return None
    if isinstance(targets, list | tuple | dict):
        return tree.leaves(output_gradients)
    return [output_gradients]


def _structured(sources: Any, fn: Any) -> Any:
    """Call ``fn`` on the flattened sources and give its results back in their structure."""
    flat, treedef = tree.flatten(sources)
    return treedef.unflatten(fn(flat))


def _graph_entries(g: Any, targets: list[Tensor], sources: list[Tensor],
                   allowed: set[str] | None = None) -> tuple[list[Entry], set[str]]:
    """The graph's nodes between ``sources`` and ``targets``, as a forward record, and the set
    of those nodes (sources included)."""
    nxg = g.nx
    up = needed_nodes(g, [t._node for t in targets])  # ancestors of the targets
    down: set[str] = set()
    stack = [s._node for s in sources if s._node in up]
    while stack:  # descendants of the sources, among them
        n = stack.pop()
        if n not in down:
            down.add(n)
            stack.extend(v for v in nxg.successors(n)
                         if v in up and (allowed is None or v in allowed))
    entries: list[Entry] = []
    for n in g.topological_order(down):
        d = nxg.nodes[n]
        op = d["op"]
        if op.kind == "source" or not op.differentiable:
            continue
        inputs = [SymbolicTensor(g, src, i, nxg.nodes[src]["specs"][i]) for src, i in d["inputs"]]
        outs = tuple(SymbolicTensor(g, n, i, s) for i, s in enumerate(d["specs"]))
        entries.append((op, inputs, d["attrs"], outs if op.n_outputs != 1 else outs[0]))
    return entries, down


def _backward(entries: list[Entry], targets: list[Any], sources: list[Any],
              seeds: list[Any] | None, unconnected: str,
              needed: Callable[[Tensor], bool]) -> list[Any]:
    """Reverse accumulation over ``entries``; ``needed(t)`` tells whether tensor ``t`` lies on
    a path from a source (rules that take ``needs`` skip the other inputs' gradients)."""
    if unconnected not in ("none", "zero"):
        raise InvalidArgumentError(f"unconnected_gradients must be 'none' or 'zero', got "
                                   f"{unconnected!r}")
    seeds = [None] * len(targets) if seeds is None else seeds
    if len(seeds) != len(targets):
        raise InvalidArgumentError(f"{len(seeds)} output_gradients for {len(targets)} targets")
    grads: dict[Any, Tensor] = {}

    def accumulate(t: Tensor, g: Tensor) -> None:
        k = _key(t)
        grads[k] = g if k not in grads else grads[k] + g

    for t, seed in zip(targets, seeds, strict=True):
        t = as_tensor(t)
        if not _differentiable(t):
            continue
        if seed is not None:
            seed = as_tensor(seed, None if isinstance(seed, Tensor) else t.dtype)
            if not shapes_match(seed.shape, t.shape):
                raise ShapeError(f"output_gradients: shape {fmt_shape(seed.shape)} differs "
                                 f"from the target's {fmt_shape(t.shape)} — at "
                                 f"{user_location()}")
        accumulate(t, ones_like(t) if seed is None else seed)
    for op, inputs, attrs, outputs in reversed(entries):
        outs = outputs if isinstance(outputs, tuple) else (outputs,)
        gouts = [grads.get(_key(o)) for o in outs]
        if all(g is None for g in gouts):
            continue
        assert op.vjp is not None  # ops passing no gradient are never recorded
        kw = attrs
        if op.vjp_needs:
            kw = {**attrs, "needs": tuple(_differentiable(x) and needed(x) for x in inputs)}
        if isinstance(outputs, tuple):
            gouts = [zeros_like(o) if g is None else g for g, o in zip(gouts, outs, strict=True)]
            gins = op.vjp(tuple(gouts), outputs, *inputs, **kw)
        else:
            gins = op.vjp(gouts[0], outputs, *inputs, **kw)
        for x, gx_ in zip(inputs, gins, strict=True):
            if gx_ is not None and _differentiable(x):
                accumulate(x, gx_)
    return [_unconnected(s, grads.get(_key(s)), unconnected) for s in sources]


def _unconnected(source: Any, grad: Any, unconnected: str) -> Any:
    if grad is not None or unconnected == "none":
        return grad
    return zeros_like(source)
