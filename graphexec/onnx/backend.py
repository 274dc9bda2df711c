"""graphexec as an ONNX backend (``onnx.backend.base.Backend``): ``prepare`` a model, then
``run`` it on inputs, in graph mode (imported with ``gx.onnx.load``, optimized at level
``optimize``) or eagerly (each node's converter on eager tensors).

Graph mode needs shapes, axes, pads and counts at import.  Where a model takes one of those
as a graph input (as ONNX's node tests do), the graph is specialized: that input's value is
bound as a constant and the model imported again, once per distinct value.  Inputs whose
values set an output's shape (``NonZero``, ``Compress``) cannot be bound that way: such
models run eagerly only.

>>> import numpy as np
>>> from onnx import helper, TensorProto
>>> from graphexec.onnx.backend import GraphexecBackend
>>> node = helper.make_node("Reshape", ["x", "shape"], ["y"])
>>> g = helper.make_graph([node], "r",
...     [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
...      helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 2])])
>>> rep = GraphexecBackend.prepare(helper.make_model(g), optimize=3)
>>> rep.run([np.zeros((2, 3), "float32"), np.array([3, 2])])[0].shape
(3, 2)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep

from ..errors import InvalidArgumentError
from ..io import Program
from .importer import evaluate, load
from .node import DynamicValueError

__all__ = ["GraphexecBackend", "GraphexecRep", "prepare", "run_model", "run_node",
           "supports_device"]

_DEVICES = {"CPU": "cpu", "CUDA": "gpu"}


class GraphexecRep(BackendRep):
    """A prepared model: ``run(inputs)`` gives its outputs, a tuple of numpy arrays."""

    def __init__(self, model: onnx.ModelProto, mode: str = "graph", optimize: int = 1,
                 device: str = "CPU") -> None:
        if mode not in ("graph", "eager"):
            raise InvalidArgumentError(f"mode must be 'graph' or 'eager', got {mode!r}")
        self.model = model
        self.mode = mode
        self.optimize = optimize
        self.device = _DEVICES[device.split(":")[0].upper()]
        inits = {t.name for t in model.graph.initializer}
        #: the ONNX names of the graph's inputs, in order
        self.input_names = [v.name for v in model.graph.input if v.name not in inits]
        #: the inputs graph mode binds to their values (found on the first run)
        self.bound: list[str] = []
        self._programs: dict[bytes, Program] = {}

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        feeds = self._named(inputs)
        if self.mode == "eager":
            device = None if self.device == "cpu" else self.device
            return tuple(evaluate(self.model, feeds, device=device))
        prog = self._program(feeds)
        values = prog.run({prog.inputs[k]: v for k, v in feeds.items() if k in prog.inputs},
                          optimize=self.optimize,
                          device=None if self.device == "cpu" else self.device)
        return tuple(np.asarray(v) for v in values)

    def _named(self, inputs: Any) -> dict[str, Any]:
        if isinstance(inputs, Mapping):
            return dict(inputs)
        if isinstance(inputs, np.ndarray) or not isinstance(inputs, Sequence):
            inputs = [inputs]
        return dict(zip(self.input_names, inputs, strict=False))

    def _program(self, feeds: dict[str, Any]) -> Program:
        while True:
            key = b"".join(np.asarray(feeds[k]).tobytes() + b"|" for k in self.bound)
            prog = self._programs.get(key)
            if prog is not None:
                return prog
            try:
                prog = load(_bind(self.model, {k: feeds[k] for k in self.bound}))
            except DynamicValueError as e:
                new = [k for k in e.inputs if k not in self.bound]
                if not new:
                    raise
                self.bound.extend(new)
                continue
            self._programs[key] = prog
            return prog


def _bind(model: onnx.ModelProto, values: dict[str, Any]) -> onnx.ModelProto:
    """``model`` with the graph inputs ``values`` names turned into initializers."""
    if not values:
        return model
    out = onnx.ModelProto()
    out.CopyFrom(model)
    kept = [v for v in out.graph.input if v.name not in values]
    del out.graph.input[:]
    out.graph.input.extend(kept)
    for k, v in values.items():
        out.graph.initializer.append(onnx.numpy_helper.from_array(np.asarray(v), k))
    return out


class GraphexecBackend(Backend):
    """The ONNX backend: ``prepare(model, device, mode="graph"|"eager", optimize=0..3)``."""

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU",
                **kwargs: Any) -> GraphexecRep:
        super().prepare(model, device, **kwargs)
        return GraphexecRep(model, kwargs.get("mode", "graph"), kwargs.get("optimize", 1),
                            device)

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs: Any,
                  device: str = "CPU", **kwargs: Any) -> tuple[np.ndarray, ...]:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node: onnx.NodeProto, inputs: Any,
                 device: str = "CPU", outputs_info: Any = None,
                 **kwargs: Any) -> tuple[np.ndarray, ...]:
        """One node on ``inputs`` (numpy arrays, in the node's input order), eagerly."""
        arrays = [np.asarray(x) for x in inputs]
        names = [f"input_{i}" for i in range(len(arrays))]
        renamed = onnx.NodeProto()
        renamed.CopyFrom(node)
        del renamed.input[:]
        renamed.input.extend(names)
        g = onnx.helper.make_graph(
            [renamed], "node",
            [onnx.helper.make_tensor_value_info(
                k, onnx.helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
             for k, a in zip(names, arrays, strict=True)],
            [onnx.helper.make_empty_tensor_value_info(o) for o in node.output])
        model = onnx.helper.make_model(g)
        return tuple(evaluate(model, dict(zip(names, arrays, strict=True)),
                              device=None if device == "CPU" else _DEVICES[device]))

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device.split(":")[0].upper() in _DEVICES


prepare = GraphexecBackend.prepare
run_model = GraphexecBackend.run_model
run_node = GraphexecBackend.run_node
supports_device = GraphexecBackend.supports_device
