"""ONNX import (to be written)."""

from __future__ import annotations

from typing import Any

__all__ = ["load"]


def load(model_or_path: Any, **options: Any) -> Any:
    """Load an ONNX model as a runnable Program."""
    raise NotImplementedError
