"""Mem0 (the `mem0ai` package) against memlayer on the same adds and searches,
in one run: add(infer=False) one memory per call, then user-scoped searches
with limit 10; the same all-MiniLM-L6-v2 weights in-process on both sides.

Driven by benches/peers/mem0_search.sh; by hand:

    python mem0_search.py ops --out OPS.json [--memories 2000] [--users 20] [--queries 500]
    python mem0_search.py run --ops OPS.json --minilm DIR --out MEM0.json
    python mem0_search.py compare MEMLAYER.json MEM0.json

Mem0 setup (2.x): the vector store is FAISS (`faiss` provider, local index
files) or Mem0's default, qdrant in local embedded mode (on-disk `path`); the
embedder is the numpy MiniLM of mem0_scenarios.py put in place of
`memory.embedding_model` (Mem0's config only accepts its own providers); the
LLM is configured but never called (infer=False). Telemetry off; every
configuration gets a fresh temporary directory (vectors + history SQLite).
"""

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time

os.environ.setdefault("MEM0_TELEMETRY", "False")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mem0_scenarios import MiniLM, make_embedder  # noqa: E402

PEOPLE = ["my sister", "my brother", "my manager", "my neighbour", "my best friend", "my dentist",
          "my landlord", "my cousin", "my coach", "my doctor"]
PLACES = ["Lisbon", "Berlin", "Toronto", "Osaka", "Nairobi", "Lima", "Oslo", "Melbourne", "Austin",
          "Porto", "Seoul", "Dublin"]
FOODS = ["sushi", "lentil soup", "tacos", "green curry", "pho", "falafel", "risotto", "dumplings",
         "paella", "ramen"]
HOBBIES = ["rock climbing", "watercolour painting", "chess", "sourdough baking", "birdwatching",
           "salsa dancing", "trail running", "pottery", "jazz piano", "kayaking"]
PETS = ["a beagle called Miso", "two cats", "a parrot named Kiwi", "a tortoise", "a golden retriever"]
JOBS = ["nurse", "data engineer", "high-school teacher", "architect", "sous-chef", "pilot",
        "product designer", "pharmacist"]

FACTS = [
    ("I live in {place} with {pet}.", "Where do I live?"),
    ("My favourite food is {food}, especially on Fridays.", "What food do I like?"),
    ("On weekends I go {hobby} with {person}.", "What do I do on weekends?"),
    ("I work as a {job} and start at eight every morning.", "What is my job?"),
    ("{person} moved to {place} last spring.", "Who moved recently?"),
    ("I am allergic to peanuts and avoid {food}.", "Do I have any allergies?"),
    ("I have been learning {hobby} for three years.", "What have I been learning?"),
    ("{person} recommended a restaurant in {place} that serves {food}.", "Which restaurant was recommended?"),
    ("My next holiday is a week in {place} in June.", "Where am I going on holiday?"),
    ("I adopted {pet} from a shelter.", "Do I have pets?"),
]


def make_ops(n_memories, n_users, n_queries, seed=7):
    rng = random.Random(seed)
    memories, by_user = [], {}
    for i in range(n_memories):
        user = f"user{i % n_users}"
        template, question = rng.choice(FACTS)
        text = template.format(place=rng.choice(PLACES), pet=rng.choice(PETS), food=rng.choice(FOODS),
                               hobby=rng.choice(HOBBIES), person=rng.choice(PEOPLE), job=rng.choice(JOBS))
        text = text[0].upper() + text[1:]
        memories.append({"user_id": user, "text": text})
        by_user.setdefault(user, []).append(question)
    queries = []
    users = sorted(by_user)
    for i in range(n_queries):
        user = users[i % len(users)]
        queries.append({"user_id": user, "text": rng.choice(by_user[user])})
    return {"memories": memories, "queries": queries}


def mem0_config(tmp, provider, dims):
    if provider == "faiss":
        store = {"provider": "faiss", "config": {
            "collection_name": "peer", "path": os.path.join(tmp, "faiss"),
            "embedding_model_dims": dims, "distance_strategy": "cosine"}}
    else:
        store = {"provider": provider, "config": {
            "collection_name": "peer", "embedding_model_dims": dims, "path": os.path.join(tmp, "qdrant")}}
    return {
        "llm": {"provider": "openai", "config": {
            "model": "unused", "api_key": "local", "openai_base_url": "http://127.0.0.1:9/v1"}},
        "embedder": {"provider": "openai", "config": {
            "model": "all-MiniLM-L6-v2", "api_key": "local", "openai_base_url": "http://127.0.0.1:9/v1",
            "embedding_dims": dims}},
        "vector_store": store,
        "history_db_path": os.path.join(tmp, "history.db"),
    }


def search(mem, query, user):
    """Mem0 2.x takes the scope as filters and the count as top_k; 1.x as keywords."""
    try:
        return mem.search(query, filters={"user_id": user}, top_k=10)
    except TypeError:
        return mem.search(query, user_id=user, limit=10)


def run_config(provider, ops, embedder):
    from mem0 import Memory

    with tempfile.TemporaryDirectory(prefix=f"mem0-{provider}-") as tmp:
        os.environ["MEM0_DIR"] = tmp
        mem = Memory.from_config(mem0_config(tmp, provider, embedder.config.embedding_dims))
        mem.embedding_model = embedder
        add_ms, search_ms, hits = [], [], []
        for m in ops["memories"]:
            t = time.perf_counter()
            mem.add(m["text"], user_id=m["user_id"], infer=False)
            add_ms.append((time.perf_counter() - t) * 1e3)
        for q in ops["queries"]:
            t = time.perf_counter()
            r = search(mem, q["text"], q["user_id"])
            search_ms.append((time.perf_counter() - t) * 1e3)
            results = r.get("results", r) if isinstance(r, dict) else r
            hits.append([h["memory"] for h in results])
        try:
            mem.close()
        except Exception:  # older versions have no close()
            pass
    return {"name": f"Mem0 + {provider}", "add_ms": add_ms, "search_ms": search_ms, "hits": hits}


def cmd_ops(a):
    ops = make_ops(a.memories, a.users, a.queries)
    with open(a.out, "w") as f:
        json.dump(ops, f)
    print(f"{len(ops['memories'])} memories over {a.users} users, {len(ops['queries'])} queries -> {a.out}")


def cmd_run(a):
    import importlib.metadata
    import logging

    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    ops = json.load(open(a.ops))
    minilm = MiniLM(a.minilm)
    embedder = make_embedder(minilm)
    version = importlib.metadata.version("mem0ai")
    # The numpy embedder alone, for the breakdown.
    emb = []
    for q in ops["queries"]:
        t = time.perf_counter()
        minilm.embed(q["text"])
        emb.append((time.perf_counter() - t) * 1e3)
    configs = []
    for provider in a.providers.split(","):
        rec = run_config(provider, ops, embedder)
        print(f"{rec['name']}: add p50 {pct(rec['add_ms'], 0.5):.2f} ms, search p50 {pct(rec['search_ms'], 0.5):.2f} ms",
              flush=True)
        configs.append(rec)
    with open(a.out, "w") as f:
        json.dump({"mem0ai": version, "numpy_embed_ms": emb, "configs": configs}, f)


def pct(v, p):
    s = sorted(v)
    return s[round((len(s) - 1) * p)] if s else float("nan")


def cmd_compare(a):
    ours = json.load(open(a.memlayer))["configs"]
    theirs = json.load(open(a.mem0))
    rows = ours + theirs["configs"]
    ref = ours[0]
    print(f"mem0ai {theirs['mem0ai']}; {len(ref['add_ms'])} adds (infer=False, one per call), "
          f"{len(ref['search_ms'])} user-scoped searches (limit 10)")
    print(f"numpy MiniLM query embedding alone (Mem0's embedder here): p50 {pct(theirs['numpy_embed_ms'], 0.5):.2f} ms")
    print()
    print("| configuration | add p50 | add p95 | search p50 | search p95 | search p50 vs memlayer | add p50 vs memlayer |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        a50, a95 = pct(r["add_ms"], 0.5), pct(r["add_ms"], 0.95)
        s50, s95 = pct(r["search_ms"], 0.5), pct(r["search_ms"], 0.95)
        print(f"| {r['name']} | {a50:.2f} ms | {a95:.2f} ms | {s50:.2f} ms | {s95:.2f} ms | "
              f"{s50 / pct(ref['search_ms'], 0.5):.2f}× | {a50 / pct(ref['add_ms'], 0.5):.2f}× |")
    # Same memories found? Top-1 agreement with memlayer's default run.
    for r in theirs["configs"]:
        same = sum(1 for x, y in zip(ref["hits"], r["hits"]) if x[:1] == y[:1])
        print(f"\ntop-1 hit equal to memlayer's: {r['name']} {same}/{len(ref['hits'])}", end="")
    print()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    o = sub.add_parser("ops")
    o.add_argument("--out", required=True)
    o.add_argument("--memories", type=int, default=2000)
    o.add_argument("--users", type=int, default=20)
    o.add_argument("--queries", type=int, default=500)
    r = sub.add_parser("run")
    r.add_argument("--ops", required=True)
    r.add_argument("--minilm", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--providers", default="faiss,qdrant")
    c = sub.add_parser("compare")
    c.add_argument("memlayer")
    c.add_argument("mem0")
    a = p.parse_args()
    {"ops": cmd_ops, "run": cmd_run, "compare": cmd_compare}[a.cmd](a)


if __name__ == "__main__":
    main()
