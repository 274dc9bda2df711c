"""Every primitive op and its frontend function; importing this registers them all."""

from . import array, core, creation, grad, linalg, math, nn, pad  # noqa: F401  (registers ops)
