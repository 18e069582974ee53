#!/usr/bin/env python3
"""Side-by-side ANN benchmark: memlayer-index (ours) vs hnsw_rs, hnswlib
(chroma-hnswlib), faiss IndexHNSWFlat (+ IndexFlat, the exact ceiling) and
usearch, single thread, same M / ef_construction, on the datasets written
by benches/ann/prepare.py.

  benches/peers/ann_peers.py [--datasets fashion-mnist glove-50] [--queries 2000]
      [--rounds 3] [--m 16] [--efc 200] [--ef 10,16,24,32,48,64,96,128,256]
      [--engines ours,hnsw_rs,hnswlib,faiss,usearch,faiss-flat] [--out FILE.jsonl]

Every engine runs in its own worker process (peak RSS per engine), started
with OMP/MKL/OpenBLAS/rayon pinned to one thread. Indexes are built one
after another (single-threaded). Then, for every ef, each round queries
every engine in a rotated order, so machine noise hits all of them alike;
QPS, p50 and p99 are medians over the rounds. For the Python peers QPS is
timed on one batch call with one thread (their fastest path, no per-call
Python overhead); their p50/p99 come from a one-query-per-call loop. Ours
and hnsw_rs are timed one query per call (Rust, no overhead to hide).

Venv (ignored by git):
  python3 -m venv benches/peers/.venv-ann
  benches/peers/.venv-ann/bin/pip install numpy faiss-cpu usearch chroma-hnswlib
The Rust side: cargo build --release -p memlayer-benches --bin ann-bench
(found in $CARGO_TARGET_DIR or target/, or pass --bin PATH).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(os.environ.get("MEMLAYER_BENCH_DATA", Path.home() / ".cache/memlayer/bench-data"))
RUST_ENGINES = {"ours", "hnsw_rs"}
ONE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                               "RAYON_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")}


def rss_kb():
    out = {}
    for line in open("/proc/self/status"):
        if line.startswith(("VmHWM:", "VmRSS:")):
            k, v = line.split()[:2]
            out[k] = int(v)
    return out.get("VmHWM:", 0), out.get("VmRSS:", 0)


def read_fbin(path, max_rows=None):
    import numpy as np
    n, d = (int(x) for x in np.fromfile(path, dtype="<u4", count=2))
    a = np.fromfile(path, dtype="<f4", offset=8).reshape(n, d)
    return a if max_rows is None else a[:max_rows]


# ----------------------------------------------------------------- worker

def worker(engine, data_dir, max_queries, m, efc):
    import numpy as np
    meta = json.loads((data_dir / "meta.json").read_text())
    cosine = meta["metric"] in ("cosine", "angular")
    base = np.ascontiguousarray(read_fbin(data_dir / "base.fbin"), dtype=np.float32)
    query = np.ascontiguousarray(read_fbin(data_dir / "query.fbin", max_queries), dtype=np.float32)
    gk = int(np.fromfile(data_dir / "gt.ibin", dtype="<u4", count=2)[1])
    gt = np.fromfile(data_dir / "gt.ibin", dtype="<u4", offset=8).reshape(-1, gk)[: len(query)]
    if cosine and engine.startswith("faiss"):
        base = base / np.linalg.norm(base, axis=1, keepdims=True)
        query = query / np.linalg.norm(query, axis=1, keepdims=True)
        base, query = base.astype(np.float32), query.astype(np.float32)
    n, d = base.shape
    index = None

    def say(obj):
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    hwm, rss = rss_kb()
    say({"event": "loaded", "engine": engine, "dataset": meta["name"], "n": n, "dims": d,
         "queries": len(query), "peak_rss_kb": hwm, "rss_kb": rss})

    def build():
        if engine == "hnswlib":
            import hnswlib
            ix = hnswlib.Index(space="cosine" if cosine else "l2", dim=d)
            ix.init_index(max_elements=n, ef_construction=efc, M=m, random_seed=100)
            ix.add_items(base, np.arange(n), num_threads=1)
            return ix
        if engine in ("faiss", "faiss-flat"):
            import faiss
            faiss.omp_set_num_threads(1)
            metric = faiss.METRIC_INNER_PRODUCT if cosine else faiss.METRIC_L2
            if engine == "faiss-flat":
                ix = faiss.IndexFlatIP(d) if cosine else faiss.IndexFlatL2(d)
            else:
                ix = faiss.IndexHNSWFlat(d, m, metric)
                ix.hnsw.efConstruction = efc
            ix.add(base)
            return ix
        if engine == "usearch":
            from usearch.index import Index
            ix = Index(ndim=d, metric="cos" if cosine else "l2sq", dtype="f32",
                       connectivity=m, expansion_add=efc, expansion_search=64)
            ix.add(np.arange(n, dtype=np.uint64), base, threads=1)
            return ix
        raise SystemExit(f"unknown engine {engine}")

    def search_batch(ix, ef, k):
        if engine == "hnswlib":
            ix.set_ef(ef)
            labels, _ = ix.knn_query(query, k=k, num_threads=1)
            return labels
        if engine == "faiss":
            ix.hnsw.efSearch = ef
        if engine.startswith("faiss"):
            _, labels = ix.search(query, k)
            return labels
        ix.expansion_search = ef
        return ix.search(query, k, threads=1).keys

    def search_one(ix, q, ef, k):
        if engine == "hnswlib":
            return ix.knn_query(q[None, :], k=k, num_threads=1)[0][0]
        if engine.startswith("faiss"):
            return ix.search(q[None, :], k)[1][0]
        return ix.search(q, k, threads=1).keys

    for line in sys.stdin:
        words = line.split()
        if words == ["build"]:
            t = time.perf_counter()
            index = build()
            hwm, rss = rss_kb()
            say({"event": "built", "build_s": time.perf_counter() - t, "peak_rss_kb": hwm,
                 "rss_kb": rss})
        elif len(words) == 3 and words[0] == "search":
            ef, k = int(words[1]), int(words[2])
            t = time.perf_counter()
            labels = search_batch(index, ef, k)
            total = time.perf_counter() - t
            truth = gt[:, :k]
            hits = sum(len(set(map(int, labels[i][:k])) & set(map(int, truth[i])))
                       for i in range(len(query)))
            lat = []
            if engine == "hnswlib":
                index.set_ef(ef)
            if engine == "faiss":
                index.hnsw.efSearch = ef
            if engine == "usearch":
                index.expansion_search = ef
            t0 = time.perf_counter()
            for q in query:
                t = time.perf_counter()
                search_one(index, q, ef, k)
                lat.append((time.perf_counter() - t) * 1e6)
            loop_total = time.perf_counter() - t0
            lat.sort()
            say({"event": "search", "ef": ef, "qps": len(query) / total,
                 "loop_qps": len(query) / loop_total,
                 "p50_us": lat[len(lat) // 2], "p99_us": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
                 "recall": hits / (len(query) * k), "queries": len(query)})
        elif words == ["size"]:
            path = Path(f"/tmp/ann-peer-{os.getpid()}.idx")
            if engine == "hnswlib":
                index.save_index(str(path))
            elif engine.startswith("faiss"):
                import faiss
                faiss.write_index(index, str(path))
            else:
                index.save(str(path))
            size = path.stat().st_size
            path.unlink()
            say({"event": "size", "bytes": size})
        elif words == ["quit"]:
            hwm, rss = rss_kb()
            say({"event": "quit", "peak_rss_kb": hwm, "rss_kb": rss})
            return
        else:
            say({"event": "error", "line": line})


# ----------------------------------------------------------------- driver

class Proc:
    def __init__(self, engine, cmd):
        self.engine = engine
        env = dict(os.environ, **ONE_THREAD)
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  env=env, bufsize=1)
        self.loaded = self.read()

    def read(self):
        line = self.p.stdout.readline()
        if not line:
            raise SystemExit(f"{self.engine}: worker exited (rc {self.p.wait()})")
        return json.loads(line)

    def ask(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        r = self.read()
        if r.get("event") == "error":
            raise SystemExit(f"{self.engine}: {r}")
        return r


def find_bin(arg):
    if arg:
        return arg
    for base in (os.environ.get("CARGO_TARGET_DIR"), "target"):
        if base and (Path(base) / "release/ann-bench").exists():
            return str(Path(base) / "release/ann-bench")
    raise SystemExit("ann-bench not built: cargo build --release -p memlayer-benches --bin ann-bench")


def best_at(points, min_recall):
    ok = [p for p in points if p["recall"] >= min_recall]
    return max(ok, key=lambda p: p["qps"]) if ok else None


def run_dataset(name, args, out):
    data = ROOT / name
    if not (data / "gt.ibin").exists():
        raise SystemExit(f"{data}: run benches/ann/prepare.py {name} first")
    engines = args.engines.split(",")
    procs = []
    for e in engines:
        if e in RUST_ENGINES:
            cmd = [find_bin(args.bin), "worker", "--engine", e, "--data", str(data),
                   "--queries", str(args.queries), "--m", str(args.m), "--efc", str(args.efc)]
        else:
            cmd = [sys.executable, __file__, "--worker", e, "--data", str(data),
                   "--queries", str(args.queries), "--m", str(args.m), "--efc", str(args.efc)]
        procs.append(Proc(e, cmd))
    info = {p.engine: {"loaded": p.loaded} for p in procs}
    for p in procs:
        print(f"[{name}] building {p.engine} ...", file=sys.stderr, flush=True)
        info[p.engine]["built"] = p.ask("build")
        info[p.engine]["size"] = p.ask("size")["bytes"]
        print(f"[{name}]   {p.engine}: {info[p.engine]['built']['build_s']:.1f}s",
              file=sys.stderr, flush=True)
    efs = [int(x) for x in args.ef.split(",")]
    rows = {p.engine: [] for p in procs}
    for ef in efs:
        runs = {p.engine: [] for p in procs}
        for r in range(args.rounds):
            order = procs[r % len(procs):] + procs[:r % len(procs)]
            for p in order:
                if p.engine == "faiss-flat" and ef != efs[0]:
                    continue
                runs[p.engine].append(p.ask(f"search {ef} 10"))
        for e, rs in runs.items():
            if not rs:
                continue
            row = {"ef": ef, "recall": rs[0]["recall"],
                   "qps": statistics.median(x["qps"] for x in rs),
                   "p50_us": statistics.median(x["p50_us"] for x in rs),
                   "p99_us": statistics.median(x["p99_us"] for x in rs),
                   "qps_rounds": [round(x["qps"], 1) for x in rs]}
            if "loop_qps" in rs[0]:
                row["loop_qps"] = statistics.median(x["loop_qps"] for x in rs)
            rows[e].append(row)
            print(f"[{name}] ef={ef:4} {e:10} recall {row['recall']:.4f} qps {row['qps']:9.1f}",
                  file=sys.stderr, flush=True)
    for p in procs:
        info[p.engine]["quit"] = p.ask("quit")
        p.p.wait()
    result = {"dataset": name, "m": args.m, "efc": args.efc, "queries": args.queries,
              "rounds": args.rounds, "engines": info, "sweep": rows}
    if out:
        out.write(json.dumps(result) + "\n")
        out.flush()
    return result


def report(res):
    name = res["dataset"]
    print(f"\n### {name} (M={res['m']}, ef_construction={res['efc']}, "
          f"{res['queries']} queries, k=10, 1 thread, median of {res['rounds']} rounds)\n")
    print("| engine | build (s) | serialized (MB) | peak RSS (MB) | RSS after data load (MB) |")
    print("|---|---:|---:|---:|---:|")
    for e, i in res["engines"].items():
        print(f"| {e} | {i['built']['build_s']:.1f} | {i['size'] / 1e6:.1f} | "
              f"{i['quit']['peak_rss_kb'] / 1024:.0f} | {i['loaded']['rss_kb'] / 1024:.0f} |")
    print("\n| engine | ef | recall@10 | QPS | p50 (µs) | p99 (µs) |")
    print("|---|---:|---:|---:|---:|---:|")
    for e, rows in res["sweep"].items():
        for r in rows:
            print(f"| {e} | {r['ef']} | {r['recall']:.4f} | {r['qps']:.0f} | {r['p50_us']:.0f} | "
                  f"{r['p99_us']:.0f} |")
    print("\nBest QPS at recall@10 ≥ 0.95:\n")
    best = {e: best_at(rows, 0.95) for e, rows in res["sweep"].items()}
    print("| engine | ef | recall@10 | QPS |")
    print("|---|---:|---:|---:|")
    for e, b in best.items():
        if b:
            print(f"| {e} | {b['ef']} | {b['recall']:.4f} | {b['qps']:.0f} |")
        else:
            print(f"| {e} | – | < 0.95 in sweep | – |")
    ours = best.get("ours")
    for peer, goal in (("hnswlib", 1.0), ("hnsw_rs", 3.0)):
        if ours and best.get(peer):
            r = ours["qps"] / best[peer]["qps"]
            print(f"\nours ÷ {peer} QPS at recall ≥ 0.95: **{r:.2f}** (goal ≥ {goal})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker")
    ap.add_argument("--data")
    ap.add_argument("--datasets", nargs="*", default=["fashion-mnist", "glove-50"])
    ap.add_argument("--engines", default="ours,hnsw_rs,hnswlib,faiss,usearch,faiss-flat")
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--ef", default="10,16,24,32,48,64,96,128,256")
    ap.add_argument("--bin")
    ap.add_argument("--out")
    ap.add_argument("--report", help="only print the tables of a --out file")
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, Path(args.data), args.queries, args.m, args.efc)
    if args.report:
        for line in open(args.report):
            report(json.loads(line))
        return
    out = open(args.out, "a") if args.out else None
    for name in args.datasets:
        report(run_dataset(name, args, out))


if __name__ == "__main__":
    main()
