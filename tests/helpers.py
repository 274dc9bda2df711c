"""Test harness: run a function eagerly and as a graph, compare both with a numpy reference."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import graphexec as gx
from graphexec import tree

TOL = {
    np.dtype("float16"): dict(rtol=1e-3, atol=1e-3),
    np.dtype("float32"): dict(rtol=1e-5, atol=1e-6),
    np.dtype("float64"): dict(rtol=1e-11, atol=1e-12),
    np.dtype("complex64"): dict(rtol=1e-5, atol=1e-6),
    np.dtype("complex128"): dict(rtol=1e-11, atol=1e-12),
}


def run_eager(fn: Callable[..., Any], *arrays: np.ndarray) -> list[np.ndarray]:
    with gx.eager():
        out = fn(*[gx.constant(a) for a in arrays])
    return [o.numpy() for o in tree.leaves(out)]


def run_graph(fn: Callable[..., Any], *arrays: np.ndarray, dynamic: bool = False
              ) -> list[np.ndarray]:
    """Build ``fn`` over placeholders (all dims ``None`` when ``dynamic``), validate, run."""
    with gx.graph() as g:
        phs = [gx.placeholder((None,) * a.ndim if dynamic else a.shape, a.dtype, name=f"in{i}")
               for i, a in enumerate(arrays)]
        out = tree.leaves(fn(*phs))
    g.validate()
    return [np.asarray(v) for v in g.run(out, dict(zip(phs, arrays, strict=True)))]


def assert_close(actual: Any, expected: Any, rtol: float | None = None,
                 atol: float | None = None) -> None:
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"shape {actual.shape} != expected {expected.shape}"
    assert actual.dtype == expected.dtype, f"dtype {actual.dtype} != expected {expected.dtype}"
    tol = dict(TOL.get(expected.dtype, dict(rtol=0, atol=0)))
    if rtol is not None:
        tol["rtol"] = rtol
    if atol is not None:
        tol["atol"] = atol
    np.testing.assert_allclose(actual, expected, equal_nan=True, **tol)


def check_op(fn: Callable[..., Any], ref: Callable[..., Any], *arrays: np.ndarray,
             rtol: float | None = None, atol: float | None = None, dynamic: bool = False) -> None:
    """``fn`` on tensors must match ``ref`` on arrays, eagerly and in graph mode; the two
    modes must agree bit for bit (they run the same kernels)."""
    arrays = tuple(np.asarray(a) for a in arrays)
    expected = tree.leaves(ref(*arrays))
    eager = run_eager(fn, *arrays)
    graph = run_graph(fn, *arrays, dynamic=dynamic)
    assert len(eager) == len(expected) == len(graph)
    for e, g, x in zip(eager, graph, expected, strict=True):
        assert_close(e, x, rtol, atol)
        np.testing.assert_array_equal(g, e, strict=True)


def rand(*shape: int, dtype: Any = "float64", seed: int = 0, low: float = -2.0,
         high: float = 2.0) -> np.ndarray:
    """Reproducible test data."""
    rng = np.random.default_rng(seed)
    if np.issubdtype(np.dtype(dtype), np.integer):
        return rng.integers(int(low), int(high) + 1, size=shape).astype(dtype)
    if np.dtype(dtype) == np.bool_:
        return rng.random(shape) > 0.5
    return rng.uniform(low, high, size=shape).astype(dtype)


def in_threads(fn: Callable[[], Any], n: int) -> list[BaseException]:
    """Run ``fn`` in ``n`` threads at once; the exceptions they raised."""
    import threading

    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except Exception as e:  # collected, so the test names it
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def fused_runs(levels: tuple[int, ...] = (2, 3)) -> Iterator[tuple[str, int]]:
    """``(backend, level)`` for each fusion backend (numba where installed) and each level,
    with the backend set while the caller's loop body runs; the default is restored after."""
    import importlib.util

    backends = ["numpy"] + (["numba"] if importlib.util.find_spec("numba") else [])
    try:
        for backend in backends:
            gx.config.set_fusion_backend(backend)
            for level in levels:
                yield backend, level
    finally:
        gx.config.set_fusion_backend("auto")
