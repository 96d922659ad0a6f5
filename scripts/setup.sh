#!/usr/bin/env bash
# Creates .venv and installs shoplake with its test dependencies. Safe to rerun.
# Usage: scripts/setup.sh [spark]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "shoplake needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
  # Debian/Ubuntu ship venv separately.
  if command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
  fi
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# `setup.sh spark` also installs the Spark engine's extra (the test command does; the demo
# on the default engine does not need it).
EXTRAS="dev"
[ "${1:-}" = "spark" ] && EXTRAS="dev,spark"
.venv/bin/python -m pip install --quiet -e ".[$EXTRAS]"
