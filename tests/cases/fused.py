"""Sample operands of fused_elementwise (one program, a few layouts and broadcasts)."""

import numpy as np

from graphexec.fusion import FusedProgram, Member
from graphexec.registry import Spec

from ..helpers import rand

f32 = np.dtype("float32")
_X, _B = Spec((None, None), f32), Spec((None,), f32)
# relu(x * 1.5 + b) - x
_PROGRAM = FusedProgram(
    [_X, _B],
    [Member("m", "multiply", (("input", 0), ("literal", 0)), _X),
     Member("a", "add", (("member", 0), ("input", 1)), _X),
     Member("r", "relu", (("member", 1),), _X),
     Member("s", "subtract", (("member", 2), ("input", 0)), _X)],
    literals=[np.float32(1.5)])

CASES = {
    "fused_elementwise": [
        ([rand(3, 4, dtype="float32"), rand(4, dtype="float32")], {"program": _PROGRAM}),
        ([rand(3, 1, dtype="float32"), rand(4, dtype="float32")], {"program": _PROGRAM}),
        ([rand(4, 3, dtype="float32").T, rand(1, dtype="float32")], {"program": _PROGRAM}),
    ],
}
