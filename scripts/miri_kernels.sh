#!/usr/bin/env bash
# The loops that hand each of candle's pool workers its own pieces of one output buffer
# (the packed matmul's groups, the activations' rows, flat attention's heads) run under Miri,
# which reports two live `&mut` over one buffer as undefined behaviour even where the writes
# are disjoint. Nightly with the miri and rust-src components; about 15 minutes on 2 cores the
# first time (Miri builds its own sysroot and every dependency), a few minutes after that.
#
# Found 2026-12-06: Miri stops inside candle-core 0.11.1's own BarrierPool before it reaches
# these loops (a data race on its Box'd state at utils.rs:146/221; with
# MIRIFLAGS=-Zmiri-disable-data-race-detector, a Stacked Borrows violation at utils.rs:184), so
# this script does not yet show the harness's loops clean; it will once candle's pool is.
#
# Usage: scripts/miri_kernels.sh [extra test-name filters]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo +nightly miri --version >/dev/null 2>&1; then
  rustup +nightly component add miri rust-src
fi
# Three pool threads (the pool keeps one for the caller), the portable kernels (Miri has no
# AVX2 path to offer), and no -C target-cpu=native from .cargo/config.toml.
export MIRIFLAGS="-Zmiri-env-set=CANDLE_NUM_THREADS=3 -Zmiri-env-set=HARNESS_KERNELS=portable ${MIRIFLAGS:-}"
export RUSTFLAGS="" CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/miri}"
tests=(models::kernels::tests::the_pool_writes_each_output_once
       models::llama::flat::tests::pooled_attention_equals_one_token_at_a_time "$@")
cargo +nightly miri test -p harness --no-default-features --lib -- "${tests[@]}"
