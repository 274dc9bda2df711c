"""Every op that may join a fused elementwise group is run by the exactness checks of
tests/test_fusion.py (its module-level op lists)."""

import pytest

import graphexec as gx
from graphexec.passes.fusion import _fusible
from graphexec.registry import REGISTRY, elementwise_infer, register

from . import test_fusion

#: the dtypes tests/test_fusion.py runs each op list with
LIST_DTYPES = {
    "FLOAT_OPS": ("float32", "float64"),
    "INT_OPS": ("int32", "uint8"),
    "BOOL_OPS": ("bool",),
    "TRANSCENDENTAL": ("float32", "float64"),
}


def op_lists():
    """test_fusion's module-level lists of ``(label, fn(x, y))`` pairs, by name."""
    return {k: v for k, v in vars(test_fusion).items()
            if isinstance(v, list) and v and all(
                isinstance(e, tuple) and len(e) == 2 and isinstance(e[0], str) and callable(e[1])
                for e in v)}


def fused_ops(fn, dtype):
    """The ops that ``fn(x, y)`` builds and elementwise fusion would take in."""
    with gx.graph() as g:
        x = gx.placeholder((None,), dtype, name="x")
        y = gx.placeholder((None,), dtype, name="y")
        fn(x, y)
    return {d["op"].name for n, d in g.nx.nodes(data=True) if _fusible(g.nx, n)}


def covered():
    names = set()
    for list_name, ops in op_lists().items():
        for dtype in LIST_DTYPES[list_name]:
            for _, fn in ops:
                names |= fused_ops(fn, dtype)
    return names


def fusible_ops():
    return {name for name, op in REGISTRY.items() if op.fusion is not None}


def test_every_op_list_has_its_dtypes_here():
    assert set(op_lists()) == set(LIST_DTYPES)


def test_every_fusible_op_is_exercised_by_test_fusion():
    missing = fusible_ops() - covered()
    assert not missing, f"fusible ops no list in tests/test_fusion.py runs: {sorted(missing)}"


def test_every_labelled_entry_builds_fusible_ops():
    """An entry named after an op builds that op (so a renamed op cannot go unnoticed)."""
    fusible = fusible_ops()
    for list_name, ops in op_lists().items():
        for label, fn in ops:
            built = set().union(*(fused_ops(fn, dt) for dt in LIST_DTYPES[list_name]))
            assert built, (list_name, label)
            if label in REGISTRY:
                assert label in fusible and label in built, (list_name, label)


def test_the_check_sees_a_new_fusible_op():
    op = register("test_cov_double", infer=elementwise_infer(lambda x: x), arity=1,
                  fusion=REGISTRY["negative"].fusion)(lambda xp, x: 2 * x)
    try:
        assert op.fusion is not None
        assert fusible_ops() - covered() == {"test_cov_double"}
    finally:
        del REGISTRY["test_cov_double"]


@pytest.mark.parametrize("dtype", ["float32", "int32", "bool"])
def test_fused_ops_reads_the_graph(dtype):
    got = fused_ops(lambda x, y: gx.maximum(x, y) + gx.cast(gx.equal(x, y), dtype), dtype)
    assert got == {"maximum", "add", "equal", "cast"}
    assert fused_ops(lambda x, y: gx.sum(x), dtype) == set()  # a reduction never joins
