"""Bugs an independent review of the layered redesign found, each with its regression test."""

import collections
import types
import warnings

import numpy as np
import pytest

import graphexec as gx
from graphexec import tree
from graphexec.ir import ordered_subgraph

from .helpers import fused_runs, in_threads


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
    v = gx.Variable(0.0, dtype="float64", name="v")
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


def test_plans_take_their_source_out_of_linecache_when_they_go():
    # issue 9, item 13: every lowered plan registered its source for tracebacks, for good
    import gc
    import linecache
    import tracemalloc

    def plan_entries():
        return sum(1 for k in linecache.cache if str(k).startswith("<graphexec plan"))

    def compile_graphs(n):
        for i in range(n):
            with gx.graph() as g:
                x = gx.placeholder((2,), "float64", name="x")
                y = x * 2.0 + 1.0  # NOTE: one fused program: its kernel compiles once
            assert g.run(y, {x: np.full(2, float(i))}, optimize=i % 4)[0] == 2.0 * i + 1.0
            del g, x, y

    gc.collect()
    before = plan_entries()
    compile_graphs(100)  # warm: caches of the first graphs fill
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        compile_graphs(500)
        gc.collect()
        compile_graphs(1)  # its lowering takes the gone plans' sources out
        grown = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert plan_entries() - before < 5
    assert grown < 200_000, grown  # 500 plans kept would hold several MiB


def test_a_plan_going_never_changes_linecache_under_a_walk_of_it():
    # a plan's finalizer popped its linecache entry at any garbage collection, also inside
    # linecache.checkcache's walk over its keys, which then raised KeyError (seen in doctests)
    import gc
    import linecache

    with gx.graph() as g:
        x = gx.placeholder((2,), "float64", name="x")
        y = x + 1.0
    plan = g.compile(y, optimize=0).plan
    name = plan._filename
    assert name in linecache.cache
    del plan, g, x, y
    gc.collect()
    assert name in linecache.cache  # still there: nothing changes linecache from a finalizer
    linecache.checkcache()
    with gx.graph() as g2:
        z = gx.placeholder((2,), "float64", name="z")
        w = z * 2.0
    g2.run(w, {z: np.ones(2)})  # the next lowering takes the gone plans' sources out
    assert name not in linecache.cache


def test_feeds_that_are_not_a_mapping_are_a_feed_error():
    # issue 9, item 10
    with gx.graph() as g:
        x = gx.placeholder((3,), "float64", name="x")
        y = x * 2.0
    for bad in (np.ones(3), [np.ones(3)], "x"):
        with pytest.raises(gx.FeedError, match=r"feeds must be a mapping .* got "
                                               + type(bad).__name__):
            g.run(y, bad)
    with pytest.raises(gx.FeedError, match="feeds must be a mapping"):
        g.compile(y)(np.ones(3))


def test_static_float_arguments_are_keyed_by_their_bits():
    # issue 9, item 4: 0.0 and -0.0 shared one trace; NaN retraced on every call
    f = gx.function(lambda x, s: x / s)
    one = np.ones(2)
    with np.errstate(divide="ignore"):
        assert list(f(one, 0.0).numpy()) == [np.inf, np.inf]
        assert list(f(one, -0.0).numpy()) == [-np.inf, -np.inf]
    assert f.trace_count == 2
    g = gx.function(lambda x, s: x * s)
    for _ in range(3):
        assert np.isnan(g(one, float("nan")).numpy()).all()
    assert g.trace_count == 1
    h = gx.function(lambda x, s: x * s)
    for s in (1, 1.0, True):
        h(one, s)
    assert h.trace_count == 3


def test_variables_of_other_threads_do_not_fail_a_retrace():
    # issue 9, item 6: the retrace check counted every thread's new Variables
    import threading

    stop = threading.Event()

    def churn():
        while not stop.is_set():
            gx.Variable(0.0)

    f = gx.function(lambda x: x * 2.0)
    t = threading.Thread(target=churn)
    t.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the retrace warnings, on purpose
            for n in range(1, 31):
                assert f(np.ones(n)).shape == (n,)
    finally:
        stop.set()
        t.join()
    assert f.trace_count == 30


def test_fused_erf_keeps_its_inputs():
    # issue 9, item 2: erf's loop temporaries captured the kernel's input names
    x = np.array([1.0, 2.0, 3.0, 4.0])
    want = gx.nn.erf(gx.constant(x / 2.0)).numpy()
    with gx.graph() as g:
        p = gx.placeholder((4,), "float64", name="p")
        s = gx.placeholder((), "float64", name="s")
        y = gx.nn.erf(p / s)
        z = gx.nn.erf(p) + 1.0
    for _, level in fused_runs():
        got = g.run([y, z], {p: x, s: np.float64(2.0)}, optimize=level)
        np.testing.assert_allclose(got[0], want, rtol=1e-14)
        np.testing.assert_allclose(got[1], gx.nn.erf(gx.constant(x)).numpy() + 1.0, rtol=1e-14)


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8", "uint32", "uint64"])
def test_fused_integer_arithmetic_wraps_as_numpy_does(dtype):
    # issue 9, item 3: int64 overflow in a numba loop is undefined; numpy wraps
    info = np.iinfo(dtype)
    x = np.array([info.max, info.min, info.max // 2 + 1, 3, 0, -1 if info.min else 1], dtype)
    with gx.graph() as g:
        p = gx.placeholder(x.shape, dtype, name="p")
        outs = [gx.sign(p + p) if info.min else p + p, (p * p) != 0, gx.abs(p) + p,
                p - p * p, gx.square(p) + 1, gx.add_n([p, p, p]) * 2]
        if info.min:
            outs.append(-p + p)
    want = g.run(outs, {p: x}, optimize=1)
    for backend, level in fused_runs():
        got = g.run(outs, {p: x}, optimize=level)
        for w, o in zip(want, got, strict=True):
            assert w.dtype == o.dtype and w.tobytes() == o.tobytes(), (backend, level)


@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)])
def test_any_and_all_as_numpy_in_both_modes(axis):
    # issue 9, item 18
    from .helpers import check_op

    for x in (np.array([[True, False, False], [False, False, False]]),
              np.array([[0, 2, 0], [1, 1, 1]], "int32"), np.zeros((0, 3), "float32"),
              np.array([[np.nan, 0.0, -0.0], [1.0, 2.0, 3.0]])):
        check_op(lambda t, a=axis: gx.any(t, axis=a), lambda v, a=axis: np.any(v, axis=a), x)
        check_op(lambda t, a=axis: gx.all(t, axis=a, keepdims=True),
                 lambda v, a=axis: np.all(v, axis=a, keepdims=True), x)


def test_bool_operators_in_both_modes():
    # issue 9, item 18: &, |, ^, ~ are logical on bool tensors (TF's rule)
    from .helpers import check_op

    a = np.array([[True, False], [True, True]])
    b = np.array([False, True])
    check_op(lambda x, y: [x & y, x | y, x ^ y, ~x, y & True, False | x],
             lambda x, y: [x & y, x | y, x ^ y, ~x, y & True, False | x], a, b)
    # on integers they are numpy's bitwise ops (a Python int joins as a weak scalar); on
    # floats an error
    i = np.array([[12, -3], [7, 0]], np.int32)
    check_op(lambda x: [x & x, x | 1, ~x, 2 ^ x, x & 6], lambda x: [x & x, x | 1, ~x, 2 ^ x,
                                                                  x & 6], i)
    for op in (lambda x: x & x, lambda x: x | 1, lambda x: ~x, lambda x: 2 ^ x):
        with pytest.raises(gx.DTypeError, match=r"operator [&|^~]: needs integer or bool "
                                                r"tensors, got float32.* at test_redesign"):
            op(gx.constant([1.0, 2.0]))


def test_fetched_results_never_share_memory_with_feeds():
    # issue 9, item 5: a transpose or a row of a feed was returned as a view of the caller's
    # array, so later writes to that array changed earlier results
    f = gx.function(lambda x: gx.transpose(x))
    buf = np.zeros((2, 2))
    outs = []
    for k in range(3):
        buf[:] = k
        outs.append(f(buf))
    assert [o.numpy()[0, 0] for o in outs] == [0.0, 1.0, 2.0]
    with gx.graph() as g:
        p = gx.placeholder((2, 2), "float64", name="p")
        row, whole, fresh = p[0], p, gx.exp(p)
    for level in (0, 1, 3):
        b = np.ones((2, 2))
        got = g.run([row, whole, fresh], {p: b}, optimize=level)
        b[:] = 7.0
        np.testing.assert_array_equal(got[0], [1.0, 1.0])
        np.testing.assert_array_equal(got[1], np.ones((2, 2)))
        assert not any(np.shares_memory(r, b) for r in got)
    assert "_owned(" in g.compile([row, fresh]).plan.source  # only views are copied
    assert "_owned" not in g.compile(fresh).plan.source


def test_a_variable_is_a_fetch_giving_its_value_after_the_run():
    # issue 9, item 16: TF1's sess.run(w)
    w = gx.Variable([1.0, 2.0], name="w")
    with gx.graph() as g:
        step = w.assign_add([1.0, 1.0])
    np.testing.assert_array_equal(g.run(w), [1.0, 2.0])
    n = len(g)
    out = g.run({"step": step, "w": [w]}, optimize=1)
    np.testing.assert_array_equal(out["w"][0], [2.0, 3.0])
    np.testing.assert_array_equal(g.run(w), [2.0, 3.0])
    assert len(g) == n  # one read node, kept for later fetches


_SECOND_ORDER = {  # f, f', f'' at 1.5
    "cube": (lambda v: v * v * v, 6.75, 9.0),
    "square": (lambda v: v * v, 3.0, 2.0),
    "sin": (gx.sin, np.cos(1.5), -np.sin(1.5)),
    "pow": (lambda v: v ** 3.0, 6.75, 9.0),
    "mixed": (lambda v: gx.exp(v) * v, np.exp(1.5) * 2.5, np.exp(1.5) * 3.5),
}


@pytest.mark.parametrize("mode", ["eager", "graph"])
@pytest.mark.parametrize("name", sorted(_SECOND_ORDER))
def test_nested_tapes_differentiate_through_a_variable(name, mode):
    # each tape snapshotted the Variable on its own, so an outer tape never saw the backward
    # ops an inner tape ran: d2(v*v*v)/dv2 came out 3.0 and d2(v*v)/dv2 None
    f, d1, d2 = _SECOND_ORDER[name]
    v = gx.Variable(1.5, dtype="float64")

    def both():
        with gx.GradientTape() as outer:
            with gx.GradientTape() as inner:
                y = f(v)
            dy = inner.gradient(y, v)
        return dy, outer.gradient(dy, v)

    if mode == "eager":
        dy, ddy = (t.numpy() for t in both())
    else:
        with gx.graph() as g:
            fetches = both()
        dy, ddy = g.run(list(fetches))
    np.testing.assert_allclose([dy, ddy], [d1, d2], rtol=1e-12)


@pytest.mark.parametrize("mode", ["eager", "graph"])
def test_third_order_and_matmul_gradients_through_variables(mode):
    n = 3
    v = gx.Variable(np.arange(9.0).reshape(n, n) / 10, dtype="float64")
    s = gx.Variable(1.5, dtype="float64")

    # d/dv sum(v @ v) = 1 v^T + v^T 1 and the derivative of its sum is 2n everywhere
    def run():
        with gx.GradientTape() as t3:
            with gx.GradientTape(persistent=True) as t2:
                with gx.GradientTape(persistent=True) as t1:
                    y = s * s * s * s
                    z = gx.sum(gx.matmul(v, v))
                dy = t1.gradient(y, s)
                dz = t1.gradient(z, v)
                sdz = gx.sum(dz)
            ddy = t2.gradient(dy, s)
            ddz = t2.gradient(sdz, v)
        return dy, ddy, t3.gradient(ddy, s), dz, ddz

    if mode == "eager":
        out = [t.numpy() for t in run()]
    else:
        with gx.graph() as g:
            fetches = run()
        out = g.run(list(fetches))
    dy, ddy, dddy, dz, ddz = out
    np.testing.assert_allclose([dy, ddy, dddy], [4 * 1.5**3, 12 * 1.5**2, 24 * 1.5], rtol=1e-12)
    vv, one = np.arange(9.0).reshape(n, n) / 10, np.ones((n, n))
    np.testing.assert_allclose(dz, one @ vv.T + vv.T @ one, rtol=1e-12)
    np.testing.assert_allclose(ddz, np.full((n, n), 2.0 * n), rtol=1e-12)


_SHARED_OPERANDS = {
    "cse_lhs_transposed": lambda x: gx.matmul(gx.transpose(gx.tanh(x)), gx.tanh(x)),
    "cse_rhs_transposed": lambda x: gx.matmul(gx.tanh(x), gx.transpose(gx.tanh(x))),
    "simplified_times_one": lambda x: gx.matmul(gx.transpose(x), x * 1.0),
    "dense_epilogue": lambda x: gx.nn.relu(gx.matmul(gx.transpose(x), x * 1.0) + 1.0),
}


@pytest.mark.parametrize("n", [8, 17, 64])
@pytest.mark.parametrize("name", sorted(_SHARED_OPERANDS))
def test_matmul_rounds_the_same_whether_or_not_its_operands_share_memory(name, n):
    # CSE merged the two tanh (or dropped * 1.0), numpy then saw a.T @ a on one buffer and
    # took BLAS syrk, which rounds differently from the gemm eager mode gets
    f = _SHARED_OPERANDS[name]
    x = np.random.default_rng(n).standard_normal((n, n + 5))
    want = f(gx.constant(x)).numpy()
    for backend, level in fused_runs((0, 1, 2, 3)):
        got = gx.function(f, optimize=level)(x).numpy()
        np.testing.assert_array_equal(got, want, err_msg=f"{backend} level {level}")
    a = np.tanh(x)
    np.testing.assert_array_equal(gx.matmul(gx.transpose(a), a).numpy(), a.T @ a.copy())


def _bits_equal(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("exponent", [0.5, 2.0, -1.0])
def test_exact_powers_at_every_level_and_backend(exponent, dtype):
    # numpy sends a one-number 0.5 exponent to sqrt, the fused loop called libm pow:
    # (x ** 0.5) * 1.5 at -inf and -0.0 gave [nan, -0.] at level 1 and [inf, 0.] at level 2
    exact = {0.5: np.sqrt, 2.0: np.square, -1.0: np.reciprocal}[exponent]
    x = np.concatenate([[-np.inf, -0.0, 0.0, np.inf, np.nan, -2.0],
                        np.random.default_rng(0).random(300) * 10]).astype(dtype)
    with np.errstate(all="ignore"):
        want = exact(x) * np.asarray(1.5, dtype)
        f = lambda x: (x ** exponent) * 1.5  # noqa: E731
        assert _bits_equal(f(gx.constant(x)).numpy(), want)
        for backend, level in fused_runs((0, 1, 2, 3)):
            got = gx.function(f, optimize=level)(x).numpy()
            assert _bits_equal(got, want), (backend, level)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pow_of_one_element_arrays_does_not_depend_on_memory_layout(dtype):
    # a one-element x ** [0.5] took numpy's pow loop, the same written in place its sqrt
    # shortcut: the numpy fusion backend (in place at level 3) was 1 ulp off eager mode
    rng = np.random.default_rng(1)
    with gx.graph() as g:
        p = gx.placeholder((1,), dtype, name="p")
        q = gx.placeholder((1,), dtype, name="q")
        y = (p * 1.0 + 0.0) ** q * 1.0
    gx.config.set_fusion_backend("numpy")
    try:
        for _ in range(200):
            x = np.array([rng.random() * 100], dtype)
            for e in (0.5, 2.0, -1.0):
                ex = np.array([e], dtype)
                eager = gx.pow(gx.constant(x), gx.constant(ex)).numpy()
                assert _bits_equal(eager, {0.5: np.sqrt, 2.0: np.square,
                                           -1.0: np.reciprocal}[e](x))
                for level in (0, 1, 2, 3):
                    got = g.run(y, {p: x, q: ex}, optimize=level)
                    assert _bits_equal(got, eager * np.asarray(1.0, dtype)), (e, level)
    finally:
        gx.config.set_fusion_backend("auto")


def test_exact_powers_hold_element_by_element_for_array_exponents():
    x = np.array([-np.inf, -0.0, 4.0, 3.0, -np.inf, 9.0])
    y = np.array([0.5, 0.5, 0.5, 2.0, 3.0, -1.0])
    with np.errstate(all="ignore"):
        want = np.concatenate([np.sqrt(x[:3]), np.square(x[3:4]), np.power(x[4:5], 3.0),
                               np.reciprocal(x[5:])])
        assert _bits_equal(gx.pow(gx.constant(x), gx.constant(y)).numpy(), want)
        with gx.graph() as g:
            a = gx.placeholder((6,), "float64", name="a")
            b = gx.placeholder((6,), "float64", name="b")
            out = gx.pow(a, b) * 1.0
        for backend, level in fused_runs((0, 1, 2, 3)):
            assert _bits_equal(g.run(out, {a: x, b: y}, optimize=level), want), (backend, level)


def test_every_result_is_writeable_and_its_own_at_every_level():
    # a folded constant came back read-only at level 1 (and a fetched constant, view of one or
    # Variable at every level) while level 0 and eager results were writeable
    f = lambda: gx.constant([1.0, 2.0]) * 2.0  # noqa: E731
    assert f().numpy().flags.writeable
    v = gx.Variable([1.0, 2.0], name="v")
    with gx.graph() as g:
        c = gx.constant([1.0, 2.0])
        fetches = [c, c * 2.0, gx.reshape(c, (2, 1)), gx.transpose(c), v, v + 0.0]
    for level in (0, 1, 2, 3):
        out = gx.function(f, optimize=level)().numpy()
        assert out.flags.writeable and out.tolist() == [2.0, 4.0], level
        first = g.run(fetches, optimize=level)
        assert all(a.flags.writeable for a in first), level
        for a in first:
            a[...] = -1.0  # the caller's to change: no later run, constant or Variable sees it
        again = g.run(fetches, optimize=level)
        assert [a.ravel().tolist() for a in again] == [[1.0, 2.0], [2.0, 4.0], [1.0, 2.0],
                                                      [1.0, 2.0], [1.0, 2.0], [1.0, 2.0]]
        assert v.numpy().tolist() == [1.0, 2.0]


_OUT_OF_RANGE = [300, -300, -1, 128, -129, 256, 2**63, -2**63 - 1, 2**64, 2**70, -2**70]
_COMPARISONS = ["lt", "le", "gt", "ge", "eq", "ne"]


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "int64", "uint64"])
def test_comparisons_with_python_ints_beyond_the_dtype_as_numpy(dtype):
    # int8_x < 300 and uint8_x == -2 raised DTypeError; numpy 2 gives every element's answer
    import operator

    info = np.iinfo(dtype)
    data = np.array([info.min, info.min + 1, 0, 5, info.max - 1, info.max], dtype)
    with gx.graph() as g:
        p = gx.placeholder((None,), dtype, name="p")
        fetches, wants = [], []
        for v in _OUT_OF_RANGE:
            for name in _COMPARISONS:
                f = getattr(operator, name)
                for swap in (False, True):
                    wants.append(f(v, data) if swap else f(data, v))
                    fetches.append(f(v, p) if swap else f(p, v))
    c = gx.constant(data)
    eager = [f(v, c) if swap else f(c, v) for v in _OUT_OF_RANGE
             for f in (getattr(operator, name) for name in _COMPARISONS) for swap in (False, True)]
    for got, want in zip(eager, wants, strict=True):
        np.testing.assert_array_equal(got.numpy(), want)
    for level in (0, 1, 2, 3):
        for got, want in zip(g.run(fetches, {p: data}, optimize=level), wants, strict=True):
            assert got.dtype == np.bool_
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int64"])
def test_true_division_by_python_ints_beyond_the_dtype_as_numpy(dtype):
    data = np.array([1, 7, 100], dtype)
    for v in (300, -2, 2**70, -2**70):
        if v < 0 and dtype.startswith("u") and abs(v) < 256:
            continue
        want, rwant = data / v, v / data
        assert gx.divide(gx.constant(data), v).numpy().tobytes() == want.tobytes()
        assert (v / gx.constant(data)).numpy().tobytes() == rwant.tobytes()
        f = gx.function(lambda x, v=v: (x / v, v / x))
        got = f(data)
        assert got[0].numpy().tobytes() == want.tobytes() and got[0].dtype == np.float64
        assert got[1].numpy().tobytes() == rwant.tobytes()


_RUNTIME_SHAPES = {  # a graph over None dims, feeds that do not fit, the eager call that fails
    "matmul": (lambda x, w: gx.matmul(x, w), [(2, 3), (5, 4)]),
    "elementwise": (lambda x, w: gx.exp(x) * w, [(3,), (4,)]),
    "dense_epilogue": (lambda x, w: gx.nn.relu(gx.matmul(x, w) + 1.0), [(2, 3), (5, 4)]),
    "bias_add": (lambda x, w: gx.nn.relu(gx.matmul(x, x) + w), [(2, 2), (3,)]),
    "reduction": (lambda x, w: gx.max(x, axis=0) + w, [(0, 3), (3,)]),
    "concat": (lambda x, w: gx.concat([x, w], axis=0), [(2, 3), (2, 4)]),
    "stack": (lambda x, w: gx.stack([x, w]), [(2, 3), (2, 4)]),
    "where": (lambda x, w: gx.where(x > 0, x, w), [(3,), (4,)]),
    "reshape": (lambda x, w: gx.reshape(x, (4, -1)) + w, [(2, 3), (1,)]),
    "broadcast_to": (lambda x, w: gx.broadcast_to(x, (2, 4)) + w, [(3,), (1,)]),
    "solve": (lambda x, w: gx.linalg.solve(x, w), [(3, 3), (4, 1)]),
}


@pytest.mark.parametrize("name", sorted(_RUNTIME_SHAPES))
def test_run_time_shape_errors_read_like_build_time_errors(name):
    # with None dims, a bad feed reaching matmul printed numpy's gufunc message
    f, shapes = _RUNTIME_SHAPES[name]
    feeds = [np.ones(s, "float32") for s in shapes]
    with pytest.raises(gx.ShapeError) as eager:
        f(*[gx.constant(a) for a in feeds])
    want = str(eager.value).split(" — at ")[0]
    with gx.graph() as g:
        ps = [gx.placeholder((None,) * len(s), "float32", name=f"p{i}")
              for i, s in enumerate(shapes)]
        y = f(*ps)
    line = f.__code__.co_firstlineno  # the user's line: where the failing op was built
    for backend, level in fused_runs((0, 1, 2, 3)):
        with pytest.raises(gx.ShapeError) as info:
            g.run(y, dict(zip(ps, feeds, strict=True)), optimize=level)
        err = info.value
        assert isinstance(err, gx.ExecutionError), (backend, level)
        text = str(err)
        assert text.split(" — at ")[0] == want, (backend, level, text)
        assert f"test_redesign_regressions.py:{line} (while running node " in text


def test_run_time_shape_errors_pickle_and_plans_lower_from_many_threads():
    import pickle

    with gx.graph() as g:
        x = gx.placeholder((None, 3), "float32", name="x")
        w = gx.placeholder((None, 4), "float32", name="w")
        y = gx.matmul(x, w)
    with pytest.raises(gx.ShapeError) as info:
        g.run(y, {x: np.ones((2, 3), "float32"), w: np.ones((5, 4), "float32")})
    back = pickle.loads(pickle.dumps(info.value))
    assert isinstance(back, gx.ShapeError) and isinstance(back, gx.ExecutionError)
    assert str(back) == str(info.value)

    def lower_many():
        for i in range(40):
            with gx.graph() as gi:
                p = gx.placeholder((2,), "float64", name="p")
                q = p * 2.0 + 1.0
            assert gi.run(q, {p: np.full(2, float(i))}).tolist() == [2.0 * i + 1.0] * 2

    errors = in_threads(lower_many, 4)
    assert not errors, errors


def test_conv_kernels_round_the_same_whether_or_not_operands_share_memory():
    from graphexec.ops.nn import conv2d_backprop_filter_p

    x = np.random.default_rng(0).standard_normal((2, 5, 5, 13))
    f = gx.constant(np.zeros((1, 1, 13, 13)))
    at = dict(strides=(1, 1), dilations=(1, 1))
    with gx.eager():
        want = gx.apply(conv2d_backprop_filter_p, gx.exp(gx.constant(x)),
                        gx.exp(gx.constant(x)), f, **at).numpy()
    with gx.graph() as g:
        p = gx.placeholder(x.shape, "float64")
        y = gx.apply(conv2d_backprop_filter_p, gx.exp(p), gx.exp(p), f, **at)  # CSE: one
    for level in (0, 1, 2, 3):
        np.testing.assert_array_equal(g.run(y, {p: x}, optimize=level), want)
