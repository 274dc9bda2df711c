"""The runnable graph: ``gx.graph()`` builds a ``Graph``, which adds to the IR (``graphexec.ir``)
what running needs — ``run``, ``compile``, the feed checks and the plan caches (as torch.fx's
``GraphModule`` adds running to its ``Graph``) — plus ``gx.placeholder``,
``gx.control_dependencies`` and ``gx.group``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from . import config, tree
from .backend import get_xp
from .compiler import CompiledGraph
from .context import _GRAPH
from .device import Device, device_of
from .errors import DeviceError, FeedError, GraphError, InvalidArgumentError, user_location
from .executor import Plan, lower
from .ir import GraphIR, Ref, is_ref
from .ops.state import Variable, no_op_p, placeholder_p
from .registry import Spec, fmt_shape, shapes_match
from .tensor import SymbolicTensor, Tensor, as_tensor, convert

__all__ = ["Graph", "graph", "placeholder", "control_dependencies", "group"]


class Graph(GraphIR):
    """A static dataflow graph built inside ``with gx.graph() as g:``, that runs.

    >>> import numpy as np, graphexec as gx
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((None, 3), "float32", name="x")
    ...     y = gx.sum(x * x, axis=1)
    >>> print(g)  # doctest: +ELLIPSIS
    graph g... (3 nodes)
      x: f32[?,3] = placeholder() ...
      multiply: f32[?,3] = multiply(x, x) ...
      sum: f32[?] = sum[axis=(1,), keepdims=False](multiply) ...
    >>> g.run(y, feeds={x: np.ones((2, 3), "float32")})
    array([3., 3.], dtype=float32)
    """

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self._plans: dict[Any, Plan] = {}
        self._compiled: dict[Any, CompiledGraph] = {}

    def run(self, fetches: Any, feeds: Mapping[Any, Any] | None = None, *,
            backend: str = "numpy", optimize: int | None = None, device: Any = None) -> Any:
        """Run the graph: compute ``fetches`` (a tensor, a list/tuple or a dict of tensors).

        ``feeds`` maps placeholders (tensors or their names) to values; they are checked
        against the placeholders' shapes and dtypes before any kernel runs.  Fetched values
        of constants and variables are read-only: copy them to change them.

        ``optimize`` (0–3, default ``gx.config.default_level()``, initially 1) is the
        optimization level (see ``gx.optimize``): the part of the graph the fetches need is
        copied, optimized and lowered once per set of fetches, and cached; the graph itself
        is left as built.  Level 0 runs the nodes as built.

        ``device`` (``"cpu"``, ``"gpu"``, ``"cuda:N"``) runs the kernels there (``backend``
        names the array module instead: ``"numpy"``, or ``"cupy"`` for GPU 0): host feeds
        are moved there once, feeds already there are used as they are, and the results stay
        there.

        >>> import graphexec as gx
        >>> with gx.graph() as g:
        ...     x = gx.placeholder((2,), "float64", name="x")
        ...     y = x * 2.0
        >>> g.run(y, {x: [1.0, 2.0]})
        array([2., 4.])
        >>> g.run({"y": y, "x": x}, feeds={"x": [3.0, 4.0]})
        {'y': array([6., 8.]), 'x': array([3., 4.])}
        """
        if isinstance(fetches, Tensor) and fetches._graph is self:  # the common case, fast
            refs: tuple[Ref, ...] = ((fetches._node, fetches._index),)
            treedef = None
        else:
            flat, treedef = tree.flatten(fetches, is_leaf=is_ref)
            refs = tuple(self._fetch_ref(t) for t in flat)
        level = config.default_level() if optimize is None else optimize
        dev = None if device is None and backend == "numpy" else _device(device, backend)
        if dev is None or dev.kind == "cpu":
            values = self._run_refs(refs, feeds, level)
        else:
            # NOTE: on GPU N: lowered (constants placed) and run with N current, cached apart
            backend = dev.backend
            with dev.xp("run").cuda.Device(dev.index):
                plan = self._plans.get((refs, backend, level))
                if plan is None or plan.version != self.version:
                    plan = self._lower(refs, backend, level)
                values = plan.run(self._check_feeds(plan, feeds))
        return values[0] if treedef is None else treedef.unflatten(values)

    def _lower(self, refs: tuple[Ref, ...], backend: str, optimize: int) -> Plan:
        level = config.check_level(optimize, "run")
        if len(self._plans) > 64:
            self._plans.clear()
            self._compiled.clear()
        if backend != "numpy":  # NOTE: GPU N's plan places its constants with N current
            dev = Device.of_backend(backend, "run")
            with dev.xp("run").cuda.Device(dev.index):
                return self._lower_here(refs, backend, level)
        return self._lower_here(refs, backend, level)

    def _lower_here(self, refs: tuple[Ref, ...], backend: str, level: int) -> Plan:
        if level == 0:
            plan = lower(self, refs, backend, plan_memory=self.plan_memory)
        else:
            plan = self.compile(list(refs), optimize=level, backend=backend).plan
        self._plans[(refs, backend, level)] = plan
        return plan

    def compile(self, fetches: Any, *, optimize: int | None = None,
                backend: str = "numpy", device: Any = None) -> CompiledGraph:
        """An optimized, lowered copy of the part of the graph ``fetches`` need: a
        ``CompiledGraph`` to call with feeds, with the optimized ``graph``, the optimizer's
        ``report`` and the lowered ``plan`` (``plan.source`` is the generated code).  Cached
        per fetches, level and backend until the graph changes.

        >>> import numpy as np, graphexec as gx
        >>> with gx.graph() as g:
        ...     x = gx.placeholder((2,), "float64", name="x")
        ...     y = gx.exp(x) * 1.0 + gx.exp(x)
        >>> f = g.compile(y, optimize=1)
        >>> print(f.graph)  # doctest: +ELLIPSIS
        graph g...@O1 (3 nodes)
          x: f64[2] = placeholder() ...
          exp: f64[2] = exp(x) ...
          add: f64[2] = add(exp, exp) ...
        >>> f({x: [0.0, 0.0]})
        array([2., 2.])
        """
        level = config.check_level(optimize, "compile")
        if device is not None or backend != "numpy":
            dev = _device(device, backend, "compile")
            if dev.kind == "cuda":  # NOTE: lowered (constants placed) with its GPU current
                with dev.xp("compile").cuda.Device(dev.index):
                    return self._compiled_for(fetches, level, dev.backend)
        return self._compiled_for(fetches, level, "numpy")

    def _compiled_for(self, fetches: Any, level: int, backend: str) -> CompiledGraph:
        flat, treedef = tree.flatten(fetches, is_leaf=is_ref)
        key = (tuple(self._fetch_ref(t) for t in flat), backend, level, treedef)
        hit = self._compiled.get(key)
        if hit is None or hit.version != self.version:
            hit = self._compiled[key] = CompiledGraph(self, fetches, level, backend)
        return hit

    def _run_refs(self, refs: tuple[Ref, ...], feeds: Mapping[Any, Any] | None,
                  level: int) -> list[Any]:
        """The values of ``refs`` on the host, at ``level``: ``run`` without the fetches'
        structure (``gx.function`` calls it with the refs it found once)."""
        plan = self._plans.get((refs, "numpy", level))
        if plan is None or plan.version != self.version:
            plan = self._lower(refs, "numpy", level)
        return plan.run(self._check_feeds(plan, feeds))

    def _check_feeds(self, plan: Plan, feeds: Mapping[Any, Any] | None) -> dict[str, Any]:
        if feeds is not None and not isinstance(feeds, Mapping):
            raise FeedError(f"run: feeds must be a mapping from placeholders (tensors or their "
                            f"names) to values, got {type(feeds).__name__} — at "
                            f"{user_location()}")
        checked: dict[str, Any] = {}
        for key, value in (feeds or {}).items():
            if key.__class__ is SymbolicTensor and key._graph is self:
                node = key._node
            else:
                node = self._feed_node(key)
            want = plan.feed_checks.get(node)
            # NOTE: the fast path: an ndarray of exactly the placeholder's dtype and shape
            if (want is not None and value.__class__ is np.ndarray and value.dtype == want[0]
                    and (value.shape == want[1] if want[1] is not None
                         else shapes_match(value.shape, want[2]))):
                checked[node] = value
                continue
            d = self.nx.nodes[node]
            if d["op"] is not placeholder_p:
                raise FeedError(f"run: can only feed placeholders; {node!r} is a "
                                f"{d['op'].name} node")
            checked[node] = _check_feed(node, d["specs"][0], value, d["loc"], plan.backend)
        if len(checked) < len(plan.placeholders):
            missing = [n for n in plan.placeholders if n not in checked]
            if missing:
                specs = ", ".join(f"{n}: {self.nx.nodes[n]['specs'][0]!r}" for n in missing)
                raise FeedError(f"run: no feed for placeholder(s) {specs} needed by the fetches")
        return checked

    def _feed_node(self, key: Any) -> str:
        node = key if isinstance(key, str) else None
        if isinstance(key, Tensor):
            if key._graph is not self:
                raise FeedError(f"run: feed key {key!r} is not a tensor of graph {self.name}")
            node = key._node
        if node is None or node not in self.nx:
            raise FeedError(f"run: feed key {key!r} names no node of graph {self.name}")
        return node



class SubGraph(Graph):
    """A graph traced inside another: a branch of ``gx.cond``, a loop's body.  A tensor of an
    enclosing graph (or a Variable) it uses becomes one of its placeholders, once, and is
    listed in ``captured``: the op running the subgraph takes those as inputs.

    >>> import graphexec as gx
    >>> from graphexec.graph import SubGraph
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((2,), "float32", name="x")
    ...     with gx.graph(SubGraph(outer=g)) as sub:
    ...         y = x * 2.0
    >>> [t.name for t in sub.captured], sub.placeholders
    (['x'], ['x'])
    """

    def __init__(self, name: str | None = None, outer: GraphIR | None = None,
                 reads: dict[int, Tensor] | None = None) -> None:
        super().__init__(name)
        #: the graph it was traced in (None for a compiled copy)
        self.outer = outer
        #: the tensors of enclosing graphs it reads, one placeholder each, in order
        self.captured: list[Tensor] = []
        self._capture_refs: dict[tuple[int, str, int], Ref] = {}
        # the enclosing graph's read of each Variable used (shared by sibling branches)
        self._reads: dict[int, Tensor] = {} if reads is None else reads

    def _sees(self, other: GraphIR) -> bool:
        g = self.outer
        while g is not None:
            if g is other:
                return True
            g = getattr(g, "outer", None)
        return False

    def _ref(self, x: Tensor) -> Ref:
        if isinstance(x, Variable) and self.outer is not None:
            # NOTE: read in the enclosing graph, so its gradient reaches the Variable's reads
            read = self._reads.get(id(x))
            if read is None:
                outer = self.outer
                src, idx = outer._ref(x)
                read = self._reads[id(x)] = SymbolicTensor(outer, src, idx,
                                                           outer.spec((src, idx)))
            x = read
        if x._graph is None or x._graph is self:
            return super()._ref(x)
        key = (id(x._graph), x._node, x._index)
        hit = self._capture_refs.get(key)
        if hit is None:
            node = self.add_node(placeholder_p, (), {"shape": x._spec.shape,
                                                     "dtype": x._spec.dtype},
                                 (x._spec,), user_location(), name=x._node, ordered=False)
            self.captured.append(x)
            hit = self._capture_refs[key] = (node, 0)
        return hit


def _device(device: Any, backend: str, where: str = "run") -> Device:
    """The device a run asked for (``device``, else what ``backend`` means), checked to be
    there; InvalidArgumentError when the two disagree."""
    if device is None:
        get_xp(backend)  # NOTE: an unknown backend or a missing CuPy fails here
        dev = Device.of_backend(backend, where)
    else:
        dev = Device.parse(device, where)
        if backend not in ("numpy", dev.backend):
            raise InvalidArgumentError(f"{where}: backend {backend!r} and device {str(dev)!r} "
                                       "disagree: give one of them")
    dev.xp(where)
    return dev


def _check_feed(node: str, spec: Spec, value: Any, loc: str, backend: str = "numpy") -> Any:
    if isinstance(value, Tensor) and value._graph is None:
        value = value._value  # NOTE: an eager tensor's array, where it is (no host round trip)
    if hasattr(value, "__cuda_array_interface__") and value.dtype == spec.dtype:
        where, runs = device_of(value), Device.of_backend(backend)
        if where != runs:
            raise DeviceError(f"run: the feed for placeholder {node!r} ({spec!r}, {loc}) is "
                              f"on {where}, and the graph runs on {runs}: run it with "
                              "device=... or move the feed with .to(...)")
        arr = value  # a device array: checked, not moved
    else:
        arr = convert(value, spec.dtype, f"run: feed for placeholder {node!r} ({spec!r}, {loc})",
                      FeedError)
    if not shapes_match(spec.shape, arr.shape):
        raise FeedError(f"run: feed for placeholder {node!r} has shape {fmt_shape(arr.shape)}; "
                        f"the placeholder ({loc}) takes {fmt_shape(spec.shape)}")
    return arr




def placeholder(shape: Sequence[int | None], dtype: Any = None,
                name: str | None = None) -> Tensor:
    """A graph input to feed at ``run`` time; ``None`` dims take any size; the dtype is the
    default float dtype (``gx.config.floatx()``) unless given.

    >>> import graphexec as gx
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((None, 3), "float32", name="x")
    >>> x
    <Tensor 'x' shape=(None, 3) dtype=float32 graph=...>
    """
    g = _GRAPH.get()
    if g is None:
        raise GraphError(f"placeholder {name or ''!r} outside a graph block: use it inside "
                         f"`with gx.graph() as g:` — at {user_location()}")
    return g.placeholder(shape, config.floatx() if dtype is None else dtype, name)


@contextlib.contextmanager
def graph(g: Graph | None = None, name: str | None = None) -> Iterator[Graph]:
    """Record the ops of the block into a static graph instead of running them.

    Pass an existing graph to add more nodes to it.

    >>> import numpy as np, graphexec as gx
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((None, 2), "float32", name="x")
    ...     y = x * 2.0 + 1.0
    >>> y.shape
    (None, 2)
    >>> g.run(y, feeds={x: np.ones((1, 2), "float32")})
    array([[3., 3.]], dtype=float32)
    """
    g = Graph(name=name) if g is None else g
    token = _GRAPH.set(g)
    try:
        yield g
    finally:
        _GRAPH.reset(token)


@contextlib.contextmanager
def control_dependencies(control_inputs: Any) -> Iterator[None]:
    """Every node built in the block runs after ``control_inputs`` (tensors of the graph being
    built, or a list of them), though it reads none of their values — TF's
    ``tf.control_dependencies``; ``None`` clears the enclosing blocks' inputs inside it.
    Eagerly ops run in program order anyway: the block does nothing.

    >>> import graphexec as gx
    >>> v = gx.Variable(1.0, name="v")
    >>> with gx.graph() as g:
    ...     update = v.assign(5.0)
    ...     with gx.control_dependencies([update]):
    ...         y = gx.constant(2.0) * 3.0
    >>> g.run(y), v.numpy()
    (array(6., dtype=float32), array(5., dtype=float32))
    """
    g = _GRAPH.get()
    if g is None:
        yield
        return
    nodes = None if control_inputs is None else tuple(dict.fromkeys(
        _control_node(g, t, "control_dependencies") for t in tree.leaves(control_inputs)))
    g._control_stack.append(nodes)
    try:
        yield
    finally:
        g._control_stack.pop()


def group(*inputs: Any, name: str | None = None) -> Tensor:
    """One op that runs all of ``inputs`` (tensors, or lists of them) and gives no value —
    TF's ``tf.group``; in eager mode they have run already and ``group`` gives an empty tensor.

    >>> import graphexec as gx
    >>> a, b = gx.Variable(0.0, name="a"), gx.Variable(0.0, name="b")
    >>> with gx.graph() as g:
    ...     step = gx.group(a.assign(1.0), b.assign(2.0))
    >>> g.run(step).shape, a.numpy(), b.numpy()
    ((0,), array(1., dtype=float32), array(2., dtype=float32))
    """
    g = _GRAPH.get()
    if g is None:
        return as_tensor(np.zeros(0, np.float32))
    ctrl = tuple(dict.fromkeys(_control_node(g, t, "group") for t in tree.leaves(list(inputs))))
    spec = Spec((0,), np.dtype(np.float32))
    node = g.add_node(no_op_p, (), {}, (spec,), user_location(), name=name or "group",
                      control=ctrl)
    return g._tensors(node, (spec,), False)


def _control_node(g: GraphIR, t: Any, where: str) -> str:
    if not isinstance(t, Tensor) or t._graph is not g:
        raise GraphError(f"{where}: {t!r} is not a tensor of graph {g.name} being built — at "
                         f"{user_location()}")
    return t._node
