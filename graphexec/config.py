"""Process-wide switches (``gx.config``).

``run_functions_eagerly(True)`` makes every ``gx.function`` call its Python function directly,
op by op, instead of tracing it into a graph: print, step through and debug it as plain eager
code, then switch tracing back on.

``set_fusion_backend`` chooses how fused elementwise groups run on the CPU: one numba loop
kernel (the ``jit`` extra) or the ops' own numpy ufuncs, one after another.
``set_background_compile`` chooses whether a compiled graph waits for numba (off) or runs its
fused groups with the ufuncs until their kernels are ready (on, the default: tiered).

``set_default_level`` sets the optimization level graphs and functions use when not given one;
``check_level`` is the one check of a level argument.

``set_floatx`` sets the default float dtype (float32 at start, as in TF, PyTorch and JAX):
the dtype of Python floats and lists of them, and of ``zeros``, ``ones``, ``eye`` and the
random ops when no dtype is given.  numpy arrays and scalars keep their own dtype.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

from .errors import InvalidArgumentError, MissingExtraError

__all__ = ["run_functions_eagerly", "functions_run_eagerly", "set_fusion_backend",
           "set_background_compile", "background_compile", "numba_installed",
           "fusion_backend", "FUSION_BACKENDS", "LEVELS", "set_default_level", "default_level",
           "check_level", "set_floatx", "floatx"]

#: the optimization levels and what each runs (``gx.optimize``)
LEVELS = {
    0: "none",
    1: "basic: common subexpressions, constant folding, algebraic simplification, dead code",
    2: "extended: basic + dense/conv epilogue fusion + elementwise fusion",
    3: "all: extended + memory planning (buffer reuse, in-place elementwise ops)",
}
_DEFAULT_LEVEL = 1
_FLOATX = np.dtype(np.float32)
_FLOATS = ("float16", "float32", "float64")


def _flag(where: str, flag: Any) -> bool:
    """``flag``, checked to be True or False (TypeError naming ``where``)."""
    if not isinstance(flag, bool):
        raise TypeError(f"{where}: flag must be True or False, got {flag!r}")
    return flag


def check_level(level: Any, where: str) -> int:
    """``level`` as an int in 0..3 (``None``: the default level), or InvalidArgumentError
    naming ``where``.

    >>> from graphexec import config
    >>> config.check_level(None, "demo"), config.check_level(3, "demo")
    (1, 3)
    >>> config.check_level(7, "demo")
    Traceback (most recent call last):
        ...
    graphexec.errors.InvalidArgumentError: demo: optimize=7 is not a level; levels are 0 (none); ...
    """
    if level is None:
        return _DEFAULT_LEVEL
    if isinstance(level, bool) or not isinstance(level, int) or level not in LEVELS:
        raise InvalidArgumentError(f"{where}: optimize={level!r} is not a level; levels are "
                                   + "; ".join(f"{k} ({v.partition(':')[0]})"
                                               for k, v in LEVELS.items()))
    return level


def set_default_level(level: int) -> None:
    """Set the optimization level ``Graph.run`` and ``gx.function`` use when not given one
    (initially 1: exact rewrites only, so graphs give eager mode's bits).

    >>> from graphexec.config import default_level, set_default_level
    >>> set_default_level(3); default_level()
    3
    >>> set_default_level(1)
    """
    global _DEFAULT_LEVEL
    _DEFAULT_LEVEL = check_level(level, "set_default_level")


def default_level() -> int:
    """The optimization level used when none is given.

    >>> from graphexec.config import default_level
    >>> default_level()
    1
    """
    return _DEFAULT_LEVEL


def set_floatx(dtype: Any) -> None:
    """Set the default float dtype (``"float16"``, ``"float32"`` or ``"float64"``), as Keras'
    ``set_floatx``: it applies to the tensors made from Python data from now on.

    >>> import graphexec as gx
    >>> gx.constant(0.5).dtype
    dtype('float32')
    >>> gx.config.set_floatx("float64"); gx.constant(0.5).dtype
    dtype('float64')
    >>> gx.config.set_floatx("float32")
    """
    global _FLOATX
    try:
        dt = None if dtype is None else np.dtype(dtype)  # np.dtype(None) is float64
    except TypeError:
        dt = None
    if dt is None or dt.name not in _FLOATS:
        raise InvalidArgumentError(f"set_floatx: {dtype!r} is not one of {', '.join(_FLOATS)}")
    _FLOATX = dt


def floatx() -> np.dtype:
    """The default float dtype (``set_floatx``).

    >>> from graphexec import config
    >>> config.floatx()
    dtype('float32')
    """
    return _FLOATX


_RUN_EAGERLY = False

#: the choices of ``set_fusion_backend``
FUSION_BACKENDS = ("auto", "numba", "numpy")
_FUSION_BACKEND = "auto"
_NUMBA_MISSING = False  # an import of numba failed once: do not search for it again
_NUMBA_SPEC: bool | None = None  # whether numba is installed (found, not imported)
_BACKGROUND = os.environ.get("GRAPHEXEC_BACKGROUND_COMPILE", "1").strip().lower() not in (
    "0", "false", "no", "off")


def run_functions_eagerly(flag: bool) -> None:
    """Run the Python body of every ``gx.function`` eagerly on each call (``True``), or trace
    and run graphs again (``False``, the default).  The switch is process-wide, like
    ``tf.config.run_functions_eagerly``.

    >>> import graphexec as gx
    >>> from graphexec import config
    >>> from graphexec.function import function
    >>> @function
    ... def double(x):
    ...     print("running the Python body")
    ...     return x * 2.0
    >>> config.run_functions_eagerly(True)
    >>> double(gx.constant([1.0])).numpy()
    running the Python body
    array([2.], dtype=float32)
    >>> double(gx.constant([1.0])).numpy()
    running the Python body
    array([2.], dtype=float32)
    >>> config.run_functions_eagerly(False)
    >>> double.trace_count
    0
    """
    global _RUN_EAGERLY
    _RUN_EAGERLY = _flag("run_functions_eagerly", flag)


def functions_run_eagerly() -> bool:
    """Whether ``gx.function`` calls currently run their Python bodies eagerly.

    >>> from graphexec import config
    >>> config.functions_run_eagerly()
    False
    """
    return _RUN_EAGERLY


def set_fusion_backend(name: str) -> None:
    """Run fused elementwise groups with ``"numba"`` (one compiled loop per group; needs
    ``pip install 'graphexec[jit]'``), ``"numpy"`` (the ops' ufuncs, in place on reused
    buffers) or ``"auto"`` (the default: numba when it can be imported).  Arrays of another
    module (cupy) always take the ufunc path.

    >>> from graphexec import config
    >>> config.set_fusion_backend("numpy")
    >>> config.fusion_backend()
    'numpy'
    >>> config.set_fusion_backend("auto")
    >>> config.fusion_backend() in ("numba", "numpy")
    True
    >>> config.set_fusion_backend("cuda")
    Traceback (most recent call last):
        ...
    ValueError: set_fusion_backend: unknown backend 'cuda'; choose one of ('auto', 'numba', 'numpy')
    """
    global _FUSION_BACKEND
    if name not in FUSION_BACKENDS:
        raise ValueError(f"set_fusion_backend: unknown backend {name!r}; choose one of "
                         f"{FUSION_BACKENDS}")
    if name == "numba":
        _require_numba()
    _FUSION_BACKEND = name


def fusion_backend() -> str:
    """The backend fused groups run with now: ``"numba"`` or ``"numpy"`` (``"auto"`` resolved).
    MissingExtraError if numba was asked for and cannot be imported.

    >>> from graphexec import config
    >>> config.set_fusion_backend("numpy")
    >>> config.fusion_backend()
    'numpy'
    >>> config.set_fusion_backend("auto")
    """
    if _FUSION_BACKEND == "numpy":
        return "numpy"
    if _FUSION_BACKEND == "numba":
        _require_numba()
        return "numba"
    if _BACKGROUND:  # NOTE: numba is imported by the background compiler, not here
        return "numba" if numba_installed() else "numpy"
    return "numba" if numba_available() else "numpy"


def set_background_compile(flag: bool) -> None:
    """Tiered compilation of fused groups, on by default (``GRAPHEXEC_BACKGROUND_COMPILE=0``
    turns it off in a new process).  On: a fused group whose numba kernel is not compiled
    (or loaded from the disk cache) yet runs as the ops' numpy ufuncs, with the unfused
    graph's bits, while a background thread imports numba and compiles it; later calls use
    the kernel once it is ready.  The first call of a compiled graph does not wait for numba.
    Off: the first call compiles every kernel it needs before it runs (deterministic timing,
    the same kernel from the first call on).

    >>> from graphexec import config
    >>> before = config.background_compile()
    >>> config.set_background_compile(False); config.background_compile()
    False
    >>> config.set_background_compile(before)
    """
    global _BACKGROUND
    _BACKGROUND = _flag("set_background_compile", flag)


def background_compile() -> bool:
    """Whether fused groups compile in the background (``set_background_compile``).

    >>> from graphexec import config
    >>> config.background_compile() in (True, False)
    True
    """
    return _BACKGROUND


def numba_installed() -> bool:
    """Whether numba is installed, found without importing it (an import takes about a
    second); an import that failed counts as not installed.

    >>> from graphexec import config
    >>> config.numba_installed() in (True, False)
    True
    """
    global _NUMBA_SPEC
    mod = sys.modules.get("numba", sys)
    if mod is None or _NUMBA_MISSING:
        return False
    if mod is not sys:
        return True
    if _NUMBA_SPEC is None:
        import importlib.util
        try:
            _NUMBA_SPEC = importlib.util.find_spec("numba") is not None
        except (ImportError, ValueError):
            _NUMBA_SPEC = False
    return _NUMBA_SPEC


def numba_available() -> bool:
    """Whether numba can be imported (it is imported on the first call).

    >>> from graphexec import config
    >>> config.numba_available() in (True, False)
    True
    """
    global _NUMBA_MISSING
    # NOTE: sys.modules first: a cheap check on every fused call, and it sees a numba hidden
    # by setting sys.modules["numba"] = None
    mod = sys.modules.get("numba", sys)
    if mod is None:
        return False
    if mod is not sys:
        return True
    if _NUMBA_MISSING:
        return False
    # NOTE: numba's OpenMP threads spin between parallel loops by default, which starves the
    # main thread on a busy machine (8 ms instead of 0.1 ms for a 200k-element loop on 2 shared
    # cores); passive waiting costs nothing measurable when idle.  A user's setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import numba  # noqa: F401
    except Exception:  # NOTE: a broken install can raise more than ImportError
        _NUMBA_MISSING = True
        return False
    return True


def _require_numba() -> None:
    if not numba_available():
        raise MissingExtraError("fusion backend 'numba' needs numba: "
                                "pip install 'graphexec[jit]'")
