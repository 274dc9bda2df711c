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
>>> dot.splitlines()[0] == f'digraph "{g.name}" {{', dot.count('id="layer"; label="layer"')
(True, 1)
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from ..compiler import CompiledGraph
from ..errors import InvalidArgumentError, MissingExtraError
from ..graph import Graph
from ..ir import GraphIR, needed_nodes
from ..passes import History

__all__ = ["to_dot", "render", "render_passes", "node_class", "CLASSES", "MARKS"]

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
    "flow": ("#b2f2bb", "control flow (cond, while, scan)"),
    "other": ("#f4f4f4", "other"),
}
#: change kind (``passes.KINDS``) -> (border colour, fill or None, extra style, what it means)
MARKS = {
    "added": ("#2f9e44", "#c3f0c8", "", "added by this pass"),
    "removed": ("#e03131", "#ffd8d8", "dashed", "removed by this pass"),
    "rewritten": ("#e8590c", None, "", "rewritten (new op or attrs)"),
    "rewired": ("#f59f00", None, "", "rewired (reads other inputs)"),
    "in place": ("#1c7ed6", None, "", "writes into another's buffer"),
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
    return _classify(graph.nx.nodes[node]["op"], node,
                     graph.gradient_nodes if gradients is None else gradients)


def _classify(op: Any, node: str, gradients: Any) -> str:
    name = op.name
    if name in _FUSED:
        return "fused"
    if name in ("placeholder", "constant") or name in _VARIABLE:
        return {"placeholder": "placeholder", "constant": "constant"}.get(name, "variable")
    if name == "no_op":
        return "control"
    if op.subgraphs:
        return "flow"
    if node in gradients:
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


def _scopes(names: Iterable[str]) -> set[tuple[str, ...]]:
    """Every scope path the node ``names`` lie in, outer scopes included."""
    return {sc[:k] for n in names for sc in (_scope(n),) for k in range(1, len(sc) + 1)}


def _folding(collapse: Any, scopes: set[tuple[str, ...]]) -> Any:
    """``collapse`` checked: a depth, or the set of scope paths to fold."""
    if collapse is None:
        return None
    if isinstance(collapse, int) and not isinstance(collapse, bool):
        if collapse < 0:
            raise InvalidArgumentError(f"to_dot: collapse={collapse} is not a depth (0 folds "
                                       "the top-level scopes)")
        return collapse
    try:
        names = [collapse] if isinstance(collapse, str) else list(collapse)
    except TypeError:
        names = [collapse]  # True, 1.5: reported below
    known = {"/".join(s) for s in scopes}
    for name in names:
        if not isinstance(name, str) or name.strip("/") not in known:
            raise InvalidArgumentError(f"to_dot: collapse={name!r} is not a name scope of the "
                                       f"graph; its scopes are {sorted(known)[:8]}")
    return {tuple(name.strip("/").split("/")) for name in names}


def _folded(scope: tuple[str, ...], folding: Any) -> tuple[str, ...] | None:
    """The scope ``scope`` folds into, or None when it stays open."""
    if folding is None:
        return None
    if isinstance(folding, int):
        return scope[:folding + 1] if len(scope) > folding else None
    for k in range(1, len(scope) + 1):
        if scope[:k] in folding:
            return scope[:k]
    return None


def to_dot(graph: Any, *, collapse: int | str | Iterable[str] | None = None,
           rankdir: str = "TB", legend: bool = True, max_members: int = 12,
           dpi: int | None = None, changes: Mapping[str, Any] | None = None,
           ghosts: Iterable[tuple[str, str]] = (), title: str | None = None,
           scopes: Iterable[str] | None = None) -> str:
    """Graphviz DOT text of ``graph`` (a Graph, or a CompiledGraph: its optimized graph).

    ``collapse``: a depth (``0`` folds every top-level scope into one node, ``1`` the scopes
    below them, ...) or scope names (``"model/dense"``) to fold; a folded scope is one box
    saying how many nodes it holds.  ``rankdir``: ``"TB"`` (top-down) or ``"LR"``; ``dpi``: the
    resolution of PNG pictures drawn from it (dot's default is 96).  Each node's ``id`` (the
    SVG element's) is its name; DOT ids are generated, so no name can collide with another.
    ``changes`` (node -> a ``passes.Change``) outlines the nodes a pass changed by kind
    (``MARKS``: added green, removed red and dashed, rewritten orange, ...), the change's reason
    in the tooltip; ``ghosts`` are (producer, consumer) edges that were there before it (drawn
    red and dashed); ``title`` is printed above the picture; ``scopes``: the scope names
    ``collapse`` may name (default: the graph's own).  ``render_passes`` uses these.

    >>> import graphexec as gx
    >>> with gx.graph() as g:
    ...     with gx.name_scope("a"):
    ...         x = gx.placeholder((2,), name="x")
    ...         y = gx.exp(x) + 1.0
    >>> "a (4 nodes)" in gx.viz.to_dot(g, collapse=0)
    True
    """
    if isinstance(graph, CompiledGraph):
        ir: GraphIR = graph.graph
        grads = set(ir.gradient_nodes) | (set(graph.source.gradient_nodes) & set(ir.nx))
    elif isinstance(graph, GraphIR):
        ir, grads = graph, set(graph.gradient_nodes)
    else:
        raise InvalidArgumentError(f"to_dot: expected a Graph or CompiledGraph, got "
                                   f"{type(graph).__name__}")
    if rankdir not in ("TB", "LR"):
        raise InvalidArgumentError(f"to_dot: rankdir must be 'TB' or 'LR', got {rankdir!r}")
    g = ir.nx
    known = _scopes(g)
    if scopes is not None:
        known |= {tuple(str(sc).strip("/").split("/")) for sc in scopes}
    folding = _folding(collapse, known)
    changes, ghosts = _checked_marks(changes, ghosts, g)
    lines = [f"digraph {_q(ir.name)} {{", f"  rankdir={rankdir}; compound=true;"
             + ("" if dpi is None else f" dpi={int(dpi)};")
             + ("" if title is None else f' label={_q(title)}; labelloc=t; fontsize=14;'
                f' fontname="Helvetica";'),
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=8, color="#555555"];']
    ids: dict[str, str] = {}  # node -> its DOT id (its folded scope's, when folded)
    counts: Counter[tuple[str, ...]] = Counter()
    members: dict[tuple[str, ...], list[Any]] = {}  # scope -> open nodes and folded scopes
    fold_ids: dict[tuple[str, ...], str] = {}
    for k, n in enumerate(g):
        f = _folded(_scope(n), folding)
        if f is None:
            ids[n] = f"n{k}"
            members.setdefault(_scope(n), []).append(n)
        else:
            if f not in fold_ids:
                fold_ids[f] = f"s{len(fold_ids)}"
                members.setdefault(f[:-1], []).append(f)
            ids[n] = fold_ids[f]
            counts[f] += 1
    children: dict[tuple[str, ...], set[tuple[str, ...]]] = {}
    for scope in list(members):
        for k in range(len(scope)):
            children.setdefault(scope[:k], set()).add(scope[:k + 1])
    shown: set[str] = set()
    marked: set[str] = set()
    changed_in: Counter[tuple[str, ...]] = Counter()
    for n in changes:
        if n in g:
            f = _folded(_scope(n), folding)
            if f is not None:
                changed_in[f] += 1

    def mark(kind: str | None) -> str:
        if kind is None or kind not in MARKS:
            return ""
        marked.add(kind)
        border, fill, style, _ = MARKS[kind]
        out = f', color="{border}", penwidth=2.5'
        if fill is not None:
            out += f', fillcolor="{fill}"'
        if style:
            out += f', style="rounded,filled,{style}", fontcolor="#a61e1e"'
        return out

    def emit(item: Any, indent: str) -> None:
        if isinstance(item, tuple):  # a folded scope
            extra = f", {changed_in[item]} changed" if changed_in[item] else ""
            lines.append(f'{indent}{fold_ids[item]} [id={_q("/".join(item) + "/")}, '
                         f'label={_q(f"{item[-1]} ({counts[item]} nodes{extra})")}, '
                         f'shape=box3d, fillcolor="#eeeeee"'
                         f'{mark("rewritten") if extra else ""}];')
            return
        n, d = item, g.nodes[item]
        op, cls = d["op"], node_class(ir, item, grads)
        shown.add(cls)
        short = n.rsplit("/", 1)[-1]
        spec = " ".join(str(s) for s in d["specs"])
        label = short if short == op.name else f"{short}\n{op.name}"
        tip = f"{op.name}{_attrs(d['attrs'])}\n{spec}\n{d['loc']}"
        change = changes.get(n)
        if change is not None:
            tip += "\n" + (change.why if change.why.startswith(change.kind) else
                           f"{change.kind}: {change.why}")
        shape = {"placeholder": "ellipse", "control": "octagon", "flow": "hexagon"}.get(cls, "box")
        boxed = cls == "fused" and op.name == "fused_elementwise"
        if boxed:  # a dashed box around the node, which lists the members
            names = [m.op.name for m in d["attrs"]["program"].members]
            more = [f"+{len(names) - max_members} more"] if len(names) > max_members else []
            label = "\n".join([short, *names[:max_members], *more])
            lines.append(f"{indent}subgraph cluster_f{ids[n]} {{")
            lines.append(f'{indent}  label={_q(f"fused: {len(names)} members")}; '
                         f'style="dashed,rounded"; color="#8a5cb8"; fontsize=9;')
        flat = ", style=filled" if cls == "flow" else ""  # NOTE: a rounded hexagon is a blob
        lines.append(f'{indent}{ids[n]} [id={_q(n)}, label={_q(label)}, tooltip={_q(tip)}, '
                     f'shape={shape}, fillcolor="{CLASSES[cls][0]}"{flat}'
                     f'{mark(None if change is None else change.kind)}];')
        if boxed:
            lines.append(f"{indent}}}")
        for k in op.subgraphs:
            subs = d["attrs"][k]
            for j, sub in enumerate(subs if isinstance(subs, tuple) else (subs,)):
                nested(sub, f"{ids[n]}_{k[0]}{j}", ids[n], n, indent, _fed(g, d, sub))

    def nested(sub: Any, prefix: str, owner: str, owner_name: str, indent: str,
               fed: dict[str, str]) -> None:
        """A subgraph (a branch, a loop's body) as a dashed cluster beside the node that runs
        it, with its own nodes and edges: each parameter says which of the node's inputs
        feeds it, and the outputs have a bold border."""
        # NOTE: only what the outputs need (and the parameters): what a pass pruned never runs
        live = needed_nodes(sub.graph, [r[0] for r in sub.outputs]) | set(sub.params)
        sg = sub.graph.nx.subgraph([m for m in sub.graph.nx if m in live])
        sids = {m: f"{prefix}_{i}" for i, m in enumerate(sg)}
        outs = {r[0] for r in sub.outputs}
        lines.append(f"{indent}subgraph cluster_{prefix} {{")
        lines.append(f'{indent}  id={_q(f"{owner_name}/{sub.name}")}; '
                     f'label={_q(f"{sub.name} ({len(sg)} nodes)")}; style="dashed,rounded"; '
                     'color="#2f9e44"; fontsize=10;')
        for m, md in sg.nodes(data=True):
            op, cls = md["op"], node_class(sub.graph, m)
            shown.add(cls)
            spec = " ".join(str(sp) for sp in md["specs"])
            label = m if m == op.name else f"{m}\n{op.name}"
            if m in fed:
                label = f"{m}\n\u2190 {fed[m]}"
            tip = f"{op.name}{_attrs(md['attrs'])}\n{spec}\n{md['loc']}"
            shape = {"placeholder": "ellipse", "control": "octagon", "flow": "hexagon"}.get(
                cls, "box")
            bold = (", penwidth=2.5" if m in outs else "") + (", style=filled" if cls == "flow"
                                                              else "")
            lines.append(f'{indent}  {sids[m]} [id={_q(f"{owner_name}/{sub.name}/{m}")}, '
                         f'label={_q(label)}, tooltip={_q(tip)}, shape={shape}, '
                         f'fillcolor="{CLASSES[cls][0]}"{bold}];')
            for kk in op.subgraphs:
                inner = md["attrs"][kk]
                for jj, s2 in enumerate(inner if isinstance(inner, tuple) else (inner,)):
                    nested(s2, f"{sids[m]}_{kk[0]}{jj}", sids[m], f"{owner_name}/{sub.name}/{m}",
                           indent + "  ", _fed(sg, md, s2))
        lines.append(f"{indent}}}")
        for m, md in sg.nodes(data=True):
            for src, idx in md["inputs"]:
                text = str(sg.nodes[src]["specs"][idx])
                lines.append(f"  {sids[src]} -> {sids[m]} [label={_q(text)}];")
        first = sids[next(iter(sg))] if len(sg) else None
        if first is not None:  # NOTE: dotted: the node runs the subgraph, no data flows so
            lines.append(f'  {owner} -> {first} [style=dotted, color="#2f9e44", '
                         f'lhead=cluster_{prefix}, arrowhead=odiamond, label="runs"];')

    def cluster(scope: tuple[str, ...], indent: str) -> None:
        for item in members.get(scope, []):
            emit(item, indent)
        for child in sorted(children.get(scope, ())):
            if child in fold_ids:
                continue
            lines.append(f"{indent}subgraph cluster_c{len(lines)} {{")
            lines.append(f'{indent}  id={_q("/".join(child))}; label={_q(child[-1])}; '
                         f'style="rounded"; color="#999999"; fontsize=11;')
            cluster(child, indent + "  ")
            lines.append(f"{indent}}}")

    cluster((), "  ")
    seen: set[tuple[str, ...]] = set()
    variables: dict[int, tuple[str, str]] = {}

    def edge(a: str, b: str, key: str, attrs: str) -> None:
        if a != b and (a, b, key) not in seen:
            seen.add((a, b, key))
            lines.append(f"  {a} -> {b} [{attrs}];")

    gone = {n for n, c in changes.items() if c.kind == "removed"}
    for n, d in g.nodes(data=True):
        for src, idx in d["inputs"]:
            text = str(g.nodes[src]["specs"][idx])  # f32[?,3]
            red = ', style=dashed, color="#e03131"' if src in gone or n in gone else ""
            edge(ids[src], ids[n], f"{idx}:{text}", f"label={_q(text)}{red}")
        for src in d["control"]:
            edge(ids[src], ids[n], "^", 'style=dotted, arrowhead=odot, color="#888888"')
        var = d["attrs"].get("var") if d["op"].name in _VARIABLE else None
        if var is not None:
            vid = variables.setdefault(id(var), (f"v{len(variables)}", var.name))[0]
            if d["op"].name == "read_variable":
                edge(vid, ids[n], "read", 'style=dashed, color="#2b6cb0"')
            else:  # NOTE: no rank constraint: a variable sits by its reads, not below updates
                edge(ids[n], vid, "write", 'style=bold, color="#c53030", constraint=false')
    for src, dst in ghosts:  # edges a pass took away (a consumer now reads another tensor)
        if src in ids and dst in ids:
            edge(ids[src], ids[dst], "ghost", 'style=dashed, color="#e03131", arrowhead=empty')
    for vid, name in variables.values():
        lines.append(f'  {vid} [id={_q("variable:" + name)}, label={_q(name)}, shape=cylinder, '
                     f'fillcolor="{CLASSES["variable"][0]}"];')
    if legend:
        lines.append('  subgraph cluster_legend_ { label="legend"; style="rounded"; '
                     'color="#cccccc"; fontsize=9;')
        for k, (cls, (colour, what)) in enumerate(CLASSES.items()):
            if cls in shown:
                lines.append(f'    l{k} [id={_q("legend:" + cls)}, label={_q(what)}, '
                             f'fillcolor="{colour}", fontsize=8];')
        for k, (kind, (_, _, _, what)) in enumerate(MARKS.items()):
            if kind in marked:
                lines.append(f'    m{k} [id={_q("legend:" + kind)}, label={_q(what)}, '
                             f'fillcolor="#ffffff", fontsize=8{mark(kind)}];')
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _fed(g: Any, d: dict[str, Any], sub: Any) -> dict[str, str]:
    """Which input of the node (data ``d`` in networkx graph ``g``) feeds each parameter of
    its subgraph ``sub``: a cond's values follow its predicate, a scan's rows are slices."""
    skip = 1 if d["op"].name == "cond" else 0
    values = d["inputs"][skip:]
    rows = range(d["attrs"].get("n_carry", 0),
                 d["attrs"].get("n_carry", 0) + d["attrs"].get("n_xs", 0))
    out = {}
    for p, i in zip(sub.params, sub.feed, strict=True):
        if i < len(values):
            src, idx = values[i]
            name = src if len(g.nodes[src]["specs"]) == 1 else f"{src}:{idx}"
            out[p] = f"{name}[i]" if i in rows else name
    return out


def _checked_marks(changes: Any, ghosts: Any, g: Any) -> tuple[dict[str, Any], list[Any]]:
    """``to_dot``'s ``changes`` and ``ghosts``, checked: Changes of the graph's nodes, and
    (producer, consumer) pairs of them."""
    if changes is None:
        changes = {}
    if not isinstance(changes, Mapping):
        raise InvalidArgumentError(f"to_dot: changes must map node names to passes.Change, got "
                                   f"{type(changes).__name__}")
    for n, c in changes.items():
        if n not in g or not isinstance(getattr(c, "kind", None), str) or not hasattr(c, "why"):
            raise InvalidArgumentError(f"to_dot: changes[{n!r}] must be a passes.Change of a "
                                       f"node of the graph, got {c!r}")
    pairs = []
    for pair in ghosts:
        if (not isinstance(pair, tuple | list) or len(pair) != 2
                or not all(isinstance(p, str) and p in g for p in pair)):
            raise InvalidArgumentError(f"to_dot: ghosts must be (producer, consumer) pairs of "
                                       f"node names of the graph, got {pair!r}")
        pairs.append(tuple(pair))
    return dict(changes), pairs


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


def _history(obj: Any, where: str) -> Any:
    history = obj.history if isinstance(obj, CompiledGraph) else obj
    if not isinstance(history, History):
        raise InvalidArgumentError(f"{where}: expected a CompiledGraph (g.compile(...)) or its "
                                   f"history, got {type(obj).__name__}")
    return history


def render_passes(compiled: Any, directory: str | os.PathLike[str], fmt: str = "svg",
                  **options: Any) -> list[str]:
    """Draw what each optimization pass did: into ``directory`` (made if missing) one picture
    per pass run that changed the graph, ``01-<pass>.svg`` ..., the nodes it added green, those
    it removed red and dashed (with their old edges), rewritten ones orange and rewired ones
    amber, each change's reason in its tooltip; and the pair ``00-before`` / ``NN-after``.
    ``compiled`` is a CompiledGraph (or its ``history``); ``fmt``: svg, png or pdf;
    ``options`` go to ``to_dot``.  Returns the paths written, in order.

    >>> import graphexec as gx
    >>> with gx.graph() as g:
    ...     y = gx.exp(gx.placeholder((2,), name="x")) * 1.0
    >>> gx.viz.render_passes(g.compile(y), "out", fmt="gif")
    Traceback (most recent call last):
        ...
    graphexec.errors.InvalidArgumentError: render_passes: fmt must be one of svg, png, pdf, ...
    """
    history = _history(compiled, "render_passes")
    taken = sorted(k for k in ("changes", "ghosts", "title", "scopes") if k in options)
    if taken:
        raise InvalidArgumentError(f"render_passes: {', '.join(taken)}: set per picture; "
                                   "pass only to_dot's other options")
    if fmt not in _FORMATS:
        raise InvalidArgumentError(f"render_passes: fmt must be one of "
                                   f"{', '.join(_FORMATS)}, got {fmt!r}")
    graphviz = _graphviz()
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    n = len(history)
    # NOTE: collapse= may name a scope only some steps still have
    options["scopes"] = {"/".join(sc) for sc in _scopes([*history.nodes(0), *history.final])}
    pictures: list[tuple[str, str]] = [
        ("00-before", to_dot(history.graph(0), title=f"before: {history.nodes_before} nodes",
                             **options))]
    for k, step in enumerate(history, 1):
        ir, changes, ghosts = history.diff(k)
        pictures.append((f"{k:02d}-{step.name}", to_dot(
            ir, changes=changes, ghosts=ghosts, title=f"step {k}: {step.summary()}",
            **options)))
    final = history.graph()
    pictures.append((f"{n + 1:02d}-after", to_dot(final, title=f"after: {len(final)} nodes",
                                                  **options)))
    paths = []
    for stem, dot in pictures:
        path = os.path.join(directory, f"{stem}.{fmt}")
        with open(path, "wb") as f:
            f.write(graphviz.Source(dot).pipe(format=fmt))
        paths.append(path)
    return paths


#: the most nodes Jupyter draws a graph with (laying out more takes dot seconds to minutes)
REPR_MAX_NODES = 400


def _repr_svg_(self: Any) -> str | None:
    """Jupyter's picture of a Graph or CompiledGraph, when ``dot`` is installed and the graph
    has at most ``REPR_MAX_NODES`` nodes (``gx.viz.render`` draws any)."""
    ir = self.graph if isinstance(self, CompiledGraph) else self
    if len(ir.nx) > REPR_MAX_NODES:
        return None  # Jupyter then shows the text
    try:
        graphviz = _graphviz()
    except MissingExtraError:
        return None
    return graphviz.Source(to_dot(self)).pipe(format="svg").decode()


Graph._repr_svg_ = _repr_svg_  # type: ignore[attr-defined]
CompiledGraph._repr_svg_ = _repr_svg_  # type: ignore[attr-defined]
