"""``graphexec demo`` (and ``make demo``): the product in two minutes.

It trains an MLP and a CNN on scikit-learn's handwritten digits, eagerly and as graphs, from
the same Python training step (``gx.function`` traces it; eagerly each op runs now), prints
each mode's accuracy and time per step, and writes into ``demo-output/``: the training step's
graph before and after optimization, the optimizer's filmstrip viewer, the per-node profile
(eager and graph times on the same nodes) and the mode-comparison chart with its break-even.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import layers, losses, optimizers
from .autodiff import GradientTape, gradients
from .errors import MissingExtraError
from .function import function
from .graph import graph, placeholder
from .layers import Dense, Sequential
from .ops.creation import constant
from .ops.math import mean, square

__all__ = ["load_digits", "build_mlp", "build_cnn", "MODELS", "batches", "training_step",
           "mlp_step_graph", "run_demo", "DemoConfig"]


def load_digits(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's digits as (N, 8, 8, 1) float images in [0, 1] and int64 labels, split
    80/20 after a seeded shuffle (the data ships inside scikit-learn: nothing is downloaded)."""
    try:
        from sklearn.datasets import load_digits as sk_digits
    except ImportError:
        raise MissingExtraError("the demo's data set comes with scikit-learn: pip install "
                                "'graphexec[demo]'") from None
    digits = sk_digits()
    x = (digits.images / 16.0)[..., None]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    cut = int(0.8 * len(y))
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


def build_mlp(dtype: str = "float32") -> Sequential:
    """Flatten, Dense(128, relu), Dense(10)."""
    return Sequential([
        layers.Flatten(),
        layers.Dense(128, activation="relu", seed=1, dtype=dtype),
        layers.Dense(10, seed=2, dtype=dtype),
    ])


def build_cnn(dtype: str = "float32") -> Sequential:
    """Two reflect-padded 3x3 Conv2D + relu + 2x2 max pool blocks, then Dense(10)."""
    return Sequential([
        layers.Conv2D(16, 3, padding="same", padding_mode="reflect", activation="relu",
                      seed=1, dtype=dtype),
        layers.MaxPool2D(),
        layers.Conv2D(32, 3, padding="same", padding_mode="reflect", activation="relu",
                      seed=2, dtype=dtype),
        layers.MaxPool2D(),
        layers.Flatten(),
        layers.Dense(10, seed=3, dtype=dtype),
    ])


MODELS: dict[str, Callable[[str], Sequential]] = {"mlp": build_mlp, "cnn": build_cnn}


def training_step(model: Sequential, lr: float = 3e-3) -> Callable[[Any, Any], Any]:
    """One Adam step of ``model`` on a batch: the same Python function serves both modes."""
    opt = optimizers.Adam(lr)

    def train_step(x: Any, y: Any) -> Any:
        with GradientTape() as tape:
            loss = losses.sparse_categorical_crossentropy(y, model(x), from_logits=True)
        variables = model.trainable_variables
        opt.apply(tape.gradient(loss, variables), variables)
        return loss
    return train_step


def mlp_step_graph(layers: int = 1, width: int = 16) -> tuple[Any, Any, Any]:
    """A graph-mode SGD step of an MLP on 8 features (``layers`` hidden Dense layers of
    ``width``, then Dense(4); the loss is the mean squared output): the graph, its loss and its
    step, the example graph of the viewer's tests and benchmark.

    >>> from graphexec.demo import mlp_step_graph
    >>> g, loss, step = mlp_step_graph()
    >>> loss.shape, len(g) > 30
    ((), True)
    """
    model = Sequential([Dense(width, activation="relu") for _ in range(layers)] + [Dense(4)])
    opt = optimizers.SGD(0.1)
    with graph() as g:
        x = placeholder((None, 8), name="x")
        loss = mean(square(model(x)))
        step = opt.apply(gradients(loss, model.trainable_variables), model.trainable_variables)
    return g, loss, step


def batches(n: int, batch: int, epochs: int, seed: int) -> Iterator[np.ndarray]:
    """The same shuffled index batches of ``n`` samples for every run with this seed."""
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(n)
        for i in range(0, n - batch + 1, batch):
            yield order[i:i + batch]


@dataclass
class DemoConfig:
    """How much the demo does: epochs per model, batch size, the graph's optimization level,
    seconds per mode in the comparison and profile."""

    epochs: dict[str, int]
    batch: int = 32
    level: int = 3
    min_time: float = 1.0
    models: tuple[str, ...] = ("mlp", "cnn")


FULL = DemoConfig({"mlp": 20, "cnn": 10})
TINY = DemoConfig({"mlp": 1, "cnn": 1}, min_time=0.05)


def _progress(it: Any, desc: str, total: int) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:
        return it
    return tqdm(it, desc=desc, total=total, leave=False, unit="step")


def train(name: str, mode: str, cfg: DemoConfig, data: tuple[np.ndarray, ...]
          ) -> dict[str, Any]:
    """Train model ``name`` in ``mode`` ("eager" or "graph"); its accuracy and seconds."""
    xtr, ytr, xte, yte = data
    model = MODELS[name]("float32")
    model(constant(xtr[:1].astype(np.float32)))  # builds the variables
    step = training_step(model)
    run = step if mode == "eager" else function(step, optimize=cfg.level)
    steps = list(batches(len(ytr), cfg.batch, cfg.epochs[name], seed=0))
    x32 = xtr.astype(np.float32)
    times, losses_ = [], []
    for idx in _progress(steps, f"{name} {mode}", len(steps)):
        t0 = time.perf_counter()
        loss = run(x32[idx], ytr[idx])
        losses_.append(float(loss))
        times.append(time.perf_counter() - t0)
    logits = model(constant(xte.astype(np.float32))).numpy()
    return {"model": model, "step": step, "accuracy": float(np.mean(logits.argmax(1) == yte)),
            "first_s": times[0], "step_s": float(np.median(times[1:] or times)),
            "total_s": float(sum(times)), "losses": losses_, "steps": len(steps)}


def _render(graph: Any, out: str, stem: str, title: str) -> str:
    """An SVG picture when Graphviz's dot is there, else the DOT text."""
    from .viz import render, to_dot

    try:
        return render(graph, os.path.join(out, stem + ".svg"), title=title)
    except MissingExtraError:
        path = os.path.join(out, stem + ".dot")
        with open(path, "w") as f:
            f.write(to_dot(graph, title=title))
        return path


def run_demo(out: str = "demo-output", cfg: DemoConfig = FULL,
             print_fn: Callable[[str], Any] = print) -> dict[str, Any]:
    """Run the demo (see the module's docstring); returns what it measured and wrote."""
    from .bench import compare
    from .profiler import profile

    t_start = time.perf_counter()
    os.makedirs(out, exist_ok=True)
    data = load_digits()
    print_fn(f"graphexec demo: digits, {len(data[1])} training and {len(data[3])} test images "
             f"(8x8), batch {cfg.batch}, Adam; graph mode at optimization level {cfg.level}")
    results: dict[str, Any] = {}
    for name in cfg.models:
        runs = {mode: train(name, mode, cfg, data) for mode in ("eager", "graph")}
        e, g = runs["eager"], runs["graph"]
        diff = float(np.max(np.abs(np.array(e["losses"]) - np.array(g["losses"]))))
        print_fn(f"\n{name}: {cfg.epochs[name]} epoch(s), {e['steps']} steps")
        for mode, r in runs.items():
            print_fn(f"  {mode:<6} test accuracy {r['accuracy']:6.2%}   "
                     f"{r['step_s'] * 1e3:6.2f} ms/step   first step {r['first_s'] * 1e3:7.1f} ms"
                     f"   total {r['total_s']:5.1f} s")
        ratio = e["step_s"] / g["step_s"]
        pace = f"{ratio:.2f}x faster" if ratio >= 1 else f"{1 / ratio:.2f}x slower"
        print_fn(f"  graph steps are {pace} than eager ones; the loss curves differ by at most "
                 f"{diff:.1e}")
        results[name] = {"eager": {k: v for k, v in e.items() if k not in ("model", "step")},
                         "graph": {k: v for k, v in g.items() if k not in ("model", "step")},
                         "max_loss_diff": diff}

    # the pictures and numbers of the MLP's training step
    model = build_mlp()
    xb = data[0][:cfg.batch].astype(np.float32)
    yb = data[1][:cfg.batch]
    model(constant(xb))
    step = training_step(model)
    fn = function(step, optimize=cfg.level)
    traced, compiled = fn.get_graph(xb, yb), fn.get_compiled(xb, yb)
    written = {
        "graph before": _render(traced, out, "mlp_step", "MLP training step, as traced"),
        "graph after": _render(compiled, out, f"mlp_step_O{cfg.level}",
                               f"MLP training step, optimized at level {cfg.level}"),
    }
    from .viz import html

    written["filmstrip viewer"] = html(compiled, os.path.join(out, "mlp_step_viewer.html"))
    prof = profile(step, xb, yb, levels=(0, cfg.level), min_time=cfg.min_time)
    written["profile viewer"] = prof.html(os.path.join(out, "mlp_step_profile.html"))
    with open(os.path.join(out, "mlp_step_profile.txt"), "w") as f:
        f.write(prof.table(limit=1000) + "\n")
    written["profile table"] = os.path.join(out, "mlp_step_profile.txt")
    cmp = compare(step, xb, yb, min_time=cfg.min_time, name="mlp_train_step",
                  description=f"the demo's MLP, batch {cfg.batch}, Adam")
    written["comparison json"] = cmp.to_json(os.path.join(out, "compare.json")) and \
        os.path.join(out, "compare.json")
    try:
        written["comparison chart"] = cmp.plot(os.path.join(out, "compare.png"))
    except MissingExtraError as err:
        print_fn(f"(no chart: {err})")
    print_fn("\n" + cmp.table())
    print_fn("\n" + prof.table(limit=12))
    print_fn(f"\nwrote into {os.path.abspath(out)}/:")
    for what, path in written.items():
        print_fn(f"  {what:<18} {os.path.relpath(path, out)}")
    if shutil.which("dot") is None:
        print_fn("  (Graphviz's dot is not installed: the graphs are .dot text; open the .html "
                 "viewers in a browser)")
    seconds = time.perf_counter() - t_start
    print_fn(f"done in {seconds:.0f} s")
    return {"models": results, "written": written, "comparison": cmp, "profile": prof,
            "seconds": seconds}
