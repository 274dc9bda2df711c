"""Control dependencies and groups: ordering-only inputs, at every optimization level."""

import numpy as np
import pytest

import graphexec as gx
from graphexec.passes import common_subexpression_elimination, dead_code_elimination

LEVELS = [0, 1, 2, 3]


def step_names(g, fetches, level):
    """The nodes the plan for ``fetches`` computes, in order."""
    return [s[0] for s in g.compile(fetches, optimize=level).plan.steps]


@pytest.mark.parametrize("level", LEVELS)
def test_assign_runs_before_a_value_that_does_not_read_it(level):
    v = gx.Variable(1.0, name="v")
    with gx.graph() as g:
        update = v.assign(5.0)
        with gx.control_dependencies([update]):
            y = gx.constant(1.0) + 0.0
        free = gx.constant(2.0) + 0.0  # no control input: fetching it runs no assign
    assert g.run(free, optimize=level) == 2.0 and v.numpy() == 1.0
    assert g.run(y, optimize=level) == 1.0 and v.numpy() == 5.0


@pytest.mark.parametrize("level", LEVELS)
def test_reads_inside_the_block_see_the_update(level):
    v = gx.Variable([1.0, 2.0], dtype="float64", name="v")
    with gx.graph() as g:
        x = gx.placeholder((2,), "float64", name="x")
        old = v.value()  # built before the update: the old value
        update = v.assign(x * 3.0)
        with gx.control_dependencies([update]):
            new = v.value() + 0.0
            y = gx.exp(x)
    got = g.run({"old": old, "new": new, "y": y}, {x: [1.0, -1.0]}, optimize=level)
    np.testing.assert_array_equal(got["old"], [1.0, 2.0])
    np.testing.assert_array_equal(got["new"], [3.0, -3.0])
    np.testing.assert_array_equal(got["y"], np.exp([1.0, -1.0]))
    np.testing.assert_array_equal(v.numpy(), [3.0, -3.0])
    names = step_names(g, y, level)
    assert update.name in names and names.index(update.name) < names.index(y.name)


@pytest.mark.parametrize("level", LEVELS)
def test_group_runs_every_input_each_run(level):
    a, b, c = gx.Variable(0.0, name="a"), gx.Variable(0.0, name="b"), gx.Variable(0.0, name="c")
    with gx.graph() as g:
        step = gx.group(a.assign(1.0), [b.assign(2.0), c.assign_add(3.0)])
    d = g.nx.nodes[step.name]
    assert d["op"].name == "no_op" and d["inputs"] == () and len(d["control"]) == 3
    out = g.run(step, optimize=level)
    assert out.shape == (0,) and out.dtype == np.float32
    assert (a.numpy(), b.numpy(), c.numpy()) == (1.0, 2.0, 3.0)
    g.run(step, optimize=level)
    assert c.numpy() == 6.0
    with gx.graph(g):
        outer = gx.group(step, name="outer")  # a group of a group runs the inner one's inputs
    g.run(outer, optimize=level)
    assert c.numpy() == 9.0 and outer.name == "outer"


def test_control_edges_nesting_validate_and_text():
    v, w = gx.Variable(0.0, name="v"), gx.Variable(0.0, name="w")
    with gx.graph() as g:
        a, b = v.assign(1.0), w.assign(2.0)
        with gx.control_dependencies([a, a]):
            with gx.control_dependencies(b):
                both = gx.constant(1.0, name="both")
            one = gx.constant(2.0, name="one")
        none = gx.constant(3.0, name="none")
    nodes = g.nx.nodes
    assert nodes[both.name]["control"] == (a.name, b.name)
    assert nodes[one.name]["control"] == (a.name,)
    assert nodes[none.name]["control"] == ()
    assert g.nx.get_edge_data(b.name, both.name) == {"^1": {"out_index": None}}
    g.validate()
    lines = {ln.split(":")[0].strip(): ln for ln in str(g).splitlines()[1:]}
    assert "constant[value=1.](^assign, ^assign_1)" in lines["both"]
    assert "(^assign)" in lines["one"] and "^" not in lines["none"]
    g.nx.remove_edge(a.name, one.name, key="^0")  # an edge out of step with ``control``
    with pytest.raises(gx.GraphError, match="disagree"):
        g.validate()


def test_dce_keeps_pure_nodes_with_control_inputs_and_waiters():
    v = gx.Variable(0.0, name="v")
    with gx.graph() as g:
        x = gx.placeholder((2,), "float64", name="x")
        update = v.assign(4.0)
        with gx.control_dependencies([update]):
            waited = gx.exp(x)  # read by no one, but the fetched node waits for it
            dead = gx.sin(x)  # nothing needs it
        with gx.control_dependencies([waited]):
            y = x * 2.0
    before = set(g.nx)
    assert g.apply_pass(lambda gr: dead_code_elimination(gr, keep=[y]))
    assert set(g.nx) == before - {dead._node} and waited.name in g.nx
    assert g.nx.nodes[waited.name]["control"] == (update.name,)
    np.testing.assert_array_equal(g.run(y, {x: [1.0, 2.0]}, optimize=0), [2.0, 4.0])
    assert v.numpy() == 4.0


@pytest.mark.parametrize("level", LEVELS)
def test_merged_node_waiters_still_run_after_what_it_waited_for(level):
    v = gx.Variable(0.0, name="v")
    with gx.graph() as g:
        x = gx.placeholder((2,), "float64", name="x")
        update = v.assign(7.0)
        with gx.control_dependencies([update]):
            e1, e2 = gx.exp(x), gx.exp(x)  # CSE merges e2 into e1
        with gx.control_dependencies([e2]):
            y = gx.sin(x)
    got = g.run([e1, y], {x: [0.0, 1.0]}, optimize=level)
    np.testing.assert_array_equal(got[1], np.sin([0.0, 1.0]))
    assert v.numpy() == 7.0
    names = step_names(g, [e1, y], level)
    assert names.index(update.name) < names.index(y.name)
    if level:
        opt = g.compile([e1, y], optimize=level).graph
        assert e2._node not in opt.nx and update.name in opt.nx.nodes[y.name]["control"]


def test_cse_merges_only_nodes_with_the_same_control_inputs():
    v = gx.Variable(0.0, name="v")
    with gx.graph() as g:
        x = gx.placeholder((2,), "float64", name="x")
        outside = gx.exp(x)
        with gx.control_dependencies([v.assign(1.0)]):
            inside = gx.exp(x)
            inside_2 = gx.exp(x)
    assert g.apply_pass(common_subexpression_elimination)
    exps = sorted(n for n, d in g.nx.nodes(data=True) if d["op"].name == "exp")
    assert exps == sorted([outside.name, inside.name])
    assert inside_2._node not in g.nx


@pytest.mark.parametrize("level", [2, 3])
def test_fusion_leaves_nodes_with_control_inputs_unfused(level):
    v = gx.Variable(0.0, name="v")
    with gx.graph() as g:
        x = gx.placeholder((3,), "float64", name="x")
        with gx.control_dependencies([v.assign(2.0)]):
            t = gx.exp(x)
        z = gx.nn.relu(gx.exp(t + 1.0) * 3.0)
    f = g.compile(z, optimize=level)
    d = f.graph.nx.nodes[t.name]
    assert d["op"].name == "exp" and len(d["control"]) == 1
    assert f.graph.nx.nodes[z.name]["op"].name == "fused_elementwise"
    xv = np.array([0.0, -1.0, 0.5])
    np.testing.assert_allclose(f({x: xv}), np.exp(np.exp(xv) + 1.0) * 3.0, rtol=1e-15)
    assert v.numpy() == 2.0


def test_eager_control_dependencies_do_nothing_and_group_is_empty():
    v = gx.Variable(1.0, name="v")
    with gx.control_dependencies([v.assign(3.0), "not a tensor"]):
        y = gx.constant(2.0) * 3.0
    assert y.numpy() == 6.0 and v.numpy() == 3.0
    out = gx.group(v.assign(4.0))
    assert isinstance(out, gx.Tensor) and out._graph is None
    assert out.shape == (0,) and out.dtype == np.float32 and v.numpy() == 4.0


@pytest.mark.parametrize("bad", ["eager", "other graph", "number", "variable"])
def test_bad_control_inputs_raise(bad):
    v = gx.Variable(1.0, name="v")
    with gx.graph() as other:
        foreign = gx.exp(gx.placeholder((2,), name="p"))
    t = {"eager": gx.constant(1.0), "other graph": foreign, "number": 3.0, "variable": v}[bad]
    with gx.graph() as g:
        x = gx.placeholder((2,), name="x")
        with (pytest.raises(gx.GraphError, match=f"is not a tensor of graph {g.name}"),
              gx.control_dependencies([x, t])):
            gx.exp(x)
        with pytest.raises(gx.GraphError, match=r"is not a tensor of graph .*test_control_deps"):
            gx.group(x, t)
        assert g._control_stack == []
    assert sorted(g.nx) == ["x"] and len(other) == 2


def test_bad_control_input_error_names_the_users_line():
    eager = gx.constant(1.0)
    with (gx.graph(), pytest.raises(gx.GraphError, match=r"at test_control_deps\.py:\d+"),
          gx.control_dependencies([eager])):
        pass


@pytest.mark.parametrize("level", LEVELS)
def test_inside_gx_function(level):
    v, w = gx.Variable(np.zeros(3), name="fv"), gx.Variable(0.0, name="fw")

    @gx.function(optimize=level)
    def step(x):
        old = v.value()
        update = v.assign(x)
        with gx.control_dependencies([update]):
            y = old + 0.0
            new = v.value() * 2.0
        return y, new, gx.group(w.assign_add(1.0))

    for k in (1, 2):
        y, new, done = step(np.full(3, 4.0 * k))
        np.testing.assert_array_equal(y.numpy(), np.full(3, 4.0 * (k - 1)))
        np.testing.assert_array_equal(new.numpy(), np.full(3, 8.0 * k))
        assert done.shape == (0,) and w.numpy() == k
    assert step.trace_count == 1
    assert "(^assign)" in str(step.get_graph(np.ones(3)))


# -- a node with control inputs is a barrier: no pass bypasses, merges or absorbs it ---------
def _in_block(v, make):
    with gx.control_dependencies([v.assign(5.0)]):
        return make()


BYPASSED = {  # name: (build(v, x, w) -> fetches, the first level whose passes would touch it)
    # CSE: a constant's key includes its control inputs: never merged into the first 3.0
    "const_merged": (lambda v, x, w: [x * gx.constant(3.0),
                                      gx.sin(x * _in_block(v, lambda: gx.constant(3.0)))], 1),
    "times_one": (lambda v, x, w: gx.exp(_in_block(v, lambda: x * 1.0)), 1),  # -> x
    "neg_neg": (lambda v, x, w: gx.exp(-_in_block(v, lambda: -x)), 1),  # -(-x) -> x
    "add_chain": (lambda v, x, w: (_in_block(v, lambda: x + x) + x) + x, 1),  # -> one add_n
    "folded_input": (lambda v, x, w: gx.exp(_in_block(v, lambda: gx.constant(2.0))), 1),
    "fused_literal": (lambda v, x, w: gx.exp(x * _in_block(v, lambda: gx.constant(3.0))) + 1.0,
                      2),
    "epilogue": (lambda v, x, w: gx.nn.relu(_in_block(v, lambda: gx.matmul(x, w)) + 1.0), 2),
}


@pytest.mark.parametrize("case, level", [
    pytest.param(case, level, id=f"{case}-O{level}")
    for case, (_, bad) in BYPASSED.items() for level in LEVELS])
def test_control_inputs_survive_every_rewrite(case, level):
    v = gx.Variable(1.0, name="v")
    with gx.graph() as g:
        x = gx.placeholder((2, 3), "float64", name="x")
        w = gx.constant(np.ones((3, 4)))  # built outside the block
        fetches = BYPASSED[case][0](v, x, w)
    feeds = {x: np.linspace(-1.0, 1.0, 6).reshape(2, 3)}
    want = g.run(fetches, feeds, optimize=0)
    assert v.numpy() == 5.0
    v.assign(1.0)
    got = g.run(fetches, feeds, optimize=level)
    want, got = (want, got) if isinstance(want, list) else ([want], [got])
    for expected, o in zip(want, got, strict=True):
        np.testing.assert_array_equal(o, expected)
    assert v.numpy() == 5.0
