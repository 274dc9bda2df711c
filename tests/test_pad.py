"""gx.pad: identical to numpy.pad in every mode, eagerly and in graph mode, static and dynamic."""


import numpy as np
import pytest

import graphexec as gx
from graphexec.ops.pad import MODES, index_map

from .helpers import check_op, rand, run_eager, run_graph
from .hypothesis_or_skip import given, settings, st

EXACT = dict(rtol=0, atol=0)


def _pad(paddings, mode="constant", **kw):
    return lambda x: gx.pad(x, paddings, mode, **kw)


def _ref(paddings, mode="constant", **kw):
    return lambda a: np.pad(a, paddings, mode.lower(), **kw)


def _check(x, paddings, mode="constant", dynamic=False, **kw):
    check_op(_pad(paddings, mode, **kw), _ref(paddings, mode, **kw), x, dynamic=dynamic, **EXACT)


# -- the worked examples of seed-notes.md, and the other two modes -------------------------------
@pytest.mark.parametrize(("mode", "want"), [
    ("reflect", [3, 2, 1, 2, 3, 2, 1]),
    ("symmetric", [2, 1, 1, 2, 3, 3, 2]),
    ("constant", [0, 0, 1, 2, 3, 0, 0]),
    ("edge", [1, 1, 1, 2, 3, 3, 3]),
    ("wrap", [2, 3, 1, 2, 3, 1, 2]),
])
def test_worked_examples(mode, want):
    x = np.array([1, 2, 3])
    for m in (mode, mode.upper(), mode.title()):
        check_op(_pad([[2, 2]], m), lambda a, want=want: np.array(want), x, **EXACT)


# -- every mode against numpy.pad ----------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_modes_2d(mode, dtype):
    x = rand(3, 4, dtype=dtype, low=-9, high=9)
    _check(x, [[1, 2], [3, 0]], mode)
    _check(x, [[0, 0], [0, 0]], mode)
    _check(x, [[7, 8], [10, 1]], mode)  # wider than the axes: the pattern repeats


@pytest.mark.parametrize("mode", MODES)
def test_modes_3d_and_dynamic(mode):
    x = rand(2, 3, 4, dtype="float32")
    _check(x, [[1, 0], [2, 5], [0, 3]], mode)
    _check(x, [[1, 0], [2, 5], [0, 3]], mode, dynamic=True)
    _check(rand(5, dtype="int32"), [[13, 4]], mode, dynamic=True)


@pytest.mark.parametrize("mode", MODES)
def test_size_one_axes(mode):
    x = rand(1, 3, 1)
    _check(x, [[2, 3], [1, 1], [4, 0]], mode)
    _check(x, [[2, 3], [1, 1], [4, 0]], mode, dynamic=True)
    (out,) = run_eager(_pad([[0, 0], [0, 0], [2, 1]], mode), x)
    if mode != "constant":  # numpy extends a size-1 axis by repeating it, reflect included
        np.testing.assert_array_equal(out, np.repeat(x, 4, axis=2))


@pytest.mark.parametrize("mode", MODES)
def test_rank0(mode):
    x = np.array(2.5, "float32")
    _check(x, 3, mode)
    check_op(_pad(np.zeros((0, 2), "int32"), mode), lambda a: a, x, **EXACT)


@pytest.mark.parametrize("mode", MODES)
def test_empty(mode):
    x = rand(0, 3)
    _check(x, [[0, 0], [2, 1]], mode)  # any mode may pad the other axes of an empty tensor
    _check(x, [[0, 0], [2, 1]], mode, dynamic=True)
    _check(rand(2, 0, dtype="int32"), [[1, 1], [0, 0]], mode)
    _check(x, [[2, 3], [1, 0]], "constant", dynamic=True)


def test_paddings_forms():
    x = rand(2, 3, dtype="float32")
    for paddings in (2, (2,), [1, 3], ((1, 3),), np.array([[1, 2], [0, 4]], "int32"),
                     [(np.int64(1), 2), (0, np.uint8(4))]):
        _check(x, paddings, "symmetric")
        _check(x, paddings, "constant", constant_values=-1.0)
    # an eager tensor of paddings, TF style
    check_op(_pad(gx.constant([[1, 0], [2, 2]]), "REFLECT"), _ref([[1, 0], [2, 2]], "reflect"),
             x, **EXACT)


def test_constant_values_follow_numpy():
    x = np.array([[1, 2], [3, 4]], "int32")
    _check(x, 1, constant_values=0.5)  # truncates to 0, as numpy
    (out,) = run_eager(_pad(1, constant_values=-7.9), x)
    assert out.dtype == np.int32 and out[0, 0] == -7
    _check(np.array([1, 2], "uint8"), 1, constant_values=300)  # wraps to 44, as numpy
    _check(np.array([True, False]), 1, constant_values=5)
    _check(rand(2, dtype="float32"), [[1, 2]], constant_values=np.nan)
    _check(rand(2, 2), 2, constant_values=np.float32(0.1))
    check_op(_pad(1, constant_values=gx.constant(3.0)), _ref(1, constant_values=3.0),
             rand(3), **EXACT)


def test_zero_constant_values_with_other_modes():
    x = rand(4)
    for zero in (0, 0.0, np.float64(0)):  # the default, so accepted (numpy refuses any value)
        check_op(_pad(2, "reflect", constant_values=zero), _ref(2, "reflect"), x, **EXACT)


def test_index_map_matches_numpy():
    for mode in ("reflect", "symmetric", "edge", "wrap"):
        for n in range(1, 7):
            for before in range(0, 3 * n + 4):
                for after in (0, 1, n, 2 * n + 1, 3 * n + 3):
                    want = np.pad(np.arange(n), (before, after), mode)
                    np.testing.assert_array_equal(index_map(n, before, after, mode), want)


def test_graph_node():
    with gx.graph() as g:
        x = gx.placeholder((None, 3), "float32")
        y = gx.pad(x, 1, "Symmetric")
    assert y.shape == (None, 5) and y.dtype == np.float32
    node = g.nx.nodes[y.name]
    assert node["op"].name == "pad"
    assert node["attrs"] == {"paddings": ((1, 1), (1, 1)), "mode": "symmetric",
                             "constant_values": None}
    hash(tuple(node["attrs"].values()))  # attrs are hashable, for CSE
    assert gx.REGISTRY["pad"].kind == "opaque"


# -- errors: same class in both modes, raised while building the graph ----------------------------
def _raises_both(err, match, fn, x):
    with pytest.raises(err, match=match) as e:
        fn(gx.constant(x))
    assert str(e.value).startswith("pad: ") and "— at test_pad.py:" in str(e.value)
    with gx.graph(), pytest.raises(err, match=match) as e:
        fn(gx.placeholder(x.shape, x.dtype))
    assert str(e.value).startswith("pad: ") and "— at test_pad.py:" in str(e.value)


@pytest.mark.parametrize(("err", "match", "fn"), [
    (gx.ShapeError, r"3 \(before, after\) pair\(s\) for \(2, 3\), a tensor of rank 2",
     _pad([[1, 1], [1, 1], [1, 1]])),
    (gx.ShapeError, r"paddings of shape \(2, 3\) do not fit a tensor of rank 2",
     _pad([[1, 1, 1], [1, 1, 1]])),
    (gx.ShapeError, r"paddings of shape \(0,\)", _pad([])),
    (gx.InvalidArgumentError, "negative paddings", _pad([[1, -1], [0, 0]])),
    (gx.InvalidArgumentError, "negative paddings", _pad(-2, "reflect")),
    (gx.InvalidArgumentError, "paddings must be integers", _pad([[1.0, 1.0], [0, 0]])),
    (gx.InvalidArgumentError, "unknown mode 'mirror'; modes are constant, reflect, symmetric, "
     "edge, wrap", _pad(1, "MIRROR")),
    (gx.InvalidArgumentError, "unknown mode None", _pad(1, None)),
    (gx.InvalidArgumentError, "constant_values=3 is only for mode 'constant'",
     _pad(1, "reflect", constant_values=3)),
    (gx.InvalidArgumentError, "constant_values must be a scalar",
     _pad(1, constant_values=[1, 2])),
    (gx.InvalidArgumentError, "cannot be stored in float64",
     _pad(1, constant_values="a")),
])
def test_errors(err, match, fn):
    _raises_both(err, match, fn, rand(2, 3))


def test_errors_dtype_dependent():
    _raises_both(gx.InvalidArgumentError, "constant_values nan cannot be stored in int32",
                 _pad(1, constant_values=np.nan), rand(2, dtype="int32"))


@pytest.mark.parametrize("mode", ["reflect", "SYMMETRIC", "edge", "wrap"])
def test_cannot_extend_empty_axis(mode):
    with pytest.raises(ValueError, match="can't extend empty axis"):
        np.pad(rand(0, 2), [[1, 0], [0, 0]], mode.lower())  # numpy refuses it too
    _raises_both(gx.ShapeError, rf"\(0, 2\): mode '{mode.lower()}' cannot extend axis 0 of size 0",
                 _pad([[1, 0], [0, 0]], mode), rand(0, 2))
    # with the dim unknown at build time, the run fails, naming the node and the user's line
    with gx.graph() as g:
        x = gx.placeholder((None, 2), "float64")
        y = gx.pad(x, [[0, 2], [1, 1]], mode)
    np.testing.assert_array_equal(g.run(y, {x: np.ones((1, 2))}), np.ones((3, 4)))
    with pytest.raises(gx.ExecutionError, match=r"cannot extend axis 0 of size 0.* at "
                                                r"test_pad.py:\d+ \(while running node 'pad'"):
        g.run(y, {x: np.ones((0, 2))})


def test_paddings_known_at_build_time():
    with gx.graph() as g:
        x = gx.placeholder((2,), "float32")
        y = gx.pad(x, gx.constant([[1, 2]]), constant_values=gx.constant(7.0))  # constant nodes
        assert y.shape == (5,)
        p = gx.placeholder((1, 2), "int32")
        with pytest.raises(gx.InvalidArgumentError, match="paddings must be known when the graph"):
            gx.pad(x, p)
        with pytest.raises(gx.InvalidArgumentError, match="constant_values must be known"):
            gx.pad(x, 1, constant_values=gx.placeholder((), "float32"))
    np.testing.assert_array_equal(g.run(y, {x: np.array([1, 2], "float32")}),
                                  np.array([7, 1, 2, 7, 7], "float32"), strict=True)


# -- differential test against numpy.pad ----------------------------------------------------------
@st.composite
def pad_cases(draw):
    rank = draw(st.integers(0, 4))
    low = draw(st.sampled_from([1, 1, 1, 0]))  # a size-0 axis in about a quarter of cases
    dim = st.integers(low, 5 - rank // 2)
    shape = tuple(draw(st.lists(dim, min_size=rank, max_size=rank)))
    mode = draw(st.sampled_from(MODES))
    form = draw(st.sampled_from(["tf", "pair", "int"] if rank else ["pair", "int"]))
    if mode != "constant" and 0 in shape:
        form = "tf"  # numpy cannot extend an empty axis in the other modes: pad it by 0
    width = st.integers(0, 3 * max(shape, default=0) + 3)
    if form == "int":
        paddings = draw(width)
    elif form == "pair":
        paddings = (draw(width), draw(width))
    else:
        pairs = [(0, 0) if n == 0 and mode != "constant" else
                 (draw(st.integers(0, 3 * n + 3)), draw(st.integers(0, 3 * n + 3)))
                 for n in shape]
        paddings = np.array(pairs, "int64")
    dtype = draw(st.sampled_from(["float32", "float64", "int32"]))
    x = (np.arange(int(np.prod(shape))) - 7).reshape(shape).astype(dtype)
    kw = {}
    if mode == "constant" and draw(st.booleans()):
        kw["constant_values"] = draw(st.integers(-9, 9) | st.floats(-9, 9, width=32))
    case = draw(st.sampled_from([str.lower, str.upper, str.title]))
    return x, paddings, case(mode), kw, draw(st.booleans())


def _differential(case):
    x, paddings, mode, kw, dynamic = case
    want = np.pad(x, paddings, mode.lower(), **kw)
    fn = _pad(paddings, mode, **kw)
    (eager,) = run_eager(fn, x)
    (graph,) = run_graph(fn, x, dynamic=dynamic)
    np.testing.assert_array_equal(eager, want, strict=True)
    np.testing.assert_array_equal(graph, want, strict=True)


@given(pad_cases())
def test_matches_numpy_pad(case):
    _differential(case)


@pytest.mark.nightly
@settings(max_examples=2000)
@given(pad_cases())
def test_matches_numpy_pad_nightly(case):
    _differential(case)


def test_rank0_accepts_an_empty_paddings_list():
    check_op(lambda t: gx.pad(t, []), lambda a: a, np.array(2.5))
