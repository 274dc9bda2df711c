"""The onnx extra, imported when first needed: graphexec imports and works without it."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import MissingExtraError

__all__ = ["require"]


def require(module: str = "onnx") -> ModuleType:
    """The module ``module`` (``"onnx"``, ``"onnxruntime"``, ...), or a MissingExtraError that
    names the extra to install.

    >>> from graphexec.onnx._extra import require
    >>> require("onnx").__name__
    'onnx'
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtraError(f"ONNX needs {module.split('.')[0]}: pip install "
                                f"'graphexec[onnx]' ({e})") from None
