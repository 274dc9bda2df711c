"""Epilogue fusion: a ``matmul`` or ``conv2d`` with the bias add and the activation that follow
it becomes one ``fused_dense`` or ``fused_conv2d`` node (see ``graphexec.ops.fused_nn``), which
computes the bias and the activation in place on the product: bit-identical results, fewer
nodes and no intermediate arrays.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import GraphexecError
from ..ir import GraphIR
from ..ops.fused_nn import bias_keeps_shape, fusable_activation
from ..ops.math import add_p
from ..registry import OpDef
from .core import Ref, keep_names, record, remove_node, replace_uses, rewrite_node

__all__ = ["epilogue_fusion"]


def _is_activation(d: dict[str, Any]) -> bool:
    return len(d["inputs"]) == 1 and not d["attrs"] and fusable_activation(d["op"])


def _label(fused: OpDef) -> str:
    return fused.name.removeprefix("fused_")  # fused_dense -> dense


def _reader(g: Any, n: str) -> tuple[str | None, bool]:
    """The one node reading the value of ``n`` (None if there are more, or none), and
    whether other nodes read its shape only (``OpDef.shape_only``: the ``like`` operands of the
    gradient primitives, as the gradient of ``mm + b`` reads ``mm``).  Such a use of an absorbed
    tensor reads the fused result instead, which has the same spec and run-time shape; a
    control use keeps the node as it is."""
    readers, shape_uses = [], False
    for dst, slots in g.succ[n].items():
        op = g.nodes[dst]["op"]
        for slot in slots:
            if slot in op.shape_only:
                shape_uses = True
            else:
                readers.append(dst)
    return (readers[0] if len(readers) == 1 else None), shape_uses


def epilogue_fusion(graph: GraphIR, keep: Iterable[Any] = (),
                    actions: list[str] | None = None) -> bool:
    """Fuse ``matmul -> add(bias) -> activation`` into one ``fused_dense`` node and
    ``conv2d -> add(bias) -> activation`` into one ``fused_conv2d`` node; the bias add (on
    either side) or the activation may be missing.

    The last node of each chain is rewritten in place, keeping its name and consumers.  The
    nodes it absorbs must not be named in ``keep``, and the next node of the chain must be the
    only one reading their value; other uses may read their shape only (the gradient of the
    bias add reads the product's), and then read the fused node instead, provided the bias is
    a source node (a variable read, a placeholder or a constant).  The bias must surely keep
    the product's shape and dtype, and the activation (relu, sigmoid, tanh, ...) its dtype.
    Where the add feeds more than the activation (in training graphs relu's gradient reads
    its input), only the product and the bias fuse.  Linear in the graph's size; returns
    whether anything was fused.

    >>> import numpy as np, graphexec as gx
    >>> from graphexec.passes.epilogue import epilogue_fusion
    >>> layer = gx.layers.Dense(3, activation="relu", seed=0, name="dense")
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((None, 4), "float32", name="x")
    ...     y = layer(x)
    >>> xv = np.ones((2, 4), "float32")
    >>> before = g.run(y, {x: xv}, optimize=0)
    >>> actions = []
    >>> g.apply_pass(lambda graph: epilogue_fusion(graph, keep=[y], actions=actions))
    True
    >>> actions
    ['dense: dense/matmul + dense/add + dense/relu -> dense/relu']
    >>> g.nx.nodes["dense/relu"]["op"].name, bool((g.run(y, {x: xv}, optimize=0) == before).all())
    ('fused_dense', True)
    """
    g = graph.nx
    kept = keep_names(keep)
    roots = [n for n, d in g.nodes(data=True) if d["op"].epilogue is not None]
    fused = 0
    for root in roots:
        nxt, shape_uses = _reader(g, root)
        if root in kept or nxt is None:
            continue
        label = _label(g.nodes[root]["op"].epilogue)
        d = g.nodes[nxt]
        # candidate chains, longest first: (nodes, bias, bias_first, activation, shape uses)
        chains: list[tuple[list[str], Ref | None, bool, str | None, bool]] = []
        if d["op"] is add_p:
            bias_first = d["inputs"][1] == (root, 0)
            bias = d["inputs"][0 if bias_first else 1]
            last, more = _reader(g, nxt)
            if nxt not in kept and last is not None and _is_activation(g.nodes[last]):
                chains.append(([root, nxt, last], bias, bias_first, g.nodes[last]["op"],
                               shape_uses or more))
            chains.append(([root, nxt], bias, bias_first, None, shape_uses))
        elif _is_activation(d):
            chains.append(([root, nxt], None, False, d["op"], shape_uses))
        for chain, bias, bias_first, act, rewire in chains:
            if any(g.nodes[n]["control"] for n in chain):
                continue  # NOTE: nodes with control inputs are barriers: never absorbed
            # NOTE: shape uses move to the fused node, which must then not depend on them: its
            # inputs are the root's (made before the root) and a bias that is a source node
            if rewire and bias is not None and g.nodes[bias[0]]["inputs"]:
                continue
            if _fuse(graph, chain, bias, bias_first, act, rewire):
                fused += 1
                record(actions, f"{label}: {' + '.join(chain)} -> {chain[-1]}", chain[-1],
                       f"fused: {len(chain)} members ({label} epilogue)", chain)
                break
    return fused > 0


def _fuse(graph: GraphIR, chain: list[str], bias: Ref | None, bias_first: bool,
          act: str | None, rewire: bool) -> bool:
    """Rewrite ``chain[-1]`` into the fused op of ``chain[0]``, move the shape uses of the rest
    of the chain to it and remove them; False (nothing changed) where the fused op's infer rule
    refuses or gives another spec."""
    g = graph.nx
    root = g.nodes[chain[0]]
    op = root["op"].epilogue
    attrs: dict[str, Any] = {**root["attrs"], "activation": act}
    if bias_first:
        attrs["bias_first"] = True
    inputs = (*root["inputs"], *(() if bias is None else (bias,)))
    specs = [g.nodes[src]["specs"][i] for src, i in inputs]
    if bias is not None and not bias_keeps_shape(root["specs"][0].shape, specs[-1].shape):
        return False
    try:
        spec = op.infer(*specs, **attrs)
    except GraphexecError:
        return False
    last = chain[-1]
    if spec != g.nodes[last]["specs"][0] or any(
            g.nodes[n]["specs"][0] != spec for n in chain[:-1]):
        return False
    # NOTE: the fused nodes' names and lines, so a failure names the node it was before fusion
    rewrite_node(graph, last, op, inputs,
                 {**attrs, "origin": tuple((n, g.nodes[n]["loc"]) for n in chain)})
    for n in chain[-2::-1]:  # the add's shape uses, then the root's (the add is gone then)
        if rewire:
            replace_uses(graph, (n, 0), (last, 0))
        remove_node(graph, n)
    return True
