"""Fused elementwise groups as CUDA kernels: the source ``graphexec.fusion.cuda`` writes from the
members' own code, its numbers, its cache and its snapshots.

Without a GPU, the generated source runs through a host build of ``cupy.ElementwiseKernel``
(tests/host_cuda.py: the host's C++ compiler, no fused multiply-adds) on the CuPy stand-in
(tests/fake_cupy.py): every fused op of tests/test_fusion.py's lists, in their dtypes, against
the unfused graph on the CPU.  That checks the translation and the plumbing, not NVRTC or the
device's libm; ``nvcc`` (where installed) compiles every generated kernel for the device, and
the ``gpu`` tests run them on one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import graphexec as gx
from graphexec.device import Device
from graphexec.fusion import FusedProgram, Member
from graphexec.fusion.cuda import (
    OPTIONS,
    PRELUDE,
    Unsupported,
    cuda_source,
    elementwise_kernel,
)
from graphexec.registry import REGISTRY, Spec, elementwise_infer, register

from . import fake_cupy, host_cuda
from .test_fusion import (
    BOOL_OPS,
    FLOAT_OPS,
    INT_OPS,
    TRANSCENDENTAL,
    assert_ops_exact,
    float_data,
    fuse,
    fused_nodes,
    int_data,
    program_of,
    selector_graph,
    transcendental_data,
    ulps,
)

NO_CXX = "needs a host C++ compiler (g++) to build the CUDA source of fused kernels on the host"

GPU = Device("cuda", 1)
SNAPSHOTS = Path(__file__).parent / "snapshots" / "cuda"
F32 = Spec((None,), np.dtype("float32"))


@pytest.fixture
def gpu(monkeypatch):
    if host_cuda.CXX is None:
        pytest.skip(NO_CXX)
    fake = fake_cupy.make(devices=2)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    return fake


@pytest.fixture(params=[pytest.param("stand-in", id="stand-in"),
                        pytest.param("cuda", id="cuda", marks=pytest.mark.gpu)])
def where(request, monkeypatch):
    """GPU 1 of the stand-in (host builds of the kernels), or this machine's GPU 0."""
    if request.param == "stand-in":
        if host_cuda.CXX is None:
            pytest.skip(NO_CXX)
        monkeypatch.setitem(sys.modules, "cupy", fake_cupy.make(devices=2))
        return GPU
    return Device("cuda", 0)


def run_on_device(ops, dtype, x, y, dev=GPU):
    """(unfused result on the CPU, fused result on ``dev``, sel): as
    test_fusion.run_selector, the fused program run as one CUDA kernel (on the stand-in, a
    host build of it)."""
    g, (xp_, yp_, sp_), out = selector_graph(ops, dtype)
    n = len(x)
    feeds = {xp_: np.tile(x, len(ops)), yp_: np.tile(y, len(ops)),
             sp_: np.repeat(np.arange(len(ops), dtype="int32"), n)}
    with np.errstate(all="ignore"):
        want = g.run(out, feeds)
        changed, _ = fuse(g, keep=[out])
        assert changed and len(fused_nodes(g)) == 1
        before = len(host_cuda.ElementwiseKernel.launches)
        got = g.run(out, feeds, device=dev)
    if dev == GPU:  # the stand-in: one launch of the program's kernel
        assert isinstance(got, fake_cupy.ndarray) and got._device_id == 1
        launched = host_cuda.ElementwiseKernel.launches[before:]
        assert [k for k, _ in launched] == [cuda_source(program_of(g, out.name)).name]
    return want, got.get(), feeds[sp_]


# NOTE: the numbers of the generated kernels run on the stand-in (its host builds) and, marked
# gpu, on a real device (NVRTC, the device's libm), which needs no host compiler
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float_ops_are_bit_identical(where, dtype):
    x, y = float_data(dtype)
    assert_ops_exact(FLOAT_OPS, *run_on_device(FLOAT_OPS, dtype, x, y, where), nan_bits=False)


@pytest.mark.parametrize("dtype", ["int32", "uint8"])
def test_int_ops_wrap_as_numpy(where, dtype):
    ops = INT_OPS if dtype == "int32" else [
        op for op in INT_OPS if op[0] not in ("negative", "sign", "abs")]
    x, y = int_data(dtype)
    assert_ops_exact(ops, *run_on_device(ops, dtype, x, y, where))


def test_bool_ops(where):
    x, y = np.array([[a, b] for a in (False, True) for b in (False, True)] * 3).T
    assert_ops_exact(BOOL_OPS, *run_on_device(BOOL_OPS, "bool", x, y, where))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_transcendental_ops_within_stated_ulps(where, dtype):
    x, y = transcendental_data(dtype)
    want, got, sel = run_on_device(TRANSCENDENTAL, dtype, x, y, where)
    worst = {name: int(ulps(want[sel == k], got[sel == k]).max())
             for k, (name, _) in enumerate(TRANSCENDENTAL)}
    limits = {name: REGISTRY[name].fusion.ulp_for(dtype) for name in worst}
    assert all(worst[n] <= limits[n] for n in worst), (worst, limits)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_saturating_casts_in_the_kernel(where, dtype):
    x = np.array([np.nan, np.inf, -np.inf, -1.5, 3.7, 1e10, -1e10, 200.0, -200.0], dtype)
    for to in ("uint8", "int8", "int32", "int64", "uint64"):
        f = gx.function(lambda t, to=to: gx.cast(t * 1.0 + 0.0, to), optimize=3)
        want = gx.cast(gx.constant(x), to).numpy()
        np.testing.assert_array_equal(f(gx.constant(x).to(where)).numpy(), want)


def test_broadcast_strided_and_aliased_operands(gpu):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 6)).astype("float32")
    b = rng.standard_normal((6,)).astype("float32")

    def f(x, bias):
        return gx.nn.relu(x * 2.0 + bias) - bias

    fn = gx.function(f, optimize=3)
    want = f(gx.constant(a.T.copy()), gx.constant(b[:4])).numpy()
    with gx.device(GPU):
        xt = gx.constant(a).to(GPU)
        got = fn(gx.transpose(xt), gx.constant(b[:4]).to(GPU))  # a strided view, broadcast
    np.testing.assert_array_equal(got.numpy(), want)
    # the kernel writing into one of its inputs (the memory plan reuses buffers)
    p = FusedProgram([F32, F32], [Member("s", "add", (("input", 0), ("input", 1)), F32),
                                  Member("r", "relu", (("member", 0),), F32)])
    with gpu.cuda.Device(1):
        x = gpu.asarray(np.array([1.0, -2.0, 3.0], "float32"))
        y = gpu.asarray(np.array([0.5, 0.5, -4.0], "float32"))
        out = p(gpu, x, y, out=x)
        assert out is x and x.get().tolist() == [1.5, 0.0, 0.0]
        x = gpu.asarray(np.arange(4.0, dtype="float32"))
        p(gpu, x[:3], x[1:], out=x[1:])  # overlapping views: written through a temporary
        assert x.get().tolist() == [0.0, 1.0, 3.0, 5.0]


def test_equal_programs_share_one_kernel(gpu):
    def prog(dtype):
        s = Spec((None,), np.dtype(dtype))
        return FusedProgram([s], [Member("n", "negative", (("input", 0),), s),
                                  Member("e", "exp", (("member", 0),), s)])

    k1 = elementwise_kernel(prog("float32"), gpu)
    assert elementwise_kernel(prog("float32"), gpu) is k1
    assert elementwise_kernel(prog("float64"), gpu) is not k1
    assert k1.options == OPTIONS == ("--fmad=false",)


def test_untranslatable_code_runs_op_by_op(gpu):
    from graphexec.fusable import Fusion, same_loop

    def emit(j, dt, a, attrs):
        return [], f"({a[0]} % 7)"  # Python's modulo: not translated

    op = register("test_cuda_mod7", infer=elementwise_infer(lambda x: x), arity=1,
                  kind="elementwise", fusion=Fusion(same_loop, emit))(
        lambda xp, x: xp.mod(x, 7))
    try:
        s = Spec((None,), np.dtype("int32"))
        p = FusedProgram([s], [Member("m", op, (("input", 0),), s),
                               Member("n", "negative", (("member", 0),), s)])
        with pytest.raises(Unsupported, match="operator"):
            cuda_source(p)
        assert elementwise_kernel(p, gpu) is None
        with gpu.cuda.Device(1):
            got = p(gpu, gpu.asarray(np.array([-3, 10, 15], "int32")))
        assert got.get().tolist() == [-4, -3, -1]
    finally:
        del REGISTRY["test_cuda_mod7"]


# -- snapshots of the generated source -----------------------------------------------------------
def _snapshot_programs():
    f64, i16 = Spec((None,), np.dtype("float64")), Spec((None,), np.dtype("int16"))
    b = Spec((None,), np.dtype("bool"))
    return {
        "dense_epilogue_f32": FusedProgram(
            [F32, Spec((4,), np.dtype("float32"))],
            [Member("a", "add", (("input", 0), ("input", 1)), F32),
             Member("r", "relu", (("member", 0),), F32)]),
        "sigmoid_f32": FusedProgram([F32], [Member("s", "sigmoid", (("input", 0),), F32)]),
        "erf_f64": FusedProgram([f64], [Member("e", "erf", (("input", 0),), f64)]),
        "tanh_pow_f32": FusedProgram(
            [F32, F32], [Member("t", "tanh", (("input", 0),), F32),
                         Member("p", "pow", (("member", 0), ("input", 1)), F32)]),
        "int16_wrap": FusedProgram(
            [i16, i16], [Member("m", "multiply", (("input", 0), ("input", 1)), i16),
                         Member("a", "abs", (("member", 0),), i16),
                         Member("s", "sign", (("member", 1),), i16)]),
        "cast_and_where": FusedProgram(
            [F32, b], [Member("c", "cast", (("input", 0),), Spec((None,), np.dtype("int8")),
                              (("dtype", np.dtype("int8")),)),
                       Member("w", "where", (("input", 1), ("member", 0), ("literal", 0)),
                              Spec((None,), np.dtype("int8")))],
            literals=[np.int8(-1)]),
        "literals_f32": FusedProgram(
            [F32], [Member("m", "multiply", (("input", 0), ("literal", 0)), F32),
                    Member("a", "add", (("member", 0), ("literal", 1)), F32),
                    Member("x", "maximum", (("member", 1), ("literal", 2)), F32)],
            literals=[np.float32(0.1), np.float32(-np.inf), np.float32(3e38)]),
    }


@pytest.mark.parametrize("name", sorted(_snapshot_programs()))
def test_generated_source_matches_its_snapshot(name):
    src = cuda_source(_snapshot_programs()[name])
    assert src.preamble == PRELUDE  # the same helpers in every kernel
    text = src.text(preamble=False)
    path = SNAPSHOTS / f"{name}.cu"
    if os.environ.get("GRAPHEXEC_UPDATE_SNAPSHOTS"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no snapshot {path}: run with GRAPHEXEC_UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(), f"{name}: the generated source changed (snapshot {path})"


def _device_translation_unit(sources):
    """The kernels as CuPy wraps an ElementwiseKernel: a ``__global__`` loop over a flat index,
    the parameters declared as elements of their arrays."""
    from graphexec.fusion.cuda import C_TYPES

    parts = []
    for k, src in enumerate(sources):
        ins = [p.split() for p in src.in_params.split(",")]
        outs = [p.split() for p in src.out_params.split(",")]
        args = [f"const {C_TYPES[np.dtype(t)]}* _p_{n}" for t, n in ins] + [
            f"{C_TYPES[np.dtype(t)]}* _p_{n}" for t, n in outs]
        body = [f"const {C_TYPES[np.dtype(t)]} {n} = _p_{n}[i];" for t, n in ins] + [
            f"{C_TYPES[np.dtype(t)]}& {n} = _p_{n}[i];" for t, n in outs]
        parts += [f"namespace k{k} {{", src.preamble,
                  f"extern \"C\" __global__ void {src.name}({', '.join(args)}, long long n) {{",
                  "  long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;",
                  "  if (i >= n) return;", *body, "  {", src.operation, "  }", "}", "}"]
    return "\n".join(parts) + "\n"


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="needs CUDA's nvcc")
def test_nvcc_compiles_every_generated_kernel(tmp_path):
    sources = [cuda_source(p) for p in _snapshot_programs().values()]
    arithmetic = []  # kernels of IEEE arithmetic only: no fused multiply-add may appear
    for ops, dtypes in ((FLOAT_OPS, ("float32", "float64")), (INT_OPS, ("int32",)),
                        (BOOL_OPS, ("bool",)), (TRANSCENDENTAL, ("float32", "float64"))):
        for dtype in dtypes:
            g, _, out = selector_graph(ops, dtype)
            fuse(g, keep=[out])
            sources.append(cuda_source(program_of(g, out.name)))
            if ops is not TRANSCENDENTAL:
                arithmetic.append(sources[-1].name)
    cu = tmp_path / "kernels.cu"
    cu.write_text(_device_translation_unit(sources))
    done = subprocess.run(["nvcc", "-arch=sm_90", *OPTIONS, "-Werror", "all-warnings", "--ptx",
                           "-o", str(tmp_path / "kernels.ptx"), str(cu)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    ptx = (tmp_path / "kernels.ptx").read_text()
    entries = {e.split("(", 1)[0].strip(): e for e in ptx.split(".entry ")[1:]}
    assert set(entries) == {s.name for s in sources}
    for name in arithmetic:  # --fmad=false: numpy rounds every step (libm calls use fma)
        assert "fma.rn" not in entries[name], name


@pytest.mark.parametrize("layer", ["dense", "conv"])
def test_an_epilogue_is_one_kernel_after_the_product(where, layer):
    from graphexec.fusion.program import epilogue_program

    rng = np.random.default_rng(0)
    f32 = np.dtype("float32")
    if layer == "dense":
        x, w, b = (rng.standard_normal(s).astype(f32) for s in ((8, 5), (5, 3), (3,)))

        def f(x, w, b):
            return gx.nn.relu(gx.matmul(x, w) + b)
    else:
        x, w, b = (rng.standard_normal(s).astype(f32) for s in ((2, 6, 6, 3), (3, 3, 3, 4),
                                                                 (4,)))

        def f(x, w, b):
            return gx.tanh(gx.nn.conv2d(x, w) + b)
    fn = gx.function(f, optimize=3)
    want = fn(*map(gx.constant, (x, w, b)))
    before = len(host_cuda.ElementwiseKernel.launches)
    got = fn(*[gx.constant(a).to(where) for a in (x, w, b)])
    act = gx.REGISTRY["relu" if layer == "dense" else "tanh"]
    # cuBLAS's product (numpy's here), then the epilogue's one kernel: nothing else launches
    kernel = cuda_source(epilogue_program(want.ndim, f32, ((1, f32),), act, False)).name
    if where == GPU:  # the stand-in counts its launches
        assert [k for k, _ in host_cuda.ElementwiseKernel.launches[before:]] == [kernel]
    assert got.device == where
    exact = layer == "dense" and where == GPU  # cuBLAS and the device's tanh round otherwise
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0 if exact else 2e-5,
                               atol=0 if exact else 1e-6)


def test_negating_a_negative_literal_compiles(gpu):
    p = FusedProgram([F32], [Member("n", "negative", (("literal", 0),), Spec((), F32.dtype)),
                             Member("a", "add", (("input", 0), ("member", 0)), F32)],
                     literals=[np.float32(-1.5)])
    assert "(-(-1.5e+00f))" in cuda_source(p).operation
    with gpu.cuda.Device(1):
        got = p(gpu, gpu.asarray(np.array([1.0, 2.0], "float32")))
    assert got.get().tolist() == [2.5, 3.5]


def test_a_kernel_the_compiler_refuses_runs_op_by_op(gpu):
    from graphexec.fusable import Fusion, same_loop

    def emit(j, dt, a, attrs):  # translates, but exp takes one argument: no compiler takes it
        return [], f"np.exp({a[0]}, {a[0]})"

    op = register("test_cuda_bad_exp", infer=elementwise_infer(lambda x: x), arity=1,
                  kind="elementwise", fusion=Fusion(same_loop, emit))(
        lambda xp, x: xp.exp(x))
    try:
        p = FusedProgram([F32], [Member("e", op, (("input", 0),), F32),
                                 Member("n", "negative", (("member", 0),), F32)])
        with gpu.cuda.Device(1):
            x = gpu.asarray(np.array([0.0, 1.0], "float32"))
            with pytest.warns(RuntimeWarning, match="did not compile.*runs op by op"):
                got = p(gpu, x)
            assert elementwise_kernel(p, gpu) is None  # refused for good: no second try
            again = p(gpu, x)
        np.testing.assert_array_equal(got.get(), -np.exp(np.array([0.0, 1.0], "float32")))
        np.testing.assert_array_equal(again.get(), got.get())
    finally:
        del REGISTRY["test_cuda_bad_exp"]


def test_the_kernel_lays_out_its_result_as_the_unfused_ops(gpu):
    x = np.asfortranarray(np.arange(12.0, dtype="float32").reshape(3, 4))
    p = FusedProgram([Spec((None, None), F32.dtype)],
                     [Member("e", "square", (("input", 0),), Spec((None, None), F32.dtype)),
                      Member("n", "negative", (("member", 0),), Spec((None, None), F32.dtype))])
    with gpu.cuda.Device(1):
        got = p(gpu, gpu.asarray(x))
    assert got.flags.f_contiguous and not got.flags.c_contiguous  # as np.negative(x * x)
    np.testing.assert_array_equal(got.get(), -(x * x))


@pytest.mark.parametrize("code", ["(v0 / v0)", "(v0 + v0)"])
def test_python_the_c_writer_would_change_is_refused(code):
    from graphexec.fusable import Fusion, same_loop

    op = register("test_cuda_types", infer=elementwise_infer(lambda x: x), arity=1,
                  kind="elementwise", fusion=Fusion(same_loop, lambda j, dt, a, attrs: (
                      [], code.replace("v0", a[0]))))(lambda xp, x: x)
    try:
        dtype = np.dtype("int32" if "/" in code else "bool")
        s = Spec((None,), dtype)
        p = FusedProgram([s], [Member("t", op, (("input", 0),), s)])
        with pytest.raises(Unsupported, match="int32 and int32" if "/" in code else "bool"):
            cuda_source(p)
    finally:
        del REGISTRY["test_cuda_types"]
