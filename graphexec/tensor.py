"""Tensor and ``apply``: the one dispatch point of every op.

``apply(op, *inputs, **attrs)`` runs the op's kernel now (eager mode) or adds a node to the
graph being built (graph mode).  Both paths check the op with the same ``infer`` rule, so a
bad program fails the same way, with the same message, in both modes.

This module imports no op: the operators and methods of ``Tensor`` (``+``, ``@``, ``.sum()``,
...) are installed by ``graphexec.ops.methods``, and ``Variable`` lives with the state ops in
``graphexec.ops.state``.
"""

from __future__ import annotations

import operator
import time
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from . import config
from .context import _GRAPH, _TAPES
from .device import _DEVICE, CPU, Device, device_of, to_device
from .errors import (
    ConcretizationError,
    DeviceError,
    DTypeError,
    ExecutionError,
    GraphError,
    GraphexecError,
    user_location,
)
from .registry import OpDef, Spec, fmt_shape

if TYPE_CHECKING:
    from .ir import GraphIR as Graph
    from .ops.methods import TensorMethods
else:
    TensorMethods = object  # the operators and methods are installed by graphexec.ops.methods

__all__ = ["Tensor", "SymbolicTensor", "apply", "as_tensor"]

_ndarray = np.ndarray
#: how many gradient tapes are open in any thread; which ones record here is in _TAPES
TAPES_OPEN = [0]
#: the eager profiler's hook (``gx.profile``): called with each eager op and its seconds
PROFILER: list[Any] = [None]
_clock = time.perf_counter
_VALUE = operator.attrgetter("_value")
_PY_SCALARS = (bool, int, float, complex)
_PY_SCALAR_SET = frozenset(_PY_SCALARS)
_PY_DATA_SET = _PY_SCALAR_SET | {list, tuple}
_FLOAT_MAX: dict[np.dtype, float] = {}


class Tensor(TensorMethods):
    """A value (eager mode) or a symbolic output of a graph node (graph mode).

    >>> import graphexec as gx
    >>> t = gx.constant([[1.0, 2.0], [3.0, 4.0]])
    >>> (t @ t + 1.0).numpy()
    array([[ 8., 11.],
           [16., 23.]], dtype=float32)
    >>> t.shape, t.dtype
    ((2, 2), dtype('float32'))
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
    def device(self) -> Device | None:
        """Where the value lives (``gx.Device``); None for a symbolic tensor, whose graph
        runs wherever ``Graph.run`` is told to.

        >>> import graphexec as gx
        >>> gx.constant([1.0]).device
        Device('cpu')
        """
        return None if self._graph is not None else device_of(self._value)

    def to(self, device: Any) -> Tensor:
        """This tensor on ``device`` (``"cpu"``, ``"gpu"``, ``"cuda:N"``): itself when it is
        there already, else a copy.

        >>> import graphexec as gx
        >>> t = gx.constant([1.0])
        >>> t.to("cpu") is t
        True
        """
        dev = Device.parse(device, "to")
        value = self._eager("to")
        moved = to_device(value, dev, "to")
        return self if moved is value else Tensor(moved)

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

    # -- values -------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The value as a numpy array (eager tensors only; fetch graph tensors with
        ``Graph.run``).

        >>> import graphexec as gx
        >>> gx.constant([1.0, 2.0]).numpy()
        array([1., 2.], dtype=float32)
        """
        if self._graph is not None:
            raise GraphError(
                f"tensor {self.name!r} is symbolic (graph {self._graph.name}): it has no value "
                "until the graph runs; fetch it with g.run(tensor, feeds)"
            )
        v = self._value
        return v if type(v) is _ndarray else to_numpy(v)

    def __dlpack__(self, *, stream: Any = None, max_version: tuple[int, int] | None = None,
                   dl_device: Any = None, copy: bool | None = None) -> Any:
        """The value as a DLPack capsule, without a copy: ``np.from_dlpack``,
        ``torch.from_dlpack``, ``jax.dlpack.from_dlpack`` and ``gx.from_dlpack`` take an eager
        tensor as it is.  A read-only value (a Variable's) goes to consumers of DLPack 1.0,
        which carry the read-only flag; older ones get numpy's BufferError.

        >>> import numpy as np, graphexec as gx
        >>> t = gx.constant([1.0, 2.0])
        >>> a = np.from_dlpack(t)
        >>> a, np.shares_memory(a, t._value)
        (array([1., 2.], dtype=float32), True)
        """
        v = self._eager("__dlpack__")
        options = {"stream": stream, "max_version": max_version, "dl_device": dl_device,
                   "copy": copy}
        try:
            return v.__dlpack__(**{k: o for k, o in options.items() if o is not None})
        except BufferError as e:
            if getattr(v, "flags", None) is None or v.flags.writeable:
                raise
            raise BufferError(f"{e}: this tensor's memory is read-only (a Variable's value, "
                              "or a view of one) and the consumer speaks a DLPack without the "
                              "read-only flag; give it a copy (np.from_dlpack(t, copy=True), "
                              "or t.numpy().copy())") from None

    def __dlpack_device__(self) -> tuple[int, int]:
        """``(device type, device id)`` of the value, as DLPack numbers them (1, 0: the CPU).

        >>> import graphexec as gx
        >>> gx.constant(1.0).__dlpack_device__()
        (1, 0)
        """
        kind, index = self._eager("__dlpack_device__").__dlpack_device__()
        return int(kind), int(index)

    def _eager(self, what: str) -> Any:
        """The value of an eager tensor; GraphError naming ``what`` for a symbolic one."""
        if self._graph is not None:
            raise GraphError(f"{what} of {self.name!r}: the tensor is symbolic (graph "
                             f"{self._graph.name}) and has no value until the graph runs")
        return self._value

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
            raise _concretization(self, "Python's if, while, and, or or bool()")
        return bool(self._value)

    def __float__(self) -> float:
        if self._graph is not None:
            raise _concretization(self, "float()")
        return float(self.numpy())

    def __int__(self) -> int:
        if self._graph is not None:
            raise _concretization(self, "int()")
        return int(self.numpy())

    def __index__(self) -> int:
        if self._graph is not None:
            raise _concretization(self, "an index, a size or range() of")
        return self.numpy().__index__()

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        if self.shape[0] is None:
            raise GraphError(f"len() of {self.name!r}: its first dim is unknown until run time")
        return self.shape[0]

    def __repr__(self) -> str:
        if self._graph is None:
            body = np.array2string(self.numpy(), separator=", ", prefix="Tensor(")
            return f"Tensor({body}, shape={self.shape}, dtype={self.dtype})"
        return (f"<Tensor {self.name!r} shape={fmt_shape(self.shape)} dtype={self.dtype} "
                f"graph={self._graph.name}>")

    __hash__ = object.__hash__  # identity hash: tensors are dict keys (feeds), == is elementwise

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


def _python_data(value: Any) -> bool:
    """Whether ``value`` is Python numbers or (nested) lists and tuples of them."""
    t = type(value)
    if t in _PY_SCALARS:
        return True
    if t is not list and t is not tuple:
        return False
    kinds = set(map(type, value))  # NOTE: C speed on long lists of numbers
    if kinds <= _PY_SCALAR_SET:
        return True
    return kinds <= _PY_DATA_SET and all(_python_data(v) for v in value
                                         if type(v) is list or type(v) is tuple)


def default_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype Python data of numpy's ``dtype`` takes: float64 becomes the default float dtype
    (``gx.config.set_floatx``), complex128 the complex dtype of its precision.

    >>> import numpy as np
    >>> from graphexec.tensor import default_dtype
    >>> default_dtype(np.dtype("float64")), default_dtype(np.dtype("int64"))
    (dtype('float32'), dtype('int64'))
    """
    fx = config.floatx()
    if dtype == np.float64:
        return fx
    if dtype == np.complex128 and fx != np.float64:
        return np.dtype(np.complex64)
    return dtype


def host_array(value: Any, dtype: Any = None) -> np.ndarray:
    """``value`` as a host array of ``dtype``; with none given, typed data (numpy arrays and
    scalars, tensors) keeps its dtype and Python data takes numpy's, with floats in the default
    float dtype.  A Python float the default dtype cannot hold is a DTypeError, not an inf.

    >>> from graphexec.tensor import host_array
    >>> host_array([1.5, 2]).dtype, host_array([1, 2]).dtype, host_array(True).dtype
    (dtype('float32'), dtype('int64'), dtype('bool'))
    """
    if dtype is not None or not _python_data(value):
        return np.array(to_numpy(value), dtype=dtype)
    fx = config.floatx()
    top = _FLOAT_MAX.get(fx)
    if top is None:
        top = _FLOAT_MAX[fx] = float(np.finfo(fx).max)
    if type(value) is float and -top <= value <= top:  # the common case, quickly
        return np.array(value, fx)
    arr = np.array(value)
    want = default_dtype(arr.dtype)
    if want == arr.dtype:
        return arr
    if arr.dtype.kind == "f" and arr.size:
        # NOTE: Python's min and max beat numpy's on a few numbers; a NaN fails the test
        lo, hi = (min(value), max(value)) if arr.ndim == 1 and arr.size <= 32 else \
            (arr.min(), arr.max())
        if -top <= lo and hi <= top:
            return arr.astype(want)  # every value fits: no overflow to look for
    with np.errstate(all="ignore"):
        out = arr.astype(want)
        lost = np.isinf(out) & ~np.isinf(arr)
    if lost.any():
        raise DTypeError(f"the Python number {arr[lost].flat[0].item()!r} does not fit {want}, the "
                         f"default float dtype: give dtype='float64', or call "
                         f"gx.config.set_floatx('float64') — at {user_location()}")
    return out


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
    arr = host_array(value, dtype)
    dev = _DEVICE.get()
    if dev is not CPU and arr.ndim and _GRAPH.get() is None:
        # NOTE: data given to an eager op in a gx.device block is a constant made there, as
        # gx.constant's; a 0-d value stays a host scalar (it joins any device's operands)
        return Tensor(to_device(arr, dev, "constant"))
    return Tensor(arr)


_WEAK_DTYPES: dict[tuple[np.dtype, type, np.dtype], np.dtype] = {}
_SCALARS: dict[tuple[np.dtype, type, Any], Tensor] = {}
#: the same tensors by the other operand's dtype: (its dtype, type, value, floatx) -> tensor
_NEXT_TO: dict[tuple[Any, ...], Tensor] = {}


def weak(value: Any, other: Tensor) -> Tensor:
    """Convert a Python scalar next to tensor ``other`` the way numpy 2 does (NEP 50): the
    scalar takes ``other``'s dtype unless its kind is higher; a float next to integers takes
    the float dtype numpy promotes them to with the default float dtype.

    >>> import graphexec as gx
    >>> from graphexec.tensor import weak
    >>> weak(2, gx.constant([1.0], "float64")).dtype, weak(0.5, gx.constant([1], "int8")).dtype
    (dtype('float64'), dtype('float32'))
    >>> weak(0.1, gx.constant([1], "int64")).dtype  # float32 would round 0.1
    dtype('float64')
    """
    kind = type(value)
    if (kind is float or kind is int) and value:  # NOTE: the eager hot path, one lookup
        t = _NEXT_TO.get((other.dtype, kind, value, config.floatx()))
        if t is not None:
            return t
    if isinstance(value, Tensor):
        return value
    if kind not in _PY_SCALARS:
        return as_tensor(value)
    key = (other.dtype, kind, config.floatx())
    dtype = _WEAK_DTYPES.get(key)
    if dtype is None:
        dtype = np.result_type(other.dtype, kind(0))
        if other.dtype.kind in "biu" and dtype.kind in "fc":
            # NOTE: a float next to integers: the float dtype the integers promote to with the
            # default float dtype (bool, int8, int16 with float32: float32; int32 and int64:
            # float64), so the scalar is never rounded below what the result holds
            dtype = np.result_type(other.dtype, default_dtype(dtype))
        _WEAK_DTYPES[key] = dtype
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
    t = Tensor(arr)
    if cache:
        if len(_SCALARS) > 1024:
            _SCALARS.clear()
            _NEXT_TO.clear()
        _SCALARS[(dtype, kind, value)] = t
        _NEXT_TO[(other.dtype, kind, value, key[2])] = t
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


def _eager_out(out: Any) -> Tensor:
    return Tensor(out if type(out) is _ndarray else np.asarray(out))


def _kept(out: Any, xp: Any) -> Any:
    """A kernel's result as a device array (a device array as it is)."""
    return out if hasattr(out, "__cuda_array_interface__") else xp.asarray(out)


def _apply_on_device(op: OpDef, inputs: tuple[Tensor, ...], vals: list[Any],
                     attrs: dict[str, Any], prof: Any, t0: float) -> Any:
    """``apply``'s eager path for inputs on a device (or a creation op in a ``gx.device``
    block): the kernel runs with that device's array module, on it, and so do its results;
    0-d host inputs (a Python number's tensor) join as scalars, other mixes are DeviceErrors.
    A host-only op here is an ndarray subclass's (a memmap): it runs on numpy."""
    devices = [device_of(v) for v in vals]
    there = next((d for d in devices if d != CPU), None)
    if there is None:
        there = CPU if vals else _DEVICE.get()
    for i, (v, d) in enumerate(zip(vals, devices, strict=True)):
        if d != there and not (d == CPU and v.ndim == 0):
            raise DeviceError(
                f"{op.name}: input {i} ({Spec(v.shape, v.dtype)!r}) is on {d}, input "
                f"{devices.index(there)} on {there}: move one with .to(...) — at "
                f"{user_location()}")
    if not op.kernel_checks:
        _infer_checked(op, vals, attrs)
    xp = there.xp(op.name)
    if there == CPU:
        vals = [np.asarray(v) for v in vals]
        try:
            out = op.kernel(np, *vals, **attrs)
        except GraphexecError:
            raise
        except Exception as e:
            raise _kernel_failed(op, vals, attrs, e, "") from e
        result = (Tensor(np.asarray(out)) if op.n_outputs == 1
                  else tuple(_eager_out(o) for o in out))
        return _recorded(op, inputs, attrs, result, prof, t0)
    with xp.cuda.Device(there.index):
        vals = [xp.asarray(v) if d != there else v for v, d in zip(vals, devices, strict=True)]
        try:
            out = op.kernel(xp, *vals, **attrs)
        except GraphexecError:
            raise
        except Exception as e:
            raise _kernel_failed(op, vals, attrs, e, f" on {there}") from e
        # NOTE: results as they are: asarray on another current device would copy them
        result = (Tensor(_kept(out, xp)) if op.n_outputs == 1
                  else tuple(Tensor(_kept(o, xp)) for o in out))
    return _recorded(op, inputs, attrs, result, prof, t0)


def _concretization(t: Tensor, what: str) -> ConcretizationError:
    """The error of Python needing symbolic tensor ``t``'s value while its graph is traced."""
    assert t._graph is not None  # only a symbolic tensor has no value yet
    name = t._graph.name
    g: Any = t._graph
    fn = None
    while g is not None and fn is None:
        fn = getattr(g, "traced_function", None)
        g = getattr(g, "outer", None)
    why = (f"the graph runs, and tracing {fn} builds one graph for every value" if fn
           else f"graph {name} runs")
    run = (f"gx.config.run_functions_eagerly(True): run {fn} eagerly, with Python's control "
           "flow (and no graph)" if fn else "eager mode (outside gx.graph()): Python's control "
           "flow on values")
    return ConcretizationError(
        f"{fn or name}: {what} on symbolic tensor {t.name!r} "
        f"({Spec(t.shape, np.dtype(t.dtype))!r}) — at {user_location()}: its value is known "
        f"only when {why}. Ways out:\n"
        "  - gx.cond(pred, true_fn, false_fn, *operands), gx.while_loop(cond_fn, body_fn, "
        "loop_vars) or gx.scan(fn, init, xs): control flow inside the graph\n"
        "  - gx.where(pred, x, y): compute both sides and pick elementwise\n"
        f"  - {run}")


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
    Tensor([3.], shape=(1,), dtype=float32)
    >>> with gx.graph() as g:
    ...     y = gx.apply(gx.REGISTRY["sum"], gx.constant([1.0, 2.0]), axis=(0,), keepdims=False)
    >>> y.name, g.run(y)
    ('sum', array(3., dtype=float32))
    """
    g = _GRAPH.get()
    if g is not None:
        for x in inputs:
            if x._graph is not g and x._graph is not None and not g._sees(x._graph):
                raise _mode_error(op, x, g)
        return g.add_op(op, inputs, attrs)
    prof = PROFILER[0]
    t0 = _clock() if prof is not None else 0.0
    vals = list(map(_VALUE, inputs))
    for v in vals:
        if type(v) is not _ndarray:
            if any(x is None for x in vals):  # only symbolic tensors have no value
                raise _mode_error(op, next(x for x in inputs if x._value is None), None)
            return _apply_on_device(op, inputs, vals, attrs, prof, t0)
    if not vals and _DEVICE.get() is not CPU:  # a creation op in a gx.device block
        return _apply_on_device(op, inputs, vals, attrs, prof, t0)
    if not op.kernel_checks:
        _infer_checked(op, vals, attrs)
    try:
        out = op.kernel(np, *vals, **attrs)
    except GraphexecError:
        raise
    except Exception as e:  # a kernel failure: name the op and the user's line
        raise _kernel_failed(op, vals, attrs, e, "") from e
    result = (Tensor(out if type(out) is _ndarray else np.asarray(out)) if op.n_outputs == 1
              else tuple(_eager_out(o) for o in out))
    if prof is None and not TAPES_OPEN[0]:  # NOTE: no call when nothing records
        return result
    return _recorded(op, inputs, attrs, result, prof, t0)


def _infer_checked(op: OpDef, vals: list[Any], attrs: dict[str, Any]) -> None:
    """The infer rule on the eager inputs (arrays have .shape and .dtype, all a rule reads);
    its error names the op and the user's line."""
    try:
        op.infer(*vals, **attrs)
    except GraphexecError as e:
        raise type(e)(f"{op.name}: {e} — at {user_location()}") from None


def _kernel_failed(op: OpDef, vals: list[Any], attrs: dict[str, Any], e: Exception,
                   where: str) -> GraphexecError:
    """The error of a failed eager kernel: the infer rule's wording where it has one (for
    ops whose kernel does the checking), else an ExecutionError naming the op and line."""
    if op.kernel_checks:  # the infer rule words the same failure as graph mode does
        _infer_checked(op, vals, attrs)
    return ExecutionError(f"{op.name}{where}: {type(e).__name__}: {e} — at {user_location()}")


def _recorded(op: OpDef, inputs: tuple[Tensor, ...], attrs: dict[str, Any], result: Any,
              prof: Any, t0: float) -> Any:
    """``result``, after the open tapes recorded the op and the profiler timed it."""
    if TAPES_OPEN[0]:  # NOTE: one list read is all the eager path pays when no tape is open
        snapshots: dict[int, Tensor] = {}  # one snapshot per Variable read, shared by the tapes
        for tape in _TAPES.get():
            tape._record(op, inputs, attrs, result, snapshots)
    if prof is not None:
        prof(op, _clock() - t0)
    return result
