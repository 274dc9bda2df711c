"""Pictures of graphs: ``to_dot`` writes Graphviz DOT text with no dependency; ``render`` draws
it into an SVG, PNG or PDF file (the ``viz`` extra and Graphviz's ``dot`` program), and in
Jupyter a Graph or CompiledGraph shows itself as that picture.

Nodes are coloured by class (placeholder, constant, variable read and assign, elementwise,
reduction, matmul/conv, fused, gradient, control, other); data edges carry the shape and dtype
they hold; name scopes are clusters, which ``collapse`` folds into one node counting its nodes;
a fused group is a cluster listing its members; each Variable is a node of its own, its reads and
writes drawn as dashed blue and bold red edges; control edges are dotted; every node's tooltip
is the op, its attrs and the user's line.  A legend explains the colours.

>>> import graphexec as gx
>>> with gx.graph() as g, gx.name_scope("layer"):
...     x = gx.placeholder((None, 3), name="x")
...     y = gx.nn.relu(x * 2.0)
>>> dot = gx.viz.to_dot(g)
>>> dot.splitlines()[0] == f'digraph "{g.name}" {{', dot.count('subgraph "cluster_')
(True, 2)
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterable
from typing import Any

from .compiler import CompiledGraph
from .errors import InvalidArgumentError, MissingExtraError
from .graph import Graph
from .ir import GraphIR

__all__ = ["to_dot", "render", "node_class", "CLASSES"]

#: node class -> (fill colour, what it is), in the legend's order
CLASSES = {
    "placeholder": ("#ffe08a", "placeholder (a feed)"),
    "constant": ("#e6e6e6", "constant"),
    "variable": ("#b7d7f0", "variable read / assign"),
    "elementwise": ("#cdebc0", "elementwise"),
    "reduction": ("#f6c9a0", "reduction"),
    "matmul": ("#f2a6a6", "matmul / conv"),
    "fused": ("#d9c2ec", "fused"),
    "gradient": ("#fff4cc", "gradient (backward pass)"),
    "control": ("#ffffff", "control (group, no_op)"),
    "other": ("#f4f4f4", "other"),
}
_MATMUL = {"matmul", "conv2d", "conv2d_backprop_input", "conv2d_backprop_filter"}
_FUSED = {"fused_elementwise", "fused_dense", "fused_conv2d"}
_VARIABLE = {"read_variable", "assign"}


def node_class(graph: GraphIR, node: str, gradients: Any = None) -> str:
    """The class ``to_dot`` colours ``node`` by (a key of ``CLASSES``); ``gradients``: the
    nodes of backward passes (default: those ``graph`` recorded).

    >>> import graphexec as gx
    >>> with gx.graph() as g:
    ...     y = gx.sum(gx.placeholder((2,), name="x") * 2.0)
    >>> [gx.viz.node_class(g, n) for n in g.nx]
    ['placeholder', 'constant', 'elementwise', 'reduction']
    """
    op = graph.nx.nodes[node]["op"]
    name = op.name
    if name in _FUSED:
        return "fused"
    if name in ("placeholder", "constant") or name in _VARIABLE:
        return {"placeholder": "placeholder", "constant": "constant"}.get(name, "variable")
    if name == "no_op":
        return "control"
    if node in (graph.gradient_nodes if gradients is None else gradients):
        return "gradient"
    if name in _MATMUL:
        return "matmul"
    if op.kind in ("elementwise", "reduction"):
        return op.kind
    return "other"


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _scope(node: str) -> tuple[str, ...]:
    return tuple(node.split("/")[:-1])


def _collapsed(scope: tuple[str, ...], collapse: Any) -> tuple[str, ...] | None:
    """The scope prefix ``scope`` folds into, or None when it stays open."""
    if collapse is None:
        return None
    if isinstance(collapse, int) and not isinstance(collapse, bool):
        return scope[:collapse + 1] if len(scope) > collapse else None
    names = {collapse} if isinstance(collapse, str) else set(collapse)
    for k in range(1, len(scope) + 1):
        if "/".join(scope[:k]) in names:
            return scope[:k]
    return None


def to_dot(graph: Any, *, collapse: int | str | Iterable[str] | None = None,
           rankdir: str = "TB", legend: bool = True, max_members: int = 12,
           dpi: int | None = None) -> str:
    """Graphviz DOT text of ``graph`` (a Graph, or a CompiledGraph: its optimized graph).

    ``collapse``: a depth (``0`` folds every top-level scope into one node, ``1`` the scopes
    below them, ...) or scope names (``"model/dense"``) to fold; a folded scope is one box
    saying how many nodes it holds.  ``rankdir``: ``"TB"`` (top-down) or ``"LR"``; ``dpi``: the
    resolution of PNG pictures drawn from it (dot's default is 96).

    >>> import graphexec as gx
    >>> with gx.graph() as g:
    ...     with gx.name_scope("a"):
    ...         x = gx.placeholder((2,), name="x")
    ...         y = gx.exp(x) + 1.0
    >>> "a (4 nodes)" in gx.viz.to_dot(g, collapse=0)
    True
    """
    compiled = getattr(graph, "graph", None)
    ir: GraphIR = compiled if isinstance(compiled, GraphIR) else graph
    if not isinstance(ir, GraphIR):
        raise InvalidArgumentError(f"to_dot: expected a Graph or CompiledGraph, got "
                                   f"{type(graph).__name__}")
    if rankdir not in ("TB", "LR"):
        raise InvalidArgumentError(f"to_dot: rankdir must be 'TB' or 'LR', got {rankdir!r}")
    grads = set(ir.gradient_nodes)
    if isinstance(compiled, GraphIR):  # a compiled copy keeps the names the source marked
        grads |= set(graph.source.gradient_nodes) & set(ir.nx)
    g = ir.nx
    lines = [f"digraph {_q(ir.name)} {{", f"  rankdir={rankdir}; compound=true;"
             + ("" if dpi is None else f" dpi={int(dpi)};"),
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=8, color="#555555"];']
    folded: dict[str, tuple[str, ...]] = {}
    counts: Counter[tuple[str, ...]] = Counter()
    for n in g:
        f = _collapsed(_scope(n), collapse)
        if f is not None:
            folded[n] = f
            counts[f] += 1
    tree: dict[tuple[str, ...], list[str]] = {}  # scope -> its open nodes and folded groups
    for n in g:
        if n in folded:
            continue
        tree.setdefault(_scope(n), []).append(n)
    for f in counts:
        tree.setdefault(f[:-1], []).append("/".join(f) + "/")

    def ident(n: str) -> str:
        return _q("/".join(folded[n]) + "/" if n in folded else n)

    def emit(n: str, indent: str) -> None:
        if n.endswith("/"):  # a folded scope
            f = tuple(n[:-1].split("/"))
            lines.append(f'{indent}{_q(n)} [label={_q(f"{f[-1]} ({counts[f]} nodes)")}, '
                         f'shape=box3d, fillcolor="#eeeeee"];')
            return
        d = g.nodes[n]
        op, cls = d["op"], node_class(ir, n, grads)
        short = n.rsplit("/", 1)[-1]
        spec = " ".join(str(s) for s in d["specs"])
        label = short if short == op.name else f"{short}\n{op.name}"
        tip = f"{op.name}{_attrs(d['attrs'])}\n{spec}\n{d['loc']}"
        shape = {"placeholder": "ellipse", "constant": "box", "control": "octagon"}.get(cls,
                                                                                       "box")
        if cls == "fused" and op.name == "fused_elementwise":
            members = [m.op.name for m in d["attrs"]["program"].members]
            shown = members[:max_members] + ([f"+{len(members) - max_members} more"]
                                             if len(members) > max_members else [])
            lines.append(f"{indent}subgraph {_q('cluster_fused_' + n)} {{")
            lines.append(f'{indent}  label={_q(f"fused: {len(members)} members")}; '
                         f'style="dashed,rounded"; color="#8a5cb8"; fontsize=9;')
            label = f"{short}\n" + "\n".join(shown)
            lines.append(f'{indent}  {_q(n)} [label={_q(label)}, tooltip={_q(tip)}, '
                         f'fillcolor="{CLASSES[cls][0]}"];')
            lines.append(f"{indent}}}")
            return
        lines.append(f'{indent}{_q(n)} [label={_q(label)}, tooltip={_q(tip)}, shape={shape}, '
                     f'fillcolor="{CLASSES[cls][0]}"];')

    def cluster(scope: tuple[str, ...], indent: str) -> None:
        for n in tree.get(scope, []):
            emit(n, indent)
        children = sorted({s[:len(scope) + 1] for s in tree if len(s) > len(scope)
                           and s[:len(scope)] == scope})
        for child in children:
            lines.append(f"{indent}subgraph {_q('cluster_' + '/'.join(child))} {{")
            lines.append(f'{indent}  label={_q(child[-1])}; style="rounded"; color="#999999"; '
                         f'fontsize=11;')
            cluster(child, indent + "  ")
            lines.append(f"{indent}}}")

    cluster((), "  ")
    seen: set[tuple[str, str, str]] = set()
    variables: dict[int, str] = {}
    for n, d in g.nodes(data=True):
        for src, idx in d["inputs"]:
            text = str(g.nodes[src]["specs"][idx])  # f32[?,3]
            key = (ident(src), ident(n), text)
            if key[0] != key[1] and key not in seen:
                seen.add(key)
                lines.append(f"  {key[0]} -> {key[1]} [label={_q(text)}];")
        for src in d["control"]:
            key = (ident(src), ident(n), "^")
            if key[0] != key[1] and key not in seen:
                seen.add(key)
                lines.append(f'  {key[0]} -> {key[1]} [style=dotted, arrowhead=odot, '
                             f'color="#888888"];')
        var = d["attrs"].get("var") if d["op"].name in _VARIABLE else None
        if var is not None:
            vid = variables.setdefault(id(var), f"variable:{var.name}")
            if d["op"].name == "read_variable":
                lines.append(f'  {_q(vid)} -> {ident(n)} [style=dashed, color="#2b6cb0"];')
            else:
                # NOTE: no rank constraint: a variable sits by its reads, not below the update
                lines.append(f'  {ident(n)} -> {_q(vid)} [style=bold, color="#c53030", '
                             f'constraint=false];')
    for vid in variables.values():
        lines.append(f'  {_q(vid)} [label={_q(vid.split(":", 1)[1])}, shape=cylinder, '
                     f'fillcolor="{CLASSES["variable"][0]}"];')
    if legend:
        present = {node_class(ir, n, grads) for n in g}
        lines.append('  subgraph "cluster_legend" { label="legend"; style="rounded"; '
                     'color="#cccccc"; fontsize=9;')
        for cls, (colour, what) in CLASSES.items():
            if cls in present:
                lines.append(f'    {_q("legend:" + cls)} [label={_q(what)}, '
                             f'fillcolor="{colour}", fontsize=8];')
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _attrs(attrs: dict[str, Any]) -> str:
    shown = {k: v for k, v in attrs.items() if k not in ("program", "origin", "var")}
    if not shown:
        return ""
    return "[" + ", ".join(f"{k}={v!r}"[:60] for k, v in shown.items()) + "]"


_FORMATS = ("svg", "png", "pdf")
_NO_DOT = ("Graphviz's dot program is not installed: apt install graphviz (Debian, Ubuntu), "
           "brew install graphviz (macOS) or conda install graphviz")


def _graphviz() -> Any:
    try:
        import graphviz
    except ImportError:
        raise MissingExtraError("gx.viz.render needs the graphviz package: pip install "
                                "'graphexec[viz]'") from None
    if shutil.which("dot") is None:
        raise MissingExtraError(_NO_DOT)
    return graphviz


def render(graph: Any, path: str | os.PathLike[str], **options: Any) -> str:
    """Draw ``graph`` (a Graph or CompiledGraph) into ``path``, an ``.svg``, ``.png`` or
    ``.pdf`` file, with ``dot``; ``options`` go to ``to_dot``.  Returns the path.

    >>> import graphexec as gx
    >>> with gx.graph() as g:
    ...     y = gx.exp(gx.placeholder((2,), name="x"))
    >>> gx.viz.render(g, "picture.gif")
    Traceback (most recent call last):
        ...
    graphexec.errors.InvalidArgumentError: render: picture.gif: the file must end in .svg, ...
    """
    path = os.fspath(path)
    fmt = os.path.splitext(path)[1].lower().lstrip(".")
    if fmt not in _FORMATS:
        raise InvalidArgumentError(f"render: {path}: the file must end in "
                                   f"{', '.join('.' + f for f in _FORMATS)}")
    data = _graphviz().Source(to_dot(graph, **options)).pipe(format=fmt)
    with open(path, "wb") as f:
        f.write(data)
    return path


def _repr_svg_(self: Any) -> str | None:
    """Jupyter's picture of a Graph or CompiledGraph, when ``dot`` is installed."""
    try:
        graphviz = _graphviz()
    except MissingExtraError:
        return None  # Jupyter then shows the text
    return graphviz.Source(to_dot(self)).pipe(format="svg").decode()


Graph._repr_svg_ = _repr_svg_  # type: ignore[attr-defined]
CompiledGraph._repr_svg_ = _repr_svg_  # type: ignore[attr-defined]
