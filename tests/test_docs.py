"""The Python snippets of the README and docs/ run as written."""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)

SNIPPETS = [pytest.param(code, id=f"{path.name}-{i}")
            for path in DOCS for i, code in enumerate(BLOCK.findall(path.read_text()))]


def test_docs_have_snippets():
    assert len(SNIPPETS) >= 6


@pytest.mark.parametrize("code", SNIPPETS)
def test_snippet_runs(code):
    exec(compile(code, "<doc snippet>", "exec"), {"__name__": "__doc_snippet__"})
