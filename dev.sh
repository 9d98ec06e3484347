#!/usr/bin/env bash
# kvc developer entry point. Creates .venv with the pinned stack on first use.
#   ./dev.sh demo    compile and run the built-in example on the cpu target
#   ./dev.sh test    the whole test suite: lit (IR) + pytest (numerics, end to end)
#   ./dev.sh setup   only create/refresh .venv
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"

setup() {
  local stamp="$VENV/.kvc-installed"
  if [[ -f "$stamp" && "$stamp" -nt "$ROOT/pyproject.toml" ]]; then return; fi
  echo "[kvc] creating $VENV with the pinned stack (first run only)..." >&2
  [[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade "pip>=23" "setuptools>=68" wheel
  "$VENV/bin/python" -m pip install --quiet -e "$ROOT[test]"
  touch "$stamp"
}

case "${1:-}" in
  setup) setup ;;
  demo)  setup; shift; exec "$VENV/bin/kvc" demo "$@" ;;
  test)
    setup
    cd "$ROOT"
    echo "== lit: IR-level tests ==" >&2
    set +e; "$VENV/bin/lit" --succinct test; lit_status=$?; set -e
    echo "== pytest: numerics and end to end ==" >&2
    set +e; "$VENV/bin/python" -m pytest -q test/python; py_status=$?; set -e
    if [[ $lit_status -ne 0 || $py_status -ne 0 ]]; then echo "[kvc] FAILED (lit=$lit_status pytest=$py_status)" >&2; exit 1; fi
    ;;
  *) echo "usage: ./dev.sh {demo|test|setup}" >&2; exit 2 ;;
esac
