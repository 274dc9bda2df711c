"""Every import cycle among graphexec's modules, counting every import statement at module
level and inside functions (lazy imports), but not those under ``if TYPE_CHECKING:``, which
exist for annotations only (as torch.fx's graph.py imports GraphModule); ``--all`` counts those
too.  A check independent of import-linter's contracts.

    python scripts/import_cycles.py [--all]   # prints the cycles; exits 1 if there is one
"""

from __future__ import annotations

import ast
import pathlib
import sys

import networkx as nx


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes inside ``if TYPE_CHECKING:`` blocks."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return out


def module_graph(root: pathlib.Path, include_type_checking: bool = False) -> nx.DiGraph:
    files = {".".join(p.relative_to(root.parent).with_suffix("").parts).removesuffix(
        ".__init__"): p for p in root.rglob("*.py")}
    g: nx.DiGraph = nx.DiGraph()
    for mod, p in files.items():
        pkg = mod if p.name == "__init__.py" else mod.rpartition(".")[0]
        tree = ast.parse(p.read_text())
        skip = set() if include_type_checking else _type_checking_only(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.ImportFrom) and node.level) or id(node) in skip:
                continue
            base = pkg.split(".")[:len(pkg.split(".")) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:  # ``from . import x`` imports the module x
                sub = f"{target}.{alias.name}"
                g.add_edge(mod, sub if sub in files else target)
    return g


def main() -> int:
    root = pathlib.Path(__file__).resolve().parent.parent / "graphexec"
    graph = module_graph(root, include_type_checking="--all" in sys.argv)
    cycles = [c for c in nx.simple_cycles(graph) if len(c) > 1]
    for c in cycles:
        print(" -> ".join([*c, c[0]]))
    print(f"{len(cycles)} import cycle(s)")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
