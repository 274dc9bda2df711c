"""Layers that behave differently in training and inference (Dropout, BatchNormalization),
LayerNormalization, and folding BatchNorm into the product before it: in both modes, at every
optimization level, against numpy."""

from __future__ import annotations

import numpy as np
import pytest

import graphexec as gx

LEVELS = [0, 1, 2, 3]


def _data(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def test_dropout_drops_the_same_elements_in_both_modes():
    x = np.ones((8, 16), "float32")
    eager_layer = gx.layers.Dropout(0.25, seed=7)
    eager = [eager_layer(x, training=True).numpy() for _ in range(3)]
    for level in LEVELS:
        layer = gx.layers.Dropout(0.25, seed=7)
        f = gx.function(lambda t, layer=layer: layer(t, training=True), optimize=level)
        for step, want in enumerate(eager):
            np.testing.assert_array_equal(f(x).numpy(), want, err_msg=f"level {level}, {step}")
    assert not np.array_equal(eager[0], eager[1])  # a new mask each step
    kept = np.mean([m != 0 for m in eager])
    assert 0.65 < kept < 0.85 and set(np.unique(eager[0])) <= {0.0, np.float32(1 / 0.75)}
    np.testing.assert_array_equal(eager_layer(x).numpy(), x)  # inference: the identity
    assert eager_layer.step.numpy() == 3 and not eager_layer.trainable_variables
    with pytest.raises(gx.InvalidArgumentError, match=r"rate must be in \[0, 1\)"):
        gx.layers.Dropout(1.0)


def test_dropout_gradient_flows_through_the_kept_elements():
    drop = gx.layers.Dropout(0.5, seed=1)
    x = gx.constant(_data(4, 6))
    with gx.GradientTape() as tape:
        tape.watch(x)
        y = gx.sum(drop(x, training=True) * 3.0)
    g = tape.gradient(y, x).numpy()
    assert set(np.unique(g)) <= {0.0, 6.0} and (g == 6.0).any() and (g == 0.0).any()


def _bn_reference(x, steps, momentum=0.9, eps=1e-3):
    mm, mv = np.zeros(x.shape[-1]), np.ones(x.shape[-1])
    out = None
    for _ in range(steps):
        mu, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
        out = (x - mu) / np.sqrt(var + eps)
        mm, mv = mm * momentum + mu * (1 - momentum), mv * momentum + var * (1 - momentum)
    return out, mm, mv


def test_batch_norm_trains_and_infers_the_same_in_both_modes():
    x = _data(4, 3, 3, 2) * 2.0 + 1.0
    want, mm, mv = _bn_reference(x.astype(np.float64), 3)
    results = {}
    for mode in ["eager", *LEVELS]:
        bn = gx.layers.BatchNormalization(momentum=0.9)
        call = (lambda t, bn=bn: bn(t, training=True)) if mode == "eager" else gx.function(
            lambda t, bn=bn: bn(t, training=True), optimize=mode)
        outs = [np.asarray(call(gx.constant(x) if mode == "eager" else x)) for _ in range(3)]
        inference = bn(gx.constant(x)).numpy()
        results[mode] = (outs[-1], bn.moving_mean.numpy(), bn.moving_variance.numpy(), inference)
    for mode, (out, m, v, inf) in results.items():
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5, err_msg=str(mode))
        np.testing.assert_allclose(m, mm, rtol=1e-5, err_msg=str(mode))
        np.testing.assert_allclose(v, mv, rtol=1e-5, err_msg=str(mode))
        np.testing.assert_allclose(inf, (x - mm) / np.sqrt(mv + 1e-3), rtol=1e-4, atol=1e-5)
    for mode in LEVELS[:2]:  # levels 0 and 1 are exact
        np.testing.assert_array_equal(results[mode][0], results["eager"][0])


def test_batch_norm_is_folded_into_the_product_before_it():
    conv = gx.nn.Sequential([gx.layers.Conv2D(4, 3, seed=0), gx.layers.BatchNormalization(),
                             gx.layers.Dense(3, seed=1), gx.layers.BatchNormalization()])
    x = _data(2, 6, 6, 3)
    for _ in range(2):  # moving statistics away from their initial values
        conv(x, training=True)
    want = conv(gx.constant(x)).numpy()
    for level in LEVELS:
        f = gx.function(lambda t: conv(t), optimize=level)
        got = f(x).numpy()
        ops = [d["op"].name for _, d in f.get_compiled(x).graph.nx.nodes(data=True)]
        if level >= 2:
            assert "batch_norm" not in ops, ops
            np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)
            folds = f.get_compiled(x).report.actions("batchnorm_folding")
            assert len(folds) == 2 and "conv2d" in folds[0] and "matmul" in folds[1]
            assert {"fused_conv2d", "fused_dense"} <= set(ops)  # then the epilogue fuses
        else:
            assert ops.count("batch_norm") == 2
            np.testing.assert_array_equal(got, want)


def test_layer_normalization_in_both_modes():
    x = _data(3, 5)
    ln = gx.layers.LayerNormalization()
    want = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(ln(x).numpy(), want, rtol=1e-5, atol=1e-6)
    for level in LEVELS:
        np.testing.assert_allclose(gx.function(ln, optimize=level)(x).numpy(), want, rtol=1e-5,
                                   atol=1e-6)
    assert [v.name.rsplit("/", 1)[-1] for v in ln.trainable_variables] == ["gamma", "beta"]


def test_training_reaches_the_layers_of_a_sequential_and_must_be_a_bool():
    model = gx.nn.Sequential([gx.layers.Dense(4, seed=0), gx.layers.Dropout(0.5, seed=0)])
    x = np.ones((2, 3), "float32")
    inference = model(x).numpy()
    trained = model(x, training=True).numpy()
    assert (trained == 0).any() and not (inference == 0).any()
    with pytest.raises(gx.InvalidArgumentError, match="training must be a Python bool"):
        model(x, training=gx.constant(True))


def test_folding_constant_statistics_leaves_constant_weights():
    with gx.graph() as g:
        x = gx.placeholder((None, 3), "float32", name="x")
        w = gx.constant(_data(3, 2))
        y = gx.nn.batch_norm(gx.matmul(x, w) + gx.constant(_data(2)), _data(2),
                             np.abs(_data(2)) + 0.5, _data(2), _data(2))
    c = g.compile(y, optimize=2)
    ops = sorted(d["op"].name for _, d in c.graph.nx.nodes(data=True))
    assert ops == ["constant", "constant", "fused_dense", "placeholder"], ops
    xv = _data(4, 3)
    np.testing.assert_allclose(c({x: xv}), g.run(y, {x: xv}, optimize=0), rtol=1e-5, atol=1e-6)
