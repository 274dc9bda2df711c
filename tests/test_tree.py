"""graphexec.tree: flatten/unflatten of nested structures, and nested fetches of ``Graph.run``."""

import collections
from typing import NamedTuple

import numpy as np
import pytest

import graphexec as gx
from graphexec import tree
from graphexec.ir import is_ref


class Point(NamedTuple):
    x: object
    y: object


class Other(NamedTuple):
    x: object
    y: object


class MyDict(dict):
    pass


class MyList(list):
    pass


class MyTuple(tuple):
    __slots__ = ()


def same_structure(a, b):
    """Equal values AND the same container types all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_structure(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same_structure(x, y) for x, y in zip(a, b))
    return a is b or a == b


T = gx.constant(1.5)
CASES = [
    (5, [5]),
    (None, [None]),
    ([], []), ((), []), ({}, []),
    ([1, [2, (3, 4)], {"a": 5}], [1, 2, 3, 4, 5]),
    (Point([1, 2], {"k": (3,)}), [1, 2, 3]),
    (collections.OrderedDict([("b", 1), ("a", 2)]), [1, 2]),
    (MyDict(z=[None, 1], a=()), [None, 1]),
    (MyList([1, MyTuple((2, 3))]), [1, 2, 3]),
    ({"b": [[], {}], "a": [None]}, [None]),
    ([T, (T, None)], [T, T, None]),
]


@pytest.mark.parametrize("x, want", CASES)
def test_round_trip(x, want):
    leaves, td = tree.flatten(x)
    assert len(leaves) == len(want) and all(a is b or a == b for a, b in zip(leaves, want))
    assert td.num_leaves == len(want)
    back = td.unflatten(leaves)
    assert same_structure(back, x)
    assert same_structure(tree.unflatten(td, leaves), x)
    assert tree.leaves(x) == leaves


def test_tensor_leaves_are_passed_through_by_identity():
    leaves, td = tree.flatten({"t": [T, (T,)]})
    assert all(leaf is T for leaf in leaves)
    out = td.unflatten(["a", "b"])
    assert out == {"t": ["a", ("b",)]}


def test_unflatten_puts_new_leaves_in_flatten_order():
    x = {"b": 1, "a": [2, Point(3, 4)]}
    leaves, td = tree.flatten(x)
    assert leaves == [1, 2, 3, 4]  # dicts in insertion order, not sorted
    out = td.unflatten(iter("wxyz"))
    assert out == {"b": "w", "a": ["x", Point("y", "z")]} and type(out["a"][1]) is Point


def test_treedef_equality_and_hash_are_by_structure():
    td = tree.flatten([1, (2, {"k": 3})])[1]
    same = tree.flatten(["a", ("b", {"k": None})])[1]
    assert td == same and hash(td) == hash(same) and {td: 1}[same] == 1
    others = [[1, (2, {"j": 3})], [1, [2, {"k": 3}]], [1, (2, 3)], (1, (2, {"k": 3})),
              [1, (2, MyDict(k=3))], [1, (2, collections.OrderedDict(k=3))], [[1], (2, {"k": 3})]]
    for o in others:
        assert tree.flatten(o)[1] != td, o
    assert tree.flatten(Point(1, 2))[1] != tree.flatten(Other(1, 2))[1]
    assert tree.flatten(Point(1, 2))[1] != tree.flatten((1, 2))[1]
    assert tree.flatten(MyList([1]))[1] != tree.flatten([1])[1]
    assert tree.flatten(5)[1] == tree.flatten(None)[1] == tree.flatten(T)[1]
    assert tree.flatten([])[1] != tree.flatten(())[1] != tree.flatten({})[1]
    assert td != [1, (2, {"k": 3})]  # not equal to a non-TreeDef
    assert repr(td) == "[*, (*, {'k': *})]"


@pytest.mark.parametrize("x, n", [(5, 1), ([1, 2], 2), ({"a": (1, [2, 3])}, 3), ([], 0)])
def test_wrong_leaf_counts_raise(x, n):
    td = tree.flatten(x)[1]
    with pytest.raises(ValueError, match="more leaves"):
        td.unflatten(range(n + 1))
    if n:
        with pytest.raises(ValueError, match="fewer leaves"):
            td.unflatten(range(n - 1))
    assert tree.leaves(td.unflatten(range(n))) == list(range(n))


def test_is_leaf_stops_the_descent():
    x = [(1, 2), [3, (4,)], {"a": (5, 6)}]
    leaves, td = tree.flatten(x, is_leaf=lambda v: isinstance(v, tuple))
    assert leaves == [(1, 2), 3, (4,), (5, 6)]
    assert td.unflatten(leaves) == x
    assert tree.flatten(x, is_leaf=lambda v: v is x)[0] == [x]
    refs = [("exp", 0), ("a", "b"), ("n", 1, 2)]
    assert tree.flatten(refs, is_leaf=is_ref)[0] == [("exp", 0), "a", "b", "n", 1, 2]


def test_map_leaves_keeps_the_structure():
    x = Point([1, 2], MyDict(k=(3,)))
    out = tree.map_leaves(lambda v: v * 10, x)
    assert same_structure(out, Point([10, 20], MyDict(k=(30,))))
    assert tree.map_leaves(lambda v: v, []) == []


def test_defaultdict_round_trip():
    x = collections.defaultdict(list, a=[1, 2])
    leaves, td = tree.flatten(x)
    out = td.unflatten(leaves)
    assert type(out) is collections.defaultdict and out == x and out.default_factory is list


# -- nested fetches --------------------------------------------------------------------------
@pytest.fixture
def graph_xyz():
    with gx.graph() as g:
        x = gx.placeholder((2,), "float64", name="x")
        y = gx.exp(x)
        z = gx.sin(x) * 2.0
    return g, x, y, z


XV = np.array([0.0, 1.0])
EY, EZ = np.exp(XV), np.sin(XV) * 2.0


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_run_returns_the_fetch_structure(graph_xyz, level):
    g, x, y, z = graph_xyz
    out = g.run({"a": [y, z], "b": (y,), "c": Point(z, ("exp", 0)), "d": [[], {}]},
                {x: XV}, optimize=level)
    assert list(out) == ["a", "b", "c", "d"] and out["d"] == [[], {}]
    assert type(out["a"]) is list and type(out["b"]) is tuple and type(out["c"]) is Point
    for got, want in [(out["a"][0], EY), (out["a"][1], EZ), (out["b"][0], EY),
                      (out["c"].x, EZ), (out["c"].y, EY)]:
        np.testing.assert_array_equal(got, want)


def test_run_references_as_leaves(graph_xyz):
    g, x, y, z = graph_xyz
    np.testing.assert_array_equal(g.run(("exp", 0), {x: XV}), EY)  # a ref, not a tuple
    listed = g.run([("exp", 0)], {x: XV})
    assert type(listed) is list and len(listed) == 1
    np.testing.assert_array_equal(listed[0], EY)
    named = g.run(("x", "exp"), {x: XV})  # two names: a tuple of two fetches
    assert type(named) is tuple
    np.testing.assert_array_equal(named[0], XV)
    np.testing.assert_array_equal(named[1], EY)
    assert g.run([], {x: XV}) == [] and g.run({}, {}) == {} and g.run((), {}) == ()


def test_same_fetches_in_other_structures_share_no_structure(graph_xyz):
    g, x, y, z = graph_xyz
    as_list = g.run([y, z], {x: XV})
    as_dict = g.run({"y": y, "z": z}, {x: XV})
    as_tuple = g.compile((y, z))({x: XV})
    as_clist = g.compile([y, z])({x: XV})
    assert type(as_list) is list and list(as_dict) == ["y", "z"]
    assert type(as_tuple) is tuple and type(as_clist) is list
    for got in (as_list, list(as_dict.values()), list(as_tuple), as_clist):
        np.testing.assert_array_equal(got[0], EY)
        np.testing.assert_array_equal(got[1], EZ)


def test_bad_fetch_leaves_raise(graph_xyz):
    g, x, y, z = graph_xyz
    with gx.graph():
        foreign = gx.placeholder((2,), name="f")
    for bad, match in [([y, 3], "is not a tensor of graph"), ({"a": (foreign,)}, "of graph"),
                       ([gx.constant(1.0)], "an eager tensor"), ([("nope", 0)], "no node")]:
        with pytest.raises(gx.GraphError, match=match):
            g.run(bad, {x: XV})
