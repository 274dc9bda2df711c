"""gx.nn functional ops against numpy references written here, eagerly and in graph mode."""

import itertools
import math

import numpy as np
import pytest

import graphexec as gx
from graphexec.registry import REGISTRY

from .helpers import assert_close, check_op, rand, run_eager, run_graph

FLOATS = ["float32", "float64"]
F32_CONV = dict(rtol=1e-5, atol=1e-5)  # float32 sums in another order than the float64 loops


# -- references -----------------------------------------------------------------------------------
def ref_sigmoid(a):
    with np.errstate(over="ignore"):
        return (1 / (1 + np.exp(-a.astype("float64")))).astype(a.dtype)


def ref_softmax(a, axis=-1):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def ref_log_softmax(a, axis=-1):
    s = a - a.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


def ref_erf(a):
    return np.vectorize(math.erf, otypes=[a.dtype])(a)


def ref_gelu(a):
    return np.vectorize(lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2))), otypes=[a.dtype])(a)


def ref_gelu_tanh(a):
    c = math.sqrt(2 / math.pi)
    return 0.5 * a * (1 + np.tanh(c * (a + 0.044715 * a**3)))


def same_pads(size, k, s, d=1):
    """TF's SAME padding, from its documented formula."""
    total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def ref_conv2d(x, f, strides=(1, 1), padding="VALID", dilations=(1, 1), mode="constant"):
    """Direct loops over output pixels and output channels."""
    (sh, sw), (dh, dw) = strides, dilations
    kh, kw, c, o = f.shape
    if padding == "SAME":
        padding = [same_pads(x.shape[1], kh, sh, dh), same_pads(x.shape[2], kw, sw, dw)]
    elif padding == "VALID":
        padding = [(0, 0), (0, 0)]
    xp = np.pad(x, [(0, 0), *padding, (0, 0)], mode=mode)
    n, h, w, _ = xp.shape
    oh, ow = (h - (kh - 1) * dh - 1) // sh + 1, (w - (kw - 1) * dw - 1) // sw + 1
    out = np.zeros((n, oh, ow, o), np.result_type(x, f))
    for b, i, j, q in itertools.product(range(n), range(oh), range(ow), range(o)):
        acc = 0.0
        for a, e, ch in itertools.product(range(kh), range(kw), range(c)):
            acc += float(xp[b, i * sh + a * dh, j * sw + e * dw, ch]) * float(f[a, e, ch, q])
        out[b, i, j, q] = acc
    return out


def ref_pool(x, ksize, strides, padding, reduce):
    """Loops over the windows; padded positions are simply skipped (never counted)."""
    (kh, kw), (sh, sw) = ksize, strides
    n, h, w, c = x.shape
    if padding == "SAME":
        (t, _), (left, _) = same_pads(h, kh, sh), same_pads(w, kw, sw)
        oh, ow = math.ceil(h / sh), math.ceil(w / sw)
    elif padding == "VALID":
        t = left = 0
        oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    else:
        (t, b), (left, r) = padding
        oh, ow = (h + t + b - kh) // sh + 1, (w + left + r - kw) // sw + 1
    out = []
    for bb, i, j, ch in itertools.product(range(n), range(oh), range(ow), range(c)):
        rows = [i * sh - t + a for a in range(kh) if 0 <= i * sh - t + a < h]
        cols = [j * sw - left + e for e in range(kw) if 0 <= j * sw - left + e < w]
        out.append(reduce(x[bb][np.ix_(rows, cols)][..., ch]))
    return np.array(out).reshape(n, oh, ow, c)


def ref_max_pool(x, ksize, strides, padding="VALID"):
    return ref_pool(x, ksize, strides, padding, np.max).astype(x.dtype)


def ref_avg_pool(x, ksize, strides, padding="VALID"):
    return ref_pool(x, ksize, strides, padding, np.mean).astype(
        x.dtype if x.dtype.kind == "f" else "float64")


def build_error(fn, *shapes, dtype="float32"):
    """Build ``fn`` over placeholders inside a graph block; return the error raised there."""
    with gx.graph() as g:
        phs = [gx.placeholder(s, dtype) for s in shapes]
        fn(*phs)
    return g


def raises_both(exc, match, fn, *arrays, shapes=None):
    """``fn`` raises ``exc`` eagerly and at graph build time (over placeholders)."""
    with pytest.raises(exc, match=match):
        run_eager(fn, *arrays)
    with pytest.raises(exc, match=match), gx.graph():
        fn(*[gx.placeholder(s, a.dtype) for s, a in zip(shapes or [a.shape for a in arrays],
                                                        arrays)])


# -- activations ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
def test_relu(dtype):
    x = rand(3, 4, dtype=dtype)
    check_op(gx.nn.relu, lambda a: np.maximum(a, 0), x)
    check_op(gx.nn.relu, lambda a: np.maximum(a, 0), x, dynamic=True)
    check_op(gx.nn.relu, lambda a: np.maximum(a, 0), rand(dtype=dtype))
    check_op(gx.nn.relu, lambda a: np.maximum(a, 0), rand(0, 2, dtype=dtype))
    out = gx.nn.relu(np.array([-1.0, 0.0, np.nan, 2.0], dtype)).numpy()
    np.testing.assert_array_equal(out, np.array([0.0, 0.0, np.nan, 2.0], dtype))


def test_relu_keeps_int_and_bool_dtypes():
    check_op(gx.nn.relu, lambda a: np.maximum(a, 0).astype("int32"), np.array([-3, 0, 5], "i4"))
    assert gx.nn.relu(np.array([True, False])).dtype == np.bool_


@pytest.mark.parametrize("dtype", FLOATS)
def test_sigmoid(dtype):
    check_op(gx.nn.sigmoid, ref_sigmoid, rand(3, 4, dtype=dtype, low=-8, high=8))
    check_op(gx.nn.sigmoid, ref_sigmoid, rand(5, dtype=dtype), dynamic=True)
    check_op(gx.nn.sigmoid, ref_sigmoid, rand(dtype=dtype))
    check_op(gx.nn.sigmoid, ref_sigmoid, rand(2, 0, dtype=dtype))


@pytest.mark.parametrize("dtype", FLOATS)
def test_sigmoid_is_stable_for_large_inputs(dtype):
    x = np.array([-1e4, -1000.0, -80.0, 0.0, 80.0, 1000.0, 1e4], dtype)
    with np.errstate(over="raise", invalid="raise"):  # no overflow warning either
        out = run_eager(gx.nn.sigmoid, x)[0]
    assert out.dtype == dtype and np.isfinite(out).all()
    assert out[0] == out[1] == 0.0 and out[-1] == out[-2] == 1.0 and out[3] == 0.5
    assert 0 < out[2] < 1e-30 or dtype == "float32"
    np.testing.assert_array_equal(run_graph(gx.nn.sigmoid, x)[0], out)


def test_sigmoid_of_ints_is_float64():
    check_op(gx.nn.sigmoid, lambda a: ref_sigmoid(a.astype("float64")), np.array([-2, 0, 3]))


def test_tanh_is_the_math_op():
    assert gx.nn.tanh is gx.tanh
    check_op(gx.nn.tanh, np.tanh, rand(2, 3, dtype="float32"))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_and_log_softmax(dtype, axis):
    x = rand(3, 4, dtype=dtype, low=-5, high=5)
    check_op(lambda t: gx.nn.softmax(t, axis), lambda a: ref_softmax(a, axis), x)
    check_op(lambda t: gx.nn.log_softmax(t, axis), lambda a: ref_log_softmax(a, axis), x)
    check_op(lambda t: gx.nn.softmax(t, axis), lambda a: ref_softmax(a, axis), x, dynamic=True)
    check_op(lambda t: gx.nn.log_softmax(t, axis), lambda a: ref_log_softmax(a, axis), x,
             dynamic=True)


def test_softmax_rows_sum_to_one_and_handle_empty():
    out = run_eager(gx.nn.softmax, rand(4, 6, 5, seed=3))[0]
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-14)
    check_op(gx.nn.softmax, ref_softmax, rand(0, 3))
    check_op(gx.nn.log_softmax, lambda a: a.copy(), rand(3, 0))
    check_op(lambda t: gx.nn.softmax(t, 0), lambda a: ref_softmax(a, 0), rand(4, dtype="float32"))


@pytest.mark.parametrize("dtype", FLOATS)
def test_log_softmax_is_finite_for_huge_logits(dtype):
    x = np.array([[-1000.0, 0.0, 1000.0], [1000.0, 1000.0, -1000.0]], dtype)
    for out in (run_eager(gx.nn.log_softmax, x)[0], run_graph(gx.nn.log_softmax, x)[0]):
        assert np.isfinite(out).all()
        assert_close(out, np.array([[-2000.0, -1000.0, 0.0], [-math.log(2), -math.log(2),
                                                              -2000 - math.log(2)]], dtype))
    sm = run_eager(gx.nn.softmax, x)[0]
    assert_close(sm, np.array([[0.0, 0.0, 1.0], [0.5, 0.5, 0.0]], dtype))


def test_softmax_errors():
    x = rand(2, 3)
    for fn in (gx.nn.softmax, gx.nn.log_softmax):
        raises_both(gx.InvalidArgumentError, r"axis 2 is out of range .*\(2, 3\)",
                    lambda t, fn=fn: fn(t, axis=2), x)
        raises_both(gx.InvalidArgumentError, "axis must be an int",
                    lambda t, fn=fn: fn(t, axis=0.5), x)
        raises_both(gx.InvalidArgumentError, "out of range", fn, np.array(1.0))
    with pytest.raises(gx.DTypeError, match="softmax: needs a real tensor, got complex128"):
        gx.nn.softmax(np.ones(2, complex))


# -- erf and gelu ---------------------------------------------------------------------------------
def test_erf_float64_matches_math_erf():
    x = np.concatenate([np.linspace(-7, 7, 4001), [2.5, -2.5, 2.4999999, 1e-300, 5e-324, 30.0]])
    out = run_eager(gx.nn.erf, x)[0]
    want = ref_erf(x)
    assert np.max(np.abs(out - want)) < 2e-15
    nz = want != 0
    assert np.max(np.abs(out - want)[nz] / np.abs(want[nz])) < 2e-15


def test_erf_special_values():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0])
    out = run_eager(gx.nn.erf, x)[0]
    np.testing.assert_array_equal(out, [np.nan, 1.0, -1.0, 0.0, -0.0])
    assert np.signbit(out[-1]) and not np.signbit(out[-2])


@pytest.mark.parametrize("dtype", ["float16", *FLOATS])
def test_erf(dtype):
    x = rand(3, 5, dtype=dtype, low=-4, high=4)
    tol = {"float16": 1e-3, "float32": 1e-6}.get(dtype)
    check_op(gx.nn.erf, ref_erf, x, rtol=tol, atol=tol)
    check_op(gx.nn.erf, ref_erf, x, rtol=tol, atol=tol, dynamic=True)
    check_op(gx.nn.erf, ref_erf, rand(0, dtype=dtype))
    check_op(gx.nn.erf, lambda a: ref_erf(a.astype("float64")), np.array([-1, 0, 2]))


@pytest.mark.parametrize("dtype", FLOATS)
def test_gelu(dtype):
    x = rand(4, 5, dtype=dtype, low=-6, high=6)
    tol = 1e-6 if dtype == "float32" else None
    check_op(gx.nn.gelu, ref_gelu, x, rtol=tol, atol=tol)
    check_op(gx.nn.gelu, ref_gelu, x, rtol=tol, atol=tol, dynamic=True)
    check_op(lambda t: gx.nn.gelu(t, approximate=True), ref_gelu_tanh, x, rtol=tol, atol=tol)
    check_op(gx.nn.gelu, ref_gelu, rand(dtype=dtype))


def test_gelu_known_values():
    out = gx.nn.gelu(np.array([-3.0, -1.0, 0.0, 1.0, 3.0])).numpy()
    # x * Phi(x): Phi(1) = 0.8413447460685429, Phi(3) = 0.9986501019683699
    np.testing.assert_allclose(out, [-3 * 0.0013498980316301, -0.15865525393145707, 0.0,
                                     0.8413447460685429, 3 * 0.9986501019683699], rtol=1e-13)
    approx = gx.nn.gelu(np.array([1.0]), approximate=True).numpy()
    assert abs(approx[0] - 0.8411919906082768) < 1e-15


def test_gelu_graph_uses_erf_or_tanh():
    with gx.graph() as g:
        x = gx.placeholder((None, 3), "float32")
        gx.nn.gelu(x)
        gx.nn.gelu(x, approximate=True)
    ops = [d["op"].name for _, d in g.nx.nodes(data=True)]
    assert ops.count("erf") == 1 and ops.count("tanh") == 1


def test_activations_are_elementwise_primitives():
    for name in ("relu", "sigmoid", "erf"):
        assert REGISTRY[name].kind == "elementwise"
    assert REGISTRY["softmax"].kind == REGISTRY["log_softmax"].kind == "opaque"


# -- conv2d ---------------------------------------------------------------------------------------
CONV_CASES = [
    # x shape, filter shape, strides, padding, dilations
    ((1, 5, 5, 1), (3, 3, 1, 1), 1, "VALID", 1),
    ((2, 6, 7, 3), (3, 2, 3, 4), 1, "VALID", 1),
    ((1, 7, 7, 2), (3, 3, 2, 3), 2, "VALID", 1),
    ((3, 8, 6, 2), (2, 3, 2, 2), (2, 3), "VALID", 1),
    ((1, 9, 8, 1), (3, 3, 1, 2), 1, "VALID", 2),
    ((2, 9, 10, 2), (2, 3, 2, 2), 1, "VALID", (3, 2)),
    ((1, 5, 5, 2), (3, 3, 2, 2), 1, "SAME", 1),
    ((2, 6, 6, 1), (4, 4, 1, 3), 1, "SAME", 1),
    ((1, 7, 8, 3), (3, 2, 3, 2), 2, "SAME", 1),
    ((1, 6, 5, 1), (2, 2, 1, 1), (3, 2), "SAME", 1),
    ((1, 8, 7, 2), (3, 3, 2, 2), 1, "SAME", 2),
    ((2, 7, 7, 1), (3, 3, 1, 1), 2, "SAME", 2),
    ((1, 4, 5, 2), (3, 3, 2, 2), 1, [[1, 2], [0, 1]], 1),
    ((1, 4, 4, 1), (3, 3, 1, 1), 2, [[0, 0], [2, 1], [1, 1], [0, 0]], 1),
    ((1, 3, 3, 1), (3, 3, 1, 1), 1, "SAME", 1),
    ((1, 1, 1, 2), (1, 1, 2, 3), 1, "VALID", 1),
]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _ref_padding(padding):
    if isinstance(padding, str):
        return padding
    p = [tuple(r) for r in padding]
    return p[1:3] if len(p) == 4 else p


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize(("xs", "fs", "strides", "padding", "dil"), CONV_CASES)
def test_conv2d_matches_direct_loops(dtype, xs, fs, strides, padding, dil):
    x, f = rand(*xs, dtype=dtype, seed=1), rand(*fs, dtype=dtype, seed=2)
    tol = F32_CONV if dtype == "float32" else {}

    def ref(a, b):
        return ref_conv2d(a, b, _pair(strides), _ref_padding(padding), _pair(dil))

    check_op(lambda a, b: gx.nn.conv2d(a, b, strides, padding, dil), ref, x, f, **tol)


def test_conv2d_tf_argument_forms_and_dynamic():
    x, f = rand(2, 7, 6, 3, seed=1), rand(3, 3, 3, 2, seed=2)
    want = ref_conv2d(x, f, (2, 1), "VALID", (1, 1))
    for strides in ((2, 1), [1, 2, 1, 1]):
        check_op(lambda a, b, s=strides: gx.nn.conv2d(a, b, s, "valid"), lambda a, b: want, x, f)
    want = ref_conv2d(x, f, (1, 1), [(1, 0), (2, 2)], (1, 1))
    check_op(lambda a, b: gx.nn.conv2d(a, b, padding=[[1, 0], [2, 2]]), lambda a, b: want,
             x, f, dynamic=True)
    check_op(lambda a, b: gx.nn.conv2d(a, b, 1, "VALID", [1, 2, 2, 1]),
             lambda a, b: ref_conv2d(a, b, dilations=(2, 2)), x, f, dynamic=True)


def test_conv2d_same_with_unknown_batch_and_stride_one_spatial():
    x, f = rand(2, 5, 6, 3, seed=4), rand(3, 2, 3, 2, seed=5)
    with gx.graph() as g:
        ph = gx.placeholder((None, None, None, 3), "float64")
        y = gx.nn.conv2d(ph, f, padding="SAME")  # stride 1: the padding does not depend on size
    assert y.shape == (None, None, None, 2)
    assert_close(g.run(y, {ph: x}), ref_conv2d(x, f, padding="SAME"))


def test_conv2d_batch_zero_and_ints():
    check_op(lambda a, b: gx.nn.conv2d(a, b, padding="SAME"),
             lambda a, b: np.zeros((0, 4, 4, 2), "float32"),
             rand(0, 4, 4, 3, dtype="float32"), rand(3, 3, 3, 2, dtype="float32"))
    x, f = rand(1, 4, 4, 2, dtype="int32", low=-3, high=3), rand(2, 2, 2, 1, dtype="int32")
    check_op(gx.nn.conv2d, lambda a, b: ref_conv2d(a, b).astype("int32"), x, f)


def test_conv2d_graph_shows_pad_node_only_when_padding():
    with gx.graph() as g, gx.name_scope("block"):
        x = gx.placeholder((1, 8, 8, 3), "float32")
        same = gx.nn.conv2d(x, rand(3, 3, 3, 4, dtype="float32"), 2, "SAME")
        valid = gx.nn.conv2d(x, rand(3, 3, 3, 4, dtype="float32"))
    assert same.shape == (1, 4, 4, 4) and valid.shape == (1, 6, 6, 4)
    nodes = g.nx.nodes
    assert nodes[same.name]["op"].name == "conv2d" and nodes[valid.name]["op"].name == "conv2d"
    src = nodes[same.name]["inputs"][0][0]
    assert nodes[src]["op"].name == "pad"
    assert nodes[src]["attrs"]["paddings"] == ((0, 0), (0, 1), (0, 1), (0, 0))  # TF: odd after
    assert nodes[valid.name]["inputs"][0][0] == x.name
    assert [d["op"].name for _, d in nodes(data=True)].count("pad") == 1


def test_conv2d_errors_at_build_time():
    x, f = rand(1, 5, 5, 3), rand(3, 3, 4, 2)
    raises_both(gx.ShapeError, r"conv2d: input \(1, 5, 5, 3\), filters \(3, 3, 4, 2\): the "
                r"input has 3 channels, the filters expect 4", gx.nn.conv2d, x, f)
    raises_both(gx.ShapeError, r"input \(5, 5, 3\) must have rank 4", gx.nn.conv2d,
                rand(5, 5, 3), rand(3, 3, 3, 2))
    raises_both(gx.ShapeError, r"filters \(3, 3, 3\) must have rank 4", gx.nn.conv2d,
                rand(1, 5, 5, 3), rand(3, 3, 3))
    raises_both(gx.ShapeError, r"padded input height 2 is smaller than the filter window 3",
                gx.nn.conv2d, rand(1, 2, 5, 1), rand(3, 3, 1, 1))
    raises_both(gx.ShapeError, r"padded input width 4 is smaller than the filter window 5",
                lambda a, b: gx.nn.conv2d(a, b, dilations=2), rand(1, 9, 4, 1),
                rand(3, 3, 1, 1))
    # known channels in graph mode even when the spatial dims are unknown
    raises_both(gx.ShapeError, "3 channels, the filters expect 4", gx.nn.conv2d, x, f,
                shapes=[(None, None, None, 3), (3, 3, 4, 2)])
    with pytest.raises(gx.ShapeError, match=r"test_nn.py:\d+"):
        gx.nn.conv2d(x, f)


def test_conv2d_argument_errors():
    x, f = rand(1, 5, 5, 1), rand(3, 3, 1, 1)
    for bad in (0, (1, 2, 3), [2, 1, 1, 1], -1, 1.5):
        raises_both(gx.InvalidArgumentError, "conv2d: strides", lambda a, b, s=bad:
                    gx.nn.conv2d(a, b, strides=s), x, f)
    raises_both(gx.InvalidArgumentError, "conv2d: dilations", lambda a, b:
                gx.nn.conv2d(a, b, dilations=(0, 1)), x, f)
    for bad in ("FULL", [[1, 1]], [[-1, 0], [0, 0]], [[1, 1], [1, 1], [1, 1], [1, 1]]):
        raises_both(gx.InvalidArgumentError, "conv2d: padding", lambda a, b, p=bad:
                    gx.nn.conv2d(a, b, padding=p), x, f)
    with pytest.raises(gx.ShapeError, match=r"SAME padding .* needs .* the input size"), \
            gx.graph():
        gx.nn.conv2d(gx.placeholder((1, None, 5, 1)), f, strides=2, padding="SAME")
    with pytest.raises(gx.DTypeError, match="bool"):
        gx.nn.conv2d(np.ones((1, 3, 3, 1), bool), np.ones((1, 1, 1, 1), bool))


def test_conv2d_too_small_dynamic_input_fails_at_run_time():
    with gx.graph() as g:
        x = gx.placeholder((None, None, None, 1), "float64")
        y = gx.nn.conv2d(x, rand(3, 3, 1, 1))
    with pytest.raises(gx.ExecutionError, match=r"conv2d.*smaller than the dilated filter"):
        g.run(y, {x: np.ones((1, 2, 2, 1))})


# -- pooling --------------------------------------------------------------------------------------
POOL_CASES = [
    # x shape, ksize, strides, padding
    ((1, 4, 4, 1), 2, 2, "VALID"),
    ((2, 5, 5, 3), 2, 2, "VALID"),
    ((1, 7, 6, 2), (3, 2), (2, 1), "VALID"),
    ((1, 5, 5, 1), 2, 2, "SAME"),
    ((2, 5, 7, 2), 3, 2, "SAME"),
    ((1, 6, 6, 1), 3, 1, "SAME"),
    ((1, 4, 7, 2), (2, 3), (3, 2), "SAME"),
    ((1, 3, 3, 1), 4, 1, "SAME"),
    ((1, 1, 1, 1), 1, 1, "VALID"),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize(("xs", "k", "s", "padding"), POOL_CASES)
def test_pools_match_direct_loops(dtype, xs, k, s, padding):
    x = rand(*xs, dtype=dtype, seed=7)
    for fn, ref in ((gx.nn.max_pool2d, ref_max_pool), (gx.nn.avg_pool2d, ref_avg_pool)):
        check_op(lambda a, fn=fn: fn(a, k, s, padding),
                 lambda a, ref=ref: ref(a, _pair(k), _pair(s), padding), x)
    check_op(lambda a: gx.nn.avg_pool2d(a, k, s, padding),
             lambda a: ref_avg_pool(a, _pair(k), _pair(s), padding), x, dynamic=True)


def test_avg_pool_same_divides_by_valid_elements_only():
    x = np.arange(9.0).reshape(1, 3, 3, 1)
    out = gx.nn.avg_pool2d(x, 2, 2, "SAME").numpy()[0, :, :, 0]
    np.testing.assert_array_equal(out, [[2.0, 3.5], [6.5, 8.0]])  # not [[2, 1.75], [3.25, 2]]
    ones = np.ones((1, 4, 5, 2), "float32")
    for k, s in ((3, 1), (2, 2), (4, 3)):
        check_op(lambda a, k=k, s=s: gx.nn.avg_pool2d(a, k, s, "SAME"),
                 lambda a, k=k, s=s: np.ones((1, math.ceil(4 / s), math.ceil(5 / s), 2),
                                             "float32"), ones)


def test_max_pool_padding_never_wins_and_explicit_padding():
    x = -np.arange(1.0, 26.0).reshape(1, 5, 5, 1)  # all negative: zero padding would win
    out = gx.nn.max_pool2d(x, 3, 2, "SAME").numpy()
    assert (out < 0).all()
    for padding in ([[1, 2], [0, 1]], [[0, 0], [2, 1], [1, 0], [0, 0]]):
        check_op(lambda a, p=padding: gx.nn.max_pool2d(a, 3, 2, p),
                 lambda a, p=padding: ref_max_pool(a, (3, 3), (2, 2), _ref_padding(p)), x)
        check_op(lambda a, p=padding: gx.nn.max_pool2d(a, 3, 2, p),
                 lambda a, p=padding: ref_max_pool(a, (3, 3), (2, 2), _ref_padding(p)), x,
                 dynamic=True)


def test_pools_on_ints_bool_and_empty_batch():
    xi = rand(2, 5, 5, 2, dtype="int32", low=-50, high=50)
    check_op(lambda a: gx.nn.max_pool2d(a, 2, 2, "SAME"),
             lambda a: ref_max_pool(a, (2, 2), (2, 2), "SAME"), xi)
    check_op(lambda a: gx.nn.avg_pool2d(a, 3, 2, "SAME"),
             lambda a: ref_avg_pool(a, (3, 3), (2, 2), "SAME"), xi)
    xb = rand(1, 4, 4, 1, dtype=bool)
    check_op(lambda a: gx.nn.max_pool2d(a, 3, 1, "SAME"),
             lambda a: ref_max_pool(a, (3, 3), (1, 1), "SAME"), xb)
    check_op(lambda a: gx.nn.max_pool2d(a, 2, 2), lambda a: np.zeros((0, 2, 2, 3), "float32"),
             np.zeros((0, 4, 4, 3), "float32"))


def test_pool_shapes_and_errors_at_build_time():
    with gx.graph():
        x = gx.placeholder((None, None, 9, 3))
        assert gx.nn.max_pool2d(x, 2, 2, "SAME").shape == (None, None, 5, 3)
        assert gx.nn.avg_pool2d(x, 3, 2).shape == (None, None, 4, 3)
    for fn in (gx.nn.max_pool2d, gx.nn.avg_pool2d):
        raises_both(gx.ShapeError, r"input \(1, 2, 5, 1\), ksize \(3, 3\).*height 2 is smaller",
                    lambda a, fn=fn: fn(a, 3, 1), rand(1, 2, 5, 1))
        raises_both(gx.ShapeError, r"input \(4, 4, 1\) must have rank 4",
                    lambda a, fn=fn: fn(a, 2, 2), rand(4, 4, 1))
        raises_both(gx.InvalidArgumentError, "ksize", lambda a, fn=fn: fn(a, 0, 1),
                    rand(1, 4, 4, 1))
        raises_both(gx.InvalidArgumentError, "padding 'full'",
                    lambda a, fn=fn: fn(a, 2, 1, "full"), rand(1, 4, 4, 1))
    raises_both(gx.InvalidArgumentError, "avg_pool2d: padding .* expected 'VALID' or 'SAME'",
                lambda a: gx.nn.avg_pool2d(a, 2, 1, [[1, 1], [1, 1]]), rand(1, 4, 4, 1))
    raises_both(gx.InvalidArgumentError, "must be smaller than the window",
                lambda a: gx.nn.max_pool2d(a, 2, 1, [[2, 0], [0, 0]]), rand(1, 4, 4, 1))


# -- nll_loss -------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
def test_nll_loss(dtype):
    logp = np.log(rand(5, 4, dtype=dtype, low=0.1, high=1.0))
    labels = np.array([0, 3, 1, 1, 2])
    check_op(gx.nn.nll_loss, lambda p, y: -p[np.arange(5), y], logp, labels)
    check_op(gx.nn.nll_loss, lambda p, y: -p[np.arange(5), y], logp, labels, dynamic=True)
    x = rand(2, 3, 4, dtype=dtype)
    y = np.array([[0, 2, 1, 1], [2, 2, 0, 1]], "int32")
    want = -np.take_along_axis(x, y[:, None], axis=1)[:, 0]
    check_op(lambda p, t: gx.nn.nll_loss(p, t, axis=1), lambda p, t: want, x, y)


def test_nll_loss_errors():
    logp = rand(3, 4)
    raises_both(gx.DTypeError, "labels must be integers, got float64", gx.nn.nll_loss,
                logp, rand(3))
    raises_both(gx.ShapeError, r"labels must have the shape \(3,\)", gx.nn.nll_loss,
                logp, np.zeros(4, int))
    with gx.graph() as g:
        p, y = gx.placeholder((None, 4), "float64"), gx.placeholder((None,), "int64")
        out = gx.nn.nll_loss(p, y)
    for bad in (4, -1):
        with pytest.raises(gx.ExecutionError, match=rf"label {bad} is outside .*\[0, 4\)"):
            g.run(out, {p: logp, y: np.array([0, bad, 1])})


# -- the same kernels under cupy ------------------------------------------------------------------
@pytest.mark.gpu
def test_nn_kernels_on_cupy_match_numpy():
    import cupy

    labels = np.array([0, 3, 1])
    cases = [
        (gx.nn.relu, rand(3, 4, dtype="float32")),
        (gx.nn.sigmoid, np.array([-1e4, -3.0, 0.0, 2.0, 1e4])),
        (gx.nn.erf, rand(64, low=-7, high=7)),
        (gx.nn.gelu, rand(4, 5, dtype="float32")),
        (gx.nn.softmax, rand(3, 4)),
        (lambda t: gx.nn.log_softmax(t, 0), rand(3, 4, dtype="float32")),
        (lambda x, f: gx.nn.conv2d(x, f, 2, "SAME"), rand(2, 7, 6, 3), rand(3, 3, 3, 4)),
        (lambda x, f: gx.nn.conv2d(x, f, 1, "VALID", 2), rand(1, 8, 8, 2, dtype="float32"),
         rand(3, 2, 2, 3, dtype="float32")),
        (lambda x: gx.nn.max_pool2d(x, 3, 2, "SAME"), rand(2, 5, 5, 2)),
        (lambda x: gx.nn.max_pool2d(x, 2, 1, [[1, 0], [0, 1]]), rand(1, 4, 4, 1, dtype="int32")),
        (lambda x: gx.nn.avg_pool2d(x, 3, 2, "SAME"), rand(2, 5, 6, 2, dtype="float32")),
        (gx.nn.nll_loss, np.log(rand(3, 4, low=0.1, high=1.0)), labels),
    ]
    for fn, *arrays in cases:
        with gx.graph() as g:
            phs = [gx.placeholder(a.shape, a.dtype) for a in arrays]
            out = fn(*phs)
        want = g.run(out, dict(zip(phs, arrays)))
        got = g.run(out, {p: cupy.asarray(a) for p, a in zip(phs, arrays)}, backend="cupy")
        assert isinstance(got, cupy.ndarray)
        tol = dict(rtol=1e-5, atol=1e-6) if want.dtype == np.float32 else {}
        assert_close(cupy.asnumpy(got), want, **tol)
