"""Sample operands of the math ops added after core.py (unary, logical, add_n, reductions)."""

import numpy as np

from ..helpers import rand

f32, f64, i32, i64 = "float32", "float64", "int32", "int64"
CASES = {}
for _name in ("sqrt", "rsqrt", "log", "log1p", "reciprocal"):  # positive domain
    CASES[_name] = [([rand(2, 3, dtype=f32, low=0.5)], {}), ([rand(low=0.5)], {}),
                    ([rand(0, 4, dtype=f64)], {}), ([rand(3, dtype=i64, low=1, high=4)], {})]
for _name in ("exp", "expm1", "square", "cos", "sin", "tan", "tanh", "sign", "round", "floor",
              "ceil"):
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
for _name in ("sum", "mean", "prod", "max", "min", "logsumexp", "any", "all"):
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

# -- gradient cases (float64 operands are checked against central differences) ---------------
CASES["add_n"] += [([rand(dtype=f64), rand(dtype=f64, seed=1)], {})]
CASES["abs"] = [([np.array([[-1.5, 0.25, 2.0], [0.5, -0.75, -3.0]])], {})]
CASES["cast"] = [([rand(2, 3)], {"dtype": np.dtype(f64)}), ([rand(dtype=f64)],
                                                             {"dtype": np.dtype(f64)}),
                 ([rand(3)], {"dtype": np.dtype(f32)})]
CASES["pow"] = [
    # negative bases with integer exponents: only the base is differentiated
    ([rand(2, 3), np.array([0, 1, 2], np.int64)], {}),
    ([rand(2, 3, low=0.5), rand(dtype=f64, low=-1.5, high=1.5, seed=1)], {}),  # 0-d exponent
    ([rand(dtype=f64, low=0.5), rand(2, 1, 3, seed=1)], {}),  # 0-d base, batched exponent
    ([rand(4, 1, 3, low=0.5), rand(2, 1, seed=1)], {}),
]
for _name in ("maximum", "minimum"):  # each operand wins somewhere; no ties
    CASES[_name] = [
        ([rand(2, 1, 3), rand(4, 1, seed=1)], {}),
        ([rand(dtype=f64), rand(2, 3, seed=1)], {}),
        ([rand(3, 4), np.array(0.1)], {}),
    ]
for _name in ("sqrt", "rsqrt", "log", "log1p", "reciprocal"):
    CASES[_name] += [([rand(2, 1, 3, low=0.5, high=3.0)], {})]
for _name in ("exp", "expm1", "square", "cos", "sin", "tan", "tanh"):
    CASES[_name] += [([rand(2, 1, 3, low=-1.2, high=1.2, seed=3)], {})]
CASES["prod"] += [
    ([rand(3, 4, seed=1)], {"axis": (1,), "keepdims": False}),
    ([rand(2, 3, 4, seed=2)], {"axis": (0, 2), "keepdims": True}),
    # zeros: no, one and two in a slice (the product's gradient stays exact)
    ([np.array([[1.5, 0.0, -2.0], [0.0, 3.0, 0.0], [0.5, -1.25, 2.0]])],
     {"axis": (1,), "keepdims": False}),
    ([np.array([[1.5, 0.0, -2.0], [0.0, 3.0, 0.0], [0.5, -1.25, 2.0]])],
     {"axis": (0, 1), "keepdims": True}),
    ([np.array([[0.0, 2.0], [-1.5, 0.5]])], {"axis": (0,), "keepdims": False}),
]
for _name, _ties in (("max", [[1.0, 3.0, 3.0], [2.0, -0.5, 2.0]]),
                     ("min", [[1.0, -3.0, -3.0], [-2.0, 0.5, -2.0]])):
    CASES[_name] += [
        ([rand(3, 4, seed=1)], {"axis": (1,), "keepdims": False}),
        ([rand(2, 3, 4, seed=2)], {"axis": (0, 2), "keepdims": True}),
        # two-way ties share the gradient equally (central differences give 1/2 each too)
        ([np.array(_ties)], {"axis": (1,), "keepdims": False}),
        ([np.array(_ties)], {"axis": (0, 1), "keepdims": True}),
    ]
CASES["logsumexp"] += [
    ([rand(3, 4, seed=1)], {"axis": (1,), "keepdims": False}),
    ([rand(2, 3, 4, seed=2)], {"axis": (0, 2), "keepdims": True}),
    ([rand(2, 3, seed=3) + 800.0], {"axis": (0,), "keepdims": False}),  # exp would overflow
]
_zeros = np.array([[1.5, 0.0, -2.0], [0.0, 3.0, 0.0]])
CASES["prod_others"] = [
    ([rand(2, 3, dtype=f32)], {"axis": (1,)}),
    ([_zeros], {"axis": (1,)}),
    ([_zeros], {"axis": (0, 1)}),
    ([rand(2, 3, 2)], {"axis": ()}),
    ([rand(0, 3)], {"axis": (1,)}),
    ([rand(2, 0)], {"axis": (1,)}),
    ([_zeros, rand(2, 3, seed=1)], {"axis": (1,)}),
    ([rand(2, 3, 2, seed=2), rand(2, 3, 2, seed=1)], {"axis": (0, 2)}),
    ([_zeros, rand(2, 3, seed=1), rand(2, 3, seed=2)], {"axis": (0, 1)}),
    ([rand(3, 4, seed=3), rand(3, 4, seed=1), rand(3, 4, seed=2)], {"axis": (1,)}),
    ([rand(2, 3, dtype=i32), rand(2, 3, dtype=i32, seed=1)], {"axis": (1,)}),
    ([rand(2, 3, dtype=i32)], {"axis": (0, 1)}),
]
CASES["floor"].append(([np.array([-0.5, -1.0, 1.99, -0.0, np.inf], f32)], {}))
CASES["ceil"].append(([np.array([-0.5, -1.0, 1.01, 0.0, -np.inf], f32)], {}))

# -- the inverse trigonometric ops (inside [-1, 1] for arcsin and arccos, where they are
# defined and differentiable) and the bitwise ops
for _name in ("arcsin", "arccos"):
    CASES[_name] = [([rand(2, 3, dtype=f32, low=-0.95, high=0.95)], {}),
                    ([rand(dtype=f64, low=-0.9, high=0.9)], {}),
                    ([rand(4, 0, dtype=f64)], {}),
                    ([rand(3, dtype=i32, low=-1, high=1)], {}),
                    ([rand(2, 1, 3, low=-0.9, high=0.9, seed=3)], {})]
CASES["arctan"] = [([rand(2, 3, dtype=f32, low=-5, high=5)], {}), ([rand(dtype=f64)], {}),
                   ([rand(4, 0, dtype=f64)], {}),
                   ([rand(5, dtype=i32)], {}), ([rand(2, 1, 3, low=-3, high=3, seed=3)], {})]
for _name in ("bitwise_and", "bitwise_or", "bitwise_xor"):
    CASES[_name] = [
        ([rand(2, 3, dtype=i32, low=-100, high=100), rand(3, dtype=i32, low=-100, high=100,
                                                          seed=1)], {}),
        ([rand(4, 1, dtype="uint8", low=0, high=255), rand(1, 5, dtype="uint8", low=0,
                                                           high=255, seed=1)], {}),
        ([np.array([-2**63, 2**63 - 1, -1, 0]), rand(4, dtype=i64, low=-9, high=9)], {}),
        ([rand(2, 3, dtype=bool), rand(3, dtype=bool, seed=1)], {}),
        ([rand(dtype=i32), rand(0, 2, dtype=i32)], {}),
        ([rand(3, dtype="int8", low=-128, high=127), rand(3, dtype="int16", seed=1)], {}),
    ]
CASES["bitwise_not"] = [([rand(2, 3, dtype=i32, low=-100, high=100)], {}),
                        ([np.array([0, 1, 254, 255], "uint8")], {}),
                        ([np.array([-2**63, 2**63 - 1, 0])], {}),
                        ([rand(2, 3, dtype=bool)], {}), ([rand(0, 2, dtype="uint64")], {})]
