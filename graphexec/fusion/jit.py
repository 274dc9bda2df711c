"""The numba JIT cache of fused kernels: compiled once per process, and kept on disk under
``GRAPHEXEC_CACHE_DIR`` (default ``~/.cache/graphexec``) so a new process loads them instead of
compiling; ``jit_stats()`` counts compiles and hits.  With ``config.background_compile()``
(tiered compilation), ``kernel_when_ready`` hands the compile to one background thread and
answers None until the kernel is ready, so the caller runs its numpy path meanwhile."""

from __future__ import annotations

import atexit
import collections
import contextlib
import hashlib
import importlib.util
import linecache
import os
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any, cast

from .. import config
from ..errors import MissingExtraError

__all__ = ["jit_stats", "clear_jit_cache", "fresh_kernels", "cache_dir", "compile_kernel",
           "kernel_when_ready", "wait_for_background_compiles", "CACHE_LINE"]

#: the line of generated sources that turns numba's disk cache on (off when compiled in memory)
CACHE_LINE = "CACHE = True  # numba's disk cache"


class _JitState:
    def __init__(self) -> None:
        self.kernels: dict[str, Callable[..., Any]] = {}
        self.generation = 0
        self.lock = threading.Lock()
        self.compiling = threading.RLock()
        self.stats = {"compiles": 0, "memory_hits": 0, "disk_hits": 0, "compile_seconds": 0.0,
                      "background": 0}
        # the background compiler: sources waiting, keys queued or compiling, keys that failed
        self.queue: collections.deque[tuple[str, str]] = collections.deque()
        self.pending: set[str] = set()
        self.failed: set[str] = set()
        self.wake = threading.Condition(self.lock)
        self.worker: threading.Thread | None = None
        self.stopping = False


_JIT = _JitState()


def _after_fork() -> None:
    # NOTE: a forked child has no background thread, and a lock held by it at the fork would
    # stay held: the child starts the compiler afresh (its kernels stay)
    kernels, stats, generation = _JIT.kernels, _JIT.stats, _JIT.generation
    _JIT.__init__()  # type: ignore[misc]
    _JIT.kernels, _JIT.stats, _JIT.generation = kernels, stats, generation


if hasattr(os, "register_at_fork"):
    # NOTE: no fork while the background thread compiles: numba's own compiler lock and a
    # half-imported numba would be copied into the child as they are, held and broken
    os.register_at_fork(before=lambda: _JIT.compiling.acquire(),
                        after_in_parent=lambda: _JIT.compiling.release(),
                        after_in_child=_after_fork)


def jit_stats() -> dict[str, float]:
    """Counters of the numba kernels since the process started: ``compiles``,
    ``memory_hits`` (a program found its kernel compiled in this process), ``disk_hits``
    (loaded from the disk cache) and ``compile_seconds`` (spent compiling or loading).

    ``background`` counts the kernels compiled or loaded by the background compiler.

    >>> from graphexec.fusion import jit_stats
    >>> sorted(jit_stats())
    ['background', 'compile_seconds', 'compiles', 'disk_hits', 'memory_hits']
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
        _JIT.failed.clear()
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
        failed, _JIT.failed = _JIT.failed, set()
    try:
        yield
    finally:
        with _JIT.lock:
            _JIT.kernels = {**_JIT.kernels, **saved}
            _JIT.failed = failed


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


def _key(source: str) -> str:
    return hashlib.sha1(source.encode()).hexdigest()[:20]


def kernel_when_ready(source: str) -> Callable[..., Any] | None:
    """The ``kernel`` of ``source`` if this process has it; else, with background compiles on
    (``config.background_compile()``), None while a background thread compiles it (or
    loads it from the disk cache): the caller runs without it meanwhile; with them off,
    ``compile_kernel(source)``.  A kernel that failed to compile in the background stays
    None (the failure is warned about once)."""
    key = _key(source)
    if key in _JIT.kernels or not config.background_compile():
        return compile_kernel(source)
    with _JIT.lock:
        fn = _JIT.kernels.get(key)
        if fn is not None or key in _JIT.failed or key in _JIT.pending:
            return fn
        _JIT.pending.add(key)
        _JIT.queue.append((key, source))
        if _JIT.worker is None or not _JIT.worker.is_alive():
            _JIT.stopping = False
            _JIT.worker = threading.Thread(target=_compile_in_background,
                                           name="graphexec-jit", daemon=True)
            _JIT.worker.start()
        _JIT.wake.notify()
    return None


#: what a compiler process runs: it imports the kernel modules named after its first argument
#: (a tag), so numba compiles them into its disk cache, and marks each one compiled with the tag
#: (it needs numba, not graphexec)
_COMPILER_PROCESS = """
import importlib.util, os, sys
for path in sys.argv[2:]:
    name = os.path.basename(path)[:-3]
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    except Exception:
        continue
    with open(path[:-3] + ".compiled", "w") as f:
        f.write(sys.argv[1])
"""


def _compile_in_background() -> None:
    while True:
        with _JIT.lock:
            while not _JIT.queue and not _JIT.stopping:
                _JIT.wake.wait()
            if not _JIT.queue:  # NOTE: at exit, what was queued is compiled first
                return
            batch = list(_JIT.queue)
            _JIT.queue.clear()
            known = {key for key, _ in batch if key in _JIT.kernels}
        # NOTE: if this fails, they compile here, which reports the real error
        with contextlib.suppress(Exception):
            _compile_in_a_process([(k, src) for k, src in batch if k not in known])
        for key, source in batch:
            if _JIT.stopping:  # NOTE: at exit, the disk cache is what the compiles are for
                with _JIT.lock:
                    _JIT.pending.discard(key)
                    _JIT.wake.notify_all()
                continue
            _load_in_background(key, source, key in known)


def _compile_in_a_process(batch: list[tuple[str, str]]) -> None:
    """Compile ``batch`` into numba's disk cache in a new process, which has an interpreter
    lock of its own: numba's compiler is Python code and would hold this process's lock for
    seconds, slowing every call meanwhile.  Loading the result here is then a disk hit.  When
    it cannot be done (no writable cache, no interpreter to start, a failure), the kernels
    are compiled here as before, which also reports any error."""
    exe = sys.executable
    # NOTE: a frozen app's or an embedding host's executable is not a Python to start
    if (not exe or getattr(sys, "frozen", False)
            or not os.path.basename(exe).lower().startswith(("python", "pypy"))):
        return
    paths = [_write_module(f"graphexec_fused_{key}", source) for key, source in batch]
    if None in paths or not config.numba_installed():
        return
    tag = _compiled_tag()
    paths = [p for p in paths if p is not None and not _compiled(p, tag)]
    if not paths:
        return
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run([exe, "-c", _COMPILER_PROCESS, tag, *cast(list[str], paths)],
                       capture_output=True, timeout=600, check=False,
                       env={**os.environ, "OMP_WAIT_POLICY": os.environ.get(
                           "OMP_WAIT_POLICY", "PASSIVE")})


def _compiled_tag() -> str:
    """What a compiler process writes beside each module it compiled: this Python and numba
    (numba's cache holds a kernel for one of each)."""
    import importlib.metadata

    try:
        numba = importlib.metadata.version("numba")
    except importlib.metadata.PackageNotFoundError:
        numba = "?"
    return f"python {sys.version_info[0]}.{sys.version_info[1]}, numba {numba}"


def _compiled(path: str, tag: str) -> bool:
    """Whether a compiler process compiled the kernel module at ``path`` (as it is now) for
    this Python and numba."""
    marker = path[:-3] + ".compiled"
    try:
        if os.stat(marker).st_mtime < os.stat(path).st_mtime:
            return False
        with open(marker) as f:
            return f.read() == tag
    except OSError:
        return False


def _load_in_background(key: str, source: str, known: bool) -> None:
    try:
        compile_kernel(source)  # NOTE: numba's import (about a second) is in here
        if not known:
            with _JIT.lock:
                _JIT.stats["background"] += 1
    except MissingExtraError:  # numba is not importable after all: the ufuncs stay
        with _JIT.lock:
            _JIT.failed.add(key)
    except BaseException as e:  # NOTE: the ufuncs stay; a bug here must not stop a run
        with _JIT.lock:
            _JIT.failed.add(key)
        # NOTE: warnings turned into errors must not end the thread either
        with contextlib.suppress(Exception):
            warnings.warn(f"graphexec: a fused kernel failed to compile in the background "
                          f"({type(e).__name__}: {e}); its group runs as numpy ufuncs",
                          RuntimeWarning, stacklevel=1)
    finally:
        with _JIT.lock:
            _JIT.pending.discard(key)
            _JIT.wake.notify_all()


def wait_for_background_compiles(timeout: float | None = None) -> bool:
    """Wait until the background compiler has nothing queued or compiling (True), or
    ``timeout`` seconds have passed (False).  Benchmarks call it to time the compiled kernels.

    >>> from graphexec.fusion.jit import wait_for_background_compiles
    >>> wait_for_background_compiles(1.0)
    True
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    with _JIT.lock:
        while _JIT.pending:
            if _JIT.worker is None or not _JIT.worker.is_alive():
                _JIT.pending.clear()  # NOTE: nothing will compile them (the process exits)
                _JIT.queue.clear()
                return False
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            _JIT.wake.wait(0.5 if left is None else min(left, 0.5))
    return True


@atexit.register
def _stop_background_compiler() -> None:
    # NOTE: the kernels queued are compiled first, for at most 10 s, so numba's disk cache
    # has them for the next process
    with _JIT.lock:
        _JIT.stopping = True
        _JIT.wake.notify_all()
        worker = _JIT.worker
    if worker is not None and worker.is_alive():
        worker.join(timeout=10)


def compile_kernel(source: str) -> Callable[..., Any]:
    """The ``kernel`` of ``source``, compiled once per process; via a module file in
    ``cache_dir()`` when it is writable, so numba's disk cache serves later processes."""
    key = _key(source)
    with _JIT.lock:
        fn = _JIT.kernels.get(key)
        if fn is not None:
            _JIT.stats["memory_hits"] += 1
            return fn
    # NOTE: a lock of its own for compiling: the background compiler holds it for seconds,
    # while the state's lock stays free for the calls that only ask whether a kernel is ready
    with _JIT.compiling:
        fn = _JIT.kernels.get(key)
        if fn is not None:
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
        with _JIT.lock:
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
        tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(tmp, "w") as f:
            f.write(source)
        os.replace(tmp, path)
    except OSError:
        return None
    return path


def generation() -> int:
    """Bumped by ``clear_jit_cache``: programs drop the kernels they hold when it changes."""
    return _JIT.generation
