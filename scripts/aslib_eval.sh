#!/usr/bin/env bash
# Every selector on the ASlib scenarios in data/aslib (see scripts/fetch_aslib.sh), with
# each scenario's own 10 folds: PAR10 and the share of the single-best -> virtual-best gap closed.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
for dir in data/aslib/*/; do
    s=$(basename "$dir")
    ./target/release/harness aslib import "$dir" --out "data/aslib/$s.json"
    ./target/release/harness evaluate --tasks "data/aslib/$s.json" --cv given --seeds "${SEEDS:-1}" \
        --noise-resamples 0 --allow-no-embeddings ${SELECTORS:+--selectors "$SELECTORS"} | tee "data/aslib/$s.txt"
done
