"""Eager per-op overhead on tiny tensors: graphexec vs numpy (and PyTorch when installed).

Each op runs on 4x4 float32 operands, where the arithmetic is negligible and the time is almost
all dispatch.  Reported: median µs per call over several repeats, all measured in this one run,
and graphexec's ratio to numpy and to PyTorch; then a chain of 100 ops (25 times
``sin(x * 0.5 + 1.0) - 0.25``, as the ``tiny_ops`` workload) written in each.
Usage: ``python benchmarks/eager_overhead.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from timing import median_time

import graphexec as gx

try:
    import torch
except ImportError:  # PyTorch is only a point of comparison, never a dependency
    torch = None


def per_call(fn, repeats: int = 7, number: int = 20000) -> float:
    """Median µs per call."""
    return median_time(fn, repeats, number) * 1e6


def main() -> None:
    a = np.random.default_rng(0).normal(size=(4, 4)).astype(np.float32)
    x, y = gx.constant(a), gx.constant(a.T.copy())
    cases = {
        "x + y": (lambda: x + y, lambda: a + a, "add"),
        "x * 2.0": (lambda: x * 2.0, lambda: a * 2.0, "mul_scalar"),
        "x @ y": (lambda: x @ y, lambda: a @ a, "matmul"),
        "relu(x)": (lambda: gx.nn.relu(x), lambda: np.maximum(a, 0), "relu"),
        "sum(x, 1)": (lambda: gx.sum(x, axis=1), lambda: a.sum(axis=1), "sum"),
        "exp(x)": (lambda: gx.exp(x), lambda: np.exp(a), "exp"),
    }
    if torch is not None:
        torch.set_num_threads(1)
        tx, ty = torch.from_numpy(a), torch.from_numpy(a.T.copy())
        torch_fns = {
            "add": lambda: tx + ty, "mul_scalar": lambda: tx * 2.0, "matmul": lambda: tx @ ty,
            "relu": lambda: torch.relu(tx), "sum": lambda: tx.sum(dim=1),
            "exp": lambda: torch.exp(tx),
        }
    head = f"{'op':<11}{'numpy':>8}{'graphexec':>11}{'torch':>8}{'gx/np':>8}{'gx/torch':>10}"
    print("eager per-call time on 4x4 float32, µs (median of 7 x 20000 calls)")
    print(head)
    for label, (gx_fn, np_fn, key) in cases.items():
        t_np, t_gx = per_call(np_fn), per_call(gx_fn)
        t_torch = per_call(torch_fns[key]) if torch is not None else float("nan")
        print(f"{label:<11}{t_np:>8.2f}{t_gx:>11.2f}{t_torch:>8.2f}{t_gx / t_np:>8.2f}"
              f"{t_gx / t_torch:>10.2f}")
    if torch is None:
        print("(PyTorch not installed: no torch column)")

    def chain(sin: Any, v: Any) -> Any:
        for _ in range(25):
            v = sin(v * 0.5 + 1.0) - 0.25
        return v

    t_np = per_call(lambda: chain(np.sin, a), number=1000)
    t_gx = per_call(lambda: chain(gx.sin, x), number=1000)
    line = (f"100 chained ops on 4x4: numpy {t_np:.1f} µs, graphexec {t_gx:.1f} µs "
            f"({t_gx / t_np:.2f}x numpy)")
    if torch is not None:
        t_torch = per_call(lambda: chain(torch.sin, tx), number=1000)
        line += f", torch {t_torch:.1f} µs ({t_gx / t_torch:.2f}x torch)"
    print(line)


if __name__ == "__main__":
    main()
