"""Training graphs at optimization level 3: the same weights as eager training.

A small MLP (Dense + relu, then Dense; softmax cross-entropy) and a small CNN (Conv2D + relu,
max pooling, Dense) train a few steps with SGD (with momentum) and Adam three ways: eagerly
(``GradientTape``), as ``gx.function(step, optimize=3)`` and as one graph of forward pass,
gradients and updates run with ``g.run(..., optimize=3)``.

- With the numpy fusion backend every level is bit-identical to eager mode: the weights, the
  optimizer slots and the losses are compared bit for bit.
- With numba, fused transcendental ops may differ from numpy by a few ulp; after ``STEPS``
  steps the weights agree within ``NUMBA_TOL`` (float64: rtol 1e-10; float32: rtol 1e-4,
  atol 1e-6, a few float32 ulp per step amplified by Adam's normalized updates).

The optimized graphs must really be optimized (fused elementwise groups, fused dense/conv
epilogues, in-place writes), and in-place writes must never touch a variable's value: a
variable read fetched together with its update keeps the old value, in this run and later.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import graphexec as gx

STEPS = 3
BATCH = 16
NUMBA_TOL = {"float64": dict(rtol=1e-10, atol=1e-13), "float32": dict(rtol=1e-4, atol=1e-6)}


def build_mlp(dtype: str) -> gx.nn.Sequential:
    return gx.nn.Sequential([
        gx.layers.Dense(32, activation="relu", seed=1, dtype=dtype),
        gx.layers.Dense(10, seed=2, dtype=dtype),
    ])


def build_cnn(dtype: str) -> gx.nn.Sequential:
    return gx.nn.Sequential([
        gx.layers.Conv2D(4, 3, padding="same", activation="relu", seed=1, dtype=dtype),
        gx.layers.MaxPool2D(),
        gx.layers.Flatten(),
        gx.layers.Dense(10, seed=3, dtype=dtype),
    ])


MODELS: dict[str, tuple[Callable[[str], gx.nn.Sequential], tuple[int, ...]]] = {
    "mlp": (build_mlp, (16,)),
    "cnn": (build_cnn, (8, 8, 1)),
}
OPTIMIZERS: dict[str, Callable[[], gx.optimizers.Optimizer]] = {
    "sgd": lambda: gx.optimizers.SGD(0.1, momentum=0.9),
    "adam": lambda: gx.optimizers.Adam(0.01),
}
#: the fused epilogue each model's optimized graph must hold
EPILOGUE = {"mlp": "fused_dense", "cnn": "fused_conv2d"}


def data(model: str, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(STEPS, BATCH, *MODELS[model][1])).astype(dtype)
    y = rng.integers(0, 10, size=(STEPS, BATCH))
    return x, y


def loss_fn(model: gx.nn.Sequential, x: Any, y: Any) -> gx.Tensor:
    return gx.losses.sparse_categorical_crossentropy(y, model(x), from_logits=True)


class Run:
    """One training run: the model, its optimizer, the losses; ``state`` is every variable's
    value (weights, slots, step counter)."""

    def __init__(self, model: str, opt: str, dtype: str) -> None:
        self.model = MODELS[model][0](dtype)
        self.opt = OPTIMIZERS[opt]()
        self.dtype = dtype
        self.losses: list[np.ndarray] = []

    def state(self) -> list[np.ndarray]:
        return [v.numpy() for v in [*self.model.trainable_variables, *self.opt.variables]]


def train_eager(run: Run, x: np.ndarray, y: np.ndarray) -> Run:
    for xb, yb in zip(x, y, strict=True):
        with gx.GradientTape() as tape:
            loss = loss_fn(run.model, gx.constant(xb), gx.constant(yb))
        variables = run.model.trainable_variables
        run.opt.apply(tape.gradient(loss, variables), variables)
        run.losses.append(loss.numpy())
    return run


def train_function(run: Run, x: np.ndarray, y: np.ndarray, level: int = 3) -> Any:
    @gx.function(optimize=level)
    def step(xb: Any, yb: Any) -> Any:
        with gx.GradientTape() as tape:
            loss = loss_fn(run.model, xb, yb)
        variables = run.model.trainable_variables
        run.opt.apply(tape.gradient(loss, variables), variables)
        return loss

    for xb, yb in zip(x, y, strict=True):
        run.losses.append(step(xb, yb).numpy())
    assert step.trace_count == 1
    return step


class GraphStep:
    """Forward pass, gradients and updates as one graph; ``reads`` are reads of the trainable
    variables made before the updates (they see the old values)."""

    def __init__(self, run: Run, input_shape: tuple[int, ...]) -> None:
        with gx.graph() as g:
            self.x = gx.placeholder((None, *input_shape), run.dtype, name="images")
            self.y = gx.placeholder((None,), "int64", name="labels")
            run.model(self.x)  # creates the variables (eagerly) on the first call
            variables = run.model.trainable_variables
            self.reads = [v.value() for v in variables]
            self.loss = loss_fn(run.model, self.x, self.y)
            self.step = run.opt.apply(gx.gradients(self.loss, variables), variables)
            self.after = [v.value() * 1.0 for v in variables]  # reads after the updates
        self.graph = g

    @property
    def fetches(self) -> list[Any]:
        return [self.loss, self.step]


def train_graph(run: Run, x: np.ndarray, y: np.ndarray, level: int = 3) -> GraphStep:
    gs = GraphStep(run, x.shape[2:])
    for xb, yb in zip(x, y, strict=True):
        out = gs.graph.run(gs.fetches, {gs.x: xb, gs.y: yb}, optimize=level)
        run.losses.append(out[0])
    return gs


@pytest.fixture
def fusion_backend() -> Iterator[Callable[[str], None]]:
    yield gx.config.set_fusion_backend
    gx.config.set_fusion_backend("auto")  # the default


def _ops(g: gx.Graph) -> list[str]:
    return [d["op"].name for _, d in g.nx.nodes(data=True)]


def assert_optimized(compiled: gx.CompiledGraph, model: str, source: gx.Graph) -> None:
    ops = _ops(compiled.graph)
    assert "fused_elementwise" in ops, sorted(set(ops))
    assert EPILOGUE[model] in ops, sorted(set(ops))
    assert len(compiled.graph) < len(source), (len(compiled.graph), len(source))
    memory = compiled.plan.memory
    assert memory is not None and memory.in_place > 0, memory
    assert memory.planned_peak <= memory.unplanned_peak


def _same(a: list[np.ndarray], b: list[np.ndarray], what: str, **tol: float) -> None:
    assert len(a) == len(b), what
    for k, (u, v) in enumerate(zip(a, b, strict=True)):
        if tol:
            np.testing.assert_allclose(u, v, err_msg=f"{what}: variable {k}", **tol)
        else:
            np.testing.assert_array_equal(u, v, err_msg=f"{what}: variable {k}", strict=True)


# ---------------------------------------------------------------------------------------------
# numpy fusion backend: bit for bit

@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("opt", list(OPTIMIZERS))
@pytest.mark.parametrize("model", list(MODELS))
def test_level_3_training_is_bit_identical_with_numpy_fusion(fusion_backend, model, opt, dtype):
    fusion_backend("numpy")
    x, y = data(model, dtype)
    eager = train_eager(Run(model, opt, dtype), x, y)
    fn = Run(model, opt, dtype)
    step = train_function(fn, x, y)
    graph = Run(model, opt, dtype)
    gs = train_graph(graph, x, y)
    for name, run in (("gx.function(optimize=3)", fn), ("g.run(optimize=3)", graph)):
        _same(run.state(), eager.state(), name)
        _same(run.losses, eager.losses, f"{name}: losses")
    assert eager.losses[-1] < eager.losses[0] or opt == "sgd"  # it learns (Adam, 3 steps)
    assert_optimized(gs.graph.compile(gs.fetches, optimize=3), model, gs.graph)
    assert_optimized(step.get_compiled(x[0], y[0]), model, step.get_graph(x[0], y[0]))


# ---------------------------------------------------------------------------------------------
# numba: within the stated tolerance

def _kernels(stats: dict[str, float]) -> float:
    return stats["compiles"] + stats["memory_hits"] + stats["disk_hits"]


NUMBA_CASES = [("mlp", "adam", "float64"), ("mlp", "sgd", "float32"),
               ("cnn", "sgd", "float64"), ("cnn", "adam", "float32")]


@pytest.mark.parametrize("model, opt, dtype", NUMBA_CASES)
def test_level_3_training_with_numba_fusion(fusion_backend, model, opt, dtype):
    pytest.importorskip("numba")
    from graphexec.fusion import jit_stats

    fusion_backend("numba")
    x, y = data(model, dtype)
    eager = train_eager(Run(model, opt, dtype), x, y)
    before = jit_stats()
    fn = Run(model, opt, dtype)
    train_function(fn, x, y)
    graph = Run(model, opt, dtype)
    gs = train_graph(graph, x, y)
    after = jit_stats()
    assert _kernels(after) > _kernels(before)  # numba kernels ran
    tol = NUMBA_TOL[dtype]
    for name, run in (("gx.function(optimize=3)", fn), ("g.run(optimize=3)", graph)):
        _same(run.state(), eager.state(), name, **tol)
        _same(run.losses, eager.losses, f"{name}: losses", **tol)
    assert_optimized(gs.graph.compile(gs.fetches, optimize=3), model, gs.graph)


# ---------------------------------------------------------------------------------------------
# in-place writes never touch a variable's value

@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_fetched_variable_reads_keep_their_values(fusion_backend, backend):
    if backend == "numba":
        pytest.importorskip("numba")
    fusion_backend(backend)
    x, y = data("mlp", "float64")
    run = Run("mlp", "adam", "float64")
    gs = GraphStep(run, x.shape[2:])
    variables = run.model.trainable_variables
    fetched: list[tuple[list[np.ndarray], list[np.ndarray]]] = []  # (reads, copies)
    for xb, yb in zip(x, y, strict=True):
        old = [v.numpy() for v in variables]
        out = gs.graph.run([*gs.reads, *gs.fetches, *gs.after], {gs.x: xb, gs.y: yb},
                           optimize=3)
        n = len(variables)
        reads, after = out[:n], out[n + 2:]
        _same(reads, old, "reads fetched with the updates")
        new = [v.numpy() for v in variables]
        _same(after, new, "reads after the updates")
        assert not any(np.array_equal(a, b) for a, b in zip(old, new, strict=True))
        fetched.append((reads, [r.copy() for r in reads]))
    for reads, copies in fetched:  # later steps did not write into earlier results
        _same(reads, copies, "a read fetched in an earlier step")
    compiled = gs.graph.compile([*gs.reads, *gs.fetches, *gs.after], optimize=3)
    assert compiled.plan.memory is not None and compiled.plan.memory.in_place > 0
