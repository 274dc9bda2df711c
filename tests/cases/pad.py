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
    ],
}
