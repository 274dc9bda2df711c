"""``gx.function``: trace a Python function into a static graph once per input signature, then
run the cached graph on every call (like ``tf.function`` or ``jax.jit``).

The cache key is the shape and dtype of every tensor argument (graphexec tensors, numpy arrays
and numpy scalars) plus the value of every other argument (Python scalars, strings, ``None``,
layers...: they are *static*, baked into the graph).  Lists, tuples and dicts are walked, so a
list of tensors is fine.  Tensor arguments become placeholders; Variables (as arguments or
captured from the enclosing scope) are read when the graph runs, so their current value is
always seen.  Every ``assign`` node the trace created runs on every call, returned or not.
"""

from __future__ import annotations

import functools
import inspect
import re
import sys
import threading
import types
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import config, tree
from .checks import check_dtype, check_shape
from .compiler import CompiledGraph
from .config import check_level, functions_run_eagerly
from .context import _GRAPH, _TAPES
from .device import CPU, Device, current_device, device_of
from .errors import _PKG_DIR, DeviceError, GraphError, InvalidArgumentError
from .graph import Graph, graph
from .ops.state import Variable, assign_p
from .passes.core import canonical
from .registry import Spec, fmt_shape, shapes_match
from .tensor import Tensor, convert, host_array

__all__ = ["function", "Function", "TensorSpec"]

#: traces of one function after which each further trace warns
RETRACE_WARN_AFTER = 5


@dataclass(frozen=True)
class TensorSpec:
    """The shape (``None`` for a dim of any size) and dtype of a tensor argument, for
    ``gx.function(input_signature=[...])``.

    >>> import numpy as np
    >>> from graphexec.function import TensorSpec
    >>> s = TensorSpec((None, 3), "float32")
    >>> s
    TensorSpec(shape=(None, 3), dtype=dtype('float32'), name=None)
    >>> s.is_compatible_with(np.zeros((5, 3), "float32")), s.is_compatible_with(np.zeros(3))
    (True, False)
    """

    shape: tuple[int | None, ...]
    dtype: Any = None  # anything np.dtype takes (None: the default float dtype); a numpy dtype
    name: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", check_shape(self.shape, "TensorSpec", unknown=True))
        dtype = config.floatx() if self.dtype is None else self.dtype
        object.__setattr__(self, "dtype", check_dtype(dtype, "TensorSpec"))
        if self.name is not None and not isinstance(self.name, str):
            raise InvalidArgumentError(f"TensorSpec: name must be a string, got {self.name!r}")

    @classmethod
    def from_tensor(cls, value: Any, name: str | None = None) -> TensorSpec:
        """The spec of a tensor or array (its exact shape and dtype).

        >>> import graphexec as gx
        >>> from graphexec.function import TensorSpec
        >>> TensorSpec.from_tensor(gx.constant([[1, 2]], dtype="int32"))
        TensorSpec(shape=(1, 2), dtype=dtype('int32'), name=None)
        """
        v = value._value if isinstance(value, Tensor) and value._graph is None else value
        return cls(tuple(v.shape), v.dtype, name)

    @property
    def spec(self) -> Spec:
        """As a ``gx.Spec`` (shape and dtype only)."""
        return Spec(self.shape, self.dtype)

    def is_compatible_with(self, value: Any) -> bool:
        """Whether a tensor or array of this dtype and a matching shape.

        >>> import numpy as np
        >>> from graphexec.function import TensorSpec
        >>> TensorSpec((None,), "int64").is_compatible_with(np.arange(4))
        True
        """
        if isinstance(value, Tensor):
            shape, dtype = value.shape, value.dtype
        else:
            arr = host_array(value)  # Python floats: the default float dtype, as traced
            shape, dtype = arr.shape, arr.dtype
        return dtype == self.dtype and shapes_match(self.shape, shape)

    def __str__(self) -> str:
        return repr(self.spec)


# ---------------------------------------------------------------------------------------------
# cache keys: one hashable component per argument


class _ById:
    """A hashable stand-in compared by identity (for Variables: their ``==`` is elementwise)."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _ById) and other.obj is self.obj


class _Exact:
    """A static float argument in a trace key, equal by its bits as CSE keys constants: 0.0
    and -0.0 divide differently, and NaN (never equal to itself) must not retrace every call."""

    __slots__ = ("key", "value")

    def __init__(self, value: Any) -> None:
        self.value = value
        self.key = canonical(value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Exact) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return repr(self.value)


def _is_array(v: Any) -> bool:
    return isinstance(v, np.ndarray | np.generic) or hasattr(v, "__cuda_array_interface__")


def _symbolic_error(fn: str, path: str, t: Tensor) -> GraphError:
    assert t._graph is not None
    return GraphError(f"{fn}: argument {path!r} is symbolic tensor {t.name!r} of graph "
                      f"{t._graph.name}, whose block is closed; call the function inside "
                      "that graph's block, or pass eager tensors or arrays")


def _encode(fn: str, v: Any, path: str, leaves: list[tuple[str, Any]]) -> Any:
    """The cache-key component of argument value ``v``: its structure and one component per
    leaf; appends each tensor leaf as ``(path, array)`` to ``leaves``."""
    if type(v) is np.ndarray or type(v) is Tensor:  # NOTE: the common call, one leaf, fast
        return ("tree", tree.LEAF, (_encode_leaf(fn, v, path, leaves),))
    pairs, treedef = tree.flatten_with_paths(v, path)
    return ("tree", treedef, tuple(_encode_leaf(fn, x, p, leaves) for p, x in pairs))


def _encode_leaf(fn: str, v: Any, path: str, leaves: list[tuple[str, Any]]) -> Any:
    if isinstance(v, Variable):
        return ("variable", _ById(v))
    if isinstance(v, Tensor):
        if v._graph is not None:
            raise _symbolic_error(fn, path, v)
        arr = v._value
        leaves.append((path, arr))
        return ("tensor", arr.shape, arr.dtype)
    if _is_array(v):
        arr = np.asarray(v) if isinstance(v, np.generic) else v
        leaves.append((path, arr))
        return ("tensor", arr.shape, arr.dtype)
    try:
        hash(v)
    except TypeError:
        raise InvalidArgumentError(
            f"{fn}: argument {path!r} is an unhashable {type(v).__name__} ({v!r}); non-tensor "
            "arguments are static (part of the trace key by value) and must be hashable: pass "
            "a tensor, an array, a list/tuple/dict, or a hashable value") from None
    if isinstance(v, float | complex | np.floating | np.complexfloating):
        return ("static", type(v), _Exact(v))
    return ("static", type(v), v)


def _is_tensor_leaf(v: Any) -> bool:
    """A leaf ``_encode`` feeds as a placeholder (a Variable is read, not fed)."""
    return not isinstance(v, Variable) and (isinstance(v, Tensor) or _is_array(v))


def _describe(c: Any) -> str:
    """A key component as a short readable value."""
    kind = c[0]
    if kind == "tree":
        return c[1].format([_describe(x) for x in c[2]])
    if kind == "tensor":
        return repr(Spec(c[1], c[2]))
    if kind == "variable":
        return f"Variable {c[1].obj.var_name!r}"
    if kind == "static":
        return repr(c[2])
    return "TensorSpec input"


def _first_difference(a: Any, b: Any, path: str) -> tuple[str, Any, Any]:
    """The deepest path where key components ``a`` and ``b`` differ, descending while their
    structures agree."""
    if a[0] == b[0] == "tree":
        return _tree_difference(a[1], a[2], b[1], b[2], path)
    return path, a, b


def _tree_difference(ta: tree.TreeDef, ca: tuple[Any, ...], tb: tree.TreeDef,
                     cb: tuple[Any, ...], path: str) -> tuple[str, Any, Any]:
    if ta.kind == tb.kind == "leaf":
        return path, ca[0], cb[0]
    if ta.kind == tb.kind and ta.meta == tb.meta and len(ta.children) == len(tb.children):
        keys = ta.meta[1] if ta.kind == "dict" else range(len(ta.children))
        i = j = 0
        for k, x, y in zip(keys, ta.children, tb.children, strict=True):
            xa, yb = ca[i:i + x.num_leaves], cb[j:j + y.num_leaves]
            if x != y or xa != yb:
                return _tree_difference(x, xa, y, yb, f"{path}[{k!r}]")
            i, j = i + x.num_leaves, j + y.num_leaves
    return path, ("tree", ta, ca), ("tree", tb, cb)


def _retrace_message(name: str, n: int, prev: tuple[Any, ...] | None,
                     key: tuple[Any, ...]) -> str:
    head = f"{name}: trace {n} of this function (more than {RETRACE_WARN_AFTER})"
    if prev is None:
        return head
    old, new = dict(prev), dict(key)
    changed = [a for a in new if a not in old or old[a] != new[a]]
    if not changed:
        return f"{head}; its arguments differ from the previous trace's"
    path, a, b = _first_difference(old.get(changed[0], ("static", None, "<absent>")),
                                   new[changed[0]], changed[0])
    msg = (f"{head}: argument {path!r} changed from {_describe(a)} to {_describe(b)} since "
           "the previous trace, and every new shape, dtype or Python value traces a new graph. ")
    if a[0] == b[0] == "tensor":
        if len(a[1]) == len(b[1]):
            dims = tuple(d if d == e else None for d, e in zip(a[1], b[1], strict=True))
        else:
            dims = (None,) * len(b[1])
        return msg + (f"Trace once for all of them with an input_signature, e.g. "
                      f"TensorSpec({fmt_shape(dims)}, {np.dtype(b[2]).name!r}) for {path!r}.")
    if b[0] == "static":
        return msg + (f"A Python value is part of the trace key: pass {path!r} as a tensor "
                      "(gx.constant) to feed it instead, or give an input_signature.")
    return msg + "Pass an input_signature of TensorSpecs to trace once for all of them."


def _stacklevel() -> int:
    """The ``warnings.warn`` stacklevel of the innermost frame outside graphexec, for the
    function calling this one."""
    f = sys._getframe(1)
    level = 1
    while f.f_back is not None and f.f_code.co_filename.startswith(_PKG_DIR):
        f = f.f_back
        level += 1
    return level


# ---------------------------------------------------------------------------------------------
# input signatures


def _check_signature_entry(s: Any, where: str) -> Any:
    if isinstance(s, TensorSpec):
        return s
    if isinstance(s, Spec):
        return TensorSpec(s.shape, s.dtype)
    if isinstance(s, list | tuple):
        items = [_check_signature_entry(x, f"{where}[{i}]") for i, x in enumerate(s)]
        return type(s)(*items) if hasattr(s, "_fields") else type(s)(items)
    if isinstance(s, dict):
        return {k: _check_signature_entry(x, f"{where}[{k!r}]") for k, x in s.items()}
    raise InvalidArgumentError(f"{where} is {s!r}; an input_signature holds TensorSpecs "
                               "(or lists, tuples or dicts of them)")


def _check_signature(fn: str, input_signature: Any, sig: inspect.Signature | None
                     ) -> tuple[Any, ...] | None:
    if input_signature is None:
        return None
    if not isinstance(input_signature, list | tuple):
        raise InvalidArgumentError(f"{fn}: input_signature must be a list or tuple of "
                                   f"TensorSpecs, got {input_signature!r}")
    specs = tuple(_check_signature_entry(s, f"{fn}: input_signature[{i}]")
                  for i, s in enumerate(input_signature))
    if sig is None:
        return specs
    params = list(sig.parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    varargs = any(p.kind is p.VAR_POSITIONAL for p in params)
    if len(specs) > len(positional) and not varargs:
        raise InvalidArgumentError(
            f"{fn}: input_signature has {len(specs)} TensorSpecs but the function takes "
            f"{len(positional)} positional argument(s) ({', '.join(p.name for p in positional)})")
    for p in params[len(specs):]:
        required = p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        if required:
            raise InvalidArgumentError(
                f"{fn}: parameter {p.name!r} has no TensorSpec in the input_signature and no "
                "default value; give every argument without a default a TensorSpec")
    return specs


def _match(fn: str, v: Any, spec: Any, path: str, leaves: list[tuple[str, Any]]) -> None:
    """Check ``v`` against signature entry ``spec``, appending its tensor leaves."""
    if isinstance(spec, TensorSpec):
        if isinstance(v, Tensor):
            if v._graph is not None:
                raise _symbolic_error(fn, path, v)
            arr = v._value
        elif _is_array(v):
            arr = np.asarray(v) if isinstance(v, np.generic) else v
        else:  # Python data: converted where nothing is lost
            arr = convert(v, spec.dtype, f"{fn}: argument {path!r} for {spec}",
                          InvalidArgumentError)
        if arr.dtype != spec.dtype or not shapes_match(spec.shape, arr.shape):
            raise InvalidArgumentError(
                f"{fn}: argument {path!r} is {Spec(arr.shape, arr.dtype)!r}, which does not "
                f"match its input_signature entry {spec} (dtype {spec.dtype}, shape "
                f"{fmt_shape(spec.shape)}, None for any size)")
        leaves.append((path, arr))
        return
    if isinstance(spec, list | tuple):
        if not isinstance(v, list | tuple) or len(v) != len(spec):
            raise InvalidArgumentError(f"{fn}: argument {path!r} should be a sequence of "
                                       f"{len(spec)} tensors, as in the input_signature; got {v!r}")
        for i, (x, s) in enumerate(zip(v, spec, strict=True)):
            _match(fn, x, s, f"{path}[{i}]", leaves)
        return
    if not isinstance(v, Mapping) or set(v) != set(spec):
        raise InvalidArgumentError(f"{fn}: argument {path!r} should be a dict with keys "
                                   f"{sorted(spec, key=repr)}, as in the input_signature")
    for k, s in spec.items():
        _match(fn, v[k], s, f"{path}[{k!r}]", leaves)


# ---------------------------------------------------------------------------------------------
# outputs


def _outputs(fn: str, out: Any, g: Graph, fetches: list[Tensor]) -> Any:
    """A recipe to rebuild ``out`` from fetched values; appends the tensors to fetch."""
    flat, treedef = tree.flatten(out)
    items: list[tuple[str, Any]] = []
    for x in flat:
        if isinstance(x, Variable):  # its value when the graph runs
            fetches.append(g.read_variable(x))
            items.append(("fetch", len(fetches) - 1))
        elif isinstance(x, Tensor) and x._graph is g:
            fetches.append(x)
            items.append(("fetch", len(fetches) - 1))
        elif isinstance(x, Tensor) and x._graph is not None:
            raise GraphError(f"{fn}: returns tensor {x.name!r} of graph {x._graph.name}, not "
                             "of the function's own trace")
        else:  # an eager tensor computed while tracing (a constant), None, a Python value
            items.append(("value", x))
    return treedef, items


def _restore(recipe: Any, values: list[Any]) -> Any:
    treedef, items = recipe
    return treedef.unflatten(values[v] if kind == "fetch" else v for kind, v in items)


def _arg_name(path: str) -> str:
    return re.sub(r"\W+", "_", path).strip("_") or "arg"


class _Trace:
    """One traced graph: its placeholders (in leaf order), fetches and output recipe."""

    __slots__ = ("assigns", "fetches", "graph", "held", "key", "level", "n_out",
                 "placeholders", "recipe", "refs")

    def __init__(self, graph: Graph, key: Any, placeholders: list[Tensor],
                 outputs: list[Tensor], recipe: Any, assigns: list[Tensor],
                 level: int | None) -> None:
        self.graph = graph
        self.level = level
        self.key = key
        self.placeholders = placeholders
        self.recipe = recipe
        self.n_out = len(outputs)
        self.assigns = assigns
        self.fetches = [*outputs, *assigns]
        self.refs = tuple(graph._fetch_ref(t) for t in self.fetches)
        #: the device of the Variables the graph reads or writes, if not the host (a Variable
        #: keeps its device: found once, here)
        self.held = _held_device(graph)

    def run(self, values: list[Any], device: Device | None = None) -> Any:
        if not self.fetches:
            return _restore(self.recipe, [])
        feeds = dict(zip(self.placeholders, values, strict=True))
        dev = _call_device(self.graph.name, values, device, self.held)
        if dev is CPU:
            got = self.graph._run_refs(
                self.refs, feeds, config.default_level() if self.level is None else self.level)
        else:
            got = self.graph.run(self.fetches, feeds, optimize=self.level, device=dev)
        outs = [Tensor(v) for v in got[:self.n_out]]
        return _restore(self.recipe, outs)


def _held_device(g: Graph) -> Device | None:
    """Where the Variables of ``g`` live when not on the host; DeviceError for two devices."""
    held = None
    for _, d in g.nx.nodes(data=True):
        var = d["attrs"].get("var")
        if not isinstance(var, Variable) or device_of(var._value) == CPU:
            continue
        where = device_of(var._value)
        if held is not None and where != held:
            raise DeviceError(f"{g.name}: its variables are on {held} and on {where} "
                              f"({var.var_name}): move them to one device")
        held = where
    return held


def _call_device(fn: str, values: list[Any], device: Device | None,
                 held: Device | None) -> Device:
    """Where a call runs: the function's ``device``, else where its tensor arguments are, else
    where the Variables it uses are, else ``gx.device``'s; DeviceError for tensors on different
    devices (0-d host values aside).  Host arguments of a call on a device are moved there by
    the plan, unless other arguments are on the device already (then they must all be)."""
    args = None
    for v in values:
        if type(v) is np.ndarray:
            continue
        d = device_of(v)
        if args is not None and d != args:
            raise DeviceError(f"{fn}: its tensor arguments are on {args} and on {d}: move "
                              "them to one device with .to(...)")
        args = d if d != CPU else args
    want = (device if device is not None else args if args is not None
            else held if held is not None else current_device())
    for what, on in (("a tensor argument", args), ("a variable", held)):
        if on is not None and on != want:
            raise DeviceError(f"{fn}: runs on {want}, but {what} is on {on}: move it with "
                              ".to(...)")
    if args is not None:
        for v in values:
            if type(v) is np.ndarray and v.ndim > 0:
                raise DeviceError(f"{fn}: runs on {want}, where its other tensor arguments "
                                  f"are, but one ({v.dtype}{list(v.shape)}) is on the cpu: "
                                  "move it with .to(...)")
    return want


# ---------------------------------------------------------------------------------------------
# the function object


class Function:
    """A Python function traced into graphs, one per input signature; made by ``function``
    (see there for the semantics).

    >>> import numpy as np, graphexec as gx
    >>> from graphexec.function import function
    >>> @function
    ... def affine(x, w, b):
    ...     return x @ w + b
    >>> x, w, b = np.ones((2, 3)), np.ones((3, 4)), np.zeros(4)
    >>> affine(x, w, b).numpy()
    array([[3., 3., 3., 3.],
           [3., 3., 3., 3.]])
    >>> affine.trace_count, affine.python_function.__name__
    (1, 'affine')
    >>> [n for n in affine.get_graph(x, w, b).topological_order()]
    ['x', 'w', 'b', 'matmul', 'add']
    """

    def __init__(self, fn: Callable[..., Any], input_signature: Sequence[Any] | None = None,
                 name: str | None = None, optimize: int | None = None,
                 device: Any = None) -> None:
        if isinstance(fn, Function):
            input_signature = fn.input_signature if input_signature is None else input_signature
            optimize = fn.optimize_level if optimize is None else optimize
            device = fn.device if device is None else device
            fn = fn.python_function
        #: where its graphs run (None: where its tensor arguments are, else gx.device's)
        self.device: Device | None = None if device is None else Device.parse(device,
                                                                              "function")
        self._level: int | None = (None if optimize is None
                                   else check_level(optimize, "function"))
        if not callable(fn):
            raise InvalidArgumentError(f"function: {fn!r} is not callable")
        functools.update_wrapper(self, fn, updated=())
        self._fn = fn
        self._name: str = name or str(getattr(fn, "__name__", type(fn).__name__))
        try:
            self._sig: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):  # some builtins have no signature
            self._sig = None
        # NOTE: the fast path of binding: every parameter passed positionally, none variadic
        params = [] if self._sig is None else list(self._sig.parameters.values())
        self._positional: list[str] | None = (
            [p.name for p in params]
            if self._sig is not None and all(p.kind in (p.POSITIONAL_ONLY,
                                                        p.POSITIONAL_OR_KEYWORD) for p in params)
            else None)
        self._input_signature = _check_signature(self._name, input_signature, self._sig)
        self._traces: dict[Any, _Trace] = {}
        self._last_key: tuple[Any, ...] | None = None
        self._traced = False  # a trace succeeded: later traces may not create Variables
        self._lock = threading.RLock()
        self._bound: weakref.WeakKeyDictionary[Any, Function] = weakref.WeakKeyDictionary()
        self._bound_strong: dict[int, tuple[Any, Function]] = {}

    # -- inspection -------------------------------------------------------------------------
    @property
    def optimize_level(self) -> int | None:
        """The optimization level its graphs run at (None: the default level)."""
        return self._level

    @property
    def python_function(self) -> Callable[..., Any]:
        """The wrapped Python function."""
        return self._fn

    @property
    def input_signature(self) -> tuple[Any, ...] | None:
        """The TensorSpecs given at creation (``None``: traced per shape and dtype)."""
        return self._input_signature

    @property
    def graphs(self) -> list[Graph]:
        """The cached traced graphs, in the order they were traced.

        >>> import numpy as np
        >>> from graphexec.function import function
        >>> square = function(lambda x: x * x)
        >>> _ = square(np.ones(2)), square(np.ones(3)), square(np.ones(2))
        >>> [len(g) for g in square.graphs]
        [2, 2]
        """
        return [t.graph for t in self._traces.values()]

    @property
    def trace_count(self) -> int:
        """How many times the Python function was traced (one per cached graph)."""
        return len(self._traces)

    def clear_cache(self) -> None:
        """Forget the traced graphs: the next call traces again."""
        with self._lock:
            self._traces.clear()
            self._last_key = None

    def get_graph(self, *args: Any, **kwargs: Any) -> Graph:
        """The graph traced for these arguments (traced now if it is not cached yet).

        >>> import numpy as np
        >>> from graphexec.function import function
        >>> @function
        ... def f(x, scale):
        ...     return x * scale
        >>> g = f.get_graph(np.ones(3, "float32"), 2.0)
        >>> print(g)  # doctest: +ELLIPSIS
        graph f_0 (3 nodes)
          x: f32[3] = placeholder() ...
          constant: f32[] = constant[value=2.]() ...
          multiply: f32[3] = multiply(x, constant) ...
        """
        return self._concrete(args, kwargs)[0].graph

    def get_compiled(self, *args: Any, **kwargs: Any) -> CompiledGraph:
        """The compiled graph these arguments run: ``.graph`` is the optimized graph,
        ``.report`` what the optimizer did, ``.plan.source`` the generated code.

        >>> import numpy as np, graphexec as gx
        >>> @gx.function(optimize=2)
        ... def f(x):
        ...     return gx.nn.relu(x * 2.0 + 1.0)
        >>> c = f.get_compiled(np.ones(3, "float32"))
        >>> len(f.get_graph(np.ones(3, "float32"))), len(c.graph)
        (6, 2)
        """
        trace = self._concrete(args, kwargs)[0]
        return trace.graph.compile(trace.fetches, optimize=trace.level)

    def _trace_for(self, args: tuple[Any, ...], kwargs: dict[str, Any] | None = None
                   ) -> _Trace:
        """The trace ``args`` and ``kwargs`` call (traced now if need be); without them, the
        only trace there is, or the input signature's."""
        if args or kwargs:
            return self._concrete(args, dict(kwargs or {}))[0]
        if len(self._traces) == 1:
            return next(iter(self._traces.values()))
        if self._input_signature is not None:
            specs: list[TensorSpec] = tree.leaves(list(self._input_signature))
            dummies = iter(np.zeros([1 if d is None else d for d in s.shape], s.dtype)
                           for s in specs)
            values = tree.flatten(list(self._input_signature))[1].unflatten(dummies)
            return self._concrete(tuple(values), {})[0]
        raise InvalidArgumentError(f"{self._name}: has {len(self._traces)} traces; give the "
                                   "arguments of the one to use (example inputs will do)")

    def __repr__(self) -> str:
        return f"<graphexec.Function {self._name}: {self.trace_count} trace(s)>"

    # -- calling ----------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if functions_run_eagerly() or _GRAPH.get() is not None or _TAPES.get():
            # debugging, inlined into a graph being built, or recorded by a gradient tape
            return self._fn(*args, **kwargs)
        trace, values = self._concrete(args, kwargs)
        return trace.run(values, self.device)

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        try:
            bound = self._bound.get(instance)
        except TypeError:  # unhashable or not weakly referable: keep it alive, by id
            hit = self._bound_strong.get(id(instance))
            bound = hit[1] if hit is not None and hit[0] is instance else None
            if bound is None:
                bound = self._bind_to(instance)
                self._bound_strong[id(instance)] = (instance, bound)
            return bound
        if bound is None:
            bound = self._bound[instance] = self._bind_to(instance)
        return bound

    def _bind_to(self, instance: Any) -> Function:
        sig = self._input_signature
        return Function(types.MethodType(self._fn, instance),
                        input_signature=None if sig is None else list(sig), name=self._name,
                        optimize=self._level, device=self.device)

    def _concrete(self, args: tuple[Any, ...], kwargs: dict[str, Any]
                  ) -> tuple[_Trace, list[Any]]:
        """The trace for these arguments (tracing if needed) and the values to feed."""
        name = self._name
        leaves: list[tuple[str, Any]] = []
        if self._input_signature is not None:
            values = self._bind_signature(args, kwargs)
            names = self._signature_names(len(values))
            for v, spec, path in zip(values, self._input_signature, names, strict=True):
                _match(name, v, spec, path, leaves)
            key: tuple[Any, ...] = (("input_signature", ("signature", None)),)
        else:
            names, values = self._bind(args, kwargs)
            key = tuple((a, _encode(name, v, a, leaves))
                        for a, v in zip(names, values, strict=True))
        # NOTE: Python floats trace as constants of the default float dtype: a trace is for one
        tkey = (config.floatx(), key)
        trace = self._traces.get(tkey)
        if trace is None:
            with self._lock:
                trace = self._traces.get(tkey)
                if trace is None:
                    count = len(self._traces) + 1
                    if count > RETRACE_WARN_AFTER:
                        warnings.warn(_retrace_message(name, count, self._last_key, key),
                                      UserWarning, stacklevel=_stacklevel())
                    trace = self._trace(key, names, values, leaves)
                    self._traces[tkey] = trace
                    self._last_key = key
        return trace, [arr for _, arr in leaves]

    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]
              ) -> tuple[list[str], list[Any]]:
        if not kwargs and self._positional is not None and len(args) == len(self._positional):
            return self._positional, list(args)
        if self._sig is None:
            return ([f"args[{i}]" for i in range(len(args))] + list(kwargs),
                    [*args, *kwargs.values()])
        try:
            b = self._sig.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{self._name}: {e}") from None
        b.apply_defaults()
        return list(b.arguments), list(b.arguments.values())

    def _bind_signature(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
        assert self._input_signature is not None
        n = len(self._input_signature)
        if self._sig is None:
            values, extra = list(args), dict(kwargs)
        else:
            try:
                b = self._sig.bind(*args, **kwargs)
            except TypeError as e:
                raise TypeError(f"{self._name}: {e}") from None
            values, extra = list(b.args), dict(b.kwargs)
        if extra or len(values) != n:
            raise InvalidArgumentError(
                f"{self._name}: called with {len(args)} positional and {len(kwargs)} keyword "
                f"argument(s), but its input_signature takes exactly {n} argument(s); with an "
                "input_signature only the signature's arguments may be passed")
        return values

    def _signature_names(self, n: int) -> list[str]:
        if self._sig is None:
            return [f"args[{i}]" for i in range(n)]
        params = [p for p in self._sig.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        names = [p.name for p in params[:n]]
        return names + [f"args[{i}]" for i in range(len(names), n)]

    def _trace(self, key: tuple[Any, ...], names: list[str], values: list[Any],
               leaves: list[tuple[str, Any]]) -> _Trace:
        g = Graph(name=f"{self._name}_{len(self._traces)}")
        g.traced_function = self._name
        created_before = Variable.created_in_this_thread()
        signature = self._input_signature
        with graph(g):
            if signature is None:
                specs = [(path, arr.shape, arr.dtype) for path, arr in leaves]
            else:
                flat: list[TensorSpec] = tree.leaves(list(signature))
                specs = [(s.name or path, s.shape, s.dtype)
                         for (path, _), s in zip(leaves, flat, strict=True)]
            phs = [g.placeholder(shape, dtype, name=_arg_name(path))
                   for path, shape, dtype in specs]
            it = iter(phs)
            if signature is None:
                traced = [tree.map_leaves(lambda x: next(it) if _is_tensor_leaf(x) else x, v)
                          for v in values]
                if self._sig is None:
                    n_pos = sum(1 for n in names if n.startswith("args["))
                    out = self._fn(*traced[:n_pos], **dict(zip(names[n_pos:], traced[n_pos:],
                                                                strict=True)))
                else:
                    b = self._sig.bind_partial()
                    for n, v in zip(names, traced, strict=True):
                        b.arguments[n] = v
                    out = self._fn(*b.args, **b.kwargs)
            else:
                out = self._fn(*tree.flatten(list(signature))[1].unflatten(it))
            fetches: list[Tensor] = []
            recipe = _outputs(self._name, out, g, fetches)
        created = Variable.created_in_this_thread() - created_before
        if created and self._traced:
            raise GraphError(
                f"{self._name}: created {created} Variable(s) while tracing it again (trace "
                f"{len(self._traces) + 1}, for new argument shapes, dtypes or values); a "
                "function may create Variables on its first trace only: create them outside "
                "it, or once (e.g. `if self.v is None: self.v = gx.Variable(...)`)")
        assigns = [g.tensor(n) for n, d in g.nx.nodes(data=True) if d["op"] is assign_p]
        self._traced = True
        return _Trace(g, key, phs, fetches, recipe, assigns, self._level)


def function(fn: Callable[..., Any] | None = None,
             input_signature: Sequence[Any] | None = None, optimize: int | None = None,
             device: Any = None) -> Any:
    """Compile ``fn`` into graphs: ``@gx.function``, ``@gx.function(input_signature=[...],
    optimize=3)`` or ``gx.function(fn, input_signature=None, optimize=None)``.

    A call traces ``fn`` into a ``Graph`` once per *input signature* — the shapes and dtypes
    of its tensor arguments (graphexec tensors, numpy arrays) and the values of its other
    arguments (Python scalars, strings, ``None``, layers; they must be hashable) — caches the
    graph, and runs it with ``Graph.run``.  It returns what ``fn`` returns (a tensor, a
    list/tuple/dict of them, or ``None``) as eager tensors, so calling code works as it does
    eagerly.

    - **Devices**: a call runs on ``device`` if given, else where its tensor arguments are,
      else on ``gx.device``'s device (host arguments are then moved there once); its results
      stay there.  Tensor arguments on different devices are a ``DeviceError``.
    - **Python side effects run only while tracing.**  ``print``, appending to a list or
      counting happen once per trace, not once per call; use tensor ops for work that must
      happen on every call (``gx.config.run_functions_eagerly(True)`` runs the Python body on
      every call, for debugging).
    - **State**: Variables are read when the graph runs, so updates between calls are seen,
      and every ``assign`` made while tracing runs on every call, returned or not.  Within one
      call, reads of a variable see its value from before that call's assignments.  Eager
      tensors captured from the enclosing scope are constants, frozen at trace time.
    - **Variables** may be created on the first trace only; creating them on a later trace is
      a ``GraphError``.  Create them from concrete values (numpy arrays, Python numbers).
    - ``input_signature=[TensorSpec(shape, dtype), ...]``, one per argument, with ``None`` for
      dims of any size, traces once for every matching input; an input that does not match
      is an ``InvalidArgumentError``.  More than 5 traces of one function warn, naming the
      argument that changed.
    - Inside a graph being built (another function's trace, ``gx.graph()``) or under an eager
      ``GradientTape``, ``fn`` is simply called: it is inlined, or its ops are recorded.
    - ``optimize`` is the optimization level of each traced graph (see ``gx.optimize``;
      default ``gx.config.default_level()``, initially 1: exact rewrites only).  Level 2
      fuses elementwise ops into compiled loops (results within a few ulp of eager mode for
      transcendental functions), level 3 also plans memory.  ``get_compiled`` shows the
      result.

    >>> import numpy as np, graphexec as gx
    >>> from graphexec.function import TensorSpec, function
    >>> traces = []
    >>> @function
    ... def step(x, scale):
    ...     traces.append(x.shape)        # a Python side effect: runs only while tracing
    ...     return gx.nn.relu(x) * scale
    >>> step(np.array([-1.0, 2.0]), 3.0).numpy()
    array([0., 6.])
    >>> step(np.array([4.0, -5.0]), 3.0).numpy()     # same signature: no new trace
    array([12.,  0.])
    >>> _ = step(np.ones(3), 3.0)                    # a new shape traces again
    >>> traces
    [(2,), (3,)]

    With an input signature one trace serves every batch size:

    >>> @function(input_signature=[TensorSpec((None, 2), "float32")])
    ... def total(x):
    ...     return gx.sum(x, axis=1)
    >>> total(np.ones((3, 2), "float32")).numpy(), total(np.ones((5, 2), "float32")).shape
    (array([2., 2., 2.], dtype=float32), (5,))
    >>> total.trace_count
    1

    State updates run on every call:

    >>> counter = gx.Variable(0, name="counter")
    >>> @function
    ... def tick():
    ...     counter.assign_add(1)             # not returned, still run each call
    >>> tick(); tick(); counter.numpy()
    array(2)
    """
    if fn is None:
        return lambda f: Function(f, input_signature, optimize=optimize, device=device)
    if isinstance(fn, list | tuple) and input_signature is None:
        raise InvalidArgumentError("function: pass the input signature by keyword: "
                                   "@gx.function(input_signature=[...])")
    return Function(fn, input_signature, optimize=optimize, device=device)
