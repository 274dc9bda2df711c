"""Elementwise fusion: each maximal group of elementwise nodes becomes one
``fused_elementwise`` node, which computes the group in one pass over memory (see
``graphexec.fusion``).

A group grows from its output node towards its inputs: a producer joins when it is a pure,
single-output elementwise op the fused kernel supports, is not named in ``keep``, and all of
its consumers are in the group already.  So every member but the output is used only inside
the group, and contracting the group cannot make a cycle.  Constants of one element become
typed literals of the program; other inputs of the group become the fused node's inputs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..fusion import FusedProgram, Member, fused_elementwise_p, fusible
from ..ir import GraphIR
from ..ops.state import constant_p
from .core import Ref, keep_names, record, remove_node, rewrite_node

__all__ = ["elementwise_fusion"]


def elementwise_fusion(graph: GraphIR, keep: Iterable[Any] = (), actions: list[str] | None = None,
                       min_size: int = 2) -> bool:
    """Fuse maximal groups of elementwise nodes (of at least ``min_size`` members) into one
    ``fused_elementwise`` node each.  The group's output node is rewritten in place, so it
    keeps its name; the other members are removed, so name every node you will fetch in
    ``keep`` (node names or tensors).  Returns whether anything was fused.

    >>> import numpy as np, graphexec as gx
    >>> from graphexec.passes.fusion import elementwise_fusion
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((None, 3), "float32", name="x")
    ...     z = gx.placeholder((3,), "float32", name="z")
    ...     y = (x * 1.5 + 0.25) * z - x
    ...     out = gx.nn.relu(y * y + z * 0.5)
    >>> actions = []
    >>> g.apply_pass(lambda graph: elementwise_fusion(graph, keep=[out], actions=actions))
    True
    >>> actions
    ['fused relu <- [multiply, add, multiply, subtract, multiply, multiply, add]']
    >>> print(g)  # doctest: +ELLIPSIS
    graph g... (6 nodes)
      x: f32[?,3] = placeholder() ...
      z: f32[3] = placeholder() ...
      ...
      relu: f32[?,3] = fused_elementwise[program=<fused 8: multiply, ...>](x, z) ...
    >>> g.run(out, {x: np.ones((2, 3), "float32"), z: np.full(3, 2.0, "float32")})
    array([[7.25, 7.25, 7.25],
           [7.25, 7.25, 7.25]], dtype=float32)
    """
    g = graph.nx
    kept = keep_names(keep)
    order = graph.topological_order()  # members are listed in this order
    pos = {n: i for i, n in enumerate(order)}
    nodes, succ = g.nodes, g.succ
    ok: dict[str, bool] = {}

    def can_fuse(n: str) -> bool:
        hit = ok.get(n)
        if hit is None:
            hit = ok[n] = _fusible(g, n)
        return hit

    grouped: set[str] = set()
    changed = False
    for root in reversed(order):
        if root in grouped or not can_fuse(root):
            continue
        grouped.add(root)
        members = [root]
        inside: dict[str, int] = {}  # producer -> how many of its consumers joined
        stack = [root]
        while stack:
            m = stack.pop()
            for p in dict.fromkeys(src for src, _ in nodes[m]["inputs"]):
                if p in grouped or p in kept or not can_fuse(p):
                    continue
                inside[p] = inside.get(p, 0) + 1
                if inside[p] == len(succ[p]):  # all its consumers are members
                    grouped.add(p)
                    members.append(p)
                    stack.append(p)
        if len(members) < min_size:
            continue
        members.sort(key=pos.__getitem__)
        if _fuse(graph, members):
            changed = True
            ops = ", ".join(nodes[m]["op"].name for m in members[:-1])
            record(actions, f"fused {root} <- [{ops}]", members[-1],
                   f"fused: {len(members)} members", members)
            for m in members[:-1]:
                remove_node(graph, m)
    return changed


def _literal(d: dict[str, Any]) -> np.ndarray | None:
    """The value of a constant node of one element (a literal of a fused program), else None."""
    if d["op"] is not constant_p or d["control"]:
        return None
    value = np.asarray(d["attrs"]["value"])
    return value if value.size == 1 else None


def _fusible(g: Any, n: str) -> bool:
    d = g.nodes[n]
    op = d["op"]
    if (op.fusion is None or not op.pure or len(d["specs"]) != 1 or op.n_outputs != 1
            or d["control"]):
        return False
    dtypes = [g.nodes[src]["specs"][i].dtype for src, i in d["inputs"]]
    return fusible(op, dtypes, d["specs"][0].dtype, d["attrs"])


def _fuse(graph: GraphIR, members: list[str]) -> bool:
    """Rewrite the last of ``members`` (in evaluation order) into the fused node of them all;
    False (and nothing changed) when the group reads no tensor but literals."""
    g = graph.nx
    index = {m: j for j, m in enumerate(members)}
    inputs: dict[Ref, int] = {}
    literals: dict[Any, int] = {}
    lit_values: list[np.ndarray] = []
    program_members = []
    for m in members:
        d = g.nodes[m]
        operands: list[tuple[str, int]] = []
        for ref in d["inputs"]:
            src = ref[0]
            if src in index:
                operands.append(("member", index[src]))
                continue
            value = _literal(g.nodes[src])
            if value is not None:
                key = (value.dtype.str, value.shape, value.tobytes())
                if key not in literals:
                    literals[key] = len(lit_values)
                    lit_values.append(value)
                operands.append(("literal", literals[key]))
            else:
                operands.append(("input", inputs.setdefault(ref, len(inputs))))
        program_members.append(Member(m, d["op"], tuple(operands), d["specs"][0],
                                      tuple(sorted(d["attrs"].items())), d["loc"]))
    if not inputs:
        return False  # constants only: constant folding's job
    specs = [g.nodes[src]["specs"][i] for src, i in inputs]
    program = FusedProgram(specs, program_members, lit_values)
    rewrite_node(graph, members[-1], fused_elementwise_p, list(inputs), {"program": program})
    return True
