#!/usr/bin/env bash
# Fetches the ASlib scenarios docs/evaluation.md quotes (SAT11-HAND, QBF-2011) from the public
# aslib_data repository into data/aslib/ (git-ignored), or uses a local copy:
#   ASLIB_DATA=/path/to/aslib_data bash scripts/fetch_aslib.sh
# Then: bash scripts/aslib_eval.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dest=data/aslib
scenarios=(SAT11-HAND QBF-2011)
mkdir -p "$dest"
if [ -n "${ASLIB_DATA:-}" ]; then
    for s in "${scenarios[@]}"; do
        [ -f "$ASLIB_DATA/$s/algorithm_runs.arff" ] || { echo "no $s in $ASLIB_DATA" >&2; exit 2; }
        rm -rf "${dest:?}/$s" && cp -r "$ASLIB_DATA/$s" "$dest/$s"
    done
    echo "copied ${scenarios[*]} from $ASLIB_DATA into $dest"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if git clone -q --depth 1 --filter=blob:none --sparse https://github.com/coseal/aslib_data "$tmp/aslib_data" 2>/dev/null \
    && git -C "$tmp/aslib_data" sparse-checkout set "${scenarios[@]}" 2>/dev/null; then
    for s in "${scenarios[@]}"; do rm -rf "${dest:?}/$s" && cp -r "$tmp/aslib_data/$s" "$dest/$s"; done
    echo "fetched ${scenarios[*]} from github.com/coseal/aslib_data into $dest"
else
    cat >&2 <<'MSG'
github.com/coseal/aslib_data is not reachable from here. Get a copy of the repository (or of its
SAT11-HAND and QBF-2011 directories) another way and run:
  ASLIB_DATA=/path/to/aslib_data bash scripts/fetch_aslib.sh
MSG
    exit 1
fi
