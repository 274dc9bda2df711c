"""numpy functions on tensors (issue 9, item 15): one rule, ``graphexec.ops.numpy_api``.

numpy ufuncs and functions graphexec has run as graphexec ops (a Tensor in both modes, taped);
numpy arguments those ops do not take are an error; any other numpy function reads eager
tensors as arrays and gives numpy's result, and refuses graph tensors."""

import warnings

import numpy as np
import pytest

import graphexec as gx
from graphexec.ops.numpy_api import FUNCTIONS, UFUNCS

from .helpers import rand

_BOOL_UFUNCS = {np.logical_and, np.logical_or, np.logical_not, np.bitwise_and, np.bitwise_or,
                np.bitwise_xor, np.invert}


def _operands(ufunc):
    if ufunc in _BOOL_UFUNCS:
        return [rand(3, 4, dtype=bool, seed=s) for s in range(ufunc.nin)]
    if ufunc is np.matmul:
        return [rand(3, 4, seed=1), rand(4, 2, seed=2)]
    low = 0.1 if ufunc in (np.sqrt, np.log, np.log1p, np.power, np.reciprocal) else -2.0
    return [rand(3, 4, seed=s, low=low) for s in range(ufunc.nin)]


def _same(got, want):
    want = np.asarray(want)
    assert isinstance(got, gx.Tensor), type(got)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("ufunc", sorted(UFUNCS, key=lambda u: u.__name__),
                         ids=lambda u: u.__name__)
def test_numpy_ufuncs_run_graphexec_ops_in_both_modes(ufunc):
    xs = _operands(ufunc)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = ufunc(*xs)
        _same(ufunc(*[gx.constant(x) for x in xs]), want)
        if ufunc.nin == 2:  # an ndarray first: numpy's operator protocol hands it to us
            _same(ufunc(xs[0], gx.constant(xs[1])), want)
        with gx.graph() as g:
            phs = [gx.placeholder(x.shape, x.dtype) for x in xs]
            out = ufunc(*phs)
        assert isinstance(out, gx.Tensor) and out._graph is g
        for level in (0, 1, 2, 3):
            got = g.run(out, dict(zip(phs, xs, strict=True)), optimize=level)
            np.testing.assert_allclose(got, want, rtol=1e-12)


def test_operators_with_an_ndarray_first_are_graphexec_ops():
    a = np.array([1.0, 2.0])
    with gx.graph() as g:
        x = gx.placeholder((2,), "float64", name="x")
        ys = [a + x, a - x, a * x, a / x, a ** x, a > x, a @ x]
    got = g.run(ys, {x: np.array([3.0, 4.0])})
    b = np.array([3.0, 4.0])
    for y, want in zip(got, [a + b, a - b, a * b, a / b, a ** b, a > b, a @ b], strict=True):
        np.testing.assert_array_equal(y, want)


_FUNCTION_CALLS = {
    np.sum: [((), {}), ((0,), {}), ((), {"axis": 1, "keepdims": True}),
             ((), {"dtype": None, "out": None})],
    np.mean: [((), {}), ((1,), {})], np.max: [((), {"axis": 0})], np.amax: [((), {})],
    np.min: [((), {"keepdims": True})], np.amin: [((), {"axis": -1})],
    np.prod: [((), {"axis": 0})], np.argmax: [((), {"axis": 1})], np.argmin: [((), {})],
    np.all: [((), {"axis": 0})], np.any: [((), {})],
    np.transpose: [((), {}), (((1, 0),), {})], np.reshape: [(((4, 3),), {}), ((-1,), {})],
    np.expand_dims: [((0,), {})], np.squeeze: [((), {})],
    np.broadcast_to: [(((2, 3, 4),), {})], np.clip: [((-0.5, 0.5), {}), ((), {"max": 0.0})],
    np.zeros_like: [((), {})], np.ones_like: [((), {"dtype": "int32"})],
}


@pytest.mark.parametrize("func", sorted(_FUNCTION_CALLS, key=lambda f: f.__name__),
                         ids=lambda f: f.__name__)
def test_numpy_functions_run_graphexec_ops(func):
    x = rand(3, 4) if func is not np.squeeze else rand(3, 1, 4)
    for args, kwargs in _FUNCTION_CALLS[func]:
        want = func(x, *args, **kwargs)
        _same(func(gx.constant(x), *args, **kwargs), want)
        with gx.graph() as g:
            p = gx.placeholder(x.shape, x.dtype)
            out = func(p, *args, **kwargs)
        np.testing.assert_array_equal(g.run(out, {p: x}), want)


_OTHERS = {np.concatenate, np.stack, np.where, np.tile, np.split, np.round, np.around,
           np.linalg.inv, np.linalg.det, np.linalg.solve}


def test_every_function_of_the_table_is_tested():
    assert set(FUNCTIONS) - _OTHERS == set(_FUNCTION_CALLS)


def test_tile_split_round_and_linalg_as_numpy():
    x = rand(2, 3)
    t = gx.constant(x)
    for reps in (2, (2, 1), (2, 1, 3)):
        _same(np.tile(t, reps), np.tile(x, reps))
    for got, want in zip(np.split(t, 3, axis=1), np.split(x, 3, axis=1), strict=True):
        _same(got, want)
    with pytest.raises(gx.InvalidArgumentError, match=r"np\.split: .*not at indices"):
        np.split(t, [1])
    _same(np.round(t * 3.0), np.round(x * 3.0))
    _same(np.around(t), np.around(x))
    with pytest.raises(gx.InvalidArgumentError, match="takes no decimals="):
        np.round(t, 2)
    a = rand(3, 3, seed=4) + 3 * np.eye(3)
    ta = gx.constant(a)
    np.testing.assert_allclose(np.linalg.inv(ta).numpy(), np.linalg.inv(a), rtol=1e-12)
    np.testing.assert_allclose(np.linalg.det(ta).numpy(), np.linalg.det(a), rtol=1e-12)
    np.testing.assert_allclose(np.linalg.solve(ta, x.T).numpy(), np.linalg.solve(a, x.T),
                               rtol=1e-12)
    assert isinstance(np.linalg.inv(ta), gx.Tensor)
    _same(np.concatenate([t, t], axis=None), np.concatenate([x, x], axis=None))
    _same(np.clip(t, 1.0, 0.0), np.clip(x, 1.0, 0.0))  # numpy: the upper bound wins
    _same(np.clip(t, None, 0.5), np.clip(x, None, 0.5))


def test_ufuncs_writing_into_numpy_arrays_are_numpy_s():
    a = np.zeros(3)
    a += gx.constant([1.0, 2.0, 3.0])
    assert a.tolist() == [1.0, 2.0, 3.0]
    out = np.zeros(3)
    assert np.add(gx.constant([1.0, 2.0, 3.0]), 1.0, out=out) is out
    assert out.tolist() == [2.0, 3.0, 4.0]
    with gx.graph():
        x = gx.placeholder((3,), "float64", name="x")
        with pytest.raises(gx.GraphError, match=r"np\.add on graph tensor 'x'"):
            np.add(x, 1.0, out=np.zeros(3))
    with gx.graph():
        y = gx.placeholder((2, 2), "float64", name="y")
        with pytest.raises(gx.GraphError, match=r"np\.linalg\.eigvals on graph tensor"):
            np.linalg.eigvals(y)


def test_sequences_and_where():
    a, b = rand(2, 3, seed=1), rand(2, 3, seed=2)
    ta, tb = gx.constant(a), gx.constant(b)
    _same(np.concatenate([ta, tb]), np.concatenate([a, b]))
    _same(np.concatenate([ta, b], axis=1), np.concatenate([a, b], axis=1))
    _same(np.stack([ta, tb], axis=-1), np.stack([a, b], axis=-1))
    _same(np.where(ta > 0, ta, tb), np.where(a > 0, a, b))
    with pytest.raises(gx.InvalidArgumentError, match=r"np\.where: .*nonzero"):
        np.where(ta > 0)


def test_tapes_record_numpy_calls():
    x = gx.constant(np.array([0.5, 1.0]))
    with gx.GradientTape() as tape:
        tape.watch(x)
        y = np.sum(np.exp(x) * 2.0)
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), 2 * np.exp([0.5, 1.0]), rtol=1e-15)


@pytest.mark.parametrize("call, what", [
    (lambda t: np.sum(t, dtype="float64"), r"np\.sum: graphexec's sum takes no dtype="),
    (lambda t: np.max(t, initial=5.0), "takes no initial="),
    (lambda t: np.mean(t, where=np.array([True, False])), "takes no where="),
    (lambda t: np.reshape(t, (2,), order="F"), "takes no order="),
    (lambda t: np.exp(t, dtype="float64"), "takes no dtype="),
    (lambda t: np.concatenate([t, t], axis=0, dtype="float64"), "takes no dtype="),
])
def test_numpy_arguments_graphexec_does_not_take_are_errors(call, what):
    with pytest.raises(gx.InvalidArgumentError, match=what):
        call(gx.constant(np.array([1.0, 2.0])))


def test_other_numpy_functions_read_eager_tensors_as_arrays():
    x = np.array([1.0, np.nan, 3.0])
    t = gx.constant(x)
    got = np.isnan(t)
    assert type(got) is np.ndarray and got.tolist() == [False, True, False]
    assert np.allclose(t, x, equal_nan=True) is True
    assert np.add.reduce(gx.constant([1.0, 2.0])) == 3.0
    assert type(np.nansum(t)) is np.float64 and np.nansum(t) == 4.0
    np.testing.assert_array_equal(np.asarray(t), x)
    with pytest.raises(gx.InvalidArgumentError, match="out= cannot be a Tensor"):
        np.isnan(t, out=gx.constant([True, True, True]))


def test_other_numpy_functions_refuse_graph_tensors():
    with gx.graph():
        x = gx.placeholder((2,), name="x")
        for call in (np.isnan, np.nansum, np.add.reduce, lambda t: np.allclose(t, 1.0)):
            with pytest.raises(gx.GraphError, match=r"np\.\w+.* on graph tensor 'x'.*at "
                                                    r"test_numpy_api\.py"):
                call(x)
