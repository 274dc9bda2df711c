"""Draw the pictures of docs/ (``make pictures``): the digits MLP and CNN, one MLP training
step before and after level-3 optimization, the step's pass-by-pass pictures
(``render_passes``), screenshots of the viewer (``gx.viz.html``) on it, the demo's comparison
chart and its profile in the viewer (docs/eager-vs-graph.md), and the padding modes
(scripts/padding_pictures.py), as PNGs in docs/images/.

    python scripts/pictures.py [--out docs/images]

Needs the viz extra (``pip install 'graphexec[viz]'``) and Graphviz's ``dot``; the screenshots
need playwright and Chromium (skipped, with a message, without them).
"""

from __future__ import annotations

import argparse
import pathlib

import graphexec as gx
from graphexec.demo import build_cnn, build_mlp


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
    compiled = g.compile(fetches, optimize=3)
    for path in gx.viz.render_passes(compiled, out / "passes", fmt="png", dpi=56):
        print(path)
    screenshots(compiled, out)
    demo_pictures(out)


def _chromium() -> str | None:
    import shutil

    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        print("no playwright: viewer screenshots skipped")
        return None
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        print("no chromium: viewer screenshots skipped")
    return exe


def demo_pictures(out: pathlib.Path) -> None:
    """The demo's comparison chart, and its profile in the viewer with the measured numbers."""
    import tempfile

    from graphexec.demo import FULL, run_demo

    folder = out / "demo"
    folder.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = FULL.__class__(dict(FULL.epochs), min_time=FULL.min_time, models=("mlp",))
        result = run_demo(tmp, cfg, print_fn=lambda s: None)
        result["comparison"].plot(folder / "compare.png")
        print(folder / "compare.png")
        (folder / "compare.txt").write_text(result["comparison"].table() + "\n")
        (folder / "profile.txt").write_text(result["profile"].table(limit=15) + "\n")
        exe = _chromium()
        if exe is None:
            return
        from playwright.sync_api import sync_playwright

        page_file = pathlib.Path(tmp) / "mlp_step_profile.html"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 860})
            page.goto(page_file.resolve().as_uri())
            page.wait_for_selector("body[data-ready='1']")
            page.evaluate("gxViewer.setNumbers(true)")
            # NOTE: close up on the fused Dense layer, the slowest kernels' neighbourhood
            dense = next(r.node for r in result["profile"].rows() if r.op == "fused_dense")
            page.evaluate("gxViewer.reveal(gxViewer.data.frames[gxViewer.state.frame].nodes"
                          f".findIndex(i => gxViewer.data.nodes[i].name === {dense!r}))")
            page.screenshot(path=str(folder / "profile_viewer.png"))
            browser.close()
        print(folder / "profile_viewer.png")


def screenshots(compiled: gx.CompiledGraph, out: pathlib.Path) -> None:
    """The viewer on the training step: the optimized graph, the epilogue-fusion step, a
    node's provenance, and the numbers overlay."""
    exe = _chromium()
    if exe is None:
        return
    from playwright.sync_api import sync_playwright

    plan = compiled.graph
    numbers = {n: {"time": 1e-5 * (1 + k % 7), "bytes": 4 * 64 * (1 + k % 3)}
               for k, n in enumerate(plan.nx)}  # made-up numbers: the overlay's look
    page_file = out / "viewer.html"
    gx.viz.html(compiled, page_file, numbers=numbers)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 860})
        page.goto(page_file.resolve().as_uri())
        page.wait_for_selector("body[data-ready='1']")
        page.screenshot(path=str(out / "viewer.png"))
        step = next(k for k, s in enumerate(compiled.history, 1) if s.name == "epilogue_fusion")
        page.evaluate(f"gxViewer.setFrame({step})")
        page.screenshot(path=str(out / "viewer_epilogue.png"))
        fused = next(n for n, d in plan.nx.nodes(data=True) if d["op"].name == "fused_dense")
        page.evaluate(f"gxViewer.setFrame({len(compiled.history) + 1})")
        page.evaluate(f"gxViewer.reveal(gxViewer.data.frames[gxViewer.state.frame].nodes"
                      f".findIndex(i => gxViewer.data.nodes[i].name === {fused!r}))")
        page.evaluate("gxViewer.setNumbers(true)")
        page.screenshot(path=str(out / "viewer_node.png"))
        browser.close()
    page_file.unlink()
    for name in ("viewer.png", "viewer_epilogue.png", "viewer_node.png"):
        print(out / name)


if __name__ == "__main__":
    main()
