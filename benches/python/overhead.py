"""Python-side overhead of the memlayer package: the same add(infer=False)
and search calls from Python (the installed wheel) and from Rust
(`peer-ops`, the Memory API in-process), same data, same run.

    python overhead.py --peer-ops target/release/peer-ops [--memories 1000 --queries 300 --rounds 2]

Both sides: a new database per configuration, all-MiniLM-L6-v2, query
cache off, one add per memory then one user-scoped search (limit 10) per
query, each call timed alone. Rounds alternate Rust and Python so drift of
the machine hits both. Prints medians per side and the difference.
"""

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time

import memlayer

TOPICS = ["hiking", "jazz", "cooking", "chess", "sailing", "painting", "running", "gardening", "poetry", "cycling"]
CITIES = ["Lisbon", "Oslo", "Kyoto", "Lima", "Cairo", "Quebec", "Perth", "Bergen", "Porto", "Austin"]


def ops(n_mem, n_q):
    mems = [
        {"user_id": f"user{i % 10}", "text": f"Note {i}: likes {TOPICS[i % 10]} and visited {CITIES[(i * 7) % 10]} in {1990 + i % 30}"}
        for i in range(n_mem)
    ]
    qs = [{"user_id": f"user{i % 10}", "text": f"what about {TOPICS[(i * 3) % 10]} in {CITIES[i % 10]}?"} for i in range(n_q)]
    return {"memories": mems, "queries": qs}


def python_side(data, durability):
    with tempfile.TemporaryDirectory() as d:
        m = memlayer.Memory(os.path.join(d, "m.redb"), {"durability": durability, "search": {"query_cache": 0}})
        add_ms, search_ms = [], []
        for x in data["memories"]:
            t = time.perf_counter()
            m.add(x["text"], user_id=x["user_id"], infer=False)
            add_ms.append((time.perf_counter() - t) * 1e3)
        for q in data["queries"]:
            t = time.perf_counter()
            m.search(q["text"], user_id=q["user_id"], limit=10)
            search_ms.append((time.perf_counter() - t) * 1e3)
        m.close()
    return add_ms, search_ms


def rust_side(peer_ops, path):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.json")
        subprocess.run([peer_ops, "--input", path, "--out", out], check=True, stderr=subprocess.DEVNULL)
        with open(out) as f:
            configs = json.load(f)["configs"]
    return {c["name"]: (c["add_ms"], c["search_ms"]) for c in configs}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer-ops", required=True)
    ap.add_argument("--memories", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    data = ops(a.memories, a.queries)
    fd, path = tempfile.mkstemp(suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    names = {"immediate": "memlayer (fsync per add)", "none": "memlayer (no fsync)"}
    acc = {(k, side, op): [] for k in names for side in ("rust", "python") for op in ("add", "search")}
    for r in range(a.rounds):
        rust = rust_side(a.peer_ops, path)
        for k, name in names.items():
            ra, rs = rust[name]
            pa, ps = python_side(data, k)
            acc[(k, "rust", "add")] += ra
            acc[(k, "rust", "search")] += rs
            acc[(k, "python", "add")] += pa
            acc[(k, "python", "search")] += ps
    os.unlink(path)
    print(f"memlayer {memlayer.__version__}: {a.memories} adds + {a.queries} searches per side, {a.rounds} rounds")
    print("| durability | call | Rust p50 ms | Python p50 ms | added ms | added % |")
    print("|---|---|---|---|---|---|")
    for k in names:
        for op in ("add", "search"):
            r50 = statistics.median(acc[(k, "rust", op)])
            p50 = statistics.median(acc[(k, "python", op)])
            print(f"| {k} | {op} | {r50:.3f} | {p50:.3f} | {p50 - r50:+.3f} | {100 * (p50 - r50) / r50:+.1f}% |")


if __name__ == "__main__":
    main()
