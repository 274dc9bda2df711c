"""The dtype objects ``gx.float32``, ``gx.int64``, ... as ``tf.float32`` and ``torch.float32``:
numpy dtypes, so each compares equal to its numpy type and its name and goes wherever a
``dtype=`` is taken.  Python floats take ``gx.config.floatx()`` (float32 unless set).

>>> import numpy as np, graphexec as gx
>>> gx.float32 == np.float32, gx.float32 == "float32", gx.zeros(2, gx.int8).dtype
(True, True, dtype('int8'))
"""

from __future__ import annotations

import numpy as np

__all__ = ["bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
           "float16", "float32", "float64", "complex64", "complex128"]

bool_ = np.dtype(np.bool_)
int8, int16, int32, int64 = (np.dtype(t) for t in ("int8", "int16", "int32", "int64"))
uint8, uint16, uint32, uint64 = (np.dtype(t) for t in ("uint8", "uint16", "uint32", "uint64"))
float16, float32, float64 = (np.dtype(t) for t in ("float16", "float32", "float64"))
complex64, complex128 = np.dtype(np.complex64), np.dtype(np.complex128)
