"""Mem0 (the `mem0ai` Python package) on memlayer's memory scenario set, fully
offline, and the side-by-side table against memlayer's own run.

Driven by benches/peers/mem0_scenarios.sh, which builds the venv and starts
llama-cpp-python's OpenAI-compatible server; by hand:

    python mem0_scenarios.py run --base-url http://127.0.0.1:PORT/v1 --model-name NAME \
        --minilm DIR --file tests/scenarios/memory.json --out OUT.json \
        [--only SUBSTR] [--limit N] [--verbose]
    python mem0_scenarios.py compare MEMLAYER.json MEM0.json   (either may be "-": absent)

Mem0 setup (read from mem0ai's own source, 2.x):
  * LLM: the `openai` provider with `openai_base_url` at the local server and a dummy
    key; temperature 0 (greedy, as memlayer decodes). Mem0 asks for
    response_format json_object, which llama-cpp-python enforces with a JSON grammar.
  * Embedder: all-MiniLM-L6-v2 computed here in numpy (float32), put in place of
    `memory.embedding_model` right after Memory.from_config (Mem0's config only
    accepts its built-in embedder providers; the `openai` one is constructed and then
    replaced before any call, so it never sends a request).
  * Vector store: Mem0's default provider (qdrant in 2.x), in local embedded mode
    (on-disk `path`), 384 dims. Each scenario gets a fresh temporary directory holding its own
    qdrant path, collection and history SQLite DB, so nothing leaks between scenarios.
  * Plain `pip install mem0ai`: the optional spaCy (lemmas, entity links) and
    fastembed (BM25) extras are absent, which Mem0 tolerates; add() still finds
    existing memories by vector search.
  * Telemetry off (MEM0_TELEMETRY=False, also disables the remote notice fetch);
    MEM0_DIR points into the temporary directory so ~/.mem0 is untouched.

Scoring is tests/bin/scenarios.rs's: seed `initial` with infer=False, one
add(turn) per turn with infer on, then on get_all of the scope: every `present`
group must match (lowercase substring) some memory, no memory may contain an
`absent` string, and the count must be <= `max_memories`. An exception anywhere
fails the scenario (recorded, the run goes on).
"""

import argparse
import json
import logging
import math
import os
import sys
import tempfile
import time

os.environ.setdefault("MEM0_TELEMETRY", "False")

import numpy as np


# ---------------------------------------------------------------------------
# all-MiniLM-L6-v2 in numpy.
# Adapted from /work/shared/fixtures/minilm_reference.py (the exact float64
# reference memlayer's embedder is checked against), copied here because the
# peer must not import from ../shared at run time: float32, weights transposed
# once, and a vectorised erf (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7)
# in place of np.vectorize(math.erf).
# ---------------------------------------------------------------------------

def _erf(x):
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * np.exp(-a * a)
    return s * y


class MiniLM:
    """Sentence embeddings: BERT forward, mean pooling, L2 normalisation."""

    def __init__(self, model_dir):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        w = load_file(f"{model_dir}/model.safetensors")
        self.cfg = json.load(open(f"{model_dir}/config.json"))
        maxlen = json.load(open(f"{model_dir}/sentence_bert_config.json"))["max_seq_length"]
        self.tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
        self.tok.no_padding()
        self.tok.enable_truncation(maxlen)
        pre = "" if any(k.startswith("embeddings.") for k in w) else "bert."
        self.w = {k[len(pre):] if k.startswith(pre) else k: v.astype(np.float32) for k, v in w.items()}
        for k in list(self.w):
            if k.endswith(".weight") and self.w[k].ndim == 2 and not k.startswith("embeddings."):
                self.w[k] = np.ascontiguousarray(self.w[k].T)  # x @ W^T, transposed once
        self.dims = self.cfg["hidden_size"]

    def _ln(self, x, p):
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / np.sqrt(v + self.cfg["layer_norm_eps"]) * self.w[p + ".weight"] + self.w[p + ".bias"]

    def _dense(self, x, p):
        return x @ self.w[p + ".weight"] + self.w[p + ".bias"]

    def embed(self, text):
        e = self.tok.encode(text)
        ids, tt, n = np.array(e.ids), np.array(e.type_ids), len(e.ids)
        w = self.w
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n] \
            + w["embeddings.token_type_embeddings.weight"][tt]
        x = self._ln(x, "embeddings.LayerNorm")
        h = self.cfg["num_attention_heads"]
        dh = self.cfg["hidden_size"] // h
        for layer in range(self.cfg["num_hidden_layers"]):
            p = f"encoder.layer.{layer}."
            q, k, v = (self._dense(x, p + f"attention.self.{n_}").reshape(n, h, dh).transpose(1, 0, 2)
                       for n_ in ("query", "key", "value"))
            s = q @ k.transpose(0, 2, 1) / np.float32(math.sqrt(dh))
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            a = (s @ v).transpose(1, 0, 2).reshape(n, h * dh)
            x = self._ln(self._dense(a, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            g = self._dense(x, p + "intermediate.dense")
            g = 0.5 * g * (1.0 + _erf(g / np.float32(math.sqrt(2.0))))
            x = self._ln(self._dense(g, p + "output.dense") + x, p + "output.LayerNorm")
        m = x.mean(0)
        return (m / np.linalg.norm(m)).tolist()


def make_embedder(minilm):
    """A Mem0 EmbeddingBase around MiniLM (the class is built after mem0 is importable)."""
    from mem0.configs.embeddings.base import BaseEmbedderConfig
    from mem0.embeddings.base import EmbeddingBase

    class NumpyMiniLMEmbedding(EmbeddingBase):
        def __init__(self):
            super().__init__(BaseEmbedderConfig(model="all-MiniLM-L6-v2", embedding_dims=minilm.dims))

        def embed(self, text, memory_action=None):
            return minilm.embed(text)

    return NumpyMiniLMEmbedding()


# ---------------------------------------------------------------------------
# Mem0 side
# ---------------------------------------------------------------------------

class LlmErrorLog(logging.Handler):
    """Counts the errors Mem0 logs and swallows (e.g. an unparseable extraction answer)."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def default_vector_store():
    """The provider Mem0 uses when none is configured (qdrant in 2.x)."""
    from mem0.vector_stores.configs import VectorStoreConfig

    return VectorStoreConfig.model_fields["provider"].default


def mem0_config(tmp, base_url, model_name, dims, collection):
    return {
        "llm": {"provider": "openai", "config": {
            "model": model_name, "openai_base_url": base_url, "api_key": "local",
            "temperature": 0.0, "is_reasoning_model": False}},
        "embedder": {"provider": "openai", "config": {
            "model": "all-MiniLM-L6-v2", "api_key": "local", "openai_base_url": base_url,
            "embedding_dims": dims}},
        "vector_store": {"provider": default_vector_store(), "config": {
            "collection_name": collection, "embedding_model_dims": dims,
            "path": os.path.join(tmp, "qdrant")}},
        "history_db_path": os.path.join(tmp, "history.db"),
    }


def open_memory(tmp, args, embedder, collection):
    """A fresh Mem0 Memory in `tmp` with our embedder; the list returned collects the LLM's raw answers."""
    from mem0 import Memory

    mem = Memory.from_config(mem0_config(tmp, args.base_url, args.model_name, embedder.config.embedding_dims, collection))
    mem.embedding_model = embedder
    answers = []
    generate = mem.llm.generate_response

    def recorded(*a, **kw):
        answers.append(None)  # counts the call even if it raises
        answers[-1] = generate(*a, **kw)
        return answers[-1]

    mem.llm.generate_response = recorded
    return mem, answers


def close_memory(mem):
    mem.close()
    client = getattr(mem.vector_store, "client", None)
    if client is not None:
        client.close()


def score(sc, finals):
    """tests/bin/scenarios.rs's checks on the scope's final memories; returns the reasons it fails."""
    lower = [m.lower() for m in finals]
    exp = sc["expect"]
    why = [f"missing {group}" for group in exp["present"] if not any(any(g in m for g in group) for m in lower)]
    why += [f"still has {a!r}" for a in exp["absent"] if any(a in m for m in lower)]
    if exp.get("max_memories") is not None and len(finals) > exp["max_memories"]:
        why.append(f"{len(finals)} memories > {exp['max_memories']}")
    return why


def run_scenario(sc, args, embedder, index):
    """Seeds, adds each turn, scores; returns the scenario's result record."""
    scope = {k: sc[k] for k in ("user_id", "agent_id") if sc.get(k)}
    rec = {"name": sc["name"], "kind": sc["kind"], "pass": False, "add_ms": [], "llm_calls": 0,
           "llm_errors": [], "llm_answers": [], "events": [], "final": [], "why": []}
    errors = LlmErrorLog()
    logging.getLogger("mem0").addHandler(errors)
    with tempfile.TemporaryDirectory(prefix="mem0-scenario-") as tmp:
        os.environ["MEM0_DIR"] = tmp
        mem, answers = None, []
        try:
            mem, answers = open_memory(tmp, args, embedder, f"scenario_{index}")
            for m in sc["initial"]:
                mem.add(m, infer=False, **scope)
            for turn in sc["turns"]:
                t = time.perf_counter()
                r = mem.add(turn, **scope)
                rec["add_ms"].append((time.perf_counter() - t) * 1e3)
                rec["events"] += [f"{e.get('event')} {e.get('memory')!r}" for e in r.get("results", [])]
            rec["final"] = [m["memory"] for m in mem.get_all(filters=scope, top_k=10000)["results"]]
            rec["why"] = score(sc, rec["final"])
            rec["pass"] = not rec["why"]
        except Exception as e:  # an exception fails the scenario; keep going
            rec["why"] = [f"exception {type(e).__name__}: {e}"]
        finally:
            if mem is not None:
                close_memory(mem)
            logging.getLogger("mem0").removeHandler(errors)
    rec["llm_calls"], rec["llm_answers"] = len(answers), answers
    rec["llm_errors"] = errors.messages
    return rec


def select(scenarios, only, limit):
    chosen = [s for s in scenarios if not only or only in s["name"]]
    return chosen[:limit] if limit else chosen


def cmd_run(args):
    import importlib.metadata

    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    scenarios = select(json.load(open(args.file))["scenarios"], args.only, args.limit)
    embedder = make_embedder(MiniLM(args.minilm))
    version = importlib.metadata.version("mem0ai")
    print(f"mem0ai {version}; LLM {args.model_name} via {args.base_url}; {len(scenarios)} scenarios", flush=True)
    results = []
    for i, sc in enumerate(scenarios):
        rec = run_scenario(sc, args, embedder, i)
        results.append(rec)
        ms = " ".join(f"{x:.0f}" for x in rec["add_ms"])
        print(f"{'PASS' if rec['pass'] else 'FAIL'} {sc['name']:<48} add ms [{ms}] {'; '.join(rec['why'])}", flush=True)
        if args.verbose or not rec["pass"]:
            for line in ([f"LLM answer: {a!r}" for a in rec["llm_answers"]] + rec["events"]
                         + [f"logged error: {m}" for m in rec["llm_errors"]]):
                print(f"       {line}")
            print(f"       final: {rec['final']}")
    out = {"model": args.model_name, "impl": "mem0", "mem0_version": version,
           "vector_store": f"{default_vector_store()} (Mem0's default; local, on-disk path, fresh per scenario)",
           "embedder": "all-MiniLM-L6-v2, numpy float32 (replaces memory.embedding_model)",
           "llm": f"openai provider -> llama-cpp-python server {args.base_url}, temperature 0",
           "scenarios": results}
    json.dump(out, open(args.out, "w"), indent=1)


# ---------------------------------------------------------------------------
# Comparison table
# ---------------------------------------------------------------------------

def percentile(v, p):
    """memlayer_tests::percentile: nearest rank on the sorted values."""
    if not v:
        return float("nan")
    v = sorted(v)
    return v[int(round((len(v) - 1) * p))]


def summarize(doc):
    by_kind = {}
    for s in doc["scenarios"]:
        k = by_kind.setdefault(s["kind"], [0, 0])
        k[0] += bool(s["pass"])
        k[1] += 1
    lat = [x for s in doc["scenarios"] for x in s["add_ms"]]
    passed = sum(p for p, _ in by_kind.values())
    total = sum(t for _, t in by_kind.values())
    calls = sum(s.get("llm_calls", 0) for s in doc["scenarios"])
    return {"by_kind": by_kind, "passed": passed, "total": total, "lat": lat, "calls": calls}


def cmd_compare(args):
    docs = {name: (json.load(open(path)) if path != "-" else None)
            for name, path in (("memlayer", args.memlayer), ("Mem0", args.mem0))}
    sums = {name: summarize(d) for name, d in docs.items() if d}
    names = list(sums)
    kinds = sorted({k for s in sums.values() for k in s["by_kind"]})
    cell = lambda s, k: "{}/{}".format(*s["by_kind"][k]) if k in s["by_kind"] else "-"
    print("\n" + f"{'kind':<16}" + "".join(f"{n:>12}" for n in names))
    for k in kinds:
        print(f"{k:<16}" + "".join(f"{cell(sums[n], k):>12}" for n in names))
    print(f"{'overall':<16}" + "".join(
        f"{'{}/{} {:.0f}%'.format(s['passed'], s['total'], 100 * s['passed'] / max(s['total'], 1)):>12}"
        for s in sums.values()))
    for label, p in (("add p50 ms", 0.5), ("add p95 ms", 0.95)):
        print(f"{label:<16}" + "".join(f"{percentile(s['lat'], p):>12.0f}" for s in sums.values()))
    print(f"{'infer adds':<16}" + "".join(f"{len(s['lat']):>12}" for s in sums.values()))
    print(f"{'LLM calls':<16}" + "".join(f"{s['calls']:>12}" for s in sums.values()))
    if docs["Mem0"]:
        m = docs["Mem0"]
        print(f"\nMem0: mem0ai {m['mem0_version']}; vector store {m['vector_store']}; embedder {m['embedder']}; LLM {m['llm']}")
        errs = sum(len(s.get("llm_errors", [])) for s in m["scenarios"])
        exc = [s["name"] for s in m["scenarios"] if any(w.startswith("exception") for w in s["why"])]
        print(f"Mem0 logged (swallowed) errors: {errs}; scenarios failed by an exception: {len(exc)} {exc if exc else ''}")
    if docs["memlayer"]:
        print(f"memlayer: chat model {docs['memlayer'].get('model')}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--base-url", required=True)
    r.add_argument("--model-name", required=True)
    r.add_argument("--minilm", required=True, help="all-MiniLM-L6-v2 directory (safetensors + tokenizer.json)")
    r.add_argument("--file", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--only")
    r.add_argument("--limit", type=int)
    r.add_argument("--verbose", action="store_true")
    c = sub.add_parser("compare")
    c.add_argument("memlayer")
    c.add_argument("mem0")
    args = ap.parse_args()
    (cmd_run if args.cmd == "run" else cmd_compare)(args)


if __name__ == "__main__":
    main()
