"""ONNX exchange: ``export`` writes a graph, a compiled graph or a ``gx.function`` as an ONNX
model (open it in Netron to look at it); ``load`` reads an ONNX model as a runnable
``gx.io.Program``; ``graphexec.onnx.backend`` is an ``onnx.backend.base.Backend`` (the ONNX
backend node tests run through it).  Needs the ``onnx`` extra (onnx and onnxruntime); without
it these raise a ``MissingExtraError`` naming the extra.
"""

from .export import export
from .importer import load

__all__ = ["export", "load"]
