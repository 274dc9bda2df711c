"""Array backends: the ``xp`` module kernels are called with (numpy, or cupy with the extra)."""

from __future__ import annotations

from types import ModuleType

import numpy as np

from .errors import MissingExtraError

__all__ = ["get_xp", "BACKENDS"]

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
        return cupy
    raise ValueError(f"unknown backend {name!r}; choose one of {BACKENDS}")
