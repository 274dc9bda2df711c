"""Optimizers: each update against a numpy transcription of the Keras formula, eagerly and as a
graph built once and run step after step; slots, None gradients, errors, and end-to-end fits."""

import networkx as nx
import numpy as np
import pytest

import graphexec as gx
from graphexec import optimizers

from .helpers import TOL, assert_close

STEPS = 6
SHAPES = [(3,), (2, 2)]


# ---------------------------------------------------------------------------------------------
# numpy references: the Keras update rules, written over arrays of the variable's dtype

class RefSGD:
    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False):
        self.lr, self.momentum, self.nesterov = learning_rate, momentum, nesterov

    def slots(self, w):
        return {"momentum": np.zeros_like(w)} if self.momentum else {}

    def step(self, w, g, s, t):
        if not self.momentum:
            return w - g * self.lr
        s["momentum"] = s["momentum"] * self.momentum - g * self.lr
        if self.nesterov:
            return w + (s["momentum"] * self.momentum - g * self.lr)
        return w + s["momentum"]


class RefAdam:
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=0.0):
        self.lr, self.b1, self.b2, self.eps = learning_rate, beta_1, beta_2, epsilon
        self.wd = weight_decay

    def slots(self, w):
        return {"momentum": np.zeros_like(w), "velocity": np.zeros_like(w)}

    def step(self, w, g, s, t):
        dt = w.dtype.type
        if self.wd:
            w = w - w * self.wd * self.lr
        alpha = self.lr * np.sqrt(1 - dt(self.b2) ** dt(t)) / (1 - dt(self.b1) ** dt(t))
        s["momentum"] = s["momentum"] + (g - s["momentum"]) * (1 - self.b1)
        s["velocity"] = s["velocity"] + (g * g - s["velocity"]) * (1 - self.b2)
        return w - s["momentum"] * alpha / (np.sqrt(s["velocity"]) + self.eps)


class RefRMSprop:
    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7):
        self.lr, self.rho, self.momentum, self.eps = learning_rate, rho, momentum, epsilon

    def slots(self, w):
        out = {"velocity": np.zeros_like(w)}
        if self.momentum:
            out["momentum"] = np.zeros_like(w)
        return out

    def step(self, w, g, s, t):
        s["velocity"] = self.rho * s["velocity"] + (1 - self.rho) * g * g
        increment = self.lr * g / np.sqrt(s["velocity"] + self.eps)
        if not self.momentum:
            return w - increment
        s["momentum"] = self.momentum * s["momentum"] + increment
        return w - s["momentum"]


def _adamw_ref(learning_rate=0.001, weight_decay=0.004, **kw):
    return RefAdam(learning_rate, weight_decay=weight_decay, **kw)


CONFIGS = {
    "sgd": (optimizers.SGD, RefSGD, dict(learning_rate=0.1)),
    "sgd-default": (optimizers.SGD, RefSGD, {}),
    "sgd-momentum": (optimizers.SGD, RefSGD, dict(learning_rate=0.1, momentum=0.9)),
    "sgd-nesterov": (optimizers.SGD, RefSGD,
                     dict(learning_rate=0.1, momentum=0.7, nesterov=True)),
    "adam": (optimizers.Adam, RefAdam, dict(learning_rate=0.05)),
    "adam-default": (optimizers.Adam, RefAdam, {}),
    "adam-betas": (optimizers.Adam, RefAdam,
                   dict(learning_rate=0.1, beta_1=0.5, beta_2=0.8, epsilon=1e-3)),
    "adamw": (optimizers.AdamW, _adamw_ref, dict(learning_rate=0.05, weight_decay=0.2)),
    "adamw-default": (optimizers.AdamW, _adamw_ref, {}),
    "rmsprop": (optimizers.RMSprop, RefRMSprop, dict(learning_rate=0.01)),
    "rmsprop-momentum": (optimizers.RMSprop, RefRMSprop,
                         dict(learning_rate=0.01, rho=0.7, momentum=0.5, epsilon=1e-4)),
}
DTYPES = ["float64", "float32"]


def _data(dtype, seed=0):
    """Initial values and STEPS gradients for each of SHAPES."""
    rng = np.random.default_rng(seed)
    inits = [rng.normal(size=s).astype(dtype) for s in SHAPES]
    grads = [[rng.normal(size=s).astype(dtype) for s in SHAPES] for _ in range(STEPS)]
    return inits, grads


def _reference(ref, inits, grads):
    """Per step: the variables and, per variable, its slots (copies)."""
    ws = [w.copy() for w in inits]
    slots = [ref.slots(w) for w in ws]
    history = []
    for t, gs in enumerate(grads, start=1):
        ws = [ref.step(w, g, s, t) for w, g, s in zip(ws, gs, slots)]
        history.append(([w.copy() for w in ws], [dict(s) for s in slots]))
    return history


def _variables(inits):
    return [gx.Variable(w, name=f"w{i}") for i, w in enumerate(inits)]


def _state(opt, ws):
    return ([w.numpy() for w in ws],
            [{n: opt.get_slot(w, n).numpy() for n in opt.slot_names} for w in ws])


def _run_eager(opt, ws, grads):
    history = []
    for gs in grads:
        assert opt.apply([gx.constant(g) for g in gs], ws) is None
        history.append(_state(opt, ws))
    return history


def _run_graph(opt, ws, grads):
    with gx.graph() as g:
        phs = [gx.placeholder(w.shape, w.dtype, name=f"g{i}") for i, w in enumerate(ws)]
        step = opt.apply(phs, ws)
    g.validate()
    assert isinstance(step, gx.Tensor) and step.graph is g
    assert g.nx.nodes[step._node]["op"].name == "no_op"
    history = []
    for gs in grads:
        g.run(step, dict(zip(phs, gs)))
        history.append(_state(opt, ws))
    return history


def _assert_state(actual, expected, **tol):
    (aw, aslots), (ew, eslots) = actual, expected
    for a, e in zip(aw, ew, strict=True):
        assert_close(a, e, **tol)
    for a, e in zip(aslots, eslots, strict=True):
        assert a.keys() == e.keys()
        for name in e:
            assert_close(a[name], e[name], **tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", list(CONFIGS))
def test_matches_reference_eager_and_graph(config, dtype):
    cls, ref_cls, kwargs = CONFIGS[config]
    inits, grads = _data(dtype)
    expected = _reference(ref_cls(**kwargs), inits, grads)

    eager_opt, eager_ws = cls(**kwargs), _variables(inits)
    eager = _run_eager(eager_opt, eager_ws, grads)
    graph_opt, graph_ws = cls(**kwargs), _variables(inits)
    graph = _run_graph(graph_opt, graph_ws, grads)

    for e, g, x in zip(eager, graph, expected, strict=True):
        _assert_state(e, x)
        # the same kernels run in both modes
        _assert_state(g, e, rtol=1e-12, atol=1e-12 if dtype == "float64" else 0)
    for opt, ws in ((eager_opt, eager_ws), (graph_opt, graph_ws)):
        assert opt.iterations.numpy() == STEPS
        assert all(w.dtype == np.dtype(dtype) for w in ws)
        assert all(v.dtype == np.dtype(dtype) for v in opt.variables[1:])


def test_reference_is_not_trivial():
    """The configurations really differ: each moves the variables its own way."""
    inits, grads = _data("float64")
    finals = {name: _reference(ref(**kw), inits, grads)[-1][0][0]
              for name, (_, ref, kw) in CONFIGS.items()}
    values = list(finals.values())
    for i in range(len(values)):
        for j in range(i + 1, len(values)):
            assert not np.allclose(values[i], values[j], rtol=1e-6, atol=1e-9)


def test_first_adam_step_is_about_the_learning_rate():
    w = gx.Variable([1.0, -1.0, 0.0], name="w")
    optimizers.Adam(learning_rate=0.01).apply([gx.constant([100.0, -0.001, 0.0])], [w])
    assert_close(w.numpy(), np.array([0.99, -0.99, 0.0], "float32"), rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# modes and the returned updates

def test_eager_apply_returns_none_and_graph_apply_changes_nothing_until_run():
    w = gx.Variable([1.0, 2.0], name="w")
    opt = optimizers.SGD(0.5, momentum=0.5)
    with gx.graph() as g:
        step = opt.apply([gx.constant([1.0, 1.0])], [w])
    counter, update = g.nx.nodes[step._node]["control"]  # the step counter's, the variable's
    assert g.nx.nodes[counter]["attrs"]["var"] is opt.iterations
    assert g.nx.nodes[update]["attrs"]["var"] is w
    assert all(g.nx.nodes[n]["op"].name == "assign" for n in (counter, update))
    np.testing.assert_array_equal(w.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(opt.get_slot(w, "momentum").numpy(), [0.0, 0.0])
    assert opt.iterations.numpy() == 0
    out = g.run(step)
    assert out.shape == (0,)
    np.testing.assert_array_equal(w.numpy(), [0.5, 1.5])
    g.run(step)
    np.testing.assert_array_equal(w.numpy(), [-0.25, 0.75])  # m = -0.75
    assert opt.iterations.numpy() == 2


@pytest.mark.parametrize("config", list(CONFIGS))
def test_the_step_op_runs_every_update_its_slots_and_the_step_counter(config):
    cls, _, kwargs = CONFIGS[config]
    inits, grads = _data("float64")
    opt, ws = cls(**kwargs), _variables(inits)
    with gx.graph() as g:
        step = opt.apply([gx.constant(x) for x in grads[0]], ws)
    counter, *updates = g.nx.nodes[step._node]["control"]
    assert g.nx.nodes[counter]["attrs"]["var"] is opt.iterations
    assert [id(g.nx.nodes[u]["attrs"]["var"]) for u in updates] == [id(w) for w in ws]
    assigns = {n for n, d in g.nx.nodes(data=True) if d["op"].name == "assign"}
    written = {}
    for n in assigns:
        written.setdefault(g.nx.nodes[n]["attrs"]["var"].name, []).append(n)
    assert all(len(nodes) == 1 for nodes in written.values())  # each state is written once
    assert len(assigns) == 1 + len(ws) * (1 + len(opt.slot_names))
    for w, update in zip(ws, updates, strict=True):
        ancestors = nx.ancestors(g.nx, update)
        owned = [opt.get_slot(w, n).name for n in opt.slot_names]
        assert {written[name][0] for name in owned} <= ancestors
    g.run(step)  # one whole step: every variable, every slot, the counter once
    assert opt.iterations.numpy() == 1
    for w, init in zip(ws, inits, strict=True):
        assert not np.array_equal(w.numpy(), init)
        for n in opt.slot_names:
            assert np.any(opt.get_slot(w, n).numpy() != 0)


def test_eager_and_graph_steps_share_slots_and_counter():
    w = gx.Variable([1.0, 2.0], dtype="float64", name="w")
    opt = optimizers.Adam(0.1)
    opt.apply([gx.constant(np.array([1.0, -1.0]))], [w])
    with gx.graph() as g:
        updates = opt.apply([gx.constant(np.array([1.0, -1.0]))], [w])
    g.run(updates)
    opt.apply([gx.constant(np.array([1.0, -1.0]))], [w])
    assert opt.iterations.numpy() == 3
    ref = RefAdam(0.1)
    wr, s = np.array([1.0, 2.0]), ref.slots(np.zeros(2))
    for t in (1, 2, 3):
        wr = ref.step(wr, np.array([1.0, -1.0]), s, t)
    assert_close(w.numpy(), wr)


def test_apply_gradients_takes_pairs():
    inits, grads = _data("float64")
    a, b = _variables(inits), _variables(inits)
    opt_a, opt_b = optimizers.RMSprop(0.01, momentum=0.5), optimizers.RMSprop(0.01, momentum=0.5)
    for gs in grads:
        opt_a.apply(gs, a)
        assert opt_b.apply_gradients(zip(gs, b)) is None
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    with gx.graph() as g:
        step = opt_b.apply_gradients([(gx.constant(grads[0][0]), b[0])])
    counter, update = g.nx.nodes[step._node]["control"]
    assert g.nx.nodes[update]["attrs"]["var"] is b[0]


def test_gradients_are_taken_as_arrays_and_cast_to_the_variable_dtype():
    w = gx.Variable(np.array([1.0, 2.0], "float32"), name="w")
    opt = optimizers.Adam(0.1)
    opt.apply([np.array([1.0, -1.0])], [w])  # float64 data, as Keras casts it
    opt.apply([[1.0, -1.0]], [w])
    with gx.graph() as g:
        grad = gx.placeholder((2,), "float64", name="grad")
        updates = opt.apply([grad], [w])
    g.run(updates, {grad: [1.0, -1.0]})
    assert w.dtype == np.float32
    assert_close(w.numpy(), np.array([0.7, 2.3], "float32"), rtol=1e-5)


def test_float32_graph_has_no_float64_node():
    w = gx.Variable(np.ones((2, 3), "float32"), name="w")
    for opt in (optimizers.SGD(0.1, momentum=0.9, nesterov=True), optimizers.Adam(),
                optimizers.AdamW(), optimizers.RMSprop(momentum=0.5)):
        with gx.graph() as g:
            grad = gx.placeholder((2, 3), "float32", name="grad")
            opt.apply([grad], [w])
        dtypes = {str(s.dtype) for _, d in g.nx.nodes(data=True) for s in d["specs"]}
        assert "float64" not in dtypes, (opt, dtypes)


def test_learning_rate_variable_is_read_when_the_graph_runs():
    lr = gx.Variable(0.5, name="lr", trainable=False)
    w = gx.Variable(np.array([1.0, 2.0], "float32"), name="w")
    opt = optimizers.SGD(learning_rate=lr)
    with gx.graph() as g:
        updates = opt.apply([gx.constant(np.ones(2, "float32"))], [w])
    g.run(updates)
    lr.assign(0.25)
    g.run(updates)
    np.testing.assert_array_equal(w.numpy(), np.array([0.25, 1.25], "float32"))
    opt.learning_rate = 0.125
    opt.apply([np.ones(2, "float32")], [w])
    np.testing.assert_array_equal(w.numpy(), np.array([0.125, 1.125], "float32"))


# ---------------------------------------------------------------------------------------------
# None gradients and slots

@pytest.mark.parametrize("mode", ["eager", "graph"])
def test_none_gradient_skips_its_variable(mode):
    a = gx.Variable([1.0, 2.0], name="a")
    b = gx.Variable([3.0, 4.0], name="b")
    opt = optimizers.Adam(0.1)
    if mode == "eager":
        opt.apply([None, gx.constant([1.0, 1.0])], [a, b])
        opt.apply([None, gx.constant([1.0, 1.0])], [a, b])
    else:
        with gx.graph() as g:
            step = opt.apply([None, gx.constant([1.0, 1.0])], [a, b])
        counter, update = g.nx.nodes[step._node]["control"]  # b's alone
        assert g.nx.nodes[update]["attrs"]["var"] is b
        g.run(step)
        g.run(step)
    np.testing.assert_array_equal(a.numpy(), [1.0, 2.0])
    assert_close(b.numpy(), np.array([2.8, 3.8], "float32"), rtol=1e-6)
    assert opt.iterations.numpy() == 2
    with pytest.raises(gx.InvalidArgumentError, match="never updated"):
        opt.get_slot(a, "momentum")
    assert len(opt.variables) == 3


def test_all_gradients_none_is_an_error():
    w = gx.Variable([1.0], name="w")
    with pytest.raises(gx.InvalidArgumentError, match="no gradient for any"):
        optimizers.SGD().apply([None], [w])
    with pytest.raises(gx.InvalidArgumentError, match="no gradient for any"):
        optimizers.SGD().apply([], [])


@pytest.mark.parametrize("mode", ["eager", "graph"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_slots_are_non_trainable_variables_of_the_variable_dtype(mode, dtype):
    expected_slots = {
        optimizers.SGD(): [],
        optimizers.SGD(momentum=0.9): ["momentum"],
        optimizers.Adam(): ["momentum", "velocity"],
        optimizers.AdamW(): ["momentum", "velocity"],
        optimizers.RMSprop(): ["velocity"],
        optimizers.RMSprop(momentum=0.1): ["velocity", "momentum"],
    }
    for opt, names in expected_slots.items():
        ws = [gx.Variable(np.ones(s, dtype), name=f"layer/w{i}") for i, s in enumerate(SHAPES)]
        grads = [np.ones(s, dtype) for s in SHAPES]
        if mode == "eager":
            opt.apply(grads, ws)
        else:
            with gx.graph():
                opt.apply(grads, ws)
        assert opt.slot_names == names
        it = opt.iterations
        assert isinstance(it, gx.Variable) and not it.trainable and it.dtype == np.int64
        assert it.name == f"{opt.name}/iteration"
        assert opt.variables[0] is it
        assert len(opt.variables) == 1 + len(names) * len(ws)
        for w in ws:
            for n in names:
                slot = opt.get_slot(w, n)
                assert isinstance(slot, gx.Variable) and slot.graph is None
                assert not slot.trainable
                assert slot.dtype == np.dtype(dtype) and slot.shape == w.shape
                assert slot.name == f"{opt.name}/{w.name.replace('/', '_')}_{n}"
                if mode == "graph":  # created eagerly by the build, still zero
                    np.testing.assert_array_equal(slot.numpy(), np.zeros(w.shape, dtype))


def test_build_creates_slots_and_apply_reuses_them():
    w = gx.Variable([1.0, 2.0], name="w")
    opt = optimizers.Adam()
    opt.build([w])
    slots = opt.variables
    assert [v.name for v in slots] == ["adam/iteration", "adam/w_momentum", "adam/w_velocity"]
    opt.apply([gx.constant([1.0, 1.0])], [w])
    with gx.graph():
        opt.apply([gx.constant([1.0, 1.0])], [w])
    assert all(a is b for a, b in zip(opt.variables, slots, strict=True))
    with pytest.raises(gx.InvalidArgumentError, match="no slot 'm'"):
        opt.get_slot(w, "m")


def test_tape_ignores_slots():
    w = gx.Variable([1.0, 2.0], name="w")
    opt = optimizers.Adam(0.1)
    opt.apply([gx.constant([1.0, 1.0])], [w])
    with gx.GradientTape() as tape:
        loss = gx.sum(w * opt.get_slot(w, "momentum"))
    grad_w, grad_m = tape.gradient(loss, [w, opt.get_slot(w, "momentum")])
    assert grad_w is not None and grad_m is None  # the slot is not trainable, not watched


# ---------------------------------------------------------------------------------------------
# errors

def test_argument_errors():
    w = gx.Variable([1.0, 2.0], name="w")
    opt = optimizers.SGD()
    with pytest.raises(gx.InvalidArgumentError, match="1 gradients for 2 variables"):
        opt.apply([gx.constant([1.0, 1.0])], [w, w])
    with pytest.raises(gx.InvalidArgumentError, match="listed twice"):
        opt.apply([gx.constant([1.0, 1.0])] * 2, [w, w])
    with pytest.raises(gx.InvalidArgumentError, match=r"only update gx\.Variable"):
        opt.apply([gx.constant([1.0, 1.0])], [gx.constant([1.0, 2.0])])
    with pytest.raises(gx.DTypeError, match="only floating"):
        opt.apply([gx.constant([1, 1])], [gx.Variable([1, 2], name="i")])
    with pytest.raises(gx.ShapeError,
                       match=r"shape \(3,\) differs from the shape \(2,\) of variable 'w'"):
        opt.apply([gx.constant([1.0, 1.0, 1.0])], [w])
    with pytest.raises(gx.ShapeError, match=r"gradient shape \(\) differs"):
        opt.apply([1.0], [w])
    with gx.graph():
        x = gx.placeholder((2,), "float64", name="x")
    with pytest.raises(gx.GraphError, match="runs eagerly"):
        opt.apply([x], [w])
    with gx.graph(), pytest.raises(gx.GraphError, match="is being built"):
        opt.apply([x], [w])
    assert opt.iterations.numpy() == 0  # nothing ran
    np.testing.assert_array_equal(w.numpy(), [1.0, 2.0])


@pytest.mark.parametrize("make, match", [
    (lambda: optimizers.SGD(learning_rate=-0.1), "learning_rate must be >= 0"),
    (lambda: optimizers.SGD(learning_rate="0.1"), "must be a real number"),
    (lambda: optimizers.SGD(learning_rate=gx.constant([0.1, 0.2])), "0-d float tensor"),
    (lambda: optimizers.SGD(momentum=1.5), r"momentum must be in \[0, 1\]"),
    (lambda: optimizers.Adam(beta_1=1.0), r"beta_1 must be in \[0, 1\)"),
    (lambda: optimizers.Adam(beta_2=float("nan")), "beta_2 must be"),
    (lambda: optimizers.AdamW(weight_decay=-1.0), "weight_decay must be >= 0"),
    (lambda: optimizers.RMSprop(rho=1.0), r"rho must be in \[0, 1\)"),
    (lambda: optimizers.RMSprop(epsilon=True), "must be a real number"),
])
def test_hyperparameter_errors(make, match):
    with pytest.raises(gx.InvalidArgumentError, match=match):
        make()


def test_config_and_repr():
    opt = optimizers.AdamW(learning_rate=np.float32(0.5), weight_decay=0.1)
    assert type(opt.learning_rate) is float
    assert opt.get_config() == {"name": "adamw", "learning_rate": 0.5, "weight_decay": 0.1,
                                "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}
    assert repr(optimizers.SGD(0.1, momentum=0.9, nesterov=True)) == \
        "SGD(learning_rate=0.1, momentum=0.9, nesterov=True)"
    assert repr(optimizers.RMSprop()) == \
        "RMSprop(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-07)"


# ---------------------------------------------------------------------------------------------
# end to end: fit a quadratic

TARGET = np.array([1.0, -2.0, 0.5, 3.0])


def test_adam_fits_a_quadratic_eagerly():
    w = gx.Variable(np.zeros(4), name="w")
    opt = optimizers.Adam(learning_rate=0.1)
    for _ in range(200):
        with gx.GradientTape() as tape:
            loss = gx.sum((w - TARGET) ** 2)
        opt.apply(tape.gradient(loss, [w]), [w])
    np.testing.assert_allclose(w.numpy(), TARGET, atol=1e-3)
    assert float(loss) < 1e-5


def test_adam_fits_a_quadratic_in_a_graph():
    w = gx.Variable(np.zeros(4), name="w")
    opt = optimizers.Adam(learning_rate=0.1)
    with gx.graph() as g:
        target = gx.placeholder((4,), "float64", name="target")
        loss = gx.sum((w - target) ** 2)
        updates = opt.apply(gx.gradients(loss, [w]), [w])
    for _ in range(200):
        g.run(updates, {target: TARGET})
    np.testing.assert_allclose(w.numpy(), TARGET, atol=1e-3)
    assert g.run(loss, {target: TARGET}) < 1e-5
    assert opt.iterations.numpy() == 200


def test_eager_and_graph_training_agree():
    """The same 50 steps of a small least-squares fit, eagerly and as a graph (float64)."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 1))
    w0 = rng.normal(size=(3, 1))
    results = []
    for mode in ("eager", "graph"):
        w, b = gx.Variable(w0, name="w"), gx.Variable(np.zeros(1), name="b")
        opt = optimizers.AdamW(learning_rate=0.05, weight_decay=0.01)
        if mode == "eager":
            for _ in range(50):
                with gx.GradientTape() as tape:
                    loss = gx.mean((gx.constant(x) @ w + b - y) ** 2)
                opt.apply(tape.gradient(loss, [w, b]), [w, b])
        else:
            with gx.graph() as g:
                xs = gx.placeholder((None, 3), "float64", name="x")
                loss = gx.mean((xs @ w + b - y) ** 2)
                updates = opt.apply(gx.gradients(loss, [w, b]), [w, b])
            for _ in range(50):
                g.run(updates, {xs: x})
        results.append((w.numpy(), b.numpy()))
    (we, be), (wg, bg) = results
    np.testing.assert_allclose(wg, we, **TOL[np.dtype("float64")])
    np.testing.assert_allclose(bg, be, **TOL[np.dtype("float64")])
