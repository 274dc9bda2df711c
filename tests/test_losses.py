"""gx.losses against numpy versions of the Keras formulas, eagerly and in graph mode."""

import numpy as np
import pytest

import graphexec as gx
from graphexec.losses import EPSILON

from .helpers import assert_close, check_op, rand, run_eager, run_graph

FLOATS = ["float32", "float64"]
REDUCE = {"mean": np.mean, "sum": np.sum, "none": lambda v: v}


# -- references (Keras 3's numpy backend, written out) -------------------------------------------
def ref_mse(t, p, reduction="mean"):
    return np.asarray(REDUCE[reduction](np.mean((p - t.astype(p.dtype)) ** 2, axis=-1)))


def ref_log_probs(p, from_logits, axis):
    if from_logits:
        s = p - p.max(axis=axis, keepdims=True)
        return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))
    p = p / p.sum(axis=axis, keepdims=True)
    return np.log(np.clip(p, EPSILON, 1 - EPSILON))


def ref_cce(t, p, from_logits=False, axis=-1, reduction="mean"):
    per = -np.sum(t.astype(p.dtype) * ref_log_probs(p, from_logits, axis), axis=axis)
    return np.asarray(REDUCE[reduction](per))


def ref_scce(t, p, from_logits=False, axis=-1, reduction="mean"):
    hot = np.moveaxis(np.eye(p.shape[axis], dtype=p.dtype)[t], -1, axis)  # Keras' one_hot
    return ref_cce(hot, p, from_logits, axis, reduction)


def probs(*shape, dtype="float64", seed=0):
    return rand(*shape, dtype=dtype, seed=seed, low=0.05, high=1.0)


def onehot(labels, n, dtype="float64"):
    return np.eye(n, dtype=dtype)[labels]


def raises_both(exc, match, fn, *arrays):
    with pytest.raises(exc, match=match):
        run_eager(fn, *arrays)
    with pytest.raises(exc, match=match), gx.graph():
        fn(*[gx.placeholder(a.shape, a.dtype) for a in arrays])


# -- mean squared error ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse(dtype, reduction):
    t, p = rand(4, 3, dtype=dtype, seed=1), rand(4, 3, dtype=dtype, seed=2)

    def fn(a, b):
        return gx.losses.mean_squared_error(a, b, reduction=reduction)

    check_op(fn, lambda a, b: ref_mse(a, b, reduction), t, p)
    check_op(fn, lambda a, b: ref_mse(a, b, reduction), t, p, dynamic=True)
    t3, p3 = rand(2, 3, 5, dtype=dtype, seed=3), rand(2, 3, 5, dtype=dtype, seed=4)
    check_op(fn, lambda a, b: ref_mse(a, b, reduction), t3, p3)


def test_mse_known_value_and_casting():
    out = gx.losses.mean_squared_error([[0.0, 0.0], [1.0, 1.0]], [[1.0, 3.0], [1.0, 1.0]])
    assert out.numpy() == 2.5  # per sample (1 + 9) / 2 = 5 and 0: their mean
    y_true = np.array([[1, 0, 2]])  # int labels are cast to y_pred's dtype, as Keras does
    y_pred = np.array([[1.5, 0.0, 2.0]], "float32")
    check_op(gx.losses.mean_squared_error, ref_mse, y_true, y_pred)
    assert gx.losses.mean_squared_error(y_true, y_pred).dtype == np.float32


def test_mse_of_one_axis_and_empty_batch():
    t, p = rand(5, seed=1), rand(5, seed=2)
    check_op(gx.losses.mean_squared_error, ref_mse, t, p)
    check_op(lambda a, b: gx.losses.mean_squared_error(a, b, reduction="none"),
             lambda a, b: np.zeros(0), np.zeros((0, 3)), np.zeros((0, 3)))
    check_op(lambda a, b: gx.losses.mean_squared_error(a, b, reduction="sum"),
             lambda a, b: np.array(0.0), np.zeros((0, 3)), np.zeros((0, 3)))


# -- categorical cross-entropy --------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_categorical_crossentropy(dtype, from_logits, reduction):
    t = onehot(np.array([0, 2, 1, 2]), 3, dtype)
    p = rand(4, 3, dtype=dtype, seed=5) if from_logits else probs(4, 3, dtype=dtype)

    def fn(a, b):
        return gx.losses.categorical_crossentropy(a, b, from_logits, reduction=reduction)

    def ref(a, b):
        return ref_cce(a, b, from_logits, reduction=reduction)

    check_op(fn, ref, t, p)
    check_op(fn, ref, t, p, dynamic=True)


@pytest.mark.parametrize("from_logits", [False, True])
def test_categorical_crossentropy_soft_labels_and_axis(from_logits):
    t = probs(2, 4, 3, seed=1)
    t /= t.sum(axis=1, keepdims=True)
    p = rand(2, 4, 3, seed=2) if from_logits else probs(2, 4, 3, seed=2)
    check_op(lambda a, b: gx.losses.categorical_crossentropy(a, b, from_logits, axis=1),
             lambda a, b: ref_cce(a, b, from_logits, axis=1), t, p)
    check_op(lambda a, b: gx.losses.categorical_crossentropy(a, b, from_logits, 0, "none"),
             lambda a, b: ref_cce(a, b, from_logits, 0, "none"), t, p)


def test_categorical_crossentropy_probabilities_are_rescaled_and_clipped():
    t = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    p = np.array([[1.0, 2.0, 1.0], [0.0, 3.0, 0.0]])  # rows sum to 4 and 3; a zero probability
    out = gx.losses.categorical_crossentropy(t, p, reduction="none").numpy()
    assert_close(out, np.array([-np.log(0.5), -np.log(EPSILON)]))
    one = gx.losses.categorical_crossentropy(t[:1], np.array([[0.0, 1.0, 0.0]])).numpy()
    assert_close(one, np.array(-np.log(1 - EPSILON)))


@pytest.mark.parametrize("dtype", FLOATS)
def test_crossentropy_from_logits_is_finite_for_huge_logits(dtype):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]], dtype)
    t = onehot(np.array([1, 2]), 3, dtype)
    for fn, y in ((gx.losses.categorical_crossentropy, t),
                  (gx.losses.sparse_categorical_crossentropy, np.array([1, 2]))):
        def loss(a, b, fn=fn):
            return fn(a, b, from_logits=True, reduction="none")

        for out in (run_eager(loss, y, logits)[0], run_graph(loss, y, logits)[0]):
            assert np.isfinite(out).all()
            assert_close(out, np.array([2e4, 0.0], dtype))


# -- sparse categorical cross-entropy -------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_sparse_categorical_crossentropy(dtype, from_logits, reduction):
    labels = np.array([0, 3, 1, 1, 2], "int32")
    p = rand(5, 4, dtype=dtype, seed=6) if from_logits else probs(5, 4, dtype=dtype)

    def fn(a, b):
        return gx.losses.sparse_categorical_crossentropy(a, b, from_logits,
                                                         reduction=reduction)

    def ref(a, b):
        return ref_scce(a, b, from_logits, reduction=reduction)

    check_op(fn, ref, labels, p)
    check_op(fn, ref, labels, p, dynamic=True)
    # it equals the categorical loss on one-hot labels
    dense = run_eager(lambda a, b: gx.losses.categorical_crossentropy(
        a, b, from_logits, reduction=reduction), onehot(labels, 4, dtype), p)[0]
    assert_close(run_eager(fn, labels, p)[0], dense)


def test_sparse_categorical_crossentropy_axis_and_label_column():
    labels = np.array([[0, 2, 1], [2, 2, 0]])
    p = probs(2, 3, 3, seed=8)
    check_op(lambda a, b: gx.losses.sparse_categorical_crossentropy(a, b, axis=1),
             lambda a, b: ref_scce(a, b, axis=1), labels, p)
    column = np.array([[1], [0], [2]], "int64")  # Keras' (batch, 1) labels
    p2 = probs(3, 4, seed=9)
    check_op(gx.losses.sparse_categorical_crossentropy,
             lambda a, b: ref_scce(a[:, 0], b), column, p2)


def test_sparse_label_out_of_range_fails_at_run_time():
    with pytest.raises(gx.ExecutionError, match=r"label 3 is outside the valid range \[0, 3\)"):
        gx.losses.sparse_categorical_crossentropy([0, 3], probs(2, 3))
    with gx.graph() as g:
        y = gx.placeholder((None,), "int32")
        p = gx.placeholder((None, None), "float32")
        loss = gx.losses.sparse_categorical_crossentropy(y, p, from_logits=True)
    with pytest.raises(gx.ExecutionError, match="label -1 is outside"):
        g.run(loss, {y: np.array([-1, 0], "int32"), p: np.zeros((2, 3), "float32")})


# -- errors ---------------------------------------------------------------------------------------
def test_shape_mismatch_is_a_shape_error():
    raises_both(gx.ShapeError, r"mean_squared_error: y_true \(4, 3\) and y_pred \(4, 1\) "
                r"differ in shape; losses do not broadcast", gx.losses.mean_squared_error,
                rand(4, 3), rand(4, 1))
    raises_both(gx.ShapeError, r"y_true \(3,\) and y_pred \(4, 3\)",
                gx.losses.categorical_crossentropy, rand(3), probs(4, 3))
    raises_both(gx.ShapeError, r"labels y_true \(4, 2\) do not fit y_pred \(4, 3\): expected "
                r"\(4,\)", gx.losses.sparse_categorical_crossentropy,
                np.zeros((4, 2), int), probs(4, 3))
    raises_both(gx.ShapeError, r"labels y_true \(5,\) do not fit",
                gx.losses.sparse_categorical_crossentropy, np.zeros(5, int), probs(4, 3))
    raises_both(gx.ShapeError, "scalars", gx.losses.mean_squared_error,
                np.array(1.0), np.array(2.0))
    with gx.graph(), pytest.raises(gx.ShapeError, match=r"\(None, 3\) and y_pred \(None, 2\)"):
        gx.losses.mean_squared_error(gx.placeholder((None, 3)), gx.placeholder((None, 2)))


def test_sparse_labels_must_be_integers():
    raises_both(gx.DTypeError, "sparse_categorical_crossentropy: y_true must hold integer class "
                "labels, got float64", gx.losses.sparse_categorical_crossentropy,
                np.array([0.0, 1.0]), probs(2, 3))


def test_unknown_reduction_and_axis():
    for fn in (gx.losses.mean_squared_error, gx.losses.categorical_crossentropy):
        raises_both(gx.InvalidArgumentError, "unknown reduction 'avg'",
                    lambda a, b, fn=fn: fn(a, b, reduction="avg"), rand(2, 3), probs(2, 3))
    raises_both(gx.InvalidArgumentError, "unknown reduction",
                lambda a, b: gx.losses.sparse_categorical_crossentropy(a, b, reduction=None),
                np.array([0, 1]), probs(2, 3))
    raises_both(gx.InvalidArgumentError, r"axis 2 is out of range .*\(shape \(2, 3\)\)",
                lambda a, b: gx.losses.categorical_crossentropy(a, b, axis=2),
                rand(2, 3), probs(2, 3))
    check_op(lambda a, b: gx.losses.mean_squared_error(a, b, reduction="SUM"),
             lambda a, b: ref_mse(a, b, "sum"), rand(2, 3), rand(2, 3, seed=1))
