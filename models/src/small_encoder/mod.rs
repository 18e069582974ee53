//! The single-text fast path of [`crate::BertEmbedder`]: a BERT encoder
//! forward pass written for one short sequence (a search query), with the
//! weights unpacked once at load time.
//!
//! Why it exists: a query of 16 tokens through MiniLM-L6 is ~0.34 GFLOP,
//! yet through Candle it took 11–15 ms on 2 cores, most of it per-op
//! overhead (a new tensor per op, strided copies for 12 attention heads,
//! thread dispatch for tiny matmuls). Here every step writes into buffers
//! of the right shape and each linear layer's weights are packed in
//! 16-output panels read as sequential streams by a register-blocked
//! microkernel ([`linear`]: up to 6 tokens × 16 outputs of accumulators;
//! f16 weights on AVX2 + FMA + F16C where the CPU has them, f32 weights
//! and a portable loop otherwise).
//!
//! Two threads split each layer's *weights*, not its rows (see [`Layer`]):
//! a query of a few tokens is bound by streaming ~21 MB of weights from
//! cache or memory, so each core should stream half of them once. The
//! calling thread computes half 0, a helper thread ([`pair`]) half 1, and
//! the two meet twice per layer to add their partial sums.
//!
//! Same arithmetic as the Candle path (f32 accumulation, exact-erf GELU,
//! LayerNorm with the model's epsilon); the tests check it against Candle
//! and the reference fixture. Batches keep one text per thread.

mod attention;
mod linear;
mod math;
mod pair;

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use candle_core::{Device, Tensor};

use crate::error::{ModelError, Result};
use attention::{Attention, KEYS, context, scores};
use linear::{Linear, PANEL};
use math::{gelu, layer_norm, softmax};
use pair::{Exchange, Pair};

/// One encoder layer, its weights in two halves that two threads compute
/// side by side, each reading only its own half:
///
/// - attention: half `p` has the Q/K/V outputs of its heads (a contiguous
///   range of them), attends with those heads, and multiplies its heads'
///   context columns by the matching *input* columns of the output
///   projection: a partial sum of the projection;
/// - feed-forward: half `p` has a range of the intermediate outputs, and
///   the matching input columns of the down projection: again a partial
///   sum.
///
/// After each of the two steps the halves meet: `x = LayerNorm(x + part₀ +
/// part₁ + bias)`, computed by both (the same bits), so each continues
/// with the whole hidden state.
struct Layer {
    halves: [Half; 2],
    out_b: Vec<f32>,
    ln1: (Vec<f32>, Vec<f32>),
    down_b: Vec<f32>,
    ln2: (Vec<f32>, Vec<f32>),
}

/// One half of a [`Layer`]'s weights (PyTorch layout in, panels inside).
struct Half {
    /// The model's index of this half's first head.
    head0: usize,
    /// Attention heads of this half.
    heads: usize,
    /// Q, K then V outputs of this half's heads (`3 · heads · d`), biased.
    qkv: Linear,
    /// Output projection restricted to this half's context columns
    /// (`hidden` outputs, no bias: added once when the halves meet).
    out: Linear,
    /// This half's intermediate outputs, biased.
    inter: Linear,
    /// Down projection restricted to this half's intermediate inputs
    /// (`hidden` outputs, no bias).
    down: Linear,
}

/// One layer's weights as the checkpoint stores them (`[out][in]`).
struct Full {
    /// Q, K and V stacked (`3·hidden × hidden`) and their biases.
    qkv: (Vec<f32>, Vec<f32>),
    out: (Vec<f32>, Vec<f32>),
    ln1: (Vec<f32>, Vec<f32>),
    inter: (Vec<f32>, Vec<f32>),
    down: (Vec<f32>, Vec<f32>),
    ln2: (Vec<f32>, Vec<f32>),
}

impl Layer {
    /// Splits a layer's weights in halves: heads `0..⌈heads/2⌉` and the
    /// first intermediate outputs up to a panel boundary near the middle go
    /// to half 0, the rest to half 1.
    fn split(f: Full, hidden: usize, heads: usize) -> Layer {
        let (h, d) = (hidden, hidden / heads);
        let i = f.inter.1.len();
        let heads0 = heads.div_ceil(2);
        let cols = [0..heads0 * d, heads0 * d..h];
        let i0 = ((i / 2).div_ceil(PANEL) * PANEL).min(i);
        let inter = [0..i0, i0..i];
        let half = |p: usize| {
            let c = cols[p].clone();
            let mut qkv_w = Vec::with_capacity(3 * c.len() * h);
            let mut qkv_b = Vec::with_capacity(3 * c.len());
            for part in 0..3 {
                let outs = part * h + c.start..part * h + c.end;
                qkv_w.extend(rows(&f.qkv.0, h, outs.clone()));
                qkv_b.extend_from_slice(&f.qkv.1[outs]);
            }
            Half {
                head0: c.start / d,
                heads: c.len() / d,
                qkv: Linear::new(&qkv_w, qkv_b),
                out: Linear::new(&columns(&f.out.0, h, c), vec![0.0; h]),
                inter: Linear::new(
                    rows(&f.inter.0, h, inter[p].clone()),
                    f.inter.1[inter[p].clone()].to_vec(),
                ),
                down: Linear::new(&columns(&f.down.0, i, inter[p].clone()), vec![0.0; h]),
            }
        };
        Layer {
            halves: [half(0), half(1)],
            out_b: f.out.1,
            ln1: f.ln1,
            down_b: f.down.1,
            ln2: f.ln2,
        }
    }
}

/// Output rows `r` of a `[out][k]` matrix.
fn rows(w: &[f32], k: usize, r: Range<usize>) -> &[f32] {
    &w[r.start * k..r.end * k]
}

/// Input columns `c` of a `[out][k]` matrix, as a `[out][c.len()]` matrix.
fn columns(w: &[f32], k: usize, c: Range<usize>) -> Vec<f32> {
    w.chunks_exact(k.max(1))
        .flat_map(|row| row[c.clone()].iter().copied())
        .collect()
}

/// Everything a pass reads, shared with the helper thread.
struct Weights {
    hidden: usize,
    heads: usize,
    eps: f32,
    max_pos: usize,
    word: Vec<f32>,
    pos: Vec<f32>,
    /// Position of the first token in `pos` (0 for BERT; MPNet counts
    /// from its padding id + 1).
    pos_offset: usize,
    /// Token-type 0 embedding (queries are single segments; zeros for
    /// MPNet, which has none).
    type0: Vec<f32>,
    emb_ln: (Vec<f32>, Vec<f32>),
    layers: Vec<Layer>,
    /// MPNet's relative-position attention bias, shared by every layer.
    rel: Option<RelativeBias>,
}

/// MPNet's attention bias by relative position: T5-style buckets (half
/// for each direction, exact up to a quarter of the buckets, then
/// logarithmic up to `max_distance`), one learned value per bucket and head.
struct RelativeBias {
    /// `buckets × heads`, row-major.
    table: Vec<f32>,
    buckets: usize,
    max_distance: usize,
}

impl RelativeBias {
    /// The bucket of key position minus query position `rel`, as
    /// `MPNetEncoder.relative_position_bucket` computes it.
    fn bucket(&self, rel: i64) -> usize {
        let half = self.buckets / 2;
        let n = -rel;
        let mut ret = if n < 0 { half } else { 0 };
        let n = n.unsigned_abs() as usize;
        let max_exact = half / 2;
        ret += if n < max_exact {
            n
        } else {
            let ratio = (n as f32 / max_exact as f32).ln()
                / (self.max_distance as f32 / max_exact as f32).ln();
            // Truncation toward zero, as `.to(torch.long)`.
            (max_exact + (ratio * (half - max_exact) as f32) as usize).min(half - 1)
        };
        ret
    }
}

/// A BERT encoder for one sequence at a time (see the module docs).
pub(crate) struct SmallEncoder {
    w: Arc<Weights>,
    /// The helper thread for half 1; `None` on one core or when turned off.
    pair: Option<Pair>,
}

/// The encoder families the fast path runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Arch {
    /// BERT: absolute positions from 0, token-type embeddings.
    Bert,
    /// MPNet: positions from `pad_id + 1`, no token types, attention
    /// biased by relative position (`buckets` buckets up to distance 128).
    MpNet { pad_id: usize, buckets: usize },
}

/// The shape facts the fast path needs from `config.json`.
pub(crate) struct Shape {
    pub arch: Arch,
    pub hidden: usize,
    pub heads: usize,
    pub inter: usize,
    pub layers: usize,
    pub eps: f64,
    pub max_pos: usize,
}

impl SmallEncoder {
    /// Unpacks the weights from a safetensors buffer; `None` when the
    /// buffer does not parse or a tensor is missing or mis-shaped (the
    /// caller then keeps the Candle path, whose loader reports the error).
    /// `two_threads` allows the helper thread (see [`SmallEncoder::new`]).
    pub(crate) fn load(weights: &[u8], shape: &Shape, two_threads: bool) -> Option<SmallEncoder> {
        if shape.heads == 0 || !shape.hidden.is_multiple_of(shape.heads) {
            return None;
        }
        // Relative buckets need both directions and an exact range.
        if let Arch::MpNet { buckets, .. } = shape.arch
            && buckets < 4
        {
            return None;
        }
        let tensors = candle_core::safetensors::load_buffer(weights, &Device::Cpu).ok()?;
        let prefix = ["", "bert.", "model."]
            .into_iter()
            .find(|p| tensors.contains_key(&format!("{p}embeddings.word_embeddings.weight")))?;
        let get = |name: &str, len: usize| -> Option<Vec<f32>> {
            get_tensor(&tensors, &format!("{prefix}{name}"), len)
        };
        let ln = |name: &str| -> Option<(Vec<f32>, Vec<f32>)> {
            let g = get(&format!("{name}.weight"), shape.hidden)
                .or_else(|| get(&format!("{name}.gamma"), shape.hidden))?;
            let b = get(&format!("{name}.bias"), shape.hidden)
                .or_else(|| get(&format!("{name}.beta"), shape.hidden))?;
            Some((g, b))
        };
        let (h, i) = (shape.hidden, shape.inter);
        let linear = |name: &str, outs: usize, ins: usize| -> Option<(Vec<f32>, Vec<f32>)> {
            Some((
                get(&format!("{name}.weight"), outs * ins)?,
                get(&format!("{name}.bias"), outs)?,
            ))
        };
        let word = tensors
            .get(&format!("{prefix}embeddings.word_embeddings.weight"))
            .and_then(|t| t.flatten_all().ok()?.to_vec1::<f32>().ok())
            .filter(|w| w.len() % h == 0)?;
        let pos = get("embeddings.position_embeddings.weight", shape.max_pos * h)?;
        let mpnet = matches!(shape.arch, Arch::MpNet { .. });
        let type0 = if mpnet {
            vec![0.0; h]
        } else {
            tensors
                .get(&format!("{prefix}embeddings.token_type_embeddings.weight"))
                .and_then(|t| t.flatten_all().ok()?.to_vec1::<f32>().ok())
                .filter(|w| w.len() >= h)?[..h]
                .to_vec()
        };
        // Tensor names: BERT's, or MPNet's (`attention.attn.{q,k,v,o}`,
        // `attention.LayerNorm`).
        let (qkv_names, out_name, ln1_name) = if mpnet {
            (["attn.q", "attn.k", "attn.v"], "attn.o", "LayerNorm")
        } else {
            (
                ["self.query", "self.key", "self.value"],
                "output.dense",
                "output.LayerNorm",
            )
        };
        let mut layers = Vec::with_capacity(shape.layers);
        for l in 0..shape.layers {
            let p = format!("encoder.layer.{l}");
            let (mut qkv_w, mut qkv_b) = (Vec::with_capacity(3 * h * h), Vec::new());
            for part in qkv_names {
                let (w, b) = linear(&format!("{p}.attention.{part}"), h, h)?;
                qkv_w.extend(w);
                qkv_b.extend(b);
            }
            let full = Full {
                qkv: (qkv_w, qkv_b),
                out: linear(&format!("{p}.attention.{out_name}"), h, h)?,
                ln1: ln(&format!("{p}.attention.{ln1_name}"))?,
                inter: linear(&format!("{p}.intermediate.dense"), i, h)?,
                down: linear(&format!("{p}.output.dense"), h, i)?,
                ln2: ln(&format!("{p}.output.LayerNorm"))?,
            };
            layers.push(Layer::split(full, h, shape.heads));
        }
        let (pos_offset, rel) = match shape.arch {
            Arch::Bert => (0, None),
            Arch::MpNet { pad_id, buckets } => {
                let table = get(
                    "encoder.relative_attention_bias.weight",
                    buckets * shape.heads,
                )?;
                let rel = RelativeBias {
                    table,
                    buckets,
                    max_distance: 128,
                };
                (pad_id.saturating_add(1), Some(rel))
            }
        };
        let w = Weights {
            hidden: h,
            heads: shape.heads,
            eps: shape.eps as f32,
            max_pos: shape.max_pos,
            word,
            pos,
            pos_offset,
            type0,
            emb_ln: ln("embeddings.LayerNorm")?,
            layers,
            rel,
        };
        Some(SmallEncoder::new(w, two_threads))
    }

    /// An encoder over `w`, with a helper thread when `two_threads` and
    /// the thread pool has at least two threads.
    fn new(w: Weights, two_threads: bool) -> SmallEncoder {
        let w = Arc::new(w);
        let pair = (two_threads && rayon::current_num_threads() >= 2)
            .then(|| Pair::start(Arc::clone(&w)))
            .flatten();
        SmallEncoder { w, pair }
    }

    /// Hidden states (`ids.len() × hidden`, row-major) of one sequence,
    /// with the helper thread when it is free.
    pub(crate) fn forward(&self, ids: &[u32]) -> Result<Vec<f32>> {
        let mut x = self.w.embed(ids)?;
        let n = ids.len();
        let helped = self
            .pair
            .as_ref()
            .is_some_and(|pair| pair.run(&self.w, &mut x, n));
        if !helped {
            self.w.pass_alone(&mut x, n);
        }
        Ok(x)
    }

    /// [`SmallEncoder::forward`] on the calling thread only (for batches,
    /// which already give each thread a text of its own).
    pub(crate) fn forward_alone(&self, ids: &[u32]) -> Result<Vec<f32>> {
        let mut x = self.w.embed(ids)?;
        self.w.pass_alone(&mut x, ids.len());
        Ok(x)
    }
}

impl Weights {
    /// The embedding step: word + position + type 0, LayerNorm.
    fn embed(&self, ids: &[u32]) -> Result<Vec<f32>> {
        let (n, h) = (ids.len(), self.hidden);
        let most = self.max_pos.saturating_sub(self.pos_offset);
        if n == 0 || n > most {
            return Err(ModelError::InvalidArgument(format!(
                "sequence of {n} tokens: the encoder takes 1..={most}"
            )));
        }
        let vocab = self.word.len() / h;
        let mut x = vec![0f32; n * h];
        for (r, &id) in ids.iter().enumerate() {
            let id = id as usize;
            if id >= vocab {
                return Err(ModelError::InvalidArgument(format!(
                    "token id {id} outside the vocabulary of {vocab}"
                )));
            }
            let row = &mut x[r * h..(r + 1) * h];
            let at = r + self.pos_offset;
            let (w, p) = (&self.word[id * h..][..h], &self.pos[at * h..][..h]);
            for j in 0..h {
                row[j] = w[j] + p[j] + self.type0[j];
            }
        }
        layer_norm(&mut x, h, &self.emb_ln, self.eps);
        Ok(x)
    }

    /// The encoder layers over `x` (`n` rows, in place), both halves of
    /// each step on this thread.
    fn pass_alone(&self, x: &mut [f32], n: usize) {
        with_scratch(|s| {
            self.relative_buckets(n, &mut s.work.buckets);
            for l in &self.layers {
                for step in 0..2 {
                    self.half(l, 0, step, x, n, &mut s.work, &mut s.parts[0]);
                    self.half(l, 1, step, x, n, &mut s.work, &mut s.parts[1]);
                    self.meet(l, step, x, &s.parts[0], &s.parts[1]);
                }
            }
        });
    }

    /// The encoder layers over `x` (`n` rows, in place) computing half
    /// `me` of each step, the other half's partial sums coming through
    /// `ex` from the other thread.
    fn pass_half(&self, x: &mut [f32], n: usize, me: usize, ex: &Exchange) {
        with_scratch(|s| {
            self.relative_buckets(n, &mut s.work.buckets);
            for (i, l) in self.layers.iter().enumerate() {
                for step in 0..2 {
                    let count = (2 * i + step + 1) as u32;
                    ex.publish(me, count, |part| {
                        self.half(l, me, step, x, n, &mut s.work, part)
                    });
                    ex.meet(me, count, |a, b| self.meet(l, step, x, a, b));
                }
            }
        });
    }

    /// Half `p` of step `step` (0: attention with the output projection,
    /// 1: the feed-forward) over `x`: its partial sums into `part`
    /// (`n × hidden`).
    #[allow(clippy::too_many_arguments)]
    fn half(
        &self,
        l: &Layer,
        p: usize,
        step: usize,
        x: &[f32],
        n: usize,
        work: &mut Work,
        part: &mut Vec<f32>,
    ) {
        let half = &l.halves[p];
        part.resize(n * self.hidden, 0.0);
        if step == 0 {
            half.qkv.apply(x, n, &mut work.qkv);
            let qkv = &work.qkv;
            self.attention(half.head0, half.heads, qkv, &work.buckets, n, &mut work.at);
            half.out.apply_into(&work.at.ctx, n, part);
        } else {
            half.inter.apply(x, n, &mut work.inter);
            work.inter.iter_mut().for_each(|v| *v = gelu(*v));
            half.down.apply_into(&work.inter, n, part);
        }
    }

    /// Where the halves meet after `step`: `x = LayerNorm(x + a + b +
    /// bias)`, row by row.
    fn meet(&self, l: &Layer, step: usize, x: &mut [f32], a: &[f32], b: &[f32]) {
        let (bias, ln) = if step == 0 {
            (&l.out_b, &l.ln1)
        } else {
            (&l.down_b, &l.ln2)
        };
        let h = self.hidden;
        for ((xr, ar), br) in x.chunks_mut(h).zip(a.chunks(h)).zip(b.chunks(h)) {
            for (((v, a), b), c) in xr.iter_mut().zip(ar).zip(br).zip(bias) {
                *v += (a + b) + c;
            }
        }
        layer_norm(x, h, ln, self.eps);
    }

    /// MPNet's bucket of each key-minus-query offset of an `n`-token
    /// pass, from -(n-1) to n-1, into `out` (computed once per pass; left
    /// empty for BERT).
    fn relative_buckets(&self, n: usize, out: &mut Vec<usize>) {
        out.clear();
        if let Some(rel) = &self.rel {
            out.extend((0..2 * n.max(1) - 1).map(|o| rel.bucket(o as i64 - (n as i64 - 1))));
        }
    }

    /// Self-attention of the `heads` heads from `head0` over their fused
    /// `qkv` (`n` rows of Q, K then V, each `heads · d` wide), for every
    /// row, into `at.ctx` (`n × heads · d`). No padding: every token
    /// attends to every token. MPNet adds its relative-position bias to
    /// the scores. `buckets` comes from [`Weights::relative_buckets`] for
    /// `n`.
    ///
    /// Each head's keys are first transposed and scaled into `at.kt`
    /// (`d × n`, rows padded with zeros to whole blocks of [`KEYS`]), so a
    /// query's scores are multiply-adds of whole key rows into register
    /// accumulators (no horizontal sums, no store-to-load chains), and its
    /// context is multiply-adds of value rows into 32-wide register
    /// accumulators.
    fn attention(
        &self,
        head0: usize,
        heads: usize,
        qkv: &[f32],
        buckets: &[usize],
        n: usize,
        at: &mut Attention,
    ) {
        let d = self.hidden / self.heads;
        let w = heads * d;
        let scale = 1.0 / (d as f32).sqrt();
        let np = n.div_ceil(KEYS) * KEYS;
        let Attention { ctx, kt, probs } = at;
        ctx.clear();
        ctx.resize(n * w, 0.0);
        kt.clear();
        kt.resize(d * np, 0.0);
        probs.clear();
        probs.resize(n, 0.0);
        for head in 0..heads {
            let off = head * d;
            // Row by row of the transpose: contiguous stores, strided loads.
            for (t, row) in kt.chunks_exact_mut(np).enumerate() {
                for (j, v) in row.iter_mut().take(n).enumerate() {
                    *v = qkv[j * 3 * w + w + off + t] * scale;
                }
            }
            for i in 0..n {
                let q = &qkv[i * 3 * w + off..][..d];
                scores(q, kt, np, probs);
                if let Some(rel) = &self.rel {
                    // Query i's bias toward key j is bucket[j - i + n - 1].
                    let g = head0 + head;
                    for (j, pj) in probs.iter_mut().enumerate() {
                        *pj += rel.table[buckets[j + n - 1 - i] * self.heads + g];
                    }
                }
                softmax(probs);
                let out = &mut ctx[i * w + off..][..d];
                let values = |j: usize| &qkv[j * 3 * w + 2 * w + off..][..d];
                context(probs, values, out);
            }
        }
    }
}

thread_local! {
    /// This thread's [`Scratch`], reused across passes (taken while in
    /// use: a pass nested on the same thread gets fresh buffers).
    static SCRATCH: std::cell::Cell<Scratch> = std::cell::Cell::default();
}

/// Runs `f` with this thread's reusable [`Scratch`].
fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    let mut s = SCRATCH.take();
    let r = f(&mut s);
    SCRATCH.set(s);
    r
}

/// Per-thread buffers of a pass.
#[derive(Default)]
struct Scratch {
    work: Work,
    /// Both halves' partial sums when one thread computes both.
    parts: [Vec<f32>; 2],
}

/// The intermediate buffers of one half-step.
#[derive(Default)]
struct Work {
    /// MPNet's relative-position buckets of this pass.
    buckets: Vec<usize>,
    qkv: Vec<f32>,
    at: Attention,
    inter: Vec<f32>,
}

fn get_tensor(tensors: &HashMap<String, Tensor>, name: &str, len: usize) -> Option<Vec<f32>> {
    let v = tensors
        .get(name)?
        .to_dtype(candle_core::DType::F32)
        .ok()?
        .flatten_all()
        .ok()?
        .to_vec1::<f32>()
        .ok()?;
    (v.len() == len).then_some(v)
}

#[cfg(test)]
mod tests;
