#!/usr/bin/env bash
# Builds and installs the Python package `lsm_vec` from source into .venv (created at the
# repository root if missing) and runs the Python test suite. Works on a fresh machine with
# python3 (>= 3.9, with venv) and a Rust toolchain; needs the package registries for
# numpy / pytest / maturin and the crates.
#
#   scripts/test-python.sh [extra pytest args]
#
# Exits with pytest's status.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"

if [ ! -x "$VENV/bin/python" ]; then
    echo "== creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"

echo "== installing numpy, pytest, maturin"
"$PY" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$PY" -m pip install --quiet --disable-pip-version-check numpy pytest maturin

# `pip install .` runs maturin as the PEP 517 backend: a release build of
# crates/lsm-vec-python (pyproject.toml sets profile = "release"). Keep its cargo target dir
# (default: crates/lsm-vec-python/target) so that later runs rebuild incrementally.
echo "== pip install . (release build of the extension)"
"$PY" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps .

echo "== pytest tests/python"
set +e
"$PY" -m pytest tests/python -q "$@"
status=$?
set -e
exit $status
