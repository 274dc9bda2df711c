"""Sample operands of the creation and random ops (graphexec/ops/creation.py)."""

import numpy as np

from ..helpers import rand

f32, f64, i32, i64 = np.dtype("float32"), np.dtype("float64"), np.dtype("int32"), np.dtype("int64")

CASES = {
    "fill": [
        ([], {"shape": (2, 3), "value": 0, "dtype": f32}),
        ([], {"shape": (), "value": 2.5, "dtype": f64}),
        ([], {"shape": (0, 4), "value": 7, "dtype": i32}),
    ],
    "full_like": [
        ([rand(2, 3, dtype="float32")], {"value": 1, "dtype": None}),
        ([rand(4, dtype="int32")], {"value": 0, "dtype": f64}),
        ([rand()], {"value": 1, "dtype": None}),
        ([rand(0, 2)], {"value": 0, "dtype": np.dtype(bool)}),
    ],
    "eye": [
        ([], {"num_rows": 3, "num_columns": 3, "dtype": f32}),
        ([], {"num_rows": 2, "num_columns": 4, "dtype": f64}),
        ([], {"num_rows": 0, "num_columns": 2, "dtype": i32}),
    ],
    "range": [
        ([], {"start": 0, "limit": 5, "delta": 1, "dtype": i64}),
        ([], {"start": 1.0, "limit": 0.0, "delta": -0.25, "dtype": f64}),
        ([], {"start": 0, "limit": 1, "delta": 0.1, "dtype": f32}),
        ([], {"start": 5, "limit": 0, "delta": 1, "dtype": i32}),
    ],
    "random_normal": [
        ([], {"shape": (2, 3), "mean": 0.0, "stddev": 1.0, "dtype": f32, "seed": 0}),
        ([], {"shape": (4,), "mean": 1.0, "stddev": 2.0, "dtype": f64, "seed": None}),
        ([], {"shape": (), "mean": 0.0, "stddev": 1.0, "dtype": np.dtype("float16"),
              "seed": 1}),
    ],
    "random_uniform": [
        ([], {"shape": (2, 3), "minval": 0.0, "maxval": 1.0, "dtype": f32, "seed": 0}),
        ([], {"shape": (0,), "minval": -1.0, "maxval": 1.0, "dtype": f64, "seed": None}),
        ([], {"shape": (5,), "minval": 0, "maxval": 10, "dtype": i32, "seed": 2}),
    ],
}
