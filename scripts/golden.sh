#!/usr/bin/env bash
# Every evaluate row and every report SVG of the committed stores, into OUT_DIR, so that a change meant to leave
# behaviour alone can be checked byte for byte: `scripts/golden.sh /tmp/before`, change, rebuild,
# `scripts/golden.sh /tmp/after && diff -r /tmp/before /tmp/after`.
# The evaluate JSON is written without its timing fields (wall-clock seconds differ run to run).
#
# Usage: scripts/golden.sh OUT_DIR     (runs target/release/harness; an empty hub cache unless HARNESS_HUB_CACHE is set)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/golden.sh OUT_DIR}
mkdir -p "$out"
bin=target/release/harness
[ -x "$bin" ] || cargo build --release
export NO_COLOR=1
# Every selector on the reference stores (about a minute each); on the evaluation stores (about a thousand cells)
# every selector takes over 20 minutes on 2 cores (issue 27), so there the pre-registered set of
# scripts/preregistered.sh, whose rows docs/evaluation.md's tables are.
PREREG=gbdt-mach,gbdt-arms,ours-3,ours-2,rule-q4_0,rule-q8_0,rule-native,heuristic,random-sensible,single-best-fair,single-best,random,oracle
for s in results/reference/*.db results/evaluation/*.db; do
  name=$(basename "$s" .db)
  "$bin" report --store "$s" --out "$out/report-$name" | sed "s#$out#OUT#g" > "$out/report-$name.txt"
  case $s in results/evaluation/*) sel=(--selectors "$PREREG");; *) sel=();; esac
  "$bin" evaluate --store "$s" --no-save --format json --bootstrap 200 "${sel[@]}" > "$out/evaluate-$name.json"
done
work=$(mktemp -d)
"$bin" merge "$work/eval.db" results/evaluation/*.db > /dev/null
for cv in loto lomach; do
  "$bin" evaluate --store "$work/eval.db" --no-save --format json --bootstrap 200 --cv $cv --selectors "$PREREG" \
    --accuracy-floor ppl:5%,agreement:0.9 > "$out/evaluate-merged-$cv.json"
done
rm -rf "$work"
# Timings are not outputs.
python3 - "$out" <<'PY'
import json, pathlib, sys
# Nor are the commit that ran it and the temporary merged store's path.
DROP = ("seconds", "elapsed", "wall", "created_at", "code_revision", "store")
def strip(v):
    if isinstance(v, str) and v.startswith("{"):
        try:
            return json.dumps(strip(json.loads(v)), sort_keys=True)
        except ValueError:
            return v
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if not any(t in k for t in DROP)}
    if isinstance(v, list):
        # Time per pick (`selection_ms`) is a timing too.
        return [strip(x) for x in v if not (isinstance(x, dict) and str(x.get("name", "")).endswith("_ms"))]
    return v
for p in pathlib.Path(sys.argv[1]).glob("evaluate-*.json"):
    p.write_text(json.dumps(strip(json.loads(p.read_text())), indent=1, sort_keys=True) + "\n")
PY
echo "golden outputs in $out"
