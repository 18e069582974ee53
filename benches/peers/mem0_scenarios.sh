#!/usr/bin/env bash
# Side-by-side memory quality and add() latency: memlayer vs Mem0 (the `mem0ai`
# Python package, newest from PyPI) on the memory scenario set, same GGUF chat
# model, same all-MiniLM-L6-v2 embedder, fully offline. memlayer runs first,
# then Mem0 (never concurrently), then one comparison table.
#
#   bash benches/peers/mem0_scenarios.sh [MODEL] [THREADS] [--limit N] [--only SUBSTR]
#        [--file PATH] [--n-ctx N] [--port P] [--mem0-only] [--verbose]
#   defaults: model qwen (qwen | qwen1.5b | smollm2), 2 threads,
#             tests/scenarios/memory.json, n_ctx 16384, port 8765
#
# Mem0 talks to llama-cpp-python's OpenAI-compatible server (built from source
# here, host SIMD) through its `openai` LLM provider; its embedder is the numpy
# MiniLM in mem0_scenarios.py, its vector store Mem0's default (local qdrant).
# n_ctx is 16384, not 4096: Mem0 2.x's extraction system prompt alone is 7,924
# tokens for Qwen2.5 (8,530 for SmolLM2, past its 8,192-token training context).
# Mem0's first add pays that prefill; later ones hit the server's prefix cache.
# Mem0 2.x's add() only ever ADDs (no UPDATE/DELETE), so contradictions fail.
# Each side's JSON goes to benches/peers/out/ (ignored by git):
#   {"model", "scenarios": [{"name", "kind", "pass", "add_ms": [...], "llm_calls"}]}
# memlayer's side is `cargo run -p memlayer-tests --bin scenarios -- --json`.
#
# The venv lives in benches/peers/.venv-mem0 (ignored by git) and is reused.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=benches/peers/.venv-mem0
OUT=benches/peers/out
LCP_VERSION=${LCP_VERSION:-0.3.36}
PEER=benches/peers/mem0_scenarios.py

MODEL=qwen THREADS=2 FILE=tests/scenarios/memory.json N_CTX=16384 PORT=8765
MEM0_ONLY=0 VERBOSE=() SUBSET=()
parse_args() {
  local pos=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --limit|--only) SUBSET+=("$1" "$2"); shift 2 ;;
      --file) FILE=$2; shift 2 ;;
      --n-ctx) N_CTX=$2; shift 2 ;;
      --port) PORT=$2; shift 2 ;;
      --mem0-only) MEM0_ONLY=1; shift ;;
      --verbose) VERBOSE=(--verbose); shift ;;
      -*) echo "unknown option $1" >&2; exit 2 ;;
      *) if [ $pos -eq 0 ]; then MODEL=$1; else THREADS=$1; fi; pos=$((pos + 1)); shift ;;
    esac
  done
}

gguf_path() {
  local dir; dir=$(python3 scripts/fetch-models --print-dir)
  case "$1" in
    qwen) echo "$dir/qwen2.5-coder-0.5b-instruct-q4_k_m/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf" ;;
    qwen1.5b) echo "$dir/qwen2.5-coder-1.5b-instruct-q4_k_m/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf" ;;
    smollm2) echo "$dir/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf" ;;
    *) echo "unknown model $1 (qwen | qwen1.5b | smollm2)" >&2; exit 2 ;;
  esac
}

ensure_venv() {
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import llama_cpp.server, mem0, numpy, tokenizers, safetensors' 2>/dev/null; then
    return
  fi
  echo "[peer] building the Mem0 venv: mem0ai + llama-cpp-python $LCP_VERSION from source (GGML_NATIVE=ON); this takes several minutes" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q mem0ai numpy tokenizers safetensors
  CMAKE_ARGS="-DGGML_NATIVE=ON -DLLAMA_CURL=OFF" "$VENV/bin/pip" install -q --no-binary llama-cpp-python "llama-cpp-python[server]==$LCP_VERSION"
}

run_memlayer() {
  cargo run -q --release -p memlayer-tests --bin scenarios -- \
    --chat "$MODEL" --file "$FILE" --json "$OUT/memlayer-$MODEL.json" "${SUBSET[@]}"
}

SERVER_PID=
start_server() {
  local log="$OUT/llama-server-$MODEL.log"
  "$VENV/bin/python" -m llama_cpp.server --model "$(gguf_path "$MODEL")" --model_alias "$MODEL" \
    --host 127.0.0.1 --port "$PORT" --n_threads "$THREADS" --n_threads_batch "$THREADS" \
    --n_ctx "$N_CTX" >"$log" 2>&1 &
  SERVER_PID=$!
  trap stop_server EXIT
  for _ in $(seq 300); do
    if "$VENV/bin/python" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$PORT/v1/models', timeout=2)" 2>/dev/null; then return; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "[peer] llama-cpp-python server died; see $log" >&2; exit 1; }
    sleep 1
  done
  echo "[peer] llama-cpp-python server did not answer within 300 s; see $log" >&2; exit 1
}

stop_server() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=; fi
}

run_mem0() {
  start_server
  "$VENV/bin/python" "$PEER" run --base-url "http://127.0.0.1:$PORT/v1" --model-name "$MODEL" \
    --minilm "$(python3 scripts/fetch-models --print-dir)/all-minilm-l6-v2" --file "$FILE" \
    --out "$OUT/mem0-$MODEL.json" "${SUBSET[@]}" "${VERBOSE[@]}"
  stop_server
}

parse_args "$@"
gguf_path "$MODEL" >/dev/null
mkdir -p "$OUT"
ensure_venv
MEMLAYER_JSON=-
if [ "$MEM0_ONLY" -eq 0 ]; then
  run_memlayer
  MEMLAYER_JSON="$OUT/memlayer-$MODEL.json"
fi
run_mem0
"$VENV/bin/python" "$PEER" compare "$MEMLAYER_JSON" "$OUT/mem0-$MODEL.json"
