"""gx.linalg against numpy.linalg, eagerly and in graph mode: values, invariants, dtypes, errors."""

import numpy as np
import pytest

import graphexec as gx
from graphexec.ops import linalg as ops_linalg

from .helpers import assert_close, check_op, rand, run_eager

L = gx.linalg
inf = np.inf


def spd(*batch, n=3, dtype="float64", seed=0):
    """Well-conditioned symmetric positive definite matrices."""
    a = rand(*batch, n, n, seed=seed)
    return (a @ np.swapaxes(a, -1, -2) + n * np.eye(n)).astype(dtype)


def _complex(dtype):
    return np.result_type(dtype, np.complex64)


# -- inv, det, solve ------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_inv(dtype):
    for a in (spd(dtype=dtype), spd(2, 3, n=4, dtype=dtype), rand(0, 0, dtype=dtype),
              rand(2, 0, 0, dtype=dtype)):
        check_op(L.inv, np.linalg.inv, a)
    check_op(L.inv, np.linalg.inv, spd(2, dtype=dtype), dynamic=True)
    (out,) = run_eager(L.inv, spd(4, dtype=dtype))
    assert_close(out @ spd(4, dtype=dtype), np.broadcast_to(np.eye(3, dtype=dtype), (4, 3, 3)),
                 atol=1e-5 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_det(dtype):
    for a in (rand(3, 3, dtype=dtype), rand(2, 4, 5, 5, dtype=dtype), rand(1, 1, dtype=dtype),
              rand(0, 0, dtype=dtype), rand(0, 2, 2, dtype=dtype)):
        check_op(L.det, np.linalg.det, a)
    check_op(L.det, np.linalg.det, rand(3, 2, 2, dtype=dtype), dynamic=True)
    (out,) = run_eager(L.det, np.array([[2.0, 1.0], [0.0, 3.0]], dtype))
    assert out.shape == () and out == 6.0
    (out,) = run_eager(L.det, np.zeros((0, 0), dtype))
    assert out == 1.0  # the empty product, as numpy


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_solve(dtype):
    a = spd(dtype=dtype)
    for b in (rand(3, 2, dtype=dtype), rand(3, 1, dtype=dtype), rand(5, 3, 4, dtype=dtype),
              rand(3, dtype=dtype), rand(3, 0, dtype=dtype)):
        check_op(L.solve, np.linalg.solve, a, b)
    ab = spd(2, 1, dtype=dtype)  # batch dims broadcast: (2, 1) with (4,) -> (2, 4)
    check_op(L.solve, np.linalg.solve, ab, rand(4, 3, 2, dtype=dtype))
    check_op(L.solve, np.linalg.solve, ab, rand(3, dtype=dtype))  # one vector for every matrix
    check_op(L.solve, np.linalg.solve, ab, rand(4, 3, 2, dtype=dtype), dynamic=True)
    check_op(L.solve, np.linalg.solve, a, rand(3, dtype=dtype), dynamic=True)
    check_op(L.solve, np.linalg.solve, rand(0, 0, dtype=dtype), rand(0, 2, dtype=dtype))
    (x,) = run_eager(L.solve, ab, rand(4, 3, 2, dtype=dtype))
    assert x.shape == (2, 4, 3, 2)
    assert_close(ab @ x, np.broadcast_to(rand(4, 3, 2, dtype=dtype), (2, 4, 3, 2)),
                 atol=1e-5 if dtype == "float32" else 1e-12)


def test_solve_vector_b_is_numpy2_rule():
    a = spd(4)  # (4, 3, 3): a 1-D b is one vector for all four systems
    (x,) = run_eager(L.solve, a, np.array([1.0, 2.0, 3.0]))
    assert x.shape == (4, 3)
    assert_close(np.einsum("bij,bj->bi", a, x), np.broadcast_to([1.0, 2.0, 3.0], (4, 3)))
    with pytest.raises(gx.ShapeError, match="a is 3x3 but b has 4 rows"):
        L.solve(spd(), rand(4, 3))  # a 2-D b is a matrix, never a batch of vectors


def test_mixed_and_integer_dtypes():
    check_op(L.solve, np.linalg.solve, spd(dtype="float32"), rand(3, 2))  # -> float64
    check_op(L.solve, np.linalg.solve, np.eye(3, dtype="int32") * 2, rand(3, dtype="float32"))
    check_op(L.inv, np.linalg.inv, np.array([[2, 1], [1, 1]], "int64"))
    check_op(L.det, np.linalg.det, np.array([[2, 1], [1, 1]], "int32"))


# -- eig, eigh, svd -------------------------------------------------------------------------------
def _np_eig(a):
    w, v = np.linalg.eig(a)
    c = _complex(np.linalg.inv(np.eye(1, dtype=a.dtype)).dtype)
    return w.astype(c), v.astype(c)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_eig(dtype):
    rot = np.array([[0.0, -1.0], [1.0, 0.0]], dtype)  # eigenvalues +-i
    for a in (rand(3, 3, dtype=dtype), rand(2, 4, 4, dtype=dtype), rot, spd(dtype=dtype),
              rand(0, 0, dtype=dtype)):
        check_op(L.eig, _np_eig, a)
    check_op(L.eig, _np_eig, rand(2, 3, 3, dtype=dtype), dynamic=True)
    a = rand(5, 4, 4, dtype=dtype, seed=3)
    w, v = run_eager(L.eig, a)
    assert w.dtype == v.dtype == _complex(dtype)
    tol = 1e-4 if dtype == "float32" else 1e-10
    assert_close(a @ v, v * w[..., None, :], rtol=tol, atol=tol)
    w, _ = run_eager(L.eig, rot)
    np.testing.assert_allclose(np.sort_complex(w), [-1j, 1j], atol=1e-6)
    w, _ = run_eager(L.eig, spd(dtype=dtype))  # real eigenvalues: still complex, as TF
    assert w.dtype == _complex(dtype) and np.all(w.imag == 0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_eigh(dtype):
    a = spd(2, n=4, dtype=dtype)
    check_op(L.eigh, np.linalg.eigh, a)
    check_op(L.eigh, np.linalg.eigh, a, dynamic=True)
    check_op(L.eigh, np.linalg.eigh, rand(0, 0, dtype=dtype))
    check_op(lambda x: L.eigh(x, UPLO="u"), lambda x: np.linalg.eigh(x, UPLO="U"), a)
    w, v = run_eager(L.eigh, a)
    assert w.dtype == v.dtype == np.dtype(dtype)
    assert np.all(np.diff(w, axis=-1) >= 0)  # ascending
    tol = 1e-4 if dtype == "float32" else 1e-10
    assert_close(a @ v, v * w[..., None, :], rtol=tol, atol=tol)
    # only the named triangle is read
    lower = np.tril(a) + np.triu(rand(4, 4, dtype=dtype, seed=9), 1)
    upper = np.triu(a) + np.tril(rand(4, 4, dtype=dtype, seed=9), -1)
    assert_close(run_eager(L.eigh, lower)[0], w)
    assert_close(run_eager(lambda x: L.eigh(x, "U"), upper)[0], w)


def test_eigh_complex():
    a = spd(n=3) + 1j * np.array([[0, 1, 2], [-1, 0, 3], [-2, -3, 0]])
    check_op(L.eigh, np.linalg.eigh, a)
    w, v = run_eager(L.eigh, a)
    assert w.dtype == np.float64 and v.dtype == np.complex128
    assert_close(a @ v, v * w[None, :], rtol=1e-10, atol=1e-10)


def _np_svd(full_matrices=False):
    def ref(a):
        u, s, vh = np.linalg.svd(a, full_matrices=full_matrices)
        return s, u, np.conj(np.swapaxes(vh, -1, -2))

    return ref


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_svd(dtype):
    for a in (rand(4, 3, dtype=dtype), rand(2, 3, 5, dtype=dtype), rand(3, 3, dtype=dtype),
              rand(0, 3, dtype=dtype), rand(2, 3, 0, dtype=dtype)):
        check_op(L.svd, _np_svd(), a)
        check_op(lambda x: L.svd(x, full_matrices=True), _np_svd(True), a)
        check_op(lambda x: L.svd(x, compute_uv=False),
                 lambda x: np.linalg.svd(x, compute_uv=False), a)
    check_op(L.svd, _np_svd(), rand(2, 4, 3, dtype=dtype), dynamic=True)
    a = rand(3, 5, 4, dtype=dtype, seed=4)
    s, u, v = run_eager(L.svd, a)  # TF's order; v not transposed
    assert (s.shape, u.shape, v.shape) == ((3, 4), (3, 5, 4), (3, 4, 4))
    assert s.dtype == u.dtype == v.dtype == np.dtype(dtype)
    assert np.all(np.diff(s, axis=-1) <= 0) and np.all(s >= 0)  # descending
    tol = 1e-5 if dtype == "float32" else 1e-12
    assert_close(u * s[..., None, :] @ np.swapaxes(v, -1, -2), a, rtol=tol, atol=tol)
    only_s = L.svd(a, compute_uv=False)
    assert isinstance(only_s, gx.Tensor)
    assert_close(only_s.numpy(), s, rtol=tol, atol=tol)


def test_svd_complex():
    a = rand(3, 2) + 1j * rand(3, 2, seed=1)
    check_op(L.svd, _np_svd(), a)
    s, u, v = run_eager(L.svd, a)
    assert s.dtype == np.float64 and u.dtype == v.dtype == np.complex128
    assert_close(u * s @ v.conj().T, a)


# -- norm -----------------------------------------------------------------------------------------
VECTOR_ORDS = [None, 1, 2, 3.5, 0.5, 0, inf, -inf, -1, -2.5]
MATRIX_ORDS = [None, "fro", "f", "nuc", 1, -1, 2, -2, inf, -inf]


@pytest.mark.parametrize("ord_", VECTOR_ORDS)
def test_vector_norms(ord_):
    x = rand(3, 4, dtype="float32")
    for axis in (0, 1, -1, (1,)):
        for keepdims in (False, True):
            check_op(lambda t, a=axis, k=keepdims: L.norm(t, ord_, a, k),
                     lambda t, a=axis, k=keepdims: np.linalg.norm(t, ord_, a, k), x)
    check_op(lambda t: L.norm(t, ord_), lambda t: np.linalg.norm(t, ord_), rand(5))
    check_op(lambda t: L.norm(t, ord_, axis=1), lambda t: np.linalg.norm(t, ord_, axis=1),
             rand(2, 6), dynamic=True)


@pytest.mark.parametrize("ord_", MATRIX_ORDS)
def test_matrix_norms(ord_):
    x = rand(2, 3, 4)
    for axis in ((1, 2), (2, 1), (0, 2), (-1, -3)):
        for keepdims in (False, True):
            check_op(lambda t, a=axis, k=keepdims: L.norm(t, ord_, a, k),
                     lambda t, a=axis, k=keepdims: np.linalg.norm(t, ord_, a, k), x)
    check_op(lambda t: L.norm(t, ord_), lambda t: np.linalg.norm(t, ord_),
             rand(3, 4, dtype="float32"))
    check_op(lambda t: L.norm(t, ord_, (0, 1)), lambda t: np.linalg.norm(t, ord_, (0, 1)),
             rand(3, 4, 2), dynamic=True)


def test_norm_values_and_dtypes():
    check_op(L.norm, np.linalg.norm, rand(2, 3, 4, dtype="float32"))  # all elements, any rank
    check_op(lambda t: L.norm(t, keepdims=True), lambda t: np.linalg.norm(t, keepdims=True),
             rand(2, 3, 4), dynamic=True)
    check_op(L.norm, np.linalg.norm, rand(dtype="float32"))
    check_op(L.norm, np.linalg.norm, rand(0, 3))
    check_op(lambda t: L.norm(t, 2, 0), lambda t: np.linalg.norm(t, 2, 0), rand(0, 3))
    check_op(lambda t: L.norm(t, 1), lambda t: np.linalg.norm(t, 1), rand(4, dtype="int32"))
    c = (rand(3, 4) + 1j * rand(3, 4, seed=2)).astype("complex64")
    check_op(lambda t: L.norm(t, "nuc"), lambda t: np.linalg.norm(t, "nuc"), c)
    check_op(lambda t: L.norm(t, 0, 1), lambda t: np.linalg.norm(t, 0, 1), c)
    (out,) = run_eager(lambda t: L.norm(t, axis=1), np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_array_equal(out, [5.0, 0.0])
    (out,) = run_eager(lambda t: L.norm(t, np.int64(1)), np.array([3, -4], "int16"))
    assert out.dtype == np.float64 and out == 7.0
    (out,) = run_eager(lambda t: L.norm(t), np.array([3, 4], "float16"))
    assert out.dtype == np.float16 and out == 5.0


# -- dtypes agree with numpy ----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["bool", "int8", "int32", "int64", "uint8", "float32",
                                   "float64", "complex64", "complex128"])
def test_result_dtypes_follow_numpy(dtype):
    a = np.eye(2, dtype=dtype)
    assert L.inv(a).dtype == np.linalg.inv(a).dtype
    assert L.det(a).dtype == np.linalg.det(a).dtype
    assert L.solve(a, np.ones(2, "float32")).dtype == np.linalg.solve(a, np.ones(2, "f4")).dtype
    assert L.solve(a, a).dtype == np.linalg.solve(a, a).dtype
    assert [t.dtype for t in L.eigh(a)] == [t.dtype for t in np.linalg.eigh(a)]
    s, u, v = L.svd(a)
    nu, ns, nvh = np.linalg.svd(a)
    assert (s.dtype, u.dtype, v.dtype) == (ns.dtype, nu.dtype, nvh.dtype)
    assert [t.dtype for t in L.eig(a)] == [_complex(np.linalg.eig(a)[0].dtype)] * 2
    for ord_ in (None, 1, 2, "nuc"):
        assert L.norm(a, ord_).dtype == np.linalg.norm(a, ord_).dtype
    with gx.graph():  # graph mode infers the same dtypes without running anything
        p = gx.placeholder((None, None), dtype)
        assert L.inv(p).dtype == np.linalg.inv(a).dtype
        assert L.svd(p)[0].dtype == np.linalg.svd(a)[1].dtype
        assert L.norm(p, 2).dtype == np.linalg.norm(a, 2).dtype


def test_float16_is_refused_like_numpy():
    a = np.eye(2, dtype="float16")
    with pytest.raises(TypeError, match="unsupported in linalg"):
        np.linalg.inv(a)
    for fn in (L.inv, L.det, L.eig, L.eigh, L.svd, lambda x: L.solve(x, x),
               lambda x: L.norm(x, 2)):
        _raises_both(gx.DTypeError, r"float16", fn, a)
    assert L.norm(a, 1).dtype == np.float16  # a norm without singular values works, as numpy


# -- errors: same class in both modes, at build time ----------------------------------------------
def _raises_both(err, match, fn, *arrays):
    with pytest.raises(err, match=match) as e:
        fn(*[gx.constant(a) for a in arrays])
    assert "— at test_linalg.py:" in str(e.value)
    with gx.graph(), pytest.raises(err, match=match) as e:
        fn(*[gx.placeholder(a.shape, a.dtype) for a in arrays])
    assert "— at test_linalg.py:" in str(e.value)


@pytest.mark.parametrize("fn", [L.inv, L.det, L.eig, L.eigh, lambda x: L.solve(x, rand(2))])
def test_square_required(fn):
    _raises_both(gx.ShapeError, r"\(2, 3\) is not square: the last two dims 2 and 3 differ", fn,
                 rand(2, 3))
    _raises_both(gx.ShapeError, r"\(3,\) is not a matrix: needs rank >= 2", fn, rand(3))


def test_shape_errors():
    _raises_both(gx.ShapeError, r"^svd: \(3,\) is not a matrix", L.svd, rand(3))
    _raises_both(gx.ShapeError, r"^solve: a \(3, 3\), b \(4, 2\): a is 3x3 but b has 4 rows",
                 L.solve, spd(), rand(4, 2))
    _raises_both(gx.ShapeError, r"^solve: .*b must be a vector", L.solve, spd(), rand())
    _raises_both(gx.ShapeError, r"batch dims \(2,\) and \(3,\) do not broadcast", L.solve,
                 spd(2), rand(3, 3, 1))
    with gx.graph():  # unknown dims are checked once they are known, not before
        p = gx.placeholder((None, 3, None), "float32")
        assert L.inv(p).shape == (None, 3, 3)
        assert L.solve(p, gx.placeholder((None,), "float32")).shape == (None, 3)
        assert [t.shape for t in L.svd(p)] == [(None, None), (None, 3, None), (None, None, None)]
        assert [t.shape for t in L.svd(p, full_matrices=True)] == [
            (None, None), (None, 3, 3), (None, None, None)]


def test_norm_errors():
    x = rand(2, 3)
    _raises_both(gx.InvalidArgumentError, "ord='fro' is a matrix norm",
                 lambda t: L.norm(t, "fro", 1), x)
    _raises_both(gx.InvalidArgumentError, "ord=3 is not a matrix norm", lambda t: L.norm(t, 3), x)
    _raises_both(gx.InvalidArgumentError, "ord must be None, a number or a string",
                 lambda t: L.norm(t, [1]), x)
    _raises_both(gx.ShapeError, r"ord=1 with axis=None needs a vector or a matrix",
                 lambda t: L.norm(t, 1), rand(2, 2, 2))
    _raises_both(gx.InvalidArgumentError, "axis 2 is out of range for a tensor of rank 2",
                 lambda t: L.norm(t, axis=2), x)
    _raises_both(gx.InvalidArgumentError, "axis must be an int, got 1.0",
                 lambda t: L.norm(t, axis=1.0), x)
    _raises_both(gx.InvalidArgumentError, "repeats an axis", lambda t: L.norm(t, axis=(1, -1)), x)
    _raises_both(gx.InvalidArgumentError, "give one axis", lambda t: L.norm(t, axis=(0, 1, 2)),
                 rand(2, 2, 2))
    # a minimum over no values: numpy raises, so do we (at build time when the dims are known)
    _raises_both(gx.ShapeError, "minimum of no values", lambda t: L.norm(t, -inf, 0), rand(0, 2))
    _raises_both(gx.ShapeError, "minimum of no values", lambda t: L.norm(t, -2), rand(0, 3))
    _raises_both(gx.ShapeError, "minimum of no values", lambda t: L.norm(t, -1), rand(3, 0))
    with gx.graph() as g:
        p = gx.placeholder((None, 2), "float64")
        y = L.norm(p, -inf, 0)
    with pytest.raises(gx.ShapeError, match=r"minimum of no values.*at test_linalg.py:\d+ "
                                            r"\(while running node 'norm'\)") as info:
        g.run(y, {p: rand(0, 2)})  # worded as at build time
    assert isinstance(info.value, gx.ExecutionError)


def test_eigh_uplo_error():
    _raises_both(gx.InvalidArgumentError, "UPLO must be 'L' or 'U', got 'X'",
                 lambda t: L.eigh(t, "x"), spd())


@pytest.mark.parametrize(("name", "fn"), [("inv", L.inv),
                                          ("solve", lambda a: L.solve(a, np.ones((2, 1))))])
def test_singular_matrix_is_execution_error(name, fn):
    a = np.array([[1.0, 2.0], [2.0, 4.0]])
    with pytest.raises(gx.ExecutionError, match=rf"^{name}: LinAlgError: Singular matrix — at "
                                                 r"test_linalg.py:") as e:
        fn(gx.constant(a))
    assert isinstance(e.value.__cause__, np.linalg.LinAlgError)
    with gx.graph() as g:
        x = gx.placeholder((2, 2), "float64")
        y = fn(x)
    with pytest.raises(gx.ExecutionError, match=rf"node '{name}': LinAlgError: Singular matrix"
                                                 r" — created at test_linalg.py:"):
        g.run(y, {x: a})
    assert_close(g.run(y, {x: np.eye(2)}), np.asarray(fn(gx.constant(np.eye(2))).numpy()))


def test_namespace():
    assert ops_linalg.__all__ == ["matmul"]  # the rest lives under gx.linalg only
    for name in ("inv", "solve", "eig", "eigh", "svd", "det", "norm"):
        assert getattr(L, name) is getattr(ops_linalg, name)
        assert gx.REGISTRY[name].kind == "opaque"
    assert gx.REGISTRY["eig"].n_outputs == 2 and gx.REGISTRY["svd"].n_outputs is None
