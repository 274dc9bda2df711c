"""Choosing a backend: clear errors for an unknown one, a missing CuPy, or no visible GPU."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

import graphexec as gx
from graphexec.backend import get_xp, gpu_count


def _graph():
    with gx.graph() as g:
        x = gx.placeholder((2,), "float32", name="x")
        y = gx.exp(x)
    return g, x, y


def test_unknown_backend_names_the_choices():
    g, x, y = _graph()
    with pytest.raises(gx.InvalidArgumentError, match=r"unknown backend 'gpu'; choose one of"):
        g.run(y, {x: np.zeros(2, "float32")}, backend="gpu")


def test_cupy_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # an import of cupy fails
    g, x, y = _graph()
    with pytest.raises(gx.MissingExtraError, match=r"pip install 'graphexec\[cuda\]'"):
        g.run(y, {x: np.zeros(2, "float32")}, backend="cupy")


def _fake_cupy(count):
    """A stand-in for the little of CuPy the backend check reads (plumbing only: no GPU)."""
    runtime = types.SimpleNamespace(getDeviceCount=count)
    return types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime))


def _no_driver():
    raise RuntimeError("cudaErrorNoDevice")


@pytest.mark.parametrize("count", [lambda: 0, _no_driver])
def test_cupy_without_a_gpu_is_a_device_error(monkeypatch, count):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(count))
    assert gpu_count(sys.modules["cupy"]) == 0
    with pytest.raises(gx.DeviceError, match="CuPy is installed, but it finds no CUDA GPU"):
        get_xp("cupy")


def test_cupy_with_a_gpu_is_the_backend(monkeypatch):
    fake = _fake_cupy(lambda: 1)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    assert get_xp("cupy") is fake
