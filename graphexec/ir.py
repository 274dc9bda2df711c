"""The static graph: a networkx ``MultiDiGraph`` of op nodes, plus ``Graph.run``.

Each node stores ``op`` (registered op name), ``attrs``, ``specs`` (one Spec per output),
``inputs`` (the ordered ``(node, output_index)`` list — the source of truth for operand
order, so ``x * x`` is two slots fed by one node) and ``loc`` (the user's ``file:line``).
Each input is mirrored by an edge ``src -> dst`` keyed by its input slot, carrying
``out_index``, so networkx algorithms see the true data flow.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import networkx as nx
import numpy as np

from . import compiler as _compiler
from .checks import check_dtype, check_shape
from .context import _GRAPH, scope_prefix
from .errors import FeedError, GraphError, GraphexecError, user_location
from .executor import Plan, lower
from .registry import REGISTRY, OpDef, Spec, fmt_shape, shapes_match, short_dtype
from .tensor import SymbolicTensor, Tensor, Variable, convert, to_numpy

__all__ = ["Graph", "placeholder"]

_graph_ids = itertools.count()
Ref = tuple[str, int]


class Graph:
    """A static dataflow graph built inside ``with gx.graph() as g:``.

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
        self.name = name or f"g{next(_graph_ids)}"
        self.nx: nx.MultiDiGraph[str] = nx.MultiDiGraph(name=self.name)
        self.version = 0  # bumped by every change; invalidates cached plans
        self._names: Counter[str] = Counter()
        self._captures: dict[int, tuple[Any, Ref]] = {}
        self._plans: dict[Any, Any] = {}
        self._compiled: dict[Any, Any] = {}
        #: lower with the memory planner (set by ``optimize(level=3)``)
        self.plan_memory = False
        self._preview: tuple[tuple[Ref, ...], Plan] | None = None  # optimize's memory preview

    # -- building -----------------------------------------------------------------------
    def _unique(self, base: str, scoped: bool = True) -> str:
        base = scope_prefix() + base if scoped else base
        while True:
            n = self._names[base]
            self._names[base] += 1
            name = base if n == 0 else f"{base}_{n}"
            if name not in self.nx:
                return name

    def add_node(self, op: str, inputs: Sequence[Ref], attrs: dict[str, Any],
                 specs: tuple[Spec, ...], loc: str, name: str | None = None,
                 scoped: bool = True) -> str:
        """Add one node (and its input edges); returns its unique name.  A low-level builder:
        nothing is checked, so the specs must be right (``add_op`` infers them).

        >>> import numpy as np, graphexec as gx
        >>> g = gx.Graph()
        >>> spec = gx.Spec((2,), np.dtype("float64"))
        >>> g.add_node("constant", (), {"value": np.ones(2)}, (spec,), "here", name="c")
        'c'
        >>> g.add_node("negative", [("c", 0)], {}, (spec,), "here")
        'negative'
        >>> g.run("negative")
        array([-1., -1.])
        """
        node = self._unique(name or op, scoped)
        self.nx.add_node(node, op=op, attrs=attrs, specs=specs, loc=loc, inputs=tuple(inputs))
        for slot, (src, idx) in enumerate(inputs):
            self.nx.add_edge(src, node, key=slot, out_index=idx)
        self.version += 1
        return node

    def _tensors(self, node: str, specs: tuple[Spec, ...], multi: bool) -> Any:
        out = tuple(SymbolicTensor(self, node, i, s)
                    for i, s in enumerate(specs))
        return out if multi else out[0]

    def _ref(self, x: Tensor) -> Ref:
        if x._graph is self:
            return (x._node, x._index)
        if isinstance(x, Variable):
            r = self.read_variable(x)
            return (r._node, 0)
        hit = self._captures.get(id(x))
        if hit is None:  # capture an eager tensor's value (a copy) as a constant node, once
            t = self.constant(np.array(to_numpy(x._value)), loc=user_location())
            hit = self._captures[id(x)] = (x, (t._node, 0))
        return hit[1]

    def add_op(self, op: OpDef, inputs: Sequence[Tensor], attrs: dict[str, Any]) -> Any:
        """Check ``op`` with its infer rule and add it as a node; returns its output tensor(s).
        ``apply`` calls this in graph mode.

        >>> import graphexec as gx
        >>> with gx.graph() as g:
        ...     x = gx.placeholder((2,), "float64", name="x")
        >>> y = g.add_op(gx.REGISTRY["negative"], [x], {})
        >>> y.name, g.run(y, {x: [1.0, 2.0]})
        ('negative', array([-1., -2.]))
        """
        loc = user_location()
        try:  # NOTE: check before adding anything, so a failed op leaves no orphan nodes
            inferred = op.infer(*[x._spec if x._graph is self else x._value for x in inputs],
                                **attrs)
        except GraphexecError as e:
            raise type(e)(f"{op.name}: {e} — at {loc}") from None
        refs = [self._ref(x) for x in inputs]
        multi = op.n_outputs != 1
        # NOTE: a Spec is a tuple too, so only n_outputs tells one spec from several
        specs = (tuple(cast("tuple[Spec, ...]", inferred)) if multi
                 else (cast(Spec, inferred),))
        node = self.add_node(op.name, refs, attrs, specs, loc)
        return self._tensors(node, specs, multi)

    def constant(self, value: np.ndarray, name: str | None = None,
                 loc: str | None = None) -> Tensor:
        """Add a constant node holding ``value``; ``gx.constant`` calls this in graph mode.

        >>> import numpy as np, graphexec as gx
        >>> g = gx.Graph()
        >>> c = g.constant(np.array([1.0, 2.0]), name="c")
        >>> c.name, g.run(c)
        ('c', array([1., 2.]))
        """
        spec = Spec(value.shape, value.dtype)
        node = self.add_node("constant", (), {"value": value}, (spec,), loc or user_location(),
                             name=name)
        return self._tensors(node, (spec,), False)

    def placeholder(self, shape: Sequence[int | None], dtype: Any,
                    name: str | None = None) -> Tensor:
        """Add a placeholder node; ``gx.placeholder`` calls this in graph mode.

        >>> import graphexec as gx
        >>> g = gx.Graph()
        >>> g.placeholder((None, 2), "float32", name="x").spec
        f32[?,2]
        """
        spec = Spec(check_shape(shape, "placeholder", unknown=True),
                    check_dtype(dtype, "placeholder"))
        node = self.add_node("placeholder", (), {"shape": shape, "dtype": spec.dtype},
                             (spec,), user_location(), name=name or "placeholder")
        return self._tensors(node, (spec,), False)

    def read_variable(self, var: Variable) -> Tensor:
        """Add a node, named after ``var``, that reads its value when the graph runs (a variable
        used by an op in graph mode is read this way).

        >>> import graphexec as gx
        >>> v = gx.Variable([1.0, 2.0], name="v")
        >>> g = gx.Graph()
        >>> r = g.read_variable(v)
        >>> _ = v.assign([3.0, 4.0])
        >>> r.name, g.run(r)
        ('v', array([3., 4.]))
        """
        spec = Spec(var._value.shape, var._value.dtype)
        node = self.add_node("read_variable", (), {"var": var}, (spec,), user_location(),
                             name=var.var_name, scoped=False)
        return self._tensors(node, (spec,), False)

    # -- inspection -----------------------------------------------------------------------
    def spec(self, ref: Ref) -> Spec:
        """The spec of output ``ref = (node, index)``.

        >>> import graphexec as gx
        >>> with gx.graph() as g:
        ...     x = gx.placeholder((None, 3), "int32", name="x")
        >>> g.spec(("x", 0))
        i32[?,3]
        """
        return self.nx.nodes[ref[0]]["specs"][ref[1]]

    @property
    def placeholders(self) -> list[str]:
        """Names of the placeholder nodes, in creation order.

        >>> import graphexec as gx
        >>> with gx.graph() as g:
        ...     y = gx.placeholder((2,), name="a") + gx.placeholder((2,), name="b")
        >>> g.placeholders
        ['a', 'b']
        """
        return [n for n, d in self.nx.nodes(data=True) if d["op"] == "placeholder"]

    def tensor(self, name: str) -> Tensor:
        """The tensor named ``node`` or ``node:i``.

        >>> import graphexec as gx
        >>> with gx.graph() as g:
        ...     parts = gx.unstack(gx.placeholder((2, 3), name="x"))
        >>> g.tensor("x"), g.tensor("unstack:1").shape
        (<Tensor 'x' shape=(2, 3) dtype=float32 graph=...>, (3,))
        """
        node, _, idx = name.partition(":")
        if node not in self.nx:
            raise GraphError(f"graph {self.name} has no node {node!r}")
        specs = self.nx.nodes[node]["specs"]
        if not (idx or "0").isdigit() or int(idx or 0) >= len(specs):
            raise GraphError(f"graph {self.name}: node {node!r} has {len(specs)} output(s); "
                             f"{name!r} names none of them")
        i = int(idx or 0)
        return SymbolicTensor(self, node, i, specs[i])

    def __len__(self) -> int:
        return self.nx.number_of_nodes()

    def topological_order(self, nodes: Any = None) -> list[str]:
        """Nodes (all, or the given subset) in dependency order, ties broken by creation order,
        so a graph reads in the order its program was written.

        >>> import graphexec as gx
        >>> with gx.graph() as g:
        ...     x = gx.placeholder((2,), name="x")
        ...     y = gx.exp(x) + gx.sin(x)
        >>> g.topological_order(), g.topological_order(["sin", "add"])
        (['x', 'exp', 'sin', 'add'], ['sin', 'add'])
        """
        g = self.nx
        if nodes is not None:
            nodes = nodes if isinstance(nodes, set | frozenset) else set(nodes)
        order = list(g) if nodes is None else [n for n in g if n in nodes]
        # NOTE: nodes are added after their inputs, and every pass keeps it so, so creation
        # order is usually the answer already: checking it is linear, sorting is n·log n with
        # a large constant
        rank = {n: i for i, n in enumerate(order)}
        inputs = nx.get_node_attributes(g, "inputs") if nodes is None else None
        for i, n in enumerate(order):
            for src, _ in (inputs[n] if inputs is not None else g.nodes[n]["inputs"]):
                if rank.get(src, -1) >= i:
                    break
            else:
                continue
            break
        else:
            return order
        sub = g if nodes is None else g.subgraph(nodes)
        return list(nx.lexicographical_topological_sort(sub, key=rank.__getitem__))

    def validate(self) -> None:
        """Check the graph's invariants; raises GraphError naming the first broken node.

        >>> import graphexec as gx
        >>> with gx.graph() as g:
        ...     y = gx.exp(gx.placeholder((2,), name="x"))
        >>> g.validate()
        >>> g.nx.nodes["exp"]["op"] = "no_such_op"
        >>> g.validate()
        Traceback (most recent call last):
            ...
        graphexec.errors.GraphError: graph ..., node 'exp' (no_such_op): unknown op
        """
        g = self.nx
        if not nx.is_directed_acyclic_graph(g):
            raise GraphError(f"graph {self.name} has a cycle: {nx.find_cycle(g)}")
        for node, d in g.nodes(data=True):
            where = f"graph {self.name}, node {node!r} ({d.get('op')})"
            for key in ("op", "attrs", "specs", "inputs", "loc"):
                if key not in d:
                    raise GraphError(f"{where}: missing node attribute {key!r}")
            op = REGISTRY.get(d["op"])
            if op is None:
                raise GraphError(f"{where}: unknown op")
            if op.arity is not None and len(d["inputs"]) != op.arity:
                raise GraphError(f"{where}: {len(d['inputs'])} inputs, op takes {op.arity}")
            n_out = len(d["specs"]) if op.n_outputs is None else op.n_outputs
            if len(d["specs"]) != n_out or not all(isinstance(s, Spec) for s in d["specs"]):
                raise GraphError(f"{where}: specs {d['specs']} do not fit {n_out} outputs")
            edges = sorted((k, u, e["out_index"]) for u, _, k, e in g.in_edges(node, keys=True,
                                                                               data=True))
            want = [(slot, src, idx) for slot, (src, idx) in enumerate(d["inputs"])]
            if edges != want:
                raise GraphError(f"{where}: input edges {edges} disagree with inputs {want}")
            for src, idx in d["inputs"]:
                if idx >= len(g.nodes[src]["specs"]):
                    raise GraphError(f"{where}: input {src}:{idx} does not exist")

    def __str__(self) -> str:
        lines = [f"graph {self.name} ({len(self)} nodes)"]
        body = []
        for node in self.topological_order():
            d = self.nx.nodes[node]
            outs = d["specs"]
            lhs = (f"{node}: {outs[0]!r}" if len(outs) == 1 else
                   ", ".join(f"{node}:{i}: {s!r}" for i, s in enumerate(outs)))
            args = ", ".join(src if len(self.nx.nodes[src]["specs"]) == 1 else f"{src}:{i}"
                             for src, i in d["inputs"])
            attrs = d["attrs"]
            if d["op"] == "read_variable" and attrs["var"].var_name == node:
                attrs = {}  # the node is named after its variable already
            body.append((f"{lhs} = {d['op']}{_fmt_attrs(d['op'], attrs)}({args})", d["loc"]))
        width = min(max((len(s) for s, _ in body), default=0), 78)
        lines += [f"  {s.ljust(width)}  # {loc}" for s, loc in body]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Graph {self.name}: {len(self)} nodes>"

    # -- running -------------------------------------------------------------------------
    def run(self, fetches: Any, feeds: Mapping[Any, Any] | None = None, *,
            backend: str = "numpy", optimize: int | None = None) -> Any:
        """Run the graph: compute ``fetches`` (a tensor, a list/tuple or a dict of tensors).

        ``feeds`` maps placeholders (tensors or their names) to values; they are checked
        against the placeholders' shapes and dtypes before any kernel runs.  Fetched values
        of constants and variables are read-only: copy them to change them.

        ``optimize`` (0–3, default ``gx.compiler.default_level()``, initially 1) is the
        optimization level (see ``gx.optimize``): the part of the graph the fetches need is
        copied, optimized and lowered once per set of fetches, and cached; the graph itself
        is left as built.  Level 0 runs the nodes as built.

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
            rebuild = _first
        else:
            flat, rebuild = _flatten_fetches(fetches)
            refs = tuple(self._fetch_ref(t) for t in flat)
        level = _compiler._DEFAULT_LEVEL if optimize is None else optimize
        plan = self._plans.get((refs, backend, level))
        if plan is None or plan.version != self.version:
            plan = self._lower(refs, backend, level)
        return rebuild(plan.run(self._check_feeds(plan, feeds)))

    def _lower(self, refs: tuple[Ref, ...], backend: str, optimize: int) -> Plan:
        level = _compiler.check_level(optimize, "run")
        if len(self._plans) > 64:
            self._plans.clear()
            self._compiled.clear()
        if level == 0:
            plan = lower(self, refs, backend, plan_memory=self.plan_memory)
        else:
            plan = self.compile(list(refs), optimize=level, backend=backend).plan
        self._plans[(refs, backend, level)] = plan
        return plan

    def compile(self, fetches: Any, *, optimize: int | None = None,
                backend: str = "numpy") -> Any:
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
        level = _compiler.check_level(optimize, "compile")
        flat, _ = _flatten_fetches(fetches)
        key = (tuple(self._fetch_ref(t) for t in flat), backend, level, _structure(fetches))
        hit = self._compiled.get(key)
        if hit is None or hit.version != self.version:
            hit = self._compiled[key] = _compiler.CompiledGraph(self, fetches, level, backend)
        return hit

    def apply_pass(self, fn: Callable[[Graph], bool], *, validate: bool = True) -> bool:
        """Run a graph pass ``fn(graph) -> changed`` that rewrites ``self.nx``; when it
        changed something, cached plans are dropped and (by default) the graph is validated.

        >>> import graphexec as gx
        >>> with gx.graph() as g:
        ...     x = gx.placeholder((2,), "float64", name="x")
        ...     y = gx.exp(x)
        >>> def exp_to_square(graph):
        ...     nodes = [n for n, d in graph.nx.nodes(data=True) if d["op"] == "exp"]
        ...     for n in nodes:
        ...         graph.nx.nodes[n]["op"] = "square"
        ...     return bool(nodes)
        >>> g.apply_pass(exp_to_square)
        True
        >>> g.run(y, {x: [1.0, 3.0]})
        array([1., 9.])
        """
        changed = bool(fn(self))
        if changed:
            self.invalidate()
            if validate:
                self.validate()
        return changed

    def invalidate(self) -> None:
        """Drop cached plans: call after changing ``self.nx`` other than through the Graph's
        own methods or ``apply_pass``.

        >>> import graphexec as gx
        >>> with gx.graph() as g:
        ...     x = gx.placeholder((2,), "float64", name="x")
        ...     y = gx.exp(x)
        >>> g.run(y, {x: [0.0, 0.0]})
        array([1., 1.])
        >>> g.nx.nodes["exp"]["op"] = "negative"
        >>> g.invalidate()
        >>> g.run(y, {x: [1.0, 2.0]})
        array([-1., -2.])
        """
        self.version += 1

    def _fetch_ref(self, t: Any) -> Ref:
        if (isinstance(t, tuple) and len(t) == 2 and isinstance(t[0], str)
                and isinstance(t[1], int)):  # a (node, output) reference
            t = self.tensor(f"{t[0]}:{t[1]}")
        if isinstance(t, str):
            t = self.tensor(t)
        if not isinstance(t, Tensor):
            raise GraphError(f"run: fetch {t!r} is not a tensor of graph {self.name}")
        if t._graph is not self:
            where = "an eager tensor" if t._graph is None else f"a tensor of graph {t._graph.name}"
            raise GraphError(f"run: fetch {t!r} is {where}, not of graph {self.name}")
        return (t._node, t._index)

    def _check_feeds(self, plan: Plan, feeds: Mapping[Any, Any] | None) -> dict[str, Any]:
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
            if d["op"] != "placeholder":
                raise FeedError(f"run: can only feed placeholders; {node!r} is a {d['op']} node")
            checked[node] = _check_feed(node, d["specs"][0], value, d["loc"])
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


def _check_feed(node: str, spec: Spec, value: Any, loc: str) -> Any:
    if hasattr(value, "__cuda_array_interface__") and value.dtype == spec.dtype:
        arr = value  # a device array: checked, not moved
    else:
        arr = convert(value, spec.dtype, f"run: feed for placeholder {node!r} ({spec!r}, {loc})",
                      FeedError)
    if not shapes_match(spec.shape, arr.shape):
        raise FeedError(f"run: feed for placeholder {node!r} has shape {fmt_shape(arr.shape)}; "
                        f"the placeholder ({loc}) takes {fmt_shape(spec.shape)}")
    return arr


def _structure(fetches: Any) -> Any:
    """What, besides the tensors, decides how results are handed back."""
    if isinstance(fetches, Mapping):
        return ("mapping", tuple(fetches))
    return type(fetches) if isinstance(fetches, list | tuple) else None


def _first(values: list[Any]) -> Any:
    return values[0]


def _flatten_fetches(fetches: Any) -> tuple[list[Any], Any]:
    if isinstance(fetches, Mapping):
        keys = list(fetches)
        return [fetches[k] for k in keys], lambda vals: dict(zip(keys, vals, strict=True))
    if isinstance(fetches, list | tuple):
        kind = type(fetches)
        return list(fetches), lambda vals: kind(vals)
    return [fetches], lambda vals: vals[0]


def _fmt_attr(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return np.array2string(v, threshold=4, edgeitems=1) if v.size <= 4 else f"<{v.size}>"
    if isinstance(v, Variable):
        return v.var_name
    if isinstance(v, np.dtype | type):
        return short_dtype(np.dtype(v))
    if isinstance(v, tuple):
        return "(" + ",".join(_fmt_attr(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    return str(v)


def _fmt_attrs(op: str, attrs: dict[str, Any]) -> str:
    if not attrs or op == "placeholder":  # a placeholder's spec already shows its attrs
        return ""
    # ``origin``: the nodes a fused node replaced, kept for its error messages
    shown = [f"{k}={_fmt_attr(v)}" for k, v in attrs.items() if k != "origin"]
    return "[" + ", ".join(shown) + "]" if shown else ""


def placeholder(shape: Sequence[int | None], dtype: Any = "float32",
                name: str | None = None) -> Tensor:
    """A graph input to feed at ``run`` time; ``None`` dims take any size.

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
    return g.placeholder(shape, dtype, name)
