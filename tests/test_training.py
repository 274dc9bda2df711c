"""A few training steps of the digits models, eagerly and as a graph: same losses, same weights."""

import pathlib
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import train_digits as td

import graphexec as gx


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_eager_and_graph_training_agree(name):
    xtr, ytr, _, _ = td.load_data(0)
    xtr, ytr = xtr[:256], ytr[:256]
    kw = dict(epochs=1, batch_size=64, lr=1e-2, seed=0, dtype="float64")
    eager_model, graph_model = td.MODELS[name]("float64"), td.MODELS[name]("float64")
    eager = td.train_eager(eager_model, xtr, ytr, **kw)
    graph = td.train_graph(graph_model, xtr, ytr, **kw)
    assert len(eager) == len(graph) == 4
    np.testing.assert_allclose(graph, eager, rtol=1e-10)
    if name == "mlp":
        assert eager[-1] < eager[0]  # it learns within four steps
    for a, b in zip(eager_model.trainable_variables, graph_model.trainable_variables,
                    strict=True):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-9, atol=1e-12)


def test_graph_step_is_one_graph_with_gradient_and_update_nodes():
    model = td.MODELS["mlp"]("float32")
    opt = gx.optimizers.SGD(0.1)
    with gx.graph() as g:
        x = gx.placeholder((None, 8, 8, 1), "float32")
        y = gx.placeholder((None,), "int64")
        loss = td.loss_fn(model, x, y)
        step = opt.apply(gx.gradients(loss, model.trainable_variables),
                         model.trainable_variables)
    ops = {d["op"].name for _, d in g.nx.nodes(data=True)}
    assert {"matmul", "assign", "read_variable", "log_softmax"} <= ops
    # one op: the step counter's update and one per variable, as control inputs
    assert len(g.nx.nodes[step._node]["control"]) == 1 + len(model.trainable_variables)
    g.validate()
