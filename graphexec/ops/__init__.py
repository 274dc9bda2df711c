"""Every primitive op and its frontend function; importing this registers them all."""

from . import (  # noqa: F401  (registers ops)
    array,
    core,
    creation,
    fused,
    fused_nn,
    grad,
    linalg,
    math,
    nn,
    pad,
)
