"""GPU benchmarks (``scripts/gpu-check.sh`` runs them): graphexec eager, graph (level 1) and
fused (level 3) on a device, next to PyTorch CUDA eager and ``jax.jit`` where installed.

Workloads: 100 tiny chained ops; 4M and 64M float32 elementwise chains (also as a share of the
device's memory bandwidth: the bytes that must move over the time, against a device-to-device
copy's); an MLP 784-256-256-10 inference and SGD training step at batch 256; the reflect-padded
CNN's inference at batch 256.  Times are medians of repeats, taken with CUDA events after a
synchronize (``time.perf_counter`` on the CPU), compiling excluded (warm-up calls first).
Kernel calls per step are counted eagerly and from the plans; the peak device memory of a call
in each mode by a CuPy memory hook.

    python benchmarks/gpu.py [--device gpu] [--out DIR] [--quick]

``--device cpu --quick`` runs the same code on the CPU in seconds (what the tests do).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import graphexec as gx
from graphexec.bench.workloads import WORKLOADS
from graphexec.profiler import EagerRecorder, device_peak_bytes

LEVELS = {"graph": 1, "fused": 3}


class Clock:
    """Seconds per call of a function on a device: CUDA events around ``number`` calls, after
    a synchronize, or perf_counter on the CPU."""

    def __init__(self, dev: gx.Device) -> None:
        self.cupy = dev.xp() if dev.kind == "cuda" else None

    def sync(self) -> None:
        if self.cupy is not None:
            self.cupy.cuda.Device().synchronize()

    def per_call(self, fn: Callable[[], Any], number: int, repeats: int) -> float:
        fn()  # warm-up: compiles, loads, allocates
        self.sync()
        samples = []
        for _ in range(repeats):
            if self.cupy is None:
                t0 = time.perf_counter()
                for _ in range(number):
                    fn()
                samples.append((time.perf_counter() - t0) / number)
                continue
            start, stop = self.cupy.cuda.Event(), self.cupy.cuda.Event()
            start.record()
            for _ in range(number):
                fn()
            stop.record()
            stop.synchronize()
            samples.append(self.cupy.cuda.get_elapsed_time(start, stop) / 1e3 / number)
        return statistics.median(samples)


def _chain(n: int) -> tuple[Callable[..., Any], dict[str, np.ndarray]]:
    """The elementwise chain of the ``elementwise_4m`` workload on ``n`` float32 elements."""
    fn, _ = WORKLOADS["elementwise_4m"].build()
    side = int(np.sqrt(n))
    return fn, {"x": np.random.default_rng(0).random((side, n // side)).astype(np.float32)}


def cases(quick: bool) -> dict[str, tuple[Callable[..., Any], dict[str, np.ndarray], int]]:
    """name -> (function, arrays to pass, bytes an ideal kernel moves (0: not a chain))."""
    out: dict[str, tuple[Callable[..., Any], dict[str, np.ndarray], int]] = {}
    fn, args = WORKLOADS["tiny_ops"].build()
    out["tiny_ops"] = (fn, {"x": args[0]}, 0)
    for label, n in (("ew_4m", 1 << 16 if quick else 1 << 22),
                     ("ew_64m", 1 << 18 if quick else 1 << 26)):
        fn, arrays = _chain(n)
        out[label] = (fn, arrays, 2 * arrays["x"].nbytes)  # read x once, write y once
    batch = 16 if quick else 256
    rng = np.random.default_rng(1)
    for name in ("mlp_inference", "mlp_train", "cnn_inference"):
        w = WORKLOADS[name]
        arrays = w.arrays()
        shape = arrays["x"].shape
        arrays["x"] = rng.random((batch, *shape[1:])).astype(np.float32)
        if "y" in arrays:
            arrays["y"] = rng.integers(0, 10, batch).astype(np.int64)
        out[name] = (w.make_fn(arrays), {k: arrays[k] for k in w.inputs}, 0)
    return out


def copy_bandwidth(dev: gx.Device, clock: Clock, quick: bool) -> float:
    """Bytes per second of a device-to-device copy (read and write): the bandwidth a kernel
    can reach."""
    xp = np if dev.kind == "cpu" else dev.xp()
    a = xp.ones((1 << 20) if quick else (1 << 28), np.uint8)
    b = xp.empty_like(a)
    seconds = clock.per_call(lambda: b.__setitem__(Ellipsis, a), 3, 5)
    return 2 * a.nbytes / seconds


def measure(dev: gx.Device, quick: bool) -> dict[str, Any]:
    clock = Clock(dev)
    number, repeats = (3, 3) if quick else (20, 7)
    results: dict[str, Any] = {"device": str(dev), "copy_bandwidth": copy_bandwidth(
        dev, clock, quick), "cases": {}}
    with gx.device(dev):  # NOTE: the weights (Variables, constants) live on the device too
        for name, (fn, arrays, moved) in cases(quick).items():
            results["cases"][name] = row = measure_case(dev, clock, fn, arrays, number, repeats)
            if moved:
                best = min(row[f"{m}_s"] for m in ("eager", *LEVELS))
                row["bandwidth_share"] = moved / best / results["copy_bandwidth"]
            row.update(peers(name, arrays, dev, number, repeats))
            print(f"  {name}: " + ", ".join(f"{k} {v * 1e3:.3f} ms" for k, v in row.items()
                                            if k.endswith("_s")), file=sys.stderr)
    return results


def measure_case(dev: gx.Device, clock: Clock, fn: Callable[..., Any],
                 arrays: dict[str, np.ndarray], number: int, repeats: int) -> dict[str, Any]:
    """One case's times, kernel calls and peak device memory in each mode."""
    row: dict[str, Any] = {"peak_device_bytes": {}}
    tensors = [gx.constant(a).to(dev) for a in arrays.values()]
    with EagerRecorder() as rec:
        fn(*tensors)
    row["kernels"] = {"eager": len(rec.ops)}
    row["eager_s"] = clock.per_call(lambda: fn(*tensors), number, repeats)
    row["peak_device_bytes"]["eager"] = device_peak_bytes(lambda: fn(*tensors), dev)
    for mode, level in LEVELS.items():
        f = gx.function(fn, optimize=level, device=dev)
        row[f"{mode}_s"] = clock.per_call(lambda f=f: f(*tensors), number, repeats)
        plan = f.get_compiled(*tensors).plan
        row["kernels"][mode] = sum(s[1] not in ("read_variable", "assign") for s in plan.steps)
        row["peak_device_bytes"][mode] = device_peak_bytes(lambda f=f: f(*tensors), dev)
    return row


def peers(name: str, arrays: dict[str, np.ndarray], dev: gx.Device, number: int,
          repeats: int) -> dict[str, float]:
    """PyTorch CUDA eager and jax.jit on the chains and the MLP inference (where installed;
    on a GPU only: on the CPU the peers are ``graphexec bench --peers``)."""
    if dev.kind != "cuda" or not (name.startswith("ew_") or name == "mlp_inference"):
        return {}
    out: dict[str, float] = {}
    host = arrays["x"]
    w = WORKLOADS["mlp_inference"].arrays()
    try:
        import torch

        x = torch.from_numpy(host).cuda(dev.index)
        ws = [torch.from_numpy(w[k]).cuda(dev.index) for k in ("w1", "b1", "w2", "b2", "w3",
                                                                "b3")]

        def torch_fn() -> Any:
            if name.startswith("ew_"):
                y = torch.relu(x * 2.0 + 1.0)
                y = y * torch.exp(-y) + torch.sin(x)
                return y * 0.5 - 0.125
            h = torch.relu(x @ ws[0] + ws[1])
            h = torch.relu(h @ ws[2] + ws[3])
            return torch.softmax(h @ ws[4] + ws[5], dim=-1)

        torch_fn()
        torch.cuda.synchronize()
        samples = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(number):
                torch_fn()
            torch.cuda.synchronize()
            samples.append((time.perf_counter() - t0) / number)
        out["torch_cuda_eager_s"] = statistics.median(samples)
    except Exception as e:  # absent, or no CUDA build: say so in the results
        out["torch_error"] = float("nan")
        print(f"  torch: {type(e).__name__}: {e}", file=sys.stderr)
    try:
        import jax
        import jax.numpy as jnp

        xj = jax.device_put(host)
        wj = [jax.device_put(w[k]) for k in ("w1", "b1", "w2", "b2", "w3", "b3")]

        @jax.jit
        def jax_fn(x: Any, ws: Any) -> Any:
            if name.startswith("ew_"):
                y = jax.nn.relu(x * 2.0 + 1.0)
                y = y * jnp.exp(-y) + jnp.sin(x)
                return y * 0.5 - 0.125
            h = jax.nn.relu(x @ ws[0] + ws[1])
            h = jax.nn.relu(h @ ws[2] + ws[3])
            return jax.nn.softmax(h @ ws[4] + ws[5], axis=-1)

        jax_fn(xj, wj).block_until_ready()
        samples = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(number):
                r = jax_fn(xj, wj)
            r.block_until_ready()
            samples.append((time.perf_counter() - t0) / number)
        out["jax_jit_s"] = statistics.median(samples)
    except Exception as e:
        out["jax_error"] = float("nan")
        print(f"  jax: {type(e).__name__}: {e}", file=sys.stderr)
    return out


def table(results: dict[str, Any]) -> str:
    cols = {"eager_s": "eager", "graph_s": "graph L1", "fused_s": "fused L3",
            "torch_cuda_eager_s": "torch eager", "jax_jit_s": "jax.jit"}
    lines = [f"graphexec on {results['device']}: ms per call (medians); bandwidth: the best "
             f"mode's share of a copy's {results['copy_bandwidth'] / 1e9:.0f} GB/s",
             f"{'case':<15}" + "".join(f"{c:>12}" for c in cols.values())
             + f"{'bandwidth':>11}  kernels eager/graph/fused   peak MiB eager/graph/fused"]
    for name, row in results["cases"].items():
        cells = "".join(f"{row[c] * 1e3:>12.3f}" if c in row else f"{'-':>12}" for c in cols)
        share = f"{row['bandwidth_share']:>11.0%}" if "bandwidth_share" in row else f"{'-':>11}"
        k = row["kernels"]
        kernels = f"{k['eager']}/{k['graph']}/{k['fused']}"
        peak = row.get("peak_device_bytes", {})
        mib = "/".join("-" if peak.get(m) is None else f"{peak[m] / 2**20:.1f}"
                       for m in ("eager", *LEVELS))
        lines.append(f"{name:<15}{cells}{share}  {kernels:<26}{mib}")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="gpu")
    p.add_argument("--out", default=os.environ.get("OUT", "."))
    p.add_argument("--quick", action="store_true", help="small sizes and few repeats")
    args = p.parse_args()
    dev = gx.Device.parse(args.device)
    results = measure(dev, args.quick)
    results["environment"] = gx.bench.environment()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "gpu-bench.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
    text = table(results)
    with open(os.path.join(args.out, "gpu-bench.txt"), "w") as f:
        f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
