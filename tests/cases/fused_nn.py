"""Sample operands of the fused epilogue ops (fused_dense, fused_conv2d)."""

import numpy as np

from graphexec.registry import REGISTRY

from ..helpers import rand

f32 = "float32"

CASES = {
    "fused_dense": [
        ([rand(3, 4, dtype=f32), rand(4, 5, dtype=f32), rand(5, dtype=f32)],
         {"activation": REGISTRY["relu"]}),
        ([rand(3, 4), rand(4, 2), rand(1, 2)],
         {"activation": REGISTRY["sigmoid"], "bias_first": True}),
        ([rand(2, 3, 4), rand(4, 2)], {"activation": REGISTRY["tanh"]}),
        ([rand(4), rand(4, 3), rand(3)], {"activation": None}),
        ([rand(4, dtype=f32), rand(4, dtype=f32), np.float32(0.5)],
         {"activation": REGISTRY["relu"]}),
    ],
    "fused_conv2d": [
        ([rand(1, 5, 5, 2, dtype=f32), rand(3, 3, 2, 4, dtype=f32), rand(4, dtype=f32)],
         {"strides": (1, 1), "dilations": (1, 1), "activation": REGISTRY["relu"]}),
        ([rand(2, 6, 7, 1), rand(2, 2, 1, 3)],
         {"strides": (2, 1), "dilations": (1, 2), "activation": REGISTRY["tanh"]}),
    ],
}
