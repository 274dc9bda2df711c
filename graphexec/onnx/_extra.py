"""The onnx extra, imported when first needed: graphexec imports and works without it."""

from __future__ import annotations

from types import ModuleType

from ..errors import import_extra

__all__ = ["require"]


def require(module: str = "onnx") -> ModuleType:
    """The module ``module`` (``"onnx"``, ``"onnxruntime"``, ...), or a MissingExtraError that
    names the extra to install.

    >>> from graphexec.onnx._extra import require
    >>> require("onnx").__name__
    'onnx'
    """
    return import_extra(module, "onnx", "ONNX")
