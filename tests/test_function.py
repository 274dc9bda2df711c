"""gx.function: traced once per input signature, cached, and equal to running eagerly."""

import collections
import functools
import warnings

import numpy as np
import pytest

import graphexec as gx
from graphexec import config
from graphexec.function import Function, TensorSpec, function

from .helpers import rand


@pytest.fixture(autouse=True)
def _tracing_on():
    config.run_functions_eagerly(False)
    yield
    config.run_functions_eagerly(False)


def counted(fn, **kw):
    """``function(fn)`` plus a list that gets one entry per trace (a Python side effect)."""
    traces = []

    @functools.wraps(fn)  # the signature of ``fn``: its parameter names show in the graph
    def body(*args, **kwargs):
        traces.append(1)
        return fn(*args, **kwargs)

    return function(body, **kw), traces


def same(traced, eager):
    """Traced and eager results: same structure, bit-identical values (same kernels)."""
    if isinstance(eager, dict):
        assert type(traced) is type(eager) and list(traced) == list(eager)
        for k in eager:
            same(traced[k], eager[k])
    elif isinstance(eager, list | tuple):
        assert type(traced) is type(eager) and len(traced) == len(eager)
        for t, e in zip(traced, eager, strict=True):
            same(t, e)
    elif eager is None:
        assert traced is None
    else:
        assert isinstance(traced, gx.Tensor) and traced.graph is None
        np.testing.assert_array_equal(traced.numpy(), eager.numpy(), strict=True)


# -- results equal eager ------------------------------------------------------------------------
def elementwise(x, y):
    return gx.exp(-x * x) + gx.sin(y) / 2.0 - gx.sqrt(gx.abs(x) + 1.0)


def matmul_chain(a, b):
    return gx.nn.relu(a @ b) @ gx.transpose(b)


def reductions(x):
    return {"sum": gx.sum(x, axis=0), "mean": gx.mean(x), "lse": gx.logsumexp(x, axis=1)}


def split_concat(x):
    parts = gx.split(x, 2, axis=1)
    return (parts[1], [gx.concat([parts[1], parts[0]], axis=1), x[::2]])


@pytest.mark.parametrize("fn, shapes, dtype", [
    (elementwise, [(4, 5), (4, 5)], "float64"),
    (elementwise, [(3,), (2, 3)], "float32"),
    (matmul_chain, [(3, 4), (4, 6)], "float32"),
    (reductions, [(5, 3)], "float64"),
    (split_concat, [(4, 6)], "float32"),
])
def test_matches_eager(fn, shapes, dtype):
    arrays = [rand(*s, dtype=dtype, seed=i) for i, s in enumerate(shapes)]
    f = function(fn)
    eager = fn(*[gx.constant(a) for a in arrays])
    same(f(*arrays), eager)
    same(f(*[gx.constant(a) for a in arrays]), eager)  # tensors and arrays: one signature
    assert f.trace_count == 1


def test_layers_match_eager():
    model = gx.layers.Sequential([
        gx.layers.Conv2D(4, 3, padding="same", padding_mode="reflect", activation="relu",
                         seed=0),
        gx.layers.MaxPool2D(2),
        gx.layers.Flatten(),
        gx.layers.Dense(5, activation="tanh", seed=1),
        gx.layers.Dense(3, seed=2),
    ])
    x = rand(2, 8, 8, 3, dtype="float32")
    eager = model(x)  # builds the weights eagerly
    f = function(lambda x: gx.nn.softmax(model(x)))
    same(f(x), gx.nn.softmax(eager))
    g = f.get_graph(x)
    ops = {d["op"].name for _, d in g.nx.nodes(data=True)}
    assert {"conv2d", "matmul", "read_variable"} <= ops


def test_losses_match_eager():
    logits, labels = rand(6, 4, dtype="float32"), np.array([0, 3, 1, 2, 2, 0])
    onehot = np.eye(4, dtype="float32")[labels]

    def losses(logits, labels, onehot):
        return (gx.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True),
                gx.losses.categorical_crossentropy(onehot, gx.nn.softmax(logits)),
                gx.losses.mean_squared_error(onehot, logits))

    f = function(losses)
    same(f(logits, labels, onehot),
         losses(gx.constant(logits), gx.constant(labels), gx.constant(onehot)))


def test_layer_built_inside_first_trace():
    dense = gx.layers.Dense(3, seed=0)
    f = function(lambda x: dense(x))
    x = rand(2, 4, dtype="float32")
    y = f(x)  # the layer creates its weights during the first trace: allowed
    assert dense.built and len(dense.variables) == 2
    same(y, dense(x))
    same(f(rand(5, 4, dtype="float32")), dense(rand(5, 4, dtype="float32")))
    assert f.trace_count == 2  # a retrace that creates no variables is fine


def test_return_structures_and_python_values():
    Pair = collections.namedtuple("Pair", "a b")

    @function
    def f(x):
        return {"pair": Pair(x + 1.0, [x * 2.0]), "none": None, "n": 3, "tag": "ok"}

    out = f(np.ones(2))
    assert isinstance(out["pair"], Pair) and out["none"] is None
    assert out["n"] == 3 and out["tag"] == "ok"
    np.testing.assert_array_equal(out["pair"].b[0].numpy(), [2.0, 2.0])
    assert function(lambda x: None)(np.ones(2)) is None


def test_output_that_is_an_input_is_a_copy():
    x = np.ones(3)
    y = function(lambda x: x)(x)
    x[0] = 5.0
    np.testing.assert_array_equal(y.numpy(), [1.0, 1.0, 1.0])


def test_eager_tensor_returned_as_is():
    c = gx.constant([1.0, 2.0])
    f = function(lambda x: (x * 1.0, c))
    assert f(np.zeros(2))[1] is c


# -- tracing and the cache -----------------------------------------------------------------------
def test_one_trace_per_signature():
    f, traces = counted(lambda x, y: x * y)
    for _ in range(3):
        f(np.ones((2, 3)), np.ones(3))
    assert len(traces) == 1
    f(gx.constant(np.ones((2, 3))), np.ones(3))  # a tensor of the same spec: cached
    assert len(traces) == 1
    f(np.ones((4, 3)), np.ones(3))  # new shape
    f(np.ones((2, 3), "float32"), np.ones(3, "float32"))  # new dtypes
    f(y=np.ones(3), x=np.ones((2, 3)))  # keywords bind to the same signature
    assert len(traces) == 3 and f.trace_count == 3 and len(f.graphs) == 3
    assert all(isinstance(g, gx.Graph) for g in f.graphs)


def test_python_side_effects_only_while_tracing(capsys):
    seen = []

    @function
    def f(x):
        print("tracing")
        seen.append(x.shape)
        return x + 1.0

    for _ in range(3):
        f(np.zeros(2))
    assert capsys.readouterr().out == "tracing\n"
    assert seen == [(2,)]


def test_static_python_args_retrace_by_value():
    f, traces = counted(lambda x, n, mode="add": x + n if mode == "add" else x * n)
    np.testing.assert_array_equal(f(np.ones(2), 2).numpy(), [3.0, 3.0])
    np.testing.assert_array_equal(f(np.ones(2), 2).numpy(), [3.0, 3.0])
    assert len(traces) == 1
    np.testing.assert_array_equal(f(np.ones(2), 3).numpy(), [4.0, 4.0])
    assert len(traces) == 2
    np.testing.assert_array_equal(f(np.ones(2), 3, mode="mul").numpy(), [3.0, 3.0])
    assert len(traces) == 3
    f(np.ones(2), 3, "add")  # the default written out: the cached trace
    assert len(traces) == 3
    f(np.ones(2), 3.0)  # 3.0 is not 3: a different static value
    f(np.ones(2), True)  # nor True 1
    assert len(traces) == 5
    # a numpy scalar is a tensor: its value is fed, not traced
    with pytest.warns(UserWarning, match=r"trace 6 .* argument 'n' changed from True to f64\[\]"):
        f(np.ones(2), np.float64(4.0))
    r = f(np.ones(2), np.float64(5.0))
    assert len(traces) == 6
    np.testing.assert_array_equal(r.numpy(), [6.0, 6.0])


def test_lists_of_tensors_and_static_structures():
    f, traces = counted(lambda xs, cfg: sum(xs[1:], xs[0]) * cfg["scale"])
    out = f([np.ones(2), np.ones(2), np.ones(2)], {"scale": 2.0})
    np.testing.assert_array_equal(out.numpy(), [6.0, 6.0])
    f([np.zeros(2), np.ones(2), np.ones(2)], {"scale": 2.0})
    assert len(traces) == 1
    f([np.zeros(2), np.ones(2)], {"scale": 2.0})  # a different structure
    assert len(traces) == 2


def test_unhashable_static_arg_is_an_error():
    class Unhashable:
        __hash__ = None

    f = function(lambda x, opts: x)
    with pytest.raises(gx.InvalidArgumentError, match=r"argument 'opts'.*unhashable.*hashable"):
        f(np.ones(2), Unhashable())
    with pytest.raises(gx.InvalidArgumentError, match=r"argument 'opts\[0\]'.*unhashable set"):
        f(np.ones(2), [{1, 2}])


def test_wrong_arguments_are_a_type_error():
    f = function(lambda x, y: x + y)
    with pytest.raises(TypeError, match="<lambda>: missing a required argument: 'y'"):
        f(np.ones(2))


def test_symbolic_argument_from_closed_graph_is_an_error():
    with gx.graph():
        x = gx.placeholder((2,), "float64", name="x")
    with pytest.raises(gx.GraphError, match=r"argument 'x' is symbolic tensor 'x'"):
        function(lambda x: x * 2.0)(x)


# -- input signatures ---------------------------------------------------------------------------
def test_input_signature_with_none_dims_traces_once():
    f, traces = counted(lambda x, y: gx.sum(x, axis=1) + y,
                        input_signature=[TensorSpec((None, 3), "float32"),
                                         TensorSpec((), "float32")])
    for n in (1, 4, 7):
        x = rand(n, 3, dtype="float32", seed=n)
        out = f(x, np.float32(1.5))
        np.testing.assert_array_equal(out.numpy(), x.sum(axis=1) + np.float32(1.5))
    f(rand(2, 3, dtype="float32"), 2.0)  # Python data is converted to the spec's dtype
    assert len(traces) == 1 and f.trace_count == 1
    g = f.graphs[0]
    assert g.spec(("x", 0)) == gx.Spec((None, 3), np.dtype("float32"))


def test_input_signature_names_and_nested_entries():
    @function(input_signature=[[TensorSpec((2,), "float64", name="first"),
                                TensorSpec((2,), "float64")]])
    def f(pair):
        return pair[0] - pair[1]

    np.testing.assert_array_equal(f([np.ones(2), np.zeros(2)]).numpy(), [1.0, 1.0])
    assert f.get_graph([np.ones(2), np.ones(2)]).placeholders == ["first", "pair_1"]


def test_input_not_matching_signature_is_an_error():
    f = function(lambda x: x * 2.0, input_signature=[TensorSpec((None, 3), "float32")])
    with pytest.raises(gx.InvalidArgumentError, match=r"argument 'x' is f64\[2,3\].*f32\[\?,3\]"):
        f(np.ones((2, 3)))  # dtype
    with pytest.raises(gx.InvalidArgumentError, match=r"argument 'x' is f32\[2,4\]"):
        f(np.ones((2, 4), "float32"))  # shape
    with pytest.raises(gx.InvalidArgumentError, match=r"argument 'x' is f32\[3\]"):
        f(np.ones(3, "float32"))  # rank
    with pytest.raises(gx.InvalidArgumentError, match="cannot become float32"):
        f([[1e300, 0.0, 0.0]])  # Python data that does not fit
    with pytest.raises(TypeError, match="too many positional arguments"):
        f(np.ones((2, 3), "float32"), np.ones(3))
    g = function(lambda x, scale=2.0: x * scale, input_signature=[TensorSpec((2,), "float64")])
    with pytest.raises(gx.InvalidArgumentError, match="takes exactly 1 argument"):
        g(np.ones(2), scale=3.0)  # only the signature's arguments may be passed
    with pytest.raises(gx.InvalidArgumentError, match="should be a sequence of 2"):
        function(lambda p: p[0], input_signature=[[TensorSpec(()), TensorSpec(())]])(1.0)
    assert f.trace_count == 0


def test_bad_signatures_are_errors():
    with pytest.raises(gx.InvalidArgumentError, match=r"input_signature\[1\] is 'float32'"):
        function(lambda x, y: x, input_signature=[TensorSpec((2,)), "float32"])
    with pytest.raises(gx.InvalidArgumentError, match="must be a list or tuple"):
        function(lambda x: x, input_signature=TensorSpec((2,)))
    with pytest.raises(gx.InvalidArgumentError, match=r"has 2 TensorSpecs but .* 1 positional"):
        function(lambda x: x, input_signature=[TensorSpec((2,)), TensorSpec((2,))])
    with pytest.raises(gx.InvalidArgumentError, match="parameter 'y' has no TensorSpec"):
        function(lambda x, y: x, input_signature=[TensorSpec((2,))])
    with pytest.raises(gx.InvalidArgumentError, match="TensorSpec: shape"):
        TensorSpec((-1, 2))
    with pytest.raises(gx.InvalidArgumentError, match="TensorSpec: unknown dtype"):
        TensorSpec((2,), "no_such_dtype")
    with pytest.raises(gx.InvalidArgumentError, match="by keyword"):
        function([TensorSpec((2,))])
    # a parameter with a default may go without a spec; *args take the rest
    function(lambda x, scale=2.0: x, input_signature=[TensorSpec((2,))])
    g = function(lambda *xs: xs[0] + xs[1], input_signature=[TensorSpec(()), TensorSpec(())])
    assert g(1.0, 2.0).numpy() == np.float32(3.0)


def test_tensorspec_helpers():
    s = TensorSpec([None, 2], "int32")
    assert s.shape == (None, 2) and s.dtype == np.dtype("int32")
    assert s.spec == gx.Spec((None, 2), np.dtype("int32")) and str(s) == "i32[?,2]"
    assert s.is_compatible_with(np.zeros((7, 2), "int32"))
    assert not s.is_compatible_with(np.zeros((7, 2), "int64"))
    assert TensorSpec.from_tensor(gx.constant(np.zeros((3, 1)))) == TensorSpec((3, 1), "float64")
    f = function(lambda x: x, input_signature=[gx.Spec((None,), np.dtype("float64"))])
    assert f.input_signature == (TensorSpec((None,), "float64"),)


# -- retracing warnings ---------------------------------------------------------------------------
def test_retracing_warning_names_the_changing_tensor_argument():
    f = function(lambda x, y: x + y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n in range(1, 6):
            f(np.ones(n), np.ones(n))
        assert caught == []
        f(np.ones(6), np.ones(6))  # the 6th trace
        f(np.ones(6), np.ones(6))  # cached: no new warning
    assert len(caught) == 1
    w = caught[0]
    assert w.category is UserWarning and w.filename == __file__
    msg = str(w.message)
    assert "trace 6" in msg and "argument 'x' changed from f64[5] to f64[6]" in msg
    assert "input_signature" in msg and "TensorSpec((None,), 'float64')" in msg


def test_retracing_warning_names_the_changing_static_argument():
    f = function(lambda x, lr: x * lr)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for lr in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
            f(np.ones(2), lr)
    messages = [str(w.message) for w in record]
    assert len(messages) == 2  # once per trace after the fifth
    assert "argument 'lr' changed from 0.5 to 0.6" in messages[0]
    assert "argument 'lr' changed from 0.6 to 0.7" in messages[1]
    assert "as a tensor" in messages[0]


def test_retracing_warning_names_a_nested_argument():
    f = function(lambda xs: xs[0] * gx.sum(xs[1]))
    for n in range(5):
        f([np.ones(2), np.ones(n)])
    with pytest.warns(UserWarning, match=r"argument 'xs\[1\]' changed from f64\[4\] to f64\[5\]"):
        f([np.ones(2), np.ones(5)])


# -- run_functions_eagerly ----------------------------------------------------------------------
def test_run_functions_eagerly():
    f, traces = counted(lambda x: x * 2.0)
    config.run_functions_eagerly(True)
    assert config.functions_run_eagerly()
    for _ in range(3):
        np.testing.assert_array_equal(f(gx.constant([1.0])).numpy(), [2.0])
    assert len(traces) == 3 and f.trace_count == 0  # the Python body ran every call
    config.run_functions_eagerly(False)
    assert not config.functions_run_eagerly()
    f(np.ones(1))
    f(np.ones(1))
    assert len(traces) == 4 and f.trace_count == 1
    with pytest.raises(TypeError, match="True or False"):
        config.run_functions_eagerly(1)


# -- get_graph ------------------------------------------------------------------------------------
def test_get_graph():
    f, traces = counted(lambda x, w: gx.nn.relu(x @ w))
    x, w = np.ones((2, 3), "float32"), np.ones((3, 4), "float32")
    g = f.get_graph(x, w)
    assert isinstance(g, gx.Graph) and len(traces) == 1
    assert {"placeholder", "matmul"} <= {d["op"].name for _, d in g.nx.nodes(data=True)}
    assert g.placeholders == ["x", "w"]
    g.validate()
    f(x, w)
    assert f.get_graph(x, w) is g and len(traces) == 1  # the same cached graph
    assert f.get_graph(np.ones((5, 3), "float32"), w) is not g and len(traces) == 2
    assert f.python_function(gx.constant(x), gx.constant(w)).shape == (2, 4)


# -- state ----------------------------------------------------------------------------------------
def test_assign_runs_on_every_call():
    counter = gx.Variable(0, name="calls")

    @function
    def f(x):
        counter.assign_add(1)  # not returned: runs anyway
        return x * 2.0

    for _ in range(4):
        f(np.ones(2))
    assert f.trace_count == 1 and counter.numpy() == 4
    assert "assign" in {d["op"].name for _, d in f.graphs[0].nx.nodes(data=True)}


def test_returned_assign_and_reads_before_assign():
    v = gx.Variable(np.array([1.0, 2.0]), name="v")

    @function
    def step(delta):
        before = v.value()  # within a call, reads see the value from before its assignments
        after = v.assign_add(delta)
        return before, after

    b, a = step(np.ones(2))
    np.testing.assert_array_equal(b.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(a.numpy(), [2.0, 3.0])
    b, a = step(np.ones(2))
    np.testing.assert_array_equal(b.numpy(), [2.0, 3.0])
    np.testing.assert_array_equal(v.numpy(), [3.0, 4.0])


def test_captured_variables_are_read_at_run_time():
    v = gx.Variable(np.array([1.0, 1.0]), name="w")
    f, traces = counted(lambda x: x * v)
    np.testing.assert_array_equal(f(np.ones(2)).numpy(), [1.0, 1.0])
    v.assign([3.0, 4.0])  # eager update between calls
    np.testing.assert_array_equal(f(np.ones(2)).numpy(), [3.0, 4.0])
    assert len(traces) == 1
    # returning the variable gives its value at the time of the call
    g = function(lambda: v)
    np.testing.assert_array_equal(g().numpy(), [3.0, 4.0])


def test_variable_argument_is_keyed_by_identity():
    a, b = gx.Variable(np.zeros(2), name="a"), gx.Variable(np.zeros(2), name="b")
    f, traces = counted(lambda var, x: var.assign_add(x))
    f(a, np.ones(2))
    f(a, np.ones(2))
    f(b, np.ones(2))
    np.testing.assert_array_equal(a.numpy(), [2.0, 2.0])
    np.testing.assert_array_equal(b.numpy(), [1.0, 1.0])
    assert len(traces) == 2


def test_variables_created_on_first_trace_only():
    state = {}

    @function
    def lazy(x):
        if "w" not in state:
            state["w"] = gx.Variable(np.full(x.shape[-1], 2.0), name="lazy_w")
        return x * state["w"]

    np.testing.assert_array_equal(lazy(np.ones(3)).numpy(), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(lazy(np.ones((2, 3))).numpy(), np.full((2, 3), 2.0))

    @function
    def careless(x):
        return x * gx.Variable(np.ones(x.shape), name="fresh")

    careless(np.ones(2))
    with pytest.raises(gx.GraphError, match=r"careless: created 1 Variable\(s\) while tracing "
                                            r"it again.*first trace only"):
        careless(np.ones(3))
    assert careless.trace_count == 1


def test_training_step_matches_eager():
    def make():
        return gx.layers.Dense(2, seed=3), gx.layers.Dense(1, seed=4)

    x, y = rand(8, 3, dtype="float32"), rand(8, 1, dtype="float32", seed=1)

    def step(layers, x, y):
        with gx.GradientTape() as tape:
            loss = gx.losses.mean_squared_error(y, layers[1](gx.nn.tanh(layers[0](x))))
        variables = layers[0].variables + layers[1].variables
        grads = tape.gradient(loss, variables)
        for v, g in zip(variables, grads, strict=True):
            v.assign_sub(g * 0.1)
        return loss

    eager_layers, graph_layers = make(), make()
    traced = function(lambda x, y: step(graph_layers, x, y))
    for _ in range(3):
        e = step(eager_layers, gx.constant(x), gx.constant(y))
        t = traced(x, y)
        np.testing.assert_allclose(t.numpy(), e.numpy(), rtol=1e-6)
    assert traced.trace_count == 1
    for ev, gv in zip(eager_layers[0].variables + eager_layers[1].variables,
                      graph_layers[0].variables + graph_layers[1].variables, strict=True):
        np.testing.assert_allclose(gv.numpy(), ev.numpy(), rtol=1e-6)


def test_eager_tape_around_a_call_runs_the_body_eagerly():
    f = function(lambda x: x * x * 3.0)
    x = gx.constant(2.0)
    with gx.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    assert tape.gradient(y, x).numpy() == 12.0
    assert f.trace_count == 0


# -- composition ----------------------------------------------------------------------------------
def test_nested_functions_inline():
    inner, inner_traces = counted(lambda x: gx.exp(x))

    @function
    def outer(x):
        return inner(x) + inner(x * 2.0)

    x = rand(3)
    np.testing.assert_array_equal(outer(x).numpy(), np.exp(x) + np.exp(x * 2.0))
    assert inner.trace_count == 0 and len(inner_traces) == 2  # called while tracing outer
    ops = [d["op"].name for _, d in outer.graphs[0].nx.nodes(data=True)]
    assert ops.count("exp") == 2


def test_call_inside_graph_block_inlines():
    f = function(lambda x: x + 1.0)
    with gx.graph() as g:
        x = gx.placeholder((2,), "float64", name="x")
        y = f(x)
    assert y.graph is g and f.trace_count == 0
    np.testing.assert_array_equal(g.run(y, {x: np.zeros(2)}), [1.0, 1.0])


def test_methods():
    class Model:
        def __init__(self, seed):
            self.dense = gx.layers.Dense(2, seed=seed)
            self.calls = 0

        @function
        def __call__(self, x):
            self.calls += 1  # counts traces, not calls
            return self.dense(x)

    a, b = Model(0), Model(1)
    x = rand(4, 3, dtype="float32")
    ya, yb = a(x), b(x)
    a(x)
    same(ya, a.dense(x))
    same(yb, b.dense(x))
    assert a.calls == 1 and b.calls == 1
    assert isinstance(Model.__call__, Function) and a.__call__ is a.__call__
    assert a.__call__.trace_count == 1


def test_function_object():
    def scale(x, factor=2.0):
        """Doc of scale."""
        return x * factor

    f = function(scale)
    assert isinstance(f, Function) and f.python_function is scale
    assert f.__name__ == "scale" and f.__doc__ == "Doc of scale." and f.__wrapped__ is scale
    assert f.input_signature is None
    f(np.ones(2))
    assert "scale: 1 trace" in repr(f)
    f.clear_cache()
    assert f.trace_count == 0 and f.graphs == []
    with pytest.raises(gx.InvalidArgumentError, match="not callable"):
        function(3)
    twice = function(f)  # wrapping a Function wraps its Python function
    assert twice.python_function is scale and twice.trace_count == 0
