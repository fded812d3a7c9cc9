#!/usr/bin/env bash
# Kill `harness run` with SIGKILL at random moments across a grid, then let it finish:
# after every kill `harness check` must pass, and at the end every planned cell is stored
# exactly once and no claim is left.
#   bash scripts/kill_test.sh [GRID] [KILLS]     default: the smoke grid measured >= 1.5 s a cell, 20 kills
# (the kills then land all across the grid: a run lives 0.2 to 3.2 s). Uses target/release/harness
# (built if absent) and a store in a temporary folder.
set -euo pipefail
cd "$(dirname "$0")/.."
kills="${2:-20}"
[ -x target/release/harness ] || cargo build --release
h=target/release/harness
dir=$(mktemp -d)
db="$dir/killed.db"
trap 'rm -rf "$dir"' EXIT
grid="${1:-}"
if [ -z "$grid" ]; then
    grid="$dir/smoke-slow.yaml"
    sed 's/^  min_time_s: .*/  min_time_s: 1.5/; s/^  max_reps: .*/  max_reps: 100000/; s/^  max_time_s: .*/  max_time_s: 3/' \
        experiments/smoke.yaml >"$grid"
fi
planned=$($h run "$grid" --store "$dir/dry.db" --dry-run | grep -c '^to run')
echo "grid $grid: $planned cells; killing the run $kills times (store $db)"
for i in $(seq 1 "$kills"); do
    $h run "$grid" --store "$db" -q >/dev/null 2>&1 &
    pid=$!
    # A random moment between 0.2 and 3.2 s into the run.
    ms=$(( 200 + RANDOM % 3000 ))
    sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    stored=0
    if [ -f "$db" ]; then
        $h check --store "$db" >"$dir/check.txt" || { cat "$dir/check.txt"; echo "kill $i: check FAILED" >&2; exit 1; }
        stored=$($h export --store "$db" --format csv | tail -n +2 | wc -l)
    fi
    echo "kill $i at ${ms} ms: check ok, $stored of $planned cells stored"
done
$h run "$grid" --store "$db" -q >/dev/null
$h check --store "$db"
keys=$($h export --store "$db" --format json | python3 -c 'import json,sys; k=[r["key"] for r in json.load(sys.stdin)]; print(len(k), len(set(k)))')
read -r n distinct <<<"$keys"
echo "after $kills kills and a final run: $n cells stored, $distinct distinct, $planned planned"
[ "$n" = "$planned" ] && [ "$distinct" = "$planned" ] || { echo "FAILED: expected every planned cell exactly once" >&2; exit 1; }
echo "ok: every cell stored exactly once"
