"""top_k, sort and argsort semantics (ties, NaN, descending), cumsum/cumprod and einsum in both
modes at every level; the registry tests check each op against numpy and its gradient."""

from __future__ import annotations

import numpy as np
import pytest

import graphexec as gx

LEVELS = [0, 1, 2, 3]


def _modes(fn, *args):
    out = {"eager": fn(*[gx.constant(a) for a in args])}
    for level in LEVELS:
        out[level] = gx.function(fn, optimize=level)(*args)
    return {k: [t.numpy() for t in (v if isinstance(v, tuple) else (v,))]
            for k, v in out.items()}


def test_top_k_in_both_modes():
    x = np.array([[1.0, 5.0, 3.0, 5.0, -2.0], [0.0, 0.0, 0.0, 1.0, 2.0]])
    r = _modes(lambda t: gx.top_k(t, 3), x)
    for got in r.values():
        np.testing.assert_array_equal(got[0], [[5.0, 5.0, 3.0], [2.0, 1.0, 0.0]])
        np.testing.assert_array_equal(got[1], [[1, 3, 2], [4, 3, 0]])  # ties: earlier first
    with pytest.raises(gx.InvalidArgumentError, match=r"k=6 is outside \[0, 5\]"):
        gx.top_k(gx.constant(x), 6)
    v = gx.constant(x)
    with gx.GradientTape() as tape:
        tape.watch(v)
        y = gx.sum(gx.top_k(v, 2)[0] * np.array([1.0, 10.0]))
    np.testing.assert_array_equal(tape.gradient(y, v).numpy(),
                                  [[0, 1, 0, 10, 0], [0, 0, 0, 10, 1]])


def test_sort_and_argsort_are_stable_and_put_nan_last():
    x = np.array([3.0, np.nan, 1.0, 3.0, 2.0])
    r = _modes(lambda t: (gx.sort(t), gx.argsort(t), gx.argsort(t, descending=True)), x)
    for got in r.values():
        np.testing.assert_array_equal(got[0], [1.0, 2.0, 3.0, 3.0, np.nan])
        np.testing.assert_array_equal(got[1], [2, 4, 0, 3, 1])
        np.testing.assert_array_equal(got[2], [1, 0, 3, 4, 2])  # ties keep their order


def test_cumulative_ops_and_einsum_in_both_modes():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))

    def f(a, b):
        return (gx.cumsum(a, 1), gx.cumprod(a, 0, reverse=True), gx.einsum("ij,jk->ik", a, b),
                gx.einsum("ij->j", a))

    r = _modes(f, a, b)
    for got in r.values():
        np.testing.assert_allclose(got[0], np.cumsum(a, 1), rtol=1e-14)
        np.testing.assert_allclose(got[1], np.cumprod(a[::-1], 0)[::-1], rtol=1e-14)
        np.testing.assert_allclose(got[2], a @ b, rtol=1e-14)
        np.testing.assert_allclose(got[3], a.sum(0), rtol=1e-14)


def test_einsum_errors_name_the_spec():
    a = gx.constant(np.ones((2, 3)))
    with pytest.raises(gx.InvalidArgumentError, match="names 2 operands, got 1"):
        gx.einsum("ij,jk->ik", a)
    with pytest.raises(gx.ShapeError, match="'j' is 3 and 2"):
        gx.einsum("ij,jk->ik", a, a)
    with pytest.raises(gx.InvalidArgumentError, match="diagonals are not supported"):
        gx.einsum("ii->i", gx.constant(np.ones((2, 2))))
    with pytest.raises(gx.InvalidArgumentError, match="no ellipsis"):
        gx.einsum("...j->j", a)


def test_take_along_axis_broadcasts_nothing():
    x = gx.constant(np.arange(6.0).reshape(3, 2))
    with pytest.raises(gx.ShapeError, match="differ in dim 0, which is not the axis 1"):
        gx.take_along_axis(x, gx.constant(np.array([[1, 0]])), 1)


def test_floor_and_ceil_keep_integers_on_every_device(monkeypatch):
    import sys

    from . import fake_cupy

    monkeypatch.setitem(sys.modules, "cupy", fake_cupy.make(devices=1))
    x = gx.constant(np.array([3, -2], "int32"))
    for where in ("cpu", "gpu"):
        for fn in (gx.floor, gx.ceil):
            got = fn(x.to(where))
            assert got.dtype == np.int32 and got.numpy().tolist() == [3, -2]


def test_take_along_axis_checks_dims_unknown_when_built():
    # found in review: a None dim let numpy broadcast the indices at run time, past the spec
    with gx.graph() as g:
        x = gx.placeholder((None, 2), "float64", name="x")
        i = gx.placeholder((None, 2), "int64", name="i")
        y = gx.take_along_axis(x, i, 1)
    for level in (0, 1):
        with pytest.raises(gx.ExecutionError, match=r"take_along_axis.*differ in dim 0"):
            g.run(y, {x: np.ones((1, 2)), i: np.zeros((2, 2), np.int64)}, optimize=level)
    assert g.run(y, {x: np.ones((2, 2)), i: np.zeros((2, 2), np.int64)}).shape == (2, 2)
