"""gx.dask on a local cluster of worker processes: batch inference and data-parallel training
against single-process results, and what happens when workers die or cannot run graphexec."""

import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import graphexec as gx  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as c:
        yield c


def mlp(n_in=8, seed=0):
    model = gx.layers.Sequential([gx.layers.Dense(16, activation="tanh", seed=seed),
                                  gx.layers.Dense(3, seed=seed + 1)])
    model(np.zeros((1, n_in), "float32"))
    return model


def data(n=50, n_in=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n_in)).astype("float32")
    y = (x[:, :3] * np.array([1.0, -2.0, 0.5], "float32") + 0.1).astype("float32")
    return x, y


def wait_for_workers(client, n, gone=(), timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        workers = set(client.nthreads())
        if len(workers) == n and not workers & set(gone):
            return sorted(workers)
        assert time.monotonic() < deadline, f"the cluster has workers {workers}"
        time.sleep(0.05)


# -- batch inference ------------------------------------------------------------------------------
def counted_predict(model):
    calls = []

    def predict(x):
        calls.append(gx.executing_eagerly())  # the Python body: run only by a trace
        return gx.nn.softmax(model(x))

    return predict, calls


def test_map_batches_threaded_uneven_chunks_meta_from_specs():
    model = mlp()
    x, _ = data(50)
    predict, calls = counted_predict(model)
    dx = da.from_array(x, chunks=(16, 8))              # 16, 16, 16, 2 rows
    y = gx.dask.map_batches(predict, dx)
    assert calls == [False]                            # traced once, symbolically: no fake data
    assert y.shape == (50, 3) and y.dtype == np.float32
    assert y.chunks == ((16, 16, 16, 2), (3,))
    assert y._meta.ndim == 2 and y._meta.dtype == np.float32 and y._meta.size == 0
    got = y.compute(scheduler="threads")
    np.testing.assert_allclose(got, gx.nn.softmax(model(x)).numpy(), rtol=1e-6, atol=1e-7)
    assert calls == [False]                            # the tasks ran the graph, not the body


def test_map_batches_on_processes_one_task_per_chunk(client):
    model = mlp(seed=3)
    x, _ = data(70, seed=1)
    predict, calls = counted_predict(model)
    y = gx.dask.map_batches(gx.function(predict), da.from_array(x, chunks=(20, 8)),
                            client=client)              # the graph file goes to the workers now
    graph = dict(y.__dask_graph__())
    tasks = [k for k in graph if isinstance(k, tuple) and k[0] == y.name]
    assert len(tasks) == 4 == y.numblocks[0]            # one task per chunk (20, 20, 20, 10)
    assert len(graph) == 2 * 4                          # and the chunks of x: no file in it
    got = client.compute(y).result()
    np.testing.assert_allclose(got, gx.nn.softmax(model(x)).numpy(), rtol=1e-6, atol=1e-7)
    assert calls == [False]


def test_map_batches_several_inputs_and_results(client):
    model = mlp(n_in=4, seed=5)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 4)).astype("float32")
    scale = rng.uniform(1, 2, size=30).astype("float32")

    def heads(x, scale):
        logits = model(x) * gx.expand_dims(scale, 1)
        return {"probs": gx.nn.softmax(logits), "label": gx.argmax(logits, axis=1),
                "total": gx.sum(logits, axis=1)}

    out = gx.dask.map_batches(heads, da.from_array(x, chunks=(8, 4)),
                              da.from_array(scale, chunks=8))
    assert set(out) == {"probs", "label", "total"}
    assert out["label"].dtype == np.int64 and out["label"].chunks == ((8, 8, 8, 6),)
    probs, label, total = client.compute([out["probs"], out["label"], out["total"]],
                                         sync=True)
    logits = model(x).numpy() * scale[:, None]
    np.testing.assert_allclose(probs, gx.nn.softmax(logits).numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(label, logits.argmax(axis=1))
    np.testing.assert_allclose(total, logits.sum(axis=1), rtol=1e-5, atol=1e-6)


def test_map_batches_program_with_a_fixed_batch(tmp_path):
    model = mlp(seed=7)
    x, _ = data(30, seed=3)
    path = tmp_path / "predict.gx"
    gx.save(gx.function(lambda x: model(x)), path, x[:10])
    program = gx.load(path)                            # takes f32[10,8]
    y = gx.dask.map_batches(program, da.from_array(x, chunks=(10, 8)))
    np.testing.assert_allclose(y.compute(scheduler="threads"), model(x).numpy(), rtol=1e-6,
                               atol=1e-6)
    with pytest.raises(gx.InvalidArgumentError, match=r"input x of .* takes batches of exactly "
                                                      r"10 rows \(f32\[10,8\]\), but the "
                                                      r"array's chunks along axis 0 are "
                                                      r"\(12, 12, 6\)"):
        gx.dask.map_batches(program, da.from_array(x, chunks=(12, 8)))


def test_map_batches_errors_name_the_shapes():
    model = mlp()
    x, _ = data(40)
    with pytest.raises(gx.InvalidArgumentError,
                       match=r"input 0 of shape \(40, 8\) is chunked along axis 1 \(chunks "
                             r"\(4, 4\)\).*x\.rechunk\(\{1: -1\}\)"):
        gx.dask.map_batches(model, da.from_array(x, chunks=(10, 4)))
    with pytest.raises(gx.InvalidArgumentError, match=r"input 1 .* chunks \(20, 20\) .* input "
                                                      r"0 has \(10, 10, 10, 10\)"):
        gx.dask.map_batches(lambda a, b: a + b, da.from_array(x, chunks=(10, 8)),
                            da.from_array(x, chunks=(20, 8)))
    with pytest.raises(gx.InvalidArgumentError, match=r"result 0 .* f32\[8\].* batch as its "
                                                      r"axis 0"):
        gx.dask.map_batches(lambda a: gx.sum(a, axis=0), da.from_array(x, chunks=(10, 8)))
    with pytest.raises(gx.InvalidArgumentError, match="not a dask array"):
        gx.dask.map_batches(model, x)


@pytest.mark.parametrize(("what", "fn", "spec"), [
    ("reshape", lambda a: gx.reshape(a, (-1,)), r"f32\[\?\], and f32\[39892\] for inputs of "
                                                r"9973 rows"),
    ("slice", lambda a: a[1:], r"f32\[\?,4\], and f32\[9972,4\]"),
    ("concat", lambda a: gx.concat([a, a], axis=0), r"f32\[\?,4\], and f32\[19946,4\]"),
    ("tile", lambda a: gx.tile(a, (2, 1)), r"f32\[\?,4\], and f32\[19946,4\]"),
    ("variable", lambda a: a[:, :2] * 0.0 + gx.ones((10, 2)), r"f32\[10,2\]"),
    ("pairs", lambda a: (a * 2.0, gx.reshape(a, (-1, 2, 4))),
     r"f32\[\?,2,4\], and its shapes cannot be inferred for inputs of another number of rows "
     r"\(reshape: "),
])
def test_map_batches_refuses_results_whose_axis_0_is_not_the_batch(what, fn, spec):
    x = np.arange(40, dtype="float32").reshape(10, 4)
    dx = da.from_array(x, chunks=(4, 4))
    with pytest.raises(gx.InvalidArgumentError, match=rf"result {int(what == 'pairs')} "
                                                      r"(\(\[1\]\) )?of .* is " + spec
                       + r".*batch as its axis 0"):
        gx.dask.map_batches(fn, dx)


def test_map_batches_axis_0_of_fixed_batch_graphs_and_of_the_tasks(tmp_path):
    x = np.arange(100, dtype="float32").reshape(10, 10)
    path = tmp_path / "colsum.gx"
    gx.save(gx.function(lambda a: {"rows": a * 2.0, "cols": gx.sum(a, axis=0)}), path, x)
    program = gx.load(path)                            # f32[10,10] -> f32[10,10], f32[10]
    with pytest.raises(gx.InvalidArgumentError, match=r"result 1 \(\['cols'\]\) of .* is "
                                                      r"f32\[10\], and f32\[10\] for inputs "
                                                      r"of 9973 rows"):
        gx.dask.map_batches(program, da.from_array(x, chunks=(10, 10)))
    ok = gx.dask.map_batches(lambda a: {"t": gx.transpose(gx.reshape(a, (-1, 2, 5)), (0, 2, 1)),
                                        "e": gx.expand_dims(a[:, 1:], 1)},
                             da.from_array(x, chunks=(4, 10)))
    got = da.compute(ok, scheduler="threads")[0]
    np.testing.assert_array_equal(got["t"], x.reshape(10, 2, 5).transpose(0, 2, 1))
    assert got["e"].shape == ok["e"].shape == (10, 1, 9)
    # each task checks its results against the dask array's chunks
    program = gx.io.as_program(gx.function(lambda a: gx.reshape(a, (-1,)),
                                           input_signature=[gx.TensorSpec((None, 4))]))
    blob, digest = gx.dask._pack(program)
    with pytest.raises(gx.InvalidArgumentError, match=r"result 0 of .* has shape \(16,\) for a "
                                                      r"chunk of 4 rows, where the dask array "
                                                      r"has \(4,\)"):
        gx.dask._chunk_task(blob, digest, None, ((),), np.zeros((4, 4), "float32"))


def test_map_batches_chunks_of_zero_rows():
    model = mlp(seed=2)
    x, _ = data(30, seed=7)

    def heads(a):
        p = gx.nn.softmax(model(a))
        return p, gx.argmax(p, axis=1)

    dx = da.from_array(x, chunks=((0, 12, 0, 18), (8,)))
    probs, label = gx.dask.map_batches(heads, dx)
    assert probs.chunks == ((0, 12, 0, 18), (3,)) and label.chunks == ((0, 12, 0, 18),)
    got, labels = da.compute(probs, label, scheduler="threads")
    want = gx.nn.softmax(model(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(labels, want.argmax(axis=1))


def test_map_batches_unknown_sizes_are_named():
    x, _ = data(20)
    d = da.from_array(x, chunks=(10, 8))
    with pytest.raises(gx.InvalidArgumentError, match=r"input 0 of shape .* has an unknown size "
                                                      r"on axis 1.*compute_chunk_sizes"):
        gx.dask.map_batches(lambda a: a * 2.0, d[:, d[0] > 0])


def test_worker_cache_keeps_the_files_used_last():
    m = gx.dask
    m.clear_cache()
    files = [m._pack(gx.io.as_program(gx.function(lambda a, k=k: a * float(k), input_signature=[
        gx.TensorSpec((None,))]))) for k in range(m._KEEP + 1)]
    first = m._program(*files[0])
    for f in files[1:m._KEEP]:
        m._program(*f)
    assert m._program(*files[0]) is first               # used again: now the newest
    m._program(*files[m._KEEP])                         # one too many: the oldest goes, not 0
    assert list(m._PROGRAMS) == [f[1] for f in files[2:m._KEEP]] + [files[0][1],
                                                                    files[m._KEEP][1]]
    assert m.clear_cache() == m._KEEP and not m._PROGRAMS
    assert m._program(*files[0]) is not first           # loaded again


def test_missing_extra_names_it(monkeypatch):
    x, _ = data(4)
    monkeypatch.setitem(sys.modules, "dask.array", None)
    with pytest.raises(gx.MissingExtraError, match=r"pip install 'graphexec\[dask\]'"):
        gx.dask.map_batches(lambda a: a * 2.0, x)
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(gx.MissingExtraError, match=r"needs distributed: pip install "
                                                   r"'graphexec\[dask\]'"):
        gx.dask.DataParallel(None, lambda a: a, gx.optimizers.SGD(0.1))


# -- data-parallel training -----------------------------------------------------------------------
def user_step(model, opt, reduction="mean"):
    def step(x, y):
        with gx.GradientTape() as tape:
            loss = gx.losses.mean_squared_error(y, model(x, training=True), reduction=reduction)
        opt.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss

    return step


def weights(model):
    return [v.numpy().copy() for v in model.trainable_variables]


def reference_run(make_opt, x, y, steps, reduction="mean"):
    """Single-process full-batch training: the same step as one gx.function."""
    model, opt = mlp(), make_opt()
    step = gx.function(user_step(model, opt, reduction))
    losses, after = [], []
    for _ in range(steps):
        losses.append(float(step(x, y)))
        after.append(weights(model))
    return losses, after


OPTIMIZERS = {"sgd-momentum": lambda: gx.optimizers.SGD(0.05, momentum=0.9),
              "adam": lambda: gx.optimizers.Adam(0.01),
              "sgd-for-sums": lambda: gx.optimizers.SGD(2e-4, momentum=0.9)}


@pytest.mark.parametrize(("api", "opt_name", "reduction"), [
    ("step", "sgd-momentum", "mean"), ("model", "adam", "mean"), ("step", "sgd-for-sums", "sum"),
    ("model", "sgd-for-sums", "sum")])
def test_data_parallel_equals_full_batch_training(client, api, opt_name, reduction):
    # NOTE: the shards' mean gradients weighted by n_i / N (of a summed loss: their sums) add up
    # to the full batch's gradient exactly in real numbers; in float32 only the order of the
    # additions differs (within each shard, then across shards): a rounding of a few ulp per
    # gradient entry per step, far inside rtol=1e-5 / atol=1e-6 after 5 steps (9e-8 measured)
    x, y = data(100, seed=4)
    make_opt, steps = OPTIMIZERS[opt_name], 5
    ref_losses, ref_after = reference_run(make_opt, x, y, steps, reduction)
    model, opt = mlp(), make_opt()
    if api == "step":
        trainer = gx.dask.DataParallel(client, gx.function(user_step(model, opt, reduction)), opt,
                                       shards=3, reduction=reduction)
    else:
        trainer = gx.dask.DataParallel.from_model(client, model, gx.losses.mean_squared_error,
                                                  opt, shards=3, reduction=reduction)
    losses = [float(trainer.step(x, y)) for _ in range(steps)]
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    for got, want in zip(weights(model), ref_after[-1], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert losses[-1] < losses[0]
    assert int(opt.iterations.numpy()) == steps        # one update per step

    params = sum(v.numpy().nbytes for v in model.trainable_variables)
    assert len(trainer.history) == steps and trainer.last_stats is trainer.history[-1]
    for s in trainer.history:
        assert (s.workers, s.shards) == (2, 3)
        assert s.bytes_sent >= params * s.workers + x.nbytes + y.nbytes
        assert s.bytes_received >= params * s.shards     # each shard's gradients
        assert 0 < s.compute_seconds < s.seconds
        assert s.communication_seconds > 0
        assert s.seconds == pytest.approx(s.compute_seconds + s.communication_seconds
                                          + s.update_seconds)
    first, later = trainer.history[0], trainer.history[1]
    assert first.bytes_sent > later.bytes_sent           # the graph file, on the first step only
    assert "MB" in str(later) and "compute" in str(later)


def test_data_parallel_refuses_what_it_cannot_synchronize(client):
    x, y = data(16)
    model, opt = mlp(), gx.optimizers.SGD(0.1)
    other = gx.optimizers.SGD(0.1)
    trainer = gx.dask.DataParallel(client, user_step(model, other), opt)
    with pytest.raises(gx.InvalidArgumentError, match="called apply of the optimizer it was "
                                                      "given 0 times"):
        trainer.step(x, y)
    bn = gx.layers.Sequential([gx.layers.Dense(4, seed=0), gx.layers.BatchNormalization(),
                               gx.layers.Dense(3, seed=1)])
    bn(np.zeros((1, 8), "float32"))
    trainer = gx.dask.DataParallel.from_model(client, bn, gx.losses.mean_squared_error, opt)
    with pytest.raises(gx.InvalidArgumentError, match=r"assigns variable\(s\) .*moving.* "
                                                      "synchronize only gradients"):
        trainer.step(x, y)
    with pytest.raises(gx.InvalidArgumentError, match=r"at least 2 \(the shards\)"):
        gx.dask.DataParallel(client, user_step(model, opt), opt).step(x[:1], y[:1])
    assert int(opt.iterations.numpy()) == 0


def test_from_model_needs_a_loss_that_takes_the_reduction(client):
    model, opt = mlp(), gx.optimizers.SGD(0.1)
    with pytest.raises(gx.InvalidArgumentError, match=r"reduction='sum' is passed to the loss, "
                                                      r"and 'mse' takes no reduction argument"):
        def mse(y, p):
            return gx.mean((y - p) ** 2)

        gx.dask.DataParallel.from_model(client, model, mse, opt, reduction="sum")


def test_data_parallel_combines_what_the_step_returns(client):
    x, y = data(40, seed=8)
    model, opt = mlp(), gx.optimizers.SGD(0.05)
    ref_model = mlp()

    def step(x, y):
        with gx.GradientTape() as tape:
            p = model(x, training=True)
            loss = gx.losses.mean_squared_error(y, p)
        opt.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return {"loss": loss, "pred": p, "config": (0.05, "run1", None),
                "bias": model.trainable_variables[3]}

    trainer = gx.dask.DataParallel(client, step, opt, shards=3, reduction="mean")  # 14, 13, 13
    bias = weights(model)[3]
    out = trainer.step(x, y)
    want = ref_model(x).numpy()
    assert set(out) == {"loss", "pred", "config", "bias"}
    assert out["config"] == (0.05, "run1", None)
    np.testing.assert_array_equal(out["bias"], bias)    # read before the update, not scaled
    np.testing.assert_allclose(out["pred"], want, rtol=1e-6, atol=1e-6)   # the rows, in order
    np.testing.assert_allclose(out["loss"], np.mean((y - want) ** 2), rtol=1e-5)
    assert isinstance(out["loss"], np.ndarray) and out["loss"].shape == ()   # as the doc says
    assert trainer.steps == 1

    def returning(value):
        def bad_step(x, y):
            with gx.GradientTape() as tape:
                p = model(x, training=True)
                loss = gx.losses.mean_squared_error(y, p)
            opt.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
            return {"loss": loss, "bad": value(p)}

        return gx.dask.DataParallel(client, bad_step, opt)

    for value, spec in [(lambda p: gx.mean(p, axis=0), r"f32\[3\]"),
                        (lambda p: gx.sum(gx.cast(p > 0.0, "int32")), r"i\d+\[\]"),
                        (lambda p: p[1:], r"f32\[\?,3\]")]:
        with pytest.raises(gx.InvalidArgumentError, match=r"the step returns " + spec
                           + r" at \['bad'\], which cannot be combined over the shards"):
            returning(value).step(x, y)
    assert int(opt.iterations.numpy()) == 1


def loss_step(model, opt, loss_of):
    def step(x, y):
        with gx.GradientTape() as tape:
            loss = loss_of(y, model(x, training=True))
        opt.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss

    return step


def test_data_parallel_checks_that_the_loss_combines_exactly(client):
    x, y = data(30, seed=9)

    def l2(model):
        return 0.5 * gx.sum(model.trainable_variables[0] ** 2)

    def rms(y, p):
        return gx.sqrt(gx.losses.mean_squared_error(y, p))

    model, opt = mlp(), gx.optimizers.SGD(0.1)
    before = weights(model)
    for loss_of, reduction in [
            (rms, "mean"),
            (lambda y, p: gx.losses.mean_squared_error(y, p, reduction="sum") + l2(model), "sum")]:
        trainer = gx.dask.DataParallel(client, loss_step(model, opt, loss_of), opt,
                                       reduction=reduction)
        with pytest.raises(gx.InvalidArgumentError, match=rf"on the first step the shards' "
                                                          rf"combined gradient of .* differs .*"
                                                          rf"reduction='{reduction}'"):
            trainer.step(x, y)
        assert trainer.steps == 0
    for got, want in zip(weights(model), before, strict=True):
        np.testing.assert_array_equal(got, want)
    assert int(opt.iterations.numpy()) == 0
    unchecked = gx.dask.DataParallel(client, loss_step(model, opt, rms), opt, check=False)
    unchecked.step(x, y)                                # on the user's word
    assert unchecked.steps == 1

    # a mean loss plus a batch-independent term is exact with reduction="mean"
    ref_model, ref_opt = mlp(), gx.optimizers.SGD(0.1)
    ref = gx.function(loss_step(ref_model, ref_opt,
                                lambda y, p: gx.losses.mean_squared_error(y, p) + l2(ref_model)))
    model, opt = mlp(), gx.optimizers.SGD(0.1)
    trainer = gx.dask.DataParallel(
        client, loss_step(model, opt, lambda y, p: gx.losses.mean_squared_error(y, p) + l2(model)),
        opt, shards=3)
    for _ in range(3):
        np.testing.assert_allclose(float(trainer.step(x, y)), float(ref(x, y)), rtol=1e-5)
    for got, want in zip(weights(model), weights(ref_model), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def metric_step(model, opt, metric, reduction="mean"):
    def step(x, y):
        with gx.GradientTape() as tape:
            p = model(x, training=True)
            per = gx.sum((y - p) ** 2, axis=1)
            loss = gx.mean(per) if reduction == "mean" else gx.sum(per)
        opt.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return {"loss": loss, "metric": metric(p, per, loss)}

    return step


def test_data_parallel_checks_what_the_step_returns(client):
    # NOTE: the loss is a mean, so the gradients combine exactly; the metrics do not
    x, y = data(30, seed=10)
    model, opt = mlp(), gx.optimizers.SGD(0.1)
    before = weights(model)
    p = model(x).numpy()
    per = ((y - p) ** 2).sum(axis=1)
    for metric, want in [(lambda p, per, loss: gx.sqrt(loss), np.sqrt(per.mean())),
                         (lambda p, per, loss: gx.max(per), per.max()),
                         (lambda p, per, loss: gx.sum(per), per.sum())]:
        trainer = gx.dask.DataParallel(client, metric_step(model, opt, metric), opt, shards=3)
        with pytest.raises(gx.InvalidArgumentError, match=r"on the first step the result "
                                                          r"\['metric'\] of the step combined "
                                                          r"over the shards is [-\d.e+]+, and "
                                                          r"[-\d.e+]+ for the full batch") as e:
            trainer.step(x, y)
        assert f"{want:.7g}" in str(e.value) and "weights are unchanged" in str(e.value)
        assert trainer.steps == 0
    trainer = gx.dask.DataParallel(
        client, metric_step(model, opt, lambda p, per, loss: p - gx.mean(p, axis=0)), opt,
        shards=3)
    with pytest.raises(gx.InvalidArgumentError, match=r"the result \['metric'\] of the step, "
                                                      r"one row per example concatenated over "
                                                      r"the shards, differs from the full "
                                                      r"batch's: at \(\d+, \d\) it is "):
        trainer.step(x, y)
    for got, want in zip(weights(model), before, strict=True):
        np.testing.assert_array_equal(got, want)
    assert int(opt.iterations.numpy()) == 0

    unchecked = gx.dask.DataParallel(client, metric_step(model, opt, lambda p, per, loss:
                                                         gx.max(per)), opt, check=False)
    unchecked.step(x, y)                                # on the user's word
    assert unchecked.steps == 1
    # a sum over the examples combines exactly with reduction="sum"; rows that depend on their
    # own example only pass
    model, opt = mlp(), gx.optimizers.SGD(1e-3)
    p = model(x).numpy()
    trainer = gx.dask.DataParallel(client, metric_step(
        model, opt, lambda p, per, loss: (gx.sum(per), 2.0 * p), "sum"), opt, shards=3,
        reduction="sum")
    out = trainer.step(x, y)
    np.testing.assert_allclose(out["metric"][0], ((y - p) ** 2).sum(), rtol=1e-5)
    np.testing.assert_allclose(out["metric"][1], 2.0 * p, rtol=1e-6, atol=1e-6)
    assert trainer.steps == 1


def nll_step(model, opt):
    def step(x, labels):
        with gx.GradientTape() as tape:
            loss = gx.mean(gx.nn.nll_loss(gx.nn.log_softmax(model(x, training=True)), labels))
        opt.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss

    return step


def test_an_error_in_a_shard_s_data_is_raised_as_it_is(client):
    x, _ = data(30, seed=11)
    labels = np.random.default_rng(0).integers(0, 3, 30)
    bad = labels.copy()
    bad[-1] = 7                                         # in shard 2 (rows 20..29)
    model, opt = mlp(), gx.optimizers.SGD(0.1)
    before = weights(model)
    trainer = gx.dask.DataParallel(client, nll_step(model, opt), opt, shards=3, retries=2,
                                   check=False)
    with pytest.raises(gx.ExecutionError, match=r"DataParallel: step 1 failed on worker \S+, "
                                                r"shard 2: while running node 'nll_loss': "
                                                r"IndexError: label 7 is outside .*; the "
                                                r"weights are unchanged") as e:
        trainer.step(x, bad)
    assert not isinstance(e.value, gx.dask.ClusterError) and "retry" not in str(e.value)
    for got, want in zip(weights(model), before, strict=True):
        np.testing.assert_array_equal(got, want)
    assert trainer.steps == 0 and int(opt.iterations.numpy()) == 0
    trainer.step(x, labels)                             # the same trainer, on good labels
    assert trainer.steps == 1


class TwoArgError(gx.GraphexecError):
    def __init__(self, what, where):
        super().__init__(f"{what} at {where}")


def test_errors_of_a_shard_keep_their_class_where_they_can():
    raised = gx.dask._Raised("graphexec.errors", "FeedError", "bad feed", "worker tcp://w:1")
    err = raised.error(3, 1)
    assert type(err) is gx.FeedError
    assert str(err) == ("DataParallel: step 3 failed on worker tcp://w:1, shard 1: bad feed; "
                        "the weights are unchanged (no gradient was applied)")
    for module, name in [(__name__, "TwoArgError"), ("no.such.module", "Error"),
                         ("graphexec.dask", "ClusterError")]:
        err = gx.dask._Raised(module, name, "m", "worker tcp://w:1").error(1, 0)
        assert type(err) is gx.ExecutionError and str(err).startswith(f"{name}: DataParallel")
    trainer = object.__new__(gx.dask.DataParallel)
    trainer.steps = 4
    failed = trainer._failed(gx.FormatError("DataParallel: corrupt"), None)
    assert type(failed) is gx.FormatError and "retry" not in str(failed)
    assert str(failed).startswith("DataParallel: step 5 failed: FormatError: corrupt; the "
                                  "weights are unchanged")
    failed = trainer._failed(TwoArgError("odd", "here"), None)
    assert type(failed) is gx.GraphexecError and "retry" not in str(failed)
    failed = trainer._failed(OSError("gone"), None)
    assert type(failed) is gx.dask.ClusterError and "call step again to retry it" in str(failed)


def test_data_parallel_refuses_random_ops(client):
    x, y = data(16)
    model, opt = mlp(), gx.optimizers.SGD(0.1)
    noisy = loss_step(model, opt, lambda y, p: gx.losses.mean_squared_error(
        y, p + 0.01 * gx.random.normal((3,))))
    with pytest.raises(gx.InvalidArgumentError, match=r"the step runs random_normal at .* not a "
                                                      r"pure op"):
        gx.dask.DataParallel(client, noisy, opt).step(x, y)
    assert int(opt.iterations.numpy()) == 0


def test_data_parallel_puts_back_an_optimizer_s_own_apply(client):
    x, y = data(16)
    model, opt = mlp(), gx.optimizers.SGD(0.1)
    calls = []

    def logged(grads, variables):
        calls.append(len(variables))
        return type(opt).apply(opt, grads, variables)

    opt.apply = logged
    trainer = gx.dask.DataParallel(client, user_step(model, opt), opt)
    trainer.step(x, y)
    trainer.step(x, y)
    assert vars(opt)["apply"] is logged and calls == [4, 4]
    assert int(opt.iterations.numpy()) == 2


def slow_down(seconds, marker):
    """Run on a worker: its next gradient tasks touch ``marker``, then sleep ``seconds``."""

    def patch():
        import graphexec.dask as m

        real = m.__dict__.setdefault("_real_program", m._program)

        def slow(*args):
            pathlib.Path(marker).touch()
            time.sleep(seconds)
            return real(*args)

        m._program = slow

    return patch


def restore():
    import graphexec.dask as m

    m._program = m.__dict__.get("_real_program", m._program)


def test_killed_worker_mid_step_loses_nothing(client, tmp_path):
    x, y = data(64, seed=5)
    make_opt, steps = OPTIMIZERS["sgd-momentum"], 6
    _, ref_after = reference_run(make_opt, x, y, steps)
    model, opt = mlp(), make_opt()
    trainer = gx.dask.DataParallel(client, user_step(model, opt), opt)
    clean = mlp(), make_opt()                            # the same run without any fault
    clean_trainer = gx.dask.DataParallel(client, user_step(*clean), clean[1])
    for _ in range(steps):
        clean_trainer.step(x, y)
    for _ in range(2):
        trainer.step(x, y)

    # step 3: the worker running shard 0 is killed (SIGKILL) while the shard runs
    victim = sorted(client.nthreads())[0]
    pid = client.run(os.getpid, workers=[victim])[victim]
    marker = tmp_path / "running"
    client.run(slow_down(3.0, str(marker)), workers=[victim])

    def kill():
        deadline = time.monotonic() + 20
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(pid, signal.SIGKILL)

    killer = threading.Thread(target=kill)
    killer.start()
    before = weights(model)
    try:
        trainer.step(x, y)                               # rescheduled on a live worker
    except gx.dask.ClusterError:
        for got, want in zip(weights(model), before, strict=True):
            np.testing.assert_array_equal(got, want)     # failed as a whole: nothing applied
        trainer.step(x, y)
    killer.join()
    assert marker.exists() and trainer.steps == 3
    for got, want in zip(weights(model), ref_after[2], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    workers = wait_for_workers(client, 2, gone=[victim])  # the nanny restarted it

    # step 4: one shard is slower than the step's timeout; the other shard's gradients arrive
    slow = workers[0]
    client.run(slow_down(1.0, str(tmp_path / "slow")), workers=[slow])
    before = weights(model)
    with pytest.raises(gx.dask.ClusterError, match=r"step 4 failed: its shards were not done "
                                                   r"within 0.3 s; the weights are unchanged"):
        trainer.step(x, y, timeout=0.3)
    client.run(restore, workers=[slow])
    for got, want in zip(weights(model), before, strict=True):
        np.testing.assert_array_equal(got, want)
    assert trainer.steps == 3 and int(opt.iterations.numpy()) == 3

    while trainer.steps < steps:                         # training goes on
        trainer.step(x, y)
    for got, want in zip(weights(model), weights(clean[0]), strict=True):
        np.testing.assert_array_equal(got, want)         # the same final weights, bit for bit
    for got, want in zip(weights(model), ref_after[-1], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# -- workers that cannot run graphexec ------------------------------------------------------------
def test_graph_file_that_fails_to_load_names_the_worker(client):
    def newer_format():
        import graphexec.io

        graphexec.io.FORMAT_VERSION = (2, 0)         # as a worker with another graphexec

    def current_format():
        import graphexec.io

        graphexec.io.FORMAT_VERSION = (1, 0)

    worker = sorted(client.nthreads())[0]
    x, _ = data(20, seed=6)
    model = mlp(seed=11)
    y = gx.dask.map_batches(lambda a: model(a) * 3.0, da.from_array(x, chunks=(10, 8)))
    client.run(newer_format, workers=[worker])
    try:
        failed = client.compute(y, workers=[worker])
        with pytest.raises(gx.dask.WorkerError,
                           match=rf"worker {worker}: cannot load graph file .* format version "
                                 r"1\.0; this graphexec reads version 2 files"):
            failed.result()
        client.cancel(failed)                          # forget the failed keys
    finally:
        client.run(current_format, workers=[worker])
    np.testing.assert_allclose(client.compute(y, workers=[worker]).result(),
                               model(x).numpy() * 3.0, rtol=1e-6, atol=1e-6)


def test_data_parallel_graph_file_that_fails_to_load_names_the_worker(client):
    def newer_format():
        import graphexec.io

        graphexec.io.FORMAT_VERSION = (2, 0)

    def current_format():
        import graphexec.io

        graphexec.io.FORMAT_VERSION = (1, 0)

    x, y = data(20, seed=10)
    model, opt = mlp(), gx.optimizers.SGD(0.1)
    before = weights(model)
    trainer = gx.dask.DataParallel(client, user_step(model, opt), opt)
    workers = sorted(client.nthreads())
    client.run(gx.dask.clear_cache)
    client.run(newer_format)                             # every worker: wherever a shard runs
    try:
        with pytest.raises(gx.dask.WorkerError, match=r"step 1 failed: WorkerError: worker "
                                                      rf"({'|'.join(workers)}): cannot load graph "
                                                      r"file .* format version 1\.0.*; the "
                                                      r"weights are unchanged"):
            trainer.step(x, y)
    finally:
        client.run(current_format)
    for got, want in zip(weights(model), before, strict=True):
        np.testing.assert_array_equal(got, want)
    assert trainer.steps == 0 and int(opt.iterations.numpy()) == 0
    trainer.step(x, y)                                   # the same trainer, once they can load it
    assert trainer.steps == 1


class FakeClient:
    """Enough of a distributed.Client for the workers' import check: ``listings`` are what
    successive nthreads() calls see, ``probe`` what run() gets from each worker."""

    def __init__(self, listings, probe):
        self.listings, self.probe, self.probed = list(listings), probe, []

    def nthreads(self):
        return dict.fromkeys(self.listings.pop(0) if len(self.listings) > 1
                             else self.listings[0], 1)

    def run(self, fn, workers, on_error):
        assert fn is gx.dask._probe and on_error == "return"
        self.probed.append(list(workers))
        return {w: self.probe.get(w, 1234) for w in workers}


def test_worker_that_dies_during_the_import_check_is_not_called_broken():
    closed = distributed.comm.core.CommClosedError("in <TCP (closed) ...>: Stream is closed")
    dying = FakeClient([["tcp://a:1", "tcp://b:1"], ["tcp://a:1"]], {"tcp://b:1": closed})
    assert gx.dask._workers(dying) == ["tcp://a:1"]     # b died: the scheduler dropped it
    assert dying.probed == [["tcp://a:1", "tcp://b:1"]]

    listed = FakeClient([["tcp://a:1", "tcp://b:1"]], {"tcp://b:1": closed})
    with pytest.raises(gx.dask.ClusterError, match=r"worker tcp://b:1 went away while it was "
                                                   r"checked to import graphexec \(CommClosedE"
                                                   r"rror: .*\), and the scheduler still lists") \
            as e:
        gx.dask._workers(listed)
    assert not isinstance(e.value, gx.dask.WorkerError)

    broken = FakeClient([["tcp://a:1"]], {"tcp://a:1": Exception(
        "ModuleNotFoundError(\"No module named 'graphexec'\")")})
    with pytest.raises(gx.dask.WorkerError, match=r"worker tcp://a:1 cannot import graphexec"):
        gx.dask._workers(broken)

    # a worker checked once is not checked again, unless it left and came back
    back = FakeClient([["tcp://a:1"], ["tcp://a:1"], [], ["tcp://a:1"]], {})
    assert gx.dask._workers(back) == gx.dask._workers(back) == ["tcp://a:1"]
    with pytest.raises(gx.dask.ClusterError, match="has no workers"):
        gx.dask._workers(back)
    gx.dask._workers(back)
    assert back.probed == [["tcp://a:1"], ["tcp://a:1"]]


def test_data_parallel_waits_for_a_first_worker(monkeypatch):
    model, opt = mlp(), gx.optimizers.SGD(0.1)
    with distributed.LocalCluster(n_workers=0, threads_per_worker=1, processes=False,
                                  dashboard_address=":0",
                                  worker_dashboard_address=None) as cluster, \
            distributed.Client(cluster, set_as_default=False) as c:
        monkeypatch.setattr(gx.dask, "_JOIN_WAIT", 0.2, raising=False)
        with pytest.raises(gx.dask.ClusterError, match=r"has no workers \(none joined within "
                                                       r"0.2 s\): start some"):
            gx.dask.DataParallel(c, user_step(model, opt), opt)
        monkeypatch.setattr(gx.dask, "_JOIN_WAIT", 30.0)
        starter = threading.Timer(0.3, cluster.scale, (1,))   # a cluster still starting
        starter.start()
        try:
            trainer = gx.dask.DataParallel(c, user_step(model, opt), opt)
        finally:
            starter.join()
        assert trainer.shards == 1
        x, y = data(8)
        trainer.step(x, y)
        assert trainer.steps == 1


def test_lost_cluster_or_closed_client_is_a_cluster_error():
    x, y = data(16)
    model, opt = mlp(), gx.optimizers.SGD(0.1)
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                       dashboard_address=":0")
    c = distributed.Client(cluster, set_as_default=False)
    try:
        trainer = gx.dask.DataParallel(c, user_step(model, opt), opt)
        trainer.step(x, y)
        before = weights(model)
        cluster.close()
        with pytest.raises(gx.dask.ClusterError, match=r"step 2 failed: .*cannot reach the "
                                                       r"cluster.*the weights are unchanged"):
            trainer.step(x, y, timeout=5)
        for got, want in zip(weights(model), before, strict=True):
            np.testing.assert_array_equal(got, want)
        with pytest.raises(gx.dask.ClusterError, match=r"map_batches: cannot reach the cluster"):
            gx.dask.map_batches(lambda a: a * 2.0, da.from_array(x, chunks=(8, 8)), client=c)
    finally:
        c.close()
        cluster.close()
    with pytest.raises(gx.dask.ClusterError, match=r"step 2 failed: .*cannot reach the cluster"):
        trainer.step(x, y)
    with pytest.raises(gx.dask.ClusterError, match=r"DataParallel: cannot reach the cluster"):
        gx.dask.DataParallel(c, user_step(model, opt), opt)
    assert trainer.steps == 1 and int(opt.iterations.numpy()) == 1


def test_worker_without_graphexec_is_named(client, tmp_path):
    preload = tmp_path / "no_graphexec.py"
    preload.write_text("import sys\nsys.modules['graphexec'] = None\n")
    before = set(client.nthreads())
    proc = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", client.scheduler.address,
         "--nthreads", "1", "--no-nanny", "--no-dashboard", "--preload", str(preload)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client.wait_for_workers(3, timeout=30)
        [bad] = set(client.nthreads()) - before
        x, _ = data(10)
        with pytest.raises(gx.dask.WorkerError, match=rf"worker {bad} cannot import graphexec.*"
                                                      r"pip install 'graphexec\[dask\]'"):
            gx.dask.map_batches(lambda a: a * 2.0, da.from_array(x, chunks=(5, 8)),
                                client=client)
        model, opt = mlp(), gx.optimizers.SGD(0.1)
        with pytest.raises(gx.dask.WorkerError, match=rf"worker {bad} cannot import graphexec"):
            gx.dask.DataParallel(client, user_step(model, opt), opt)
    finally:
        proc.kill()
        proc.wait()
    wait_for_workers(client, 2, gone=[bad])
