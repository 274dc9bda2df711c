"""Process-wide switches (``gx.config``).

``run_functions_eagerly(True)`` makes every ``gx.function`` call its Python function directly,
op by op, instead of tracing it into a graph: print, step through and debug it as plain eager
code, then switch tracing back on.
"""

from __future__ import annotations

__all__ = ["run_functions_eagerly", "functions_run_eagerly"]

_RUN_EAGERLY = False


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
    array([2.])
    >>> double(gx.constant([1.0])).numpy()
    running the Python body
    array([2.])
    >>> config.run_functions_eagerly(False)
    >>> double.trace_count
    0
    """
    global _RUN_EAGERLY
    if not isinstance(flag, bool):
        raise TypeError(f"run_functions_eagerly: flag must be True or False, got {flag!r}")
    _RUN_EAGERLY = flag


def functions_run_eagerly() -> bool:
    """Whether ``gx.function`` calls currently run their Python bodies eagerly.

    >>> from graphexec import config
    >>> config.functions_run_eagerly()
    False
    """
    return _RUN_EAGERLY
