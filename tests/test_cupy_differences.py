"""Where CuPy differs from numpy, each op handles it once, in its own stanza (docs/gpu.md):
here the same op on the CPU and on GPU 1 of the numpy-backed stand-in for CuPy
(tests/fake_cupy.py), which behaves as CuPy does in each of these places.  These tests check
the ops' branches for the differences, not CUDA: the ``gpu`` tests run them on a real device.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import graphexec as gx
from graphexec.device import Device
from graphexec.registry import REGISTRY

from . import fake_cupy

GPU = Device("cuda", 1)


@pytest.fixture
def gpu(monkeypatch):
    fake = fake_cupy.make(devices=2)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    return fake


def test_the_stand_in_differs_from_numpy_as_cupy_does(gpu):
    with gpu.cuda.Device(1):
        x = gpu.asarray(np.array([1.0, 2.0]))
        total = gpu.sum(x)
        assert isinstance(total, gpu.ndarray) and total.shape == ()  # not a numpy scalar
        with pytest.raises(TypeError, match="not lists"):
            gpu.add(x, [1.0, 2.0])
        assert gpu.take(x, gpu.asarray(np.array([2]))).get().tolist() == [1.0]  # wraps
        assert x[gpu.asarray(np.array([-3]))].get().tolist() == [2.0]
        assert gpu.asarray(np.array([np.nan, -1.0, 1e10])).astype("uint8").get().tolist() == \
            [0, 0, 255]
        with pytest.raises(TypeError, match="int64"):
            gpu.add.at(gpu.zeros(3, "int64"), gpu.asarray(np.array([0])),
                       gpu.ones(1, "int64"))
        assert gpu.linalg.eig(gpu.eye(2))[0].dtype == np.complex128


def _both(fn, *arrays):
    """``fn`` of ``arrays`` on the CPU, and on the stand-in GPU (results moved back)."""
    cpu = fn(*[gx.constant(a) for a in arrays])
    with gx.device(GPU):
        dev = fn(*[gx.constant(a).to(GPU) for a in arrays])
    return cpu, dev


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int32", "uint32", "int64", "uint64"])
@pytest.mark.parametrize("src", ["float32", "float64"])
def test_float_to_int_casts_saturate_the_same_everywhere(gpu, src, dtype):
    x = np.array([np.nan, np.inf, -np.inf, -1.0, -0.5, 0.5, 300.0, -300.0, 1e30, -1e30,
                  2.0 ** 31, 2.0 ** 63, 2.0 ** 64, 7.9], src)
    info = np.iinfo(dtype)
    want = [0, info.max, info.min]
    for v in x[3:]:
        t = float(np.trunc(v))  # NOTE: Python compares floats and ints exactly
        want.append(info.max if t > info.max else info.min if t < info.min else int(t))

    def cast(t):
        return gx.cast(t, dtype)

    cpu, dev = _both(cast, x)
    assert cpu.numpy().tolist() == want and dev.device == GPU
    assert dev.numpy().tolist() == want
    for level in (0, 3):  # the fused loop (level 3) computes it in its own code
        f = gx.function(lambda t: gx.cast(t * 1.0, dtype), optimize=level)
        assert f(gx.constant(x)).numpy().tolist() == want
        assert f(gx.constant(x).to(GPU)).numpy().tolist() == want


def test_out_of_range_indices_raise_on_every_device(gpu):
    params = np.arange(6.0).reshape(3, 2)
    for bad in ([3], [-4], [[0, 7]]):
        idx = np.array(bad)
        for where in ("cpu", GPU):  # NOTE: cupy's take would wrap them silently
            with pytest.raises(gx.ExecutionError, match="out of range for axis 0 of size 3"):
                gx.gather(gx.constant(params).to(where), gx.constant(idx).to(where))
    logp = np.log(np.full((2, 3), 1 / 3))
    for where in ("cpu", GPU):  # take_along_axis wraps too
        with pytest.raises(gx.ExecutionError, match="label 3 is outside the valid range"):
            gx.nn.nll_loss(gx.constant(logp).to(where), gx.constant(np.array([0, 3])).to(where))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int8", "int16", "int32",
                                   "int64", "uint8", "uint16", "uint32", "uint64", "bool",
                                   "complex64", "complex128"])
def test_scatter_add_in_every_dtype(gpu, dtype):
    rng = np.random.default_rng(0)
    g = rng.integers(-100, 100, (5, 2)).astype(dtype)
    if np.dtype(dtype).kind == "c":
        g = g + 1j * rng.integers(-5, 5, (5, 2)).astype(dtype)
    indices = np.array([0, 2, 2, 0, 2])  # repeated: they add up (and wrap in narrow ints)
    like = np.zeros((3, 2), dtype)
    want = np.zeros((3, 2), dtype)
    np.add.at(want, indices, g)

    def scatter(g_, i_, like_):
        return gx.apply(REGISTRY["gather_grad"], g_, i_, like_, axis=0)

    cpu, dev = _both(scatter, g, indices, like)
    assert dev.device == GPU and dev.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(cpu.numpy(), want)
    np.testing.assert_array_equal(dev.numpy(), want)


def test_complex_scatter_add_keeps_infinite_parts_apart(gpu):
    g = np.array([complex(1, np.inf), complex(2, np.nan), 2 + 3j])
    indices = np.array([0, 1, 1])
    want = np.zeros(2, complex)
    np.add.at(want, indices, g)  # [1+infj, 4+nanj]: an infinite imaginary part, a real one

    def scatter(g_, i_, like_):
        return gx.apply(REGISTRY["gather_grad"], g_, i_, like_, axis=0)

    _, dev = _both(scatter, g, indices, np.zeros(2, complex))
    np.testing.assert_array_equal(dev.numpy().real, want.real)
    np.testing.assert_array_equal(dev.numpy().imag, want.imag)


def test_float16_casts_need_no_warning(gpu):
    x = np.array([np.nan, np.inf, -np.inf, -1.0, 300.0, 65504.0], "float16")
    with np.errstate(all="raise"):
        for dtype in ("int8", "uint16", "int32", "uint64"):
            info = np.iinfo(dtype)
            got = gx.cast(gx.constant(x), dtype).numpy()
            assert got[:3].tolist() == [0, info.max, info.min]


def test_eig_is_always_complex_and_needs_cupy_14(gpu, monkeypatch):
    a = np.array([[2.0, 1.0], [0.0, 3.0]])  # real eigenvalues: numpy would give real arrays
    cpu, dev = _both(lambda t: gx.linalg.eig(t)[0], a)
    assert cpu.dtype == dev.dtype == np.complex128
    np.testing.assert_allclose(np.sort_complex(dev.numpy()), [2.0, 3.0])
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy.make(devices=2, eig=False))
    t = gx.constant(a).to(GPU)
    with pytest.raises(gx.MissingExtraError, match=r"eig: on a GPU it needs CuPy 14 .*"
                                                   r"test_cupy_differences.py"):
        gx.linalg.eig(t)


def test_full_reductions_stay_on_the_device(gpu):
    x = np.arange(6.0).reshape(2, 3)
    for fn in (gx.sum, gx.max, gx.mean, gx.linalg.norm,
               lambda t: gx.argmax(gx.reshape(t, (-1,)), axis=0)):
        cpu, dev = _both(fn, x)
        assert dev.device == GPU and dev.shape == () and dev.dtype == cpu.dtype
        assert dev.numpy() == cpu.numpy()
        assert float(dev.numpy()) == float(cpu)  # a 0-d device array converts as a number
