"""The basic passes: dead code elimination, common subexpression elimination and constant
folding.

Each pass is ``fn(graph, ...) -> changed`` and rewrites ``graph.nx`` in place, keeping each
node's ``inputs`` tuple and its keyed input edges in agreement, so it can be handed to
``Graph.apply_pass``.  A pass may append a line per rewrite to ``actions``.

Passes remove nodes (DCE, CSE): name the nodes you will fetch in ``keep`` so they survive.
Constant folding rewrites a node into a constant in place, keeping its name.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .. import tree
from ..ir import GraphIR, Ref
from ..ops.state import constant_p, placeholder_p
from ..registry import REGISTRY
from .core import keep_names, node_key, record, remove_node, replace_uses, rewrite_node

__all__ = ["dead_code_elimination", "common_subexpression_elimination", "constant_folding"]


# -- passes --------------------------------------------------------------------------------------
def dead_code_elimination(graph: GraphIR, keep: Iterable[Any] = (),
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
    kept = keep_names(keep)

    def dead(n: str) -> bool:
        op = g.nodes[n]["op"]
        return not g.succ[n] and n not in kept and op is not placeholder_p and op.pure

    work = [n for n in g if dead(n)]
    removed = 0
    while work:
        n = work.pop()
        if n not in g or not dead(n):
            continue
        preds = {src for src, _ in g.nodes[n]["inputs"]}
        op = g.nodes[n]["op"]
        remove_node(graph, n)
        removed += 1
        record(actions, f"removed {n} ({op.name})", n, "dead: no path to a fetch")
        work.extend(p for p in preds if p in g and dead(p))
    return removed + _prune_outputs(graph, kept, actions) > 0


def _prune_outputs(graph: GraphIR, kept: set[str], actions: list[str] | None) -> int:
    """Outputs of a ``cond`` nobody reads, and stacked outputs of a ``scan``, leave the node
    and its subgraphs (which then compute only what the rest needs); the outputs that stay
    are renumbered in their consumers.  The loops' carries stay: the next step reads them."""
    g = graph.nx
    pruned = 0
    for n in list(g):
        d = g.nodes[n]
        op = d["op"]
        if n in kept or op.name not in ("cond", "scan") or d["attrs"].get("history"):
            continue
        used = {e["out_index"] for _, _, e in g.out_edges(n, data=True)
                if e["out_index"] is not None}
        first = d["attrs"]["n_carry"] if op.name == "scan" else 0  # the carries always stay
        keep_idx = [k for k in range(len(d["specs"])) if k < first or k in used]
        if len(keep_idx) == len(d["specs"]):
            continue
        graph.touch(n)
        key = "branches" if op.name == "cond" else "body"
        subs = d["attrs"][key]
        new = tuple(_with_outputs(b, keep_idx) for b in (subs if key == "branches" else (subs,)))
        d["attrs"] = {**d["attrs"], key: new if key == "branches" else new[0]}
        dropped = len(d["specs"]) - len(keep_idx)
        d["specs"] = tuple(d["specs"][k] for k in keep_idx)
        for j, k in enumerate(keep_idx):  # NOTE: ascending: a target slot is free by then
            if j != k:
                replace_uses(graph, (n, k), (n, j))
        pruned += 1
        record(actions, f"pruned {dropped} unused output(s) of {n} ({op.name})", n,
               "dead: outputs no fetch reads")
    return pruned


def _with_outputs(branch: Any, keep_idx: list[int]) -> Any:
    """A copy of a subgraph object (``gx.cond``'s Branch) giving only the outputs
    ``keep_idx``."""
    outputs = [branch.outputs[k] for k in keep_idx]
    return type(branch)(branch.name, branch.graph, branch.params, branch.feed, outputs,
                        tree.flatten([0] * len(outputs))[1])


def common_subexpression_elimination(graph: GraphIR, keep: Iterable[Any] = (),
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
    kept = keep_names(keep)
    seen: dict[Any, str] = {}
    merged = 0
    for n in graph.topological_order():
        d = g.nodes[n]
        op = d["op"]
        if (op.kind == "source" and op is not constant_p) or not op.pure:
            continue
        try:
            key = node_key(d)
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
        remove_node(graph, n)
        merged += 1
        record(actions, f"merged {n} into {first} ({op.name})", n, f"cse: same as {first}",
               (first,))
    return merged > 0


def constant_folding(graph: GraphIR, max_bytes: int = 1 << 20,
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
    >>> g.nx.nodes["exp"]["op"].name, g.run(y, {x: [1.0, 1.0]})
    ('constant', array([2.        , 3.71828198]))
    """
    g = graph.nx
    folded = 0
    for n in graph.topological_order():
        d = g.nodes[n]
        opdef = d["op"]
        if (opdef.kind == "source" or not opdef.pure or opdef.n_outputs != 1
                or len(d["specs"]) != 1):
            continue
        if not all(g.nodes[src]["op"] is constant_p and not g.nodes[src]["control"]
                   for src, _ in d["inputs"]):
            continue  # NOTE: a constant with control inputs is a barrier: never folded in
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
        sources = tuple(dict.fromkeys(src for src, _ in d["inputs"]))
        rewrite_node(graph, n, constant_p, (), {"value": value})
        folded += 1
        record(actions, f"folded {n} ({opdef.name}) to {spec!r}", n,
               f"folded: {opdef.name} of constants" if sources else f"folded: {opdef.name}",
               sources)
    return folded + _fold_constant_conds(graph, actions) > 0


def _fold_constant_conds(graph: GraphIR, actions: list[str] | None) -> int:
    """A ``cond`` whose predicate is a constant becomes the branch it picks, inlined: its
    nodes join the graph and its consumers read them; a single-output node stays, as the
    identity of its output, for a fetch by name (DCE removes it otherwise)."""
    g = graph.nx
    folded = 0
    conds = {n for n, d in g.nodes(data=True) if "branches" in d["op"].subgraphs}
    if not conds:  # NOTE: the common case, without sorting the graph
        return 0
    for n in graph.topological_order(conds):
        d = g.nodes[n]
        src = d["inputs"][0][0]
        if g.nodes[src]["op"] is not constant_p or g.nodes[src]["control"]:
            continue
        which = 0 if bool(np.asarray(g.nodes[src]["attrs"]["value"])) else 1
        b = d["attrs"]["branches"][which]
        outs = _inline(graph, b, d["inputs"][1:])
        for k, r in enumerate(outs):
            replace_uses(graph, (n, k), r)
        if len(outs) == 1:  # NOTE: fetched by name, it is the inlined output's identity (a
            # cast to its own dtype, which passes gradients: optimize may run before gradients)
            rewrite_node(graph, n, REGISTRY["cast"], outs, {"dtype": d["specs"][0].dtype})
        folded += 1
        record(actions, f"folded {n} (cond of a constant): its {('true', 'false')[which]} "
                        f"branch inlined", n, "folded: cond of a constant predicate", (src,))
    return folded


def _inline(graph: GraphIR, branch: Any, values: Sequence[Ref]) -> list[Ref]:
    """The nodes of ``branch`` (a ``gx.cond`` branch) added to ``graph``, reading ``values``
    (the refs of the node's inputs after the predicate); the refs of its outputs."""
    env: dict[Ref, Ref] = {(p, 0): values[i]
                           for p, i in zip(branch.params, branch.feed, strict=True)}
    sub = branch.graph.nx
    for m in branch.graph.topological_order():
        md = sub.nodes[m]
        if md["op"] is placeholder_p:
            continue
        new = graph.add_node(md["op"], [env[r] for r in md["inputs"]], md["attrs"], md["specs"],
                             md["loc"], name=m)
        env.update({(m, i): (new, i) for i in range(len(md["specs"]))})
    return [env[r] for r in branch.outputs]


