"""Lowering a graph to a flat plan, and running it.

Lowering schedules the nodes the fetches need in topological order, gives every tensor a slot,
frees each slot right after its last use, and emits the plan as straight-line Python source —
one kernel call per line, as torch.fx's GraphModule does — so running a graph costs what the
same kernels cost when called by hand.  ``plan.source`` shows the code.
"""

from __future__ import annotations

import linecache
import sys
import time
import weakref
from typing import Any

from .backend import get_xp
from .errors import GraphexecError, node_failed
from .ir import GraphIR, Ref
from .passes.memory import MemoryPlan, Slots, memory_plan

__all__ = ["Plan", "lower"]


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
                 filename: str, line_nodes: dict[int, tuple[str, str, Any, list[str], dict]],
                 version: int, feed_checks: dict[str, tuple]) -> None:
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
        #: the array backend its kernels run on ("numpy" or "cupy")
        self.backend = "numpy"

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
            raise self._failed_node(e) from e

    def _failed_node(self, e: BaseException) -> GraphexecError:
        """The error of the step that raised ``e``, from the generated code's frame: its
        node, line, op and the arrays it was given (to word it as at build time)."""
        tb, line, frame = e.__traceback__, None, None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == self._filename:
                line, frame = tb.tb_lineno, tb.tb_frame
            tb = tb.tb_next
        step = None if line is None else self._line_nodes.get(line)
        if step is None or frame is None:  # no frame of the generated code: failed outside it
            return node_failed("?", "?", e)
        node, loc, op, inputs, attrs = step
        local = frame.f_locals
        return node_failed(node, loc, e, op, [local.get(v) for v in inputs], attrs)

    def __len__(self) -> int:
        return len(self.steps)


_plan_ids = iter(range(sys.maxsize))
_GONE: list[str] = []  # the linecache names of plans that are gone (list.append is atomic)


def _read_only(a: Any) -> Any:
    """A read-only view of a fed array: the graph never writes into, nor keeps, user memory."""
    view = a.view()
    view.flags.writeable = False
    return view


def _owned(a: Any) -> Any:
    """A copy of ``a`` in its own memory (a fetched view of a feed, constant or Variable)."""
    return a.copy()


def _timed(kernel: Any, k: int, acc: list[float]) -> Any:
    """``kernel``, adding the seconds of each call to ``acc[k]``."""
    clock = time.perf_counter

    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = clock()
        out = kernel(*args, **kwargs)
        acc[k] += clock() - t0
        return out
    return timed


def _borrowed(graph: GraphIR, order: list[str], fetches: tuple[Ref, ...]) -> set[Ref]:
    """The fetches that may be views of memory a run does not own (a feed, a constant, a
    Variable's value): a source, or a result of ops that may return a view (``OpDef.fresh``
    false) all the way back to a source."""
    g = graph.nx
    views: dict[Ref, bool] = {}
    for n in order:
        d = g.nodes[n]
        op = d["op"]
        alias = op.kind == "source" or (not op.fresh and any(views.get(r, False)
                                                            for r in d["inputs"]))
        for i in range(len(d["specs"])):
            views[(n, i)] = alias
    return {r for r in fetches if views.get(r, False)}


def lower(graph: GraphIR, fetches: tuple[Ref, ...], backend: str = "numpy",
          plan_memory: bool = False, timer: list[float] | None = None) -> Plan:
    """Schedule the nodes ``fetches`` (``(node, index)`` pairs) depend on and generate the
    code that runs them on ``backend``; ``Graph.run`` lowers once per set of fetches and caches
    the plan.

    ``timer`` instruments the plan (the profiler's): every run adds step ``k``'s seconds to
    ``timer[k]`` (it is resized to one entry per step); the plan given to users is never
    instrumented.

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
    slots = Slots(graph, fetches)
    names, placeholders, computed, last_use = (slots.names, slots.placeholders, slots.computed,
                                               slots.last_use)
    glb: dict[str, Any] = {"xp": xp}
    for n in slots.constants:
        glb[names[(n, 0)]] = value = xp.asarray(g.nodes[n]["attrs"]["value"])
        if xp.__name__ == "numpy":  # a fetched constant, or a view of one, is read-only
            value = glb[names[(n, 0)]] = value.view()
            value.flags.writeable = False

    fetched = set(fetches)
    mp = memory_plan(graph, fetches, slots) if plan_memory else None
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
    line_nodes: dict[int, tuple[str, str, Any, list[str], dict]] = {}
    steps = []
    for k, n in enumerate(computed):
        d = g.nodes[n]
        op = d["op"]
        glb[f"k{k}"] = op.kernel if timer is None else _timed(op.kernel, k, timer)
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
        line_nodes[len(lines) + 1] = (n, d["loc"], op, [names[r] for r in d["inputs"]],
                                      d["attrs"])
        lines.append(f"    {lhs} = {call}  # {n}")
        if op.n_outputs != 1:
            lines += [f"    {names[r]} = xp.asarray({names[r]})"
                      for r, s in zip(outs, d["specs"], strict=True) if s.shape == ()]
        dead = frees[k] + [r for r in outs if r not in last_use and r not in fetched
                           and names[r] not in held]
        if dead:
            lines.append(f"    del {', '.join(names[r] for r in dead)}")
        steps.append((n, op.name, [names[r] for r in d["inputs"]], [names[r] for r in outs],
                      [names[r] for r in dead]))
    # NOTE: a fetched result that may be a view of a feed, a constant or a Variable is copied
    # on the way out: every result is a writeable array of its own at every level, as eager
    # results are (a folded constant must not come back read-only at level 1 only)
    aliased = _borrowed(graph, slots.order, fetches)
    glb["_owned"] = _owned
    lines.append("    return [" + ", ".join(f"_owned({names[r]})" if r in aliased else names[r]
                                        for r in fetches) + "]")
    source = "\n".join(lines) + "\n"

    filename = f"<graphexec plan {graph.name}#{next(_plan_ids)}>"
    exec(compile(source, filename, "exec"), glb)
    # NOTE: registering the source lets tracebacks and debuggers show the generated lines.
    # The sources of plans gone since the last lowering leave linecache here, not in the
    # plans' finalizers: a finalizer runs at any garbage collection, also in the middle of
    # linecache.checkcache's walk over its keys, which then fails with a KeyError
    while True:
        try:  # NOTE: not "while _GONE": another thread may take the last name between
            gone = _GONE.pop()
        except IndexError:
            break
        linecache.cache.pop(gone, None)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    feed_checks = {}
    for n in placeholders:
        spec = g.nodes[n]["specs"][0]
        static = None if None in spec.shape else spec.shape
        feed_checks[n] = (spec.dtype, static, spec.shape)
    if timer is not None:
        timer[:] = [0.0] * len(steps)
    plan = Plan(glb["run"], source, steps, placeholders, filename, line_nodes, graph.version,
                feed_checks)
    # NOTE: the source goes from linecache after the plan (a retracing function makes many)
    weakref.finalize(plan, _GONE.append, filename)
    plan.memory = mp
    plan.backend = backend
    return plan
