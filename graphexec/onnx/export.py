"""ONNX export: a graph, a compiled graph, a ``gx.function`` or a ``gx.io.Program`` written as
an ONNX model.  Placeholders become the model's inputs, constants and Variables its
initializers; each op is written by its converter in ``graphexec.onnx.export_ops``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..compiler import CompiledGraph
from ..errors import DTypeError, GraphError, InvalidArgumentError, MissingExtraError
from ..function import Function
from ..io import Program, as_program
from ..ir import GraphIR, Ref
from ..ops.state import assign_p, placeholder_p
from ..registry import Spec
from ._extra import require
from .export_ops import Emitter, emit_graph

if TYPE_CHECKING:
    import onnx

__all__ = ["export", "MIN_OPSET", "DEFAULT_OPSET"]

#: the oldest opset written (Pad's "wrap" mode and the axes inputs of the reductions)
MIN_OPSET = 19
#: the opset written by default: the newest whose every operator used here ONNX Runtime 1.32
#: runs (it has no kernels for RandomNormal and RandomUniform of opset 22)
DEFAULT_OPSET = 21
# NOTE: the IR version of the opset: ONNX Runtime refuses newer IR versions than it knows
_IR_VERSION = {19: 9, 20: 9, 21: 10, 22: 10, 23: 11, 24: 11, 25: 11}

#: what is exported: the graph, its inputs (ONNX name, placeholder node), the outputs (a
#: node's output, or a value a function returned as it is) and their names (None: the node's)
Source = tuple[GraphIR, list[tuple[str, str]], list[Any], list[str | None]]


def export(obj: Any, path: str | os.PathLike[str] | None = None, *, opset: int = DEFAULT_OPSET,
           fetches: Any = None, args: Sequence[Any] = (), name: str | None = None,
           check_runtime: bool = True) -> onnx.ModelProto:
    """``obj`` as an ONNX model (an ``onnx.ModelProto``), checked with
    ``onnx.checker.check_model(full_check=True)`` and, given ``path``, saved there.

    ``obj`` is a ``gx.Graph`` (its outputs are ``fetches``: tensors, names, a list or a dict of
    them; by default every output of a node no other node reads), a ``CompiledGraph`` (its
    optimized graph: fused nodes are written as the ops they fused), a ``gx.function`` (the
    trace for ``args``, or its only trace) or a ``gx.io.Program``.  Placeholders become the
    model's inputs (a ``None`` dim a symbolic one), constants and Variables (their current
    values) its initializers.  ``opset`` is the ONNX opset (19 or newer).  Ops ONNX cannot
    express, and state changes (ONNX models are stateless), raise an error naming the op, the
    node and its line (``graphexec.onnx.export_ops.CANNOT_EXPORT`` lists them).  With
    ``check_runtime`` and onnxruntime installed, the model is loaded by ONNX Runtime too, so
    an operator it has no kernel for in some dtype is an error here, naming the node (the ONNX
    nodes are named after the graphexec nodes they come from), not later.

    >>> import numpy as np, graphexec as gx
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((None, 3), "float32", name="x")
    ...     y = gx.nn.relu(x * 2.0 - 1.0)
    >>> model = gx.onnx.export(g, fetches={"y": y})
    >>> [i.name for i in model.graph.input], [o.name for o in model.graph.output]
    (['x'], ['y'])
    >>> import onnxruntime as ort
    >>> s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    >>> s.run(None, {"x": np.array([[0.0, 1.0, 2.0]], "float32")})
    [array([[0., 1., 3.]], dtype=float32)]
    """
    onnx_mod = require("onnx")
    if not isinstance(opset, int) or not MIN_OPSET <= opset <= max(_IR_VERSION):
        raise InvalidArgumentError(f"onnx.export: opset {opset!r} is not supported: give "
                                   f"{MIN_OPSET} to {max(_IR_VERSION)} (default {DEFAULT_OPSET})")
    graph, inputs, outputs, names = _source(obj, fetches, args)
    if not outputs:
        raise InvalidArgumentError(f"onnx.export: graph {graph.name} has no outputs to export")
    model = _model(onnx_mod, opset, graph, inputs, outputs, name or graph.name, names)
    try:
        onnx_mod.checker.check_model(model, full_check=True)
    except Exception as e:  # NOTE: onnx's checker raises its own, unrelated exception types
        raise GraphError(f"onnx.export: the model fails onnx's checker: {_first_line(e)}") from e
    if check_runtime:
        _check_runtime(model)
    if path is not None:
        onnx_mod.save(model, os.fspath(path))
    return model


# -- what to export ----------------------------------------------------------------------------
def _source(obj: Any, fetches: Any, args: Sequence[Any]) -> Source:
    """The graph, its inputs (ONNX name, placeholder node) and the outputs to export."""
    if not isinstance(obj, Program | CompiledGraph | Function | GraphIR):
        raise InvalidArgumentError(f"onnx.export: cannot export a {type(obj).__name__}: give "
                                   "a gx.Graph, a CompiledGraph, a gx.function or a "
                                   "gx.io.Program")
    p = as_program(obj, args, fetches)
    if p.kind == "function":  # NOTE: a Program's other outputs are the assignments it runs
        for n, d in p.graph.nx.nodes(data=True):
            if d["op"] is assign_p:
                raise GraphError(f"onnx.export: function {p.graph.traced_function} assigns "
                                 f"Variable {d['attrs']['var'].var_name} (node {n!r}, at "
                                 f"{d['loc']}): ONNX models are stateless; export a function "
                                 "that only computes")
    named = p.treedef.kind == "dict" or "'" in "".join(p.treedef.paths())
    outputs, names = [], []
    for r, path in zip(p.results, p.treedef.paths(), strict=True):
        if not isinstance(r, int) and r.value is None:
            continue  # NOTE: a function's None result has no tensor to be
        outputs.append(p.outputs[r] if isinstance(r, int) else np.asarray(r.value))
        names.append(_path_name(path) if named else None)
    return p.graph, list(p.inputs.items()), outputs, names


def _path_name(path: str) -> str:
    """A result's path in the fetched structure (``['logits'][0]``) as a name (``logits.0``)."""
    return re.sub(r"\[(?:'([^']*)'|(\d+))\]", lambda m: "." + (m.group(1) or m.group(2)),
                  path).lstrip(".") or "output"


# -- the model ---------------------------------------------------------------------------------
def _model(onnx_mod: Any, opset: int, graph: GraphIR, inputs: list[tuple[str, str]],
           outputs: list[Any], name: str, names: Sequence[str | None]) -> Any:
    e = Emitter(onnx_mod, opset, {}, [])
    env: dict[Ref, str] = {}
    formal = []
    symbols = iter(range(1 << 30))
    for key, node in inputs:
        d = graph.nx.nodes[node]
        if d["op"] is not placeholder_p:
            raise GraphError(f"onnx.export: input {key!r} is a {d['op'].name} node, not a "
                             "placeholder")
        spec = d["specs"][0]
        env[(node, 0)] = x = e.reserve(key)  # NOTE: as given: ONNX names may be any string
        dims = [f"N{next(symbols)}" if s is None else s for s in spec.shape]
        formal.append(e.value_info(x, spec, dims))
    for want in names:  # NOTE: asked for by name: kept as given, before any name is made
        if want is not None and want not in e.names:
            e.reserve(want)
    refs = [o for o in outputs if not isinstance(o, np.ndarray)]
    made = iter(emit_graph(e, graph, env, refs))
    values = [e.const(o, o.dtype, "result") if isinstance(o, np.ndarray) else next(made)
              for o in outputs]
    # NOTE: a model output must be made by a node, once: an input, an initializer or a value
    # fetched twice is given an Identity of its own
    taken = {x.name for x in formal} | {c.name for c in e.initializers}
    results = []
    for out_ref, value, want in zip(outputs, values, names, strict=True):
        out = value
        spec = (Spec(out_ref.shape, out_ref.dtype) if isinstance(out_ref, np.ndarray)
                else graph.spec(out_ref))
        if value in taken or (want is not None and value != want):
            out = e.op("Identity", [value])
            final = want if want is not None and e.names.get(want) == 1 and want not in taken \
                else e.fresh(want or (f"{out_ref[0]}_out" if isinstance(out_ref, tuple)
                                      else "result"))
            e.rename(out, final, len(e.nodes) - 1)
            out = e.nodes[-1].output[0]
        taken.add(out)
        results.append(e.value_info(out, spec))
    onnx_graph = e.graph(name, formal, results)
    onnx_graph.initializer.extend(e.initializers)
    model = onnx_mod.helper.make_model(
        onnx_graph, producer_name="graphexec",
        opset_imports=[onnx_mod.helper.make_opsetid("", opset)])
    model.ir_version = _IR_VERSION[opset]
    return model


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0][:400] if str(e).strip() else type(e).__name__


def _check_runtime(model: Any) -> None:
    """ONNX Runtime loads ``model`` (when it is installed): a missing kernel is a DTypeError
    naming the node, a graphexec node's name and the ONNX operator."""
    try:
        ort = require("onnxruntime")
    except MissingExtraError:
        return
    try:
        ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as e:
        text = _first_line(e)
        cls = DTypeError if "Could not find an implementation" in text else GraphError
        raise cls(f"onnx.export: ONNX Runtime cannot run the model: {text} (the node is named "
                  "after the graphexec node it comes from; a dtype ONNX Runtime has no kernel "
                  "for can be cast to one it has before exporting)") from None
