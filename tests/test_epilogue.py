"""Epilogue fusion: matmul/conv2d + bias + activation as one fused node, bit for bit."""

import time
from collections import Counter

import numpy as np
import pytest

import graphexec as gx
import graphexec.ops.fused_nn  # registers fused_dense and fused_conv2d
from graphexec.errors import DTypeError, InvalidArgumentError, ShapeError
from graphexec.ops.fused_nn import fusable_activation
from graphexec.passes.epilogue import epilogue_fusion
from graphexec.registry import REGISTRY, OpDef

from .hypothesis_or_skip import given, st

FUSED_DENSE, FUSED_CONV = REGISTRY["fused_dense"], REGISTRY["fused_conv2d"]


def _attrs(d):
    """A fused node's attrs without ``origin`` (the fused nodes' names, for errors), its
    activation by name."""
    return {k: v.name if isinstance(v, OpDef) else v for k, v in d["attrs"].items()
            if k != "origin"}


def run(g, fetches, feeds=None):
    return g.run(fetches, feeds, optimize=0)  # the graph as it stands, no other pass


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def fuse(g, keep=(), actions=None):
    changed = g.apply_pass(lambda graph: epilogue_fusion(graph, keep=keep, actions=actions))
    g.validate()
    return changed


def ops_of(g):
    return Counter(d["op"].name for _, d in g.nx.nodes(data=True))


def data(shape, dtype, seed=0, scale=3.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


# -- Dense layers ------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", None])
def test_dense_layer_fuses_bit_identically(activation, use_bias, dtype):
    layer = gx.layers.Dense(6, activation=activation, use_bias=use_bias, seed=1,
                            bias_initializer="normal", dtype=dtype, name="d")
    with gx.graph() as g:
        x = gx.placeholder((None, 5), dtype, name="x")
        y = layer(x)
    feeds = [data((n, 5), dtype, seed=n) for n in (1, 7)]
    before = [run(g, y, {x: xv}) for xv in feeds]
    n_before, ops_before = len(g), ops_of(g)
    actions: list[str] = []
    changed = fuse(g, keep=[y], actions=actions)
    absorbed = int(use_bias) + int(activation is not None)
    assert changed == (absorbed > 0)
    assert len(g) == n_before - absorbed
    if absorbed == 0:  # a bare matmul: nothing to fuse
        assert ops_of(g) == ops_before and actions == []
        return
    d = g.nx.nodes[y.name]
    assert d["op"].name == "fused_dense" and _attrs(d) == {"activation": activation}
    assert ops_of(g)["matmul"] == 0 and ops_of(g)["add"] == 0
    assert len(d["inputs"]) == 2 + use_bias
    chain = ["d/matmul"] + ["d/add"] * use_bias + [f"d/{activation}"] * (activation is not None)
    assert [n for n, _ in d["attrs"]["origin"]] == chain  # named in its errors
    assert actions == [f"dense: {' + '.join(chain)} -> {y.name}"]
    assert f"fused_dense[activation={activation}]" in str(g)
    for xv, want in zip(feeds, before, strict=True):
        assert same_bits(run(g, y, {x: xv}), want)
    assert not fuse(g, keep=[y])  # a fixed point


def test_sigmoid_and_tanh_saturate_and_propagate_nan_identically():
    w = np.eye(3, dtype="float32")
    xv = np.array([[-1000.0, -30.0, -0.0], [0.0, 30.0, 1000.0], [np.nan, 1e-30, -1e-30]],
                  "float32")
    for act in (gx.nn.sigmoid, gx.tanh, gx.nn.relu):
        with gx.graph() as g:
            x = gx.placeholder((None, 3), "float32", name="x")
            b = gx.placeholder((3,), "float32", name="b")
            y = act(gx.matmul(x, w) + b)
        feeds = {x: xv, b: np.array([0.0, -0.0, np.inf], "float32")}
        want = run(g, y, feeds)
        assert fuse(g, keep=[y])
        assert same_bits(run(g, y, feeds), want)


def test_every_fusable_activation_matches_its_kernel_in_place():
    values = [-np.inf, -1e4, -50.0, -1.0, -1e-8, -0.0, 0.0, 1e-8, 0.5, 1.0, 50.0, 1e4, np.inf,
              np.nan]
    acts = [op for op in REGISTRY.values() if fusable_activation(op) and op.name != "cast"]
    assert {"relu", "sigmoid", "tanh", "erf", "exp"} <= {op.name for op in acts}
    for dtype in ("float32", "float64"):
        xv = np.array(values + list(data((37,), "float64")), dtype).reshape(-1, 1)
        eye = np.ones((1, 1), dtype)  # x @ [[1]] is x exactly, inf and NaN included
        for op in acts:
            try:
                op.infer(gx.Spec(xv.shape, xv.dtype))
            except gx.GraphexecError:
                continue  # not for floats (bitwise_not): no float product reaches it
            with np.errstate(all="ignore"):
                want = op.kernel(np, np.matmul(xv, eye))
                if want.dtype != xv.dtype:
                    continue  # an activation must keep the dtype (the infer rule refuses)
                got = FUSED_DENSE.kernel(np, xv, eye, activation=op)
            assert same_bits(got, want), (op, np.flatnonzero(got.ravel() != want.ravel()),
                                          got.dtype, want.dtype)
    a = np.array([[-3, 0, 2, 1]], "int32")  # relu keeps ints as they are
    got = FUSED_DENSE.kernel(np, a, np.eye(4, dtype="int32"), activation=REGISTRY["relu"])
    assert same_bits(got, REGISTRY["relu"].kernel(np, a))


def test_fusable_activations():
    assert all(fusable_activation(REGISTRY[a]) for a in ("relu", "sigmoid", "tanh", "exp", "abs"))
    # softmax is not elementwise, add takes two inputs; a name is not an op
    assert not any(fusable_activation(REGISTRY[a]) for a in ("softmax", "add"))
    assert not fusable_activation("relu")


# -- hand-written chains -----------------------------------------------------------------------
def test_bias_on_the_left_and_a_generic_activation():
    with gx.graph() as g:
        x = gx.placeholder((None, 4), "float64", name="x")
        w = gx.placeholder((4, 3), "float64", name="w")
        b = gx.placeholder((1, 3), "float64", name="b")
        y = gx.exp(b + gx.matmul(x, w))
        z = gx.negative(gx.matmul(x, w))
    feeds = {x: data((5, 4), "float64"), w: data((4, 3), "float64", 1, 0.3),
             b: data((1, 3), "float64", 2)}
    want = run(g, [y, z], feeds)
    actions: list[str] = []
    assert fuse(g, keep=[y, z], actions=actions)
    assert _attrs(g.nx.nodes[y.name]) == {"activation": "exp", "bias_first": True}
    assert g.nx.nodes[y.name]["inputs"] == (("x", 0), ("w", 0), ("b", 0))
    assert _attrs(g.nx.nodes[z.name]) == {"activation": "negative"}
    assert len(actions) == 2 and ops_of(g)["matmul"] == 0
    for got, exp in zip(run(g, [y, z], feeds), want, strict=True):
        assert same_bits(got, exp)


def test_vector_product_with_scalar_bias():
    with gx.graph() as g:
        x = gx.placeholder((4,), "float32", name="x")
        y = gx.nn.relu(gx.matmul(x, np.arange(4.0, dtype="float32")) + np.float32(-2.5))
    feeds = {x: np.array([0.5, -1.0, 0.25, 0.125], "float32")}
    want = run(g, y, feeds)
    assert fuse(g, keep=[y])
    got = run(g, y, feeds)
    assert same_bits(got, want) and got.shape == () and float(got) == 0.0


def test_not_fused_where_an_intermediate_is_shared_or_kept():
    with gx.graph() as g:
        x = gx.placeholder((None, 4), "float32", name="x")
        w = gx.placeholder((4, 3), "float32", name="w")
        b = gx.placeholder((3,), "float32", name="b")
        mm = gx.matmul(x, w)
        y = gx.nn.relu(mm + b)
        other = mm * 2.0  # the product has a second consumer
    n = len(g)
    assert not fuse(g, keep=[y, other])
    assert len(g) == n

    with gx.graph() as g:
        x = gx.placeholder((None, 4), "float32", name="x")
        w = gx.placeholder((4, 3), "float32", name="w")
        b = gx.placeholder((3,), "float32", name="b")
        mm = gx.matmul(x, w)
        y = gx.nn.sigmoid(mm + b)
    assert not fuse(g, keep=[y, mm])  # the product is fetched

    for shared in (True, False):
        with gx.graph() as g:
            x = gx.placeholder((None, 4), "float32", name="x")
            w = gx.placeholder((4, 3), "float32", name="w")
            b = gx.placeholder((3,), "float32", name="b")
            pre = gx.matmul(x, w) + b
            y = gx.tanh(pre)
            fetches = [y, pre * 3.0] if shared else [y, pre]
        feeds = {x: data((2, 4), "float32"), w: data((4, 3), "float32", 1),
                 b: data((3,), "float32", 2)}
        want = run(g, fetches, feeds)
        # the pre-activation is shared or kept: only the product and the bias fuse, into it
        assert fuse(g, keep=fetches if shared else [y, pre])
        assert g.nx.nodes[pre.name]["op"].name == "fused_dense"
        assert _attrs(g.nx.nodes[pre.name]) == {"activation": None}
        assert g.nx.nodes[y.name]["op"].name == "tanh"
        for got, exp in zip(run(g, fetches, feeds), want, strict=True):
            assert same_bits(got, exp)


@pytest.mark.parametrize("xs, bs, bdt", [
    ((2, 4), (2, 1, 3), "float32"),    # the bias has more dims
    ((1, 4), (5, 3), "float32"),       # broadcasts the single row up
    ((None, 4), (None, 3), "float32"),  # unknown dims may enlarge at run time
    ((None, 4), (2, 3), "float32"),     # the batch may be 1 at run time
    ((2, 4), (3,), "float64"),          # a float64 bias makes the float32 product float64
])
def test_biases_that_change_the_product_do_not_fuse(xs, bs, bdt):
    with gx.graph() as g:
        x = gx.placeholder(xs, "float32", name="x")
        b = gx.placeholder(bs, bdt, name="b")
        y = gx.nn.relu(gx.matmul(x, np.ones((4, 3), "float32")) + b)
    n = len(g)
    assert not fuse(g, keep=[y])
    assert len(g) == n


def test_activation_changing_the_dtype_leaves_it_out():
    with gx.graph() as g:
        x = gx.placeholder((2, 3), "int64", name="x")
        y = gx.nn.sigmoid(gx.matmul(x, np.ones((3, 2), "int64")) + np.int64(1))
        z = gx.nn.softmax(gx.matmul(gx.cast(x, "float64"), np.ones((3, 2))) + 1.0)
    feeds = {x: np.array([[1, -2, 3], [0, 5, -1]])}
    want = run(g, [y, z], feeds)
    assert fuse(g, keep=[y, z])
    ops = ops_of(g)
    assert ops["fused_dense"] == 2 and ops["sigmoid"] == 1 and ops["softmax"] == 1
    for got, exp in zip(run(g, [y, z], feeds), want, strict=True):
        assert same_bits(got, exp)


@given(
    m=st.integers(1, 4), n=st.integers(1, 4),
    bias=st.sampled_from(["row", "row2", "full", "col", "one", "scalar", "none"]),
    act=st.sampled_from([None, "relu", "sigmoid", "tanh"]), left=st.booleans(),
    dtype=st.sampled_from(["float32", "float64"]))
def test_random_chains_are_fused_exactly(m, n, bias, act, left, dtype):
    bshape = {"row": (n,), "row2": (1, n), "full": (m, n), "col": (m, 1), "one": (1,),
              "scalar": (), "none": None}[bias]
    xv, wv = data((m, 3), dtype), data((3, n), dtype, 1)
    with gx.graph() as g:
        x = gx.placeholder((m, 3), dtype, name="x")
        y = gx.matmul(x, wv)
        feeds = {x: xv}
        if bshape is not None:
            b = gx.placeholder(bshape, dtype, name="b")
            feeds[b] = data(bshape, dtype, 2)
            y = b + y if left else y + b
        if act is not None:
            y = {"relu": gx.nn.relu, "sigmoid": gx.nn.sigmoid, "tanh": gx.tanh}[act](y)
    want = run(g, y, feeds)
    fused = fuse(g, keep=[y])
    assert fused == (bshape is not None or act is not None)
    assert ops_of(g)["matmul"] == (0 if fused else 1)
    assert same_bits(run(g, y, feeds), want)


# -- conv2d ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw, act, dtype", [
    (dict(padding="same"), "relu", "float32"),
    (dict(strides=2), "tanh", "float64"),
    (dict(dilation_rate=2), None, "float32"),
])
def test_conv2d_layer_fuses_bit_identically(kw, act, dtype):
    layer = gx.layers.Conv2D(4, 3, activation=act, bias_initializer="normal", seed=3,
                             dtype=dtype, name="conv", **kw)
    with gx.graph() as g:
        x = gx.placeholder((None, 7, 7, 2), dtype, name="x")
        y = layer(x)
    xv = data((2, 7, 7, 2), dtype)
    want = run(g, y, {x: xv})
    n = len(g)
    actions: list[str] = []
    assert fuse(g, keep=[y], actions=actions)
    d = g.nx.nodes[y.name]
    assert d["op"].name == "fused_conv2d" and _attrs(d)["activation"] == act
    strides = (2, 2) if "strides" in kw else (1, 1)
    dilations = (2, 2) if "dilation_rate" in kw else (1, 1)
    assert (d["attrs"]["strides"], d["attrs"]["dilations"]) == (strides, dilations)
    assert len(g) == n - 1 - (act is not None)
    assert ops_of(g)["conv2d"] == 0 and actions[0].startswith("conv2d: conv/conv2d + conv/add")
    assert same_bits(run(g, y, {x: xv}), want)


# -- the ops themselves, eagerly and in graph mode ---------------------------------------------
def test_fused_ops_eagerly_and_in_graph_mode_match_the_chain():
    xv, wv, bv = data((3, 4), "float32"), data((4, 5), "float32", 1), data((5,), "float32", 2)
    want = gx.nn.sigmoid(gx.matmul(xv, wv) + bv).numpy()
    eager = gx.apply(FUSED_DENSE, *map(gx.constant, (xv, wv, bv)), activation=REGISTRY["sigmoid"])
    assert same_bits(eager.numpy(), want)
    with gx.graph() as g:
        y = gx.apply(FUSED_DENSE, *map(gx.constant, (xv, wv, bv)), activation=REGISTRY["sigmoid"])
    assert y.shape == (3, 5) and same_bits(run(g, y), want)

    xc, fc, bc = data((1, 5, 5, 2), "float64"), data((2, 2, 2, 3), "float64", 1), np.ones(3)
    want = gx.nn.relu(bc + gx.nn.conv2d(xc, fc, strides=2)).numpy()
    got = gx.apply(FUSED_CONV, *map(gx.constant, (xc, fc, bc)), strides=(2, 2),
                   dilations=(1, 1), activation=REGISTRY["relu"], bias_first=True)
    assert same_bits(got.numpy(), want)


def test_fused_dense_writes_into_out():
    xv, wv, bv = data((6, 5), "float32"), data((5, 4), "float32", 1), data((4,), "float32", 2)
    want = FUSED_DENSE.kernel(np, xv, wv, bv, activation=REGISTRY["relu"])
    assert same_bits(want, np.maximum(np.matmul(xv, wv) + bv, np.float32(0)))
    for out in (np.empty((6, 4), "float32"), np.empty((4, 6), "float32").T):
        res = FUSED_DENSE.kernel(np, xv, wv, bv, activation=REGISTRY["relu"], out=out)
        assert res is out and same_bits(out, want)
    v, out = np.arange(4.0), np.empty(())  # a vector product: a 0-d result
    res = FUSED_DENSE.kernel(np, v, v, np.float64(-20.0), activation=REGISTRY["sigmoid"], out=out)
    assert res is out and same_bits(out, REGISTRY["sigmoid"].kernel(np, np.asarray(-6.0)))


def test_fused_op_infer_errors():
    x, w = gx.constant(np.ones((2, 3), "float32")), gx.constant(np.ones((3, 4), "float32"))
    row = gx.constant(np.ones((1, 3), "float32"))
    with pytest.raises(ShapeError, match="keep its shape"):
        gx.apply(FUSED_DENSE, row, w, gx.constant(np.ones((5, 4), "float32")), activation=None)
    with pytest.raises(ShapeError, match="keep its shape"):
        gx.apply(FUSED_DENSE, x, w, gx.constant(np.ones((1, 2, 4), "float32")),
                 activation=None)
    with pytest.raises(DTypeError, match="float64"):
        gx.apply(FUSED_DENSE, x, w, gx.constant(np.ones(4)), activation=None)
    with pytest.raises(InvalidArgumentError, match="softmax"):
        gx.apply(FUSED_DENSE, x, w, activation="softmax")
    with pytest.raises(InvalidArgumentError, match="at most one bias"):
        gx.apply(FUSED_DENSE, x, w, x, x, activation=None)
    with pytest.raises(ShapeError, match="inner sizes"):
        gx.apply(FUSED_DENSE, w, w, activation=REGISTRY["relu"])


def test_shape_uses_move_to_the_fused_node():
    for source_bias in (True, False):
        with gx.graph() as g:
            x = gx.placeholder((None, 4), "float64", name="x")
            w = gx.placeholder((4, 3), "float64", name="w")
            b = gx.placeholder((3,), "float64", name="b")
            mm = gx.matmul(x, w)
            y = gx.tanh(mm + (b if source_bias else b * 2.0))
            (gw, gb) = gx.gradients(gx.sum(y), [w, b])
        fetches = [y, gw, gb]
        mm_name = mm.name
        shape_users = [dst for _, dst in g.nx.out_edges(mm_name)
                       if g.nx.nodes[dst]["op"].name == "sum_to_like"]
        assert len(shape_users) == 1  # the add's gradient reads the product's shape
        feeds = {x: data((5, 4), "float64"), w: data((4, 3), "float64", 1, 0.5),
                 b: data((3,), "float64", 2)}
        want = run(g, fetches, feeds)
        # a bias computed from other nodes might depend on the shape use: left alone
        assert fuse(g, keep=fetches) == source_bias
        if source_bias:
            assert mm_name not in g.nx and g.nx.nodes[y.name]["op"].name == "fused_dense"
            assert g.nx.nodes[shape_users[0]]["inputs"][1] == (y.name, 0)
        for got, exp in zip(run(g, fetches, feeds), want, strict=True):
            assert same_bits(got, exp)


@pytest.mark.gpu
def test_fused_ops_on_cupy_match_the_unfused_nodes():
    import cupy

    for act in ("relu", "sigmoid", "tanh"):
        with gx.graph() as g:
            x = gx.placeholder((None, 5), "float32", name="x")
            d = gx.layers.Dense(6, activation=act, bias_initializer="normal", seed=1)(x)
            c = gx.layers.Conv2D(3, 2, activation=act, bias_initializer="normal", seed=2)(
                gx.reshape(x, (-1, 1, 5, 1)) * gx.ones((1, 3, 1, 1), "float32"))
        feeds = {x: cupy.asarray(data((4, 5), "float32", scale=20.0))}
        want = [cupy.asnumpy(v) for v in g.run([d, c], feeds, backend="cupy", optimize=0)]
        assert fuse(g, keep=[d, c])
        assert ops_of(g)["fused_dense"] == ops_of(g)["fused_conv2d"] == 1
        got = [cupy.asnumpy(v) for v in g.run([d, c], feeds, backend="cupy", optimize=0)]
        assert all(same_bits(a, b) for a, b in zip(got, want, strict=True))


# -- training ----------------------------------------------------------------------------------
def _train(fused: bool, steps: int = 3):
    model = gx.nn.Sequential([
        gx.layers.Conv2D(3, 3, activation="relu", bias_initializer="normal", seed=1,
                         dtype="float64"),
        gx.layers.Flatten(),
        gx.layers.Dense(8, activation="tanh", bias_initializer="normal", seed=2,
                        dtype="float64"),
        gx.layers.Dense(4, seed=3, dtype="float64"),
    ])
    opt = gx.optimizers.SGD(0.1, momentum=0.5)
    with gx.graph() as g:
        x = gx.placeholder((None, 6, 6, 1), "float64", name="images")
        y = gx.placeholder((None,), "int64", name="labels")
        logits = model(x)  # builds the variables on this first call
        variables = model.trainable_variables
        loss = gx.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        step = opt.apply(gx.gradients(loss, variables), variables)
    actions: list[str] = []
    if fused:
        assert fuse(g, keep=[loss, step], actions=actions)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(steps):
        feeds = {x: rng.standard_normal((5, 6, 6, 1)), y: rng.integers(0, 4, 5)}
        losses.append(run(g, [loss, step], feeds)[0])
    return losses, [v.numpy().copy() for v in variables], actions, ops_of(g)


def test_training_after_fusion_gives_identical_weights():
    losses, weights, _, ops = _train(False)
    f_losses, f_weights, actions, f_ops = _train(True)
    # relu's gradient reads its input, so conv2d fuses with its bias only; tanh's gradient
    # reads its output, so the hidden layer fuses whole
    assert sorted(a.split(":")[0] for a in actions) == ["conv2d", "dense", "dense"]
    assert f_ops["fused_conv2d"] == 1 and f_ops["fused_dense"] == 2
    assert f_ops["relu"] == ops["relu"] == 1 and f_ops["tanh"] == 0
    assert sum(f_ops.values()) == sum(ops.values()) - 4
    assert all(same_bits(a, b) for a, b in zip(losses, f_losses, strict=True))
    assert losses[-1] != losses[0]  # the weights moved
    assert all(same_bits(a, b) for a, b in zip(weights, f_weights, strict=True))


def test_linear_time_on_a_deep_graph():
    layers = 3000
    with gx.graph() as g:
        h = gx.placeholder((None, 4), "float32", name="x")
        w = gx.placeholder((4, 4), "float32", name="w")
        b = gx.placeholder((4,), "float32", name="b")
        for _ in range(layers):
            h = gx.tanh(gx.matmul(h, w) + b)
    n = len(g)
    t0 = time.perf_counter()
    actions: list[str] = []
    assert epilogue_fusion(g, keep=[h], actions=actions)
    assert time.perf_counter() - t0 < 2.0
    assert len(actions) == layers and len(g) == n - 2 * layers
    g.invalidate()
    g.validate()
