#!/usr/bin/env bash
# Search and add(infer=false) latency: memlayer vs Mem0 (the `mem0ai` Python
# package, newest from PyPI) with FAISS and with embedded Qdrant, on the same
# adds and searches, the same all-MiniLM-L6-v2 weights in-process on both
# sides (Mem0's through the numpy MiniLM of mem0_scenarios.py), one run:
# memlayer first, then each Mem0 configuration (never concurrently), then one
# table with the ratios.
#
#   bash benches/peers/mem0_search.sh [--memories N] [--users N] [--queries N]
#   defaults: 2,000 one-sentence memories over 20 users, 500 user-scoped
#   searches with limit 10, one add per call.
#
# The venv lives in benches/peers/.venv-mem0-search (ignored by git) and is
# reused; results go to benches/peers/out/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=benches/peers/.venv-mem0-search
OUT=benches/peers/out
PEER=benches/peers/mem0_search.py
OPS_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --memories|--users|--queries) OPS_ARGS+=("$1" "$2"); shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

if ! { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import mem0, faiss, numpy, tokenizers, safetensors' 2>/dev/null; }; then
  echo "[peer] building the venv: mem0ai faiss-cpu numpy tokenizers safetensors" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q mem0ai faiss-cpu numpy tokenizers safetensors
fi
mkdir -p "$OUT"
MINILM="$(python3 scripts/fetch-models --print-dir)/all-minilm-l6-v2"
"$VENV/bin/python" "$PEER" ops --out "$OUT/search-ops.json" "${OPS_ARGS[@]}"
cargo run -q --release -p memlayer-tests --bin peer-ops -- --input "$OUT/search-ops.json" --out "$OUT/search-memlayer.json"
"$VENV/bin/python" "$PEER" run --ops "$OUT/search-ops.json" --minilm "$MINILM" --out "$OUT/search-mem0.json"
"$VENV/bin/python" "$PEER" compare "$OUT/search-memlayer.json" "$OUT/search-mem0.json"
