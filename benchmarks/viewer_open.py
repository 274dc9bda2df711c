"""How long the viewer takes to open a 2,000-node graph in headless Chromium: the training step
of an 82-layer MLP (2,000+ nodes, 2,100+ boxes with its variables) as built and compiled at
level 3, each opened ``--repeats`` times; printed: the median wall time from navigation to the
first drawn view, the viewer's own start-up time (folding, layout, drawing) and its layout time.
Usage: ``python benchmarks/viewer_open.py [--repeats N] [--layers N]`` (needs playwright and
Chromium)."""

from __future__ import annotations

import argparse
import pathlib
import shutil
import statistics
import tempfile
import time

import graphexec as gx
from graphexec.demo import mlp_step_graph


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--layers", type=int, default=82)
    args = p.parse_args()
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise SystemExit("Chromium is not installed (apt install chromium)")
    g, loss, step = mlp_step_graph(args.layers, width=4)
    fetches = [loss, step]
    compiled = g.compile(fetches, optimize=3)
    tmp = pathlib.Path(tempfile.mkdtemp())
    pages = {f"graph ({len(g)} nodes)": gx.viz.html(g, tmp / "g.html"),
             f"compiled at level 3 ({len(compiled.graph)} nodes, {len(compiled.history)} "
             "passes)": gx.viz.html(compiled, tmp / "c.html")}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        for name, path in pages.items():
            wall, start, lay = [], [], []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                page.goto(pathlib.Path(path).resolve().as_uri())
                page.wait_for_selector("body[data-ready='1']")
                wall.append(time.perf_counter() - t0)
                start.append(page.evaluate("gxViewer.state.startMs") / 1e3)
                lay.append(page.evaluate("gxViewer.state.layoutMs") / 1e3)
            shown = page.evaluate("gxViewer.state.shown")
            print(f"{name}: open {statistics.median(wall):.2f} s (viewer start-up "
                  f"{statistics.median(start):.2f} s, layout {statistics.median(lay):.3f} s); "
                  f"{shown['nodes']} nodes and {shown['groups']} folded scopes shown")
        browser.close()
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
