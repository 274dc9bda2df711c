"""Fused epilogues: ``fused_dense`` is ``activation(matmul(x, w) + b)`` and ``fused_conv2d`` is
``activation(conv2d(x, f) + b)``, each one op.

Only the epilogue fusion pass (``graphexec.passes.epilogue``) creates them.  Each runs the very
kernels of the chain it replaces, in the same order and with the same operand order: the matmul
or conv2d kernel, then the ``add`` kernel writing the bias into that fresh result in place,
then the activation in place.  Results are bit-identical to the unfused nodes, without the
intermediate arrays.  The bias may be omitted, and ``activation`` may be ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np

from ..errors import DTypeError, GraphexecError, InvalidArgumentError, ShapeError, node_failed
from ..registry import OpDef, Spec, fmt_shape, refuse_vjp, register
from .linalg import matmul_p, unshared
from .math import add_p
from .nn import conv2d_p

__all__ = ["fusable_activation", "bias_keeps_shape", "NO_GRADIENT", "fused_dense_p",
           "fused_conv2d_p"]

#: why the ops the optimizer makes have no gradient
NO_GRADIENT = ("made by the graph optimizer and has no gradient rule: take gradients of the "
               "graph as built, then optimize")


def fusable_activation(op: Any) -> bool:
    """Whether the fused ops can apply ``op`` to their result as its activation: a pure
    one-input elementwise op (relu, tanh, sigmoid, ...).  One whose kernel takes ``out=`` writes
    into the result; another's result is copied into it.

    >>> import graphexec as gx
    >>> from graphexec.ops.fused_nn import fusable_activation
    >>> [fusable_activation(gx.REGISTRY[n]) for n in ("relu", "sigmoid", "softmax")]
    [True, True, False]
    """
    return isinstance(op, OpDef) and op.kind == "elementwise" and op.arity == 1 and op.pure


def _failed(origin: tuple[tuple[str, str], ...], stage: int, e: Exception, op: Any = None,
            args: Any = (), attrs: Any = None) -> Exception:
    """``e`` worded as the executor words a failure of node ``origin[stage]`` (the node the
    failing step was before fusion, an ``op`` on ``args``), so errors read the same at every
    optimization level."""
    if isinstance(e, GraphexecError) or not origin:
        return e
    err = node_failed(*origin[min(stage, len(origin) - 1)], e, op, args, attrs)
    err.__cause__ = e
    return err


def _epilogue(xp: Any, out: Any, b: tuple[Any, ...], activation: OpDef | None,
              bias_first: bool, origin: tuple[tuple[str, str], ...] = ()) -> Any:
    """``activation(out + b)`` computed into ``out``, a fresh writeable array; ``origin`` names
    the fused nodes (product, bias add, activation) for errors."""
    try:
        return _epilogue_steps(xp, out, b, activation, bias_first)
    except Exception as e:
        if not b:
            raise _failed(origin, 2, e) from e
        raise _failed(origin, 1, e, add_p, (b[0], out) if bias_first else (out, b[0])) from e


#: runs the epilogue as one generated CUDA kernel, where it can: ``(xp, out, b, activation,
#: bias_first) -> bool`` (set by ``graphexec.fusion.program``, which writes the kernels)
DEVICE_EPILOGUE: Callable[..., bool] | None = None


def _epilogue_steps(xp: Any, out: Any, b: tuple[Any, ...], activation: OpDef | None,
                    bias_first: bool) -> Any:
    if (xp is not np and DEVICE_EPILOGUE is not None and (b or activation is not None)
            and DEVICE_EPILOGUE(xp, out, b, activation, bias_first)):
        return out  # NOTE: cuBLAS's product, then one kernel for the bias and activation
    if out.ndim == 0:  # numpy gives 0-d results as scalars; a 1-element view works in place
        out = xp.asarray(out)
        work = out.reshape(1)
    else:
        work = out
    if b:
        if bias_first:
            add_p.kernel(xp, b[0], work, out=work)
        else:
            add_p.kernel(xp, work, b[0], out=work)
    if activation is not None:
        if activation.out_arg:
            activation.kernel(xp, work, out=work)
        else:
            xp.copyto(work, activation.kernel(xp, work))
    return out


def bias_keeps_shape(y: Sequence[int | None], b: Sequence[int | None]) -> bool:
    """Whether adding a bias of shape ``b`` to a result of shape ``y`` surely keeps ``y``'s
    shape, whatever the unknown dims (``None``) turn out to be: the bias must not have more
    dims, and each of its dims must be 1 or match a known dim of ``y`` other than 1.

    >>> from graphexec.ops.fused_nn import bias_keeps_shape
    >>> bias_keeps_shape((None, 3), (3,)), bias_keeps_shape((None, 3), (1, 3))
    (True, True)
    >>> bias_keeps_shape((None, 3), (2, 3)), bias_keeps_shape((2, 3), (2, 2, 3))
    (False, False)
    """
    return len(b) <= len(y) and all(d == 1 or (m not in (None, 1) and d in (None, m))
                                    for m, d in zip(y[len(y) - len(b):], b))


def _spec(s: Spec | tuple[Spec, ...]) -> Spec:
    return cast(Spec, s)  # the ops chained here have one output


def _epilogue_infer(y: Spec, b: tuple[Spec, ...], activation: OpDef | None,
                    bias_first: bool) -> Spec:
    """The spec of ``activation(y + b)``; an error where the kernel cannot compute it in place
    in ``y``: a bias or an activation changing the dtype, a bias surely enlarging the shape (a
    bias that turns out to enlarge it at run time is an error then)."""
    if len(b) > 1:
        raise InvalidArgumentError(f"takes at most one bias, got {len(b)}")
    out = Spec(tuple(y.shape), np.dtype(y.dtype))
    if b:
        add = add_p.infer
        s = _spec(add(b[0], out) if bias_first else add(out, b[0]))
        if len(s.shape) != len(out.shape) or any(
                m is not None and m != n for m, n in zip(out.shape, s.shape)):
            raise ShapeError(f"bias {fmt_shape(b[0].shape)} broadcasts the result "
                             f"{fmt_shape(out.shape)} to {fmt_shape(s.shape)}; the bias must "
                             "keep its shape")
        if s.dtype != out.dtype:
            raise DTypeError(f"a {b[0].dtype} bias makes the {out.dtype} result {s.dtype}; "
                             "the bias must keep its dtype")
        out = s
    if activation is not None:
        if not fusable_activation(activation):
            raise InvalidArgumentError(f"activation {activation!r} is not a pure one-input "
                                       "elementwise op (relu, sigmoid, tanh, ...)")
        s = _spec(activation.infer(out))
        if s.dtype != out.dtype:
            raise DTypeError(f"{activation} of a {out.dtype} result gives {s.dtype}; the "
                             "activation must keep its dtype")
    return out


# -- the ops -------------------------------------------------------------------------------------
def _dense_infer(x: Spec, w: Spec, *b: Spec, activation: OpDef | None = None,
                 bias_first: bool = False, origin: tuple[tuple[str, str], ...] = ()) -> Spec:
    return _epilogue_infer(_spec(matmul_p.infer(x, w)), b, activation, bias_first)


_MATMUL = matmul_p.kernel


@register("fused_dense", infer=_dense_infer, out_arg=True)
def fused_dense_p(xp, x, w, *b, activation=None, bias_first=False, origin=(), out=None):
    matmul = matmul_p.kernel
    try:
        # NOTE: np.matmul into a C-contiguous ``out`` runs the BLAS call it runs into its own
        # result, bit for bit; into another layout (a transposed buffer) it may round differently
        if out is not None and matmul is _MATMUL and xp is np and out.flags.c_contiguous:
            xp.matmul(x, unshared(xp, x, w), out=out)
        elif out is not None:
            xp.copyto(out, matmul(xp, x, w))
        else:
            out = matmul(xp, x, w)
    except Exception as e:
        raise _failed(origin, 0, e, matmul_p, (x, w)) from e
    return _epilogue(xp, out, b, activation, bias_first, origin)


def _conv_infer(x: Spec, f: Spec, *b: Spec, strides: tuple[int, int],
                dilations: tuple[int, int], activation: OpDef | None = None,
                bias_first: bool = False, origin: tuple[tuple[str, str], ...] = ()) -> Spec:
    y = _spec(conv2d_p.infer(x, f, strides=strides, dilations=dilations))
    return _epilogue_infer(y, b, activation, bias_first)


@register("fused_conv2d", infer=_conv_infer, fresh=True)
def fused_conv2d_p(xp, x, f, *b, strides, dilations, activation=None, bias_first=False,
                   origin=()):
    try:
        out = conv2d_p.kernel(xp, x, f, strides=strides, dilations=dilations)
    except Exception as e:
        raise _failed(origin, 0, e, conv2d_p, (x, f),
                      {"strides": strides, "dilations": dilations}) from e
    return _epilogue(xp, out, b, activation, bias_first, origin)


refuse_vjp(fused_dense_p, NO_GRADIENT)
refuse_vjp(fused_conv2d_p, NO_GRADIENT)
# the fused op that takes each product's bias add and activation (the epilogue fusion pass)
matmul_p.epilogue = fused_dense_p
conv2d_p.epilogue = fused_conv2d_p
