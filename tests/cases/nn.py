"""Sample operands of the nn ops (activations, erf, conv2d, pooling, nll_loss)."""

import numpy as np

from ..helpers import rand

f32, f64, i32 = "float32", "float64", "int32"

_unary = [
    ([rand(2, 3, dtype=f32)], {}),
    ([rand(4)], {}),
    ([rand(dtype=f64)], {}),
    ([rand(0, 3, dtype=f32)], {}),
    ([rand(3, dtype=i32)], {}),
]


def _conv(x, f, strides=(1, 1), dilations=(1, 1)):
    return ([x, f], {"strides": strides, "dilations": dilations})


def _pool(x, ksize=(2, 2), strides=(2, 2), padding="VALID"):
    return ([x], {"ksize": ksize, "strides": strides, "padding": padding})


CASES = {
    "relu": [*_unary, ([rand(2, dtype=bool)], {}), ([rand(3, dtype="uint8", high=9)], {})],
    "sigmoid": _unary,
    "erf": [*_unary, ([rand(2, dtype="float16")], {})],
    "softmax": [
        ([rand(2, 3, dtype=f32)], {"axis": 1}),
        ([rand(2, 3, 4)], {"axis": 0}),
        ([rand(3, 0)], {"axis": 1}),
        ([rand(0, 3, dtype=f32)], {"axis": 1}),
        ([rand(4, dtype=i32)], {"axis": 0}),
    ],
    "conv2d": [
        _conv(rand(1, 5, 5, 3, dtype=f32), rand(3, 3, 3, 4, dtype=f32)),
        _conv(rand(2, 7, 6, 2), rand(2, 3, 2, 3), (2, 1)),
        _conv(rand(1, 8, 8, 1), rand(3, 3, 1, 2), (1, 1), (2, 3)),
        _conv(rand(0, 4, 4, 2, dtype=f32), rand(2, 2, 2, 5, dtype=f32)),
        _conv(rand(1, 3, 3, 2, dtype=f32), rand(3, 3, 2, 1)),
        _conv(rand(1, 4, 4, 2, dtype=i32), rand(2, 2, 2, 1, dtype=i32), (2, 2)),
    ],
    "max_pool2d": [
        _pool(rand(1, 4, 4, 3, dtype=f32)),
        _pool(rand(2, 5, 7, 1), (3, 2), (1, 2), "SAME"),
        _pool(rand(1, 5, 5, 2, dtype=i32), (3, 3), (2, 2), ((1, 2), (0, 1))),
        _pool(rand(0, 3, 3, 1, dtype=f32), (2, 2), (1, 1)),
    ],
    "avg_pool2d": [
        _pool(rand(1, 4, 4, 3, dtype=f32)),
        _pool(rand(2, 5, 7, 1), (3, 2), (1, 2), "SAME"),
        _pool(rand(1, 5, 5, 2, dtype=i32), (2, 3), (2, 2), "SAME"),
    ],
    "nll_loss": [
        ([np.log(rand(4, 3, low=0.1, high=1.0)), np.array([0, 2, 1, 2])], {"axis": 1}),
        ([rand(2, 3, 5, dtype=f32), rand(2, 5, dtype=i32, low=0, high=2)], {"axis": 1}),
        ([rand(0, 3, dtype=f32), np.zeros(0, "int64")], {"axis": 1}),
    ],
}
CASES["log_softmax"] = CASES["softmax"]
