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


def ufunc_loop(ufunc: str, kinds: str) -> Loop:
    """The ``loop`` of an op computed by numpy ufunc ``ufunc``: numpy's own loop, when all its
    operands share one dtype of a kind in ``kinds`` and it gives the node's dtype."""
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
