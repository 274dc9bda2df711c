"""Every op of the registry eagerly on a device: its result and its gradients against the CPU's,
and both left on the device.

Two devices: GPU 1 of the numpy-backed stand-in for CuPy (tests/fake_cupy.py), which checks the
plumbing on any machine (the kernels get the device's module, results stay on the device, no
host array sneaks in), and a real CUDA GPU (marked ``gpu``: skipped without CuPy and a GPU),
where the same cases check CuPy's numbers.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import graphexec as gx
from graphexec.device import Device
from graphexec.registry import REGISTRY

from . import fake_cupy
from .test_gradients import GRAD_CASES, OPTIMIZER_ONLY, _loss, _weights
from .test_registry import CASES

DEVICES = [pytest.param("stand-in", id="stand-in"),
           pytest.param("cuda", id="cuda", marks=pytest.mark.gpu)]
FORWARD = [pytest.param(name, i, id=f"{name}-{i}") for name, items in sorted(CASES.items())
           if REGISTRY[name].kind != "source" and name not in OPTIMIZER_ONLY
           for i in range(len(items))]


@pytest.fixture(params=DEVICES)
def device(request, monkeypatch):
    if request.param == "stand-in":
        monkeypatch.setitem(sys.modules, "cupy", fake_cupy.make(devices=2))
        return Device("cuda", 1)
    return Device("cuda", 0)


def _tolerance(dtype, dev):
    """Exact on the stand-in (numpy underneath); CUDA's libm may differ in the last bits."""
    if dev.index == 1:
        return dict(rtol=1e-6, atol=1e-7)
    return dict(rtol=2e-5, atol=1e-6) if np.dtype(dtype).itemsize <= 4 else dict(
        rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("name", "i"), FORWARD)
def test_forward_on_a_device(device, name, i):
    op = REGISTRY[name]
    arrays, attrs = CASES[name][i]
    try:
        want = gx.apply(op, *[gx.constant(a) for a in arrays], **attrs)
    except gx.GraphexecError as e:  # a case of bad input: the same error on the device
        with pytest.raises(type(e)), gx.device(device):
            gx.apply(op, *[gx.constant(a).to(device) for a in arrays], **attrs)
        return
    with gx.device(device):  # NOTE: where ops without inputs (eye, fill, ...) make theirs
        got = gx.apply(op, *[gx.constant(a).to(device) for a in arrays], **attrs)
    wants = want if isinstance(want, tuple) else (want,)
    gots = got if isinstance(got, tuple) else (got,)
    assert len(gots) == len(wants)
    for w, g in zip(wants, gots, strict=True):
        assert g.device == device, f"{name}: a result on {g.device}"
        assert g.dtype == w.dtype and g.shape == w.shape
        if not op.pure and attrs.get("seed", 0) is None:
            continue  # an unseeded random draw: values of its own on each call
        np.testing.assert_allclose(g.numpy(), w.numpy(), **_tolerance(w.dtype, device))


@pytest.mark.parametrize(("name", "arrays", "attrs"), GRAD_CASES)
def test_gradient_on_a_device(device, name, arrays, attrs):
    op = REGISTRY[name]
    w = _weights(op, arrays, attrs)
    wrt = [i for i, a in enumerate(arrays) if a.dtype == np.float64 and a.size]

    def grads(where):
        tensors = [gx.constant(a).to(where) for a in arrays]
        with gx.GradientTape() as tape:
            tape.watch([tensors[i] for i in wrt])
            loss = _loss(op, tensors, attrs, [gx.constant(x).to(where) for x in w])
        return tape.gradient(loss, [tensors[i] for i in wrt], unconnected_gradients="zero")

    for got, want in zip(grads(device), grads("cpu"), strict=True):
        assert got.device == device, f"{name}: a gradient on {got.device}"
        np.testing.assert_allclose(got.numpy(), want.numpy(), **_tolerance("float64", device))
