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
        # gradient cases: a 0-d result, a batched reshape that moves elements across axes
        ([rand(1, 1, 1)], {"shape": ()}),
        ([rand(2, 3, 4)], {"shape": (4, -1, 2)}),
    ],
    "transpose": [
        ([rand(2, 3, dtype=f32)], {"perm": (1, 0)}),
        ([rand(2, 3, 4)], {"perm": (2, 0, 1)}),
        ([rand(dtype=i64)], {"perm": ()}),
        ([rand(0, 3, 1)], {"perm": (1, 2, 0)}),
        ([rand()], {"perm": ()}),
        ([rand(2, 3, 4, 2)], {"perm": (3, 1, 0, 2)}),
    ],
    "expand_dims": [
        ([rand(2, 3, dtype=f32)], {"axis": (0,)}),
        ([rand(2, 3)], {"axis": (1, 3)}),
        ([rand(dtype=i32)], {"axis": (0,)}),
        ([rand(0, 2)], {"axis": (2,)}),
        ([rand()], {"axis": (0, 1)}),
        ([rand(2, 3)], {"axis": (0, 2, 4)}),
    ],
    "squeeze": [
        ([rand(1, 3, 1, dtype=f32)], {"axis": (0, 2)}),
        ([rand(2, 1)], {"axis": (1,)}),
        ([rand(1, dtype=i64)], {"axis": (0,)}),
        ([rand(0, 1)], {"axis": ()}),
        ([rand(1, 1)], {"axis": (0, 1)}),
        ([rand(1, 2, 1, 3)], {"axis": (2,)}),
    ],
    "broadcast_to": [
        ([rand(3, dtype=f32)], {"shape": (2, 3)}),
        ([rand(1, 3)], {"shape": (4, 2, 3)}),
        ([rand(dtype=i32)], {"shape": (2, 2)}),
        ([rand(0, 1)], {"shape": (3, 0, 4)}),
        ([rand()], {"shape": (2, 3)}),
        ([rand(2, 1, 3)], {"shape": (2, 2, 4, 3)}),
        ([rand(2, 3)], {"shape": (2, 3)}),
    ],
    "tile": [
        ([rand(2, 3, dtype=f32)], {"multiples": (2, 1)}),
        ([rand(2, 3)], {"multiples": (3,)}),
        ([rand(3, dtype=i32)], {"multiples": (2, 2)}),
        ([rand(2, 3)], {"multiples": (0, 2)}),
        ([rand(dtype=f64)], {"multiples": ()}),
        ([rand(3)], {"multiples": (2, 2)}),
        ([rand(2, 1, 3)], {"multiples": (1, 3, 2)}),
        ([rand(2, 3)], {"multiples": (2, 1, 1)}),
        ([rand(2, 3)], {"multiples": (1, 1)}),
    ],
    "stack": [
        ([rand(2, 3, dtype=f32), rand(2, 3, dtype=f32, seed=1)], {"axis": 0}),
        ([rand(2, 3), rand(2, 3, seed=1), rand(2, 3, seed=2)], {"axis": 2}),
        ([rand(dtype=i32), rand(dtype=f32)], {"axis": 0}),
        ([rand(0, 2)], {"axis": 1}),
        ([rand(), rand(seed=1), rand(seed=2)], {"axis": 0}),
        ([rand(2, 3), rand(2, 3, seed=1)], {"axis": 1}),
    ],
    "unstack": [
        ([rand(3, 2, dtype=f32)], {"num": 3, "axis": 0}),
        ([rand(2, 4, 3)], {"num": 4, "axis": 1}),
        ([rand(2, dtype=i64)], {"num": 2, "axis": 0}),
        ([rand(0, 2)], {"num": 0, "axis": 0}),
        ([rand(3, 0)], {"num": 3, "axis": 0}),
        ([rand(2)], {"num": 2, "axis": 0}),
        ([rand(2, 3, 2)], {"num": 2, "axis": 2}),
    ],
    "concat": [
        ([rand(2, 3, dtype=f32), rand(1, 3, dtype=f32)], {"axis": 0}),
        ([rand(2, 1), rand(2, 4), rand(2, 2)], {"axis": 1}),
        ([rand(3, dtype=i32), rand(2, dtype=f64)], {"axis": 0}),
        ([rand(0, 2), rand(3, 2)], {"axis": 0}),
        ([rand(3), rand(0), rand(2, seed=1)], {"axis": 0}),
        ([rand(2, 2, 3), rand(2, 1, 3, seed=1)], {"axis": 1}),
    ],
    "split": [
        ([rand(6, 2, dtype=f32)], {"splits": 3, "axis": 0}),
        ([rand(2, 5)], {"splits": (1, -1, 2), "axis": 1}),
        ([rand(4, dtype=i32)], {"splits": (4, 0), "axis": 0}),
        ([rand(0, 3)], {"splits": 2, "axis": 0}),
        ([rand(4)], {"splits": (4, 0), "axis": 0}),
        ([rand(2, 6, 2)], {"splits": (1, -1, 2), "axis": 1}),
        ([rand(3, 2)], {"splits": 1, "axis": 0}),
    ],
    "shape": [([rand(2, 3)], {}), ([np.float32(1.0)], {}), ([rand(0, 4, 1)], {})],
    "size": [([rand(2, 3)], {}), ([np.int64(7)], {}), ([rand(0, 4)], {})],
    "gather": [
        ([rand(5, 3, dtype=f32), np.array([4, 0, -1])], {"axis": 0}),
        ([rand(2, 4, 3), np.array([[1, 2], [3, 0]], dtype=i32)], {"axis": 1}),
        ([rand(4, dtype=i64), np.array(2)], {"axis": 0}),
        ([rand(3, 2), np.zeros((0,), dtype=i64)], {"axis": 0}),
        # gradient cases: repeated indices add up (scatter-add)
        ([rand(4), np.array(2)], {"axis": 0}),
        ([rand(3, 4), np.array([[1, 1], [3, -3]])], {"axis": 1}),
        ([rand(2, 3, 2), np.array([0, 0, 2, 0], dtype=i32)], {"axis": 1}),
    ],
    "where": [
        ([rand(2, 3, dtype=bool), rand(2, 3, dtype=f32), rand(3, dtype=f32)], {}),
        ([rand(4, 1, dtype=bool), rand(1, 5), np.array(0.0)], {}),
        ([np.array(True), rand(3, dtype=i32), rand(3, dtype=f32)], {}),
        ([rand(0, 2, dtype=bool), rand(2, dtype=i64), rand(1, dtype=i64)], {}),
        # gradient cases: the condition broadcasts x and y both, and a 0-d branch
        ([rand(2, 3, dtype=bool), rand(3), rand(2, 1, seed=1)], {}),
        ([rand(3, 1, dtype=bool, seed=2), rand(), rand(1, 4, seed=1)], {}),
        ([np.array(False), rand(2), rand(seed=1)], {}),
    ],
    "getitem": [
        ([rand(4, 5, dtype=f32)], {"key": (("i", 1),)}),
        ([rand(4, 5)], {"key": (("s", 1, None, 1), ("s", None, None, -2))}),
        ([rand(3, 4, 5, dtype=i32)], {"key": (S, ("n",), ("i", -1))}),
        ([rand(dtype=f64)], {"key": (("n",),)}),
        ([rand(4, 2)], {"key": (("s", 3, 1, 1),)}),
        ([rand(3)], {"key": (("i", 0),)}),
        ([rand(3)], {"key": ()}),
        ([rand(3, 4, 5)], {"key": (S, ("n",), ("i", -1))}),
        ([rand(2, 3, 4)], {"key": (("i", -1), ("s", None, None, -1), ("n",), ("s", 1, 4, 2))}),
        ([rand(5)], {"key": (("s", 4, None, -2),)}),
    ],
    # the primitives of the backward passes: (gradient, [indices,] operand shaped like the
    # result)
    "reshape_like": [
        ([rand(2, 6), rand(3, 4, seed=1)], {}),
        ([rand(6, dtype=f32), rand(2, 3, dtype=i32)], {}),
        ([rand(1, 1), rand()], {}),
        ([rand(0, 3), rand(3, 0, 2)], {}),
    ],
    "tile_grad": [
        ([rand(4, 3), rand(2, 3, seed=1)], {"multiples": (2, 1)}),
        ([rand(2, 9, dtype=f32), rand(2, 3, dtype=f32)], {"multiples": (3,)}),
        ([rand(2, 6), rand(3, dtype=i32)], {"multiples": (2, 2)}),
        ([rand(0, 6), rand(2, 3)], {"multiples": (0, 2)}),
        ([rand(), rand(seed=1)], {"multiples": ()}),
    ],
    "split_like": [
        ([rand(2, 5), rand(2, 1, seed=1), rand(2, 4, seed=2)], {"axis": 1}),
        ([rand(3, dtype=f32), rand(3, dtype=i64)], {"axis": 0}),
        ([rand(4, 2), rand(0, 2), rand(4, 2, seed=1)], {"axis": 0}),
        ([rand(0, 3), rand(0, 1), rand(0, 2)], {"axis": 0}),
    ],
    "getitem_grad": [
        ([rand(5, dtype=f32), rand(4, 5, dtype=f32)], {"key": (("i", 1),)}),
        ([rand(3, 3), rand(4, 5, seed=1)], {"key": (("s", 1, None, 1), ("s", None, None, -2))}),
        ([rand(3, 1, 5), rand(3, 4, 5, dtype=i32)], {"key": (S, ("n",), ("i", -1))}),
        ([rand(1), rand()], {"key": (("n",),)}),
        ([rand(0, 2), rand(4, 2)], {"key": (("s", 3, 1, 1),)}),
        ([rand(), rand(3)], {"key": (("i", 0),)}),
        ([rand(3), rand(3, seed=1)], {"key": ()}),
    ],
    "gather_grad": [
        ([rand(3, 3, dtype=f32), np.array([4, 0, -1]), rand(5, 3, dtype=f32)], {"axis": 0}),
        ([rand(2, 2, 2, 3), np.array([[1, 2], [1, 0]], dtype=i32), rand(2, 4, 3)], {"axis": 1}),
        ([rand(), np.array(2), rand(4, dtype=i64)], {"axis": 0}),
        ([rand(0, 2), np.zeros((0,), dtype=i64), rand(3, 2)], {"axis": 0}),
    ],
}
