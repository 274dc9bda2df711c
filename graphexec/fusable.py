"""What an op tells the fused-loop writers: ``Fusion``, one of the facts of its ``OpDef``.

An elementwise op that may join a fused group declares, in its own stanza, how the generated
loop computes one element of it:

- ``loop(dtypes, out, attrs)``: the dtypes its operands are converted to before it computes
  (numpy's inner loop), or ``None`` where those dtypes or attributes are not fused;
- ``emit(j, dt, a, attrs)``: the statements and the expression computing member ``j`` from the
  operand expressions ``a`` (already converted to the loop dtype ``dt``); names a member
  declares end in ``j`` so members never clash;
- ``transcendental``: a libm call, which may differ from numpy's SIMD code by up to ``ulp``
  units in the last place (``{dtype name: ulp}``);
- ``consts(dt)``: module-level constant lines the emitted code reads (erf's series).

The helpers below write the common shapes of ``emit`` and ``loop``.

>>> import numpy as np
>>> from graphexec.fusable import infix, np_name, ufunc_loop
>>> ufunc_loop("add", "biuf")((np.dtype("float32"),) * 2, np.dtype("float32"), ())
(dtype('float32'), dtype('float32'))
>>> infix("+", "|")(0, np.dtype("float32"), ["x", "y"], {})
([], '(x + y)')
>>> np_name(np.dtype("bool"))
'np.bool_'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Fusion", "DTYPES", "ufunc_loop", "same_loop", "infix", "call", "np_name", "conv",
           "lit"]

#: the dtypes fused loops compute in
DTYPES = frozenset(np.dtype(d) for d in (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float32", "float64"))

Loop = Callable[[tuple[np.dtype, ...], np.dtype, tuple[tuple[str, Any], ...]],
                tuple[np.dtype, ...] | None]
Emit = Callable[[int, np.dtype, list[str], dict[str, Any]], tuple[list[str], str]]

#: how far a transcendental op of the numba loop may be from numpy, by default
TRANSCENDENTAL_ULP: Mapping[str, int] = {"float32": 4, "float64": 4}


class Fusion(NamedTuple):
    """How a fused elementwise loop computes one element of an op (see the module docstring)."""

    loop: Loop
    emit: Emit
    transcendental: bool = False
    ulp: Mapping[str, int] = {}
    consts: Callable[[np.dtype], list[str]] | None = None

    def ulp_for(self, dtype: Any) -> int:
        """The ulp bound of this op's loop code against numpy in ``dtype`` (0: exact).

        >>> import graphexec as gx
        >>> exp, add = gx.REGISTRY["exp"], gx.REGISTRY["add"]
        >>> exp.fusion.ulp_for("float32"), add.fusion.ulp_for("float32")
        (4, 0)
        """
        if not self.transcendental:
            return 0
        return {**TRANSCENDENTAL_ULP, **self.ulp}.get(np.dtype(dtype).name, 4)


#: dtypes whose overflow the numba loop leaves undefined (LLVM's signed arithmetic), where numpy
#: wraps: ops that can overflow are not fused in them.  Narrower ints compute in int64 in the
#: loop and wrap when converted back, as numpy's do.
OVERFLOW_UNDEFINED = frozenset({np.dtype(np.int64)})


def ufunc_loop(ufunc: str, kinds: str, overflows: bool = False) -> Loop:
    """The ``loop`` of an op computed by numpy ufunc ``ufunc``: numpy's own loop, when all its
    operands share one dtype of a kind in ``kinds`` and it gives the node's dtype (and, for an
    op whose result can overflow, not in ``OVERFLOW_UNDEFINED``)."""
    fn = getattr(np, ufunc)

    def loop(dtypes: tuple[np.dtype, ...], out: np.dtype,
             attrs: tuple[tuple[str, Any], ...]) -> tuple[np.dtype, ...] | None:
        if attrs:
            return None
        try:
            resolved = fn.resolve_dtypes((*dtypes, None))
        except Exception:  # numpy has no loop for these dtypes
            return None
        loops, res = tuple(resolved[:-1]), resolved[-1]
        if res != out or len(set(loops)) != 1 or loops[0].kind not in kinds:
            return None
        if overflows and loops[0] in OVERFLOW_UNDEFINED:
            return None
        return loops if loops[0] in DTYPES else None

    return loop


def same_loop(dtypes: tuple[np.dtype, ...], out: np.dtype,
              attrs: tuple[tuple[str, Any], ...]) -> tuple[np.dtype, ...] | None:
    """The ``loop`` of a one-input op that keeps its operand's dtype (relu, stop_gradient)."""
    return dtypes if not attrs and len(dtypes) == 1 and out == dtypes[0] else None


def infix(symbol: str, bool_symbol: str | None = None) -> Emit:
    """``emit`` for a binary operator (``bool_symbol`` for bool operands: ``+`` is ``|``)."""

    def emit(j: int, dt: np.dtype, a: list[str], attrs: dict[str, Any]
             ) -> tuple[list[str], str]:
        sym = bool_symbol if bool_symbol is not None and dt.kind == "b" else symbol
        return [], f"({a[0]} {sym} {a[1]})"

    return emit


def call(fn: str) -> Emit:
    """``emit`` for a one-input numpy function numba compiles (``np.exp(x)``)."""

    def emit(j: int, dt: np.dtype, a: list[str], attrs: dict[str, Any]
             ) -> tuple[list[str], str]:
        return [], f"np.{fn}({a[0]})"

    return emit


def np_name(dt: np.dtype) -> str:
    """The numpy scalar type of ``dt`` as generated code names it (``np.float32``)."""
    return "np.bool_" if dt.kind == "b" else f"np.{dt.name}"


def conv(expr: str, src: np.dtype, dst: np.dtype) -> str:
    """``expr`` (of dtype ``src``) converted to ``dst`` as numpy's casts do.

    >>> import numpy as np
    >>> from graphexec.fusable import conv
    >>> i32 = np.dtype("int32")
    >>> conv("x", i32, np.dtype("bool")), conv("x", i32, np.dtype("float64"))
    ('(x != 0)', 'np.float64(x)')
    """
    if src == dst:
        return expr
    if dst.kind == "b":
        return f"({expr} != 0)"
    return f"{np_name(dst)}({expr})"


def lit(v: Any) -> str:
    """Source for the exact number ``v`` (a numpy scalar or size-1 array) in its dtype.

    >>> import numpy as np
    >>> from graphexec.fusable import lit
    >>> lit(np.float32(1.5))
    "_lit('<f4', '0000c03f')"
    """
    v = np.asarray(v)
    return f"_lit({v.dtype.str!r}, {v.tobytes().hex()!r})"


# -- formulas written once: whole arrays in the kernel, one element in the fused loop ----------
class ArraySteps:
    """The steps of a formula on whole arrays, each the ``xp`` call a kernel makes (constants
    stay Python numbers, which numpy converts to the operands' dtype)."""

    def __init__(self, xp: Any) -> None:
        self.xp = xp

    def const(self, v: float) -> Any:
        return v

    def abs(self, a: Any) -> Any:
        return self.xp.abs(a)

    def neg(self, a: Any) -> Any:
        return -a

    def add(self, a: Any, b: Any) -> Any:
        return a + b

    def sub(self, a: Any, b: Any) -> Any:
        return a - b

    def mul(self, a: Any, b: Any) -> Any:
        return a * b

    def div(self, a: Any, b: Any) -> Any:
        return a / b

    def exp(self, a: Any) -> Any:
        return self.xp.exp(a)

    def minimum(self, a: Any, b: Any) -> Any:
        return self.xp.minimum(a, b)

    def maximum(self, a: Any, b: Any) -> Any:
        return self.xp.maximum(a, b)

    def lt(self, a: Any, b: Any) -> Any:
        return a < b

    def ge(self, a: Any, b: Any) -> Any:
        return a >= b

    def where(self, c: Any, a: Any, b: Any) -> Any:
        return self.xp.where(c, a, b)

    def copysign(self, a: Any, b: Any) -> Any:
        return self.xp.copysign(a, b)

    def horner(self, z: Any, coeffs: tuple[float, ...]) -> Any:
        """``((c0 z + c1) z + c2) ...``, rounded after every step (in place)."""
        p = self.xp.full_like(z, coeffs[0])
        for c in coeffs[1:]:
            p *= z
            p += c
        return p

    def fraction(self, x: Any, numerators: tuple[float, ...]) -> Any:
        """``f = x; f = n / f + x`` for each numerator in turn (a continued fraction from its
        tail), rounded after every step (in place)."""
        f = self.xp.array(x)  # a fresh array even for 0-d input, where ufuncs give scalars
        for n in numerators:
            self.xp.divide(n, f, out=f)
            f += x
        return f


class LoopSteps:
    """The same steps on one element, as lines of the fused loop: every step is rounded to the
    loop dtype as numpy rounds it, and every temporary of member ``j`` is named ``s{j}_{k}``,
    so no member can capture another's or the kernel's names.  Constants are module-level
    lines (``consts``), named by op, dtype and position, so that ``Fusion.consts`` and
    ``Fusion.emit`` running the formula give the same names."""

    def __init__(self, op: str, j: int, dt: np.dtype) -> None:
        self.T = np_name(dt)
        self.dt = dt
        self.j = j
        self.lines: list[str] = []
        self.consts: list[str] = []
        self._prefix = f"{op.upper()}_{dt.char}"
        self._n = 0

    def _tmp(self, expr: str) -> str:
        name = f"s{self.j}_{self._n}"
        self._n += 1
        self.lines.append(f"{name} = {expr}")
        return name

    def _const(self, value: Any) -> str:
        name = f"{self._prefix}_{len(self.consts)}"
        self.consts.append(f"{name} = {value}")
        return name

    def _round(self, expr: str) -> str:
        return self._tmp(f"{self.T}({expr})")

    def const(self, v: float) -> str:
        return self._const(lit(self.dt.type(v)))

    def abs(self, a: str) -> str:
        return self._round(f"abs({a})")

    def neg(self, a: str) -> str:
        return self._round(f"-{a}")

    def add(self, a: str, b: str) -> str:
        return self._round(f"{a} + {b}")

    def sub(self, a: str, b: str) -> str:
        return self._round(f"{a} - {b}")

    def mul(self, a: str, b: str) -> str:
        return self._round(f"{a} * {b}")

    def div(self, a: str, b: str) -> str:
        return self._round(f"{a} / {b}")

    def exp(self, a: str) -> str:
        return self._round(f"np.exp({a})")

    def minimum(self, a: str, b: str) -> str:  # NaN wins, as np.minimum
        return self._tmp(f"{a} if ({a} < {b} or {a} != {a}) else {b}")

    def maximum(self, a: str, b: str) -> str:
        return self._tmp(f"{a} if ({a} > {b} or {a} != {a}) else {b}")

    def lt(self, a: str, b: str) -> str:
        return self._tmp(f"{a} < {b}")

    def ge(self, a: str, b: str) -> str:
        return self._tmp(f"{a} >= {b}")

    def where(self, c: str, a: str, b: str) -> str:
        return self._tmp(f"{a} if {c} else {b}")

    def copysign(self, a: str, b: str) -> str:
        return self._round(f"np.copysign({a}, {b})")

    def horner(self, z: str, coeffs: tuple[float, ...]) -> str:
        head = self.const(coeffs[0])
        rest = self._const("(" + ", ".join(lit(self.dt.type(c)) for c in coeffs[1:]) + ",)")
        p = self._tmp(head)
        c = f"c{self.j}_{self._n}"
        self.lines += [f"for {c} in {rest}:", f"    {p} = {self.T}({self.T}({p} * {z}) + {c})"]
        return p

    def fraction(self, x: str, numerators: tuple[float, ...]) -> str:
        nums = self._const("(" + ", ".join(lit(self.dt.type(n)) for n in numerators) + ",)")
        f = self._tmp(x)
        n = f"c{self.j}_{self._n}"
        self.lines += [f"for {n} in {nums}:", f"    {f} = {self.T}({self.T}({n} / {f}) + {x})"]
        return f


Formula = Callable[[Any, Any], Any]


def formula_fusion(formula: Formula, loop: Loop, **facts: Any) -> Fusion:
    """The ``Fusion`` of an op whose kernel runs ``formula(ArraySteps(xp), x)``: the fused loop
    runs the very same formula on one element (``LoopSteps``), so the two cannot drift apart.
    Its module constants are named after the formula (``_double_steps`` -> ``DOUBLE_STEPS_f_0``).

    >>> import numpy as np
    >>> from graphexec.fusable import formula_fusion, same_loop
    >>> def _double_steps(m, x):
    ...     return m.mul(x, m.const(2))
    >>> double = formula_fusion(_double_steps, same_loop)
    >>> double.consts(np.dtype("float32"))
    ["DOUBLE_STEPS_f_0 = _lit('<f4', '00000040')"]
    >>> double.emit(0, np.dtype("float32"), ["v0"], {})
    (['s0_0 = np.float32(v0 * DOUBLE_STEPS_f_0)'], 's0_0')
    """
    op = formula.__name__.strip("_")

    def emit(j: int, dt: np.dtype, a: list[str], attrs: dict[str, Any]
             ) -> tuple[list[str], str]:
        steps = LoopSteps(op, j, dt)
        out = formula(steps, a[0])
        return steps.lines, out

    def consts(dt: np.dtype) -> list[str]:
        steps = LoopSteps(op, 0, dt)
        formula(steps, "x")
        return steps.consts

    return Fusion(loop, emit, consts=consts, **facts)
