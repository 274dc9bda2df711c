"""The machine a measurement was taken on, recorded with every result as pyperf does: the same
numpy can run twice as fast with another BLAS library, kernel selection or thread count."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from typing import Any

__all__ = ["environment", "BLAS_VARIABLES"]

#: environment variables that change what BLAS and OpenMP do
BLAS_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                  "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "OPENBLAS_CORETYPE",
                  "OPENBLAS_VERBOSE", "MKL_ENABLE_INSTRUCTIONS", "MKL_DEBUG_CPU_TYPE",
                  "MKL_CBWR", "KMP_AFFINITY", "OMP_PROC_BIND", "GOMP_CPU_AFFINITY",
                  "NUMBA_NUM_THREADS", "GRAPHEXEC_CACHE_DIR")


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _blas() -> dict[str, Any]:
    """numpy's BLAS as built (``numpy.show_config``) and as loaded (threadpoolctl, when
    installed: the library file, its version, threading layer, kernel and thread count)."""
    import numpy as np

    out: dict[str, Any] = {}
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        out["build"] = {k: blas.get(k) for k in ("name", "version", "openblas configuration")
                        if blas.get(k) is not None}
        simd = cfg.get("SIMD Extensions", {})
        out["simd"] = {"baseline": simd.get("baseline"), "found": simd.get("found")}
    except Exception as e:  # a numpy without mode="dicts": say so, don't fail a benchmark
        out["build"] = {"error": f"{type(e).__name__}: {e}"}
    try:
        import threadpoolctl
    except ImportError:
        out["loaded"] = "threadpoolctl is not installed (pip install threadpoolctl)"
    else:
        out["loaded"] = [{k: p.get(k) for k in ("user_api", "internal_api", "prefix", "version",
                                                "num_threads", "threading_layer",
                                                "architecture", "filepath")}
                         for p in threadpoolctl.threadpool_info()]
    return out


def environment() -> dict[str, Any]:
    """What the result depends on: CPU, cores, OS, Python, library versions, numpy's BLAS
    and its threads, and the BLAS-related environment variables that are set.

    >>> from graphexec.bench.env import environment
    >>> env = environment()
    >>> sorted(env)  # doctest: +NORMALIZE_WHITESPACE
    ['blas', 'blas_env', 'cores', 'cpu', 'libraries', 'machine', 'os', 'python']
    >>> env["libraries"]["numpy"] is not None
    True
    """
    libs = {name: _version(name) for name in ("graphexec", "numpy", "networkx", "numba",
                                              "matplotlib", "threadpoolctl")}
    return {
        "cpu": _cpu(),
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "libraries": libs,
        "blas": _blas(),
        "blas_env": {k: os.environ[k] for k in BLAS_VARIABLES if k in os.environ},
    }
