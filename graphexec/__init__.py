"""graphexec: one frontend, two execution modes (eager and static graph), one set of kernels.

>>> import numpy as np, graphexec as gx
>>> x = gx.constant(np.arange(6, dtype="float32").reshape(2, 3))
>>> gx.nn.relu(x - 2.0).numpy()
array([[0., 0., 0.],
       [1., 2., 3.]], dtype=float32)
"""

from __future__ import annotations

from . import compiler, config, layers, linalg, losses, nn, optimizers, passes, random
from . import ops as _ops
from .autodiff import GradientTape, gradients, stop_gradient
from .compiler import CompiledGraph
from .context import current_graph, eager, executing_eagerly, graph, name_scope
from .errors import (
    DTypeError,
    ExecutionError,
    FeedError,
    GraphError,
    GraphexecError,
    InvalidArgumentError,
    MissingExtraError,
    ShapeError,
)
from .function import Function, TensorSpec, function
from .ir import Graph, placeholder
from .ops.array import *
from .ops.creation import *
from .ops.linalg import matmul
from .ops.math import *
from .ops.pad import *
from .passes import OptimizationReport, optimize
from .registry import REGISTRY, Spec
from .tensor import Tensor, Variable, apply, constant

__version__ = "0.1.0"
