"""gx.layers: built once eagerly, then the same layer (same weights) called inside a graph."""

import math
import re

import numpy as np
import pytest

import graphexec as gx
from graphexec.layers import get_initializer

from .helpers import assert_close, rand
from .test_nn import ref_avg_pool, ref_conv2d, ref_gelu, ref_max_pool, ref_sigmoid, same_pads

FLOATS = ["float32", "float64"]


def eager_then_graph(layer, x, dynamic_batch=True):
    """Call ``layer`` eagerly on ``x``, then on a placeholder in a graph; both outputs must be
    equal bit for bit.  Returns the eager output and the graph."""
    with gx.eager():
        out = layer(x).numpy()
    with gx.graph() as g:
        ph = gx.placeholder(((None,) if dynamic_batch else x.shape[:1]) + x.shape[1:], x.dtype)
        y = layer(ph)
    g.validate()
    got = g.run(y, {ph: x})
    np.testing.assert_array_equal(got, out, strict=True)
    return out, g


def values(layer):
    return [v.numpy() for v in layer.variables]


# -- Dense ----------------------------------------------------------------------------------------
ACTIVATIONS = {
    None: lambda a: a, "linear": lambda a: a, "relu": lambda a: np.maximum(a, 0),
    "sigmoid": ref_sigmoid, "tanh": np.tanh, "gelu": ref_gelu,
    "softmax": lambda a: np.exp(a) / np.exp(a).sum(-1, keepdims=True),
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_dense(dtype, activation):
    layer = gx.layers.Dense(5, activation=activation, bias_initializer="normal", seed=1,
                            dtype=dtype)
    x = rand(3, 4, dtype=dtype)
    out, g = eager_then_graph(layer, x)
    w, b = values(layer)
    assert w.shape == (4, 5) and b.shape == (5,) and w.dtype == b.dtype == dtype
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else {}
    assert_close(out, ACTIVATIONS[activation](x @ w + b).astype(dtype), **tol)
    names = set(g.nx.nodes)
    assert {f"{layer.name}/matmul", f"{layer.name}/kernel", f"{layer.name}/bias",
            f"{layer.name}/add"} <= names


def test_dense_nd_input_no_bias_and_callable_activation():
    layer = gx.layers.Dense(2, use_bias=False, activation=lambda t: t * 2.0, seed=0)
    x = rand(2, 3, 4, dtype="float32")
    out, g = eager_then_graph(layer, x)
    assert len(layer.variables) == 1 and layer.bias is None
    assert_close(out, 2 * (x @ layer.variables[0].numpy()))
    assert not any(n.endswith("/add") for n in g.nx.nodes)


def test_dense_casts_inputs_to_its_dtype():
    layer = gx.layers.Dense(2, seed=0)
    out = layer(rand(2, 3, dtype="float64"))
    assert out.dtype == np.float32
    assert gx.layers.Dense(2, seed=0, dtype="float64")(np.ones((1, 3), "int32")).dtype == "f8"


def test_variables_created_once_even_when_first_called_in_a_graph():
    layer = gx.layers.Dense(3, seed=0)
    assert layer.variables == [] and not layer.built
    with gx.graph() as g:
        x = gx.placeholder((None, 4), "float32")
        y1 = layer(x)
        y2 = layer(x)
    assert layer.built
    kernel, bias = layer.variables
    assert kernel.numpy().shape == (4, 3)  # concrete weights, not graph tensors
    assert kernel.graph is None and bias.graph is None
    layer(np.ones((2, 4), "float32"))
    assert layer.variables[0] is kernel and layer.variables[1] is bias and len(layer.variables) == 2
    a, b = g.run([y1, y2], {x: np.ones((2, 4), "float32")})
    np.testing.assert_array_equal(a, b)
    assert {f"{layer.name}/matmul", f"{layer.name}/matmul_1"} <= set(g.nx.nodes)
    assert layer.trainable_variables == layer.variables and layer.count_params() == 15


def test_graph_sees_updated_weights():
    layer = gx.layers.Dense(1, use_bias=False, kernel_initializer="ones")
    with gx.graph() as g:
        x = gx.placeholder((None, 2), "float32")
        y = layer(x)
    np.testing.assert_array_equal(g.run(y, {x: np.ones((1, 2), "float32")}), [[2.0]])
    layer.kernel.assign(np.full((2, 1), 3.0, "float32"))
    np.testing.assert_array_equal(g.run(y, {x: np.ones((1, 2), "float32")}), [[6.0]])


def test_dense_errors():
    with gx.graph(), pytest.raises(gx.ShapeError,
                                   match=r"dense\w*: input \(None, None\) must have .* known last"):
        gx.layers.Dense(2)(gx.placeholder((None, None), "float32"))
    with pytest.raises(gx.ShapeError, match=r"input \(3,\) must have rank >= 2"):
        gx.layers.Dense(2)(np.ones(3, "float32"))
    layer = gx.layers.Dense(2)
    layer(np.ones((1, 3), "float32"))
    with pytest.raises(gx.ShapeError, match="inner sizes 4 and 3 differ"):
        layer(np.ones((1, 4), "float32"))
    with gx.graph(), pytest.raises(gx.ShapeError, match="inner sizes 4 and 3 differ"):
        layer(gx.placeholder((None, 4), "float32"))
    for bad in (0, -1, 2.5):
        with pytest.raises(gx.InvalidArgumentError, match="units must be a positive int"):
            gx.layers.Dense(bad)
    with pytest.raises(gx.InvalidArgumentError, match="unknown activation 'mish'"):
        gx.layers.Dense(2, activation="mish")
    with pytest.raises(gx.InvalidArgumentError, match="unknown initializer 'lecun_normal'"):
        gx.layers.Dense(2, kernel_initializer="lecun_normal")
    with pytest.raises(gx.ShapeError, match=r"initializer of kernel gave shape \(2,\)"):
        gx.layers.Dense(2, kernel_initializer=lambda s, d: np.ones(2))(np.ones((1, 3)))


# -- names ----------------------------------------------------------------------------------------
def test_names_are_unique_snake_case():
    a, b = gx.layers.Dense(1), gx.layers.Dense(1)
    assert re.fullmatch(r"dense(_\d+)?", a.name) and re.fullmatch(r"dense_\d+", b.name)
    assert a.name != b.name
    names = {cls: cls(**kw).name for cls, kw in [
        (gx.layers.Conv2D, dict(filters=1, kernel_size=1)), (gx.layers.MaxPool2D, {}),
        (gx.layers.AvgPool2D, {}), (gx.layers.Flatten, {}), (gx.layers.Pad2D, {}),
        (gx.layers.ZeroPadding2D, {}), (gx.layers.Sequential, {})]}
    bases = {cls: re.sub(r"_\d+$", "", n) for cls, n in names.items()}
    assert bases == {gx.layers.Conv2D: "conv2d", gx.layers.MaxPool2D: "max_pool2d",
                     gx.layers.AvgPool2D: "avg_pool2d", gx.layers.Flatten: "flatten",
                     gx.layers.Pad2D: "pad2d", gx.layers.ZeroPadding2D: "zero_padding2d",
                     gx.layers.Sequential: "sequential"}
    assert gx.layers.Dense(1, name="head").name == "head"


# -- initializers ---------------------------------------------------------------------------------
def test_seed_makes_init_reproducible():
    def kernel(**kw):
        layer = gx.layers.Dense(8, **kw)
        layer(np.ones((1, 16), "float32"))
        return layer.kernel.numpy()

    np.testing.assert_array_equal(kernel(seed=3), kernel(seed=3))
    assert not np.array_equal(kernel(seed=3), kernel(seed=4))
    assert not np.array_equal(kernel(), kernel())


def test_initializer_distributions():
    rng = np.random.default_rng(0)
    shape = (3, 3, 16, 32)  # conv kernel: fan_in 144, fan_out 288
    w = get_initializer("glorot_uniform")(shape, np.float32, rng)
    limit = math.sqrt(6 / (144 + 288))
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.95 * limit
    assert abs(w.std() - limit / math.sqrt(3)) < 0.02 * limit
    h = get_initializer("he_normal")((400, 300), np.float32, rng)
    std = math.sqrt(2 / 400)
    assert abs(h.std() - std) < 0.02 * std and np.abs(h).max() <= 2 * std / 0.8796256610342398
    n = get_initializer("normal")((200, 200), np.float32, rng)
    assert abs(n.std() - 0.05) < 0.002 and abs(n.mean()) < 0.002
    np.testing.assert_array_equal(get_initializer("zeros")((2, 3), None, rng), np.zeros((2, 3)))
    np.testing.assert_array_equal(get_initializer("ones")((4,), None, rng), np.ones(4))


def test_callable_initializer_and_float64_weights():
    layer = gx.layers.Dense(2, kernel_initializer=lambda shape, dtype: np.full(shape, 0.5),
                            bias_initializer="ones", dtype="float64")
    out, _ = eager_then_graph(layer, np.ones((2, 3)))
    assert layer.kernel.dtype == np.float64
    np.testing.assert_array_equal(out, np.full((2, 2), 2.5))


# -- Conv2D ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize(("padding", "mode", "strides", "dil"), [
    ("valid", "constant", 1, 1),
    ("valid", "constant", 2, 1),
    ("same", "constant", 1, 1),
    ("same", "constant", 2, 1),
    ("same", "reflect", 1, 1),
    ("same", "symmetric", 2, 1),
    ("same", "reflect", 1, 2),
])
def test_conv2d_layer(dtype, padding, mode, strides, dil):
    layer = gx.layers.Conv2D(3, (3, 2), strides=strides, padding=padding, padding_mode=mode,
                             dilation_rate=dil, activation="relu", bias_initializer="normal",
                             seed=2, dtype=dtype)
    x = rand(2, 7, 6, 2, dtype=dtype)
    out, g = eager_then_graph(layer, x, dynamic_batch=True)
    kernel, bias = values(layer)
    assert kernel.shape == (3, 2, 2, 3)
    s, d = (strides, strides), (dil, dil)
    pads = "VALID"
    if padding == "same":
        pads = [same_pads(7, 3, strides, dil), same_pads(6, 2, strides, dil)]
    want = np.maximum(ref_conv2d(x, kernel, s, pads, d, mode=mode) + bias, 0)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == "float32" else {}
    assert_close(out, want.astype(dtype), **tol)
    ops = {n: d["op"].name for n, d in g.nx.nodes(data=True)}
    assert ops[f"{layer.name}/conv2d"] == "conv2d"
    has_pad = padding == "same"
    assert (f"{layer.name}/pad" in ops) == has_pad
    if has_pad:
        assert g.nx.nodes[f"{layer.name}/pad"]["attrs"]["mode"] == mode


def test_conv2d_layer_errors():
    with pytest.raises(gx.InvalidArgumentError, match="unknown padding 'full'"):
        gx.layers.Conv2D(2, 3, padding="full")
    with pytest.raises(gx.InvalidArgumentError, match="unknown padding_mode 'mirror'"):
        gx.layers.Conv2D(2, 3, padding="same", padding_mode="mirror")
    with pytest.raises(gx.InvalidArgumentError, match="kernel_size"):
        gx.layers.Conv2D(2, 0)
    with pytest.raises(gx.ShapeError, match=r"input \(4, 4, 1\) must be NHWC"):
        gx.layers.Conv2D(2, 3)(np.ones((4, 4, 1)))
    layer = gx.layers.Conv2D(2, 3)
    layer(np.ones((1, 5, 5, 3), "float32"))
    with pytest.raises(gx.ShapeError, match="the input has 1 channels, the filters expect 3"):
        layer(np.ones((1, 5, 5, 1), "float32"))
    with gx.graph(), pytest.raises(gx.ShapeError, match="1 channels, the filters expect 3"):
        layer(gx.placeholder((None, 5, 5, 1), "float32"))
    with gx.graph(), pytest.raises(gx.ShapeError, match="known channel dim"):
        gx.layers.Conv2D(2, 3)(gx.placeholder((None, 5, 5, None), "float32"))


# -- layers without weights -----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
def test_pool_layers(dtype):
    x = rand(2, 5, 6, 3, dtype=dtype)
    for cls, ref in ((gx.layers.MaxPool2D, ref_max_pool), (gx.layers.AvgPool2D, ref_avg_pool)):
        out, g = eager_then_graph(cls(), x)
        assert_close(out, ref(x, (2, 2), (2, 2)))
        out, _ = eager_then_graph(cls(3, strides=2, padding="same"), x)
        assert_close(out, ref(x, (3, 3), (2, 2), "SAME"))
        out, _ = eager_then_graph(cls((2, 3), strides=(1, 2)), x)
        assert_close(out, ref(x, (2, 3), (1, 2)))
    with pytest.raises(gx.InvalidArgumentError, match="unknown padding"):
        gx.layers.MaxPool2D(padding="full")


def test_flatten():
    x = rand(2, 3, 4, 5, dtype="float32")
    out, _ = eager_then_graph(gx.layers.Flatten(), x)
    np.testing.assert_array_equal(out, x.reshape(2, -1))
    np.testing.assert_array_equal(gx.layers.Flatten()(np.arange(3)).numpy(), [[0], [1], [2]])
    with gx.graph() as g:
        ph = gx.placeholder((2, None, 3), "float64")
        y = gx.layers.Flatten()(ph)
    assert y.shape == (2, None)
    np.testing.assert_array_equal(g.run(y, {ph: np.ones((2, 4, 3))}), np.ones((2, 12)))
    with gx.graph(), pytest.raises(gx.ShapeError, match=r"flatten.*needs either the batch dim"):
        gx.layers.Flatten()(gx.placeholder((None, None, 3)))
    with pytest.raises(gx.ShapeError, match="cannot flatten a scalar"):
        gx.layers.Flatten()(np.float32(1))


@pytest.mark.parametrize("mode", ["constant", "reflect", "symmetric", "edge", "wrap"])
def test_pad2d(mode):
    x = rand(2, 4, 5, 3)
    for padding, pairs in ((1, [(1, 1), (1, 1)]), ((2, 1), [(2, 2), (1, 1)]),
                           (((1, 0), (0, 3)), [(1, 0), (0, 3)])):
        out, g = eager_then_graph(gx.layers.Pad2D(padding, mode=mode), x)
        np.testing.assert_array_equal(out, np.pad(x, [(0, 0), *pairs, (0, 0)], mode=mode))


def test_zero_padding2d():
    x = rand(1, 2, 3, 2, dtype="float32")
    layer = gx.layers.ZeroPadding2D(((1, 2), (3, 0)))
    out, g = eager_then_graph(layer, x)
    np.testing.assert_array_equal(out, np.pad(x, [(0, 0), (1, 2), (3, 0), (0, 0)]))
    assert g.nx.nodes[f"{layer.name}/pad"]["attrs"]["mode"] == "constant"
    for bad in (-1, (1, 2, 3), 1.5, ((1, 2), (3,))):
        with pytest.raises(gx.InvalidArgumentError, match="padding"):
            gx.layers.ZeroPadding2D(bad)
    with pytest.raises(gx.ShapeError, match="must be NHWC"):
        layer(np.ones((2, 2)))


# -- Sequential -----------------------------------------------------------------------------------
def small_cnn(dtype="float32"):
    return gx.nn.Sequential([
        gx.layers.Conv2D(4, 3, padding="same", padding_mode="reflect", activation="relu",
                         seed=0, dtype=dtype),
        gx.layers.MaxPool2D(),
        gx.layers.Flatten(),
        gx.layers.Dense(3, activation="softmax", seed=1, dtype=dtype),
    ])


@pytest.mark.parametrize("dtype", FLOATS)
def test_sequential_matches_layer_by_layer(dtype):
    model = small_cnn(dtype)
    assert gx.nn.Sequential is gx.layers.Sequential
    x = rand(2, 6, 6, 2, dtype=dtype)
    out, g = eager_then_graph(model, x)
    conv, _, _, dense = model.layers
    k, b = values(conv)
    h = np.maximum(ref_conv2d(x, k, padding=[(1, 1), (1, 1)], mode="reflect") + b, 0)
    h = ref_max_pool(h.astype(dtype), (2, 2), (2, 2)).reshape(2, -1)
    w, c = values(dense)
    logits = h @ w + c
    want = np.exp(logits - logits.max(-1, keepdims=True))
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else {}
    assert_close(out, (want / want.sum(-1, keepdims=True)).astype(dtype), **tol)
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-6)
    assert len(model.variables) == 4 and model.count_params() == 4 * 18 + 4 + 36 * 3 + 3
    assert {f"{model.name}/{conv.name}/conv2d", f"{model.name}/{conv.name}/pad",
            f"{model.name}/{dense.name}/matmul", f"{model.name}/{dense.name}/kernel"} <= set(g.nx)


def test_sequential_add_and_summary(capsys):
    model = gx.nn.Sequential(name="net")
    model.add(gx.layers.Dense(4, activation="relu", seed=0, name="hidden"))
    model.add(gx.layers.Dense(2, seed=0, name="out"))
    text = model.summary(print_fn=None)
    assert "hidden (Dense)" in text and "?" in text and "Total params: 0" in text
    model(np.ones((5, 3), "float32"))
    text = model.summary()
    assert capsys.readouterr().out.strip() == text.strip()
    lines = text.splitlines()
    assert lines[0] == 'Model: "net"'
    row = next(line for line in lines if line.startswith("hidden (Dense)"))
    assert "(5, 4)" in row and row.rstrip().endswith("16")
    row = next(line for line in lines if line.startswith("out (Dense)"))
    assert "(5, 2)" in row and row.rstrip().endswith("10")
    assert "Total params: 26" in text and "Trainable params: 26" in text
    assert "Non-trainable params: 0" in text
    with pytest.raises(gx.InvalidArgumentError, match="can only add layers"):
        model.add(lambda t: t)


def test_layer_training_step_changes_output():
    """A weight update through Variable.assign shows in the next call, in both modes."""
    model = gx.nn.Sequential([gx.layers.Dense(2, seed=0)])
    x = np.ones((1, 3), "float32")
    before = model(x).numpy()
    kernel = model.variables[0]
    kernel.assign(kernel.numpy() + 1.0)
    after = model(x).numpy()
    np.testing.assert_allclose(after - before, [[3.0, 3.0]], rtol=1e-6)
