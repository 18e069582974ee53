#!/usr/bin/env bash
# Side-by-side decode/prefill throughput: memlayer's LlamaCppChat vs
# llama-cpp-python (built from source here, host SIMD) on the same GGUF,
# prompt and thread count, alternating runs in one invocation, medians quoted.
#
#   bash benches/peers/llama_cpp_python.sh [THREADS] [MAX_TOKENS] [REPS] [MODELS...]
#   defaults: 2 threads, 128 tokens, 5 reps, models: smollm2 qwen
# Two prompts per model: "short" (one line: decode-dominated) and "long"
# (~600 tokens: prefill-dominated). Our side runs one unmeasured warm-up call.
#
# The venv lives in benches/peers/.venv (ignored by git) and is reused.
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS=${1:-2}; MAX_TOKENS=${2:-128}; REPS=${3:-5}; shift $(( $# > 3 ? 3 : $# )) || true
MODELS=("$@"); [ ${#MODELS[@]} -gt 0 ] || MODELS=(smollm2 qwen)
VENV=benches/peers/.venv
LCP_VERSION=${LCP_VERSION:-0.3.36}

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import llama_cpp' 2>/dev/null; then
  echo "[peer] building llama-cpp-python $LCP_VERSION from source (GGML_NATIVE=ON); this takes several minutes" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  CMAKE_ARGS="-DGGML_NATIVE=ON -DLLAMA_CURL=OFF" "$VENV/bin/pip" install -q --no-binary llama-cpp-python "llama-cpp-python==$LCP_VERSION"
fi
cargo build -q --release -p memlayer-benches --bin llm-throughput
OURS=target/release/llm-throughput
MODELS_DIR=$(python3 scripts/fetch-models --print-dir)

"$VENV/bin/python" - "$OURS" "$MODELS_DIR" "$THREADS" "$MAX_TOKENS" "$REPS" "${MODELS[@]}" <<'PY'
import json, statistics, subprocess, sys, time
import llama_cpp
from llama_cpp import Llama, __version__ as lcp_version

ours, models_dir, threads, max_tokens, reps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
paths = {
    "smollm2": "smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf",
    "qwen": "qwen2.5-coder-0.5b-instruct-q4_k_m/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    "gemma3": "gemma-3-270m-q4_k_m/gemma-3-270m-q4_k_m.gguf",
}

def run_ours(path, kind):
    out = subprocess.run([ours, path, str(threads), str(max_tokens), "1", kind], check=True, capture_output=True, text=True).stdout
    lines = [json.loads(l) for l in out.splitlines() if l.strip()]
    return lines[0]["prompt"], lines[1]

def is_eog(llm, tok):
    try:
        return bool(llama_cpp.llama_vocab_is_eog(llama_cpp.llama_model_get_vocab(llm.model), tok))
    except Exception:
        return tok == llm.token_eos()

def run_peer(llm, prompt):
    toks = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(toks)
    t1 = time.perf_counter()
    n = 0
    # Greedy decoding through llama-cpp-python's own sampler, one token at a time.
    while n < max_tokens:
        tok = llm.sample(temp=0.0)
        if is_eog(llm, tok):
            break
        llm.eval([tok])
        n += 1
    t2 = time.perf_counter()
    return {"impl": "llama-cpp-python", "prompt_tokens": len(toks), "completion_tokens": n,
            "prefill_tok_s": len(toks) / (t1 - t0), "decode_tok_s": n / (t2 - t1) if n else 0.0}

print(f"llama-cpp-python {lcp_version}; threads={threads}; max_tokens={max_tokens}; reps={reps} (alternating)")
for name in sys.argv[6:]:
    path = f"{models_dir}/{paths[name]}"
    llm = Llama(model_path=path, n_ctx=2048, n_threads=threads, n_threads_batch=threads, n_batch=512, verbose=False)
    for kind in ("short", "long"):
        mine, theirs = [], []
        for r in range(reps):
            prompt, m = run_ours(path, kind)
            mine.append(m)
            theirs.append(run_peer(llm, prompt))
        med = lambda xs, k: statistics.median(x[k] for x in xs)
        print(f"\n{name} [{kind} prompt: {mine[0]['prompt_tokens']} tokens ours, {theirs[0]['prompt_tokens']} peer]; "
              f"completion tokens ours {med(mine,'completion_tokens'):.0f}, peer {med(theirs,'completion_tokens'):.0f}")
        for k in ("prefill_tok_s", "decode_tok_s"):
            a, b = med(mine, k), med(theirs, k)
            print(f"  {k:14s} memlayer {a:8.1f}   llama-cpp-python {b:8.1f}   ratio {a / b:5.3f}")
    del llm
PY
