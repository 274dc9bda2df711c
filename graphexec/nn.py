"""``gx.nn``: activations, convolution, pooling and ``Sequential``.

>>> import graphexec as gx
>>> gx.nn.softmax([0.0, 0.0]).numpy()
array([0.5, 0.5], dtype=float32)
"""

from __future__ import annotations

from .layers import Sequential
from .ops import nn as _ops_nn
from .ops.nn import *  # noqa: F403  (the functional ops)

__all__ = [*_ops_nn.__all__, "Sequential"]
