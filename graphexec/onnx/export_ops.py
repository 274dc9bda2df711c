"""How each graphexec op is written in ONNX: one converter per op in ``CONVERTERS`` (keyed by
the ``OpDef``), the ops that cannot be exported and why in ``CANNOT_EXPORT``, and ``Emitter``,
which the converters write ONNX nodes, constants and subgraphs with.

A converter gives graphexec's result, not merely the ONNX op of the same name: NHWC
convolutions and pools are transposed around ONNX's NCHW ones, numpy's floor division and
modulo, the saturating float-to-integer cast and the NaN rules of ``sign``, ``maximum`` and
``sort`` are decomposed, and operands are cast to the dtype numpy computes in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..control import cond_p, scan_p, while_p
from ..errors import DTypeError, GraphError, GraphexecError, InvalidArgumentError, op_error
from ..fusion.program import fused_elementwise_p
from ..ir import GraphIR, Ref, needed_nodes
from ..ops.array import (
    broadcast_to_p,
    cast_p,
    concat_p,
    expand_dims_p,
    gather_grad_p,
    gather_p,
    getitem_grad_p,
    getitem_p,
    reshape_like_p,
    reshape_p,
    shape_p,
    size_p,
    split_like_p,
    split_p,
    squeeze_p,
    stack_p,
    tile_grad_p,
    tile_p,
    transpose_p,
    unstack_p,
    where_p,
)
from ..ops.creation import eye_p, fill_p, full_like_p, random_normal_p, random_uniform_p, range_p
from ..ops.fused_nn import fused_conv2d_p, fused_dense_p
from ..ops.grad import broadcast_like_p, stop_gradient_p, sum_to_like_p
from ..ops.linalg import det_p, eig_p, eigh_p, inv_p, matmul_p, norm_p, solve_p, svd_p
from ..ops.math import (
    abs_p,
    add_n_p,
    add_p,
    all_p,
    any_p,
    arccos_p,
    arcsin_p,
    arctan_p,
    argmax_p,
    argmin_p,
    bitwise_and_p,
    bitwise_not_p,
    bitwise_or_p,
    bitwise_xor_p,
    ceil_p,
    cos_p,
    divide_p,
    equal_p,
    exp_p,
    expm1_p,
    floor_divide_p,
    floor_p,
    greater_equal_p,
    greater_p,
    less_equal_p,
    less_p,
    log1p_p,
    log_p,
    logical_and_p,
    logical_not_p,
    logical_or_p,
    logsumexp_p,
    max_p,
    maximum_p,
    mean_p,
    min_p,
    minimum_p,
    mod_p,
    multiply_p,
    negative_p,
    not_equal_p,
    pow_p,
    prod_others_p,
    prod_p,
    reciprocal_p,
    round_p,
    rsqrt_p,
    sign_p,
    sin_p,
    sqrt_p,
    square_p,
    subtract_p,
    sum_p,
    tan_p,
    tanh_p,
)
from ..ops.nn import (
    avg_pool2d_grad_p,
    avg_pool2d_p,
    batch_norm_p,
    conv2d_backprop_filter_p,
    conv2d_backprop_input_p,
    conv2d_p,
    dropout_mask_p,
    erf_p,
    log_softmax_p,
    max_pool2d_grad_grad_p,
    max_pool2d_grad_p,
    max_pool2d_p,
    nll_loss_grad_p,
    nll_loss_p,
    relu_p,
    same_pads,
    sigmoid_p,
    softmax_p,
)
from ..ops.ordering import (
    argsort_p,
    cumprod_grad_p,
    cumprod_p,
    cumsum_p,
    einsum_p,
    sort_p,
    take_along_axis_grad_p,
    take_along_axis_p,
)
from ..ops.pad import index_map, pad_grad_p, pad_p
from ..ops.state import assign_p, constant_p, no_op_p, placeholder_p, read_variable_p
from ..registry import OpDef, Spec

if TYPE_CHECKING:
    from ..control import Branch

__all__ = ["CANNOT_EXPORT", "CONVERTERS", "FLOAT32_ONLY", "Emitter", "Node", "emit_graph"]

_I64_MAX = np.iinfo(np.int64).max
_I64_MIN = np.iinfo(np.int64).min
_F32, _F64, _I32, _I64, _BOOL = (np.dtype(d) for d in ("float32", "float64", "int32", "int64",
                                                     "bool"))
_STATELESS = ("ONNX models are stateless inference graphs: export the graph without it (an "
              "inference graph: training=False layers, no Variable updates)")
_BACKWARD = ("is a backward-pass primitive ONNX has no operator for; export the forward "
             "(inference) graph")

#: ops that cannot be exported, each with the reason
CANNOT_EXPORT: dict[OpDef, str] = {
    assign_p: "changes a Variable; " + _STATELESS,
    no_op_p: "only orders side effects (gx.group / control dependencies); " + _STATELESS,
    dropout_mask_p: "draws a training-time dropout mask from (seed, step); " + _STATELESS,
    inv_p: "ONNX has no matrix inverse operator",
    solve_p: "ONNX has no linear solve operator",
    eig_p: "ONNX has no eigendecomposition operator",
    eigh_p: "ONNX has no eigendecomposition operator",
    svd_p: "ONNX has no singular value decomposition operator",
    prod_others_p: _BACKWARD,
    cumprod_grad_p: _BACKWARD,
    max_pool2d_grad_p: _BACKWARD,
    max_pool2d_grad_grad_p: _BACKWARD,
    avg_pool2d_grad_p: _BACKWARD,
}


#: ops whose ONNX operator ONNX Runtime computes in float32 (and float16) only: other dtypes
#: would lose precision
FLOAT32_ONLY: dict[OpDef, str] = {
    det_p: "Det", erf_p: "Erf", conv2d_backprop_input_p: "ConvTranspose", arcsin_p: "Asin",
    arccos_p: "Acos", arctan_p: "Atan"}


class Node(NamedTuple):
    """One graphexec node being converted: its ONNX input names ``ins`` and their specs."""

    name: str
    op: OpDef
    attrs: dict[str, Any]
    ins: list[str]
    in_specs: list[Spec]
    specs: tuple[Spec, ...]
    loc: str

    @property
    def out(self) -> Spec:
        return self.specs[0]

    def fail(self, cls: type[GraphexecError], why: str) -> GraphexecError:
        """``cls`` naming the op, the node, its operand and result specs and the user's line."""
        ins = ", ".join(map(repr, self.in_specs))
        outs = ", ".join(map(repr, self.specs))
        return op_error(cls, self.op.name, f"cannot export node {self.name!r} ({ins}) -> "
                        f"({outs}) to ONNX: {why}", self.loc)

    def sub(self, op: OpDef, ins: Sequence[str], in_specs: Sequence[Spec], out: Spec,
            attrs: dict[str, Any] | None = None) -> Node:
        """A node of ``op`` standing for part of this one (a fused node's member)."""
        return Node(self.name, op, attrs or {}, list(ins), list(in_specs), (out,), self.loc)


Converter = Callable[["Emitter", Node], "str | Sequence[str]"]
CONVERTERS: dict[OpDef, Converter] = {}


class Emitter:
    """Writes the ONNX nodes of one graph (the model's, or a subgraph's); constants go to the
    model's initializers, names are unique across the model."""

    def __init__(self, onnx: Any, opset: int, names: dict[str, int],
                 initializers: list[Any]) -> None:
        self.onnx, self.opset = onnx, opset
        self.names, self.initializers = names, initializers
        self.nodes: list[Any] = []
        self._consts: dict[tuple[str, tuple[int, ...], bytes], str] = {}
        #: the graphexec node being converted: the ONNX nodes are named after it
        self.where = ""
        #: the initializer of each Variable read, by its id
        self.variables: dict[int, str] = {}

    def child(self) -> Emitter:
        """An emitter for a subgraph (an If branch, a loop body) of this graph."""
        sub = Emitter(self.onnx, self.opset, self.names, self.initializers)
        sub._consts, sub.where, sub.variables = self._consts, self.where, self.variables
        return sub

    def fresh(self, base: str) -> str:
        """A new valid name made from ``base``."""
        base = re.sub(r"[^\w./-]", "_", base) or "v"
        while True:
            n = self.names.get(base, 0)
            self.names[base] = n + 1
            name = base if n == 0 else f"{base}_{n}"
            if n == 0 or name not in self.names:
                self.names.setdefault(name, 1)
                return name

    def op(self, op_type: str, inputs: Sequence[str], n_out: int = 1, **attrs: Any) -> Any:
        """Add one node; its output name (a list of them for ``n_out != 1``)."""
        outs = [self.fresh(op_type.lower()) for _ in range(n_out)]
        node = self.onnx.helper.make_node(op_type, list(inputs), outs,
                                          name=self.node_name(op_type),
                                          **{k: v for k, v in attrs.items() if v != []})
        for k in [k for k, v in attrs.items() if v == []]:  # NOTE: an empty list has no type
            node.attribute.append(self.onnx.helper.make_attribute(
                k, [], attr_type=self.onnx.AttributeProto.INTS))
        self.nodes.append(node)
        return outs[0] if n_out == 1 else outs

    def node_name(self, op_type: str) -> str:
        """A new node name: the graphexec node's, then the ONNX op (as Netron shows it)."""
        base = f"{self.where}/{op_type}" if self.where else op_type
        n = self.names.get("\0" + base, 0)
        self.names["\0" + base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    def reserve(self, name: str) -> str:
        """``name`` itself, for a value (a model input or output named by the user)."""
        if name in self.names:
            raise InvalidArgumentError(f"onnx.export: the name {name!r} is given twice")
        self.names[name] = 1
        return name

    def const(self, value: Any, dtype: Any = None, name: str = "const") -> str:
        """An initializer holding ``value`` (shared by equal small values)."""
        a = np.asarray(value, dtype)
        key = (a.dtype.str, a.shape, a.tobytes())
        small = a.size <= 16
        if small and key in self._consts:
            return self._consts[key]
        if a.dtype.kind == "c":
            raise DTypeError(f"a complex constant ({a.dtype}) cannot be exported: ONNX "
                             "Runtime has no complex kernels")
        out = self.fresh(name)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.array(a, order="C"), out))
        if small:
            self._consts[key] = out
        return out

    def ints(self, values: Sequence[int]) -> str:
        return self.const(np.array(list(values), np.int64))

    def cast(self, x: str, frm: np.dtype, to: np.dtype) -> str:
        if np.dtype(frm) == np.dtype(to):
            return x
        return self.op("Cast", [x], to=tensor_type(self.onnx, to))

    def rename(self, old: str, new: str, start: int) -> bool:
        """Give the value ``old``, made by one of the nodes from ``start`` on, the name
        ``new``; False if none of them made it (an input, a constant)."""
        made = False
        for node in self.nodes[start:]:
            for slot, names in ((node.output, True), (node.input, False)):
                for i, x in enumerate(slot):
                    if x == old:
                        slot[i] = new
                        made = made or names
        return made

    def value_info(self, name: str, spec: Spec, dims: Sequence[Any] | None = None) -> Any:
        shape = list(spec.shape) if dims is None else list(dims)
        return self.onnx.helper.make_tensor_value_info(name, tensor_type(self.onnx, spec.dtype),
                                                       shape)

    def graph(self, name: str, inputs: Sequence[Any], outputs: Sequence[Any]) -> Any:
        return self.onnx.helper.make_graph(self.nodes, name, list(inputs), list(outputs))


def tensor_type(onnx: Any, dtype: Any) -> int:
    return int(onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))


# -- walking a graph ---------------------------------------------------------------------------
def emit_graph(e: Emitter, graph: GraphIR, env: dict[Ref, str], refs: Sequence[Ref]
               ) -> list[str]:
    """Convert the nodes of ``graph`` that ``refs`` need (``env`` holds the names of the
    placeholders, and gets every output's); the names of ``refs``."""
    nodes = graph.nx.nodes
    for name in graph.topological_order(needed_nodes(graph, [r[0] for r in refs])):
        d = nodes[name]
        if (name, 0) in env:
            continue
        op = d["op"]
        if op is placeholder_p:
            raise GraphError(f"cannot export graph {graph.name}: placeholder {name!r} "
                             f"({d['loc']}) is not one of its inputs")
        node = Node(name, op, d["attrs"], [env[r] for r in d["inputs"]],
                    [nodes[s]["specs"][i] for s, i in d["inputs"]], d["specs"], d["loc"])
        start = len(e.nodes)
        outer, e.where = e.where, name
        try:
            outs = convert(e, node)
        finally:
            e.where = outer
        for i, out in enumerate(outs):
            want = e.fresh(name if len(outs) == 1 else f"{name}_{i}")
            env[(name, i)] = want if e.rename(out, want, start) else out
    return [env[r] for r in refs]


def convert(e: Emitter, n: Node) -> list[str]:
    """The ONNX names of node ``n``'s outputs, its converter's nodes added to ``e``."""
    why = CANNOT_EXPORT.get(n.op)
    if why is not None:
        raise n.fail(InvalidArgumentError, why)
    for s in (*n.in_specs, *n.specs):
        if s.dtype.kind == "c":
            raise n.fail(DTypeError, f"{s.dtype} values: ONNX Runtime has no complex kernels")
    if n.op in FLOAT32_ONLY and n.out.dtype.name not in ("float32", "float16"):
        raise n.fail(DTypeError, f"ONNX Runtime's {FLOAT32_ONLY[n.op]} computes float32 only, "
                     f"and a {n.out.dtype} result would lose precision")
    fn = CONVERTERS.get(n.op)
    if fn is None:
        raise n.fail(InvalidArgumentError, "the ONNX exporter has no converter for this op")
    out = fn(e, n)
    return [out] if isinstance(out, str) else list(out)


def converts(*ops: OpDef) -> Callable[[Converter], Converter]:
    def deco(fn: Converter) -> Converter:
        for op in ops:
            CONVERTERS[op] = fn
        return fn
    return deco


# -- sources -----------------------------------------------------------------------------------
@converts(constant_p)
def _constant(e: Emitter, n: Node) -> str:
    return e.const(n.attrs["value"], n.out.dtype, n.name)


@converts(read_variable_p)
def _read_variable(e: Emitter, n: Node) -> str:
    var = n.attrs["var"]
    hit = e.variables.get(id(var))
    if hit is None:  # NOTE: a Variable read by several nodes is one initializer
        hit = e.variables[id(var)] = e.const(np.asarray(var.numpy()), n.out.dtype, var.var_name)
    return hit


# -- elementwise -------------------------------------------------------------------------------
def _cast_all(e: Emitter, n: Node, dtype: np.dtype) -> list[str]:
    return [e.cast(x, s.dtype, dtype) for x, s in zip(n.ins, n.in_specs, strict=True)]


def _arith(onnx_op: str) -> Converter:
    """An op numpy computes in its result dtype: operands cast to it, then ``onnx_op``."""
    def conv(e: Emitter, n: Node) -> str:
        return e.op(onnx_op, _cast_all(e, n, n.out.dtype))
    return conv


def _float_unary(onnx_op: str) -> Converter:
    """A float function: computed in float32 for float16 (as numpy's float16 loops)."""
    def conv(e: Emitter, n: Node) -> str:
        out = n.out.dtype
        work = _F32 if out == np.float16 else out
        y = e.op(onnx_op, [e.cast(n.ins[0], n.in_specs[0].dtype, work)])
        return e.cast(y, work, out)
    return conv


_U64, _I64_DT = np.dtype("uint64"), np.dtype("int64")
#: each comparison's answer for a negative int64 on its left (of any uint64 on its right)
_NEGATIVE_LEFT = {"Equal": False, "Less": True, "LessOrEqual": True, "Greater": False,
                  "GreaterOrEqual": False}
_MIRROR = {"Equal": "Equal", "Less": "Greater", "LessOrEqual": "GreaterOrEqual",
           "Greater": "Less", "GreaterOrEqual": "LessOrEqual"}


def _compare(onnx_op: str, negate: bool = False) -> Converter:
    def conv(e: Emitter, n: Node) -> str:
        dts = [s.dtype for s in n.in_specs]
        if {*dts} == {_U64, _I64_DT}:
            y = _compare_u64_i64(e, onnx_op, n.ins, dts)
        else:
            y = e.op(onnx_op, _cast_all(e, n, np.result_type(*dts)))
        return e.op("Not", [y]) if negate else y
    return conv


def _compare_u64_i64(e: Emitter, onnx_op: str, ins: Sequence[str], dts: Sequence[np.dtype]
                     ) -> str:
    """A uint64 compared with an int64 exactly, as numpy does (not in float64): a negative
    int64 is below every uint64, the others compare as uint64."""
    i = 0 if dts[0] == _I64_DT else 1
    op = onnx_op if i == 0 else _MIRROR[onnx_op]  # NOTE: as if the int64 were on the left
    signed, unsigned = ins[i], ins[1 - i]
    same = e.op(op, [e.cast(signed, _I64_DT, _U64), unsigned])
    negative = e.op("Less", [signed, e.const(0, _I64_DT)])
    if _NEGATIVE_LEFT[op]:
        return e.op("Or", [negative, same])
    return e.op("And", [e.op("Not", [negative]), same])


def _logical(onnx_op: str) -> Converter:
    def conv(e: Emitter, n: Node) -> str:
        return e.op(onnx_op, _cast_all(e, n, _BOOL))
    return conv


for _op, _onnx in ((add_p, "Add"), (subtract_p, "Sub"), (multiply_p, "Mul"), (divide_p, "Div"),
                   (negative_p, "Neg")):
    CONVERTERS[_op] = _arith(_onnx)


@converts(pow_p)
def _pow(e: Emitter, n: Node) -> str:
    if n.out.dtype in (_I64_DT, _U64):
        raise n.fail(DTypeError, "ONNX Runtime computes integer powers in float64, which "
                     "holds integers exactly only up to 2**53: cast to float64 first")
    return e.op("Pow", _cast_all(e, n, n.out.dtype))
for _op, _onnx in ((sqrt_p, "Sqrt"), (log_p, "Log"), (exp_p, "Exp"), (cos_p, "Cos"),
                   (sin_p, "Sin"), (tanh_p, "Tanh"), (sigmoid_p, "Sigmoid"),
                   (erf_p, "Erf")):
    CONVERTERS[_op] = _float_unary(_onnx)
for _op, _onnx, _neg in ((equal_p, "Equal", False), (not_equal_p, "Equal", True),
                         (less_p, "Less", False), (less_equal_p, "LessOrEqual", False),
                         (greater_p, "Greater", False),
                         (greater_equal_p, "GreaterOrEqual", False)):
    CONVERTERS[_op] = _compare(_onnx, _neg)
for _op, _onnx in ((logical_and_p, "And"), (logical_or_p, "Or"), (logical_not_p, "Not")):
    CONVERTERS[_op] = _logical(_onnx)
for _op, _onnx in ((arcsin_p, "Asin"), (arccos_p, "Acos"), (arctan_p, "Atan")):
    CONVERTERS[_op] = _float_unary(_onnx)


def _bitwise(onnx_op: str, bool_op: str) -> Converter:
    """A bitwise op: on bools ONNX's logical op, on integers its bitwise one, operands cast to
    the result dtype first."""
    def conv(e: Emitter, n: Node) -> str:
        out = n.out.dtype
        return e.op(bool_op if out == _BOOL else onnx_op, _cast_all(e, n, out))
    return conv


for _op, _onnx, _bool in ((bitwise_and_p, "BitwiseAnd", "And"),
                          (bitwise_or_p, "BitwiseOr", "Or"),
                          (bitwise_xor_p, "BitwiseXor", "Xor"),
                          (bitwise_not_p, "BitwiseNot", "Not")):
    CONVERTERS[_op] = _bitwise(_onnx, _bool)


def _isnan(e: Emitter, x: str, dtype: np.dtype) -> str | None:
    return e.op("IsNaN", [x]) if dtype.kind == "f" else None


@converts(tan_p)
def _tan(e: Emitter, n: Node) -> str:
    x = e.cast(n.ins[0], n.in_specs[0].dtype, n.out.dtype)
    if n.out.dtype == np.float32:
        return e.op("Tan", [x])
    # NOTE: ONNX Runtime's Tan computes float32 only
    return e.op("Div", [e.op("Sin", [x]), e.op("Cos", [x])])


@converts(maximum_p, minimum_p)
def _extremum(e: Emitter, n: Node) -> str:
    # NOTE: numpy's maximum and minimum propagate NaN; ONNX leaves it open
    x, y = _cast_all(e, n, n.out.dtype)
    out = e.op("Max" if n.op is maximum_p else "Min", [x, y])
    if n.out.dtype.kind != "f":
        return out
    nan = e.op("Or", [e.op("IsNaN", [x]), e.op("IsNaN", [y])])
    return e.op("Where", [nan, e.op("Add", [x, y]), out])


def _safe_divisor(e: Emitter, y: str, dt: np.dtype) -> tuple[str, str]:
    """A divisor ONNX Runtime divides integers by without a fault (0, and -1 which overflows
    INT_MIN, become 1), and where ``y`` was one of those."""
    bad = e.op("Equal", [y, e.const(0, dt)])
    if dt.kind == "i":
        bad = e.op("Or", [bad, e.op("Equal", [y, e.const(-1, dt)])])
    return e.op("Where", [bad, e.const(1, dt), y]), bad


@converts(floor_divide_p)
def _floor_divide(e: Emitter, n: Node) -> str:
    dt = n.out.dtype
    x, y = _cast_all(e, n, dt)
    zero = e.const(0, dt)
    if dt.kind == "f":  # NOTE: numpy's divmod: (x - fmod(x, y)) / y, rounded to the integer
        m = e.op("Mod", [x, y], fmod=1)
        div = e.op("Div", [e.op("Sub", [x, m]), y])
        off = e.op("And", [e.op("Not", [e.op("Equal", [m, zero])]),
                           e.op("Xor", [e.op("Less", [y, zero]), e.op("Less", [m, zero])])])
        div = e.op("Where", [off, e.op("Sub", [div, e.const(1, dt)]), div])
        fl = e.op("Floor", [div])
        up = e.op("Greater", [e.op("Sub", [div, fl]), e.const(0.5, dt)])
        fl = e.op("Where", [up, e.op("Add", [fl, e.const(1, dt)]), fl])
        quotient = e.op("Div", [x, y])
        fl = e.op("Where", [e.op("Equal", [div, zero]), e.op("Mul", [quotient, zero]), fl])
        return e.op("Where", [e.op("Equal", [y, zero]), quotient, fl])
    # NOTE: ONNX's integer Div truncates: one less where the remainder's sign is not the
    # divisor's; numpy gives 0 for a zero divisor and -x (wrapping) for -1
    sy, bad = _safe_divisor(e, y, dt)
    q = e.op("Div", [x, sy])
    if dt.kind == "i":
        r = e.op("Mod", [x, sy], fmod=1)
        off = e.op("And", [e.op("Not", [e.op("Equal", [r, zero])]),
                           e.op("Xor", [e.op("Less", [r, zero]), e.op("Less", [sy, zero])])])
        q = e.op("Sub", [q, e.op("Cast", [off], to=tensor_type(e.onnx, dt))])
        q = e.op("Where", [e.op("Equal", [y, e.const(-1, dt)]), e.op("Neg", [x]), q])
    return e.op("Where", [e.op("Equal", [y, zero]), zero, q]) if dt.kind == "i" else (
        e.op("Where", [bad, zero, q]))


@converts(mod_p)
def _mod(e: Emitter, n: Node) -> str:
    x, y = _cast_all(e, n, n.out.dtype)
    if n.out.dtype.kind != "f":  # NOTE: numpy gives 0 for a zero divisor (and -1 divides all)
        sy, bad = _safe_divisor(e, y, n.out.dtype)
        return e.op("Where", [bad, e.const(0, n.out.dtype), e.op("Mod", [x, sy], fmod=0)])
    # NOTE: numpy's float remainder takes the divisor's sign, C's fmod the dividend's
    r = e.op("Mod", [x, y], fmod=1)
    zero = e.const(0, n.out.dtype)
    differ = e.op("Xor", [e.op("Less", [r, zero]), e.op("Less", [y, zero])])
    fix = e.op("And", [differ, e.op("Not", [e.op("Equal", [r, zero])])])
    return e.op("Where", [fix, e.op("Add", [r, y]), r])


@converts(abs_p)
def _abs(e: Emitter, n: Node) -> str:
    x = e.cast(n.ins[0], n.in_specs[0].dtype, n.out.dtype)
    return x if n.out.dtype.kind in "bu" else e.op("Abs", [x])


@converts(sign_p)
def _sign(e: Emitter, n: Node) -> str:
    x = e.cast(n.ins[0], n.in_specs[0].dtype, n.out.dtype)
    out = e.op("Sign", [x])
    nan = _isnan(e, x, n.out.dtype)
    return out if nan is None else e.op("Where", [nan, x, out])  # sign(NaN) is NaN


@converts(square_p)
def _square(e: Emitter, n: Node) -> str:
    x = e.cast(n.ins[0], n.in_specs[0].dtype, n.out.dtype)
    return e.op("Mul", [x, x])


@converts(reciprocal_p)
def _reciprocal(e: Emitter, n: Node) -> str:
    x = e.cast(n.ins[0], n.in_specs[0].dtype, n.out.dtype)
    if n.out.dtype.kind == "f":
        return e.op("Reciprocal", [x])
    # NOTE: numpy's integer 1 / x truncates; of 0 it gives what this machine's numpy gives
    dt = n.out.dtype
    zero = e.op("Equal", [x, e.const(0, dt)])
    with np.errstate(all="ignore"):
        at_zero = np.reciprocal(np.zeros((), dt))
    q = e.op("Div", [e.const(1, dt), e.op("Where", [zero, e.const(1, dt), x])])
    return e.op("Where", [zero, e.const(at_zero, dt), q])


@converts(rsqrt_p)
def _rsqrt(e: Emitter, n: Node) -> str:
    x = e.cast(n.ins[0], n.in_specs[0].dtype, n.out.dtype)
    return e.op("Div", [e.const(1, n.out.dtype), e.op("Sqrt", [x])])


@converts(round_p, floor_p, ceil_p)
def _rounding(e: Emitter, n: Node) -> str:
    x = e.cast(n.ins[0], n.in_specs[0].dtype, n.out.dtype)
    if n.out.dtype.kind != "f":
        return x  # integers are integral already
    onnx_op = {round_p: "Round", floor_p: "Floor", ceil_p: "Ceil"}[n.op]
    return e.op(onnx_op, [x])  # ONNX's Round is half to even, as numpy's


@converts(log1p_p)
def _log1p(e: Emitter, n: Node) -> str:
    x = e.cast(n.ins[0], n.in_specs[0].dtype, n.out.dtype)
    # NOTE: log(u) * x / (u - 1) with u = 1 + x rounded cancels the rounding of u (Goldberg)
    one = e.const(1, n.out.dtype)
    u = e.op("Add", [x, one])
    um1 = e.op("Sub", [u, one])
    ratio = e.op("Div", [e.op("Mul", [e.op("Log", [u]), x]), um1])
    plain = e.op("Or", [e.op("Equal", [um1, e.const(0, n.out.dtype)]),
                        e.op("IsInf", [u], detect_negative=0)])
    return e.op("Where", [plain, x, ratio])


@converts(expm1_p)
def _expm1(e: Emitter, n: Node) -> str:
    x = e.cast(n.ins[0], n.in_specs[0].dtype, n.out.dtype)
    # NOTE: (u - 1) * x / log(u) with u = exp(x) cancels the rounding of u (Kahan)
    u = e.op("Exp", [x])
    um1 = e.op("Sub", [u, e.const(1, n.out.dtype)])
    ratio = e.op("Div", [e.op("Mul", [um1, x]), e.op("Log", [u])])
    small = e.op("Equal", [um1, e.const(0, n.out.dtype)])
    big = e.op("Or", [e.op("IsInf", [u]), e.op("Equal", [u, e.const(0, n.out.dtype)])])
    return e.op("Where", [small, x, e.op("Where", [big, um1, ratio])])


@converts(relu_p)
def _relu(e: Emitter, n: Node) -> str:
    x = n.ins[0]
    if n.out.dtype.kind == "f":
        return e.op("Relu", [x])
    if n.out.dtype.kind in "bu":
        return x  # never below zero
    return e.op("Max", [x, e.const(0, n.out.dtype)])


@converts(stop_gradient_p)
def _identity(e: Emitter, n: Node) -> str:
    return e.op("Identity", [n.ins[0]])


@converts(where_p)
def _where(e: Emitter, n: Node) -> str:
    c, x, y = n.ins
    cs, xs, ys = n.in_specs
    return e.op("Where", [e.cast(c, cs.dtype, _BOOL), e.cast(x, xs.dtype, n.out.dtype),
                          e.cast(y, ys.dtype, n.out.dtype)])


@converts(add_n_p)
def _add_n(e: Emitter, n: Node) -> str:
    xs = _cast_all(e, n, n.out.dtype)
    if len(xs) == 1:
        return e.op("Identity", xs)
    out = xs[0]
    for x in xs[1:]:  # left to right, as the kernel adds
        out = e.op("Add", [out, x])
    return out


@converts(cast_p)
def _cast(e: Emitter, n: Node) -> str:
    x, frm, to = n.ins[0], n.in_specs[0].dtype, n.out.dtype
    if frm == to:
        return e.op("Identity", [x])
    if frm.kind != "f" or to.kind not in "iu":
        return e.cast(x, frm, to)
    # NOTE: graphexec saturates a float to integer cast and gives 0 for NaN (docs/gpu.md);
    # ONNX leaves out-of-range values undefined
    if frm.itemsize < 4:
        x, frm = e.cast(x, frm, _F32), _F32
    info = np.iinfo(to)
    lo, hi = e.const(float(info.min), frm), e.const(float(info.max) + 1.0, frm)
    fits = e.op("And", [e.op("GreaterOrEqual", [x, lo]), e.op("Less", [x, hi])])
    zero = e.const(0, frm)
    inside = e.cast(e.op("Where", [fits, x, zero]), frm, to)
    low = e.op("Where", [e.op("Less", [x, zero]), e.const(info.min, to), e.const(0, to)])
    outside = e.op("Where", [e.op("Greater", [x, zero]), e.const(info.max, to), low])
    return e.op("Where", [fits, inside, outside])


# -- fused nodes -------------------------------------------------------------------------------
@converts(fused_elementwise_p)
def _fused_elementwise(e: Emitter, n: Node) -> str:
    prog = n.attrs["program"]
    values: list[tuple[str, Spec]] = []
    for m in prog.members:
        ins, specs = [], []
        for kind, i in m.operands:
            if kind == "input":
                name, spec = n.ins[i], n.in_specs[i]
            elif kind == "member":
                name, spec = values[i]
            else:
                lit = prog.literals[i]
                name, spec = e.const(lit), Spec(lit.shape, lit.dtype)
            ins.append(name)
            specs.append(spec)
        member = Node(f"{n.name}/{m.name}", m.op, dict(m.attrs), ins, specs, (m.spec,),
                      m.loc or n.loc)
        values.append((convert(e, member)[0], m.spec))
    return _to_rank(e, values[prog.output][0], len(values[prog.output][1].shape),
                    len(n.out.shape))


def _to_rank(e: Emitter, x: str, rank: int, want: int) -> str:
    return x if rank >= want else e.op("Unsqueeze", [x, e.ints(range(want - rank))])


def _epilogue(e: Emitter, n: Node, y: str) -> str:
    """The bias add and the activation of a fused epilogue op after its product ``y``."""
    bias = n.ins[2:]
    if bias:
        ins = [bias[0], y] if n.attrs.get("bias_first") else [y, bias[0]]
        specs = [n.in_specs[2], n.out] if n.attrs.get("bias_first") else [n.out, n.in_specs[2]]
        y = convert(e, n.sub(add_p, ins, specs, n.out))[0]
    act = n.attrs.get("activation")
    if act is not None:
        y = convert(e, n.sub(act, [y], [n.out], n.out))[0]
    return y


@converts(fused_dense_p)
def _fused_dense(e: Emitter, n: Node) -> str:
    y = convert(e, n.sub(matmul_p, n.ins[:2], n.in_specs[:2], n.out))[0]
    return _epilogue(e, n, y)


@converts(fused_conv2d_p)
def _fused_conv2d(e: Emitter, n: Node) -> str:
    attrs = {"strides": n.attrs["strides"], "dilations": n.attrs["dilations"]}
    y = convert(e, n.sub(conv2d_p, n.ins[:2], n.in_specs[:2], n.out, attrs))[0]
    return _epilogue(e, n, y)


# -- reductions --------------------------------------------------------------------------------
def _reduce(e: Emitter, onnx_op: str, x: str, axis: Sequence[int], keepdims: bool) -> str:
    if not axis:  # NOTE: no axes means all of them to ONNX, none to graphexec
        return x
    return e.op(onnx_op, [x, e.ints(axis)], keepdims=int(keepdims))


_REDUCE = {sum_p: "ReduceSum", mean_p: "ReduceMean", prod_p: "ReduceProd", max_p: "ReduceMax",
           min_p: "ReduceMin", any_p: "ReduceMax", all_p: "ReduceMin"}


@converts(*_REDUCE)
def _reduction(e: Emitter, n: Node) -> str:
    x, frm, out = n.ins[0], n.in_specs[0].dtype, n.out.dtype
    if n.op in (any_p, all_p):
        x, frm = e.cast(x, frm, _BOOL), _BOOL
    work = _I32 if out == np.bool_ else out  # NOTE: ONNX Runtime reduces no bools
    axis, keep = n.attrs["axis"], n.attrs["keepdims"]
    y = _reduce(e, _REDUCE[n.op], e.cast(x, frm, work), axis, keep)
    if n.op in (max_p, min_p) and out.kind == "f" and axis:
        # NOTE: numpy's max and min propagate NaN; ONNX Runtime's skip it
        nan = _reduce(e, "ReduceMax", e.cast(e.op("IsNaN", [x]), _BOOL, _I32), axis, keep)
        y = e.op("Where", [e.cast(nan, _I32, _BOOL), e.const(np.nan, out), y])
    return e.op("Identity", [y]) if y == n.ins[0] else e.cast(y, work, out)


@converts(logsumexp_p)
def _logsumexp(e: Emitter, n: Node) -> str:
    axis, keep = n.attrs["axis"], n.attrs["keepdims"]
    x = e.cast(n.ins[0], n.in_specs[0].dtype, n.out.dtype)
    if not axis:
        m = x
    else:
        m = e.op("ReduceMax", [x, e.ints(axis)], keepdims=1)
    finite = e.op("Not", [e.op("Or", [e.op("IsInf", [m]), e.op("IsNaN", [m])])])
    m = e.op("Where", [finite, m, e.const(0, n.out.dtype)])  # all -inf, or an inf: shift by 0
    s = _reduce(e, "ReduceSum", e.op("Exp", [e.op("Sub", [x, m])]), axis, keep)
    if axis and not keep:
        m = e.op("Squeeze", [m, e.ints(axis)])
    return e.op("Add", [e.op("Log", [s]), m])


@converts(argmax_p, argmin_p)
def _arg(e: Emitter, n: Node) -> str:
    x, spec = n.ins[0], n.in_specs[0]
    onnx_op = "ArgMax" if n.op is argmax_p else "ArgMin"
    if spec.dtype == np.bool_:
        x = e.cast(x, spec.dtype, _I32)
    axis, keep = n.attrs["axis"], n.attrs["keepdims"]
    if axis is None:
        x = e.op("Reshape", [x, e.ints([-1])])
    y = e.op(onnx_op, [x], axis=axis or 0, keepdims=int(keep and axis is not None))
    if spec.dtype.kind == "f":  # NOTE: numpy's first NaN wins; ONNX Runtime skips NaN
        nan = e.cast(e.op("IsNaN", [x]), _BOOL, _I32)
        first = e.op("ArgMax", [nan], axis=axis or 0, keepdims=int(keep and axis is not None))
        has = e.op("ReduceMax", [nan, e.ints([axis or 0])],
                   keepdims=int(keep and axis is not None))
        y = e.op("Where", [e.cast(has, _I32, _BOOL), first, y])
    if axis is None and keep:
        return e.op("Reshape", [y, e.ints([1] * len(spec.shape))])
    return y


# -- shapes and indexing -----------------------------------------------------------------------
def _dim(e: Emitter, x: str, axis: int) -> str:
    """The size of ``axis`` of ``x`` as a 1-element int64 vector."""
    return e.op("Shape", [x], start=axis, end=axis + 1)


@converts(reshape_p)
def _reshape(e: Emitter, n: Node) -> str:
    shape = n.attrs["shape"]
    return e.op("Reshape", [n.ins[0], e.ints(shape)], allowzero=int(0 in shape))


@converts(reshape_like_p)
def _reshape_like(e: Emitter, n: Node) -> str:
    return e.op("Reshape", [n.ins[0], e.op("Shape", [n.ins[1]])], allowzero=1)


@converts(transpose_p)
def _transpose(e: Emitter, n: Node) -> str:
    perm = n.attrs["perm"]
    return e.op("Transpose", [n.ins[0]], perm=list(perm)) if perm else e.op("Identity",
                                                                            n.ins[:1])


@converts(expand_dims_p)
def _expand_dims(e: Emitter, n: Node) -> str:
    return e.op("Unsqueeze", [n.ins[0], e.ints(n.attrs["axis"])])


@converts(squeeze_p)
def _squeeze(e: Emitter, n: Node) -> str:
    axis = n.attrs["axis"]
    return e.op("Squeeze", [n.ins[0], e.ints(axis)]) if axis else e.op("Identity", n.ins[:1])


@converts(broadcast_to_p)
def _broadcast_to(e: Emitter, n: Node) -> str:
    return e.op("Expand", [n.ins[0], e.ints(n.attrs["shape"])])


@converts(broadcast_like_p)
def _broadcast_like(e: Emitter, n: Node) -> str:
    return e.op("Expand", [n.ins[0], e.op("Shape", [n.ins[1]])])


@converts(tile_p)
def _tile(e: Emitter, n: Node) -> str:
    x, rank, reps = n.ins[0], len(n.in_specs[0].shape), tuple(n.attrs["multiples"])
    if len(reps) > rank:  # numpy gives the input leading axes
        x, rank = _to_rank(e, x, rank, len(reps)), len(reps)
    reps = (1,) * (rank - len(reps)) + reps
    return e.op("Tile", [x, e.ints(reps)]) if reps else e.op("Identity", [x])


@converts(tile_grad_p)
def _tile_grad(e: Emitter, n: Node) -> str:
    g, like = n.in_specs
    rank = len(g.shape)
    reps = (1,) * (rank - len(n.attrs["multiples"])) + tuple(n.attrs["multiples"])
    dims = (1,) * (rank - len(like.shape)) + _static_shape(n, like, "'like' operand")
    if not rank:
        return e.op("Identity", n.ins[:1])
    split = e.op("Reshape", [n.ins[0], e.ints([v for rd in zip(reps, dims) for v in rd])],
                 allowzero=1)
    summed = e.op("ReduceSum", [split, e.ints(range(0, 2 * rank, 2))], keepdims=0)
    return e.op("Reshape", [summed, e.op("Shape", [n.ins[1]])], allowzero=1)


@converts(sum_to_like_p)
def _sum_to_like(e: Emitter, n: Node) -> str:
    g, like = n.in_specs
    lead = len(g.shape) - len(like.shape)
    out = _reduce(e, "ReduceSum", n.ins[0], range(lead), False)
    if None in like.shape:
        raise n.fail(InvalidArgumentError, "needs the static shape of its 'like' operand")
    axes = [i for i, d in enumerate(like.shape) if d == 1 and g.shape[lead + i] != 1]
    out = _reduce(e, "ReduceSum", out, axes, True)
    return e.op("Identity", [out]) if out == n.ins[0] else out


@converts(stack_p)
def _stack(e: Emitter, n: Node) -> str:
    axis = e.ints([n.attrs["axis"]])
    xs = [e.op("Unsqueeze", [x, axis]) for x in _cast_all(e, n, n.out.dtype)]
    return e.op("Concat", xs, axis=n.attrs["axis"])


@converts(concat_p)
def _concat(e: Emitter, n: Node) -> str:
    return e.op("Concat", _cast_all(e, n, n.out.dtype), axis=n.attrs["axis"])


@converts(unstack_p)
def _unstack(e: Emitter, n: Node) -> list[str]:
    axis, num = n.attrs["axis"], n.attrs["num"]
    parts = e.op("Split", [n.ins[0], e.ints([1] * num)], n_out=num, axis=axis)
    parts = [parts] if num == 1 else parts
    return [e.op("Squeeze", [p, e.ints([axis])]) for p in parts]


@converts(split_p)
def _split(e: Emitter, n: Node) -> list[str]:
    axis = n.attrs["axis"]
    sizes = [s.shape[axis] for s in n.specs]
    k = len(n.specs)
    if None not in sizes:
        out = e.op("Split", [n.ins[0], e.ints(sizes)], n_out=k, axis=axis)
    elif isinstance(n.attrs["splits"], int):
        out = e.op("Split", [n.ins[0]], n_out=k, axis=axis, num_outputs=k)
    else:
        raise n.fail(InvalidArgumentError, "a -1 piece needs the axis size known")
    return [out] if k == 1 else out


@converts(split_like_p)
def _split_like(e: Emitter, n: Node) -> list[str]:
    axis, k = n.attrs["axis"], len(n.ins) - 1
    sizes = e.op("Concat", [_dim(e, x, axis) for x in n.ins[1:]], axis=0)
    out = e.op("Split", [n.ins[0], sizes], n_out=k, axis=axis)
    return [out] if k == 1 else out


@converts(shape_p)
def _shape(e: Emitter, n: Node) -> str:
    return e.op("Shape", n.ins[:1])


@converts(size_p)
def _size(e: Emitter, n: Node) -> str:
    return e.op("Size", n.ins[:1])


@converts(gather_p)
def _gather(e: Emitter, n: Node) -> str:
    return e.op("Gather", n.ins, axis=n.attrs["axis"])  # negative indices count from the end


def _slice_bounds(k: tuple[Any, ...]) -> tuple[int, int, int]:
    if k[0] == "i":
        return k[1], (k[1] + 1) or _I64_MAX, 1
    _, start, stop, step = k
    if start is None:
        start = 0 if step > 0 else _I64_MAX
    if stop is None:
        stop = _I64_MAX if step > 0 else _I64_MIN
    return start, stop, step


@converts(getitem_p)
def _getitem(e: Emitter, n: Node) -> str:
    key = n.attrs["key"]
    axes = [i for i, k in enumerate(k for k in key if k[0] != "n")]
    cut = [_slice_bounds(k) for k in key if k[0] != "n"]
    x = n.ins[0]
    if cut:
        starts, stops, steps = zip(*cut, strict=True)
        x = e.op("Slice", [x, e.ints(starts), e.ints(stops), e.ints(axes), e.ints(steps)])
    dropped = [i for i, k in zip(axes, (k for k in key if k[0] != "n"), strict=True)
               if k[0] == "i"]
    if dropped:
        x = e.op("Squeeze", [x, e.ints(dropped)])
    new, pos = [], 0
    for k in key:
        if k[0] == "n":
            new.append(pos)
        pos += k[0] != "i"
    if new:
        x = e.op("Unsqueeze", [x, e.ints(new)])
    return e.op("Identity", [x]) if x == n.ins[0] else x


def _static_shape(n: Node, spec: Spec, what: str) -> tuple[int, ...]:
    if None in spec.shape:
        raise n.fail(InvalidArgumentError, f"needs the static shape of its {what}")
    return tuple(int(d) for d in spec.shape if d is not None)


@converts(getitem_grad_p)
def _getitem_grad(e: Emitter, n: Node) -> str:
    shape = _static_shape(n, n.in_specs[1], "'like' operand")
    key = tuple(None if k[0] == "n" else k[1] if k[0] == "i" else slice(*k[1:])
                for k in n.attrs["key"])
    where = np.arange(math.prod(shape), dtype=np.int64).reshape(shape)[key]
    flat = e.op("ConstantOfShape", [e.ints([math.prod(shape)])],
                value=_scalar(e, 0, n.out.dtype))
    g = e.op("Reshape", [n.ins[0], e.ints([-1])])
    out = e.op("ScatterND", [flat, e.const(where.reshape(-1, 1)), g])
    return e.op("Reshape", [out, e.ints(shape)], allowzero=1)


def _scalar(e: Emitter, value: Any, dtype: np.dtype) -> Any:
    return e.onnx.numpy_helper.from_array(np.array([value], dtype))


def _zeros_like(e: Emitter, like: str, dtype: np.dtype, perm: Sequence[int] | None = None
                ) -> str:
    shape = e.op("Shape", [like])
    if perm is not None:
        shape = e.op("Gather", [shape, e.ints(perm)])
    return e.op("ConstantOfShape", [shape], value=_scalar(e, 0, dtype))


def _normalized(e: Emitter, idx: str, dtype: np.dtype, size: str) -> str:
    """Integer indices as int64 in ``[0, size)`` (negative ones count from the end)."""
    idx = e.cast(idx, dtype, _I64)
    neg = e.op("Less", [idx, e.const(0, _I64)])
    return e.op("Where", [neg, e.op("Add", [idx, e.op("Squeeze", [size])]), idx])


@converts(gather_grad_p)
def _gather_grad(e: Emitter, n: Node) -> str:
    g, idx, like = n.ins
    axis, q, r = n.attrs["axis"], len(n.in_specs[1].shape), len(n.in_specs[2].shape)
    # NOTE: ScatterND adds along leading axes: move the gathered axis (of g: the index axes)
    # to the front, add, and move it back
    perm_g = [*range(axis, axis + q), *range(axis), *range(axis + q, r + q - 1)]
    perm_l = [axis, *range(axis), *range(axis + 1, r)]
    size = _dim(e, like, axis)
    where = e.op("Unsqueeze", [_normalized(e, idx, n.in_specs[1].dtype, size), e.ints([-1])])
    acc = e.op("ScatterND", [_zeros_like(e, like, n.out.dtype, perm_l), where,
                             _permuted(e, g, perm_g)], reduction="add")
    return _permuted(e, acc, [int(i) for i in np.argsort(perm_l)])


def _permuted(e: Emitter, x: str, perm: Sequence[int]) -> str:
    if list(perm) == sorted(perm):
        return x
    return e.op("Transpose", [x], perm=list(perm))


@converts(take_along_axis_p)
def _take_along_axis(e: Emitter, n: Node) -> str:
    return e.op("GatherElements", n.ins, axis=n.attrs["axis"])


@converts(take_along_axis_grad_p)
def _take_along_axis_grad(e: Emitter, n: Node) -> str:
    g, idx, like = n.ins
    axis = n.attrs["axis"]
    where = _normalized(e, idx, n.in_specs[1].dtype, _dim(e, like, axis))
    return e.op("ScatterElements", [_zeros_like(e, like, n.out.dtype), where, g], axis=axis,
                reduction="add")


# -- creation ----------------------------------------------------------------------------------
@converts(fill_p)
def _fill(e: Emitter, n: Node) -> str:
    return e.op("ConstantOfShape", [e.ints(n.attrs["shape"])],
                value=_scalar(e, n.attrs["value"], n.out.dtype))


@converts(full_like_p)
def _full_like(e: Emitter, n: Node) -> str:
    return e.op("ConstantOfShape", [e.op("Shape", n.ins[:1])],
                value=_scalar(e, n.attrs["value"], n.out.dtype))


@converts(eye_p)
def _eye(e: Emitter, n: Node) -> str:
    zeros = e.op("ConstantOfShape", [e.ints([n.attrs["num_rows"], n.attrs["num_columns"]])],
                 value=_scalar(e, 0, n.out.dtype))
    return e.op("EyeLike", [zeros])


@converts(range_p)
def _range(e: Emitter, n: Node) -> str:
    # NOTE: its arguments are static: the kernel's own values (ONNX's Range accumulates the
    # delta, which drifts in floats)
    return e.const(n.op.kernel(np, **n.attrs), n.out.dtype, n.name)


@converts(random_normal_p, random_uniform_p)
def _random(e: Emitter, n: Node) -> str:
    # NOTE: ONNX Runtime's generator is not graphexec's: the same seed draws other values
    a, dt = n.attrs, n.out.dtype
    if dt.kind != "f":
        raise n.fail(DTypeError, "ONNX draws random floats only")
    work = _F32 if dt == np.float16 else dt
    seed: dict[str, Any] = {} if a["seed"] is None else {"seed": float(a["seed"])}
    if n.op is random_normal_p:
        y = e.op("RandomNormal", [], shape=list(a["shape"]), mean=float(a["mean"]),
                 scale=float(a["stddev"]), dtype=tensor_type(e.onnx, work), **seed)
    else:
        y = e.op("RandomUniform", [], shape=list(a["shape"]), low=float(a["minval"]),
                 high=float(a["maxval"]), dtype=tensor_type(e.onnx, work), **seed)
    return e.cast(y, work, dt)


# -- linear algebra ----------------------------------------------------------------------------
@converts(matmul_p)
def _matmul(e: Emitter, n: Node) -> str:
    if n.out.dtype == np.bool_:  # any(x and w) along the inner axis
        y = e.op("MatMul", _cast_all(e, n, _I32))
        return e.op("Greater", [y, e.const(0, _I32)])
    return e.op("MatMul", _cast_all(e, n, n.out.dtype))


@converts(einsum_p)
def _einsum(e: Emitter, n: Node) -> str:
    return e.op("Einsum", _cast_all(e, n, n.out.dtype), equation=n.attrs["spec"])


@converts(det_p)
def _det(e: Emitter, n: Node) -> str:
    return e.op("Det", _cast_all(e, n, n.out.dtype))


def _norm_axes(n: Node) -> tuple[int, ...]:
    axis, rank = n.attrs["axis"], len(n.in_specs[0].shape)
    if axis is not None:
        return tuple(axis)
    return tuple(range(rank)) if n.attrs["ord"] is None or rank == 1 else (0, 1)


@converts(norm_p)
def _norm(e: Emitter, n: Node) -> str:
    ord_, axes = n.attrs["ord"], _norm_axes(n)
    x = e.cast(n.ins[0], n.in_specs[0].dtype, n.out.dtype)
    if ord_ is None or ord_ in ("fro", "f") or (ord_ == 2 and len(axes) == 1):
        y = e.op("Sqrt", [e.op("ReduceSum", [e.op("Mul", [x, x]), e.ints(axes)], keepdims=1)])
    elif len(axes) == 1:
        y = _vector_norm(e, x, float(ord_), axes[0], n.out.dtype)
    elif ord_ in (1, -1, np.inf, -np.inf):
        # NOTE: numpy's matrix 1-norm sums over rows (axes[0]), its inf-norm over columns
        inner, outer = axes if abs(ord_) == 1 else axes[::-1]
        s = e.op("ReduceSum", [e.op("Abs", [x]), e.ints([inner])], keepdims=1)
        y = e.op("ReduceMax" if ord_ > 0 else "ReduceMin", [s, e.ints([outer])], keepdims=1)
    else:
        raise n.fail(InvalidArgumentError, f"the matrix norm ord={ord_!r} needs singular "
                     "values, and ONNX has no SVD")
    return y if n.attrs["keepdims"] else e.op("Squeeze", [y, e.ints(sorted(axes))])


def _vector_norm(e: Emitter, x: str, p: float, axis: int, dtype: np.dtype) -> str:
    a, axes = e.op("Abs", [x]), e.ints([axis])
    if p in (np.inf, -np.inf):
        return e.op("ReduceMax" if p > 0 else "ReduceMin", [a, axes], keepdims=1)
    if p == 0:
        nonzero = e.cast(e.op("Not", [e.op("Equal", [x, e.const(0, dtype)])]), _BOOL, dtype)
        return e.op("ReduceSum", [nonzero, axes], keepdims=1)
    if p == 1:
        return e.op("ReduceSum", [a, axes], keepdims=1)
    s = e.op("ReduceSum", [e.op("Pow", [a, e.const(p, dtype)]), axes], keepdims=1)
    return e.op("Pow", [s, e.const(1.0 / p, dtype)])


# -- cumulative ops and sorting ----------------------------------------------------------------
@converts(cumsum_p)
def _cumsum(e: Emitter, n: Node) -> str:
    x = e.cast(n.ins[0], n.in_specs[0].dtype, n.out.dtype)
    return e.op("CumSum", [x, e.const(n.attrs["axis"], _I64)], reverse=int(n.attrs["reverse"]))


@converts(cumprod_p)
def _cumprod(e: Emitter, n: Node) -> str:
    # NOTE: ONNX has no CumProd: out[k] is the product of x[j] over j <= k, a masked ReduceProd
    # over a new axis (multiplying by 1 outside the mask changes no rounding)
    axis, rank, dt = n.attrs["axis"], len(n.in_specs[0].shape), n.out.dtype
    size = n.in_specs[0].shape[axis]
    if size is None:
        raise n.fail(InvalidArgumentError, "needs the size of its axis known")
    k, j = np.indices((size, size))
    mask = (j >= k) if n.attrs["reverse"] else (j <= k)
    mask = mask.reshape((size, size) + (1,) * (rank - axis - 1))
    x = e.op("Unsqueeze", [e.cast(n.ins[0], n.in_specs[0].dtype, dt), e.ints([axis])])
    masked = e.op("Where", [e.const(mask), x, e.const(1, dt)])
    return e.op("ReduceProd", [masked, e.ints([axis + 1])], keepdims=0)


def _argsort(e: Emitter, x: str, spec: Spec, axis: int, descending: bool) -> str:
    """Stable sorting positions, NaN last (first when descending), as graphexec sorts."""
    k = _dim(e, x, axis)
    if spec.dtype == np.bool_:
        x = e.cast(x, spec.dtype, _I32)
    if spec.dtype.kind != "f":
        return e.op("TopK", [x, k], n_out=2, axis=axis, largest=int(descending))[1]
    # NOTE: TopK puts equal values in index order; NaN sorts as an infinity, then a second
    # stable TopK on "is NaN" moves the NaNs past the infinities
    nan = e.op("IsNaN", [x])
    inf = e.const(-np.inf if descending else np.inf, spec.dtype)
    idx = e.op("TopK", [e.op("Where", [nan, inf, x]), k], n_out=2, axis=axis,
               largest=int(descending))[1]
    flags = e.op("GatherElements", [e.cast(nan, _BOOL, _F32), idx], axis=axis)
    order = e.op("TopK", [flags, k], n_out=2, axis=axis, largest=int(descending))[1]
    return e.op("GatherElements", [idx, order], axis=axis)


@converts(argsort_p)
def _argsort_op(e: Emitter, n: Node) -> str:
    return _argsort(e, n.ins[0], n.in_specs[0], n.attrs["axis"], n.attrs["descending"])


@converts(sort_p)
def _sort(e: Emitter, n: Node) -> str:
    idx = _argsort(e, n.ins[0], n.in_specs[0], n.attrs["axis"], n.attrs["descending"])
    return e.op("GatherElements", [n.ins[0], idx], axis=n.attrs["axis"])


# -- padding -----------------------------------------------------------------------------------
#: how far ONNX's Pad may extend an axis of size n in each mode (numpy's modes repeat further)
_PAD_REACH = {"reflect": lambda n: n - 1, "edge": lambda n: _I64_MAX, "wrap": lambda n: n}


@converts(pad_p)
def _pad(e: Emitter, n: Node) -> str:
    pads, mode = n.attrs["paddings"], n.attrs["mode"]
    x, shape = n.ins[0], n.in_specs[0].shape
    if not any(b or a for b, a in pads):
        return e.op("Identity", [x])
    if mode == "constant":
        value = e.const(n.attrs["constant_values"] or 0, n.out.dtype)
        return e.op("Pad", [x, e.ints([b for b, _ in pads] + [a for _, a in pads]), value])
    if mode in _PAD_REACH and all(
            not (b or a) or d is None or (max(b, a) <= _PAD_REACH[mode](d)
                                          and not (mode == "reflect" and d == 1))
            for d, (b, a) in zip(shape, pads, strict=True)):
        return e.op("Pad", [x, e.ints([b for b, _ in pads] + [a for _, a in pads])],
                    mode=mode)
    for axis, (d, (b, a)) in enumerate(zip(shape, pads, strict=True)):
        if not (b or a):
            continue
        if d is None:
            raise n.fail(InvalidArgumentError, f"mode {mode!r} with pads wider than ONNX "
                         f"allows needs the size of axis {axis} known")
        x = e.op("Gather", [x, e.const(index_map(d, b, a, mode))], axis=axis)
    return x


@converts(pad_grad_p)
def _pad_grad(e: Emitter, n: Node) -> str:
    pads, mode, g = n.attrs["paddings"], n.attrs["mode"], n.ins[0]
    if mode == "constant":
        starts = [b for b, _ in pads]
        stops = [-a if a else _I64_MAX for _, a in pads]
        return e.op("Slice", [g, e.ints(starts), e.ints(stops)]) if pads else e.op(
            "Identity", [g])
    for axis, (d, (b, a)) in enumerate(zip(n.out.shape, pads, strict=True)):
        if not (b or a):
            continue
        if d is None:
            raise n.fail(InvalidArgumentError, f"needs the size of axis {axis} known")
        # NOTE: the adjoint of gathering by the index map: a product with its one-hot matrix
        onehot = index_map(d, b, a, mode)[:, None] == np.arange(d)
        rank = len(n.out.shape)
        perm = [*range(axis), *range(axis + 1, rank), axis]
        moved = e.op("Transpose", [g], perm=perm)
        prod = e.op("MatMul", [moved, e.const(onehot.astype(n.out.dtype))])
        g = e.op("Transpose", [prod], perm=[int(i) for i in np.argsort(perm)])
    return g


# -- nn ----------------------------------------------------------------------------------------
def _nchw(e: Emitter, x: str) -> str:
    return e.op("Transpose", [x], perm=[0, 3, 1, 2])


def _nhwc(e: Emitter, x: str) -> str:
    return e.op("Transpose", [x], perm=[0, 2, 3, 1])


def _hwio_to_oihw(e: Emitter, f: str) -> str:
    return e.op("Transpose", [f], perm=[3, 2, 0, 1])


def _work(dtype: np.dtype) -> np.dtype:
    """The dtype ONNX Runtime's convolutions and pools compute an integer tensor in (exact
    for int32 values and sums below 2**53)."""
    return dtype if dtype.kind == "f" else _F64


def _windows(e: Emitter, n: Node, x: str, ksize: Sequence[int], strides: Sequence[int],
             dilations: Sequence[int]) -> tuple[str, int, int]:
    """The windows of NHWC ``x`` (node ``n``'s first operand), ``(n, oh, ow, kh, kw, c)``, by
    two Gathers (graphexec's im2col); and ``oh, ow``."""
    h, w = _static_shape(n, Spec(n.in_specs[0].shape[1:3], n.out.dtype), "input height, width")
    out = []
    for axis, size in ((1, h), (3, w)):
        i = 0 if axis == 1 else 1
        count = (size - (ksize[i] - 1) * dilations[i] - 1) // strides[i] + 1
        idx = (np.arange(count)[:, None] * strides[i] + np.arange(ksize[i]) * dilations[i])
        x = e.op("Gather", [x, e.const(idx)], axis=axis)  # (n, oh, kh, w, c), then ow, kw
        out.append(count)
    return e.op("Transpose", [x], perm=[0, 1, 3, 2, 4, 5]), out[0], out[1]


def _conv2d_im2col(e: Emitter, n: Node, x: str, f: str) -> str:
    kh, kw, c, o = _static_shape(n, n.in_specs[1], "filter shape")
    patches, oh, ow = _windows(e, n, x, (kh, kw), n.attrs["strides"], n.attrs["dilations"])
    cols = e.op("Reshape", [patches, e.ints([0, oh, ow, kh * kw * c])])
    return e.op("MatMul", [cols, e.op("Reshape", [f, e.ints([kh * kw * c, o])])])


@converts(conv2d_p)
def _conv2d(e: Emitter, n: Node) -> str:
    dt, work = n.out.dtype, _work(n.out.dtype)
    if dt != np.float32:  # NOTE: ONNX Runtime's Conv computes float32 only
        return _conv2d_im2col(e, n, *_cast_all(e, n, dt))
    x, f = _cast_all(e, n, work)
    y = e.op("Conv", [_nchw(e, x), _hwio_to_oihw(e, f)], strides=list(n.attrs["strides"]),
             dilations=list(n.attrs["dilations"]), pads=[0, 0, 0, 0])
    return e.cast(_nhwc(e, y), work, dt)


@converts(conv2d_backprop_input_p)
def _conv2d_backprop_input(e: Emitter, n: Node) -> str:
    g_spec, f_spec, like = n.in_specs
    dt, work = n.out.dtype, _work(n.out.dtype)
    h, w = _static_shape(n, Spec(like.shape[1:3], like.dtype), "input height and width")
    (sh, sw), (dh, dw) = n.attrs["strides"], n.attrs["dilations"]
    kh, kw = _static_shape(n, Spec(f_spec.shape[:2], f_spec.dtype), "filter size")
    oh, ow = _static_shape(n, Spec(g_spec.shape[1:3], g_spec.dtype), "gradient height, width")
    extra = [h - ((oh - 1) * sh + (kh - 1) * dh + 1), w - ((ow - 1) * sw + (kw - 1) * dw + 1)]
    g, f = (e.cast(x, s.dtype, work) for x, s in zip(n.ins[:2], n.in_specs[:2], strict=True))
    y = e.op("ConvTranspose", [_nchw(e, g), _hwio_to_oihw(e, f)], strides=[sh, sw],
             dilations=[dh, dw], output_padding=extra)
    return e.cast(_nhwc(e, y), work, dt)


@converts(conv2d_backprop_filter_p)
def _conv2d_backprop_filter(e: Emitter, n: Node) -> str:
    # NOTE: the filter gradient is a convolution of x with g, the batch as channels: strides
    # and dilations swap roles
    dt, work = n.out.dtype, _work(n.out.dtype)
    kh, kw = _static_shape(n, Spec(n.in_specs[2].shape[:2], dt), "filter size")
    if dt != np.float32:  # the windows of x contracted with g, as graphexec computes it
        x, g = _cast_all(e, n.sub(n.op, n.ins[:2], n.in_specs[:2], n.out), dt)
        c, o = n.in_specs[0].shape[3], n.in_specs[1].shape[3]
        patches = _windows(e, n, x, (kh, kw), n.attrs["strides"], n.attrs["dilations"])[0]
        cols = e.op("Reshape", [patches, e.ints([-1, kh * kw * int(c or 0)])])
        prod = e.op("MatMul", [e.op("Transpose", [cols], perm=[1, 0]),
                               e.op("Reshape", [g, e.ints([-1, int(o or 0)])])])
        return e.op("Reshape", [prod, e.ints([kh, kw, int(c or 0), int(o or 0)])])
    x, g = (e.cast(v, s.dtype, work) for v, s in zip(n.ins[:2], n.in_specs[:2], strict=True))
    xt = e.op("Transpose", [x], perm=[3, 0, 1, 2])  # (c, n, h, w)
    gt = e.op("Transpose", [g], perm=[3, 0, 1, 2])  # (o, n, oh, ow)
    y = e.op("Conv", [xt, gt], strides=list(n.attrs["dilations"]),
             dilations=list(n.attrs["strides"]), pads=[0, 0, 0, 0])  # (c, o, >= kh, >= kw)
    y = e.op("Slice", [y, e.ints([0, 0]), e.ints([kh, kw]), e.ints([2, 3])])
    return e.cast(e.op("Transpose", [y], perm=[2, 3, 0, 1]), work, dt)


def _pool_attrs(n: Node) -> dict[str, Any]:
    ksize, strides, padding = n.attrs["ksize"], n.attrs["strides"], n.attrs["padding"]
    attrs: dict[str, Any] = {"kernel_shape": list(ksize), "strides": list(strides)}
    h, w = n.in_specs[0].shape[1:3]
    if padding == "SAME" and (h is None or w is None):
        attrs["auto_pad"] = "SAME_UPPER"  # TF's SAME: the extra pixel after
        return attrs
    if padding == "VALID":
        pads = ((0, 0), (0, 0))
    elif padding == "SAME":
        pads = (same_pads(int(h or 0), ksize[0], strides[0]),
                same_pads(int(w or 0), ksize[1], strides[1]))
    else:
        pads = padding
    attrs["pads"] = [pads[0][0], pads[1][0], pads[0][1], pads[1][1]]
    return attrs


@converts(max_pool2d_p, avg_pool2d_p)
def _pool(e: Emitter, n: Node) -> str:
    work = _work(n.out.dtype)
    x = e.cast(n.ins[0], n.in_specs[0].dtype, work)
    if n.op is avg_pool2d_p and work != np.float32:
        return _avg_pool_windows(e, n, x)
    if n.op is max_pool2d_p:
        y = e.op("MaxPool", [_nchw(e, x)], **_pool_attrs(n))
    else:  # NOTE: TF's average divides by the taps inside the input
        y = e.op("AveragePool", [_nchw(e, x)], count_include_pad=0, **_pool_attrs(n))
    return e.cast(_nhwc(e, y), work, n.out.dtype)


def _avg_pool_windows(e: Emitter, n: Node, x: str) -> str:
    """avg_pool2d in float64 (ONNX Runtime's AveragePool computes float32 only): the windows
    of the zero-padded input summed, over the taps inside the input."""
    pads = _pool_attrs(n).get("pads")
    if pads is None:
        raise n.fail(InvalidArgumentError, "needs the input height and width known")
    t, left, b, r = pads
    x = e.op("Pad", [x, e.ints([0, t, left, 0, 0, b, r, 0])])
    h, w = _static_shape(n, Spec(n.in_specs[0].shape[1:3], n.out.dtype), "input height, width")
    padded = n.sub(avg_pool2d_p, [x], [Spec((None, h + t + b, w + left + r, None),
                                            n.out.dtype)], n.out)
    ksize, strides = n.attrs["ksize"], n.attrs["strides"]
    win, oh, ow = _windows(e, padded, x, ksize, strides, (1, 1))
    ones = np.pad(np.ones((h, w)), ((t, b), (left, r)))
    taps = [[ones[i * strides[0]:i * strides[0] + ksize[0],
                  j * strides[1]:j * strides[1] + ksize[1]].sum() for j in range(ow)]
            for i in range(oh)]
    total = e.op("ReduceSum", [win, e.ints([3, 4])], keepdims=0)
    return e.op("Div", [total, e.const(np.array(taps, n.out.dtype)[:, :, None])])


@converts(softmax_p, log_softmax_p)
def _softmax(e: Emitter, n: Node) -> str:
    x = e.cast(n.ins[0], n.in_specs[0].dtype, n.out.dtype)
    return e.op("Softmax" if n.op is softmax_p else "LogSoftmax", [x], axis=n.attrs["axis"])


@converts(batch_norm_p)
def _batch_norm(e: Emitter, n: Node) -> str:
    x, mean, var, gamma, beta = n.ins
    eps = e.const(n.attrs["epsilon"], n.out.dtype)
    scale = e.op("Div", [gamma, e.op("Sqrt", [e.op("Add", [var, eps])])])
    return e.op("Add", [e.op("Mul", [e.op("Sub", [x, mean]), scale]), beta])


@converts(nll_loss_p)
def _nll_loss(e: Emitter, n: Node) -> str:
    axis = e.ints([n.attrs["axis"]])
    labels = e.cast(n.ins[1], n.in_specs[1].dtype, _I64)
    picked = e.op("GatherElements", [n.ins[0], e.op("Unsqueeze", [labels, axis])],
                  axis=n.attrs["axis"])
    return e.op("Neg", [e.op("Squeeze", [picked, axis])])


@converts(nll_loss_grad_p)
def _nll_loss_grad(e: Emitter, n: Node) -> str:
    g, labels, like = n.ins
    axis, rank = n.attrs["axis"], len(n.in_specs[2].shape)
    where = e.ints([axis])
    classes = e.op("Range", [e.const(0, _I64), e.op("Squeeze", [_dim(e, like, axis)]),
                             e.const(1, _I64)])
    grid = e.op("Reshape", [classes, e.ints([-1 if i == axis else 1 for i in range(rank)])])
    hot = e.op("Equal", [e.op("Unsqueeze", [e.cast(labels, n.in_specs[1].dtype, _I64), where]),
                         grid])
    return e.op("Where", [hot, e.op("Neg", [e.op("Unsqueeze", [g, where])]),
                          e.const(0, n.out.dtype)])


# -- control flow ------------------------------------------------------------------------------
def _identities(e: Emitter, sub: Emitter, values: Sequence[str], specs: Sequence[Spec],
                base: str) -> list[Any]:
    """The outputs of subgraph ``sub``: an Identity of each value, so each is made there."""
    outs = []
    for value, spec in zip(values, specs, strict=True):
        name = sub.fresh(base)
        sub.nodes.append(e.onnx.helper.make_node("Identity", [value], [name],
                                                 name=sub.fresh("n_Identity")))
        outs.append(sub.value_info(name, spec, [None] * len(spec.shape)))
    return outs


def _body(e: Emitter, branch: Branch, bound: Sequence[str],
          formal: Sequence[tuple[str, Spec]] = ()) -> Any:
    """``branch`` as an ONNX subgraph whose parameter ``p`` reads ``bound[feed[p]]`` (one of
    its ``formal`` inputs, or a name of the enclosing graph)."""
    sub = e.child()
    outs = _inline(sub, branch, bound)
    results = _identities(e, sub, outs, branch.specs, f"{branch.name}_out")
    inputs = [sub.value_info(x, s, [None] * len(s.shape)) for x, s in formal]
    return sub.graph(sub.fresh(branch.name), inputs, results)


@converts(cond_p)
def _cond(e: Emitter, n: Node) -> list[str]:
    values = n.ins[1:]
    then, other = (_body(e, b, values) for b in n.attrs["branches"])
    out = e.op("If", [n.ins[0]], n_out=len(n.specs), then_branch=then, else_branch=other)
    return [out] if len(n.specs) == 1 else out


def _formal(e: Emitter, base: str, specs: Sequence[Spec]) -> list[tuple[str, Spec]]:
    return [(e.fresh(f"{base}{i}"), s) for i, s in enumerate(specs)]


@converts(while_p)
def _while(e: Emitter, n: Node) -> list[str]:
    # NOTE: ONNX's Loop tests its condition before each iteration from the value the body
    # gives with the new variables: the condition runs once before the loop, then in the body
    a, k = n.attrs, n.attrs["n_vars"]
    if a.get("history"):
        raise n.fail(InvalidArgumentError, "the iteration history (a loop's gradient) has no "
                     "ONNX form")
    state = _formal(e, "var", n.specs[:k])
    sub = e.child()
    new = _inline(sub, a["body"], [x for x, _ in state] + n.ins[k:])
    go = _inline(sub, a["cond"], [*new, *n.ins[k:]])[0]
    results = _identities(e, sub, [go, *new], [Spec((), _BOOL), *n.specs[:k]], "loop_out")
    formal = [*_formal(e, "iter", [Spec((), _I64)]), *_formal(e, "cond", [Spec((), _BOOL)]),
              *state]
    body = sub.graph(sub.fresh(a["body"].name),
                     [sub.value_info(x, s, [None] * len(s.shape)) for x, s in formal], results)
    limit = "" if a["maximum_iterations"] is None else e.const(a["maximum_iterations"], _I64)
    out = e.op("Loop", [limit, _inline(e, a["cond"], n.ins)[0], *n.ins[:k]], n_out=k,
               body=body)
    return [out] if k == 1 else out


def _inline(e: Emitter, branch: Branch, values: Sequence[str]) -> list[str]:
    """``branch``'s ops written into ``e`` itself, on the node input names ``values``."""
    env = {(p, 0): values[i] for p, i in zip(branch.params, branch.feed, strict=True)}
    return emit_graph(e, branch.graph, env, branch.outputs)


@converts(scan_p)
def _scan(e: Emitter, n: Node) -> list[str]:
    a = n.attrs
    if a.get("history"):
        raise n.fail(InvalidArgumentError, "the carry history (a scan's gradient) has no ONNX "
                     "form")
    nc, nx = a["n_carry"], a["n_xs"]
    if not nx:
        raise n.fail(InvalidArgumentError, "a scan over a length without xs has no ONNX Scan "
                     "form; scan over gx.range(length)")
    if 0 in [s.shape[0] for s in n.in_specs[nc:nc + nx]]:
        return _empty_scan(e, n)
    rows = [Spec(s.shape[1:], s.dtype) for s in n.in_specs[nc:nc + nx]]
    formal = _formal(e, "carry", n.in_specs[:nc]) + _formal(e, "row", rows)
    bound = [x for x, _ in formal] + n.ins[nc + nx:]
    body = _body(e, a["body"], bound, formal)
    ny = len(n.specs) - nc
    rev = int(a["reverse"])
    out = e.op("Scan", n.ins[:nc + nx], n_out=len(n.specs), body=body, num_scan_inputs=nx,
               scan_input_directions=[rev] * nx, scan_output_directions=[rev] * ny)
    return [out] if len(n.specs) == 1 else out


def _empty_scan(e: Emitter, n: Node) -> list[str]:
    """A scan over no rows (ONNX Runtime's Scan fails on them): the carry, and empty ys."""
    nc = n.attrs["n_carry"]
    ys = [_static_shape(n, s, "stacked outputs") for s in n.specs[nc:]]
    return ([e.op("Identity", [x]) for x in n.ins[:nc]]
            + [e.const(np.zeros(shape, s.dtype)) for shape, s in zip(ys, n.specs[nc:],
                                                                       strict=True)])
