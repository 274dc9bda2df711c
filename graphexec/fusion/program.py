"""Fused elementwise groups: the ``fused_elementwise`` op and the program it runs.

The elementwise fusion pass (``graphexec.passes.fusion``) turns a group of elementwise nodes
into one ``fused_elementwise`` node whose ``program`` attribute, a :class:`FusedProgram`, lists
the original members.  The program runs in one of three ways (on the host, as
``config.set_fusion_backend`` says):

- **numba** (CPU, the ``jit`` extra): one loop kernel per program, written by
  ``graphexec.fusion.codegen`` from each member's own code (``OpDef.fusion``) and compiled and
  cached by ``graphexec.fusion.jit``.  A group made mostly of transcendental ops
  (``SIMD_RATIO``) runs as numpy's vectorised ufuncs instead once its inputs reach
  ``SIMD_MIN_SIZE`` elements: numba calls scalar libm for them.
- **CUDA** (cupy arrays): one ``cupy.ElementwiseKernel`` per program, whose source
  ``graphexec.fusion.cuda`` translates from the same members' code as the numba loop, cached
  by the program's structure and dtypes.  One launch, whatever the strides and broadcasting.
- **numpy** (no numba, the ``"numpy"`` backend, or arrays of another module): the members run
  one by one with the ops' own kernels, in place (``out=``) on as few reused buffers as
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
sin, cos, tan, tanh, pow, sigmoid, erf: ``OpDef.fusion.transcendental``) call libm where numpy
uses its own SIMD code: they stay within ``OpDef.fusion.ulp_for(dtype)`` ulp of numpy (4 ulp;
erf and sigmoid in float32, which carry exp's difference through longer formulas, 8 ulp), as the
tests measure. A float to integer cast saturates and gives 0 for NaN, in the loop as in the
op's kernel.
Dtypes fused: bool, signed and unsigned ints, float32 and float64; floor_divide, mod and round
are never fused, nor pow and reciprocal of integers, nor int64 arithmetic that can overflow (add,
subtract, multiply, negative, abs, square, add_n): signed overflow is undefined in the numba
loop, where numpy wraps (``fusable.OVERFLOW_UNDEFINED``).

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

import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, NamedTuple, cast

import numpy as np

from .. import config
from ..errors import DTypeError, GraphexecError, InvalidArgumentError, node_failed
from ..fusable import DTYPES
from ..ops import fused_nn
from ..ops.fused_nn import NO_GRADIENT
from ..registry import REGISTRY, OpDef, Spec, broadcast_shapes, refuse_vjp, register
from . import jit
from .codegen import kernel_source
from .cuda import Unsupported, elementwise_kernel

__all__ = ["FusedProgram", "Member", "fusible", "fused_elementwise_p", "PARALLEL_MIN_SIZE",
           "SIMD_MIN_SIZE", "SIMD_RATIO"]

#: with numba, a group with transcendental members runs as numpy's (SIMD) ufuncs in place when
#: its largest input has ``SIMD_MIN_SIZE`` elements or more and it has fewer than ``SIMD_RATIO``
#: other members per transcendental one
SIMD_MIN_SIZE = 1 << 14
#: outputs with at least this many elements run the parallel (prange) kernel: below it, waking
#: the threads costs more than the loop (measured on 2 cores)
PARALLEL_MIN_SIZE = 1 << 20
SIMD_RATIO = 8
_UNSEEN = object()  # a layout not in a program's cache

Operand = tuple[str, int]  # ("input", i) | ("member", j) | ("literal", k)


class Member(NamedTuple):
    """One node of a fused group: its original ``name``, ``op``, operands (``("input", i)``,
    ``("member", j)`` for an earlier member, ``("literal", k)``), output ``spec``, small
    ``attrs`` as sorted ``(key, value)`` pairs (cast's dtype) and the user's ``loc``.

    >>> import numpy as np
    >>> from graphexec.fusion import Member
    >>> from graphexec.registry import Spec
    >>> Member("neg", "negative", (("input", 0),), Spec((3,), np.dtype("float32")))
    Member(name='neg', op='negative', operands=(('input', 0),), spec=f32[3], attrs=(), loc='')
    """

    name: str
    op: Any  # the OpDef (a name is looked up when the program is made)
    operands: tuple[Operand, ...]
    spec: Spec
    attrs: tuple[tuple[str, Any], ...] = ()
    loc: str = ""


@lru_cache(maxsize=4096)
def _loop_dtypes(op: OpDef, dtypes: tuple[np.dtype, ...], out: np.dtype,
                 attrs: tuple[tuple[str, Any], ...]) -> tuple[np.dtype, ...] | None:
    """The dtypes the operands of ``op`` are converted to before it computes (numpy's loop),
    or None if the op, its dtypes or its attributes are not fused."""
    if op.fusion is None or out not in DTYPES or not all(d in DTYPES for d in dtypes):
        return None
    return op.fusion.loop(dtypes, out, attrs)


def fusible(op: Any, dtypes: Sequence[Any], out: Any, attrs: dict[str, Any] | None = None
            ) -> bool:
    """Whether a node of ``op`` with operands of ``dtypes`` and output dtype ``out`` (and
    ``attrs``) may be a member of a fused group.

    >>> from graphexec.fusion import fusible
    >>> fusible("add", ["float32", "float32"], "float32"), fusible("mod", ["int32"] * 2, "int32")
    (True, False)
    >>> fusible("pow", ["int64", "int64"], "int64"), fusible("cast", ["float64"], "int8",
    ...                                                      {"dtype": "int8"})
    (False, True)
    """
    if isinstance(op, str):
        op = REGISTRY.get(op)
        if op is None:
            return False
    items = tuple(sorted((attrs or {}).items()))
    try:
        key = tuple(np.dtype(d) for d in dtypes)
        hash(items)
    except TypeError:
        return False
    return _loop_dtypes(op, key, np.dtype(out), items) is not None


def coalesced(arrays: Sequence[Any], ndim: int,
              parallel: bool = False) -> list[tuple[int, ...]] | None:
    """The shapes that view ``arrays`` (the output first, then inputs that broadcast against
    it) with neighbouring axes merged where every array steps over the pair as over one axis
    (as numpy's iterator coalesces them), left-padded with unit axes back to ``ndim``; None
    when no axis merges (or, for a ``parallel`` kernel, when all would merge into one row,
    which its threads could not share out).  ``reshape`` to them makes views, never copies.

    >>> import numpy as np
    >>> p = np.zeros((8, 68, 68, 3), np.float32)
    >>> out = np.empty((8, 64, 64, 3), np.float32)
    >>> coalesced([out, p[:, 4:, 2:-2]], 4)
    [(1, 8, 64, 192), (1, 8, 64, 192)]
    >>> coalesced([out, p[:, 4:, 2:-2].transpose(0, 2, 1, 3)], 4) is None
    True
    """
    shape = arrays[0].shape
    axes = [d for d in range(ndim) if shape[d] != 1]
    dims = [[(1, 0)] * (ndim - a.ndim) + list(zip(a.shape, a.strides, strict=True))
            for a in arrays]
    groups: list[list[int]] = []
    for d in axes:
        if groups and all(
                (dd[d][0] == 1 and dd[groups[-1][-1]][0] == 1)
                or (dd[d][0] != 1 and dd[groups[-1][-1]][0] != 1
                    and dd[groups[-1][-1]][1] == dd[d][1] * dd[d][0]) for dd in dims):
            groups[-1].append(d)
        else:
            groups.append([d])
    if len(groups) == ndim or (parallel and len(groups) < 2):
        return None  # NOTE: a parallel kernel shares out the rows before the last axis
    pad = (1,) * (ndim - len(groups))
    # NOTE: each array keeps its own rank (the kernel's signature has it): the axes an input
    # lacks are broadcast, so they merge into leading unit axes
    shapes = [pad + tuple(math.prod(dd[d][0] for d in g) for g in groups) for dd in dims]
    return [s[ndim - a.ndim:] for s, a in zip(shapes, arrays, strict=True)]


def _order_key(inputs: Sequence[Any], xp: Any) -> tuple[Any, ...]:
    """The key of the output's axis order for ``inputs``' layout in a program's ``_layouts``."""
    return ("order", xp.__name__, *((a.shape, a.strides) for a in inputs))


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
    >>> from graphexec.fusion import FusedProgram, Member
    >>> from graphexec.registry import Spec
    >>> f32 = Spec((None,), np.dtype("float32"))
    >>> p = FusedProgram([f32], [Member("m", "multiply", (("input", 0), ("literal", 0)), f32),
    ...                          Member("e", "exp", (("member", 0),), f32)],
    ...                  literals=[np.float32(0.5)])
    >>> p, p.output, [m.op.name for m in p.members]
    (<fused 2: multiply, exp>, 1, ['multiply', 'exp'])
    >>> p(np, np.array([0.0, 2.0], "float32")).round(5)  # numba's exp or numpy's: 1 ulp apart
    array([1.     , 2.71828], dtype=float32)
    """

    #: equality and hash are by structure: CSE may key nodes by the program itself
    structural_eq = True

    def __init__(self, inputs: Sequence[Spec], members: Sequence[Member],
                 literals: Sequence[Any] = ()) -> None:
        self.inputs: tuple[Spec, ...] = tuple(inputs)
        self.members: tuple[Member, ...] = tuple(
            m._replace(op=REGISTRY[m.op]) if isinstance(m.op, str) else m for m in members)
        lits = []
        for v in literals:
            a = np.array(v)  # a copy: the program owns its literals
            if a.size != 1 or a.dtype not in DTYPES:
                raise InvalidArgumentError(f"a literal must be one number of a fused dtype, "
                                           f"got {a.dtype} of shape {a.shape}")
            a.flags.writeable = False
            lits.append(a)
        self.literals: tuple[np.ndarray, ...] = tuple(lits)
        if not self.inputs or not self.members:
            raise InvalidArgumentError("a fused program needs at least one input and member")
        self._loops = [self._check(j, m) for j, m in enumerate(self.members)]
        n_trans = sum(m.op.fusion.transcendental for m in self.members)
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
        self._sources: dict[tuple[bool, bool, tuple[bool, ...]], str] = {}
        self._generation = -1
        #: layouts seen: the inputs' (shapes, strides) -> the output's axis order, and the
        #: arrays' (shapes, strides) -> their coalesced shapes (``coalesced``)
        self._layouts: dict[Any, Any] = {}
        #: the inputs' (shapes, strides, dtypes) -> (output shape, axis order or None,
        #: kernel key, the arrays' views): what ``_run_numba`` decided for them (``_see``)
        self._seen: dict[Any, Any] = {}
        self._key_cache: tuple[Any, ...] | None = None
        self._frees: list[list[int]] | None = None  # the numpy path's plan, made on first use
        self._xp_literals: dict[str, tuple[Any, ...]] = {"numpy": self.literals}

    def _check(self, j: int, m: Member) -> tuple[np.dtype, ...]:
        where = f"fused member {j} ({m.name}: {getattr(m.op, 'name', m.op)})"
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
        if not isinstance(m.op, OpDef):
            raise InvalidArgumentError(f"{where}: not an op")
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
        return f"<fused {len(self.members)}: {', '.join(m.op.name for m in self.members)}>"

    # -- running ---------------------------------------------------------------------------
    def __call__(self, xp: Any, *inputs: Any, out: Any = None) -> Any:
        if xp is np:
            if (config.fusion_backend() == "numba"
                    and not (self._prefer_ufuncs and inputs
                             and max(a.size for a in inputs) >= SIMD_MIN_SIZE)):
                return self._run_numba(inputs, out)
        elif hasattr(xp, "ElementwiseKernel"):
            kernel = elementwise_kernel(self, xp)
            if kernel is not None:
                try:
                    return self._run_cuda(xp, kernel, inputs, out)
                except Unsupported:  # NVRTC refused the source (it warned): op by op
                    pass
        return self._run_numpy(xp, inputs, out)

    def _run_cuda(self, xp: Any, kernel: Any, inputs: Sequence[Any], out: Any) -> Any:
        """One launch of the program's ``cupy.ElementwiseKernel``, which follows the inputs'
        strides and broadcasts them."""
        try:
            shape = self.out_shape([a.shape for a in inputs])
        except ValueError:  # raise what the unfused graph raises
            return self._run_unfused(xp, inputs, out)
        if out is None:
            out = (xp.empty(shape, self._dtype) if all(a.flags.c_contiguous for a in inputs)
                   else self._empty_as_numpy(inputs, shape, xp))
            kernel(*inputs, out)
            return out
        if out.shape != shape or out.dtype != self._dtype:
            raise InvalidArgumentError(f"fused_elementwise: out is {out.dtype} of shape "
                                       f"{out.shape}, the result {self._dtype} of {shape}")
        target = out
        for a in inputs:  # NOTE: a thread reads its own element of ``out``, not another view
            if a is not out and xp.may_share_memory(a, out):
                target = xp.empty(shape, self._dtype)
                break
        kernel(*inputs, target)
        if target is not out:
            xp.copyto(out, target)
        return out

    def out_shape(self, shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
        """The output shape for inputs of ``shapes``: numpy broadcasting, then leading 1s up
        to the output's rank (a literal of shape ``(1, 1)`` adds rank, not size).

        >>> import numpy as np
        >>> from graphexec.fusion import FusedProgram, Member
        >>> from graphexec.registry import Spec
        >>> p = FusedProgram([Spec((3,), np.dtype("int32"))],
        ...                  [Member("n", "negative", (("input", 0),),
        ...                          Spec((1, 3), np.dtype("int32")))])
        >>> p.out_shape([(3,)])
        (1, 3)
        """
        shape = tuple(shapes[0])
        for s in shapes:
            if s != shape:  # NOTE: by hand: np.broadcast_shapes costs microseconds
                n = max(len(shape), len(s))
                a, b = (1,) * (n - len(shape)) + shape, (1,) * (n - len(s)) + tuple(s)
                if any(x != y and x != 1 and y != 1 for x, y in zip(a, b, strict=True)):
                    raise ValueError(f"shapes {shapes} cannot be broadcast together")
                shape = tuple(y if x == 1 else x for x, y in zip(a, b, strict=True))
        if len(shape) < self._ndim:
            shape = (1,) * (self._ndim - len(shape)) + tuple(shape)
        return tuple(shape)

    def _run_numba(self, inputs: Sequence[Any], out: Any) -> Any:
        if out is None:  # NOTE: a layout seen before: its decisions, remembered (``_seen``)
            seen = self._seen.get(tuple((a.shape, a.strides, a.dtype) for a in inputs))
            if seen is not None and self._generation == jit.generation():
                shape, perm, key, views = seen
                fn = self._kernels.get(key)
                if fn is not None:
                    target = (np.empty(shape, self._dtype) if perm is None
                              else self._empty_in_order(shape, perm))
                    if key[0]:  # flat: one-element inputs as 1-d arrays
                        fn(target, *[a.reshape(1) if v else a for a, v in zip(
                            inputs, views, strict=True)] if views else inputs)
                    elif views:
                        fn(*[a.reshape(v) for a, v in zip((target, *inputs), views,
                                                          strict=True)])
                    else:
                        fn(target, *inputs)
                    return target
        given = (inputs, out)
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
            arrays = [target, *inputs]
            key = tuple((a.shape, a.strides) for a in arrays)
            shapes = self._layouts.get(key, _UNSEEN)
            if shapes is _UNSEEN:
                shapes = coalesced(arrays, self._ndim, size >= PARALLEL_MIN_SIZE)
                self._remember(key, shapes)
            if shapes is not None:
                fn = self._kernel((False, size >= PARALLEL_MIN_SIZE, ()))
                if fn is None:  # compiling in the background: the ufuncs meanwhile
                    return self._run_numpy(np, *given)
                if given[1] is None:
                    self._see(given[0], shape, target, (False, size >= PARALLEL_MIN_SIZE, ()),
                              tuple(shapes))
                target_view, *inputs = [a.reshape(s) for a, s in zip(arrays, shapes, strict=True)]
                fn(target_view, *inputs)
                if target is not out:
                    np.copyto(out, target)
                return out
        elif scalars:
            inputs = [a.reshape(1) if s else a for a, s in zip(inputs, scalars, strict=True)]
        fn = self._kernel((flat, size >= PARALLEL_MIN_SIZE, scalars))
        if fn is None:
            return self._run_numpy(np, *given)
        if given[1] is None:
            self._see(given[0], shape, target, (flat, size >= PARALLEL_MIN_SIZE, scalars),
                      scalars)
        fn(target, *inputs)
        if target is not out:
            np.copyto(out, target)
        return out

    def _see(self, inputs: Sequence[Any], shape: tuple[int, ...], target: Any,
             key: tuple[bool, bool, tuple[bool, ...]], views: tuple[Any, ...]) -> None:
        """Remember what a call on these inputs' layout decided (the output's shape and axis
        order, the kernel, the inputs' views), so the next such call only allocates and runs."""
        perm = None
        if not all(a.flags.c_contiguous for a in inputs):  # the order _empty_as_numpy chose
            perm = self._layouts.get(_order_key(inputs, np))
            if perm is None:  # NOTE: forgotten meanwhile (the bound): not remembered now
                return
        if len(self._seen) >= 64:
            self._seen.clear()
        self._seen[tuple((a.shape, a.strides, a.dtype) for a in inputs)] = (
            tuple(shape), perm, key, views)

    def _remember(self, key: Any, value: Any) -> None:
        if len(self._layouts) >= 64:  # NOTE: a bound, for programs fed ever new strides
            self._layouts.clear()
        self._layouts[key] = value

    def _kernel(self, key: tuple[bool, bool, tuple[bool, ...]]) -> Callable[..., Any] | None:
        """The numba kernel of ``key`` (flat, parallel, scalars), compiled or loaded once;
        None while the background compiler makes it (``config.set_background_compile``)."""
        if self._generation != jit.generation():
            self._kernels.clear()
            self._sources.clear()
            self._generation = jit.generation()
        fn = self._kernels.get(key)
        if fn is None:
            source = self._sources.get(key)
            if source is None:
                source = self._sources[key] = kernel_source(self, *key)
            # NOTE: the kernel's explicit signature makes numba compile (or load from its disk
            # cache) when it is made, not at its first call
            fn = jit.kernel_when_ready(source)
            if fn is not None:
                self._kernels[key] = fn
        return fn

    def _empty_as_numpy(self, inputs: Sequence[Any], shape: tuple[int, ...],
                        xp: Any = np) -> Any:
        """An output laid out in memory as the unfused ops would leave it: numpy's (and
        CuPy's) ufuncs follow their operands' memory order, and what reads the result next (a
        matmul, a sum) may round differently in another order.  The order is found by running
        the unfused ops on slices of at most 2 along each axis of the inputs."""
        key = _order_key(inputs, xp)
        perm = self._layouts.get(key)
        if perm is None:
            probes = [a[(slice(0, 2),) * a.ndim] for a in inputs]
            with np.errstate(all="ignore"):
                strides = self._run_unfused(xp, probes, None).strides
            perm = sorted(range(len(shape)), key=lambda d: -strides[d])  # ties: C order
            self._remember(key, perm)
        return self._empty_in_order(shape, perm, xp)

    def _empty_in_order(self, shape: Sequence[int], perm: Sequence[int], xp: Any = np) -> Any:
        """An output of ``shape`` whose axes lie in memory in the order ``perm`` (outermost
        first)."""
        buf = xp.empty([shape[d] for d in perm], self._dtype)
        return buf.transpose([int(i) for i in np.argsort(perm)])

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
        # members whose kernel takes ``out=`` can run in place in a dying operand's buffer;
        # the others run their kernel, then a copy
        ufuncs = [m.op.out_arg for m in self.members]
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
                vals.append(xp.asarray(m.op.kernel(xp, *args, **dict(m.attrs))))
            except GraphexecError:
                raise
            except Exception as e:  # worded as the executor words a failing node
                raise node_failed(m.name, m.loc, e, m.op, args, dict(m.attrs)) from e
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
            if j == out_from and uf:
                pool.setdefault((out.shape, out.dtype), []).append(out)
            if uf:  # a kernel writing into ``out`` may write into a dying operand: free them
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
            if uf:
                m.op.kernel(xp, *args, out=target)
            else:
                xp.copyto(target, m.op.kernel(xp, *args, **dict(m.attrs)))
            vals[j] = target
            if not uf:
                for i in frees[j]:
                    pool.setdefault((vals[i].shape, vals[i].dtype), []).append(vals[i])
            if j == out_from and not uf and j != last:
                pool.setdefault((out.shape, out.dtype), []).append(out)
        return out


# -- the dense and conv epilogue on a GPU --------------------------------------------------------
@lru_cache(maxsize=512)
def epilogue_program(ndim: int, dtype: np.dtype, bias: tuple[tuple[int, np.dtype], ...],
                     activation: OpDef | None, bias_first: bool) -> FusedProgram | None:
    """The fused program of ``activation(y + b)`` (``b + y`` with ``bias_first``) for a product
    ``y`` of rank ``ndim`` and ``dtype`` and at most one bias of ``(rank, dtype)``; None where
    a member is not fusible in those dtypes.

    >>> import numpy as np, graphexec as gx
    >>> from graphexec.fusion.program import epilogue_program
    >>> f32 = np.dtype("float32")
    >>> epilogue_program(2, f32, ((1, f32),), gx.REGISTRY["relu"], False)
    <fused 2: add, relu>
    """
    out = Spec((None,) * ndim, dtype)
    inputs = [out] + [Spec((None,) * r, d) for r, d in bias]
    members = []
    if bias:
        members.append(Member("bias", "add", (("input", 1), ("input", 0)) if bias_first
                              else (("input", 0), ("input", 1)), out))
    if activation is not None:
        members.append(Member("activation", activation,
                              (("member", 0) if bias else ("input", 0),), out))
    try:
        return FusedProgram(inputs, members)
    except GraphexecError:
        return None


def _device_epilogue(xp: Any, out: Any, b: tuple[Any, ...], activation: OpDef | None,
                     bias_first: bool) -> bool:
    """``activation(out + b)`` written into ``out`` by one generated kernel (the epilogue of a
    cuBLAS product); False where the program cannot be fused or translated."""
    if not hasattr(xp, "ElementwiseKernel"):
        return False
    program = epilogue_program(out.ndim, out.dtype, tuple((a.ndim, a.dtype) for a in b),
                               activation, bias_first)
    kernel = None if program is None else elementwise_kernel(program, xp)
    if kernel is None:
        return False
    try:
        kernel(out, *b, out)  # NOTE: in place: each element reads its own value, then writes it
    except Unsupported:  # NVRTC refused the source (it warned): the steps one by one
        return False
    return True


fused_nn.DEVICE_EPILOGUE = _device_epilogue


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
def fused_elementwise_p(xp, *inputs, program, out=None):
    return program(xp, *inputs, out=out)


refuse_vjp(fused_elementwise_p, NO_GRADIENT)
