"""Array backends: the ``xp`` module kernels are called with (numpy, or cupy with the extra)."""

from __future__ import annotations

from types import ModuleType

import numpy as np

from .errors import DeviceError, InvalidArgumentError, MissingExtraError

__all__ = ["get_xp", "gpu_count", "gpu_problem", "BACKENDS"]

BACKENDS = ("numpy", "cupy")


def get_xp(name: str) -> ModuleType:
    """The array module of backend ``name``; cupy needs ``pip install graphexec[cuda]``.

    >>> from graphexec.backend import get_xp
    >>> get_xp("numpy").__name__
    'numpy'
    """
    if name == "numpy":
        return np
    if name == "cupy" or (name.startswith("cupy:") and name[5:].isdigit()):  # GPU N's plans
        try:
            import cupy
        except ImportError as e:
            raise MissingExtraError(
                "backend 'cupy' needs CuPy: pip install 'graphexec[cuda]'"
            ) from e
        if not gpu_count(cupy):
            why = gpu_problem(cupy)
            raise DeviceError("backend 'cupy': CuPy is installed, but it finds no CUDA GPU ("
                              + (f"cupy.cuda.runtime.getDeviceCount() failed: {why}" if why
                                 else "cupy.cuda.runtime.getDeviceCount() is 0")
                              + "); run on the 'numpy' backend")
        return cupy
    raise InvalidArgumentError(f"unknown backend {name!r}; choose one of {BACKENDS}")


#: what CuPy's runtime said, per CuPy module: (the module, GPU count, its error if it raised)
_COUNTS: dict[int, tuple[ModuleType, int, str]] = {}


def gpu_count(cupy: ModuleType) -> int:
    """How many CUDA GPUs CuPy sees (0 where its runtime cannot say: no driver, say; the
    reason is in ``gpu_problem``); asked once per process."""
    hit = _COUNTS.get(id(cupy))
    if hit is None or hit[0] is not cupy:
        try:
            hit = (cupy, int(cupy.cuda.runtime.getDeviceCount()), "")
        except Exception as e:  # NOTE: cupy raises its CUDARuntimeError without a driver
            hit = (cupy, 0, f"{type(e).__name__}: {e}")
        _COUNTS[id(cupy)] = hit
    return hit[1]


def gpu_problem(cupy: ModuleType) -> str:
    """Why CuPy's runtime could not count the GPUs ("" when it could)."""
    gpu_count(cupy)
    return _COUNTS[id(cupy)][2]
