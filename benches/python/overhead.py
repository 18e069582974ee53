"""Python-side overhead of the memlayer package: the same add(infer=False)
and search calls from Python (the installed wheel) and from Rust
(`peer-ops`, the Memory API in-process), same data, same run.

    python overhead.py --peer-ops target/release/peer-ops [--memories 1000 --queries 300 --rounds 2]

Both sides: a new database per configuration, all-MiniLM-L6-v2, query
cache off, one add per memory then one user-scoped search (limit 10) per
query, each call timed alone. The two sides go in lockstep: each call runs
in Rust (`peer-ops --lockstep`, a child process) and right after from
Python, so drift of the machine hits both alike. Prints medians per side
and the difference.
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


def lockstep(peer_ops, data, durability):
    """Each call once in Rust (peer-ops --lockstep, its own database) and
    right after once from Python (another new database): per-call times."""
    rust = subprocess.Popen(
        [peer_ops, "--lockstep", durability], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
    )
    times = {("rust", "add"): [], ("rust", "search"): [], ("python", "add"): [], ("python", "search"): []}
    calls = [("add", x) for x in data["memories"]] + [("search", q) for q in data["queries"]]
    with tempfile.TemporaryDirectory() as d:
        m = memlayer.Memory(os.path.join(d, "m.redb"), {"durability": durability, "search": {"query_cache": 0}})
        for op, x in calls:
            rust.stdin.write(json.dumps({"op": op, **x}) + "\n")
            rust.stdin.flush()
            times[("rust", op)].append(json.loads(rust.stdout.readline())["ms"])
            t = time.perf_counter()
            if op == "add":
                m.add(x["text"], user_id=x["user_id"], infer=False)
            else:
                m.search(x["text"], user_id=x["user_id"], limit=10)
            times[("python", op)].append((time.perf_counter() - t) * 1e3)
        m.close()
    rust.stdin.close()
    rust.wait()
    return times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer-ops", required=True)
    ap.add_argument("--memories", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    data = ops(a.memories, a.queries)
    acc = {}
    for _ in range(a.rounds):
        for k in ("immediate", "none"):
            for key, v in lockstep(a.peer_ops, data, k).items():
                acc.setdefault((k,) + key, []).extend(v)
    print(f"memlayer {memlayer.__version__}: {a.memories} adds + {a.queries} searches per side, {a.rounds} rounds")
    print("| durability | call | Rust p50 ms | Python p50 ms | added ms | added % | median of paired differences ms |")
    print("|---|---|---|---|---|---|---|")
    for k in ("immediate", "none"):
        for op in ("add", "search"):
            r50 = statistics.median(acc[(k, "rust", op)])
            p50 = statistics.median(acc[(k, "python", op)])
            paired = statistics.median(p - r for p, r in zip(acc[(k, "python", op)], acc[(k, "rust", op)]))
            print(
                f"| {k} | {op} | {r50:.3f} | {p50:.3f} | {p50 - r50:+.3f} | {100 * (p50 - r50) / r50:+.1f}% | {paired:+.3f} |"
            )


if __name__ == "__main__":
    main()
