"""Saving and loading: a ``Program`` (a graph that stands alone, called by its inputs' names),
graphexec's own graph files (``gx.save`` / ``gx.load``: JSON and safetensors, no pickle) and
checkpoints of models, optimizers and Variables (``gx.save_checkpoint`` /
``gx.restore_checkpoint``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import tree
from .compiler import CompiledGraph
from .errors import FeedError
from .graph import Graph
from .ir import Ref
from .ops.state import Variable
from .tensor import Tensor

__all__ = ["Program"]


class Program:
    """A graph that stands alone: named inputs (placeholders), fixed outputs, and the
    Variables it reads, with no Python code of the model that built it.  ``gx.load`` and
    ``gx.onnx.load`` return one.  Call it with the inputs' values positionally (in ``inputs``
    order), as keyword arguments or as one dict; ``run`` takes an optimization level and a
    device too.  ``graph`` is an ordinary ``gx.Graph``: optimize it, draw it, run it.

    >>> import numpy as np, graphexec as gx
    >>> from graphexec.io import Program
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((None, 2), "float64", name="x")
    ...     y = gx.exp(x) * 2.0
    >>> p = Program(g, ["x"], [(y.name, 0)])
    >>> p
    <Program g...: inputs (x: f64[?,2]) -> 1 output(s), 4 nodes>
    >>> p(np.zeros((1, 2))), p(x=np.zeros((1, 2)))[0].shape
    ([array([[2., 2.]])], (1, 2))
    """

    def __init__(self, graph: Graph, inputs: Sequence[str] | Mapping[str, str],
                 outputs: Sequence[Ref], treedef: tree.TreeDef | None = None, *,
                 kind: str = "graph", level: int | None = None) -> None:
        #: the graph (a ``gx.Graph``)
        self.graph = graph
        #: input name -> its placeholder node, in call order
        self.inputs: dict[str, str] = (dict(inputs) if isinstance(inputs, Mapping)
                                       else {n: n for n in inputs})
        #: the ``(node, output)`` pairs computed, in order
        self.outputs: list[Ref] = list(outputs)
        #: the structure of the results (a list of the outputs unless given)
        self.treedef = (tree.flatten([0] * len(self.outputs))[1] if treedef is None
                        else treedef)
        #: what was saved: ``"graph"``, ``"compiled"``, ``"function"`` or ``"onnx"``; a
        #: function's results are tensors, the others' arrays
        self.kind = kind
        #: the optimization level calls run at (None: ``gx.config.default_level()``)
        self.level = level

    @property
    def input_specs(self) -> dict[str, Any]:
        """Each input's spec (shape and dtype), by name."""
        return {name: self.graph.spec((node, 0)) for name, node in self.inputs.items()}

    @property
    def variables(self) -> list[Variable]:
        """The Variables the graph reads or assigns, in node order (a loaded file's own)."""
        seen: dict[int, Variable] = {}
        for _, d in self.graph.nx.nodes(data=True):
            v = d["attrs"].get("var")
            if isinstance(v, Variable):
                seen.setdefault(id(v), v)
        return list(seen.values())

    def _feeds(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        names = list(self.inputs)
        if len(args) == 1 and isinstance(args[0], Mapping) and not kwargs:
            given = dict(args[0])
        else:
            if len(args) > len(names):
                raise FeedError(f"{self.graph.name}: {len(args)} positional inputs given; it "
                                f"takes {len(names)} ({', '.join(names) or 'none'})")
            given = dict(zip(names, args, strict=False))
            for k, v in kwargs.items():
                if k in given:
                    raise FeedError(f"{self.graph.name}: input {k!r} given twice")
                given[k] = v
        feeds = {}
        for k, v in given.items():
            node = self.inputs.get(k)
            if node is None:
                raise FeedError(f"{self.graph.name}: no input named {k!r}; its inputs are "
                                f"{', '.join(names) or 'none'}")
            feeds[node] = v
        missing = [n for n in names if n not in given]
        if missing:
            specs = self.input_specs
            raise FeedError(f"{self.graph.name}: no value for input(s) "
                            + ", ".join(f"{n} ({specs[n]!r})" for n in missing))
        return feeds

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.run(self._feeds(args, kwargs))

    def run(self, feeds: Mapping[str, Any] | None = None, *, optimize: int | None = None,
            device: Any = None) -> Any:
        """The outputs for ``feeds`` (placeholder node names -> values), at ``optimize``
        (default: the level it was saved with, else ``gx.config.default_level()``), on
        ``device``."""
        level = self.level if optimize is None else optimize
        values = self.graph.run(list(self.outputs), feeds, optimize=level, device=device)
        if self.kind == "function":
            values = [Tensor(v) for v in values]
        return self.treedef.unflatten(list(values))

    def compile(self, *, optimize: int | None = None, device: Any = None) -> CompiledGraph:
        """The graph compiled for the outputs (see ``Graph.compile``)."""
        level = self.level if optimize is None else optimize
        return self.graph.compile(list(self.outputs), optimize=level, device=device)

    def __repr__(self) -> str:
        ins = ", ".join(f"{n}: {s!r}" for n, s in self.input_specs.items())
        return (f"<Program {self.graph.name}: inputs ({ins}) -> {len(self.outputs)} "
                f"output(s), {len(self.graph)} nodes>")


