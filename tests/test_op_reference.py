"""docs/ops.md is what scripts/op_reference.py generates from the registry now, and says what the
registry says."""

import collections
import importlib.util
import pathlib
import re

import pytest

import graphexec as gx

ROOT = pathlib.Path(__file__).resolve().parents[1]
COLUMNS = ("op", "made_by", "in_out", "shape", "gradient", "fusion", "memory")


def _load_script():
    spec = importlib.util.spec_from_file_location("op_reference",
                                                  ROOT / "scripts" / "op_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


op_reference = _load_script()


@pytest.fixture(scope="module")
def text():
    return op_reference.build()


@pytest.fixture(scope="module")
def rows(text):
    """Op name -> its table row, as a dict of COLUMNS (every row, to count repeats)."""
    out = collections.defaultdict(list)
    for line in text.splitlines():
        m = re.match(r"\| `(\w+)`", line)
        if m:
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            assert len(cells) == len(COLUMNS), line
            out[m.group(1)].append(dict(zip(COLUMNS, cells, strict=True)))
    return out


def test_docs_page_is_up_to_date(text):
    page = ROOT / "docs" / "ops.md"
    assert page.read_text() == text, "docs/ops.md is stale: run python scripts/op_reference.py"


def test_build_is_deterministic(text):
    assert op_reference.build() == text


def test_every_op_appears_exactly_once(rows):
    assert sorted(rows) == sorted(gx.REGISTRY)
    assert all(len(r) == 1 for r in rows.values())


def test_counts_at_the_top(text):
    n, n_diff, n_fused = op_reference.counts(list(gx.REGISTRY.values()))
    assert n == len(gx.REGISTRY)
    assert f"**{n} ops, {n_diff} differentiable, {n_fused} fusable**" in text


def test_known_facts(rows):
    add = rows["add"][0]
    assert (add["made_by"], add["in_out"], add["gradient"], add["fusion"], add["memory"]) == (
        "`gx.add`", "2 → 1", "yes", "loop", "in place")
    assert "broadcast like numpy" in add["shape"]
    # no gradient rule: constants to the backward pass
    assert gx.REGISTRY["equal"].vjp is None and rows["equal"][0]["gradient"] == "no"
    assert gx.REGISTRY["argmax"].vjp is None and rows["argmax"][0]["gradient"] == "no"
    # a rule that raises is not a gradient
    assert gx.REGISTRY["svd"].differentiable and rows["svd"][0]["gradient"] == "refuses"
    assert rows["matmul"][0]["fusion"] == "epilogue: `fused_dense`"
    assert rows["sum"][0]["fusion"] == "—"
    assert rows["relu"][0]["made_by"] == "`gx.nn.relu`"
    assert rows["pad"][0]["made_by"] == "`gx.pad`"
    assert rows["range"][0]["made_by"] == "`gx.range`"  # not gx.nn.one_hot, which uses it
    assert rows["pad_grad"][0]["made_by"] == "gradient of `pad`"
    assert rows["random_normal"][0]["op"] == "`random_normal` *impure*"


def test_shape_rules_are_not_stale():
    used = {op_reference.rule_key(op) for op in gx.REGISTRY.values()}
    assert set(op_reference.SHAPE_RULES) <= used


def test_check_mode_reports_a_stale_page(tmp_path, monkeypatch, capsys):
    page = tmp_path / "ops.md"
    monkeypatch.setattr(op_reference, "OUT", page)
    monkeypatch.setattr(op_reference, "ROOT", tmp_path)
    monkeypatch.setattr("sys.argv", ["op_reference.py", "--check"])
    page.write_text("# Op reference\n")
    assert op_reference.main() == 1
    assert "out of date" in capsys.readouterr().out
    monkeypatch.setattr("sys.argv", ["op_reference.py"])
    assert op_reference.main() == 0
    monkeypatch.setattr("sys.argv", ["op_reference.py", "--check"])
    assert op_reference.main() == 0
