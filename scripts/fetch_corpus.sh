#!/usr/bin/env bash
# Gather the text corpus the workloads draw prompts and held-out text from.
# Sources are license texts that ship with every Debian system
# (/usr/share/common-licenses); each copy is checked against data/corpus.sha256
# so every machine measures on byte-identical text.
#
# Usage: scripts/fetch_corpus.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=/usr/share/common-licenses
DEST=data/corpus/licenses
mkdir -p "$DEST"
while read -r sum name; do
  [[ -z "$sum" || "$sum" == \#* ]] && continue
  file="${name#licenses/}"
  if [[ ! -f "$DEST/$file" ]]; then
    [[ -f "$SRC/$file" ]] || { echo "error: $SRC/$file is missing (Debian's base-files ships it)" >&2; exit 1; }
    cp "$SRC/$file" "$DEST/$file"
  fi
done < data/corpus.sha256
(cd data/corpus && sha256sum --quiet -c ../corpus.sha256) \
  || { echo "error: corpus digest mismatch, see data/corpus.sha256" >&2; exit 1; }
echo "corpus: $(ls "$DEST" | wc -l) files in $DEST, digests ok"
