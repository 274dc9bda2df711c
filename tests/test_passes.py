"""Graph passes: DCE, CSE, constant folding and ``optimize``."""

import numpy as np
import pytest

import graphexec as gx
from graphexec.passes import (
    OptimizationReport,
    common_subexpression_elimination,
    constant_folding,
    dead_code_elimination,
    optimize,
    replace_uses,
)
from graphexec.passes.core import _canon

from .hypothesis_or_skip import given, st


def ops_of(g):
    return sorted(d["op"].name for _, d in g.nx.nodes(data=True))


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def apply(g, fn, **kw):
    changed = g.apply_pass(lambda graph: fn(graph, **kw))
    g.validate()
    return changed


# -- replace_uses ------------------------------------------------------------------------------
def test_replace_uses_updates_inputs_and_edges():
    with gx.graph() as g:
        x = gx.placeholder((2,), "float64", name="x")
        a, b = gx.exp(x), gx.sin(x)
        y = a * a + b
    assert replace_uses(g, (a.name, 0), (b.name, 0)) == 2
    g.invalidate()
    g.validate()
    assert g.nx.nodes["multiply"]["inputs"] == ((b.name, 0), (b.name, 0))
    xv = np.array([0.5, 1.0])
    np.testing.assert_array_equal(g.run(y, {x: xv}), np.sin(xv) * np.sin(xv) + np.sin(xv))


# -- dead code elimination ---------------------------------------------------------------------
def test_dce_removes_unused_chain_and_keeps_fetches():
    with gx.graph() as g:
        x = gx.placeholder((2,), "float64", name="x")
        y = gx.exp(x)
        gx.sin(gx.negative(gx.tanh(x)))
    xv = np.array([1.0, 2.0])
    before = g.run(y, {x: xv})
    assert apply(g, dead_code_elimination, keep=[y.name])
    assert ops_of(g) == ["exp", "placeholder"]
    assert same_bits(g.run(y, {x: xv}), before)
    assert not apply(g, dead_code_elimination, keep=[y])  # fixed point reached


def test_dce_keeps_impure_nodes_and_placeholders():
    v = gx.Variable([1.0, 2.0], dtype="float64", name="dce_v")
    with gx.graph() as g:
        x = gx.placeholder((2,), "float64", name="x")
        gx.placeholder((3,), "float64", name="unused_input")
        upd = v.assign(x * 2.0)
        gx.random.normal((2,), seed=0)
        gx.exp(gx.sin(x))  # dead
    n = len(g)
    assert apply(g, dead_code_elimination)
    assert len(g) == n - 2
    assert ops_of(g) == ["assign", "constant", "multiply", "placeholder", "placeholder",
                         "random_normal"]
    g.run(upd, {x: np.array([1.0, 3.0])})
    np.testing.assert_array_equal(v.numpy(), [2.0, 6.0])


def test_dce_keeps_unused_variable_read():
    v = gx.Variable([1.0], name="dce_read")
    with gx.graph() as g:
        gx.exp(v)
    assert apply(g, dead_code_elimination)
    assert ops_of(g) == ["read_variable"]


# -- common subexpression elimination ----------------------------------------------------------
def test_cse_merges_chains_in_one_pass():
    with gx.graph() as g:
        x = gx.placeholder((3,), "float64", name="x")
        a = gx.sin(gx.exp(x) * 2.0)
        b = gx.sin(gx.exp(x) * 2.0)
        y = a + b
    xv = np.array([0.1, 0.2, 0.3])
    before = g.run(y, {x: xv})
    n = len(g)
    actions: list[str] = []
    assert apply(g, common_subexpression_elimination, actions=actions)
    assert len(g) == n - 3  # exp, multiply, sin (the scalar 2.0 is one node already)
    assert len(actions) == 3
    assert g.nx.nodes["add"]["inputs"] == ((a.name, 0), (a.name, 0))
    assert same_bits(g.run(y, {x: xv}), before)
    assert not apply(g, common_subexpression_elimination)


def test_cse_keeps_kept_duplicates():
    with gx.graph() as g:
        x = gx.placeholder((3,), "float64", name="x")
        a, b = gx.exp(x), gx.exp(x)
    apply(g, common_subexpression_elimination, keep=[a, b])
    assert b.name in g.nx and a.name in g.nx


def test_cse_does_not_merge_random_reads_or_signed_zeros():
    v = gx.Variable([1.0, 2.0], name="cse_v")
    with gx.graph() as g:
        x = gx.placeholder((2,), "float64", name="x")
        r1 = gx.random.normal((2,), seed=0)
        r2 = gx.random.normal((2,), seed=0)
        s = gx.add(v, 0.0)
        t = gx.add(v, 0.0)
        z1 = x * gx.constant(0.0)
        z2 = x * gx.constant(-0.0)
        fetches = [r1, r2, s, t, z1, z2]
    xv = np.array([1.0, -1.0])
    before = g.run(fetches, {x: xv})
    ops = ops_of(g)
    apply(g, common_subexpression_elimination, keep=fetches)
    after_ops = ops_of(g)
    assert after_ops.count("random_normal") == 2
    assert after_ops.count("read_variable") == 2
    assert ops.count("constant") > 2
    consts = [d["attrs"]["value"] for _, d in g.nx.nodes(data=True) if d["op"].name == "constant"]
    assert sorted(bool(np.signbit(c)) for c in consts) == [False, True]  # all 0.0 merged
    for b, a in zip(before, g.run(fetches, {x: xv}), strict=True):
        assert same_bits(a, b)
    assert not same_bits(g.run(z1, {x: xv}), g.run(z2, {x: xv}))  # -0.0 stays -0.0


def test_cse_merges_equal_constants_only():
    with gx.graph() as g:
        a = gx.constant(np.array([1.0, 2.0]))
        b = gx.constant(np.array([1.0, 2.0]))
        c = gx.constant(np.array([1.0, 2.0], "float32"))
        d = gx.constant(np.array([[1.0, 2.0]]))
        y = [a + b, c * c, d - d]
    assert apply(g, common_subexpression_elimination, keep=y)
    assert ops_of(g).count("constant") == 3


def test_canonical_attr_keys():
    assert _canon(0.0) != _canon(-0.0)
    assert _canon(float("nan")) == _canon(float("nan"))
    assert _canon(1) != _canon(True) and _canon(1) != _canon(1.0)
    assert _canon((1, 2)) == _canon((1, 2)) and _canon((1, 2)) != _canon([1, 2])
    assert _canon(np.dtype("float32")) == _canon(np.dtype("float32"))
    assert _canon(np.float32(0.0)) != _canon(0.0)
    with pytest.raises(TypeError):
        _canon(object())


# -- constant folding --------------------------------------------------------------------------
def test_folding_replaces_constant_subgraph():
    with gx.graph() as g:
        x = gx.placeholder((3,), "float64", name="x")
        c = gx.sum(gx.exp(gx.constant(np.arange(6.0).reshape(2, 3))), axis=0)
        y = x * c
    xv = np.array([1.0, 2.0, 3.0])
    before = g.run(y, {x: xv})
    assert apply(g, constant_folding)
    assert g.nx.nodes[c.name]["op"].name == "constant"
    assert g.nx.nodes[c.name]["specs"] == (c.spec,)
    assert same_bits(g.run(y, {x: xv}), before)
    assert apply(g, dead_code_elimination, keep=[y])
    assert ops_of(g) == ["constant", "multiply", "placeholder"]


def test_folding_zero_d_result_and_scalar_ops():
    with gx.graph() as g:
        s = gx.sum(gx.constant(np.array([1.5, 2.5])))
    before = g.run(s)
    assert apply(g, constant_folding)
    value = g.nx.nodes[s.name]["attrs"]["value"]
    assert isinstance(value, np.ndarray) and value.shape == ()
    assert same_bits(g.run(s), before)


def test_folding_respects_size_cap():
    with gx.graph() as g:
        y = gx.exp(gx.constant(np.ones(1000)))
    assert not apply(g, constant_folding, max_bytes=100)
    assert g.nx.nodes[y.name]["op"].name == "exp"
    assert apply(g, constant_folding)
    assert g.nx.nodes[y.name]["op"].name == "constant"


def test_folding_skips_random_and_variable_reads():
    v = gx.Variable([1.0, 2.0], name="fold_v")
    with gx.graph() as g:
        r = gx.random.uniform((2,), dtype="float64")
        y = gx.exp(v) + r
    assert not apply(g, constant_folding)
    _ = v.assign([0.0, 0.0])
    out = g.run(y)
    assert np.all((out >= 1.0) & (out < 2.0))
    assert not np.array_equal(g.run(r), g.run(r))  # still draws each run


def test_folding_skips_multi_output_nodes():
    with gx.graph() as g:
        parts = gx.unstack(gx.constant(np.arange(4.0).reshape(2, 2)))
    assert not apply(g, constant_folding)
    assert g.nx.nodes[parts[0]._node]["op"].name == "unstack"


def test_folding_leaves_failing_kernels_to_run_time():
    with gx.graph() as g:
        y = gx.matmul(gx.constant(np.ones((2, 3))), gx.constant(np.ones((3, 2))))
    g.nx.nodes[y.name]["attrs"] = {"bogus": 1}  # a kernel that raises
    assert not apply(g, constant_folding)


# -- optimize ----------------------------------------------------------------------------------
def test_optimize_levels_and_report():
    with gx.graph() as g:
        x = gx.placeholder((2,), "float64", name="x")
        c = gx.exp(gx.constant([0.0, 1.0]))
        y = gx.sin(x * c) + gx.sin(x * c)
        gx.tanh(x)  # dead
    xv = np.array([0.3, 0.7])
    before = g.run(y, {x: xv})
    n = len(g)
    r0 = optimize(g, level=0, keep=[y])
    assert isinstance(r0, OptimizationReport) and not r0.changed and len(g) == n
    report = optimize(g, keep=[y])
    assert report.changed and report.nodes_before == n and report.nodes_after == len(g) == 5
    assert same_bits(g.run(y, {x: xv}), before)
    assert report.actions("constant_folding")
    assert any("tanh" in a for a in report.actions("dead_code_elimination"))
    text = str(report)
    for name in ("common_subexpression_elimination", "constant_folding",
                 "dead_code_elimination", "before", "after"):
        assert name in text
    assert not report.records[-1].changed
    assert not optimize(g, keep=[y]).changed
    with pytest.raises(ValueError):
        optimize(g, level=7)


def test_optimize_keeps_captured_eager_tensors_usable():
    c = gx.constant(np.array([1.0, 2.0]))
    d = gx.constant(np.array([1.0, 2.0]))
    with gx.graph() as g:
        x = gx.placeholder((2,), "float64", name="x")
        y = x + gx.exp(c) + gx.exp(d)
        unused = gx.sin(gx.constant(np.array([5.0])))
    optimize(g, keep=[y])
    assert unused._node not in g.nx
    with gx.graph(g):  # the captured eager tensors still resolve to live nodes
        z = y * c + d + gx.constant(np.array([5.0]))
    g.validate()
    out = g.run(z, {x: np.zeros(2)})
    cv = np.array([1.0, 2.0])
    assert same_bits(out, (np.exp(cv) + np.exp(cv)) * cv + cv + 5.0)


# -- random programs ---------------------------------------------------------------------------
BINARY = ["add", "subtract", "multiply", "maximum", "matmul"]
UNARY = ["tanh", "sin", "negative", "sum0", "mean1"]

instr = st.tuples(st.sampled_from(BINARY + UNARY), st.integers(0, 50), st.integers(0, 50))


@given(seed=st.integers(0, 2**16), program=st.lists(instr, min_size=1, max_size=10),
       n_fetch=st.integers(1, 3))
def test_optimize_preserves_random_programs(seed, program, n_fetch):
    rng = np.random.default_rng(seed)
    cval = rng.standard_normal((3, 3))
    with gx.graph() as g:
        pool = [gx.placeholder((3, 3), "float64", name="p0"),
                gx.placeholder((3, 3), "float64", name="p1"),
                gx.constant(cval), gx.constant(cval.copy()),
                gx.constant(rng.standard_normal((3, 3)))]
        for op, i, j in program:
            a, b = pool[i % len(pool)], pool[j % len(pool)]
            if op == "sum0":
                t = gx.sum(a, axis=0, keepdims=True) + b
            elif op == "mean1":
                t = gx.mean(a, axis=1, keepdims=True) * b
            elif op in BINARY:
                t = getattr(gx, op)(a, b)
            else:
                t = getattr(gx, op)(a)
            pool.append(t)
        fetches = pool[-n_fetch:]
    feeds = {"p0": rng.standard_normal((3, 3)), "p1": rng.standard_normal((3, 3))}
    before = g.run(fetches, feeds)
    n = len(g)
    report = optimize(g, keep=fetches)
    g.validate()
    assert len(g) <= n and report.nodes_after == len(g)
    for b, a in zip(before, g.run(fetches, feeds), strict=True):
        assert same_bits(a, b)
    assert not optimize(g, keep=fetches).changed
