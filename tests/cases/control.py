"""Sample operands of cond: both branches of one traced ``gx.cond`` (a branch reading a
captured tensor too), each picked by the predicate."""

import numpy as np

import graphexec as gx

from ..helpers import rand


def _branches():
    with gx.graph() as g:
        p = gx.placeholder((), "bool")
        x = gx.placeholder((None, 3), "float64")
        y = gx.placeholder((3,), "float64")
        gx.cond(p, lambda a, b: a * b + 1.0, lambda a, b: gx.exp(a) - b * b, x, y)
    (d,) = [d for _, d in g.nx.nodes(data=True) if d["op"].name == "cond"]
    return d["attrs"]["branches"]


_B = _branches()

CASES = {
    "cond": [
        ([np.array(True), rand(2, 3), rand(3)], {"branches": _B}),
        ([np.array(False), rand(2, 3), rand(3)], {"branches": _B}),
        ([np.array(False), rand(0, 3), rand(3)], {"branches": _B}),
    ],
}
