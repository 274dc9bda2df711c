"""The numba JIT cache of fused kernels: compiled once per process, and kept on disk under
``GRAPHEXEC_CACHE_DIR`` (default ``~/.cache/graphexec``) so a new process loads them instead of
compiling; ``jit_stats()`` counts compiles and hits."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import linecache
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from .. import config
from ..errors import MissingExtraError

__all__ = ["jit_stats", "clear_jit_cache", "fresh_kernels", "cache_dir", "compile_kernel",
           "CACHE_LINE"]

#: the line of generated sources that turns numba's disk cache on (off when compiled in memory)
CACHE_LINE = "CACHE = True  # numba's disk cache"


class _JitState:
    def __init__(self) -> None:
        self.kernels: dict[str, Callable[..., Any]] = {}
        self.generation = 0
        self.lock = threading.Lock()
        self.stats = {"compiles": 0, "memory_hits": 0, "disk_hits": 0, "compile_seconds": 0.0}


_JIT = _JitState()


def jit_stats() -> dict[str, float]:
    """Counters of the numba kernels since the process started: ``compiles``,
    ``memory_hits`` (a program found its kernel compiled in this process), ``disk_hits``
    (loaded from the disk cache) and ``compile_seconds`` (spent compiling or loading).

    >>> from graphexec.fusion import jit_stats
    >>> sorted(jit_stats())
    ['compile_seconds', 'compiles', 'disk_hits', 'memory_hits']
    """
    return dict(_JIT.stats)


def clear_jit_cache() -> None:
    """Forget the kernels compiled in this process (the disk cache stays), so the next runs
    compile or load them again, as a new process would.

    >>> from graphexec.fusion import clear_jit_cache
    >>> clear_jit_cache()
    """
    with _JIT.lock:
        _JIT.kernels.clear()
        _JIT.generation += 1


@contextlib.contextmanager
def fresh_kernels() -> Iterator[None]:
    """Inside the block, new programs compile or load their kernels as a new process would
    (from numba's disk cache where it has them); afterwards the process's kernels are as they
    were, with those compiled inside added.  Programs made before keep their kernels throughout
    (unlike ``clear_jit_cache``).

    >>> from graphexec.fusion.jit import fresh_kernels
    >>> with fresh_kernels():
    ...     pass
    """
    with _JIT.lock:
        saved, _JIT.kernels = _JIT.kernels, {}
    try:
        yield
    finally:
        with _JIT.lock:
            _JIT.kernels = {**_JIT.kernels, **saved}


def cache_dir() -> str:
    """Where compiled kernels are kept: ``$GRAPHEXEC_CACHE_DIR/fused``, by default
    ``~/.cache/graphexec/fused``.

    >>> from graphexec.fusion import cache_dir
    >>> cache_dir().endswith("fused")
    True
    """
    base = os.environ.get("GRAPHEXEC_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "graphexec")
    return os.path.join(base, "fused")


def compile_kernel(source: str) -> Callable[..., Any]:
    """The ``kernel`` of ``source``, compiled once per process; via a module file in
    ``cache_dir()`` when it is writable, so numba's disk cache serves later processes."""
    key = hashlib.sha1(source.encode()).hexdigest()[:20]
    with _JIT.lock:
        fn = _JIT.kernels.get(key)
        if fn is not None:
            _JIT.stats["memory_hits"] += 1
            return fn
        if not config.numba_available():
            raise MissingExtraError("fusion backend 'numba' needs numba: "
                                    "pip install 'graphexec[jit]'")
        t0 = time.perf_counter()
        name = f"graphexec_fused_{key}"
        path = _write_module(name, source)
        if path is None:  # no writable cache: compile from memory
            filename = f"<graphexec fused {key}>"
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            glb: dict[str, Any] = {"__name__": name}
            exec(compile(source.replace(CACHE_LINE, "CACHE = False"), filename, "exec"), glb)
            fn = glb["kernel"]
            hit = False
        else:
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            mod = importlib.util.module_from_spec(spec)
            # NOTE: numba finds the module by name when it loads a cached kernel
            sys.modules[name] = mod
            try:
                spec.loader.exec_module(mod)
            except BaseException:
                del sys.modules[name]
                raise
            fn = mod.kernel
            hit = bool(fn.stats.cache_hits)
        _JIT.stats["disk_hits" if hit else "compiles"] += 1
        _JIT.stats["compile_seconds"] += time.perf_counter() - t0
        _JIT.kernels[key] = fn
        return fn


def _write_module(name: str, source: str) -> str | None:
    folder = cache_dir()
    path = os.path.join(folder, name + ".py")
    try:
        if os.path.exists(path):
            with open(path) as f:
                if f.read() == source:
                    return path  # unchanged, so numba's cache index stays valid
        os.makedirs(folder, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(source)
        os.replace(tmp, path)
    except OSError:
        return None
    return path


def generation() -> int:
    """Bumped by ``clear_jit_cache``: programs drop the kernels they hold when it changes."""
    return _JIT.generation
