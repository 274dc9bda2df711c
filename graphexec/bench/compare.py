"""``gx.bench.compare``: what each execution mode costs on the user's own function.

For every mode (``"eager"``, ``"graph:0"`` ... ``"graph:3"``, ``"graph"`` at the default level)
it measures the **first call**, split into its phases (trace, each optimization pass, lowering,
JIT compile, the first run), the **steady state** (auto-ranged blocks of calls, interleaved
across the modes so a noisy machine slows them all alike: median and IQR), the speed-up over
eager with a rank test, the **break-even** (after how many calls compiling has paid for
itself), peak memory (measured, and the memory plan's), node and kernel counts, retraces and a
parity check against eager.  Variables the function updates (a training step) are put back as
they were before each mode's first call and at the end.  Fused kernels compile when first
needed while it measures (``config.set_background_compile(False)``), so the first call shows
what they cost; in a program with tiered compilation on (the default) that first call runs the
groups as numpy ufuncs instead and does not wait (``benchmarks/first_call.py`` times both).

>>> import numpy as np, graphexec as gx
>>> def f(x):
...     return gx.nn.relu(x * 2.0 + 1.0) - x
>>> r = gx.bench.compare(f, np.ones((256, 256), "float32"), modes=["eager", "graph:1"],
...                      min_time=0.05)
>>> [m.mode for m in r.modes], r["graph:1"].parity_ok, r["graph:1"].nodes_before
(['eager', 'graph:1'], True, 7)
>>> list(r["graph:1"].phases)[:2]
['trace', 'copy']
"""

from __future__ import annotations

import contextlib
import functools
import html as _html
import json
import math
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .. import config, tree
from ..device import CPU, Device, current_device, to_device
from ..device import device as device_block
from ..errors import GraphexecError, InvalidArgumentError, MissingExtraError
from ..function import Function, function
from ..fusion import fresh_kernels, jit_stats
from ..fusion.cuda import fresh_cuda_kernels
from ..ir import needed_nodes
from ..ops.state import Variable
from ..passes.memory import fmt_bytes, memory_plan
from ..profiler import (
    EagerRecorder,
    State,
    as_tensors,
    check_min_time,
    device_peak_bytes,
    fmt_seconds,
    functions_eagerly,
    kernel_steps,
    peak_bytes,
)
from ..tensor import Tensor
from .env import environment
from .stats import Summary, autorange, rank_test, summarize, time_blocks

__all__ = ["compare", "Comparison", "ModeResult", "parse_mode", "SCHEMA", "ALPHA"]

#: the rank test's significance level for "faster" / "slower"
ALPHA = 0.01
#: the passes' names in the table (the JSON keeps the full names)
SHORT = {"common_subexpression_elimination": "cse", "constant_folding": "fold",
         "algebraic_simplification": "simplify", "dead_code_elimination": "dce",
         "epilogue_fusion": "epilogue", "elementwise_fusion": "elementwise",
         "batchnorm_folding": "bn fold",
         "memory_planning": "memory plan", "other": "checks"}
#: how many first calls (of new functions) each graph mode's phases are the median of
FIRST_CALLS = 3
#: ``to_json``'s format; bumped when a field changes meaning
SCHEMA_VERSION = 2


def parse_mode(mode: Any) -> int | None:
    """The optimization level of a mode name (None for eager): ``"eager"``, ``"graph"``
    (the default level), ``"graph:2"`` or an int.

    >>> from graphexec.bench.compare import parse_mode
    >>> parse_mode("eager"), parse_mode("graph:3"), parse_mode(2)
    (None, 3, 2)
    """
    if isinstance(mode, int) and not isinstance(mode, bool) and 0 <= mode <= 3:
        return mode
    if mode == "eager":
        return None
    if mode == "graph":
        return config.default_level()
    if isinstance(mode, str) and mode.startswith("graph:") and mode[6:] in ("0", "1", "2", "3"):
        return int(mode[6:])
    raise InvalidArgumentError(f"compare: unknown mode {mode!r}; modes are 'eager', 'graph' "
                               "(the default level) and 'graph:0' to 'graph:3'")


@dataclass
class ModeResult:
    """What one mode cost (see the module's docstring); times in seconds, sizes in bytes."""

    mode: str
    level: int | None
    first_call_s: float
    phases: dict[str, float]
    steady: Summary
    kernel_calls: int
    peak_bytes: int | None  # None: tracemalloc was tracing for someone else
    planned_peak_bytes: int | None = None
    nodes_before: int | None = None
    nodes_after: int | None = None
    fused_kernels: int = 0
    retraces: int = 0
    jit: dict[str, int] = field(default_factory=dict)
    max_abs_diff: float = 0.0
    parity_ok: bool = True
    parity_note: str = ""
    #: against eager (None without an eager mode, or for eager itself)
    speedup: float | None = None
    p_value: float | None = None
    break_even: int | None = None
    #: the most GPU memory (CuPy's pool) in use at once during a call; None on the CPU
    peak_device_bytes: int | None = None

    @property
    def verdict(self) -> str:
        """``faster`` or ``slower`` than eager by the rank test at ``ALPHA``, else ``n.s.``
        (not significant); ``-`` without an eager mode to compare with."""
        if self.level is None or self.p_value is None or self.speedup is None:
            return "-"
        if not self.p_value < ALPHA:
            return "n.s."
        return "faster" if self.speedup > 1 else "slower"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["steady"] = self.steady.to_dict()
        d["verdict"] = self.verdict
        return d


@dataclass
class Comparison:
    """The result of ``compare``: one ``ModeResult`` per mode (``r["graph:1"]``), the
    environment it was measured in, ``table()``, ``to_json()``, ``plot(path)``; Jupyter shows
    the table and the chart."""

    name: str
    modes: list[ModeResult]
    env: dict[str, Any]
    min_time: float
    description: str = ""
    #: where the modes ran (``"cpu"``, ``"cuda:0"``)
    device: str = "cpu"

    def __getitem__(self, mode: str) -> ModeResult:
        for m in self.modes:
            if m.mode == mode:
                return m
        raise KeyError(f"no mode {mode!r} in this comparison: {[m.mode for m in self.modes]}")

    @property
    def eager(self) -> ModeResult | None:
        return next((m for m in self.modes if m.level is None), None)

    def table(self) -> str:
        """A text table, as ``torch.utils.benchmark.Compare`` prints: one row per mode."""
        title = f" {self.name}" + (f": {self.description}" if self.description else "") + (
            f" on {self.device} " if self.device != "cpu" else " ")
        gpu = self.device != "cpu"
        head = (f"  {'mode':<9}{'median':>10}{'IQR':>11}    {'vs eager':>17}{'first call':>12}"
                f"{'break-even':>12}{'peak mem':>11}{'GPU mem' if gpu else '':>{10 if gpu else 0}}"
                f"{'kernels':>9}{'nodes':>11}  parity")
        lines = [f"[{title.center(len(head) - 2, '-')}]", head]
        for m in self.modes:
            s = m.steady
            noisy = " (!)" if s.noisy else ""
            if m.level is None:
                vs, be, nodes = "", "-", "-"
            else:
                nodes = f"{m.nodes_before}->{m.nodes_after}"
                if m.speedup is None or m.p_value is None:
                    vs, be = "-", "-"
                else:
                    stars = "***" if m.p_value < 0.001 else "**" if m.p_value < ALPHA else ""
                    vs = f"{m.speedup:.2f}x {m.verdict}{stars}"
                    be = _calls(m.break_even)
            parity = "ref" if m.level is None else (
                f"{m.max_abs_diff:.1e}" if m.parity_ok else f"MISMATCH {m.max_abs_diff:.2e}")
            spread = "±" + fmt_seconds(s.iqr / 2)
            lines.append(f"  {m.mode:<9}{fmt_seconds(s.median):>10}{spread:>11}{noisy:<4}"
                         f"{vs:>17}{fmt_seconds(m.first_call_s):>12}{be:>12}"
                         f"{fmt_bytes(m.peak_bytes):>11}"
                         f"{fmt_bytes(m.peak_device_bytes) if gpu else '':>{10 if gpu else 0}}"
                         f"{m.kernel_calls:>9}{nodes:>11}  {parity}")
        first = (" (fused kernels compiled by CuPy, or from its disk cache). Every call ends "
                 "with a synchronize; 'peak mem' is the host's, 'GPU mem' CuPy's pool (a "
                 "MemoryHook's count)." if gpu else
                 " (fused loops from numba's disk cache where it has them), plus, for a mode "
                 "that runs fused loops, numba's start-up in a new process (its import and "
                 "first kernel call, measured in one).")
        lines += textwrap.wrap(
            f"Medians of auto-ranged blocks (about {self.min_time:g} s per mode, interleaved); "
            "'±' half the IQR; (!) IQR > 10% of the median; ** p < "
            f"{ALPHA}, *** p < 0.001 (Mann-Whitney U vs eager); n.s. not significant. First "
            f"call of a graph mode: the median of {FIRST_CALLS} new functions' first calls"
            + first, len(head))
        for m in self.modes:
            if m.level is not None:
                # NOTE: no-break spaces keep each "phase time" together when wrapped
                parts = " | ".join(f"{SHORT.get(k, k)} {fmt_seconds(v)}".replace(" ", "\u00a0")
                                   for k, v in m.phases.items() if v >= 5e-5)
                jit = (f"  [jit: {m.jit.get('compiles', 0)} compiled, "
                       f"{m.jit.get('disk_hits', 0)} from disk]" if any(m.jit.values()) else "")
                if m.jit.get("cold_compiles"):
                    cold = fmt_seconds(m.jit["cold_first_call_s"])
                    jit += (f" [numba's disk cache was cold: the very first call compiled "
                            f"{m.jit['cold_compiles']} in {cold}]")
                lines += [ln.replace("\u00a0", " ") for ln in textwrap.wrap(
                    f"first call of {m.mode}: {parts}{jit}", len(head), initial_indent="  ",
                    subsequent_indent="      ")]
            if not m.parity_ok:
                lines.append(f"  PARITY {m.mode}: {m.parity_note}")
        env = self.env
        lines.append(f"  on {env.get('cpu')} ({env.get('cores')} cores), Python "
                     f"{env.get('python')}, numpy {env.get('libraries', {}).get('numpy')}, "
                     f"BLAS {_blas_line(env)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA_VERSION, "name": self.name, "description": self.description,
                "min_time_s": self.min_time, "device": self.device, "env": self.env,
                "modes": [m.to_dict() for m in self.modes]}

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The result as JSON text (``SCHEMA`` describes it); written to ``path`` if given."""
        text = json.dumps(_finite(self.to_dict()), indent=1, default=_json_default,
                          allow_nan=False)
        if path is not None:
            with open(path, "w") as f:
                f.write(text + "\n")
        return text

    def plot(self, path: str | os.PathLike[str], calls: int | None = None) -> str:
        """A chart (PNG, SVG or PDF by ``path``'s suffix; the ``viz`` extra's matplotlib): time
        per call of each mode, the first call's phases, and the cumulative time over ``calls``
        calls with each break-even marked.  Returns the path (``.png`` added to a path without
        a suffix)."""
        from .plot import plot_comparison

        return plot_comparison(self, path, calls)

    def _repr_html_(self) -> str:
        """The table, and the chart when matplotlib is installed."""
        page = f"<pre>{_html.escape(self.table())}</pre>"
        try:
            import base64
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                path = self.plot(os.path.join(tmp, "chart.png"))
                with open(path, "rb") as f:
                    data = base64.b64encode(f.read()).decode()
        except MissingExtraError:
            return page
        return page + f'<img src="data:image/png;base64,{data}" style="max-width:100%">'



def _finite(o: Any) -> Any:
    """``o`` with every non-finite float (an infinite difference, a NaN p-value) as None: JSON
    has no such numbers."""
    if isinstance(o, float | np.floating):
        return float(o) if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_finite(v) for v in o]
    return o


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def _blas_line(env: dict[str, Any]) -> str:
    blas = env.get("blas", {})
    loaded = blas.get("loaded")
    if isinstance(loaded, list):  # NOTE: numpy's own, when scipy has loaded another
        blas_libs = [p for p in loaded if p.get("user_api") == "blas"]
        b = next((p for p in blas_libs if "numpy" in str(p.get("filepath"))),
                 blas_libs[0] if blas_libs else None)
        if b:
            return f"{b.get('internal_api')} {b.get('version')} ({b.get('architecture')}, " \
                   f"{b.get('num_threads')} threads)"
    return str(blas.get("build", {}).get("name", "?"))


def _calls(n: int | None) -> str:
    return "never" if n is None else f"{n} call" + ("s" if n != 1 else "")


def break_even(first: float, steady: float, eager_first: float, eager_steady: float
               ) -> int | None:
    """The number of calls after which a mode's total time (its first call, then ``steady``
    per call) is at most eager's; None when it never is.

    >>> from graphexec.bench.compare import break_even
    >>> break_even(1.0, 0.1, 0.3, 0.2)  # 0.7 s more up front, 0.1 s saved per call
    8
    >>> break_even(1.0, 0.3, 0.3, 0.2) is None
    True
    """
    if first <= eager_first:
        return 1
    if steady >= eager_steady:
        return None
    return 1 + math.ceil((first - eager_first) / (eager_steady - steady) - 1e-12)


def _leaves(out: Any) -> list[Any]:
    """The outputs as host arrays (copies: a later call must not change them); non-tensor
    leaves (None, strings) as they are."""
    out_leaves = []
    for x in tree.leaves(out):
        if isinstance(x, Tensor):
            x = x.numpy()
        out_leaves.append(np.array(x) if isinstance(x, np.ndarray | np.generic | float | int
                                                  | complex | bool) else x)
    return out_leaves


def _parity(ref: list[Any], got: list[Any]) -> tuple[float, bool, str]:
    """The largest |difference| from eager and whether it is within the dtype's rounding
    (NaN and infinities must sit where eager has them)."""
    if len(ref) != len(got):
        return math.inf, False, f"{len(got)} outputs, eager gave {len(ref)}"
    worst, ok, notes = 0.0, True, []
    for i, (a, b) in enumerate(zip(ref, got, strict=True)):
        if not isinstance(a, np.ndarray) or not isinstance(b, np.ndarray):
            if not (a is b or (type(a) is type(b) and a == b)):
                ok, worst = False, math.inf
                notes.append(f"output {i}: {b!r} vs eager {a!r}")
            continue
        if a.shape != b.shape or a.dtype != b.dtype:
            notes.append(f"output {i}: {b.dtype}{list(b.shape)} vs eager {a.dtype}{list(a.shape)}")
            ok, worst = False, math.inf
            continue
        if a.size == 0:
            continue
        if a.dtype.kind not in "biufc":
            if not np.array_equal(a, b):
                ok, worst = False, math.inf
                notes.append(f"output {i}: differs")
            continue
        if a.dtype.kind in "biu":  # NOTE: exactly (int64 beyond 2**53 in a float64 is not)
            same = np.array_equal(a, b)
            if not same:
                ok, worst = False, math.inf
                notes.append(f"output {i}: integers differ at "
                             f"{int(np.count_nonzero(a != b))} position(s)")
            continue
        wide = np.complex128 if a.dtype.kind == "c" else np.float64
        x, y = a.astype(wide), b.astype(wide)
        finite = np.isfinite(x) & np.isfinite(y)
        same_special = np.array_equal(np.isnan(x), np.isnan(y)) and np.array_equal(
            np.where(np.isinf(x), x, 0), np.where(np.isinf(y), y, 0))
        with np.errstate(invalid="ignore"):  # inf - inf where both are infinite
            d = float(np.max(np.abs(x - y)[finite])) if finite.any() else 0.0
        scale = float(np.max(np.abs(x[finite]))) if finite.any() else 1.0
        if a.dtype.kind in "fc":
            rtol = 1e-4 if a.dtype.itemsize <= (8 if a.dtype.kind == "c" else 4) else 1e-10
            good = same_special and d <= rtol * max(scale, 1.0)
        else:
            good = d == 0
        worst = max(worst, d if same_special else math.inf)
        if not same_special:
            ok = False
            notes.append(f"output {i}: NaN or infinities where eager has none, or the reverse")
        elif not good:
            ok = False
            notes.append(f"output {i}: max |difference| {d:.3g} (largest |eager| value "
                         f"{scale:.3g})")
    return worst, ok, "; ".join(notes)


def _first_eager(fn: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any],
                 state: State, dev: Device = CPU) -> tuple[float, list[Any], int]:
    """Eager's first call (its seconds and outputs, copied) and its kernel calls."""
    with _eagerly_on(dev):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        dev.synchronize()
        first = time.perf_counter() - t0
        ref = _leaves(out)
        state.restore()
        with EagerRecorder() as rec:
            fn(*args, **kwargs)
    return first, ref, len(rec.ops)


def _first_graph(f: Function, level: int, args: Sequence[Any], kwargs: dict[str, Any],
                 dev: Device = CPU) -> tuple[dict[str, float], Any, dict[str, Any]]:
    """The first call of ``f``, phase by phase: as ``f(*args)`` does it, in steps."""
    jit0 = jit_stats()
    clock = time.perf_counter
    t0 = clock()
    trace, values = f._concrete(tuple(args), kwargs)
    phases = {"trace": clock() - t0}
    g = trace.graph
    refs = tuple(g._fetch_ref(t) for t in trace.fetches)
    t0 = clock()
    plan = g._lower(refs, dev.backend, level)
    lowering = clock() - t0
    compiled = next((c for c in g._compiled.values() if c.plan is plan), None)
    if compiled is not None:
        phases["copy"] = compiled.phases["copy"]
        for r in compiled.report.records:
            phases[r.name] = phases.get(r.name, 0.0) + r.seconds
        phases["lower"] = compiled.phases["lower"]
        phases["other"] = max(lowering - compiled.seconds, 0.0) + max(
            compiled.phases["optimize"] - sum(r.seconds for r in compiled.report.records), 0.0)
    else:
        phases["lower"] = lowering
    t0 = clock()
    out = trace.run(values, f.device)
    dev.synchronize()
    run = clock() - t0
    jit1 = jit_stats()
    jit_s = jit1["compile_seconds"] - jit0["compile_seconds"]
    phases["jit compile"] = jit_s
    phases["first run"] = max(run - jit_s, 0.0)
    if plan.memory is not None:
        planned = plan.memory.planned_peak
    else:
        planned = memory_plan(compiled.graph if compiled else g, refs).unplanned_peak
    # NOTE: nodes after: those the fetches need, as built (level 0) or as optimized
    after = len(compiled.graph) if compiled else len(needed_nodes(g, [n for n, _ in refs]))
    info = {"nodes_before": len(g), "nodes_after": after,
            "kernel_calls": kernel_steps(plan),
            "fused": sum(step[1].startswith("fused_") for step in plan.steps),
            "loops": sum(step[1] == "fused_elementwise" for step in plan.steps),
            "planned": planned,
            "jit": {"compiles": int(jit1["compiles"] - jit0["compiles"]),
                    "disk_hits": int(jit1["disk_hits"] - jit0["disk_hits"])}}
    return phases, out, info


def compare(fn: Callable[..., Any], *args: Any,
            modes: Sequence[Any] = ("eager", "graph:0", "graph:1", "graph:2", "graph:3"),
            min_time: float = 1.0, name: str | None = None, description: str = "",
            device: Any = None, **kwargs: Any) -> Comparison:
    """Measure ``fn(*args, **kwargs)`` in each of ``modes`` (see the module's docstring);
    ``min_time`` is about how many seconds each mode's steady state is timed for.  ``fn`` is
    any Python function of tensors (a ``gx.function`` is compared through its Python body).
    A mode's first output is checked against eager's: ``parity_ok`` is False (and ``table``
    says MISMATCH) when it differs by more than rounding.  Every mode runs on ``device``
    (default: ``gx.device``'s): array arguments are moved there first, each timed call ends
    with a synchronize, and ``peak_device_bytes`` is the GPU memory in use at its peak."""
    if isinstance(fn, Function):
        fn = fn.python_function
    if isinstance(modes, str | int):
        modes = [modes]
    levels = [parse_mode(m) for m in modes]
    labels = ["eager" if lv is None else f"graph:{lv}" for lv in levels]
    if not labels:
        raise InvalidArgumentError("compare: no modes to compare")
    if len(set(labels)) != len(labels):
        raise InvalidArgumentError(f"compare: a mode is named twice in {list(modes)}")
    min_time = check_min_time("compare", min_time)
    dev = Device.parse(device, "compare") if device is not None else current_device()
    title = str(name or getattr(fn, "__name__", type(fn).__name__))
    if any(lv is not None and lv >= 2 for lv in levels):
        config.numba_available()  # NOTE: importing numba is once per process, not a mode's
    try:
        state = State.of(fn, args, kwargs)
    except GraphexecError:
        if any(lv is not None for lv in levels):
            raise
        state = State(v for v in tree.leaves([args, kwargs]) if isinstance(v, Variable))
    results: list[ModeResult] = []
    calls: list[Callable[[], Any]] = []
    functions: dict[str, Function] = {}
    if dev != CPU:  # NOTE: the data lives on the device before any mode runs
        args, kwargs = _placed(args, dev), _placed(kwargs, dev)
    e_args, e_kwargs = as_tensors(args), as_tensors(kwargs)

    eager_call = _synced(functools.partial(fn, *e_args, **e_kwargs), dev)
    contexts: list[Callable[[], Any]] = []
    # NOTE: numba's start-up is a CPU mode's (on a GPU, fused groups are CuPy kernels)
    setup = _jit_setup() if dev == CPU and any(lv is not None and lv >= 2 for lv in levels) \
        else {}

    # NOTE: kernels compile when first needed, not in the background: the first call's JIT
    # phase is what they cost, and the steady state runs them from its first block
    background = config.background_compile()
    config.set_background_compile(False)
    try:
        with functions_eagerly(False):
            state.restore()
            e_first, ref_leaves, e_ops = _first_eager(fn, e_args, e_kwargs, state, dev)
            for label, lv in zip(labels, levels, strict=True):
                state.restore()
                if lv is None:
                    results.append(ModeResult(label, None, e_first, {"first run": e_first},
                                              summarize([]), e_ops, None))
                    calls.append(eager_call)
                    contexts.append(functools.partial(_eagerly_on, dev))
                    continue
                f, phases, out, info = _first_calls(fn, lv, args, kwargs, state, dev)
                if info["loops"] and setup:  # NOTE: a new process pays numba's start-up first
                    phases = {**setup, **phases}
                diff, ok, note = _parity(ref_leaves, out)
                results.append(ModeResult(
                    label, lv, sum(phases.values()), phases, summarize([]),
                    info["kernel_calls"], None, info["planned"], info["nodes_before"],
                    info["nodes_after"], info["fused"], jit=info["jit"], max_abs_diff=diff,
                    parity_ok=ok, parity_note=note))
                calls.append(_synced(functools.partial(f, *args, **kwargs), dev))
                contexts.append(contextlib.nullcontext)
                functions[label] = f
            _steady(results, calls, contexts, min_time)
            for m, call, ctx in zip(results, calls, contexts, strict=True):
                state.restore()
                with ctx():
                    m.peak_bytes = peak_bytes(call)
                    if dev != CPU:
                        state.restore()
                        m.peak_device_bytes = device_peak_bytes(call, dev)
                if m.mode in functions:
                    m.retraces = functions[m.mode].trace_count - 1
    finally:
        config.set_background_compile(background)
        state.restore()
    eager = next((m for m in results if m.level is None), None)
    if eager is not None:
        for m in results:
            if m.level is None:
                continue
            m.speedup = eager.steady.median / m.steady.median if m.steady.median else math.inf
            m.p_value = rank_test(eager.steady.samples, m.steady.samples)
            m.break_even = break_even(m.first_call_s, m.steady.median, eager.first_call_s,
                                      eager.steady.median)
    return Comparison(title, results, environment(), min_time, description, str(dev))


def _placed(args: Any, dev: Device) -> Any:
    """``args`` with every array and tensor moved to ``dev``."""
    return tree.map_leaves(lambda v: to_device(v, dev, "compare") if isinstance(
        v, np.ndarray | Tensor) and not isinstance(v, Variable) else v, args)


def _synced(call: Callable[[], Any], dev: Device) -> Callable[[], Any]:
    """``call`` then a wait for the device's kernels (on a GPU, launches return at once)."""
    if dev == CPU:
        return call

    def synced() -> Any:
        out = call()
        dev.synchronize()
        return out

    return synced


@contextlib.contextmanager
def _eagerly_on(dev: Device) -> Iterator[None]:
    """Eager mode (``gx.function`` bodies run eagerly) with new tensors on ``dev``."""
    with functions_eagerly(True), device_block(dev):
        yield


#: numba's start-up in a new process (measured once per process, in a subprocess)
_SETUP: dict[str, float] = {}

_SETUP_PROBE = """
import json, sys, time
t0 = time.perf_counter()
import numba  # noqa: F401
imported = time.perf_counter() - t0
import numpy as np
import graphexec as gx
from graphexec.fusion import fresh_kernels
x = np.ones(8, "float32")
seconds = []
for _ in range(2):
    f = gx.function(lambda x: gx.exp(x) * 2.0 + 1.0, optimize=2)
    with fresh_kernels():
        t0 = time.perf_counter()
        f(x)
        seconds.append(time.perf_counter() - t0)
json.dump({"numba import": imported, "numba start-up": max(seconds[0] - seconds[1], 0.0)},
          sys.stdout)
"""


def _jit_setup() -> dict[str, float]:
    """What a new process pays once before its first fused loop runs: importing numba and
    numba's first kernel call (its type system and LLVM); measured in a new process, as these
    happen only once in this one."""
    if not config.numba_available() or config.fusion_backend() != "numba":
        return {}
    if not _SETUP:
        try:
            done = subprocess.run([sys.executable, "-c", _SETUP_PROBE], capture_output=True,
                                  text=True, timeout=300, check=True)
            _SETUP.update(json.loads(done.stdout))
        except (OSError, subprocess.SubprocessError, ValueError):
            return {}  # NOTE: no number rather than a wrong one; the table says none
    return dict(_SETUP)


def _first_calls(fn: Callable[..., Any], level: int, args: Sequence[Any],
                 kwargs: dict[str, Any], state: State, dev: Device = CPU
                 ) -> tuple[Function, dict[str, float], list[Any], dict[str, Any]]:
    """The first calls of ``FIRST_CALLS`` new functions of ``fn`` at ``level``: the last
    function, the median call's phases, its outputs and what it compiled."""
    # NOTE: a garbage collection can land in any one first call: the median one's phases
    firsts = []
    where = None if dev == CPU else dev
    f = function(fn, optimize=level, device=where)
    for _ in range(FIRST_CALLS):
        state.restore()
        f = function(fn, optimize=level, device=where)
        # as a new process finds them: numba's (or CuPy's) disk cache only
        with fresh_kernels(), fresh_cuda_kernels():
            phases, out, info = _first_graph(f, level, args, kwargs, dev)
        firsts.append((phases, _leaves(out), info))
    phases, out, info = sorted(firsts, key=lambda r: sum(r[0].values()))[FIRST_CALLS // 2]
    if firsts[0][2]["jit"]["compiles"]:  # numba's disk cache was cold: the first one compiled
        info = {**info, "jit": {**info["jit"], "cold_compiles": firsts[0][2]["jit"]["compiles"],
                                "cold_first_call_s": sum(firsts[0][0].values())}}
    return f, phases, out, info


def _steady(results: list[ModeResult], calls: list[Callable[[], Any]],
            contexts: list[Callable[[], Any]], min_time: float) -> None:
    """Time every mode in auto-ranged blocks, one block of each in turn, until each has had
    ``min_time`` seconds and at least 7 blocks; each block inside its mode's context (eager:
    ``gx.function`` bodies run eagerly)."""
    numbers = []
    for c, ctx in zip(calls, contexts, strict=True):
        with ctx():
            numbers.append(autorange(c, min_block=min(0.05, max(min_time / 20, 1e-3))))
    samples: list[list[float]] = [[] for _ in calls]
    spent = [0.0] * len(calls)
    while any(s < min_time or len(x) < 7 for s, x in zip(spent, samples, strict=True)):
        for k, (c, n, ctx) in enumerate(zip(calls, numbers, contexts, strict=True)):
            if spent[k] >= min_time and len(samples[k]) >= 7:
                continue
            with ctx():
                block = time_blocks(c, n, 1)[0]
            samples[k].append(block)
            spent[k] += block * n
    for m, x, n in zip(results, samples, numbers, strict=True):
        m.steady = summarize(x, n)


#: the JSON Schema of ``Comparison.to_json()``
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["schema", "name", "description", "min_time_s", "device", "env", "modes"],
    "properties": {
        "schema": {"const": SCHEMA_VERSION},
        "name": {"type": "string"},
        "description": {"type": "string"},
        "min_time_s": {"type": "number"},
        "device": {"type": "string"},
        "env": {"type": "object",
                "required": ["cpu", "cores", "python", "libraries", "blas", "blas_env"]},
        "modes": {"type": "array", "items": {
            "type": "object",
            "required": ["mode", "level", "first_call_s", "phases", "steady", "kernel_calls",
                         "peak_bytes", "planned_peak_bytes", "peak_device_bytes",
                         "nodes_before", "nodes_after",
                         "fused_kernels", "retraces", "jit", "max_abs_diff", "parity_ok",
                         "parity_note", "speedup", "p_value", "break_even", "verdict"],
            "properties": {
                "mode": {"type": "string"},
                "level": {"type": ["integer", "null"]},
                "first_call_s": {"type": "number"},
                "phases": {"type": "object", "additionalProperties": {"type": "number"}},
                "steady": {"type": "object", "required": ["median_s", "iqr_s", "q1_s", "q3_s",
                                                          "noisy", "number", "samples_s"]},
                "kernel_calls": {"type": "integer"},
                "peak_bytes": {"type": ["integer", "null"]},
                "planned_peak_bytes": {"type": ["integer", "null"]},
                "peak_device_bytes": {"type": ["integer", "null"]},
                "nodes_before": {"type": ["integer", "null"]},
                "nodes_after": {"type": ["integer", "null"]},
                "fused_kernels": {"type": "integer"},
                "retraces": {"type": "integer"},
                "jit": {"type": "object"},
                "max_abs_diff": {"type": ["number", "null"]},  # null: infinite
                "parity_ok": {"type": "boolean"},
                "parity_note": {"type": "string"},
                "speedup": {"type": ["number", "null"]},
                "p_value": {"type": ["number", "null"]},
                "break_even": {"type": ["integer", "null"]},
                "verdict": {"enum": ["faster", "slower", "n.s.", "-"]},
            }}},
    },
}
