"""``gx.linalg``: matrix inverse, solve, eigen- and singular value decompositions, det, norm.

>>> import graphexec as gx
>>> gx.linalg.solve([[1.0, 1.0], [0.0, 2.0]], [3.0, 2.0]).numpy()
array([2., 1.], dtype=float32)
"""

from .ops.linalg import det, eig, eigh, inv, matmul, norm, solve, svd

__all__ = ["inv", "solve", "eig", "eigh", "svd", "det", "norm", "matmul"]
