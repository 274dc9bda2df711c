"""graphexec -> ONNX -> graphexec: every op case the exporter writes, and the example models,
come back from ``gx.onnx.load`` computing what they computed (the same float tolerances as
ONNX Runtime's comparison in tests/test_onnx_export.py)."""

import numpy as np
import pytest

import graphexec as gx
from graphexec.onnx.export_ops import CONVERTERS
from graphexec.registry import REGISTRY

from .test_onnx_export import _case_graph, _check_close, _rejection
from .test_registry import CASES

pytest.importorskip("onnx")


def _round_trip_cases():
    for name in sorted(CASES):
        if REGISTRY[name] in CONVERTERS and not name.startswith("random_"):
            yield name


@pytest.mark.parametrize("name", list(_round_trip_cases()))
def test_op_cases_come_back(name):
    for arrays, attrs in CASES[name]:
        arrays = [np.asarray(a) for a in arrays]
        g, outs = _case_graph(REGISTRY[name], arrays, attrs)
        if _rejection(name, arrays, attrs, [t.spec for t in outs]) is not None:
            continue
        back = gx.onnx.load(gx.onnx.export(g, fetches=outs))
        feeds = {f"x{i}": a for i, a in enumerate(arrays)}
        want = g.run(outs, feeds)
        got = back({k: v for k, v in feeds.items() if k in back.inputs})
        for o, w in zip(got, want, strict=True):
            _check_close(name, np.asarray(o), np.asarray(w))


@pytest.mark.parametrize("level", [0, 3])
def test_models_come_back_and_run_at_every_level(level):
    model = gx.layers.Sequential([
        gx.layers.Conv2D(4, 3, padding="same", activation="relu", seed=0),
        gx.layers.MaxPool2D(), gx.layers.Flatten(), gx.layers.Dense(8, seed=1),
        gx.layers.LayerNormalization(), gx.layers.Dense(3, activation="softmax", seed=2)])
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 2)).astype("float32")
    with gx.graph() as g:
        ph = gx.placeholder((None, 8, 8, 2), "float32", name="images")
        y = model(ph)
    c = g.compile(y, optimize=level)
    back = gx.onnx.load(gx.onnx.export(c))
    want = c({ph: x})
    for run_level in range(4):
        got = back.run({"images": x}, optimize=run_level)[0]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert back.input_specs["images"].shape == (None, 8, 8, 2)


def test_an_imported_model_runs_on_a_gpu(monkeypatch):
    """On the CuPy stand-in (tests/fake_cupy.py): the imported graph runs where it is asked
    to, and its results stay there."""
    import sys

    from . import fake_cupy

    monkeypatch.setitem(sys.modules, "cupy", fake_cupy.make(devices=1))
    with gx.graph() as g:
        x = gx.placeholder((None, 3), "float32", name="x")
        y = gx.nn.softmax(x @ gx.constant(np.eye(3, dtype="float32") * 2.0))
    program = gx.onnx.load(gx.onnx.export(g, fetches=y))
    xs = np.random.default_rng(0).normal(size=(2, 3)).astype("float32")
    (got,) = program.run({"x": xs}, device="gpu", optimize=2)
    assert str(gx.Tensor(got).device) == "cuda:0"
    np.testing.assert_allclose(gx.Tensor(got).numpy(), g.run(y, {x: xs}), rtol=1e-6)


def test_an_imported_model_saves_as_a_graph_file(tmp_path):
    with gx.graph() as g:
        x = gx.placeholder((None, 3), "float32", name="x")
        y = gx.nn.softmax(x * 2.0)
    program = gx.onnx.load(gx.onnx.export(g, fetches=y))
    gx.save(program, tmp_path / "m.gx")
    again = gx.load(tmp_path / "m.gx")
    xs = np.random.default_rng(0).normal(size=(2, 3)).astype("float32")
    assert again.kind == "onnx" and list(again.inputs) == list(program.inputs)
    np.testing.assert_array_equal(again(xs)[0], program(xs)[0])


def test_imported_nodes_say_where_they_come_from():
    model = gx.layers.Sequential([gx.layers.Conv2D(4, 3, padding="same", seed=0, name="conv"),
                                  gx.layers.MaxPool2D(), gx.layers.Flatten(),
                                  gx.layers.Dense(3, seed=1)], name="cnn")
    f = gx.function(lambda images: model(images), input_signature=[gx.TensorSpec((None, 8, 8, 1))])
    program = gx.onnx.load(gx.onnx.export(f))
    locs = {d["op"].name: d["loc"] for _, d in program.graph.nx.nodes(data=True)}
    assert locs["placeholder"] == "ONNX input 'images'"
    assert locs["conv2d"] == "ONNX Conv node 'cnn/conv/conv2d/Conv'"
    # 2-D max pooling is graphexec's own pool, the transposes around it cancel when optimized
    assert "max_pool2d" in locs
    ops = [d["op"].name for _, d in program.compile(optimize=2).graph.nx.nodes(data=True)]
    assert "transpose" not in ops and ops.count("max_pool2d") == 1
    # name scopes nest as graphexec's own do (the viewer's clusters)
    assert any(n.startswith("cnn/conv/") for n in program.graph.nx)
