"""Random programs run eagerly and as a graph at every optimization level: the same values.

The programs are those of ``tests/test_programs.py`` (every op family, broadcasting, scalars,
size-0 and 0-d values, float32/float64, placeholders with ``None`` dims), followed by steps
drawn to give the optimizer work: repeated subexpressions (CSE), identity and near-identity
constants — ``x*1``, ``x+0`` (not an identity for ``-0.0``), ``x*0``, ``x-x``, cast round trips
(lossy or not), reshape/transpose round trips, ``add`` trees — (simplification), subgraphs of
constants only (folding), and long elementwise chains with comparisons, ``where``, casts and
second operands (fusion and in-place memory planning).

For each program, the graph runs at levels 0..3 with several sets of fetches (the last value;
a random subset, so that inner nodes of fused groups are fetched too; every value):

- levels 0 and 1, and levels 2 and 3 with the numpy fusion backend: bit-identical to eager
  mode (NaN positions and the sign of zeros too);
- levels 2 and 3 with the numba fusion backend: bit-identical for the ops the fused module
  compiles exactly (arithmetic, comparisons, where, relu, min/max, abs, sqrt, casts); within
  ``NUMBA_TOL`` for programs with transcendental ops, whose numba versions may differ from
  numpy's by a few ulp (``graphexec.ops.fused``'s documented bound).

Each run checks the optimizer did work on some examples (nodes removed at level 1, fused nodes
at level 2, in-place writes at level 3), so the tests cannot pass vacuously; the user's graph
is never changed.  ``test_feed_errors_are_the_same_at_every_level`` checks bad feeds raise the
same class and message at every level.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import graphexec as gx

from .hypothesis_or_skip import given, settings, st
from .test_programs import (
    BINARY,
    F32,
    F64,
    UNARY,
    Gen,
    Program,
    Step,
    Val,
    _broadcast,
    _data,
    assert_bitwise,
    build_graph,
    programs,
    quiet,
    run_eager,
)

LEVELS = (0, 1, 2, 3)
#: levels 2-3 with numba, programs with transcendental ops: each of those ops is within
#: ``OpDef.fusion.ulp_for`` (at most 8) ulp of numpy; a program of ``numba_programs`` chains
#: at most 16
#: of them, on data where each op's condition number stays below about 4: 16 * 8 * 4 = 512 ulp
#: of the program's least precise float dtype (float32 6.1e-5, float64 1.1e-13), relative, and
#: the same absolute for values cancelling to near zero
NUMBA_ULPS = 16 * max(op.fusion.ulp_for(d) for op in gx.REGISTRY.values() if op.fusion
                      for d in ("float32", "float64")) * 4
NUMBA_TOL = {dt: dict(rtol=NUMBA_ULPS * float(np.finfo(dt).eps),
                      atol=NUMBA_ULPS * float(np.finfo(dt).eps)) for dt in (F32, F64)}


def _eager_np(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` on graphexec tensors as a function of arrays, run eagerly (to get specs)."""
    def run(*arrays: np.ndarray) -> Any:
        with gx.eager():
            out = fn(*[gx.constant(a) for a in arrays])
        return [o.numpy() for o in out] if isinstance(out, list | tuple) else out.numpy()

    return run


# ---------------------------------------------------------------------------------------------
# steps that give the optimizer something to do

def _identities(v: Val) -> list[tuple[str, Callable[[Any], Any], tuple[str, ...]]]:
    """(template, gx function, ops) of expressions that equal, or nearly equal, their operand."""
    other = "float32" if v.dtype == F64 else "float64"
    own = str(v.dtype)
    out: list[tuple[str, Callable[[Any], Any], tuple[str, ...]]] = [
        ("{0} * 1", lambda a: a * 1, ("multiply",)),
        ("1.0 * {0}", lambda a: 1.0 * a, ("multiply",)),
        ("{0} / 1", lambda a: a / 1, ("divide",)),
        ("{0} + 0", lambda a: a + 0, ("add",)),  # -0.0 + 0 is +0.0: not an identity
        ("0.0 + {0}", lambda a: 0.0 + a, ("add",)),
        ("{0} + -0.0", lambda a: a + -0.0, ("add",)),  # an identity, -0.0 included
        ("{0} - 0", lambda a: a - 0, ("subtract",)),
        ("{0} - -0.0", lambda a: a - -0.0, ("subtract",)),  # -0.0 - -0.0 is +0.0
        ("{0} ** 1", lambda a: a ** 1, ("pow",)),
        ("{0} * 0", lambda a: a * 0, ("multiply",)),  # NaN for inf, -0.0 for negatives
        ("{0} - {0}", lambda a: a - a, ("subtract",)),
        ("{0} / {0}", lambda a: a / a, ("divide",)),
        ("-(-{0})", lambda a: operator.neg(-a), ("negative", "negative")),
        ("abs(abs({0}))", lambda a: abs(abs(a)), ("abs", "abs")),
        ("gx.maximum({0}, {0})", lambda a: gx.maximum(a, a), ("maximum",)),
        ("gx.cast({0}, '" + own + "')", lambda a: gx.cast(a, own), ("cast",)),
        (f"gx.cast(gx.cast({{0}}, '{other}'), '{own}')",
         lambda a: gx.cast(gx.cast(a, other), own), ("cast", "cast")),
        ("gx.cast(gx.cast({0}, 'int64'), 'float64')",
         lambda a: gx.cast(gx.cast(a, "int64"), "float64"), ("cast", "cast")),
        ("gx.stop_gradient({0})", gx.stop_gradient, ("stop_gradient",)),
        ("gx.transpose(gx.transpose({0}))", lambda a: gx.transpose(gx.transpose(a)),
         ("transpose", "transpose")),
        ("gx.squeeze(gx.expand_dims({0}, 0), 0)",
         lambda a: gx.squeeze(gx.expand_dims(a, 0), 0), ("expand_dims", "squeeze")),
        ("gx.reshape(gx.reshape({0}, (-1,)), {shape})",
         lambda a: gx.reshape(gx.reshape(a, (-1,)), v.shape), ("reshape", "reshape")),
    ]
    if v.is_float:
        out.append(("gx.nn.relu(gx.nn.relu({0}))", lambda a: gx.nn.relu(gx.nn.relu(a)),
                    ("relu", "relu")))
        out.append(("gx.where({0} > 0, {0}, {0})", lambda a: gx.where(a > 0, a, a),
                    ("greater", "where")))
    if v.ndim >= 2:
        out.append(("gx.transpose(gx.transpose({0}, (1, 0, *r)), (1, 0, *r))",
                    lambda a: gx.transpose(gx.transpose(a, (1, 0, *range(2, v.ndim))),
                                           (1, 0, *range(2, v.ndim))),
                    ("transpose", "transpose")))
    return out


CHAIN_BINARY = ("add", "subtract", "multiply", "divide", "maximum", "minimum")


class OptGen(Gen):
    """``Gen`` with steps drawn to trigger CSE, simplification, folding and fusion."""

    def repeat(self) -> Step | None:
        """An earlier step again, on the same operands, then combined with its first copy."""
        cands = [s for s in self.steps if len(s.outs) == 1]
        if not cands:
            return None
        s = self.choice(cands)
        first = self._index_of(s)
        rhs = s.code.partition(" = ")[2].replace("{", "{{").replace("}", "}}")
        again = self.add(rhs, s.args, s.gx_fn, s.np_fn, s.ops, s.n_const, s.static_only)
        if again is None:
            return None
        second = len(self.pool) - 1
        v = self.pool[second]
        if not v.is_float and v.dtype.kind not in "iu":
            return again
        name = self.choice(["add", "subtract", "multiply", "maximum"])
        fn = BINARY[name][0]
        return self.add(f"gx.{name}({{0}}, {{1}})", (first, second), fn, BINARY[name][2],
                        (name,))

    def _index_of(self, s: Step) -> int:
        k = len(self.pool)
        for t in reversed(self.steps):
            k -= len(t.outs)
            if t is s:
                return k
        raise AssertionError("step not in the program")

    def identity(self) -> Step | None:
        i = self.pick(lambda v: v.dtype.kind in "fi")
        if i is None:
            return None
        v = self.pool[i]
        template, fn, ops = self.choice(_identities(v))
        text = template.replace("{shape}", repr(v.shape)).replace("*r", "...")
        return self.add(text, (i,), fn, _eager_np(fn), ops, n_const=1)

    def constants(self) -> Step | None:
        """``x`` combined with an expression of constants only (folded at level >= 1)."""
        i = self.pick(lambda v: v.is_float)
        if i is None:
            return None
        x = self.pool[i]
        shape = x.shape[self.draw(st.integers(0, x.ndim)):]  # broadcasts to x
        rng = np.random.default_rng(self.draw(st.integers(0, 2**16)))
        c1 = _data(rng, shape, x.dtype, "uniform")
        c2 = _data(rng, (), x.dtype, "uniform")
        kind = self.choice(["exp", "sum", "chain", "matmul"])
        if kind == "exp":
            def fold(): return gx.exp(gx.constant(c1)) * 2.0 - gx.constant(c2)
        elif kind == "sum":
            def fold(): return gx.sum(gx.sqrt(gx.abs(gx.constant(c1))))
        elif kind == "chain":
            def fold(): return gx.tanh(gx.constant(c2) + 1.5) * gx.constant(c1) / 3.0
        else:
            m = _data(rng, (3, 3), x.dtype, "uniform")

            def fold(): return gx.sum(gx.matmul(gx.constant(m), gx.constant(m)), axis=0)[1]
        op = self.choice(["add", "multiply", "maximum"])
        fn = BINARY[op][0]

        def gx_fn(a: Any) -> Any:
            return fn(a, fold())

        return self.add(f"gx.{op}({{0}}, <{kind} of constants>)", (i,), gx_fn,
                        _eager_np(gx_fn), (op,), n_const=2)

    def add_tree(self) -> Step | None:
        """``(a + b) + c`` of one shape and dtype: becomes one ``add_n``."""
        i = self.pick(lambda v: v.dtype.kind in "fi")
        if i is None:
            return None
        x = self.pool[i]
        same = [j for j, v in enumerate(self.pool) if v == x]
        args = (i, self.choice(same), self.choice(same), self.choice(same))
        if self.flip():
            return self.add("(({0} + {1}) + {2}) + {3}", args,
                            lambda a, b, c, d: ((a + b) + c) + d,
                            lambda a, b, c, d: ((a + b) + c) + d, ("add",) * 3)
        return self.add("{0} + ({1} + ({2} + {3}))", args,
                        lambda a, b, c, d: a + (b + (c + d)),
                        lambda a, b, c, d: a + (b + (c + d)), ("add",) * 3)

    def chain(self, length: int | None = None, ops: tuple[str, ...] | None = None) -> Step | None:
        """A run of elementwise steps, each on the newest value; second operands broadcast
        to it.  ``ops`` limits the unary ops drawn."""
        i = self.pick(lambda v: v.is_float)
        if i is None:
            return None
        last = None
        for _ in range(length if length is not None else self.draw(st.integers(3, 10))):
            step = self._link(i, [u for u in UNARY if ops is None or u in ops])
            if step is not None:
                last, i = step, len(self.pool) - 1
        return last

    def _link(self, i: int, unary: list[str]) -> Step | None:
        """One elementwise step of a chain on value ``i``."""
        x = self.pool[i]
        kind = self.choice(["unary", "unary", "scalar", "scalar", "tensor", "where", "compare",
                            "cast"])
        if kind == "unary" and unary:
            name = self.choice(unary)
            template, fn, ref = UNARY[name]
            return self.add(template, (i,), fn, ref, (name,))
        if kind == "scalar":
            name = self.choice(CHAIN_BINARY)
            fn, _, uf = BINARY[name]
            s = self.choice([2.0, -1.5, 0.5, 3, 0.25, 1.0])
            if self.flip():
                return self.add(f"gx.{name}({{0}}, {s!r})", (i,), lambda a: fn(a, s),
                                lambda a: uf(a, s), (name,), n_const=1)
            return self.add(f"gx.{name}({s!r}, {{0}})", (i,), lambda a: fn(s, a),
                            lambda a: uf(s, a), (name,), n_const=1)
        if kind in ("tensor", "where"):
            j = self.pick(lambda v: v.is_float and _broadcast(v.shape, x.shape) == x.shape)
            if j is None:
                return None
            if kind == "where":
                return self.add("gx.where({0} > 0.5, {1}, {0})", (i, j),
                                lambda a, b: gx.where(a > 0.5, b, a),
                                lambda a, b: np.where(a > 0.5, b, a), ("greater", "where"),
                                n_const=1)
            name = self.choice(CHAIN_BINARY)
            fn, _, uf = BINARY[name]
            return self.add(f"gx.{name}({{0}}, {{1}})", (i, j), fn, uf, (name,))
        if kind == "compare":
            dt = str(x.dtype)
            cmp, sym, name = self.choice([(operator.lt, "<", "less"),
                                          (operator.gt, ">", "greater")])
            return self.add(f"gx.cast({{0}} {sym} 0.25, '{dt}') * {{0}}", (i,),
                            lambda a: gx.cast(cmp(a, 0.25), dt) * a,
                            lambda a: cmp(a, 0.25).astype(dt) * a, (name, "cast", "multiply"),
                            n_const=1)
        dt = F32 if x.dtype == F64 else F64
        return self.add(f"gx.cast({{0}}, '{dt}')", (i,), lambda a: gx.cast(a, dt),
                        lambda a: a.astype(dt), ("cast",))

    OPT_KINDS = ("repeat", "repeat", "identity", "identity", "identity", "constants",
                 "add_tree", "chain", "chain", "step")

    def opt_step(self) -> None:
        for _ in range(4):
            kind = self.choice(self.OPT_KINDS)
            if kind == "step":
                self.step()
                return
            if getattr(self, kind)() is not None:
                return
        self.cast()


@st.composite
def opt_programs(draw: Callable[..., Any], min_steps: int = 2, max_steps: int = 8) -> Program:
    """A program of ``tests/test_programs.py``, then steps that give the optimizer work."""
    prog = draw(programs(min_steps=0, max_steps=6))
    pool = [Val(a.shape, a.dtype) for a in prog.inputs] + [o for s in prog.steps
                                                           for o in s.outs]
    gen = OptGen(draw, pool)
    gen.steps = list(prog.steps)
    for _ in range(draw(st.integers(min_steps, max_steps))):
        gen.opt_step()
    return Program(prog.inputs, gen.steps, prog.data)


@st.composite
def cases(draw: Callable[..., Any], progs: Any = None) -> tuple[Program, str, list[int]]:
    """A program, how its placeholders' dims are known, and a random subset of its values
    to fetch (indices into its computed values)."""
    prog = draw(opt_programs() if progs is None else progs)
    dims = draw(st.sampled_from(["static", "dynamic", "mixed"])) if prog.dynamic_ok \
        else "static"
    n = sum(len(s.outs) for s in prog.steps)
    subset = sorted(draw(st.sets(st.integers(0, max(n - 1, 0)), max_size=4))) if n else []
    return prog, dims, subset


# ---------------------------------------------------------------------------------------------
# running every level

@pytest.fixture
def fusion_backend() -> Iterator[Callable[[str], None]]:
    """Set the fusion backend for the test; restored afterwards."""
    yield gx.config.set_fusion_backend
    gx.config.set_fusion_backend("auto")  # the default


def _snapshot(g: gx.Graph) -> tuple[Any, ...]:
    return (g.version, len(g), sorted((n, d["op"].name) for n, d in g.nx.nodes(data=True)))


def check_levels(prog: Program, dims: str, subset: list[int], stats: Counter[str],
                 compare: Callable[[np.ndarray, np.ndarray, str], None] | None = None,
                 levels: tuple[int, ...] = LEVELS) -> None:
    """Run ``prog`` at ``levels`` fetching the last value, ``subset`` and every value; each
    value must match eager mode's (``compare``: bit for bit unless given)."""
    compare = compare or assert_bitwise
    n_in = len(prog.inputs)
    with quiet():
        eager = run_eager(prog)
        g, pool = build_graph(prog, dims)
        before = _snapshot(g)
        feeds = dict(zip(pool[:n_in], prog.inputs, strict=True))
        outs = list(range(n_in, len(pool)))
        if not outs:
            return
        fetch_sets = [[outs[-1]], [n_in + k for k in subset], outs]
        for fetch in fetch_sets:
            if not fetch:
                continue
            tensors = [pool[k] for k in fetch]
            for level in levels:
                got = g.run(tensors, feeds, optimize=level)
                for k, v in zip(fetch, got, strict=True):
                    compare(v, eager[k], f"v{k} at level {level} ({dims}), fetching "
                                         f"{[f'v{f}' for f in fetch]}")
                c = g.compile(tensors, optimize=level)
                _count(stats, level, c)
        assert _snapshot(g) == before, "the user's graph changed"


def _count(stats: Counter[str], level: int, c: gx.CompiledGraph) -> None:
    r = c.report
    stats["runs"] += 1
    if level == 1 and r.nodes_after < r.nodes_before:
        stats["smaller at level 1"] += 1
    for name in ("common_subexpression_elimination", "constant_folding",
                 "algebraic_simplification"):
        if level == 1 and r.actions(name):
            stats[name] += 1
    if level >= 2 and any(d["op"].name == "fused_elementwise"
                          for _, d in c.graph.nx.nodes(data=True)):
        stats[f"fused at level {level}"] += 1
    if level == 3 and c.plan.memory is not None and c.plan.memory.in_place:
        stats["in place at level 3"] += 1


OPTIMIZED = ("smaller at level 1", "common_subexpression_elimination", "constant_folding",
             "algebraic_simplification", "fused at level 2", "fused at level 3",
             "in place at level 3")


def _differential(max_examples: int) -> Counter[str]:
    stats: Counter[str] = Counter()

    @settings(max_examples=max_examples)
    @given(cases())
    def run(case: tuple[Program, str, list[int]]) -> None:
        check_levels(*case, stats)

    run()
    missing = [k for k in OPTIMIZED if not stats[k]]
    assert not missing, f"no example exercised {missing}: {dict(stats)}"
    return stats


def test_every_level_matches_eager_numpy_fusion(fusion_backend):
    fusion_backend("numpy")
    _differential(300)


@pytest.mark.nightly
def test_every_level_matches_eager_numpy_fusion_nightly(fusion_backend):
    fusion_backend("numpy")
    _differential(3000)


# ---------------------------------------------------------------------------------------------
# the numba fusion backend: exact ops bit for bit, transcendental ops within NUMBA_TOL

#: unary ops numba compiles bit-exactly (so do the binary ops, where, comparisons and casts
#: of the chains); the transcendental ones may differ by a few ulp
EXACT_UNARY = ("negative", "abs", "sqrt", "square", "relu", "sign", "reciprocal", "rsqrt")
SMOOTH_UNARY = ("exp", "tanh", "sigmoid", "sin", "cos", "relu", "abs", "negative")


@st.composite
def numba_programs(draw: Callable[..., Any], exact: bool) -> Program:
    """One or two elementwise chains over 1..2 inputs: exact ops on data with NaNs, infs and
    signed zeros, or smooth transcendental ops on data in [-3, 3]."""
    shape = tuple(draw(st.lists(st.sampled_from((1, 2, 3, 4, 5)), min_size=1, max_size=3)))
    dtype = draw(st.sampled_from([F32, F64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    style = "specials" if exact else "uniform"
    second = shape[draw(st.integers(0, len(shape))):]  # broadcasts to the first
    inputs = tuple(_data(rng, s, dtype, style) for s in (shape, second)[:draw(st.integers(1, 2))])
    gen = OptGen(draw, [Val(a.shape, a.dtype) for a in inputs])
    for _ in range(draw(st.integers(1, 2))):
        gen.chain(draw(st.integers(3, 8)), EXACT_UNARY if exact else SMOOTH_UNARY)
    return Program(inputs, gen.steps, f"{style} data")


def _close(actual: Any, expected: np.ndarray, what: str, dtype: np.dtype = F32) -> None:
    """Within ``NUMBA_TOL`` of ``dtype``: the least precise float dtype of the program (a
    float32 result cast to float64 carries float32 errors)."""
    assert actual.dtype == expected.dtype and actual.shape == expected.shape, what
    if expected.dtype.kind != "f":
        np.testing.assert_array_equal(actual, expected, err_msg=what)
    else:
        np.testing.assert_allclose(actual, expected, equal_nan=True, err_msg=what,
                                   **NUMBA_TOL[dtype])


def _least_precise(prog: Program) -> np.dtype:
    dtypes = {a.dtype for a in prog.inputs} | {v.dtype for s in prog.steps for v in s.outs}
    return F32 if F32 in dtypes else F64


def _kernels() -> float:
    from graphexec.fusion import jit_stats

    s = jit_stats()
    return s["compiles"] + s["memory_hits"] + s["disk_hits"]


def _numba_differential(exact: bool, max_examples: int, derandomize: bool) -> None:
    stats: Counter[str] = Counter()
    before = _kernels()

    @settings(max_examples=max_examples, derandomize=derandomize)
    @given(cases(numba_programs(exact)))
    def run(case: tuple[Program, str, list[int]]) -> None:
        dtype = _least_precise(case[0])
        check_levels(*case, stats, compare=None if exact else
                     lambda a, e, what: _close(a, e, what, dtype))

    run()
    assert stats["fused at level 2"] and stats["fused at level 3"], dict(stats)
    assert _kernels() > before  # the fused groups ran numba kernels


# NOTE: derandomized in `make test`: the same few programs each run, so their kernels come
# from the disk cache after the first run
@pytest.mark.parametrize("exact", [True, False], ids=["exact", "transcendental"])
def test_every_level_matches_eager_numba_fusion(fusion_backend, exact):
    pytest.importorskip("numba")
    fusion_backend("numba")
    _numba_differential(exact, 8, derandomize=True)


@pytest.mark.nightly
@pytest.mark.parametrize("exact", [True, False], ids=["exact", "transcendental"])
def test_every_level_matches_eager_numba_fusion_nightly(fusion_backend, exact):
    pytest.importorskip("numba")
    fusion_backend("numba")
    _numba_differential(exact, 300, derandomize=False)


# ---------------------------------------------------------------------------------------------
# fixed programs: fetching inside a fused group, large and strided inputs, array layout

def _graph_and_eager(fn: Callable[..., Any], *arrays: np.ndarray, static: bool = False
                     ) -> tuple[gx.Graph, list[Any], list[Any], list[np.ndarray]]:
    with gx.eager(), quiet():
        eager = [t.numpy() for t in fn(*[gx.constant(a) for a in arrays])]
    with gx.graph() as g:
        phs = [gx.placeholder(a.shape if static else (None,) * a.ndim, a.dtype, name=f"in{k}")
               for k, a in enumerate(arrays)]
        outs = fn(*phs)
    return g, phs, outs, eager


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_fetching_inner_nodes_of_a_fused_group(fusion_backend, backend):
    if backend == "numba":
        pytest.importorskip("numba")
    fusion_backend(backend)

    def fn(x, y):
        a = x * 1.5 + y
        b = gx.nn.relu(a) - 0.25  # inner
        c = gx.maximum(b * b, y) / 2.0
        return [a, b, c, gx.where(c > 0.5, c, -b)]

    x = np.linspace(-2, 2, 24).reshape(4, 6)
    y = np.linspace(1, -1, 6)
    g, phs, outs, eager = _graph_and_eager(fn, x, y)
    feeds = dict(zip(phs, (x, y), strict=True))
    for fetch in ([3], [1, 3], [0, 2], [2, 1, 0, 3]):
        tensors = [outs[k] for k in fetch]
        for level in LEVELS:
            got = g.run(tensors, feeds, optimize=level)
            for k, v in zip(fetch, got, strict=True):
                assert_bitwise(v, eager[k], f"output {k} at level {level}, fetching {fetch}")
        c = g.compile(tensors, optimize=3)
        ops = [d["op"].name for _, d in c.graph.nx.nodes(data=True)]
        assert "fused_elementwise" in ops, ops
        for t in tensors:  # fetched nodes keep their names
            assert t.name.partition(":")[0] in c.graph.nx


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_large_and_strided_inputs(fusion_backend, backend):
    """Over ``PARALLEL_MIN_SIZE`` elements (the parallel kernel), a transposed input (the
    N-d loop) and a broadcast one; exact ops, so bit for bit with either backend."""
    if backend == "numba":
        pytest.importorskip("numba")
    fusion_backend(backend)

    def fn(x, y):
        t = gx.transpose(x)
        a = gx.nn.relu(t * 2.0 - y) + gx.abs(t)
        return [gx.sqrt(gx.maximum(a, 0.5)) / (a + 1.0)]

    rng = np.random.default_rng(3)
    x = rng.uniform(-2, 2, (300, 256))
    y = rng.uniform(-1, 1, (300,))
    g, phs, outs, eager = _graph_and_eager(fn, x, y)
    for level in LEVELS:
        got = g.run(outs, dict(zip(phs, (x, y), strict=True)), optimize=level)
        assert_bitwise(got[0], eager[0], f"level {level}")


@pytest.mark.parametrize("static", [True, False], ids=["static", "dynamic"])
def test_results_keep_the_layout_eager_mode_gives(fusion_backend, static):
    """Matmul and reductions round differently on C- and F-ordered operands: an optimized
    graph must hand them the layout eager mode gives (here the transposed, F-ordered result
    of sin), not the layout of a fused kernel's output or of a reused buffer (static shapes:
    exp's dead buffer has sin's shape)."""
    fusion_backend("numpy")

    def fn(x, w):
        s = gx.sum(gx.exp(x))              # exp(x) dies here: a dead (30, 30) buffer
        b = gx.sin(gx.transpose(x)) * 2.0  # eager: F-ordered
        return [gx.sum(b, axis=0), gx.matmul(b, w), s]

    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, (30, 30)).astype("float32")
    w = rng.uniform(-3, 3, (30, 1)).astype("float32")
    g, phs, outs, eager = _graph_and_eager(fn, x, w, static=static)
    for level in LEVELS:
        got = g.run(outs, dict(zip(phs, (x, w), strict=True)), optimize=level)
        for k, (v, e) in enumerate(zip(got, eager, strict=True)):
            assert_bitwise(v, e, f"output {k} at level {level}")


SPECIAL_EXPRS: dict[str, Callable[[Any, Any], Any]] = {
    "-x * 1.5": lambda x, y: -x * 1.5,
    "(-x) + x": lambda x, y: (-x) + x,  # NaN + NaN: numpy keeps the first operand's NaN
    "max(x, y) - min(y, x)": lambda x, y: gx.maximum(x, y) - gx.minimum(y, x),
    "where(x > y, -x, y) / 2": lambda x, y: gx.where(x > y, -x, y) / 2.0,
    "relu(x) + abs(y) * sqrt(x)": lambda x, y: gx.nn.relu(x) + gx.abs(y) * gx.sqrt(x),
}


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_special_values_keep_their_bits(fusion_backend, backend, dtype):
    """NaNs of either sign, signed zeros and infinities through exact ops: the same bits,
    at every level, 1-element and 0-d values too; a NaN stays a NaN (see assert_bitwise)."""
    if backend == "numba":
        pytest.importorskip("numba")
    fusion_backend(backend)
    x = np.array([np.nan, -np.nan, 0.0, -0.0, np.inf, -np.inf, 1.5, -2.5], dtype)
    for xv, yv in ((x, x[::-1].copy()), (x[:1], x[1:2]), (x[1], x[0])):
        xv, yv = np.asarray(xv), np.asarray(yv)
        for name, fn in SPECIAL_EXPRS.items():
            g, phs, outs, eager = _graph_and_eager(lambda a, b, fn=fn: [fn(a, b)], xv, yv,
                                                   static=True)
            for level in LEVELS:
                with quiet():
                    got = g.run(outs, dict(zip(phs, (xv, yv), strict=True)), optimize=level)
                assert_bitwise(got[0], eager[0], f"{name} of {xv.shape} at level {level}")


# ---------------------------------------------------------------------------------------------
# bad feeds: the same error at every level

def _error_graph() -> tuple[gx.Graph, dict[str, Any], Any]:
    with gx.graph() as g:
        x = gx.placeholder((None, 3), "float32", name="x")
        y = gx.placeholder((None, 3), "float32", name="y")
        w = gx.placeholder((None, 4), "float32", name="w")
        z = gx.placeholder((2, 4), "float32", name="z")
        a = gx.exp(x) * 2.0 + y * 1.0  # fused at level 2; y * 1.0 simplified away
        h = gx.nn.relu(gx.matmul(a, w) + gx.constant(np.ones(4, "float32")))  # epilogue
        out = gx.sin(h) * 3.0 + z
    return g, {"x": x, "y": y, "w": w, "z": z}, out


def _f32(*shape: int) -> np.ndarray:
    return np.ones(shape, "float32")


BAD_FEEDS = {
    "static dim": dict(x=_f32(2, 3), y=_f32(2, 3), w=_f32(3, 4), z=_f32(3, 4)),
    "rank": dict(x=_f32(2), y=_f32(2, 3), w=_f32(3, 4), z=_f32(2, 4)),
    "dtype": dict(x=np.ones((2, 3)), y=_f32(2, 3), w=_f32(3, 4), z=_f32(2, 4)),
    "missing": dict(x=_f32(2, 3), y=_f32(2, 3), w=_f32(3, 4)),
    "unknown key": dict(x=_f32(2, 3), y=_f32(2, 3), w=_f32(3, 4), z=_f32(2, 4), q=_f32(1)),
    "not an array": dict(x="abc", y=_f32(2, 3), w=_f32(3, 4), z=_f32(2, 4)),
    # run time: shapes that do not fit, along None dims
    "broadcast in a fused group": dict(x=_f32(2, 3), y=_f32(4, 3), w=_f32(3, 4), z=_f32(2, 4)),
    "matmul in an epilogue": dict(x=_f32(2, 3), y=_f32(2, 3), w=_f32(5, 4), z=_f32(2, 4)),
    "broadcast after the epilogue": dict(x=_f32(3, 3), y=_f32(3, 3), w=_f32(3, 4),
                                         z=_f32(2, 4)),
}


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("case", list(BAD_FEEDS))
def test_feed_errors_are_the_same_at_every_level(fusion_backend, backend, case):
    if backend == "numba":
        pytest.importorskip("numba")
    fusion_backend(backend)
    g, phs, out = _error_graph()
    feeds = {phs.get(k, k): v for k, v in BAD_FEEDS[case].items()}
    errors = []
    for level in LEVELS:
        with pytest.raises(gx.GraphexecError) as e:
            g.run(out, feeds, optimize=level)
        errors.append(e.value)
    assert "fused_elementwise" in [d["op"].name for _, d in g.compile(out, optimize=2).graph.nx
                                   .nodes(data=True)]
    for level, e in zip(LEVELS, errors, strict=True):
        assert (type(e), str(e)) == (type(errors[0]), str(errors[0])), (
            f"level {level} vs level 0:\n  {type(e).__name__}: {e}\n  "
            f"{type(errors[0]).__name__}: {errors[0]}")
    ok = {phs[k]: _f32(*s) for k, s in dict(x=(2, 3), y=(2, 3), w=(3, 4), z=(2, 4)).items()}
    want = g.run(out, ok, optimize=0)  # and good feeds run
    compare = _close if backend == "numba" else assert_bitwise  # sin: a few ulp with numba
    for level in LEVELS:
        compare(g.run(out, ok, optimize=level), want, f"level {level}")
