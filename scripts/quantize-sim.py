#!/usr/bin/env python3
"""How far rounding MiniLM's weights (and activations) moves its embeddings.

A float64 numpy forward pass of sentence-transformers/all-MiniLM-L6-v2
(checked against ../shared/fixtures/minilm_reference.json first), run again
with every linear layer's weights and inputs rounded as each MODE says; it
prints the worst and mean cosine to the float64 embeddings over the
fixture's texts and four LOCOMO-like questions. The fast path must stay at
cosine >= 0.9999, so this says which weight formats could shrink the 21 MB
a query streams (docs/benchmarks.md, session 17).

Modes:
  f16                 weights in IEEE half (what the fast path stores)
  plain:WB:XB         weights per output, inputs per row, symmetric integers
                      with magnitudes up to 2^WB - 1 and 2^XB - 1
  gG:WB:XB            as plain, but one weight scale per G inputs

Usage (numpy, safetensors and tokenizers installed):
    python3 scripts/quantize-sim.py MODEL_DIR FIXTURE_JSON MODE...
"""
import json
import math
import sys

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer


def layer_norm(x, g, b, eps):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * g + b


def round_weights(w, bits, group=None):
    top = (1 << bits) - 1
    o, k = w.shape
    g = group or k
    kk = (k + g - 1) // g * g
    padded = np.zeros((o, kk))
    padded[:, :k] = w
    blocks = padded.reshape(o, kk // g, g)
    s = np.abs(blocks).max(2, keepdims=True) / top
    s[s == 0] = 1
    return (np.round(blocks / s) * s).reshape(o, kk)[:, :k]


def round_rows(x, bits):
    s = np.abs(x).max(1, keepdims=True) / ((1 << bits) - 1)
    s[s == 0] = 1
    return np.round(x / s) * s


def linear_for(w, mode):
    cache = {}

    def lin(x, name):
        wt, b = w[name + ".weight"], w[name + ".bias"]
        if mode == "f64":
            return x @ wt.T + b
        if mode == "f16":
            if name not in cache:
                cache[name] = wt.astype(np.float16).astype(np.float64)
            return x @ cache[name].T + b
        kind, wb, xb = mode.split(":")
        group = None if kind == "plain" else int(kind[1:])
        if name not in cache:
            cache[name] = round_weights(wt, int(wb), group)
        return round_rows(x, int(xb)) @ cache[name].T + b

    return lin


def embed(w, cfg, ids, lin):
    h, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    d, eps, n = h // heads, cfg["layer_norm_eps"], len(ids)
    x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][np.arange(n)]
         + w["embeddings.token_type_embeddings.weight"][0])
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    erf = np.vectorize(math.erf)
    for l in range(cfg["num_hidden_layers"]):
        p = "encoder.layer.%d." % l
        q, k, v = (lin(x, p + "attention.self." + s).reshape(n, heads, d).transpose(1, 0, 2)
                   for s in ("query", "key", "value"))
        s = q @ k.transpose(0, 2, 1) / math.sqrt(d)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(1, 0, 2).reshape(n, h)
        x = layer_norm(lin(ctx, p + "attention.output.dense") + x, w[p + "attention.output.LayerNorm.weight"],
                       w[p + "attention.output.LayerNorm.bias"], eps)
        t = lin(x, p + "intermediate.dense")
        t = 0.5 * t * (1 + erf(t / math.sqrt(2)))
        x = layer_norm(lin(t, p + "output.dense") + x, w[p + "output.LayerNorm.weight"],
                       w[p + "output.LayerNorm.bias"], eps)
    e = x.mean(0)
    return e / np.linalg.norm(e)


def main(model_dir, fixture, modes):
    cfg = json.load(open(model_dir + "/config.json"))
    raw = load_file(model_dir + "/model.safetensors")
    w = {(k[5:] if k.startswith("bert.") else k): v.astype(np.float64) for k, v in raw.items()}
    tok = Tokenizer.from_file(model_dir + "/tokenizer.json")
    tok.no_padding()
    tok.enable_truncation(256)
    ref = json.load(open(fixture))["cases"]
    texts = [c["text"] for c in ref] + [
        "what did caroline paint after the trip to lisbon last summer with her sister",
        "when did melanie go camping with her kids at the lake",
        "which colours did she choose for the sunrise over the old house",
        "Jon: I finally opened my dance studio downtown last week!",
    ]
    ids = [tok.encode(t).ids for t in texts]
    base = [embed(w, cfg, i, linear_for(w, "f64")) for i in ids]
    worst_ref = min(float(np.dot(np.array(c["embedding"]), b)) for c, b in zip(ref, base))
    if worst_ref < 0.99999:
        sys.exit("the float64 pass disagrees with the fixture (worst cosine %.7f)" % worst_ref)
    for mode in modes:
        lin = linear_for(w, mode)
        cos = [float(np.dot(embed(w, cfg, i, lin), b)) for i, b in zip(ids, base)]
        print("%-12s worst cosine %.7f  mean %.7f" % (mode, min(cos), sum(cos) / len(cos)))


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
