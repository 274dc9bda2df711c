"""The graph IR: data only — a networkx ``MultiDiGraph`` of op nodes, their names, specs and
source lines, ``validate`` and the text form (as torch.fx's ``Graph``).  Running, compiling and
feeding live above it, in ``graphexec.graph`` (as torch.fx's ``GraphModule``).

Each node stores ``op`` (its ``OpDef``), ``attrs``, ``specs`` (one Spec per output),
``inputs`` (the ordered ``(node, output_index)`` list — the source of truth for operand
order, so ``x * x`` is two slots fed by one node), ``control`` (nodes that must run before it,
though it reads none of their values: TF's control dependencies) and ``loc`` (the user's
``file:line``).  Each input is mirrored by an edge ``src -> dst`` keyed by its input slot,
carrying ``out_index``, and each control input by an edge keyed ``"^k"`` (``out_index`` None),
so networkx algorithms see the true data flow and ordering.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

import networkx as nx
import numpy as np

from .checks import check_dtype, check_shape
from .context import scope_prefix
from .errors import GraphError, GraphexecError, user_location
from .ops.state import Variable, constant_p, placeholder_p, read_variable_p
from .registry import REGISTRY, OpDef, Spec, short_dtype
from .tensor import SymbolicTensor, Tensor, to_numpy

__all__ = ["GraphIR", "Ref", "needed_nodes", "ordered_subgraph", "control_key", "is_ref"]

_graph_ids = itertools.count()
#: node ids: unique across graphs, kept by copies and passes (provenance follows them)
_node_ids = itertools.count(1)
Ref = tuple[str, int]


def is_ref(t: Any) -> bool:
    """Whether ``t`` is a ``(node, output)`` pair naming a graph tensor (a leaf of fetches).

    >>> from graphexec.ir import is_ref
    >>> is_ref(("exp", 0)), is_ref(("exp", "0"))
    (True, False)
    """
    return (isinstance(t, tuple) and len(t) == 2 and isinstance(t[0], str)
            and isinstance(t[1], int))


def control_key(k: int) -> str:
    """The edge key of a node's ``k``-th control input."""
    return f"^{k}"


class GraphIR:
    """A static dataflow graph: the data ``gx.graph()`` builds (``graphexec.graph.Graph`` adds
    running and compiling to it).

    >>> import graphexec as gx
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((None, 3), "float32", name="x")
    ...     y = x * x
    >>> d = g.nx.nodes["multiply"]
    >>> d["op"], d["inputs"], d["specs"], d["control"]
    (<op multiply (elementwise)>, (('x', 0), ('x', 0)), (f32[?,3],), ())
    """

    def __init__(self, name: str | None = None) -> None:
        self.name = name or f"g{next(_graph_ids)}"
        self.nx: nx.MultiDiGraph[str] = nx.MultiDiGraph(name=self.name)
        self.version = 0  # bumped by every change; invalidates cached plans
        self._names: Counter[str] = Counter()
        self._captures: dict[int, tuple[Any, Ref]] = {}
        self._fetch_reads: dict[int, tuple[Variable, str]] = {}  # Variables fetched by run
        #: the nodes ``gx.gradients`` and graph-mode tapes built (the backward pass)
        self.gradient_nodes: set[str] = set()
        #: the gx.function being traced into it, if one is (its errors name it)
        self.traced_function: str | None = None
        #: lower with the memory planner (set by ``optimize(level=3)``)
        self.plan_memory = False
        self._preview: Any = None  # optimize's memory preview: (fetches, memory plan, version)
        #: while a pass history records: node -> its data before the current pass changed it
        #: (None for a node the pass added); the pass helpers fill it in (``touch``)
        self._journal: dict[str, dict[str, Any] | None] | None = None
        #: nodes every node added now must run after (``gx.control_dependencies`` blocks;
        #: None for a ``control_dependencies(None)`` block, which clears the ones outside it)
        self._control_stack: list[tuple[str, ...] | None] = []

    # -- building -----------------------------------------------------------------------
    def _unique(self, base: str, scoped: bool = True) -> str:
        base = scope_prefix() + base if scoped else base
        while True:
            n = self._names[base]
            self._names[base] += 1
            name = base if n == 0 else f"{base}_{n}"
            if name not in self.nx:
                return name

    def add_node(self, op: OpDef | str, inputs: Sequence[Ref], attrs: dict[str, Any],
                 specs: tuple[Spec, ...], loc: str, name: str | None = None,
                 scoped: bool = True, control: Iterable[str] = (), ordered: bool = True) -> str:
        """Add one node (and its input and control edges); returns its unique name.  A
        low-level builder: nothing is checked, so the specs must be right (``add_op`` infers
        them).  ``op`` is an ``OpDef`` (or a registered op's name); ``control`` names nodes
        that must run first, besides those of the enclosing ``gx.control_dependencies`` blocks
        (unless ``ordered`` is false: a node shared by uses outside the blocks).

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
        opdef = REGISTRY[op] if isinstance(op, str) else op
        node = self._unique(name or opdef.name, scoped)
        ctrl: tuple[str, ...] = ()
        if (self._control_stack and ordered) or control:
            blocks = self._control_stack if ordered else []
            if None in blocks:  # control_dependencies(None): the blocks outside it do not count
                blocks = blocks[len(blocks) - blocks[::-1].index(None):]
            ctrl = tuple(dict.fromkeys([*(c for block in blocks if block for c in block),
                                        *control]))
        self.nx.add_node(node, op=opdef, attrs=attrs, specs=specs, loc=loc,
                         inputs=tuple(inputs), control=ctrl, id=next(_node_ids))
        if self._journal is not None:
            self._journal.setdefault(node, None)
        for slot, (src, idx) in enumerate(inputs):
            self.nx.add_edge(src, node, key=slot, out_index=idx)
        for k, src in enumerate(ctrl):
            self.nx.add_edge(src, node, key=control_key(k), out_index=None)
        self.version += 1
        return node

    def touch(self, node: str, removing: bool = False) -> None:
        """Say that ``node`` is about to change, or with ``removing`` to be removed (a pass
        history keeps its data as it was: a copy, or the data itself of a node that goes)."""
        j = self._journal
        if j is not None and node not in j:
            d = self.nx.nodes[node]
            j[node] = d if removing else dict(d)

    def _tensors(self, node: str, specs: tuple[Spec, ...], multi: bool) -> Any:
        out = tuple(SymbolicTensor(self, node, i, s)
                    for i, s in enumerate(specs))
        return out if multi else out[0]

    def _sees(self, other: GraphIR) -> bool:
        """Whether tensors of ``other`` may be used here (a subgraph sees enclosing graphs)."""
        return False

    def _ref(self, x: Tensor) -> Ref:
        if x._graph is self:
            return (x._node, x._index)
        if isinstance(x, Variable):
            r = self.read_variable(x)
            return (r._node, 0)
        hit = self._captures.get(id(x))
        if hit is None:  # capture an eager tensor's value (a copy) as a constant node, once
            # NOTE: shared by every later use, so it takes no control_dependencies block's inputs
            spec = Spec(np.shape(x._value), np.asarray(x._value).dtype)
            node = self.add_node(constant_p, (), {"value": np.array(to_numpy(x._value))},
                                 (spec,), user_location(), ordered=False)
            hit = self._captures[id(x)] = (x, (node, 0))
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
            inferred = op.infer(*[x._value if x._graph is None else x._spec for x in inputs],
                                **attrs)
        except GraphexecError as e:
            raise type(e)(f"{op.name}: {e} — at {loc}") from None
        refs = [self._ref(x) for x in inputs]
        multi = op.n_outputs != 1
        # NOTE: a Spec is a tuple too, so only n_outputs tells one spec from several
        specs = (tuple(cast("tuple[Spec, ...]", inferred)) if multi
                 else (cast(Spec, inferred),))
        node = self.add_node(op, refs, attrs, specs, loc)
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
        node = self.add_node(constant_p, (), {"value": value}, (spec,),
                             loc or user_location(), name=name)
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
        node = self.add_node(placeholder_p, (), {"shape": shape, "dtype": spec.dtype},
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
        ('v', array([3., 4.], dtype=float32))
        """
        spec = Spec(var._value.shape, var._value.dtype)
        node = self.add_node(read_variable_p, (), {"var": var}, (spec,), user_location(),
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
        return [n for n, d in self.nx.nodes(data=True) if d["op"] is placeholder_p]

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
        get = rank.get
        nodes_data = _dicts(g)[0]
        for i, n in enumerate(order):
            d = nodes_data[n]
            for src, _ in d["inputs"]:
                if get(src, -1) >= i:
                    break
            else:
                for src in d["control"]:
                    if get(src, -1) >= i:
                        break
                else:
                    continue
            break
        else:
            return order
        sub = g if nodes is None else g.subgraph(nodes)
        return list(nx.lexicographical_topological_sort(sub, key=rank.__getitem__))

    def infer_again(self, given: dict[Ref, Any], outputs: Sequence[Ref], *,
                    failures: bool = False) -> list[Any]:
        """The specs of ``outputs`` when the tensors in ``given`` have the specs given there:
        each op's infer rule again, in dependency order, over the nodes the outputs need
        (other sources keep their specs).  With ``failures``, a rule that fails gives its
        message (``op: Error: text``) to every output depending on it instead of raising.

        >>> import graphexec as gx
        >>> from graphexec.registry import Spec
        >>> with gx.graph() as g:
        ...     x = gx.placeholder((None, 3), "float32", name="x")
        ...     y = gx.sum(x * 2.0, axis=1)
        >>> g.infer_again({("x", 0): Spec((5, 3), "float32")}, [(y.name, 0)])
        [f32[5]]
        """
        env: dict[Ref, Any] = dict(given)
        nodes = self.nx.nodes
        for n in self.topological_order(needed_nodes(self, [r[0] for r in outputs])):
            if (n, 0) in given:
                continue
            d = nodes[n]
            op = d["op"]
            out: Any = d["specs"]
            if op.kind != "source":
                ins = [env[r] for r in d["inputs"]]
                failed = next((x for x in ins if isinstance(x, str)), None)
                if failed is None:
                    try:
                        got = op.infer(*ins, **d["attrs"])
                        out = tuple(got) if op.n_outputs != 1 else (got,)
                    except Exception as e:
                        if not failures:
                            raise
                        failed = f"{op.name}: {type(e).__name__}: {str(e)[:200]}"
                if failed is not None:
                    out = (failed,) * len(d["specs"])
            env.update(((n, k), sp) for k, sp in enumerate(out))
        return [env[r] for r in outputs]

    def validate(self) -> None:
        """Check the graph's invariants; raises GraphError naming the first broken node.

        >>> import graphexec as gx
        >>> with gx.graph() as g:
        ...     y = gx.exp(gx.placeholder((2,), name="x"))
        >>> g.validate()
        >>> g.nx.nodes["exp"]["op"] = "exp"
        >>> g.validate()
        Traceback (most recent call last):
            ...
        graphexec.errors.GraphError: graph ..., node 'exp' (exp): op 'exp' is not a registered OpDef
        """
        g = self.nx
        # NOTE: nodes are added after their inputs, and passes keep it so: when every edge
        # points forward in node order the graph is acyclic, in one linear walk
        rank = {n: i for i, n in enumerate(g)}
        nodes, pred = _dicts(g)
        forward = all(rank[u] < rank[v] for v, preds in pred.items() for u in preds)
        if not forward and not nx.is_directed_acyclic_graph(g):
            raise GraphError(f"graph {self.name} has a cycle: {nx.find_cycle(g)}")
        for node, d in nodes.items():
            where = f"graph {self.name}, node {node!r} ({d.get('op')})"
            for key in ("op", "attrs", "specs", "inputs", "control", "loc"):
                if key not in d:
                    raise GraphError(f"{where}: missing node attribute {key!r}")
            op = d["op"]
            if not isinstance(op, OpDef) or REGISTRY.get(op.name) is not op:
                raise GraphError(f"{where}: op {op!r} is not a registered OpDef")
            if op.arity is not None and len(d["inputs"]) != op.arity:
                raise GraphError(f"{where}: {len(d['inputs'])} inputs, op takes {op.arity}")
            n_out = len(d["specs"]) if op.n_outputs is None else op.n_outputs
            if len(d["specs"]) != n_out or not all(isinstance(s, Spec) for s in d["specs"]):
                raise GraphError(f"{where}: specs {d['specs']} do not fit {n_out} outputs")
            if not self._edges_agree(node, d):
                edges = sorted([(k, u, e["out_index"]) for u, _, k, e in
                                g.in_edges(node, keys=True, data=True)], key=str)
                want = sorted([(slot, src, idx) for slot, (src, idx) in enumerate(d["inputs"])]
                              + [(control_key(k), src, None)
                                 for k, src in enumerate(d["control"])], key=str)
                raise GraphError(f"{where}: input edges {edges} disagree with inputs {want}")
            for src, idx in d["inputs"]:
                if idx >= len(nodes[src]["specs"]):
                    raise GraphError(f"{where}: input {src}:{idx} does not exist")

    def _edges_agree(self, node: str, d: dict[str, Any]) -> bool:
        """Whether the edges into ``node`` are exactly its inputs and control inputs."""
        preds = _dicts(self.nx)[1][node]
        inputs, control = d["inputs"], d["control"]
        if sum(len(keyed) for keyed in preds.values()) != len(inputs) + len(control):
            return False
        for slot, (src, idx) in enumerate(inputs):
            e = preds.get(src, {}).get(slot)
            if e is None or e["out_index"] != idx:
                return False
        for k, src in enumerate(control):
            e = preds.get(src, {}).get(control_key(k))
            if e is None or e["out_index"] is not None:
                return False
        return True

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
            if d["control"]:
                args += (", " if args else "") + ", ".join(f"^{c}" for c in d["control"])
            attrs = d["attrs"]
            op = d["op"]
            if op is read_variable_p and attrs["var"].var_name == node:
                attrs = {}  # the node is named after its variable already
            body.append((f"{lhs} = {op.name}{_fmt_attrs(op, attrs)}({args})", d["loc"]))
            for k in op.subgraphs:  # a branch's or a body's nodes, indented under the node
                for sub in attrs[k] if isinstance(attrs[k], tuple) else (attrs[k],):
                    outs = ", ".join(f"{r[0]}:{r[1]}" if r[1] else r[0] for r in sub.outputs)
                    body.append((f"  {sub.name} ({', '.join(sub.params)}) -> {outs}:", ""))
                    # NOTE: what the outputs need (a pass may have pruned some), indented
                    live = needed_nodes(sub.graph, [r[0] for r in sub.outputs]) | set(
                        sub.params)
                    for ln in str(sub.graph).splitlines()[1:]:
                        code, _, loc = ln.partition("  # ")
                        if code.split(":", 1)[0].strip() in live or code.startswith("    "):
                            body.append(("  " + code.rstrip(), loc))
        width = min(max((len(s) for s, _ in body), default=0), 78)
        lines += [f"  {s.ljust(width)}  # {loc}" if loc else f"  {s}" for s, loc in body]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Graph {self.name}: {len(self)} nodes>"

    def apply_pass(self, fn: Callable[[GraphIR], bool], *, validate: bool = True) -> bool:
        """Run a graph pass ``fn(graph) -> changed`` that rewrites ``self.nx``; when it
        changed something, cached plans are dropped and (by default) the graph is validated.

        >>> import graphexec as gx
        >>> with gx.graph() as g:
        ...     x = gx.placeholder((2,), "float64", name="x")
        ...     y = gx.exp(x)
        >>> def exp_to_square(graph):
        ...     nodes = [n for n, d in graph.nx.nodes(data=True) if d["op"].name == "exp"]
        ...     for n in nodes:
        ...         graph.nx.nodes[n]["op"] = gx.REGISTRY["square"]
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
        >>> g.nx.nodes["exp"]["op"] = gx.REGISTRY["negative"]
        >>> g.invalidate()
        >>> g.run(y, {x: [1.0, 2.0]})
        array([-1., -2.])
        """
        self.version += 1

    def _fetch_ref(self, t: Any) -> Ref:
        if is_ref(t):  # a (node, output) reference
            t = self.tensor(f"{t[0]}:{t[1]}")
        if isinstance(t, str):
            t = self.tensor(t)
        if isinstance(t, Variable):  # its value, as TF's sess.run(w): read after the graph's
            hit = self._fetch_reads.get(id(t))  # assignments (a read made last, kept once)
            if hit is None or hit[1] not in self.nx:
                hit = self._fetch_reads[id(t)] = (t, self.read_variable(t)._node)
            return (hit[1], 0)
        if not isinstance(t, Tensor):
            raise GraphError(f"run: fetch {t!r} is not a tensor of graph {self.name}")
        if t._graph is not self:
            where = "an eager tensor" if t._graph is None else f"a tensor of graph {t._graph.name}"
            raise GraphError(f"run: fetch {t!r} is {where}, not of graph {self.name}")
        return (t._node, t._index)


def _dicts(g: nx.MultiDiGraph[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """networkx's own dicts of a graph's nodes (name -> data) and of their predecessors (name
    -> predecessor -> key -> edge data): a walk over every node reads these, not the views,
    which cost more than the walk's own work."""
    return g._node, g._pred  # type: ignore[attr-defined]


def _fmt_attr(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return np.array2string(v, threshold=4, edgeitems=1) if v.size <= 4 else f"<{v.size}>"
    if isinstance(v, Variable):
        return v.var_name
    if isinstance(v, OpDef):
        return v.name
    if isinstance(v, np.dtype | type):
        return short_dtype(np.dtype(v))
    if isinstance(v, tuple):
        return "(" + ",".join(_fmt_attr(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    return str(v)


def _fmt_attrs(op: OpDef, attrs: dict[str, Any]) -> str:
    if not attrs or op is placeholder_p:  # a placeholder's spec already shows its attrs
        return ""
    # ``origin``: the nodes a fused node replaced, kept for its error messages
    shown = [f"{k}={_fmt_attr(v)}" for k, v in attrs.items()
             if k != "origin" and k not in op.subgraphs  # NOTE: subgraphs show below
             and not (op.subgraphs and k == "level" and v is None)]
    return "[" + ", ".join(shown) + "]" if shown else ""


def needed_nodes(graph: GraphIR, roots: Iterable[str]) -> set[str]:
    """The nodes ``roots`` depend on through their inputs and control inputs, themselves
    included: the one reachability walk (lowering, compiling and gradients use it).

    >>> import graphexec as gx
    >>> from graphexec.ir import needed_nodes
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((2,), name="x")
    ...     y = gx.exp(x)
    ...     z = gx.sin(x)
    >>> sorted(needed_nodes(g, ["exp"]))
    ['exp', 'x']
    """
    nodes = graph.nx.nodes
    needed: set[str] = set()
    stack = list(roots)
    while stack:
        n = stack.pop()
        if n not in needed:
            needed.add(n)
            d = nodes[n]
            stack.extend(src for src, _ in d["inputs"])
            stack.extend(d["control"])
    return needed


def ordered_subgraph(graph: GraphIR, nodes: set[str]) -> nx.MultiDiGraph[str]:
    """A copy of the part of ``graph.nx`` on ``nodes``, in the graph's own node order: creation
    order, which scheduling reads as the program order of variable reads and assignments
    (networkx's subgraph copy walks a small node set in set order, which varies by run).

    >>> import graphexec as gx
    >>> from graphexec.ir import ordered_subgraph
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((2,), name="x")
    ...     y = gx.sin(gx.exp(x))
    ...     unused = [gx.cos(x) for _ in range(5)]
    >>> list(ordered_subgraph(g, {"sin", "x", "exp"}))
    ['x', 'exp', 'sin']
    """
    src = graph.nx
    out: nx.MultiDiGraph[str] = nx.MultiDiGraph(**src.graph)
    out.add_nodes_from((n, dict(src.nodes[n])) for n in src if n in nodes)
    for u, v, k, e in src.edges(keys=True, data=True):
        if u in nodes and v in nodes:
            out.add_edge(u, v, key=k, **e)
    return out
