"""Every primitive op and its frontend function; importing this registers them all.

The modules are layered, each importing only those before it: ``grad`` (the primitives gradient
rules are built from), ``state`` (Variable and the source ops), ``array`` (casts, shapes,
joining, indexing), ``creation``, ``math`` (elementwise math and reductions), ``linalg``,
``pad``, ``nn``, ``fused_nn`` (the epilogue ops the optimizer makes) and ``methods`` (the
operators and methods of ``Tensor``).
"""

from . import (  # noqa: F401  (registers ops)
    array,
    creation,
    fused_nn,
    grad,
    linalg,
    math,
    methods,
    nn,
    ordering,
    pad,
    state,
)
