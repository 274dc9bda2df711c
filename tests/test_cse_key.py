"""The CSE key (``passes.core.node_key``, ``_canon``): equal only for nodes that act the same."""

import dataclasses
import struct

import numpy as np
import pytest

import graphexec as gx
from graphexec.passes import common_subexpression_elimination
from graphexec.passes.core import _canon, node_key
from graphexec.registry import REGISTRY, OpDef, elementwise_infer, register


def f64_nan(payload):
    return struct.unpack("<d", struct.pack("<Q", 0x7FF8000000000000 | payload))[0]


def cse(g, keep=()):
    changed = g.apply_pass(lambda gr: common_subexpression_elimination(gr, keep=keep))
    g.validate()
    return changed


def ops_of(g, name):
    return sorted(n for n, d in g.nx.nodes(data=True) if d["op"].name == name)


@pytest.mark.parametrize("a, b", [
    (0.0, -0.0), (np.float32(0.0), np.float32(-0.0)), (np.float64(0.0), np.float64(-0.0)),
    (f64_nan(0), f64_nan(1)), (f64_nan(0), -f64_nan(0)),
    (np.array([0x7FC00000], "u4").view("f4")[0], np.array([0x7FC00001], "u4").view("f4")[0]),
    (1, 1.0), (1, True), (0, False), (1.0, 1.0 + 0j), (np.float32(1.0), np.float64(1.0)),
    (np.dtype("float32"), np.dtype("float64")), (np.dtype("<i4"), np.dtype(">i4")),
    (np.float32, np.float64), ((1, 2), [1, 2]), ((0.0,), (-0.0,)), ((1, (2, 3)), (1, (2, 4))),
    (np.arange(4), np.arange(4).reshape(2, 2)), (np.arange(4), np.arange(4, dtype="i4")),
    (np.array([0.0]), np.array([-0.0])), (np.array([1, 2]), np.array([1, 3])),
    ("relu", REGISTRY["relu"]), (REGISTRY["relu"], REGISTRY["sigmoid"]), (None, 0), ("1", 1),
])
def test_canon_tells_apart_values_that_act_differently(a, b):
    assert _canon(a) != _canon(b)


@pytest.mark.parametrize("a, b", [
    (0.0, 0.0), (-0.0, -0.0), (f64_nan(3), f64_nan(3)), (float("nan"), float("nan")),
    (float("inf"), float("inf")), (np.dtype("float32"), np.dtype("f4")), (3, 3),
    (np.arange(6.0).reshape(2, 3), np.arange(6.0).reshape(2, 3).copy()),
    (np.arange(6.0).reshape(2, 3), np.asfortranarray(np.arange(6.0).reshape(2, 3))),
    (((1, "s"), None), ((1, "s"), None)), ([0.5, 2], [0.5, 2]),
    (REGISTRY["relu"], REGISTRY["relu"]),
])
def test_canon_equates_values_that_act_the_same(a, b):
    assert _canon(a) == _canon(b) and hash(_canon(a)) == hash(_canon(b))


def test_opdef_attrs_canonicalize_by_identity():
    relu = REGISTRY["relu"]
    assert _canon(relu) == (OpDef, relu)
    copy = dataclasses.replace(relu)  # another op with the same facts: not the same op
    assert copy is not relu

    def node(act):
        return {"op": REGISTRY["fused_dense"], "attrs": {"activation": act},
                "inputs": (("x", 0), ("w", 0)), "specs": (), "control": ()}

    assert node_key(node(relu)) == node_key(node(REGISTRY["relu"]))
    assert node_key(node(relu)) != node_key(node(copy))
    assert node_key(node(relu)) != node_key(node(REGISTRY["sigmoid"]))
    assert node_key(node(relu)) != node_key(node(None))


@pytest.mark.parametrize("value", [{}, {1}, {"a": 1}, object(), gx.Variable(1.0, name="cv"),
                                   (1, {}), [1, object()]])
def test_values_without_a_canonical_key_raise_type_error(value):
    with pytest.raises(TypeError):
        _canon(value)
    d = {"op": REGISTRY["exp"], "attrs": {"a": value}, "inputs": (), "specs": (), "control": ()}
    with pytest.raises(TypeError):
        node_key(d)


def test_node_keys_of_graph_nodes():
    v = gx.Variable(0.0, name="kv")
    with gx.graph() as g:
        x = gx.placeholder((2, 3), "float64", name="x")
        s0, s0b, s1 = gx.sum(x, axis=0), gx.sum(x, axis=0), gx.sum(x, axis=1)
        e, eb = gx.exp(x), gx.exp(x)
        e32 = gx.cast(x, "float32")
        with gx.control_dependencies([v.assign(1.0)]):
            ec, ecb = gx.exp(x), gx.exp(x)
    key = {t: node_key(g.nx.nodes[t._node]) for t in (s0, s0b, s1, e, eb, e32, ec, ecb)}
    assert key[s0] == key[s0b] and key[s0] != key[s1]
    assert key[e] == key[eb] and key[ec] == key[ecb] and key[e] != key[ec]  # control inputs
    assert key[e][0] is REGISTRY["exp"] and key[ec][-1] == (g.nx.nodes[ec._node]["control"][0],)
    assert key[e32] != node_key({**g.nx.nodes[e32._node], "attrs": {"dtype": np.dtype("f8")}})
    assert cse(g)
    assert ops_of(g, "sum") == sorted([s0._node, s1._node])
    assert ops_of(g, "exp") == sorted([e._node, ec._node])


def test_specs_are_part_of_the_key():
    d = {"op": REGISTRY["exp"], "attrs": {}, "inputs": (("x", 0),), "control": ()}
    f32, f64 = gx.Spec((2,), np.dtype("float32")), gx.Spec((2,), np.dtype("float64"))
    assert node_key({**d, "specs": (f32,)}) != node_key({**d, "specs": (f64,)})
    assert node_key({**d, "specs": (f32,)}) == node_key({**d, "specs": (gx.Spec((2,), "f4"),)})


@pytest.mark.parametrize("level", [1, 2, 3])
def test_cse_keeps_signed_zeros_and_nan_payloads_apart(level):
    with gx.graph() as g:
        vals = [np.float64(v) for v in (0.0, -0.0, f64_nan(0), f64_nan(5), -f64_nan(0))]
        fills = [gx.fill([2], v) for v in vals] + [gx.fill([2], np.float64(0.0))]
    got = g.run(fills, optimize=level)
    want = [np.full(2, v) for v in [*vals, 0.0]]
    assert [o.tobytes() for o in got] == [w.tobytes() for w in want]
    assert cse(g) and len(ops_of(g, "fill")) == 5  # only the repeated 0.0 fill merged


def test_constants_key_by_dtype_shape_and_bytes():
    with gx.graph() as g:
        cs = [gx.constant(np.array(v, dt)) for v, dt in [
            (1.0, "f8"), (1.0, "f8"), (1.0, "f4"), ([1.0], "f8"), (-0.0, "f8"), (0.0, "f8")]]
    keys = [node_key(g.nx.nodes[c._node]) for c in cs]
    assert keys[0] == keys[1] and len(set(keys)) == 5
    assert cse(g) and len(ops_of(g, "constant")) == 5


def test_constant_keys_include_control_inputs():
    v = gx.Variable(0.0, name="ckv")
    with gx.graph() as g:
        outside = gx.constant(3.0)
        with gx.control_dependencies([v.assign(1.0)]):
            inside = gx.constant(3.0)
    assert node_key(g.nx.nodes[outside._node]) != node_key(g.nx.nodes[inside._node])


@pytest.fixture
def table_op():
    """A test op whose ``table`` attribute (a dict) has no canonical key."""
    def kernel(xp, x, table):
        return x * table["k"]

    op = register("test_table_scale", infer=elementwise_infer(lambda x: x), arity=1)(kernel)
    try:
        yield op
    finally:
        del REGISTRY["test_table_scale"]


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_cse_leaves_nodes_with_unhashable_attrs_alone(table_op, level):
    with gx.graph() as g:
        x = gx.placeholder((3,), "float64", name="x")
        a = gx.apply(table_op, x, table={"k": 2.0})
        b = gx.apply(table_op, x, table={"k": 2.0})
        c = gx.apply(table_op, x, table={"k": -1.0})
        out = gx.exp(x) + gx.exp(x)  # still merged around them
    with pytest.raises(TypeError):
        node_key(g.nx.nodes[a._node])
    xv = np.array([1.0, -2.0, 0.5])
    got = g.run([a, b, c, out], {x: xv}, optimize=level)
    for o, w in zip(got, [xv * 2.0, xv * 2.0, -xv, np.exp(xv) + np.exp(xv)], strict=True):
        np.testing.assert_array_equal(o, w)
    assert cse(g, keep=[a, b, c, out])
    assert len(ops_of(g, "test_table_scale")) == 3 and len(ops_of(g, "exp")) == 1
