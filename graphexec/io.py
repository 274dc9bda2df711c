"""Saving and loading: a ``Program`` (a graph that stands alone, called by its inputs' names),
graphexec's own graph files (``gx.save`` / ``gx.load``: JSON and safetensors, no pickle) and
checkpoints of models, optimizers and Variables (``gx.save_checkpoint`` /
``gx.restore_checkpoint``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from . import tree, weights
from .compiler import CompiledGraph
from .control import Branch
from .device import device as on_device
from .errors import FeedError, FormatError, InvalidArgumentError
from .function import Function
from .fusion import FusedProgram, Member
from .graph import Graph, SubGraph
from .ir import Ref, is_ref, needed_nodes
from .layers import Layer, assign_variables, check_variables
from .ops.state import Variable, constant_p, placeholder_p, read_variable_p
from .optimizers import Optimizer
from .registry import REGISTRY, OpDef, Spec
from .tensor import Tensor

__all__ = ["Program", "save", "load", "save_checkpoint", "restore_checkpoint", "as_program",
           "FORMAT_VERSION"]

#: the version of the files gx.save and gx.save_checkpoint write: a file of another major
#: version is refused, one of a newer minor version read with a warning
FORMAT_VERSION = (1, 0)
#: what a Program may hold: a graph with fetches, a compiled graph, a function's trace, an
#: ONNX model
KINDS = ("graph", "compiled", "function", "onnx")


class _Value:
    """A result of a Program that is not computed: a value its function returned as it was."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class Program:
    """A graph that stands alone: named inputs (placeholders), fixed outputs, and the
    Variables it reads, with no Python code of the model that built it.  ``gx.load`` and
    ``gx.onnx.load`` return one.  Call it with the inputs' values positionally (in ``inputs``
    order), as keyword arguments or as one dict; a saved function takes its arguments
    positionally, as it did (lists and dicts of tensors are read in order, leaf by leaf).
    ``run`` takes an optimization level and a device too.  ``graph`` is an ordinary
    ``gx.Graph``: optimize it, draw it, run it.

    >>> import numpy as np, graphexec as gx
    >>> from graphexec.io import Program
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((None, 2), "float64", name="x")
    ...     y = gx.exp(x) * 2.0
    >>> p = Program(g, ["x"], [(y.name, 0)])
    >>> p
    <Program g...: inputs (x: f64[?,2]) -> 1 result(s), 4 nodes>
    >>> p(np.zeros((1, 2))), p(x=np.zeros((1, 2)))[0].shape
    ([array([[2., 2.]])], (1, 2))
    """

    def __init__(self, graph: Graph, inputs: Sequence[str] | Mapping[str, str],
                 outputs: Sequence[Ref], treedef: tree.TreeDef | None = None, *,
                 kind: str = "graph", level: int | None = None,
                 results: Sequence[int | _Value] | None = None, device: Any = None) -> None:
        #: the graph (a ``gx.Graph``)
        self.graph = graph
        #: input name -> its placeholder node, in call order
        self.inputs: dict[str, str] = (dict(inputs) if isinstance(inputs, Mapping)
                                       else {n: n for n in inputs})
        #: the ``(node, output)`` pairs computed, in order
        self.outputs: list[Ref] = list(outputs)
        #: each result: the index of an output, or a value known when it was saved (a
        #: function's constant result); outputs no result names still run (assignments)
        self.results: list[int | _Value] = (list(range(len(self.outputs))) if results is None
                                            else list(results))
        #: the structure of the results (a list unless given)
        self.treedef = (tree.flatten([0] * len(self.results))[1] if treedef is None
                        else treedef)
        #: what was saved: ``"graph"``, ``"compiled"``, ``"function"`` or ``"onnx"``; a
        #: function's results are tensors, the others' arrays
        self.kind = kind
        #: the optimization level calls run at (None: ``gx.config.default_level()``)
        self.level = level
        #: where calls run unless ``run`` says otherwise (``gx.load``'s device: where its
        #: Variables are; None: the host)
        self.device = device

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
        if self.kind == "function":  # NOTE: its arguments, lists and dicts of them flattened
            args = tuple(tree.leaves(list(args)))
        if (len(args) == 1 and isinstance(args[0], Mapping) and not kwargs
                and self.kind != "function"):
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
        return self._run(self._feeds(args, kwargs), None, None)

    def run(self, feeds: Mapping[str, Any] | None = None, *, optimize: int | None = None,
            device: Any = None) -> Any:
        """The results for ``feeds`` (input names, or placeholder nodes, -> values), at
        ``optimize`` (default: the level it was saved with, else
        ``gx.config.default_level()``), on ``device`` (default: where it was loaded)."""
        return self._run({self.inputs.get(k, k): v for k, v in (feeds or {}).items()},
                         optimize, device)

    def _run(self, feeds: Mapping[str, Any], optimize: int | None, device: Any) -> Any:
        level = self.level if optimize is None else optimize
        device = self.device if device is None else device
        values = (self.graph.run(list(self.outputs), feeds, optimize=level, device=device)
                  if self.outputs else [])
        if self.kind == "function":
            values = [Tensor(v) for v in values]
        return self.treedef.unflatten(values[r] if isinstance(r, int) else r.value
                                      for r in self.results)

    def compile(self, *, optimize: int | None = None, device: Any = None) -> CompiledGraph:
        """The graph compiled for the outputs (see ``Graph.compile``)."""
        level = self.level if optimize is None else optimize
        device = self.device if device is None else device
        return self.graph.compile(list(self.outputs), optimize=level, device=device)

    def __repr__(self) -> str:
        ins = ", ".join(f"{n}: {s!r}" for n, s in self.input_specs.items())
        return (f"<Program {self.graph.name}: inputs ({ins}) -> {len(self.results)} "
                f"result(s), {len(self.graph)} nodes>")


# ---------------------------------------------------------------------------------------------
# checkpoints: models, optimizers and Variables by structural name

_CHECKPOINT = "graphexec.checkpoint"


def save_checkpoint(path: str | os.PathLike[str], *, metadata: Mapping[str, Any] | None = None,
                    **objects: Any) -> None:
    """Save the state of ``objects`` — models (layers), optimizers, Variables, or dicts of
    Variables, each under its keyword — to the safetensors file ``path``, by structural
    name (``model.layers.0.kernel``, ``optimizer.iterations``,
    ``optimizer.slots.model.layers.0.kernel.momentum``), so a freshly built model and
    optimizer restore it.  ``metadata`` (JSON-able: the epoch, say) is stored beside it and
    returned by ``restore_checkpoint``.

    >>> import numpy as np, pathlib, tempfile, graphexec as gx
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "ckpt.safetensors"
    >>> def make():
    ...     model = gx.layers.Sequential([gx.layers.Dense(2)])
    ...     _ = model(np.ones((1, 3), "float32"))
    ...     return model, gx.optimizers.Adam(0.1)
    >>> model, opt = make()
    >>> with gx.GradientTape() as tape:
    ...     loss = gx.sum(model(np.ones((4, 3), "float32")) ** 2)
    >>> _ = opt.apply(tape.gradient(loss, model.variables), model.variables)
    >>> gx.save_checkpoint(path, model=model, optimizer=opt, metadata={"epoch": 1})
    >>> model2, opt2 = make()
    >>> gx.restore_checkpoint(path, model=model2, optimizer=opt2)
    {'epoch': 1}
    >>> int(opt2.iterations.numpy()), bool((model2.variables[0].numpy()
    ...                                     == model.variables[0].numpy()).all())
    (1, True)
    """
    named = _checkpoint_names(objects, "save_checkpoint")
    try:
        user = json.dumps(dict(metadata or {}), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(f"save_checkpoint: metadata must be JSON-able: {e}") from None
    kinds = {k: type(v).__name__ for k, v in objects.items()}
    weights.save_file({k: v.numpy() for k, v in named.items()}, path, {
        "format": _CHECKPOINT, "format_version": _version_text(), "objects": json.dumps(kinds),
        "metadata": user})


def restore_checkpoint(path: str | os.PathLike[str], *, strict: bool = True,
                       **objects: Any) -> dict[str, Any]:
    """Set the state of ``objects`` (as passed to ``save_checkpoint``, under the same
    keywords) from the checkpoint ``path``; returns the checkpoint's ``metadata``.  An
    optimizer gets the slots the checkpoint holds for its variables.  Every name must be in
    the file with its shape and dtype and (``strict``) every tensor of the file must belong to
    one of ``objects``; otherwise nothing is set and the error names each mismatch."""
    tensors, meta = weights.load_file(path, checksum=True)
    where = f"restore_checkpoint({str(path)!r})"
    _check_format(meta, _CHECKPOINT, where)
    try:
        user = json.loads(meta.get("metadata", "{}"))
    except (ValueError, RecursionError):
        user = None
    if not isinstance(user, dict):
        raise FormatError(f"{where}: its metadata is not a JSON object")
    # NOTE: the slots the file holds for variables an optimizer has none for yet are checked
    # as the variables they would copy, and made only once everything has been checked
    owners = _checkpoint_names({k: v for k, v in objects.items()
                                if not isinstance(v, Optimizer)}, where)
    expect: dict[str, Any] = dict(_checkpoint_names(objects, where))
    pending: list[tuple[Optimizer, Variable]] = []
    for key, opt in objects.items():
        if not isinstance(opt, Optimizer):
            continue
        prefix, have = f"{key}.slots.", {id(v) for v in opt.slotted_variables}
        for vname in dict.fromkeys(n[len(prefix):].rsplit(".", 1)[0] for n in tensors
                                   if n.startswith(prefix)):
            var = owners.get(vname)
            if var is not None and id(var) not in have:
                pending.append((opt, var))
                expect.update({f"{prefix}{vname}.{s}": var for s in opt.slot_names})
    check_variables(expect, tensors, where, strict)
    for opt, var in pending:
        opt.build([var])
    assign_variables(_checkpoint_names(objects, where), tensors, where, strict)
    return user


def _checkpoint_names(objects: Mapping[str, Any], where: str) -> dict[str, Variable]:
    named: dict[str, Variable] = {}
    owner: dict[int, str] = {}

    def add(name: str, v: Any) -> None:
        if not isinstance(v, Variable):
            raise InvalidArgumentError(f"{where}: {name} is a {type(v).__name__}, not a "
                                       "Variable")
        if id(v) not in owner:
            named[name] = v
            owner[id(v)] = name

    for key, obj in objects.items():
        if isinstance(obj, Layer):
            for k, v in obj._built_variables(where).items():
                add(f"{key}.{k}", v)
        elif isinstance(obj, Mapping):
            for k, v in obj.items():
                add(f"{key}.{k}", v)
        elif isinstance(obj, Variable):
            add(key, obj)
        elif not isinstance(obj, Optimizer):
            raise InvalidArgumentError(f"{where}: {key} is a {type(obj).__name__}; a checkpoint "
                                       "holds layers, optimizers, Variables and dicts of them")
    for key, obj in objects.items():
        if isinstance(obj, Optimizer):
            add(f"{key}.iterations", obj.iterations)
            if isinstance(obj.learning_rate, Variable):
                add(f"{key}.learning_rate", obj.learning_rate)
            for var in obj.slotted_variables:
                vname = owner.get(id(var))
                if vname is None:
                    raise InvalidArgumentError(
                        f"{where}: optimizer {key} has slots for variable {var.name!r}, which "
                        "none of the other objects holds: pass its model (or it) too")
                for s in obj.slot_names:
                    add(f"{key}.slots.{vname}.{s}", obj.get_slot(var, s))
    return named


def _version_text() -> str:
    return ".".join(map(str, FORMAT_VERSION))


def _check_format(meta: Mapping[str, str], want: str, where: str) -> None:
    """The file's ``format`` must be ``want`` and its major version known; a newer minor
    version is read (what it adds is ignored) unless it says otherwise."""
    got = meta.get("format")
    if got != want:
        raise FormatError(f"{where}: not a {want} file (its format is {str(got)[:60]!r})")
    text = meta.get("format_version", "")
    if not re.fullmatch(r"[0-9]{1,5}\.[0-9]{1,5}", text):
        raise FormatError(f"{where}: format_version {text[:40]!r} is not major.minor")
    major, minor = map(int, text.split("."))
    if major != FORMAT_VERSION[0]:
        raise FormatError(f"{where}: format version {major}.{minor}; this graphexec reads "
                          f"version {FORMAT_VERSION[0]} files: "
                          + ("upgrade graphexec" if major > FORMAT_VERSION[0]
                             else "save it again with the graphexec that wrote it"))
    if minor > FORMAT_VERSION[1]:
        warnings.warn(f"{where}: format version {major}.{minor} is newer than this graphexec's "
                      f"{_version_text()}: reading it as {_version_text()} (what it needs "
                      "beyond that fails with a FormatError; upgrade graphexec to be sure)",
                      UserWarning, stacklevel=3)


# ---------------------------------------------------------------------------------------------
# graph files: gx.save / gx.load

_PROGRAM = "graphexec.program"
#: the limits a graph file is held to while it is read (a larger file is refused, not read)
MAX_NODES = 2_000_000
MAX_ATTR_ITEMS = 1_000_000


def save(obj: Any, path: str | os.PathLike[str], *args: Any, fetches: Any = None,
         **kwargs: Any) -> None:
    """Save a graph that runs without the Python code that built it: one safetensors file
    holding the JSON description (nodes, ops, attributes, specs, names, locations,
    subgraphs, control dependencies; ``format_version`` major.minor) and the constants' and
    Variables' values.  No pickle: loading never runs code from the file.

    ``obj`` is a ``gx.Graph`` (with ``fetches``; default: every output no node reads), a
    compiled graph (``Graph.compile``: its optimized graph, fused nodes and all), a
    ``gx.function`` (the trace for ``args`` and ``kwargs``, or its only trace, or its input
    signature's; called positionally after loading, its assignments run on every call) or a
    ``Program``.  ``gx.load`` reads it.

    >>> import numpy as np, pathlib, tempfile, graphexec as gx
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "affine.gx"
    >>> w = gx.Variable(np.full((2, 2), 0.5, "float32"), name="w")
    >>> @gx.function
    ... def affine(x):
    ...     return gx.nn.relu(x @ w + 1.0)
    >>> x = np.ones((3, 2), "float32")
    >>> gx.save(affine, path, x)
    >>> loaded = gx.load(path)
    >>> loaded
    <Program affine_0: inputs (x: f32[3,2]) -> 1 result(s), 6 nodes>
    >>> loaded(x).numpy()
    array([[2., 2.],
           [2., 2.],
           [2., 2.]], dtype=float32)
    """
    program = as_program(obj, args, fetches, kwargs)
    tensors: dict[str, np.ndarray] = {}
    enc = _Encoder(tensors)
    body = {"format_version": list(FORMAT_VERSION), "kind": program.kind,
            "level": program.level,
            "graph": enc.graph(program.graph),
            "inputs": [[k, v] for k, v in program.inputs.items()],
            "outputs": [list(r) for r in program.outputs],
            "results": [r if isinstance(r, int) else {"value": enc.attr(r.value)}
                        for r in program.results],
            "treedef": enc.treedef(program.treedef),
            "variables": enc.variables()}
    weights.save_file(tensors, path, {"format": _PROGRAM, "format_version": _version_text(),
                                      "program": json.dumps(body, separators=(",", ":"),
                                                            allow_nan=False)})


def load(path: str | os.PathLike[str], *, device: Any = None) -> Program:
    """The ``Program`` saved in ``path`` by ``gx.save``, with Variables of its own (made on
    ``device``, default the host).  A file that is corrupt, truncated, of an unknown format
    version or asking for more than it holds is a FormatError; nothing in it is run.

    >>> import numpy as np, pathlib, tempfile, graphexec as gx
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "double.gx"
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((None,), "float64", name="x")
    ...     y = x * 2.0
    >>> gx.save(g, path, fetches={"y": y})
    >>> gx.load(path)(x=[1.0, 2.0])
    {'y': array([2., 4.])}
    """
    tensors, meta = weights.load_file(path, checksum=True)
    where = f"load({str(path)!r})"
    _check_format(meta, _PROGRAM, where)
    try:
        body = json.loads(meta.get("program", ""))
        with _device_block(device):
            program = _Decoder(tensors, where).program(body, meta["format_version"])
    except FormatError:
        raise
    except Exception as e:  # NOTE: whatever the checks missed is still the file's fault
        raise FormatError(f"{where}: the program is not well-formed: {type(e).__name__}: "
                          f"{str(e)[:200]}") from None
    program.device = device
    return program


def as_program(obj: Any, args: Sequence[Any] = (), fetches: Any = None,
               kwargs: Mapping[str, Any] | None = None) -> Program:
    """``obj`` as a Program: what ``save`` writes and ``gx.onnx.export`` exports (see
    ``save`` for what ``obj``, ``args`` and ``fetches`` may be).

    >>> import graphexec as gx
    >>> from graphexec.io import as_program
    >>> f = gx.function(lambda x: x * 2.0, input_signature=[gx.TensorSpec((None,))])
    >>> as_program(f)
    <Program <lambda>_0: inputs (x: f32[?]) -> 1 result(s), 3 nodes>
    """
    if isinstance(obj, Program):
        return obj
    if isinstance(obj, CompiledGraph):
        g = obj.graph
        ins = [n for n in obj.plan.placeholders if n in g.nx]  # NOTE: not the pruned ones
        return Program(g, ins, obj.fetches, obj._treedef, kind="compiled", level=0)
    if isinstance(obj, Function):
        trace = obj._trace_for(tuple(args), dict(kwargs or {}))
        results = [v if kind == "fetch" else _Value(v) for kind, v in trace.recipe[1]]
        return Program(trace.graph, [p._node for p in trace.placeholders],
                       [(t._node, t._index) for t in trace.fetches], trace.recipe[0],
                       kind="function", level=trace.level, results=results)
    if isinstance(obj, Graph):
        if fetches is None:  # NOTE: what nobody reads is what the graph computes for the user
            read = {src for _, d in obj.nx.nodes(data=True) for src, _ in d["inputs"]}
            fetches = [(n, i) for n, d in obj.nx.nodes(data=True)
                       if n not in read and d["op"].kind != "source"
                       for i in range(len(d["specs"]))]
        flat, treedef = tree.flatten(fetches, is_leaf=is_ref)
        # NOTE: fetching a Variable adds a read node: to a copy, so the user's graph stays
        into = _copy(obj) if any(isinstance(t, Variable) for t in flat) else obj
        refs = [(into if isinstance(t, Variable) else obj)._fetch_ref(t) for t in flat]
        obj = into
        needed = needed_nodes(obj, [n for n, _ in refs])
        return Program(obj, [n for n in obj.placeholders if n in needed], refs, treedef)
    raise InvalidArgumentError(f"save: cannot save a {type(obj).__name__}; save a gx.Graph, a "
                               "compiled graph, a gx.function or a Program")


def _copy(g: Graph) -> Graph:
    out = Graph(name=g.name)
    out.nx = g.nx.copy()
    out._names = Counter(g._names)
    out.gradient_nodes = set(g.gradient_nodes)
    out.plan_memory = g.plan_memory
    return out


def _device_block(device: Any) -> contextlib.AbstractContextManager[Any]:
    return contextlib.nullcontext() if device is None else on_device(device)


class _Encoder:
    """Graphs and attributes as JSON, arrays as named tensors: every value a tagged object
    (``{"tuple": [...]}``, ``{"array": "c3"}``, ``{"op": "exp"}``...), so reading one back
    needs no code from the file."""

    def __init__(self, tensors: dict[str, np.ndarray]) -> None:
        self.tensors = tensors
        self._vars: dict[int, tuple[int, Variable]] = {}

    def array(self, a: Any) -> str:
        key = f"c{len(self.tensors)}"
        self.tensors[key] = np.array(a)
        return key

    def variables(self) -> list[dict[str, Any]]:
        out = []
        for i, var in self._vars.values():
            key = f"v{i}"
            self.tensors[key] = var.numpy()
            out.append({"name": var.var_name, "tensor": key, "trainable": var.trainable})
        return out

    def spec(self, s: Spec) -> list[Any]:
        return [list(s.shape), s.dtype.str]

    def treedef(self, t: tree.TreeDef) -> Any:
        if t.kind == "leaf":
            return None
        children = [self.treedef(c) for c in t.children]
        if t.kind == "dict":
            if t.meta[0] is not dict or not all(isinstance(k, str | int) for k in t.meta[1]):
                raise InvalidArgumentError(f"save: a result dict must be a plain dict with "
                                           f"str or int keys, got {t!r}")
            return {"dict": [[self.attr(k), c] for k, c in zip(t.meta[1], children,
                                                                strict=True)]}
        # NOTE: a named tuple's class is code: it comes back as a plain tuple
        return {"list" if t.kind == "list" else "tuple": children}

    def graph(self, g: Graph) -> dict[str, Any]:
        nodes = []
        for n in g.topological_order():
            d = g.nx.nodes[n]
            nodes.append({"name": n, "op": d["op"].name,
                          "inputs": [[s, i] for s, i in d["inputs"]],
                          "control": list(d["control"]),
                          "attrs": {k: self.attr(v, f"{n}.{k}") for k, v in d["attrs"].items()},
                          "specs": [self.spec(s) for s in d["specs"]], "loc": d["loc"]})
        return {"name": g.name, "nodes": nodes, "plan_memory": g.plan_memory,
                "gradient_nodes": sorted(g.gradient_nodes & set(g.nx))}

    def attr(self, v: Any, where: str = "") -> Any:
        if v is None or isinstance(v, bool | str):
            return v
        if isinstance(v, int):
            return v
        if isinstance(v, float):
            return v if np.isfinite(v) else {"float": repr(v)}
        if isinstance(v, Variable):
            hit = self._vars.setdefault(id(v), (len(self._vars), v))
            return {"variable": hit[0]}
        if isinstance(v, np.ndarray | np.generic):
            if v.dtype.kind not in "biufc":
                raise InvalidArgumentError(f"save: {where} is an array of dtype {v.dtype}")
            return {"array": self.array(v), "scalar": isinstance(v, np.generic)}
        if isinstance(v, np.dtype):
            return {"dtype": v.str}
        if isinstance(v, type) and issubclass(v, np.generic):
            return {"dtype_type": np.dtype(v).str}
        if isinstance(v, OpDef):
            return {"op": v.name}
        if isinstance(v, Spec):
            return {"spec": self.spec(v)}
        if isinstance(v, Member):
            return {"member": [v.name, v.op.name if isinstance(v.op, OpDef) else v.op,
                               self.attr(v.operands), self.spec(v.spec), self.attr(v.attrs),
                               v.loc]}
        if isinstance(v, tuple | list):
            return {"tuple" if isinstance(v, tuple) else "list": [self.attr(x, where)
                                                                 for x in v]}
        if isinstance(v, dict):
            return {"dict": [[self.attr(k, where), self.attr(x, where)] for k, x in v.items()]}
        if isinstance(v, FusedProgram):
            return {"fused": [[self.spec(s) for s in v.inputs],
                              [self.attr(m, where) for m in v.members],
                              [self.array(x) for x in v.literals]]}
        if isinstance(v, Branch):
            return {"branch": {"name": v.name, "graph": self.graph(v.graph),
                               "params": v.params, "feed": v.feed,
                               "outputs": [list(r) for r in v.outputs],
                               "treedef": self.treedef(v.treedef)}}
        raise InvalidArgumentError(f"save: {where or 'a value'} is a {type(v).__name__}, which "
                                   "a graph file cannot hold (it holds numbers, strings, "
                                   "arrays, dtypes, ops and the containers of them)")


_DTYPES = {np.dtype(t).str: np.dtype(t) for t in (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128")}


class _Decoder:
    """The reverse of ``_Encoder``, trusting nothing: each value must have the form its tag
    says, each op must be registered, each node's inputs must come before it (so no cycle
    can be written), and each node's specs must be what its op's infer rule gives."""

    def __init__(self, tensors: dict[str, np.ndarray], where: str) -> None:
        self.tensors = tensors
        self.where = where
        self.vars: list[Variable] = []
        self.items = 0  # values decoded: bounded, so a file cannot ask for endless work

    def fail(self, what: str) -> FormatError:
        return FormatError(f"{self.where}: {what}")

    def program(self, body: Any, version: str) -> Program:
        body = self.obj(body, {"format_version", "kind", "level", "graph", "inputs", "outputs",
                               "results", "treedef", "variables"}, "the program")
        if body["format_version"] != [int(v) for v in version.split(".")]:
            raise self.fail(f"the description's format_version {str(body['format_version'])[:40]}"
                            f" is not the file's {version}")
        kind = body["kind"]
        if kind not in KINDS:
            raise self.fail(f"unknown program kind {str(kind)[:40]!r}")
        level = body["level"]
        if level is not None and (not _is_int(level) or not 0 <= level <= 3):
            raise self.fail(f"level {str(level)[:20]} is not 0-3")
        taken: set[str] = set()
        for v in self.seq(body["variables"], "variables"):
            v = self.obj(v, {"name", "tensor", "trainable"}, "a variable")
            arr = self.tensor(v["tensor"])
            if v["tensor"] in taken:  # NOTE: each Variable copies its tensor: once each
                raise self.fail(f"tensor {v['tensor']!r} is the value of two variables")
            taken.add(v["tensor"])
            var = Variable(np.array(arr), name=self.text(v["name"], "a variable's name"),
                           trainable=bool(v["trainable"]))
            var.var_name = v["name"]  # NOTE: as saved, not under the caller's name scopes
            self.vars.append(var)
        g = self.graph(body["graph"], Graph)
        inputs = {}
        for pair in self.seq(body["inputs"], "inputs"):
            name, node = self.pair(pair, "an input")
            if node not in g.nx or g.nx.nodes[node]["op"] is not placeholder_p:
                raise self.fail(f"input {str(name)[:60]!r} is no placeholder of the graph")
            inputs[self.text(name, "an input name")] = node
        outputs = [self.ref(g, r, "an output") for r in self.seq(body["outputs"], "outputs")]
        results: list[int | _Value] = []
        for r in self.seq(body["results"], "results"):
            if _is_int(r) and 0 <= r < len(outputs):
                results.append(r)
            else:
                results.append(_Value(self.attr(self.obj(r, {"value"}, "a result")["value"])))
        treedef = self.treedef(body["treedef"])
        if treedef.num_leaves != len(results):
            raise self.fail(f"the result structure has {treedef.num_leaves} leaves for "
                            f"{len(results)} results")
        return Program(g, inputs, outputs, treedef, kind=kind, level=level, results=results)

    # -- the parts ------------------------------------------------------------------------
    def count(self, n: int = 1) -> None:
        self.items += n
        if self.items > MAX_ATTR_ITEMS + MAX_NODES:
            raise self.fail(f"more than {MAX_ATTR_ITEMS + MAX_NODES} values: not read")

    def obj(self, v: Any, keys: set[str], what: str) -> dict[str, Any]:
        if not isinstance(v, dict) or set(v) != keys:
            raise self.fail(f"{what} must be an object with keys {sorted(keys)}, got "
                            f"{str(v)[:120]}")
        return v

    def seq(self, v: Any, what: str) -> list[Any]:
        if not isinstance(v, list):
            raise self.fail(f"{what} must be a list, got {str(v)[:120]}")
        self.count(len(v))
        return v

    def text(self, v: Any, what: str) -> str:
        if not isinstance(v, str):
            raise self.fail(f"{what} must be a string, got {str(v)[:120]}")
        return v

    def pair(self, v: Any, what: str) -> tuple[Any, Any]:
        if not isinstance(v, list) or len(v) != 2:
            raise self.fail(f"{what} must be a pair, got {str(v)[:120]}")
        return v[0], v[1]

    def tensor(self, key: Any) -> np.ndarray:
        arr = self.tensors.get(key) if isinstance(key, str) else None
        if arr is None:
            raise self.fail(f"names tensor {str(key)[:60]!r}, which the file does not hold")
        return arr

    def dtype(self, v: Any) -> np.dtype:
        dt = _DTYPES.get(v) if isinstance(v, str) else None
        if dt is None:
            raise self.fail(f"dtype {str(v)[:40]!r} is not one graphexec computes in")
        return dt

    def spec(self, v: Any) -> Spec:
        shape, dtype = self.pair(v, "a spec")
        if not isinstance(shape, list) or not all(d is None or (_is_int(d) and d >= 0)
                                                  for d in shape):
            raise self.fail(f"shape {str(shape)[:80]} is not a list of sizes")
        self.count(len(shape))
        return Spec(tuple(shape), self.dtype(dtype))

    def ref(self, g: Graph, v: Any, what: str) -> Ref:
        node, i = self.pair(v, what)
        if not isinstance(node, str) or node not in g.nx or not _is_int(i) or not (
                0 <= i < len(g.nx.nodes[node]["specs"])):
            raise self.fail(f"{what} {str(v)[:80]} names no output of graph {g.name}")
        return (node, i)

    def treedef(self, v: Any) -> tree.TreeDef:
        self.count()
        if v is None:
            return tree.flatten(0)[1]
        if isinstance(v, dict) and len(v) == 1:
            (tag, body), = v.items()
            if tag in ("list", "tuple") and isinstance(body, list):
                kids = tuple(self.treedef(c) for c in body)
                return tree.TreeDef(tag, list if tag == "list" else tuple, kids)
            if tag == "dict" and isinstance(body, list):
                pairs = [self.pair(p, "a dict entry") for p in body]
                keys = tuple(self.attr(k) for k, _ in pairs)
                if not all(isinstance(k, str | int) for k in keys):
                    raise self.fail("a result dict's keys must be strings or ints")
                return tree.TreeDef("dict", (dict, keys, None),
                                    tuple(self.treedef(c) for _, c in pairs))
        raise self.fail(f"result structure {str(v)[:80]} is not one")

    def graph(self, v: Any, cls: type[Graph], name: str | None = None) -> Any:
        v = self.obj(v, {"name", "nodes", "plan_memory", "gradient_nodes"}, "a graph")
        g = cls(name=self.text(v["name"], "a graph's name"))
        g.plan_memory = bool(v["plan_memory"])
        nodes = self.seq(v["nodes"], "a graph's nodes")
        if len(nodes) > MAX_NODES:
            raise self.fail(f"{len(nodes)} nodes: more than the {MAX_NODES} read")
        for d in nodes:
            self.node(g, d)
        g.gradient_nodes = {n for n in self.seq(v["gradient_nodes"], "gradient_nodes")
                            if isinstance(n, str) and n in g.nx}
        return g

    def node(self, g: Graph, d: Any) -> None:
        d = self.obj(d, {"name", "op", "inputs", "control", "attrs", "specs", "loc"}, "a node")
        name = self.text(d["name"], "a node's name")
        if not name or name in g.nx:
            raise self.fail(f"node name {name[:60]!r} is empty or used twice")
        op = REGISTRY.get(d["op"]) if isinstance(d["op"], str) else None
        if op is None:
            raise self.fail(f"node {name!r} has op {str(d['op'])[:60]!r}, which this graphexec "
                            "does not have")
        where = f"node {name!r} ({op.name})"
        inputs = [self.ref(g, r, f"{where}: input") for r in self.seq(d["inputs"], where)]
        control = self.seq(d["control"], where)
        if not all(isinstance(c, str) and c in g.nx for c in control):
            raise self.fail(f"{where}: a control input is not a node before it")
        attrs = self.obj(d["attrs"], set(d["attrs"]) if isinstance(d["attrs"], dict) else set(),
                         f"{where}: attrs")
        attrs = {self.text(k, "an attribute name"): self.attr(x) for k, x in attrs.items()}
        specs = tuple(self.spec(s) for s in self.seq(d["specs"], where))
        self.check_node(g, op, inputs, attrs, specs, where)
        g.add_node(op, inputs, attrs, specs, self.text(d["loc"], "a location"), name=name,
                   scoped=False, control=control)
        if g.nx.nodes[name]["inputs"] != tuple(inputs) or name not in g.nx:
            raise self.fail(f"{where}: could not be added as it was saved")

    def check_node(self, g: Graph, op: OpDef, inputs: list[Ref], attrs: dict[str, Any],
                   specs: tuple[Spec, ...], where: str) -> None:
        """The node's specs must be what its op makes of its inputs' specs and its attrs."""
        if op.arity is not None and len(inputs) != op.arity:
            raise self.fail(f"{where}: {len(inputs)} inputs; the op takes {op.arity}")
        if "var" in attrs and not isinstance(attrs["var"], Variable):
            raise self.fail(f"{where}: its var is a {type(attrs['var']).__name__}")
        if op is constant_p:
            value = attrs.get("value")
            want: Any = (None if not isinstance(value, np.ndarray) or set(attrs) != {"value"}
                         else (Spec(value.shape, value.dtype),))
        elif op is placeholder_p:
            shape = attrs.get("shape")
            ok = (set(attrs) == {"shape", "dtype"} and len(specs) == 1
                  and isinstance(shape, tuple | list)
                  and all(d is None or _is_int(d) for d in shape)
                  and tuple(shape) == specs[0].shape and isinstance(attrs["dtype"], np.dtype)
                  and attrs["dtype"] == specs[0].dtype)
            want = specs if ok else None
        elif op is read_variable_p:
            var = attrs.get("var")
            want = (None if not isinstance(var, Variable) or set(attrs) != {"var"} else
                    (Spec(var.shape, var.dtype),))
        elif op.kind == "source":
            want = specs if not attrs and specs == (Spec((0,), np.dtype("float32")),) else None
        else:
            try:  # NOTE: any failure of a rule on the file's data is the file's fault
                out = op.infer(*[g.spec(r) for r in inputs], **attrs)
            except Exception as e:
                raise self.fail(f"{where}: its op refuses its inputs and attributes: "
                                f"{type(e).__name__}: {str(e)[:200]}") from None
            want = (out,) if op.n_outputs == 1 else tuple(out)
            if not all(isinstance(w, Spec) and isinstance(w.dtype, np.dtype)
                       and isinstance(w.shape, tuple)
                       and all(d is None or _is_int(d) for d in w.shape) for w in want):
                want = None  # NOTE: a rule given attributes of the wrong kinds may say anything
        if want != specs:
            raise self.fail(f"{where}: the file says it gives {list(specs)}; its op gives "
                            f"{list(want) if want is not None else 'nothing (bad attributes)'}")

    def attr(self, v: Any) -> Any:
        self.count()
        if v is None or isinstance(v, bool | int | str | float):
            return v
        if isinstance(v, list) or not isinstance(v, dict) or not v:
            raise self.fail(f"value {str(v)[:80]} is not tagged")
        if "array" in v:
            v = self.obj(v, {"array", "scalar"}, "an array")
            arr = self.tensor(v["array"])
            if v["scalar"]:
                if arr.ndim != 0:
                    raise self.fail("a scalar is not 0-d")
                return arr[()]
            return arr  # NOTE: a read-only view of the file's bytes: never a copy
        if len(v) != 1:
            raise self.fail(f"value {str(v)[:80]} has more than one tag")
        (tag, body), = v.items()
        if tag == "float" and body in ("nan", "inf", "-inf"):
            return float(body)
        if tag == "variable":
            if not _is_int(body) or not 0 <= body < len(self.vars):
                raise self.fail(f"variable {str(body)[:20]} is not in the file")
            return self.vars[body]
        if tag == "dtype":
            return self.dtype(body)
        if tag == "dtype_type":
            return self.dtype(body).type
        if tag == "op":
            op = REGISTRY.get(body) if isinstance(body, str) else None
            if op is None:
                raise self.fail(f"op {str(body)[:60]!r} is not one this graphexec has")
            return op
        if tag == "spec":
            return self.spec(body)
        if tag in ("tuple", "list"):
            items = [self.attr(x) for x in self.seq(body, "a sequence")]
            return tuple(items) if tag == "tuple" else items
        if tag == "dict":
            pairs = [self.pair(p, "a dict entry") for p in self.seq(body, "a dict")]
            out_d = {}
            for k, x in pairs:
                key = self.attr(k)
                try:
                    hash(key)
                except TypeError:
                    raise self.fail(f"a dict key {str(k)[:40]} cannot be a key") from None
                if not isinstance(key, str | int | float | bool | tuple) or key is None:
                    raise self.fail(f"a dict key {str(k)[:40]} is not a number or a string")
                out_d[key] = self.attr(x)
            return out_d
        if tag == "member":
            parts = self.seq(body, "a fused member")
            if len(parts) != 6:
                raise self.fail("a fused member must have 6 parts")
            name, op, operands, spec, attrs, loc = parts
            return Member(self.text(name, "a member's name"), self.attr({"op": op}),
                          self.attr(operands), self.spec(spec), self.attr(attrs),
                          self.text(loc, "a location"))
        if tag == "fused":
            parts = self.seq(body, "a fused program")
            if len(parts) != 3:
                raise self.fail("a fused program must have 3 parts")
            specs = [self.spec(s) for s in self.seq(parts[0], "fused inputs")]
            members = [self.attr(m) for m in self.seq(parts[1], "fused members")]
            if not all(isinstance(m, Member) for m in members):
                raise self.fail("a fused program's members must be members")
            lits = [self.tensor(k) for k in self.seq(parts[2], "fused literals")]
            if not all(a.size == 1 for a in lits):
                raise self.fail("a fused program's literals must be single numbers")
            try:
                return FusedProgram(specs, members, lits)
            except Exception as e:  # NOTE: the program checks its members: the file's fault
                raise self.fail(f"a fused program does not hold together: "
                                f"{type(e).__name__}: {str(e)[:200]}") from None
        if tag == "branch":
            return self.branch(body)
        raise self.fail(f"unknown tag {str(tag)[:40]!r}")

    def branch(self, v: Any) -> Branch:
        v = self.obj(v, {"name", "graph", "params", "feed", "outputs", "treedef"}, "a branch")
        sub = self.graph(v["graph"], SubGraph)
        params = [self.text(p, "a parameter") for p in self.seq(v["params"], "params")]
        feed = self.seq(v["feed"], "feed")
        if len(feed) != len(params) or not all(_is_int(i) and i >= 0 for i in feed) or not all(
                p in sub.nx and sub.nx.nodes[p]["op"] is placeholder_p for p in params):
            raise self.fail("a branch's parameters are not its placeholders")
        outputs = [self.ref(sub, r, "a branch output") for r in self.seq(v["outputs"], "outs")]
        treedef = self.treedef(v["treedef"])
        if treedef.num_leaves != len(outputs):
            raise self.fail("a branch's output structure does not fit its outputs")
        return Branch(self.text(v["name"], "a branch's name"), sub, params, feed, outputs,
                      treedef)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)
