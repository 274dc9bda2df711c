"""Elementwise math, comparisons and reductions."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..checks import check_axes, check_axis
from ..errors import DTypeError, InvalidArgumentError, ShapeError, op_error
from ..fusable import OVERFLOW_UNDEFINED, Fusion, call, infix, np_name, ufunc_loop
from ..registry import (
    OpDef,
    Shape,
    Spec,
    defvjp,
    elementwise_infer,
    fmt_shape,
    register,
    shapes_match,
    ufunc_dtype,
)
from ..tensor import Tensor, apply, as_tensor, weak
from .array import cast, expand_dims, where
from .creation import ones_like
from .grad import broadcast_like, unbroadcast

__all__ = [
    "add", "subtract", "multiply", "divide", "floor_divide", "mod", "pow", "maximum", "minimum",
    "negative", "abs", "sign", "sqrt", "rsqrt", "log", "exp", "square", "round", "floor",
    "ceil", "cos", "sin", "arcsin", "arccos", "arctan",
    "tanh", "tan", "reciprocal", "log1p", "expm1", "clip", "add_n",
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
    "logical_not", "logical_and", "logical_or",
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not",
    "sum", "mean", "max", "min", "prod", "any", "all", "argmax", "argmin", "logsumexp",
]


def _ufunc(name: str) -> Callable[..., Any]:
    """Kernel calling ufunc ``name`` of whichever array module ``xp`` is (into ``out`` when
    the memory planner gives one)."""
    def kernel(xp, *xs, out=None):
        if out is None:
            return getattr(xp, name)(*xs)
        return getattr(xp, name)(*xs, out=out)

    kernel.__name__ = name
    return kernel


def _ufunc_op(name: str, ufunc: str, arity: int, kinds: str | None = None,
              emit: Any = None, transcendental: bool = False, overflows: bool = False) -> OpDef:
    """Register op ``name``, computed by numpy ufunc ``ufunc``; with ``emit`` it may join a
    fused loop for operands of the dtype kinds ``kinds`` (see ``graphexec.fusable``), but not
    in int64 where its result can overflow (``overflows``)."""
    fusion = None if emit is None else Fusion(ufunc_loop(ufunc, kinds or "", overflows), emit,
                                              transcendental)
    return register(name, infer=elementwise_infer(getattr(np, ufunc)), kind="elementwise",
                    arity=arity, kernel_checks=True, out_arg=True, ufunc=ufunc,
                    fusion=fusion)(_ufunc(ufunc))


def _extremum(cmp: str, bool_symbol: str) -> Any:
    """``emit`` of maximum and minimum: NaN wins; on a tie of 0.0 and -0.0 the second operand,
    as numpy's loop gives."""
    def emit(j: int, dt: np.dtype, a: list[str], attrs: dict[str, Any]) -> tuple[list[str], str]:
        if dt.kind == "b":
            return [], f"({a[0]} {bool_symbol} {a[1]})"
        nan = f" or {a[0]} != {a[0]}" if dt.kind == "f" else ""
        return [], f"({a[0]} if ({a[0]} {cmp} {a[1]}{nan}) else {a[1]})"

    return emit


def _logical(symbol: str) -> Any:
    def emit(j: int, dt: np.dtype, a: list[str], attrs: dict[str, Any]) -> tuple[list[str], str]:
        truth = [x if dt.kind == "b" else f"({x} != 0)" for x in a]
        return [], f"({truth[0]} {symbol} {truth[1]})"

    return emit


def _emit_not(j: int, dt: np.dtype, a: list[str], attrs: dict[str, Any]) -> tuple[list[str], str]:
    return [], f"(not {a[0]})" if dt.kind == "b" else f"({a[0]} == 0)"


def _emit_abs(j: int, dt: np.dtype, a: list[str], attrs: dict[str, Any]) -> tuple[list[str], str]:
    return [], a[0] if dt.kind in "bu" else f"abs({a[0]})"


def _emit_square(j: int, dt: np.dtype, a: list[str], attrs: dict[str, Any]
                 ) -> tuple[list[str], str]:
    return [], a[0] if dt.kind == "b" else f"({a[0]} * {a[0]})"


def _emit_sign(j: int, dt: np.dtype, a: list[str], attrs: dict[str, Any]) -> tuple[list[str], str]:
    T = np_name(dt)
    if dt.kind == "u":
        return [], f"({T}(1) if {a[0]} > 0 else {T}(0))"
    last = f"({T}(0) if {a[0]} == 0 else {a[0]})" if dt.kind == "f" else f"{T}(0)"
    return [], f"({T}(1) if {a[0]} > 0 else ({T}(-1) if {a[0]} < 0 else {last}))"


def _emit_reciprocal(j: int, dt: np.dtype, a: list[str], attrs: dict[str, Any]
                     ) -> tuple[list[str], str]:
    return [], f"({np_name(dt)}(1) / {a[0]})"


def _emit_tanh(j: int, dt: np.dtype, a: list[str], attrs: dict[str, Any]
               ) -> tuple[list[str], str]:
    if dt != np.float32:
        return [], f"np.tanh({a[0]})"
    # NOTE: in float64 (libm's float32 tanh is the less accurate one), through exp, about 3x
    # faster than libm's tanh: (1 - e) / (1 + e) with e = exp(-2|x|) is accurate to a few
    # float64 ulp for |x| > 0.25, where it cannot cancel; beyond 9.1 the float32 result is 1;
    # NaN and -0.0 come out as they go in
    x, ax, r, e = a[0], f"ax{j}", f"r{j}", f"e{j}"
    return [f"{ax} = abs(np.float64({x}))",
            f"if {ax} > 9.1:",
            f"    {r} = 1.0",
            f"elif {ax} > 0.25:",
            f"    {e} = math.exp(-2.0 * {ax})",
            f"    {r} = (1.0 - {e}) / (1.0 + {e})",
            "else:",
            f"    {r} = math.tanh({ax})"], f"math.copysign({r}, np.float64({x}))"


def _np_rsqrt(x):
    return 1 / np.sqrt(x)


def _rsqrt_loop(dtypes: tuple[np.dtype, ...], out: np.dtype, attrs: Any
                ) -> tuple[np.dtype, ...] | None:
    s = np.sqrt.resolve_dtypes((dtypes[0], None))
    return (s[0],) if not attrs and s[1] == out and out.kind == "f" else None


def _emit_rsqrt(j: int, dt: np.dtype, a: list[str], attrs: dict[str, Any]
                ) -> tuple[list[str], str]:
    T = np_name(dt)  # 1 / sqrt(x), in sqrt's dtype
    return [], f"({T}(1) / {T}(np.sqrt({a[0]})))"


@register("rsqrt", infer=elementwise_infer(_np_rsqrt), kind="elementwise", arity=1,
          fusion=Fusion(_rsqrt_loop, _emit_rsqrt))
def rsqrt_p(xp, x):
    return 1 / xp.sqrt(x)


def _binary(op: OpDef, x: Any, y: Any) -> Tensor:
    if not isinstance(x, Tensor):
        if not isinstance(y, Tensor):
            y = as_tensor(y)
        x = weak(x, y)
    elif not isinstance(y, Tensor):
        y = weak(y, x)
    return apply(op, x, y)


add_p = _ufunc_op("add", "add", 2, "biuf", infix("+", "|"), overflows=True)


def add(x: Any, y: Any) -> Tensor:
    """``x + y`` elementwise, broadcasting as numpy.

    >>> import graphexec as gx
    >>> gx.add(gx.constant([1.0, 2.0]), 1.0).numpy()
    array([2., 3.], dtype=float32)
    """
    return _binary(add_p, x, y)


defvjp(add_p, lambda g, out, x, y: (unbroadcast(g, x), unbroadcast(g, y)))


subtract_p = _ufunc_op("subtract", "subtract", 2, "iuf", infix("-"), overflows=True)


def subtract(x: Any, y: Any) -> Tensor:
    """``x - y`` elementwise, broadcasting as numpy.

    >>> import graphexec as gx
    >>> gx.subtract(gx.constant([3.0, 5.0]), 1.0).numpy()
    array([2., 4.], dtype=float32)
    """
    return _binary(subtract_p, x, y)


defvjp(subtract_p, lambda g, out, x, y: (unbroadcast(g, x), unbroadcast(-g, y)))


multiply_p = _ufunc_op("multiply", "multiply", 2, "biuf", infix("*", "&"), overflows=True)


def multiply(x: Any, y: Any) -> Tensor:
    """``x * y`` elementwise, broadcasting as numpy.

    >>> import graphexec as gx
    >>> gx.multiply(gx.constant([[1.0], [2.0]]), [3.0, 4.0]).numpy()
    array([[3., 4.],
           [6., 8.]], dtype=float32)
    """
    return _binary(multiply_p, x, y)


defvjp(multiply_p, lambda g, out, x, y: (unbroadcast(g * y, x), unbroadcast(g * x, y)))


divide_p = _ufunc_op("divide", "true_divide", 2, "f", infix("/"))


def divide(x: Any, y: Any) -> Tensor:
    """``x / y`` (true division; integers give float64 as in numpy).

    >>> import graphexec as gx
    >>> gx.divide(gx.constant([1, 3]), 2).numpy()
    array([0.5, 1.5])
    """
    # NOTE: numpy divides integers in float64, so a Python int beyond their range is fine
    if _out_of_range(y, x) is not None:
        y = np.float64(y)
    elif _out_of_range(x, y) is not None:
        x = np.float64(x)
    return _binary(divide_p, x, y)


defvjp(divide_p, lambda g, out, x, y: (unbroadcast(g / y, x),
                                       unbroadcast(-g * out / y, y)))


floor_divide_p = _ufunc_op("floor_divide", "floor_divide", 2)


def floor_divide(x: Any, y: Any) -> Tensor:
    """``x // y`` elementwise.

    >>> import graphexec as gx
    >>> gx.floor_divide(gx.constant([7, -7]), 2).numpy()
    array([ 3, -4])
    """
    return _binary(floor_divide_p, x, y)


mod_p = _ufunc_op("mod", "mod", 2)


def mod(x: Any, y: Any) -> Tensor:
    """``x % y`` elementwise (sign of the divisor, as numpy and Python).

    >>> import graphexec as gx
    >>> gx.mod(gx.constant([7, -7]), 3).numpy()
    array([1, 2])
    """
    return _binary(mod_p, x, y)


#: exponents whose float power is computed exactly, by another ufunc, as numpy's power loop
#: does when the exponent is one number (``x ** 0.5`` is ``sqrt(x)``: NaN at -inf, -0.0 at -0.0)
_EXACT_POWERS = ((0.5, "sqrt"), (2.0, "square"), (-1.0, "reciprocal"))


def _power(xp, x, y, out=None):
    # NOTE: numpy takes that shortcut only where the exponent's stride is 0, which depends on
    # shapes, memory layout and aliasing (a one-element x ** [0.5] gets pow, and one written in
    # place sqrt); here it holds element by element, so every layout, fused loop and device
    # gives the same result
    if x.dtype.kind != "f" and y.dtype.kind != "f":
        return xp.power(x, y) if out is None else xp.power(x, y, out=out)
    if xp is np and y.size == 1 and y.ndim <= x.ndim:
        v = y.reshape(-1)[0]
        for exact, name in _EXACT_POWERS:
            if v == exact:
                dtype = np.result_type(x, y)
                return getattr(np, name)(x, dtype=dtype, **({} if out is None else {"out": out}))
        return np.power(x, y) if out is None else np.power(x, y, out=out)
    r = xp.power(x, y)
    for exact, name in _EXACT_POWERS:
        hit = y == exact
        if xp is not np or hit.any():
            r = xp.where(hit, getattr(xp, name)(xp.asarray(x, r.dtype)), r)
    if out is None:
        return r
    xp.copyto(out, r)
    return out


def _pow_emit(j: int, dt: np.dtype, a: list[str], attrs: dict[str, Any]) -> tuple[list[str], str]:
    x, y = a
    return [], (f"(math.sqrt({x}) if {y} == 0.5 else {x} * {x} if {y} == 2.0 "
                f"else 1.0 / {x} if {y} == -1.0 else {x} ** {y})")


pow_p = register("pow", infer=elementwise_infer(np.power), kind="elementwise", arity=2,
                 kernel_checks=True, out_arg=True, ufunc="power",
                 fusion=Fusion(ufunc_loop("power", "f"), _pow_emit, transcendental=True)
                 )(_power)


def pow(x: Any, y: Any) -> Tensor:  # noqa: A001 - the TF name
    """``x ** y`` elementwise.

    Where ``y`` is 0.5, 2 or -1 the result is ``sqrt(x)``, ``x * x`` or ``1 / x`` (exact, and
    ``(-inf) ** 0.5`` is NaN), as numpy's ``x ** 0.5`` gives, for every shape of ``y``, memory
    layout, optimization level and device; elsewhere it is numpy's ``power``.

    Gradients, as TF: ``y * x ** (y - 1)`` for ``x`` (0 where ``x == y == 0``, where ``x ** 0``
    is constant) and ``x ** y * log(x)`` for ``y``, taken as 0 where ``x <= 0``.

    >>> import graphexec as gx
    >>> gx.pow(gx.constant([2.0, 3.0]), 2).numpy()
    array([4., 9.], dtype=float32)
    """
    return _binary(pow_p, x, y)


def _pow_vjp(g: Tensor, out: Tensor, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    # d/dx = y * x**(y - 1); at x == y == 0 that is 0 * inf, but x**0 is constant: 0
    both_zero = logical_and(equal(x, 0), equal(y, 0))
    dx = g * y * pow(x, where(both_zero, 1, y) - 1)
    # d/dy = out * log(x); where x <= 0 (log undefined) 0, as TF
    positive = x > 0
    log_x = where(positive, log(where(positive, x, 1)), 0)
    dy = g * out * log_x
    return (_as_dtype_of(unbroadcast(dx, x), x), _as_dtype_of(unbroadcast(dy, y), y))


defvjp(pow_p, _pow_vjp)


negative_p = _ufunc_op("negative", "negative", 1, "iuf", lambda j, dt, a, at: ([], f"(-{a[0]})"),
                       overflows=True)


def negative(x: Any) -> Tensor:
    """``-x`` elementwise.

    >>> import graphexec as gx
    >>> gx.negative(gx.constant([1.0, -2.0])).numpy()
    array([-1.,  2.], dtype=float32)
    """
    return apply(negative_p, as_tensor(x))


defvjp(negative_p, lambda g, out, x: (-g,))


abs_p = _ufunc_op("abs", "absolute", 1, "biuf", _emit_abs, overflows=True)


def abs(x: Any) -> Tensor:  # noqa: A001 - the TF name
    """``|x|`` elementwise.

    >>> import graphexec as gx
    >>> gx.abs(gx.constant([-1.5, 2.0])).numpy()
    array([1.5, 2. ], dtype=float32)
    """
    return apply(abs_p, as_tensor(x))


defvjp(abs_p, lambda g, out, x: (g * sign(x),))  # 0 at x == 0, as TF


maximum_p = _ufunc_op("maximum", "maximum", 2, "biuf", _extremum(">", "|"))


def maximum(x: Any, y: Any) -> Tensor:
    """The larger of ``x`` and ``y`` elementwise (NaN wins, as ``np.maximum``).

    The gradient goes to the operand selected; on a tie all of it goes to ``x``, as in TF.

    >>> import graphexec as gx
    >>> gx.maximum(gx.constant([1.0, 5.0]), 3.0).numpy()
    array([3., 5.], dtype=float32)
    >>> x, y = gx.constant([1.0, 2.0, 3.0]), gx.constant(2.0)
    >>> with gx.GradientTape() as tape:
    ...     tape.watch([x, y])
    ...     z = gx.sum(gx.maximum(x, y))
    >>> [g.numpy() for g in tape.gradient(z, [x, y])]
    [array([0., 1., 1.], dtype=float32), array(1., dtype=float32)]
    """
    return _binary(maximum_p, x, y)


def _select_vjp(x_wins: Callable[[Tensor, Tensor], Tensor]) -> Callable[..., Any]:
    # the gradient goes to the selected operand; on ties all of it to x, as TF
    def vjp(g: Tensor, out: Tensor, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        to_x = x_wins(x, y)
        return (_as_dtype_of(unbroadcast(where(to_x, g, 0), x), x),
                _as_dtype_of(unbroadcast(where(to_x, 0, g), y), y))

    return vjp


defvjp(maximum_p, _select_vjp(lambda x, y: x >= y))


minimum_p = _ufunc_op("minimum", "minimum", 2, "biuf", _extremum("<", "&"))


def minimum(x: Any, y: Any) -> Tensor:
    """The smaller of ``x`` and ``y`` elementwise (NaN wins, as ``np.minimum``).

    The gradient goes to the operand selected; on a tie all of it goes to ``x``, as in TF.

    >>> import graphexec as gx
    >>> gx.minimum(gx.constant([1.0, 5.0]), 3.0).numpy()
    array([1., 3.], dtype=float32)
    """
    return _binary(minimum_p, x, y)


defvjp(minimum_p, _select_vjp(lambda x, y: x <= y))


def _unary(op: OpDef, x: Any) -> Tensor:
    return apply(op, as_tensor(x))


sign_p = _ufunc_op("sign", "sign", 1, "iuf", _emit_sign)


def sign(x: Any) -> Tensor:
    """-1, 0 or 1 by the sign of ``x`` (NaN stays NaN); not defined for bool.

    >>> import graphexec as gx
    >>> gx.sign(gx.constant([-2.0, 0.0, 3.0])).numpy()
    array([-1.,  0.,  1.], dtype=float32)
    """
    return _unary(sign_p, x)


sqrt_p = _ufunc_op("sqrt", "sqrt", 1, "f", call("sqrt"))


def sqrt(x: Any) -> Tensor:
    """Square root elementwise (integers give floats as in numpy).

    >>> import graphexec as gx
    >>> gx.sqrt(gx.constant([4.0, 9.0])).numpy()
    array([2., 3.], dtype=float32)
    """
    return _unary(sqrt_p, x)


defvjp(sqrt_p, lambda g, out, x: (g * 0.5 / out,))


def rsqrt(x: Any) -> Tensor:
    """``1 / sqrt(x)`` elementwise.

    >>> import graphexec as gx
    >>> gx.rsqrt(gx.constant([4.0, 0.25])).numpy()
    array([0.5, 2. ], dtype=float32)
    """
    return _unary(rsqrt_p, x)


defvjp(rsqrt_p, lambda g, out, x: (g * -0.5 * out * square(out),))


log_p = _ufunc_op("log", "log", 1, "f", call("log"), transcendental=True)


def log(x: Any) -> Tensor:
    """Natural logarithm elementwise.

    >>> import graphexec as gx
    >>> gx.log(gx.constant([1.0])).numpy()
    array([0.], dtype=float32)
    """
    return _unary(log_p, x)


defvjp(log_p, lambda g, out, x: (g / x,))


exp_p = _ufunc_op("exp", "exp", 1, "f", call("exp"), transcendental=True)


def exp(x: Any) -> Tensor:
    """``e ** x`` elementwise.

    >>> import graphexec as gx
    >>> gx.exp(gx.constant([0.0, 1.0])).numpy()
    array([1.      , 2.718282], dtype=float32)
    """
    return _unary(exp_p, x)


defvjp(exp_p, lambda g, out, x: (g * out,))


square_p = _ufunc_op("square", "square", 1, "biuf", _emit_square, overflows=True)


def square(x: Any) -> Tensor:
    """``x * x`` elementwise.

    >>> import graphexec as gx
    >>> gx.square(gx.constant([-3, 2])).numpy()
    array([9, 4])
    """
    return _unary(square_p, x)


defvjp(square_p, lambda g, out, x: (g * 2 * x,))


round_p = _ufunc_op("round", "round", 1)


def round(x: Any) -> Tensor:  # noqa: A001 - the TF name
    """Round to the nearest integer, halves to even (as ``np.round`` and ``tf.math.round``);
    the dtype is kept.

    >>> import graphexec as gx
    >>> gx.round(gx.constant([0.5, 1.5, 2.5, -0.5])).numpy()
    array([ 0.,  2.,  2., -0.], dtype=float32)
    """
    return _unary(round_p, x)


floor_p = _ufunc_op("floor", "floor", 1)
ceil_p = _ufunc_op("ceil", "ceil", 1)


def _integral_as_is(kernel: Callable[..., Any]) -> Callable[..., Any]:
    """``kernel`` that leaves integers and bools as they are (their floor and ceil; numpy 2
    keeps their dtype, where CuPy would give float64)."""
    def run(xp, x, out=None):
        if x.dtype.kind in "biu":
            if out is None:
                return xp.array(x, copy=True)
            xp.copyto(out, x)
            return out
        return kernel(xp, x, out=out)

    run.__name__ = kernel.__name__
    return run


floor_p.kernel = _integral_as_is(floor_p.kernel)
ceil_p.kernel = _integral_as_is(ceil_p.kernel)


def floor(x: Any) -> Tensor:
    """The largest integer not above each element, in its dtype (``np.floor``); it passes no
    gradient (piecewise constant, as ``round``).

    >>> import graphexec as gx
    >>> gx.floor(gx.constant([1.5, -1.5, 2.0])).numpy()
    array([ 1., -2.,  2.], dtype=float32)
    """
    return _unary(floor_p, x)


def ceil(x: Any) -> Tensor:
    """The smallest integer not below each element, in its dtype (``np.ceil``); it passes no
    gradient.

    >>> import graphexec as gx
    >>> gx.ceil(gx.constant([1.5, -1.5, 2.0])).numpy()
    array([ 2., -1.,  2.], dtype=float32)
    """
    return _unary(ceil_p, x)


cos_p = _ufunc_op("cos", "cos", 1, "f", call("cos"), transcendental=True)


def cos(x: Any) -> Tensor:
    """Cosine elementwise (radians).

    >>> import graphexec as gx
    >>> gx.cos(gx.constant([0.0])).numpy()
    array([1.], dtype=float32)
    """
    return _unary(cos_p, x)


defvjp(cos_p, lambda g, out, x: (-g * sin(x),))


sin_p = _ufunc_op("sin", "sin", 1, "f", call("sin"), transcendental=True)


def sin(x: Any) -> Tensor:
    """Sine elementwise (radians).

    >>> import graphexec as gx
    >>> gx.sin(gx.constant([0.0])).numpy()
    array([0.], dtype=float32)
    """
    return _unary(sin_p, x)


defvjp(sin_p, lambda g, out, x: (g * cos(x),))


tan_p = _ufunc_op("tan", "tan", 1, "f", call("tan"), transcendental=True)


def tan(x: Any) -> Tensor:
    """Tangent elementwise (radians).

    >>> import graphexec as gx
    >>> gx.tan(gx.constant([0.0])).numpy()
    array([0.], dtype=float32)
    """
    return _unary(tan_p, x)


defvjp(tan_p, lambda g, out, x: (g * (1 + square(out)),))


arcsin_p = _ufunc_op("arcsin", "arcsin", 1, "f", call("arcsin"), transcendental=True)


def arcsin(x: Any) -> Tensor:
    """Inverse sine elementwise, in radians in [-pi/2, pi/2] (NaN outside [-1, 1]).

    >>> import graphexec as gx
    >>> gx.arcsin(gx.constant([0.0, 1.0])).numpy()
    array([0.       , 1.5707964], dtype=float32)
    """
    return _unary(arcsin_p, x)


defvjp(arcsin_p, lambda g, out, x: (g * rsqrt(1 - square(x)),))


arccos_p = _ufunc_op("arccos", "arccos", 1, "f", call("arccos"), transcendental=True)


def arccos(x: Any) -> Tensor:
    """Inverse cosine elementwise, in radians in [0, pi] (NaN outside [-1, 1]).

    >>> import graphexec as gx
    >>> gx.arccos(gx.constant([1.0, 0.0])).numpy()
    array([0.       , 1.5707964], dtype=float32)
    """
    return _unary(arccos_p, x)


defvjp(arccos_p, lambda g, out, x: (-g * rsqrt(1 - square(x)),))


arctan_p = _ufunc_op("arctan", "arctan", 1, "f", call("arctan"), transcendental=True)


def arctan(x: Any) -> Tensor:
    """Inverse tangent elementwise, in radians in (-pi/2, pi/2).

    >>> import graphexec as gx
    >>> gx.arctan(gx.constant([0.0, 1.0])).numpy()
    array([0.       , 0.7853982], dtype=float32)
    """
    return _unary(arctan_p, x)


defvjp(arctan_p, lambda g, out, x: (g / (1 + square(x)),))


tanh_p = _ufunc_op("tanh", "tanh", 1, "f", _emit_tanh, transcendental=True)


def tanh(x: Any) -> Tensor:
    """Hyperbolic tangent elementwise.

    >>> import graphexec as gx
    >>> gx.tanh(gx.constant([0.0])).numpy()
    array([0.], dtype=float32)
    """
    return _unary(tanh_p, x)


defvjp(tanh_p, lambda g, out, x: (g * (1 - square(out)),))


reciprocal_p = _ufunc_op("reciprocal", "reciprocal", 1, "f", _emit_reciprocal)


def reciprocal(x: Any) -> Tensor:
    """``1 / x`` elementwise (integer division for integers, as ``np.reciprocal``).

    >>> import graphexec as gx
    >>> gx.reciprocal(gx.constant([2.0, 4.0])).numpy()
    array([0.5 , 0.25], dtype=float32)
    """
    return _unary(reciprocal_p, x)


defvjp(reciprocal_p, lambda g, out, x: (-g * square(out),))


log1p_p = _ufunc_op("log1p", "log1p", 1, "f", call("log1p"), transcendental=True)


def log1p(x: Any) -> Tensor:
    """``log(1 + x)``, accurate for small ``x``.

    >>> import graphexec as gx
    >>> gx.log1p(gx.constant([1e-20])).numpy()
    array([1.e-20], dtype=float32)
    """
    return _unary(log1p_p, x)


defvjp(log1p_p, lambda g, out, x: (g / (1 + x),))


expm1_p = _ufunc_op("expm1", "expm1", 1, "f", call("expm1"), transcendental=True)


def expm1(x: Any) -> Tensor:
    """``exp(x) - 1``, accurate for small ``x``.

    >>> import graphexec as gx
    >>> gx.expm1(gx.constant([1e-20])).numpy()
    array([1.e-20], dtype=float32)
    """
    return _unary(expm1_p, x)


defvjp(expm1_p, lambda g, out, x: (g * (out + 1),))


#: ``t OP v`` for a Python int ``v`` above the range of the integer ``t``; below the range it is
#: the mirrored op's entry (``t < v`` is then ``v > t`` with ``v`` above: False)
_ABOVE_RANGE = {"equal": False, "not_equal": True, "less": True, "less_equal": True,
                "greater": False, "greater_equal": False}
_MIRROR = {"less": "greater", "greater": "less", "less_equal": "greater_equal",
           "greater_equal": "less_equal", "equal": "equal", "not_equal": "not_equal"}


_INT_RANGES: dict[np.dtype, tuple[int, ...]] = {}


def _out_of_range(value: Any, other: Any) -> tuple[int, ...] | None:
    """The ``(min, max)`` of the integer dtype a Python int ``value`` is beyond next to tensor
    ``other``, or None."""
    if type(value) is not int or 0 <= value <= 127 or not isinstance(other, Tensor):
        return None  # (0..127 fits every integer dtype)
    bounds = _INT_RANGES.get(other.dtype)
    if bounds is None:
        dtype = np.result_type(other.dtype, 0)
        info = np.iinfo(dtype) if dtype.kind in "iu" else None
        bounds = _INT_RANGES[other.dtype] = () if info is None else (int(info.min),
                                                                     int(info.max))
    return None if not bounds or bounds[0] <= value <= bounds[1] else bounds


def _compare(op: OpDef, x: Any, y: Any) -> Tensor:
    """A comparison; one with a Python int beyond the other operand's integer range has the
    same answer for every element, as numpy 2 gives it (``int8_x < 300`` is all True)."""
    name, t, v = op.name, x, y
    if not isinstance(x, Tensor):
        name, t, v = _MIRROR[name], y, x
    bounds = _out_of_range(v, t)
    if bounds is None:
        return _binary(op, x, y)
    top = bounds[1]
    truth = _ABOVE_RANGE[name] if v > top else _ABOVE_RANGE[_MIRROR[name]]
    # NOTE: every element of t is <= the range's top and none above it
    return less_equal(t, top) if truth else greater(t, top)


equal_p = _ufunc_op("equal", "equal", 2, "biuf", infix("=="))


def equal(x: Any, y: Any) -> Tensor:
    """``x == y`` elementwise, a bool tensor.

    >>> import graphexec as gx
    >>> gx.equal(gx.constant([1, 2]), 2).numpy()
    array([False,  True])
    """
    return _compare(equal_p, x, y)


not_equal_p = _ufunc_op("not_equal", "not_equal", 2, "biuf", infix("!="))


def not_equal(x: Any, y: Any) -> Tensor:
    """``x != y`` elementwise, a bool tensor.

    >>> import graphexec as gx
    >>> gx.not_equal(gx.constant([1, 2]), 2).numpy()
    array([ True, False])
    """
    return _compare(not_equal_p, x, y)


less_p = _ufunc_op("less", "less", 2, "biuf", infix("<"))


def less(x: Any, y: Any) -> Tensor:
    """``x < y`` elementwise, a bool tensor.

    >>> import graphexec as gx
    >>> gx.less(gx.constant([1, 2, 3]), 2).numpy()
    array([ True, False, False])
    """
    return _compare(less_p, x, y)


less_equal_p = _ufunc_op("less_equal", "less_equal", 2, "biuf", infix("<="))


def less_equal(x: Any, y: Any) -> Tensor:
    """``x <= y`` elementwise, a bool tensor.

    >>> import graphexec as gx
    >>> gx.less_equal(gx.constant([1, 2, 3]), 2).numpy()
    array([ True,  True, False])
    """
    return _compare(less_equal_p, x, y)


greater_p = _ufunc_op("greater", "greater", 2, "biuf", infix(">"))


def greater(x: Any, y: Any) -> Tensor:
    """``x > y`` elementwise, a bool tensor.

    >>> import graphexec as gx
    >>> gx.greater(gx.constant([1, 2, 3]), 2).numpy()
    array([False, False,  True])
    """
    return _compare(greater_p, x, y)


greater_equal_p = _ufunc_op("greater_equal", "greater_equal", 2, "biuf", infix(">="))


def greater_equal(x: Any, y: Any) -> Tensor:
    """``x >= y`` elementwise, a bool tensor.

    >>> import graphexec as gx
    >>> gx.greater_equal(gx.constant([1, 2, 3]), 2).numpy()
    array([False,  True,  True])
    """
    return _compare(greater_equal_p, x, y)


logical_not_p = _ufunc_op("logical_not", "logical_not", 1, "biuf", _emit_not)


def logical_not(x: Any) -> Tensor:
    """``not x`` elementwise, a bool tensor (any dtype is read as its truth value).

    >>> import graphexec as gx
    >>> gx.logical_not(gx.constant([True, False])).numpy()
    array([False,  True])
    """
    return _unary(logical_not_p, x)


logical_and_p = _ufunc_op("logical_and", "logical_and", 2, "biuf", _logical("&"))


def logical_and(x: Any, y: Any) -> Tensor:
    """``x and y`` elementwise, a bool tensor, broadcasting as numpy.

    >>> import graphexec as gx
    >>> gx.logical_and(gx.constant([True, True]), [True, False]).numpy()
    array([ True, False])
    """
    return _binary(logical_and_p, x, y)


logical_or_p = _ufunc_op("logical_or", "logical_or", 2, "biuf", _logical("|"))


def logical_or(x: Any, y: Any) -> Tensor:
    """``x or y`` elementwise, a bool tensor, broadcasting as numpy.

    >>> import graphexec as gx
    >>> gx.logical_or(gx.constant([True, False]), False).numpy()
    array([ True, False])
    """
    return _binary(logical_or_p, x, y)


# -- bitwise ops: integers and bools (for bools the logical ops), no gradient ----------------

def _emit_invert(j: int, dt: np.dtype, a: list[str], attrs: dict[str, Any]
                 ) -> tuple[list[str], str]:
    return [], f"(not {a[0]})" if dt.kind == "b" else f"(~{a[0]})"


bitwise_and_p = _ufunc_op("bitwise_and", "bitwise_and", 2, "biu", infix("&"))


def bitwise_and(x: Any, y: Any) -> Tensor:
    """``x & y`` bit by bit, for integer and bool tensors, broadcasting as numpy.

    >>> import graphexec as gx
    >>> gx.bitwise_and(gx.constant([12, 10], "int32"), 6).numpy()
    array([4, 2], dtype=int32)
    """
    return _binary(bitwise_and_p, x, y)


bitwise_or_p = _ufunc_op("bitwise_or", "bitwise_or", 2, "biu", infix("|"))


def bitwise_or(x: Any, y: Any) -> Tensor:
    """``x | y`` bit by bit, for integer and bool tensors, broadcasting as numpy.

    >>> import graphexec as gx
    >>> gx.bitwise_or(gx.constant([12, 10], "int32"), 6).numpy()
    array([14, 14], dtype=int32)
    """
    return _binary(bitwise_or_p, x, y)


bitwise_xor_p = _ufunc_op("bitwise_xor", "bitwise_xor", 2, "biu", infix("^"))


def bitwise_xor(x: Any, y: Any) -> Tensor:
    """``x ^ y`` bit by bit, for integer and bool tensors, broadcasting as numpy.

    >>> import graphexec as gx
    >>> gx.bitwise_xor(gx.constant([12, 10], "int32"), 6).numpy()
    array([10, 12], dtype=int32)
    """
    return _binary(bitwise_xor_p, x, y)


bitwise_not_p = _ufunc_op("bitwise_not", "invert", 1, "biu", _emit_invert)


def bitwise_not(x: Any) -> Tensor:
    """``~x`` bit by bit, for integer and bool tensors (``-x - 1`` for signed integers).

    >>> import graphexec as gx
    >>> gx.bitwise_not(gx.constant([0, 5], "uint8")).numpy()
    array([255, 250], dtype=uint8)
    """
    return _unary(bitwise_not_p, x)


# -- clip and add_n ---------------------------------------------------------------------------

def _broadcasts_to(shape: Shape, target: Shape) -> bool:
    if len(shape) > len(target):
        return False
    tail = target[len(target) - len(shape):]
    return builtins.all(d in (1, None) or t is None or d == t for d, t in zip(shape, tail))


def clip(x: Any, clip_value_min: Any, clip_value_max: Any) -> Tensor:
    """``x`` with values below ``clip_value_min`` set to it and values above
    ``clip_value_max`` set to that (TF's ``clip_by_value``).

    The bounds are scalars or tensors that broadcast to the shape of ``x``; the result has the
    shape of ``x`` and numpy's dtype for ``np.clip``.  A minimum above the maximum is an
    error when both bounds are given as data (Python or numpy values); tensor bounds are not
    checked, in either mode, so eager and graph programs behave alike.  A bound may be
    ``None`` (no bound on that side), as in ``np.clip``; with both ``None`` the result is ``x``.

    >>> import graphexec as gx
    >>> gx.clip(gx.constant([-2.0, 0.5, 3.0]), 0.0, 1.0).numpy()
    array([0. , 0.5, 1. ], dtype=float32)
    >>> gx.clip(gx.constant([-2.0, 0.5, 3.0]), None, 1.0).numpy()
    array([-2. ,  0.5,  1. ], dtype=float32)
    """
    x = as_tensor(x)
    bounds = [(n, b) for n, b in (("clip_value_min", clip_value_min),
                                  ("clip_value_max", clip_value_max)) if b is not None]
    for name, b in bounds:
        shape = b.shape if isinstance(b, Tensor) else np.shape(b)
        if not _broadcasts_to(shape, x.shape):
            raise op_error(ShapeError, "clip", f"{name} of shape {fmt_shape(shape)} does not "
                           f"broadcast to the shape {fmt_shape(x.shape)} of x")
    # NOTE: only bounds given as data are checked: a tensor bound is a value at run time in
    # graph mode, so checking it eagerly would make the two modes disagree
    if len(bounds) == 2 and not builtins.any(isinstance(b, Tensor) for _, b in bounds):
        lo, hi = np.asarray(clip_value_min), np.asarray(clip_value_max)
        lo, hi = np.broadcast_arrays(lo, hi)
        bad = lo > hi
        if bad.any():
            i = np.flatnonzero(bad)[0]
            msg = f"clip_value_min {lo.flat[i]} > clip_value_max {hi.flat[i]}"
            if bad.ndim:
                msg += f" (at {np.count_nonzero(bad)} of {bad.size} positions)"
            raise op_error(InvalidArgumentError, "clip", msg)
    if clip_value_min is not None:
        x = maximum(x, clip_value_min)
    return x if clip_value_max is None else minimum(x, clip_value_max)


def _add_n_infer(*xs: Spec) -> Spec:
    if not xs:
        raise InvalidArgumentError("needs at least one input")
    shape = list(xs[0].shape)
    for i, x in enumerate(xs[1:], 1):
        if x.dtype != xs[0].dtype:
            raise DTypeError(f"input {i} has dtype {x.dtype}, input 0 has {xs[0].dtype}; "
                             "all inputs must have the same dtype")
        if not shapes_match(x.shape, tuple(shape)):
            before = "input 0 has" if i == 1 else "the inputs before it have"
            raise ShapeError(f"input {i} has shape {fmt_shape(x.shape)}, {before} "
                             f"{fmt_shape(tuple(shape))}; all inputs must have the same shape")
        shape = [a if b is None else b for a, b in zip(shape, x.shape)]
    return Spec(tuple(shape), xs[0].dtype)


def _add_n_loop(dtypes: tuple[np.dtype, ...], out: np.dtype, attrs: Any
                ) -> tuple[np.dtype, ...] | None:
    ok = not attrs and builtins.all(d == out for d in dtypes) and out not in OVERFLOW_UNDEFINED
    return dtypes if ok else None


def _emit_add_n(j: int, dt: np.dtype, a: list[str], attrs: dict[str, Any]
                ) -> tuple[list[str], str]:
    t, T = f"t{j}", np_name(dt)
    lines = [f"{t} = {a[0]}"]
    for x in a[1:]:  # left to right, as the chain of adds
        lines.append(f"{t} = ({t} | {x})" if dt.kind == "b" else f"{t} = {T}({t} + {x})")
    return lines, t


@register("add_n", infer=_add_n_infer, kind="elementwise", arity=None,
          fusion=Fusion(_add_n_loop, _emit_add_n))
def add_n_p(xp, *xs):
    if len(xs) == 1:
        return xs[0].copy()  # a fresh buffer, never an alias of an input
    # NOTE: the very calls of the chain ((x0 + x1) + x2) + ..., not in place: each result then
    # has the memory layout the chain's has (numpy follows its operands' layout), and what
    # reads it (a sum, a matmul) rounds as it would after the chain
    out = xp.add(xs[0], xs[1])
    for x in xs[2:]:
        out = xp.add(out, x)
    return out


def add_n(inputs: Sequence[Any]) -> Tensor:
    """The elementwise sum of a list of tensors of one shape and dtype (no broadcasting).

    >>> import graphexec as gx
    >>> gx.add_n([gx.constant([1.0, 2.0]), gx.constant([3.0, 4.0]), [5.0, 6.0]]).numpy()
    array([ 9., 12.], dtype=float32)
    """
    if not isinstance(inputs, list | tuple):
        what = "one tensor" if isinstance(inputs, Tensor) else type(inputs).__name__
        raise op_error(InvalidArgumentError, "add_n", "inputs must be a list or tuple of "
                       f"tensors, got {what}")
    if not inputs:
        raise op_error(InvalidArgumentError, "add_n", "needs at least one input")
    return apply(add_n_p, *[as_tensor(x) for x in inputs])


defvjp(add_n_p, lambda g, out, *xs: tuple(g for _ in xs))


# -- reductions -------------------------------------------------------------------------------

def _reduced_shape(x: Spec, axis: tuple[int, ...], keepdims: bool) -> Shape:
    ndim = len(x.shape)
    for a in axis:
        if not 0 <= a < ndim:
            raise InvalidArgumentError(f"axis {a} is out of range for {fmt_shape(x.shape)}")
    if keepdims:
        return tuple(1 if i in axis else d for i, d in enumerate(x.shape))
    return tuple(d for i, d in enumerate(x.shape) if i not in axis)


def _check_nonempty(x: Spec, axis: tuple[int, ...], what: str) -> None:
    for a in axis:
        if x.shape[a] == 0:
            raise ShapeError(f"axis {a} of {fmt_shape(x.shape)} has size 0, and {what} of an "
                             "empty set is undefined")


def _reduce_dtype(fn: Any, dtype: np.dtype) -> np.dtype:
    try:
        return ufunc_dtype(fn, dtype)
    except TypeError as e:
        raise DTypeError(f"unsupported dtype {dtype} ({e})") from None


def _reduction_infer(fn: Any, nonempty: bool) -> Any:
    def infer(x: Spec, axis: tuple[int, ...], keepdims: bool) -> Spec:
        shape = _reduced_shape(x, axis, keepdims)
        if nonempty:
            _check_nonempty(x, axis, fn.__name__)
        return Spec(shape, _reduce_dtype(fn, x.dtype))

    return infer


def _reduction(name: str) -> Callable[..., Any]:
    """Kernel calling the array method ``name`` (numpy's and cupy's ndarrays both have it; the
    method skips the module function's dispatch layer)."""
    def kernel(xp, x, axis, keepdims):
        return getattr(x, name)(axis=axis, keepdims=keepdims)

    kernel.__name__ = name
    return kernel


def _reduction_op(name: str, nonempty: bool) -> OpDef:
    """Register the reduction ``name`` (numpy's function name); ``nonempty``: an empty axis is
    an error (no identity)."""
    return register(name, infer=_reduction_infer(getattr(np, name), nonempty),
                    kind="reduction", arity=1, kernel_checks=True, fresh=True)(_reduction(name))


sum_p = _reduction_op("sum", nonempty=False)
mean_p = _reduction_op("mean", nonempty=False)
prod_p = _reduction_op("prod", nonempty=False)
max_p = _reduction_op("max", nonempty=True)
min_p = _reduction_op("min", nonempty=True)
any_p = _reduction_op("any", nonempty=False)
all_p = _reduction_op("all", nonempty=False)


def _logsumexp_infer(x: Spec, axis: tuple[int, ...], keepdims: bool) -> Spec:
    if x.dtype.kind not in "biuf":
        raise DTypeError(f"logsumexp needs a real dtype, got {x.dtype}")
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    return Spec(_reduced_shape(x, axis, keepdims), dtype)


@register("logsumexp", infer=_logsumexp_infer, kind="reduction", arity=1)
def logsumexp_p(xp, x, axis, keepdims):
    if x.dtype.kind != "f":
        x = x.astype(xp.float64)
    if builtins.any(x.shape[a] == 0 for a in axis):
        m = xp.zeros(tuple(1 if i in axis else d for i, d in enumerate(x.shape)), x.dtype)
    else:
        m = xp.max(x, axis=axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))  # all -inf, or an inf: shift by 0
    # NOTE: log(0) = -inf for an all -inf (or empty) slice is the answer, and exp may overflow
    # only in a slice holding NaN, whose answer is NaN anyway; np.errstate silences numpy's
    # warnings and does nothing under cupy
    with np.errstate(divide="ignore", over="ignore"):
        out = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=keepdims))
    return out + (m if keepdims else xp.squeeze(m, axis=axis))


def _arg_infer(x: Spec, axis: int | None, keepdims: bool) -> Spec:
    shape: Shape
    if axis is None:
        if 0 in x.shape:
            raise ShapeError(f"{fmt_shape(x.shape)} has no elements; the index of an extremum "
                             "of an empty set is undefined")
        shape = (1,) * len(x.shape) if keepdims else ()
    else:
        shape = _reduced_shape(x, (axis,), keepdims)
        _check_nonempty(x, (axis,), "the index of an extremum")
    return Spec(shape, np.dtype(np.int64))


@register("argmax", infer=_arg_infer, kind="reduction", arity=1)
def argmax_p(xp, x, axis, keepdims):
    return xp.argmax(x, axis=axis, keepdims=keepdims)


@register("argmin", infer=_arg_infer, kind="reduction", arity=1)
def argmin_p(xp, x, axis, keepdims):
    return xp.argmin(x, axis=axis, keepdims=keepdims)


def _reduce(op: OpDef, x: Any, axis: Any, keepdims: bool) -> Tensor:
    x = as_tensor(x)
    axes = check_axes(axis, x.ndim, op.name, x.shape)
    return apply(op, x, axis=axes, keepdims=bool(keepdims))


def sum(x: Any, axis: int | Sequence[int] | None = None,  # noqa: A001 - numpy's name
        keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (an int, a tuple of ints, or ``None`` for all axes); numpy's dtype
    (small integers and bool sum to int64).

    >>> import graphexec as gx
    >>> x = gx.constant([[1, 2, 3], [4, 5, 6]])
    >>> gx.sum(x).numpy(), gx.sum(x, axis=0).numpy(), gx.sum(x, axis=1, keepdims=True).shape
    (array(21), array([5, 7, 9]), (2, 1))
    """
    return _reduce(sum_p, x, axis, keepdims)


def _reduce_vjp(g: Tensor, out: Tensor, x: Tensor, axis: tuple[int, ...],
               keepdims: bool) -> tuple[Tensor]:
    return (broadcast_like(_keepdims(g, axis, keepdims), x),)


defvjp(sum_p, _reduce_vjp)


def mean(x: Any, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    """Arithmetic mean over ``axis`` (int, tuple or ``None`` for all); integers give float64,
    as in numpy, and an empty slice gives NaN.

    >>> import graphexec as gx
    >>> gx.mean(gx.constant([[1, 2], [3, 5]]), axis=-1).numpy()
    array([1.5, 4. ])
    """
    return _reduce(mean_p, x, axis, keepdims)


def _mean_vjp(g: Tensor, out: Tensor, x: Tensor, axis: tuple[int, ...],
             keepdims: bool) -> tuple[Tensor]:
    (gx,) = _reduce_vjp(g, out, x, axis, keepdims)
    dims = [x.shape[a] for a in axis]
    if None in dims:  # a count known only at run time
        return (gx / sum(ones_like(x), axis=axis, keepdims=True),)
    return (gx / float(np.prod(_known(dims))),)


defvjp(mean_p, _mean_vjp)


def max(x: Any, axis: int | Sequence[int] | None = None,  # noqa: A001 - numpy's name
        keepdims: bool = False) -> Tensor:
    """Largest value over ``axis`` (int, tuple or ``None`` for all); NaN wins.  Reducing an
    axis of size 0 is an error, as in numpy.  The gradient goes to the positions of the
    maximum, shared equally among ties (as TF).

    >>> import graphexec as gx
    >>> gx.max(gx.constant([[1.0, 7.0], [3.0, 2.0]]), axis=(0, 1)).numpy()
    array(7., dtype=float32)
    """
    return _reduce(max_p, x, axis, keepdims)


def _extremum_vjp(g: Tensor, out: Tensor, x: Tensor, axis: tuple[int, ...],
                 keepdims: bool) -> tuple[Tensor]:
    # to the positions holding the extremum; ties share it equally, as TF
    hit = cast(equal(x, _keepdims(out, axis, keepdims)), g.dtype)
    share = hit / sum(hit, axis=axis, keepdims=True)
    return (share * _keepdims(g, axis, keepdims),)


defvjp(max_p, _extremum_vjp)


def min(x: Any, axis: int | Sequence[int] | None = None,  # noqa: A001 - numpy's name
        keepdims: bool = False) -> Tensor:
    """Smallest value over ``axis`` (int, tuple or ``None`` for all); NaN wins.  Reducing an
    axis of size 0 is an error, as in numpy.  The gradient goes to the positions of the
    minimum, shared equally among ties (as TF).

    >>> import graphexec as gx
    >>> gx.min(gx.constant([[1.0, 7.0], [3.0, 2.0]]), axis=0).numpy()
    array([1., 2.], dtype=float32)
    """
    return _reduce(min_p, x, axis, keepdims)


defvjp(min_p, _extremum_vjp)


def any(x: Any, axis: int | Sequence[int] | None = None,  # noqa: A001 - numpy's name
        keepdims: bool = False) -> Tensor:
    """Whether any element over ``axis`` (int, tuple or ``None`` for all) is true (nonzero); a
    bool tensor, ``False`` for an empty slice (TF's ``reduce_any``).

    >>> import graphexec as gx
    >>> gx.any(gx.constant([[True, False], [False, False]]), axis=1).numpy()
    array([ True, False])
    """
    return _reduce(any_p, x, axis, keepdims)


def all(x: Any, axis: int | Sequence[int] | None = None,  # noqa: A001 - numpy's name
        keepdims: bool = False) -> Tensor:
    """Whether every element over ``axis`` (int, tuple or ``None`` for all) is true (nonzero);
    a bool tensor, ``True`` for an empty slice (TF's ``reduce_all``).

    >>> import graphexec as gx
    >>> gx.all(gx.constant([[1, 2], [0, 3]]), axis=1).numpy()
    array([ True, False])
    """
    return _reduce(all_p, x, axis, keepdims)


def prod(x: Any, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    """Product over ``axis`` (int, tuple or ``None`` for all); an empty slice gives 1.  The
    gradient is the product of the other elements of each slice, exact where ``x`` has zeros
    (and so are the gradients of the gradient).

    >>> import graphexec as gx
    >>> gx.prod(gx.constant([[1.0, 2.0], [3.0, 4.0]]), axis=1).numpy()
    array([ 2., 12.], dtype=float32)
    """
    return _reduce(prod_p, x, axis, keepdims)


def _prod_vjp(g: Tensor, out: Tensor, x: Tensor, axis: tuple[int, ...],
             keepdims: bool) -> tuple[Tensor]:
    # the product of the other elements of each slice: exact with zeros (no out / x)
    others = apply(prod_others_p, x, axis=axis)
    return (_keepdims(g, axis, keepdims) * others,)


defvjp(prod_p, _prod_vjp)


def logsumexp(x: Any, axis: int | Sequence[int] | None = None,
              keepdims: bool = False) -> Tensor:
    """``log(sum(exp(x)))`` over ``axis``, computed without overflow by shifting by the max
    (as ``scipy.special.logsumexp``: an all ``-inf`` or empty slice gives ``-inf``);
    integers give float64.

    >>> import graphexec as gx
    >>> gx.logsumexp(gx.constant([1000.0, 1000.0])).numpy()
    array(1000.6932, dtype=float32)
    """
    return _reduce(logsumexp_p, x, axis, keepdims)


def _logsumexp_vjp(g: Tensor, out: Tensor, x: Tensor, axis: tuple[int, ...],
                  keepdims: bool) -> tuple[Tensor]:
    # softmax of x over the reduced axes, times g
    softmax = exp(x - _keepdims(out, axis, keepdims))
    return (softmax * _keepdims(g, axis, keepdims),)


defvjp(logsumexp_p, _logsumexp_vjp)


def _arg(op: OpDef, x: Any, axis: int | None, keepdims: bool) -> Tensor:
    x = as_tensor(x)
    axis = None if axis is None else check_axis(axis, x.ndim, op.name, x.shape)
    return apply(op, x, axis=axis, keepdims=bool(keepdims))


def argmax(x: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """int64 index of the largest value along ``axis`` (the first one on ties, or the first
    NaN).  ``axis=None`` flattens ``x`` first and gives a flat index, as ``np.argmax`` (TF's
    default would be axis 0).

    >>> import graphexec as gx
    >>> x = gx.constant([[1.0, 9.0, 9.0], [5.0, 0.0, 2.0]])
    >>> gx.argmax(x, axis=1).numpy(), gx.argmax(x).numpy()
    (array([1, 0]), array(1))
    """
    return _arg(argmax_p, x, axis, keepdims)


def argmin(x: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """int64 index of the smallest value along ``axis`` (the first one on ties, or the first
    NaN).  ``axis=None`` flattens ``x`` first and gives a flat index, as ``np.argmin`` (TF's
    default would be axis 0).

    >>> import graphexec as gx
    >>> x = gx.constant([[1.0, 9.0, 9.0], [5.0, 0.0, 2.0]])
    >>> gx.argmin(x, axis=0).numpy(), gx.argmin(x).numpy()
    (array([0, 1, 1]), array(4))
    """
    return _arg(argmin_p, x, axis, keepdims)


# ---------------------------------------------------------------------------------------------
# prod_others: the primitive behind the gradient of prod

def _prod_others_infer(x: Spec, *ts: Spec, axis: tuple[int, ...]) -> Spec:
    for a in axis:
        if not 0 <= a < len(x.shape):
            raise InvalidArgumentError(f"axis {a} is out of range for {fmt_shape(x.shape)}")
    shape = x.shape
    for i, t in enumerate(ts, 1):
        if not shapes_match(t.shape, shape):
            raise ShapeError(f"input {i} has shape {fmt_shape(t.shape)}, x has "
                             f"{fmt_shape(x.shape)}; the tangents must have the shape of x")
        shape = tuple(a if b is None else b for a, b in zip(shape, t.shape))
    return Spec(shape, np.result_type(x.dtype, *[t.dtype for t in ts]))


@register("prod_others", infer=_prod_others_infer, arity=None)
def prod_others_p(xp, x, *ts, axis):
    """For each element of ``x``, the product of the other elements of its slice over
    ``axis`` (computed from prefix and suffix products, so zeros are exact); with tangents
    ``t1 .. tm`` (shaped like ``x``), the m-th mixed directional derivative of that product
    along them.  The gradient of ``prod`` is ``g * prod_others(x)``, and the derivative tensors
    of a product are symmetric, so ``prod_others``'s own gradient is ``prod_others`` with one
    tangent more (for ``x``) or one tangent replaced by the cotangent (for that tangent)."""
    dtype = xp.result_type(x, *ts)
    keep = tuple(a for a in range(x.ndim) if a not in axis)
    perm = keep + tuple(axis)
    kept = tuple(x.shape[a] for a in keep)
    n = 1
    for a in axis:
        n *= x.shape[a]

    def flat(a):  # reduced axes last, flattened into one
        return xp.transpose(a, perm).reshape((*kept, n)).astype(dtype, copy=False)

    out = _exclusive_products(xp, flat(x), [flat(t) for t in ts], dtype)
    out = out.reshape((*kept, *(x.shape[a] for a in axis)))
    inverse = [0] * x.ndim
    for i, p in enumerate(perm):
        inverse[p] = i
    return xp.transpose(out, inverse)


def _prod_others_vjp(g: Tensor, out: Tensor, x: Tensor, *ts: Tensor,
                    axis: tuple[int, ...]) -> tuple[Tensor, ...]:
    op = prod_others_p
    gts = [apply(op, x, *ts[:r], g, *ts[r + 1:], axis=axis) for r in range(len(ts))]
    return (apply(op, x, *ts, g, axis=axis), *gts)


defvjp(prod_others_p, _prod_others_vjp)


def _exclusive_products(xp, x, ts, dtype):
    """Along the last axis: the product of the other elements, or with tangents the
    coefficient of e1*..*em in the product of the others of (x + e1*t1 + .. + em*tm) with
    e_r**2 = 0 (a polynomial held as one coefficient per subset of the tangents)."""
    n = x.shape[-1]
    m = len(ts)
    if n == 0:
        return xp.zeros(x.shape, dtype)
    if m == 0:
        one = xp.ones((*x.shape[:-1], 1), dtype)
        left = xp.cumprod(xp.concatenate([one, x[..., :-1]], axis=-1), axis=-1, dtype=dtype)
        right = xp.cumprod(xp.concatenate([one, x[..., :0:-1]], axis=-1), axis=-1, dtype=dtype)
        return left * right[..., ::-1]
    size = 1 << m
    lefts = xp.zeros((size, *x.shape), dtype)
    rights = xp.zeros((size, *x.shape), dtype)
    for store, order in ((lefts, range(n)), (rights, range(n - 1, -1, -1))):
        acc = xp.zeros((size, *x.shape[:-1]), dtype)
        acc[0] = 1
        for j in order:
            store[..., j] = acc
            nxt = acc * x[..., j]
            for s in range(1, size):
                for r in range(m):
                    if s >> r & 1:
                        nxt[s] += acc[s ^ (1 << r)] * ts[r][..., j]
            acc = nxt
    full = size - 1
    out = lefts[0] * rights[full]
    for s in range(1, size):
        out = out + lefts[s] * rights[full ^ s]
    return out


# ---------------------------------------------------------------------------------------------
# helpers the gradient rules share (each rule stands with its op above)

def _known(dims: list[int | None]) -> list[int]:
    return [int(d) for d in dims if d is not None]


def _as_dtype_of(g: Tensor, x: Tensor) -> Tensor:
    """``g`` in ``x``'s dtype (mixed-dtype ops give ``x`` a gradient of another dtype)."""
    return g if g.dtype == x.dtype or np.dtype(x.dtype).kind not in "fc" else cast(g, x.dtype)


def _keepdims(t: Tensor, axis: tuple[int, ...], keepdims: bool) -> Tensor:
    """A reduction's output or gradient with the reduced axes put back as size 1."""
    if keepdims or not axis:
        return t
    return expand_dims(t, axis)
