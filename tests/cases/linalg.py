"""Sample operands of the gx.linalg ops."""

import numpy as np

from ..helpers import rand

f32, f64, i32 = "float32", "float64", "int32"


def _spd(*batch, n=3, dtype=f64, seed=0):
    a = rand(*batch, n, n, seed=seed)
    return (a @ np.swapaxes(a, -1, -2) + n * np.eye(n)).astype(dtype)


def _wc(*batch, n=3, seed=1):
    """Well-conditioned matrices that are not symmetric (a transposition error shows)."""
    return rand(*batch, n, n, seed=seed) + 2 * n * np.eye(n)


CASES = {
    "inv": [([_spd(dtype=f32)], {}), ([_spd(2, 4)], {}), ([np.eye(3, dtype=i32) * 2], {}),
            ([rand(0, 0)], {}), ([rand(3, 0, 0, dtype=f32)], {}),
            ([_spd().astype("complex64")], {}), ([_wc()], {}), ([_wc(2, 2, n=2)], {})],
    "det": [([rand(3, 3, dtype=f32)], {}), ([rand(2, 5, 4, 4)], {}),
            ([rand(2, 2, dtype=i32)], {}), ([rand(0, 0)], {}), ([rand(0, 2, 2, dtype=f32)], {}),
            ([_wc(2)], {}), ([rand(1, 1)], {})],
    "solve": [
        ([_spd(dtype=f32), rand(3, 2, dtype=f32)], {}),
        ([_spd(2), rand(3)], {}),
        ([_spd(2, 1), rand(4, 3, 2)], {}),
        ([_spd(), rand(5, 3, 1, dtype=f32)], {}),
        ([np.eye(2, dtype=i32), rand(2, 3, dtype=i32)], {}),
        ([_spd(dtype=f32), rand(3, 2)], {}),
        ([rand(0, 0), rand(0, 4)], {}),
        ([_wc(2), rand(3, seed=2)], {}),
        ([_wc(), rand(2, 3, 2, seed=3)], {}),
        ([_wc(n=4), rand(4, seed=4)], {}),
    ],
    "eig": [([rand(3, 3, dtype=f32)], {}), ([rand(2, 4, 4)], {}),
            ([np.array([[0.0, -1.0], [1.0, 0.0]])], {}), ([np.eye(2, dtype=i32)], {}),
            ([rand(0, 0, dtype=f32)], {}), ([_spd().astype("complex128")], {})],
    "eigh": [([_spd(dtype=f32)], {"UPLO": "L"}), ([_spd(3)], {"UPLO": "U"}),
             ([np.eye(2, dtype=i32)], {"UPLO": "L"}), ([rand(2, 0, 0)], {"UPLO": "L"}),
             ([_spd().astype("complex64")], {"UPLO": "L"})],
    "svd": [
        ([rand(3, 2, dtype=f32)], {"full_matrices": False, "compute_uv": True}),
        ([rand(2, 3, 5)], {"full_matrices": True, "compute_uv": True}),
        ([rand(4, 4)], {"full_matrices": False, "compute_uv": False}),
        ([rand(3, 2, dtype=i32)], {"full_matrices": False, "compute_uv": True}),
        ([rand(0, 3)], {"full_matrices": False, "compute_uv": True}),
        ([rand(2, 3, 0, dtype=f32)], {"full_matrices": False, "compute_uv": False}),
        ([rand(3, 2).astype("complex64")], {"full_matrices": True, "compute_uv": True}),
    ],
    "norm": [
        ([rand(2, 3, 4, dtype=f32)], {"ord": None, "axis": None, "keepdims": False}),
        ([rand(2, 3, 4)], {"ord": None, "axis": None, "keepdims": True}),
        ([rand(5)], {"ord": 1, "axis": None, "keepdims": False}),
        ([rand(3, 4, dtype=f32)], {"ord": "fro", "axis": None, "keepdims": True}),
        ([rand(2, 3, 4)], {"ord": 3.5, "axis": (1,), "keepdims": False}),
        ([rand(2, 3, 4)], {"ord": np.inf, "axis": (2,), "keepdims": True}),
        ([rand(2, 3, 4, dtype=f32)], {"ord": 2, "axis": (2, 0), "keepdims": False}),
        ([rand(2, 3, 4)], {"ord": "nuc", "axis": (1, 2), "keepdims": True}),
        ([rand(2, 3, dtype=i32)], {"ord": -np.inf, "axis": (0, 1), "keepdims": False}),
        ([rand(3, 3).astype("complex64")], {"ord": 0, "axis": (1,), "keepdims": False}),
        ([rand(0, 3)], {"ord": None, "axis": (1,), "keepdims": False}),
        ([rand(dtype=f32)], {"ord": None, "axis": None, "keepdims": False}),
        # float64 cases for the gradient: each vector and matrix ord, keepdims, axes given
        # in either order, a zero vector (subgradient 0) and a tie for the max
        ([rand(4)], {"ord": 2, "axis": None, "keepdims": True}),
        ([rand(2, 3, seed=1)], {"ord": -np.inf, "axis": (1,), "keepdims": False}),
        ([rand(3, 4, seed=2)], {"ord": 0, "axis": (1,), "keepdims": False}),
        ([rand(2, 5, seed=3)], {"ord": -1, "axis": (0,), "keepdims": True}),
        ([rand(3, 4, seed=4)], {"ord": 0.5, "axis": (1,), "keepdims": False}),
        ([rand(3, 4, seed=5)], {"ord": 1, "axis": None, "keepdims": False}),
        ([rand(2, 3, 4, seed=6)], {"ord": -1, "axis": (2, 1), "keepdims": True}),
        ([rand(3, 4, seed=7)], {"ord": np.inf, "axis": None, "keepdims": True}),
        ([rand(2, 4, 3, seed=8)], {"ord": -np.inf, "axis": (0, 2), "keepdims": False}),
        ([rand(3, 4, seed=9)], {"ord": -2, "axis": (1, 0), "keepdims": False}),
        ([rand(2, 2, 3, seed=10)], {"ord": 2, "axis": (1, 2), "keepdims": False}),
        ([rand(3, 3, seed=11)], {"ord": "nuc", "axis": None, "keepdims": False}),
        ([rand(2, 3, 4, seed=12)], {"ord": None, "axis": (0, 2), "keepdims": False}),
        ([rand(2, 3, seed=13)], {"ord": "f", "axis": None, "keepdims": True}),
        ([np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 2.0]])],
         {"ord": None, "axis": (1,), "keepdims": False}),
        ([np.array([[1.0, -1.0, 0.5], [0.25, 2.0, -1.5]])],
         {"ord": np.inf, "axis": (1,), "keepdims": False}),
    ],
}
