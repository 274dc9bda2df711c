"""``gx.profile``: where the time of one step goes, eagerly and as a graph, on the same nodes.

``gx.profile(fn, *args)`` runs ``fn`` eagerly with every op timed, traces it once into a graph
and runs that graph, compiled at each optimization level, through an *instrumented* plan (a
second lowering whose kernels are timed; the compiled plan itself stays as it is).  Eager ops
and graph nodes are matched by op, user source line and order: the trace runs the same Python
code, so the k-th ``matmul`` of line 12 is the same computation in both modes.  An optimized
node is matched to the traced nodes it came from (the pass history's provenance), so a fused
kernel stands next to the eager ops it replaced.

``with gx.profile() as p:`` records the eager ops of a block only.

>>> import numpy as np, graphexec as gx
>>> def f(x):
...     return gx.nn.relu(x * 2.0 + 1.0)
>>> p = gx.profile(f, np.ones((64, 64), "float32"), levels=(0, 2), min_time=0.01)
>>> p.kernel_calls()
{'eager ops': 3, 'graph level 0 nodes': 3, 'graph level 2 nodes': 1, 'level 2 fused kernels': 1}
>>> [(r.node, r.op) for r in p.rows(2)], p.rows(2)[0].covers
([('relu', 'fused_elementwise')], ('multiply', 'add', 'relu'))
>>> with gx.profile() as q:
...     _ = f(gx.constant([1.0, 2.0]))
>>> [op.op for op in q.ops]
['multiply', 'add', 'relu']
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import statistics
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import config, tree
from .compiler import CompiledGraph
from .device import Device
from .errors import InvalidArgumentError, user_location
from .executor import _timed, lower
from .function import Function, function
from .ops.state import Variable
from .passes.memory import fmt_bytes, memory_plan, spec_nbytes
from .tensor import PROFILER, Tensor

__all__ = ["profile", "Profile", "EagerOp", "NodeTime", "Row", "EagerRecorder", "State",
           "peak_bytes", "as_tensors", "fmt_seconds"]

#: ops that are not computations (their values come from outside): no time of their own
_SOURCES = ("placeholder", "constant", "read_variable")


@dataclass
class EagerOp:
    """One eager op call: its op, the user's source line, its index among the calls of the same
    op from the same line (``nth``) and its seconds (a median when profiled repeatedly)."""

    op: str
    loc: str
    nth: int
    seconds: float

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.op, self.loc, self.nth)


class _Hook:
    """What ``tensor.PROFILER`` holds while any recorder is active: it hands each eager op to
    the innermost recorder of the thread that ran it (other threads' ops are not theirs)."""

    def __init__(self) -> None:
        self.stacks: dict[int, list[EagerRecorder]] = {}
        self.lock = threading.Lock()

    def __call__(self, op: Any, seconds: float) -> None:
        stack = self.stacks.get(threading.get_ident())
        if stack:
            stack[-1].record(op, seconds)

    def push(self, rec: EagerRecorder) -> None:
        with self.lock:
            self.stacks.setdefault(threading.get_ident(), []).append(rec)
            PROFILER[0] = self

    def pop(self, rec: EagerRecorder) -> None:
        with self.lock:
            # NOTE: the stack holding it, also when another thread than its own leaves it
            for ident, stack in list(self.stacks.items()):
                if any(r is rec for r in stack):
                    stack[:] = [r for r in stack if r is not rec]
                    if not stack:
                        del self.stacks[ident]
                    break
            if not self.stacks:
                PROFILER[0] = None


_HOOK = _Hook()


class EagerRecorder:
    """Times every eager op the current thread runs while it is active (``with gx.profile() as
    rec``): ``ops`` in the order they ran; ``total`` their seconds."""

    def __init__(self) -> None:
        self.ops: list[EagerOp] = []
        self._seen: dict[tuple[str, str], int] = {}

    def record(self, op: Any, seconds: float) -> None:
        loc = user_location(3)
        k = (op.name, loc)
        nth = self._seen.get(k, 0)
        self._seen[k] = nth + 1
        self.ops.append(EagerOp(op.name, loc, nth, seconds))

    def __enter__(self) -> EagerRecorder:
        _HOOK.push(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        _HOOK.pop(self)

    @property
    def total(self) -> float:
        return sum(o.seconds for o in self.ops)

    def table(self) -> str:
        """One line per op: seconds, op and source line."""
        return "\n".join(f"{o.seconds * 1e6:10.1f} us  {o.op:<24} {o.loc}" for o in self.ops)


class State:
    """The values of the Variables a function reads, to put back after running it (a
    comparison or a profile must not train the user's model as a side effect).

    >>> import graphexec as gx
    >>> v = gx.Variable([1.0, 2.0])
    >>> s = State.of(lambda: v.assign_add([1.0, 1.0]), ())
    >>> _ = v.assign_add([5.0, 5.0]); s.restore(); v.numpy()
    array([1., 2.], dtype=float32)
    """

    def __init__(self, variables: Iterable[Variable]) -> None:
        self.saved = [(v, v.numpy().copy()) for v in dict.fromkeys(variables)]

    @classmethod
    def of(cls, fn: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any] | None = None
           ) -> State:
        """The Variables ``fn(*args)`` reads or writes (found by tracing it once)."""
        g = function(fn).get_graph(*args, **(kwargs or {}))
        found = [d["attrs"]["var"] for _, d in g.nx.nodes(data=True)
                 if isinstance(d["attrs"].get("var"), Variable)]
        found += [v for v in tree.leaves(list(args)) if isinstance(v, Variable)]
        return cls(found)

    def restore(self) -> None:
        for v, value in self.saved:
            v.assign(value)


def as_tensors(args: Any) -> Any:
    """``args`` with every numpy array made an eager tensor: what ``gx.function`` makes of them
    (placeholders), so eager mode runs graphexec's kernels on them and not numpy's operators."""
    return tree.map_leaves(lambda v: Tensor(v) if isinstance(v, np.ndarray) else v, args)


def peak_bytes(fn: Callable[[], Any]) -> int | None:
    """The most memory (bytes numpy and Python allocated, tracemalloc's count) held at once
    while ``fn()`` runs, above what was held before it; None when tracemalloc is already
    tracing for someone else (measuring would reset their peak)."""
    if tracemalloc.is_tracing():
        return None
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        out = fn()
        peak = tracemalloc.get_traced_memory()[1] - base
        del out
    finally:
        tracemalloc.stop()
    return max(int(peak), 0)


def device_peak_bytes(fn: Callable[[], Any], device: Device) -> int | None:
    """The most device memory (bytes of CuPy's memory pool in use) held at once while
    ``fn()`` runs on GPU ``device``, above what was held before it; None on the CPU.  CuPy
    has no peak counter: a ``cupy.cuda.MemoryHook`` adds up the pool's allocations and frees
    (rounded to the pool's blocks, as CuPy holds them) while ``fn`` runs."""
    if device.kind == "cpu":
        return None
    cupy = device.xp()

    class PeakHook(cupy.cuda.MemoryHook):  # type: ignore[name-defined]
        name = "graphexec-peak"

        def __init__(self) -> None:
            self.live = self.peak = 0

        def malloc_postprocess(self, **kw: Any) -> None:
            if kw.get("device_id", device.index) == device.index:
                self.live += int(kw["mem_size"])
                self.peak = max(self.peak, self.live)

        def free_postprocess(self, **kw: Any) -> None:
            if kw.get("device_id", device.index) == device.index:
                self.live -= int(kw["mem_size"])

    hook = PeakHook()
    with cupy.cuda.Device(device.index), hook:
        out = fn()
        device.synchronize()
        del out
    return hook.peak


def check_min_time(where: str, min_time: Any) -> float:
    """``min_time`` as seconds: a finite positive number, else InvalidArgumentError."""
    if (isinstance(min_time, bool) or not isinstance(min_time, int | float)
            or not math.isfinite(min_time) or min_time <= 0):
        raise InvalidArgumentError(f"{where}: min_time must be a finite positive number of "
                                   f"seconds, got {min_time!r}")
    return float(min_time)


#: ops a plan runs that are no computation: eager mode reads and assigns Variables directly
STATE_OPS = frozenset({"read_variable", "assign", "no_op"})


def kernel_steps(plan: Any) -> int:
    """The plan's kernel calls that eager mode also makes (state reads and writes left out)."""
    return sum(step[1] not in STATE_OPS for step in plan.steps)


@dataclass
class NodeTime:
    """One node of a compiled graph in the instrumented plan: median seconds per run, its
    output bytes (None where a dim is known only at run time) and the traced nodes it came
    from (``covers``, in creation order)."""

    node: str
    op: str
    seconds: float
    nbytes: int | None
    covers: tuple[str, ...]


@dataclass
class Level:
    """The profile of the graph compiled at one level."""

    level: int
    compiled: CompiledGraph
    nodes: list[NodeTime]
    step_seconds: float  # median of the uninstrumented plan
    peak_bytes: int | None  # measured (None: tracemalloc was busy)
    planned_peak_bytes: int  # the memory plan's (reuse only at level 3)
    #: the median run of the instrumented plan (its nodes add up to a little less: the plan's
    #: own lines are in no node)
    instrumented_seconds: float = 0.0
    #: the part of an instrumented run's wall time its nodes account for (median over runs)
    coverage: float = 1.0

    @property
    def node_seconds(self) -> float:
        """The instrumented nodes' seconds, added up (a bit under ``step_seconds``: the plan's
        own lines are not in any node)."""
        return sum(n.seconds for n in self.nodes)

    @property
    def fused(self) -> int:
        return sum(n.op.startswith("fused_") for n in self.nodes)


@dataclass
class Row:
    """One line of the side-by-side view: a compiled node, its seconds, the traced nodes it
    covers and the seconds the eager ops of those nodes took (None: no eager op matched)."""

    node: str
    op: str
    seconds: float
    covers: tuple[str, ...]
    eager_seconds: float | None


@dataclass
class Profile:
    """What ``gx.profile(fn, *args)`` measured (see the module's docstring)."""

    name: str
    eager: list[EagerOp]
    eager_step_seconds: float
    eager_peak_bytes: int | None
    traced: CompiledGraph  # level 0: the trace as built
    levels: dict[int, Level] = field(default_factory=dict)
    #: traced node -> the eager op matched to it
    matched: dict[str, EagerOp] = field(default_factory=dict)

    def rows(self, level: int | None = None) -> list[Row]:
        """The compiled nodes of ``level`` (default: the highest profiled) next to the eager
        time of the ops they cover, slowest first."""
        lv = self._level(level)
        rows = []
        for n in lv.nodes:
            eager = [self.matched[c].seconds for c in n.covers if c in self.matched]
            rows.append(Row(n.node, n.op, n.seconds, n.covers, sum(eager) if eager else None))
        return sorted(rows, key=lambda r: -r.seconds)

    def _level(self, level: int | None) -> Level:
        if not self.levels:
            raise InvalidArgumentError("profile: no graph level was profiled")
        key = max(self.levels) if level is None else level
        if key not in self.levels:
            raise InvalidArgumentError(f"profile: level {level} was not profiled; profiled "
                                       f"levels: {sorted(self.levels)}")
        return self.levels[key]

    def kernel_calls(self) -> dict[str, int]:
        """Kernel calls per step: eager ops, graph nodes per level (the Variable reads and
        assignments a plan runs left out: eager mode makes them without a kernel), fused
        kernels."""
        out = {"eager ops": len(self.eager)}
        for k, lv in self.levels.items():
            out[f"graph level {k} nodes"] = sum(n.op not in STATE_OPS for n in lv.nodes)
        for k, lv in self.levels.items():
            if lv.fused:
                out[f"level {k} fused kernels"] = lv.fused
        return out

    def numbers(self, level: int | None = None) -> dict[str, dict[str, float]]:
        """``{node: {"time": seconds, "bytes": n}}`` for the viewer's numbers overlay."""
        return {n.node: {"time": n.seconds, **({} if n.nbytes is None else {"bytes": n.nbytes})}
                for n in self._level(level).nodes}

    def html(self, path: str | os.PathLike[str] | None = None, level: int | None = None,
             **options: Any) -> str:
        """The viewer of the compiled graph of ``level`` (its pass filmstrip) with the measured
        times and bytes on its nodes (``gx.viz.html``)."""
        from .viz import html

        lv = self._level(level)
        return html(lv.compiled, path, numbers=self.numbers(lv.level), **options)

    def table(self, level: int | None = None, limit: int = 25) -> str:
        """The side-by-side text table of ``level`` (default: the highest profiled)."""
        head = (f"profile of {self.name}: eager {fmt_seconds(self.eager_step_seconds)} per step "
                f"({len(self.eager)} ops)")
        if not self.levels:
            return "\n".join([head, f"  peak memory: {fmt_bytes(self.eager_peak_bytes)}",
                              self._eager_table(limit)])
        lv = self._level(level)
        kernels = sum(n.op not in STATE_OPS for n in lv.nodes)
        lines = [f"{head}; graph level {lv.level} {fmt_seconds(lv.step_seconds)} per step "
                 f"({kernels} kernel node{'s' if kernels != 1 else ''}; in an instrumented run "
                 f"of {fmt_seconds(lv.instrumented_seconds)} the nodes take "
                 f"{fmt_seconds(lv.node_seconds)})",
                 f"  peak memory: eager {fmt_bytes(self.eager_peak_bytes)}, graph "
                 f"{fmt_bytes(lv.peak_bytes)} measured, {fmt_bytes(lv.planned_peak_bytes)} planned",
                 f"  {'graph node':<28}{'op':<20}{'graph':>10}{'eager':>10}{'ratio':>7}  covers "
                 "(ratio: eager / graph time of the same ops; Variable reads not shown)"]
        rows = [r for r in self.rows(lv.level) if r.op not in STATE_OPS]
        for r in rows[:limit]:
            eager = "-" if r.eager_seconds is None else fmt_seconds(r.eager_seconds)
            ratio = ("" if not r.eager_seconds or not r.seconds
                     else f"{r.eager_seconds / r.seconds:6.1f}x")
            covers = ", ".join(r.covers[:4]) + (f" +{len(r.covers) - 4}"
                                                if len(r.covers) > 4 else "")
            lines.append(f"  {r.node[:27]:<28}{r.op[:19]:<20}{fmt_seconds(r.seconds):>10}"
                         f"{eager:>10}{ratio:>7}  {covers}")
        if len(rows) > limit:
            lines.append(f"  ... {len(rows) - limit} more nodes")
        return "\n".join(lines)

    def _eager_table(self, limit: int) -> str:
        ops = sorted(self.eager, key=lambda o: -o.seconds)
        lines = [f"  {fmt_seconds(o.seconds):>10}  {o.op:<24} {o.loc}" for o in ops[:limit]]
        if len(ops) > limit:
            lines.append(f"  ... {len(ops) - limit} more ops")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "eager": {"step_s": self.eager_step_seconds, "peak_bytes": self.eager_peak_bytes,
                      "ops": [vars(o) for o in self.eager]},
            "kernel_calls": self.kernel_calls(),
            "levels": {str(k): {
                "step_s": lv.step_seconds, "node_s": lv.node_seconds,
                "instrumented_s": lv.instrumented_seconds, "coverage": lv.coverage,
                "peak_bytes": lv.peak_bytes, "planned_peak_bytes": lv.planned_peak_bytes,
                "nodes": [{"node": n.node, "op": n.op, "seconds": n.seconds,
                           "bytes": n.nbytes, "covers": list(n.covers)} for n in lv.nodes]}
                for k, lv in self.levels.items()},
            "matched": {n: list(o.key) for n, o in self.matched.items()},
        }

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            with open(path, "w") as f:
                f.write(text)
        return text


def fmt_seconds(s: float) -> str:
    """``s`` seconds in s, ms or us with three or four significant digits (``-`` if not a
    finite number).

    >>> from graphexec.profiler import fmt_seconds
    >>> fmt_seconds(0.00123), fmt_seconds(4.2e-5), fmt_seconds(2.5)
    ('1.23 ms', '42.0 us', '2.50 s')
    """
    if not math.isfinite(s):
        return "-"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} us"


def _nbytes(specs: Sequence[Any]) -> int | None:
    """The bytes of a node's outputs, all of them (None where a dim is known at run time)."""
    sizes = [spec_nbytes(spec) for spec in specs]
    return None if None in sizes else sum(s for s in sizes if s is not None)


def covers(compiled: CompiledGraph) -> dict[str, tuple[str, ...]]:
    """For each node of ``compiled.graph``: the nodes of the source graph it came from, by the
    pass history (a fused node covers its members, a CSE survivor the nodes merged into it)."""
    history = compiled.history
    members: dict[str, set[str]] = {n: {n} for n in compiled.source.nx}
    order = {n: i for i, n in enumerate(compiled.source.nx)}
    if history is not None:
        for step in history:
            for c in step.changes:
                if c.kind == "removed":
                    for o in c.origin:  # merged into a survivor
                        members.setdefault(o, {o}).update(members.get(c.node, ()))
                elif c.origin and c.kind != "in place":  # in place: a buffer, not a source
                    grown = members.setdefault(c.node, set())
                    for o in c.origin:
                        grown |= members.get(o, {o})
    return {n: tuple(sorted((m for m in members.get(n, {n}) if m in order), key=order.__getitem__))
            for n in compiled.graph.nx}


def _time_interleaved(fns: list[Callable[[], Any]], min_time: float) -> list[list[float]]:
    """Per-call seconds of each of ``fns`` over rounds that run each once in turn, until
    ``min_time`` seconds have gone by (and at least 5 rounds)."""
    samples: list[list[float]] = [[] for _ in fns]
    clock = time.perf_counter
    start = clock()
    while len(samples[0]) < 5 or clock() - start < min_time:
        for k, f in enumerate(fns):
            t0 = clock()
            f()
            samples[k].append(clock() - t0)
        if len(samples[0]) >= 10_000:
            break
    return samples


def check_levels(where: str, levels: Any) -> list[int]:
    """``levels`` as a list of distinct optimization levels 0-3, else InvalidArgumentError."""
    if isinstance(levels, int | str) or not isinstance(levels, Iterable):
        raise InvalidArgumentError(f"{where}: levels must be a list of levels 0-3, got "
                                   f"{levels!r}")
    out = list(levels)
    for lv in out:
        if isinstance(lv, bool) or lv not in (0, 1, 2, 3):
            raise InvalidArgumentError(f"{where}: levels must be among 0-3, got {lv!r}")
    if len(set(out)) != len(out):
        raise InvalidArgumentError(f"{where}: a level is named twice in {out}")
    return out


@contextlib.contextmanager
def functions_eagerly(flag: bool) -> Iterator[None]:
    """``gx.function`` bodies run eagerly (True) or as graphs (False) inside the block: eager
    mode means eager all the way down, a graph mode means the user's switch is not on."""
    was = config.functions_run_eagerly()
    config.run_functions_eagerly(flag)
    try:
        yield
    finally:
        config.run_functions_eagerly(was)


def _recorded_runs(fn: Callable[..., Any], args: Any, kwargs: Any, state: State,
                   min_time: float) -> tuple[list[EagerRecorder], list[float]]:
    """Recorded eager runs (each from the same state) and, between them, timed plain ones."""
    recs: list[EagerRecorder] = []
    runs: list[float] = []
    clock = time.perf_counter
    start = clock()
    while len(recs) < 3 or clock() - start < min_time:
        state.restore()
        with EagerRecorder() as rec:
            fn(*args, **kwargs)
        if recs and [o.key for o in rec.ops] != [o.key for o in recs[0].ops]:
            first = next((a, b) for a, b in zip([o.key for o in recs[0].ops] + [None],
                                                [o.key for o in rec.ops] + [None], strict=False)
                         if a != b)
            raise InvalidArgumentError(
                f"profile: {getattr(fn, '__name__', fn)} ran other ops on another call from "
                f"the same state (first difference: {first[0]} then {first[1]}); a function "
                "whose ops depend on Python state cannot be profiled op by op")
        recs.append(rec)
        state.restore()
        t0 = clock()  # NOTE: the step's own time, without the recorder's cost
        fn(*args, **kwargs)
        runs.append(clock() - t0)
    return recs, runs


def profile(fn: Callable[..., Any] | None = None, *args: Any, levels: Sequence[int] = (0, 1, 3),
            min_time: float = 0.5, **kwargs: Any) -> Any:
    """Profile ``fn(*args, **kwargs)`` eagerly and as a graph at each of ``levels`` (see the
    module's docstring); each mode runs for about ``min_time`` seconds.  The Variables ``fn``
    reads are put back as they were afterwards.  Without ``fn``: an ``EagerRecorder`` for a
    ``with`` block."""
    if fn is None:
        return EagerRecorder()
    if isinstance(fn, Function):
        fn = fn.python_function
    name = str(getattr(fn, "__name__", type(fn).__name__))
    levels = check_levels("profile", levels)
    min_time = check_min_time("profile", min_time)
    state = State.of(fn, args, kwargs)
    args, kwargs = as_tensors(args), as_tensors(kwargs)
    try:
        with functions_eagerly(True):
            fn(*args, **kwargs)  # warm-up (and the first call's allocations) outside the numbers
            recs, runs = _recorded_runs(fn, args, kwargs, state, min_time)
            eager = [EagerOp(o.op, o.loc, o.nth,
                             statistics.median(r.ops[i].seconds for r in recs))
                     for i, o in enumerate(recs[0].ops)]
            state.restore()
            eager_peak = peak_bytes(lambda: fn(*args, **kwargs))
        state.restore()
        with functions_eagerly(False):
            f = function(fn, optimize=0)
            trace, values = f._concrete(args, kwargs)
            g = trace.graph
            feeds = dict(zip([t._node for t in trace.placeholders], values, strict=True))
            traced = g.compile(trace.fetches, optimize=0)
            prof = Profile(name, eager, statistics.median(runs), eager_peak, traced)
            by_key = {o.key: o for o in eager}
            seen: dict[tuple[str, str], int] = {}
            for n, d in g.nx.nodes(data=True):
                op = d["op"].name
                if op in _SOURCES:
                    continue
                k = (op, d["loc"])
                nth = seen.get(k, 0)
                seen[k] = nth + 1
                if (op, d["loc"], nth) in by_key:
                    prof.matched[n] = by_key[(op, d["loc"], nth)]
            for lv in levels:
                prof.levels[lv] = _profile_level(g, trace.fetches, lv, feeds, min_time, state)
    finally:
        state.restore()
    return prof


def _timer_cost() -> float:
    """What the instrumented plan's timing adds to each node's seconds (a kernel that does
    nothing, timed as the plan times kernels)."""
    acc = [0.0]
    noop = _timed(lambda *a, **k: None, 0, acc)
    costs = []
    for _ in range(5):
        acc[0] = 0.0
        for _ in range(2000):
            noop()
        costs.append(acc[0] / 2000)
    return min(costs)


def _profile_level(g: Any, fetches: list[Tensor], level: int, feeds: dict[str, Any],
                   min_time: float, state: State) -> Level:
    compiled = g.compile(fetches, optimize=level)
    checked = g._check_feeds(compiled.plan, feeds)
    timer: list[float] = []
    cg = compiled.graph
    instrumented = lower(cg, compiled.fetches, compiled.backend, plan_memory=cg.plan_memory,
                         timer=timer)
    compiled.plan.run(checked)  # warm-up: JIT compiles, first allocations
    instrumented.run(checked)
    state.restore()
    runs: list[list[float]] = []
    walls: list[float] = []
    clock = time.perf_counter

    def timed() -> None:
        timer[:] = [0.0] * len(timer)
        t0 = clock()
        instrumented.run(checked)
        walls.append(clock() - t0)
        runs.append(list(timer))

    plain, _ = _time_interleaved([lambda: compiled.plan.run(checked), timed], min_time)
    # NOTE: node times are means over the runs of the middle half by wall time, less the
    # timing's own cost: they add up to a run that was measured (medians per node do not, on a
    # busy machine)
    order = sorted(range(len(walls)), key=walls.__getitem__)
    middle = order[len(order) // 4:max(len(order) - len(order) // 4, len(order) // 4 + 1)]
    cost = _timer_cost()
    seconds = [max(statistics.fmean(runs[r][k] for r in middle) - cost, 0.0)
               for k in range(len(instrumented.steps))]
    wall = statistics.fmean(walls[r] for r in middle)
    state.restore()
    peak = peak_bytes(lambda: compiled.plan.run(checked))
    mp = compiled.plan.memory or memory_plan(cg, compiled.fetches)
    planned = mp.planned_peak if cg.plan_memory else mp.unplanned_peak
    came = covers(compiled)
    nodes = [NodeTime(step[0], step[1], seconds[k], _nbytes(cg.nx.nodes[step[0]]["specs"]),
                      came.get(step[0], (step[0],)))
             for k, step in enumerate(instrumented.steps)]
    return Level(level, compiled, nodes, statistics.median(plain), peak, planned, wall,
                 sum(seconds) / wall if wall > 0 else 1.0)
