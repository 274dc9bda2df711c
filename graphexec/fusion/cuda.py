"""The CUDA code writer of fused elementwise groups: one ``cupy.ElementwiseKernel`` per program.

Its source is not written by a second table of ops: it is the numba loop body itself
(``codegen.members_code``, each member written by its op's ``OpDef.fusion.emit``) translated
statement by statement from that small subset of Python into CUDA C++:

- every value keeps the type the numba loop gives it (a ``np.float32(...)`` conversion is a C
  cast, a float literal is a double as in Python, integer ``+ - *`` compute in 64 bits and
  wrap when converted back, as numba's do);
- the module constants (``Fusion.consts``, the program's literals) become exact C literals,
  and a loop over a constant tuple (erf's series) is unrolled;
- ``np.exp``/``math.exp`` and the other libm calls are CUDA's overloads of the same name.

The kernel is compiled with ``--fmad=false``: CUDA would otherwise contract ``a * b + c`` into
one fused multiply-add, which rounds once where numpy rounds twice.  Add, subtract, multiply,
divide, sqrt and the conversions are then IEEE operations, bit-identical to numpy; the libm
calls are within CUDA's documented ulp bounds.  CuPy's ElementwiseKernel follows its
arguments' strides and broadcasts them, so strided views and broadcast inputs need no copies.

>>> import numpy as np
>>> from graphexec.fusion import FusedProgram, Member
>>> from graphexec.fusion.cuda import cuda_source
>>> from graphexec.registry import Spec
>>> f32 = Spec((None,), np.dtype("float32"))
>>> p = FusedProgram([f32], [Member("y", "multiply", (("input", 0), ("literal", 0)), f32),
...                          Member("r", "relu", (("member", 0),), f32)],
...                  literals=[np.float32(1.5)])
>>> src = cuda_source(p)
>>> src.in_params, src.out_params
('float32 v0', 'float32 out0')
>>> print(src.operation)
float m0;
float m1;
m0 = ((float)(v0 * 1.5e+00f));
m1 = ((float)(((m0 > ((float)0)) || (m0 != m0)) ? m0 : ((float)0)));
out0 = m1;
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import re
import threading
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .codegen import members_code, module_constants

if TYPE_CHECKING:
    from .program import FusedProgram

__all__ = ["CudaSource", "cuda_source", "elementwise_kernel", "fresh_cuda_kernels", "C_TYPES",
           "PRELUDE", "OPTIONS", "Unsupported"]

#: the C type of each fused dtype
C_TYPES = {np.dtype(k): v for k, v in (
    ("bool", "bool"), ("int8", "signed char"), ("int16", "short"), ("int32", "int"),
    ("int64", "long long"), ("uint8", "unsigned char"), ("uint16", "unsigned short"),
    ("uint32", "unsigned int"), ("uint64", "unsigned long long"), ("float32", "float"),
    ("float64", "double"))}

#: what every kernel's preamble starts with: bit patterns of non-finite constants and the
#: integer absolute value, on the device (NVRTC defines ``__CUDACC__``) and in a host build
PRELUDE = """\
#ifdef __CUDACC__
#define GX_FN __device__ __forceinline__
#define GX_F32(bits) __int_as_float(bits)
#define GX_F64(bits) __longlong_as_double(bits)
#else
#include <cstring>
#define GX_FN static inline
static inline float GX_F32(unsigned int b) { float f; std::memcpy(&f, &b, 4); return f; }
static inline double GX_F64(unsigned long long b) { double d; std::memcpy(&d, &b, 8); return d; }
#endif
template <typename T> GX_FN T gx_iabs(T x) { return x < 0 ? -x : x; }
"""

#: NVRTC options: no contraction into fused multiply-adds, which round once where numpy
#: rounds twice
OPTIONS = ("--fmad=false",)

#: libm functions the members call, by their numba names; CUDA has overloads of each name
_MATH = frozenset({"exp", "expm1", "log", "log1p", "sqrt", "sin", "cos", "tan", "tanh",
                   "copysign", "erf", "fabs", "arcsin", "arccos", "arctan"})
#: numpy's names that C spells otherwise
_C_NAMES = {"arcsin": "asin", "arccos": "acos", "arctan": "atan"}
_BIN = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.BitOr: "|",
        ast.BitAnd: "&", ast.BitXor: "^"}
_CMP = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_INT64 = np.dtype("int64")
_F64 = np.dtype("float64")
_BOOL = np.dtype("bool")


class Unsupported(Exception):
    """The members' code uses Python the CUDA writer does not translate (the program then runs
    op by op, with CuPy's own kernels)."""


class CudaSource(NamedTuple):
    """The parts of one ``cupy.ElementwiseKernel``: its ``name``, parameters, the per-element
    ``operation`` and the ``preamble`` of helpers it reads."""

    name: str
    in_params: str
    out_params: str
    operation: str
    preamble: str

    def text(self, preamble: bool = True) -> str:
        """The kernel as one readable text (without the preamble: what the snapshot tests
        compare)."""
        return (f"// {self.name}({self.in_params}) -> ({self.out_params})\n"
                + (f"{self.preamble}\n" if preamble else "") + f"{self.operation}\n")


def c_literal(v: Any) -> str:
    """Exact C source for the number ``v`` (a numpy scalar, or a Python int, float or bool).

    >>> import numpy as np
    >>> from graphexec.fusion.cuda import c_literal
    >>> c_literal(np.float32(0.1)), c_literal(np.float64(-2.5)), c_literal(np.float32("inf"))
    ('1e-01f', '-2.5e+00', 'GX_F32(0x7f800000u)')
    >>> c_literal(np.int64(-2**63)), c_literal(np.uint8(200)), c_literal(3)
    ('(-9223372036854775807LL - 1)', '((unsigned char)200)', '3')
    """
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, int):
        return _int_literal(v)
    if isinstance(v, float):
        v = np.float64(v)
    dt = np.asarray(v).dtype
    if dt.kind == "f":
        if not np.isfinite(v):
            if dt.itemsize == 4:
                return f"GX_F32(0x{int(np.asarray(v).view(np.uint32)):08x}u)"
            return f"GX_F64(0x{int(np.asarray(v).view(np.uint64)):016x}ull)"
        text = np.format_float_scientific(v, unique=True, trim="-")
        return text + ("f" if dt.itemsize == 4 else "")
    if dt.kind in "iu":
        n = int(v)
        if dt.itemsize == 8 or dt == np.int32:
            return _int_literal(n, unsigned=dt.kind == "u")
        return _cast(C_TYPES[dt], str(n))
    raise Unsupported(f"no C literal for {dt}")


def _wrapped(code: str) -> bool:
    """Whether ``code`` is one parenthesized expression, ``(...)``."""
    if not (code.startswith("(") and code.endswith(")")):
        return False
    depth = 0
    for k, ch in enumerate(code):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and k < len(code) - 1:
            return False
    return True


def _cast(ctype: str, code: str) -> str:
    atom = _wrapped(code) or re.fullmatch(r"[\w.]+(e[+-]\d+)?", code) is not None
    return f"(({ctype}){code if atom else f'({code})'})"


def _int_literal(n: int, unsigned: bool = False) -> str:
    if n == -2 ** 63:
        return "(-9223372036854775807LL - 1)"
    if unsigned or n > 2 ** 63 - 1:
        return f"{n}ull"
    return f"{n}LL" if not -2 ** 31 <= n < 2 ** 31 else str(n)


def _value(node: ast.expr) -> Any:
    """The value of a module constant's right-hand side: ``_lit(dtype, hex)`` or a tuple."""
    if isinstance(node, ast.Tuple):
        return tuple(_value(e) for e in node.elts)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "_lit" and len(node.args) == 2):
        dtype, hexbytes = (ast.literal_eval(a) for a in node.args)
        return np.frombuffer(bytes.fromhex(hexbytes), dtype)[0]
    raise Unsupported(f"constant {ast.unparse(node)}")


class _Writer:
    """Translates the members' statements into C, keeping each name's type."""

    def __init__(self, constants: dict[str, Any], types: dict[str, np.dtype]) -> None:
        self.constants = constants  # name -> numpy scalar or tuple of them
        self.types = dict(types)  # variable -> dtype
        self.declared: dict[str, np.dtype] = {}  # names the operation declares, in order
        self.bound: dict[str, Any] = {}  # an unrolled loop's variable -> its current value

    # -- statements ----------------------------------------------------------------------
    def block(self, body: list[ast.stmt], indent: str = "") -> list[str]:
        out: list[str] = []
        for st in body:
            out += self.stmt(st, indent)
        return out

    def stmt(self, st: ast.stmt, indent: str) -> list[str]:
        if isinstance(st, ast.Assign) and len(st.targets) == 1 \
                and isinstance(st.targets[0], ast.Name):
            name = st.targets[0].id
            code, dt = self.expr(st.value)
            if name not in self.types:
                self.types[name] = self.declared[name] = dt
            elif self.types[name] != dt:  # numba would unify the types; C would convert
                raise Unsupported(f"{name} assigned a {dt} after a {self.types[name]}")
            return [f"{indent}{name} = {code};"]
        if isinstance(st, ast.If):
            cond, _ = self.expr(st.test)
            cond = cond if _wrapped(cond) else f"({cond})"
            lines = [f"{indent}if {cond} {{", *self.block(st.body, indent + "    ")]
            if st.orelse:
                lines += [f"{indent}}} else {{", *self.block(st.orelse, indent + "    ")]
            return [*lines, f"{indent}}}"]
        if isinstance(st, ast.For) and isinstance(st.target, ast.Name) \
                and isinstance(st.iter, ast.Name) and isinstance(
                    self.constants.get(st.iter.id), tuple) and not st.orelse:
            lines = []
            for v in self.constants[st.iter.id]:  # NOTE: unrolled: the tuple is constant
                self.bound[st.target.id] = v
                lines += self.block(st.body, indent)
            self.bound.pop(st.target.id, None)
            return lines
        raise Unsupported(f"statement {ast.unparse(st)!r}")

    # -- expressions ---------------------------------------------------------------------
    def expr(self, e: ast.expr) -> tuple[str, np.dtype]:
        if isinstance(e, ast.Name):
            if e.id in self.bound:
                v = self.bound[e.id]
                return c_literal(v), np.asarray(v).dtype
            if e.id in self.constants and not isinstance(self.constants[e.id], tuple):
                v = self.constants[e.id]
                return c_literal(v), np.asarray(v).dtype
            if e.id in self.types:
                return e.id, self.types[e.id]
            raise Unsupported(f"unknown name {e.id!r}")
        if isinstance(e, ast.Constant):
            if isinstance(e.value, bool):
                return c_literal(e.value), _BOOL
            if isinstance(e.value, int):
                return c_literal(e.value), _INT64
            if isinstance(e.value, float):
                return f"{e.value!r}" if np.isfinite(e.value) else c_literal(e.value), _F64
            raise Unsupported(f"constant {e.value!r}")
        if isinstance(e, ast.BinOp):
            return self.binop(e)
        if isinstance(e, ast.UnaryOp):
            a, dt = self.expr(e.operand)
            if isinstance(e.op, ast.USub):  # NOTE: -(-1.5f), not the decrement --1.5f
                return (f"(-({a}))" if a.startswith("-") else f"(-{a})"), dt
            if isinstance(e.op, ast.Not):
                return f"(!{a})", _BOOL
            if isinstance(e.op, ast.UAdd):
                return a, dt
            if isinstance(e.op, ast.Invert) and dt.kind in "iu":
                # NOTE: numba inverts narrow integers in 64 bits, as C promotes them to int:
                # the bits that are kept agree
                return f"(~{a})", dt if dt.itemsize == 8 else _INT64
        if isinstance(e, ast.Compare):
            parts, (left, ldt) = [], self.expr(e.left)
            for op, right in zip(e.ops, e.comparators, strict=True):
                if type(op) not in _CMP:
                    break
                r, rdt = self.expr(right)
                _check_signs(left, ldt, r, rdt)
                parts.append(f"({left} {_CMP[type(op)]} {r})")
                left, ldt = r, rdt
            else:
                return (parts[0] if len(parts) == 1 else f"({' && '.join(parts)})"), _BOOL
        if isinstance(e, ast.BoolOp):
            sym = " && " if isinstance(e.op, ast.And) else " || "
            return f"({sym.join(self.expr(v)[0] for v in e.values)})", _BOOL
        if isinstance(e, ast.IfExp):
            c, _ = self.expr(e.test)
            (a, da), (b, db) = self.expr(e.body), self.expr(e.orelse)
            _check_signs(a, da, b, db)
            return f"({c} ? {a} : {b})", np.promote_types(da, db)
        if isinstance(e, ast.Call):
            return self.call(e)
        raise Unsupported(f"expression {ast.unparse(e)!r}")

    def binop(self, e: ast.BinOp) -> tuple[str, np.dtype]:
        (a, da), (b, db) = self.expr(e.left), self.expr(e.right)
        if isinstance(e.op, ast.Pow):
            return f"pow({a}, {b})", np.promote_types(da, db)
        sym = _BIN.get(type(e.op))
        if sym is None:
            raise Unsupported(f"operator in {ast.unparse(e)!r}")
        ints = da.kind in "iu" and db.kind in "iu"
        if (ints and sym == "/") or (da == db == _BOOL and sym in "+-*"):
            # NOTE: Python's int / int is a float and True + True is 2: C differs in both
            raise Unsupported(f"{ast.unparse(e)!r} on {da} and {db}")
        if ints:
            _check_signs(a, da, b, db)
        if ints and sym in "+-*":
            # NOTE: numba computes integer arithmetic in 64 bits; C would overflow int
            wide = np.dtype("uint64") if da.kind == db.kind == "u" else _INT64
            t = C_TYPES[wide]
            return f"({_cast(t, a)} {sym} {_cast(t, b)})", wide
        if da == db == _BOOL:
            return f"({a} {sym} {b})", _BOOL
        return f"({a} {sym} {b})", np.promote_types(da, db)

    def call(self, e: ast.Call) -> tuple[str, np.dtype]:
        f = e.func
        args = [self.expr(a) for a in e.args]
        if e.keywords:
            raise Unsupported(f"call {ast.unparse(e)!r}")
        if isinstance(f, ast.Name) and f.id == "abs" and len(args) == 1:
            a, dt = args[0]
            return (f"fabs({a})" if dt.kind == "f" else f"gx_iabs({a})"), dt
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
            mod, name = f.value.id, f.attr
            if mod == "np" and len(args) == 1 and name in (
                    "bool_", *(d.name for d in C_TYPES)):
                dt = _BOOL if name == "bool_" else np.dtype(name)
                return _cast(C_TYPES[dt], args[0][0]), dt
            if mod in ("np", "math") and name in _MATH:
                dt = np.result_type(*[d for _, d in args])
                dt = dt if dt.kind == "f" else _F64
                return f"{_C_NAMES.get(name, name)}({', '.join(a for a, _ in args)})", dt
        raise Unsupported(f"call {ast.unparse(e)!r}")


def _check_signs(a: str, da: np.dtype, b: str, db: np.dtype) -> None:
    """Refuse a signed and an unsigned 64-bit operand together (C converts the signed one to
    unsigned, where numpy's result is a float), but for a non-negative literal."""
    for (x, dx), (_y, dy) in (((a, da), (b, db)), ((b, db), (a, da))):
        if dx.kind == "i" and dy.kind == "u" and max(dx.itemsize, dy.itemsize) == 8 \
                and not re.fullmatch(r"\d+(ll|LL)?", x):
            raise Unsupported(f"{dx} {x} with {dy}: C converts it to unsigned")


def cuda_source(program: FusedProgram) -> CudaSource:
    """The ``cupy.ElementwiseKernel`` parts of ``program`` (see the module docstring); raises
    ``Unsupported`` where a member's code uses Python the writer does not translate."""
    constants: dict[str, Any] = {}
    for line in module_constants(program):
        st = ast.parse(line).body[0]
        if not (isinstance(st, ast.Assign) and isinstance(st.targets[0], ast.Name)):
            raise Unsupported(f"module line {line!r}")
        constants[st.targets[0].id] = _value(st.value)
    types = {f"v{k}": s.dtype for k, s in enumerate(program.inputs)}
    writer = _Writer(constants, types)
    body = writer.block(ast.parse("\n".join(members_code(program))).body)
    last = f"m{len(program.members) - 1}"
    decls = [f"{C_TYPES[dt]} {name};" for name, dt in writer.declared.items()]
    operation = "\n".join([*decls, *body, f"out0 = {last};"])
    in_params = ", ".join(f"{s.dtype.name} v{k}" for k, s in enumerate(program.inputs))
    out_params = f"{program.spec.dtype.name} out0"
    digest = hashlib.sha1(f"{in_params}|{out_params}|{operation}".encode()).hexdigest()[:16]
    return CudaSource(f"gx_fused_{digest}", in_params, out_params, operation, PRELUDE)


class _Kernels:
    """The ElementwiseKernel of each program, per CuPy module: equal programs (by structure and
    dtypes, ``FusedProgram.__eq__``) share one; CuPy compiles it once per device and keeps it
    in its own disk cache."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_module: dict[int, tuple[Any, dict[Any, Any]]] = {}

    def get(self, program: FusedProgram, cupy: Any) -> Any:
        hit = self.by_module.get(id(cupy))
        kernel = None if hit is None or hit[0] is not cupy else hit[1].get(program)
        if kernel is None:
            with self.lock:
                hit = self.by_module.get(id(cupy))
                if hit is None or hit[0] is not cupy:
                    hit = self.by_module[id(cupy)] = (cupy, {})
                kernel = hit[1].get(program)
                if kernel is None:
                    try:
                        kernel = _Launch(program, cuda_source(program), cupy)
                    except Unsupported:
                        kernel = False
                    hit[1][program] = kernel
        return kernel or None

    def refuse(self, program: FusedProgram, cupy: Any) -> None:
        """Run ``program`` op by op from now on (its kernel did not compile)."""
        with self.lock:
            hit = self.by_module.get(id(cupy))
            if hit is not None and hit[0] is cupy:
                hit[1][program] = False

    def clear(self) -> None:
        with self.lock:
            self.by_module.clear()


class _Launch:
    """A program's ElementwiseKernel.  CuPy compiles it at its first launch: if NVRTC refuses
    the source, the program warns once and runs op by op (``Unsupported``) instead of failing."""

    def __init__(self, program: FusedProgram, src: CudaSource, cupy: Any) -> None:
        self.program, self.src, self.cupy = program, src, cupy
        self.kernel = cupy.ElementwiseKernel(src.in_params, src.out_params, src.operation,
                                             src.name, preamble=src.preamble, options=OPTIONS)
        self.launched = False
        self.options = OPTIONS

    def __call__(self, *args: Any) -> Any:
        if self.launched:
            return self.kernel(*args)
        refused = getattr(getattr(getattr(self.cupy, "cuda", None), "compiler", None),
                          "CompileException", None)
        try:
            out = self.kernel(*args)
        except Exception as e:
            if refused is None or not isinstance(e, refused):
                raise
            _KERNELS.refuse(self.program, self.cupy)
            warnings.warn(f"graphexec: the CUDA source of {self.program!r} did not compile "
                          f"({str(e).splitlines()[0] if str(e) else type(e).__name__}): it "
                          "runs op by op", RuntimeWarning, stacklevel=2)
            raise Unsupported(str(e)) from e
        self.launched = True
        return out


_KERNELS = _Kernels()


def elementwise_kernel(program: FusedProgram, cupy: Any) -> Any:
    """The ``cupy.ElementwiseKernel`` running ``program`` (made once per program and CuPy
    module), or None where its code cannot be translated.  Calling it raises ``Unsupported``
    if CuPy cannot compile it (the caller then runs the program op by op)."""
    return _KERNELS.get(program, cupy)


@contextlib.contextmanager
def fresh_cuda_kernels() -> Iterator[None]:
    """New kernel objects inside the block, as a new process makes them (CuPy's own disk cache
    still serves their compiled code): what a first call's cost is measured with."""
    saved = dict(_KERNELS.by_module)
    _KERNELS.clear()
    try:
        yield
    finally:
        with _KERNELS.lock:
            _KERNELS.by_module.clear()
            _KERNELS.by_module.update(saved)
