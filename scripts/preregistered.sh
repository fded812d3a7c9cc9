#!/usr/bin/env bash
# The pre-registered comparison of docs/evaluation.md "Pre-registered comparison (issue 24)" (in the README when registered; moved unchanged), exactly as registered on
# 2026-12-07 before any of its test tasks existed. Scores the frozen selectors (selectors/FROZEN.yaml) on
# tasks measured after that commit:
#   1. the frozen protocol: fit on every committed store's grids, score once on the new store's grids;
#   2. one machine class out (LOMACH) over the committed stores and the new store together.
# Both under the default quality floor (ppl:5%,agreement:0.9), latency, --infeasible zero, 5 learner seeds,
# 95% bootstrap CIs over (model, workload) groups, Holm over the learner x baseline comparisons printed.
#
# Usage: scripts/preregistered.sh NEW_STORE     (a store whose grids have names no committed store uses)
set -euo pipefail
cd "$(dirname "$0")/.."
new=${1:?usage: scripts/preregistered.sh NEW_STORE.db}
HEADLINE=gbdt-mach
LEARNERS=gbdt-mach,gbdt-arms,ours-3
BASELINES=rule-q4_0,rule-q8_0,rule-native,heuristic,random-sensible,single-best-fair,single-best,random,oracle
FLOOR=ppl:5%,agreement:0.9
# The grids of the committed stores: the training side of the frozen protocol.
TRAIN=standard,peer,compression,decentralized,holdout,choice,serving
bin=target/release/harness
[ -x "$bin" ] || cargo build --release
committed=(results/reference/*.db results/evaluation/*.db)
test_grids=$("$bin" export --store "$new" --format csv | python3 -c '
import csv, sys
r = csv.DictReader(sys.stdin)
print(",".join(sorted({row["grid"] for row in r})))')
for g in ${test_grids//,/ }; do
  case ",$TRAIN," in *",$g,"*) echo "grid \`$g\` of $new is a committed grid name: the test tasks need grids of their own" >&2; exit 2;; esac
done
work=$(mktemp -d)
"$bin" merge "$work/all.db" "${committed[@]}" "$new" >&2
common=(--store "$work/all.db" --no-save --accuracy-floor "$FLOOR" --selectors "$LEARNERS,$BASELINES"
        --focus "$HEADLINE" --baseline random --seeds 5)
echo "== frozen protocol: train $TRAIN / test $test_grids"
"$bin" evaluate "${common[@]}" --train "$TRAIN" --test "$test_grids"
echo "== one machine class out, committed stores and the new store"
"$bin" evaluate "${common[@]}" --cv lomach
