"""graphexec.bench.peers: the workloads in PyTorch, TensorFlow and JAX, each in a subprocess.

The frameworks are absent in CI; the tests that run one skip without it.  The shared workload
code is checked against graphexec there too, over numpy's ops."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from graphexec.bench import peers
from graphexec.bench.workloads import WORKLOADS
from graphexec.errors import InvalidArgumentError

MODES = {"torch": ["torch eager", "torch.compile"],
         "tensorflow": ["tf eager", "tf.function", "tf.function(jit_compile)"],
         "jax": ["jax eager", "jax.jit"]}


def _script(tmp_path: Path, body: str) -> str:
    """An executable shell script standing in for an interpreter."""
    path = tmp_path / "python"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _conv(x, k):
    windows = sliding_window_view(x, k.shape[:2], axis=(1, 2))  # n, h, w, c, kh, kw
    return np.einsum("nhwcij,ijco->nhwo", windows, k)


def _pool(x):
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


NUMPY_OPS = peers._Ops(
    np.sin, np.exp, np.tanh, lambda x: np.maximum(x, 0), _softmax, lambda x: x.sum(0),
    lambda x, h, w, mode: np.pad(x, ((0, 0), (h, h), (w, w), (0, 0)), mode=mode), _conv, _pool,
    lambda x, n: x.reshape(-1, n), None)


def _graphexec(name, arrays):
    fn, args = WORKLOADS[name].build(arrays)
    return fn(*args).numpy()


def test_frameworks_and_availability(tmp_path):
    assert peers.FRAMEWORKS == ("torch", "tensorflow", "jax")
    same = _script(tmp_path, f'exec "{sys.executable}" "$@"')  # this interpreter, asked apart
    for name in peers.FRAMEWORKS:
        installed = importlib.util.find_spec(name) is not None
        assert peers.available(name) is installed
        assert peers.available(name, python=same) is installed
        assert not peers.available(name, python=str(tmp_path / "no-such-python"))


def test_absent_framework_is_marked(monkeypatch):
    monkeypatch.setattr(peers, "available", lambda name, python=None: False)
    lines = []
    assert peers.run_peers(["tiny_ops"], ["torch", "jax"], progress=lines.append) == [
        {"framework": "torch", "available": False, "reason": "not installed"},
        {"framework": "jax", "available": False, "reason": "not installed"}]
    assert lines == ["torch: not installed", "jax: not installed"]


def test_unknown_names_raise():
    with pytest.raises(InvalidArgumentError, match="'mxnet'; choose from torch, tensorflow, jax"):
        peers.run_peers(["tiny_ops"], ["torch", "mxnet"])
    with pytest.raises(InvalidArgumentError, match=r"'mxnet'.*torch, tensorflow, jax"):
        peers.available("mxnet")
    with pytest.raises(InvalidArgumentError, match="no workload 'nope'; choose from tiny_ops"):
        peers.run_peers(["nope"], [])


@pytest.mark.parametrize("body, error", [
    ("echo boom >&2; exit 3", "exit status 3; stderr: boom"),
    ("exec sleep 30", "timed out after 0.5 s"),
    (None, "could not start"),
])
def test_runner_failure_is_an_error_record(tmp_path, monkeypatch, body, error):
    monkeypatch.setattr(peers, "available", lambda name, python=None: True)
    python = str(tmp_path / "no-such-python") if body is None else _script(tmp_path, body)
    recs = peers.run_peers(["tiny_ops", "matmul_const"], ["jax"], python=python, timeout=0.25)
    assert [r["workload"] for r in recs] == ["tiny_ops", "matmul_const"]
    for r in recs:
        assert r["framework"] == "jax" and r["available"] and r["modes"] == []
        assert error in r["error"]


def test_runner_arguments():
    with pytest.raises(SystemExit):
        peers.main(["torch", "tiny_ops", "in.npz"])  # not a triple
    with pytest.raises(SystemExit):
        peers.main(["torch", "nope", "in.npz", "out.json"])
    with pytest.raises(SystemExit):
        peers.main(["mxnet", "tiny_ops", "in.npz", "out.json"])
    assert peers._output_path(Path("/t/jax.tiny_ops.json"), "tf.function(jit_compile)") == \
        Path("/t/jax.tiny_ops.tf-function-jit-compile.npy")


@pytest.mark.parametrize("mode", ["symmetric", "edge", "wrap"])
def test_concat_pad_is_numpy_pad(mode):
    x = np.arange(2 * 5 * 4 * 3, dtype=np.float32).reshape(2, 5, 4, 3)
    for h, w in ((1, 1), (0, 1), (3, 2), (2, 0)):
        want = np.pad(x, ((0, 0), (h, h), (w, w), (0, 0)), mode=mode)
        np.testing.assert_array_equal(
            peers._concat_pad(x, h, w, mode, np.concatenate, np.flip), want)


@pytest.mark.parametrize("name", sorted(peers._INFER))
def test_shared_workload_code_computes_graphexecs_function(name):
    """The code every framework runs, over numpy's ops, against graphexec's eager result."""
    arrays = WORKLOADS[name].arrays(0)
    fn = peers._INFER[name](NUMPY_OPS, arrays.__getitem__)
    got = fn(*(arrays[k] for k in WORKLOADS[name].inputs))
    np.testing.assert_allclose(got, _graphexec(name, arrays), rtol=1e-4, atol=1e-5)


def test_runner_record_with_a_stand_in_framework(tmp_path, monkeypatch):
    """The runner's JSON, each mode's first output and the parent's comparison, with a numpy
    'framework' standing in for torch: one good mode, one that fails."""
    name = "tiny_ops"
    arrays = WORKLOADS[name].arrays(0)
    fn = peers._INFER[name](NUMPY_OPS, arrays.__getitem__)

    def broken():
        raise RuntimeError("no compiler")
    monkeypatch.setitem(peers._PEERS, "torch", lambda wl, a: peers._Peer(
        "0.0", 1, {"numpy": lambda: lambda: fn(a["x"]), "numpy.compile": broken}, np.asarray))
    inp, out = tmp_path / "in.npz", tmp_path / "torch.tiny_ops.json"
    np.savez(inp, **arrays)
    assert peers.main(["torch", name, str(inp), str(out), "--min-time", "0.01"]) == 0
    rec = json.loads(out.read_text())
    assert {k: rec[k] for k in ("framework", "version", "workload", "threads")} == {
        "framework": "torch", "version": "0.0", "workload": name, "threads": 1}
    good, bad = rec["modes"]
    assert good["mode"] == "numpy" and good["error"] is None and good["number"] >= 1
    assert len(good["samples_s"]) >= peers.MIN_BLOCKS and good["first_call_s"] > 0
    assert good["q1_s"] <= good["median_s"] <= good["q3_s"] and isinstance(good["noisy"], bool)
    assert bad == {"mode": "numpy.compile", "first_call_s": None, "median_s": None,
                   "iqr_s": None, "q1_s": None, "q3_s": None, "number": None, "samples_s": None,
                   "noisy": None, "error": "RuntimeError: no compiler"}
    peers._compare(rec, out, _graphexec(name, arrays))
    assert rec["modes"][0]["max_abs_diff"] < 1e-5 and rec["modes"][0]["matches"]
    assert rec["modes"][1]["max_abs_diff"] is None


@pytest.mark.parametrize("framework", peers.FRAMEWORKS)
def test_framework_matches_graphexec(framework):
    pytest.importorskip(framework)
    lines = []
    recs = peers.run_peers(["tiny_ops", "mlp_train"], [framework], min_time=0.05,
                           progress=lines.append)
    assert [r["workload"] for r in recs] == ["tiny_ops", "mlp_train"]
    for r in recs:
        assert r["framework"] == framework and r["available"] and r["threads"] >= 1
        assert isinstance(r["version"], str) and "error" not in r
        assert [m["mode"] for m in r["modes"]] == MODES[framework]
        for m in r["modes"]:
            assert m["error"] is None, m["error"]
            assert m["max_abs_diff"] < 1e-4 and m["matches"]
            assert m["median_s"] > 0 and m["first_call_s"] > 0
            assert m["number"] >= 1 and len(m["samples_s"]) >= peers.MIN_BLOCKS
    assert lines[0] == f"{framework}: running tiny_ops, mlp_train"
    assert f"{framework}: mlp_train: {MODES[framework][-1]}: " in lines[-1]
