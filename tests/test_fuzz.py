"""A differential fuzzer that stays: random programs against eager mode.

A seeded generator draws programs of every fusible op (erf and sigmoid included) and casts over
data full of NaN, ±inf, ±0, denormals and int64 extremes, with Python scalars as static
arguments, fetched views of the inputs, ``matmul(transpose(u), u)`` after CSE and
``x ** 0.5``.  Each program runs eagerly (the reference), then

- as one compiled graph per level (0..3) and fusion backend (numpy, numba): three runs with new
  feeds, every earlier result kept and compared at the end, and the fed arrays overwritten
  after each run (a result that shared their memory would change);
- as one ``gx.function`` per level, called with a sequence of static Python arguments that only
  bits tell apart (``0.0``/``-0.0``, ``1``/``1.0``/``True``, NaN): one function object, so
  its trace cache must key them apart.

Levels 0 and 1, and levels 2-3 with the numpy fusion backend, must give eager mode's bits;
numba's loops too, but for the transcendental ops, which may differ by a few ulp (checked with
a tolerance scaled to each result, and the same non-finite positions).

Reverting any one of the fixes this fuzzer was written for (fused erf's names, int64 overflow
in fused loops, static-argument keys, fetched views of feeds, ``A.T @ A`` after CSE,
``x ** 0.5``) makes the short profile fail.

Profiles: ``make test`` runs ``SHORT`` seeded programs; ``FUZZ_CASES=N`` (and ``FUZZ_SEED``) or
``HYPOTHESIS_PROFILE=nightly`` (``NIGHTLY`` programs) run more:

    HYPOTHESIS_PROFILE=nightly .venv/bin/python -m pytest tests/test_fuzz.py -n 2 -q
"""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import graphexec as gx

from .test_programs import assert_bitwise, quiet

SHORT, NIGHTLY, CHUNK = 48, 6000, 12
BACKENDS = ["numpy"] + (["numba"] if importlib.util.find_spec("numba") else [])
F32, F64, I64 = np.dtype("float32"), np.dtype("float64"), np.dtype("int64")

UNARY = ["abs", "negative", "sign", "square", "sqrt", "rsqrt", "reciprocal", "exp", "expm1",
         "log", "log1p", "sin", "cos", "tan", "tanh", "relu", "sigmoid", "erf", "logical_not",
         "stop_gradient"]
BINARY = ["add", "subtract", "multiply", "divide", "pow", "maximum", "minimum", "equal",
          "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and",
          "logical_or"]
TRANSCENDENTAL = {n for n, op in gx.REGISTRY.items() if op.fusion and op.fusion.transcendental}
#: static Python arguments that only their bits (or type) tell apart
STATICS = [0.0, -0.0, 1, 1.0, True, float("nan"), 0.5, 2.0, -1.0, 3]
#: literal second operands: the exact powers (x ** 0.5) and the identities, often
LITERALS = {"f": np.array([0.5, 0.5, 2.0, -1.0, 1.5, 0.0, -0.0, 3.0, 1.0]),
            "i": np.array([0, 0, 1, -1, 2, 3])}


def _fn(name: str) -> Callable[..., Any]:
    return getattr(gx, name, None) or getattr(gx.nn, name)


def _data(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    n = int(np.prod(shape))
    if dtype == I64:
        pool = np.array([2**62, -2**63, 2**63 - 1, -1, 0, 1, 3, -7, 2**31], I64)
    elif dtype.kind == "f":
        tiny = np.finfo(dtype).smallest_subnormal
        pool = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, tiny, -tiny, 1.0, -1.5, 2.0, 0.5,
                         3.0, -4.0, 1e30], dtype)
    elif dtype.kind == "b":
        return np.asarray(rng.random(shape) < 0.5)
    else:
        info = np.iinfo(dtype)
        pool = np.array([info.min, info.max, info.max // 2 + 1, 0, 1, -1 if info.min else 2, 5],
                        dtype)
    special = pool[rng.integers(0, len(pool), n)]
    plain = (rng.standard_normal(n) * 3).astype(dtype) if dtype.kind == "f" else special
    out = np.where(rng.random(n) < 0.6, special, plain).astype(dtype)
    # the values the bugs were about, in every array big enough: the pool's first entries
    # (NaN, ±inf, ±0; the integer extremes)
    must = rng.permutation(5 if dtype.kind == "f" else 3)[:max(0, min(n - 1, 3))]
    out[rng.permutation(n)[:len(must)]] = pool[must]
    return out.reshape(shape)


@dataclass
class Program:
    """Inputs, steps ``(op, operands)`` (operand: int = an earlier value, ``("s", k)`` = static
    argument ``k``, ``("lit", v)`` = the Python number ``v``, a str = a dtype or op name), the
    values it returns, and its static arguments."""

    inputs: list[np.ndarray]
    steps: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    views: list[tuple[str, int]] = field(default_factory=list)
    n_statics: int = 0
    #: the machine epsilon of the program's least precise float dtype
    eps: float = float(np.finfo(F64).eps)
    #: eager runs only: scale each transcendental result by ``1 + nudge`` (see ``_sensitivity``)
    nudge: float = 0.0

    @property
    def transcendental(self) -> bool:
        return any(op in TRANSCENDENTAL for op, _ in self.steps)

    def __call__(self, *args: Any) -> list[Any]:
        xs, statics = list(args[:len(self.inputs)]), args[len(self.inputs):]
        vals = list(xs)
        for op, operands in self.steps:
            ins = [vals[o] if isinstance(o, int) else o if isinstance(o, str)
                   else statics[o[1]] if o[0] == "s" else o[1] for o in operands]
            if op == "gram":  # matmul(transpose(u), u) with u built twice: CSE merges them
                u1, u2 = (_fn(ins[1])(ins[0]) for _ in range(2))
                vals.append(gx.matmul(gx.transpose(u1), u2))
            elif op == "cast":
                vals.append(gx.cast(ins[0], ins[1]))
            elif op == "where":
                vals.append(gx.where(ins[0], ins[1], ins[2]))
            else:
                vals.append(_fn(op)(*ins))
            if self.nudge and (op in TRANSCENDENTAL or op == "gram") and vals[-1].dtype.kind == "f":
                vals[-1] = vals[-1] * (1.0 + self.nudge)
        views = {"transpose": gx.transpose, "reshape": lambda t: gx.reshape(t, (-1,)),
                 "reverse": lambda t: t[::-1] if t.ndim else t}
        return [vals[k] for k in self.outputs] + [views[v](xs[k]) for v, k in self.views]


def draw_program(seed: int) -> Program:
    rng = np.random.default_rng(seed)
    dtype = [F32, F64, I64, np.dtype("int8"), np.dtype("int32"), np.dtype("bool")][
        rng.choice(6, p=[0.3, 0.3, 0.2, 0.07, 0.08, 0.05])]
    gram = dtype.kind == "f" and rng.random() < 0.3
    # NOTE: BLAS syrk rounds unlike gemm for widths off its 8-wide tiles (12, 13, 20: on
    # OpenBLAS, float64)
    shape = (int(rng.integers(4, 20)), int(rng.choice([9, 11, 12, 13, 15, 20]))) if gram else \
        [(), (5,), (3, 4), (2, 3, 4), (1, 4), (7,), (4, 5)][rng.integers(0, 7)]
    second = shape[int(rng.integers(0, len(shape) + 1)):]  # broadcasts against the first
    data = (lambda s, d: rng.standard_normal(s).astype(d)) if gram else \
        (lambda s, d: _data(rng, s, d))  # a product of NaNs would hide how it rounds
    p = Program([data(shape, dtype)] + ([data(second, dtype)] if rng.random() < 0.6 else []))
    p.n_statics = int(rng.integers(0, 3))
    values = [(a.dtype, a.shape) for a in p.inputs]
    if gram:
        p.steps.append(("gram", (0, str(rng.choice(["tanh", "abs", "square", "sigmoid"])))))
        values.append((dtype, (shape[1], shape[1])))
    for _ in range(int(rng.integers(2, 9))):
        k = int(rng.integers(0, len(values)))
        for op, ops in _draw_steps(rng, p, values, k):
            try:  # keep the steps that build: dtype and shape rules refuse some
                with quiet():
                    out = _trial(p, op, ops)
            except gx.GraphexecError:
                break
            p.steps.append((op, ops))
            values.append((out.dtype, out.shape))
    p.eps = max(float(np.finfo(d).eps) for d in [F64] + [d for d, _ in values if d.kind == "f"])
    n = len(p.inputs) + len(p.steps)
    inner = [int(rng.integers(0, n))] if rng.random() < 0.5 else []  # inside a fused group
    p.outputs = sorted({n - 1, *inner, *([len(p.inputs)] if gram else [])})
    if rng.random() < 0.5:
        p.views.append((str(rng.choice(["transpose", "reshape", "reverse"])), 0))
    return p


def _draw_steps(rng: np.random.Generator, p: Program, values: list[Any], k: int
                ) -> list[tuple[str, tuple[Any, ...]]]:
    """One step on value ``k``, or an idiom of two (operand -1: the first one's result)."""
    roll = rng.random()
    if roll < 0.4:
        return [(str(rng.choice(UNARY)), (k,))]
    if roll < 0.82:
        op = str(rng.choice([*BINARY, "pow", "add", "multiply"]))  # pow weighs more
        pick = rng.random()
        if pick < 0.4:  # a Python number: a static argument or a literal
            kind = values[k][0].kind
            other: Any = ("s", int(rng.integers(0, p.n_statics))) if p.n_statics and \
                rng.random() < 0.5 else rng.choice(LITERALS["f" if kind == "f" else "i"])
            if isinstance(other, tuple):  # ops that tell the statics apart: x / -0.0 is -inf
                op = str(rng.choice(["divide", "divide", "multiply", "add", "maximum", "less"]))
            else:
                other = ("lit", other.item())
        elif pick < 0.6:  # x op x: both operands one buffer
            other = k
        else:
            other = int(rng.integers(0, len(values)))
        return [(op, (k, other) if rng.random() < 0.8 else (other, k))]
    if roll < 0.86:  # a float to int cast of NaN, inf or an out-of-range value saturates
        targets = ["float32", "float64", "bool", "int64", "int8", "uint8"]
        return [("cast", (k, str(rng.choice(targets))))]
    if roll < 0.92:
        return [("where", (k, int(rng.integers(0, len(values))), k))]
    if values[k][0].kind == "f":  # (x ** 0.5) * 1.5 on -inf and -0.0: numpy takes sqrt
        return [("pow", (k, ("lit", 0.5))), ("multiply", (-1, ("lit", 1.5)))]
    # sign(x + x), x * x != 0: LLVM may assume that signed arithmetic does not wrap
    first = ("add" if rng.random() < 0.5 else "multiply", (k, k))
    return [first, ("sign", (-1,)) if rng.random() < 0.5 else ("not_equal", (-1, ("lit", 0)))]


def _trial(p: Program, op: str, ops: tuple[Any, ...]) -> Any:
    trial = Program(p.inputs, [*p.steps, (op, ops)], n_statics=p.n_statics)
    trial.outputs = [len(p.inputs) + len(trial.steps) - 1]
    statics = [STATICS[k] for k in range(p.n_statics)]
    with gx.eager():
        return trial(*[gx.constant(a) for a in p.inputs], *statics)[0]


def _eager(p: Program, feeds: list[np.ndarray], statics: list[Any]) -> list[np.ndarray]:
    with gx.eager(), quiet():
        return [t.numpy().copy() for t in p(*[gx.constant(a) for a in feeds], *statics)]


def _sensitivity(p: Program, feeds: list[np.ndarray], statics: list[Any],
                 want: list[np.ndarray]) -> list[np.ndarray]:
    """How much each result moves when every transcendental op is off by a few ulp (eager runs
    with those results scaled by 1 ± 8 eps): what numba's libm may do, carried through the rest
    of the program (sin(1e21) moves by 1).  NaN where the nudge changes which values are
    finite: such an element can be anything."""
    moves = [np.zeros(w.shape) for w in want]
    for sign in (1, -1):
        p.nudge = sign * 8 * p.eps
        try:
            nudged = _eager(p, feeds, statics)
        finally:
            p.nudge = 0.0
        for m, n, w in zip(moves, nudged, want, strict=True):
            if w.dtype.kind == "f":
                with quiet():
                    same = (n == w) | (np.isnan(n) & np.isnan(w))
                    d = np.where(same, 0.0, np.abs(n.astype(F64) - w))
                d[np.isfinite(n) != np.isfinite(w)] = np.nan
                m[...] = np.where(np.isnan(m) | np.isnan(d), np.nan, np.maximum(m, d))
    return moves


def _compare(got: np.ndarray, want: np.ndarray, exact: bool, what: str, eps: float = 0.0,
             moves: np.ndarray | None = None) -> None:
    got = np.asarray(got)
    if exact or want.dtype.kind != "f":
        assert_bitwise(got, want, what)
        return
    # transcendental ops in numba: a few ulp each, carried through the program as ``moves``
    # measured; elements whose finiteness a few ulp decide are not compared
    assert got.dtype == want.dtype and got.shape == want.shape, what
    stable = ~np.isnan(moves) if moves is not None else np.ones(want.shape, bool)
    finite = np.isfinite(want)
    np.testing.assert_array_equal(np.isnan(got)[stable], np.isnan(want)[stable], err_msg=what)
    inf = stable & ~finite & ~np.isnan(want)
    np.testing.assert_array_equal(got[inf], want[inf], err_msg=what)
    near = stable & finite
    if near.any():
        scale = float(np.max(np.abs(want[near]))) or 1.0
        bound = 4096 * eps * (np.abs(want[near]) + scale * 1e-3)
        if moves is not None:
            bound = bound + 8 * moves[near]
        bad = ~(np.abs(got[near].astype(F64) - want[near]) <= bound)
        assert not bad.any(), f"{what}: {got[near][bad][:4]} vs {want[near][bad][:4]}"


def check(seed: int) -> None:
    p = draw_program(seed)
    rng = np.random.default_rng(seed + 1)
    feed_sets = [p.inputs] + [[_data(rng, a.shape, a.dtype) for a in p.inputs] for _ in range(2)]
    statics = [STATICS[k] for k in range(p.n_statics)]
    wants: list[Any] = []
    for feeds in feed_sets:  # new data may fail where the first did not (int ** -1)
        try:
            want = _eager(p, feeds, statics)
        except gx.GraphexecError as e:
            wants.append((type(e), None))
            continue
        moves = _sensitivity(p, feeds, statics, want) if p.transcendental else None
        wants.append((want, moves))
    with gx.graph() as g:
        phs = [gx.placeholder((None,) * a.ndim if seed % 2 else a.shape, a.dtype)
               for a in p.inputs]
        fetches = p(*phs, *statics)
    for backend in BACKENDS:
        gx.config.set_fusion_backend(backend)
        try:
            for level in (0, 1, 2, 3):
                exact = level < 2 or backend == "numpy" or not p.transcendental
                what = f"seed {seed}, {backend}, level {level}"
                c = g.compile(fetches, optimize=level)
                kept = []
                for feeds, (want, moves) in zip(feed_sets, wants, strict=True):
                    fed = [a.copy() for a in feeds]
                    if isinstance(want, type):  # eager mode raised (a step the graph may
                        continue  # not need: graphs run what their fetches need)
                    with quiet():
                        out = c(dict(zip(phs, fed, strict=True)))
                    kept.append(([o.copy() for o in out], out, want, moves))
                    for a in fed:  # a result sharing a feed's memory would change now
                        a[...] = a.flat[0] if a.size else a
                for copies, out, want, moves in kept:
                    for k, (o, first, w) in enumerate(zip(out, copies, want, strict=True)):
                        assert_bitwise(o, first, f"{what}: result {k} changed after the run")
                        _compare(o, w, exact, f"{what}: result {k}", p.eps,
                                 None if moves is None else moves[k])
                _check_statics(p, level, exact, what)
        finally:
            gx.config.set_fusion_backend("auto")


def _check_statics(p: Program, level: int, exact: bool, what: str) -> None:
    if not p.n_statics:
        return
    f = gx.function(p, optimize=level)
    order = [0, 1, 0, 2, 3, 4, 5, 6, 1]  # 0.0, -0.0, 0.0, 1, 1.0, True, nan, 0.5, -0.0
    for start in order:
        statics = [STATICS[(start + k) % len(STATICS)] for k in range(p.n_statics)]
        try:
            want = _eager(p, p.inputs, statics)
        except gx.GraphexecError:
            continue  # these statics do not fit the program's dtypes (eager refuses them too)
        with quiet(), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the retraces are the point here
            got = f(*p.inputs, *statics)
        moves = _sensitivity(p, p.inputs, statics, want) if not exact else [None] * len(want)
        for k, (o, w, m) in enumerate(zip(got, want, moves, strict=True)):
            _compare(o.numpy(), w, exact, f"{what}: function with statics {statics!r}, "
                                          f"result {k}", p.eps, m)


def _cases() -> list[int]:
    n = int(os.environ.get("FUZZ_CASES", NIGHTLY if os.environ.get("HYPOTHESIS_PROFILE")
                           == "nightly" else SHORT))
    base = int(os.environ.get("FUZZ_SEED", 0))
    return list(range(base, base + n))


_SEEDS = _cases()


def _chunk_id(c: int) -> str:
    return f"seeds{_SEEDS[c]}-{_SEEDS[min(c + CHUNK, len(_SEEDS)) - 1]}"


@pytest.mark.parametrize("chunk", range(0, len(_SEEDS), CHUNK), ids=_chunk_id)
def test_random_programs_match_eager_mode(chunk):
    for seed in _SEEDS[chunk:chunk + CHUNK]:
        check(seed)


def test_the_generator_reaches_what_the_fuzzer_is_for():
    progs = [draw_program(s) for s in range(SHORT)]
    ops = {op for p in progs for op, _ in p.steps}
    assert {"erf", "pow", "gram", "cast", "where", "sigmoid"} <= ops, ops
    assert any(p.inputs[0].dtype == I64 for p in progs)
    assert any(p.n_statics for p in progs) and any(p.views for p in progs)
    assert any(p.transcendental for p in progs) and any(not p.transcendental for p in progs)


# -- the same programs on a device ---------------------------------------------------------------
def _host(a: Any) -> np.ndarray:
    return a.get() if hasattr(a, "get") else np.asarray(a)


def check_on_device(seed: int, dev: Any, real: bool) -> None:

    """Program ``seed``'s graph at every level on ``dev`` (host feeds, moved by the plan)
    against eager mode on the CPU.  On the CuPy stand-in the kernels are numpy's and the fused
    groups host builds of their CUDA source: eager's bits, but for the transcendental ops in
    fused kernels (libm's, a few ulp).  On a real GPU (``real``) CuPy's transcendental
    kernels and cuBLAS round differently too, so only programs of arithmetic alone must match
    bit for bit."""
    from graphexec.device import device_of

    p = draw_program(seed)
    try:
        want = _eager(p, p.inputs, [STATICS[k] for k in range(p.n_statics)])
    except gx.GraphexecError:
        return
    moves = _sensitivity(p, p.inputs, [STATICS[k] for k in range(p.n_statics)], want) \
        if p.transcendental else None
    with gx.graph() as g:
        phs = [gx.placeholder(a.shape, a.dtype) for a in p.inputs]
        fetches = p(*phs, *[STATICS[k] for k in range(p.n_statics)])
    gram = any(op == "gram" for op, _ in p.steps)
    for level in (0, 1, 2, 3):
        exact = not p.transcendental and not (real and gram) if real else (
            level < 2 or not p.transcendental)
        what = f"seed {seed} on {dev}, level {level}"
        with quiet():
            out = g.run(list(fetches), dict(zip(phs, p.inputs, strict=True)), optimize=level,
                        device=dev)
        for k, (o, w) in enumerate(zip(out, want, strict=True)):
            assert device_of(o) == dev, what
            _compare(_host(o), w, exact, f"{what}: result {k}", p.eps,
                     None if moves is None else moves[k])


DEVICE_SEEDS = _SEEDS


@pytest.mark.parametrize("where", [pytest.param("stand-in", id="stand-in"),
                                   pytest.param("cuda", id="cuda", marks=pytest.mark.gpu)])
def test_random_programs_on_a_device_match_eager_mode(where, monkeypatch):
    from graphexec.device import Device

    from . import fake_cupy

    if where == "stand-in":
        monkeypatch.setitem(sys.modules, "cupy", fake_cupy.make(devices=2))
        dev = Device("cuda", 1)
    else:
        dev = Device("cuda", 0)
    for seed in DEVICE_SEEDS if where == "stand-in" else _SEEDS:
        check_on_device(seed, dev, real=where == "cuda")
