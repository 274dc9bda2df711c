"""Creation and random ops: eager vs graph vs numpy, graph nodes (not constants), seeds."""

import numpy as np
import pytest

import graphexec as gx
from graphexec import DTypeError, InvalidArgumentError

from .helpers import assert_close, check_op, rand

FLOATS = ["float32", "float64"]


def both(fn, feeds=None):
    """``fn()`` run eagerly and built as a graph and run; returns (eager, graph, op names)."""
    with gx.eager():
        eager = fn().numpy()
    with gx.graph() as g:
        out = fn()
    g.validate()
    ops = {d["op"].name for _, d in g.nx.nodes(data=True)}
    return eager, np.asarray(g.run(out, feeds)), ops


def check_creation(fn, expected, op):
    """``fn()`` equals ``expected`` eagerly, and bit for bit as a graph whose node is ``op``."""
    eager, graph, ops = both(fn)
    assert_close(eager, expected)
    np.testing.assert_array_equal(graph, eager, strict=True)
    assert op in ops and "constant" not in ops, ops


def raises_both(fn, exc, match):
    with pytest.raises(exc, match=match) as eager:
        fn()
    with gx.graph() as g, pytest.raises(exc, match=match) as graph:
        fn()
    assert len(g) == 0
    for info in (eager, graph):
        assert "test_creation.py:" in str(info.value)


# ---------------------------------------------------------------------------------------------
# zeros, ones, fill, *_like

@pytest.mark.parametrize("dtype", [*FLOATS, "int32", "bool"])
def test_zeros_ones(dtype):
    check_creation(lambda: gx.zeros((2, 3), dtype), np.zeros((2, 3), dtype), "fill")
    check_creation(lambda: gx.ones([4], dtype=dtype), np.ones(4, dtype), "fill")
    check_creation(lambda: gx.ones((), dtype), np.ones((), dtype), "fill")
    check_creation(lambda: gx.zeros((0, 5), dtype), np.zeros((0, 5), dtype), "fill")


def test_zeros_ones_defaults():
    assert gx.zeros(3).dtype == np.float32
    assert gx.ones((2, 2)).numpy().tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert gx.zeros(np.array([2, 1])).shape == (2, 1)
    assert gx.zeros(gx.constant([1, 2])).shape == (1, 2)  # an eager shape tensor


@pytest.mark.parametrize("value", [7, 2.5, True, np.float32(1.5), -3 + 1j, np.int8(-4)])
def test_fill(value):
    # numpy's dtype for the value, with Python floats in the default float dtype (float32)
    dtype = {float: np.float32, complex: np.complex64}.get(type(value), np.asarray(value).dtype)
    check_creation(lambda: gx.fill((2, 3), value), np.full((2, 3), value, dtype), "fill")
    check_creation(lambda: gx.fill((), value), np.full((), value, dtype), "fill")


def test_fill_with_a_tensor_value():
    check_op(lambda v: gx.fill((2, 3), v), lambda v: np.full((2, 3), v), rand(dtype="float32"))


@pytest.mark.parametrize("dtype", FLOATS)
def test_zeros_like_ones_like(dtype):
    x = rand(2, 3, dtype=dtype)
    check_op(gx.zeros_like, np.zeros_like, x, dynamic=True)
    check_op(gx.ones_like, np.ones_like, x, dynamic=True)
    check_op(lambda t: gx.ones_like(t, "int32"), lambda a: np.ones_like(a, "int32"), x)
    check_op(gx.zeros_like, np.zeros_like, rand(dtype=dtype))
    check_op(gx.ones_like, np.ones_like, rand(0, 4, dtype=dtype))
    check_op(gx.ones_like, np.ones_like, rand(3, dtype=bool))
    with gx.graph():
        assert gx.zeros_like(gx.placeholder((None, 3))).shape == (None, 3)


def test_fill_errors():
    raises_both(lambda: gx.zeros((2, -1)), InvalidArgumentError, "^zeros: negative dim")
    raises_both(lambda: gx.ones((2.5,)), InvalidArgumentError, "sequence of ints")
    raises_both(lambda: gx.zeros((2,), "nonsense"), InvalidArgumentError, "unknown dtype")
    raises_both(lambda: gx.fill((2,), "a"), InvalidArgumentError, "must be a number")
    raises_both(lambda: gx.fill((2,), [1, 2]), InvalidArgumentError, "must be a number")
    raises_both(lambda: gx.zeros_like([1.0], dtype="nonsense"), InvalidArgumentError,
                "unknown dtype")
    with gx.graph(), pytest.raises(InvalidArgumentError, match=r"gx\.zeros_like"):
        gx.zeros(gx.placeholder((None, 3)).shape)
    with gx.graph(), pytest.raises(InvalidArgumentError, match="static"):
        gx.ones(gx.placeholder((2,), "int64"))
    with pytest.raises(InvalidArgumentError, match="must be a scalar"):
        gx.fill((2,), gx.constant([1, 2]))


# ---------------------------------------------------------------------------------------------
# eye, range

@pytest.mark.parametrize("dtype", [*FLOATS, "int64"])
def test_eye(dtype):
    check_creation(lambda: gx.eye(3, dtype=dtype), np.eye(3, dtype=dtype), "eye")
    check_creation(lambda: gx.eye(2, 4, dtype=dtype), np.eye(2, 4, dtype=dtype), "eye")
    check_creation(lambda: gx.eye(3, 1, dtype=dtype), np.eye(3, 1, dtype=dtype), "eye")
    check_creation(lambda: gx.eye(0, dtype=dtype), np.eye(0, dtype=dtype), "eye")
    batch = np.broadcast_to(np.eye(2, 3, dtype=dtype), (4, 5, 2, 3))
    check_creation(lambda: gx.eye(2, 3, batch_shape=(4, 5), dtype=dtype), batch, "eye")
    assert gx.eye(2).dtype == np.float32


def test_eye_errors():
    raises_both(lambda: gx.eye(-1), InvalidArgumentError, "^eye: negative dim")
    raises_both(lambda: gx.eye(2, batch_shape=(-2,)), InvalidArgumentError, "negative dim")


RANGES = [
    (5,), (2, 7), (7, 2), (0, 10, 3), (10, 0, -3), (1.0, 0.0, -0.25), (0, 1, 0.1),
    (0.5, 3), (np.float32(0.5), 3), (np.int8(2), np.int8(9), np.int8(2)), (0,), (-3,),
    (0, np.uint64(4)), (True, 3), (1e9, 1e9 + 5),
]


@pytest.mark.parametrize("args", RANGES, ids=repr)
def test_range(args):
    # np.arange's dtype, with Python floats in the default float dtype (float32)
    dtype = np.arange(*args).dtype
    if dtype == np.float64 and not any(isinstance(a, np.generic) for a in args):
        dtype = np.dtype(np.float32)
    check_creation(lambda: gx.range(*args), np.arange(*args, dtype=dtype), "range")


@pytest.mark.parametrize("dtype", [*FLOATS, "int32", "uint8"])
def test_range_dtype(dtype):
    check_creation(lambda: gx.range(1, 10, 2, dtype=dtype), np.arange(1, 10, 2, dtype=dtype),
                   "range")
    check_creation(lambda: gx.range(0, 1, 0.125, dtype="float32"),
                   np.arange(0, 1, 0.125, dtype="float32"), "range")


def test_range_errors():
    raises_both(lambda: gx.range(0, 5, 0), InvalidArgumentError,
                "^range: delta must not be zero")
    raises_both(lambda: gx.range(0.0, 5.0, 0.0), InvalidArgumentError, "delta must not be zero")
    raises_both(lambda: gx.range("5"), InvalidArgumentError, "real Python or numpy numbers")
    with gx.graph(), pytest.raises(InvalidArgumentError, match="numbers"):
        gx.range(gx.placeholder((), "int64"))


# ---------------------------------------------------------------------------------------------
# random

RANDOM = [
    (lambda **k: gx.random.normal((3, 4), **k), "random_normal"),
    (lambda **k: gx.random.uniform((3, 4), **k), "random_uniform"),
]


@pytest.mark.parametrize(("fn", "op"), RANDOM)
@pytest.mark.parametrize("dtype", ["float16", *FLOATS])
def test_random_seeded_is_pure(fn, op, dtype):
    a = fn(seed=7, dtype=dtype).numpy()
    assert a.dtype == dtype and a.shape == (3, 4)
    np.testing.assert_array_equal(fn(seed=7, dtype=dtype).numpy(), a, strict=True)
    with gx.graph() as g:
        t = fn(seed=7, dtype=dtype)
    assert {d["op"].name for _, d in g.nx.nodes(data=True)} == {op}
    assert not gx.REGISTRY[op].pure
    for _ in range(2):  # every run, and identical to eager mode
        np.testing.assert_array_equal(g.run(t), a, strict=True)
    assert not np.array_equal(fn(seed=8, dtype=dtype).numpy(), a)


@pytest.mark.parametrize(("fn", "op"), RANDOM)
def test_random_unseeded_varies_and_set_seed_reproduces(fn, op):
    a, b = fn().numpy(), fn().numpy()
    assert not np.array_equal(a, b)
    with gx.graph() as g:
        t = fn()
    assert not np.array_equal(g.run(t), g.run(t))
    gx.random.set_seed(42)
    first = [fn().numpy(), g.run(t)]
    gx.random.set_seed(42)
    again = [fn().numpy(), g.run(t)]
    for x, y in zip(first, again, strict=True):
        np.testing.assert_array_equal(x, y, strict=True)
    assert not np.array_equal(*first)  # the stream moves on between draws


def test_random_float32_is_drawn_as_float32():
    # drawn in float64 and cast, the values would differ from numpy's float32 stream
    got = gx.random.normal((5,), seed=3).numpy()
    want = np.random.default_rng(3).standard_normal(5, dtype=np.float32)
    np.testing.assert_array_equal(got, want, strict=True)
    got = gx.random.uniform((5,), seed=3).numpy()
    np.testing.assert_array_equal(got, np.random.default_rng(3).random(5, dtype=np.float32),
                                  strict=True)


@pytest.mark.parametrize("dtype", FLOATS)
def test_random_moments(dtype):
    x = gx.random.normal((200_000,), mean=3.0, stddev=2.0, dtype=dtype, seed=1).numpy()
    assert x.dtype == dtype
    assert abs(x.mean() - 3.0) < 0.02 and abs(x.std() - 2.0) < 0.02
    u = gx.random.uniform((200_000,), -1.0, 3.0, dtype=dtype, seed=1).numpy()
    assert u.dtype == dtype and u.min() >= -1.0 and u.max() < 3.0
    assert abs(u.mean() - 1.0) < 0.02 and abs(u.std() - 4 / np.sqrt(12)) < 0.02


def test_random_uniform_integers_and_shapes():
    x = gx.random.uniform((10_000,), 2, 6, dtype="int32", seed=0).numpy()
    assert x.dtype == np.int32 and set(np.unique(x)) == {2, 3, 4, 5}
    assert gx.random.normal(()).shape == ()
    assert gx.random.uniform((0, 3)).shape == (0, 3)
    assert gx.random.normal(np.int64(4), seed=1).shape == (4,)


def test_random_errors():
    raises_both(lambda: gx.random.normal((2,), dtype="int32"), DTypeError,
                "^normal: dtype must be a float type")
    raises_both(lambda: gx.random.uniform((2,), dtype="bool"), DTypeError, "float or integer")
    raises_both(lambda: gx.random.uniform((2,), dtype="int32"), InvalidArgumentError,
                "needs integer minval and maxval")
    raises_both(lambda: gx.random.uniform((2,), 3, 3, dtype="int32"), InvalidArgumentError,
                "must be < maxval")
    raises_both(lambda: gx.random.normal((2,), stddev=-1.0), InvalidArgumentError, ">= 0")
    raises_both(lambda: gx.random.normal((2,), seed=-1), InvalidArgumentError, "seed")
    raises_both(lambda: gx.random.normal((2,), seed=1.5), InvalidArgumentError, "seed")
    raises_both(lambda: gx.random.normal((2, -1)), InvalidArgumentError, "negative dim")
    raises_both(lambda: gx.random.normal((2,), mean="0"), InvalidArgumentError, "mean")


def test_namespaces():
    assert set(gx.random.__all__) == {"normal", "uniform", "set_seed"}
    for name in ("normal", "uniform", "set_seed"):
        assert not hasattr(gx, name)
    for name in ("zeros", "ones", "zeros_like", "ones_like", "fill", "eye", "range"):
        assert getattr(gx, name) is getattr(gx.ops.creation, name)


def test_creation_nodes_have_hashable_attrs():
    with gx.graph() as g:
        gx.zeros((2, 3)), gx.fill([2], 1.5), gx.zeros_like(gx.placeholder((None, 2)))
        gx.eye(2, 3), gx.range(1, 5, 2), gx.random.normal((2,), 1.0, 2.0, seed=3)
        gx.random.uniform((3,), 0, 5, dtype="int64")
    g.validate()
    assert len(g) == 8
    for _, d in g.nx.nodes(data=True):
        assert hash(tuple(sorted(d["attrs"].items()))) is not None
