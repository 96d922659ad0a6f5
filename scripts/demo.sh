#!/usr/bin/env bash
# Fresh machine to a finished demo: install, generate, run the pipeline, show the result.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/shoplake demo "$@"
