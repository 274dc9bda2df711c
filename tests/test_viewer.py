"""The interactive viewer (``gx.viz.html``): its data and page without a browser, then the page
itself in headless Chromium (no JavaScript errors, node counts, folding, search, the filmstrip,
the numbers overlay; each test's screenshots go to ``$GX_SCREENSHOTS`` when set, else to its
temporary folder).  The browser tests skip
where Chromium or playwright is absent; CI installs both."""

import hashlib
import json
import os
import pathlib
import re
import shutil

import numpy as np
import pytest

import graphexec as gx
from graphexec.viz.viewer import ASSETS, _script_json

from .test_viz import _mlp_training_step


def _mlp_step(layers=2, width=16):
    return _mlp_training_step(layers, width)


def _first_matmul(g):
    """The first layer's matmul, and its scope ("sequential_3/dense_7": layer names count up)."""
    n = next(n for n, d in g.nx.nodes(data=True) if d["op"].name == "matmul"
             and n not in g.gradient_nodes)
    return n, n.rsplit("/", 1)[0]


def _data(page_text):
    m = re.search(r'<script type="application/json" id="gx-data">(.*?)</script>', page_text, re.S)
    assert m is not None
    return json.loads(m.group(1))


# -- without a browser -------------------------------------------------------------------------
def test_a_graph_is_one_frame_of_every_node_and_edge():
    g, loss, step = _mlp_step()
    data = gx.viz.viewer_data(g)
    (frame,) = data["frames"]
    names = [data["nodes"][i]["name"] for i in frame["nodes"]]
    variables = [n for n in names if n.startswith("variable:")]
    assert sorted(set(names) - set(variables)) == sorted(g.nx)
    assert len(variables) == 7  # 3 kernels, 3 biases, the optimizer's iteration count
    data_edges = [e for e in frame["edges"] if e[3] == "data"]
    assert len(data_edges) == sum(len(d["inputs"]) for _, d in g.nx.nodes(data=True))
    pos = {n: k for k, n in enumerate(names)}
    matmul, scope = _first_matmul(g)
    mm = g.nx.nodes[matmul]
    label = next(e[2] for e in data_edges if e[1] == pos[matmul]
                 and e[0] == pos[mm["inputs"][0][0]])
    assert label == str(g.nx.nodes[mm["inputs"][0][0]]["specs"][0])
    kinds = {e[3] for e in frame["edges"]}
    assert kinds == {"data", "control", "read", "write"}
    by_name = {data["nodes"][i]["name"]: data["nodes"][i] for i in frame["nodes"]}
    assert by_name["x"]["cls"] == "placeholder"
    assert by_name[matmul]["scope"] == scope.split("/")
    assert "test_viewer.py:" in by_name[matmul]["loc"]  # the line that built it
    grads = [v for v in by_name.values() if v["grad"]]
    assert grads and all(v["scope"] for v in grads)
    assert {v["scope"][0] for v in grads if not any(
        n.startswith(v["scope"][0] + "/") for n in g.nx)} == {"gradients"}


def test_a_compiled_graph_has_a_frame_per_pass_with_its_changes():
    g, loss, step = _mlp_step()
    f = g.compile([loss, step], optimize=3)
    h = f.history
    data = gx.viz.viewer_data(f)
    frames = data["frames"]
    assert [fr["label"] for fr in frames] == (
        ["before"] + [f"{k} {s.name.replace('_', ' ')}" for k, s in enumerate(h, 1)] + ["after"])
    assert data["initial"] == len(frames) - 1
    real = [lambda fr: [data["nodes"][i]["name"] for i in fr["nodes"]
                        if not data["nodes"][i]["name"].startswith("variable:")]][0]
    assert sorted(real(frames[0])) == sorted(h.graph(0).nx)
    assert sorted(real(frames[-1])) == sorted(f.graph.nx)
    for k, step_ in enumerate(h, 1):
        fr = frames[k]
        names = [data["nodes"][i]["name"] for i in fr["nodes"]]
        marks = {names[int(p)]: c for p, c in fr["changes"].items()}
        assert {n: c[0] for n, c in marks.items()} == {c.node: c.kind for c in step_.changes}
        removed = [c.node for c in step_.changes if c.kind == "removed"]
        assert all(n in names for n in removed)  # drawn, in red
    fused = [v for v in data["nodes"] if v["op"] == "fused_elementwise"]
    assert fused and all(v["members"] for v in fused)
    some = next(c for s in h for c in s.changes if c.kind == "removed")
    assert any(entry[2] == "removed" and entry[3] == some.why
               for entry in data["provenance"][some.node])


def test_the_page_is_self_contained_and_its_data_cannot_end_the_script():
    with gx.graph() as g:
        y = gx.exp(gx.placeholder((2,), name="x")) * 1.0
    page = gx.viz.html(g.compile(y))
    assert page.startswith("<!doctype html>")
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', page)  # nothing fetched
    assert (ASSETS / "dagre.min.js").read_text() in page
    assert _data(page)["title"].endswith("@O1")
    text = _script_json({"a": "</script><!-- x"})
    assert "</" not in text and "<!--" not in text and json.loads(text) == {"a": "</script><!-- x"}


def test_the_vendored_layout_library_is_what_the_script_placed():
    lines = (ASSETS / "VENDORED").read_text().splitlines()
    assert lines[0].startswith("@dagrejs/dagre@")
    for line in lines[1:]:
        name, _, digest = line.split()
        assert hashlib.sha256((ASSETS / name).read_bytes()).hexdigest() == digest.split(":")[1]
    assert "MIT" in (ASSETS / "dagre.LICENSE").read_text() or "Permission is hereby granted" in (
        ASSETS / "dagre.LICENSE").read_text()


def test_html_writes_a_file_and_checks_its_arguments(tmp_path):
    g, loss, step = _mlp_step()
    path = gx.viz.html(g, tmp_path / "g.html", numbers={"x": {"time": 1e-3, "bytes": 64}})
    assert path == str(tmp_path / "g.html")
    assert _data(pathlib.Path(path).read_text())["numbers"] == {"x": {"time": 1e-3, "bytes": 64.0}}
    with pytest.raises(gx.InvalidArgumentError, match="does not have"):
        gx.viz.html(g, numbers={"nope": {"time": 1.0}})
    with pytest.raises(gx.InvalidArgumentError, match=r"numbers\['x'\]"):
        gx.viz.html(g, numbers={"x": {"time": "fast"}})
    with pytest.raises(gx.InvalidArgumentError, match="rankdir"):
        gx.viz.html(g, rankdir="RL")
    with pytest.raises(gx.InvalidArgumentError, match="expected a Graph"):
        gx.viz.html(np.ones(3))


def test_jupyter_shows_the_viewer_when_no_picture_can_show(monkeypatch):
    g, loss, step = _mlp_step()
    f = g.compile([loss, step], optimize=2)
    assert "<iframe srcdoc=" in f.history._repr_html_()
    monkeypatch.setattr(shutil, "which", lambda name: None)  # no dot
    for obj in (g, f):
        assert obj._repr_svg_() is None
        assert obj._repr_html_().startswith("<iframe srcdoc=")


# -- in a browser ------------------------------------------------------------------------------
def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser():
    pw = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    exe = _chromium()
    if exe is None:
        pytest.skip("Chromium is absent (apt install chromium)")
    with pw.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def open_viewer(browser, tmp_path, request):
    pages = []

    def open_(obj, name, **options):
        path = gx.viz.html(obj, tmp_path / f"{name}.html", **options)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(pathlib.Path(path).as_uri())
        page.wait_for_selector("body[data-ready='1']", timeout=30_000)
        page.errors = errors
        pages.append((page, name))
        return page

    yield open_
    out = pathlib.Path(os.environ.get("GX_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    for page, name in pages:
        shot = out / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
        assert page.errors == [], page.errors
        page.close()


def _shown(page):
    return page.evaluate("gxViewer.state.shown")


def _drawn_names(page):
    return page.eval_on_selector_all(".gx-node", "els => els.map(e => e.dataset.name)")


def test_the_viewer_draws_every_node_of_a_graph(open_viewer):
    g, loss, step = _mlp_step()
    page = open_viewer(g, "mlp")
    names = [n for n in _drawn_names(page) if not n.startswith("variable:")]
    assert sorted(names) == sorted(g.nx)
    matmul, scope = _first_matmul(g)
    assert page.locator(f".gx-cluster[data-scope='{scope}']").count() == 1
    assert page.locator(".gx-edge").count() == _shown(page)["edges"] > len(g.nx)
    page.click(f".gx-node[data-name='{matmul}']")
    side = page.inner_text("#gx-side")
    assert "matmul" in side and "test_viewer.py:" in side and "f32[?,16]" in side


def test_folding_and_unfolding_a_scope(open_viewer):
    g, loss, step = _mlp_step()
    page = open_viewer(g, "fold")
    total = _shown(page)["nodes"]
    matmul, scope = _first_matmul(g)
    top = scope.split("/")[0]
    page.evaluate(f"gxViewer.collapse('{top}')")
    group = page.locator(f".gx-group[data-scope='{top}']")
    assert group.count() == 1
    inside = sum(1 for n in g.nx if n.startswith(top + "/")) + 6  # + its 6 variables
    assert f"{inside} nodes" in group.text_content()
    assert _shown(page)["nodes"] == total - inside and _shown(page)["members"] == inside
    group.click()  # unfold
    assert page.locator(".gx-group").count() == 0 and _shown(page)["nodes"] == total
    # fold by its label (dispatched to it: where the layout puts the label, under the side
    # panel or not, depends on how long the generated layer names are)
    page.locator(f".gx-cluster[data-scope='{scope}'] text").dispatch_event("click")
    assert page.locator(f".gx-group[data-scope='{scope}']").count() == 1


def test_search_finds_nodes_by_name_and_op(open_viewer):
    g, loss, step = _mlp_step()
    page = open_viewer(g, "search")
    want = [n for n, d in g.nx.nodes(data=True) if "matmul" in n.lower()
            or "matmul" in d["op"].name]
    page.fill("#gx-search", "matmul")
    assert page.evaluate("gxViewer.state.hits.length") == len(want)
    assert page.locator(".gx-node.match").count() == len(want)
    assert f"{len(want)} matches" in page.inner_text("#gx-side")
    top = _first_matmul(g)[1].split("/")[0]
    page.evaluate(f"gxViewer.collapse('{top}')")  # matches inside a fold mark the fold
    assert page.locator(f".gx-group.match[data-scope='{top}']").count() == 1
    page.press("#gx-search", "Enter")  # next match: unfolds its scope and selects it
    selected = page.eval_on_selector(".gx-node.selected", "e => e.dataset.name")
    assert selected in want


def test_the_filmstrip_steps_through_the_passes(open_viewer):
    g, loss, step = _mlp_step()
    f = g.compile([loss, step], optimize=3)
    h = f.history
    page = open_viewer(f, "film")
    assert page.locator(".gx-frame").count() == len(h) + 2
    assert page.locator(".gx-frame.current").inner_text() == "after"
    red = gx.viz.MARKS["removed"][0]
    green_or_orange = {gx.viz.MARKS[k][0] for k in ("rewritten", "rewired", "in place")}
    for k, s in enumerate(h, 1):
        page.click(f".gx-frame[data-frame='{k}']")
        assert page.locator(".gx-frame.current").inner_text().startswith(str(k))
        removed = page.locator(f".gx-node rect.body[stroke='{red}']").count()
        assert removed == s.count("removed"), s.name
        other = sum(page.locator(f".gx-node rect.body[stroke='{c}']").count()
                    for c in green_or_orange)
        assert other == s.count("rewritten") + s.count("rewired") + s.count("in place")
        assert s.summary() in page.inner_text("#gx-side")
    page.keyboard.press("ArrowRight")
    assert page.locator(".gx-frame.current").inner_text() == "after"
    assert page.locator(".gx-fused-box").count() == sum(
        1 for _, d in f.graph.nx.nodes(data=True) if d["op"].name.startswith("fused_"))
    node = next(c.node for s in h for c in s.changes
                if c.kind != "removed" and c.node in f.graph.nx)
    page.click(f".gx-node[data-name='{node}']")
    assert "step " in page.inner_text("#gx-side")  # its provenance


def test_the_numbers_overlay(open_viewer):
    g, loss, step = _mlp_step()
    matmul, _ = _first_matmul(g)
    page = open_viewer(g, "numbers", numbers={matmul: {"time": 2.5e-3, "bytes": 4096}})
    node = f".gx-node[data-name='{matmul}']"
    assert "2.50 ms" not in page.text_content(node)
    page.check("#gx-numbers")
    assert "2.50 ms · 4.0 kB" in page.text_content(node)
    assert page.locator(f"{node} .gx-bar-time").count() == 1


def test_a_2000_node_graph_opens_folded(open_viewer):
    g, loss, step = _mlp_step(layers=82, width=4)
    assert len(g) >= 2000
    page = open_viewer(g, "big")
    shown = _shown(page)
    variables = 2 * 83 + 1
    assert shown["nodes"] + shown["members"] == len(g) + variables
    assert shown["nodes"] + shown["groups"] <= 40
    page.evaluate("gxViewer.expand('gradients')")
    assert page.locator(".gx-group[data-scope='gradients']").count() == 0


def test_no_view_lays_out_too_many_boxes(open_viewer):
    g, loss, step = _mlp_step(layers=20, width=4)
    assert len(g) > 400
    page = open_viewer(g, "guard")
    page.click("#gx-expand")  # everything: more than one view lays out, so scopes fold back
    shown = _shown(page)
    assert shown["nodes"] + shown["groups"] <= 150 and shown["groups"] > 0
    assert "folded back" in page.inner_text("#gx-status")
    page.fill("#gx-search", "matmul")
    page.press("#gx-search", "Enter")  # the match's scopes open, the others fold
    shown = _shown(page)
    assert shown["nodes"] + shown["groups"] <= 150
    assert page.locator(".gx-node.selected").count() == 1
    with gx.graph() as chain:
        y = gx.placeholder((4,), name="x")
        for _ in range(200):
            y = gx.sin(gx.exp(y))
    page = open_viewer(chain.compile(y, optimize=2), "chain")  # 401 nodes before, 2 after
    page.evaluate("gxViewer.setFrame(0)")
    shown = _shown(page)
    assert shown["nodes"] + shown["groups"] <= 150
    assert shown["nodes"] + shown["members"] == 401


def test_odd_node_names_and_dragging(open_viewer):
    with gx.graph() as g:
        x = gx.placeholder((2,), name="constructor")
        with gx.name_scope("block"):
            gx.exp(x) + gx.constant(1.0, name="__proto__")
    page = open_viewer(g, "odd", numbers={"constructor": {"time": 1e-3}})
    page.click(".gx-node[data-name='constructor']")
    assert "1.00 ms" in page.inner_text("#gx-side")
    page.click(".gx-node[data-name='block/__proto__']")  # a constant: no provenance
    assert "unchanged by every pass" in page.inner_text("#gx-side")
    page.evaluate("gxViewer.collapse('block')")
    box = page.locator(".gx-group[data-scope='block']").bounding_box()
    page.mouse.move(box["x"] + 10, box["y"] + 10)
    page.mouse.down()
    page.mouse.move(box["x"] + 80, box["y"] + 60, steps=5)
    page.mouse.up()  # a drag pans: it does not unfold the scope
    assert page.locator(".gx-group[data-scope='block']").count() == 1
    assert page.evaluate("(() => { try { gxViewer.setFrame(1.5); } catch (e) { return e.name; }"
                         " })()") == "TypeError"


def test_big_scopes_split_into_parts_of_parts():
    from graphexec.viz.viewer import CHUNK, _split_big_scopes

    versions = ([{"name": f"n{i}", "scope": []} for i in range(10_000)]
                + [{"name": f"a/s{j}/x", "scope": ["a", f"s{j}"]} for j in range(100)])
    _split_big_scopes(versions)
    items: dict[tuple, set] = {}
    for v in versions:
        sc = v["scope"]
        for k in range(len(sc) + 1):
            items.setdefault(tuple(sc[:k]), set()).add(sc[k] if k < len(sc) else v["name"])
    assert max(len(x) for x in items.values()) <= CHUNK
    assert versions[5000]["scope"] == ["n4096…n8191", "n4992…n5055"]  # nodes and a scope: names
    only = [{"name": f"n{i}", "scope": ["b"]} for i in range(100)]
    _split_big_scopes(only)
    assert only[70]["scope"] == ["b", "65–100"]  # nodes only: their positions
    assert versions[-1]["scope"][0].endswith("…a")  # the scope sits in the root's last part
    assert versions[-1]["scope"][-3:] == ["a", "s64…s99", "s99"]


def test_a_flat_5000_node_graph_opens_and_finds_a_node(open_viewer):
    with gx.graph() as g:
        y = gx.placeholder((4,), name="x")
        for _ in range(2500):
            y = gx.sin(gx.exp(y))
    page = open_viewer(g, "flat")
    shown = _shown(page)
    assert shown["nodes"] + shown["groups"] <= 150
    assert shown["nodes"] + shown["members"] == len(g) == 5001
    page.fill("#gx-search", "exp_1234")
    page.press("#gx-search", "Enter")
    assert page.eval_on_selector(".gx-node.selected", "e => e.dataset.name") == "exp_1234"
    assert _shown(page)["nodes"] + _shown(page)["groups"] <= 150


def test_numbers_show_on_the_graph_that_ran_only(open_viewer):
    g, loss, step = _mlp_step()
    f = g.compile([loss, step], optimize=2)
    fused = next(n for n, d in f.graph.nx.nodes(data=True) if d["op"].name == "fused_dense")
    page = open_viewer(f, "numbers_film", numbers={fused: {"time": 2.5e-3}})
    page.check("#gx-numbers")
    node = f".gx-node[data-name='{fused}']"
    assert "2.50 ms" in page.text_content(node)
    page.evaluate("gxViewer.setFrame(0)")  # before fusion the name is a plain add
    assert "2.50 ms" not in page.text_content(node)
