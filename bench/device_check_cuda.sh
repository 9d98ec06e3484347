#!/usr/bin/env bash
# The one script for the GPU machine (cuda target): correctness of every format
# family, then the GEMV benchmark with baselines; short tables at the end.
#
#   bench/device_check_cuda.sh --prepare        # HERE (needs MLIR): write the PTX the run needs
#                                               #   into bench/out/cuda_prebuilt (carried, git-ignored)
#   bench/device_check_cuda.sh [--tune] [--quick] [--skip-check] [--skip-bench]
#                                               # THERE: builds nothing; logs + JSON under $OUT
#
# On the GPU machine kvc is not installed and there is no MLIR: the script
# assembles an import view of the package (python/kvc + targets/ ...) under
# /tmp and installs the benchmark-only baselines (bitsandbytes, gemlite) from
# .whl/ if present. Needs python3 with torch (and triton for do_bench / gemlite).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PRE="$ROOT/bench/out/cuda_prebuilt"
cd "$ROOT"

if [[ "${1:-}" == "--prepare" ]]; then
  set -e
  PY="$ROOT/.venv/bin/python"
  "$PY" -m kvc.targets.cuda.check --prebuild "$PRE"
  "$PY" bench/gemv_cuda.py --prebuild "$PRE"
  du -sh "$PRE"
  exit 0
fi

OUT="${OUT:-$ROOT/bench/out/device}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
CHECK=1; BENCH=1; BARGS=()
for a in "$@"; do
  case "$a" in
    --skip-check) CHECK=0 ;;
    --skip-bench) BENCH=0 ;;
    *) BARGS+=("$a") ;;
  esac
done

PKG=/tmp/kvc_view
rm -rf "$PKG"; mkdir -p "$PKG"
cp -r "$ROOT/python/kvc" "$PKG/kvc"
for sub in targets dialects passes; do ln -s "$ROOT/$sub" "$PKG/kvc/$sub"; done
if compgen -G "$ROOT/.whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$ROOT"/.whl/*.whl \
    && export PYTHONPATH=/tmp/site || echo "warning: baseline wheels did not install"
fi
export PYTHONPATH="$PKG${PYTHONPATH:+:$PYTHONPATH}"

{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv || true
  python3 -c "import sys, torch, numpy; print('python', sys.version.split()[0], 'torch', torch.__version__, 'numpy', numpy.__version__)"
  python3 -c "import triton; print('triton', triton.__version__)" 2>&1 | tail -1
  python3 -c "import mlir" 2>/dev/null && echo "mlir importable (unexpected on the GPU box)" || echo "no MLIR here (as intended)"
} 2>&1 | tee "$OUT/env.txt"

rc=0
if [[ $CHECK == 1 ]]; then
  echo "== correctness (python -m kvc.targets.cuda.check) =="
  python3 -m kvc.targets.cuda.check --prebuilt "$PRE" --json "$OUT/check.json" 2>&1 | tee "$OUT/check.log"
  rc=${PIPESTATUS[0]}
fi
if [[ $BENCH == 1 ]]; then
  echo "== benchmark (bench/gemv_cuda.py) =="
  python3 bench/gemv_cuda.py --prebuilt "$PRE" --out "$OUT" "${BARGS[@]}" 2>&1 | tee "$OUT/bench.log" | grep -v "^|" 
  echo "== tables =="
  cat "$OUT/gemv_cuda.md" 2>/dev/null
fi
echo "== correctness summary =="
grep -E "^SUMMARY|^FAIL" "$OUT/check.log" 2>/dev/null | tail -20
exit $rc
