"""ONNX import: ``load`` reads an ONNX model as a runnable ``gx.io.Program``.

Each ONNX node becomes a few graphexec ops through its converter (``import_ops.CONVERTERS``),
a function written with graphexec's frontend over graphexec tensors.  A node whose inputs are
all known at import (initializers, ``Constant`` nodes, the shapes of static tensors, ...) runs
its converter eagerly, so shapes, axes and pads reach the converters that need them as
concrete values; the others add nodes to the graph.  Given the values of the graph's inputs
too, the very same walk evaluates the model eagerly (``evaluate``: the backend's eager mode).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..context import eager, name_scope
from ..device import device as on_device
from ..errors import FeedError, FormatError, GraphError, InvalidArgumentError, located
from ..graph import Graph, _check_feed, graph
from ..io import Program
from ..ir import needed_nodes
from ..ops.creation import constant
from ..ops.state import static_value
from ..registry import Spec
from ..tensor import Tensor
from ._extra import require
from .import_ops import CONVERTERS
from .node import PARTIAL, Node, _array, constant_eager, onnx_dtype, sanitize

if TYPE_CHECKING:
    import onnx

__all__ = ["load", "evaluate", "supported_ops"]

_ONNX_DOMAINS = ("", "ai.onnx")

class _Walker:
    """Converts the nodes of a graph in order, with ``env`` from ONNX value names to tensors
    (eager ones for values known at import, symbolic ones for the rest)."""

    def __init__(self, opset: int, g: Graph | None) -> None:
        self.opset = opset
        self.graph = g
        self.named: dict[int, tuple[str, Tensor | None]] = {}  # initializers by tensor id
        self.scopes: list[dict[str, Tensor]] = []
        self.inputs: dict[str, str] = {}  # ONNX input name -> its placeholder node
        #: shape values known in part at import (ONNX value name -> an object array of ints
        #: and ``Dim``s): what Shape of a tensor with an unknown batch gives, and the Gather,
        #: Concat, Slice... of it that build a Reshape's target
        self.partial: dict[str, np.ndarray] = {}

    def lookup(self, name: str, env: dict[str, Tensor]) -> Tensor:
        if name in env:
            return env[name]
        for outer in reversed(self.scopes):
            if name in outer:
                return outer[name]
        raise GraphError(f"ONNX value {name!r} is used before any node computes it")

    def run(self, nodes: Sequence[onnx.NodeProto], env: dict[str, Tensor]) -> None:
        """Convert ``nodes`` in order into ``env``; the bodies of their subgraphs see ``env``
        (and the scopes around it)."""
        self.scopes.append(env)
        try:
            self._run(nodes, env)
        finally:
            self.scopes.pop()

    def _run(self, nodes: Sequence[onnx.NodeProto], env: dict[str, Tensor]) -> None:
        for p in nodes:
            fn = CONVERTERS.get(p.op_type) if p.domain in _ONNX_DOMAINS else None
            if fn is None:
                raise unsupported([p], self.opset)
            xs = [self.lookup(i, env) if i else None for i in p.input]
            n = Node(p, self.opset, xs, self)
            # NOTE: a node is known at import when its inputs are, and so are the values its
            # subgraphs read from around them
            outer = [self.lookup(name, env) for name in _read_by_subgraphs(p)]
            static = all(x is None or x._graph is None for x in (*xs, *outer))
            if not static:
                xs = [self._named_constant(x) for x in xs]
                n.inputs = xs
            with eager() if static else contextlib.nullcontext(), _scope(p):
                out = fn(n, *xs)
            outs = [out] if isinstance(out, Tensor) else list(out)
            for name, t in zip(p.output, outs, strict=False):
                if name:
                    env[name] = t if static else self._folded(t)
            if not static and p.op_type in PARTIAL and len(p.output) == 1:
                known = PARTIAL[p.op_type](n, [self.partial_value(n, i) for i in range(len(xs))])
                if known is not None:
                    self.partial[p.output[0]] = known

    def partial_value(self, n: Node, i: int) -> np.ndarray | None:
        """Input ``i`` of ``n`` as an object array of ints and ``Dim``s, if it is known so."""
        x = n.inputs[i] if i < len(n.inputs) else None
        if x is None:
            return None
        if x._graph is None or static_value(x) is not None:
            return np.asarray(static_value(x)).astype(object)
        return self.partial.get(n.proto.input[i])

    def _folded(self, t: Tensor) -> Tensor:
        """``t`` as an eager tensor of its value when no graph input reaches it (a converter
        that read only an input's spec, as CastLike does, leaves such nodes)."""
        g = self.graph
        if g is None or t._graph is not g:
            return t
        ancestors = needed_nodes(g, [t._node])
        if any(node in ancestors for node in self.inputs.values()):
            return t
        return constant_eager(np.asarray(g.run(t, optimize=0)))

    def _named_constant(self, x: Tensor | None) -> Tensor | None:
        """An initializer used by a graph node: a constant node named after it, once."""
        if x is None or x._graph is not None or id(x) not in self.named or self.graph is None:
            return x
        name, made = self.named[id(x)]
        if made is None:
            with located(f"ONNX initializer {name!r}"):
                made = self.graph.constant(x.numpy(), name=sanitize(name))
            self.named[id(x)] = (name, made)
        return made

    def subgraph(self, body: onnx.GraphProto, values: Mapping[str, Tensor]) -> list[Tensor]:
        env: dict[str, Tensor] = {}
        for t in body.initializer:
            env[t.name] = constant(_array(t, f"initializer {t.name!r}: "))
        env.update(values)
        self.run(body.node, env)
        return [self.lookup(o.name, env) for o in body.output]


def _read_by_subgraphs(p: onnx.NodeProto) -> set[str]:
    """The values the subgraphs of node ``p`` read from the graphs around them."""
    return {name for a in p.attribute
            for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs)
            for name in _free_names(sub)}


def _free_names(g: onnx.GraphProto) -> set[str]:
    """The values a graph's nodes (and their subgraphs) read that it does not define."""
    defined = {v.name for v in g.input} | {t.name for t in g.initializer} | {""}
    used: set[str] = set()
    for p in g.node:
        used |= set(p.input) | _read_by_subgraphs(p)
        defined |= set(p.output)
    return used - defined


@contextlib.contextmanager
def _scope(p: onnx.NodeProto) -> Iterator[None]:
    """The node's ops are named in its scope, and located at it (not at a line of Python)."""
    with located(f"ONNX {p.op_type} node {p.name!r}" if p.name else f"ONNX {p.op_type} node"):
        if p.name:
            with name_scope(sanitize(p.name)):
                yield
        else:
            yield


def supported_ops() -> list[str]:
    """The ONNX op types ``load`` converts (of the default domain), sorted.

    >>> from graphexec.onnx.importer import supported_ops
    >>> "Conv" in supported_ops() and "MatMul" in supported_ops()
    True
    """

    return sorted(CONVERTERS)


def unsupported(nodes: Sequence[onnx.NodeProto], opset: int) -> InvalidArgumentError:
    """The error for nodes whose op type has no converter: one line per op type."""

    lines: dict[tuple[str, str], str] = {}
    for p in nodes:
        if p.domain not in _ONNX_DOMAINS or p.op_type not in CONVERTERS:
            domain = p.domain if p.domain not in _ONNX_DOMAINS else "ai.onnx"
            lines.setdefault((domain, p.op_type), f"{p.op_type} (domain {domain}, node "
                             f"{p.name or '<unnamed>'!r}, opset {opset})")
    return InvalidArgumentError("ONNX op(s) graphexec cannot import: " + "; ".join(
        lines.values()))


def _model(model_or_path: Any) -> onnx.ModelProto:
    onnx = require("onnx")
    if isinstance(model_or_path, onnx.ModelProto):
        return model_or_path
    if isinstance(model_or_path, bytes | bytearray):
        return onnx.load_model_from_string(bytes(model_or_path))
    if isinstance(model_or_path, str | os.PathLike):
        if not os.path.exists(model_or_path):
            raise FormatError(f"no ONNX model at {os.fspath(model_or_path)!r}")
        return onnx.load(os.fspath(model_or_path))
    raise InvalidArgumentError(f"load: give an onnx.ModelProto, bytes or a path, got "
                               f"{type(model_or_path).__name__}")


def _opset(model: onnx.ModelProto) -> int:
    for o in model.opset_import:
        if o.domain in _ONNX_DOMAINS:
            return int(o.version)
    return 1


def _check_ops(model: onnx.ModelProto, opset: int) -> None:

    def nodes(g: onnx.GraphProto) -> Iterator[onnx.NodeProto]:
        for p in g.node:
            yield p
            for a in p.attribute:
                for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                    yield from nodes(sub)

    bad = [p for p in nodes(model.graph)
           if p.domain not in _ONNX_DOMAINS or p.op_type not in CONVERTERS]
    if bad:
        raise unsupported(bad, opset)


def _input_spec(v: onnx.ValueInfoProto) -> tuple[tuple[int | None, ...], np.dtype]:
    t = v.type
    if not t.HasField("tensor_type"):
        raise InvalidArgumentError(f"input {v.name!r} is a {t.WhichOneof('value')}; graphexec "
                                   "imports tensor inputs only")
    dtype = onnx_dtype(t.tensor_type.elem_type, f"input {v.name!r}: ")
    if not t.tensor_type.HasField("shape"):
        raise InvalidArgumentError(f"input {v.name!r} has no shape (not even a rank); "
                                   "graphexec placeholders need their rank")
    shape = tuple(int(d.dim_value) if d.HasField("dim_value") else None
                  for d in t.tensor_type.shape.dim)
    return shape, dtype


def _initializers(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {t.name: _array(t, f"initializer {t.name!r}: ") for t in model.graph.initializer}


def _graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    inits = {t.name for t in model.graph.initializer}
    return [v for v in model.graph.input if v.name not in inits]


def load(model_or_path: Any, *, name: str | None = None) -> Program:
    """An ONNX model (an ``onnx.ModelProto``, its bytes or a file's path) as a runnable
    ``gx.io.Program``: a placeholder per graph input (``inputs`` maps the ONNX names to
    them), the initializers as constants, and the graph's outputs in ONNX order.  Calling it
    returns a list of arrays.  Values known at import (shapes of static tensors, constant
    subexpressions) are computed then, so shape arithmetic leaves no nodes behind; a shape
    that depends on the inputs' values is an error naming the node.

    >>> import numpy as np, onnx
    >>> from onnx import helper, TensorProto
    >>> import graphexec as gx
    >>> node = helper.make_node("Relu", ["x"], ["y"])
    >>> g = helper.make_graph([node], "tiny",
    ...     [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2])],
    ...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 2])])
    >>> prog = gx.onnx.load(helper.make_model(g))
    >>> prog.inputs, prog.input_specs["x"]
    ({'x': 'x'}, f32[?,2])
    >>> prog(x=np.array([[-1.0, 2.0]], "float32"))
    [array([[0., 2.]], dtype=float32)]
    """
    model = _model(model_or_path)
    opset = _opset(model)
    _check_ops(model, opset)
    with graph(name=sanitize(name or model.graph.name or "onnx")) as g:
        walker = _Walker(opset, g)
        env: dict[str, Tensor] = {}
        for key, arr in _initializers(model).items():
            env[key] = init = constant_eager(arr)
            walker.named[id(init)] = (key, None)
        inputs = walker.inputs
        for v in _graph_inputs(model):
            shape, dtype = _input_spec(v)
            with located(f"ONNX input {v.name!r}"):
                ph = g.placeholder(shape, dtype, name=sanitize(v.name))
            env[v.name] = ph
            inputs[v.name] = ph.name
        walker.run(model.graph.node, env)
        outputs = []
        for o in model.graph.output:
            t: Tensor | None = walker._named_constant(walker.lookup(o.name, env))
            if t is None or t._graph is None:
                with located(f"ONNX output {o.name!r}"):
                    t = g.constant(walker.lookup(o.name, env).numpy(), name=sanitize(o.name))
            outputs.append((t._node, t._index))
    return Program(g, inputs, outputs, kind="onnx")


def evaluate(model_or_path: Any, inputs: Mapping[str, Any] | Sequence[Any], *,
             device: Any = None) -> list[np.ndarray]:
    """The outputs of an ONNX model for ``inputs`` (by ONNX name, or positionally), computed
    eagerly: each node's converter runs on eager tensors (on ``device``), with no graph.

    >>> import numpy as np
    >>> from onnx import helper, TensorProto
    >>> from graphexec.onnx.importer import evaluate
    >>> node = helper.make_node("Add", ["x", "x"], ["y"])
    >>> g = helper.make_graph([node], "double",
    ...     [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
    ...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    >>> evaluate(helper.make_model(g), {"x": np.array([1.0, 2.0], "float32")})
    [array([2., 4.], dtype=float32)]
    """
    model = _model(model_or_path)
    opset = _opset(model)
    _check_ops(model, opset)
    declared = _graph_inputs(model)
    if not isinstance(inputs, Mapping):
        inputs = {v.name: x for v, x in zip(declared, inputs, strict=False)}
    # NOTE: an input with an initializer has a default: a value given for it replaces it
    defaults = {v.name: v for v in model.graph.input if v not in declared}
    unknown = [k for k in inputs if k not in defaults and all(k != v.name for v in declared)]
    if unknown:
        raise FeedError(f"evaluate: the model has no input {unknown[0]!r}; its inputs are "
                        f"{', '.join(v.name for v in declared) or 'none'}")
    ctx = on_device(device) if device is not None else contextlib.nullcontext()
    with eager(), ctx:
        env = {k: constant(a) for k, a in _initializers(model).items()}
        for v in [*declared, *(defaults[k] for k in inputs if k in defaults)]:
            if v.name not in inputs:
                raise FeedError(f"evaluate: no value for input {v.name!r}")
            shape, dtype = _input_spec(v)
            # NOTE: checked as a graph checks its feeds: no lossy conversion, the rank and
            # the known dims of the declared shape
            env[v.name] = constant(_check_feed(v.name, Spec(shape, dtype), inputs[v.name],
                                               "its ONNX input"))
        walker = _Walker(opset, None)
        walker.run(model.graph.node, env)
        return [walker.lookup(o.name, env).numpy() for o in model.graph.output]

