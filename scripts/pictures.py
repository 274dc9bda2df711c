"""Draw the pictures of docs/visualizing.md (``make pictures``): the digits MLP and CNN, and
one MLP training step before and after level-3 optimization, as PNGs in docs/images/.

    python scripts/pictures.py [--out docs/images]

Needs the viz extra (``pip install 'graphexec[viz]'``) and Graphviz's ``dot``.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import graphexec as gx

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
from train_digits import build_cnn, build_mlp


def training_step(model: gx.nn.Sequential, shape: tuple[int, ...]) -> tuple[gx.Graph, list]:
    opt = gx.optimizers.SGD(0.1)
    with gx.graph() as g:
        x = gx.placeholder((None, *shape), name="images")
        labels = gx.placeholder((None,), "int64", name="labels")
        loss = gx.losses.sparse_categorical_crossentropy(labels, model(x), from_logits=True)
        step = opt.apply(gx.gradients(loss, model.trainable_variables),
                         model.trainable_variables)
    return g, [loss, step]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(pathlib.Path(__file__).resolve().parents[1]
                                        / "docs" / "images"))
    out = pathlib.Path(p.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    pictures = {}
    for name, build in (("mlp", build_mlp), ("cnn", build_cnn)):
        with gx.graph() as g:
            logits = build("float32")(gx.placeholder((None, 8, 8, 1), name="images"))
        pictures[f"{name}.png"] = (g, {"rankdir": "LR"})
        pictures[f"{name}_O3.png"] = (g.compile(logits, optimize=3), {"rankdir": "LR"})
    g, fetches = training_step(build_mlp("float32"), (8, 8, 1))
    pictures["mlp_step.png"] = (g, {})
    pictures["mlp_step_collapsed.png"] = (g, {"collapse": 0})
    pictures["mlp_step_O3.png"] = (g.compile(fetches, optimize=3), {})
    for file, (graph, options) in pictures.items():
        gx.viz.render(graph, out / file, dpi=64, **options)
        print(out / file)


if __name__ == "__main__":
    main()
