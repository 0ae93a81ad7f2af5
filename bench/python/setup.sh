#!/usr/bin/env bash
# Makes bench/python/.venv with uvloop, for the `cpython` and `uvloop` systems of `bench`.
# Without it, `cpython` runs on the python3 from the PATH and `uvloop` is reported as skipped.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
if ! command -v "$PYTHON" >/dev/null; then
  echo "setup.sh: $PYTHON not found; the Python systems will be skipped" >&2
  exit 1
fi
"$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet uvloop
.venv/bin/python -c 'import sys, uvloop; print("python", sys.version.split()[0], "uvloop", uvloop.__version__)'
