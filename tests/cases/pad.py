"""Sample operands of the pad op."""

import numpy as np

from ..helpers import rand

f32, f64, i32 = "float32", "float64", "int32"


def _attrs(paddings, mode="constant", constant_values=None):
    if mode == "constant" and constant_values is None:
        constant_values = 0
    return {"paddings": paddings, "mode": mode, "constant_values": constant_values}


CASES = {
    "pad": [
        ([rand(2, 3, dtype=f32)], _attrs(((1, 2), (0, 3)), constant_values=1.5)),
        ([rand(3, dtype=i32)], _attrs(((2, 2),), "reflect")),
        ([rand(3, 1, dtype=f64)], _attrs(((4, 5), (2, 0)), "symmetric")),
        ([rand(2, 2, 2)], _attrs(((1, 1), (0, 0), (3, 1)), "edge")),
        ([rand(4, 1, dtype=f32)], _attrs(((9, 0), (1, 2)), "wrap")),
        ([rand(1, 3)], _attrs(((2, 1), (7, 7)), "reflect")),
        ([rand(dtype=f64)], _attrs(())),
        ([rand(dtype=f32)], _attrs((), "wrap")),
        ([rand(0, 3, dtype=f32)], _attrs(((1, 2), (1, 0)))),
        ([rand(0, 3)], _attrs(((0, 0), (2, 3)), "symmetric")),
        ([rand(2, 3, dtype=bool)], _attrs(((1, 1), (1, 1)), constant_values=True)),
        ([np.arange(6, dtype="int64").reshape(2, 3)], _attrs(((0, 0), (0, 0)), "edge")),
        # float64 cases for the gradient: every mode, pads wider than the axis, size-1 axes,
        # ranks 1 to 4
        ([rand(3)], _attrs(((2, 2),), "reflect")),
        ([rand(2, 3)], _attrs(((5, 6), (0, 0)), "reflect")),
        ([rand(2, 3, 4, seed=1)], _attrs(((1, 2), (5, 4), (0, 3)), "reflect")),
        ([rand(2, 5, seed=2)], _attrs(((3, 7), (6, 1)), "symmetric")),
        ([rand(3, 2, seed=3)], _attrs(((4, 0), (1, 5)), "edge")),
        ([rand(1, 2, 3, seed=4)], _attrs(((2, 3), (5, 4), (1, 7)), "wrap")),
        ([rand(2, 1, 3, seed=5)], _attrs(((3, 1), (2, 2), (0, 4)), constant_values=-1.0)),
        ([rand(1, 2, 1, 2, seed=6)], _attrs(((1, 1), (2, 0), (0, 3), (1, 1)), "symmetric")),
        *[([rand(1, seed=7)], _attrs(((3, 4),), mode)) for mode in
          ("constant", "reflect", "symmetric", "edge", "wrap")],
    ],
    # the adjoint of pad: the operand has pad's output shape
    "pad_grad": [
        ([rand(5, 4, dtype=f32)], _attrs(((1, 2), (0, 3)))),
        ([rand(7)], _attrs(((2, 2),), "reflect")),
        ([rand(12, 4, seed=1)], _attrs(((4, 5), (2, 0)), "symmetric")),
        ([rand(4, 2, 6, seed=2)], _attrs(((1, 1), (0, 0), (3, 1)), "edge")),
        ([rand(13, 4, seed=3)], _attrs(((9, 0), (1, 2)), "wrap")),
        ([rand(4, 17, seed=4)], _attrs(((2, 1), (7, 7)), "reflect")),
        ([rand(1, 8, seed=5)], _attrs(((0, 0), (3, 4)), "symmetric")),
        ([rand(seed=6)], _attrs(())),
        ([rand(dtype=f32)], _attrs((), "wrap")),
        ([rand(3, 4, dtype=f32)], _attrs(((1, 2), (1, 0)))),
        ([rand(3, 5, dtype=i32)], _attrs(((1, 1), (2, 0)), "wrap")),
    ],
}
