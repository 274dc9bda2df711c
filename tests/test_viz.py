"""``gx.viz.to_dot``: structure of the DOT text (no dependency), and that ``dot`` reads it."""

import re
import shutil
import subprocess

import pytest

import graphexec as gx
from graphexec.demo import mlp_step_graph
from graphexec.viz import CLASSES

_STMT = re.compile(r'^\s*(\w+) \[id="((?:[^"\\]|\\.)*)", (.*)\];$', re.M)


def _nodes(dot):
    """name (the SVG id) -> attribute text of every node statement but the legend's."""
    return {name: attrs for _, name, attrs in _STMT.findall(dot) if not name.startswith("legend:")}


def _edges(dot):
    """``(source name, target name, attributes)`` of every edge."""
    names = {ident: name for ident, name, _ in _STMT.findall(dot)}
    return [(names[a], names[b], attrs)
            for a, b, attrs in re.findall(r"^\s*(\w+) -> (\w+) \[(.*)\];$", dot, re.M)]


_mlp_training_step = mlp_step_graph  # an SGD step of an MLP: graph, loss, step


def test_every_node_is_drawn_with_its_class_colour_and_line():
    g, loss, step = _mlp_training_step()
    dot = gx.viz.to_dot(g)
    nodes = _nodes(dot)
    variables = {n for n in nodes if n.startswith("variable:")}
    assert set(nodes) - variables == set(g.nx)
    assert len(variables) == 5  # two kernels, two biases, the optimizer's step counter
    for n in g.nx:
        cls = gx.viz.node_class(g, n)
        assert f'fillcolor="{CLASSES[cls][0]}"' in nodes[n], n
        assert "test_viz.py:" in nodes[n], n  # the user's line, in the tooltip
    classes = {gx.viz.node_class(g, n) for n in g.nx}
    assert {"placeholder", "variable", "matmul", "elementwise", "reduction", "gradient",
            "control"} <= classes
    assert g.gradient_nodes and all(gx.viz.node_class(g, n) == "gradient"
                                    for n in g.gradient_nodes
                                    if g.nx.nodes[n]["op"].name not in ("constant", "no_op"))
    for cls in classes:  # the legend names each class drawn
        assert f'id="legend:{cls}"' in dot


def test_edges_carry_specs_and_variables_and_control_are_distinct():
    g, loss, step = _mlp_training_step()
    edges = _edges(gx.viz.to_dot(g))
    data = [e for e in edges if "label=" in e[2]]
    n_inputs = sum(len(d["inputs"]) for _, d in g.nx.nodes(data=True))
    assert len(data) <= n_inputs and len(data) > 0.8 * n_inputs  # x * x draws one edge
    assert all(re.search(r'label="(f32|i64|bool)\[', e[2]) for e in data)
    reads = [e for e in edges if "style=dashed" in e[2]]
    writes = [e for e in edges if "style=bold" in e[2]]
    n_reads = sum(d["op"].name == "read_variable" for _, d in g.nx.nodes(data=True))
    n_writes = sum(d["op"].name == "assign" for _, d in g.nx.nodes(data=True))
    assert len(reads) == n_reads and len(writes) == n_writes == 5
    assert all(e[0].startswith("variable:") for e in reads)
    assert all(e[1].startswith("variable:") for e in writes)
    control = [e for e in edges if "style=dotted" in e[2]]
    assert len(control) == sum(len(d["control"]) for _, d in g.nx.nodes(data=True)) > 0


def test_scopes_are_clusters_and_collapse_by_depth_or_name():
    g, _, _ = _mlp_training_step()
    dot = gx.viz.to_dot(g)
    scopes = {"/".join(n.split("/")[:k]) for n in g.nx for k in range(1, n.count("/") + 1)}
    model = next(n.split("/")[0] for n in g.nx if n.startswith("sequential"))
    layers = sorted(s for s in scopes if s.startswith(model + "/") and s.count("/") == 1)
    assert len(layers) == 2  # the model's two Dense layers
    for s in scopes:
        assert f'id="{s}"; label=' in dot
    folded = gx.viz.to_dot(g, collapse=0)
    n_model = sum(n.startswith(model + "/") for n in g.nx)
    assert f'[id="{model}/", label="{model} ({n_model} nodes)"' in folded
    assert not any(n.startswith(model + "/") and not n.endswith("/") for n in _nodes(folded))
    one = gx.viz.to_dot(g, collapse=layers[0])
    n_layer = sum(n.startswith(layers[0] + "/") for n in g.nx)
    assert f'label="{layers[0].split("/")[1]} ({n_layer} nodes)"' in one
    assert f'id="{layers[1]}"; label=' in one  # the other scope stays open
    with pytest.raises(gx.InvalidArgumentError, match="rankdir"):
        gx.viz.to_dot(g, rankdir="RL")
    with pytest.raises(gx.InvalidArgumentError, match="Graph or CompiledGraph"):
        gx.viz.to_dot(42)


def test_compiled_graphs_show_fused_groups_with_their_members():
    with gx.graph() as g:
        x = gx.placeholder((None, 3), name="x")
        y = gx.nn.relu(gx.exp(x * 2.0) + 1.0)
    c = g.compile(y, optimize=2)
    dot = gx.viz.to_dot(c)
    fused = [n for n, d in c.graph.nx.nodes(data=True) if d["op"].name == "fused_elementwise"]
    assert len(fused) == 1
    members = [m.op.name for m in c.graph.nx.nodes[fused[0]]["attrs"]["program"].members]
    assert f'label="fused: {len(members)} members"' in dot
    label = _nodes(dot)[fused[0]]
    assert all(m in label for m in members)
    assert set(_nodes(dot)) == set(c.graph.nx)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is absent")
def test_dot_lays_out_the_text(tmp_path):
    g, loss, step = _mlp_training_step()
    for graph in (g, g.compile([loss, step], optimize=3)):
        for kwargs in ({}, {"collapse": 0}, {"rankdir": "LR"}):
            r = subprocess.run(["dot", "-Tsvg"], input=gx.viz.to_dot(graph, **kwargs),
                               capture_output=True, text=True, check=False)
            assert r.returncode == 0 and not r.stderr, r.stderr
            assert r.stdout.count('class="node"') >= 10



def _control_flow_graph():
    with gx.graph() as g:
        x = gx.placeholder((None, 3), "float32", name="x")
        y = gx.cond(gx.sum(x) > 0, lambda v: gx.nn.relu(v) + 1.0, lambda v: -v, x)
        gx.scan(lambda c, r: (c + r, c * r), gx.zeros((3,)), y)
    return g


def test_branches_and_loop_bodies_are_nested_clusters():
    dot = gx.viz.to_dot(_control_flow_graph())
    nodes = _nodes(dot)
    assert 'shape=hexagon, fillcolor="#b2f2bb"' in nodes["cond"]
    clusters = re.findall(r'id="(cond/\w+|scan/\w+)"; label="(\w+) \((\d+) nodes\)"', dot)
    assert [(c.split("/")[0], label.rstrip("0123456789"), int(k)) for c, label, k in clusters] \
        == [("cond", "true_branch", 4), ("cond", "false_branch", 2), ("scan", "scan_body", 4)]
    inner = {n for n in nodes if n.startswith("cond/")}
    assert any(n.endswith("/relu") for n in inner) and any(n.endswith("/negative") for n in inner)
    arg = next(v for n, v in nodes.items() if n.startswith("cond/true") and n.endswith("/arg0"))
    assert "\\u2190 x" in arg or "\u2190 x" in arg  # the parameter says what feeds it
    runs = [(a, b) for a, b, attrs in _edges(dot) if 'label="runs"' in attrs]
    assert {a for a, _ in runs} == {"cond", "scan"} and len(runs) == 3
    body_add = next(v for n, v in nodes.items() if n.startswith("scan/") and n.endswith("/add"))
    assert "penwidth=2.5" in body_add  # an output of the body


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is absent")
def test_dot_lays_out_control_flow():
    r = subprocess.run(["dot", "-Tsvg"], input=gx.viz.to_dot(_control_flow_graph()),
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0 and not r.stderr, r.stderr
    assert r.stdout.count('class="cluster"') >= 4  # three subgraphs and the legend


_HAS_DOT = shutil.which("dot") is not None
try:
    import graphviz  # noqa: F401

    _HAS_GRAPHVIZ = True
except ImportError:
    _HAS_GRAPHVIZ = False


@pytest.mark.skipif(not (_HAS_DOT and _HAS_GRAPHVIZ),
                    reason="needs Graphviz's dot program and the graphviz package (viz extra)")
@pytest.mark.parametrize("fmt, magic", [("svg", b"<?xml"), ("png", b"\x89PNG"), ("pdf", b"%PDF")])
def test_render_writes_pictures(tmp_path, fmt, magic):
    g, loss, step = _mlp_training_step()
    path = gx.viz.render(g.compile([loss, step], optimize=3), tmp_path / f"step.{fmt}",
                         collapse=1)
    with open(path, "rb") as f:
        data = f.read()
    assert data.startswith(magic) and len(data) > 2000
    svg = g._repr_svg_()
    assert svg.lstrip().startswith("<?xml") and svg.count('class="node"') >= len(g.nx)


def test_render_without_dot_says_how_to_install_it(monkeypatch, tmp_path):
    with gx.graph() as g:
        gx.exp(gx.placeholder((2,), name="x"))
    monkeypatch.setattr(shutil, "which", lambda name: None)
    if _HAS_GRAPHVIZ:
        with pytest.raises(gx.MissingExtraError, match=r"apt install graphviz.*brew.*conda"):
            gx.viz.render(g, tmp_path / "g.svg")
        assert g._repr_svg_() is None  # Jupyter then shows the text
    with pytest.raises(gx.InvalidArgumentError, match=r"must end in \.svg, \.png, \.pdf"):
        gx.viz.render(g, tmp_path / "g.gif")


def test_render_without_the_graphviz_package_names_the_extra(monkeypatch, tmp_path):
    import builtins

    real = builtins.__import__

    def no_graphviz(name, *args, **kwargs):
        if name == "graphviz":
            raise ImportError("No module named 'graphviz'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_graphviz)
    with gx.graph() as g:
        gx.exp(gx.placeholder((2,), name="x"))
    with pytest.raises(gx.MissingExtraError, match=r"pip install 'graphexec\[viz\]'"):
        gx.viz.render(g, tmp_path / "g.svg")


def test_names_never_collide_with_each_other_or_the_pictures_own_ids():
    # two Variables named "w" were one cylinder; "a/" looked like a folded scope; a node named
    # "legend:placeholder" and a scope "legend" went into the legend
    w1, w2 = gx.Variable(1.0, name="w"), gx.Variable(2.0, name="w")
    with gx.graph() as g:
        a = gx.placeholder((2,), name="a/")
        b = gx.placeholder((2,), name="legend:placeholder")
        with gx.name_scope("legend"):
            c = a + b + w1.value() * w2.value()
        parts = gx.split(c, 2)
        d = parts[0] * parts[1]
    dot = gx.viz.to_dot(g)
    names = [name for _, name, _ in _STMT.findall(dot)]
    assert {"a/", "legend:placeholder", d._node} <= set(names)
    assert names.count("variable:w") == 2  # one cylinder each
    assert dot.count("subgraph cluster_legend_ ") == 1
    split_edges = [e for e in _edges(dot) if e[0] == parts[0]._node and e[1] == d._node]
    assert len(split_edges) == 2  # both outputs of the split, not one
    r = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True,
                       check=False) if shutil.which("dot") else None
    assert r is None or (r.returncode == 0 and not r.stderr)


def test_folded_scopes_draw_each_edge_once_and_the_legend_only_what_shows():
    g, _, _ = _mlp_training_step()
    dot = gx.viz.to_dot(g, collapse=0)
    edges = _edges(dot)
    assert len(edges) == len(set(edges))  # a variable read into a folded scope: once
    shown = {gx.viz.node_class(g, n) for n in _nodes(dot) if n in g.nx}
    legend = set(re.findall(r'id="legend:(\w+)"', dot))
    assert legend == shown


def test_bad_collapse_arguments_and_inputs_are_errors():
    g, _, _ = _mlp_training_step()
    for bad in (-1, "no_such_scope", ["sequential", 3]):
        with pytest.raises(gx.InvalidArgumentError, match="collapse"):
            gx.viz.to_dot(g, collapse=bad)
    with pytest.raises(gx.InvalidArgumentError, match="collapse"):
        gx.viz.to_dot(g, collapse=True)
    with pytest.raises(gx.InvalidArgumentError, match="Graph or CompiledGraph"):
        gx.viz.to_dot(gx.constant(1.0))


def test_many_scopes_and_big_graphs_are_not_drawn_in_jupyter():
    with gx.graph() as g:
        y = gx.placeholder((None, 2), name="x")
        for i in range(3000):
            with gx.name_scope(f"s{i}"):
                y = y * 1.5
    dot = gx.viz.to_dot(g)  # (the scopes' clusters were found in quadratic time)
    assert dot.count("subgraph cluster_c") == 3000
    assert g._repr_svg_() is None  # over gx.viz.REPR_MAX_NODES: Jupyter shows the text


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_the_example_models_draw_every_node_scope_and_fused_group(model, monkeypatch):
    from graphexec.demo import MODELS

    build = MODELS[model]
    with gx.graph() as g:
        logits = build("float32")(gx.placeholder((None, 8, 8, 1), name="images"))
    for graph in (g, g.compile(logits, optimize=3)):
        ir = graph.graph if isinstance(graph, gx.CompiledGraph) else graph
        dot = gx.viz.to_dot(graph)
        nodes = _nodes(dot)
        real = {n: a for n, a in nodes.items() if not n.startswith("variable:")}
        assert sorted(real) == sorted(ir.nx)
        for n, attrs in real.items():
            assert f'fillcolor="{CLASSES[gx.viz.node_class(ir, n)][0]}"' in attrs
        scopes = {"/".join(n.split("/")[:k]) for n in ir.nx for k in range(1, n.count("/") + 1)}
        assert len(re.findall(r"subgraph cluster_c\d+ \{", dot)) == len(scopes)
        fused = [n for n, d in ir.nx.nodes(data=True) if d["op"].name == "fused_elementwise"]
        assert len(re.findall(r"subgraph cluster_f\w+ \{", dot)) == len(fused)
        data_edges = {(src, n) for n, d in ir.nx.nodes(data=True) for src, _ in d["inputs"]}
        drawn = {(a, b) for a, b, attrs in _edges(dot) if "label=" in attrs}
        assert drawn == data_edges
    convs = [n for n, d in ir.nx.nodes(data=True) if d["op"].name == "fused_conv2d"]
    assert len(convs) == (2 if model == "cnn" else 0)
