"""Batch-norm folding, the classic inference rewrite: a ``batch_norm`` (BatchNormalization at
inference) of a ``matmul`` or ``conv2d`` (with its bias add, if any) becomes the product with
scaled weights plus a new bias,

    batch_norm(x @ W + b) = x @ (W * s) + ((b - mean) * s + beta),  s = gamma / sqrt(var + eps)

one product and one add instead of a product, an add and the normalization.  The weights and
statistics are usually Variables: the new weights are computed from them when the graph runs
(a few ops on the weights, not on the batch), and folded to constants where they are constants.
Equal within rounding: the products round differently from the normalization they replace.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import numpy as np

from ..errors import GraphexecError
from ..ir import GraphIR, Ref
from ..ops.linalg import matmul_p
from ..ops.math import add_p, multiply_p, rsqrt_p, subtract_p
from ..ops.nn import batch_norm_p, conv2d_p
from ..ops.state import constant_p
from ..registry import OpDef, Spec
from .core import keep_names, record, rewrite_node

__all__ = ["batchnorm_folding"]


def _only_reader(g: Any, n: str) -> bool:
    return sum(len(slots) for slots in g.succ[n].values()) == 1


def _add(graph: GraphIR, op: OpDef, inputs: list[Ref], loc: str, name: str,
         attrs: dict[str, Any] | None = None) -> Ref:
    specs = [graph.spec(r) for r in inputs]
    spec = cast(Spec, op.infer(*specs, **(attrs or {})))  # NOTE: these ops have one output
    return (graph.add_node(op, inputs, attrs or {}, (spec,), loc, name=name), 0)


def batchnorm_folding(graph: GraphIR, keep: Iterable[Any] = (),
                      actions: list[str] | None = None) -> bool:
    """Fold each ``batch_norm`` of a ``matmul`` (2-D weights) or ``conv2d``, with a vector
    bias add between them or not, into the product (see the module docstring).  The product
    and the add must feed only the next node of the chain and not be named in ``keep``; the
    ``batch_norm`` node keeps its name and consumers.

    >>> import numpy as np, graphexec as gx
    >>> from graphexec.passes.batchnorm import batchnorm_folding
    >>> dense, bn = gx.layers.Dense(3, seed=0), gx.layers.BatchNormalization()
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((None, 4), "float32", name="x")
    ...     y = bn(dense(x))
    >>> xv = np.random.default_rng(0).normal(size=(2, 4)).astype("float32")
    >>> before = g.run(y, {x: xv}, optimize=0)
    >>> g.apply_pass(lambda graph: batchnorm_folding(graph, keep=[y]))
    True
    >>> bool(np.allclose(g.run(y, {x: xv}, optimize=0), before, rtol=1e-6, atol=1e-6))
    True
    """
    g = graph.nx
    kept = keep_names(keep)
    folded = 0
    for n in [n for n, d in g.nodes(data=True) if d["op"] is batch_norm_p]:
        d = g.nodes[n]
        (z, _), mean, var, gamma, beta = d["inputs"]
        chain, bias = [z], None
        zd = g.nodes[z]
        if zd["op"] is add_p:
            (a, _), (b, _) = zd["inputs"]
            prod = next((p for p in (a, b) if g.nodes[p]["op"] in (matmul_p, conv2d_p)), None)
            if prod is None:
                continue
            bias = zd["inputs"][1] if prod == a else zd["inputs"][0]
            if len(graph.spec(bias).shape) != 1:
                continue
            chain = [prod, z]
        prod = chain[0]
        pd = g.nodes[prod]
        if pd["op"] not in (matmul_p, conv2d_p) or any(
                c in kept or not _only_reader(g, c) or g.nodes[c]["control"] for c in chain):
            continue
        x, w = pd["inputs"]
        if pd["op"] is matmul_p and len(graph.spec(w).shape) != 2:
            continue
        loc = d["loc"]
        try:
            eps = graph.add_node(constant_p, (), {"value": np.asarray(
                d["attrs"]["epsilon"], graph.spec(var).dtype)}, (graph.spec(var)._replace(
                    shape=()),), loc, name=f"{n}/epsilon")
            inv = _add(graph, rsqrt_p, [_add(graph, add_p, [var, (eps, 0)], loc,
                                             f"{n}/var_eps")], loc, f"{n}/rsqrt")
            s = _add(graph, multiply_p, [gamma, inv], loc, f"{n}/scale")
            w2 = _add(graph, multiply_p, [w, s], loc, f"{n}/kernel")
            shifted = (_add(graph, subtract_p, [bias, mean], loc, f"{n}/bias_mean")
                       if bias is not None else None)
            if shifted is None:
                offset = _add(graph, subtract_p, [beta, _add(graph, multiply_p, [mean, s], loc,
                                                             f"{n}/mean_scale")], loc,
                              f"{n}/bias")
            else:
                offset = _add(graph, add_p, [_add(graph, multiply_p, [shifted, s], loc,
                                                  f"{n}/bias_scale"), beta], loc, f"{n}/bias")
            product = _add(graph, pd["op"], [x, w2], pd["loc"], prod, pd["attrs"])
        except GraphexecError:
            continue  # NOTE: the nodes added so far read nothing downstream: DCE drops them
        if graph.spec(product) != d["specs"][0]:
            continue
        rewrite_node(graph, n, add_p, [product, offset], {})
        folded += 1
        record(actions, f"folded {n} into {prod} ({pd['op'].name})", n,
               f"folded: batch norm into {pd['op'].name}", (*chain, n))
    return folded > 0
