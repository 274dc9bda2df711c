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
    "dropout_mask": [
        ([rand(3, 4), np.int64(0)], {"rate": 0.5, "seed": 1}),
        ([rand(2, 2, dtype="float32"), np.int64(7)], {"rate": 0.1, "seed": 3}),
        ([rand(0, 2), np.int64(1)], {"rate": 0.9, "seed": 0}),
    ],
    "batch_norm": [
        ([rand(4, 3), rand(3), np.abs(rand(3)) + 0.5, rand(3), rand(3)], {"epsilon": 1e-3}),
        ([rand(2, 3, 3, 2), rand(2), np.abs(rand(2)) + 0.5, rand(2), rand(2)],
         {"epsilon": 1e-5}),
        ([rand(0, 2), rand(2), np.abs(rand(2)) + 0.5, rand(2), rand(2)], {"epsilon": 0.1}),
    ],
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

# float64 gradient cases: batched, 0-d, away from kinks (relu at 0)
_grad_unary = [
    ([rand(2, 3, 4, seed=1)], {}),
    ([np.array(-0.7)], {}),
    ([np.array([[-3.0, -0.5, 0.25], [0.75, 1.5, 6.0]])], {}),
]
CASES["relu"] += _grad_unary
CASES["sigmoid"] = [*CASES["sigmoid"], *_grad_unary, ([np.array([-30.0, -8.0, 9.0])], {})]
CASES["erf"] += [*_grad_unary, ([np.array([-2.6, -2.4, 2.45, 3.1])], {})]
CASES["log_softmax"] = [*CASES["softmax"], ([rand(3, 5, low=-40, high=40)], {"axis": 1})]
CASES["softmax"] += [
    ([rand(2, 3, 4, seed=2)], {"axis": 2}),
    ([rand(2, 3, 4, seed=3)], {"axis": 1}),
    ([rand(1, 4, seed=4)], {"axis": 0}),
    ([rand(5, seed=5)], {"axis": 0}),
]
CASES["log_softmax"] += CASES["softmax"][-4:]

# conv2d in float64: several channels, batch 2, odd sizes, strides, dilations, leftover pixels
_x1, _x2 = rand(2, 5, 5, 3, seed=1), rand(2, 7, 6, 2, seed=2)
CASES["conv2d"] += [
    _conv(_x1, rand(3, 3, 3, 2, seed=3)),
    _conv(_x2, rand(3, 2, 2, 3, seed=4), (2, 2)),
    _conv(rand(1, 7, 8, 2, seed=5), rand(2, 3, 2, 2, seed=6), (1, 1), (2, 2)),
    _conv(rand(2, 8, 9, 3, seed=7), rand(2, 2, 3, 2, seed=8), (2, 3), (2, 2)),
    _conv(rand(2, 3, 4, 3, seed=9), rand(1, 1, 3, 2, seed=10)),
]


def _conv_grads(x, f, strides=(1, 1), dilations=(1, 1)):
    """Sample operands of both backprop primitives for conv2d(x, f)."""
    n, h, w, _ = x.shape
    kh, kw, _, o = f.shape
    oh = (h - (kh - 1) * dilations[0] - 1) // strides[0] + 1
    ow = (w - (kw - 1) * dilations[1] - 1) // strides[1] + 1
    g = rand(n, oh, ow, o, dtype=f.dtype, seed=11)
    attrs = {"strides": strides, "dilations": dilations}
    return ([g, f, np.zeros_like(x)], attrs), ([x, g, np.zeros_like(f)], attrs)


_conv_grad_cases = [
    _conv_grads(rand(1, 5, 5, 3, dtype=f32), rand(3, 3, 3, 4, dtype=f32)),
    _conv_grads(rand(2, 5, 5, 2, seed=1), rand(3, 3, 2, 2, seed=2)),
    _conv_grads(rand(2, 7, 6, 2, seed=3), rand(3, 2, 2, 3, seed=4), (2, 2)),
    _conv_grads(rand(1, 8, 9, 1, seed=5), rand(2, 3, 1, 2, seed=6), (2, 1), (2, 3)),
    _conv_grads(rand(0, 4, 4, 2), rand(2, 2, 2, 3)),
    _conv_grads(rand(1, 4, 4, 2, dtype=i32), rand(2, 2, 2, 1, dtype=i32), (2, 2)),
]
CASES["conv2d_backprop_input"] = [c[0] for c in _conv_grad_cases]
CASES["conv2d_backprop_filter"] = [c[1] for c in _conv_grad_cases]

# pooling in float64: VALID and SAME, overlapping windows, strides, leftover pixels, batch 2
_pool_grad_cases = [
    _pool(rand(2, 4, 6, 3, seed=1)),
    _pool(rand(1, 5, 5, 2, seed=2), (3, 3), (2, 2), "SAME"),
    _pool(rand(2, 6, 5, 2, seed=3), (3, 3), (1, 1), "SAME"),
    _pool(rand(1, 5, 7, 2, seed=4), (2, 3), (2, 2)),
    _pool(rand(1, 6, 6, 1, seed=5), (3, 3), (1, 2)),
]
CASES["max_pool2d"] += [*_pool_grad_cases, _pool(rand(1, 5, 5, 2, seed=6), (3, 3), (2, 2),
                                                 ((1, 2), (0, 1)))]
CASES["avg_pool2d"] += _pool_grad_cases


def _pooled(x, ksize, strides, padding, seed):
    """A random gradient with the pooled shape of ``x``."""
    from graphexec.ops.nn import _pool_infer
    from graphexec.registry import Spec

    shape = _pool_infer(Spec(x.shape, x.dtype), ksize, strides, padding)
    return rand(*shape, seed=seed, dtype=x.dtype if x.dtype.kind == "f" else f64)


def _max_grads(x, ksize=(2, 2), strides=(2, 2), padding="VALID"):
    attrs = {"ksize": ksize, "strides": strides, "padding": padding}
    return (([x, _pooled(x, ksize, strides, padding, 12)], attrs),
            ([x, rand(*x.shape, seed=13, dtype=x.dtype if x.dtype.kind == "f" else f64)],
             attrs))


_max_grad_cases = [
    _max_grads(rand(1, 4, 4, 3, dtype=f32)),
    _max_grads(rand(2, 4, 6, 3, seed=1)),
    _max_grads(rand(2, 5, 7, 1, seed=2), (3, 2), (1, 2), "SAME"),
    _max_grads(rand(1, 5, 5, 2, seed=3), (3, 3), (2, 2), ((1, 2), (0, 1))),
    _max_grads(rand(1, 5, 5, 2, dtype=i32, high=50), (3, 3), (2, 2), "SAME"),
    _max_grads(rand(0, 3, 3, 1), (2, 2), (1, 1)),
]
CASES["max_pool2d_grad"] = [c[0] for c in _max_grad_cases]
CASES["max_pool2d_grad_grad"] = [c[1] for c in _max_grad_cases]
CASES["avg_pool2d_grad"] = [
    ([_pooled(x, *a, seed=14), np.zeros_like(x)], {"ksize": a[0], "strides": a[1],
                                                   "padding": a[2]})
    for x, a in [
        (rand(1, 4, 4, 3, dtype=f32), ((2, 2), (2, 2), "VALID")),
        (rand(2, 5, 7, 1), ((3, 2), (1, 2), "SAME")),
        (rand(1, 6, 5, 2), ((3, 3), (2, 2), "SAME")),
        (rand(1, 5, 7, 2), ((2, 3), (2, 2), "VALID")),
        (rand(1, 5, 5, 2, dtype=i32), ((2, 3), (2, 2), "SAME")),
    ]
]

# nll_loss: class axis first, middle and last
CASES["nll_loss"] += [
    ([np.log(rand(3, 4, low=0.1, high=1.0, seed=1)), np.array([2, 0, 1, 2])], {"axis": 0}),
    ([rand(2, 4, 3, seed=2), rand(2, 3, dtype=i32, low=0, high=3, seed=3)], {"axis": 1}),
    ([rand(2, 3, 4, seed=4), rand(2, 3, dtype="int64", low=0, high=3, seed=5)], {"axis": 2}),
    ([rand(5, seed=6), np.array(3)], {"axis": 0}),
]
CASES["nll_loss_grad"] = [
    ([rand(4, seed=7), np.array([0, 2, 1, 2]), np.zeros((4, 3))], {"axis": 1}),
    ([rand(2, 5, dtype=f32), rand(2, 5, dtype=i32, low=0, high=2), np.zeros((2, 3, 5), f32)],
     {"axis": 1}),
    ([rand(3, 4, seed=8), rand(3, 4, dtype="int64", low=0, high=4, seed=9),
      np.zeros((3, 4, 5))], {"axis": 2}),
    ([rand(seed=10), np.array(3), np.zeros(5)], {"axis": 0}),
    ([np.zeros(0), np.zeros(0, "int64"), np.zeros((0, 3))], {"axis": 1}),
]
