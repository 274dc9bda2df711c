"""The interactive viewer: one self-contained HTML file (no network, no system program) that
draws a graph with a layered layout (dagre, shipped in ``assets/``), zooms and pans, folds and
unfolds name scopes, searches by name or op, shows a clicked node's op, attrs, inputs, outputs,
line and provenance, and steps through the optimizer's passes as a filmstrip: removed nodes red,
new ones green, rewritten ones orange, fused groups boxed.  An optional numbers overlay shows a
time and a byte count per node.

``html(graph_or_compiled, path)`` writes it; ``Graph.show()`` / ``CompiledGraph.show()`` open it;
in Jupyter, graphs show it when ``dot`` is missing, and a pass history always does.
"""

from __future__ import annotations

import html as _html
import json
import math
import numbers
import os
import pathlib
import tempfile
import webbrowser
from collections.abc import Mapping
from typing import Any

from ..compiler import CompiledGraph
from ..errors import InvalidArgumentError, MissingExtraError
from ..graph import Graph
from ..ir import GraphIR
from ..passes import History
from .dot import CLASSES, MARKS, REPR_MAX_NODES, _attrs, _classify, _graphviz, _scope

__all__ = ["html", "show", "viewer_data"]

ASSETS = pathlib.Path(__file__).resolve().parent / "assets"
_VARIABLE_OPS = ("read_variable", "assign")
#: a scope holding more items (nodes of its own and child scopes) than this is split into
#: consecutive parts of this many, each a scope the viewer folds: dagre lays out a few dozen
#: boxes in well under a second, but a thousand with long edges takes minutes
CHUNK = 64


class _Frames:
    """Builds the viewer's data: a table of node versions shared by all frames, and per frame
    the versions shown, the edges between them and what changed."""

    def __init__(self, gradients: set[str]) -> None:
        self.gradients = gradients
        self.versions: list[dict[str, Any]] = []
        self._index: dict[int, int] = {}  # id(node data) -> version
        self._vars: dict[int, int] = {}  # id(Variable) -> version
        self.frames: list[dict[str, Any]] = []

    def _version(self, n: str, d: dict[str, Any]) -> int:
        hit = self._index.get(id(d))
        if hit is not None:
            return hit
        op = d["op"]
        scope = list(_scope(n))
        grad = n in self.gradients
        if grad and not scope:
            scope = ["gradients"]  # NOTE: backward nodes outside any scope fold together
        program = d["attrs"].get("program") if op.name == "fused_elementwise" else None
        v = {"name": n, "short": n.rsplit("/", 1)[-1], "op": op.name,
             "cls": _classify(op, n, self.gradients), "scope": scope,
             "specs": [str(s) for s in d["specs"]], "loc": d["loc"],
             "attrs": _attrs(d["attrs"]), "id": d.get("id"), "grad": grad,
             "members": None if program is None else [m.op.name for m in program.members]}
        origin = d["attrs"].get("origin") if op.name in ("fused_dense", "fused_conv2d") else None
        if origin:
            v["members"] = [str(o[0]).rsplit("/", 1)[-1] for o in origin]
        self._index[id(d)] = len(self.versions)
        self.versions.append(v)
        return self._index[id(d)]

    def _variable(self, var: Any) -> int:
        hit = self._vars.get(id(var))
        if hit is None:
            hit = self._vars[id(var)] = len(self.versions)
            self.versions.append({"name": f"variable:{var.name}",
                                  "short": var.name.rsplit("/", 1)[-1], "op": "Variable",
                                  "cls": "variable", "scope": list(_scope(var.name)),
                                  "specs": [f"{var.dtype}{list(var.shape)}"], "loc": "",
                                  "attrs": "", "id": None, "grad": False, "members": None,
                                  "variable": True})
        return hit

    def add(self, label: str, title: str, state: Mapping[str, dict[str, Any]],
            changes: Mapping[str, Any] | None = None,
            ghosts: list[tuple[str, str]] | None = None) -> None:
        nodes: list[int] = []
        pos: dict[str, int] = {}
        for n, d in state.items():
            pos[n] = len(nodes)
            nodes.append(self._version(n, d))
        edges: list[list[Any]] = []
        var_pos: dict[int, int] = {}
        for n, d in state.items():
            for src, idx in d["inputs"]:
                spec = state[src]["specs"][idx]
                edges.append([pos[src], pos[n], str(spec), "data"])
            edges += [[pos[src], pos[n], "", "control"] for src in d["control"]]
            var = d["attrs"].get("var") if d["op"].name in _VARIABLE_OPS else None
            if var is not None:
                if id(var) not in var_pos:
                    var_pos[id(var)] = len(nodes)
                    nodes.append(self._variable(var))
                v = var_pos[id(var)]
                edges.append([v, pos[n], "", "read"] if d["op"].name == "read_variable"
                             else [pos[n], v, "", "write"])
        edges += [[pos[a], pos[b], "", "ghost"] for a, b in ghosts or () if a in pos and b in pos]
        marks = {pos[n]: [c.kind, c.why, list(c.origin)] for n, c in (changes or {}).items()
                 if n in pos}
        self.frames.append({"label": label, "title": title, "nodes": nodes, "edges": edges,
                            "changes": marks})


def _part_label(chunk: list[tuple[str, str]], lo: int, numbered: bool) -> str:
    if numbered:  # a scope of nodes only: their positions
        return f"{lo + 1}–{lo + len(chunk)}"
    first, last = (str(item[1]).rsplit("/", 1)[-1] for item in (chunk[0], chunk[-1]))
    return f"{first}…{last}"


def _split_big_scopes(versions: list[dict[str, Any]]) -> None:
    """Split every scope holding more than ``CHUNK`` items (nodes of its own and child scopes)
    into parts of at most ``CHUNK`` items in order of first appearance, parts of parts where
    there are more than ``CHUNK`` parts, named ``"1–64"`` (a scope of nodes only) or
    ``"dense_3…dense_66"``, so that every group folds small; shallow scopes first."""
    depth = 0
    while True:
        items: dict[tuple[str, ...], dict[tuple[str, str], None]] = {}
        deeper = False
        for v in versions:
            sc = v["scope"]
            if len(sc) >= depth:
                deeper |= len(sc) > depth
                item = ("scope", sc[depth]) if len(sc) > depth else ("node", v["name"])
                items.setdefault(tuple(sc[:depth]), {})[item] = None
        labels: dict[tuple[tuple[str, ...], tuple[str, str]], list[str]] = {}
        for prefix, members in items.items():
            order = list(members)
            n = len(order)
            if n <= CHUNK:
                continue
            numbered = all(kind == "node" for kind, _ in order)
            sizes = [CHUNK]
            while sizes[-1] * CHUNK < n:
                sizes.append(sizes[-1] * CHUNK)
            for i, item in enumerate(order):
                path = []
                for size in reversed(sizes):  # outermost part first
                    lo = i // size * size
                    path.append(_part_label(order[lo:lo + size], lo, numbered))
                labels[(prefix, item)] = path
        if labels:
            for v in versions:
                sc = v["scope"]
                if len(sc) >= depth:
                    item = ("scope", sc[depth]) if len(sc) > depth else ("node", v["name"])
                    parts = labels.get((tuple(sc[:depth]), item))
                    if parts is not None:
                        v["scope"] = [*sc[:depth], *parts, *sc[depth:]]
        if not deeper:
            return
        depth += 1


def _check_numbers(given: Any, names: set[str]) -> dict[str, dict[str, float]]:
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise InvalidArgumentError(f"html: numbers must map node names to {{'time': seconds, "
                                   f"'bytes': n}}, got {type(given).__name__}")
    out: dict[str, dict[str, float]] = {}
    unknown = [n for n in given if n not in names]
    if unknown:
        raise InvalidArgumentError(f"html: numbers name nodes the graph does not have: "
                                   f"{sorted(map(str, unknown))[:5]}")
    for n, v in given.items():
        if not isinstance(v, Mapping) or not v or not set(v) <= {"time", "bytes"}:
            raise InvalidArgumentError(f"html: numbers[{n!r}] must be a mapping with 'time' "
                                       f"(seconds) and/or 'bytes', got {v!r}")
        out[n] = {}
        for k, x in v.items():
            try:
                value = float(x) if isinstance(x, numbers.Real) and not isinstance(x, bool) \
                    else math.nan
            except OverflowError:
                value = math.inf
            if not math.isfinite(value) or value < 0:
                raise InvalidArgumentError(f"html: numbers[{n!r}][{k!r}] must be a finite "
                                           f"number >= 0, got {repr(x)[:40]}")
            out[n][k] = value
    return out


def viewer_data(graph: Any, numbers: Mapping[str, Mapping[str, float]] | None = None,
                rankdir: str = "TB") -> dict[str, Any]:
    """The data the viewer draws (JSON-ready): node versions, frames (one for a Graph; for a
    CompiledGraph or a History: before, one per pass that changed the graph, after), each
    node's provenance, the colours, and the per-node ``numbers``."""
    if rankdir not in ("TB", "LR"):
        raise InvalidArgumentError(f"html: rankdir must be 'TB' or 'LR', got {rankdir!r}")
    history = graph.history if isinstance(graph, CompiledGraph) else graph
    if isinstance(history, History):
        f = _Frames(set(history.gradient_nodes))
        f.add("before", f"before: {history.nodes_before} nodes", history.nodes(0))
        for k, step in enumerate(history, 1):
            union, changes, ghosts = history.diff_nodes(k)
            f.add(f"{k} {step.name.replace('_', ' ')}", f"step {k}: {step.summary()}", union,
                  changes, ghosts)
        final = history.nodes()
        if len(history):
            f.add("after", f"after: {len(final)} nodes", final)
        provenance: dict[str, list[list[Any]]] = {}
        for k, step in enumerate(history, 1):
            for c in step.changes:
                provenance.setdefault(c.node, []).append([k, step.name, c.kind, c.why,
                                                          list(c.origin)])
        title, names = history.name, set(final)
    elif isinstance(graph, GraphIR):
        f = _Frames(set(graph.gradient_nodes))
        f.add("graph", f"{graph.name}: {len(graph)} nodes", dict(graph.nx.nodes.items()))
        provenance, title, names = {}, graph.name, set(graph.nx)
    else:
        raise InvalidArgumentError(f"html: expected a Graph, a CompiledGraph or a pass "
                                   f"History, got {type(graph).__name__}")
    _split_big_scopes(f.versions)
    return {"title": title, "rankdir": rankdir, "classes": CLASSES,
            "marks": {k: list(v) for k, v in MARKS.items()}, "nodes": f.versions,
            "frames": f.frames, "initial": len(f.frames) - 1, "provenance": provenance,
            "numbers": _check_numbers(numbers, names)}


def _script_json(data: Any) -> str:
    # NOTE: inside <script>, "</" would end the element and "<!--" open a comment: every "<"
    # (only ever inside a JSON string) is written as its escape
    return json.dumps(data, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


def html(graph: Any, path: str | os.PathLike[str] | None = None, *,
         numbers: Mapping[str, Mapping[str, float]] | None = None, rankdir: str = "TB") -> str:
    """The interactive viewer of ``graph`` (a Graph, a CompiledGraph with its pass filmstrip,
    or a pass History) as one self-contained HTML file written to ``path``; returns the path,
    or the HTML text itself when ``path`` is None.  ``numbers`` maps node names to
    ``{"time": seconds, "bytes": n}`` for the numbers overlay; ``rankdir``: ``"TB"`` or ``"LR"``.

    >>> import graphexec as gx
    >>> with gx.graph() as g:
    ...     y = gx.exp(gx.placeholder((2,), name="x")) * 1.0
    >>> text = gx.viz.html(g.compile(y))
    >>> text.startswith("<!doctype html>"), "dagre" in text, "http://" in text.split("<script")[0]
    (True, True, False)
    """
    data = viewer_data(graph, numbers, rankdir)
    page = "\n".join([
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_html.escape(data['title'])} · graphexec viewer</title>",
        f"<style>{(ASSETS / 'viewer.css').read_text()}</style></head><body>",
        '<div id="gx-app"></div>',
        f"<script>{(ASSETS / 'dagre.min.js').read_text()}</script>",
        f'<script type="application/json" id="gx-data">{_script_json(data)}</script>',
        f"<script>{(ASSETS / 'viewer.js').read_text()}</script>",
        "</body></html>", ""])
    if path is None:
        return page
    path = os.fspath(path)
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path


def show(graph: Any, path: str | os.PathLike[str] | None = None, **options: Any) -> str:
    """Open the viewer of ``graph`` in the web browser (a file in the temporary directory
    unless ``path`` is given); returns the file's path.  ``options`` go to ``html``."""
    if path is None:
        fd, path = tempfile.mkstemp(prefix="graphexec-", suffix=".html")
        os.close(fd)
    html(graph, path, **options)
    webbrowser.open(pathlib.Path(path).resolve().as_uri())
    return os.fspath(path)


#: the most nodes Jupyter embeds the viewer for (a larger graph: ``show()`` or ``html(g, path)``)
REPR_HTML_MAX_NODES = 5000


def _repr_html_(self: Any) -> str | None:
    """Jupyter's viewer, in an iframe: of a Graph or CompiledGraph when its SVG picture cannot
    show (no ``dot``, or more than ``REPR_MAX_NODES`` nodes), and of a pass History always."""
    if not isinstance(self, History):
        ir = self.graph if isinstance(self, CompiledGraph) else self
        try:
            _graphviz()
            if len(ir) <= REPR_MAX_NODES:
                return None  # _repr_svg_ draws it
        except MissingExtraError:
            pass
    history = self.history if isinstance(self, CompiledGraph) else self
    if isinstance(history, History):  # the filmstrip holds its largest frame too
        size = max(len(history.nodes(0)), len(history.final))
    else:
        size = len(self)
    if size > REPR_HTML_MAX_NODES:
        return None
    return (f'<iframe srcdoc="{_html.escape(html(self))}" style="width:100%;height:600px;'
            'border:1px solid #ddd"></iframe>')


def _show(self: Any, path: str | os.PathLike[str] | None = None, **options: Any) -> str:
    """Open this graph in the interactive viewer (``gx.viz.show``); returns the file's path."""
    return show(self, path, **options)


for _cls in (Graph, CompiledGraph, History):
    setattr(_cls, "show", _show)  # noqa: B010
    setattr(_cls, "_repr_html_", _repr_html_)  # noqa: B010
