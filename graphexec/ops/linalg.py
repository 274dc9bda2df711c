"""Matrix ops: matmul and the ``gx.linalg`` family (inv, solve, eig, eigh, svd, det, norm).

The linalg ops follow ``numpy.linalg`` (batched over leading dims; ints compute in float64;
float16 is refused as numpy refuses it) with two deliberate differences, both TF's:
``eig`` always returns complex values, and ``svd`` returns ``(s, u, v)`` with ``v`` not
transposed.  A singular matrix is numpy's LinAlgError at run time, which graphexec reports as
an ExecutionError naming the op.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DTypeError, InvalidArgumentError, MissingExtraError, ShapeError, op_error
from ..registry import (
    Spec,
    broadcast_shapes,
    defvjp,
    fmt_shape,
    normalize_axis,
    refuse_vjp,
    register,
    ufunc_dtype,
)
from ..tensor import Tensor, apply, as_tensor
from . import math as m
from .array import cast, expand_dims, squeeze, transpose, where
from .creation import zeros_like
from .grad import unbroadcast

#: why eig, eigh and svd refuse gradients
_FORWARD_ONLY = ("has no gradient rule; it is forward-only (differentiate around it, or wrap it "
                 "in gx.stop_gradient)")

__all__ = ["matmul"]


def _matmul_infer(x: Spec, y: Spec) -> Spec:
    if not x.shape or not y.shape:
        what = f"{fmt_shape(x.shape)} @ {fmt_shape(y.shape)}"
        raise ShapeError(f"{what}: matmul needs operands of rank >= 1, not scalars")
    k1, k2 = x.shape[-1], y.shape[-2 if len(y.shape) > 1 else -1]
    if k1 is not None and k2 is not None and k1 != k2:
        what = f"{fmt_shape(x.shape)} @ {fmt_shape(y.shape)}"
        raise ShapeError(f"{what}: inner sizes {k1} and {k2} differ")
    try:
        batch = broadcast_shapes(x.shape[:-2], y.shape[:-2])
    except ShapeError:
        what = f"{fmt_shape(x.shape)} @ {fmt_shape(y.shape)}"
        raise ShapeError(f"{what}: batch dims {fmt_shape(x.shape[:-2])} and "
                         f"{fmt_shape(y.shape[:-2])} do not broadcast") from None
    rows = x.shape[-2:-1]  # () for a vector operand, as np.matmul drops that dim
    cols = y.shape[-1:] if len(y.shape) > 1 else ()
    try:
        dtype = ufunc_dtype(np.matmul, x.dtype, y.dtype)
    except TypeError:
        raise DTypeError(f"matmul of {x.dtype} and {y.dtype} is not supported") from None
    return Spec(batch + rows + cols, dtype)


def unshared(xp: Any, x: Any, y: Any) -> Any:
    """``y``, copied (same layout) when it shares memory with ``x``.

    ``np.matmul`` sends ``a.T @ a`` on one buffer to BLAS ``syrk``, which rounds differently
    from the ``gemm`` that two equal buffers get; CSE and simplification merge equal operands,
    so without this copy the result would depend on the optimization level.
    """
    # NOTE: one owner (a view's base is the array owning the memory): cheaper than
    # np.may_share_memory on every product, and all syrk needs
    if xp is np and x.ndim >= 2 and y.ndim >= 2 and (
            (x if x.base is None else x.base) is (y if y.base is None else y.base)):
        return y.copy(order="K")
    return y


# NOTE: np.matmul raises for every operand infer refuses, so eager mode skips infer
@register("matmul", infer=_matmul_infer, arity=2, kernel_checks=True, fresh=True)
def matmul_p(xp, x, y):
    return xp.matmul(x, unshared(xp, x, y))


def matmul(x: Any, y: Any) -> Tensor:
    """Matrix product with ``np.matmul`` semantics: batched, broadcasting batch dims, 1-D
    operands treated as vectors.

    >>> import numpy as np, graphexec as gx
    >>> a = gx.constant(np.ones((2, 3, 4)))
    >>> gx.matmul(a, np.ones((4, 5))).shape
    (2, 3, 5)
    """
    return apply(matmul_p, as_tensor(x), as_tensor(y))


def _matmul_vjp(g: Tensor, out: Tensor, x: Tensor, y: Tensor,
                needs: tuple[bool, bool] = (True, True)) -> tuple[Tensor | None, Tensor | None]:

    # NOTE: vectors are matrices with a unit axis (x: 1 x k, y: k x 1), which g lacks too
    x2 = expand_dims(x, 0) if x.ndim == 1 else x
    y2 = expand_dims(y, -1) if y.ndim == 1 else y
    g2 = expand_dims(g, -2 if y.ndim > 1 else -1) if x.ndim == 1 else g
    g2 = expand_dims(g2, -1) if y.ndim == 1 else g2
    gx = gy = None
    if needs[0]:
        gx = unbroadcast(matmul(g2, _swap(y2)), x2)
        gx = squeeze(gx, 0) if x.ndim == 1 else gx
    if needs[1]:
        gy = unbroadcast(matmul(_swap(x2), g2), y2)
        gy = squeeze(gy, -1) if y.ndim == 1 else gy
    return gx, gy


defvjp(matmul_p, _matmul_vjp)


# ---------------------------------------------------------------------------------------------
# gx.linalg: inv, solve, eig, eigh, svd, det, norm (exported by graphexec/linalg.py)

_SINGLE = (np.dtype("float32"), np.dtype("complex64"))
_LAPACK = (*_SINGLE, np.dtype("float64"), np.dtype("complex128"))


def _linalg_dtype(*specs: Spec) -> np.dtype:
    """numpy.linalg's result dtype: ints and bools compute in float64, float32 stays single
    only when every operand is single, any complex operand makes it complex."""
    for s in specs:
        if s.dtype not in _LAPACK and s.dtype.kind not in "biu":
            raise DTypeError(f"dtype {s.dtype} is not supported by linalg; use float32, "
                             "float64, complex64 or complex128 (ints compute in float64)")
    single = all(s.dtype in _SINGLE for s in specs)
    cplx = any(s.dtype.kind == "c" for s in specs)
    return np.dtype(("complex64" if single else "complex128") if cplx else
                    ("float32" if single else "float64"))


def _real(dtype: np.dtype) -> np.dtype:
    return np.dtype(dtype.char.lower()) if dtype.kind == "c" else dtype


def _square(x: Spec) -> int | None:
    """Size n of the [..., n, n] matrices in ``x`` (None if unknown)."""
    if len(x.shape) < 2:
        raise ShapeError(f"{fmt_shape(x.shape)} is not a matrix: needs rank >= 2, "
                         f"got rank {len(x.shape)}")
    m, n = x.shape[-2:]
    if m is not None and n is not None and m != n:
        raise ShapeError(f"{fmt_shape(x.shape)} is not square: the last two dims {m} and {n} "
                         "differ")
    return n if m is None else m


def _inv_infer(x: Spec) -> Spec:
    n = _square(x)
    return Spec((*x.shape[:-2], n, n), _linalg_dtype(x))


@register("inv", infer=_inv_infer, arity=1)
def inv_p(xp, x):
    return xp.linalg.inv(x)


def _det_infer(x: Spec) -> Spec:
    _square(x)
    return Spec(x.shape[:-2], _linalg_dtype(x))


@register("det", infer=_det_infer, arity=1)
def det_p(xp, x):
    return xp.linalg.det(x)


def _solve_infer(a: Spec, b: Spec) -> Spec:
    n = _square(a)
    what = f"a {fmt_shape(a.shape)}, b {fmt_shape(b.shape)}"
    if not b.shape:
        raise ShapeError(f"{what}: b must be a vector (n,) or matrices (..., n, k), not a scalar")
    vector = len(b.shape) == 1
    nb = b.shape[0] if vector else b.shape[-2]
    if n is not None and nb is not None and n != nb:
        raise ShapeError(f"{what}: a is {n}x{n} but b has {nb} rows")
    try:
        batch = broadcast_shapes(a.shape[:-2], () if vector else b.shape[:-2])
    except ShapeError:
        raise ShapeError(f"{what}: batch dims {fmt_shape(a.shape[:-2])} and "
                         f"{fmt_shape(b.shape[:-2])} do not broadcast") from None
    n = nb if n is None else n
    return Spec(batch + ((n,) if vector else (n, b.shape[-1])), _linalg_dtype(a, b))


@register("solve", infer=_solve_infer, arity=2)
def solve_p(xp, a, b):
    # NOTE: batch dims are broadcast here and a vector b becomes an (n, 1) matrix, so every
    # backend sees plain stacked matrices (cupy does not follow numpy 2's rule for b).
    vector = b.ndim == 1
    if vector:
        b = b[:, None]
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    out = xp.linalg.solve(xp.broadcast_to(a, batch + a.shape[-2:]),
                          xp.broadcast_to(b, batch + b.shape[-2:]))
    return out[..., 0] if vector else out


def _eig_infer(x: Spec) -> tuple[Spec, Spec]:
    n = _square(x)
    dtype = np.result_type(_linalg_dtype(x), np.complex64)
    batch = x.shape[:-2]
    return Spec((*batch, n), dtype), Spec((*batch, n, n), dtype)


@register("eig", infer=_eig_infer, arity=1, n_outputs=2)
def eig_p(xp, x):
    if not hasattr(xp.linalg, "eig"):  # NOTE: CuPy has eig from version 14
        raise op_error(MissingExtraError, "eig", "on a GPU it needs CuPy 14 or newer "
                       f"(cupy.linalg.eig); this is CuPy {getattr(xp, '__version__', '?')}: "
                       "pip install -U 'graphexec[cuda]'")
    w, v = xp.linalg.eig(x)
    dtype = xp.result_type(w.dtype, xp.complex64)
    return w.astype(dtype, copy=False), v.astype(dtype, copy=False)


def _eigh_infer(x: Spec, UPLO: str) -> tuple[Spec, Spec]:
    if UPLO not in ("L", "U"):
        raise InvalidArgumentError(f"UPLO must be 'L' or 'U', got {UPLO!r}")
    n = _square(x)
    dtype = _linalg_dtype(x)
    batch = x.shape[:-2]
    return Spec((*batch, n), _real(dtype)), Spec((*batch, n, n), dtype)


@register("eigh", infer=_eigh_infer, arity=1, n_outputs=2)
def eigh_p(xp, x, UPLO):
    w, v = xp.linalg.eigh(x, UPLO=UPLO)
    return w, v


def _svd_infer(x: Spec, full_matrices: bool, compute_uv: bool) -> tuple[Spec, ...]:
    if len(x.shape) < 2:
        raise ShapeError(f"{fmt_shape(x.shape)} is not a matrix: needs rank >= 2, "
                         f"got rank {len(x.shape)}")
    batch, (m, n) = x.shape[:-2], x.shape[-2:]
    k = None if m is None or n is None else min(m, n)
    dtype = _linalg_dtype(x)
    s = Spec((*batch, k), _real(dtype))
    if not compute_uv:
        return (s,)
    if full_matrices:
        return s, Spec((*batch, m, m), dtype), Spec((*batch, n, n), dtype)
    return s, Spec((*batch, m, k), dtype), Spec((*batch, n, k), dtype)


@register("svd", infer=_svd_infer, arity=1, n_outputs=None)
def svd_p(xp, x, full_matrices, compute_uv):
    if not compute_uv:
        return (xp.linalg.svd(x, compute_uv=False),)
    u, s, vh = xp.linalg.svd(x, full_matrices=full_matrices)
    return s, u, xp.conj(vh.swapaxes(-1, -2))


_MATRIX_ORDS = (None, "fro", "f", "nuc", 1, -1, 2, -2, np.inf, -np.inf)


def _norm_infer(x: Spec, ord: Any, axis: tuple[int, ...] | None,  # noqa: A002
                keepdims: bool) -> Spec:
    rank = len(x.shape)
    if axis is None and ord is not None and rank not in (1, 2):
        raise ShapeError(f"ord={ord!r} with axis=None needs a vector or a matrix, got "
                         f"{fmt_shape(x.shape)}; give axis")
    axes = tuple(range(rank)) if axis is None else axis
    if axis is not None or ord is not None:  # else the 2-norm of all elements, any rank
        _check_ord(x, ord, axes)
    if x.dtype.kind not in "biufc":
        raise DTypeError(f"norm of a {x.dtype} tensor")
    dtype = _real(x.dtype) if x.dtype.kind in "fc" else np.dtype("float64")
    if len(axes) == 2 and ord in (2, -2, "nuc") and dtype.char == "e":
        raise DTypeError(f"ord={ord!r} computes singular values, which float16 does not support; "
                         "cast to float32")
    if keepdims:
        shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    else:
        shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    return Spec(shape, dtype)


def _check_ord(x: Spec, ord: Any, axes: tuple[int, ...]) -> None:  # noqa: A002
    dims = [x.shape[a] for a in axes]
    if len(axes) == 1:
        if isinstance(ord, str):
            raise InvalidArgumentError(f"ord={ord!r} is a matrix norm; a vector norm (one axis) "
                                       "takes None or a number")
        empty = ord == -np.inf and dims[0] == 0
    else:
        if ord not in _MATRIX_ORDS:
            raise InvalidArgumentError(f"ord={ord!r} is not a matrix norm; use None, 'fro', "
                                       "'nuc', 1, -1, 2, -2, inf or -inf")
        m, n = dims  # the min over rows (-inf), columns (-1) or singular values (-2)
        empty = {-2: 0 in dims, -1: n == 0, -np.inf: m == 0}.get(ord, False)
    if empty:
        raise ShapeError(f"ord={ord!r} over axes {axes} of {fmt_shape(x.shape)}: the minimum "
                         "of no values is undefined")


@register("norm", infer=_norm_infer, arity=1)
def norm_p(xp, x, ord, axis, keepdims):  # noqa: A002
    return xp.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)


def inv(x: Any) -> Tensor:
    """Inverse of each square matrix in ``x`` (shape [..., n, n]).

    >>> import graphexec as gx
    >>> gx.linalg.inv([[2.0, 0.0], [0.0, 4.0]]).numpy()
    array([[0.5 , 0.  ],
           [0.  , 0.25]], dtype=float32)
    """
    return apply(inv_p, as_tensor(x))


def _inv_vjp(g: Tensor, out: Tensor, x: Tensor) -> tuple[Tensor | None]:
    if not _floating(x):
        return (None,)
    inv_t = _swap(out)
    return (_as_dtype_of(-matmul(inv_t, matmul(g, inv_t)), x),)


defvjp(inv_p, _inv_vjp)


def det(x: Any) -> Tensor:
    """Determinant of each square matrix in ``x``: shape [..., n, n] -> [...].

    >>> import graphexec as gx
    >>> gx.linalg.det([[2.0, 1.0], [0.0, 3.0]]).numpy()
    array(6., dtype=float32)
    """
    return apply(det_p, as_tensor(x))


def _det_vjp(g: Tensor, out: Tensor, x: Tensor) -> tuple[Tensor | None]:

    if not _floating(x):
        return (None,)
    scale = expand_dims(g * out, (-2, -1) if out.ndim else (0, 1))
    return (_as_dtype_of(scale * _swap(inv(x)), x),)


defvjp(det_p, _det_vjp)


def solve(a: Any, b: Any) -> Tensor:
    """The ``x`` with ``a @ x == b``, for square ``a`` [..., n, n].

    ``b`` is matrices [..., n, k] (as ``tf.linalg.solve``), batch dims broadcasting against
    ``a``'s; a 1-D ``b`` of shape (n,) is one vector for every matrix of ``a`` and gives
    [..., n] (numpy 2's rule).

    >>> import graphexec as gx
    >>> gx.linalg.solve([[2.0, 0.0], [0.0, 4.0]], [[2.0], [2.0]]).numpy()
    array([[1. ],
           [0.5]], dtype=float32)
    """
    return apply(solve_p, as_tensor(a), as_tensor(b))


def _solve_vjp(g: Tensor, out: Tensor, a: Tensor, b: Tensor
               ) -> tuple[Tensor | None, Tensor | None]:

    vector = b.ndim == 1  # then out is [..., n]: work with [..., n, 1] matrices
    g2 = expand_dims(g, -1) if vector else g
    x2 = expand_dims(out, -1) if vector else out
    gb2 = solve(_swap(a), g2)
    ga = unbroadcast(-matmul(gb2, _swap(x2)), a) if _floating(a) else None
    gb = None
    if _floating(b):
        gb = unbroadcast(squeeze(gb2, -1) if vector else gb2, b)
        gb = _as_dtype_of(gb, b)
    return (None if ga is None else _as_dtype_of(ga, a), gb)


defvjp(solve_p, _solve_vjp)


def eig(x: Any) -> tuple[Tensor, Tensor]:
    """Eigenvalues ``w`` [..., n] and right eigenvectors ``v`` [..., n, n] (columns), with
    ``x @ v == v * w``.

    Always complex (complex64 for float32 input, else complex128), as ``tf.linalg.eig``:
    ``numpy.linalg.eig`` returns real arrays when every eigenvalue happens to be real, a dtype
    that depends on the values and so cannot be known when a graph is built.

    >>> import graphexec as gx
    >>> w, v = gx.linalg.eig([[2.0, 0.0], [0.0, 3.0]])
    >>> w.numpy()
    array([2.+0.j, 3.+0.j], dtype=complex64)
    """
    return apply(eig_p, as_tensor(x))


refuse_vjp(eig_p, _FORWARD_ONLY)

def eigh(x: Any, UPLO: str = "L") -> tuple[Tensor, Tensor]:
    """Eigenvalues ``w`` (real, ascending) and eigenvectors ``v`` of real symmetric or complex
    Hermitian matrices [..., n, n]; only the lower (``UPLO="L"``) or upper triangle is read.

    >>> import graphexec as gx
    >>> w, v = gx.linalg.eigh([[2.0, 1.0], [1.0, 2.0]])
    >>> w.numpy()
    array([1., 3.], dtype=float32)
    """
    uplo = UPLO.upper() if isinstance(UPLO, str) else UPLO
    return apply(eigh_p, as_tensor(x), UPLO=uplo)


refuse_vjp(eigh_p, _FORWARD_ONLY)

def svd(x: Any, full_matrices: bool = False, compute_uv: bool = True
        ) -> Tensor | tuple[Tensor, Tensor, Tensor]:
    """Singular value decomposition of matrices [..., m, n], TF's order: ``s, u, v`` with
    ``x == u @ diag(s) @ conj(v).T`` (``v`` is NOT transposed, unlike numpy's ``vh``).

    ``s`` [..., k] (k = min(m, n)) is real and descending; ``u`` is [..., m, k] and ``v``
    [..., n, k], or [..., m, m] and [..., n, n] with ``full_matrices``.  With
    ``compute_uv=False`` only ``s`` is returned.

    >>> import graphexec as gx
    >>> gx.linalg.svd([[3.0, 0.0], [0.0, -4.0]], compute_uv=False).numpy()
    array([4., 3.], dtype=float32)
    """
    out = apply(svd_p, as_tensor(x), full_matrices=bool(full_matrices),
                compute_uv=bool(compute_uv))
    return out if compute_uv else out[0]


refuse_vjp(svd_p, _FORWARD_ONLY)

def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False  # noqa: A002
         ) -> Tensor:
    """Vector or matrix norm, as ``numpy.linalg.norm``.

    ``axis=None``: the 2-norm of all elements when ``ord`` is None, else ``x`` must be a vector
    or a matrix.  One axis: the vector norm ``sum(|x|**ord)**(1/ord)`` (``ord`` any number;
    inf, -inf and 0 as numpy).  Two axes (rows, cols): a matrix norm, ``ord`` one of None or
    "fro", "nuc", 1, -1, 2, -2, inf, -inf.  Ints give float64, complex gives its real dtype.

    >>> import graphexec as gx
    >>> gx.linalg.norm([[3.0, 4.0], [0.0, 0.0]], axis=1).numpy()
    array([5., 0.], dtype=float32)
    """
    x = as_tensor(x)
    if isinstance(ord, np.generic):
        ord = ord.item()  # noqa: A001
    if ord is not None and not isinstance(ord, str | int | float):
        raise op_error(InvalidArgumentError, "norm", f"ord must be None, a number or a string, "
                       f"got {ord!r}")
    if axis is not None:
        axes = tuple(axis) if isinstance(axis, list | tuple) else (axis,)
        try:
            axis = tuple(normalize_axis(a, x.ndim) for a in axes)
        except InvalidArgumentError as e:
            raise op_error(InvalidArgumentError, "norm", str(e)) from None
        if len(axis) not in (1, 2):
            raise op_error(InvalidArgumentError, "norm", f"axis {axes!r}: give one axis (a "
                           "vector norm) or two (a matrix norm)")
        if len(set(axis)) != len(axis):
            raise op_error(InvalidArgumentError, "norm", f"axis {axes!r} repeats an axis")
    return apply(norm_p, x, ord=ord, axis=axis, keepdims=bool(keepdims))


def _norm_vjp(g: Tensor, out: Tensor, x: Tensor, ord: Any,  # noqa: A002
              axis: tuple[int, ...] | None, keepdims: bool) -> tuple[Tensor | None]:
    """Gradient of every norm numpy.linalg.norm computes.  Where the norm is not
    differentiable the rule picks a subgradient: 0 at a zero 2-norm or Frobenius norm, and
    ties for a max or min (ord +-inf, matrix ord +-1 and +-inf) share the gradient equally.
    For complex ``x`` the elementwise norms give ``g * x / |x|``-style gradients (TF's
    convention); the singular-value norms (matrix ord 2, -2, "nuc") of complex ``x`` are an
    error, as their gradient needs a complex conjugate no graphexec op computes."""
    if not _floating(x):
        return (None,)
    rank = x.ndim
    axes = tuple(range(rank)) if axis is None else axis
    if not keepdims and axes:
        kept = tuple(sorted(axes))
        g, out = expand_dims(g, kept), expand_dims(out, kept)
    if axis is None and ord is not None and rank == 1:
        axes = (0,)
    if len(axes) == 2 and (axis is not None or ord is not None):
        if ord in (2, -2, "nuc") and np.dtype(x.dtype).kind == "c":
            raise op_error(InvalidArgumentError, "norm", f"the gradient of ord={ord!r} (from "
                           f"singular values) of a complex tensor is not supported; it is "
                           "supported for real tensors")
        grad = _matrix_norm_grad(x, out, ord, axes)
    elif len(axes) == 1:
        grad = _vector_norm_grad(x, out, ord, axes[0])
    else:  # ord None, axis None: the 2-norm of all the elements
        grad = _two_norm_grad(x, out)
    return (_as_dtype_of(g * grad, x),)


defvjp(norm_p, _norm_vjp)


def _swap(x: Tensor) -> Tensor:
    """``x`` with its last two axes swapped."""
    perm = (*range(x.ndim - 2), x.ndim - 1, x.ndim - 2)
    return transpose(x, perm)


# ---------------------------------------------------------------------------------------------
# gradient rules of gx.linalg (eig, eigh and svd are forward-only).  Like matmul's, they use
# plain transposes: for complex operands they give the transpose of the complex derivative.
# det's rule is det * inv(x)^T, so it fails (as inv does) on a singular matrix.

def _floating(x: Tensor) -> bool:
    return np.dtype(x.dtype).kind in "fc"


def _as_dtype_of(g: Tensor, x: Tensor) -> Tensor:
    """``g`` in ``x``'s dtype (a float32 operand of a float64 result gets a float32 gradient)."""
    return g if g.dtype == x.dtype else cast(g, x.dtype)


def _safe_divide(x: Tensor, out: Tensor) -> Tensor:
    """``x / out``, with 0 where ``out`` is 0 (the subgradient of a norm at 0)."""
    zero = out == 0
    return where(zero, 0.0, x / where(zero, 1.0, out))


def _two_norm_grad(x: Tensor, out: Tensor) -> Tensor:
    return _safe_divide(x, out)


def _share(mask: Tensor, axes: tuple[int, ...], dtype: np.dtype) -> Tensor:
    """``mask`` as 0/1 values divided by the number of ones along ``axes`` (ties share)."""
    ones = m.cast(mask, dtype)
    return ones / m.sum(ones, axis=axes, keepdims=True)


def _vector_norm_grad(x: Tensor, out: Tensor, ord: Any, axis: int) -> Tensor:  # noqa: A002

    if ord is None or ord == 2:
        return _two_norm_grad(x, out)
    dtype = np.dtype(out.dtype)
    if ord == 0:  # the count of nonzeros: piecewise constant
        return zeros_like(x, dtype)
    a = m.abs(x)
    if ord in (np.inf, -np.inf):
        pick = m.max if ord == np.inf else m.min
        return m.sign(x) * _share(a == pick(a, axis=axis, keepdims=True), (axis,), dtype)
    if ord == 1:
        return m.sign(x)
    p = float(ord)
    return m.sign(x) * _safe_divide(a ** (p - 1.0), out ** (p - 1.0))


def _matrix_norm_grad(x: Tensor, out: Tensor, ord: Any,  # noqa: A002
                      axes: tuple[int, ...]) -> Tensor:

    if ord in (None, "fro", "f"):
        return _two_norm_grad(x, out)
    row, col = axes
    dtype = np.dtype(out.dtype)
    if ord in (1, -1, np.inf, -np.inf):
        # 1: the largest column sum of |x| (summed over rows); inf: the largest row sum
        over, across = (row, col) if ord in (1, -1) else (col, row)
        pick = m.max if ord in (1, np.inf) else m.min
        sums = m.sum(m.abs(x), axis=over, keepdims=True)
        return m.sign(x) * _share(sums == pick(sums, axis=across, keepdims=True), (across,),
                                dtype)
    return _singular_norm_grad(x, ord, row, col)


def _singular_norm_grad(x: Tensor, ord: Any, row: int, col: int) -> Tensor:  # noqa: A002
    """ord 2, -2 or "nuc" over axes (row, col): the largest or smallest singular value, or
    their sum, whose gradients are u_i v_i^T and U V^T (from the SVD, not its gradient)."""
    rank = x.ndim
    perm = (*(i for i in range(rank) if i not in (row, col)), row, col)
    back = tuple(int(i) for i in np.argsort(perm))
    _, u, v = svd(transpose(x, perm))
    if ord == 2:
        u, v = u[..., :1], v[..., :1]
    elif ord == -2:
        u, v = u[..., -1:], v[..., -1:]
    return transpose(matmul(u, _swap(v)), back)
