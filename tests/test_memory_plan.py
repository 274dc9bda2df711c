"""The memory planner (``executor.plan_buffers``, via ``lower(..., plan_memory=True)`` and
``optimize=3``): in-place writes and buffer reuse that never change a value.

Most cases are built so that a naive planner — one that frees a buffer at the last direct use
of the tensor, ignoring views, feeds, fetches and variables — would overwrite a value that is
still needed; each asserts the values (bit for bit against eager mode, or numpy) and what the
plan decided.  A spy on the kernels shows which ``out=`` each call really received.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import graphexec as gx
from graphexec.executor import Plan, lower
from graphexec.registry import REGISTRY

from .hypothesis_or_skip import given, settings
from .test_programs import Program, assert_bitwise, build_graph, programs, quiet, run_eager

F64 = "float64"


def planned(g: gx.Graph, fetches: list[Any]) -> Plan:
    """``fetches`` of ``g`` (unoptimized) lowered with the memory planner."""
    return lower(g, tuple(g._fetch_ref(t) for t in fetches), plan_memory=True)


def run_plan(plan: Plan, feeds: dict[str, Any]) -> list[Any]:
    return plan.run({k: np.asarray(v) for k, v in feeds.items()})


class Spy:
    """Wraps op kernels; ``calls`` records ``(op, got_out, out_is_input_k)`` per call, where
    ``out_is_input_k`` is the index of the input ``out`` is (identity), else None."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, ops: tuple[str, ...]) -> None:
        self.calls: list[tuple[str, bool, int | None]] = []
        for name in ops:
            monkeypatch.setattr(REGISTRY[name], "kernel", self._wrap(name, REGISTRY[name].kernel))

    def _wrap(self, name: str, kernel: Callable[..., Any]) -> Callable[..., Any]:
        def spy(xp: Any, *args: Any, out: Any = None, **attrs: Any) -> Any:
            same = next((k for k, a in enumerate(args) if out is not None and a is out), None)
            self.calls.append((name, out is not None, same))
            res = kernel(xp, *args, **attrs) if out is None else kernel(xp, *args, out=out,
                                                                        **attrs)
            assert out is None or res is out, f"{name}: the kernel did not write into out"
            return res

        return spy

    def of(self, name: str) -> list[tuple[bool, int | None]]:
        return [c[1:] for c in self.calls if c[0] == name]


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Spy]]:
    yield lambda *ops: Spy(monkeypatch, ops)


# ---------------------------------------------------------------------------------------------
# in-place chains

def _chain(x: Any) -> Any:
    a = gx.exp(x * 0.5)
    b = gx.sin(a) + 1.0
    c = gx.nn.relu(b - 1.25) * 3.0
    return gx.sqrt(gx.abs(c)) / 2.0


def test_in_place_chain_is_in_place_and_exact(spy):
    s = spy("multiply", "exp", "sin", "add", "subtract", "relu", "sqrt", "abs", "divide")
    xv = np.linspace(-3, 3, 24).reshape(4, 6)
    with gx.graph() as g:
        x = gx.placeholder((4, 6), F64, name="x")
        y = _chain(x)
    plan = planned(g, [y])
    assert plan.memory is not None
    # the first op reads the (read-only) feed; each of the 9 others writes into its input
    assert plan.memory.in_place == 9 and plan.memory.reused == 0
    assert plan.source.count("out=") == 9
    assert "out=p0" not in plan.source
    s.calls.clear()
    got = run_plan(plan, {"x": xv})[0]
    outs = [c[1:] for c in s.calls]
    with gx.eager():
        want = _chain(gx.constant(xv)).numpy()
    assert_bitwise(got, want, "planned chain")
    assert outs[0] == (False, None)  # x * 0.5: the feed is never written
    assert outs[1:] == [(True, 0)] * 9  # every later op wrote into its first input
    assert plan.memory.planned_peak == 192 < plan.memory.unplanned_peak == 384


def test_byte_counts_of_a_small_static_graph():
    """(4, 3) float64 results are 96 bytes; counts by hand from the step order."""
    with gx.graph() as g:
        x = gx.placeholder((4, 3), F64, name="x")
        a = gx.exp(x)                       # step 0: 96
        s = gx.sum(a, axis=0, keepdims=True)  # step 1: 24, a dies here
        c = gx.sin(x)                       # step 2: 96, into a's dead buffer
        d = c + s                           # step 3: 96, in place into c
    mp = planned(g, [d]).memory
    assert (mp.in_place, mp.reused, mp.unknown) == (1, 1, 0)
    assert mp.unplanned_sum == 96 + 24 + 96 + 96
    # without a plan: a + s at step 1 (120), then c + s (120), then c + s + d (216)
    assert mp.unplanned_peak == 216
    # with it: a + s (120); c reuses a's memory, d reuses c's
    assert mp.planned_peak == 120
    xv = np.arange(12.0).reshape(4, 3) / 7
    got = run_plan(planned(g, [d]), {"x": xv})[0]
    np.testing.assert_array_equal(got, np.sin(xv) + np.exp(xv).sum(0, keepdims=True))
    assert "3 in place" not in mp.summary() and "1 in place, 1 reused" in mp.summary()


def test_unknown_sizes_are_counted_apart():
    with gx.graph() as g:
        x = gx.placeholder((None, 3), F64, name="x")
        y = gx.exp(gx.exp(x))
    mp = planned(g, [y]).memory
    assert mp.unknown == 2 and mp.unplanned_sum == 0 and mp.in_place == 1


# ---------------------------------------------------------------------------------------------
# views keep their buffer alive

VIEWS: dict[str, Callable[[Any], Any]] = {  # (4, 6) -> a view of the same memory
    "reshape": lambda a: gx.reshape(a, (6, 4)),
    "transpose": lambda a: gx.transpose(a),
    "getitem": lambda a: a[1:, ::2],
    "split": lambda a: gx.split(a, 2, axis=1)[1],
    "expand_dims": lambda a: gx.expand_dims(a, 0),
    "squeeze": lambda a: gx.squeeze(gx.expand_dims(a, 1), axis=1),
    "broadcast_to": lambda a: gx.broadcast_to(a, (2, 4, 6)),
    "view_of_view": lambda a: gx.transpose(gx.reshape(a[:, 1:5], (2, 2, 4)), (2, 0, 1)),
}
XV = np.linspace(-2, 2, 24).reshape(4, 6)


def _check_views(build: Callable[[Any], list[Any]]) -> Plan:
    with gx.graph() as g:
        x = gx.placeholder(XV.shape, F64, name="x")
        outs = build(x)
    plan = planned(g, outs)
    got = run_plan(plan, {"x": XV})
    with gx.eager():
        want = [t.numpy() for t in build(gx.constant(XV))]
    for k, (a, b) in enumerate(zip(got, want, strict=True)):
        assert_bitwise(a, b, f"output {k}")
    return plan


@pytest.mark.parametrize("view", VIEWS)
def test_in_place_write_waits_for_views(view):
    """``sin(a)`` is a's last direct use, but a view of a is read afterwards: a naive planner
    writes sin's result into a, and the view then reads sin(a)."""
    fn = VIEWS[view]

    def build(x):
        a = gx.exp(x)
        v = fn(a)
        b = gx.sin(a)
        return [gx.sum(v * 1.0) + gx.sum(b)]

    plan = _check_views(build)
    mp = plan.memory
    sin_step = next(k for k, s in enumerate(plan.steps) if s[1] == "sin")
    assert sin_step not in mp.out, plan.source


@pytest.mark.parametrize("view", VIEWS)
def test_reuse_waits_for_views(view):
    """``a`` is dead as a tensor after ``sum(a)``, but its view is read after ``cos(x)``, a
    result of a's shape that a naive planner would write into a's buffer."""
    fn = VIEWS[view]

    def build(x):
        a = gx.exp(x)
        v = fn(a)
        m = gx.sum(a)
        c = gx.cos(x)
        return [gx.sum(v * 2.0) + m, c]

    plan = _check_views(build)
    cos_step = next(k for k, s in enumerate(plan.steps) if s[1] == "cos")
    assert cos_step not in plan.memory.out, plan.source


def test_dead_buffer_is_reused_once_its_views_die():
    """The control: with the view dead too, cos (the next step) takes a's buffer."""
    def build(x):
        a = gx.exp(x)
        w = gx.transpose(a) * 2.0  # the view's last use: a dies here
        c = gx.cos(x)
        return [c + gx.sum(w)]

    plan = _check_views(build)
    assert plan.memory.reused >= 1
    cos_step = next(k for k, s in enumerate(plan.steps) if s[1] == "cos")
    assert cos_step in plan.memory.out


def test_no_in_place_write_into_an_operand_read_through_a_view(spy):
    """``a + a.T`` (square a): a dies here, but writing into a while reading a.T through it
    would mix old and new values."""
    s = spy("add")
    sq = np.arange(16.0).reshape(4, 4)

    def build(x):
        a = gx.exp(x * 0.1)
        return [a + gx.transpose(a), gx.negative(a[::-1] - a)]

    with gx.graph() as g:
        x = gx.placeholder((4, 4), F64, name="x")
        outs = build(x)
    plan = planned(g, outs)
    got = run_plan(plan, {"x": sq})
    a = np.exp(sq * 0.1)
    np.testing.assert_array_equal(got[0], a + a.T)
    np.testing.assert_array_equal(got[1], -(a[::-1] - a))
    assert s.of("add") == [(False, None)]


def test_an_operand_twice_is_written_in_place(spy):
    s = spy("multiply")
    with gx.graph() as g:
        x = gx.placeholder((3, 5), F64, name="x")
        a = gx.exp(x)
        y = a * a
    plan = planned(g, [y])
    xv = np.linspace(0, 1, 15).reshape(3, 5)
    np.testing.assert_array_equal(run_plan(plan, {"x": xv})[0], np.exp(xv) * np.exp(xv))
    assert s.of("multiply") == [(True, 0)]


# ---------------------------------------------------------------------------------------------
# what is never written: fetches, variables' values, feeds, constants, variable reads

def test_fetched_tensors_and_their_views_are_never_reused():
    def build(x):
        a = gx.exp(x)            # fetched
        b = gx.sin(x)
        v = gx.transpose(b)      # a fetched view of b
        c = gx.cos(a) * 2.0      # a dies here: not in place, it is fetched
        d = gx.sqrt(gx.abs(b)) + 1.0  # b dies here: not in place, its view is fetched
        e = gx.tanh(c) + gx.tanh(d)   # a dead buffer of a's shape: not a nor b
        return [a, v, e, gx.negative(e)]

    plan = _check_views(build)
    assert plan.memory.in_place >= 3
    # the arrays handed out do not share memory
    got = run_plan(plan, {"x": XV})
    assert not np.shares_memory(got[0], got[2]) and not np.shares_memory(got[1], got[2])
    assert not np.shares_memory(got[2], got[3])
    kept = [a.copy() for a in got]
    run_plan(plan, {"x": XV * 2})  # a second run does not write into the first one's results
    for a, b in zip(got, kept, strict=True):
        np.testing.assert_array_equal(a, b)


def test_values_assigned_to_variables_are_never_reused():
    var = gx.Variable(np.zeros((4, 6)), name="planned_v")
    var_t = gx.Variable(np.zeros((6, 4)), name="planned_vt")
    with gx.graph() as g:
        x = gx.placeholder((4, 6), F64, name="x")
        a = gx.exp(x)
        upd = var.assign(a)          # the variable takes a's array over
        b = gx.sin(a) * 2.0          # a dies here, but it is the variable's value now
        t = gx.cos(x)
        upd_t = var_t.assign(gx.transpose(t))  # a view of t
        c = gx.tanh(t) + b           # t dies here
        d = gx.sqrt(gx.abs(c)) - 1.0
    plan = planned(g, [d, upd, upd_t])
    d_v = run_plan(plan, {"x": XV})[0]
    np.testing.assert_array_equal(var.numpy(), np.exp(XV))
    np.testing.assert_array_equal(var_t.numpy(), np.cos(XV).T)
    b_v = np.sin(np.exp(XV)) * 2.0
    np.testing.assert_array_equal(d_v, np.sqrt(np.abs(np.tanh(np.cos(XV)) + b_v)) - 1.0)
    sin_step = next(k for k, s in enumerate(plan.steps) if s[1] == "sin")
    assert sin_step not in plan.memory.out
    assert plan.memory.in_place >= 2  # b's multiply, d's chain


def test_feeds_constants_and_variable_reads_are_never_written(spy):
    s = spy("add", "multiply", "exp", "negative")
    xv = np.linspace(-1, 1, 12).reshape(3, 4)
    x_before = xv.copy()
    cv = np.full((3, 4), 0.25)
    var = gx.Variable(np.ones((3, 4)), name="read_only_v")
    with gx.graph() as g:
        x = gx.placeholder((3, 4), F64, name="x")
        c = gx.constant(cv)
        y = gx.exp(x)                     # reads the feed, its last use
        z = gx.negative(c) + var.value()  # the constant, then a variable read (last uses)
        w = var.value() * 3.0             # a second read, dying here
        out = y * z + w
    plan = planned(g, [out])
    for _ in range(2):
        s.calls.clear()
        got = run_plan(plan, {"x": xv})[0]
        np.testing.assert_array_equal(got, np.exp(x_before) * (-cv + 1.0) + 3.0)
    np.testing.assert_array_equal(xv, x_before)
    np.testing.assert_array_equal(var.numpy(), np.ones((3, 4)))
    np.testing.assert_array_equal(g.nx.nodes[c.name.partition(":")[0]]["attrs"]["value"],
                                  np.full((3, 4), 0.25))
    assert "out=p" not in plan.source and "out=c" not in plan.source
    # the only writes go into results computed in this run: -c, then y, then y * z
    assert [c for c in s.calls if c[1]] == [("add", True, 0), ("multiply", True, 0),
                                            ("add", True, 0)]
    assert plan.memory.in_place == 3


def test_fetch_a_variable_read_and_its_update_in_one_run():
    var = gx.Variable(np.arange(6.0).reshape(2, 3), name="read_and_update")
    with gx.graph() as g:
        r = var.value()
        upd = var.assign(gx.exp(r) * 0.5 + 1.0)
        r2 = var.value() + 0.0  # after the update: the new value
    plan = planned(g, [r, upd, r2])
    old = var.numpy()
    got_r, got_upd, got_r2 = run_plan(plan, {})
    new = np.exp(old) * 0.5 + 1.0
    np.testing.assert_array_equal(got_r, old)
    np.testing.assert_array_equal(got_upd, new)
    np.testing.assert_array_equal(got_r2, new)
    np.testing.assert_array_equal(var.numpy(), new)
    got_r2 += 1  # a fetched result is the caller's: changing it leaves the variable alone
    np.testing.assert_array_equal(var.numpy(), new)


# ---------------------------------------------------------------------------------------------
# unknown dims: a runtime guard decides

def _guarded_graph() -> tuple[gx.Graph, Any]:
    with gx.graph() as g:
        x = gx.placeholder((None, 3), F64, name="x")
        y = gx.placeholder((None, 3), F64, name="y")
        a = gx.exp(x)
        b = a + y  # in place into a only if y does not broadcast a along the None dim
    return g, b


def test_guarded_in_place_write_with_unknown_dims(spy):
    g, b = _guarded_graph()
    plan = planned(g, [b])
    assert plan.memory.in_place == 1 and plan.memory.guards
    assert "out=(t0 if p1.shape == t0.shape and" in plan.source, plan.source
    s = spy("add")
    plan = planned(g, [b])  # lowered again, so that it calls the spy
    xv, yv = np.linspace(0, 1, 12).reshape(4, 3), np.full((4, 3), 2.0)
    np.testing.assert_array_equal(run_plan(plan, {"x": xv, "y": yv})[0], np.exp(xv) + yv)
    assert s.of("add") == [(True, 0)]


@pytest.mark.parametrize("xs, ys", [((1, 3), (4, 3)), ((4, 3), (1, 3)), ((0, 3), (1, 3)),
                                    ((1, 3), (0, 3))])
def test_guard_fails_when_an_input_is_broadcast_along_a_none_dim(spy, xs, ys):
    """a is (1, 3) and y (4, 3) at run time: a cannot hold the (4, 3) result."""
    s = spy("add")
    g, b = _guarded_graph()
    plan = planned(g, [b])
    xv, yv = np.linspace(0, 1, np.prod(xs)).reshape(xs), np.full(ys, 2.0)
    got = run_plan(plan, {"x": xv, "y": yv})[0]
    np.testing.assert_array_equal(got, np.exp(xv) + yv)
    assert s.of("add") == [(False, None)]
    np.testing.assert_array_equal(g.run(b, {"x": xv, "y": yv}, optimize=0), got)


def test_static_dim_meets_none_dim():
    """a (None, 3) + a static (4, 3) constant: the result is (4, 3), a may be (1, 3)."""
    with gx.graph() as g:
        x = gx.placeholder((None, 3), F64, name="x")
        y = gx.exp(x) + gx.constant(np.ones((4, 3)))
        z = gx.sin(y)
    plan = planned(g, [z])
    for n in (1, 4):
        xv = np.full((n, 3), 0.5)
        np.testing.assert_array_equal(run_plan(plan, {"x": xv})[0],
                                      np.sin(np.exp(xv) + np.ones((4, 3))))


# ---------------------------------------------------------------------------------------------
# what the plan must not change besides values: array layout, the peak

def test_a_reused_buffer_keeps_the_layout_eager_mode_gives():
    """sin of a transposed input is F-ordered eagerly; written into exp's dead C-ordered
    buffer it is not, and numpy's reductions (and matmul) round differently by layout."""
    def fn(x):
        t = gx.transpose(x)
        s = gx.sum(gx.exp(x))              # exp(x) dies here: a dead (30, 30) buffer
        b = gx.sin(t) * 2.0                # eagerly: F-ordered; planned into exp's buffer,
        return [gx.sum(b, axis=0), s]      # which the run-time layout check must refuse

    xv = np.random.default_rng(0).uniform(-3, 3, (30, 30)).astype("float32")
    with gx.eager():
        want = [t.numpy() for t in fn(gx.constant(xv))]
    with gx.graph() as g:
        outs = fn(gx.placeholder((30, 30), "float32", name="x"))
    plan = planned(g, outs)
    assert plan.memory.reused == 1, plan.source
    for got, e in zip(run_plan(plan, {"x": xv}), want, strict=True):
        assert_bitwise(got, e, "planned")


def test_holding_a_dead_buffer_for_later_never_raises_the_peak():
    """The bool of ``v0 > 2`` dies at step 1 and would be held until the second ``v0 > 2``
    at step 7, across the steps where the most memory is live."""
    with gx.graph() as g:
        v0 = gx.placeholder((1,), "float32", name="v0")
        v1 = gx.placeholder((1,), "float32", name="v1")
        v4 = gx.add(gx.where(v0 > 2.0, v1, 2.0) + 2.0, v0)
        v7 = gx.nn.softmax(gx.pad(v4, [[0, 0]], "reflect"), axis=0) + v0
        out = gx.where(v0 > 2.0, v0, v7)
    mp = planned(g, [out]).memory
    assert mp.planned_peak <= mp.unplanned_peak, mp


# ---------------------------------------------------------------------------------------------
# random programs: planned plans give eager mode's bits; the plan never raises the peak

def _check_planned(prog: Program) -> None:
    n_in = len(prog.inputs)
    with quiet():
        eager = run_eager(prog)
        for dims in ("static", "dynamic") if prog.dynamic_ok else ("static",):
            g, pool = build_graph(prog, dims)
            outs = pool[n_in:]
            feeds = {f"v{k}": a for k, a in enumerate(prog.inputs)}
            copies = [a.copy() for a in prog.inputs]
            # the last value alone (the others die early: most reuse), then every value
            for fetch in ([outs[-1]], outs) if outs else ():
                plan = planned(g, fetch)
                assert plan.memory is not None
                assert plan.memory.planned_peak <= plan.memory.unplanned_peak
                got = run_plan(plan, feeds)
                for v, e in zip(got, eager[n_in + len(outs) - len(fetch):], strict=True):
                    assert_bitwise(v, e, f"{dims}, planned")
            for a, c in zip(prog.inputs, copies, strict=True):
                assert_bitwise(a, c, "a feed was written")


@settings(max_examples=40)
@given(programs())
def test_random_programs_with_a_memory_plan(prog):
    _check_planned(prog)


@pytest.mark.nightly
@settings(max_examples=2000)
@given(programs())
def test_random_programs_with_a_memory_plan_nightly(prog):
    _check_planned(prog)


# ---------------------------------------------------------------------------------------------
# level 3 through ``g.compile``: fused groups write into the buffers they read

@pytest.fixture
def fusion_backend() -> Iterator[Callable[[str], None]]:
    yield gx.config.set_fusion_backend
    gx.config.set_fusion_backend("auto")  # the default


def _assert_matches(got: np.ndarray, want: np.ndarray, backend: str, what: str) -> None:
    if backend == "numpy":  # the ufuncs themselves: bit for bit
        assert_bitwise(got, want, what)
    else:  # exp and tanh compiled by numba: a few ulp
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15, err_msg=what)


BACKENDS = ["numpy", pytest.param("numba", marks=pytest.mark.skipif(
    not gx.config.numba_available(), reason="numba is not installed"))]


@pytest.mark.parametrize("backend", BACKENDS)
def test_level_3_fused_groups_write_in_place(fusion_backend, backend):
    fusion_backend(backend)

    def fn(x, w):
        y = gx.tanh(gx.matmul(x, w) * 2.0 - 1.0)
        return gx.exp(y - gx.sum(y, axis=1, keepdims=True)) * 0.5

    rng = np.random.default_rng(0)
    xv, wv = rng.uniform(-1, 1, (8, 5)), rng.uniform(-1, 1, (5, 6))
    with gx.graph() as g:
        x, w = gx.placeholder((8, 5), F64, name="x"), gx.placeholder((5, 6), F64, name="w")
        out = fn(x, w)
    c = g.compile(out, optimize=3)
    ops = [c.graph.nx.nodes[s[0]]["op"].name for s in c.plan.steps]
    assert ops == ["matmul", "fused_elementwise", "sum", "fused_elementwise"], ops
    # the first group writes into the matmul's result, the second into the first's
    assert c.plan.memory.in_place == 2 and c.plan.memory.reused == 0
    assert "out=(t0 if" in c.plan.source and "out=(t1 if" in c.plan.source, c.plan.source
    assert c.plan.memory.planned_peak == 448 < c.plan.memory.unplanned_peak == 832
    assert c.report.memory is not None and c.report.memory.in_place == 2
    with gx.eager():
        want = fn(gx.constant(xv), gx.constant(wv)).numpy()
    for _ in range(2):
        _assert_matches(c({x: xv, w: wv}), want, backend, "level 3")


@pytest.mark.parametrize("backend", BACKENDS)
def test_fused_group_reading_its_output_buffer_several_times(fusion_backend, backend):
    """The group writes into m, which several of its members read: each element must be
    read before it is overwritten (numba: per element; numpy: member by member)."""
    fusion_backend(backend)

    def fn(x, w):
        m = gx.matmul(x, w)
        a = m * 2.0
        b = gx.exp(m) - a
        c = gx.maximum(a, m) + b * m
        return gx.where(c > 1.0, m, c)

    rng = np.random.default_rng(1)
    xv, wv = rng.uniform(-1, 1, (8, 5)), rng.uniform(-1, 1, (5, 6))
    with gx.graph() as g:
        x, w = gx.placeholder((8, 5), F64, name="x"), gx.placeholder((5, 6), F64, name="w")
        out = fn(x, w)
    c = g.compile(out, optimize=3)
    assert c.plan.memory.in_place == 1 and "out=(t0 if" in c.plan.source, c.plan.source
    with gx.eager():
        want = fn(gx.constant(xv), gx.constant(wv)).numpy()
    _assert_matches(c({x: xv, w: wv}), want, backend, "level 3")


# ---------------------------------------------------------------------------------------------
# the whole pipeline: level 3 holds fewer bytes at once than level 0

def _measured_peak(fn: Callable[[], Any]) -> int:
    fn()  # warm: plans and compiled kernels are made outside the measurement
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out = fn()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    del out
    return peak


@pytest.mark.parametrize("backend", BACKENDS)
def test_level_3_peak_memory_is_lower_than_level_0(fusion_backend, backend):
    fusion_backend(backend)
    n = 400_000  # 3.2 MB per float64 array
    with gx.graph() as g:
        x = gx.placeholder((n,), F64, name="x")
        y = x
        for k in range(12):
            y = gx.sin(y * 1.5 + 0.25) if k % 2 else gx.nn.relu(y - 0.5) * 0.75
    xv = np.linspace(-1, 1, n)
    want = g.run(y, {x: xv}, optimize=0)
    np.testing.assert_allclose(g.run(y, {x: xv}, optimize=3), want, rtol=1e-12, atol=1e-15)
    peak0 = _measured_peak(lambda: g.run(y, {x: xv}, optimize=0))
    peak3 = _measured_peak(lambda: g.run(y, {x: xv}, optimize=3))
    planned_only = planned(g, [y])
    peak_plan = _measured_peak(lambda: run_plan(planned_only, {"x": xv}))
    nbytes = xv.nbytes
    assert peak0 >= 2 * nbytes  # each op allocates while its input is still alive
    assert peak_plan < 1.5 * nbytes  # one buffer, written in place along the chain
    # the result itself is allocated in the run (the measurement sees the kernels' arrays)
    assert nbytes <= peak3 < 1.5 * nbytes and peak3 < peak0, (peak3, peak0, nbytes)
