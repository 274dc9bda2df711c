"""The numba code writer of fused elementwise groups: one loop kernel per program, written as
Python source from the members' own code (``OpDef.fusion``) and compiled by ``numba.njit``
(``graphexec.fusion.jit``).

The kernel loops over the flat index when every input has the output's shape and all are
C-contiguous, else over the output's N-d index with broadcast inputs, in parallel (``prange``)
when the program asks for it (``program.PARALLEL_MIN_SIZE``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from ..fusable import conv, lit, np_name
from .jit import CACHE_LINE

if TYPE_CHECKING:
    from .program import FusedProgram

__all__ = ["kernel_source", "members_code", "module_constants"]


def module_constants(program: FusedProgram) -> list[str]:
    """The module-level lines of ``program``'s code: its literals ``L0, L1, ...`` and the
    constants its members read (``Fusion.consts``), once each."""
    lines = [f"L{k} = {lit(v)}  # {v.reshape(()).item()!r}"
             for k, v in enumerate(program.literals)]
    consts: dict[tuple[str, str], Any] = {}
    for m, loop in zip(program.members, program._loops, strict=True):
        if m.op.fusion.consts is not None:
            dt = loop[0] if loop else m.spec.dtype
            consts.setdefault((m.op.name, dt.str), (m.op.fusion.consts, dt))
    for key in sorted(consts):
        make, dt = consts[key]
        lines += make(dt)
    return lines


def members_code(program: FusedProgram) -> list[str]:
    """The statements computing one element of ``program`` from its inputs' values ``v0, v1,
    ...``: each member ``j`` in turn, written by its op (``OpDef.fusion.emit``) in its loop
    dtype and converted to its own dtype as ``m{j}``.  The numba loop runs them as they are;
    the CUDA writer (``graphexec.fusion.cuda``) translates them."""
    ins, members = program.inputs, program.members
    lines = []
    for j, (m, loop) in enumerate(zip(members, program._loops, strict=True)):
        exprs = []
        for (kind, i), dt in zip(m.operands, loop, strict=True):
            if kind == "input":
                exprs.append(conv(f"v{i}", ins[i].dtype, dt))
            elif kind == "member":
                exprs.append(conv(f"m{i}", members[i].spec.dtype, dt))
            else:
                exprs.append(conv(f"L{i}", program.literals[i].dtype, dt))
        stmts, expr = m.op.fusion.emit(j, loop[0] if loop else m.spec.dtype, exprs,
                                       dict(m.attrs))
        out_dt = m.spec.dtype
        if out_dt.kind != "b":  # a bool expression is a bool already
            expr = f"{np_name(out_dt)}({expr})"
        lines += [*stmts, f"m{j} = {expr}"]
    return lines


def kernel_source(program: FusedProgram, flat: bool, parallel: bool,
                  scalars: Sequence[bool] = ()) -> str:
    """The Python source of ``program``'s numba kernel ``kernel(out, x0, x1, ...)``: over the
    flat index (``flat``: every array has the output's shape and is C-contiguous, but those
    marked in ``scalars``, passed as one-element 1-d arrays and read once) or the output's
    N-d index with broadcast inputs; with ``prange`` when ``parallel``.

    >>> import numpy as np
    >>> from graphexec.fusion import FusedProgram, Member, kernel_source
    >>> from graphexec.registry import Spec
    >>> f32 = Spec((4,), np.dtype("float32"))
    >>> p = FusedProgram([f32], [Member("y", "multiply", (("input", 0), ("literal", 0)), f32)],
    ...                  literals=[np.float32(1.5)])
    >>> print(kernel_source(p, flat=True, parallel=False))  # doctest: +ELLIPSIS
    # <fused 1: multiply> (flat, serial)
    ...
    L0 = _lit('<f4', '0000c03f')  # 1.5
    ...
    def kernel(out, x0):
        o = out.reshape(out.size)
        a0 = x0.reshape(x0.size)
        for i in range(o.size):
            v0 = a0[i]
            m0 = np.float32((v0 * L0))
            o[i] = m0
    """
    ins, members = program.inputs, program.members
    nd = program._ndim
    head = [
        f"# {program!r} ({'flat' if flat else 'N-d'}, {'parallel' if parallel else 'serial'})",
        "import math",
        "",
        "import numpy as np",
        "from numba import from_dtype, njit, prange, types",
        "",
        "",
        "def _lit(dtype, hexbytes):",
        "    return np.frombuffer(bytes.fromhex(hexbytes), dtype)[0]",
        "",
        "",
    ]
    head += module_constants(program)

    def arr(dt: np.dtype, ndim: int, readonly: bool) -> str:
        ro = ", readonly=True" if readonly else ""
        layout = "'C'" if flat else "'A'"
        return f"types.Array(from_dtype(np.dtype({dt.str!r})), {ndim}, {layout}{ro})"

    scalar = list(scalars) or [False] * len(ins)
    sig = ", ".join([arr(program._dtype, nd, False)]
                    + [arr(s.dtype, 1 if scalar[k] else nd if flat else len(s.shape), True)
                       for k, s in enumerate(ins)])
    head += ["", f"SIG = types.void({sig})", CACHE_LINE, "", ""]
    args = ", ".join(["out"] + [f"x{k}" for k in range(len(ins))])
    rng = "prange" if parallel else "range"
    par = ", parallel=True" if parallel else ""
    body = [f"@njit(SIG, cache=CACHE{par}, error_model='numpy')", f"def kernel({args}):"]

    member_lines = partial(members_code, program)
    if flat:
        body.append("    o = out.reshape(out.size)")
        body += [f"    v{k} = x{k}[0]" if scalar[k] else f"    a{k} = x{k}.reshape(x{k}.size)"
                 for k in range(len(ins))]
        body.append(f"    for i in {rng}(o.size):")
        loop_body = [f"v{k} = a{k}[i]" for k in range(len(ins)) if not scalar[k]]
        loop_body += member_lines()
        loop_body.append(f"o[i] = m{len(members) - 1}")
        body += ["        " + line for line in loop_body]
    else:
        dims = [f"n{d}" for d in range(nd)]
        body.append(f"    {', '.join(dims)}{',' if nd == 1 else ''} = out.shape")
        loads = []
        idx = [f"i{d}" for d in range(nd)]
        for k, s in enumerate(ins):
            off = nd - len(s.shape)
            for d in range(len(s.shape)):
                body.append(f"    b{k}_{d} = 0 if x{k}.shape[{d}] == 1 else 1")
            if not s.shape:
                body.append(f"    v{k} = x{k}[()]")
                continue
            at = ", ".join(f"{idx[off + d]} * b{k}_{d}" for d in range(len(s.shape)))
            loads.append(f"v{k} = x{k}[{at}]")
        inner = loads + member_lines() + [f"out[{', '.join(idx)}] = m{len(members) - 1}"]
        if nd <= 2:
            body.append(f"    for i0 in {rng}(n0):")
            if nd == 2:
                body.append("        for i1 in range(n1):")
            body += [" " * 4 * (nd + 1) + line for line in inner]
        else:
            # NOTE: one loop over the leading axes, unravelled (with a new name per step: numba
            # refuses a parallel loop that reassigns a name) once per plane of the last two
            # axes when serial, as a division per element row costs more than a short row
            # (channels); once per row when parallel, so that a few large planes still share
            # out among the threads (coalescing merges short rows where it can)
            lead = nd - 2 if not parallel else nd - 1
            body.append(f"    for r in {rng}({' * '.join(dims[:lead])}):")
            unravel, q = [], "r"
            for d in range(lead - 1, 0, -1):
                unravel += [f"i{d} = {q} % n{d}", f"q{d} = {q} // n{d}"]
                q = f"q{d}"
            unravel.append(f"i0 = {q}")
            body += ["        " + line for line in unravel]
            pad = "        "
            for d in range(lead, nd):
                body.append(f"{pad}for i{d} in range(n{d}):")
                pad += "    "
            body += [pad + line for line in inner]
    return "\n".join(head + body) + "\n"
