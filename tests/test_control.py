"""Control flow in both modes: gx.cond eagerly (Python's if) and in graphs (one node with both
branches as subgraphs, only the taken one running), at every optimization level, with
gradients against central differences."""

from __future__ import annotations

import numpy as np
import pytest

import graphexec as gx

LEVELS = [0, 1, 2, 3]


def _modes(fn, *args):
    """``fn(*args)`` eagerly and as a gx.function at every level: the results, as numpy."""
    out = {"eager": fn(*[gx.constant(a) for a in args])}
    for level in LEVELS:
        out[level] = gx.function(fn, optimize=level)(*args)
    return {k: [t.numpy() for t in (v if isinstance(v, tuple | list) else (v,))]
            for k, v in out.items()}


def _same(results, rtol=0.0):
    ref = results["eager"]
    for k, got in results.items():
        for a, b in zip(got, ref, strict=True):
            if rtol:
                np.testing.assert_allclose(a, b, rtol=rtol, err_msg=str(k))
            else:
                np.testing.assert_array_equal(a, b, err_msg=str(k))


def piecewise(x):
    return gx.cond(gx.sum(x) > 0.0, lambda v: gx.nn.relu(v * 2.0 - 1.0) + 0.5,
                   lambda v: gx.exp(v) * -3.0, x)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_cond_matches_eager_at_every_level(sign):
    x = sign * np.array([[0.5, 1.5, -0.25], [2.0, 0.0, 1.0]])
    r = _modes(piecewise, x)
    _same(r, rtol=1e-15)
    want = np.maximum(x * 2.0 - 1.0, 0) + 0.5 if x.sum() > 0 else np.exp(x) * -3.0
    np.testing.assert_allclose(r["eager"][0], want, rtol=1e-15)


def test_only_the_taken_branch_runs():
    calls = []

    def loud(v):
        calls.append("false")
        return gx.gather(v, gx.constant([5]))  # out of range: fails whenever it runs

    def f(x):
        return gx.cond(gx.sum(x) > 0.0, lambda v: v * 2.0, loud, x)

    assert f(gx.constant([1.0, 2.0])).numpy().tolist() == [2.0, 4.0] and calls == []
    g = gx.function(f)
    assert g(np.array([1.0, 2.0])).numpy().tolist() == [2.0, 4.0]  # traced, never run
    with pytest.raises(gx.ExecutionError, match=r"out of range .* at test_control.py:\d+"):
        g(np.array([-1.0, -2.0]))  # names the user's line inside the branch


def test_captured_tensors_and_variables_are_inputs_of_the_node():
    w = gx.Variable(np.array([1.0, -2.0, 3.0]), name="w_cap")
    b = gx.constant(np.array([0.5, 0.5, 0.5]))

    def f(x, scale):
        return gx.cond(scale > 1.0, lambda: x * w * scale + b, lambda: x - w, )

    args = (np.array([1.0, 1.0, 1.0]), np.float64(2.0))
    _same(_modes(f, *args))
    g = gx.function(f)
    w.assign([0.0, 0.0, 1.0])  # read when the graph runs, not when traced
    np.testing.assert_array_equal(g(*args).numpy(), [0.5, 0.5, 2.5])
    with gx.graph() as graph:
        x = gx.placeholder((3,), "float64", name="x")
        f(x, gx.constant(2.0, "float64"))
    node = next(d for _, d in graph.nx.nodes(data=True) if d["op"].name == "cond")
    # the predicate, then what the branches capture, once each (one read of w for both)
    assert [src for src, _ in node["inputs"]][1:] == ["x", "w_cap", "constant"]


def test_nested_conds_and_structured_outputs():
    def f(x):
        def outer_true(v):
            return gx.cond(v[0] > 0.0, lambda: {"a": v * 2.0, "b": (v, v[0])},
                           lambda: {"a": -v, "b": (v * 0.0, v[1])})

        return gx.cond(gx.sum(x) > 0.0, outer_true,
                       lambda v: {"a": v, "b": (v + 1.0, v[1] * 3.0)}, x)

    for x in ([1.0, 2.0], [-1.0, 5.0], [-3.0, -1.0]):
        r = _modes(lambda t: tuple(gx.tree.leaves(f(t))) if hasattr(gx, "tree") else f(t),
                   np.array(x))
        _same(r)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_gradients_through_cond_in_both_modes(sign):
    x0 = sign * np.array([0.3, 1.2, -0.7])
    w = gx.Variable(np.array([0.5, -1.5, 2.0]), name="w_grad")

    def loss(x):
        with gx.GradientTape() as tape:
            tape.watch(x)
            y = gx.cond(gx.sum(x) > 0.0, lambda v: gx.sum(gx.tanh(v * w) * v),
                        lambda v: gx.sum(gx.exp(v) * w * w), x)
        gx_, gw = tape.gradient(y, [x, w])
        return y, gx_, gw

    r = _modes(loss, x0)
    _same(r, rtol=1e-12)

    def value(x, wv):
        return (np.sum(np.tanh(x * wv) * x) if x.sum() > 0 else np.sum(np.exp(x) * wv * wv))

    eps = 1e-6
    wv = w.numpy()
    num_x = [(value(x0 + eps * e, wv) - value(x0 - eps * e, wv)) / (2 * eps) for e in np.eye(3)]
    num_w = [(value(x0, wv + eps * e) - value(x0, wv - eps * e)) / (2 * eps) for e in np.eye(3)]
    np.testing.assert_allclose(r[3][1], num_x, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(r[3][2], num_w, rtol=1e-6, atol=1e-8)


def test_second_order_gradient_through_cond_in_a_graph():
    def f(x):
        with gx.GradientTape() as outer:
            outer.watch(x)
            with gx.GradientTape() as inner:
                inner.watch(x)
                y = gx.cond(x > 0.0, lambda: x * x * x, lambda: -x * x)
            dy = inner.gradient(y, x)
        return dy, outer.gradient(dy, x)

    for v in (2.0, -2.0):
        r = _modes(f, np.float64(v))
        _same(r)
        assert r[1][1] == (6 * v if v > 0 else -2.0)


def test_branches_must_agree():
    x = np.ones(3)

    def tup(v):
        return gx.cond(gx.sum(v) > 0, lambda: (v, v), lambda: v)

    with pytest.raises(gx.GraphError, match=r"true branch returns \(\*, \*\), the false "
                                            r"branch \*"):
        gx.function(tup)(x)
    with pytest.raises(gx.DTypeError, match=r"true branch gives f64\[3\], the false branch "
                                            r"i64\[3\]"):
        gx.function(lambda v: gx.cond(gx.sum(v) > 0, lambda: v,
                                      lambda: gx.cast(v, "int64")))(x)
    with pytest.raises(gx.ShapeError, match="same dtype and rank"):
        gx.function(lambda v: gx.cond(gx.sum(v) > 0, lambda: v, lambda: v[None]))(x)
    with pytest.raises(gx.DTypeError, match="predicate must be a scalar bool, got f64"):
        gx.function(lambda v: gx.cond(gx.sum(v), lambda: v, lambda: v))(x)
    v = gx.Variable(1.0, name="v_state")
    with pytest.raises(gx.GraphError, match=r"assign at .* changes state"):
        gx.function(lambda t: gx.cond(gx.sum(t) > 0, lambda: v.assign(2.0),
                                      lambda: gx.constant(0.0)))(x)


def test_a_dim_the_branches_disagree_on_is_unknown():
    with gx.graph() as g:
        x = gx.placeholder((4,), "float64", name="x")
        y = gx.cond(gx.sum(x) > 0, lambda: x, lambda: x[:2])
    assert y.shape == (None,)
    assert g.run(y, {x: np.ones(4)}).shape == (4,)
    assert g.run(y, {x: -np.ones(4)}).shape == (2,)


def test_a_constant_predicate_folds_the_cond_away():
    def f(x):
        return gx.cond(True, lambda v: v * 2.0, lambda v: -v, x) + 1.0

    fn = gx.function(f, optimize=1)
    assert fn(np.array([1.0, 2.0])).numpy().tolist() == [3.0, 5.0]
    compiled = fn.get_compiled(np.array([1.0, 2.0]))
    ops = {d["op"].name for _, d in compiled.graph.nx.nodes(data=True)}
    assert "cond" not in ops and "multiply" in ops
    assert any("true branch inlined" in a for a in compiled.report.actions())
    with gx.graph() as g:  # fetched by name, the folded node still gives its value
        x = gx.placeholder((2,), "float64", name="x")
        y = gx.cond(False, lambda: x * 2.0, lambda: -x)
    assert g.run(y.name, {x: [1.0, 2.0]}, optimize=1).tolist() == [-1.0, -2.0]


def test_the_branches_are_optimized_at_the_graph_level():
    fn = gx.function(piecewise, optimize=3)
    x = np.ones((2, 3))
    fn(x)
    compiled = fn.get_compiled(x)
    (node,) = [d for _, d in compiled.graph.nx.nodes(data=True) if d["op"].name == "cond"]
    assert node["attrs"]["level"] == 3
    true_branch = node["attrs"]["branches"][0]
    (inner,) = true_branch.graph._compiled.values()
    assert {d["op"].name for _, d in inner.graph.nx.nodes(data=True)} == {
        "placeholder", "fused_elementwise"}


def test_the_text_form_shows_the_branches():
    with gx.graph() as g:
        x = gx.placeholder((3,), "float32", name="x")
        gx.cond(gx.sum(x) > 0, lambda v: v * 2.0, lambda v: -v, x)
    text = str(g)
    assert "cond: f32[3] = cond(greater, x)" in text
    assert "true_branch" in text and "false_branch" in text
    assert "      negative: f32[3] = negative(arg0)" in text


def test_eager_cond_is_pythons_if():
    x = gx.constant([1.0, 2.0])
    with gx.GradientTape() as tape:
        tape.watch(x)
        y = gx.cond(gx.sum(x) > 0, lambda: gx.sum(x * x), lambda: gx.sum(x))
    assert y.numpy() == 5.0 and tape.gradient(y, x).numpy().tolist() == [2.0, 4.0]
    with pytest.raises(gx.DTypeError, match="scalar bool"):
        gx.cond(gx.constant([True, False]), lambda: x, lambda: x)


# -- scan and while_loop ---------------------------------------------------------------------------
def rnn(xs, h0, w, u):
    """An RNN over time: h = tanh(x_t w + h u), every h kept."""
    return gx.scan(lambda h, x: (gx.tanh(x @ w + h @ u),) * 2, h0, xs)


def _rnn_data():
    rng = np.random.default_rng(0)
    return (rng.normal(size=(5, 2, 3)), rng.normal(size=(2, 4)), rng.normal(size=(3, 4)) * 0.5,
            rng.normal(size=(4, 4)) * 0.5)


def test_scan_matches_eager_and_numpy_at_every_level():
    xs, h0, w, u = _rnn_data()
    r = _modes(lambda *a: rnn(*a), xs, h0, w, u)
    _same(r, rtol=1e-14)
    h, want = h0, []
    for x in xs:
        h = np.tanh(x @ w + h @ u)
        want.append(h)
    np.testing.assert_allclose(r["eager"][0], h, rtol=1e-14)
    np.testing.assert_allclose(r[3][1], np.stack(want), rtol=1e-14)


def test_scan_gradients_match_central_differences():
    xs, h0, w, u = _rnn_data()

    def loss(xs, h0, w, u):
        with gx.GradientTape() as tape:
            tape.watch([xs, h0, w, u])
            h, hs = rnn(xs, h0, w, u)
            y = gx.sum(h * h) + gx.sum(hs * 0.5)
        return (y, *tape.gradient(y, [xs, h0, w, u]))

    r = _modes(loss, xs, h0, w, u)
    _same(r, rtol=1e-12)

    def value(xs, h0, w, u):
        h, tot = h0, 0.0
        for x in xs:
            h = np.tanh(x @ w + h @ u)
            tot += 0.5 * h.sum()
        return (h * h).sum() + tot

    eps = 1e-6
    for k, a in enumerate((xs, h0, w, u)):
        num = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            hi, lo = [b.copy() for b in (xs, h0, w, u)], [b.copy() for b in (xs, h0, w, u)]
            hi[k][idx] += eps
            lo[k][idx] -= eps
            num[idx] = (value(*hi) - value(*lo)) / (2 * eps)
        np.testing.assert_allclose(r[1][1 + k], num, rtol=1e-6, atol=1e-8)


def test_scan_in_reverse_with_a_length_and_no_xs():
    def f(x):
        back = gx.scan(lambda c, v: (c * 2.0 + v, c), gx.constant(1.0, "float64"), x,
                       reverse=True)
        count = gx.scan(lambda c, _: (c + 1, None), gx.constant(0, "int64"), length=4)
        return back[0], back[1], count[0]

    r = _modes(f, np.array([1.0, 2.0, 3.0]))
    _same(r)
    assert r[2][0] == ((1.0 * 2 + 3) * 2 + 2) * 2 + 1 and r[2][1].tolist() == [12.0, 5.0, 1.0]
    assert r["eager"][2] == 4 and r[0][2] == 4


def test_scan_over_nothing_and_structured_carries():
    def f(x):
        (a, b), ys = gx.scan(lambda c, v: ((c[0] + v, c[1] * 2.0), {"s": v * c[1]}),
                             (gx.constant(0.0, "float64"), gx.constant(1.0, "float64")), x)
        return a, b, ys["s"]

    for x in (np.array([1.0, 2.0]), np.zeros(0)):
        r = _modes(f, x)
        _same(r)
    assert r[1][2].shape == (0,) and r["eager"][2].shape == (0,)


def test_while_loop_matches_eager_at_every_level():
    def collatz(n):
        return gx.while_loop(lambda n, k: n > 1,
                             lambda n, k: (gx.where(n % 2 == 0, n // 2, 3 * n + 1), k + 1),
                             (n, gx.constant(0, "int64")))

    r = _modes(collatz, np.int64(27))
    _same(r)
    assert r[1][1] == 111  # 27 takes 111 steps to reach 1
    capped = gx.function(lambda n: gx.while_loop(
        lambda n, k: n > 1, lambda n, k: (n - 1, k + 1), (n, gx.constant(0, "int64")),
        maximum_iterations=3))
    assert [t.numpy() for t in capped(np.int64(10))] == [7, 3]


def test_while_loop_gradients_in_both_modes():
    def f(x0, w):
        with gx.GradientTape() as tape:
            tape.watch([x0, w])
            (x,) = gx.while_loop(lambda x: gx.sum(x) < 20.0, lambda x: (x * w + gx.sin(x),),
                                 (x0,))
            y = gx.sum(x * x)
        return (y, *tape.gradient(y, [x0, w]))

    x0, w = np.array([0.5, 0.65]), np.array([1.5, 1.6])
    r = _modes(f, x0, w)
    _same(r, rtol=1e-12)

    def value(x, w):
        while x.sum() < 20.0:
            x = x * w + np.sin(x)
        return (x * x).sum()

    eps = 1e-6
    for k in range(2):
        num = [(value(*[b + eps * e if j == k else b for j, b in enumerate((x0, w))])
                - value(*[b - eps * e if j == k else b for j, b in enumerate((x0, w))]))
               / (2 * eps) for e in np.eye(2)]
        np.testing.assert_allclose(r[2][1 + k], num, rtol=1e-6)


def test_loop_variables_must_keep_their_structure_dtype_and_shape():
    x = np.ones(3)
    with pytest.raises(gx.ShapeError, match=r"loop variable 0 is f64\[3\].*body gives f32"):
        gx.function(lambda v: gx.while_loop(lambda v: gx.sum(v) < 9, lambda v: gx.cast(
            v, "float32"), (v,)))(x)
    with pytest.raises(gx.ShapeError, match="declare unknown dims with shape_invariants"):
        gx.function(lambda v: gx.while_loop(lambda v: gx.sum(v) < 9, lambda v: gx.concat(
            [v, v], 0), (v,)))(x)
    with pytest.raises(gx.GraphError, match=r"loop variables are \[\*\], and the body returns "
                                            r"\(\*, \*\)"):
        gx.function(lambda v: gx.while_loop(lambda v: gx.sum(v) < 9, lambda v: (v, v),
                                            [v]))(x)
    with pytest.raises(gx.ShapeError, match=r"scan: carry 0 is f64\[3\], and the body gives "
                                            r"f64\[6\]"):
        gx.function(lambda v: gx.scan(lambda c, t: (gx.concat([c, c], 0), t), v, v[None]))(x)

    def grow(v):  # declared: the dim may change
        return gx.while_loop(lambda v: gx.shape(v)[0] < 12, lambda v: gx.concat([v, v], 0), (v,),
                             shape_invariants=((None,),))

    r = _modes(grow, x)
    _same(r)
    assert r[1][0].shape == (12,)


def test_a_loop_inside_a_cond_inside_a_scan():
    def f(xs):
        def step(c, x):
            y = gx.cond(x > 0.0, lambda: gx.while_loop(lambda t: t < 10.0, lambda t: (t * 2.0,),
                                                       (c + x,))[0],
                        lambda: c - x)
            return y, y

        return gx.scan(step, gx.constant(1.0, "float64"), xs)

    r = _modes(f, np.array([1.0, -3.0, 0.5, 2.0]))
    _same(r)


def test_python_control_flow_on_a_graph_tensor_says_the_ways_out():
    @gx.function
    def relu_ish(x):
        if gx.sum(x) > 0:  # the line the error names
            return x
        return -x

    with pytest.raises(gx.ConcretizationError) as e:
        relu_ish(np.ones(3))
    text = str(e.value)
    assert text.startswith("relu_ish: Python's if, while, and, or or bool() on symbolic tensor "
                           "'greater' (bool[]) — at test_control.py:")
    assert "tracing relu_ish builds one graph for every value" in text
    for way in ("gx.cond(pred, true_fn, false_fn", "gx.where(pred, x, y)",
                "gx.config.run_functions_eagerly(True): run relu_ish eagerly"):
        assert way in text
    assert isinstance(e.value, TypeError) and isinstance(e.value, gx.GraphError)
    for convert, what in ((float, "float()"), (int, "int()"),
                          (lambda t: range(t), "an index, a size or range() of")):
        with pytest.raises(gx.ConcretizationError, match=what.replace("(", r"\(").replace(
                ")", r"\)")):
            gx.function(lambda x, c=convert: c(gx.sum(x)))(np.ones(2))
    gx.config.run_functions_eagerly(True)
    try:
        assert np.asarray(relu_ish(np.ones(3))).tolist() == [1.0, 1.0, 1.0]  # way out three
    finally:
        gx.config.run_functions_eagerly(False)
    # inside a branch, the error still names the function being traced
    def outer(x):
        return gx.cond(gx.sum(x) > 0, lambda: x if gx.sum(x) > 1 else -x, lambda: x)

    with pytest.raises(gx.ConcretizationError, match=r"^outer: "):
        gx.function(outer)(np.ones(2))
    # and gx.shape gives a dim only a run knows
    f = gx.function(lambda x: gx.shape(x)[0] * 3,
                    input_signature=[gx.TensorSpec((None,), "float64")])
    assert f(np.ones(5)).numpy() == 15


# -- what a review of the first version found ----------------------------------------------------
def test_a_captured_tensor_named_like_a_body_parameter_gets_its_own_gradient():
    def f(arg2, x0):  # the gradient's scan body has placeholders arg0, arg1, arg2, ...
        with gx.GradientTape() as tape:
            tape.watch([arg2, x0])
            (v,) = gx.while_loop(lambda v: gx.sum(v) < 5.0, lambda v: (v * arg2,), (x0,))
            y = gx.sum(v)
        return tape.gradient(y, [arg2, x0])

    r = _modes(f, np.array([1.5, 2.0]), np.array([1.0, 1.0]))
    _same(r, rtol=1e-12)
    np.testing.assert_allclose(r[1][0], [3.0, 4.0])


def test_a_loop_that_returns_a_captured_tensor_as_it_is():
    def fw(x, w):
        with gx.GradientTape() as tape:
            tape.watch([x, w])
            a, b = gx.while_loop(lambda a, b: gx.sum(a) < 5.0, lambda a, b: (a + w, w), (x, x))
            y = gx.sum(a) + gx.sum(b * b)
        return (y, *tape.gradient(y, [x, w]))

    def fs(c0, w):
        with gx.GradientTape() as tape:
            tape.watch([c0, w])
            c, ys = gx.scan(lambda c, _: (c * w, w), c0, length=3)
            y = gx.sum(c) + gx.sum(ys * ys)
        return (y, *tape.gradient(y, [c0, w]))

    _same(_modes(fw, np.array([1.0, 2.0]), np.array([0.5, 0.5])), rtol=1e-12)
    _same(_modes(fs, np.array([1.0, 2.0]), np.array([0.5, 1.5])), rtol=1e-12)


def test_second_order_gradients_through_loops():
    def scan2(x):
        with gx.GradientTape() as outer:
            outer.watch(x)
            with gx.GradientTape() as inner:
                inner.watch(x)
                c, _ = gx.scan(lambda c, _: (c * x + gx.sin(c), None),
                               gx.constant(np.float64(0.5)), length=3)
            g = inner.gradient(c, x)
        return outer.gradient(g, x)

    def while2(x):
        with gx.GradientTape() as outer:
            outer.watch(x)
            with gx.GradientTape() as inner:
                inner.watch(x)
                (c,) = gx.while_loop(lambda c: c < 3.0, lambda c: (c * x + 1.0,), (x,))
            g = inner.gradient(c, x)
        return outer.gradient(g, x)

    r = _modes(scan2, np.float64(0.8))
    _same(r, rtol=1e-12)
    np.testing.assert_allclose(r["eager"][0], 1.3781356482268081, rtol=1e-12)
    r = _modes(while2, np.float64(1.2))
    _same(r, rtol=1e-12)
    np.testing.assert_allclose(r[0][0], 7.2, rtol=1e-12)  # c = x^3 + x + 1: d2c = 6x


def test_a_float32_weight_in_a_float64_loop_gets_a_float32_gradient():
    w = gx.Variable(np.array([1.5, 2.0], "float32"), name="w32")

    def f(x0):
        with gx.GradientTape() as tape:
            c, _ = gx.scan(lambda c, _: (c * w, None), x0, length=2)
            y = gx.sum(c)
        return tape.gradient(y, w)

    got = gx.function(f)(np.array([1.0, 2.5]))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.numpy(), [3.0, 10.0])


def test_gradients_after_optimizing_a_graph_with_a_folded_cond_in_place():
    with gx.graph() as g:
        x = gx.placeholder((2,), "float64", name="x")
        y = gx.cond(True, lambda: x * 3.0, lambda: x)
    gx.optimize(g, 1, keep=[y])
    with gx.graph(g):
        (dx,) = gx.gradients(gx.sum(y), [x])
    assert dx is not None and g.run(dx, {x: [1.0, 2.0]}).tolist() == [3.0, 3.0]


def test_a_loop_a_folded_cond_brings_in_runs_at_the_graphs_level():
    fn = gx.function(lambda x: gx.cond(True, lambda: gx.scan(lambda c, r: (c + r, None), x[0],
                                                             x)[0], lambda: x[0]), optimize=3)
    assert fn(np.ones((3, 2))).numpy().tolist() == [4.0, 4.0]  # x[0] and three rows
    compiled = fn.get_compiled(np.ones((3, 2)))
    (node,) = [d for _, d in compiled.graph.nx.nodes(data=True) if d["op"].name == "scan"]
    assert node["attrs"]["level"] == 3


def test_dce_removes_outputs_nobody_reads():
    def f(x):
        a, _ = gx.cond(gx.sum(x) > 0, lambda: (x * 2.0, gx.exp(x)), lambda: (-x, gx.sin(x)))
        c, _ = gx.scan(lambda c, r: (c + r, gx.exp(r)), x[0], x)
        return a + c

    _same(_modes(f, np.ones((2, 3))))
    fn = gx.function(f, optimize=1)
    fn(np.ones((2, 3)))
    compiled = fn.get_compiled(np.ones((2, 3)))
    assert compiled.report.actions("dead_code_elimination") == [
        "pruned 1 unused output(s) of cond (cond)", "pruned 1 unused output(s) of scan (scan)"]
    nodes = dict(compiled.graph.nx.nodes(data=True))
    assert len(nodes["cond"]["specs"]) == 1 and len(nodes["scan"]["specs"]) == 1
    assert [len(b.outputs) for b in nodes["cond"]["attrs"]["branches"]] == [1, 1]
    (plan,) = nodes["cond"]["attrs"]["branches"][0].graph._compiled.values()  # ran: no exp
    assert "exp" not in {d["op"].name for _, d in plan.graph.nx.nodes(data=True)}


def test_eager_operands_of_control_flow_in_a_graph_give_specs():
    # found through ONNX import: eager tensors given to gx.scan or gx.cond while a graph is
    # built reached the node's specs as arrays (infer rules see eager operands' values), and
    # the optimizer then failed on them
    start = gx.constant(np.zeros(3, "float32"))  # eager, made outside the graph
    rows = gx.constant(np.ones((4, 3), "float32"))
    with gx.graph() as g:
        x = gx.placeholder((3,), "float32", name="x")
        carry, ys = gx.scan(lambda c, r: (c + r * x, c * r), start, rows)
        picked = gx.cond(gx.sum(x) > 0, lambda: start, lambda: x)
    assert all(isinstance(s, gx.Spec) for _, d in g.nx.nodes(data=True) for s in d["specs"])
    for level in range(4):
        got = g.run([carry, ys, picked], {x: np.full(3, 2.0, "float32")}, optimize=level)
        np.testing.assert_array_equal(got[0], np.full(3, 8.0, "float32"))
        np.testing.assert_array_equal(got[1][-1], np.full(3, 6.0, "float32"))
        np.testing.assert_array_equal(got[2], np.zeros(3, "float32"))
