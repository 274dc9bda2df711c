"""Sample operands of the gradient helper primitives."""

from ..helpers import rand

CASES = {
    "sum_to_like": [([rand(2, 3), rand(1, 3)], {}), ([rand(4, 2, 3), rand(2, 1)], {}),
                    ([rand(2, 3), rand(2, 3)], {}), ([rand(3), rand()], {})],
    "broadcast_like": [([rand(1, 3), rand(2, 3)], {}), ([rand(3), rand(4, 2, 3)], {}),
                       ([rand(), rand(2)], {})],
    "stop_gradient": [([rand(2, 3)], {}), ([rand(3, dtype="int32")], {})],
}
