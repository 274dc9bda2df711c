"""hypothesis's ``given``, ``settings`` and ``strategies`` where it is installed.  Where it is
not (the GPU machine has no hypothesis), ``given`` marks the test it decorates skipped and the
others do nothing, so a module whose other tests, or whose helpers, another module needs still
imports."""

from __future__ import annotations

from typing import Any

import pytest

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # NOTE: only the decorated tests need it
    def given(*args: Any, **kwargs: Any) -> Any:  # type: ignore[no-redef]
        return pytest.mark.skip(reason="needs hypothesis")

    def settings(*args: Any, **kwargs: Any) -> Any:  # type: ignore[no-redef]
        return lambda f: f

    class _Absent:
        """Any strategy, composite or combinator: callable, and its attributes too."""

        def __getattr__(self, name: str) -> Any:
            return self

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return self

    st = _Absent()  # type: ignore[assignment]

__all__ = ["given", "settings", "st"]
