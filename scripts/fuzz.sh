#!/usr/bin/env bash
# Fuzz the grid parser + validator and the GGUF header walk with libFuzzer (cargo fuzz).
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]     default: 600 s each for grid and gguf_header
# The corpus lives in fuzz/corpus/TARGET (in the repository): new inputs that reach new code are
# added there and the folder is minimised afterwards (cargo fuzz cmin). A crash leaves its input in
# fuzz/artifacts/TARGET/ and makes the script fail; fix it and add the input as a regression test.
# Needs the nightly toolchain (`rustup toolchain install nightly`) and cargo-fuzz (`cargo install cargo-fuzz`).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(grid gguf_header)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    before=$(find "fuzz/corpus/$t" -type f | wc -l)
    echo "fuzzing $t for ${secs}s (corpus: $before inputs)"
    # One job on one core; -max_len 64 KiB covers a real GGUF's first metadata entries.
    cargo +nightly fuzz run "$t" "fuzz/corpus/$t" -- -max_total_time="$secs" -max_len=65536 -print_final_stats=1 \
        2>&1 | tee "fuzz/$t.log" | grep -E "^#[0-9]+.*(pulse|DONE)|stat::|ERROR|panicked" || true
    if grep -q "ERROR: libFuzzer\|panicked" "fuzz/$t.log"; then
        echo "$t: crash found, input in fuzz/artifacts/$t/" >&2
        exit 1
    fi
    cargo +nightly fuzz cmin "$t" "fuzz/corpus/$t" >/dev/null 2>&1 || true
    after=$(find "fuzz/corpus/$t" -type f | wc -l)
    execs=$(grep -o "stat::number_of_executed_units: *[0-9]*" "fuzz/$t.log" | grep -o "[0-9]*$" | tail -1)
    echo "$t: ${execs:-?} runs in ${secs}s ($(( ${execs:-0} / secs )) execs/s), corpus $before -> $after inputs (minimised)"
done
