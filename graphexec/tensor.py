"""Tensor, Variable and ``apply``: the one dispatch point of every op.

``apply(op, *inputs, **attrs)`` runs the op's kernel now (eager mode) or adds a node to the
graph being built (graph mode).  Both paths check the op with the same ``infer`` rule, so a
bad program fails the same way, with the same message, in both modes.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .context import _GRAPH, _TAPES, scope_prefix
from .errors import (
    DTypeError,
    ExecutionError,
    GraphError,
    GraphexecError,
    ShapeError,
    user_location,
)
from .registry import REGISTRY, OpDef, Spec, fmt_shape

if TYPE_CHECKING:
    from .ir import Graph

__all__ = ["Tensor", "SymbolicTensor", "Variable", "apply", "as_tensor", "constant"]

#: array module of eager mode (numpy; a device backend may swap it)
XP: Any = np

_ndarray = np.ndarray
#: how many gradient tapes are open in any thread; which ones record here is in _TAPES
TAPES_OPEN = [0]
_VALUE = operator.attrgetter("_value")
_PY_SCALARS = (bool, int, float, complex)


class Tensor:
    """A value (eager mode) or a symbolic output of a graph node (graph mode).

    >>> import graphexec as gx
    >>> t = gx.constant([[1.0, 2.0], [3.0, 4.0]])
    >>> (t @ t + 1.0).numpy()
    array([[ 8., 11.],
           [16., 23.]])
    >>> t.shape, t.dtype
    ((2, 2), dtype('float64'))
    """

    __slots__ = ("__weakref__", "_value")
    __array_priority__ = 1000  # numpy defers to our operators: ndarray + Tensor -> Tensor
    _graph: Graph | None = None  # set on SymbolicTensor only
    if TYPE_CHECKING:  # slots of SymbolicTensor, read wherever ``_graph`` is not None
        _node: str
        _index: int
        _spec: Spec

    def __init__(self, value: Any) -> None:
        self._value = value

    # -- static properties ----------------------------------------------------------------
    @property
    def shape(self) -> tuple[int | None, ...]:
        """Shape; graph tensors may have ``None`` for dims known only at run time.

        >>> import graphexec as gx
        >>> gx.constant([[1.0, 2.0, 3.0]]).shape
        (1, 3)
        """
        return self._value.shape

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype of the elements."""
        return self._value.dtype

    @property
    def ndim(self) -> int:
        """Number of axes (the rank).

        >>> import graphexec as gx
        >>> gx.constant([[1.0], [2.0]]).ndim
        2
        """
        return len(self.shape)

    @property
    def spec(self) -> Spec:
        """Shape and dtype as a ``Spec``.

        >>> import graphexec as gx
        >>> gx.constant([1, 2], dtype="int32").spec
        i32[2]
        """
        return Spec(self.shape, self.dtype)

    @property
    def graph(self) -> Graph | None:
        """The graph this tensor belongs to (``None`` for an eager tensor).

        >>> import graphexec as gx
        >>> with gx.graph() as g:
        ...     x = gx.placeholder((2,), name="x")
        >>> x.graph is g, gx.constant(1.0).graph
        (True, None)
        """
        return self._graph

    @property
    def name(self) -> str:
        """Graph node name (``node:i`` for the i-th output of a multi-output node); ``""`` for
        an eager tensor.

        >>> import graphexec as gx
        >>> with gx.graph():
        ...     x = gx.placeholder((2, 3), name="x")
        ...     parts = gx.unstack(x)
        >>> x.name, parts[1].name
        ('x', 'unstack:1')
        """
        if self._graph is None:
            return ""
        n_out = len(self._graph.nx.nodes[self._node]["specs"])
        return self._node if n_out == 1 else f"{self._node}:{self._index}"

    @property
    def T(self) -> Tensor:
        """The axes reversed (``transpose()``).

        >>> import graphexec as gx
        >>> gx.constant([[1, 2, 3]]).T.shape
        (3, 1)
        """
        return _array.transpose(self)

    # -- values -------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The value as a numpy array (eager tensors only; fetch graph tensors with
        ``Graph.run``).

        >>> import graphexec as gx
        >>> gx.constant([1.0, 2.0]).numpy()
        array([1., 2.])
        """
        if self._graph is not None:
            raise GraphError(
                f"tensor {self.name!r} is symbolic (graph {self._graph.name}): it has no value "
                "until the graph runs; fetch it with g.run(tensor, feeds)"
            )
        v = self._value
        return v if type(v) is _ndarray else to_numpy(v)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        v = self.numpy()
        if dtype is not None and v.dtype != dtype:
            if copy is False:
                raise ValueError(f"converting {v.dtype} to {np.dtype(dtype)} needs a copy, "
                                 "but copy=False was asked")
            return v.astype(dtype)
        return v.copy() if copy else v

    def item(self) -> Any:
        """The value of a one-element tensor as a Python scalar.

        >>> import graphexec as gx
        >>> gx.constant([[2.5]]).item()
        2.5
        """
        return self.numpy().item()

    def __bool__(self) -> bool:
        if self._graph is not None:
            raise GraphError(
                f"the truth value of symbolic tensor {self.name!r} is unknown while building a "
                "graph; use gx.where for data-dependent choices, or run eagerly"
            )
        return bool(self._value)

    def __float__(self) -> float:
        return float(self.numpy())

    def __int__(self) -> int:
        return int(self.numpy())

    def __index__(self) -> int:
        return self.numpy().__index__()

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        if self.shape[0] is None:
            raise GraphError(f"len() of {self.name!r}: its first dim is unknown until run time")
        return self.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        return iter(_array.unstack(self, axis=0))

    def __repr__(self) -> str:
        if self._graph is None:
            body = np.array2string(self.numpy(), separator=", ", prefix="Tensor(")
            return f"Tensor({body}, shape={self.shape}, dtype={self.dtype})"
        return (f"<Tensor {self.name!r} shape={fmt_shape(self.shape)} dtype={self.dtype} "
                f"graph={self._graph.name}>")

    __hash__ = object.__hash__  # identity hash: tensors are dict keys (feeds), == is elementwise

    # -- operators and methods: thin calls into graphexec.ops ----------------------------------
    def __add__(self, other: Any) -> Tensor:
        return _m.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _m.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return _m.subtract(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _m.subtract(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return _m.multiply(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _m.multiply(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return _m.divide(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _m.divide(other, self)

    def __floordiv__(self, other: Any) -> Tensor:
        return _m.floor_divide(self, other)

    def __rfloordiv__(self, other: Any) -> Tensor:
        return _m.floor_divide(other, self)

    def __mod__(self, other: Any) -> Tensor:
        return _m.mod(self, other)

    def __rmod__(self, other: Any) -> Tensor:
        return _m.mod(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return _m.pow(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return _m.pow(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return _linalg.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _linalg.matmul(other, self)

    def __neg__(self) -> Tensor:
        return _m.negative(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return _m.abs(self)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _m.equal(self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _m.not_equal(self, other)

    def __lt__(self, other: Any) -> Tensor:
        return _m.less(self, other)

    def __le__(self, other: Any) -> Tensor:
        return _m.less_equal(self, other)

    def __gt__(self, other: Any) -> Tensor:
        return _m.greater(self, other)

    def __ge__(self, other: Any) -> Tensor:
        return _m.greater_equal(self, other)

    def __getitem__(self, key: Any) -> Tensor:
        return _array.getitem(self, key)

    def reshape(self, *shape: Any) -> Tensor:
        """``x.reshape(2, 3)`` or ``x.reshape((2, 3))``, as numpy.

        >>> import graphexec as gx
        >>> gx.constant([1, 2, 3, 4, 5, 6]).reshape(2, -1).numpy()
        array([[1, 2, 3],
               [4, 5, 6]])
        """
        return _array.reshape(self, shape[0] if len(shape) == 1 else shape)

    def transpose(self, *perm: Any) -> Tensor:
        """``x.transpose()``, ``x.transpose(1, 0)`` or ``x.transpose((1, 0))``, as numpy.

        >>> import graphexec as gx
        >>> gx.zeros((2, 3, 4)).transpose(2, 0, 1).shape
        (4, 2, 3)
        """
        return _array.transpose(self, (perm[0] if len(perm) == 1 else perm) or None)

    def squeeze(self, axis: Any = None) -> Tensor:
        """Drop axes of size 1 (all of them, or those in ``axis``); see ``gx.squeeze``.

        >>> import graphexec as gx
        >>> gx.zeros((1, 3, 1)).squeeze().shape
        (3,)
        """
        return _array.squeeze(self, axis)

    def astype(self, dtype: Any) -> Tensor:
        """Converted to ``dtype``; see ``gx.cast``.

        >>> import graphexec as gx
        >>> gx.constant([1.7, -1.7]).astype("int32").numpy()
        array([ 1, -1], dtype=int32)
        """
        return _m.cast(self, dtype)

    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Sum over ``axis`` (``None``: all axes); see ``gx.sum``.

        >>> import graphexec as gx
        >>> gx.constant([[1, 2], [3, 4]]).sum(axis=0).numpy()
        array([4, 6])
        """
        return _m.sum(self, axis, keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Mean over ``axis`` (``None``: all axes); see ``gx.mean``.

        >>> import graphexec as gx
        >>> gx.constant([1.0, 2.0, 6.0]).mean().item()
        3.0
        """
        return _m.mean(self, axis, keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Largest value over ``axis`` (``None``: all axes); see ``gx.max``."""
        return _m.max(self, axis, keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Smallest value over ``axis`` (``None``: all axes); see ``gx.min``."""
        return _m.min(self, axis, keepdims)

    def prod(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Product over ``axis`` (``None``: all axes); see ``gx.prod``."""
        return _m.prod(self, axis, keepdims)

    def argmax(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """Index of the largest value along ``axis`` (``None``: flat index); see ``gx.argmax``.

        >>> import graphexec as gx
        >>> gx.constant([[1.0, 9.0], [5.0, 0.0]]).argmax(axis=1).numpy()
        array([1, 0])
        """
        return _m.argmax(self, axis, keepdims)

    def argmin(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """Index of the smallest value along ``axis`` (``None``: flat index); see
        ``gx.argmin``."""
        return _m.argmin(self, axis, keepdims)

    def clip(self, clip_value_min: Any, clip_value_max: Any) -> Tensor:
        """Values limited to ``[clip_value_min, clip_value_max]``; see ``gx.clip``.

        >>> import graphexec as gx
        >>> gx.constant([-2.0, 0.5, 3.0]).clip(0.0, 1.0).numpy()
        array([0. , 0.5, 1. ])
        """
        return _m.clip(self, clip_value_min, clip_value_max)


class SymbolicTensor(Tensor):
    """An output of a graph node: it has a static spec, and a value only inside ``run``.

    >>> import graphexec as gx
    >>> with gx.graph() as g:
    ...     y = gx.placeholder((None, 2), "float32", name="x") * 2.0
    >>> type(y).__name__, y.spec
    ('SymbolicTensor', f32[?,2])
    """

    __slots__ = ("_graph", "_index", "_node", "_spec")

    def __init__(self, graph: Graph, node: str, index: int, spec: Spec) -> None:
        self._value = None
        self._graph = graph
        self._node = node
        self._index = index
        self._spec = spec

    @property
    def shape(self) -> tuple[int | None, ...]:
        """Static shape from the node's spec (``None`` for a dim known only at run time)."""
        return self._spec.shape

    @property
    def dtype(self) -> np.dtype:
        """Static dtype from the node's spec."""
        return self._spec.dtype


class Variable(Tensor):
    """A mutable tensor that keeps its value across steps and graph runs.

    >>> import graphexec as gx
    >>> v = gx.Variable([1.0, 2.0], name="v")
    >>> v.assign_add([1.0, 1.0]).numpy()
    array([2., 3.])
    """

    __slots__ = ("trainable", "var_name")
    _count = 0

    def __init__(self, initial_value: Any, dtype: Any = None, name: str | None = None,
                 trainable: bool = True) -> None:
        if isinstance(initial_value, Tensor) and initial_value._graph is not None:
            raise GraphError(
                "Variable needs a concrete initial value, got symbolic tensor "
                f"{initial_value.name!r}; create it in eager mode (gx.eager())"
            )
        # NOTE: a private, read-only copy: fetched reads of it cannot change it behind its back
        value = _frozen(np.array(to_numpy(initial_value), dtype=dtype))
        super().__init__(value)
        Variable._count += 1
        # NOTE: like tf.Variable, the name carries the enclosing name scopes (dense/kernel)
        self.var_name = scope_prefix() + (name or f"Variable_{Variable._count}")
        self.trainable = trainable

    @property
    def name(self) -> str:
        """The variable's name, prefixed by the name scopes it was created in.

        >>> import graphexec as gx
        >>> with gx.name_scope("dense"):
        ...     v = gx.Variable(0.0, name="bias")
        >>> v.name
        'dense/bias'
        """
        return self.var_name

    def numpy(self) -> np.ndarray:
        """A copy of the current value (changing it does not change the variable).

        >>> import graphexec as gx
        >>> gx.Variable([1, 2], name="v").numpy()
        array([1, 2])
        """
        return to_numpy(self._value).copy()

    def value(self) -> Tensor:
        """The current value: an eager snapshot, or a read node in graph mode.

        >>> import graphexec as gx
        >>> v = gx.Variable([1.0, 2.0], name="v")
        >>> v.value()
        Tensor([1., 2.], shape=(2,), dtype=float64)
        >>> with gx.graph():
        ...     print(v.value().name)
        v
        """
        g = _GRAPH.get()
        return Tensor(self._value) if g is None else g.read_variable(self)

    def _checked(self, value: Any) -> Any:
        if isinstance(value, Tensor) and value._graph is not None:
            return value  # symbolic: the assign node's infer rule checks it
        what = f"assign to {self.var_name}"
        if isinstance(value, Tensor):
            arr = value._value
            # NOTE: a tensor's array is graphexec's own and never written to: share it
            if (type(arr) is np.ndarray and arr.dtype == self.dtype and arr.base is None
                    and arr.shape == self._value.shape):
                arr.flags.writeable = False
                return arr
        arr = convert(value, self.dtype, what, DTypeError)
        if arr.shape != self._value.shape:
            raise ShapeError(f"{what}: shape {arr.shape} differs from the variable's "
                             f"{self._value.shape} — at {user_location()}")
        return _frozen(arr)

    def assign(self, value: Any) -> Tensor:
        """Set the value (eager: now, returns the variable; graph: an ``assign`` node that sets
        it each time it runs).  The value keeps the variable's shape and dtype: data is
        converted only where no information is lost.

        >>> import graphexec as gx
        >>> v = gx.Variable([0.0, 0.0], name="v")
        >>> v.assign([1.0, 2.0]).numpy()
        array([1., 2.])
        >>> with gx.graph() as g:
        ...     double = v.assign(v * 2.0)
        >>> g.run(double), g.run(double), v.numpy()
        (array([2., 4.]), array([4., 8.]), array([4., 8.]))
        """
        g = _GRAPH.get()
        value = self._checked(value)
        if g is None:
            if isinstance(value, Tensor):
                raise GraphError(f"assign to {self.var_name}: symbolic value {value.name!r} "
                                 "used in eager mode")
            self._value = value
            return self
        return apply(REGISTRY["assign"], as_tensor(value), var=self)

    def assign_add(self, delta: Any) -> Tensor:
        """``assign(value() + delta)``.

        >>> import graphexec as gx
        >>> gx.Variable([1.0, 2.0], name="v").assign_add(0.5).numpy()
        array([1.5, 2.5])
        """
        return self.assign(self.value() + delta)

    def assign_sub(self, delta: Any) -> Tensor:
        """``assign(value() - delta)``.

        >>> import graphexec as gx
        >>> gx.Variable([1.0, 2.0], name="v").assign_sub([1.0, 1.0]).numpy()
        array([0., 1.])
        """
        return self.assign(self.value() - delta)

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), separator=", ", prefix="Variable(")
        return f"Variable({body}, name={self.var_name!r}, shape={self.shape}, dtype={self.dtype})"


def to_numpy(v: Any) -> Any:
    """``v`` as host data: a tensor's numpy value, a cupy array copied to the host, anything
    else as it is.

    >>> import graphexec as gx
    >>> from graphexec.tensor import to_numpy
    >>> to_numpy(gx.constant([1, 2])), to_numpy([3, 4])
    (array([1, 2]), [3, 4])
    """
    if isinstance(v, Tensor):
        return v.numpy()
    get = getattr(v, "get", None)  # cupy arrays
    return get() if get is not None and not isinstance(v, dict) else v


def constant(value: Any, dtype: Any = None, name: str | None = None) -> Tensor:
    """A tensor holding ``value`` (captured into the graph as a constant node in graph mode).

    >>> import graphexec as gx
    >>> gx.constant([1, 2, 3], dtype="float32")
    Tensor([1., 2., 3.], shape=(3,), dtype=float32)
    """
    if isinstance(value, Tensor):
        if dtype is None or np.dtype(dtype) == value.dtype:
            return value
        from .ops.math import cast

        return cast(value, dtype)
    arr = np.array(to_numpy(value), dtype=dtype)
    g = _GRAPH.get()
    if g is None:
        return Tensor(arr if XP is np else XP.asarray(arr))
    return g.constant(arr, name=name)


def as_tensor(value: Any, dtype: Any = None) -> Tensor:
    """``value`` if it is a Tensor already, else a tensor holding it.

    The result is an eager tensor even while a graph is built: a graph captures it as a
    constant node only when an op using it is added, so a failed op leaves nothing behind.

    >>> import graphexec as gx
    >>> from graphexec.tensor import as_tensor
    >>> t = gx.constant([1.0])
    >>> as_tensor(t) is t, as_tensor([1, 2], dtype="float32")
    (True, Tensor([1., 2.], shape=(2,), dtype=float32))
    """
    if isinstance(value, Tensor):
        return value
    arr = np.array(to_numpy(value), dtype=dtype)
    return Tensor(arr if XP is np else XP.asarray(arr))


_WEAK_DTYPES: dict[tuple[np.dtype, type], np.dtype] = {}
_SCALARS: dict[tuple[np.dtype, type, Any], Tensor] = {}


def weak(value: Any, other: Tensor) -> Tensor:
    """Convert a Python scalar next to tensor ``other`` the way numpy 2 does (NEP 50): the
    scalar takes ``other``'s dtype unless its kind is higher (a float next to ints).

    >>> import graphexec as gx
    >>> from graphexec.tensor import weak
    >>> weak(2, gx.constant([1.0], "float32")).dtype, weak(0.5, gx.constant([1], "int32")).dtype
    (dtype('float32'), dtype('float64'))
    """
    if isinstance(value, Tensor):
        return value
    kind = type(value)
    if kind not in _PY_SCALARS:
        return as_tensor(value)
    key = (other.dtype, kind)
    dtype = _WEAK_DTYPES.get(key)
    if dtype is None:
        dtype = _WEAK_DTYPES[key] = np.result_type(other.dtype, kind(0))
    # NOTE: programs repeat the same few scalars: reuse their read-only tensors (a graph then
    # captures each once); not zeros: -0.0 == 0.0 as a dict key, but not as an operand
    cache = value != 0
    if cache:
        t = _SCALARS.get((dtype, kind, value))
        if t is not None:
            return t
    try:
        arr = np.array(value, dtype)
    except OverflowError:
        raise DTypeError(f"Python scalar {value!r} does not fit dtype {dtype} of the other "
                         f"operand — at {user_location()}") from None
    arr.flags.writeable = False
    t = Tensor(arr if XP is np else XP.asarray(arr))
    if cache:
        if len(_SCALARS) > 1024:
            _SCALARS.clear()
        _SCALARS[(dtype, kind, value)] = t
    return t


def _frozen(arr: np.ndarray) -> np.ndarray:
    """A read-only array with ``arr``'s values, copying unless ``arr`` is already private."""
    if arr.base is not None or arr.flags.writeable:
        arr = arr.copy()
    arr.flags.writeable = False
    return arr


def convert(value: Any, dtype: np.dtype, what: str, cls: type[GraphexecError]) -> np.ndarray:
    """``value`` as a host array of ``dtype``, refusing any conversion that loses information.

    Typed data (numpy arrays and scalars, eager tensors) must cast safely (int8 -> float32 is
    fine, float64 -> float32 is not).  Python data may narrow within its kind (a list of floats
    into float32) but may not overflow, truncate or change kind (1.5 into an int).

    >>> import numpy as np, graphexec as gx
    >>> from graphexec.tensor import convert
    >>> convert([1.0, 2.0], np.dtype("float32"), "demo", gx.DTypeError)
    array([1., 2.], dtype=float32)
    >>> convert([1.5], np.dtype("int32"), "demo", gx.DTypeError)
    Traceback (most recent call last):
        ...
    graphexec.errors.DTypeError: demo: values of float64 cannot become int32 without losing ...
    """
    if isinstance(value, Tensor):
        value = value.numpy()
    typed = isinstance(value, np.ndarray | np.generic)
    arr = np.asarray(to_numpy(value))
    if arr.dtype == dtype:
        return arr
    rule: Literal["safe", "same_kind"] = "safe" if typed else "same_kind"
    with np.errstate(all="ignore"):
        out = arr.astype(dtype) if np.can_cast(arr.dtype, dtype, rule) else None
    if out is not None and not typed:
        with np.errstate(all="ignore"):
            if dtype.kind in "iub":
                lost = not np.array_equal(out, arr)
            else:
                lost = bool(np.any(np.isinf(out) & ~np.isinf(arr)))
        out = None if lost else out
    if out is None:
        raise cls(f"{what}: {'dtype ' + str(arr.dtype) if typed else 'values of ' + str(arr.dtype)}"
                  f" cannot become {dtype} without losing information — convert explicitly")
    return out


def static_value(x: Any) -> np.ndarray | None:
    """The value of ``x`` if it is known while the program is built, else ``None``: Python and
    numpy data, eager tensors, and constant nodes of a graph (a Variable read inside a graph is
    only known when the graph runs).

    >>> import graphexec as gx
    >>> from graphexec.tensor import static_value
    >>> with gx.graph():
    ...     c = gx.constant([1.0, 2.0])
    ...     x = gx.placeholder((2,), name="x")
    ...     print(static_value(c), static_value(x))
    [1. 2.] None
    """
    if not isinstance(x, Tensor):
        return np.asarray(x)
    if x._graph is None:
        return None if isinstance(x, Variable) and _GRAPH.get() is not None else x.numpy()
    d = x._graph.nx.nodes[x._node]
    return d["attrs"]["value"] if d["op"] == "constant" else None


def _eager_out(out: Any) -> Tensor:
    return Tensor(out if type(out) is _ndarray else XP.asarray(out))


def _mode_error(op: OpDef, x: Tensor, g: Graph | None) -> GraphError:
    assert x._graph is not None  # only a symbolic tensor is in the wrong mode
    loc = user_location()
    if g is None:
        return GraphError(
            f"{op.name}: input {x.name!r} is a symbolic tensor of graph {x._graph.name}, but "
            "this code runs eagerly (its graph block is closed); reopen that graph with "
            f"`with gx.graph(g):` to extend it, or fetch values with g.run — at {loc}"
        )
    return GraphError(f"{op.name}: input {x.name!r} belongs to graph {x._graph.name}, not to "
                      f"graph {g.name} being built; tensors of two graphs cannot mix — at {loc}")


def apply(op: OpDef, *inputs: Tensor, **attrs: Any) -> Any:
    """Run ``op`` now (eager) or record it into the current graph; the one dispatch point.

    ``attrs`` are the op's non-tensor arguments, passed to its kernel and infer rule as
    keywords; frontends such as ``gx.sum`` check them first.

    >>> import graphexec as gx
    >>> gx.apply(gx.REGISTRY["add"], gx.constant([1.0]), gx.constant([2.0]))
    Tensor([3.], shape=(1,), dtype=float64)
    >>> with gx.graph() as g:
    ...     y = gx.apply(gx.REGISTRY["sum"], gx.constant([1.0, 2.0]), axis=(0,), keepdims=False)
    >>> y.name, g.run(y)
    ('sum', array(3.))
    """
    g = _GRAPH.get()
    if g is not None:
        for x in inputs:
            if x._graph is not g and x._graph is not None:
                raise _mode_error(op, x, g)
        return g.add_op(op, inputs, attrs)
    vals = list(map(_VALUE, inputs))
    for v in vals:
        if v is None:  # only symbolic tensors have no value
            raise _mode_error(op, next(x for x in inputs if x._value is None), None)
    if not op.kernel_checks:
        try:
            op.infer(*vals, **attrs)  # arrays have .shape and .dtype, all an infer rule reads
        except GraphexecError as e:
            raise type(e)(f"{op.name}: {e} — at {user_location()}") from None
    try:
        out = op.kernel(XP, *vals, **attrs)
    except GraphexecError:
        raise
    except Exception as e:  # a kernel failure: name the op and the user's line
        if op.kernel_checks:  # the infer rule words the same failure as graph mode does
            try:
                op.infer(*vals, **attrs)
            except GraphexecError as ie:
                raise type(ie)(f"{op.name}: {ie} — at {user_location()}") from None
        raise ExecutionError(f"{op.name}: {type(e).__name__}: {e} — at {user_location()}") from e
    result = (Tensor(out if type(out) is _ndarray else XP.asarray(out)) if op.n_outputs == 1
              else tuple(_eager_out(o) for o in out))
    if TAPES_OPEN[0]:  # NOTE: one list read is all the eager path pays when no tape is open
        for tape in _TAPES.get():
            tape._record(op, inputs, attrs, result)
    return result


# NOTE: imported last: the op modules build on the classes above
from .ops import array as _array  # noqa: E402
from .ops import linalg as _linalg  # noqa: E402
from .ops import math as _m  # noqa: E402
