"""Print the ONNX backend node tests' results per op as a markdown table: the cases, those
included (all ops mapped, all types held), how many pass eagerly and as a graph at levels 0
and 3, the excluded ones with their reasons, and the share of ONNX's single-node cases whose
op is mapped.  The runs are those of ``tests/test_onnx_node.py``.

    python scripts/onnx_node_report.py > onnx_node_report.md
"""

from __future__ import annotations

import collections
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from graphexec.onnx.importer import supported_ops
from tests.test_onnx_node import (
    GRAPH_REFUSES,
    MODES,
    TOLERANCES,
    exclusion,
    model_of,
    node_cases,
    op_of,
    refused,
    run_case,
)


def main() -> int:
    mapped = set(supported_ops())
    rows: dict[str, dict[str, object]] = {}
    failures = []
    for case in node_cases():
        op = op_of(case)
        row = rows.setdefault(op, {"cases": 0, "included": 0, "excluded": collections.Counter(),
                                   **dict.fromkeys(MODES, 0)})
        row["cases"] += 1  # type: ignore[operator]
        why = exclusion(case)
        if why is not None:
            row["excluded"][why] += 1  # type: ignore[index]
            continue
        row["included"] += 1  # type: ignore[operator]
        for mode in MODES:
            try:
                run_case(case, mode)
            except Exception as e:
                failures.append(f"{case.name} [{mode}]: {type(e).__name__}: {e}".splitlines()[0])
            else:
                row[mode] += 1  # type: ignore[operator]

    single = [op_of(c) for c in node_cases() if len(model_of(c).graph.node) == 1]
    covered = sum(op in mapped for op in single)
    print("| ONNX op | cases | included | eager | graph O0 | graph O3 | excluded (reason) |")
    print("|---|---|---|---|---|---|---|")
    for op in sorted(rows, key=lambda k: (k.endswith("(multi-node)"), k.lower())):
        row = rows[op]
        if not row["included"] and op.split()[0] not in mapped:
            continue
        excluded = "; ".join(f"{n} {why}" for why, n in sorted(row["excluded"].items()))
        graph = {mode: str(row[mode]) for mode in MODES}
        if op in GRAPH_REFUSES:
            graph = {**graph, "graph0": f"{row['graph0']} (refused)",
                     "graph3": f"{row['graph3']} (refused)"}
        print(f"| {op} | {row['cases']} | {row['included']} | {graph['eager']} | "
              f"{graph['graph0']} | {graph['graph3']} | {excluded} |")
    included = sum(int(r["included"]) for r in rows.values())  # type: ignore[call-overload]
    passed = {mode: sum(int(r[mode]) for r in rows.values()) for mode in MODES}  # type: ignore[call-overload]
    print()
    print(f"{len(mapped)} ops mapped; they cover {covered} of ONNX's {len(single)} single-node "
          f"cases ({100 * covered / len(single):.1f}%).  Included cases: {included}; passed: "
          + ", ".join(f"{mode} {passed[mode]}" for mode in MODES) + ".")
    refused_graph = sum(refused(c) and exclusion(c) is None for c in node_cases())
    print(f"Graph mode refuses {refused_graph} included cases by design (counted as passed: "
          "it raises the GraphError the test expects).")
    for name, ((rtol, atol), why) in TOLERANCES.items():
        print(f"{name} is checked at rtol {rtol:g}, atol {atol:g}: {why}.")
    unmapped = collections.Counter(op for op in single if op not in mapped)
    print()
    print("Ops not mapped (single-node cases): " + ", ".join(
        f"{op} {n}" for op, n in unmapped.most_common()) + ".")
    if failures:
        print("\nFailures:\n" + "\n".join(f"- {f}" for f in failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
