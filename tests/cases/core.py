"""Sample operands per op for the registry-wide infer-vs-kernel test (see test_registry.py).

Each module under tests/cases/ defines CASES: op name -> list of (operand arrays, attrs).
"""

import numpy as np

from ..helpers import rand

f32, f64 = "float32", "float64"
CASES = {
    "matmul": [
        ([rand(2, 3, dtype=f32), rand(3, 4, dtype=f32)], {}),
        ([rand(5, 2, 3), rand(3, 4)], {}),
        ([rand(3), rand(3, 4)], {}),
        ([rand(2, 3), rand(3)], {}),
        ([rand(3), rand(3)], {}),
        ([rand(2, 1, 2, 3), rand(4, 3, 5)], {}),
        ([rand(2, 3, dtype="int32"), rand(3, 2, dtype="int32")], {}),
        ([rand(2, 3, dtype="bool"), rand(3, 2, dtype="bool")], {}),
    ],
    "cast": [([rand(2, 3)], {"dtype": np.dtype("int32")}), ([rand(3, dtype=f32)],
                                                             {"dtype": np.dtype("float64")})],
}
for _name in ("add", "subtract", "multiply", "divide", "pow", "maximum", "minimum",
              "floor_divide", "mod", "equal", "not_equal", "less", "less_equal", "greater",
              "greater_equal"):
    CASES[_name] = [
        ([rand(2, 3, dtype=f32, low=0.5), rand(3, dtype=f32, low=0.5, seed=1)], {}),
        ([rand(4, 1, low=0.5), rand(1, 5, low=0.5, seed=1)], {}),
        ([rand(2, 3, dtype="int32", low=1, high=5), rand(2, 3, dtype="int32", low=1, high=5)], {}),
        ([rand(dtype=f64, low=0.5), rand(0, 3, dtype=f64)], {}),
    ]
for _name in ("negative", "abs"):
    CASES[_name] = [([rand(2, 3, dtype=f32)], {}), ([rand(4, dtype="int64")], {}),
                    ([rand(dtype=f64)], {})]
