"""Transformation and indexing ops vs numpy, eagerly and as a graph; their errors in both modes."""

import copy

import numpy as np
import pytest

import graphexec as gx
from graphexec import DTypeError, ExecutionError, InvalidArgumentError, ShapeError
from graphexec.passes import common_subexpression_elimination
from graphexec.passes.core import node_key

from .helpers import assert_close, check_op, rand, run_graph

FLOATS = ["float32", "float64"]


def raises_both(fn, arrays, exc, match, *, dynamic=False):
    """``fn`` raises ``exc`` (message matching ``match``) eagerly and at graph BUILD time,
    prefixed with the op name and pointing at this file."""
    arrays = [np.asarray(a) for a in arrays]
    with pytest.raises(exc, match=match) as eager:
        fn(*[gx.constant(a) for a in arrays])
    with gx.graph() as g:
        phs = [gx.placeholder((None,) * a.ndim if dynamic else a.shape, a.dtype)
               for a in arrays]
        with pytest.raises(exc, match=match) as graph:
            fn(*phs)
    assert len(g) == len(arrays)  # nothing was added by the failed op
    for info in (eager, graph):
        assert "test_array.py:" in str(info.value)
    return str(eager.value), str(graph.value)


def build(fn, *shapes_dtypes):
    """Output shapes of ``fn`` over placeholders of the given (shape, dtype) pairs."""
    with gx.graph() as g:
        out = fn(*[gx.placeholder(s, d) for s, d in shapes_dtypes])
    g.validate()
    return [t.shape for t in out] if isinstance(out, list) else out.shape


# ---------------------------------------------------------------------------------------------
# reshape

@pytest.mark.parametrize("dtype", FLOATS)
def test_reshape(dtype):
    x = rand(2, 3, 4, dtype=dtype)
    check_op(lambda t: gx.reshape(t, (4, -1)), lambda a: a.reshape(4, -1), x)
    check_op(lambda t: gx.reshape(t, [-1]), lambda a: a.reshape(-1), x)
    check_op(lambda t: gx.reshape(t, (6, 4)), lambda a: a.reshape(6, 4), x, dynamic=True)
    check_op(lambda t: gx.reshape(t, (-1, 2, 2)), lambda a: a.reshape(-1, 2, 2), x,
             dynamic=True)


def test_reshape_0d_and_empty():
    check_op(lambda t: gx.reshape(t, (1, 1)), lambda a: a.reshape(1, 1), rand())
    check_op(lambda t: gx.reshape(t, ()), lambda a: a.reshape(()), rand(1, 1))
    check_op(lambda t: gx.reshape(t, -1), lambda a: a.reshape(-1), rand())
    check_op(lambda t: gx.reshape(t, (3, 0)), lambda a: a.reshape(3, 0), rand(0, 3))
    check_op(lambda t: gx.reshape(t, (-1, 3)), lambda a: a.reshape(-1, 3), rand(2, 0, 3))
    assert gx.reshape(np.arange(6), np.array([2, 3])).shape == (2, 3)  # an array as the shape


def test_reshape_static_shapes():
    assert build(lambda x: gx.reshape(x, (-1, 12)), ((None, 3, 4), "float32")) == (None, 12)
    assert build(lambda x: gx.reshape(x, (2, -1)), ((2, 3), "float32")) == (2, 3)
    assert build(lambda x: gx.reshape(x, (5, 4)), ((None, 5), "float32")) == (5, 4)


def test_reshape_errors():
    e, g = raises_both(lambda x: gx.reshape(x, (4, 2)), [rand(2, 3)], ShapeError,
                       r"^reshape: cannot reshape \(2, 3\) into \(4, 2\)")
    assert e.split(" — at ")[0] == g.split(" — at ")[0]  # same message in both modes
    raises_both(lambda x: gx.reshape(x, (4, -1)), [rand(2, 3)], ShapeError, r"\(4, -1\)")
    raises_both(lambda x: gx.reshape(x, (-1, -1)), [rand(2, 3)], InvalidArgumentError,
                "at most one -1")
    raises_both(lambda x: gx.reshape(x, (0, -1)), [rand(0, 3)], ShapeError, "cannot reshape")
    raises_both(lambda x: gx.reshape(x, (3.5,)), [rand(2)], InvalidArgumentError, "ints")
    with gx.graph(), pytest.raises(ShapeError, match=r"\(None, 5\) into \(3, 4\)"):
        gx.reshape(gx.placeholder((None, 5)), (3, 4))
    with pytest.raises(ExecutionError, match="reshape"):  # a mismatch seen only at run time
        run_graph(lambda t: gx.reshape(t, (4, 4)), rand(2, 3), dynamic=True)


# ---------------------------------------------------------------------------------------------
# transpose, expand_dims, squeeze, broadcast_to, tile

@pytest.mark.parametrize("dtype", FLOATS)
def test_transpose(dtype):
    x = rand(2, 3, 4, dtype=dtype)
    check_op(gx.transpose, np.transpose, x)
    check_op(lambda t: gx.transpose(t, (1, 0, 2)), lambda a: a.transpose(1, 0, 2), x)
    check_op(lambda t: gx.transpose(t, [-1, 0, 1]), lambda a: a.transpose(2, 0, 1), x,
             dynamic=True)
    check_op(lambda t: t.T, lambda a: a.T, rand(3, 2, dtype=dtype))


def test_transpose_edge_cases():
    check_op(gx.transpose, np.transpose, rand())
    check_op(gx.transpose, np.transpose, rand(0, 3))
    check_op(gx.transpose, np.transpose, rand(5))
    assert build(gx.transpose, ((None, 3), "float32")) == (3, None)


def test_transpose_errors():
    raises_both(lambda x: gx.transpose(x, (0, 0)), [rand(2, 3)], InvalidArgumentError,
                r"^transpose: perm \(0, 0\) is not a permutation")
    raises_both(lambda x: gx.transpose(x, (1, 0)), [rand(2, 3, 4)], InvalidArgumentError,
                r"\(2, 3, 4\) \(rank 3\)")
    raises_both(lambda x: gx.transpose(x, (0, 2)), [rand(2, 3)], InvalidArgumentError,
                "permutation")


@pytest.mark.parametrize("dtype", FLOATS)
def test_expand_dims(dtype):
    x = rand(2, 3, dtype=dtype)
    for axis in (0, 1, 2, -1, -3, (0, 3), (-1, 0)):
        check_op(lambda t, a=axis: gx.expand_dims(t, a), lambda v, a=axis: np.expand_dims(v, a),
                 x, dynamic=True)
    check_op(lambda t: gx.expand_dims(t, 0), lambda a: a[None], rand())
    check_op(lambda t: gx.expand_dims(t, -1), lambda a: a[..., None], rand(0, 2))
    assert build(lambda t: gx.expand_dims(t, 1), ((None, 3), "float32")) == (None, 1, 3)


def test_expand_dims_errors():
    raises_both(lambda x: gx.expand_dims(x, 3), [rand(2, 3)], InvalidArgumentError,
                r"^expand_dims: axis 3 is out of range for a tensor of rank 3")
    raises_both(lambda x: gx.expand_dims(x, -4), [rand(2, 3)], InvalidArgumentError, "out of range")
    raises_both(lambda x: gx.expand_dims(x, (1, 1)), [rand(2, 3)], InvalidArgumentError, "repeated")


@pytest.mark.parametrize("dtype", FLOATS)
def test_squeeze(dtype):
    x = rand(1, 3, 1, 2, dtype=dtype)
    check_op(gx.squeeze, np.squeeze, x)
    check_op(lambda t: gx.squeeze(t, -2), lambda a: np.squeeze(a, -2), x, dynamic=True)
    check_op(lambda t: gx.squeeze(t, (0, 2)), lambda a: np.squeeze(a, (0, 2)), x, dynamic=True)
    check_op(gx.squeeze, np.squeeze, rand(1, 1))
    check_op(gx.squeeze, np.squeeze, rand())
    check_op(gx.squeeze, np.squeeze, rand(0, 1))
    assert build(lambda t: gx.squeeze(t, 1), ((None, 1), "float32")) == (None,)
    assert build(lambda t: gx.squeeze(t, 0), ((None, 4), "float32")) == (4,)


def test_squeeze_errors():
    raises_both(lambda x: gx.squeeze(x, 1), [rand(1, 3)], ShapeError,
                r"^squeeze: cannot squeeze axis 1 of size 3 in shape \(1, 3\)")
    raises_both(lambda x: gx.squeeze(x, 2), [rand(1, 3)], InvalidArgumentError, "out of range")
    with gx.graph(), pytest.raises(InvalidArgumentError, match="pass axis="):
        gx.squeeze(gx.placeholder((None, 1)))
    with pytest.raises(ExecutionError, match="squeeze"):
        run_graph(lambda t: gx.squeeze(t, 0), rand(2, 3), dynamic=True)


@pytest.mark.parametrize("dtype", FLOATS)
def test_broadcast_to(dtype):
    check_op(lambda t: gx.broadcast_to(t, (2, 3)), lambda a: np.broadcast_to(a, (2, 3)),
             rand(3, dtype=dtype), dynamic=True)
    check_op(lambda t: gx.broadcast_to(t, (4, 2, 3)), lambda a: np.broadcast_to(a, (4, 2, 3)),
             rand(1, 3, dtype=dtype))
    check_op(lambda t: gx.broadcast_to(t, (2, 2)), lambda a: np.broadcast_to(a, (2, 2)),
             rand(dtype=dtype))
    check_op(lambda t: gx.broadcast_to(t, (0, 4)), lambda a: np.broadcast_to(a, (0, 4)),
             rand(0, 1, dtype=dtype))
    check_op(lambda t: gx.broadcast_to(t, ()), lambda a: np.broadcast_to(a, ()), rand())


def test_broadcast_to_errors():
    raises_both(lambda x: gx.broadcast_to(x, (4, 3)), [rand(2, 3)], ShapeError,
                r"^broadcast_to: cannot broadcast \(2, 3\) to \(4, 3\)")
    raises_both(lambda x: gx.broadcast_to(x, (3,)), [rand(2, 3)], ShapeError, "cannot broadcast")
    raises_both(lambda x: gx.broadcast_to(x, (-1, 3)), [rand(3)], InvalidArgumentError,
                "negative dim")
    with pytest.raises(ExecutionError, match="broadcast_to"):
        run_graph(lambda t: gx.broadcast_to(t, (2, 3)), rand(2), dynamic=True)


@pytest.mark.parametrize("dtype", FLOATS)
def test_tile(dtype):
    x = rand(2, 3, dtype=dtype)
    for reps in ((2, 1), (1, 3), (3,), (2, 1, 2), (0, 2), 2):
        check_op(lambda t, r=reps: gx.tile(t, r), lambda a, r=reps: np.tile(a, r), x,
                 dynamic=True)
    check_op(lambda t: gx.tile(t, (2, 2)), lambda a: np.tile(a, (2, 2)), rand())
    check_op(lambda t: gx.tile(t, (3,)), lambda a: np.tile(a, (3,)), rand(0))
    assert build(lambda t: gx.tile(t, (2, 0)), ((None, None), "float32")) == (None, 0)


def test_tile_errors():
    raises_both(lambda x: gx.tile(x, (2, -1)), [rand(2, 3)], InvalidArgumentError, ">= 0")


# ---------------------------------------------------------------------------------------------
# stack, unstack, concat, split

@pytest.mark.parametrize("dtype", FLOATS)
def test_stack(dtype):
    a, b, c = (rand(2, 3, dtype=dtype, seed=i) for i in range(3))
    for axis in (0, 1, 2, -1, -3):
        check_op(lambda *xs, k=axis: gx.stack(list(xs), axis=k),
                 lambda *xs, k=axis: np.stack(xs, axis=k), a, b, c, dynamic=True)
    check_op(lambda *xs: gx.stack(xs), lambda *xs: np.stack(xs), rand(dtype=dtype), rand())
    check_op(lambda *xs: gx.stack(xs, 1), lambda *xs: np.stack(xs, 1), rand(0, 2), rand(0, 2))


def test_stack_dtypes_and_shapes():
    check_op(lambda x, y: gx.stack([x, y]), lambda x, y: np.stack([x, y]),
             rand(3, dtype="int32"), rand(3, dtype="float32"))
    assert build(lambda x, y: gx.stack([x, y], axis=1),
                 ((None, 3), "float32"), ((2, None), "float32")) == (2, 2, 3)
    assert gx.stack([1.0, 2.0]).numpy().tolist() == [1.0, 2.0]


def test_stack_errors():
    raises_both(lambda x, y: gx.stack([x, y]), [rand(2, 3), rand(3, 2)], ShapeError,
                r"^stack: .*\(2, 3\), \(3, 2\) differ in axis 0")
    raises_both(lambda x, y: gx.stack([x, y]), [rand(2), rand(2, 1)], ShapeError, "rank")
    raises_both(lambda x: gx.stack([x], axis=3), [rand(2, 3)], InvalidArgumentError, "out of range")
    with pytest.raises(InvalidArgumentError, match="at least one"):
        gx.stack([])


@pytest.mark.parametrize("dtype", FLOATS)
def test_unstack(dtype):
    x = rand(3, 4, 2, dtype=dtype)
    for axis in (0, 1, -1):
        check_op(lambda t, k=axis: gx.unstack(t, axis=k),
                 lambda a, k=axis: list(np.moveaxis(a, k, 0)), x)
    check_op(lambda t: gx.unstack(t, num=4, axis=1), lambda a: list(np.moveaxis(a, 1, 0)), x,
             dynamic=True)
    check_op(lambda t: list(t), list, rand(2, 3, dtype=dtype))  # Tensor.__iter__
    check_op(lambda t: gx.unstack(t), list, rand(3))
    assert gx.unstack(np.zeros((0, 2))) == []


def test_unstack_graph_node():
    with gx.graph() as g:
        outs = gx.unstack(gx.placeholder((3, 2), name="x"))
    assert len(g) == 2 and [t.name for t in outs] == ["unstack:0", "unstack:1", "unstack:2"]
    assert [t.shape for t in outs] == [(2,)] * 3


def test_unstack_errors():
    with gx.graph(), pytest.raises(InvalidArgumentError, match="pass num="):
        gx.unstack(gx.placeholder((None, 2)))
    with gx.graph(), pytest.raises(InvalidArgumentError, match="pass num="):
        list(gx.placeholder((None, 2)))
    raises_both(lambda x: gx.unstack(x, num=2), [rand(3, 2)], ShapeError,
                r"^unstack: num=2, but axis 0 of \(3, 2\) has size 3")
    raises_both(gx.unstack, [rand()], InvalidArgumentError, "out of range for a tensor of rank 0")
    with pytest.raises(ExecutionError, match="num=2"):
        run_graph(lambda t: gx.unstack(t, num=2), rand(3), dynamic=True)


@pytest.mark.parametrize("dtype", FLOATS)
def test_concat(dtype):
    a, b = rand(2, 3, dtype=dtype), rand(2, 1, dtype=dtype, seed=1)
    check_op(lambda x, y: gx.concat([x, y], 1), lambda x, y: np.concatenate([x, y], 1), a, b,
             dynamic=True)
    check_op(lambda x, y: gx.concat([x, y], -1), lambda x, y: np.concatenate([x, y], -1), a, b)
    check_op(lambda x, y: gx.concat([x, y, x], 0), lambda x, y: np.concatenate([x, y, x], 0),
             a, rand(4, 3, dtype=dtype))
    check_op(lambda x, y: gx.concat([x, y], 0), lambda x, y: np.concatenate([x, y]),
             rand(0, 2, dtype=dtype), rand(3, 2, dtype=dtype))
    check_op(lambda x: gx.concat(x, 0), lambda x: x, rand(3, dtype=dtype))


def test_concat_dtypes_and_shapes():
    check_op(lambda x, y: gx.concat([x, y], 0), lambda x, y: np.concatenate([x, y]),
             rand(2, dtype="int32"), rand(3, dtype="float32"))
    assert build(lambda x, y: gx.concat([x, y], 1),
                 ((None, 3), "float32"), ((2, 4), "float32")) == (2, 7)
    assert build(lambda x, y: gx.concat([x, y], 1),
                 ((2, None), "float32"), ((2, 4), "float32")) == (2, None)


def test_concat_errors():
    raises_both(lambda x, y: gx.concat([x, y], 0), [rand(2, 3), rand(2, 4)], ShapeError,
                r"^concat: values must match except in axis 0: shapes \(2, 3\), "
                r"\(2, 4\) differ in axis 1")
    raises_both(lambda x, y: gx.concat([x, y], 0), [rand(), rand()], ShapeError, "0-d")
    raises_both(lambda x, y: gx.concat([x, y], 0), [rand(2), rand(2, 1)], ShapeError, "rank")
    raises_both(lambda x: gx.concat([x], 2), [rand(2, 3)], InvalidArgumentError, "out of range")
    with pytest.raises(InvalidArgumentError, match="at least one"):
        gx.concat([], 0)


@pytest.mark.parametrize("dtype", FLOATS)
def test_split(dtype):
    x = rand(6, 4, dtype=dtype)
    check_op(lambda t: gx.split(t, 3), lambda a: np.split(a, 3), x, dynamic=True)
    check_op(lambda t: gx.split(t, 2, axis=-1), lambda a: np.split(a, 2, axis=-1), x)
    check_op(lambda t: gx.split(t, [1, 2, 3]), lambda a: np.split(a, [1, 3]), x)
    check_op(lambda t: gx.split(t, [1, -1], axis=1), lambda a: np.split(a, [1], axis=1), x,
             dynamic=True)
    check_op(lambda t: gx.split(t, [0, 4, -1], axis=1), lambda a: np.split(a, [0, 4], axis=1), x)
    check_op(lambda t: gx.split(t, 1), lambda a: [a], x)
    check_op(lambda t: gx.split(t, 2), lambda a: np.split(a, 2), rand(0, 3, dtype=dtype))


def test_split_shapes():
    assert build(lambda t: gx.split(t, 2, axis=1), ((3, 8), "float32")) == [(3, 4), (3, 4)]
    assert build(lambda t: gx.split(t, 2), ((None, 8), "float32")) == [(None, 8)] * 2
    assert build(lambda t: gx.split(t, [2, -1]), ((None,), "float32")) == [(2,), (None,)]
    assert build(lambda t: gx.split(t, [2, -1]), ((5,), "float32")) == [(2,), (3,)]


def test_split_errors():
    raises_both(lambda x: gx.split(x, 4), [rand(6, 2)], ShapeError,
                r"^split: axis 0 of \(6, 2\) has size 6, which does not split into 4 equal")
    raises_both(lambda x: gx.split(x, [2, 2]), [rand(6)], ShapeError, r"sum to 4, but axis 0")
    raises_both(lambda x: gx.split(x, [4, 4, -1]), [rand(6)], ShapeError, "at least 8")
    raises_both(lambda x: gx.split(x, [-1, -1]), [rand(6)], InvalidArgumentError,
                "at most one -1")
    raises_both(lambda x: gx.split(x, 0), [rand(6)], InvalidArgumentError, "0 parts")
    raises_both(lambda x: gx.split(x, 2, axis=1), [rand(6)], InvalidArgumentError, "out of range")
    with pytest.raises(ExecutionError, match="does not split into 4"):
        run_graph(lambda t: gx.split(t, 4), rand(6), dynamic=True)
    with pytest.raises(ExecutionError, match="sum to 3"):
        run_graph(lambda t: gx.split(t, [1, 2]), rand(6), dynamic=True)


# ---------------------------------------------------------------------------------------------
# gather, one_hot, where

@pytest.mark.parametrize("dtype", FLOATS)
def test_gather(dtype):
    params = rand(5, 4, 3, dtype=dtype)
    idx = np.array([[4, 0], [-1, 2]])
    for axis in (0, 1, -1):
        check_op(lambda p, i, k=axis: gx.gather(p, i, axis=k),
                 lambda p, i, k=axis: np.take(p, i, axis=k), params, idx % 3, dynamic=True)
    check_op(lambda p, i: gx.gather(p, i), lambda p, i: np.take(p, i, axis=0), params,
             np.array([3, -5, 0], dtype="int32"))
    check_op(lambda p, i: gx.gather(p, i, 1), lambda p, i: np.take(p, i, 1), params, np.array(2))
    check_op(lambda p, i: gx.gather(p, i), lambda p, i: np.take(p, i, 0), params,
             np.zeros((0,), "int64"))
    check_op(lambda p, i: gx.gather(p, i), lambda p, i: np.take(p, i, 0), rand(0, 2),
             np.zeros((0, 3), "int64"))
    assert gx.gather([1, 2, 3], []).shape == (0,)


def test_gather_errors():
    raises_both(gx.gather, [rand(3, 2), np.array([0.0, 1.0])], DTypeError,
                "^gather: indices must be integers, got float64")
    raises_both(lambda p, i: gx.gather(p, i, axis=2), [rand(3, 2), np.array([0])],
                InvalidArgumentError, "out of range")
    with pytest.raises(ExecutionError, match="index 3 is out of range for axis 0 of size 3"):
        gx.gather(rand(3, 2), [0, 3])
    with pytest.raises(ExecutionError, match="index -4 is out of range"):
        run_graph(gx.gather, rand(3, 2), np.array([-4, 0]))
    with pytest.raises(ExecutionError, match="out of range for axis 0 of size 0"):
        gx.gather(rand(0, 2), [0])


def _one_hot_ref(idx, depth, on=1.0, off=0.0, axis=-1, dtype="float32"):
    hot = np.expand_dims(idx, axis) == np.arange(depth).reshape(
        [depth if i == axis % (idx.ndim + 1) else 1 for i in range(idx.ndim + 1)])
    return np.where(hot, np.array(on, dtype), np.array(off, dtype))


def test_one_hot():
    idx = np.array([[0, 2, 1], [3, -1, 2]])
    check_op(lambda i: gx.one_hot(i, 3), lambda i: _one_hot_ref(i, 3), idx)
    check_op(lambda i: gx.one_hot(i, 4, axis=0), lambda i: _one_hot_ref(i, 4, axis=0), idx,
             dynamic=True)
    check_op(lambda i: gx.one_hot(i, 3, 5.0, -1.0, axis=1, dtype="float64"),
             lambda i: _one_hot_ref(i, 3, 5.0, -1.0, 1, "float64"), idx)
    check_op(lambda i: gx.one_hot(i, 3, dtype="int32"),
             lambda i: _one_hot_ref(i, 3, 1, 0, dtype="int32"), idx.astype("int32"))
    check_op(lambda i: gx.one_hot(i, 5), lambda i: np.eye(5, dtype="float32")[i], np.array(2))
    check_op(lambda i: gx.one_hot(i, 3), lambda i: np.zeros((0, 3), "float32"),
             np.zeros((0,), "int64"))
    assert gx.one_hot([1, 0], 2).numpy().tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_one_hot_errors():
    raises_both(lambda i: gx.one_hot(i, 3), [np.array([0.0])], DTypeError,
                "^one_hot: indices must be integers")
    raises_both(lambda i: gx.one_hot(i, -1), [np.array([0])], InvalidArgumentError, ">= 0")
    raises_both(lambda i: gx.one_hot(i, 3, axis=2), [np.array([0])], InvalidArgumentError,
                "out of range")


@pytest.mark.parametrize("dtype", FLOATS)
def test_where(dtype):
    c = rand(4, 1, 3, dtype=bool)
    x, y = rand(2, 3, dtype=dtype), rand(4, 1, 1, dtype=dtype, seed=1)
    check_op(gx.where, np.where, c, x, y)
    check_op(gx.where, np.where, c, x, y, dynamic=True)
    check_op(gx.where, np.where, np.array(True), rand(dtype=dtype), rand(2, dtype=dtype))
    check_op(gx.where, np.where, rand(0, 3, dtype=bool), x[:1], y[0])
    check_op(gx.where, np.where, c, rand(3, dtype="int32"), x)  # promotes as numpy


def test_where_python_scalars():
    c = rand(3, dtype=bool)
    x = rand(3, dtype="float32")
    check_op(lambda c, x: gx.where(c, x, 0.0), lambda c, x: np.where(c, x, 0.0), c, x)
    check_op(lambda c, x: gx.where(c, 1, x), lambda c, x: np.where(c, 1, x), c, x)
    assert gx.where(c, 1, 2).dtype == np.where(c, 1, 2).dtype
    assert gx.where(c, 1.0, [2, 3, 4]).dtype == np.float64


def test_where_errors():
    raises_both(gx.where, [rand(3), rand(3), rand(3)], DTypeError,
                "^where: condition must be bool, got float64")
    raises_both(gx.where, [rand(3, dtype=bool), rand(2), rand(3)], ShapeError,
                "cannot broadcast")


# ---------------------------------------------------------------------------------------------
# x[key]

KEYS = [
    1, -1, slice(1, None), slice(None, None, -1), slice(-2, None), slice(None, -1, 2),
    slice(3, 1), slice(10, None), slice(-10, 2), (1, 2), (-1, slice(None, None, -2)),
    (Ellipsis, 0), (None, Ellipsis), (0, None, slice(None, None, 2)), (), Ellipsis,
    (slice(None), None, -1), (None, 1, None), (np.int64(2), slice(np.int32(1), None)),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("key", KEYS, ids=repr)
def test_getitem(dtype, key):
    x = rand(4, 3, dtype=dtype)
    check_op(lambda t: t[key], lambda a: a[key], x)
    check_op(lambda t: gx.getitem(t, key), lambda a: a[key], x, dynamic=True)


def test_getitem_0d_empty_and_3d():
    check_op(lambda t: t[()], lambda a: a[()], rand())
    check_op(lambda t: t[None], lambda a: a[None], rand())
    check_op(lambda t: t[..., None], lambda a: a[..., None], rand())
    check_op(lambda t: t[1:], lambda a: a[1:], rand(0, 2))
    check_op(lambda t: t[:, 0], lambda a: a[:, 0], rand(0, 2))
    x = rand(2, 3, 4)
    check_op(lambda t: t[..., 1:3, None, -1], lambda a: a[..., 1:3, None, -1], x)
    check_op(lambda t: t[1, ..., ::-1], lambda a: a[1, ..., ::-1], x, dynamic=True)


def test_getitem_static_shapes():
    assert build(lambda t: t[1:, 0], ((None, 3), "float32")) == (None,)
    assert build(lambda t: t[:, 1:], ((None, 3), "float32")) == (None, 2)
    assert build(lambda t: t[None, ..., ::2], ((2, 5), "float32")) == (1, 2, 3)


def test_getitem_key_is_hashable_and_canonical():
    with gx.graph() as g:
        x = gx.placeholder((4, 3))
        x[1:, ...]
        x[1:]
        x[-1, ::-1]
    keys = [d["attrs"]["key"] for _, d in g.nx.nodes(data=True) if d["op"].name == "getitem"]
    assert keys[0] == keys[1] == (("s", 1, None, 1),)
    assert keys[2] == (("i", -1), ("s", None, None, -1))
    nodes = [n for n, d in g.nx.nodes(data=True) if d["op"].name == "getitem"]
    k0, k1, k2 = (node_key(g.nx.nodes[n]) for n in nodes)
    assert k0 == k1 and hash(k0) == hash(k1) and k0 != k2
    a = rand(4, 3, dtype="float32")
    got = g.run([g.tensor(n) for n in nodes], {"placeholder": a}, optimize=1)
    for o, w in zip(got, [a[1:], a[1:], a[-1, ::-1]], strict=True):
        np.testing.assert_array_equal(o, w)
    assert g.apply_pass(common_subexpression_elimination)  # the equal keys merge, only they
    left = [n for n, d in g.nx.nodes(data=True) if d["op"].name == "getitem"]
    assert left == [nodes[0], nodes[2]]


def test_getitem_errors():
    raises_both(lambda x: x[::0], [rand(3)], InvalidArgumentError,
                "^getitem: slice step cannot be zero")
    raises_both(lambda x: x[3], [rand(3)], ShapeError,
                r"^getitem: index 3 is out of range for axis 0 of size 3 in shape \(3,\)")
    raises_both(lambda x: x[0, -3], [rand(2, 2)], ShapeError, "index -3 is out of range for axis 1")
    raises_both(lambda x: x[0, 0, 0], [rand(2, 2)], ShapeError, "too many indices")
    raises_both(lambda x: x[0], [rand()], ShapeError, "too many indices")
    raises_both(lambda x: x[..., 0, ...], [rand(2, 2)], InvalidArgumentError, "single ellipsis")
    for key in ([0, 1], np.array([0, 1]), True, 1.5, (0, [1])):
        raises_both(lambda x, k=key: x[k], [rand(3, 3)], InvalidArgumentError,
                    "advanced indexing .* use gx.gather")
    raises_both(lambda x, m: x[m], [rand(3), rand(3, dtype=bool)], InvalidArgumentError,
                "gx.where")
    raises_both(lambda x, i: x[i], [rand(3), np.array(1)], InvalidArgumentError, "advanced")
    raises_both(lambda x, i: x[i:], [rand(3), np.array(1)], InvalidArgumentError, "slice bounds")
    with pytest.raises(ExecutionError, match="getitem"):  # an unknown dim is checked at run time
        run_graph(lambda t: t[5], rand(3), dynamic=True)


def test_ops_record_nodes_not_values():
    with gx.graph() as g:
        x = gx.placeholder((2, 6), "float64")
        y = gx.concat(gx.split(x, 2, axis=1), 0)
        z = gx.where(y > 0, y, gx.zeros_like(y))[1:]
    g.validate()
    ops = sorted(d["op"].name for _, d in g.nx.nodes(data=True))
    assert ops == ["concat", "constant", "full_like", "getitem", "greater", "placeholder",
                   "split", "where"]
    a = rand(2, 6)
    y_ref = np.concatenate(np.split(a, 2, axis=1))
    assert_close(g.run(z, {x: a}), np.where(y_ref > 0, y_ref, 0.0)[1:])


def test_attrs_are_hashable_and_shapes_may_be_graph_constants():
    with gx.graph() as g:
        x = gx.placeholder((2, 6))
        i = gx.placeholder((3,), "int64")
        gx.reshape(x, gx.constant([3, -1]))  # a constant node's value is known at build time
        gx.transpose(x), gx.expand_dims(x, (0, -1)), gx.squeeze(x[None]), gx.tile(x, [2, 1])
        gx.broadcast_to(x, [4, 2, 6]), gx.stack([x, x], -1), gx.unstack(x), gx.concat([x, x], 1)
        gx.split(x, 3, 1), gx.split(x, [1, -1], 1), gx.gather(x, i, 1), gx.one_hot(i, 4)
        gx.where(x > 0, x, 1.0), x[1, ::-2], x[..., None]
        with pytest.raises(InvalidArgumentError, match="known only at run time"):
            gx.reshape(x, i)
    g.validate()
    for _, d in g.nx.nodes(data=True):
        if d["op"].name != "constant":
            key = node_key(d)  # every attribute has a canonical CSE key, by value
            twin = node_key({**d, "attrs": copy.deepcopy(d["attrs"])})
            assert twin == key and hash(twin) == hash(key)


def test_where_python_scalar_next_to_numpy_array_is_weak():
    c = np.array([True, False])
    y = np.ones(2, np.float32)
    check_op(lambda cond, b: gx.where(cond, 1.0, b), lambda cond, b: np.where(cond, 1.0, b), c, y)
    assert gx.where(c, 1.0, y).dtype == np.float32


def test_squeeze_repeated_axis_is_an_error_in_both_modes():
    with pytest.raises(gx.InvalidArgumentError, match="repeated axis"):
        gx.squeeze(gx.constant(np.ones((1, 3))), axis=(0, 0))
    with gx.graph(), pytest.raises(gx.InvalidArgumentError, match="repeated axis"):
        gx.squeeze(gx.placeholder((1, 3), "float64"), axis=(0, -2))
