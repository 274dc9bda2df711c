"""Elementwise fusion: the pass, the fused program and its two CPU backends (numba, numpy)."""

import os
import subprocess
import sys
import threading
import time
import types

import numpy as np
import pytest

import graphexec as gx
import graphexec.fusion as fused
from graphexec import config
from graphexec.errors import MissingExtraError
from graphexec.fusable import TRANSCENDENTAL_ULP
from graphexec.fusion import fusible
from graphexec.passes.fusion import elementwise_fusion
from graphexec.registry import REGISTRY

from .hypothesis_or_skip import given, settings, st

BACKENDS = ["numpy", "numba"]
FUSED = REGISTRY["fused_elementwise"]


@pytest.fixture(autouse=True, scope="module")
def _cache_in_tmp(tmp_path_factory):
    """Compiled kernels go to a fresh directory, never to the user's cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRAPHEXEC_CACHE_DIR", str(tmp_path_factory.mktemp("gx_cache")))
        yield
    config.set_fusion_backend("auto")


@pytest.fixture(params=BACKENDS)
def backend(request):
    if request.param == "numba":
        pytest.importorskip("numba")
    config.set_fusion_backend(request.param)
    yield request.param
    config.set_fusion_backend("auto")


def fuse(g, keep, **kw):
    actions = []
    changed = g.apply_pass(lambda graph: elementwise_fusion(graph, keep=keep, actions=actions,
                                                            **kw))
    g.validate()
    return changed, actions


def fused_nodes(g):
    return [n for n, d in g.nx.nodes(data=True) if d["op"].name == "fused_elementwise"]


def program_of(g, node):
    return g.nx.nodes[node]["attrs"]["program"]


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def ulps(a, b):
    """Distance in units in the last place; 0 where both are NaN, huge where one is."""
    a, b = np.asarray(a), np.asarray(b)
    it = {4: np.int32, 8: np.int64}[a.dtype.itemsize]
    ai, bi = a.view(it).astype(np.int64), b.view(it).astype(np.int64)
    lo = np.iinfo(it).min
    ai = np.where(ai < 0, lo - ai, ai)  # a monotone integer line through -0.0 == 0.0
    bi = np.where(bi < 0, lo - bi, bi)
    d = np.abs(ai - bi)
    d[np.isnan(a) & np.isnan(b)] = 0
    d[np.isnan(a) != np.isnan(b)] = np.iinfo(np.int64).max
    return d


SPECIALS = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 2.5, 3.0, np.inf, -np.inf, np.nan, -np.nan,
            1e-40, 1e30, -7.25]


def float_data(dtype, n_random=300, scale=4.0, seed=0):
    """Every pair of special values, then random pairs."""
    s = np.array(SPECIALS, dtype)
    x, y = np.meshgrid(s, s)
    rng = np.random.default_rng(seed)
    rx = (rng.standard_normal(n_random) * scale).astype(dtype)
    ry = (rng.standard_normal(n_random) * scale).astype(dtype)
    ry[::7] = rx[::7]  # ties
    return np.concatenate([x.ravel(), rx]), np.concatenate([y.ravel(), ry])


def int_data(dtype, n_random=300, seed=0):
    info = np.iinfo(dtype)
    s = np.array(sorted({info.min, info.min + 1, -1 if info.min else 1, 0, 1, 2, 7,
                         info.max - 1, info.max}), dtype)
    x, y = np.meshgrid(s, s)
    rng = np.random.default_rng(seed)
    rx = rng.integers(info.min, info.max, n_random, dtype=dtype, endpoint=True)
    ry = rng.integers(info.min, info.max, n_random, dtype=dtype, endpoint=True)
    return np.concatenate([x.ravel(), rx]), np.concatenate([y.ravel(), ry])


def selector_graph(ops, dtype, ydtype=None):
    """One graph computing ``ops[k](x, y)`` at the positions where ``sel == k``: all the ops
    fuse into ONE program (one compile), and each element shows one op's result."""
    with gx.graph() as g:
        x = gx.placeholder((None,), dtype, name="x")
        y = gx.placeholder((None,), ydtype or dtype, name="y")
        sel = gx.placeholder((None,), "int32", name="sel")
        results = [(name, fn(x, y)) for name, fn in ops]
        out = results[-1][1]
        for k in range(len(results) - 2, -1, -1):
            out = gx.where(gx.equal(sel, k), results[k][1], out)
    return g, (x, y, sel), out


def run_selector(ops, dtype, x, y, ydtype=None):
    """(unfused result, fused result, sel) for the selector graph on every (x, y) pair."""
    n = len(x)
    g, (xp_, yp_, sp_), out = selector_graph(ops, dtype, ydtype)
    xs, ys = np.tile(x, len(ops)), np.tile(y, len(ops))
    sel = np.repeat(np.arange(len(ops), dtype="int32"), n)
    feeds = {xp_: xs, yp_: ys, sp_: sel}
    with np.errstate(all="ignore"):
        want = g.run(out, feeds)
        changed, _ = fuse(g, keep=[out])
        assert changed and len(fused_nodes(g)) == 1
        assert len(program_of(g, out.name).members) > 2 * len(ops)
        got = g.run(out, feeds)
    return want, got, sel


def assert_ops_exact(ops, want, got, sel, nan_bits=True):
    """Bit for bit, per op; with ``nan_bits=False`` any NaN equals any NaN (when both operands
    are NaN, which one a compiled add returns depends on the operand order LLVM picks)."""
    assert got.dtype == want.dtype and got.shape == want.shape
    bad = []
    for k, (name, _) in enumerate(ops):
        w, o = want[sel == k], got[sel == k]
        diff = w.view(f"u{w.itemsize}") != o.view(f"u{o.itemsize}")
        if not nan_bits and w.dtype.kind == "f":
            diff &= ~(np.isnan(w) & np.isnan(o))
        if diff.any():
            i = np.flatnonzero(diff)[0]
            bad.append(f"{name}: {o[i]!r} != {w[i]!r} at {i}")
    assert not bad, bad


# -- exactness of every fused op -----------------------------------------------------------------
def c64(v):
    return gx.constant(np.float64(v))


FLOAT_OPS = [
    ("add", lambda x, y: x + y), ("subtract", lambda x, y: x - y),
    ("multiply", lambda x, y: x * y), ("divide", lambda x, y: x / y),
    ("negative", lambda x, y: -x), ("abs", lambda x, y: gx.abs(x)),
    ("square", lambda x, y: gx.square(x)), ("reciprocal", lambda x, y: gx.reciprocal(x)),
    ("sqrt", lambda x, y: gx.sqrt(x)), ("rsqrt", lambda x, y: gx.rsqrt(x)),
    ("maximum", gx.maximum), ("minimum", gx.minimum), ("relu", lambda x, y: gx.nn.relu(x)),
    ("sign", lambda x, y: gx.sign(x)), ("where", lambda x, y: gx.where(x < y, x, y)),
    ("stop_gradient", lambda x, y: gx.stop_gradient(x)),
    ("add_n", lambda x, y: gx.add_n([x, y, x])),
    ("float64 literal", lambda x, y: gx.cast(x * c64(0.1), x.dtype)),
    ("cast float", lambda x, y: gx.cast(gx.cast(x, "float64"), x.dtype) + gx.cast(
        gx.cast(y, "float32"), x.dtype)),
    ("cast bool", lambda x, y: gx.cast(gx.cast(x, "bool"), x.dtype)),
    ("cast int", lambda x, y: gx.cast(gx.cast(gx.where(x == x, gx.minimum(gx.maximum(
        x * 100.0, -3e4), 3e4), 0.0), "int16"), x.dtype)),
    ("chain", lambda x, y: gx.nn.relu(((x * 1.5 + 0.25) * y - x) * x + y * 0.5)),
] + [(name, lambda x, y, f=f: gx.cast(f(x, y), x.dtype)) for name, f in [
    ("equal", gx.equal), ("not_equal", gx.not_equal), ("less", gx.less),
    ("less_equal", gx.less_equal), ("greater", gx.greater),
    ("greater_equal", gx.greater_equal), ("logical_and", gx.logical_and),
    ("logical_or", gx.logical_or), ("logical_not", lambda x, y: gx.logical_not(x)),
    ("not of compare", lambda x, y: gx.logical_not(x >= y)),
]]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float_ops_are_bit_identical(backend, dtype):
    x, y = float_data(dtype)
    assert_ops_exact(FLOAT_OPS, *run_selector(FLOAT_OPS, dtype, x, y),
                     nan_bits=backend == "numpy")


INT_OPS = [
    ("add", lambda x, y: x + y), ("subtract", lambda x, y: x - y),
    ("multiply", lambda x, y: x * y), ("negative", lambda x, y: -x),
    ("abs", lambda x, y: gx.abs(x)), ("square", lambda x, y: gx.square(x)),
    ("maximum", gx.maximum), ("minimum", gx.minimum), ("relu", lambda x, y: gx.nn.relu(x)),
    ("sign", lambda x, y: gx.sign(x)), ("add_n", lambda x, y: gx.add_n([x, y, y])),
    ("where", lambda x, y: gx.where(x > y, y, x)),
    ("bitwise_and", gx.bitwise_and), ("bitwise_or", gx.bitwise_or),
    ("bitwise_xor", gx.bitwise_xor), ("bitwise_not", lambda x, y: gx.bitwise_not(x)),
    ("literal", lambda x, y: x * 3 - 100),
    ("cast narrow", lambda x, y: gx.cast(gx.cast(x, "int8") + gx.cast(y, "uint8"), x.dtype)),
    ("cast wide", lambda x, y: gx.cast(gx.cast(x, "int64") * gx.cast(y, "int64"), x.dtype)),
    ("divide", lambda x, y: gx.cast(gx.minimum(gx.maximum(x / y, -1e9), 1e9), x.dtype)),
    ("sqrt", lambda x, y: gx.cast(gx.sqrt(gx.abs(x)) * 8.0, x.dtype)),
    ("float32", lambda x, y: gx.cast(gx.cast(gx.minimum(gx.maximum(
        gx.cast(x, "float32") * 2.5, -100.0), 100.0), "int8"), x.dtype)),
] + [(name, lambda x, y, f=f: gx.cast(f(x, y), x.dtype)) for name, f in [
    ("equal", gx.equal), ("not_equal", gx.not_equal), ("less", gx.less),
    ("less_equal", gx.less_equal), ("greater", gx.greater),
    ("greater_equal", gx.greater_equal), ("logical_and", gx.logical_and),
    ("logical_or", gx.logical_or), ("logical_not", lambda x, y: gx.logical_not(x)),
    ("to bool", lambda x, y: gx.cast(x, "bool")),
]]


@pytest.mark.parametrize("dtype", ["int32", "uint8"])
def test_int_ops_wrap_as_numpy(backend, dtype):
    ops = INT_OPS if dtype == "int32" else [
        op for op in INT_OPS if op[0] not in ("negative", "sign", "abs")]  # numpy: uint ok too
    x, y = int_data(dtype)
    assert_ops_exact(ops, *run_selector(ops, dtype, x, y))


BOOL_OPS = [
    ("add", lambda x, y: x + y), ("multiply", lambda x, y: x * y),
    ("maximum", gx.maximum), ("minimum", gx.minimum), ("abs", lambda x, y: gx.abs(x)),
    ("relu", lambda x, y: gx.nn.relu(x)), ("equal", gx.equal), ("less", gx.less),
    ("logical_and", gx.logical_and), ("logical_or", gx.logical_or),
    ("logical_not", lambda x, y: gx.logical_not(x)), ("add_n", lambda x, y: gx.add_n([x, y])),
    ("bitwise_and", gx.bitwise_and), ("bitwise_xor", gx.bitwise_xor),
    ("bitwise_or", gx.bitwise_or), ("bitwise_not", lambda x, y: gx.bitwise_not(x)),
    ("via float", lambda x, y: gx.cast(gx.cast(x, "float32") - gx.cast(y, "float32"), "bool")),
    ("via int", lambda x, y: gx.cast(gx.cast(x, "int8") * 3 + gx.cast(y, "int8"), "bool")),
]


def test_bool_ops(backend):
    x, y = np.array([[a, b] for a in (False, True) for b in (False, True)] * 3).T
    assert_ops_exact(BOOL_OPS, *run_selector(BOOL_OPS, "bool", x, y))


TRANSCENDENTAL = [
    ("exp", lambda x, y: gx.exp(x)), ("expm1", lambda x, y: gx.expm1(x)),
    ("log", lambda x, y: gx.log(x)), ("log1p", lambda x, y: gx.log1p(x)),
    ("sin", lambda x, y: gx.sin(x)), ("cos", lambda x, y: gx.cos(x)),
    ("tan", lambda x, y: gx.tan(x)), ("tanh", lambda x, y: gx.tanh(x)),
    ("pow", lambda x, y: gx.pow(gx.abs(x), y)), ("sigmoid", lambda x, y: gx.nn.sigmoid(x)),
    ("erf", lambda x, y: gx.nn.erf(x)), ("arcsin", lambda x, y: gx.arcsin(x)),
    ("arccos", lambda x, y: gx.arccos(x)), ("arctan", lambda x, y: gx.arctan(x)),
]


def transcendental_data(dtype):
    rng = np.random.default_rng(1)
    parts = [rng.uniform(-12, 12, 3000), rng.uniform(-1e-3, 1e-3, 500),
             rng.uniform(2.3, 2.7, 500), np.exp(rng.uniform(-60, 60, 1000)),
             -np.exp(rng.uniform(-60, 60, 300)), SPECIALS]
    x = np.concatenate(parts).astype(dtype)
    y = np.concatenate([rng.uniform(-4, 4, len(x) - len(SPECIALS)), SPECIALS]).astype(dtype)
    return x, y


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_transcendental_ops_within_stated_ulps(backend, dtype):
    x, y = transcendental_data(dtype)
    want, got, sel = run_selector(TRANSCENDENTAL, dtype, x, y)
    if backend == "numpy":  # the same ufuncs: exact
        assert_ops_exact(TRANSCENDENTAL, want, got, sel)
        return
    worst = {}
    for k, (name, _) in enumerate(TRANSCENDENTAL):
        worst[name] = int(ulps(want[sel == k], got[sel == k]).max())
    limits = {name: gx.REGISTRY[name].fusion.ulp_for(dtype) for name in worst}
    assert all(worst[n] <= limits[n] for n in worst), (worst, limits)


@pytest.mark.nightly
@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["float32", "float64"]), st.integers(0, 2**31))
def test_transcendental_ulps_nightly(dtype, seed):
    pytest.importorskip("numba")
    config.set_fusion_backend("numba")
    rng = np.random.default_rng(seed)
    scale = 10.0 ** rng.integers(-5, 3)
    x = (rng.standard_normal(4000) * scale).astype(dtype)
    y = rng.uniform(-5, 5, 4000).astype(dtype)
    want, got, sel = run_selector(TRANSCENDENTAL, dtype, x, y)
    for k, (name, _) in enumerate(TRANSCENDENTAL):
        limit = gx.REGISTRY[name].fusion.ulp_for(dtype)
        assert ulps(want[sel == k], got[sel == k]).max() <= limit, name
    config.set_fusion_backend("auto")


# -- shapes: broadcasting, unknown dims, layouts, 0-d and empty ------------------------------------
@pytest.fixture(scope="module")
def bias_graph():
    """relu(x * 1.5 + b) - x, x of shape (?, ?) and b of shape (?,), fused."""
    with gx.graph() as g:
        x = gx.placeholder((None, None), "float32", name="x")
        b = gx.placeholder((None,), "float32", name="b")
        out = gx.nn.relu(x * 1.5 + b) - x
    assert fuse(g, keep=[out])[0]
    return g, x, b, out


def bias_ref(x, b):
    return np.maximum(x * np.float32(1.5) + b, np.float32(0)) - x


@pytest.mark.parametrize("xs, bs", [((3, 4), (4,)), ((3, 4), (1,)), ((3, 1), (4,)),
                                    ((1, 1), (5,)), ((0, 4), (4,)), ((3, 0), (1,)),
                                    ((300, 257), (257,))])
def test_broadcasting_and_unknown_dims(backend, bias_graph, xs, bs):
    g, x, b, out = bias_graph
    rng = np.random.default_rng(0)
    xv, bv = rng.standard_normal(xs).astype("float32"), rng.standard_normal(bs).astype("float32")
    got = g.run(out, {x: xv, b: bv})
    assert same_bits(got, bias_ref(xv, bv))


def test_non_contiguous_inputs(backend, bias_graph):
    g, x, b, out = bias_graph
    rng = np.random.default_rng(1)
    base = rng.standard_normal((6, 8)).astype("float32")
    bv = rng.standard_normal(16).astype("float32")
    for xv, bb in [(base.T, bv[:6]), (base[::2, 1::2], bv[::4]), (base[:, ::-1], bv[8:])]:
        assert not xv.flags.c_contiguous
        assert same_bits(g.run(out, {x: xv, b: bb}), bias_ref(xv, bb))


def test_output_memory_order_follows_numpy(backend):
    """A fused result is laid out as the unfused ops would leave it (a matmul or sum reading
    it next rounds the same), and holds the same values."""
    def build():
        with gx.graph() as g:
            x = gx.placeholder((None, None, None), "float32", name="x")
            b = gx.placeholder((None, None, None), "float32", name="b")
            out = gx.nn.relu(x * 1.5 + b) - x
        return g, x, b, out

    g0, x0, b0, out0 = build()
    g, x, b, out = build()
    assert fuse(g, keep=[out])[0]
    rng = np.random.default_rng(6)
    big = rng.standard_normal((6, 8, 10)).astype("float32")
    base = np.ascontiguousarray(big[::2, ::2, ::2])
    layouts = [base, base.transpose(2, 0, 1).copy().transpose(1, 2, 0), base[::-1],
               big[::2, ::2, ::2], np.asfortranarray(base), np.broadcast_to(base[:, :1], (3, 4, 5))]
    for xv in layouts:
        for bv in [*layouts, base[:1], base[:, :, :1]]:
            want = g0.run(out0, {x0: xv, b0: bv})
            got = g.run(out, {x: xv, b: bv})
            assert same_bits(got, want)
            assert [s for s, d in zip(got.strides, got.shape) if d > 1] == [
                s for s, d in zip(want.strides, want.shape) if d > 1], (xv.strides, bv.strides)


def test_strided_4d_inputs_coalesce_and_keep_their_bits(backend):
    """Slices of padded images (the axes numpy's iterator would merge) and a bias of lower
    rank: the numba loop runs over merged axes, with numpy's bits."""
    from graphexec.fusion.program import coalesced
    with gx.graph() as g:
        a = gx.placeholder((None, None, None, None), "float32", name="a")
        c = gx.placeholder((None, None, None, None), "float32", name="c")
        b = gx.placeholder((None, None), "float32", name="b")
        out = (a + c) * 0.2 - b
    assert fuse(g, keep=[out])[0]
    rng = np.random.default_rng(7)
    p = rng.standard_normal((3, 12, 12, 3)).astype("float32")
    f = np.float32
    big = rng.standard_normal((8, 260, 260, 3)).astype("float32")  # a parallel loop's size
    cases = [(p[:, :-4, 2:-2], p[:, 4:, 2:-2], p[0, 0, :8]),
             (p[:, 2:-2, :-4], p[:, 2:-2, 4:].transpose(0, 2, 1, 3), p[0, 0, :8]),
             (p[:, :8, :8], p[:, 4:, 4:], p[0, :1, :1, 0]),
             (big[:, 4:, 2:-2], big[:, :-4, 2:-2], big[0, 0, :256])]
    for av, cv, bv in cases:
        assert same_bits(g.run(out, {a: av, c: cv, b: bv}), (av + cv) * f(0.2) - bv)
    if backend == "numba":  # the merged loops ran: the programs remember the merges
        (node,) = fused_nodes(g)
        merges = [v for k, v in program_of(g, node)._layouts.items() if k[0] != "order"]
        assert (1, 3, 8, 24) in [m[0] for m in merges if m]
        assert (1, 8, 256, 768) in [m[0] for m in merges if m]
    # into a given output (strided, as the memory plan may pass one)
    program = program_of(g, fused_nodes(g)[0])
    av, cv, bv = cases[0]
    target = np.zeros((3, 10, 8, 3), "float32")[:, 1:-1]
    assert program(np, av, cv, bv, out=target) is target
    assert same_bits(target, (av + cv) * f(0.2) - bv)
    o = np.empty((3, 8, 8, 3), "float32")
    shapes = coalesced([o, p[:, :-4, 2:-2], np.ones((8, 3), "float32")], 4)
    assert shapes == [(1, 3, 8, 24), (1, 3, 8, 24), (1, 24)]
    assert coalesced([o, p[:, :-4, 2:-2].transpose(0, 2, 1, 3)], 4) is None
    # a parallel kernel keeps rows to share out: no merge down to fewer than three axes
    assert coalesced([o, p[:, :-4, 2:-2]], 4, parallel=True) == [(1, 3, 8, 24)] * 2
    flat = np.empty((2, 4, 6), "float32")
    assert coalesced([flat, flat], 3, parallel=True) is None
    assert coalesced([flat, flat], 3) == [(1, 1, 48)] * 2


def test_a_layout_seen_before_runs_as_the_first_time():
    """A call on inputs of a layout seen before skips the decisions (output shape and order,
    kernel, views): same bits and same output layout as the first call, for every layout."""
    pytest.importorskip("numba")
    config.set_fusion_backend("numba")
    try:
        with gx.graph() as g:
            x = gx.placeholder((None, None, None), "float32", name="x")
            b = gx.placeholder((None, None, None), "float32", name="b")
            out = gx.nn.relu(x * 1.5 + b) - x
        assert fuse(g, keep=[out])[0]
        (node,) = fused_nodes(g)
        program = program_of(g, node)
        rng = np.random.default_rng(8)
        big = rng.standard_normal((6, 8, 10)).astype("float32")
        base = np.ascontiguousarray(big[::2, ::2, ::2])
        layouts = [(base, base), (base, base[:1]), (base, base[:, :, :1]),
                   (base.transpose(2, 0, 1).copy().transpose(1, 2, 0), base),
                   (big[::2, ::2, ::2], base), (np.asfortranarray(base), base[:1, :1, :1]),
                   (big[:, :4, :5], big[:, 4:, 5:]),
                   (np.asfortranarray(big[:1, :3, :4]), big[:1, :1, :4])]  # a size-1 axis
        for xv, bv in layouts:
            runs = [g.run(out, {x: xv, b: bv}) for _ in range(3)]
            want = np.maximum(xv * np.float32(1.5) + bv, np.float32(0)) - xv
            for r in runs:
                assert same_bits(r, want) and r.strides == runs[0].strides
        assert len(program._seen) == len(layouts)
        # the output's axis order as first chosen, also where a size-1 axis ties in strides
        with gx.graph() as g2:
            x2 = gx.placeholder((None, None, None), "float32", name="x")
            b2 = gx.placeholder((None, None), "float32", name="b")
            c2 = gx.placeholder((), "float32", name="c")
            out2 = (gx.nn.relu(x2 * 1.5 + b2) - x2) * c2
        assert fuse(g2, keep=[out2])[0]
        feeds = {x2: np.asfortranarray(np.arange(12, dtype="float32").reshape(1, 3, 4)),
                 b2: np.arange(4, dtype="float32").reshape(1, 4), c2: np.array(2, "float32")}
        strides = [g2.run(out2, feeds).strides for _ in range(3)]
        assert strides == [strides[0]] * 3 and strides[0][1:] == (4, 12)
        fused.clear_jit_cache()  # the kernels go: the remembered layouts compile them again
        assert same_bits(g.run(out, {x: base, b: base}), np.maximum(
            base * np.float32(1.5) + base, np.float32(0)) - base)
    finally:
        config.set_fusion_backend("auto")


def chain_ref(x, z):
    f = np.float32
    y = (x * f(1.5) + f(0.25)) * z - x
    y = y * y + z * f(0.5)
    return np.maximum(y, f(0))


def test_same_shape_chain_flat_and_strided(backend):
    with gx.graph() as g:
        x = gx.placeholder((None, None), "float32", name="x")
        z = gx.placeholder((None, None), "float32", name="z")
        y = (x * 1.5 + 0.25) * z - x
        out = gx.nn.relu(y * y + z * 0.5)
    assert fuse(g, keep=[out])[0]
    (node,) = fused_nodes(g)
    assert node == out.name and len(program_of(g, node).members) == 8
    rng = np.random.default_rng(2)
    for shape in [(4, 4), (7, 33), (1, 1)]:
        xv, zv = (rng.standard_normal(shape).astype("float32") for _ in range(2))
        assert same_bits(g.run(out, {x: xv, z: zv}), chain_ref(xv, zv))
        assert same_bits(g.run(out, {x: xv.T, z: zv.T}), chain_ref(xv.T, zv.T))


def test_rank_0_output_and_0_d_inputs(backend):
    with gx.graph() as g:
        s = gx.placeholder((), "float64", name="s")
        x = gx.placeholder((None, 3), "float64", name="x")
        scalar_out = gx.exp(s) * 2.0 + s
        out = (x - s) * s
    assert fuse(g, keep=[scalar_out, out])[0]
    assert len(fused_nodes(g)) == 2
    sv, xv = np.array(0.75), np.arange(6.0).reshape(2, 3)
    got = g.run([scalar_out, out], {s: sv, x: xv})
    assert got[0].shape == () and same_bits(got[0], np.exp(sv) * 2.0 + sv)
    assert same_bits(got[1], (xv - sv) * sv)


def test_literal_of_shape_1_1_adds_rank(backend):
    with gx.graph() as g:
        x = gx.placeholder((3,), "float32", name="x")
        out = gx.exp(x * gx.constant(np.full((1, 1), 2.0, "float32")))
    assert fuse(g, keep=[out])[0]
    prog = program_of(g, out.name)
    assert [v.shape for v in prog.literals] == [(1, 1)] and prog.spec.shape == (1, 3)
    xv = np.array([0.0, 1.0, -1.0], "float32")
    with gx.graph() as g2:
        ref = gx.exp(gx.placeholder((3,), "float32", name="x") * gx.constant(
            np.full((1, 1), 2.0, "float32")))
    want = g2.run(ref, {"x": xv})
    got = g.run(out, {x: xv})
    assert got.shape == (1, 3)
    if backend == "numpy":
        assert same_bits(got, want)
    else:
        assert ulps(got, want).max() <= TRANSCENDENTAL_ULP["float32"]


def test_run_time_broadcast_error_names_the_member(backend):
    def build():
        with gx.graph() as g:
            x = gx.placeholder((None, 3), "float32", name="x")
            y = gx.placeholder((None, 3), "float32", name="y")
            out = gx.nn.relu(gx.exp(x) * 2.0 + y)
        return g, x, y, out

    feeds = [np.ones((2, 3), "float32"), np.ones((4, 3), "float32")]
    errors = []
    for fused_graph in (False, True):
        g, x, y, out = build()
        if fused_graph:
            assert fuse(g, keep=[out])[0]
        with pytest.raises(gx.ExecutionError) as e:
            g.run(out, dict(zip((x, y), feeds)))
        errors.append(str(e.value))
    assert errors[0] == errors[1] and "while running node 'add'" in errors[0]


# -- out= --------------------------------------------------------------------------------------
def chain_program():
    with gx.graph() as g:
        x = gx.placeholder((None, None), "float32", name="x")
        z = gx.placeholder((None, None), "float32", name="z")
        y = (x * 1.5 + 0.25) * z - x  # x read by the first and the fourth member
        out = gx.nn.relu(y * y + z * 0.5)
    fuse(g, keep=[out])
    return program_of(g, out.name)


def test_out_may_be_an_input_read_twice(backend):
    prog = chain_program()
    rng = np.random.default_rng(3)
    xv, zv = (rng.standard_normal((5, 6)).astype("float32") for _ in range(2))
    want = chain_ref(xv, zv)
    for which in ("x", "z", "fresh"):
        xa, za = xv.copy(), zv.copy()
        out = {"x": xa, "z": za, "fresh": np.empty_like(xv)}[which]
        res = FUSED.kernel(np, xa, za, program=prog, out=out)
        assert res is out and same_bits(res, want), which
    xa = xv.copy()  # both inputs the same array, which is also out
    res = FUSED.kernel(np, xa, xa, program=prog, out=xa)
    assert same_bits(res, chain_ref(xv, xv))


def test_out_overlapping_an_input_view(backend):
    prog = chain_program()
    rng = np.random.default_rng(4)
    buf = rng.standard_normal((4, 4)).astype("float32")
    zv = rng.standard_normal((4, 4)).astype("float32")
    xview = buf[::-1]  # another view of out's memory, read in another order
    want = chain_ref(xview.copy(), zv)
    res = FUSED.kernel(np, xview, zv, program=prog, out=buf)
    assert res is buf and same_bits(res, want)
    xt = buf.T  # transposed view, broadcast-free but strided
    want = chain_ref(xt.copy(), zv)
    assert same_bits(FUSED.kernel(np, xt, zv, program=prog, out=buf), want)


class CountingXp(types.ModuleType):
    """numpy, counting allocations: a module that is not numpy takes the ufunc path."""

    def __init__(self):
        super().__init__("counting_numpy")
        self.allocations = 0

    def empty(self, *args, **kw):
        self.allocations += 1
        return np.empty(*args, **kw)

    def __getattr__(self, name):
        return getattr(np, name)


def test_numpy_path_reuses_buffers():
    prog = chain_program()  # 8 members of one shape and dtype
    xp = CountingXp()
    rng = np.random.default_rng(5)
    xv, zv = (rng.standard_normal((3, 5)).astype("float32") for _ in range(2))
    res = prog(xp, xv, zv)
    assert same_bits(res, chain_ref(xv, zv))
    # z * 0.5 is live while the chain of x runs: two buffers, one of them the output
    assert xp.allocations == 2
    xp.allocations = 0
    out = np.empty_like(xv)
    assert prog(xp, xv, zv, out=out) is out and xp.allocations == 1
    xp.allocations = 0
    xa = xv.copy()
    assert same_bits(prog(xp, xa, zv, out=xa), chain_ref(xv, zv))


# -- dtypes --------------------------------------------------------------------------------------
def test_float32_stays_float32_with_python_floats(backend):
    with gx.graph() as g:
        x = gx.placeholder((None,), "float32", name="x")
        out = gx.sqrt(gx.abs(x * 0.1 + 1e-3)) / 3.0 - 0.7
    xv = np.linspace(-3, 3, 101).astype("float32")
    want = g.run(out, {x: xv})
    assert fuse(g, keep=[out])[0]
    prog = program_of(g, out.name)
    assert {v.dtype for v in prog.literals} == {np.dtype("float32")}
    assert all(m.spec.dtype == np.float32 for m in prog.members)
    got = g.run(out, {x: xv})
    assert got.dtype == np.float32 and same_bits(got, want)


def test_fusible_dtypes_and_ops():
    assert fusible("add", ["float32", "float32"], "float32")
    assert fusible("less", ["int32", "float64"], "bool")  # both become float64 first
    assert not fusible("less", ["int64", "uint64"], "bool")  # numpy compares them exactly
    assert not fusible("pow", ["int32", "int32"], "int32")
    assert not fusible("reciprocal", ["int32"], "int32")
    assert not fusible("floor_divide", ["float32", "float32"], "float32")
    assert not fusible("exp", ["float16"], "float16")
    assert not fusible("add", ["complex64", "complex64"], "complex64")
    assert not fusible("cast", ["float32"], "float16", {"dtype": np.dtype("float16")})
    assert fusible("sigmoid", ["int32"], "float64") and not fusible("sigmoid", ["int8"],
                                                                    "float16")
    assert not fusible("matmul", ["float32", "float32"], "float32")


# -- the pass ------------------------------------------------------------------------------------
def test_groups_stop_at_other_ops_and_shared_intermediates():
    with gx.graph() as g:
        x = gx.placeholder((4, 4), "float32", name="x")
        a = gx.exp(x * 2.0)  # a is read by a matmul too: it cannot be fused away
        b = gx.matmul(a, a)
        out = gx.nn.relu(a * 3.0 + gx.sin(b) * gx.cos(b))
    changed, actions = fuse(g, keep=[out])
    assert changed
    ops = {n: d["op"].name for n, d in g.nx.nodes(data=True)}
    assert ops[a.name] == "fused_elementwise" and ops[b.name] == "matmul"
    assert [m.op.name for m in program_of(g, a.name).members] == ["multiply", "exp"]
    out_members = [m.op.name for m in program_of(g, out.name).members]
    assert out_members == ["multiply", "sin", "cos", "multiply", "add", "relu"]
    assert sorted(actions) == sorted(["fused exp <- [multiply]",
                                      "fused relu <- [multiply, sin, cos, multiply, add]"])
    assert [d["inputs"] for n, d in g.nx.nodes(data=True) if n == out.name] == [
        ((a.name, 0), (b.name, 0))]


def test_diamond_is_one_group():
    with gx.graph() as g:
        x = gx.placeholder((3,), "float64", name="x")
        p = gx.exp(x)
        out = gx.sin(p) + gx.cos(p) * p
    xv = np.array([0.1, -0.5, 2.0])
    want = g.run(out, {x: xv})
    assert fuse(g, keep=[out])[0]
    assert len(g) == 2 and fused_nodes(g) == [out.name]
    prog = program_of(g, out.name)
    assert [m.op.name for m in prog.members] == ["exp", "sin", "cos", "multiply", "add"]
    config.set_fusion_backend("numpy")
    try:
        assert same_bits(g.run(out, {x: xv}), want)
    finally:
        config.set_fusion_backend("auto")


def test_kept_nodes_stay_fetchable_and_members_are_listed():
    with gx.graph() as g:
        x = gx.placeholder((None,), "float64", name="x")
        h = gx.tanh(x * 0.5)
        mid = h * h
        out = gx.sqrt(gx.abs(mid - 1.0))
    xv = np.array([0.0, 1.0, -3.0])
    want = g.run([mid, out], {x: xv})
    changed, actions = fuse(g, keep=[mid, out.name])
    assert changed
    assert sorted(fused_nodes(g)) == sorted([mid.name, out.name])
    mprog, oprog = program_of(g, mid.name), program_of(g, out.name)
    assert [(m.name, m.op.name) for m in mprog.members] == [
        ("multiply", "multiply"), ("tanh", "tanh"), (mid.name, "multiply")]
    assert [m.op.name for m in oprog.members] == ["subtract", "abs", "sqrt"]
    assert all(m.loc.startswith("test_fusion.py:") for m in mprog.members + oprog.members)
    assert g.nx.nodes[out.name]["inputs"] == ((mid.name, 0),)
    config.set_fusion_backend("numpy")
    try:
        got = g.run([mid.name, out], {x: xv})
    finally:
        config.set_fusion_backend("auto")
    assert all(same_bits(a, b) for a, b in zip(got, want))


def test_min_size_and_fixed_point():
    with gx.graph() as g:
        x = gx.placeholder((3,), "float32", name="x")
        a = gx.exp(x)
        b = gx.sum(a)
        out = gx.negative(gx.abs(b))
    assert not fuse(g, keep=[out], min_size=3)[0]
    assert fuse(g, keep=[out])[0]
    assert fused_nodes(g) == [out.name]
    assert not fuse(g, keep=[out])[0]  # a fused node is never fused again
    assert g.nx.nodes[a.name]["op"].name == "exp"  # alone: left as it is


def test_unsupported_ops_split_groups():
    with gx.graph() as g:
        x = gx.placeholder((3,), "int32", name="x")
        a = gx.mod(x * 3, 5)  # mod is never fused
        out = gx.pow(a + 1, 2)  # nor integer pow
        f = gx.cast(out, "float16") * 2.0  # nor float16
    assert not fuse(g, keep=[f])[0]
    assert fused_nodes(g) == []


def test_inputs_multi_output_producers_and_array_constants():
    with gx.graph() as g:
        x = gx.placeholder((2, 3), "float64", name="x")
        lo, hi = gx.split(x, 2, axis=0)
        w = gx.constant(np.array([1.0, 2.0, 3.0]))
        out = (lo * w + hi * w) * 2.0 + 2.0
    xv = np.arange(6.0).reshape(2, 3)
    want = g.run(out, {x: xv})
    assert fuse(g, keep=[out])[0]
    prog = program_of(g, out.name)
    assert len(prog.inputs) == 3 and len(prog.literals) == 1  # lo, hi, w; one literal 2.0
    assert g.nx.nodes[out.name]["inputs"] == (("split", 0), ("constant", 0), ("split", 1))
    config.set_fusion_backend("numpy")
    try:
        assert same_bits(g.run(out, {x: xv}), want)
    finally:
        config.set_fusion_backend("auto")


def test_constants_only_are_left_to_constant_folding():
    with gx.graph() as g:
        out = gx.exp(gx.constant(np.float32(2.0))) * 3.0
    assert not fuse(g, keep=[out])[0]


def test_program_equality_is_structural():
    def build(c, name):
        with gx.graph():
            x = gx.placeholder((None,), "float32", name=name)
            out = gx.exp(x * c)
        g = out._graph
        fuse(g, keep=[out])
        return program_of(g, out.name)

    p1, p2 = build(1.5, "a"), build(1.5, "b")
    assert p1 == p2 and hash(p1) == hash(p2) and p1.members[0].loc != "" and p1 is not p2
    assert p1 != build(2.5, "a")
    assert build(0.0, "a") != build(-0.0, "a")
    assert repr(p1) == "<fused 2: multiply, exp>"


def test_pass_is_linear():
    def chain(n):
        with gx.graph() as g:
            x = gx.placeholder((4,), "float32", name="x")
            y = x
            for _ in range(n):  # groups of 4 elementwise ops, split by a reshape
                y = gx.reshape(gx.nn.relu(gx.exp(y * 0.5) - 1.0), (4,))
        return g, y

    g, y = chain(2000)
    n = len(g)
    t0 = time.perf_counter()
    assert fuse(g, keep=[y])[0]
    assert time.perf_counter() - t0 < 5.0
    assert len(fused_nodes(g)) == 2000 and len(g) < n


def test_fused_op_runs_eagerly_and_is_not_differentiable():
    prog = chain_program()
    xv = np.ones((2, 2), "float32")
    t = gx.apply(FUSED, gx.constant(xv), gx.constant(xv), program=prog)
    assert same_bits(t.numpy(), chain_ref(xv, xv))
    x = gx.constant(xv)
    with gx.GradientTape() as tape:  # it exists only in optimized graphs: no gradient
        tape.watch(x)
        y = gx.sum(gx.apply(FUSED, x, x, program=prog))
    with pytest.raises(gx.GraphexecError, match="fused_elementwise: made by the graph optimizer"):
        tape.gradient(y, x)
    with pytest.raises(gx.DTypeError):
        gx.apply(FUSED, gx.constant(xv.astype("float64")), gx.constant(xv), program=prog)


UNARY = [gx.exp, gx.negative, gx.abs, gx.tanh, gx.nn.relu, gx.nn.sigmoid, gx.square, gx.sin]
BINARY = [gx.add, gx.subtract, gx.multiply, gx.maximum, gx.minimum, gx.divide]


def _random_expr_check(rng, backend_name, n_nodes=12):
    with gx.graph() as g:
        x = gx.placeholder((None, 3), "float32", name="x")
        b = gx.placeholder((3,), "float32", name="b")
        pool = [x, b]
        for _ in range(n_nodes):
            if rng.random() < 0.4:
                t = UNARY[rng.integers(len(UNARY))](pool[rng.integers(len(pool))])
            elif rng.random() < 0.2:
                t = pool[rng.integers(len(pool))] * float(rng.integers(-3, 4) / 2)
            else:
                t = BINARY[rng.integers(len(BINARY))](pool[rng.integers(len(pool))],
                                                      pool[rng.integers(len(pool))])
            pool.append(t)
        outs = [pool[-1], pool[len(pool) // 2]]
    feeds = {x: rng.standard_normal((4, 3)).astype("float32"),
             b: rng.standard_normal(3).astype("float32")}
    with np.errstate(all="ignore"):
        want = g.run(outs, feeds)
        fuse(g, keep=outs)
        config.set_fusion_backend(backend_name)
        try:
            got = g.run(outs, feeds)
        finally:
            config.set_fusion_backend("auto")
    for w, o in zip(want, got):
        if backend_name == "numpy":
            assert same_bits(w, o)
        else:  # exp, tanh and sigmoid may differ by a few ulp, and so may what follows
            np.testing.assert_allclose(o, w, rtol=1e-5, atol=1e-6)


@given(st.integers(0, 2**32 - 1))
def test_random_exprs_numpy_path(seed):
    _random_expr_check(np.random.default_rng(seed), "numpy")


@pytest.mark.nightly
@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_random_exprs_numba_nightly(seed):
    pytest.importorskip("numba")
    _random_expr_check(np.random.default_rng(seed), "numba")


# -- compile caching and the backend switch ------------------------------------------------------
CACHE_PROBE = """
import numpy as np, graphexec as gx
from graphexec.passes.fusion import elementwise_fusion
with gx.graph() as g:
    x = gx.placeholder((None,), "float64", name="x")
    out = gx.sqrt(gx.abs(x * 0.375 - 1.25))
g.apply_pass(lambda graph: elementwise_fusion(graph, keep=[out]))
"""


def build_cache_probe():
    """A small fused graph, built from source that a new process runs as well."""
    ns = {}
    exec(CACHE_PROBE, ns)
    return ns["g"], ns["x"], ns["out"]


def test_same_structure_compiles_once():
    pytest.importorskip("numba")
    config.set_fusion_backend("numba")
    try:
        before = fused.jit_stats()
        g1, x1, o1 = build_cache_probe()
        g2, x2, o2 = build_cache_probe()
        xv = np.arange(5.0)
        r1, r2 = g1.run(o1, {x1: xv}), g2.run(o2, {x2: xv})
        r1b = g1.run(o1, {x1: xv + 1})
        after = fused.jit_stats()
    finally:
        config.set_fusion_backend("auto")
    assert same_bits(r1, r2) and same_bits(r1, np.sqrt(np.abs(xv * 0.375 - 1.25)))
    assert same_bits(r1b, np.sqrt(np.abs((xv + 1) * 0.375 - 1.25)))
    assert after["compiles"] + after["disk_hits"] - before["compiles"] - before["disk_hits"] == 1
    assert after["memory_hits"] - before["memory_hits"] == 1  # the second graph's program
    assert after["compile_seconds"] > before["compile_seconds"]
    files = os.listdir(fused.cache_dir())
    assert any(f.startswith("graphexec_fused_") and f.endswith(".py") for f in files)


@pytest.fixture
def tiered():
    pytest.importorskip("numba")
    config.set_fusion_backend("auto")
    config.set_background_compile(True)
    try:
        with fused.jit.fresh_kernels():
            yield
            assert fused.jit.wait_for_background_compiles(120)
    finally:
        config.set_background_compile(False)


def test_tiered_first_call_runs_ufuncs_then_the_kernel(tiered):
    """With background compiles on, a call that finds no kernel runs the ufuncs (the unfused
    bits) and queues the kernel; once it is ready, the same program runs it."""
    g, x, out = build_cache_probe()
    xv = np.arange(5.0)
    want = np.sqrt(np.abs(xv * 0.375 - 1.25))
    (node,) = fused_nodes(g.compile(out, optimize=2).graph)
    before = fused.jit_stats()
    c = g.compile(out, optimize=2)
    program = program_of(c.graph, node)
    gate = threading.Event()
    real = fused.jit.compile_kernel
    try:  # NOTE: the compile waits for the test, so the first call surely finds no kernel
        fused.jit.compile_kernel = lambda src: gate.wait(60) and real(src)
        assert same_bits(c({x: xv}), want)
        assert not program._kernels and fused.jit._JIT.pending
        assert same_bits(c({x: xv + 1}), np.sqrt(np.abs((xv + 1) * 0.375 - 1.25)))
    finally:
        gate.set()
        assert fused.jit.wait_for_background_compiles(120)
        fused.jit.compile_kernel = real
    assert same_bits(c({x: xv}), want)
    assert len(program._kernels) == 1
    after = fused.jit_stats()
    assert after["background"] - before["background"] == 1
    assert after["compiles"] + after["disk_hits"] - before["compiles"] - before["disk_hits"] == 1


def test_tiered_compile_failure_warns_and_keeps_the_ufuncs(tiered, monkeypatch):
    def broken(source):
        raise RuntimeError("no LLVM today")

    monkeypatch.setattr(fused.jit, "compile_kernel", broken)
    g, x, out = build_cache_probe()
    c = g.compile(out, optimize=2)
    xv = np.arange(4.0)
    with pytest.warns(RuntimeWarning, match="no LLVM today"):
        assert same_bits(c({x: xv}), np.sqrt(np.abs(xv * 0.375 - 1.25)))
        assert fused.jit.wait_for_background_compiles(60)
    assert same_bits(c({x: xv}), np.sqrt(np.abs(xv * 0.375 - 1.25)))
    (node,) = fused_nodes(c.graph)
    assert not program_of(c.graph, node)._kernels


def test_tiered_process_exits_cleanly_and_fills_the_disk_cache(tmp_path):
    """A process that ends while its kernel compiles in the background finishes that kernel
    (so the next process loads it) and exits with 0; its first call did not wait."""
    pytest.importorskip("numba")
    code = CACHE_PROBE + (
        "import sys, graphexec.fusion as fused\n"
        "r = g.run(out, {x: np.arange(3.0)}, optimize=2)\n"
        "assert np.array_equal(r, np.sqrt(np.abs(np.arange(3.0) * 0.375 - 1.25)))\n"
        "print(fused.jit_stats()['compiles'] + fused.jit_stats()['disk_hits'])\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "GRAPHEXEC_BACKGROUND_COMPILE": "1",
           "GRAPHEXEC_CACHE_DIR": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           cwd=root, env=env, timeout=120) for _ in range(2)]
    for res in runs:
        assert res.returncode == 0, res.stderr
    assert runs[0].stdout.split() == ["0"]  # the first call ran before any kernel was ready
    names = os.listdir(tmp_path / "fused")
    assert any(n.startswith("graphexec_fused_") and n.endswith(".py") for n in names)
    # numba's index of the compiled kernel, written before the first process ended
    assert any(n.endswith(".nbi") for n in os.listdir(tmp_path / "fused" / "__pycache__"))
    ready = subprocess.run([sys.executable, "-c", code + (
        "assert fused.jit.wait_for_background_compiles(120)\n"
        "s = fused.jit_stats()\n"
        "print(s['compiles'], s['disk_hits'])\n")], capture_output=True, text=True, cwd=root,
        env=env, timeout=120)
    assert ready.returncode == 0, ready.stderr
    assert ready.stdout.split() == ["0", "0", "1"]  # then loaded from the disk cache
    # a cold cache: the compiler process compiles, this process only loads what it wrote
    cold = subprocess.run([sys.executable, "-c", code + (
        "assert fused.jit.wait_for_background_compiles(120)\n"
        "s = fused.jit_stats()\n"
        "print(s['compiles'], s['disk_hits'], s['background'])\n")], capture_output=True,
        text=True, cwd=root, env={**env, "GRAPHEXEC_CACHE_DIR": str(tmp_path / "cold")},
        timeout=120)
    assert cold.returncode == 0, cold.stderr
    assert cold.stdout.split() == ["0", "0", "1", "1"]  # first call; compiles, disk, background
    assert any(n.endswith(".compiled") for n in os.listdir(tmp_path / "cold" / "fused"))


def test_disk_cache_serves_a_new_process():
    pytest.importorskip("numba")
    config.set_fusion_backend("numba")
    try:
        g, x, out = build_cache_probe()
        g.run(out, {x: np.arange(3.0)})  # compiled (or loaded) here, written to the cache
    finally:
        config.set_fusion_backend("auto")
    code = CACHE_PROBE + (
        "import graphexec.fusion as fused\n"
        "gx.config.set_fusion_backend('numba')\n"
        "r = g.run(out, {x: np.arange(3.0)})\n"
        "assert np.array_equal(r, np.sqrt(np.abs(np.arange(3.0) * 0.375 - 1.25)))\n"
        "s = fused.jit_stats()\n"
        "print(s['compiles'], s['disk_hits'])\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=root, env=dict(os.environ), timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["0", "1"]


def test_clear_jit_cache_forgets_in_process_kernels():
    pytest.importorskip("numba")
    config.set_fusion_backend("numba")
    try:
        g, x, out = build_cache_probe()
        g.run(out, {x: np.arange(3.0)})
        fused.clear_jit_cache()
        before = fused.jit_stats()
        g.run(out, {x: np.arange(3.0)})
        after = fused.jit_stats()
    finally:
        config.set_fusion_backend("auto")
    assert after["disk_hits"] - before["disk_hits"] == 1 and after["compiles"] == before[
        "compiles"]


def test_numba_requested_but_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)
    with pytest.raises(MissingExtraError, match=r"graphexec\[jit\]"):
        config.set_fusion_backend("numba")
    assert config.fusion_backend() == "numpy"  # auto falls back
    g, x, out = build_cache_probe()
    assert same_bits(g.run(out, {x: np.arange(4.0)}),
                     np.sqrt(np.abs(np.arange(4.0) * 0.375 - 1.25)))


def test_numba_chosen_then_missing(monkeypatch):
    pytest.importorskip("numba")
    config.set_fusion_backend("numba")
    try:
        monkeypatch.setitem(sys.modules, "numba", None)
        with pytest.raises(MissingExtraError, match=r"graphexec\[jit\]"):
            config.fusion_backend()
    finally:
        monkeypatch.undo()
        config.set_fusion_backend("auto")


@pytest.mark.gpu
def test_cupy_arrays_take_the_ufunc_path():
    cupy = pytest.importorskip("cupy")
    prog = chain_program()
    rng = np.random.default_rng(7)
    xv, zv = (rng.standard_normal((5, 6)).astype("float32") for _ in range(2))
    got = prog(cupy, cupy.asarray(xv), cupy.asarray(zv))
    assert isinstance(got, cupy.ndarray)
    np.testing.assert_allclose(cupy.asnumpy(got), chain_ref(xv, zv), rtol=1e-6, atol=1e-6)


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend"):
        config.set_fusion_backend("cuda")


def test_one_element_inputs_are_read_once_in_the_flat_loop(backend):
    with gx.graph() as g:
        w = gx.placeholder((5, 3), "float32", name="w")
        lr = gx.placeholder((), "float32", name="lr")
        s = gx.placeholder((1, 1), "float32", name="s")
        grad = gx.placeholder((5, 3), "float32", name="grad")
        y = w - lr * grad * s
    rng = np.random.default_rng(3)
    feeds = {w: rng.random((5, 3), dtype="float32"), lr: np.float32(0.1),
             s: np.full((1, 1), 2.0, "float32"), grad: rng.random((5, 3), dtype="float32")}
    want = g.run(y, feeds, optimize=0)
    f = g.compile(y, optimize=2)
    assert same_bits(f(feeds), want)
    if backend == "numba":
        keys = list(program_of(f.graph, y.name)._kernels)
        # flat, serial, and the scalar inputs marked (inputs in the program's order)
        assert [k[:2] for k in keys] == [(True, False)] and sum(keys[0][2]) == 2


def test_large_groups_of_mostly_transcendental_ops_run_as_simd_ufuncs():
    pytest.importorskip("numba")
    config.set_fusion_backend("numba")
    try:
        with gx.graph() as g:
            x = gx.placeholder((None,), "float32", name="x")
            y = gx.tanh(x * 0.5) * 2.0 + 1.0  # 1 transcendental, 3 plain members
        f = g.compile(y, optimize=2)
        program = program_of(f.graph, y.name)
        assert program._prefer_ufuncs
        big = np.linspace(-3, 3, fused.SIMD_MIN_SIZE, dtype="float32")
        before = fused.jit_stats()["compiles"] + fused.jit_stats()["memory_hits"]
        # numpy's own ufuncs in place: the unfused graph's bits, and nothing compiled
        assert same_bits(f({x: big}), g.run(y, {x: big}, optimize=0))
        assert fused.jit_stats()["compiles"] + fused.jit_stats()["memory_hits"] == before
        assert not program._kernels
        small = big[:100]
        assert ulps(f({x: small}), g.run(y, {x: small}, optimize=0)).max() <= 4
        assert program._kernels  # the compiled loop
    finally:
        config.set_fusion_backend("auto")


def test_float32_tanh_through_exp_at_its_branch_points():
    pytest.importorskip("numba")
    config.set_fusion_backend("numba")
    try:
        with gx.graph() as g:
            x = gx.placeholder((None,), "float32", name="x")
            y = gx.tanh(x * 2.0) * 0.5 + 1.0  # a fused group with a float32 tanh
        edges = np.array([0.25, 9.1, 8.5, 1e-30, 1e-6, 20.0, 88.0, 1e30], "float32")
        near = np.concatenate([np.nextafter(edges, np.float32(np.inf)),
                               np.nextafter(edges, np.float32(0)), edges])
        xv = np.concatenate([near, -near, np.linspace(-10, 10, 10001, dtype="float32"),
                             np.array([0.0, -0.0, np.inf, -np.inf, np.nan], "float32")])
        assert xv.size < fused.SIMD_MIN_SIZE  # so the numba loop runs
        f = g.compile(y, optimize=2)
        got, want = f({x: xv}), g.run(y, {x: xv}, optimize=0)
        assert ulps(got, want).max() <= TRANSCENDENTAL_ULP["float32"]
        assert program_of(f.graph, y.name)._kernels
        assert same_bits(got[-5:-1], want[-5:-1]) and np.isnan(got[-1])  # ±0 and ±inf exactly
    finally:
        config.set_fusion_backend("auto")
