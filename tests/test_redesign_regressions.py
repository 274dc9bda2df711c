"""Bugs an independent review of the layered redesign found, each with its regression test."""

import collections
import types
import warnings

import numpy as np
import pytest

import graphexec as gx
from graphexec import tree
from graphexec.ir import ordered_subgraph


@pytest.mark.parametrize("kind", ["transpose", "cast"])
def test_a_rewrite_chain_never_absorbs_a_node_with_control_inputs(kind):
    # transpose(transpose(t)) and cast(cast(t)) were rewritten twice in a row: the second
    # rewrite reached through to t's input and dropped t's control input
    v = gx.Variable(1.0, name="v")
    with gx.graph() as g:
        x = gx.placeholder((2, 3), "float32", name="x")
        up = v.assign(5.0)
        with gx.control_dependencies([up]):
            t = gx.transpose(x) if kind == "transpose" else gx.cast(x, "float64")
        if kind == "transpose":
            y = gx.transpose(gx.transpose(t))
        else:
            y = gx.cast(gx.cast(t, "float64"), "float64")
    for level in (0, 1, 2, 3):
        v.assign(1.0)
        out = g.run(y, {x: np.arange(6, dtype="float32").reshape(2, 3)}, optimize=level)
        assert v.numpy() == 5.0, level
        np.testing.assert_array_equal(out, np.arange(6).reshape(2, 3).T if kind == "transpose"
                                      else np.arange(6).reshape(2, 3))


def test_a_captured_eager_tensor_does_not_carry_the_block_it_was_first_used_in():
    v = gx.Variable(1.0, name="v")
    c = gx.constant(np.array([1.0, 2.0]))
    with gx.graph() as g:
        x = gx.placeholder((2,), "float64", name="x")
        up = v.assign(5.0)
        with gx.control_dependencies([up]):
            a = x + c
        b = x * c
    for level in (0, 1, 3):
        np.testing.assert_array_equal(g.run(b, {x: np.ones(2)}, optimize=level), [1.0, 2.0])
        assert v.numpy() == 1.0, level
    g.run(a, {x: np.ones(2)})
    assert v.numpy() == 5.0


def test_control_dependencies_none_clears_the_enclosing_blocks():
    v = gx.Variable(1.0, name="v")
    with gx.graph() as g:
        up = v.assign(5.0)
        with gx.control_dependencies([up]):
            inner = gx.constant(1.0) + 1.0
            with gx.control_dependencies(None):
                free = gx.constant(2.0) + 1.0
    assert g.run(free) == 3.0 and v.numpy() == 1.0
    assert g.run(inner) == 2.0 and v.numpy() == 5.0


def test_group_errors_name_group():
    with gx.graph(), pytest.raises(gx.GraphError, match=r"^group: .* at test_redesign"):
        gx.group(np.ones(2))


def test_compiled_copies_keep_creation_order_whatever_the_hash_seed():
    v = gx.Variable(0.0, name="v")
    with gx.graph() as g:
        x = gx.placeholder((), "float64", name="x")
        _ = [gx.sin(x) for _ in range(40)]  # unneeded: the needed set is under half the graph
        r1 = v.value() + 0.0
        up = v.assign(x)
        r2 = v.value() + 0.0
    needed = {"x", r1.name, up.name, r2.name, "v", "v_1", "add", "add_1"} & set(g.nx)
    assert list(ordered_subgraph(g, needed)) == [n for n in g.nx if n in needed]
    for level in (1, 3):
        v.assign(0.0)
        assert g.run([r1, up, r2], {x: 7.0}, optimize=level) == [0.0, 7.0, 7.0]


def test_retrace_warning_names_the_deepest_change_even_when_a_list_grows():
    f = gx.function(lambda a: a["x"] * 2.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(1, 8):
            f({"x": np.zeros(2), "ys": [np.zeros(2)] * i})
    msgs = [str(w.message) for w in caught]
    assert msgs and all("argument \"a['ys']\" changed" in m for m in msgs), msgs[:1]


def test_any_mapping_is_a_fetch_structure_and_dict_subclasses_keep_their_type():
    with gx.graph() as g:
        y = gx.constant(2.0) * 3.0
    got = g.run(types.MappingProxyType({"a": y}))
    assert type(got) is dict and got["a"] == 6.0
    ordered = g.run(collections.OrderedDict(a=y))
    assert type(ordered) is collections.OrderedDict and ordered["a"] == 6.0


def test_defaultdict_factories_compare_by_identity_and_need_not_hash():
    class Factory:  # unhashable: it defines __eq__
        def __eq__(self, other):
            return isinstance(other, Factory)

        def __call__(self):
            return 0

    fac = Factory()
    leaves, td = tree.flatten(collections.defaultdict(fac, a=1))
    assert hash(td) == hash(tree.flatten(collections.defaultdict(fac, a=2))[1])
    back = td.unflatten([5])
    assert back.default_factory is fac and back["a"] == 5
    assert td != tree.flatten(collections.defaultdict(Factory(), a=1))[1]
    f = gx.function(lambda d: d["a"] + 1.0)
    for _ in range(3):
        f(collections.defaultdict(fac, a=np.ones(2)))
    assert f.trace_count == 1
