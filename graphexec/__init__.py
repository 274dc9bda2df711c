"""graphexec: one frontend, two execution modes (eager and static graph), one set of kernels.

>>> import numpy as np, graphexec as gx
>>> x = gx.constant(np.arange(6, dtype="float32").reshape(2, 3))
>>> gx.nn.relu(x - 2.0).numpy()
array([[0., 0., 0.],
       [1., 2., 3.]], dtype=float32)
"""

from __future__ import annotations

from . import (
               bench,
               compiler,
               config,
               dask,
               fusion,
               io,
               layers,
               linalg,
               losses,
               nn,
               onnx,
               optimizers,
               passes,
               random,
               tree,
               viz,
               weights,
)
from . import ops as _ops
from .autodiff import GradientTape, gradients
from .compiler import CompiledGraph
from .context import current_graph, eager, executing_eagerly, name_scope
from .control import cond, scan, while_loop
from .device import CPU, Device, current_device, device
from .dtypes import *
from .dtypes import bool_
from .errors import (
               ConcretizationError,
               DeviceError,
               DTypeError,
               ExecutionError,
               FeedError,
               FormatError,
               GraphError,
               GraphexecError,
               InvalidArgumentError,
               MissingExtraError,
               ShapeError,
)
from .function import Function, TensorSpec, function
from .graph import Graph, control_dependencies, graph, group, placeholder
from .io import Program, load, restore_checkpoint, save, save_checkpoint
from .ops.array import *
from .ops.creation import *
from .ops.grad import stop_gradient
from .ops.linalg import matmul
from .ops.math import *
from .ops.nn import one_hot
from .ops.ordering import *
from .ops.pad import *
from .ops.state import Variable
from .passes import OptimizationReport, optimize
from .profiler import Profile, profile
from .registry import REGISTRY, Spec
from .tensor import Tensor, apply

bool = bool_  # noqa: A001 - as torch.bool and jnp.bool (the builtin is untouched outside)

__version__ = "0.1.0"
