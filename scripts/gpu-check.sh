#!/usr/bin/env bash
# On the GPU machine (no network): the gpu-marked tests and the GPU benchmarks, with the results
# under $OUT (gpu-env.txt, gpu-tests.txt and .xml, gpu-bench.txt and .json).  Under 8 minutes.
#
#     OUT=/some/dir bash scripts/gpu-check.sh        # from the repository root
#
# The project runs from the working tree (PYTHONPATH): nothing is installed, nothing fetched.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-check-out}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export GRAPHEXEC_CACHE_DIR="${GRAPHEXEC_CACHE_DIR:-$OUT/cache}"
PY=${PYTHON:-python3}
status=0

{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || true
  "$PY" - <<'PY'
import importlib, sys
print("python", sys.version.split()[0])
for name in ("numpy", "networkx", "cupy", "numba", "torch", "jax", "pytest", "hypothesis"):
    try:
        print(name, importlib.import_module(name).__version__)
    except Exception as e:
        print(name, "absent:", type(e).__name__)
try:
    import cupy
    print("gpus", cupy.cuda.runtime.getDeviceCount())
except Exception as e:
    print("gpus: none:", e)
PY
} > "$OUT/gpu-env.txt" 2>&1
cat "$OUT/gpu-env.txt"

# the gpu tests: every file with gpu marks.  One that needs a package this machine lacks
# (hypothesis) is named and left out; one that fails to import otherwise fails the check
files=$(for f in $(grep -l "mark.gpu\|marks=pytest.mark.gpu" tests/test_*.py); do
  if "$PY" -c "import tests.$(basename "$f" .py)" 2> "$OUT/import.err"; then echo "$f"
  elif grep -q "No module named 'hypothesis'" "$OUT/import.err"; then
    echo "left out $f: it needs hypothesis" >&2
  else echo "$f"; fi  # NOTE: pytest then reports the import error, and the check fails
done)
rm -f "$OUT/import.err"
echo "gpu tests in: $files"
timeout 300 "$PY" -m pytest -q -m gpu -p no:cacheprovider -o addopts="" \
    --junitxml="$OUT/gpu-tests.xml" $files > "$OUT/gpu-tests.txt" 2>&1 || status=1
tail -25 "$OUT/gpu-tests.txt"

timeout 240 "$PY" benchmarks/gpu.py --device gpu --out "$OUT" 2> "$OUT/gpu-bench.log" || status=1
tail -20 "$OUT/gpu-bench.log"
exit $status
