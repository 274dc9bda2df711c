"""Fused elementwise groups: the program (``program``), its numba code writer (``codegen``) and
the JIT cache (``jit``).  The elementwise fusion pass (``graphexec.passes.fusion``) makes the
``fused_elementwise`` nodes that run them.
"""

from .codegen import kernel_source
from .jit import cache_dir, clear_jit_cache, fresh_kernels, jit_stats
from .program import (
    PARALLEL_MIN_SIZE,
    SIMD_MIN_SIZE,
    SIMD_RATIO,
    FusedProgram,
    Member,
    fused_elementwise_p,
    fusible,
)

__all__ = ["FusedProgram", "Member", "fusible", "fused_elementwise_p", "kernel_source",
           "jit_stats", "clear_jit_cache", "fresh_kernels", "cache_dir", "PARALLEL_MIN_SIZE",
           "SIMD_MIN_SIZE", "SIMD_RATIO"]
