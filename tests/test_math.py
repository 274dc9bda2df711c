"""Math ops and reductions against numpy, eagerly and as graphs (see tests/helpers.py)."""

import functools
import warnings

import numpy as np
import pytest

import graphexec as gx
from graphexec.errors import DTypeError, ExecutionError, InvalidArgumentError, ShapeError

from .helpers import check_op, rand, run_eager, run_graph

scipy_special = pytest.importorskip("scipy.special")

FLOATS = ["float32", "float64"]


def raises_both(fn, cls, match, *arrays, dynamic=False):
    """``fn`` fails with ``cls`` eagerly and while building a graph, with one message."""
    arrays = [np.asarray(a) for a in arrays]
    with gx.eager(), pytest.raises(cls, match=match) as eager:
        fn(*[gx.constant(a) for a in arrays])
    with gx.graph():
        phs = [gx.placeholder((None,) * a.ndim if dynamic else a.shape, a.dtype)
               for a in arrays]
        with pytest.raises(cls, match=match) as graph:
            fn(*phs)
    msg, loc = str(eager.value).rsplit(" — at ", 1)
    graph_msg, graph_loc = str(graph.value).rsplit(" — at ", 1)
    assert loc.startswith("test_math.py:") and graph_loc.startswith("test_math.py:")
    if not dynamic:
        assert graph_msg == msg
    return msg


# -- unary elementwise -------------------------------------------------------------------------

POSITIVE = {"sqrt": np.sqrt, "rsqrt": lambda x: 1 / np.sqrt(x), "log": np.log,
            "log1p": np.log1p, "reciprocal": np.reciprocal}
ANYWHERE = {"sign": np.sign, "exp": np.exp, "expm1": np.expm1, "square": np.square,
            "round": np.round, "cos": np.cos, "sin": np.sin, "tan": np.tan, "tanh": np.tanh,
            "negative": np.negative, "abs": np.abs, "arctan": np.arctan}
#: NaN outside [-1, 1]: the inputs reach beyond it
UNIT = {"arcsin": np.arcsin, "arccos": np.arccos}
UNARY = {**POSITIVE, **ANYWHERE, **UNIT}


def _unary_input(name, *shape, dtype="float64", seed=0):
    if name in POSITIVE:
        return rand(*shape, dtype=dtype, low=0.1, high=4.0, seed=seed)
    return rand(*shape, dtype=dtype, low=-1.4, high=1.4, seed=seed)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(2, 3), (), (0, 4), (1, 1, 5)], ids=str)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name, shape, dtype):
    check_op(getattr(gx, name), UNARY[name], _unary_input(name, *shape, dtype=dtype))


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_dynamic(name):
    check_op(getattr(gx, name), UNARY[name], _unary_input(name, 3, 4, seed=1), dynamic=True)


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64"])
@pytest.mark.parametrize("name", ["sign", "square", "round", "abs", "sqrt", "exp", "log",
                                  "reciprocal", "rsqrt", "tanh", "arcsin", "arctan"])
def test_unary_integers(name, dtype):
    # integers follow numpy: sign/square/round keep the dtype, sqrt/exp go to a float
    x = rand(2, 5, dtype=dtype, low=1, high=4)
    check_op(getattr(gx, name), UNARY[name], x)


def test_unary_values():
    out = run_eager(lambda x: [gx.sqrt(x), gx.rsqrt(x), gx.square(x), gx.reciprocal(x),
                               gx.log(x), gx.sign(x - 2.0)], np.array([1.0, 4.0, 0.25]))
    np.testing.assert_array_equal(out[0], [1.0, 2.0, 0.5])
    np.testing.assert_array_equal(out[1], [1.0, 0.5, 2.0])
    np.testing.assert_array_equal(out[2], [1.0, 16.0, 0.0625])
    np.testing.assert_array_equal(out[3], [1.0, 0.25, 4.0])
    np.testing.assert_allclose(out[4], [0.0, np.log(4.0), -np.log(4.0)])
    np.testing.assert_array_equal(out[5], [-1.0, 1.0, -1.0])
    small = np.array([1e-20, -1e-18], "float64")
    out = run_eager(lambda x: [gx.log1p(x), gx.expm1(x)], small)
    np.testing.assert_array_equal(out[0], small)  # log(1 + x) would give 0 here
    np.testing.assert_array_equal(out[1], small)
    assert run_eager(gx.sqrt, np.array([4, 9], "int32"))[0].dtype == np.float64
    assert run_eager(gx.reciprocal, np.array([2], "int64"))[0].tolist() == [0]  # as numpy


def test_sign_special_values():
    x = np.array([-np.inf, -3.0, -0.0, 0.0, 2.5, np.inf, np.nan], "float32")
    check_op(gx.sign, np.sign, x)
    np.testing.assert_array_equal(run_eager(gx.sign, x)[0],
                                  np.array([-1, -1, 0, 0, 1, 1, np.nan], "float32"))


@pytest.mark.parametrize("dtype", FLOATS)
def test_round_half_to_even(dtype):
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, 0.49999997, 2.6, -2.4, 1e20], dtype)
    want = np.array([0.0, 2.0, 2.0, -0.0, -2.0, -2.0, 4.0, 0.0, 3.0, -2.0, 1e20], dtype)
    for out in run_eager(gx.round, x) + run_graph(gx.round, x):
        np.testing.assert_array_equal(out, want, strict=True)
        assert np.signbit(out[3]) and not np.signbit(out[0])
    check_op(gx.round, np.round, x, dynamic=True)


def test_round_keeps_integers():
    x = np.array([-3, 0, 7], "int32")
    out = run_eager(gx.round, x)[0]
    assert out.dtype == np.int32 and out.tolist() == [-3, 0, 7]


def test_unary_bad_dtype():
    msg = raises_both(gx.sign, DTypeError, "unsupported dtypes bool", np.array([True, False]))
    assert msg.startswith("sign: ")


def test_unary_array_like():
    np.testing.assert_array_equal(gx.exp([0.0, 0.0]).numpy(), [1.0, 1.0])
    assert gx.square(3).numpy().tolist() == 9


# -- maximum, minimum, logical ---------------------------------------------------------------

BINARY_SHAPES = [((2, 3), (3,)), ((4, 1), (1, 5)), ((), (2, 2)), ((), ()), ((0, 3), (1,)),
                 ((), (0,))]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize(("sx", "sy"), BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_minimum(name, sx, sy, dtype):
    x, y = rand(*sx, dtype=dtype), rand(*sy, dtype=dtype, seed=1)
    check_op(getattr(gx, name), getattr(np, name), x, y)
    check_op(getattr(gx, name), getattr(np, name), y, x, dynamic=True)


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_minimum_dtypes_and_nan(name):
    fn, ref = getattr(gx, name), getattr(np, name)
    check_op(fn, ref, rand(3, 4, dtype="int32"), rand(4, dtype="int64", seed=1))
    check_op(fn, ref, rand(3, dtype="int32"), rand(3, dtype="float32", seed=1))
    check_op(fn, ref, np.array([np.nan, 1.0, 2.0]), np.array([0.0, np.nan, 1.0]))
    # Python scalars are weak (numpy 2): they do not widen a float32 tensor ...
    check_op(lambda x: fn(x, 0.5), lambda x: ref(x, 0.5), rand(2, 3, dtype="float32"))
    check_op(lambda x: fn(1, x), lambda x: ref(1, x), rand(2, 3, dtype="float32"))
    # ... but a float next to an integer tensor gives float64, as in numpy
    check_op(lambda x: fn(x, 1.5), lambda x: ref(x, 1.5), rand(4, dtype="int32"))


def test_maximum_values_and_bad_shapes():
    out = run_eager(gx.maximum, np.array([1.0, 5.0, -2.0]), np.array(0.0))[0]
    np.testing.assert_array_equal(out, [1.0, 5.0, 0.0])
    msg = raises_both(gx.minimum, ShapeError, r"cannot broadcast shapes \(2, 3\) and \(4,\)",
                      rand(2, 3), rand(4))
    assert msg.startswith("minimum: ")


@pytest.mark.parametrize(("sx", "sy"), BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", ["logical_and", "logical_or"])
def test_logical_binary(name, sx, sy):
    x, y = rand(*sx, dtype=bool), rand(*sy, dtype=bool, seed=1)
    check_op(getattr(gx, name), getattr(np, name), x, y)
    check_op(getattr(gx, name), getattr(np, name), x, y, dynamic=True)


def test_logical_values():
    a, b = np.array([True, True, False, False]), np.array([True, False, True, False])
    out = run_eager(lambda x, y: [gx.logical_and(x, y), gx.logical_or(x, y),
                                  gx.logical_not(x), gx.logical_and(x, True),
                                  gx.logical_or(False, y)], a, b)
    assert [o.tolist() for o in out] == [[True, False, False, False], [True, True, True, False],
                                         [False, False, True, True], a.tolist(), b.tolist()]
    assert all(o.dtype == np.bool_ for o in out)


@pytest.mark.parametrize("shape", [(2, 3), (), (0,)], ids=str)
def test_logical_not(shape):
    check_op(gx.logical_not, np.logical_not, rand(*shape, dtype=bool))
    check_op(gx.logical_not, np.logical_not, rand(*shape, dtype=bool), dynamic=True)
    # numpy reads other dtypes by their truth value
    check_op(gx.logical_not, np.logical_not, rand(*shape))
    check_op(gx.logical_not, np.logical_not, np.array([0.0, -1.5, np.nan, -0.0]))
    check_op(gx.logical_and, np.logical_and, rand(3, dtype="int32", low=0, high=1),
             np.array([0.0, 2.0, 0.5]))


# -- clip ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(3, 4), (), (0, 2)], ids=str)
def test_clip_scalar_bounds(shape, dtype):
    x = rand(*shape, dtype=dtype)
    check_op(lambda t: gx.clip(t, -0.5, 1.0), lambda a: np.clip(a, -0.5, 1.0), x)
    check_op(lambda t: gx.clip(t, -0.5, 1.0), lambda a: np.clip(a, -0.5, 1.0), x, dynamic=True)
    check_op(lambda t: gx.clip(t, 0.3, 0.3), lambda a: np.clip(a, 0.3, 0.3), x)


@pytest.mark.parametrize("dtype", FLOATS)
def test_clip_tensor_bounds_broadcast(dtype):
    x = rand(2, 3, dtype=dtype)
    lo = np.array([-1.0, 0.0, 0.5], dtype)
    hi = np.array([[1.0], [1.5]], dtype)
    check_op(gx.clip, np.clip, x, lo, hi)
    check_op(gx.clip, np.clip, x, lo, hi, dynamic=True)
    check_op(gx.clip, np.clip, x, np.array(-0.5, dtype), hi)
    check_op(lambda t: gx.clip(t, lo, 1.0), lambda a: np.clip(a, lo, 1.0), x)


def test_clip_values_dtypes_nan():
    out = run_eager(lambda t: gx.clip(t, 0.0, 1.0), np.array([-2.0, 0.25, 3.0, np.nan]))[0]
    np.testing.assert_array_equal(out, [0.0, 0.25, 1.0, np.nan])
    xi = rand(3, 4, dtype="int32", low=-5, high=5)
    check_op(lambda t: gx.clip(t, -2, 3), lambda a: np.clip(a, -2, 3), xi)
    check_op(lambda t: gx.clip(t, -1.5, 2.5), lambda a: np.clip(a, -1.5, 2.5), xi)  # -> f64
    check_op(lambda t: gx.clip(t, 0.0, 1.0), lambda a: np.clip(a, 0.0, 1.0),
             rand(5, dtype="float32"))  # stays float32


def test_clip_min_above_max():
    msg = raises_both(lambda t: gx.clip(t, 1.0, 0.0), InvalidArgumentError,
                      "clip_value_min 1.0 > clip_value_max 0.0", rand(3))
    assert msg.startswith("clip: ")
    raises_both(lambda t: gx.clip(t, np.array([0.0, 2.0, 0.0]), 1.0), InvalidArgumentError,
                r"clip_value_min 2.0 > clip_value_max 1.0 \(at 1 of 3 positions\)", rand(2, 3))
    # tensor bounds are values, checked in neither mode (the modes must agree)
    x, lo, hi = np.array([0.0, 5.0]), np.array([2.0, 2.0]), np.array([1.0, 1.0])
    check_op(gx.clip, np.clip, x, lo, hi)


def test_clip_bounds_known_only_at_run_time():
    with gx.graph() as g:
        x = gx.placeholder((3,), "float64")
        lo = gx.placeholder((), "float64")
        y = gx.clip(x, lo, 1.0)
    out = g.run(y, {x: np.array([-1.0, 0.5, 2.0]), lo: np.array(0.0)})
    np.testing.assert_array_equal(out, [0.0, 0.5, 1.0])


def test_clip_bound_must_broadcast_to_x():
    msg = raises_both(lambda t: gx.clip(t, np.zeros((2, 3)), 1.0), ShapeError,
                      r"clip_value_min of shape \(2, 3\) does not broadcast to the shape \(3,\)",
                      rand(3))
    assert msg.startswith("clip: ")
    raises_both(lambda t, hi: gx.clip(t, 0.0, hi), ShapeError,
                r"clip_value_max of shape \(4,\) does not broadcast", rand(2, 3), rand(4))


# -- add_n ---------------------------------------------------------------------------------------

def _sum_list(*xs):
    return functools.reduce(np.add, xs)


@pytest.mark.parametrize("dtype", [*FLOATS, "int32"])
@pytest.mark.parametrize("n", [1, 2, 4])
@pytest.mark.parametrize("shape", [(2, 3), (), (0, 3)], ids=str)
def test_add_n(shape, n, dtype):
    xs = [rand(*shape, dtype=dtype, seed=i) for i in range(n)]
    check_op(lambda *ts: gx.add_n(list(ts)), _sum_list, *xs)
    check_op(lambda *ts: gx.add_n(ts), _sum_list, *xs, dynamic=True)


def test_add_n_values_and_copy():
    a = np.array([1.0, 2.0])
    out = gx.add_n([a, np.array([10.0, 20.0]), gx.constant(np.array([100.0, 200.0]))]).numpy()
    np.testing.assert_array_equal(out, [111.0, 222.0])
    t = gx.constant(a)
    one = gx.add_n([t])
    np.testing.assert_array_equal(one.numpy(), a)
    assert not np.shares_memory(one.numpy(), t.numpy())  # a fresh buffer, never an alias
    b = run_eager(lambda x: gx.add_n([x, x, x]), np.array([True, False]))[0]
    assert b.dtype == np.bool_ and b.tolist() == [True, False]


def test_add_n_merges_unknown_dims():
    with gx.graph() as g:
        x = gx.placeholder((None, 3), "float32")
        y = gx.placeholder((2, None), "float32")
        s = gx.add_n([x, y])
        assert s.shape == (2, 3)
    out = g.run(s, {x: np.ones((2, 3), "float32"), y: np.ones((2, 3), "float32")})
    np.testing.assert_array_equal(out, np.full((2, 3), 2.0, "float32"))


def test_add_n_errors():
    msg = raises_both(lambda x, y: gx.add_n([x, y]), ShapeError,
                      r"input 1 has shape \(3,\), input 0 has \(2, 3\)", rand(2, 3), rand(3))
    assert msg.startswith("add_n: ")
    raises_both(lambda x, y, z: gx.add_n([x, y, z]), ShapeError,
                r"input 2 has shape \(1, 3\), the inputs before it have \(2, 3\)",
                rand(2, 3), rand(2, 3), rand(1, 3))  # no broadcasting, as in TF
    raises_both(lambda x, y: gx.add_n([x, y]), DTypeError,
                "input 1 has dtype float64, input 0 has float32",
                rand(2, dtype="float32"), rand(2))
    with gx.graph():
        x = gx.placeholder((None, 3), "float32")
        y = gx.placeholder((None, 4), "float32")
        with pytest.raises(ShapeError, match=r"input 1 has shape \(None, 4\)"):
            gx.add_n([x, y])
        z = gx.placeholder((2, None), "float32")
        w = gx.placeholder((3, 3), "float32")
        with pytest.raises(ShapeError, match=r"input 2 has shape \(3, 3\), the inputs before "
                                             r"it have \(2, 3\)"):
            gx.add_n([x, z, w])
    raises_both(lambda: gx.add_n([]), InvalidArgumentError, "needs at least one input")
    raises_both(gx.add_n, InvalidArgumentError, "must be a list or tuple of tensors", rand(2))


# -- reductions ----------------------------------------------------------------------------------

def _logsumexp_ref(a, axis=None, keepdims=False):
    if a.dtype == np.bool_:
        a = a.astype(np.float64)  # scipy takes no bool; ours gives float64 as for ints
    if a.ndim == 0 or a.size == 0:  # scipy 1.17 mishandles these shapes; no overflow risk here
        with np.errstate(divide="ignore"):
            return np.log(np.sum(np.exp(a), axis=axis, keepdims=keepdims))
    return scipy_special.logsumexp(a, axis=axis, keepdims=keepdims)


REDUCTIONS = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod,
              "logsumexp": _logsumexp_ref}
AXES = [None, 0, 1, -1, (0, 2), (2, 0), (-1, 0, 1), [1, 2], ()]


def _reducer(name, axis=None, keepdims=False):
    ref_axis = tuple(axis) if isinstance(axis, list) else axis  # numpy takes no list
    return (lambda t: getattr(gx, name)(t, axis=axis, keepdims=keepdims),
            lambda a: REDUCTIONS[name](a, axis=ref_axis, keepdims=keepdims))


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_axes(name, axis, keepdims):
    fn, ref = _reducer(name, axis=axis, keepdims=keepdims)
    check_op(fn, ref, rand(2, 3, 4, dtype="float32"))


@pytest.mark.parametrize("dtype", ["float64", "float16", "int8", "int32", "int64", "bool"])
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_dtypes(name, dtype):
    # numpy: small ints and bool sum/prod to int64, mean of ints is float64
    x = rand(3, 5, dtype=dtype, low=-3, high=3)
    for axis in (None, 1):
        fn, ref = _reducer(name, axis=axis)
        check_op(fn, ref, x)


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_dynamic(name):
    for axis, keepdims in ((None, False), ((0, 2), True), (-1, False)):
        fn, ref = _reducer(name, axis=axis, keepdims=keepdims)
        check_op(fn, ref, rand(2, 3, 4), dynamic=True)


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_0d(name):
    for axis in (None, ()):
        for keepdims in (False, True):
            fn, ref = _reducer(name, axis=axis, keepdims=keepdims)
            check_op(fn, ref, np.array(1.5))
    raises_both(lambda t: getattr(gx, name)(t, axis=0), InvalidArgumentError,
                "axis 0 is out of range", np.array(1.5))


def test_reduction_values():
    x = np.array([[1, 2, 3], [4, 5, 6]], "int32")
    out = run_eager(lambda t: [gx.sum(t), gx.sum(t, 0), gx.mean(t, 1), gx.max(t, -1),
                               gx.min(t), gx.prod(t, (0, 1)), gx.sum(t, 1, keepdims=True)], x)
    assert [o.tolist() for o in out] == [21, [5, 7, 9], [2.0, 5.0], [3, 6], 1, 720, [[6], [15]]]
    assert [o.dtype for o in out] == [np.int64] * 2 + [np.float64] + [np.int32] * 2 + \
        [np.int64] * 2


@pytest.mark.parametrize("name", ["sum", "prod", "mean", "logsumexp"])
def test_reduction_empty(name):
    for axis in (0, None, (0, 1), 1):
        fn, ref = _reducer(name, axis=axis)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # numpy's mean of an empty slice
            check_op(fn, ref, np.zeros((0, 3), "float32"))


def test_empty_reduction_results():
    x = np.zeros((0, 2))
    out = run_eager(lambda t: [gx.sum(t, 0), gx.prod(t, 0), gx.logsumexp(t, 0)], x)
    assert [o.tolist() for o in out] == [[0.0, 0.0], [1.0, 1.0], [-np.inf, -np.inf]]
    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning, match="Mean of empty"):
        assert np.isnan(gx.mean(x).numpy())


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_of_empty_axis(name):
    fn = getattr(gx, name)
    msg = raises_both(lambda t: fn(t, axis=0), ShapeError,
                      rf"axis 0 of \(0, 3\) has size 0, and {name} of an empty set",
                      np.zeros((0, 3)))
    assert msg.startswith(f"{name}: ")
    raises_both(fn, ShapeError, "has size 0", np.zeros((2, 0)))
    raises_both(lambda t: fn(t, keepdims=True), ShapeError, "has size 0", np.zeros((0,)))
    # reducing a non-empty axis of an empty tensor is fine, as in numpy
    check_op(lambda t: fn(t, axis=1), lambda a: getattr(np, name)(a, axis=1), np.zeros((0, 3)))
    # a size known only at run time fails when the kernel runs, worded as at build time
    with gx.graph() as g:
        x = gx.placeholder((None, 3), "float64")
        y = fn(x, axis=0)
    for level in (0, 1, 2, 3):
        with pytest.raises(ExecutionError) as info:
            g.run(y, {x: np.zeros((0, 3))}, optimize=level)
        assert isinstance(info.value, ShapeError)
        assert str(info.value).startswith(f"{name}: axis 0 of (0, 3) has size 0, and {name} of "
                                          f"an empty set is undefined — at test_math.py:")


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_bad_axis(name):
    fn = getattr(gx, name)
    x = rand(2, 3)
    msg = raises_both(lambda t: fn(t, axis=2), InvalidArgumentError,
                      r"axis 2 is out of range for a tensor of rank 2 \(shape \(2, 3\)\)", x)
    assert msg.startswith(f"{name}: ")
    raises_both(lambda t: fn(t, axis=(0, -3)), InvalidArgumentError, "axis -3 is out of range", x)
    raises_both(lambda t: fn(t, axis=(1, -1)), InvalidArgumentError, "repeated axis", x)
    raises_both(lambda t: fn(t, axis=1.0), InvalidArgumentError, "axis must be an int", x)
    raises_both(lambda t: fn(t, axis=(0, True)), InvalidArgumentError, "axis must be an int", x)


def test_reduction_axis_is_normalized():
    # every spelling of one reduction is one attribute value (what CSE keys on)
    with gx.graph() as g:
        x = gx.placeholder((2, 3, 4), "float32")
        ys = [gx.sum(x, a) for a in ((2, 0), [0, -1], (-3, 2))] + [gx.sum(x), gx.sum(x, None)]
    attrs = [g.nx.nodes[y.name]["attrs"] for y in ys]
    assert attrs[:3] == [{"axis": (0, 2), "keepdims": False}] * 3
    assert attrs[3] == attrs[4] == {"axis": (0, 1, 2), "keepdims": False}


# -- argmax, argmin ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "bool"])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, 2])
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_arg_reductions(name, axis, keepdims, dtype):
    x = rand(2, 3, 4, dtype=dtype, low=0, high=2)  # few distinct values: many ties
    ref = getattr(np, name)
    check_op(lambda t: getattr(gx, name)(t, axis=axis, keepdims=keepdims),
             lambda a: ref(a, axis=axis, keepdims=keepdims).astype(np.int64), x)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_arg_reductions_values(name):
    fn = getattr(gx, name)
    x = np.array([[1.0, 9.0, 9.0, -4.0], [np.nan, 0.0, np.nan, 2.0]])
    out = run_eager(lambda t: [fn(t, 1), fn(t), fn(t, 0, keepdims=True)], x)
    first = [1, 0] if name == "argmax" else [3, 0]  # first extremum; first NaN wins
    assert out[0].tolist() == first and out[0].dtype == np.int64
    assert out[1].tolist() == 4 and out[1].shape == ()  # flat index of the first NaN
    assert out[2].shape == (1, 4)
    check_op(lambda t: fn(t, 0), lambda a: getattr(np, name)(a, 0), x, dynamic=True)
    check_op(fn, lambda a: getattr(np, name)(a), np.array(3.0))
    check_op(lambda t: fn(t, 1), lambda a: getattr(np, name)(a, 1), np.zeros((0, 3)))


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_arg_reduction_errors(name):
    fn = getattr(gx, name)
    msg = raises_both(lambda t: fn(t, axis=0), ShapeError, r"axis 0 of \(0, 3\) has size 0",
                      np.zeros((0, 3)))
    assert msg.startswith(f"{name}: ")
    raises_both(fn, ShapeError, r"\(2, 0\) has no elements", np.zeros((2, 0)))
    raises_both(lambda t: fn(t, axis=(0, 1)), InvalidArgumentError, "axis must be an int",
                rand(2, 3))
    raises_both(lambda t: fn(t, axis=-3), InvalidArgumentError, "axis -3 is out of range",
                rand(2, 3))
    raises_both(lambda t: fn(t, axis=0), InvalidArgumentError, "out of range", np.array(1.0))


# -- logsumexp -----------------------------------------------------------------------------------

@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("dtype", FLOATS)
def test_logsumexp_is_stable(dtype):
    inf, nan = np.inf, np.nan
    x = np.array([[1000.0, 1000.0, 1000.0], [-1000.0, -1000.0, -1000.0], [-inf, -inf, -inf],
                  [-inf, 0.0, -inf], [inf, 1.0, -inf], [inf, inf, 2.0], [nan, 1.0, 2.0],
                  [nan, 1000.0, 1.0], [88.0, 89.0, 90.0]], dtype)
    want = np.array([1000 + np.log(3), -1000 + np.log(3), -inf, 0.0, inf, inf, nan, nan,
                     90 + np.log1p(np.exp(-1) + np.exp(-2))], dtype)
    for out in run_eager(lambda t: gx.logsumexp(t, axis=1), x) + \
            run_graph(lambda t: gx.logsumexp(t, axis=1), x):
        np.testing.assert_allclose(out, want, rtol=1e-6)
        assert out.dtype == np.dtype(dtype)
    with np.errstate(all="ignore"):  # scipy's own reference warns on the inf - inf row
        fn, ref = _reducer("logsumexp", axis=1, keepdims=True)
        check_op(fn, ref, x)
        check_op(fn, ref, x, dynamic=True)


@pytest.mark.filterwarnings("error")
def test_logsumexp_values():
    out = gx.logsumexp(np.full((2, 3), 1000.0, "float32"), axis=(0, 1)).numpy()
    assert out.dtype == np.float32 and abs(out - (1000 + np.log(6))) < 1e-3
    assert gx.logsumexp(np.zeros(4)).numpy() == np.log(4)
    assert gx.logsumexp(np.array(-np.inf)).numpy() == -np.inf


def test_logsumexp_integers():
    out = run_eager(lambda t: gx.logsumexp(t, axis=0), np.array([[0, 1], [0, 1]], "int32"))[0]
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, [np.log(2), 1 + np.log(2)])
    b = run_eager(gx.logsumexp, np.array([True, False, True]))[0]
    assert b.dtype == np.float64 and np.isclose(b, np.log(2 * np.e + 1))


def test_logsumexp_bad_dtype():
    msg = raises_both(gx.logsumexp, DTypeError, "needs a real dtype, got complex128",
                      np.array([1j, 2.0]))
    assert msg.startswith("logsumexp: ")


def test_clip_one_sided_as_numpy():
    x = rand(2, 3)
    check_op(lambda t: gx.clip(t, None, 0.5), lambda a: np.clip(a, None, 0.5), x)
    check_op(lambda t: gx.clip(t, -0.5, None), lambda a: np.clip(a, -0.5, None), x)
    # no bound at all: x, as np.clip (issue 9, item 14)
    check_op(lambda t: gx.clip(t, None, None), lambda a: np.clip(a, None, None), x)


# -- bitwise ops -----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["int8", "uint8", "int32", "int64", "uint64", "bool"])
@pytest.mark.parametrize("name", ["bitwise_and", "bitwise_or", "bitwise_xor"])
def test_bitwise_binary(name, dtype):
    x = rand(3, 4, dtype=dtype, low=-50 if dtype[0] == "i" else 0, high=120)
    y = rand(4, dtype=dtype, low=0, high=90, seed=1)
    check_op(getattr(gx, name), getattr(np, name), x, y)
    check_op(getattr(gx, name), getattr(np, name), x, y, dynamic=True)
    if dtype != "bool":  # a Python int joins as a weak scalar: the dtype stays
        check_op(lambda t: getattr(gx, name)(t, 6), lambda a: getattr(np, name)(a, 6), x)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "int64", "uint32", "bool"])
def test_bitwise_not(dtype):
    x = rand(2, 5, dtype=dtype, low=-9 if dtype[0] == "i" else 0, high=200)
    check_op(gx.bitwise_not, np.invert, x)
    check_op(lambda t: ~t, np.invert, x)


def test_bitwise_ops_refuse_floats():
    for fn in (lambda x: gx.bitwise_and(x, x), gx.bitwise_not):
        with pytest.raises(gx.DTypeError):
            fn(gx.constant([1.5]))


def test_inverse_trigonometry_edges():
    x = np.array([-1.0, 1.0, 1.5, -np.inf, np.nan, -0.0, 0.0], np.float32)
    with np.errstate(invalid="ignore"):
        for fn, ref in ((gx.arcsin, np.arcsin), (gx.arccos, np.arccos), (gx.arctan, np.arctan)):
            check_op(fn, ref, x)
    assert np.signbit(gx.arcsin(gx.constant(-0.0)).numpy())  # -0.0 keeps its sign
