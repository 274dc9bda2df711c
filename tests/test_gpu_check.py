"""The GPU check's pieces that run anywhere: its benchmark script on the CPU, and the script's
own syntax (it runs for real on a GPU machine only)."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_the_gpu_benchmarks_run_on_the_cpu(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--device", "cpu",
                        "--quick", "--out", str(tmp_path)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "gpu-bench.json").read_text())
    assert set(doc["cases"]) == {"tiny_ops", "ew_4m", "ew_64m", "mlp_inference", "mlp_train",
                                 "cnn_inference"}
    for name, row in doc["cases"].items():
        assert all(row[k] > 0 for k in ("eager_s", "graph_s", "fused_s")), name
        assert row["kernels"]["fused"] <= row["kernels"]["graph"] <= row["kernels"]["eager"]
    assert 0 < doc["cases"]["ew_4m"]["bandwidth_share"] < 1
    assert doc["cases"]["tiny_ops"]["kernels"] == {"eager": 100, "graph": 100, "fused": 1}
    assert (tmp_path / "gpu-bench.txt").read_text().startswith("graphexec on cpu")


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_the_gpu_check_script_parses():
    r = subprocess.run(["bash", "-n", str(ROOT / "scripts" / "gpu-check.sh")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_the_gpu_benchmarks_run_on_the_stand_in(monkeypatch):
    """The GPU branches of benchmarks/gpu.py (CUDA events, weights on the device, peak device
    memory) on the CuPy stand-in, at the quick sizes: what the first GPU machine runs."""
    import importlib.util

    import graphexec as gx

    from . import fake_cupy

    monkeypatch.setitem(sys.modules, "cupy", fake_cupy.make(devices=1))
    spec = importlib.util.spec_from_file_location("gpu_bench", ROOT / "benchmarks" / "gpu.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(bench, "peers", lambda *a, **k: {})  # torch and jax: GPU builds only
    results = bench.measure(gx.Device("cuda", 0), quick=True)
    assert results["device"] == "cuda:0"
    for name, row in results["cases"].items():
        assert all(row[k] > 0 for k in ("eager_s", "graph_s", "fused_s")), name
        peak = row["peak_device_bytes"]
        assert set(peak) == {"eager", "graph", "fused"} and all(v > 0 for v in peak.values())
    train = results["cases"]["mlp_train"]["kernels"]
    assert train["fused"] < train["graph"] <= train["eager"]
    text = bench.table(results)
    assert text.startswith("graphexec on cuda:0") and "peak MiB" in text
