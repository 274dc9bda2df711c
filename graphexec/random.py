"""The ``gx.random`` namespace: random tensors and the global seed.

>>> import graphexec as gx
>>> gx.random.uniform((2,), seed=0).dtype
dtype('float32')
"""

from __future__ import annotations

from .ops.creation import normal, set_seed, uniform

__all__ = ["normal", "uniform", "set_seed"]
