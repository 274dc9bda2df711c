"""Lowering a graph to a flat plan, and running it.

Lowering schedules the nodes the fetches need in topological order, gives every tensor a slot,
frees each slot right after its last use, and emits the plan as straight-line Python source —
one kernel call per line, as torch.fx's GraphModule does — so running a graph costs what the
same kernels cost when called by hand.  ``plan.source`` shows the code.
"""

from __future__ import annotations

import linecache
import sys
from typing import Any

import networkx as nx

from .backend import get_xp
from .errors import GraphError, GraphexecError, node_failed
from .registry import REGISTRY

__all__ = ["Plan", "lower"]

Ref = tuple[str, int]


class Plan:
    """An executable schedule of one graph for one set of fetches.

    ``steps`` lists ``(node, op, input slots, output slots, slots freed after it)``;
    ``source`` is the generated Python that runs them.

    >>> import graphexec as gx
    >>> from graphexec.executor import lower
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((2,), "float64", name="x")
    ...     y = gx.exp(-x)
    >>> plan = lower(g, (("exp", 0),))
    >>> print(plan.source, end="")
    def run(feeds):
        p0 = _read_only(feeds['x'])
        t0 = k0(xp, p0)  # negative
        t1 = k1(xp, t0)  # exp
        del t0
        return [t1]
    >>> len(plan), plan.placeholders
    (2, ['x'])
    """

    def __init__(self, fn: Any, source: str, steps: list[tuple], placeholders: list[str],
                 filename: str, line_nodes: dict[int, tuple[str, str]], version: int,
                 feed_checks: dict[str, tuple]) -> None:
        self._fn = fn
        self.version = version  # the graph version it was lowered from
        #: placeholder -> (dtype, shape if fully known else None, shape) for the feed check
        self.feed_checks = feed_checks
        self.source = source
        self.steps = steps
        self.placeholders = placeholders
        self._filename = filename
        self._line_nodes = line_nodes
        #: the memory plan (``lower(..., plan_memory=True)``), else None
        self.memory: MemoryPlan | None = None

    def run(self, feeds: dict[str, Any]) -> list[Any]:
        """The fetched values, in order, for ``feeds`` (placeholder name -> array, already
        checked: ``Graph.run`` checks them); a failing kernel raises ExecutionError naming its
        node and the line that created it.

        >>> import numpy as np, graphexec as gx
        >>> from graphexec.executor import lower
        >>> with gx.graph() as g:
        ...     y = gx.exp(gx.placeholder((2,), "float64", name="x"))
        >>> lower(g, (("exp", 0),)).run({"x": np.zeros(2)})
        [array([1., 1.])]
        """
        try:
            return self._fn(feeds)
        except GraphexecError:
            raise
        except Exception as e:
            raise node_failed(*self._failed_node(e), e) from e

    def _failed_node(self, e: BaseException) -> tuple[str, str]:
        tb, line = e.__traceback__, None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == self._filename:
                line = tb.tb_lineno
            tb = tb.tb_next
        if line is None:  # no frame of the generated code: the failure was outside it
            return ("?", "?")
        return self._line_nodes.get(line, ("?", "?"))

    def __len__(self) -> int:
        return len(self.steps)


_plan_ids = iter(range(sys.maxsize))


def _read_only(a: Any) -> Any:
    """A read-only view of a fed array: the graph never writes into, nor keeps, user memory."""
    view = a.view()
    view.flags.writeable = False
    return view


def needed_nodes(graph: Any, fetches: tuple[Ref, ...]) -> set[str]:
    """The nodes ``fetches`` depend on, themselves included."""
    g = graph.nx
    needed: set[str] = set()
    stack = [n for n, _ in fetches]
    while stack:
        n = stack.pop()
        if n not in needed:
            needed.add(n)
            stack.extend(src for src, _ in g.nodes[n]["inputs"])
    return needed


def _schedule(graph: Any, needed: set[str]) -> list[str]:
    """Topological order of ``needed``, creation order on ties, in which the reads and
    assignments of each variable keep their program order (as TF's automatic control
    dependencies do): a read written before an update sees the old value, one written after it
    the new value, and two updates apply in turn."""
    g = graph.nx
    assigns = [n for n in needed if g.nodes[n]["op"] == "assign"]
    if not assigns:
        return graph.topological_order(needed)
    rank = {n: i for i, n in enumerate(g)}
    per_var: dict[int, list[str]] = {}
    for n in needed:
        d = g.nodes[n]
        if d["op"] in ("read_variable", "assign"):
            per_var.setdefault(id(d["attrs"]["var"]), []).append(n)
    sub: nx.DiGraph[str] = nx.DiGraph(g.subgraph(needed))
    for nodes in per_var.values():
        nodes.sort(key=rank.__getitem__)
        last_assign: str | None = None
        reads_since: list[str] = []
        for n in nodes:
            if g.nodes[n]["op"] == "assign":
                for r in reads_since:
                    sub.add_edge(r, n)
                if last_assign is not None:
                    sub.add_edge(last_assign, n)
                last_assign, reads_since = n, []
            else:
                if last_assign is not None:
                    sub.add_edge(last_assign, n)
                reads_since.append(n)
    if not nx.is_directed_acyclic_graph(sub):
        raise GraphError(f"graph {graph.name}: the reads and assignments of a variable cannot "
                         "keep their program order")
    return list(nx.lexicographical_topological_sort(sub, key=rank.__getitem__))


#: ops whose (numpy) result never shares memory with an input, besides those with ``out_arg``:
#: the memory planner may write into their results in place
_FRESH_OPS = frozenset({"matmul", "sum", "mean", "max", "min", "prod", "fused_conv2d"})


class MemoryPlan:
    """What the memory planner decided for one plan.

    ``out`` maps a step index to the Python name of the buffer the step writes into (a dying
    input, in place, or a dead buffer of the same shape and dtype); ``guards`` maps each such
    step to the run-time condition for the write (layout, and shapes with unknown dims);
    ``hold`` maps a buffer name to the step that takes it over (it is kept alive until then).
    Byte counts cover tensors whose shapes are fully known: ``unplanned_sum`` adds up every
    intermediate result, ``unplanned_peak`` is the most held at once with one fresh array per
    result, ``planned_peak`` the most held at once with the plan's reuse.
    """

    def __init__(self) -> None:
        self.out: dict[int, str] = {}
        self.guards: dict[int, str] = {}
        self.hold: dict[str, int] = {}
        self.in_place = 0
        self.reused = 0
        self.unplanned_sum = 0
        self.unplanned_peak = 0
        self.planned_peak = 0
        self.unknown = 0  # results whose size is unknown until run time

    def summary(self) -> str:
        """One line: what was reused and the byte counts."""
        unknown = f"; {self.unknown} result(s) of unknown size" if self.unknown else ""
        return (f"{self.in_place} in place, {self.reused} reused; peak "
                f"{_fmt_bytes(self.planned_peak)} planned vs {_fmt_bytes(self.unplanned_peak)} "
                f"unplanned, sum of results {_fmt_bytes(self.unplanned_sum)}{unknown}")

    def __repr__(self) -> str:
        return f"<MemoryPlan: {self.summary()}>"


def _fmt_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n:.1f} GiB"


def _nbytes(spec: Any) -> int | None:
    if None in spec.shape:
        return None
    size = 1
    for d in spec.shape:
        size *= d
    return size * spec.dtype.itemsize


def plan_buffers(graph: Any, computed: list[str], fetches: tuple[Ref, ...],
                 names: dict[Ref, str], last_use: dict[Ref, int]) -> MemoryPlan:
    """Plan buffers for the scheduled nodes ``computed``: an op that can write into ``out``
    (``OpDef.out_arg``) writes into an input that dies at it (elementwise ops, same shape and
    dtype), else into a dead result of the same static shape and dtype.

    Aliasing is tracked by *roots*: a fresh result (from an ``out_arg`` op or one of
    ``_FRESH_OPS``) is its own root; any other result may be a view of its inputs (reshape,
    transpose, getitem, split, ...) and carries their roots, so a buffer dies only when every
    view of it has.  Constants, feeds and variable values are never written.  Results that are
    fetched, or assigned to a variable (the variable takes the array over), are never reused.
    """
    g = graph.nx
    mp = MemoryPlan()
    pos = {n: k for k, n in enumerate(computed)}
    fresh: set[Ref] = set()
    roots: dict[Ref, frozenset[Ref]] = {}
    escaped: set[Ref] = set(fetches)
    for n in computed:
        d = g.nodes[n]
        opdef = REGISTRY[d["op"]]
        outs = [(n, i) for i in range(len(d["specs"]))]
        if len(outs) == 1 and (opdef.out_arg or d["op"] in _FRESH_OPS):
            fresh.add(outs[0])
            roots[outs[0]] = frozenset(outs)
        else:
            union = frozenset().union(*(roots.get(r, frozenset()) for r in d["inputs"]))
            for r in outs:
                roots[r] = union
        if d["op"] == "assign":
            for r in d["inputs"]:
                escaped |= roots.get(r, frozenset())
    for r in fetches:
        escaped |= roots.get(r, frozenset())
    # a root's buffer dies at the last use of any tensor carrying it
    death: dict[Ref, int] = {r: pos[r[0]] for r in fresh}
    for r, k in last_use.items():
        for root in roots.get(r, ()):
            if death[root] < k:
                death[root] = k
    # byte accounting: when each result's memory is released without a plan
    release: dict[int, list[Ref]] = {}
    for r in roots:
        if r in escaped:
            continue
        k = death[r] if r in fresh else last_use.get(r, pos[r[0]])
        release.setdefault(k, []).append(r)

    pool: dict[tuple[Any, ...], list[Ref]] = {}
    taken: dict[int, Ref] = {}  # step -> the buffer (root) it writes into
    for k, n in enumerate(computed):
        d = g.nodes[n]
        opdef = REGISTRY[d["op"]]
        spec = d["specs"][0] if d["specs"] else None
        out0 = (n, 0)
        if spec is not None and out0 in fresh and opdef.out_arg and spec.shape != ():
            took = None
            if opdef.kind == "elementwise":
                took = _in_place(g, d, k, roots, fresh, escaped, death, names, mp)
            if took is None and None not in spec.shape:
                bucket = pool.get((spec.shape, spec.dtype))
                if bucket:
                    took = bucket.pop()
                    mp.out[k] = names[took]
                    mp.hold[names[took]] = k
                    mp.guards[k] = _layout_guard(
                        names[took], [names[r] for r in d["inputs"]]
                        if opdef.kind == "elementwise" else [], [])
                    mp.reused += 1
            if took is not None:
                taken[k] = took
        if d["specs"] and k not in taken and d["op"] != "read_variable":
            # NOTE: this step allocates: a dead buffer held across it would raise the peak
            pool.clear()
        for r in release.get(k, ()):
            spec_r = g.nodes[r[0]]["specs"][r[1]]
            if r in fresh and r != taken.get(k) and None not in spec_r.shape and spec_r.shape:
                pool.setdefault((spec_r.shape, spec_r.dtype), []).append(r)

    # byte accounting, without and with the plan
    passed_on = set(taken.values())  # buffers another result took over
    live = live_planned = 0
    for k, n in enumerate(computed):
        d = g.nodes[n]
        for i, spec in enumerate(d["specs"]):
            if d["op"] == "read_variable":  # the variable's own array: nothing allocated
                break
            b = _nbytes(spec)
            if b is None:
                mp.unknown += 1
                continue
            mp.unplanned_sum += b
            live += b
            if not (i == 0 and k in taken):
                live_planned += b
        mp.unplanned_peak = max(mp.unplanned_peak, live)
        mp.planned_peak = max(mp.planned_peak, live_planned)
        for r in release.get(k, ()):
            src = g.nodes[r[0]]
            b = 0 if src["op"] == "read_variable" else _nbytes(src["specs"][r[1]]) or 0
            live -= b
            if r not in passed_on:
                live_planned -= b
    return mp


def _in_place(g: Any, d: dict[str, Any], k: int, roots: dict[Ref, frozenset[Ref]],
              fresh: set[Ref], escaped: set[Ref], death: dict[Ref, int],
              names: dict[Ref, str], mp: MemoryPlan) -> Ref | None:
    """An input of elementwise node ``d`` (step ``k``) whose buffer dies here and can take the
    result, or None; records the choice in ``mp``."""
    spec = d["specs"][0]
    inputs = d["inputs"]
    for r in inputs:
        if (r not in fresh or r in escaped or death[r] != k
                or g.nodes[r[0]]["specs"][r[1]] != spec):
            continue
        # NOTE: an input that is another view of the same buffer would be overwritten while
        # it is read: then no in-place write
        if any(o != r and r in roots.get(o, ()) for o in inputs):
            continue
        shapes = []
        if None in spec.shape:
            # the result's shape is the inputs' broadcast shape: when another input has an
            # unknown dim, check at run time that it matches this one
            for o in inputs:
                if o != r and None in g.nodes[o[0]]["specs"][o[1]].shape:
                    shapes.append(f"{names[o]}.shape == {names[r]}.shape")
        mp.out[k] = names[r]
        mp.guards[k] = _layout_guard(names[r], [names[o] for o in inputs], shapes)
        mp.in_place += 1
        return r
    return None


def _layout_guard(out: str, inputs: list[str], shapes: list[str]) -> str:
    """The run-time condition for writing into buffer ``out``: the ``shapes`` checks, and a
    C-contiguous ``out`` (and ``inputs``, for an elementwise op) — so the result has the
    memory layout the op gives on its own: numpy's ufuncs follow their operands' layout, and a
    later matmul or sum may round differently in another."""
    flags = [f"{n}.flags.c_contiguous" for n in dict.fromkeys([out, *inputs])]
    return " and ".join(sorted(set(shapes)) + flags)


def lower(graph: Any, fetches: tuple[Ref, ...], backend: str = "numpy",
          plan_memory: bool = False) -> Plan:
    """Schedule the nodes ``fetches`` (``(node, index)`` pairs) depend on and generate the
    code that runs them on ``backend``; ``Graph.run`` lowers once per set of fetches and caches
    the plan.

    >>> import graphexec as gx
    >>> from graphexec.executor import lower
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((2,), "float64", name="x")
    ...     y = gx.exp(x)
    ...     unused = gx.sin(x)
    >>> [step[0] for step in lower(g, (("exp", 0),)).steps]
    ['exp']
    """
    xp = get_xp(backend)
    g = graph.nx
    order = _schedule(graph, needed_nodes(graph, fetches))

    names: dict[Ref, str] = {}  # tensor -> Python name in the generated code
    glb: dict[str, Any] = {"xp": xp}
    placeholders: list[str] = []
    computed: list[str] = []
    for n in order:
        d = g.nodes[n]
        if d["op"] == "constant":
            names[(n, 0)] = f"c{len(glb)}"
            glb[names[(n, 0)]] = value = xp.asarray(d["attrs"]["value"])
            if xp.__name__ == "numpy":  # a fetched constant, or a view of one, is read-only
                value = glb[names[(n, 0)]] = value.view()
                value.flags.writeable = False
        elif d["op"] == "placeholder":
            names[(n, 0)] = f"p{len(placeholders)}"
            placeholders.append(n)
        else:
            k = len(computed)
            for i in range(len(d["specs"])):
                names[(n, i)] = f"t{k}" if len(d["specs"]) == 1 else f"t{k}_{i}"
            computed.append(n)

    fetched = set(fetches)
    last_use: dict[Ref, int] = {}
    for k, n in enumerate(computed):
        for r in g.nodes[n]["inputs"]:
            last_use[r] = k
    mp = plan_buffers(graph, computed, fetches, names, last_use) if plan_memory else None
    held = {} if mp is None else mp.hold
    frees: list[list[Ref]] = [[] for _ in computed]
    for r, k in last_use.items():
        if r not in fetched and names[r][0] == "t":
            # NOTE: a dead buffer a later step writes into lives until that step
            frees[max(k, held.get(names[r], k))].append(r)
    for r, name in names.items():
        if name in held and r not in last_use:
            frees[held[name]].append(r)

    lines = ["def run(feeds):"]
    # NOTE: feeds arrive as host arrays; a device backend moves them once, here
    feed = "_read_only(feeds[{!r}])" if xp.__name__ == "numpy" else "xp.asarray(feeds[{!r}])"
    glb["_read_only"] = _read_only
    lines += [f"    p{i} = {feed.format(n)}" for i, n in enumerate(placeholders)]
    line_nodes: dict[int, tuple[str, str]] = {}
    steps = []
    for k, n in enumerate(computed):
        d = g.nodes[n]
        op = REGISTRY[d["op"]]
        glb[f"k{k}"] = op.overrides.get(backend, op.kernel)
        args = ["xp"] + [names[r] for r in d["inputs"]]
        for a, v in d["attrs"].items():
            glb[f"a{k}_{a}"] = v
            args.append(f"{a}=a{k}_{a}")
        if mp is not None and k in mp.out:
            args.append(f"out=({mp.out[k]} if {mp.guards[k]} else None)")
        outs = [(n, i) for i in range(len(d["specs"]))]
        lhs = ", ".join(names[r] for r in outs) + ("," if op.n_outputs != 1 else "")
        lhs = lhs if outs else "_"  # a node with no outputs (split into no parts)
        call = f"k{k}({', '.join(args)})"
        if op.n_outputs == 1 and d["specs"][0].shape == ():
            call = f"xp.asarray({call})"  # numpy gives 0-d results as scalars
        line_nodes[len(lines) + 1] = (n, d["loc"])
        lines.append(f"    {lhs} = {call}  # {n}")
        if op.n_outputs != 1:
            lines += [f"    {names[r]} = xp.asarray({names[r]})"
                      for r, s in zip(outs, d["specs"], strict=True) if s.shape == ()]
        dead = frees[k] + [r for r in outs if r not in last_use and r not in fetched
                           and names[r] not in held]
        if dead:
            lines.append(f"    del {', '.join(names[r] for r in dead)}")
        steps.append((n, d["op"], [names[r] for r in d["inputs"]], [names[r] for r in outs],
                      [names[r] for r in dead]))
    lines.append(f"    return [{', '.join(names[r] for r in fetches)}]")
    source = "\n".join(lines) + "\n"

    filename = f"<graphexec plan {graph.name}#{next(_plan_ids)}>"
    exec(compile(source, filename, "exec"), glb)
    # NOTE: registering the source lets tracebacks and debuggers show the generated lines.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    feed_checks = {}
    for n in placeholders:
        spec = g.nodes[n]["specs"][0]
        static = None if None in spec.shape else spec.shape
        feed_checks[n] = (spec.dtype, static, spec.shape)
    plan = Plan(glb["run"], source, steps, placeholders, filename, line_nodes, graph.version,
                feed_checks)
    plan.memory = mp
    return plan
