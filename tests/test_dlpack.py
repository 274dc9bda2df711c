"""DLPack both ways and gx.from_numpy: zero-copy exchange with numpy (and PyTorch, JAX)."""

from __future__ import annotations

import numpy as np
import pytest

import graphexec as gx


def test_numpy_takes_a_tensor_without_copying():
    t = gx.constant(np.arange(6, dtype="float32").reshape(2, 3)).T  # a strided view
    a = np.from_dlpack(t)
    np.testing.assert_array_equal(a, t.numpy())
    assert np.shares_memory(a, t.numpy()) and a.strides == t.numpy().strides
    assert t.__dlpack_device__() == (1, 0)


def test_a_variable_goes_out_read_only():
    v = gx.Variable([1.0, 2.0])
    a = np.from_dlpack(v)
    np.testing.assert_array_equal(a, [1.0, 2.0])
    assert not a.flags.writeable


def test_from_dlpack_shares_memory_and_copies_on_request():
    a = np.arange(5, dtype="int64")
    t = gx.from_dlpack(a)
    assert np.shares_memory(t.numpy(), a) and t.dtype == np.int64
    c = gx.from_dlpack(a, copy=True)
    assert not np.shares_memory(c.numpy(), a)
    np.testing.assert_array_equal((gx.from_dlpack(gx.constant([1.5])) * 2.0).numpy(), [3.0])


def test_from_numpy_is_zero_copy_and_computes_in_both_modes():
    a = np.linspace(-1, 1, 8).astype("float32")
    t = gx.from_numpy(a)
    a[0] = 5.0
    assert t.numpy()[0] == 5.0
    eager = gx.nn.relu(t * 2.0).numpy()
    graph = gx.function(lambda x: gx.nn.relu(x * 2.0), optimize=3)(t).numpy()
    np.testing.assert_array_equal(eager, np.maximum(a * 2.0, 0))
    np.testing.assert_array_equal(graph, eager)
    np.testing.assert_array_equal(a[0], 5.0)  # nothing wrote into the user's memory


def test_bad_input_is_a_clear_error():
    with pytest.raises(gx.InvalidArgumentError, match="expected a numpy array, got list"):
        gx.from_numpy([1.0])
    with pytest.raises(gx.DTypeError, match="from_numpy: arrays of <U1 are not tensors"):
        gx.from_numpy(np.array(["a"]))
    with pytest.raises(gx.InvalidArgumentError, match="not a DLPack producer"):
        gx.from_dlpack([1.0])
    with gx.graph(), pytest.raises(gx.InvalidArgumentError, match="inside a graph block"):
        gx.from_numpy(np.ones(2))
    with gx.graph():
        x = gx.placeholder((2,), name="x")
    with pytest.raises(gx.GraphError, match="__dlpack__ of 'x': the tensor is symbolic"):
        x.__dlpack__()


class _Producer:
    """A DLPack producer that only says where it lives."""

    def __init__(self, kind, index):
        self.where = (kind, index)

    def __dlpack__(self, **kwargs):
        raise AssertionError("not to be read")

    def __dlpack_device__(self):
        return self.where


def test_memory_graphexec_cannot_reach_is_refused_by_name():
    with pytest.raises(gx.InvalidArgumentError, match="lives on OpenCL device 1; graphexec "
                       "tensors live on the CPU or a CUDA GPU"):
        gx.from_dlpack(_Producer(4, 1))


def test_cuda_memory_needs_cupy(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(gx.MissingExtraError, match=r"graphexec\[cuda\]"):
        gx.from_dlpack(_Producer(2, 0))


def test_torch_both_ways():
    torch = pytest.importorskip("torch")
    t = gx.constant([1.0, 2.0, 3.0])
    tt = torch.from_dlpack(t)
    assert tt.data_ptr() == t.numpy().ctypes.data
    back = gx.from_dlpack(torch.arange(6.0).reshape(2, 3).t())
    np.testing.assert_array_equal(back.numpy(), np.arange(6.0).reshape(2, 3).T)


def test_jax_both_ways():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    t = gx.from_dlpack(jnp.arange(3.0))
    np.testing.assert_array_equal(t.numpy(), [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(np.asarray(jax.dlpack.from_dlpack(gx.constant([4.0]))), [4.0])


def test_from_numpy_takes_subclasses_and_never_freezes_the_users_array(tmp_path):
    mm = np.memmap(tmp_path / "a.bin", "float32", "w+", shape=(3,))
    mm[:] = [1.0, 2.0, 3.0]
    t = gx.from_numpy(mm)
    np.testing.assert_array_equal((t + 1.0).numpy(), [2.0, 3.0, 4.0])
    a = np.arange(3.0)
    v = gx.Variable(np.zeros(3))
    v.assign(gx.from_numpy(a))
    a[0] = 9.0  # still the user's, writeable, and not the variable's
    np.testing.assert_array_equal(v.numpy(), [0.0, 1.0, 2.0])


def test_a_read_only_tensor_for_an_old_dlpack_consumer_says_what_to_do():
    v = gx.Variable([1.0, 2.0])
    with pytest.raises(BufferError, match=r"read-only.*np.from_dlpack\(t, copy=True\)"):
        v.__dlpack__()  # no max_version: a consumer of DLPack before 1.0
