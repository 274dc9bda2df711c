"""The comparison chart (matplotlib, the ``viz`` extra): time per call of each mode, what the
first call spent its time on, and the cumulative time over calls with each break-even marked."""

from __future__ import annotations

import os
from typing import Any

from ..errors import InvalidArgumentError, MissingExtraError
from ..profiler import fmt_seconds

__all__ = ["plot_comparison", "pyplot", "chart_path"]

#: the file types a chart is written as
FORMATS = (".png", ".svg", ".pdf")


def chart_path(path: str | os.PathLike[str]) -> str:
    """``path`` as a chart's file name: ``.png`` added when it has no suffix; another suffix
    than PNG, SVG or PDF, or a folder that does not exist, is an InvalidArgumentError.

    >>> from graphexec.bench.plot import chart_path
    >>> chart_path("out"), chart_path("c.svg")
    ('out.png', 'c.svg')
    """
    path = os.fspath(path)
    stem, ext = os.path.splitext(path)
    if not ext:
        path, ext = path + ".png", ".png"
    if ext.lower() not in FORMATS:
        raise InvalidArgumentError(f"plot: {path!r}: a chart is a {', '.join(FORMATS)} file, "
                                   f"not {ext}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InvalidArgumentError(f"plot: {path!r}: the folder {folder} does not exist")
    return path

#: one color per mode, eager first; phases of the first call in their own palette
MODE_COLORS = {"eager": "#7f7f7f", "graph:0": "#9ecae1", "graph:1": "#4292c6",
               "graph:2": "#2171b5", "graph:3": "#08306b"}
PHASE_COLORS = {"jit start-up": "#f4a6a6", "trace": "#fdae6b", "optimize": "#74c476",
                "lower": "#9e9ac8", "jit compile": "#d62728", "first run": "#636363"}


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend, or MissingExtraError."""
    try:
        import matplotlib
    except ImportError:
        raise MissingExtraError("charts need matplotlib: pip install 'graphexec[viz]'") from None
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _phase_group(name: str) -> str:
    if name.startswith("numba "):
        return "jit start-up"
    return name if name in PHASE_COLORS else "optimize"


def plot_comparison(result: Any, path: str | os.PathLike[str], calls: int | None = None) -> str:
    """Draw ``result`` (a ``Comparison``) into ``path``; see ``Comparison.plot``."""
    path = chart_path(path)
    plt = pyplot()
    modes = result.modes
    names = [m.mode for m in modes]
    colors = [MODE_COLORS.get(n, "#444444") for n in names]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), gridspec_kw={"width_ratios": [1, 1.1, 1.3]})
    fig.suptitle(f"{result.name}" + (f" — {result.description}" if result.description else ""),
                 fontsize=12)

    # 1. steady state: median and IQR per call
    ax = axes[0]
    y = list(range(len(modes)))[::-1]
    med = [m.steady.median * 1e3 for m in modes]
    err = [[(m.steady.median - m.steady.q1) * 1e3 for m in modes],
           [(m.steady.q3 - m.steady.median) * 1e3 for m in modes]]
    ax.barh(y, med, xerr=err, color=colors, capsize=3)
    ax.set_yticks(y, names)
    ax.set_xlabel("ms per call (median, IQR whiskers)")
    ax.set_title("steady state")
    for yi, m in zip(y, modes, strict=True):
        label = "" if m.speedup is None else f"  {m.speedup:.2f}x"
        ax.text(m.steady.q3 * 1e3, yi, f"  {fmt_seconds(m.steady.median)}{label}", va="center",
                fontsize=8)
    ax.set_xlim(0, max(m.steady.q3 for m in modes) * 1e3 * 1.7 or 1)

    # 2. the first call, phase by phase (log scale: a JIT compile dwarfs a trace)
    ax = axes[1]
    shown: set[str] = set()
    for yi, m in zip(y, modes, strict=True):
        groups: dict[str, float] = {}
        for k, v in m.phases.items():
            groups[_phase_group(k)] = groups.get(_phase_group(k), 0.0) + v
        left = 0.0
        for g in PHASE_COLORS:
            v = groups.get(g, 0.0) * 1e3
            if v <= 0:
                continue
            ax.barh(yi, v, left=left, color=PHASE_COLORS[g],
                    label=g if g not in shown else None)
            shown.add(g)
            left += v
        ax.text(left, yi, f" {fmt_seconds(m.first_call_s)}", va="center", fontsize=8)
    ax.set_yticks(y, names)
    jit = any(_phase_group(k).startswith("jit") for m in modes for k in m.phases)
    # NOTE: the comparison compiles the fused loops before the first run, so that the bar
    # shows what they cost; a program by default runs them as ufuncs until they are ready
    ax.set_xlabel("ms (the first call, by phase)" + (
        "\nfused loops compiled first; by default a program's first\ncall runs them as "
        "numpy ufuncs while they compile" if jit else ""))
    ax.set_title("first call")
    ax.set_xlim(0, max(m.first_call_s for m in modes) * 1e3 * 1.35 or 1)
    ax.legend(loc="upper right", fontsize=7, frameon=False)

    # 3. cumulative time over calls, with the break-even of each graph mode
    ax = axes[2]
    finite = [m.break_even for m in modes if m.break_even is not None and m.level is not None]
    n = calls or max(20, int(max(finite, default=10) * 2.5))
    xs = list(range(1, n + 1))
    eager = result.eager
    for m, c in zip(modes, colors, strict=True):
        total = [(m.first_call_s + (k - 1) * m.steady.median) * 1e3 for k in xs]
        be = m.break_even
        label = m.mode
        if m.level is not None and eager is not None:
            label += (" (never pays off)" if be is None else " (ahead from the first call)"
                      if be == 1 else f" (pays off after {be} calls)")
        ax.plot(xs, total, color=c, label=label, lw=2 if m.level is None else 1.6)
        if eager is not None and m.level is not None and be is not None and 1 < be <= n:
            yv = (m.first_call_s + (be - 1) * m.steady.median) * 1e3
            ax.plot([be], [yv], "o", color=c, ms=6, zorder=5)
    if n > 200:
        ax.set_xscale("log")
    ax.set_xlabel("calls")
    ax.set_ylabel("total ms (first call + steady state)")
    ax.set_title("cumulative time: when compiling pays off")
    if any(m.first_call_s > 0 for m in modes):
        top = max((m.first_call_s + (n - 1) * m.steady.median) * 1e3 for m in modes)
        bottom = min(m.first_call_s * 1e3 for m in modes)
        if top / max(bottom, 1e-9) > 50:
            ax.set_yscale("log")
    ax.legend(fontsize=7.5, frameon=True, framealpha=0.9, loc="lower right")
    ax.grid(alpha=0.3)
    env = result.env
    fig.text(0.01, 0.01, f"{env.get('cpu')}, {env.get('cores')} cores; numpy "
             f"{env.get('libraries', {}).get('numpy')}; medians of interleaved auto-ranged "
             f"blocks, {result.min_time:g} s per mode", fontsize=7, color="#555555")
    fig.tight_layout(rect=(0, 0.03, 1, 0.95))
    kwargs: dict[str, Any] = {"dpi": 110}
    if path.lower().endswith(".png"):
        kwargs["metadata"] = {"Software": None}
    fig.savefig(path, **kwargs)
    plt.close(fig)
    return path
