"""ONNX import: models made with onnx.helper, loaded with gx.onnx.load and checked against
onnxruntime at every optimization level and eagerly; the semantics where ONNX and numpy
differ; the errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import graphexec as gx  # noqa: E402
from graphexec.onnx.backend import GraphexecBackend  # noqa: E402
from graphexec.onnx.importer import evaluate  # noqa: E402

F = TensorProto.FLOAT
RNG = np.random.default_rng(0)
_NP = {np.dtype("float32"): F, np.dtype("float64"): TensorProto.DOUBLE,
       np.dtype("int64"): TensorProto.INT64, np.dtype("int32"): TensorProto.INT32,
       np.dtype("bool"): TensorProto.BOOL, np.dtype("uint8"): TensorProto.UINT8,
       np.dtype("int8"): TensorProto.INT8, np.dtype("float16"): TensorProto.FLOAT16}


def model(nodes: list[Any], inputs: dict[str, np.ndarray], outputs: list[str],
          inits: dict[str, np.ndarray] | None = None, dynamic: tuple[str, ...] = (),
          opset: int = 21, out_type: int | None = None) -> Any:
    """A model of ``nodes`` whose inputs have the shapes and dtypes of the arrays given (the
    dims of inputs named in ``dynamic`` unknown in their first axis); the outputs' types are
    left to inference unless ``out_type`` is given."""
    ins = [helper.make_tensor_value_info(
        k, _NP[v.dtype], (["n", *v.shape[1:]] if k in dynamic else list(v.shape)))
        for k, v in inputs.items()]
    outs = [onnx.ValueInfoProto(name=o) if out_type is None
            else helper.make_tensor_value_info(o, out_type, ["d0", "d1"]) for o in outputs]
    g = helper.make_graph(nodes, "m", ins, outs,
                          [numpy_helper.from_array(v, k) for k, v in (inits or {}).items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def reference(m: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return list(sess.run(None, feeds))


def check(m: Any, feeds: dict[str, np.ndarray], levels: tuple[int, ...] = (0, 1, 2, 3),
          rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """``m`` loaded and run at each level, and evaluated eagerly, matches onnxruntime."""
    want = reference(m, feeds)
    prog = gx.onnx.load(m)
    with_numpy = gx.config.fusion_backend()
    gx.config.set_fusion_backend("numpy")
    try:
        runs = [prog.run({prog.inputs[k]: v for k, v in feeds.items()}, optimize=level)
                for level in levels]
    finally:
        gx.config.set_fusion_backend(with_numpy)
    for got in [*runs, evaluate(m, feeds)]:
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def one(op: str, inputs: dict[str, np.ndarray], inits: dict[str, np.ndarray] | None = None,
        n_out: int = 1, opset: int = 21, **attrs: Any) -> Any:
    names = list(inputs) + list(inits or {})
    outs = [f"y{i}" for i in range(n_out)]
    return model([helper.make_node(op, names, outs, **attrs)], inputs, outs, inits,
                 opset=opset)


def rand(*shape: int, dtype: str = "float32") -> np.ndarray:
    return RNG.normal(size=shape).astype(dtype)


# -- whole models ------------------------------------------------------------------------------

def test_mlp_matches_onnxruntime_at_every_level_with_a_dynamic_batch() -> None:
    w1, b1, w2, b2 = rand(8, 16), rand(16), rand(16, 3), rand(3)
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"]),
             helper.make_node("Add", ["h", "b1"], ["hb"]),
             helper.make_node("Relu", ["hb"], ["a"]),
             helper.make_node("Gemm", ["a", "w2", "b2"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["p"], axis=-1)]
    m = model(nodes, {"x": rand(4, 8)}, ["p"], {"w1": w1, "b1": b1, "w2": w2, "b2": b2},
              dynamic=("x",))
    prog = gx.onnx.load(m)
    assert prog.input_specs["x"].shape == (None, 8)
    for batch in (1, 5):
        check(m, {"x": rand(batch, 8)})


def test_cnn_in_nchw_matches_onnxruntime() -> None:
    w, b, wd = rand(4, 3, 3, 3), rand(4), rand(4 * 2 * 2, 5)
    shape = np.array([-1, 16], np.int64)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1],
                              strides=[2, 2]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Shape", ["p"], ["s"]),
             helper.make_node("Reshape", ["p", "shape"], ["f"]),
             helper.make_node("MatMul", ["f", "wd"], ["y"])]
    m = model(nodes, {"x": rand(2, 3, 8, 8)}, ["y", "s"], {"w": w, "b": b, "wd": wd,
                                                            "shape": shape})
    check(m, {"x": rand(2, 3, 8, 8)}, rtol=1e-4, atol=1e-5)


def test_shape_arithmetic_is_computed_at_import() -> None:
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "first"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "zero"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"])]
    m = model(nodes, {"x": rand(2, 3, 4)}, ["y"],
              {"first": np.array(0, np.int64), "zero": np.array([0], np.int64),
               "minus": np.array([-1], np.int64)})
    prog = gx.onnx.load(m)
    ops = {d["op"].name for _, d in prog.graph.nx.nodes(data=True)}
    assert ops == {"placeholder", "reshape"}
    check(m, {"x": rand(2, 3, 4)})


def test_reshape_of_a_dynamic_batch_with_zero_and_minus_one() -> None:
    m = one("Reshape", {"x": rand(2, 3, 4)}, {"s": np.array([0, -1], np.int64)})
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "n"
    assert gx.onnx.load(m).graph.spec(gx.onnx.load(m).outputs[0]).shape == (None, 12)
    check(m, {"x": rand(5, 3, 4)})


# -- the Program's call forms, errors --------------------------------------------------------

def test_program_call_forms_and_names() -> None:
    m = model([helper.make_node("Sub", ["in:0", "b"], ["out"])],
              {"in:0": rand(2), "b": rand(2)}, ["out"])
    prog = gx.onnx.load(m, name="sub")
    assert prog.inputs == {"in:0": "in_0", "b": "b"} and prog.kind == "onnx"
    a, b = rand(2), rand(2)
    want = [a - b]
    for got in (prog(a, b), prog({"in:0": a, "b": b}), prog(b=b, **{"in:0": a}),
                prog.run({"in_0": a, "b": b}, optimize=3)):
        np.testing.assert_allclose(got[0], want[0])
    assert gx.onnx.load(m.SerializeToString())(a, b)[0].shape == (2,)


def test_load_from_a_path(tmp_path: Any) -> None:
    m = one("Neg", {"x": rand(3)})
    onnx.save(m, tmp_path / "neg.onnx")
    x = rand(3)
    np.testing.assert_array_equal(gx.onnx.load(tmp_path / "neg.onnx")(x)[0], -x)
    with pytest.raises(gx.errors.FormatError, match="no ONNX model"):
        gx.onnx.load(tmp_path / "missing.onnx")


def test_an_unsupported_op_is_named_with_its_node_and_opset() -> None:
    m = model([helper.make_node("Relu", ["x"], ["r"]),
               helper.make_node("Unique", ["r"], ["y"], name="uniq")], {"x": rand(3)}, ["y"])
    with pytest.raises(gx.InvalidArgumentError, match=r"Unique \(domain ai.onnx, node "
                       r"'uniq', opset 21\)"):
        gx.onnx.load(m)


def test_a_reshape_to_a_run_time_shape_is_an_error_naming_the_node() -> None:
    m = model([helper.make_node("Reshape", ["x", "s"], ["y"], name="r")],
              {"x": rand(6), "s": np.array([2], np.int64)}, ["y"], out_type=F)
    with pytest.raises(gx.GraphError, match=r"Reshape node 'r' .*input 1 \('s'\) must be "
                       "known when the model is imported"):
        gx.onnx.load(m)
    rep = GraphexecBackend.prepare(m, optimize=3)  # the backend binds it to its value
    assert rep.run([rand(6), np.array([3, 2])])[0].shape == (3, 2)
    assert rep.bound == ["s"]


def test_nonzero_runs_eagerly_and_graph_mode_refuses_it() -> None:
    x = np.array([[1, 0], [0, 3]], np.int64)
    m = model([helper.make_node("NonZero", ["x"], ["y"])], {"x": x}, ["y"],
              out_type=TensorProto.INT64)
    np.testing.assert_array_equal(GraphexecBackend.prepare(m, mode="eager").run([x])[0],
                                  np.array(np.nonzero(x)))
    with pytest.raises(gx.GraphError, match="only known at run time"):
        GraphexecBackend.prepare(m).run([x])


def test_unsupported_dtypes_raise_a_dtype_error() -> None:
    m = model([helper.make_node("Identity", ["x"], ["y"])], {"x": rand(2)}, ["y"])
    m.graph.input[0].type.tensor_type.elem_type = TensorProto.BFLOAT16
    with pytest.raises(gx.DTypeError, match="BFLOAT16"):
        gx.onnx.load(m)


def test_missing_onnx_raises_missing_extra_error(monkeypatch: Any) -> None:
    import importlib

    real = importlib.import_module

    def no_onnx(name: str, *args: Any) -> Any:
        if name.split(".")[0] == "onnx":
            raise ImportError(f"No module named {name!r}")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", no_onnx)
    with pytest.raises(gx.MissingExtraError, match=r"graphexec\[onnx\]"):
        gx.onnx.load(b"")


# -- semantics where ONNX and numpy differ -----------------------------------------------------

def test_integer_div_truncates_toward_zero() -> None:
    a = np.array([7, -7, 7, -7, 6], np.int32)
    b = np.array([2, 2, -2, -2, 3], np.int32)
    check(one("Div", {"a": a, "b": b}), {"a": a, "b": b})


def test_pow_keeps_the_base_dtype() -> None:
    x, y = np.array([1.5, 2.0, 3.0], np.float32), np.array([2, 3, 1], np.int64)
    check(one("Pow", {"x": x, "y": y}), {"x": x, "y": y})
    xi, yf = np.array([2, 3, 4], np.int64), np.array([2.0, 0.5, 3.0], np.float32)
    check(one("Pow", {"x": xi, "y": yf}, opset=15), {"x": xi, "y": yf})


@pytest.mark.parametrize("fmod", [0, 1])
def test_mod_integers_and_c_fmod(fmod: int) -> None:
    a = np.array([5, -5, 5, -5, 7], np.int64)
    b = np.array([3, 3, -3, -3, 7], np.int64)
    check(one("Mod", {"a": a, "b": b}, fmod=fmod), {"a": a, "b": b})
    if fmod:
        af, bf = a.astype("float32") + 0.5, b.astype("float32")
        check(one("Mod", {"a": af, "b": bf}, fmod=1), {"a": af, "b": bf})


def test_one_hot_wraps_negative_indices() -> None:
    idx = np.array([0, -1, 2, -3], np.int64)
    m = one("OneHot", {"i": idx}, {"depth": np.array(3, np.int64),
                                   "values": np.array([0.0, 5.0], np.float32)}, axis=0)
    check(m, {"i": idx})


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
def test_arg_select_last_index(op: str) -> None:
    x = np.array([[1.0, 3.0, 3.0], [0.0, 0.0, -1.0]], np.float32)
    check(one(op, {"x": x}, axis=1, keepdims=0, select_last_index=1), {"x": x})


@pytest.mark.parametrize("attrs", [
    {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1},
    {"kernel_shape": [3, 3], "pads": [1, 0, 1, 2], "count_include_pad": 1},
    {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 0},
    {"kernel_shape": [2, 2], "auto_pad": "SAME_UPPER", "strides": [2, 2]},
])
def test_average_pool_padding_and_ceil_mode(attrs: dict[str, Any]) -> None:
    x = rand(1, 2, 7, 6)
    check(one("AveragePool", {"x": x}, **attrs), {"x": x})


@pytest.mark.parametrize("attrs", [
    {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1},
    {"kernel_shape": [2, 2], "dilations": [2, 2], "pads": [1, 1, 0, 0]},
    {"kernel_shape": [3], "strides": [2]},
])
def test_max_pool_dilations_pads_ceil_mode(attrs: dict[str, Any]) -> None:
    x = rand(1, 2, 7) if len(attrs["kernel_shape"]) == 1 else rand(1, 2, 7, 6)
    check(one("MaxPool", {"x": x}, **attrs), {"x": x})


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
def test_pad_modes_with_pads_value_and_axes_as_inputs(mode: str) -> None:
    x = rand(3, 4)
    inits = {"pads": np.array([1, 2, 2, 1], np.int64)}
    if mode == "constant":
        inits["value"] = np.array(7.5, np.float32)
    m = one("Pad", {"x": x}, inits, mode=mode)
    check(m, {"x": x})
    axes = {"pads": np.array([2, -1], np.int64), "value": np.array(1.0, np.float32),
            "axes": np.array([-1], np.int64)}
    check(one("Pad", {"x": x}, axes), {"x": x})


@pytest.mark.parametrize("allowzero", [0, 1])
def test_reshape_zero_dims(allowzero: int) -> None:
    x = rand(2, 0, 3) if allowzero else rand(2, 3, 4)
    target = np.array([0, 3, -1] if not allowzero else [0, 2, 3], np.int64)
    check(one("Reshape", {"x": x}, {"s": target}, allowzero=allowzero), {"x": x})


def test_expand_broadcasts_both_ways() -> None:
    x = rand(3, 1)
    check(one("Expand", {"x": x}, {"s": np.array([2, 1, 4], np.int64)}), {"x": x})


def test_gemm_transposes_alpha_beta() -> None:
    a, b, c = rand(4, 3), rand(5, 4), rand(5)
    check(one("Gemm", {"a": a, "b": b, "c": c}, transA=1, transB=1, alpha=0.5, beta=2.0),
          {"a": a, "b": b, "c": c})


def test_cast_float_to_int_and_bool() -> None:
    x = np.array([1.7, -1.7, 0.0, 2.5], np.float32)
    check(one("Cast", {"x": x}, to=TensorProto.INT32), {"x": x})
    check(one("Cast", {"x": x}, to=TensorProto.BOOL), {"x": x})


def test_conv_groups_and_conv_transpose() -> None:
    x, w = rand(1, 4, 5, 5), rand(6, 2, 3, 3)
    check(one("Conv", {"x": x, "w": w}, group=2, pads=[1, 1, 1, 1]), {"x": x, "w": w},
          rtol=1e-4, atol=1e-5)
    wt = rand(4, 3, 3, 3)
    check(one("ConvTranspose", {"x": x, "w": wt}, strides=[2, 2], pads=[1, 0, 1, 0]),
          {"x": x, "w": wt}, rtol=1e-4, atol=1e-5)


def test_the_backend_runs_on_a_device_name() -> None:
    assert GraphexecBackend.supports_device("CPU") and GraphexecBackend.supports_device("CUDA")
    assert not GraphexecBackend.supports_device("TPU")
    out = GraphexecBackend.run_node(helper.make_node("Relu", ["x"], ["y"]),
                                    [np.array([-1.0, 2.0], np.float32)])
    np.testing.assert_array_equal(out[0], [0.0, 2.0])


# -- recurrent layers and control flow against onnxruntime ----------------------------------

def test_lstm_bidirectional_with_sequence_lens_peepholes_and_initial_state() -> None:
    steps, batch, size, hidden = 4, 3, 5, 6
    inits = {"w": rand(2, 4 * hidden, size), "r": rand(2, 4 * hidden, hidden),
             "b": rand(2, 8 * hidden), "lens": np.array([4, 2, 3], np.int32),
             "h0": rand(2, batch, hidden), "c0": rand(2, batch, hidden),
             "p": rand(2, 3 * hidden)}
    x = rand(steps, batch, size)
    node = helper.make_node("LSTM", ["x", "w", "r", "b", "lens", "h0", "c0", "p"],
                            ["y", "y_h", "y_c"], hidden_size=hidden, direction="bidirectional")
    check(model([node], {"x": x}, ["y", "y_h", "y_c"], inits), {"x": x}, rtol=1e-4,
          atol=1e-5)


@pytest.mark.parametrize("attrs", [
    {"linear_before_reset": 1, "direction": "reverse"},
    {"clip": 0.5, "activations": ["HardSigmoid", "Tanh"], "activation_alpha": [0.3],
     "activation_beta": [0.4]},
])
def test_gru_variants(attrs: dict[str, Any]) -> None:
    hidden = 4
    x = rand(2, 3, 5)
    inits = {"w": rand(1, 3 * hidden, 5), "r": rand(1, 3 * hidden, hidden),
             "b": rand(1, 6 * hidden)}
    node = helper.make_node("GRU", ["x", "w", "r", "b"], ["y", "y_h"], hidden_size=hidden,
                            **attrs)
    check(model([node], {"x": x}, ["y", "y_h"], inits), {"x": x}, rtol=1e-4, atol=1e-5)


def _doubling_body() -> Any:
    return helper.make_graph(
        [helper.make_node("Identity", ["c_in"], ["c_out"]),
         helper.make_node("Add", ["y_in", "y_in"], ["y_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("y_in", F, [2])],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("y_out", F, [2])])


def test_loop_with_a_run_time_trip_count_stays_one_graph_node() -> None:
    node = helper.make_node("Loop", ["m", "", "y"], ["out"], body=_doubling_body())
    m = model([node], {"m": np.array(3, np.int64), "y": rand(2)}, ["out"])
    prog = gx.onnx.load(m)
    assert "while" in {d["op"].name for _, d in prog.graph.nx.nodes(data=True)}
    for count in (0, 3):
        check(m, {"m": np.array(count, np.int64), "y": rand(2)})


def test_scan_over_axis_1_in_reverse_with_output_axis_1() -> None:
    body = helper.make_graph(
        [helper.make_node("Add", ["s_in", "x_row"], ["s_out"]),
         helper.make_node("Mul", ["s_out", "x_row"], ["y_row"])], "body",
        [helper.make_tensor_value_info("s_in", F, [3]),
         helper.make_tensor_value_info("x_row", F, [3])],
        [helper.make_tensor_value_info("s_out", F, [3]),
         helper.make_tensor_value_info("y_row", F, [3])])
    node = helper.make_node("Scan", ["s", "x"], ["final", "ys"], body=body, num_scan_inputs=1,
                            scan_input_axes=[1], scan_input_directions=[1],
                            scan_output_axes=[1])
    s, x = rand(3), rand(3, 4)
    check(model([node], {"s": s, "x": x}, ["final", "ys"]), {"s": s, "x": x})


def test_a_loop_body_reads_a_top_level_value() -> None:
    body = helper.make_graph(
        [helper.make_node("Identity", ["c_in"], ["c_out"]),
         helper.make_node("Add", ["y_in", "step"], ["y_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("y_in", F, [2])],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("y_out", F, [2])])
    nodes = [helper.make_node("Neg", ["x"], ["step"]),
             helper.make_node("Loop", ["m", "", "x"], ["out"], body=body)]
    m = model(nodes, {"m": np.array(2, np.int64), "x": rand(2)}, ["out"])
    check(m, {"m": np.array(2, np.int64), "x": rand(2)})


def test_attention_gqa_with_a_causal_bool_mask_and_past() -> None:
    q, k, v = rand(1, 4, 3, 8), rand(1, 2, 3, 8), rand(1, 2, 3, 8)
    past_k, past_v = rand(1, 2, 2, 8), rand(1, 2, 2, 8)
    mask = RNG.random((3, 5)) > 0.3
    feeds = {"q": q, "k": k, "v": v, "mask": mask, "pk": past_k, "pv": past_v}
    node = helper.make_node("Attention", list(feeds), ["y", "present_k", "present_v"],
                            is_causal=1, softcap=3.0)
    check(model([node], feeds, ["y", "present_k", "present_v"], opset=23), feeds, rtol=1e-4,
          atol=1e-5)


@pytest.mark.parametrize(("op", "attrs", "inits"), [
    ("Conv", {"strides": [2, 1], "pads": [1, 0, 1, 0]}, {"w": RNG.normal(size=(3, 2, 3, 3))}),
    ("ConvTranspose", {"strides": [2, 2]}, {"w": RNG.normal(size=(2, 3, 3, 3))}),
    ("MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2]}, {}),
    ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, {}),
    ("Resize", {"mode": "linear"}, {"roi": np.zeros(0), "scales": np.array([1, 1, 2, 2.0])}),
], ids=["Conv", "ConvTranspose", "MaxPool", "AveragePool", "Resize"])
def test_image_ops_with_an_unknown_batch(op: str, attrs: dict[str, Any],
                                         inits: dict[str, np.ndarray]) -> None:
    """One graph serves every batch size: only the dims a converter computes with must be
    known at import (not the batch)."""
    inits = {k: v.astype("float32") for k, v in inits.items()}
    node = helper.make_node(op, ["x", *inits], ["y"], **attrs)
    for batch in (3, 1):
        x = RNG.normal(size=(batch, 2, 6, 5)).astype("float32")
        check(model([node], {"x": x}, ["y"], inits, dynamic=("x",)), {"x": x}, levels=(0, 3),
              rtol=1e-4, atol=1e-5)


# -- found in review -------------------------------------------------------------------------
def test_resize_of_integers_and_tf_half_pixel_for_nn() -> None:
    x = (np.arange(16, dtype=np.uint8) * 10).reshape(1, 1, 4, 4)
    check(one("Resize", {"x": x}, {"roi": np.zeros(0, "float32"),
                                   "s": np.array([1, 1, 2, 2], "float32")}, mode="linear"),
          {"x": x})
    x = np.arange(5, dtype="float32").reshape(1, 1, 1, 5)
    check(one("Resize", {"x": x}, {"roi": np.zeros(0, "float32"),
                                   "s": np.array([1, 1, 1, 1.5], "float32")}, mode="nearest",
              coordinate_transformation_mode="tf_half_pixel_for_nn"), {"x": x})


@pytest.mark.parametrize("op", ["ReduceMean", "ReduceSum", "ReduceProd", "ReduceL1",
                                "ReduceSumSquare"])
def test_reductions_keep_the_input_dtype(op: str) -> None:
    x = np.array([[1, 2, 4], [3, -5, 7]], "int32")
    check(one(op, {"x": x}, {"axes": np.array([1])}, keepdims=1), {"x": x})


def test_fmod_of_floats_at_its_edges() -> None:
    x = np.array([-1e-8, -5, 5, 7.5, -7.5, 0.0], "float32")
    y = np.array([1, np.inf, -np.inf, 2, 2, 3], "float32")
    check(one("Mod", {"x": x, "y": y}, fmod=1), {"x": x, "y": y}, rtol=0, atol=0)


@pytest.mark.parametrize("op", ["Asinh", "Acosh", "Atanh", "Sinh", "Cosh"])
def test_hyperbolic_functions_neither_overflow_nor_cancel(op: str) -> None:
    v = {"Asinh": [-1e20, -3e4, -1e-8, 0.0, 0.5, 1e4, 1e20],
         "Acosh": [1.0, 1.0 + 1e-6, 2.0, 1e4, 1e20], "Atanh": [-0.999, -1e-8, 0.0, 0.3, 0.9],
         "Sinh": [-88.0, -1e-8, 0.0, 0.3, 5.0, 88.5], "Cosh": [-89.0, -1.0, 0.0, 1e-8, 88.5]}
    x = np.array(v[op], "float32")
    check(one(op, {"x": x}), {"x": x}, rtol=2e-6, atol=0)


def test_shrink_of_integers_stays_integer_and_gemm_scales_integers() -> None:
    x = np.array([-3, 0, 1, 4], "int8")
    check(one("Shrink", {"x": x}, lambd=1.5, bias=1.0), {"x": x})
    a, b = np.arange(6, dtype="int64").reshape(2, 3), np.arange(6, dtype="int64").reshape(3, 2)
    prog = gx.onnx.load(one("Gemm", {"a": a, "b": b}, alpha=2.0))
    (got,) = prog(a=a, b=b)
    assert got.dtype == np.int64 and (got == 2 * a @ b).all()


def test_pad_wrap_with_a_negative_pad_crops_first() -> None:
    x = np.arange(12, dtype="float32").reshape(3, 4)
    check(one("Pad", {"x": x}, {"pads": np.array([0, 1, 0, -1])}, mode="wrap"), {"x": x})


def test_integer_powers_with_negative_exponents_and_float16_means() -> None:
    b, e = np.array([2, 1, -1, 3], "int32"), np.array([-1, -2, -3, 2], "int32")
    check(one("Pow", {"b": b, "e": e}), {"b": b, "e": e})
    h = np.array([60000, 1, 2], "float16")
    got = gx.onnx.load(one("Mean", {"a": h, "c": h}))(a=h, c=h)[0]
    assert got.dtype == np.float16 and got[0] == 60000


def test_evaluate_checks_its_inputs_and_takes_a_default_override() -> None:
    x = np.array([1.0, 2.0], "float32")
    g = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])], "m",
        [helper.make_tensor_value_info("x", F, [2]), helper.make_tensor_value_info("w", F, [2])],
        [helper.make_tensor_value_info("y", F, [2])],
        [numpy_helper.from_array(np.zeros(2, "float32"), "w")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    assert evaluate(m, {"x": x, "w": np.array([10.0, 20.0], "float32")})[0].tolist() == [11, 22]
    assert evaluate(m, {"x": x})[0].tolist() == [1, 2]
    with pytest.raises(gx.FeedError, match="no input 'z'"):
        evaluate(m, {"x": x, "z": x})
    with pytest.raises(gx.FeedError):
        evaluate(m, {"x": np.array([1.5, 2.5])})  # float64 -> float32 would round
    with pytest.raises(gx.FeedError, match="shape"):
        evaluate(m, {"x": np.ones(3, "float32")})


def test_squeeze_without_axes_of_unknown_dims_is_an_error() -> None:
    x = np.ones((1, 1, 5), "float32")
    with pytest.raises(gx.GraphError, match="Squeeze without axes"):
        gx.onnx.load(model([helper.make_node("Squeeze", ["x"], ["y"])], {"x": x}, ["y"],
                           dynamic=("x",), opset=11))


def test_a_reshape_to_the_inputs_own_batch_built_from_its_shape() -> None:
    """What PyTorch writes for ``x.view(x.size(0), -1)`` with a dynamic batch: Shape, Gather,
    Unsqueeze, Concat, Reshape; the batch is known only when it runs, and it is x's own."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "ax"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"]),
             helper.make_node("Shape", ["x"], ["s2"], start=1),  # the other sizes: known
             helper.make_node("Shape", ["y"], ["sy"], end=1),  # y's own batch
             helper.make_node("Concat", ["sy", "s2"], ["again"], axis=0),
             helper.make_node("Reshape", ["y", "again"], ["z"])]
    inits = {"zero": np.array(0), "ax": np.array([0]), "minus1": np.array([-1])}
    for batch in (3, 1):
        x = RNG.normal(size=(batch, 2, 3, 4)).astype("float32")
        m = model(nodes, {"x": x}, ["y", "z"], inits, dynamic=("x",))
        check(m, {"x": x}, levels=(0, 3))
    prog = gx.onnx.load(m)
    assert prog.input_specs["x"].shape == (None, 2, 3, 4)
    # a batch taken from another tensor is not known to be this one's: an error naming it
    bad = [*nodes[:6], helper.make_node("Concat", ["n1", "s2"], ["again"], axis=0),
           helper.make_node("Reshape", ["y", "again"], ["z"])]
    with pytest.raises(gx.GraphError, match="Reshape node"):
        gx.onnx.load(model(bad, {"x": x}, ["z"], inits, dynamic=("x",)))
