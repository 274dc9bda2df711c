"""One ONNX node as its converter sees it (``Node``), and what converters and the importer
share: ONNX element types as numpy dtypes, node names, ``DynamicValueError``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..context import eager
from ..errors import DTypeError, GraphError
from ..graph import SubGraph
from ..ir import needed_nodes
from ..ops.creation import constant
from ..ops.state import static_value
from ..tensor import Tensor
from ._extra import require

if TYPE_CHECKING:
    import onnx

__all__ = ["Node", "DynamicValueError", "onnx_dtype", "sanitize", "constant_eager", "DTYPES",
           "Dim", "PARTIAL"]

#: ONNX tensor element types graphexec holds, and their numpy dtypes
DTYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
          9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 14: "complex64",
          15: "complex128"}


def onnx_dtype(elem_type: int, where: str = "") -> np.dtype:
    """The numpy dtype of ONNX element type ``elem_type`` (a DTypeError for types graphexec
    has none for: strings, bfloat16, the float8, int4 and float4 types).

    >>> from graphexec.onnx.node import onnx_dtype
    >>> onnx_dtype(1), onnx_dtype(7)
    (dtype('float32'), dtype('int64'))
    """
    name = DTYPES.get(elem_type)
    if name is None:
        onnx = require("onnx")
        kind = onnx.TensorProto.DataType.Name(elem_type) if elem_type in (
            onnx.TensorProto.DataType.values()) else str(elem_type)
        raise DTypeError(f"{where}ONNX element type {kind} has no graphexec dtype (graphexec "
                         f"holds {', '.join(sorted(set(DTYPES.values())))})")
    return np.dtype(name)


def sanitize(name: str) -> str:
    """``name`` as a graph node name: letters, digits and ``_ . - /`` kept (a ``/`` nests
    name scopes, as graphexec's own names do), the rest ``_``.

    >>> from graphexec.onnx.node import sanitize
    >>> sanitize("input:0"), sanitize("")
    ('input_0', 'value')
    """
    return re.sub(r"[^A-Za-z0-9_.\-/]", "_", name).strip("/") or "value"


class DynamicValueError(GraphError):
    """A value the import needs (a shape, axes, pads, a count) depends on graph inputs:
    ``inputs`` names them (the ONNX names).  The backend's graph mode binds such inputs to
    their values and imports again."""

    def __init__(self, message: str, inputs: Sequence[str]) -> None:
        super().__init__(message)
        #: the ONNX graph inputs the value depends on
        self.inputs = list(inputs)


class Node:
    """One ONNX node being converted: what a converter reads besides its input tensors.

    ``attrs`` are the node's attributes as Python values (tensors as numpy arrays, graphs as
    ``GraphProto``); ``opset`` is the model's version of the ONNX domain; ``value(i)`` is the
    static value of input ``i``, for inputs that stand for shapes, axes or pads.
    """

    def __init__(self, proto: onnx.NodeProto, opset: int, inputs: Sequence[Tensor | None],
                 walker: Any) -> None:
        helper = require("onnx.helper")
        self.proto = proto
        self.op_type: str = proto.op_type
        self.name: str = proto.name or proto.op_type
        self.opset = opset
        self.inputs = list(inputs)
        self.n_outputs = len(proto.output)
        self.walker = walker
        self.attrs = {a.name: _attr(helper.get_attribute_value(a), self) for a in proto.attribute}

    def __repr__(self) -> str:
        return f"{self.op_type} node {self.name!r} (opset {self.opset})"

    def attr(self, name: str, default: Any = None) -> Any:
        """Attribute ``name``, or ``default`` when the node has none."""
        return self.attrs.get(name, default)

    def has(self, i: int) -> bool:
        """Whether optional input ``i`` is given."""
        return i < len(self.inputs) and self.inputs[i] is not None

    def value(self, i: int, default: Any = None) -> Any:
        """The value of input ``i`` known at import (a numpy array), ``default`` when the
        input is not given; a GraphError when it is only known once the graph runs."""
        if not self.has(i):
            return default
        x = self.inputs[i]
        v = static_value(x)
        if v is None:
            assert x is not None and x._graph is not None
            ancestors = _roots(x)
            raise DynamicValueError(
                f"{self}: input {i} ({self.proto.input[i]!r}) must be known when the model "
                "is imported (it is a shape, axes, pads or a count here), but it is computed "
                "from the graph's inputs at run time; dynamic shapes are not supported",
                [k for k, node in self.walker.inputs.items() if node in ancestors])
        return np.asarray(v)

    def partial(self, i: int) -> np.ndarray | None:
        """Input ``i`` known in part at import (ints and ``Dim``s), if it is."""
        return self.walker.partial_value(self, i) if self.walker is not None else None

    def ints(self, i: int, attr: str | None = None, default: Any = None) -> Any:
        """Input ``i`` (or, where the node has none, attribute ``attr``) as a tuple of ints."""
        v = self.value(i) if self.has(i) else self.attrs.get(attr) if attr else None
        if v is None:
            return default
        return tuple(int(a) for a in np.ravel(v))

    def static_shape(self, x: Tensor, what: str = "input") -> tuple[int, ...]:
        """The shape of ``x``, which must be fully known at import."""
        if None in x.shape:
            raise self.error(GraphError, f"the {what}'s shape {tuple(x.shape)} must be known "
                             "at import (None dims are only known at run time)")
        return tuple(int(d) for d in x.shape)  # type: ignore[arg-type]

    def error(self, cls: type[Exception], message: str) -> Exception:
        """``cls`` with ``message`` naming this node."""
        return cls(f"{self}: {message}")

    def run_subgraph(self, name: str, values: Mapping[str, Tensor]) -> list[Tensor]:
        """Run the body ``name`` (a graph attribute) on ``values`` (its inputs by name),
        seeing this graph's values; its outputs in order."""
        return self.walker.subgraph(self.attrs[name], values)


def _attr(v: Any, node: Node) -> Any:
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, list):
        return [_attr(a, node) for a in v]
    if type(v).__name__ == "TensorProto":
        return _array(v, f"{node}: attribute tensor: ")
    return v


def _array(t: onnx.TensorProto, where: str = "") -> np.ndarray:
    numpy_helper = require("onnx.numpy_helper")
    dtype = onnx_dtype(t.data_type, where)
    return np.asarray(numpy_helper.to_array(t)).astype(dtype, copy=False)


def constant_eager(arr: np.ndarray) -> Tensor:
    """An eager tensor of ``arr`` even while a graph is built."""
    with eager():
        return constant(arr)


class Dim:
    """A size known only when the graph runs: axis ``axis`` of the tensor at ``ref``."""

    __slots__ = ("axis", "ref")

    def __init__(self, ref: tuple[str, int], axis: int) -> None:
        self.ref, self.axis = ref, axis

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Dim) and (self.ref, self.axis) == (other.ref, other.axis)

    def __hash__(self) -> int:
        return hash((self.ref, self.axis))

    def __repr__(self) -> str:
        return f"{self.ref[0]}.shape[{self.axis}]"


def _shape_partial(n: Node, ins: list[np.ndarray | None]) -> np.ndarray | None:
    x = n.inputs[0]
    assert x is not None and x._graph is not None
    start, end = n.attr("start", 0), n.attr("end")
    dims = [Dim((x._node, x._index), a) if d is None else int(d)
            for a, d in enumerate(x.shape)]
    return np.array(dims[slice(start, end)], dtype=object)


def _gather_partial(n: Node, ins: list[np.ndarray | None]) -> np.ndarray | None:
    data, idx = ins[0], ins[1] if len(ins) > 1 else None
    if data is None or idx is None or any(isinstance(i, Dim) for i in idx.ravel()):
        return None
    out = np.empty(idx.shape, dtype=object)  # NOTE: np.take of one index gives the element
    out[...] = np.take(data, idx.astype(np.int64), axis=n.attr("axis", 0))
    return out


def _concat_partial(n: Node, ins: list[np.ndarray | None]) -> np.ndarray | None:
    if any(v is None for v in ins):
        return None
    return np.concatenate([v.reshape(-1) for v in ins if v is not None])


def _unsqueeze_partial(n: Node, ins: list[np.ndarray | None]) -> np.ndarray | None:
    data = ins[0]
    axes = n.attrs.get("axes") if len(ins) < 2 or ins[1] is None else list(ins[1])
    if data is None or axes is None or data.ndim + len(axes) != 1:
        return None
    return data.reshape(1)


def _same_partial(n: Node, ins: list[np.ndarray | None]) -> np.ndarray | None:
    return ins[0]


#: how the ops that build shapes carry values known in part (ints and ``Dim``s) at import:
#: Shape of a tensor with an unknown batch, picked, joined and reshaped into a Reshape's target
PARTIAL: dict[str, Any] = {"Shape": _shape_partial, "Gather": _gather_partial,
                           "Concat": _concat_partial, "Unsqueeze": _unsqueeze_partial,
                           "Cast": _same_partial, "Identity": _same_partial}


def _roots(x: Tensor) -> set[str]:
    """The nodes ``x`` depends on, through the captures of the subgraphs it is in: those of
    the outermost graph among them (where the model's inputs are)."""
    g = x._graph
    assert g is not None
    nodes = needed_nodes(g, [x._node])
    if not isinstance(g, SubGraph):
        return nodes
    # NOTE: a subgraph's captures are its placeholders, made in the order they were captured
    outer = dict(zip([ref[0] for ref in g._capture_refs.values()], g.captured, strict=True))
    return set().union(*(_roots(outer[n]) for n in nodes if n in outer))
