#!/usr/bin/env bash
# Fresh machine to a finished test run: install, lint, run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh spark
# The dashboard tests drive Debian's Chromium (Playwright's own browser download is not used).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
# A real Apache Kafka broker (KRaft) for the streaming tests: its jars from Maven Central.
bash scripts/kafka-broker.sh
# Azurite, Azure's own storage emulator, for the object-store tests (moto's S3 server
# comes with the dev extra): Node from Debian when missing, the npm package in .cache/.
if ! command -v npm >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -x .cache/npm/node_modules/.bin/azurite-blob ]; then
  npm install --silent --no-audit --no-fund --prefix .cache/npm azurite@3 >/dev/null
fi
mkdir -p test-artifacts
.venv/bin/ruff check src tests
.venv/bin/mypy
.venv/bin/python -m pytest -q "$@"
