"""Sample operands of the transformation and indexing ops (graphexec/ops/array.py)."""

import numpy as np

from ..helpers import rand

f32, f64, i32, i64 = "float32", "float64", "int32", "int64"
S = ("s", None, None, 1)  # a full slice in getitem's normalized key

CASES = {
    "reshape": [
        ([rand(2, 6, dtype=f32)], {"shape": (3, -1)}),
        ([rand(2, 3, 4)], {"shape": (24,)}),
        ([rand(dtype=f64)], {"shape": (1, 1)}),
        ([rand(1, 1, dtype=i32)], {"shape": ()}),
        ([rand(0, 3)], {"shape": (3, 0)}),
        ([rand(4, 0, 2)], {"shape": (-1, 2)}),
    ],
    "transpose": [
        ([rand(2, 3, dtype=f32)], {"perm": (1, 0)}),
        ([rand(2, 3, 4)], {"perm": (2, 0, 1)}),
        ([rand(dtype=i64)], {"perm": ()}),
        ([rand(0, 3, 1)], {"perm": (1, 2, 0)}),
    ],
    "expand_dims": [
        ([rand(2, 3, dtype=f32)], {"axis": (0,)}),
        ([rand(2, 3)], {"axis": (1, 3)}),
        ([rand(dtype=i32)], {"axis": (0,)}),
        ([rand(0, 2)], {"axis": (2,)}),
    ],
    "squeeze": [
        ([rand(1, 3, 1, dtype=f32)], {"axis": (0, 2)}),
        ([rand(2, 1)], {"axis": (1,)}),
        ([rand(1, dtype=i64)], {"axis": (0,)}),
        ([rand(0, 1)], {"axis": ()}),
    ],
    "broadcast_to": [
        ([rand(3, dtype=f32)], {"shape": (2, 3)}),
        ([rand(1, 3)], {"shape": (4, 2, 3)}),
        ([rand(dtype=i32)], {"shape": (2, 2)}),
        ([rand(0, 1)], {"shape": (3, 0, 4)}),
    ],
    "tile": [
        ([rand(2, 3, dtype=f32)], {"multiples": (2, 1)}),
        ([rand(2, 3)], {"multiples": (3,)}),
        ([rand(3, dtype=i32)], {"multiples": (2, 2)}),
        ([rand(2, 3)], {"multiples": (0, 2)}),
        ([rand(dtype=f64)], {"multiples": ()}),
    ],
    "stack": [
        ([rand(2, 3, dtype=f32), rand(2, 3, dtype=f32, seed=1)], {"axis": 0}),
        ([rand(2, 3), rand(2, 3, seed=1), rand(2, 3, seed=2)], {"axis": 2}),
        ([rand(dtype=i32), rand(dtype=f32)], {"axis": 0}),
        ([rand(0, 2)], {"axis": 1}),
    ],
    "unstack": [
        ([rand(3, 2, dtype=f32)], {"num": 3, "axis": 0}),
        ([rand(2, 4, 3)], {"num": 4, "axis": 1}),
        ([rand(2, dtype=i64)], {"num": 2, "axis": 0}),
        ([rand(0, 2)], {"num": 0, "axis": 0}),
        ([rand(3, 0)], {"num": 3, "axis": 0}),
    ],
    "concat": [
        ([rand(2, 3, dtype=f32), rand(1, 3, dtype=f32)], {"axis": 0}),
        ([rand(2, 1), rand(2, 4), rand(2, 2)], {"axis": 1}),
        ([rand(3, dtype=i32), rand(2, dtype=f64)], {"axis": 0}),
        ([rand(0, 2), rand(3, 2)], {"axis": 0}),
    ],
    "split": [
        ([rand(6, 2, dtype=f32)], {"splits": 3, "axis": 0}),
        ([rand(2, 5)], {"splits": (1, -1, 2), "axis": 1}),
        ([rand(4, dtype=i32)], {"splits": (4, 0), "axis": 0}),
        ([rand(0, 3)], {"splits": 2, "axis": 0}),
    ],
    "gather": [
        ([rand(5, 3, dtype=f32), np.array([4, 0, -1])], {"axis": 0}),
        ([rand(2, 4, 3), np.array([[1, 2], [3, 0]], dtype=i32)], {"axis": 1}),
        ([rand(4, dtype=i64), np.array(2)], {"axis": 0}),
        ([rand(3, 2), np.zeros((0,), dtype=i64)], {"axis": 0}),
    ],
    "where": [
        ([rand(2, 3, dtype=bool), rand(2, 3, dtype=f32), rand(3, dtype=f32)], {}),
        ([rand(4, 1, dtype=bool), rand(1, 5), np.array(0.0)], {}),
        ([np.array(True), rand(3, dtype=i32), rand(3, dtype=f32)], {}),
        ([rand(0, 2, dtype=bool), rand(2, dtype=i64), rand(1, dtype=i64)], {}),
    ],
    "getitem": [
        ([rand(4, 5, dtype=f32)], {"key": (("i", 1),)}),
        ([rand(4, 5)], {"key": (("s", 1, None, 1), ("s", None, None, -2))}),
        ([rand(3, 4, 5, dtype=i32)], {"key": (S, ("n",), ("i", -1))}),
        ([rand(dtype=f64)], {"key": (("n",),)}),
        ([rand(4, 2)], {"key": (("s", 3, 1, 1),)}),
        ([rand(3)], {"key": (("i", 0),)}),
        ([rand(3)], {"key": ()}),
    ],
}
