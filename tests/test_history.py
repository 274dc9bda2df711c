"""The optimizer's pass history (``passes.History``, ``CompiledGraph.history``): what each pass
run added, removed, rewrote or rewired and why, the graph after any step rebuilt from the diffs,
stable node ids, provenance, and the pictures drawn from it (``to_dot(changes=...)``,
``gx.viz.render_passes``).

The rebuilt graphs are checked against the real graph after each pass: ``History.observe`` is
wrapped so that the graph's node data is saved at the moment each step is recorded.
"""

import functools
import pickle
import re
import shutil

import numpy as np
import pytest

import graphexec as gx
from graphexec import compiler
from graphexec.compiler import CompiledGraph
from graphexec.ir import GraphIR, needed_nodes
from graphexec.passes import Change, History, Step, optimize
from graphexec.passes.core import Action
from graphexec.passes.history import KINDS, build_graph

from .test_viz import _edges, _mlp_training_step, _nodes

MARKS = gx.viz.MARKS

try:
    import graphviz  # noqa: F401

    _HAS_GRAPHVIZ = True
except ImportError:
    _HAS_GRAPHVIZ = False
_CAN_RENDER = _HAS_GRAPHVIZ and shutil.which("dot") is not None


# -- graphs ------------------------------------------------------------------------------------
def _showcase():
    """A graph every pass changes at level 3: CSE (``exp_2`` is ``exp_1``), constant folding
    (``exp`` of the constant ``c``), simplification (``multiply`` is ``x*1``), DCE (``c``, left
    without consumers), the dense epilogue (``matmul + b``, ``relu``), elementwise fusion
    (``exp_1``, ``add_1``, ``add_2``) and in-place writes (``add_2`` into ``relu``, ``sin``
    into ``sum``)."""
    with gx.graph() as g:
        x = gx.placeholder((4, 3), "float64", name="x")
        b = gx.placeholder((2,), "float64", name="b")
        w = gx.constant(np.ones((3, 2)), name="w")
        c = gx.exp(gx.constant([0.0, 1.0], name="c"))
        h = gx.nn.relu(gx.matmul(x, w) + b)
        e1 = gx.exp(h) * 1.0
        e2 = gx.exp(h)
        s = gx.sum(e1 + e2 + c, axis=0)
        y = gx.sin(s)
    return g, x, b, y


#: the showcase's history at level 3: per step, its pass, round, node count after it, and its
#: changes as (kind, node, op, why, origin)
SHOWCASE = [
    ("common_subexpression_elimination", 1, 15, [
        ("rewired", "add_1", "add", "inputs: exp_2:0 -> exp_1:0", ()),
        ("removed", "exp_2", "exp", "cse: same as exp_1", ("exp_1",))]),
    ("constant_folding", 1, 15, [
        ("rewritten", "exp", "constant", "folded: exp of constants", ("c",))]),
    ("algebraic_simplification", 1, 13, [
        ("rewired", "add_1", "add", "inputs: multiply:0 -> exp_1:0", ()),
        ("removed", "multiply", "multiply", "simplified: x*1 -> x", ("exp_1",)),
        ("removed", "constant", "constant", "dead: no consumers left", ())]),
    ("dead_code_elimination", 1, 12, [
        ("removed", "c", "constant", "dead: no path to a fetch", ())]),
    ("epilogue_fusion", 3, 10, [
        ("rewritten", "relu", "fused_dense", "fused: 3 members (dense epilogue)",
         ("matmul", "add", "relu")),
        ("removed", "add", "add", "fused into relu", ()),
        ("removed", "matmul", "matmul", "fused into relu", ())]),
    ("elementwise_fusion", 3, 8, [
        ("rewritten", "add_2", "fused_elementwise", "fused: 3 members",
         ("exp_1", "add_1", "add_2")),
        ("removed", "exp_1", "exp", "fused into add_2", ()),
        ("removed", "add_1", "add", "fused into add_2", ())]),
    ("memory_planning", 4, 8, [
        ("in place", "add_2", "fused_elementwise", "in place: writes into relu", ("relu",)),
        ("in place", "sin", "sin", "in place: writes into sum", ("sum",))]),
]


def _feeds(x, b):
    rng = np.random.default_rng(0)
    return {x: rng.standard_normal((4, 3)), b: rng.standard_normal(2)}


# -- helpers -----------------------------------------------------------------------------------
def _state(nodes):
    """name -> (op name, inputs, control, specs, id, attrs, a copy of attrs): node data to
    compare; attrs by identity (a rewrite gives a node new attrs) and their values by identity
    (so an attrs dict edited in place shows)."""
    return {n: (d["op"].name, d["inputs"], d["control"], d["specs"], d.get("id"), d["attrs"],
                dict(d["attrs"])) for n, d in nodes}


def _differences(a, b):
    """The nodes whose data differ between two ``_state``s (or that only one has)."""
    out = sorted(set(a) ^ set(b))
    for n in sorted(set(a) & set(b)):
        x, y = a[n], b[n]
        if (x[:5] != y[:5] or x[5] is not y[5] or x[6].keys() != y[6].keys()
                or any(x[6][k] is not y[6][k] for k in x[6])):
            out.append(n)
    return out


def _of(graph):
    return _state(graph.nx.nodes(data=True))


def _rows(step):
    return [(c.kind, c.node, c.op, c.why, c.origin) for c in step.changes]


def _step(history, name):
    (step,) = [s for s in history if s.name == name]
    return step


@pytest.fixture
def after_each_pass(monkeypatch):
    """(pass, the graph's node data) each time the history records a pass run's step."""
    seen = []
    real = History.observe

    def observe(self, graph, name, rnd, actions, seconds):
        state = _of(graph)
        step = real(self, graph, name, rnd, actions, seconds)
        if step is not None:
            seen.append((name, state))
        return step

    monkeypatch.setattr(History, "observe", observe)
    return seen


def _without_history(monkeypatch, source, fetches, level):
    """``source`` compiled as ``Graph.compile`` does, the optimizer recording no history."""
    with monkeypatch.context() as m:
        m.setattr(compiler, "optimize", functools.partial(optimize, history=False))
        return CompiledGraph(source, fetches, level)


def _check_rebuilt(source, c, seen):
    """Every graph ``c.history`` rebuilds is the graph as it really was: before any pass the
    part of ``source`` the fetches need, after each step the graph the pass left (``seen``),
    after the last the compiled graph; each is a valid GraphIR; consecutive states differ by
    exactly the step's added, removed, rewritten and rewired nodes."""
    h = c.history
    needed = needed_nodes(source, [n for n, _ in c.fetches])
    want0 = _state((n, d) for n, d in source.nx.nodes(data=True) if n in needed)
    assert _differences(_of(h.graph(0)), want0) == []
    assert len(h.graph(0)) == h.nodes_before == len(needed)
    assert _differences(_of(h.graph(-1)), _of(c.graph)) == []
    assert _differences(_of(h.graph(len(h))), _of(c.graph)) == []
    passes = [s for s in h if s.name != "memory_planning"]
    assert [s.name for s in passes] == [name for name, _ in seen]
    truth = iter(state for _, state in seen)
    prev = h.graph(0)
    prev.validate()
    for k, step in enumerate(h, 1):
        cur = h.graph(k)
        assert isinstance(cur, GraphIR) and cur.name == f"{h.name}#{k}"
        cur.validate()
        assert len(cur) == step.nodes_after, (k, step.name)
        if step.name != "memory_planning":
            assert _differences(_of(cur), next(truth)) == [], (k, step.name)
        kinds = {c.node: c.kind for c in step.changes}
        assert len(kinds) == len(step.changes)  # one change per node and step
        a, b = _of(prev), _of(cur)
        assert {n for n in a if n not in b} == {n for n, kd in kinds.items() if kd == "removed"}
        assert {n for n in b if n not in a} == {n for n, kd in kinds.items() if kd == "added"}
        for n in set(a) & set(b):
            x, y = a[n], b[n]
            if step.name == "memory_planning":  # the graph stays; nodes get buffers
                assert _differences({n: x}, {n: y}) == [], n
                want = "in place" if n in kinds else None
            elif x[0] != y[0] or x[3] != y[3] or x[5] is not y[5]:
                want = "rewritten"
            elif x[1:3] != y[1:3]:
                want = "rewired"
            else:
                want = None
            assert kinds.get(n) == want, (k, step.name, n)
        assert all(c.kind in KINDS and c.why for c in step.changes)
        prev = cur
    assert list(h.nodes(len(h))) == list(h.final)


# -- what each pass records, and why -----------------------------------------------------------
def test_each_pass_records_its_changes_and_why():
    g, x, b, y = _showcase()
    c = g.compile(y, optimize=3)
    h = c.history
    assert isinstance(h, History) and h is c.report.history
    assert [(s.name, s.round, s.nodes_after) for s in h] == [r[:3] for r in SHOWCASE]
    for step, (name, _, _, rows) in zip(h, SHOWCASE, strict=True):
        assert isinstance(step, Step)
        assert _rows(step) == rows, name
        # changes list what stayed first, then what went
        removed = [c.kind == "removed" for c in step.changes]
        assert removed == sorted(removed)
        for kind in KINDS:
            assert step.count(kind) == sum(r[0] == kind for r in rows)
    assert str(h).splitlines() == [
        f"history of {c.graph.name}: 16 -> 8 nodes in 7 steps",
        "  1. common_subexpression_elimination (round 1): 1 removed, 1 rewired; 15 nodes",
        "  2. constant_folding (round 1): 1 rewritten; 15 nodes",
        "  3. algebraic_simplification (round 1): 2 removed, 1 rewired; 13 nodes",
        "  4. dead_code_elimination (round 1): 1 removed; 12 nodes",
        "  5. epilogue_fusion (round 3): 2 removed, 1 rewritten; 10 nodes",
        "  6. elementwise_fusion (round 3): 2 removed, 1 rewritten; 8 nodes",
        "  7. memory_planning (round 4): 2 in place; 8 nodes",
    ]
    assert repr(h) == f"<History of {c.graph.name}: 7 steps>"
    assert str(h[1]).splitlines()[1] == "  rewritten exp (constant): folded: exp of constants <- c"
    np.testing.assert_allclose(c(_feeds(x, b)), g.run(y, _feeds(x, b)), rtol=1e-12)


def test_the_optimized_graph_is_what_the_changes_say():
    g, x, b, y = _showcase()
    c = g.compile(y, optimize=3)
    nodes = c.graph.nx.nodes
    assert nodes["exp"]["op"].name == "constant"  # folded
    np.testing.assert_allclose(nodes["exp"]["attrs"]["value"], np.exp([0.0, 1.0]), rtol=1e-6)
    assert nodes["relu"]["op"].name == "fused_dense"
    assert nodes["relu"]["inputs"] == (("x", 0), ("w", 0), ("b", 0))
    program = nodes["add_2"]["attrs"]["program"]
    assert [m.op.name for m in program.members] == ["exp", "add", "add"]
    for gone in ("exp_2", "multiply", "constant", "c", "matmul", "add", "exp_1", "add_1"):
        assert gone not in nodes
    # each in-place write names an input of the node, as the plan that runs does
    for change in _step(c.history, "memory_planning").changes:
        (into,) = change.origin
        assert change.why.startswith("in place: writes into ")
        assert change.why == f"in place: writes into {into}"
        assert into in [src for src, _ in nodes[change.node]["inputs"]]
        assert c.plan.memory.writes[change.node] == ("in place", into)
    assert len(c.plan.memory.writes) == 2


def test_memory_planning_is_a_step_at_level_3_only():
    g, x, b, y = _showcase()
    two = g.compile(y, optimize=2).history
    three = g.compile(y, optimize=3).history
    assert [s.name for s in two] == [s.name for s in three][:-1]
    assert three[-1].name == "memory_planning" and three[-1].before == {}
    assert {c.kind for c in three[-1].changes} == {"in place"}
    # (two compiles: the same nodes, ops and inputs; not the same attrs objects)
    assert {n: v[:5] for n, v in _of(two.graph()).items()} == {
        n: v[:5] for n, v in _of(three.graph()).items()}


# -- the graph after each step -----------------------------------------------------------------
def test_rebuilt_graphs_are_the_graph_after_each_pass(after_each_pass):
    g, x, b, y = _showcase()
    c = g.compile(y, optimize=3)
    _check_rebuilt(g, c, after_each_pass)
    h = c.history
    assert [len(h.graph(k)) for k in range(len(h) + 1)] == [16, 15, 15, 13, 12, 10, 8, 8]
    assert h.graph(3).nx.nodes["add_1"]["inputs"] == (("exp_1", 0), ("exp_1", 0))
    assert h.graph(0).nx.nodes["add_1"]["inputs"] == (("multiply", 0), ("exp_2", 0))
    assert h.graph(4).nx.nodes["relu"]["op"].name == "relu"
    assert h.graph(5).nx.nodes["relu"]["op"].name == "fused_dense"
    for k in (len(h) + 1, -2):
        with pytest.raises(IndexError, match=r"steps 0\.\.7"):
            h.graph(k)


def test_rebuilt_graphs_of_a_training_step_and_control_inputs(after_each_pass):
    g, loss, step = _mlp_training_step()
    for level in (1, 2, 3):
        after_each_pass.clear()
        c = CompiledGraph(g, [loss, step], level)
        _check_rebuilt(g, c, after_each_pass)
        assert len(c.history) >= {1: 1, 2: 4, 3: 5}[level]
    with gx.graph() as g2:  # remove_node hands control inputs on (set_control)
        x = gx.placeholder((2,), "float64", name="x")
        a = gx.exp(x)
        a2 = gx.exp(x)
        with gx.control_dependencies([a2]):
            y = gx.sin(x)
        z = a + y
    after_each_pass.clear()
    c = CompiledGraph(g2, [z], 1)
    _check_rebuilt(g2, c, after_each_pass)
    # exp_1 is merged into exp; sin, which waited for it, now waits for what it waited for
    assert c.graph.nx.nodes["sin"]["control"] == ("x",)
    (step,) = c.history
    assert ("rewired", "sin", "sin", "inputs: control inputs redone", ()) in _rows(step)
    assert ("removed", "exp_1", "exp", "cse: same as exp", ("exp",)) in _rows(step)


def test_build_graph_redraws_edges_from_the_node_data():
    g, x, b, y = _showcase()
    state = dict(g.nx.nodes(data=True))
    rebuilt = build_graph("copy", state, {"sin", "nope"})
    rebuilt.validate()
    assert rebuilt.name == "copy" and rebuilt.gradient_nodes == {"sin"}
    assert sorted(rebuilt.nx.edges(keys=True, data=True)) == sorted(
        g.nx.edges(keys=True, data=True))
    rebuilt.nx.nodes["sin"]["op"] = gx.REGISTRY["cos"]  # the data is copied
    assert g.nx.nodes["sin"]["op"].name == "sin"


# -- stable ids --------------------------------------------------------------------------------
def test_node_ids_are_unique_and_kept_by_copies_and_rewrites():
    g, x, b, y = _showcase()
    ids = {n: d["id"] for n, d in g.nx.nodes(data=True)}
    assert all(isinstance(i, int) for i in ids.values())
    assert len(set(ids.values())) == len(ids)
    g2, _, _, _ = _showcase()  # unique across graphs too
    assert not set(ids.values()) & {d["id"] for _, d in g2.nx.nodes(data=True)}
    c = g.compile(y, optimize=3)
    for n, d in c.graph.nx.nodes(data=True):
        assert d["id"] == ids[n], n  # the compiled copy's, the folded and fused nodes' too
    assert c.graph.nx.nodes["relu"]["op"].name == "fused_dense"
    h = c.history
    for k, step in enumerate(h, 1):
        graph = h.graph(k)
        assert len({d["id"] for _, d in graph.nx.nodes(data=True)}) == len(graph)
        for change in step.changes:
            assert change.id == ids[change.node], (k, change)
    assert [d["id"] for _, d in g.nx.nodes(data=True)] == list(ids.values())  # source unchanged


# -- provenance --------------------------------------------------------------------------------
def test_provenance_lists_a_nodes_changes_in_step_order():
    g, x, b, y = _showcase()
    h = g.compile(y, optimize=3).history
    assert [(k, c.kind, c.why) for k, c in h.provenance("add_1")] == [
        (1, "rewired", "inputs: exp_2:0 -> exp_1:0"),
        (3, "rewired", "inputs: multiply:0 -> exp_1:0"),
        (6, "removed", "fused into add_2"),
    ]
    assert [(k, c.kind, c.op) for k, c in h.provenance("add_2")] == [
        (6, "rewritten", "fused_elementwise"), (7, "in place", "fused_elementwise")]
    assert [(k, c.kind) for k, c in h.provenance("relu")] == [(5, "rewritten")]
    assert h.provenance("x") == [] and h.provenance("no such node") == []
    for name in g.nx:
        got = h.provenance(name)
        assert [k for k, _ in got] == sorted(k for k, _ in got)
        assert got == [(k, c) for k, s in enumerate(h, 1) for c in s.changes if c.node == name]
        assert all(c.node == name for _, c in got)


# -- history off, level 0, no recording left on ------------------------------------------------
def _optimized(level, history):
    g, x, b, y = _showcase()
    report = optimize(g, level, keep=[y], history=history)
    return g, report


@pytest.mark.parametrize("level", [1, 2, 3])
def test_history_off_gives_no_history_and_the_same_graph(level):
    g_on, on = _optimized(level, True)
    g_off, off = _optimized(level, False)
    assert isinstance(on.history, History) and off.history is None
    assert g_on._journal is None and g_off._journal is None
    assert [(r.name, r.round, r.nodes_after, r.changed, list(r.actions))
            for r in on.records] == [(r.name, r.round, r.nodes_after, r.changed, list(r.actions))
                                     for r in off.records]
    a, b = g_on.nx.nodes, g_off.nx.nodes
    assert list(a) == list(b)
    for n in a:
        assert (a[n]["op"], a[n]["inputs"], a[n]["control"], a[n]["specs"]) == (
            b[n]["op"], b[n]["inputs"], b[n]["control"], b[n]["specs"]), n
        assert a[n]["attrs"].keys() == b[n]["attrs"].keys()
    assert sorted(g_on.nx.edges(keys=True, data=True)) == sorted(
        g_off.nx.edges(keys=True, data=True))
    assert g_on.plan_memory == g_off.plan_memory == (level == 3)
    # nothing records after optimize: a new node is in no journal
    g_on.add_node("negative", [("x", 0)], {}, g_on.nx.nodes["x"]["specs"], "here")
    assert g_on._journal is None


def test_level_0_has_a_history_of_no_steps():
    g, x, b, y = _showcase()
    report = optimize(g, 0, keep=[y])
    h = report.history
    assert isinstance(h, History) and len(h) == 0 and list(h) == []
    assert g._journal is None and report.records == []
    assert str(h) == f"history of {g.name}: 16 -> 16 nodes in 0 steps"
    assert _differences(_of(h.graph(0)), _of(g)) == []
    assert _differences(_of(h.graph()), _of(g)) == []
    with pytest.raises(IndexError):
        h.diff(1)
    c = g.compile(y, optimize=0)
    assert len(c.history) == 0 and len(c.history.graph()) == len(c.graph) == 16


# -- the digits MLP training step --------------------------------------------------------------
def _variables(graph):
    return list({id(d["attrs"]["var"]): d["attrs"]["var"] for _, d in graph.nx.nodes(data=True)
                 if d["op"].name in ("read_variable", "assign")}.values())


@pytest.mark.parametrize("level", [1, 2, 3])
def test_training_step_history(monkeypatch, level):
    g, loss, step = _mlp_training_step()
    on = CompiledGraph(g, [loss, step], level)
    off = _without_history(monkeypatch, g, [loss, step], level)
    assert off.history is None and isinstance(on.history, History)
    assert list(on.graph.nx) == list(off.graph.nx)
    # the same results, and the same variable updates, with and without the history
    variables = _variables(g)
    assert len(variables) == 5
    start = [v.numpy().copy() for v in variables]
    xv = np.random.default_rng(level).standard_normal((6, 8)).astype("float32")
    results = []
    for compiled in (on, off, on):
        for v, s in zip(variables, start, strict=True):
            v.assign(s)
        out = compiled({"x": xv})
        results.append((out[0], [v.numpy().copy() for v in variables]))
    for other in results[1:]:
        np.testing.assert_array_equal(other[0], results[0][0], strict=True)
        for a, b in zip(other[1], results[0][1], strict=True):
            np.testing.assert_array_equal(a, b, strict=True)
    assert not np.array_equal(results[0][1][0], start[0])  # the step did update the kernel
    # the steps are the pass runs that changed something, then the memory plan's writes
    h = on.history
    changed = [r for r in on.report.records if r.changed]
    writes = on.report.memory.writes if level == 3 else {}
    assert [s.name for s in h] == [r.name for r in changed] + (["memory_planning"] * bool(writes))
    for s, r in zip(h, changed):
        assert (s.round, s.nodes_after, s.actions) == (r.round, r.nodes_after, r.actions)
        assert s.changes
    assert h.nodes_before == on.report.nodes_before == len(g.nx)
    assert len(h.graph()) == len(on.graph) == on.report.nodes_after
    assert h[0].name == "common_subexpression_elimination"
    if level >= 2:
        epilogue = _step(h, "epilogue_fusion")
        fused = [c for c in epilogue.changes if c.kind == "rewritten"]
        assert len(fused) == 2 and {c.op for c in fused} == {"fused_dense"}
        assert all(c.why == "fused: 2 members (dense epilogue)" for c in fused)
        rewired = [c for c in epilogue.changes if c.kind == "rewired"]
        assert len(rewired) == 2  # the bias gradients' shape uses move to the fused nodes
        removed = {c.node for c in epilogue.changes if c.kind == "removed"}
        for c in rewired:
            m = re.fullmatch(r"inputs: (\S+):0 -> (\S+):0", c.why)
            assert m and m[1] in removed and m[2] in {f.node for f in fused}, c
        ew = _step(h, "elementwise_fusion")
        for c in ew.changes:
            if c.kind == "rewritten":
                assert c.why == f"fused: {len(c.origin)} members" and c.origin[-1] == c.node
            else:
                assert c.kind == "removed" and re.fullmatch(r"fused into \S+", c.why)
    if level == 3:
        assert writes and [c.node for c in h[-1].changes] == list(writes)
        for c in h[-1].changes:
            how, into = writes[c.node]
            assert c.origin == (into,)
            assert c.why == (f"in place: writes into {into}" if how == "in place"
                             else f"reuses: the buffer of {into}")


# -- diff --------------------------------------------------------------------------------------
def test_diff_is_the_union_graph_the_changes_and_the_ghost_edges():
    g, x, b, y = _showcase()
    h = g.compile(y, optimize=3).history
    ghosts = {1: [("exp_2", "add_1")], 2: [("c", "exp")], 3: [("multiply", "add_1")], 4: [],
              5: [("add", "relu")], 6: [("add_1", "add_2")], 7: []}
    for k, step in enumerate(h, 1):
        union, changes, got = h.diff(k)
        union.validate()
        before, after = h.nodes(k - 1), h.nodes(k)
        assert set(union.nx) == set(before) | set(after)
        for n, d in union.nx.nodes(data=True):  # the node as it is after the step, if it stays
            assert d["op"] is (after.get(n) or before[n])["op"], n
        assert changes == {c.node: c for c in step.changes}
        assert got == ghosts[k], k
        # exactly the edges into nodes that stayed whose producer they no longer read
        want = [(src, n) for n, old in before.items() if n in after
                for src in dict.fromkeys(s for s, _ in old["inputs"])
                if src not in {s for s, _ in after[n]["inputs"]}]
        assert sorted(got) == sorted(want)
    union, changes, _ = h.diff(6)
    assert {"exp_1", "add_1"} <= set(union.nx) and union.nx.nodes["add_2"]["op"].name == (
        "fused_elementwise")
    assert [changes[n].kind for n in ("add_2", "exp_1", "add_1")] == [
        "rewritten", "removed", "removed"]
    for k in (0, len(h) + 1):
        with pytest.raises(IndexError, match=r"steps 1\.\.7"):
            h.diff(k)


# -- pictures: to_dot's marks, ghosts and title ------------------------------------------------
def test_to_dot_marks_changes_by_kind_and_draws_ghosts_and_the_title():
    g, x, b, y = _showcase()
    h = g.compile(y, optimize=3).history
    union, changes, ghosts = h.diff(6)
    dot = gx.viz.to_dot(union, changes=changes, ghosts=ghosts, title="step 6: fusion")
    nodes = _nodes(dot)
    removed, rewritten = MARKS["removed"], MARKS["rewritten"]
    for n in ("exp_1", "add_1"):
        assert f'color="{removed[0]}"' in nodes[n] and f'fillcolor="{removed[1]}"' in nodes[n]
        assert "dashed" in nodes[n] and "removed: fused into add_2" in nodes[n]
    assert f'color="{rewritten[0]}"' in nodes["add_2"] and "dashed" not in nodes["add_2"]
    assert "rewritten: fused: 3 members" in nodes["add_2"]
    for n in ("x", "relu", "sum", "sin"):  # unchanged: no mark
        assert "penwidth" not in nodes[n] and not any(f'color="{m[0]}"' in nodes[n]
                                                      for m in MARKS.values())
    legend = set(re.findall(r'id="legend:([^"]+)"', dot))
    assert legend & set(MARKS) == {"removed", "rewritten"}
    edges = _edges(dot)
    ghost = [e for e in edges if "arrowhead=empty" in e[2]]
    assert [(a, b) for a, b, _ in ghost] == [("add_1", "add_2")]
    assert all('color="#e03131"' in e[2] and "dashed" in e[2]
               for e in edges if "exp_1" in e[:2] or "add_1" in e[:2])
    assert 'label="step 6: fusion"; labelloc=t;' in dot
    # no changes: no marks, no ghosts, no title
    plain = gx.viz.to_dot(union)
    assert "penwidth" not in plain and "arrowhead=empty" not in plain
    assert "labelloc" not in plain
    assert not set(re.findall(r'id="legend:([^"]+)"', plain)) & set(MARKS)


def test_to_dot_marks_added_and_in_place_nodes():
    g, x, b, y = _showcase()
    h = g.compile(y, optimize=3).history
    ir = h.graph()
    added = Change("added", "sum", ir.nx.nodes["sum"]["id"], "sum", "made by a test")
    with pytest.raises(gx.InvalidArgumentError, match="gone"):
        gx.viz.to_dot(ir, changes={"sum": added, "gone": added})  # not a node of the graph
    with pytest.raises(gx.InvalidArgumentError, match="ghosts"):
        gx.viz.to_dot(ir, ghosts=[("sum",)])
    dot = gx.viz.to_dot(ir, changes={"sum": added})
    node = _nodes(dot)["sum"]
    assert f'color="{MARKS["added"][0]}"' in node and f'fillcolor="{MARKS["added"][1]}"' in node
    assert "added: made by a test" in node and "dashed" not in node
    legend = set(re.findall(r'id="legend:([^"]+)"', dot))
    assert legend & set(MARKS) == {"added"}
    _, changes, ghosts = h.diff(7)
    assert ghosts == []
    dot = gx.viz.to_dot(ir, changes=changes)
    for n in ("add_2", "sin"):
        assert f'color="{MARKS["in place"][0]}"' in _nodes(dot)[n]
    assert set(re.findall(r'id="legend:([^"]+)"', dot)) & set(MARKS) == {"in place"}
    assert "in place: writes into sum" in _nodes(dot)["sin"]
    assert "in place: in place" not in _nodes(dot)["sin"]


# -- render_passes -----------------------------------------------------------------------------
@pytest.mark.skipif(not _CAN_RENDER,
                    reason="needs Graphviz's dot program and the graphviz package (viz extra)")
def test_render_passes_draws_before_each_step_and_after(tmp_path):
    g, x, b, y = _showcase()
    c = g.compile(y, optimize=3)
    h = c.history
    paths = gx.viz.render_passes(c, tmp_path / "passes")
    names = [p.rsplit("/", 1)[-1] for p in paths]
    assert names == ["00-before.svg", *(f"{k:02d}-{s.name}.svg" for k, s in enumerate(h, 1)),
                     "08-after.svg"]
    assert sorted(p.name for p in (tmp_path / "passes").iterdir()) == sorted(names)
    svgs = []
    for p in paths:
        with open(p, encoding="utf-8") as f:
            svgs.append(f.read())
    for svg in svgs:
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg and svg.rstrip().endswith(
            "</svg>")
    assert "before: 16 nodes" in svgs[0] and "after: 8 nodes" in svgs[-1]
    for k, step in enumerate(h, 1):
        svg = svgs[k]
        assert f"step {k}: {step.name}" in svg
        for change in step.changes:
            assert f'id="{change.node}"' in svg, (k, change)
        for kind in KINDS:
            assert (f'id="legend:{kind}"' in svg) == bool(step.count(kind)), (k, kind)
    node_ids = set(re.findall(r'<g id="([^"]+)" class="node"', svgs[0]))
    assert node_ids - {i for i in node_ids if i.startswith("legend:")} == set(g.nx)
    # the history itself works too, with options for to_dot
    again = gx.viz.render_passes(h, tmp_path / "again", fmt="svg", rankdir="LR")
    assert [p.rsplit("/", 1)[-1] for p in again] == names


def test_render_passes_checks_its_arguments(tmp_path):
    g, x, b, y = _showcase()
    c = g.compile(y, optimize=2)
    with pytest.raises(gx.InvalidArgumentError, match="fmt must be one of svg, png, pdf"):
        gx.viz.render_passes(c, tmp_path / "out", fmt="gif")
    for bad in (g, 42, c.report):
        with pytest.raises(gx.InvalidArgumentError, match="expected a CompiledGraph"):
            gx.viz.render_passes(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# -- pickling ----------------------------------------------------------------------------------
def test_actions_and_changes_survive_pickling():
    g, x, b, y = _showcase()
    report = g.compile(y, optimize=3).report
    actions = [a for r in report.records if r.name != "memory_planning" for a in r.actions]
    assert len(actions) == 6 and all(isinstance(a, Action) for a in actions)
    (summary,) = report.actions("memory_planning")  # the plan's summary: a plain line
    assert type(summary) is str and summary.startswith("2 in place")
    back = pickle.loads(pickle.dumps(actions))
    assert back == actions
    for a, bk in zip(actions, back, strict=True):
        assert type(bk) is Action and isinstance(bk, str)
        assert (str(bk), bk.node, bk.why, bk.origin) == (str(a), a.node, a.why, a.origin)
    merged = report.actions("common_subexpression_elimination")[0]
    assert (merged, merged.why, merged.origin) == (
        "merged exp_2 into exp_1 (exp)", "cse: same as exp_1", ("exp_1",))
    changes = [c for s in report.history for c in s.changes]
    assert pickle.loads(pickle.dumps(changes)) == changes


# -- bugs found and fixed ---------------------------------------------------------------------
def test_a_history_does_not_change_when_the_graph_is_optimized_again():
    with gx.graph() as g:
        x = gx.placeholder((2,), "float64", name="x")
        y = gx.exp(x) * 2.0 + 1.0
    first = optimize(g, 1, keep=[y]).history
    assert len(first) == 0
    before = {n: d["op"].name for n, d in first.graph().nx.nodes(data=True)}
    optimize(g, 2, keep=[y])  # fuses add in place
    assert {n: d["op"].name for n, d in first.graph().nx.nodes(data=True)} == before


def test_an_optimize_that_raises_leaves_no_recording_on():
    with gx.graph() as g:
        x = gx.placeholder((2,), "float64", name="x")
        gx.exp(x)
    with pytest.raises(gx.InvalidArgumentError, match="keep"):
        optimize(g, 1, keep=[42])  # not a node name or tensor
    assert g._journal is None


def test_a_simplification_that_changes_nothing_is_not_reported():
    with gx.graph() as g:
        x = gx.placeholder((2,), "float64", name="x")
        a = gx.exp(x) * 1.0
        with gx.control_dependencies([a]):
            y = gx.sin(x)
    c = g.compile(y, optimize=1)
    assert [s.name for s in c.history] == [r.name for r in c.report.records if r.changed]
