"""``gx.nn``: activations, convolution, pooling and ``Sequential``.

>>> import graphexec as gx
>>> gx.nn.softmax([0.0, 0.0]).numpy()
array([0.5, 0.5])
"""

from __future__ import annotations

from .layers import Sequential
from .ops.nn import (
    avg_pool2d,
    conv2d,
    erf,
    gelu,
    log_softmax,
    max_pool2d,
    nll_loss,
    relu,
    sigmoid,
    softmax,
    tanh,
)

__all__ = [
    "relu", "sigmoid", "tanh", "softmax", "log_softmax", "gelu", "erf",
    "conv2d", "max_pool2d", "avg_pool2d", "nll_loss", "Sequential",
]
