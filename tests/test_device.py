"""Devices in eager mode: gx.device, Tensor.device / .to, ops where their inputs are, the
mixing error, Variables and training on a device.

The GPU here is a numpy-backed stand-in for CuPy (tests/fake_cupy.py): these tests check the
plumbing (which module kernels get, what moves, what is refused) on any machine; they say
nothing about CUDA itself, which the ``gpu`` tests run on a real device.
"""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

import graphexec as gx
from graphexec.device import CPU, Device

from . import fake_cupy


@pytest.fixture
def gpu(monkeypatch):
    fake = fake_cupy.make(devices=2)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    return fake


def test_parse_and_name_devices():
    assert Device.parse("gpu") == Device.parse("cuda") == Device.parse("cuda:0") == \
        Device("cuda", 0)
    assert str(Device.parse("CUDA:1")) == "cuda:1" and Device.parse("cpu") is CPU
    assert Device.parse("gpu").backend == "cupy" and CPU.backend == "numpy"
    for bad in ("tpu", "cuda:x", 0, None):
        with pytest.raises(gx.InvalidArgumentError, match="a device is 'cpu', 'gpu'"):
            Device.parse(bad)


def test_asking_for_a_gpu_without_one(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(gx.MissingExtraError, match=r"graphexec\[cuda\]"), gx.device("gpu"):
        pass
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy.make(devices=0))
    with pytest.raises(gx.DeviceError, match="finds no CUDA GPU"), gx.device("gpu"):
        pass
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy.make(devices=1))
    with pytest.raises(gx.DeviceError, match="there is no cuda:1: CuPy sees 1 CUDA GPU"):
        gx.constant([1.0]).to("cuda:1")


def test_the_device_block_is_per_thread(gpu):
    seen = {}
    with gx.device("gpu"):
        t = threading.Thread(target=lambda: seen.update(other=gx.current_device()))
        t.start()
        t.join()
        assert gx.current_device() == Device("cuda", 0)
    assert seen["other"] is CPU and gx.current_device() is CPU


def test_to_moves_and_numpy_copies_back(gpu):
    host = gx.constant([[1.0, 2.0], [3.0, 4.0]])
    dev = host.to("gpu")
    assert dev.device == Device("cuda", 0) and isinstance(dev._value, gpu.ndarray)
    assert host.device is not None and host.device == CPU
    back = dev.numpy()
    assert type(back) is np.ndarray and not np.shares_memory(back, dev._value.view(np.ndarray))
    np.testing.assert_array_equal(back, host.numpy())
    assert dev.to("gpu") is dev and dev.to("cpu").device == CPU
    assert dev.to("cuda:1").device == Device("cuda", 1)


def test_ops_run_where_their_inputs_are(gpu):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 5)).astype("float32")
    b = rng.normal(size=(5, 3)).astype("float32")
    img = rng.normal(size=(1, 6, 6, 2)).astype("float32")
    filt = rng.normal(size=(3, 3, 2, 4)).astype("float32")

    def program(a, b, img, filt):
        h = gx.nn.relu(a @ b + 1.0) * 2.0
        s = gx.nn.softmax(h) + gx.sum(h, axis=0)
        p = gx.pad(img, [[0, 0], [1, 1], [2, 2], [0, 0]], mode="reflect")
        c = gx.nn.max_pool2d(gx.nn.conv2d(p, filt), 2, 2)
        return s, c, gx.argmax(s, axis=1)

    cpu = program(*(gx.constant(x) for x in (a, b, img, filt)))
    dev = program(*(gx.constant(x).to("gpu") for x in (a, b, img, filt)))
    for c, d in zip(cpu, dev, strict=True):
        assert d.device == Device("cuda", 0) and isinstance(d._value, gpu.ndarray)
        np.testing.assert_allclose(d.numpy(), c.numpy(), rtol=1e-6)


def test_mixing_devices_is_an_error_naming_both(gpu):
    host = gx.constant([1.0, 2.0, 3.0])
    dev = gx.constant([1.0, 2.0, 3.0]).to("gpu")
    with pytest.raises(gx.DeviceError, match=r"add: input 0 \(f32\[3\]\) is on cpu, "
                       r"input 1 on cuda:0: move one with \.to\(\.\.\.\) — at test_device"):
        host + dev
    with pytest.raises(gx.DeviceError, match="is on cuda:1, input 0 on cuda:0"):
        dev * dev.to("cuda:1")
    np.testing.assert_array_equal((dev * 2.0 + gx.constant(1.0)).numpy(), [3.0, 5.0, 7.0])


def test_new_tensors_of_a_device_block_live_there(gpu):
    with gx.device("gpu"):
        made = [gx.constant([1.0]), gx.zeros((2,)), gx.ones((2, 2)), gx.fill((3,), 7.0),
                gx.eye(2), gx.range(4), gx.Variable([1.0, 2.0])]
    for t in made:
        assert t.device == Device("cuda", 0), t
    assert gx.zeros((2,)).device == CPU


def test_variables_keep_their_device(gpu):
    v = gx.Variable(gx.constant([1.0, 2.0]).to("gpu"), name="v")
    assert v.device == Device("cuda", 0)
    v.assign([5.0, 6.0])  # assigning is an explicit transfer into the variable
    assert v.device == Device("cuda", 0)
    v.assign_add(gx.constant([1.0, 1.0]).to("gpu"))
    np.testing.assert_array_equal(v.numpy(), [6.0, 7.0])
    assert v.device == Device("cuda", 0) and type(v.numpy()) is np.ndarray


def _batch(seed, n, features, classes):
    """``n`` samples of ``features``, their labels and first weights of a linear classifier."""
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, features)).astype("float32"),
            (np.arange(n) % classes).astype("int64"),
            rng.normal(size=(features, classes)).astype("float32"))


@pytest.fixture(params=[pytest.param("stand-in", id="stand-in"),
                        pytest.param("cuda", id="cuda", marks=pytest.mark.gpu)])
def any_gpu(request, monkeypatch):
    """GPU 0 of the stand-in, or of this machine (marked ``gpu``): the tolerance of its
    results against the CPU's (cuBLAS and CUDA's libm round differently from numpy's)."""
    if request.param == "stand-in":
        monkeypatch.setitem(sys.modules, "cupy", fake_cupy.make(devices=2))
        return 1e-6
    return 2e-5


def _same_on_both(train, rtol=1e-6):
    """``train(where)`` gives the same losses and weights on the CPU and on the GPU, where its
    weights stay."""
    w_cpu, l_cpu = train("cpu")
    w_gpu, l_gpu = train("gpu")
    assert w_gpu.device == Device("cuda", 0)
    np.testing.assert_allclose(l_gpu, l_cpu, rtol=rtol)
    np.testing.assert_allclose(w_gpu.numpy(), w_cpu.numpy(), rtol=rtol, atol=rtol)


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_training_on_a_device_matches_the_cpu(any_gpu, optimizer):
    x, y, w0 = _batch(1, 16, 8, 3)

    def train(where):
        with gx.device(where):
            w = gx.Variable(w0, name="w")
            b = gx.Variable(np.zeros(3, "float32"), name="b")
            xs, ys = gx.constant(x), gx.constant(y)
        opt = getattr(gx.optimizers, optimizer)(0.1)
        losses = []
        for _ in range(3):
            with gx.GradientTape() as tape:
                loss = gx.losses.sparse_categorical_crossentropy(ys, xs @ w + b,
                                                                 from_logits=True)
            opt.apply(tape.gradient(loss, [w, b]), [w, b])
            losses.append(float(loss.numpy()))
        return w, losses

    _same_on_both(train, any_gpu)


def test_seeded_random_ops_give_the_same_values_on_every_device(gpu):
    cpu = gx.random.normal((3, 4), seed=7).numpy()
    with gx.device("gpu"):
        dev = gx.random.normal((3, 4), seed=7)
        uni = gx.random.uniform((5,), seed=3)
    assert dev.device == Device("cuda", 0) and uni.device == Device("cuda", 0)
    np.testing.assert_array_equal(dev.numpy(), cpu)
    np.testing.assert_array_equal(uni.numpy(), gx.random.uniform((5,), seed=3).numpy())


def test_gradients_on_a_device(gpu):
    x = gx.constant(np.linspace(-2, 2, 6).astype("float32")).to("gpu")
    with gx.GradientTape() as tape:
        tape.watch(x)
        y = gx.sum(gx.tanh(x) * x)
    g = tape.gradient(y, x)
    assert g.device == Device("cuda", 0)
    xv = np.linspace(-2, 2, 6).astype("float32")
    np.testing.assert_allclose(g.numpy(), np.tanh(xv) + xv * (1 - np.tanh(xv) ** 2), rtol=1e-5)


# -- graphs and gx.function on a device --------------------------------------------------------


def _mlp_graph():
    rng = np.random.default_rng(2)
    w = rng.normal(size=(4, 3)).astype("float32")
    with gx.graph() as g:
        x = gx.placeholder((None, 4), "float32", name="x")
        y = gx.nn.softmax(gx.nn.relu(x @ w + 0.5) * 2.0)
    return g, x, y, rng.normal(size=(5, 4)).astype("float32")


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_a_graph_runs_on_a_device(gpu, level):
    g, x, y, feed = _mlp_graph()
    want = g.run(y, {x: feed}, optimize=level)
    got = g.run(y, {x: feed}, optimize=level, device="gpu")
    assert isinstance(got, gpu.ndarray)  # the results stay on the device
    np.testing.assert_allclose(gpu.asnumpy(got), want, rtol=1e-6)
    on_device = g.run(y, {x: gx.constant(feed).to("gpu")._value}, optimize=level, device="gpu")
    np.testing.assert_allclose(gpu.asnumpy(on_device), want, rtol=1e-6)
    compiled = g.compile(y, optimize=level, device="cuda:0")
    assert compiled.backend == "cupy"


def test_a_device_feed_to_a_host_run_is_refused(gpu):
    g, x, y, feed = _mlp_graph()
    with pytest.raises(gx.DeviceError, match=r"the feed for placeholder 'x'.* is on cuda:0, and "
                       r"the graph runs on cpu"):
        g.run(y, {x: gx.constant(feed).to("gpu")._value})
    with pytest.raises(gx.InvalidArgumentError, match="backend 'cupy' and device 'cpu'"):
        g.run(y, {x: feed}, backend="cupy", device="cpu")


def test_a_function_runs_where_its_arguments_are(gpu):
    @gx.function(optimize=3)
    def f(x, w):
        return gx.nn.relu(x @ w) + 1.0

    rng = np.random.default_rng(3)
    x, w = rng.normal(size=(3, 4)).astype("float32"), rng.normal(size=(4, 2)).astype("float32")
    host = f(x, w)
    dev = f(gx.constant(x).to("gpu"), gx.constant(w).to("gpu"))
    assert host.device == CPU and dev.device == Device("cuda", 0)
    np.testing.assert_allclose(dev.numpy(), host.numpy(), rtol=1e-6)
    assert f.trace_count == 1  # one graph serves both devices
    with gx.device("gpu"):
        fed = f(x, w)  # host arguments, moved to the block's device by the plan
    assert fed.device == Device("cuda", 0)
    pinned = gx.function(lambda a: a * 2.0, device="gpu")(np.ones(2, "float32"))
    assert pinned.device == Device("cuda", 0)
    with pytest.raises(gx.DeviceError, match="is on the cpu: move it"):
        f(gx.constant(x).to("gpu"), w)
    with pytest.raises(gx.DeviceError, match="on cuda:0 and on cuda:1"):
        f(gx.constant(x).to("gpu"), gx.constant(w).to("cuda:1"))


@pytest.mark.parametrize("level", [0, 1, 3])
def test_a_traced_training_step_keeps_its_variables_on_the_device(any_gpu, level):
    x, y, w0 = _batch(4, 8, 4, 2)

    def run(where):
        with gx.device(where):
            w = gx.Variable(w0, name="w")
        opt = gx.optimizers.Adam(0.1)

        @gx.function(optimize=level)
        def step(x, y):
            with gx.GradientTape() as tape:
                loss = gx.losses.sparse_categorical_crossentropy(y, x @ w, from_logits=True)
            opt.apply(tape.gradient(loss, [w]), [w])
            return loss

        with gx.device(where):
            losses = [float(step(x, y).numpy()) for _ in range(3)]
        return w, losses

    _same_on_both(run, any_gpu)


# -- what a review of the first version found ---------------------------------------------------


def test_a_second_gpu_keeps_its_tensors(gpu):
    with gx.device("cuda:1"):
        x = gx.constant([1.0, 2.0])
        z = gx.zeros((2,))
    y = gx.nn.relu(x + x) * 2.0
    parts = gx.split(gx.constant([1.0, 2.0, 3.0, 4.0]).to("cuda:1"), 2)
    for t in (x, z, y, y + x, *parts):
        assert t.device == Device("cuda", 1), t
    g, xs, ys, feed = _mlp_graph()
    want = g.run(ys, {xs: feed})
    got = g.run(ys, {xs: feed}, device="cuda:1")
    assert got._device_id == 1
    np.testing.assert_allclose(gpu.asnumpy(got), want, rtol=1e-6)
    compiled = g.compile(ys, optimize=3, device="cuda:1")
    with gx.device("cpu"):  # the compiled graph runs on its own GPU, whatever is current
        out = compiled({xs: feed})
    assert out._device_id == 1
    np.testing.assert_allclose(gpu.asnumpy(out), want, rtol=1e-6)
    f = gx.function(lambda a: gx.nn.softmax(a * 2.0))
    assert f(gx.constant(feed).to("cuda:1")).device == Device("cuda", 1)


def test_a_function_runs_where_its_variables_are(gpu):
    with gx.device("gpu"):
        w = gx.Variable(np.ones((2, 2), "float32"), name="w")
    opt = gx.optimizers.SGD(0.1)

    @gx.function
    def step(x):
        with gx.GradientTape() as tape:
            loss = gx.sum(x @ w)
        opt.apply(tape.gradient(loss, [w]), [w])
        return loss

    loss = step(np.ones((3, 2), "float32"))  # host batch, model on the GPU: runs there
    assert loss.device == Device("cuda", 0) and w.device == Device("cuda", 0)
    np.testing.assert_allclose(w.numpy(), np.full((2, 2), 0.7), rtol=1e-6)
    with gx.graph() as g:
        twice = w * 2.0
    with pytest.raises(gx.DeviceError, match="variable w is on cuda:0, and the graph reading "
                       "it runs on the cpu"):
        g.run(twice)
    np.testing.assert_allclose(gpu.asnumpy(g.run(twice, device="gpu")), np.full((2, 2), 1.4),
                               rtol=1e-6)


def test_device_tensor_feeds_stay_where_they_are(gpu):
    g, x, y, feed = _mlp_graph()
    on_gpu = gx.constant(feed).to("gpu")
    with pytest.raises(gx.DeviceError, match="is on cuda:0, and the graph runs on cpu"):
        g.run(y, {x: on_gpu})
    with pytest.raises(gx.DeviceError, match="is on cuda:0, and the graph runs on cuda:1"):
        g.run(y, {x: on_gpu}, device="cuda:1")
    np.testing.assert_allclose(gpu.asnumpy(g.run(y, {x: on_gpu}, device="gpu")),
                               g.run(y, {x: feed}), rtol=1e-6)


def test_device_values_are_checked():
    for bad in (("cuda:1",), ("tpu",), ("CPU",), ("cpu", 3), ("cuda", -1), ("cuda", True)):
        with pytest.raises(gx.InvalidArgumentError, match="a device is Device"):
            Device(*bad)
    assert eval(repr(Device.parse("cuda:1")), {"Device": Device}) == Device("cuda", 1)


def test_host_data_updates_a_device_variable(gpu):
    with gx.device("gpu"):
        v = gx.Variable([1.0, 2.0])
    v.assign_add([1.0, 1.0])
    v.assign_sub(0.5)
    assert v.device == Device("cuda", 0)
    np.testing.assert_array_equal(v.numpy(), [1.5, 2.5])


def test_a_device_tensor_with_a_symbolic_one_is_a_mode_error(gpu):
    with gx.graph():
        s = gx.placeholder((2,), name="s")
    with pytest.raises(gx.GraphError):
        gx.constant([1.0, 2.0]).to("gpu") + s


def test_device_peak_bytes_counts_the_pool(gpu):
    from graphexec.profiler import device_peak_bytes

    assert device_peak_bytes(lambda: np.ones(10), CPU) is None
    dev = Device("cuda", 1)
    x = gx.constant(np.ones(1000, "float32")).to(dev)
    # x * 2 (4000 bytes: one 4096-byte block of the pool), then its sum (one 512-byte block)
    peak = device_peak_bytes(lambda: gx.sum(x * 2.0), dev)
    assert peak == 4096 + 512


def test_compare_runs_every_mode_on_a_device(gpu):
    import json

    def f(x, w):
        return gx.nn.relu(gx.matmul(x, w) + 1.0).sum()

    x, w = np.ones((64, 32), "float32"), np.ones((32, 16), "float32")
    gpu.cuda.synced.clear()
    r = gx.bench.compare(f, x, w, modes=["eager", "graph:1", "graph:3"], min_time=0.01,
                         device="cuda:1")
    assert r.device == "cuda:1" and "GPU mem" in r.table() and "f on cuda:1" in r.table()
    assert set(gpu.cuda.synced) == {1} and len(gpu.cuda.synced) >= 3 * 7  # every timed call
    product = 64 * 16 * 4
    for m in r.modes:
        assert m.parity_ok, m.parity_note
        assert m.peak_device_bytes is not None and m.peak_device_bytes >= product
    # the memory plan's reuse works through the pool: the fused graph holds less at its peak
    assert r["graph:3"].peak_device_bytes < r["eager"].peak_device_bytes
    assert r["graph:3"].kernel_calls < r["eager"].kernel_calls
    assert not any("numba" in k for m in r.modes for k in m.phases)  # CuPy kernels, no numba
    d = json.loads(r.to_json())
    assert d["device"] == "cuda:1" and d["modes"][0]["peak_device_bytes"] > 0
    host = gx.bench.compare(f, x, w, modes=["eager", "graph:1"], min_time=0.01)
    assert host.device == "cpu" and host["eager"].peak_device_bytes is None
    assert "GPU mem" not in host.table()


def test_a_graph_on_a_gpu_moves_no_variable_behind_your_back(gpu):
    w = gx.Variable(np.ones((2, 2), "float32"), name="w_host")
    step = gx.Variable(np.float32(3.0), name="step")  # 0-d: joins as a scalar, as in eager
    x = gx.constant(np.ones((1, 2), "float32")).to("gpu")
    with pytest.raises(gx.DeviceError, match="is on cpu, input 0 on cuda:0"):
        x @ w  # eager mode refuses the mix
    f = gx.function(lambda x: x @ w)
    with pytest.raises(gx.DeviceError, match=r"variable w_host\S* is on cpu, and the graph "
                                             r"reading it runs on cuda:0"):
        f(x)
    g = gx.function(lambda x: x * step)
    assert g(x).device == Device("cuda", 0) and g(x).numpy().tolist() == [[3.0, 3.0]]
    with gx.device("cuda:1"):
        w1 = gx.Variable(np.ones((2, 2), "float32"), name="w_gpu1")
    h = gx.function(lambda x: x @ w1, device="cuda:0")
    with pytest.raises(gx.DeviceError, match="runs on cuda:0, but a variable is on cuda:1"):
        h(x)


def test_data_given_to_an_op_in_a_device_block_lives_there(gpu):
    w = np.ones((2, 3), "float32")
    with gx.device("gpu"):
        x = gx.constant(np.ones((4, 2), "float32"))
        y = x @ w  # the array is a constant made in the block, as gx.constant(w) would be
        z = x * 2.0  # a Python number stays a host scalar, which joins any device
        assert y.device == z.device == Device("cuda", 0)
        host = gx.constant(w).to("cpu")
        with pytest.raises(gx.DeviceError, match="is on cpu"):
            x @ host  # a tensor made on the host is not moved behind your back
    np.testing.assert_array_equal(y.numpy(), np.full((4, 3), 2.0))
