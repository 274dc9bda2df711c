"""Sample operands of the math ops added after core.py (unary, logical, add_n, reductions)."""

import numpy as np

from ..helpers import rand

f32, f64, i32, i64 = "float32", "float64", "int32", "int64"
CASES = {}
for _name in ("sqrt", "rsqrt", "log", "log1p", "reciprocal"):  # positive domain
    CASES[_name] = [([rand(2, 3, dtype=f32, low=0.5)], {}), ([rand(low=0.5)], {}),
                    ([rand(0, 4, dtype=f64)], {}), ([rand(3, dtype=i64, low=1, high=4)], {})]
for _name in ("exp", "expm1", "square", "cos", "sin", "tan", "tanh", "sign", "round"):
    CASES[_name] = [([rand(2, 3, dtype=f32, low=-1, high=1)], {}), ([rand(dtype=f64)], {}),
                    ([rand(4, 0, dtype=f64)], {}), ([rand(5, dtype=i32)], {})]
CASES["logical_not"] = [([rand(2, 3, dtype=bool)], {}), ([rand(dtype=bool)], {}),
                        ([rand(4, dtype=f64)], {})]
for _name in ("logical_and", "logical_or"):
    CASES[_name] = [([rand(2, 3, dtype=bool), rand(3, dtype=bool, seed=1)], {}),
                    ([rand(dtype=bool), rand(0, 2, dtype=bool)], {}),
                    ([rand(4, 1, dtype=f32), rand(1, 5, dtype=i32)], {})]
CASES["add_n"] = [
    ([rand(2, 3, dtype=f32)], {}),
    ([rand(2, 3), rand(2, 3, seed=1), rand(2, 3, seed=2)], {}),
    ([rand(dtype=i32), rand(dtype=i32, seed=1)], {}),
    ([rand(0, 3, dtype=f32), rand(0, 3, dtype=f32)], {}),
]
for _name in ("sum", "mean", "prod", "max", "min", "logsumexp"):
    CASES[_name] = [
        ([rand(2, 3, 4, dtype=f32)], {"axis": (0, 1, 2), "keepdims": False}),
        ([rand(2, 3, 4)], {"axis": (1,), "keepdims": True}),
        ([rand(2, 3, 4, dtype=i32)], {"axis": (0, 2), "keepdims": False}),
        ([rand(dtype=f64)], {"axis": (), "keepdims": False}),
        ([rand(5, 2, dtype=bool)], {"axis": (0,), "keepdims": False}),
        ([rand(0, 3, dtype=i64)], {"axis": (1,), "keepdims": True}),
        ([rand(2, 3, dtype=i32)], {"axis": (), "keepdims": True}),
    ]
for _name in ("argmax", "argmin"):
    CASES[_name] = [
        ([rand(2, 3, 4, dtype=f32)], {"axis": None, "keepdims": False}),
        ([rand(2, 3, 4)], {"axis": 1, "keepdims": True}),
        ([rand(2, 3, dtype=i32)], {"axis": 0, "keepdims": False}),
        ([rand(2, 3, dtype=bool)], {"axis": None, "keepdims": True}),
        ([rand(dtype=f64)], {"axis": None, "keepdims": False}),
        ([rand(0, 3)], {"axis": 1, "keepdims": False}),
    ]
CASES["sign"].append(([np.array([-np.inf, -0.0, 0.0, np.nan, 2.0])], {}))
CASES["round"].append(([np.array([0.5, 1.5, 2.5, -0.5, -2.5], f32)], {}))
