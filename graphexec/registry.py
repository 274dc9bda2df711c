"""The op registry: every primitive op is declared once, here or in ``graphexec.ops``.

An op is a kernel written against the array module ``xp`` (numpy or cupy), a shape/dtype
rule ``infer`` used by graph mode at build time and by eager mode for its checks, its gradient
rule and the facts the optimizer and the fused-loop writers read (``OpDef``).  Eager mode and
every executor call the very same ``kernel``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

from .errors import DTypeError, GraphexecError, InvalidArgumentError, ShapeError, op_error

__all__ = ["Spec", "OpDef", "REGISTRY", "register", "defvjp", "refuse_vjp"]

Shape = tuple[int | None, ...]


class Spec(NamedTuple):
    """Static description of a tensor: shape (``None`` for an unknown dim) and numpy dtype.

    Infer rules read only ``.shape`` and ``.dtype`` of their operands, so eager mode passes the
    arrays themselves.

    >>> import numpy as np, graphexec as gx
    >>> s = gx.Spec((None, 3), np.dtype("float32"))
    >>> s, s.shape, s.dtype
    (f32[?,3], (None, 3), dtype('float32'))
    """

    shape: Shape
    dtype: np.dtype

    def __repr__(self) -> str:
        dims = ",".join("?" if d is None else str(d) for d in self.shape)
        return f"{short_dtype(self.dtype)}[{dims}]"


_new_spec = tuple.__new__  # NOTE: skips NamedTuple's Python-level __new__ on the eager path

#: optimizer classes: elementwise ops map each element independently (with broadcasting),
#: reductions shrink axes, opaque ops are everything else, sources have no inputs.
KINDS = ("elementwise", "reduction", "opaque", "source")


@dataclass(slots=True, eq=False)
class OpDef:
    """One registered primitive: its kernel, infer rule, gradient rule and the facts the
    executor, the passes and the fused-loop writers read.  Code holds the ``OpDef`` (as JAX
    holds ``exp_p``) and compares it by identity; graph nodes store it under ``"op"``
    (``node["op"].name`` is its name).

    >>> import graphexec as gx
    >>> op = gx.REGISTRY["add"]
    >>> op, op.arity, op.n_outputs, op.pure, op.ufunc, op.name
    (<op add (elementwise)>, 2, 1, True, 'add', 'add')
    """

    name: str
    kernel: Callable[..., Any]
    infer: Callable[..., Spec | tuple[Spec, ...]]
    kind: str = "opaque"
    pure: bool = True
    n_outputs: int | None = 1  # None: as many as infer returns (split, unstack)
    arity: int | None = None  # number of tensor inputs; None = variadic
    # the kernel itself raises whenever infer would (numpy ufuncs: broadcasting and dtypes), so
    # eager mode may skip infer and consult it only to word an error
    kernel_checks: bool = False
    #: the gradient rule ``vjp(g, out, *inputs, **attrs) -> one gradient (or None) per input``;
    #: ``None``: the op passes no gradient (its outputs are constants to the backward pass)
    vjp: Callable[..., Any] | None = None
    vjp_needs: bool = False  # the rule takes ``needs``: which inputs want a gradient
    #: the kernel takes ``out=``: a preallocated, writeable array of the output's shape and
    #: dtype that it fills and returns (None: allocate).  Its output is always fresh; for an
    #: elementwise op ``out`` may be an input of the output's shape
    out_arg: bool = False
    #: the (numpy) result never shares memory with an input (true of every ``out_arg`` op)
    fresh: bool = False
    #: the numpy ufunc the kernel calls (``xp.<ufunc>(*inputs)``), if it is one
    ufunc: str | None = None
    #: how a fused elementwise loop computes it (``graphexec.fusable.Fusion``); None: never fused
    fusion: Any = None
    #: input slots whose value is never read, only their shape and dtype (the ``like``
    #: operands of the gradient primitives)
    shape_only: frozenset[int] = frozenset()
    #: the fused op that takes this op's bias add and activation (matmul -> fused_dense)
    epilogue: OpDef | None = None
    #: attributes holding subgraphs the op runs (a ``gx.cond``'s branches, a loop's body):
    #: the passes optimize inside them and the text form and pictures draw them
    subgraphs: tuple[str, ...] = ()

    @property
    def differentiable(self) -> bool:
        """Whether a gradient can flow through the op (it has a gradient rule)."""
        return self.vjp is not None

    @property
    def is_source(self) -> bool:
        """An op with no inputs whose value comes from outside the graph's computation."""
        return self.kind == "source"

    def __repr__(self) -> str:
        return f"<op {self.name} ({self.kind}{'' if self.pure else ', impure'})>"


REGISTRY: dict[str, OpDef] = {}


def register(
    name: str,
    *,
    infer: Callable[..., Spec | tuple[Spec, ...]],
    kind: str = "opaque",
    pure: bool = True,
    n_outputs: int | None = 1,
    arity: int | None = None,
    kernel_checks: bool = False,
    out_arg: bool = False,
    fresh: bool = False,
    ufunc: str | None = None,
    fusion: Any = None,
    shape_only: tuple[int, ...] = (),
    subgraphs: tuple[str, ...] = (),
) -> Callable[[Callable[..., Any]], OpDef]:
    """Decorator registering ``kernel(xp, *arrays, **attrs)`` as the primitive ``name``; it
    returns the ``OpDef``, which frontends pass to ``apply``.  ``infer(*specs, **attrs)`` gives
    the output spec(s) and raises ShapeError, DTypeError or InvalidArgumentError for bad
    operands; the other keywords are the facts of ``OpDef``.

    >>> import graphexec as gx
    >>> from graphexec.registry import REGISTRY, elementwise_infer, register
    >>> @register("demo_double", infer=elementwise_infer(lambda x: 2 * x), arity=1)
    ... def demo_double(xp, x):
    ...     return 2 * x
    >>> gx.apply(demo_double, gx.constant([1.0, 2.0]))
    Tensor([2., 4.], shape=(2,), dtype=float32)
    >>> del REGISTRY["demo_double"]  # leave the registry as it was
    """
    if kind not in KINDS:
        raise ValueError(f"unknown op kind {kind!r}")

    def deco(kernel: Callable[..., Any]) -> OpDef:
        if name in REGISTRY:
            raise ValueError(f"op {name!r} registered twice")
        op = OpDef(name, kernel, infer, kind, pure, n_outputs, arity, kernel_checks,
                   out_arg=out_arg, fresh=fresh or out_arg, ufunc=ufunc, fusion=fusion,
                   shape_only=frozenset(shape_only), subgraphs=tuple(subgraphs))
        REGISTRY[name] = op
        return op

    return deco


def defvjp(op: OpDef, vjp: Callable[..., Any]) -> None:
    """Attach ``vjp`` as the gradient rule of ``op`` (stored as ``OpDef.vjp``).

    >>> from graphexec.registry import REGISTRY, defvjp, elementwise_infer, register
    >>> op = register("demo_neg", infer=elementwise_infer(lambda x: -x))(lambda xp, x: -x)
    >>> def neg_vjp(*args):
    ...     pass
    >>> defvjp(op, neg_vjp)
    >>> op.vjp is neg_vjp, op.differentiable
    (True, True)
    >>> del REGISTRY["demo_neg"]  # leave the registry as it was
    """
    op.vjp = vjp
    # NOTE: a rule may take ``needs`` (one bool per input) to skip gradients nobody uses, such
    # as a matmul's gradient with respect to the data
    op.vjp_needs = "needs" in inspect.signature(vjp).parameters


def refuse_vjp(op: OpDef, why: str) -> None:
    """Give ``op`` a gradient rule that refuses: differentiating through it raises
    GraphexecError ``name: why — at <the user's line>`` (for forward-only ops whose outputs
    are real numbers, where passing no gradient would be a silent zero).

    >>> import graphexec as gx
    >>> from graphexec.registry import REGISTRY, elementwise_infer, refuse_vjp, register
    >>> op = register("demo_opaque", infer=elementwise_infer(lambda x: x))(lambda xp, x: x)
    >>> refuse_vjp(op, "has no gradient")
    >>> op.vjp(None, None, None)
    Traceback (most recent call last):
        ...
    graphexec.errors.GraphexecError: demo_opaque: has no gradient — at ...
    >>> del REGISTRY["demo_opaque"]  # leave the registry as it was
    """
    name = op.name

    def vjp(*args: Any, **attrs: Any) -> Any:
        raise op_error(GraphexecError, name, why)

    defvjp(op, vjp)


# ---------------------------------------------------------------------------------------------
# helpers shared by infer rules

_SHORT = {
    "float16": "f16", "float32": "f32", "float64": "f64", "int8": "i8", "int16": "i16",
    "int32": "i32", "int64": "i64", "uint8": "u8", "uint16": "u16", "uint32": "u32",
    "uint64": "u64", "bool": "bool", "complex64": "c64", "complex128": "c128",
}


def short_dtype(dtype: np.dtype) -> str:
    """The short dtype name of graph listings (``f32``, ``i64``, ``bool``).

    >>> from graphexec.registry import short_dtype
    >>> short_dtype("float32"), short_dtype("int64")
    ('f32', 'i64')
    """
    return _SHORT.get(np.dtype(dtype).name, np.dtype(dtype).name)


def fmt_shape(shape: Shape) -> str:
    """``shape`` as error messages show it: a Python tuple, ``None`` for unknown dims.

    >>> from graphexec.registry import fmt_shape
    >>> fmt_shape((None, 3)), fmt_shape((4,))
    ('(None, 3)', '(4,)')
    """
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def broadcast_shapes(*shapes: Shape) -> Shape:
    """numpy broadcasting with ``None`` for unknown dims; raises ShapeError on a mismatch.

    >>> from graphexec.registry import broadcast_shapes
    >>> broadcast_shapes((None, 1), (3,)), broadcast_shapes((2, 1), (1, 3))
    ((None, 3), (2, 3))
    """
    if len(shapes) == 2:
        key = shapes
        hit = _BROADCAST_SEEN.get(key)
        if hit is not None:
            return hit
        if len(_BROADCAST_SEEN) > 8192:
            _BROADCAST_SEEN.clear()
        _BROADCAST_SEEN[key] = out = _broadcast(shapes)
        return out
    return _broadcast(shapes)


_BROADCAST_SEEN: dict[tuple[Shape, ...], Shape] = {}


def shapes_match(a: Shape, b: Shape) -> bool:
    """Same rank and every dim known in both equal: the shapes may be the same at run time.

    >>> from graphexec.registry import shapes_match
    >>> shapes_match((None, 3), (2, 3)), shapes_match((2, 3), (3, 2))
    (True, False)
    """
    return len(a) == len(b) and all(i is None or j is None or i == j for i, j in zip(a, b))


def _broadcast(shapes: tuple[Shape, ...]) -> Shape:
    ndim = max(len(s) for s in shapes)
    out: list[int | None] = []
    for i in range(ndim):
        dim: int | None = 1
        for s in shapes:
            j = i - ndim + len(s)
            if j < 0:
                continue
            d = s[j]
            if d == 1:
                continue
            if d is None:
                dim = None if dim in (1, None) else dim
            elif dim == 1 or dim is None:
                dim = d
            elif dim != d:
                raise ShapeError(
                    "cannot broadcast shapes " + " and ".join(fmt_shape(s) for s in shapes)
                    + f" (dims {dim} and {d} differ)"
                )
        out.append(dim)
    return tuple(out)


@lru_cache(maxsize=4096)
def ufunc_dtype(fn: Callable[..., Any], *dtypes: np.dtype) -> np.dtype:
    """The dtype numpy gives for ``fn`` applied to arrays of ``dtypes`` (found by a tiny run).

    >>> import numpy as np
    >>> from graphexec.registry import ufunc_dtype
    >>> ufunc_dtype(np.add, np.dtype("int8"), np.dtype("float32"))
    dtype('float32')
    """
    with np.errstate(all="ignore"):
        return np.asarray(fn(*[np.ones(1, d) for d in dtypes])).dtype


def elementwise_infer(fn: Callable[..., Any]) -> Callable[..., Spec]:
    """``infer`` for an elementwise op whose dtype is what ``fn`` returns in numpy.

    >>> import numpy as np, graphexec as gx
    >>> from graphexec.registry import elementwise_infer
    >>> infer = elementwise_infer(np.true_divide)
    >>> infer(gx.Spec((None, 3), np.dtype("int32")), gx.Spec((3,), np.dtype("int32")))
    f64[?,3]
    """
    dtypes_seen: dict[tuple[np.dtype, ...], np.dtype] = {}

    def result_dtype(key: tuple[np.dtype, ...]) -> np.dtype:
        try:
            dtype = dtypes_seen[key] = ufunc_dtype(fn, *key)
        except TypeError as e:
            raise DTypeError(
                "unsupported dtypes " + ", ".join(str(d) for d in key) + f" ({e})"
            ) from None
        return dtype

    # NOTE: this runs on every eager op, so the one- and two-operand cases avoid generators.
    def infer(*specs: Spec, **attrs: Any) -> Spec:
        key: tuple[np.dtype, ...]  # annotation only: no runtime work
        if len(specs) == 2:
            x, y = specs
            shape = x.shape if x.shape == y.shape else broadcast_shapes(x.shape, y.shape)
            key = (x.dtype, y.dtype)
        elif len(specs) == 1:
            shape, key = specs[0].shape, (specs[0].dtype,)
        else:
            shape = broadcast_shapes(*[s.shape for s in specs])
            key = tuple(s.dtype for s in specs)
        dtype = dtypes_seen.get(key)
        return _new_spec(Spec, (shape, dtype if dtype is not None else result_dtype(key)))

    return infer


def normalize_axis(axis: Any, ndim: int) -> int:
    """``axis`` as a non-negative int; InvalidArgumentError for a non-int or out of range.

    >>> from graphexec.registry import normalize_axis
    >>> normalize_axis(-1, 3)
    2
    """
    if isinstance(axis, bool) or not isinstance(axis, int | np.integer):
        raise InvalidArgumentError(f"axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise InvalidArgumentError(f"axis {axis} is out of range for a tensor of rank {ndim}")
    return int(axis) % ndim


def normalize_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """Sorted, non-negative reduction axes (``None`` = all axes); repeats are an error.

    >>> from graphexec.registry import normalize_axes
    >>> normalize_axes((-1, 0), 3), normalize_axes(None, 2)
    ((0, 2), (0, 1))
    """
    if axis is None:
        return tuple(range(ndim))
    if axis.__class__ is int and -ndim <= axis < ndim:  # the common case, fast
        return (axis % ndim,)
    axes = tuple(axis) if isinstance(axis, list | tuple) else (axis,)
    out = tuple(sorted({normalize_axis(a, ndim) for a in axes}))
    if len(out) != len(axes):
        raise InvalidArgumentError(f"repeated axis in {axis}")
    return out
