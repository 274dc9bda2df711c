"""Array backends: the ``xp`` module kernels are called with (numpy, or cupy with the extra)."""

from __future__ import annotations

from types import ModuleType

import numpy as np

from .errors import DeviceError, InvalidArgumentError, MissingExtraError

__all__ = ["get_xp", "gpu_count", "BACKENDS"]

BACKENDS = ("numpy", "cupy")


def get_xp(name: str) -> ModuleType:
    """The array module of backend ``name``; cupy needs ``pip install graphexec[cuda]``.

    >>> from graphexec.backend import get_xp
    >>> get_xp("numpy").__name__
    'numpy'
    """
    if name == "numpy":
        return np
    if name == "cupy":
        try:
            import cupy
        except ImportError as e:
            raise MissingExtraError(
                "backend 'cupy' needs CuPy: pip install 'graphexec[cuda]'"
            ) from e
        if not gpu_count(cupy):
            raise DeviceError("backend 'cupy': CuPy is installed, but it finds no CUDA GPU "
                              "(cupy.cuda.runtime.getDeviceCount() is 0 or fails); run on the "
                              "'numpy' backend")
        return cupy
    raise InvalidArgumentError(f"unknown backend {name!r}; choose one of {BACKENDS}")


def gpu_count(cupy: ModuleType) -> int:
    """How many CUDA GPUs CuPy sees (0 where its runtime cannot say: no driver, say)."""
    try:
        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:  # NOTE: cupy raises its CUDARuntimeError without a driver
        return 0
