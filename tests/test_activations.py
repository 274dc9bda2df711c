"""The activations written with primitives (leaky_relu, elu, selu, softplus, silu/swish,
hard_sigmoid): against numpy in eager mode and in graphs at every optimization level, their
gradients against central differences, and the layers taking them by name."""

from __future__ import annotations

import numpy as np
import pytest

import graphexec as gx

A, S = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946

REFERENCES = {
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "selu": lambda x: S * np.where(x > 0, x, A * np.expm1(np.minimum(x, 0))),
    "softplus": lambda x: np.logaddexp(0.0, x),
    "silu": lambda x: x / (1 + np.exp(-x)),
    "hard_sigmoid": lambda x: np.clip(x / 6 + 0.5, 0, 1),
}
# away from the kinks (0, and +-3 for hard_sigmoid), where central differences are smooth
X = np.array([-40.0, -5.0, -2.5, -1.0, -0.3, 0.2, 0.7, 1.5, 2.9, 3.2, 8.0, 40.0])


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_activation_matches_numpy_in_both_modes(name):
    fn = getattr(gx.nn, name)
    want = REFERENCES[name](X)
    np.testing.assert_allclose(fn(gx.constant(X)).numpy(), want, rtol=1e-12, atol=1e-300)
    for level in (0, 1, 2, 3):
        got = gx.function(fn, optimize=level)(X).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300, err_msg=f"level {level}")
    x32 = X.astype("float32")
    assert fn(gx.constant(x32)).dtype == np.float32
    assert np.isfinite(fn(gx.constant(np.array([1e30, -1e30], "float32"))).numpy()).all()
    with pytest.raises(gx.DTypeError, match=f"{name}: needs a floating input"):
        fn(gx.constant([1, 2]))


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_activation_gradient_matches_central_differences(name):
    fn = getattr(gx.nn, name)
    x = gx.constant(X)
    with gx.GradientTape() as tape:
        tape.watch(x)
        y = gx.sum(fn(x) * np.linspace(0.5, 1.5, len(X)))
    got = tape.gradient(y, x).numpy()
    eps = 1e-6
    ref = REFERENCES[name]
    num = (ref(X + eps) - ref(X - eps)) / (2 * eps) * np.linspace(0.5, 1.5, len(X))
    np.testing.assert_allclose(got, num, rtol=1e-6, atol=1e-9)
    f = gx.function(lambda t: _grad(fn, t), optimize=3)
    np.testing.assert_allclose(f(X).numpy(), got, rtol=1e-12)


def _grad(fn, t):
    with gx.GradientTape() as tape:
        tape.watch(t)
        y = gx.sum(fn(t) * np.linspace(0.5, 1.5, len(X)))
    return tape.gradient(y, t)


def test_layers_take_the_new_activations_by_name():
    for name in (*REFERENCES, "swish"):
        layer = gx.layers.Dense(2, activation=name, seed=0)
        out = layer(np.ones((1, 3), "float32"))
        assert out.shape == (1, 2)


def test_softplus_and_logit_cross_entropy_have_sigmoids_gradient_at_zero():
    x = gx.constant(np.array([0.0, -0.0]))
    with gx.GradientTape() as tape:
        tape.watch(x)
        y = gx.sum(gx.nn.softplus(x))
    assert tape.gradient(y, x).numpy().tolist() == [0.5, 0.5]
    z = gx.constant(np.array([[0.0, 0.0]]))
    with gx.GradientTape() as tape:
        tape.watch(z)
        loss = gx.losses.binary_crossentropy([[1.0, 0.0]], z, from_logits=True)
    np.testing.assert_allclose(tape.gradient(loss, z).numpy(), [[-0.25, 0.25]])  # (0.5-y)/2
