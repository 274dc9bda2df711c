"""Fused elementwise groups: the ``fused_elementwise`` op and the program it runs.

The elementwise fusion pass (``graphexec.passes.fusion``) turns a group of elementwise nodes
into one ``fused_elementwise`` node whose ``program`` attribute, a :class:`FusedProgram`, lists
the original members.  The program runs in one of two ways (``config.set_fusion_backend``):

- **numba** (CPU, the ``jit`` extra): one loop kernel per program, generated as Python source
  and compiled by ``numba.njit``.  It loops over the flat index when every input has the
  output's shape and all are C-contiguous, else over the output's N-d index with broadcast
  inputs; outputs of ``PARALLEL_MIN_SIZE`` elements or more run in parallel (``prange``).
  Kernels are cached in-process per structure, and on disk under ``GRAPHEXEC_CACHE_DIR``
  (default ``~/.cache/graphexec``), so a new process loads them instead of compiling;
  ``jit_stats()`` counts compiles and hits.  A group made mostly of transcendental ops
  (``SIMD_RATIO``) runs as numpy's vectorised ufuncs instead once its inputs reach
  ``SIMD_MIN_SIZE`` elements: numba calls scalar libm for them.
- **numpy** (no numba, the ``"numpy"`` backend, or arrays of another module such as cupy):
  the members run one by one with the ops' own ufuncs, in place on as few reused buffers as
  possible.  Results are bit-identical to the unfused graph.

Either way the result is laid out in memory as the unfused ops would leave it (numpy's ufuncs
follow their operands' memory order, and a matmul or sum reading the result rounds by that
order), and a run-time shape error is the one the unfused graph raises, naming the member.

Exactness of the numba kernel against the unfused ops: add, subtract, multiply, divide,
negative, abs, square, reciprocal, add_n, sqrt, rsqrt, the comparisons and logical ops, where,
relu, maximum and minimum (NaN wins; on a tie of 0.0 and -0.0 the second operand, as in numpy),
sign, cast and stop_gradient are bit-identical: they are IEEE operations with an explicit
conversion of every member to its dtype. (A NaN result is NaN, but its sign may differ: IEEE
754 leaves it open for arithmetic, and the compiler may swap operands or fold a negation into a
constant, as numpy's own loops differ in it.) The transcendental ops (exp, expm1, log, log1p,
sin, cos, tan, tanh, pow, sigmoid, erf) call libm where numpy uses its own SIMD code: they stay
within ``ULP_TOLERANCE`` ulp of numpy (4 ulp; erf and sigmoid in float32, which carry exp's
difference through longer formulas, 8 ulp), as the tests measure. A float to integer cast of
NaN, an infinity or an out-of-range value is undefined in numpy (it warns) and may differ.
Dtypes fused: bool, signed and unsigned ints, float32 and float64; floor_divide, mod and round
are never fused, nor pow and reciprocal of integers.

>>> import numpy as np, graphexec as gx
>>> from graphexec.passes.fusion import elementwise_fusion
>>> with gx.graph() as g:
...     x = gx.placeholder((2, 2), "float32", name="x")
...     y = gx.nn.relu(x * 1.5 + 0.25)
>>> elementwise_fusion(g, keep=[y])
True
>>> g.nx.nodes[y.name]["attrs"]["program"]
<fused 3: multiply, add, relu>
>>> g.run(y, {x: np.array([[1, -1], [2, 0]], "float32")})
array([[1.75, 0.  ],
       [3.25, 0.25]], dtype=float32)
"""

from __future__ import annotations

import hashlib
import importlib.util
import linecache
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, NamedTuple, cast

import numpy as np

from .. import config
from ..errors import (
    DTypeError,
    GraphexecError,
    InvalidArgumentError,
    MissingExtraError,
    node_failed,
)
from ..registry import REGISTRY, Spec, broadcast_shapes, refuse_vjp, register
from . import array, grad, nn  # noqa: F401  (register the ops fused here)
from . import math as _math  # noqa: F401

__all__ = ["FusedProgram", "Member", "fusible", "jit_stats", "clear_jit_cache", "cache_dir",
           "FUSIBLE_OPS", "TRANSCENDENTAL_OPS", "ULP_TOLERANCE", "PARALLEL_MIN_SIZE",
           "SIMD_MIN_SIZE", "SIMD_RATIO"]

#: outputs with at least this many elements run the parallel (prange) kernel: below it, waking
#: the threads costs more than the loop (measured on 2 cores)
PARALLEL_MIN_SIZE = 1 << 20

_DTYPES = frozenset(np.dtype(d) for d in (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float32", "float64"))

# op -> (numpy ufunc its kernel calls, kinds of loop dtype fused)
_UFUNC_OPS: dict[str, tuple[str, str]] = {
    "add": ("add", "biuf"), "subtract": ("subtract", "iuf"), "multiply": ("multiply", "biuf"),
    "divide": ("true_divide", "f"), "pow": ("power", "f"), "maximum": ("maximum", "biuf"),
    "minimum": ("minimum", "biuf"), "equal": ("equal", "biuf"),
    "not_equal": ("not_equal", "biuf"), "less": ("less", "biuf"),
    "less_equal": ("less_equal", "biuf"), "greater": ("greater", "biuf"),
    "greater_equal": ("greater_equal", "biuf"), "logical_and": ("logical_and", "biuf"),
    "logical_or": ("logical_or", "biuf"), "logical_not": ("logical_not", "biuf"),
    "negative": ("negative", "iuf"), "abs": ("absolute", "biuf"), "square": ("square", "biuf"),
    "sqrt": ("sqrt", "f"), "reciprocal": ("reciprocal", "f"), "sign": ("sign", "iuf"),
    "exp": ("exp", "f"), "expm1": ("expm1", "f"), "log": ("log", "f"), "log1p": ("log1p", "f"),
    "sin": ("sin", "f"), "cos": ("cos", "f"), "tan": ("tan", "f"), "tanh": ("tanh", "f"),
}
_OTHER_OPS = frozenset({"relu", "sigmoid", "erf", "rsqrt", "where", "cast", "stop_gradient",
                        "add_n"})
#: the ops a fused group may contain
FUSIBLE_OPS = frozenset(_UFUNC_OPS) | _OTHER_OPS
#: ops whose numba code may differ from numpy by a few ulp (libm against numpy's SIMD code)
TRANSCENDENTAL_OPS = frozenset({"exp", "expm1", "log", "log1p", "sin", "cos", "tan", "tanh",
                                "pow", "sigmoid", "erf"})
#: with numba, a group with transcendental members runs as numpy's (SIMD) ufuncs in place when
#: its largest input has ``SIMD_MIN_SIZE`` elements or more and it has fewer than ``SIMD_RATIO``
#: other members per transcendental one
SIMD_MIN_SIZE = 1 << 14
SIMD_RATIO = 8
#: the most ulp a transcendental op of the numba kernel may differ from numpy, by op and dtype
ULP_TOLERANCE = {("erf", "float32"): 8, ("sigmoid", "float32"): 8, None: 4}

Operand = tuple[str, int]  # ("input", i) | ("member", j) | ("literal", k)


class Member(NamedTuple):
    """One node of a fused group: its original ``name``, ``op``, operands (``("input", i)``,
    ``("member", j)`` for an earlier member, ``("literal", k)``), output ``spec``, small
    ``attrs`` as sorted ``(key, value)`` pairs (cast's dtype) and the user's ``loc``.

    >>> import numpy as np
    >>> from graphexec.ops.fused import Member
    >>> from graphexec.registry import Spec
    >>> Member("neg", "negative", (("input", 0),), Spec((3,), np.dtype("float32")))
    Member(name='neg', op='negative', operands=(('input', 0),), spec=f32[3], attrs=(), loc='')
    """

    name: str
    op: str
    operands: tuple[Operand, ...]
    spec: Spec
    attrs: tuple[tuple[str, Any], ...] = ()
    loc: str = ""


@lru_cache(maxsize=4096)
def _loop_dtypes(op: str, dtypes: tuple[np.dtype, ...], out: np.dtype,
                 attrs: tuple[tuple[str, Any], ...]) -> tuple[np.dtype, ...] | None:
    """The dtypes the operands of ``op`` are converted to before it computes (numpy's loop),
    or None if the op, its dtypes or its attributes are not fused."""
    if op not in FUSIBLE_OPS or out not in _DTYPES or not all(d in _DTYPES for d in dtypes):
        return None
    if attrs and (op != "cast" or [k for k, _ in attrs] != ["dtype"]):
        return None
    entry = _UFUNC_OPS.get(op)
    if entry is not None:
        try:
            resolved = getattr(np, entry[0]).resolve_dtypes((*dtypes, None))
        except Exception:  # numpy has no loop for these dtypes
            return None
        loop, res = tuple(resolved[:-1]), resolved[-1]
        if res != out or len(set(loop)) != 1 or loop[0].kind not in entry[1]:
            return None
        return loop if loop[0] in _DTYPES else None
    (x, *rest) = dtypes
    if op == "cast":
        return (x,) if attrs and np.dtype(attrs[0][1]) == out else None
    if op in ("relu", "stop_gradient"):
        return (x,) if out == x else None
    if op in ("sigmoid", "erf"):  # computed in the float dtype exp gives x (nn._float_dtype)
        return (out,) if out.kind == "f" and np.exp.resolve_dtypes((x, None))[1] == out else None
    if op == "rsqrt":
        s = np.sqrt.resolve_dtypes((x, None))
        return (s[0],) if s[1] == out and out.kind == "f" else None
    if op == "where":
        ok = len(rest) == 2 and x == np.bool_ and np.result_type(*rest) == out
        return (x, out, out) if ok else None
    if op == "add_n":
        return dtypes if all(d == out for d in dtypes) else None
    return None


def fusible(op: str, dtypes: Sequence[Any], out: Any, attrs: dict[str, Any] | None = None
            ) -> bool:
    """Whether a node of ``op`` with operands of ``dtypes`` and output dtype ``out`` (and
    ``attrs``) may be a member of a fused group.

    >>> from graphexec.ops.fused import fusible
    >>> fusible("add", ["float32", "float32"], "float32"), fusible("mod", ["int32"] * 2, "int32")
    (True, False)
    >>> fusible("pow", ["int64", "int64"], "int64"), fusible("cast", ["float64"], "int8",
    ...                                                      {"dtype": "int8"})
    (False, True)
    """
    items = tuple(sorted((attrs or {}).items()))
    try:
        key = tuple(np.dtype(d) for d in dtypes)
        hash(items)
    except TypeError:
        return False
    return _loop_dtypes(op, key, np.dtype(out), items) is not None


# -- the program ---------------------------------------------------------------------------------
def _literal_key(v: np.ndarray) -> tuple[Any, ...]:
    return (v.dtype.str, v.shape, v.tobytes())


class FusedProgram:
    """An immutable fused group: external ``inputs`` (their specs: dtype and rank count), the
    ``members`` in evaluation order, size-1 ``literals`` (typed: a float32 literal stays
    float32) and ``output``, the index of the member whose value the group returns (the
    last).  Equal programs compute the same function: equality and hash ignore names, source
    locations and static dims, so CSE may merge two fused nodes of equal programs.

    Calling it as ``program(xp, *arrays, out=None)`` runs it (``fused_elementwise`` does).

    >>> import numpy as np
    >>> from graphexec.ops.fused import FusedProgram, Member
    >>> from graphexec.registry import Spec
    >>> f32 = Spec((None,), np.dtype("float32"))
    >>> p = FusedProgram([f32], [Member("m", "multiply", (("input", 0), ("literal", 0)), f32),
    ...                          Member("e", "exp", (("member", 0),), f32)],
    ...                  literals=[np.float32(0.5)])
    >>> p, p.output, [m.op for m in p.members]
    (<fused 2: multiply, exp>, 1, ['multiply', 'exp'])
    >>> p(np, np.array([0.0, 2.0], "float32"))
    array([1.       , 2.7182817], dtype=float32)
    """

    #: equality and hash are by structure: CSE may key nodes by the program itself
    structural_eq = True

    def __init__(self, inputs: Sequence[Spec], members: Sequence[Member],
                 literals: Sequence[Any] = ()) -> None:
        self.inputs: tuple[Spec, ...] = tuple(inputs)
        self.members: tuple[Member, ...] = tuple(members)
        lits = []
        for v in literals:
            a = np.array(v)  # a copy: the program owns its literals
            if a.size != 1 or a.dtype not in _DTYPES:
                raise InvalidArgumentError(f"a literal must be one number of a fused dtype, "
                                           f"got {a.dtype} of shape {a.shape}")
            a.flags.writeable = False
            lits.append(a)
        self.literals: tuple[np.ndarray, ...] = tuple(lits)
        if not self.inputs or not self.members:
            raise InvalidArgumentError("a fused program needs at least one input and member")
        self._loops = [self._check(j, m) for j, m in enumerate(self.members)]
        n_trans = sum(m.op in TRANSCENDENTAL_OPS for m in self.members)
        # NOTE: numba calls scalar libm for exp/tanh/..., numpy its SIMD loops (about 7x faster
        # for float32 tanh): on large outputs a group dominated by such ops runs faster as
        # in-place ufuncs, while plain arithmetic gains most from the single loop
        self._prefer_ufuncs = n_trans * SIMD_RATIO > len(self.members) - n_trans
        self.output = len(self.members) - 1
        self.spec: Spec = self.members[-1].spec
        self._ndim = len(self.spec.shape)
        self._dtype = self.spec.dtype
        if any(len(s.shape) > self._ndim for s in self.inputs):
            raise InvalidArgumentError("an input has more dims than the output")
        self._kernels: dict[tuple[bool, bool, tuple[bool, ...]], Callable[..., Any]] = {}
        self._generation = -1
        self._key_cache: tuple[Any, ...] | None = None
        self._frees: list[list[int]] | None = None  # the numpy path's plan, made on first use
        self._xp_literals: dict[str, tuple[Any, ...]] = {"numpy": self.literals}

    def _check(self, j: int, m: Member) -> tuple[np.dtype, ...]:
        where = f"fused member {j} ({m.name}: {m.op})"
        dtypes = []
        for kind, i in m.operands:
            if kind == "input" and 0 <= i < len(self.inputs):
                dtypes.append(self.inputs[i].dtype)
            elif kind == "member" and 0 <= i < j:
                dtypes.append(self.members[i].spec.dtype)
            elif kind == "literal" and 0 <= i < len(self.literals):
                dtypes.append(self.literals[i].dtype)
            else:
                raise InvalidArgumentError(f"{where}: bad operand {(kind, i)}")
        loop = _loop_dtypes(m.op, tuple(dtypes), m.spec.dtype, tuple(m.attrs))
        if loop is None:
            raise DTypeError(f"{where}: not fusible with operands of "
                             f"{', '.join(map(str, dtypes))} giving {m.spec.dtype}")
        return loop

    # -- identity --------------------------------------------------------------------------
    @property
    def _key(self) -> tuple[Any, ...]:
        if self._key_cache is None:
            self._key_cache = (
                tuple((s.dtype.str, len(s.shape)) for s in self.inputs),
                tuple(_literal_key(v) for v in self.literals),
                tuple((m.op, m.operands, m.spec.dtype.str, len(m.spec.shape),
                       tuple((k, np.dtype(v).str) for k, v in m.attrs)) for m in self.members),
            )
        return self._key_cache

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FusedProgram) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"<fused {len(self.members)}: {', '.join(m.op for m in self.members)}>"

    # -- running ---------------------------------------------------------------------------
    def __call__(self, xp: Any, *inputs: Any, out: Any = None) -> Any:
        if (xp is np and config.fusion_backend() == "numba"
                and not (self._prefer_ufuncs and inputs
                         and max(a.size for a in inputs) >= SIMD_MIN_SIZE)):
            return self._run_numba(inputs, out)
        return self._run_numpy(xp, inputs, out)

    def out_shape(self, shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
        """The output shape for inputs of ``shapes``: numpy broadcasting, then leading 1s up
        to the output's rank (a literal of shape ``(1, 1)`` adds rank, not size).

        >>> import numpy as np
        >>> from graphexec.ops.fused import FusedProgram, Member
        >>> from graphexec.registry import Spec
        >>> p = FusedProgram([Spec((3,), np.dtype("int32"))],
        ...                  [Member("n", "negative", (("input", 0),),
        ...                          Spec((1, 3), np.dtype("int32")))])
        >>> p.out_shape([(3,)])
        (1, 3)
        """
        shape = shapes[0]
        for s in shapes:
            if s != shape:
                shape = np.broadcast_shapes(*shapes)
                break
        if len(shape) < self._ndim:
            shape = (1,) * (self._ndim - len(shape)) + tuple(shape)
        return tuple(shape)

    def _run_numba(self, inputs: Sequence[Any], out: Any) -> Any:
        shape = inputs[0].shape
        same = len(shape) == self._ndim
        contiguous = True
        for a in inputs:
            if a.shape != shape:
                same = False
            if not a.flags.c_contiguous:
                contiguous = False
        scalars: tuple[bool, ...] = ()
        if not same:
            try:
                shape = self.out_shape([a.shape for a in inputs])
            except ValueError:  # raise what the unfused graph raises
                return self._run_unfused(np, inputs, out)
            # NOTE: one-element inputs (a learning rate, a scale) are read once, before the
            # loop, so the others may still be walked by their flat index
            scalars = tuple(a.size == 1 and a.shape != shape for a in inputs)
            same = all(s or a.shape == shape for a, s in zip(inputs, scalars, strict=True))
            if not any(scalars):
                scalars = ()
        target = out
        if out is None:
            out = target = (np.empty(shape, self._dtype) if contiguous
                            else self._empty_as_numpy(inputs, shape))
        else:
            if out.shape != shape or out.dtype != self._dtype:
                raise InvalidArgumentError(f"fused_elementwise: out is {out.dtype} of shape "
                                           f"{out.shape}, the result {self._dtype} of {shape}")
            for a in inputs:  # another view of out's memory would be read after a write
                if a is not out and np.may_share_memory(a, out):
                    target = np.empty(shape, self._dtype)
                    break
        size = target.size
        if size == 0:
            return out
        flat = same and contiguous and target.flags.c_contiguous
        if not flat:
            scalars = ()
        elif scalars:
            inputs = [a.reshape(1) if s else a for a, s in zip(inputs, scalars, strict=True)]
        key = (flat, size >= PARALLEL_MIN_SIZE, scalars)
        if self._generation != _JIT.generation:
            self._kernels.clear()
            self._generation = _JIT.generation
        fn = self._kernels.get(key)
        if fn is None:
            fn = self._kernels[key] = _compile(kernel_source(self, *key))
        fn(target, *inputs)
        if target is not out:
            np.copyto(out, target)
        return out

    def _empty_as_numpy(self, inputs: Sequence[Any], shape: tuple[int, ...]) -> Any:
        """An output laid out in memory as the unfused ops would leave it: numpy's ufuncs
        follow their operands' memory order, and what reads the result next (a matmul, a
        sum) may round differently in another order.  The order is found by running the
        unfused ops on slices of at most 2 along each axis of the inputs."""
        probes = [a[(slice(0, 2),) * a.ndim] for a in inputs]
        with np.errstate(all="ignore"):
            strides = self._run_unfused(np, probes, None).strides
        perm = sorted(range(len(shape)), key=lambda d: -strides[d])  # ties: C order
        buf = np.empty([shape[d] for d in perm], self._dtype)
        return buf.transpose(np.argsort(perm))

    # -- the numpy path --------------------------------------------------------------------
    def _plan_numpy(self) -> None:
        n = len(self.members)
        last_input = [-1] * len(self.inputs)
        last_member = [-1] * n
        for j, m in enumerate(self.members):
            for kind, i in m.operands:
                if kind == "input":
                    last_input[i] = j
                elif kind == "member":
                    last_member[i] = j
        self._last_input = last_input
        frees: list[list[int]] = [[] for _ in range(n)]  # members dying at each step
        for i, j in enumerate(last_member):
            if j >= 0:
                frees[j].append(i)
        # (ufunc name, extra trailing operand) for single-ufunc members: they can run in
        # place in a dying operand's buffer; None: the op's kernel, then a copy
        ufuncs: list[tuple[str, Any] | None] = []
        for m, loop in zip(self.members, self._loops, strict=True):
            if m.op in _UFUNC_OPS:
                ufuncs.append((_UFUNC_OPS[m.op][0], None))
            elif m.op == "relu":
                ufuncs.append(("maximum", loop[0].type(0)))
            else:
                ufuncs.append(None)
        # NOTE: built in locals and published whole, ``_frees`` last: threads running the
        # program for the first time at once never see half a plan
        self._ufuncs = ufuncs
        self._frees = frees

    def _run_unfused(self, xp: Any, inputs: Sequence[Any], out: Any) -> Any:
        """The members' own kernels one by one, as the unfused graph runs them: the same
        values, and results laid out in memory as numpy lays them out."""
        lits = self._literals(xp)
        vals: list[Any] = []
        for m in self.members:
            args = [inputs[i] if kind == "input" else vals[i] if kind == "member" else lits[i]
                    for kind, i in m.operands]
            try:
                vals.append(xp.asarray(REGISTRY[m.op].kernel(xp, *args, **dict(m.attrs))))
            except GraphexecError:
                raise
            except Exception as e:  # worded as the executor words a failing node
                raise node_failed(m.name, m.loc, e) from e
        result = vals[-1]
        if out is None:
            # NOTE: the op's result is always a fresh array (the memory planner counts on it),
            # but a member such as stop_gradient hands back its input itself
            share = getattr(xp, "may_share_memory", None)
            if any(result is a or (share(result, a) if share else result.base is not None)
                   for a in inputs):
                result = xp.copy(result, order="K")
            return result
        xp.copyto(out, result)
        return out

    def _literals(self, xp: Any) -> tuple[Any, ...]:
        lits = self._xp_literals.get(xp.__name__)
        if lits is None:
            lits = self._xp_literals[xp.__name__] = tuple(xp.asarray(v) for v in self.literals)
        return lits

    def _run_numpy(self, xp: Any, inputs: Sequence[Any], out: Any) -> Any:
        for a in inputs:
            if not a.flags.c_contiguous:  # results follow the inputs' memory order
                return self._run_unfused(xp, inputs, out)
        if self._frees is None:
            self._plan_numpy()
        frees = cast("list[list[int]]", self._frees)
        lits = self._literals(xp)
        try:
            shape = self.out_shape([a.shape for a in inputs])
        except ValueError:
            return self._run_unfused(xp, inputs, out)
        last = len(self.members) - 1
        out_from = -1  # the step from which ``out`` may hold intermediates
        if out is None:
            out = xp.empty(shape, self._dtype)
        else:
            share = getattr(xp, "may_share_memory", None)
            for i, a in enumerate(inputs):
                if a is out:
                    out_from = max(out_from, self._last_input[i])
                elif share is None or share(a, out):
                    out_from = last  # only the final step writes it
        pool: dict[tuple[Any, ...], list[Any]] = {}
        if out_from < 0:
            pool[(out.shape, out.dtype)] = [out]
        vals: list[Any] = [None] * len(self.members)
        for j, m in enumerate(self.members):
            args = [inputs[i] if kind == "input" else vals[i] if kind == "member" else lits[i]
                    for kind, i in m.operands]
            uf = self._ufuncs[j]
            if j == out_from and uf is not None:
                pool.setdefault((out.shape, out.dtype), []).append(out)
            if uf is not None:  # a ufunc may write into an operand's buffer: free them first
                for i in frees[j]:
                    pool.setdefault((vals[i].shape, vals[i].dtype), []).append(vals[i])
            if j == last:
                target = out
            else:
                s = args[0].shape
                for a in args:
                    if a.shape != s:
                        s = np.broadcast_shapes(*[a.shape for a in args])
                        break
                bucket = pool.get((tuple(s), m.spec.dtype))
                target = bucket.pop() if bucket else xp.empty(s, m.spec.dtype)
            if uf is not None:
                if uf[1] is not None:
                    args.append(uf[1])
                getattr(xp, uf[0])(*args, out=target)
            elif m.op in ("cast", "stop_gradient"):
                xp.copyto(target, args[0], casting="unsafe")
            else:
                xp.copyto(target, REGISTRY[m.op].kernel(xp, *args, **dict(m.attrs)))
            vals[j] = target
            if uf is None:
                for i in frees[j]:
                    pool.setdefault((vals[i].shape, vals[i].dtype), []).append(vals[i])
            if j == out_from and uf is None and j != last:
                pool.setdefault((out.shape, out.dtype), []).append(out)
        return out


# -- code generation ---------------------------------------------------------------------------
_CACHE_LINE = "CACHE = True  # numba's disk cache"

def _np_name(dt: np.dtype) -> str:
    return "np.bool_" if dt.kind == "b" else f"np.{dt.name}"


def _conv(expr: str, src: np.dtype, dst: np.dtype) -> str:
    """``expr`` (of dtype ``src``) converted to ``dst`` as numpy's casts do."""
    if src == dst:
        return expr
    if dst.kind == "b":
        return f"({expr} != 0)"
    return f"{_np_name(dst)}({expr})"


def _erf_consts(dt: np.dtype) -> list[str]:
    """The constants of ops/nn.py ``_erf`` in dtype ``dt``: the series (Horner order) and the
    numerators of the continued fraction (from its tail)."""
    series = [_lit(dt.type(c)) for c in nn._ERF_SERIES[-2::-1]]
    halves = [_lit(dt.type(k / 2)) for k in range(nn._ERF_LEVELS, 0, -1)]
    c = dt.char
    return [f"ERF_SPLIT_{c} = {_lit(dt.type(nn._ERF_SPLIT))}",
            f"ERF_K1_{c} = {_lit(dt.type(2 / math.sqrt(math.pi)))}",
            f"ERF_K2_{c} = {_lit(dt.type(math.sqrt(math.pi)))}",
            f"ERF_HEAD_{dt.char} = {_lit(dt.type(nn._ERF_SERIES[-1]))}",
            f"ERF_SERIES_{dt.char} = ({', '.join(series)},)",
            f"ERF_HALVES_{dt.char} = ({', '.join(halves)},)"]


def _lit(v: Any) -> str:
    """Source for the exact number ``v`` (a numpy scalar or size-1 array) in its dtype."""
    v = np.asarray(v)
    return f"_lit({v.dtype.str!r}, {v.tobytes().hex()!r})"


def _member_code(j: int, m: Member, loop: tuple[np.dtype, ...], a: list[str]
                 ) -> tuple[list[str], str]:
    """Statements and the final expression computing member ``j`` from operand expressions
    ``a`` (already in the loop dtypes ``loop``).  An expression of a bool result is a numba
    bool; others are converted to the member's dtype by the caller."""
    op, dt = m.op, (loop[0] if loop else m.spec.dtype)
    T, kind = _np_name(dt), dt.kind
    if op in ("stop_gradient",):
        return [], a[0]
    if op == "cast":
        return [], _conv(a[0], loop[0], m.spec.dtype)
    if op == "add_n":
        t = f"t{j}"
        lines = [f"{t} = {a[0]}"]
        for x in a[1:]:
            lines.append(f"{t} = ({t} | {x})" if kind == "b" else f"{t} = {T}({t} + {x})")
        return lines, t
    binary = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/", "pow": "**",
              "equal": "==", "not_equal": "!=", "less": "<", "less_equal": "<=",
              "greater": ">", "greater_equal": ">="}
    if op in ("add", "multiply", "maximum", "minimum") and kind == "b":
        return [], f"({a[0]} {'|' if op in ('add', 'maximum') else '&'} {a[1]})"
    if op in binary:
        return [], f"({a[0]} {binary[op]} {a[1]})"
    if op in ("maximum", "minimum"):
        cmp = ">" if op == "maximum" else "<"
        nan = f" or {a[0]} != {a[0]}" if kind == "f" else ""
        return [], f"({a[0]} if ({a[0]} {cmp} {a[1]}{nan}) else {a[1]})"
    if op == "relu":
        if kind == "b":
            return [], a[0]
        nan = f" or {a[0]} != {a[0]}" if kind == "f" else ""
        return [], f"({a[0]} if ({a[0]} > {T}(0){nan}) else {T}(0))"
    if op in ("logical_and", "logical_or", "logical_not"):
        truth = [x if kind == "b" else f"({x} != 0)" for x in a]
        if op == "logical_not":
            return [], f"(not {a[0]})" if kind == "b" else f"({a[0]} == 0)"
        return [], f"({truth[0]} {'&' if op == 'logical_and' else '|'} {truth[1]})"
    if op == "where":
        return [], f"({a[1]} if {a[0]} else {a[2]})"
    if op == "negative":
        return [], f"(-{a[0]})"
    if op == "abs":
        return [], a[0] if kind in "bu" else f"abs({a[0]})"
    if op == "square":
        return [], a[0] if kind == "b" else f"({a[0]} * {a[0]})"
    if op == "sign":
        if kind == "u":
            return [], f"({T}(1) if {a[0]} > 0 else {T}(0))"
        last = f"({T}(0) if {a[0]} == 0 else {a[0]})" if kind == "f" else f"{T}(0)"
        return [], f"({T}(1) if {a[0]} > 0 else ({T}(-1) if {a[0]} < 0 else {last}))"
    if op == "reciprocal":
        return [], f"({T}(1) / {a[0]})"
    if op == "rsqrt":  # 1 / sqrt(x), in sqrt's dtype
        return [], f"({T}(1) / {T}(np.sqrt({a[0]})))"
    if op == "tanh" and dt == np.float32:
        # NOTE: in float64 (libm's float32 tanh is the less accurate one), through exp, about
        # 3x faster than libm's tanh: (1 - e) / (1 + e) with e = exp(-2|x|) is accurate to a
        # few float64 ulp for |x| > 0.25, where it cannot cancel; beyond 9.1 the float32
        # result is 1; NaN and -0.0 come out as they go in
        x, ax, r, e = a[0], f"ax{j}", f"r{j}", f"e{j}"
        return [f"{ax} = abs(np.float64({x}))",
                f"if {ax} > 9.1:",
                f"    {r} = 1.0",
                f"elif {ax} > 0.25:",
                f"    {e} = math.exp(-2.0 * {ax})",
                f"    {r} = (1.0 - {e}) / (1.0 + {e})",
                "else:",
                f"    {r} = math.tanh({ax})"], f"math.copysign({r}, np.float64({x}))"
    if op in ("sqrt", "exp", "expm1", "log", "log1p", "sin", "cos", "tan", "tanh"):
        return [], f"np.{op}({a[0]})"
    if op == "sigmoid":  # ops/nn.py _sigmoid, step by step
        x, e, r = a[0], f"e{j}", f"r{j}"
        return [f"{e} = {T}(np.exp({T}(-abs({x}))))",
                f"{r} = {T}({T}(1) / {T}({T}(1) + {e}))"], f"({r} if {x} >= 0 else {T}({e} * {r}))"
    if op == "erf":  # ops/nn.py _erf, step by step: the same roundings in the same order
        x, s = a[0], dt.char
        c = {"split": f"ERF_SPLIT_{s}", "k1": f"ERF_K1_{s}", "k2": f"ERF_K2_{s}"}
        lo, hi, z, p, f, v = (f"{n}{j}" for n in ("lo", "hi", "z", "p", "f", "v"))
        return [
            f"a{j} = abs({x})",
            f"{lo} = a{j} if (a{j} < {c['split']} or a{j} != a{j}) else {c['split']}",
            f"{z} = {T}({lo} * {lo})",
            f"{p} = ERF_HEAD_{s}",
            f"for c{j} in ERF_SERIES_{s}:",
            f"    {p} = {T}({T}({p} * {z}) + c{j})",
            f"{hi} = a{j} if (a{j} > {c['split']} or a{j} != a{j}) else {c['split']}",
            f"{f} = {hi}",
            f"for h{j} in ERF_HALVES_{s}:",
            f"    {f} = {T}({T}(h{j} / {f}) + {hi})",
            f"if a{j} < {c['split']}:",
            f"    {v} = {T}({T}({T}({lo} * {p}) * {T}(np.exp({T}(-{z})))) * {c['k1']})",
            "else:",
            f"    {v} = {T}({T}(1) - {T}({T}(np.exp({T}({T}(-{hi}) * {hi}))) / "
            f"{T}({f} * {c['k2']})))",
        ], f"np.copysign({v}, {x})"
    raise AssertionError(op)  # pragma: no cover - _loop_dtypes admits no other op


def kernel_source(program: FusedProgram, flat: bool, parallel: bool,
                  scalars: Sequence[bool] = ()) -> str:
    """The Python source of ``program``'s numba kernel ``kernel(out, x0, x1, ...)``: over the
    flat index (``flat``: every array has the output's shape and is C-contiguous, but those
    marked in ``scalars``, passed as one-element 1-d arrays and read once) or the output's
    N-d index with broadcast inputs; with ``prange`` when ``parallel``.

    >>> import numpy as np
    >>> from graphexec.ops.fused import FusedProgram, Member, kernel_source
    >>> from graphexec.registry import Spec
    >>> f32 = Spec((4,), np.dtype("float32"))
    >>> p = FusedProgram([f32], [Member("y", "multiply", (("input", 0), ("literal", 0)), f32)],
    ...                  literals=[np.float32(1.5)])
    >>> print(kernel_source(p, flat=True, parallel=False))  # doctest: +ELLIPSIS
    # <fused 1: multiply> (flat, serial)
    ...
    L0 = _lit('<f4', '0000c03f')  # 1.5
    ...
    def kernel(out, x0):
        o = out.reshape(out.size)
        a0 = x0.reshape(x0.size)
        for i in range(o.size):
            v0 = a0[i]
            m0 = np.float32((v0 * L0))
            o[i] = m0
    """
    ins, members = program.inputs, program.members
    nd = program._ndim
    head = [
        f"# {program!r} ({'flat' if flat else 'N-d'}, {'parallel' if parallel else 'serial'})",
        "import math",
        "",
        "import numpy as np",
        "from numba import from_dtype, njit, prange, types",
        "",
        "",
        "def _lit(dtype, hexbytes):",
        "    return np.frombuffer(bytes.fromhex(hexbytes), dtype)[0]",
        "",
        "",
    ]
    for k, v in enumerate(program.literals):
        head.append(f"L{k} = {_lit(v)}  # {v.reshape(()).item()!r}")
    for dt in sorted({loop[0] for m, loop in zip(members, program._loops, strict=True)
                      if m.op == "erf"}, key=str):
        head += _erf_consts(dt)

    def arr(dt: np.dtype, ndim: int, readonly: bool) -> str:
        ro = ", readonly=True" if readonly else ""
        layout = "'C'" if flat else "'A'"
        return f"types.Array(from_dtype(np.dtype({dt.str!r})), {ndim}, {layout}{ro})"

    scalar = list(scalars) or [False] * len(ins)
    sig = ", ".join([arr(program._dtype, nd, False)]
                    + [arr(s.dtype, 1 if scalar[k] else nd if flat else len(s.shape), True)
                       for k, s in enumerate(ins)])
    head += ["", f"SIG = types.void({sig})", _CACHE_LINE, "", ""]
    args = ", ".join(["out"] + [f"x{k}" for k in range(len(ins))])
    rng = "prange" if parallel else "range"
    par = ", parallel=True" if parallel else ""
    body = [f"@njit(SIG, cache=CACHE{par}, error_model='numpy')", f"def kernel({args}):"]

    # the loop body: loads, then each member
    def member_lines() -> list[str]:
        lines = []
        for j, (m, loop) in enumerate(zip(members, program._loops, strict=True)):
            exprs = []
            for (kind, i), dt in zip(m.operands, loop, strict=True):
                if kind == "input":
                    exprs.append(_conv(f"v{i}", ins[i].dtype, dt))
                elif kind == "member":
                    exprs.append(_conv(f"m{i}", members[i].spec.dtype, dt))
                else:
                    exprs.append(_conv(f"L{i}", program.literals[i].dtype, dt))
            stmts, expr = _member_code(j, m, loop, exprs)
            out_dt = m.spec.dtype
            if out_dt.kind != "b":  # a bool expression is a numba bool already
                expr = f"{_np_name(out_dt)}({expr})"
            lines += [*stmts, f"m{j} = {expr}"]
        return lines

    if flat:
        body.append("    o = out.reshape(out.size)")
        body += [f"    v{k} = x{k}[0]" if scalar[k] else f"    a{k} = x{k}.reshape(x{k}.size)"
                 for k in range(len(ins))]
        body.append(f"    for i in {rng}(o.size):")
        loop_body = [f"v{k} = a{k}[i]" for k in range(len(ins)) if not scalar[k]]
        loop_body += member_lines()
        loop_body.append(f"o[i] = m{len(members) - 1}")
        body += ["        " + line for line in loop_body]
    else:
        dims = [f"n{d}" for d in range(nd)]
        body.append(f"    {', '.join(dims)}{',' if nd == 1 else ''} = out.shape")
        loads = []
        idx = [f"i{d}" for d in range(nd)]
        for k, s in enumerate(ins):
            off = nd - len(s.shape)
            for d in range(len(s.shape)):
                body.append(f"    b{k}_{d} = 0 if x{k}.shape[{d}] == 1 else 1")
            if not s.shape:
                body.append(f"    v{k} = x{k}[()]")
                continue
            at = ", ".join(f"{idx[off + d]} * b{k}_{d}" for d in range(len(s.shape)))
            loads.append(f"v{k} = x{k}[{at}]")
        inner = loads + member_lines() + [f"out[{', '.join(idx)}] = m{len(members) - 1}"]
        if nd == 1:
            body.append(f"    for i0 in {rng}(n0):")
            body += ["        " + line for line in inner]
        else:
            body.append(f"    for r in {rng}({' * '.join(dims[:-1])}):")
            unravel = ["t = r"]
            for d in range(nd - 2, 0, -1):
                unravel += [f"i{d} = t % n{d}", f"t = t // n{d}"]
            unravel.append("i0 = t")
            body += ["        " + line for line in unravel]
            body.append(f"        for i{nd - 1} in range(n{nd - 1}):")
            body += ["            " + line for line in inner]
    return "\n".join(head + body) + "\n"


# -- compiling and caching ---------------------------------------------------------------------
class _JitState:
    def __init__(self) -> None:
        self.kernels: dict[str, Callable[..., Any]] = {}
        self.generation = 0
        self.lock = threading.Lock()
        self.stats = {"compiles": 0, "memory_hits": 0, "disk_hits": 0, "compile_seconds": 0.0}


_JIT = _JitState()


def jit_stats() -> dict[str, float]:
    """Counters of the numba kernels since the process started: ``compiles``,
    ``memory_hits`` (a program found its kernel compiled in this process), ``disk_hits``
    (loaded from the disk cache) and ``compile_seconds`` (spent compiling or loading).

    >>> from graphexec.ops.fused import jit_stats
    >>> sorted(jit_stats())
    ['compile_seconds', 'compiles', 'disk_hits', 'memory_hits']
    """
    return dict(_JIT.stats)


def clear_jit_cache() -> None:
    """Forget the kernels compiled in this process (the disk cache stays), so the next runs
    compile or load them again, as a new process would.

    >>> from graphexec.ops.fused import clear_jit_cache
    >>> clear_jit_cache()
    """
    with _JIT.lock:
        _JIT.kernels.clear()
        _JIT.generation += 1


def cache_dir() -> str:
    """Where compiled kernels are kept: ``$GRAPHEXEC_CACHE_DIR/fused``, by default
    ``~/.cache/graphexec/fused``.

    >>> from graphexec.ops.fused import cache_dir
    >>> cache_dir().endswith("fused")
    True
    """
    base = os.environ.get("GRAPHEXEC_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "graphexec")
    return os.path.join(base, "fused")


def _compile(source: str) -> Callable[..., Any]:
    """The ``kernel`` of ``source``, compiled once per process; via a module file in
    ``cache_dir()`` when it is writable, so numba's disk cache serves later processes."""
    key = hashlib.sha1(source.encode()).hexdigest()[:20]
    with _JIT.lock:
        fn = _JIT.kernels.get(key)
        if fn is not None:
            _JIT.stats["memory_hits"] += 1
            return fn
        if not config.numba_available():
            raise MissingExtraError("fusion backend 'numba' needs numba: "
                                    "pip install 'graphexec[jit]'")
        t0 = time.perf_counter()
        name = f"graphexec_fused_{key}"
        path = _write_module(name, source)
        if path is None:  # no writable cache: compile from memory
            filename = f"<graphexec fused {key}>"
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            glb: dict[str, Any] = {"__name__": name}
            exec(compile(source.replace(_CACHE_LINE, "CACHE = False"), filename, "exec"), glb)
            fn = glb["kernel"]
            hit = False
        else:
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            mod = importlib.util.module_from_spec(spec)
            # NOTE: numba finds the module by name when it loads a cached kernel
            sys.modules[name] = mod
            try:
                spec.loader.exec_module(mod)
            except BaseException:
                del sys.modules[name]
                raise
            fn = mod.kernel
            hit = bool(fn.stats.cache_hits)
        _JIT.stats["disk_hits" if hit else "compiles"] += 1
        _JIT.stats["compile_seconds"] += time.perf_counter() - t0
        _JIT.kernels[key] = fn
        return fn


def _write_module(name: str, source: str) -> str | None:
    folder = cache_dir()
    path = os.path.join(folder, name + ".py")
    try:
        if os.path.exists(path):
            with open(path) as f:
                if f.read() == source:
                    return path  # unchanged, so numba's cache index stays valid
        os.makedirs(folder, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(source)
        os.replace(tmp, path)
    except OSError:
        return None
    return path


# -- the op --------------------------------------------------------------------------------------
def _fused_infer(*specs: Spec, program: FusedProgram) -> Spec:
    if len(specs) != len(program.inputs):
        raise InvalidArgumentError(f"{program!r} takes {len(program.inputs)} inputs, "
                                   f"got {len(specs)}")
    for i, (s, want) in enumerate(zip(specs, program.inputs, strict=True)):
        if s.dtype != want.dtype or len(s.shape) != len(want.shape):
            raise DTypeError(f"input {i} is {s!r}; {program!r} takes {want!r}")
    shape = broadcast_shapes(*[s.shape for s in specs])
    nd = len(program.spec.shape)
    return Spec((1,) * (nd - len(shape)) + tuple(shape), program.spec.dtype)


@register("fused_elementwise", infer=_fused_infer, kind="elementwise",
          out_arg=True)
def _fused_elementwise(xp, *inputs, program, out=None):
    return program(xp, *inputs, out=out)


#: why the ops the optimizer makes have no gradient
NO_GRADIENT = ("made by the graph optimizer and has no gradient rule: take gradients of the "
               "graph as built, then optimize")
refuse_vjp("fused_elementwise", NO_GRADIENT)
