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


def _node(fn, *specs):
    with gx.graph() as g:
        fn(*[gx.placeholder(s, d) for s, d in specs])
    (d,) = [d for _, d in g.nx.nodes(data=True) if d["op"].name in ("scan", "while")]
    return d["attrs"]


_SCAN = _node(lambda c, xs, w: gx.scan(lambda c, x: (c * x + w, gx.sin(c) * x), c, xs),
              ((3,), "float64"), ((None, 3), "float64"), ((3,), "float64"))
_SCAN_REV = _node(lambda c, xs: gx.scan(lambda c, x: (gx.tanh(c + x), c * 2.0), c, xs,
                                        reverse=True),
                  ((2,), "float64"), ((None, 2), "float64"))
_WHILE = _node(lambda i, x, w: gx.while_loop(lambda i, x: i < 3,
                                             lambda i, x: (i + 1, x * w + gx.sin(x)), (i, x)),
               ((), "int64"), ((2,), "float64"), ((2,), "float64"))

_WHILE_F = _node(lambda x, w: gx.while_loop(lambda x: gx.sum(x) < 20.0,
                                           lambda x: x * w + gx.sin(x), (x,)),
                 ((2,), "float64"), ((2,), "float64"))

CASES.update({
    "scan": [
        ([rand(3), rand(4, 3), rand(3)], _SCAN),
        ([rand(3), rand(0, 3), rand(3)], _SCAN),
        ([rand(2), rand(3, 2)], _SCAN_REV),
    ],
    "while": [
        ([np.int64(0), rand(2), rand(2)], _WHILE),
        ([np.int64(5), rand(2), rand(2)], _WHILE),  # no iteration at all
        # float loop variables only (its gradient is checked), far from the exit's edge:
        # sums 1.15, 2.87, 6.42, 9.87, 13.54 -> 21.62 after five iterations
        ([np.array([0.5, 0.65]), np.array([1.5, 1.6])], _WHILE_F),
    ],
})
