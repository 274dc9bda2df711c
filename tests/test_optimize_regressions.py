"""Cases an optimizer gets wrong easily: layouts, aliases, first calls from many threads, feeds
the optimized graph no longer reads, and the default level."""


import numpy as np
import pytest

import graphexec as gx
from graphexec import config

from .helpers import in_threads
from .test_programs import assert_bitwise


@pytest.fixture
def numpy_fusion():
    gx.config.set_fusion_backend("numpy")
    yield
    gx.config.set_fusion_backend("auto")


def test_a_fused_result_is_never_an_alias_of_its_input(numpy_fusion):
    # stop_gradient hands back its input: the fused node must still give a fresh array, or
    # the memory planner reuses the buffer it views while it is read
    with gx.graph() as g:
        x = gx.placeholder((3, 4), "float64", name="x")
        y = gx.placeholder((3, 4), "float64", name="y")
        r = x * y
        f = gx.stop_gradient(gx.stop_gradient(gx.transpose(r, (1, 0))))
        out = gx.matmul(f, x - y)
    feeds = {x: np.arange(12.0).reshape(3, 4), y: np.full((3, 4), 2.0)}
    want = g.run(out, feeds, optimize=0)
    for level in (1, 2, 3):
        assert_bitwise(g.run(out, feeds, optimize=level), want, f"level {level}")


@pytest.mark.parametrize("expr", ["add chain", "reshape twice"])
def test_level_1_keeps_the_layout_later_reductions_see(expr):
    # a transposed (F-ordered) operand: numpy's sum rounds differently by memory layout
    with gx.graph() as g:
        x = gx.placeholder((1000, 3), "float32", name="x")
        t = gx.transpose(x)
        if expr == "add chain":
            y = (t + t * 2.0) + t * 3.0 + t * 4.0
        else:
            y = gx.reshape(gx.reshape(t, (3000,)), (3, 1000))
        s = gx.sum(y, axis=1)
    xv = np.random.default_rng(0).normal(size=(1000, 3)).astype("float32") * 10
    with gx.eager():
        te = gx.transpose(gx.constant(xv))
        if expr == "add chain":
            ye = (te + te * 2.0) + te * 3.0 + te * 4.0
        else:
            ye = gx.reshape(gx.reshape(te, (3000,)), (3, 1000))
        want = gx.sum(ye, axis=1).numpy()
    for level in (0, 1, 3):
        assert_bitwise(g.run(s, {x: xv}, optimize=level), want, f"level {level}")


def test_first_calls_from_many_threads_at_once(numpy_fusion):
    with gx.graph() as g:
        x = gx.placeholder((64,), "float64", name="x")
        y = x
        for _ in range(1500):
            y = gx.nn.relu(y * 1.0001 + 0.5)
    xv = np.linspace(-1, 1, 64)
    want = g.run(y, {x: xv}, optimize=0)
    for _ in range(4):
        f = g.compile(y, optimize=2)
        g.invalidate()  # the next compile builds fresh programs: their first calls race
        results: list = []
        errors = in_threads(lambda f=f, results=results: results.append(f({x: xv})), 8)
        assert not errors, errors[:2]
        for r in results:
            assert_bitwise(r, want, "threaded")


def test_a_feed_the_optimizer_made_unneeded_is_still_required():
    with gx.graph() as g:
        x = gx.placeholder((3,), "int32", name="x")
        y = x * 0 + 5  # x*0 of an int folds to zeros: the optimized graph does not read x
    assert "feeds['x']" not in g.compile(y, optimize=1).plan.source
    for level in (0, 1, 3):
        with pytest.raises(gx.FeedError, match="no feed for placeholder"):
            g.run(y, optimize=level)
        np.testing.assert_array_equal(g.run(y, {x: [1, 2, 3]}, optimize=level), [5, 5, 5])


def test_a_new_default_level_is_seen_by_graphs_and_functions():
    with gx.graph() as g:
        x = gx.placeholder((4,), "float32", name="x")
        y = gx.nn.relu(x * 2.0 + 1.0)

    @gx.function
    def f(v):
        return gx.nn.relu(v * 2.0 + 1.0)

    xv = np.ones(4, "float32")
    g.run(y, {x: xv})
    f(xv)
    try:
        config.set_default_level(2)
        g.run(y, {x: xv})
        ops = {d["op"].name for _, d in g.compile(y, optimize=2).graph.nx.nodes(data=True)}
        assert "fused_elementwise" in ops
        assert any(k[2] == 2 for k in g._plans)  # the run used a level-2 plan
        assert f.get_compiled(xv).level == 2
        np.testing.assert_array_equal(f(xv).numpy(), np.full(4, 3.0, "float32"))
    finally:
        config.set_default_level(1)
