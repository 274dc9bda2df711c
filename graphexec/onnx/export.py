"""ONNX export (to be written)."""

from __future__ import annotations

from typing import Any

__all__ = ["export"]


def export(obj: Any, path: Any = None, **options: Any) -> Any:
    """Export ``obj`` as an ONNX model."""
    raise NotImplementedError
