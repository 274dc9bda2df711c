"""GradientTape and gx.gradients semantics (the per-op rules are checked numerically in
test_gradients.py)."""

import numpy as np
import pytest

import graphexec as gx
from graphexec.context import _TAPES


def test_tape_basic_and_structure():
    x = gx.constant(np.array([1.0, 2.0]))
    y = gx.constant(3.0)
    with gx.GradientTape() as tape:
        tape.watch([x, y])
        z = gx.sum(x * x) * y
    gx_, gy = tape.gradient(z, [x, y])
    np.testing.assert_array_equal(gx_.numpy(), [6.0, 12.0])
    assert gy.numpy() == 5.0


def test_tensor_used_twice_accumulates():
    x = gx.constant(2.0)
    with gx.GradientTape() as tape:
        tape.watch(x)
        y = x * x + x  # x feeds three slots
    assert tape.gradient(y, x).numpy() == 5.0


def test_unwatched_and_unconnected():
    x, w = gx.constant(2.0), gx.constant(3.0)
    with gx.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * w
    assert tape.gradient(y, w) is None  # never watched
    u = gx.constant(1.0)
    assert tape.gradient(y, u) is None
    assert tape.gradient(y, u, unconnected_gradients="zero").numpy() == 0.0
    with pytest.raises(gx.InvalidArgumentError, match="unconnected_gradients"):
        tape.gradient(y, u, unconnected_gradients="bogus")


def test_variables_are_watched_automatically():
    v = gx.Variable(np.array([1.0, -2.0]))
    frozen = gx.Variable(np.array([3.0, 4.0]), trainable=False)
    with gx.GradientTape() as tape:
        y = gx.sum(v * v * frozen)
    gv, gf = tape.gradient(y, [v, frozen])
    np.testing.assert_array_equal(gv.numpy(), [6.0, -16.0])
    assert gf is None
    with gx.GradientTape(watch_accessed_variables=False) as tape:
        y = gx.sum(v * v)
    assert tape.gradient(y, v) is None


def test_non_persistent_tape_is_single_use():
    x = gx.constant(1.0)
    with gx.GradientTape() as tape:
        tape.watch(x)
        y = x * 2.0
    tape.gradient(y, x)
    with pytest.raises(gx.GraphError, match="only once"):
        tape.gradient(y, x)


def test_persistent_tape_many_gradients():
    x = gx.constant(3.0)
    with gx.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        z = y * y
    assert tape.gradient(y, x).numpy() == 6.0
    assert tape.gradient(z, x).numpy() == 108.0


def test_nested_tapes_give_second_derivatives():
    x = gx.constant(3.0)
    with gx.GradientTape() as outer:
        outer.watch(x)
        with gx.GradientTape() as inner:
            inner.watch(x)
            y = x * x * x
        dy = inner.gradient(y, x)  # 3 x^2, recorded by the outer tape
    assert dy.numpy() == 27.0
    assert outer.gradient(dy, x).numpy() == 18.0  # 6 x


def test_output_gradients_and_multiple_targets():
    x = gx.constant(np.array([1.0, 2.0]))
    with gx.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * 3.0
        z = gx.sum(x)
    np.testing.assert_array_equal(tape.gradient(y, x, output_gradients=[2.0, 0.5]).numpy(),
                                  [6.0, 1.5])
    np.testing.assert_array_equal(tape.gradient([y, z], x).numpy(), [4.0, 4.0])


def test_stop_gradient():
    x = gx.constant(2.0)
    with gx.GradientTape() as tape:
        tape.watch(x)
        y = x * gx.stop_gradient(x * 10.0)
    assert tape.gradient(y, x).numpy() == 20.0


def test_nothing_is_recorded_without_a_tape():
    assert _TAPES.get() == ()
    x = gx.constant(1.0)
    with gx.GradientTape() as tape:
        tape.watch(x)
        assert _TAPES.get() == (tape,)
    assert _TAPES.get() == ()
    before = len(tape._entries)
    x * 2.0  # after the block: not recorded
    assert len(tape._entries) == before


def test_non_differentiable_ops_cut_the_path():
    x = gx.constant(np.array([0.5, 1.7]))
    with gx.GradientTape() as tape:
        tape.watch(x)
        y = gx.sum(gx.round(x) * x)  # round has no gradient: only the second factor counts
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [0.0, 2.0])


def test_integer_sources_get_no_gradient():
    x = gx.constant(np.array([1, 2]))
    with gx.GradientTape() as tape:
        tape.watch(x)
        y = gx.sum(gx.cast(x, "float64") * 2.0)
    assert tape.gradient(y, x) is None


def test_graph_gradients_match_eager_and_broadcast():
    a = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    b = np.array([0.5, -1.0, 2.0])

    def f(x, y):
        return gx.sum((x * y - y) / (y + 3.0))

    tx, ty = gx.constant(a), gx.constant(b)
    with gx.GradientTape() as tape:
        tape.watch([tx, ty])
        out = f(tx, ty)
    eager = [t.numpy() for t in tape.gradient(out, [tx, ty])]
    with gx.graph() as g:
        x = gx.placeholder((None, 3), "float64")
        y = gx.placeholder((3,), "float64")
        grads = gx.gradients(f(x, y), [x, y])
    g.validate()
    graph = g.run(grads, {x: a, y: b})
    for e, gr in zip(eager, graph, strict=True):
        np.testing.assert_allclose(gr, e, rtol=1e-14)
    assert graph[1].shape == (3,)


def test_tape_api_inside_a_graph():
    w = gx.Variable(np.array([1.0, 2.0]))
    with gx.graph() as g:
        x = gx.placeholder((2,), "float64")
        with gx.GradientTape() as tape:
            tape.watch(x)
            loss = gx.sum(w * x)
        gw, gx_ = tape.gradient(loss, [w, x])
    out = g.run([gw, gx_], {x: np.array([3.0, 4.0])})
    np.testing.assert_array_equal(out[0], [3.0, 4.0])
    np.testing.assert_array_equal(out[1], [1.0, 2.0])


def test_graph_gradient_of_a_variable_read_twice():
    v = gx.Variable(3.0)
    with gx.graph() as g:
        y = v * v + v  # three reads of v
        (gv,) = gx.gradients(y, [v])
    assert g.run(gv) == 7.0


def test_gradients_outside_a_graph_is_clear():
    with pytest.raises(gx.GraphError, match="inside a graph block"):
        gx.gradients(gx.constant(1.0), [gx.constant(1.0)])


def test_reads_run_before_assignments_of_the_same_variable():
    v = gx.Variable(np.ones(2))
    with gx.graph() as g:
        read = v.value() * 1.0
        update = v.assign(gx.constant(np.full(2, 5.0)))
    # whatever the fetch order, the read sees the value from before this run's update
    out_update, out_read = g.run([update, read])
    np.testing.assert_array_equal(out_read, [1.0, 1.0])
    np.testing.assert_array_equal(v.numpy(), [5.0, 5.0])
    np.testing.assert_array_equal(g.run([read, update])[0], [5.0, 5.0])


def test_sgd_step_by_hand_in_both_modes():
    w0 = np.array([1.0, -1.0])
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    w = gx.Variable(w0)
    with gx.GradientTape() as tape:
        loss = gx.mean((gx.constant(x) @ w) ** 2)
    (gw,) = tape.gradient(loss, [w])
    w.assign_sub(0.1 * gw)
    eager_w = w.numpy()
    w2 = gx.Variable(w0)
    with gx.graph() as g:
        xs = gx.placeholder((None, 2), "float64")
        loss = gx.mean((xs @ w2) ** 2)
        (gw2,) = gx.gradients(loss, [w2])
        step = w2.assign_sub(0.1 * gw2)
    g.run(step, {xs: x})
    np.testing.assert_allclose(w2.numpy(), eager_w, rtol=1e-14)
    expected = w0 - 0.1 * (2 * x.T @ (x @ w0)) / 2
    np.testing.assert_allclose(eager_w, expected, rtol=1e-14)


def test_variable_ops_keep_program_order_in_a_run():
    v = gx.Variable(0.0)
    with gx.graph() as g:
        before = v.value() * 1.0
        first = v.assign_add(1.0)
        second = v.assign_add(1.0)
        after = v.value() * 1.0
    out = g.run([after, second, first, before])
    assert v.numpy() == 2.0  # both updates, in turn
    assert out[3] == 0.0 and out[0] == 2.0


def _numeric_grad(f, a, eps=1e-6):
    grad = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        plus, minus = a.copy(), a.copy()
        plus[idx] += eps
        minus[idx] -= eps
        grad[idx] = (f(plus) - f(minus)) / (2 * eps)
    return grad


@pytest.mark.parametrize(("padding", "mode"), [("valid", "constant"), ("same", "constant"),
                                               ("same", "reflect"), ("same", "symmetric")])
@pytest.mark.parametrize("strides", [1, 2])
def test_conv2d_layer_gradients_every_padding_mode(padding, mode, strides):
    rng = np.random.default_rng(0)
    x0 = rng.normal(size=(2, 5, 6, 2))
    layer = gx.layers.Conv2D(3, 3, strides=strides, padding=padding, padding_mode=mode,
                             seed=0, dtype="float64")
    w = rng.normal(size=layer(gx.constant(x0)).shape)

    def objective(a):
        return float(np.sum(layer(gx.constant(a)).numpy() * w))

    x = gx.constant(x0)
    with gx.GradientTape() as tape:
        tape.watch(x)
        y = gx.sum(layer(x) * w)
    gx_, gk = tape.gradient(y, [x, layer.kernel])
    np.testing.assert_allclose(gx_.numpy(), _numeric_grad(objective, x0), rtol=1e-6, atol=1e-8)
    with gx.graph() as g:
        xs = gx.placeholder((None, 5, 6, 2), "float64")
        grads = gx.gradients(gx.sum(layer(xs) * w), [xs, layer.kernel])
    graph = g.run(grads, {xs: x0})
    np.testing.assert_allclose(graph[0], gx_.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(graph[1], gk.numpy(), rtol=1e-12, atol=1e-14)


def test_tape_records_the_value_a_variable_had():
    w = gx.Variable(np.array([1.0, 2.0]))
    with gx.GradientTape(persistent=True) as tape:
        loss = gx.sum(w * w * w)
    np.testing.assert_array_equal(tape.gradient(loss, w).numpy(), [3.0, 12.0])
    w.assign(np.array([10.0, 10.0]))
    np.testing.assert_array_equal(tape.gradient(loss, w).numpy(), [3.0, 12.0])


def _assign_between(mode):
    w = gx.Variable(2.0)
    if mode == "eager":
        with gx.GradientTape() as tape:
            y = w * w
            w.assign(5.0)
            z = y + w * w
        return float(tape.gradient(z, w))
    with gx.graph() as g:
        with gx.GradientTape() as tape:
            y = w * w
            step = w.assign(gx.constant(5.0))
            z = y + w * w
        grad = tape.gradient(z, w)
    return float(g.run([grad, step])[0])


def test_assignment_inside_a_tape_same_in_both_modes():
    assert _assign_between("eager") == _assign_between("graph") == 14.0


@pytest.mark.parametrize("case", ["unwatched", "no_auto", "frozen", "before_block"])
def test_graph_tape_follows_the_eager_watch_rules(case):
    def body(x, v, frozen):
        if case == "before_block":
            pre = x * x
        with gx.GradientTape(watch_accessed_variables=case != "no_auto") as tape:
            if case == "before_block":
                tape.watch(x)
                return tape.gradient(gx.sum(pre * 2.0), x)
            if case == "unwatched":
                return tape.gradient(gx.sum(x * x), x)
            var = frozen if case == "frozen" else v
            return tape.gradient(gx.sum(var * var), var)

    a = np.array([1.0, 2.0])
    v, frozen = gx.Variable(a), gx.Variable(a, trainable=False)
    assert body(gx.constant(a), v, frozen) is None
    with gx.graph():
        assert body(gx.placeholder((2,), "float64"), v, frozen) is None


def test_persistent_tape_records_gradients_taken_inside_it_in_both_modes():
    def second(x):
        with gx.GradientTape(persistent=True) as tape:
            tape.watch(x)
            y = x * x
            d = tape.gradient(y, x)
            z = d * x
        return tape.gradient(z, x)

    assert float(second(gx.constant(2.0))) == 8.0
    with gx.graph() as g:
        x = gx.placeholder((), "float64")
        out = second(x)
    assert float(g.run(out, {x: 2.0})) == 8.0


def test_non_persistent_tape_single_use_in_a_graph_too():
    with gx.graph():
        x = gx.placeholder((), "float64")
        with gx.GradientTape() as tape:
            tape.watch(x)
            y = x * x
        tape.gradient(y, x)
        with pytest.raises(gx.GraphError, match="only once"):
            tape.gradient(y, x)


def test_output_gradients_shape_is_checked():
    x = gx.constant(np.array([1.0, 2.0]))
    with gx.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
    with pytest.raises(gx.ShapeError, match="output_gradients"):
        tape.gradient(y, x, output_gradients=np.ones(3))
    with pytest.raises(gx.ShapeError, match="output_gradients"):
        tape.gradient(y, x, output_gradients=np.array(3.0))
