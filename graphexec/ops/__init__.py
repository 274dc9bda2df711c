"""Every primitive op and its frontend function; importing this registers them all."""

from . import array, core, creation, linalg, math, nn, pad  # noqa: F401  (registers ops)
