"""The graphexec command, run in subprocesses as a user runs it."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

import graphexec as gx

SCRIPT = pathlib.Path(sys.executable).with_name("graphexec")


def run(*args: str, cwd: pathlib.Path | None = None, timeout: float = 300
        ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "graphexec", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout, env=env)


def test_version():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"graphexec {gx.__version__}"


@pytest.mark.skipif(not SCRIPT.exists(), reason="the console script is not installed here")
def test_console_script_is_the_same_command():
    r = subprocess.run([str(SCRIPT), "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == f"graphexec {gx.__version__}"


@pytest.mark.parametrize("sub", [[], ["demo"], ["bench"], ["viz"], ["show"]])
def test_help_everywhere(sub):
    r = run(*sub, "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: graphexec")
    if sub == ["bench"]:
        assert "--peers" in r.stdout and "--json" in r.stdout and "--plot" in r.stdout


def test_no_command_prints_help():
    r = run()
    assert r.returncode == 2 and "{demo,bench,viz,show}" in r.stdout


def test_bench_writes_json_and_chart(tmp_path):
    r = run("bench", "--workload", "tiny_ops", "--workload", "matmul_const", "--modes", "eager",
            "graph:1", "--min-time", "0.02", "--json", str(tmp_path / "b.json"), "--plot",
            str(tmp_path / "b.png"))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("speed-up over graphexec eager")
    assert lines[1].split() == ["tiny", "matmul"] and lines[2].split() == ["ops", "const"]
    assert lines[3].startswith("graphexec eager (ms)")
    assert all(float(v) > 0 for v in lines[3].split()[3:])
    assert lines[4].startswith("graphexec graph:1")
    assert all(float(v.rstrip("!≠")) > 0 for v in lines[4].split()[2:])
    doc = json.loads((tmp_path / "b.json").read_text())
    assert [d["name"] for d in doc["results"]] == ["tiny_ops", "matmul_const"]
    assert doc["peers"] == [] and doc["env"]["cores"] >= 1
    for name in ("tiny_ops", "matmul_const"):
        assert (tmp_path / f"b-{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_bench_bad_workload_is_a_clear_error():
    r = run("bench", "--workload", "nope")
    assert r.returncode == 2
    assert "no workload 'nope'; choose from tiny_ops" in r.stderr and "Traceback" not in r.stderr


def test_bench_bad_mode_is_a_clear_error():
    r = run("bench", "--workload", "tiny_ops", "--modes", "graph:9")
    assert r.returncode == 2 and "unknown mode 'graph:9'" in r.stderr


def test_viz_writes_the_viewer(tmp_path):
    r = run("viz", "--model", "mlp", "--format", "html", "--level", "2", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "mlp_O2.html").read_text()
    assert page.startswith("<!doctype html>") and "fused_dense" in page


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_viz_draws_before_after_and_filmstrip(tmp_path):
    pytest.importorskip("graphviz")
    r = run("viz", "--model", "cnn", "--train", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert {p.name for p in tmp_path.iterdir()} == {"cnn_step.svg", "cnn_step_O3.svg"}
    assert "fused_conv2d" in (tmp_path / "cnn_step_O3.svg").read_text()
    r = run("viz", "--model", "mlp", "--filmstrip", "--format", "png", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    pictures = sorted((tmp_path / "mlp_passes").iterdir())
    assert pictures[0].name == "00-before.png" and pictures[-1].name.endswith("-after.png")


def test_demo_tiny(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    r = run("demo", "--tiny", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for model in ("mlp", "cnn"):
        block = out.split(f"\n{model}: ")[1].split("\n\n")[0].splitlines()
        eager = next(ln for ln in block if ln.strip().startswith("eager"))
        graph = next(ln for ln in block if ln.strip().startswith("graph "))
        for ln in (eager, graph):
            acc = float(ln.split("test accuracy")[1].split("%")[0])
            assert 20 < acc <= 100 and "ms/step" in ln
        assert "loss curves differ by at most" in "\n".join(block)
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"mlp_step_viewer.html", "mlp_step_profile.html", "mlp_step_profile.txt",
            "compare.json", "compare.png"} <= written
    assert {"mlp_step.svg", "mlp_step_O3.svg"} <= written or \
        {"mlp_step.dot", "mlp_step_O3.dot"} <= written
    assert f"wrote into {tmp_path / 'out'}" in out
    doc = json.loads((tmp_path / "out" / "compare.json").read_text())
    assert [m["mode"] for m in doc["modes"]] == ["eager", "graph:0", "graph:1", "graph:2",
                                                 "graph:3"]
    assert all(m["parity_ok"] for m in doc["modes"])


def test_bench_plot_without_suffix_is_png(tmp_path):
    pytest.importorskip("matplotlib")
    r = run("bench", "--workload", "tiny_ops", "--modes", "eager", "graph:1", "--min-time",
            "0.01", "--plot", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert f"wrote {tmp_path / 'out.png'}" in r.stdout
    assert (tmp_path / "out.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("flag,value,message", [
    ("--plot", "chart.txt", "a chart is a .png, .svg, .pdf file, not .txt"),
    ("--plot", "/nonexistent/c.png", "does not exist"),
    ("--json", "/nonexistent/b.json", "its folder does not exist"),
    ("--min-time", "inf", "min_time must be a finite positive number"),
])
def test_bench_bad_outputs_fail_before_measuring(tmp_path, flag, value, message):
    r = run("bench", "--workload", "cnn_train", flag, value, cwd=tmp_path, timeout=30)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_bench_without_eager_prints_times(tmp_path):
    r = run("bench", "--workload", "tiny_ops", "--modes", "graph:1", "--min-time", "0.01")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("median time per call (ms)")
    assert lines[3].startswith("graphexec graph:1") and float(lines[3].split()[2].rstrip("!")) > 0


def test_bench_json_into_a_folder_fails_before_measuring(tmp_path):
    r = run("bench", "--workload", "cnn_train", "--json", str(tmp_path), timeout=30)
    assert r.returncode == 2 and "not a file that can be written" in r.stderr


def test_show_tells_what_a_file_holds(tmp_path):
    data = pathlib.Path(__file__).resolve().parent / "data" / "mlp-format-1.0.gx"
    r = run("show", str(data), "--level", "2")
    assert r.returncode == 0, r.stderr
    assert "inputs (x: f32[?,4]) -> 1 result(s)" in r.stdout and "fused_dense" in r.stdout
    model = gx.layers.Sequential([gx.layers.Dense(3)])
    model(gx.constant([[1.0, 2.0]]))
    model.save_weights(tmp_path / "w.safetensors")
    r = run("show", str(tmp_path / "w.safetensors"))
    assert r.returncode == 0 and "layers.0.kernel  f32[2,3]" in r.stdout
    assert "2 tensors, 9 numbers" in r.stdout
    (tmp_path / "bad.gx").write_bytes(b"\x00" * 20)
    r = run("show", str(tmp_path / "bad.gx"))
    assert r.returncode == 2 and "graphexec show:" in r.stderr and "FormatError" not in r.stderr
    if shutil.which("dot"):
        r = run("show", str(data), "--render", str(tmp_path / "g.svg"))
        assert r.returncode == 0 and (tmp_path / "g.svg").read_text().startswith("<?xml")
