#!/usr/bin/env python3
"""An independent float32/float64 numpy forward pass of sentence-transformers
all-mpnet-base-v2 (MPNet: BERT plus T5-style relative-position attention
buckets; mean pooling; L2 normalisation), written from the Hugging Face
`modeling_mpnet` semantics. It produces tests/fixtures/mpnet_reference.json,
against which the Rust fast path is checked (cosine >= 0.9999).

Usage (numpy, tokenizers and safetensors installed):
    python3 scripts/mpnet-reference.py MODEL_DIR TEXTS_FILE > tests/fixtures/mpnet_reference.json
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


def gelu(x):
    from math import erf
    return 0.5 * x * (1.0 + np.vectorize(erf)(x / math.sqrt(2.0)))


def bucket(rel, num_buckets=32, max_distance=128):
    ret = 0
    n = -rel
    num_buckets //= 2
    if n < 0:
        ret += num_buckets
    n = abs(n)
    max_exact = num_buckets // 2
    if n < max_exact:
        return ret + n
    large = max_exact + int(math.log(n / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact))
    return ret + min(large, num_buckets - 1)


def embed(w, cfg, ids):
    h, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    d = h // heads
    eps = cfg["layer_norm_eps"]
    pad = cfg["pad_token_id"]
    n = len(ids)
    pos = np.arange(n) + pad + 1
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][pos]
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    table = w["encoder.relative_attention_bias.weight"]  # [buckets, heads]
    rel = np.array([[bucket(j - i, cfg["relative_attention_num_buckets"]) for j in range(n)] for i in range(n)])
    bias = table[rel].transpose(2, 0, 1)  # [heads, q, k]
    for l in range(cfg["num_hidden_layers"]):
        p = "encoder.layer.%d." % l
        lin = lambda t, name: t @ w[p + name + ".weight"].T + w[p + name + ".bias"]
        q = lin(x, "attention.attn.q").reshape(n, heads, d).transpose(1, 0, 2)
        k = lin(x, "attention.attn.k").reshape(n, heads, d).transpose(1, 0, 2)
        v = lin(x, "attention.attn.v").reshape(n, heads, d).transpose(1, 0, 2)
        s = q @ k.transpose(0, 2, 1) / math.sqrt(d) + bias
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(1, 0, 2).reshape(n, h)
        x = layer_norm(lin(ctx, "attention.attn.o") + x, w[p + "attention.LayerNorm.weight"],
                       w[p + "attention.LayerNorm.bias"], eps)
        t = gelu(lin(x, "intermediate.dense"))
        x = layer_norm(lin(t, "output.dense") + x, w[p + "output.LayerNorm.weight"],
                       w[p + "output.LayerNorm.bias"], eps)
    v = x.mean(0)
    return v / np.linalg.norm(v)


def main(model_dir, texts_file):
    cfg = json.load(open(model_dir + "/config.json"))
    w = {k: v.astype(np.float64) for k, v in load_file(model_dir + "/model.safetensors").items()}
    tok = Tokenizer.from_file(model_dir + "/tokenizer.json")
    tok.no_padding()
    tok.enable_truncation(384)
    cases = []
    for text in [t for t in open(texts_file).read().split("\n") if t.strip()]:
        ids = tok.encode(text).ids
        e = embed(w, cfg, ids)
        cases.append({"text": text, "tokens": len(ids), "embedding": [round(float(a), 7) for a in e]})
    json.dump({"model": "sentence-transformers/all-mpnet-base-v2", "pooling": "mean", "normalize": True,
               "max_seq_length": 384, "generator": "scripts/mpnet-reference.py (numpy, float64)",
               "cases": cases}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
