"""The size of the core package, as tinygrad's sz.py counts it: lines of code per file (not
blank, not comments, not docstrings), and a ceiling that ``make lint`` holds the total to.
The tools built on the engine (``bench/``, the profiler, the command line, the demo) are
counted apart, with a ceiling of their own, and so are exchange (``io.py``, ``weights.py``,
``onnx/``) and scale-out (``dask.py``): the core's ceiling is about the engine.

    python scripts/sz.py [--files]  # total and ceiling (and a table of files); exits 1 above it
"""

from __future__ import annotations

import ast
import io
import pathlib
import sys
import tokenize

#: the most lines of code the core (graphexec/ but the tools) may hold; raise it on purpose, in
#: its own commit
CEILING = 10800
#: the tools: files and folders of graphexec/ outside the core, and their own ceiling
TOOLS = ("bench", "profiler.py", "cli.py", "demo.py", "__main__.py")
TOOLS_CEILING = 2600
#: exchange: the native files, the safetensors format and ONNX, which translate graphs and
#: weights to and from other formats, and their own ceiling (the format tables grow with the
#: ops ONNX has, not with the engine)
EXCHANGE = ("io.py", "weights.py", "onnx")
EXCHANGE_CEILING = 5200
#: scale-out: running compiled graphs on a Dask cluster, and its own ceiling
SCALE = ("dask.py",)
SCALE_CEILING = 900


def code_lines(source: str) -> int:
    """Lines holding code: comments, blank lines and docstrings do not count."""
    doc_lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(
                body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            doc = body[0]
            doc_lines.update(range(doc.lineno, (doc.end_lineno or doc.lineno) + 1))
    lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                        tokenize.DEDENT, tokenize.ENDMARKER):
            continue
        lines.update(range(tok.start[0], tok.end[0] + 1))
    return len(lines - doc_lines)


def main() -> int:
    root = pathlib.Path(__file__).resolve().parent.parent / "graphexec"
    sizes = sorted(((code_lines(p.read_text()), str(p.relative_to(root.parent)))
                    for p in root.rglob("*.py")), reverse=True)
    if "--files" in sys.argv:
        for n, name in sizes:
            print(f"{n:6d}  {name}")
    tools = [(n, name) for n, name in sizes
             if name.split("/")[1] in TOOLS]
    exchange = [(n, name) for n, name in sizes if name.split("/")[1] in EXCHANGE]
    scale = [(n, name) for n, name in sizes if name.split("/")[1] in SCALE]
    core = [s for s in sizes if s not in tools and s not in exchange and s not in scale]
    status = 0
    for what, part, ceiling, const in (("core", core, CEILING, "CEILING"),
                                       ("tools", tools, TOOLS_CEILING, "TOOLS_CEILING"),
                                       ("exchange", exchange, EXCHANGE_CEILING,
                                        "EXCHANGE_CEILING"),
                                       ("scale-out", scale, SCALE_CEILING, "SCALE_CEILING")):
        total = sum(n for n, _ in part)
        print(f"{total:6d}  lines of code in the {what} ({len(part)} files; ceiling {ceiling})")
        if total > ceiling:
            print(f"the {what} of graphexec/ has {total} lines of code, over the ceiling of "
                  f"{ceiling}: make it smaller, or raise {const} in scripts/sz.py on purpose")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
