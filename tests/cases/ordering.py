"""Sample operands of the ops along one axis (cumulative sums and products, sorting,
take_along_axis) and of einsum."""

import numpy as np

from ..helpers import rand

_ZEROS = np.array([[2.0, 0.0, 3.0, 0.5], [0.0, 0.0, 1.5, -2.0]])  # cumprod's gradient at zeros

CASES = {
    "cumsum": [([rand(3, 4)], {"axis": 1, "reverse": False}),
               ([rand(3, 4)], {"axis": 0, "reverse": True}),
               ([rand(5, dtype="int32")], {"axis": 0, "reverse": False}),
               ([rand(0, 2)], {"axis": 0, "reverse": False})],
    "cumprod": [([rand(3, 4)], {"axis": 1, "reverse": False}),
                ([_ZEROS], {"axis": 1, "reverse": True}),
                ([_ZEROS], {"axis": 0, "reverse": False}),
                ([rand(4, dtype="int64", low=1, high=3)], {"axis": 0, "reverse": False})],
    "cumprod_grad": [([rand(3, 4), _ZEROS[:1].repeat(3, 0)], {"axis": 1, "reverse": False})],
    "argsort": [([np.array([3.0, 1.0, 3.0, np.nan, 2.0])], {"axis": 0, "descending": False}),
                ([np.array([[3, 1, 3], [0, 0, 5]])], {"axis": 1, "descending": True}),
                ([rand(2, 0)], {"axis": 1, "descending": False})],
    "sort": [([rand(3, 5)], {"axis": 1, "descending": False}),
             ([rand(4, 2)], {"axis": 0, "descending": True}),
             ([np.array([2, 1, 2, 0])], {"axis": 0, "descending": False})],
    "take_along_axis": [([rand(3, 4), np.array([[0, 3], [1, 1], [-1, 2]])], {"axis": 1}),
                        ([rand(2, 3), np.array([[1, 0, 1]])], {"axis": 0})],
    "take_along_axis_grad": [([rand(3, 2), np.array([[0, 3], [1, 1], [-1, 2]]), rand(3, 4)],
                              {"axis": 1})],
    "einsum": [([rand(2, 3), rand(3, 4)], {"spec": "ij,jk->ik"}),
               ([rand(2, 3, 4)], {"spec": "ijk->ki"}),
               ([rand(3), rand(3), rand(2)], {"spec": "i,i,j->j"}),
               ([rand(2, 3), rand(4)], {"spec": "ij,k->jk"}),
               ([rand(3, 3)], {"spec": "ij->"})],
}
