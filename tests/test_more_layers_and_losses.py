"""The losses and layers users looked for first: binary cross-entropy, mean absolute error,
Huber; Embedding, global pooling, Conv2D's padding modes; in both modes against numpy, and
their gradients against central differences."""

from __future__ import annotations

import numpy as np
import pytest

import graphexec as gx

LEVELS = [0, 1, 2, 3]


def _both(fn, *args, rtol=1e-12):
    want = fn(*[gx.constant(a) for a in args]).numpy()
    for level in LEVELS:
        np.testing.assert_allclose(gx.function(fn, optimize=level)(*args).numpy(), want,
                                   rtol=rtol, atol=1e-15, err_msg=f"level {level}")
    return want


def _grad_check(fn, y, x):
    t = gx.constant(x)
    with gx.GradientTape() as tape:
        tape.watch(t)
        loss = fn(gx.constant(y), t)
    got = tape.gradient(loss, t).numpy()
    eps, num = 1e-6, np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        hi, lo = x.copy(), x.copy()
        hi[idx] += eps
        lo[idx] -= eps
        num[idx] = (float(fn(gx.constant(y), gx.constant(hi)))
                    - float(fn(gx.constant(y), gx.constant(lo)))) / (2 * eps)
    np.testing.assert_allclose(got, num, rtol=1e-5, atol=1e-8)


RNG = np.random.default_rng(0)
Y01 = (RNG.random((4, 3)) > 0.5).astype(np.float64)
P = RNG.uniform(0.05, 0.95, (4, 3))
Z = RNG.normal(size=(4, 3)) * 3


def test_binary_crossentropy():
    want = -(Y01 * np.log(P) + (1 - Y01) * np.log(1 - P)).mean(-1).mean()
    np.testing.assert_allclose(_both(gx.losses.binary_crossentropy, Y01, P), want, rtol=1e-12)
    logits = _both(lambda y, z: gx.losses.binary_crossentropy(y, z, from_logits=True), Y01, Z)
    sig = 1 / (1 + np.exp(-Z))
    np.testing.assert_allclose(logits, -(Y01 * np.log(sig) + (1 - Y01) * np.log(1 - sig))
                               .mean(-1).mean(), rtol=1e-12)
    huge = gx.losses.binary_crossentropy([[1.0, 0.0]], [[1e4, -1e4]], from_logits=True)
    assert float(huge) == 0.0  # no overflow
    _grad_check(gx.losses.binary_crossentropy, Y01, P)
    _grad_check(lambda y, z: gx.losses.binary_crossentropy(y, z, from_logits=True), Y01, Z)


def test_mean_absolute_error_and_huber():
    d = Z - P
    np.testing.assert_allclose(_both(gx.losses.mean_absolute_error, P, Z),
                               np.abs(d).mean(-1).mean(), rtol=1e-12)
    for delta in (1.0, 0.5, 2.5):
        a = np.abs(d)
        want = np.where(a <= delta, 0.5 * d * d, delta * (a - 0.5 * delta)).mean(-1).mean()
        got = _both(lambda y, z, delta=delta: gx.losses.huber(y, z, delta=delta), P, Z)
        np.testing.assert_allclose(got, want, rtol=1e-12)
        _grad_check(lambda y, z, delta=delta: gx.losses.huber(y, z, delta=delta), P, Z)
    _grad_check(gx.losses.mean_absolute_error, P, Z)
    with pytest.raises(gx.InvalidArgumentError, match="delta must be a positive number"):
        gx.losses.huber(P, Z, delta=0)


def test_embedding_and_global_pooling_in_both_modes():
    emb = gx.layers.Embedding(6, 3, seed=0)
    ids = np.array([[0, 5, 2], [2, 2, 1]])
    got = _both(emb, ids)
    np.testing.assert_array_equal(got, emb.embeddings.numpy()[ids])
    with pytest.raises(gx.ExecutionError, match="out of range"):
        emb(np.array([6]))
    x = RNG.normal(size=(2, 3, 4, 5)).astype("float32")
    np.testing.assert_allclose(_both(gx.layers.GlobalAveragePooling2D(), x),
                               x.mean(axis=(1, 2)), rtol=1e-6)
    np.testing.assert_array_equal(_both(gx.layers.GlobalMaxPooling2D(), x), x.max(axis=(1, 2)))
    with pytest.raises(gx.ShapeError, match="must be NHWC"):
        gx.layers.GlobalMaxPooling2D()(np.ones((2, 3)))


@pytest.mark.parametrize(("mode", "numpy_mode"), [("edge", "edge"), ("replicate", "edge"),
                                                  ("wrap", "wrap"), ("circular", "wrap"),
                                                  ("zeros", "constant")])
def test_conv2d_padding_modes(mode, numpy_mode):
    x = RNG.normal(size=(1, 5, 5, 2)).astype("float32")
    conv = gx.layers.Conv2D(3, 3, padding="same", padding_mode=mode, seed=0, use_bias=False)
    got = _both(conv, x, rtol=1e-6)
    padded = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)], mode=numpy_mode)
    ref = gx.nn.conv2d(gx.constant(padded), conv.kernel, padding="VALID").numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6)


def test_a_padding_mode_with_valid_padding_is_an_error():
    with pytest.raises(gx.InvalidArgumentError, match="pads nothing with padding='valid'"):
        gx.layers.Conv2D(3, 3, padding="valid", padding_mode="reflect")
