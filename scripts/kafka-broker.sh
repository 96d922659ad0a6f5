#!/usr/bin/env bash
# Apache Kafka's broker jars (KRaft mode, no ZooKeeper) from Maven Central into
# .cache/kafka/libs, for the tests that need a real broker. Safe to rerun: quick once cached.
set -euo pipefail
cd "$(dirname "$0")/.."
LIBS=.cache/kafka/libs
if [ -f "$LIBS/.complete" ]; then
  exit 0
fi
if ! command -v mvn >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq maven >/dev/null
fi
echo "fetching the Kafka broker jars from Maven Central into $LIBS"
mvn -q -B -f scripts/kafka/pom.xml dependency:copy-dependencies \
  -DoutputDirectory="$PWD/$LIBS" -Dmaven.repo.local="$PWD/.cache/m2"
touch "$LIBS/.complete"
