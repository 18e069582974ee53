//! The single-text fast path of [`crate::BertEmbedder`]: a BERT encoder
//! forward pass written for one short sequence (a search query), with the
//! weights unpacked once at load time.
//!
//! Why it exists: a query of 16 tokens through MiniLM-L6 is ~0.34 GFLOP,
//! yet through Candle it took 11–15 ms on 2 cores, most of it per-op
//! overhead (a new tensor per op, strided copies for 12 attention heads,
//! thread dispatch for tiny matmuls). Here every step writes into buffers
//! of the right shape, Q/K/V are one fused projection, and each linear
//! layer's weights are packed in 16-output panels read as sequential
//! streams by a register-blocked microkernel (up to 4 tokens × 16 outputs
//! of accumulators; f16 weights on AVX2 + FMA + F16C where the CPU has
//! them, f32 weights and a portable loop otherwise). A sequence of 4 or
//! more tokens is split into two row halves on two threads, which meet
//! once per layer (attention needs every row's keys and values).
//!
//! Same arithmetic as the Candle path (f32 throughout, exact-erf GELU,
//! LayerNorm with the model's epsilon); the tests check it against Candle
//! and the reference fixture. Batches keep using Candle, whose large
//! matmuls are efficient.

use std::collections::HashMap;

use candle_core::{Device, Tensor};

use crate::error::{ModelError, Result};

/// One encoder layer's weights, PyTorch layout (`[out][in]`).
struct Layer {
    /// Q, K and V stacked into one projection of `3·hidden` outputs.
    qkv: Linear,
    out: Linear,
    ln1: (Vec<f32>, Vec<f32>),
    inter: Linear,
    down: Linear,
    ln2: (Vec<f32>, Vec<f32>),
}

/// A BERT encoder for one sequence at a time (see the module docs).
pub(crate) struct SmallEncoder {
    hidden: usize,
    heads: usize,
    eps: f32,
    max_pos: usize,
    word: Vec<f32>,
    pos: Vec<f32>,
    /// Token-type 0 embedding (queries are single segments).
    type0: Vec<f32>,
    emb_ln: (Vec<f32>, Vec<f32>),
    layers: Vec<Layer>,
    /// Split a sequence's rows over two threads (see [`split_rows`]).
    two_threads: bool,
}

/// The shape facts the fast path needs from `config.json`.
pub(crate) struct Shape {
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
    pub(crate) fn load(weights: &[u8], shape: &Shape) -> Option<SmallEncoder> {
        if shape.heads == 0 || !shape.hidden.is_multiple_of(shape.heads) {
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
        let build = || -> Option<SmallEncoder> {
            let word = tensors
                .get(&format!("{prefix}embeddings.word_embeddings.weight"))
                .and_then(|t| t.flatten_all().ok()?.to_vec1::<f32>().ok())
                .filter(|w| w.len() % h == 0)?;
            let pos = get("embeddings.position_embeddings.weight", shape.max_pos * h)?;
            let types = tensors
                .get(&format!("{prefix}embeddings.token_type_embeddings.weight"))
                .and_then(|t| t.flatten_all().ok()?.to_vec1::<f32>().ok())
                .filter(|w| w.len() >= h)?;
            let mut layers = Vec::with_capacity(shape.layers);
            for l in 0..shape.layers {
                let p = format!("encoder.layer.{l}");
                let mut qkv_w = Vec::with_capacity(3 * h * h);
                let mut qkv_b = Vec::with_capacity(3 * h);
                for part in ["query", "key", "value"] {
                    qkv_w.extend(get(&format!("{p}.attention.self.{part}.weight"), h * h)?);
                    qkv_b.extend(get(&format!("{p}.attention.self.{part}.bias"), h)?);
                }
                layers.push(Layer {
                    qkv: Linear::new(&qkv_w, qkv_b),
                    out: Linear::new(
                        &get(&format!("{p}.attention.output.dense.weight"), h * h)?,
                        get(&format!("{p}.attention.output.dense.bias"), h)?,
                    ),
                    ln1: ln(&format!("{p}.attention.output.LayerNorm"))?,
                    inter: Linear::new(
                        &get(&format!("{p}.intermediate.dense.weight"), i * h)?,
                        get(&format!("{p}.intermediate.dense.bias"), i)?,
                    ),
                    down: Linear::new(
                        &get(&format!("{p}.output.dense.weight"), h * i)?,
                        get(&format!("{p}.output.dense.bias"), h)?,
                    ),
                    ln2: ln(&format!("{p}.output.LayerNorm"))?,
                });
            }
            Some(SmallEncoder {
                hidden: h,
                heads: shape.heads,
                eps: shape.eps as f32,
                max_pos: shape.max_pos,
                word,
                pos,
                type0: types[..h].to_vec(),
                emb_ln: ln("embeddings.LayerNorm")?,
                layers,
                two_threads: true,
            })
        };
        build()
    }

    /// Whether a sequence's rows may be split over two threads (default).
    pub(crate) fn with_two_threads(self, two_threads: bool) -> SmallEncoder {
        SmallEncoder {
            two_threads,
            ..self
        }
    }

    /// Hidden states (`ids.len() × hidden`, row-major) of one sequence.
    pub(crate) fn forward(&self, ids: &[u32]) -> Result<Vec<f32>> {
        let (n, h) = (ids.len(), self.hidden);
        if n == 0 || n > self.max_pos {
            return Err(ModelError::InvalidArgument(format!(
                "sequence of {n} tokens: the encoder takes 1..={}",
                self.max_pos
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
            let (w, p) = (&self.word[id * h..][..h], &self.pos[r * h..][..h]);
            for j in 0..h {
                row[j] = w[j] + p[j] + self.type0[j];
            }
        }
        layer_norm(&mut x, h, &self.emb_ln, self.eps);
        // Two row halves on two threads when the sequence has at least 4
        // rows and a second worker exists; each half
        // runs a whole layer (attention for its query rows, the projections,
        // the feed-forward) and the next layer's Q/K/V for its rows, so the
        // halves meet once per layer, where attention needs every row's K/V.
        let threads = if self.two_threads {
            rayon::current_num_threads()
        } else {
            1
        };
        Ok(self.encode(x, n, split_rows(n, threads)))
    }

    /// The encoder layers over the embedded sequence `x` (`n` rows), split
    /// in two row halves at `split` when `split < n`.
    fn encode(&self, mut x: Vec<f32>, n: usize, split: usize) -> Vec<f32> {
        let h = self.hidden;
        if split < n {
            // Run the whole pass on a pool worker: the joins inside then
            // hand their second half to the other worker directly instead
            // of each crossing into the pool from outside.
            return rayon::scope(|_| self.forward_split(x, n, split));
        }
        let (mut qkv, mut next_qkv) = (Vec::new(), Vec::new());
        for (i, l) in self.layers.iter().enumerate() {
            if i == 0 {
                l.qkv.apply(&x, n, &mut qkv);
            }
            let next = self.layers.get(i + 1).map(|nl| &nl.qkv);
            if next.is_some() {
                next_qkv.resize(n * 3 * h, 0.0);
            }
            with_scratch(|s| self.layer_rows(l, &qkv, n, 0, &mut x, next, &mut next_qkv, s));
            std::mem::swap(&mut qkv, &mut next_qkv);
        }
        x
    }

    /// [`SmallEncoder::forward`] after the embeddings, rows `0..split` on
    /// this thread and `split..n` on another (one `rayon::join` per layer).
    fn forward_split(&self, mut x: Vec<f32>, n: usize, split: usize) -> Vec<f32> {
        let h = self.hidden;
        let Some(first) = self.layers.first() else {
            return x;
        };
        let mut qkv = vec![0f32; n * 3 * h];
        {
            let (xa, xb) = x.split_at(split * h);
            let (qa, qb) = qkv.split_at_mut(split * 3 * h);
            rayon::join(
                || first.qkv.apply_into(xa, split, qa),
                || first.qkv.apply_into(xb, n - split, qb),
            );
        }
        let mut next_qkv = vec![0f32; n * 3 * h];
        for (i, l) in self.layers.iter().enumerate() {
            let next = self.layers.get(i + 1).map(|nl| &nl.qkv);
            let (xa, xb) = x.split_at_mut(split * h);
            let (qa, qb) = next_qkv.split_at_mut(split * 3 * h);
            let cur = &qkv;
            rayon::join(
                || with_scratch(|s| self.layer_rows(l, cur, n, 0, xa, next, qa, s)),
                || with_scratch(|s| self.layer_rows(l, cur, n, split, xb, next, qb, s)),
            );
            std::mem::swap(&mut qkv, &mut next_qkv);
        }
        x
    }

    /// One layer for the query rows `row0..row0 + rows` (`x` holds those
    /// rows and is updated in place) given every row's Q/K/V in `qkv`;
    /// with `next`, also the next layer's Q/K/V of these rows into
    /// `next_qkv` (`rows × 3·hidden`).
    #[allow(clippy::too_many_arguments)]
    fn layer_rows(
        &self,
        l: &Layer,
        qkv: &[f32],
        n: usize,
        row0: usize,
        x: &mut [f32],
        next: Option<&Linear>,
        next_qkv: &mut [f32],
        s: &mut Scratch,
    ) {
        let h = self.hidden;
        let rows = x.len() / h;
        s.ctx.resize(rows * h, 0.0);
        self.attention(qkv, n, row0, &mut s.ctx);
        s.tmp.resize(rows * h, 0.0);
        l.out.apply_into(&s.ctx, rows, &mut s.tmp);
        add_in_place(x, &s.tmp);
        layer_norm(x, h, &l.ln1, self.eps);
        s.inter.resize(rows * l.inter.b.len(), 0.0);
        l.inter.apply_into(x, rows, &mut s.inter);
        s.inter.iter_mut().for_each(|v| *v = gelu(*v));
        l.down.apply_into(&s.inter, rows, &mut s.tmp);
        add_in_place(x, &s.tmp);
        layer_norm(x, h, &l.ln2, self.eps);
        if let Some(next) = next {
            next.apply_into(x, rows, next_qkv);
        }
    }

    /// Multi-head self-attention over the fused `qkv` (`n × 3·hidden`, every
    /// row) for the query rows `row0..` (as many as `ctx` holds), written
    /// into `ctx` (`rows × hidden`). No padding: every token attends to
    /// every token.
    fn attention(&self, qkv: &[f32], n: usize, row0: usize, ctx: &mut [f32]) {
        let h = self.hidden;
        let d = h / self.heads;
        let scale = 1.0 / (d as f32).sqrt();
        let mut p = vec![0f32; n];
        ctx.iter_mut().for_each(|v| *v = 0.0);
        let rows = ctx.len() / h;
        for head in 0..self.heads {
            let off = head * d;
            for r in 0..rows {
                let i = row0 + r;
                let q = &qkv[i * 3 * h + off..][..d];
                for (j, pj) in p.iter_mut().enumerate() {
                    let k = &qkv[j * 3 * h + h + off..][..d];
                    *pj = dot(q, k) * scale;
                }
                softmax(&mut p);
                let out = &mut ctx[r * h + off..][..d];
                for (j, &pj) in p.iter().enumerate() {
                    let v = &qkv[j * 3 * h + 2 * h + off..][..d];
                    for (o, &vv) in out.iter_mut().zip(v) {
                        *o += pj * vv;
                    }
                }
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

/// Per-thread buffers of one layer pass.
#[derive(Default)]
struct Scratch {
    ctx: Vec<f32>,
    tmp: Vec<f32>,
    inter: Vec<f32>,
}

/// Where a sequence of `n` rows is split between two threads: in two
/// halves (the first one row longer when `n` is odd), each run in blocks
/// of up to 4 rows; `n` (no split) when there is one thread or fewer
/// than 4 rows.
fn split_rows(n: usize, threads: usize) -> usize {
    if threads < 2 || n < ROWS {
        return n;
    }
    n.div_ceil(2)
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

fn add_in_place(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// Dot product with 16 independent lanes (fixed-size chunks and fused
/// multiply-adds, so it vectorises under `target-cpu=native`).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..16 {
            acc[l] = x[l].mul_add(y[l], acc[l]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Output columns per weight panel (two 8-lane AVX2 vectors).
const PANEL: usize = 16;
/// Most token rows per microkernel call.
const ROWS: usize = 4;

/// A linear layer's weights packed in panels: for each group of 16
/// outputs, the `k` inputs' 16 weights side by side (`[m/16][k][16]`), so
/// the microkernel reads one sequential stream per panel and its lanes run
/// over outputs (no horizontal sums).
///
/// On CPUs with F16C the panels are stored as IEEE half floats and widened
/// to f32 in registers (accumulation stays f32): MiniLM-L6's encoder
/// weights are 42 MB in f32, more than a 32 MB L3, and 21 MB in f16, so
/// successive queries read them from cache instead of memory. The rounding
/// (relative 2⁻¹¹ per weight) moves embeddings by cosine < 1e-5; the tests
/// check ≥ 0.9999 against the reference fixture.
pub(crate) struct Linear {
    packed: Packed,
    b: Vec<f32>,
    k: usize,
}

/// Panel storage.
enum Packed {
    F32(Vec<f32>),
    #[cfg(target_arch = "x86_64")]
    F16(Vec<u16>),
}

/// Whether the f16 panels and the AVX2 kernels can run here.
#[cfg(target_arch = "x86_64")]
fn simd_f16() -> bool {
    std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("fma")
        && std::is_x86_feature_detected!("f16c")
}

impl Linear {
    /// From PyTorch layout `w` = `[out][in]` and bias `[out]`.
    pub(crate) fn new(w: &[f32], b: Vec<f32>) -> Linear {
        Self::with_f16(w, b, true)
    }

    /// As [`Linear::new`]; `f16` allows half-float panels where supported.
    fn with_f16(w: &[f32], b: Vec<f32>, f16: bool) -> Linear {
        let (m, k) = (b.len(), w.len() / b.len().max(1));
        let mut panels = vec![0f32; m.div_ceil(PANEL) * k * PANEL];
        for o in 0..m {
            let (p, l) = (o / PANEL, o % PANEL);
            for j in 0..k {
                panels[(p * k + j) * PANEL + l] = w[o * k + j];
            }
        }
        #[cfg(target_arch = "x86_64")]
        if f16 && simd_f16() {
            let mut half = vec![0u16; panels.len()];
            // SAFETY: F16C/AVX2 are present (simd_f16), and both slices
            // have the same length, a multiple of 16.
            unsafe { to_f16(&panels, &mut half) };
            return Linear {
                packed: Packed::F16(half),
                b,
                k,
            };
        }
        let _ = f16;
        Linear {
            packed: Packed::F32(panels),
            b,
            k,
        }
    }

    /// `out = x · Wᵀ + b` for `x` of `n × k`; `out` becomes `n × m`.
    pub(crate) fn apply(&self, x: &[f32], n: usize, out: &mut Vec<f32>) {
        out.clear();
        out.resize(n * self.b.len(), 0.0);
        self.apply_into(x, n, out);
    }

    /// [`Linear::apply`] into `out` of exactly `n × m` values, on the
    /// calling thread (the encoder splits whole row ranges between
    /// threads instead: see [`SmallEncoder::forward`]).
    pub(crate) fn apply_into(&self, x: &[f32], n: usize, out: &mut [f32]) {
        let (m, k) = (self.b.len(), self.k);
        debug_assert!(x.len() >= n * k && out.len() == n * m);
        // Panel by panel, so one panel's weights stay in cache while every
        // block of rows reads them.
        for p in 0..m.div_ceil(PANEL) {
            let o0 = p * PANEL;
            let w = (m - o0).min(PANEL);
            let bias = &self.b[o0..o0 + w];
            let mut r = 0;
            while r < n {
                let rows = (n - r).min(ROWS);
                let acc = self.kernel(&x[r * k..(r + rows) * k], p);
                for (i, vals) in acc.iter().take(rows).enumerate() {
                    let dst = &mut out[(r + i) * m + o0..][..w];
                    for ((d, v), bb) in dst.iter_mut().zip(vals).zip(bias) {
                        *d = v + bb;
                    }
                }
                r += rows;
            }
        }
    }

    /// 1 to 4 rows of `x` (each `k` long) times panel `p`.
    fn kernel(&self, x: &[f32], p: usize) -> [[f32; PANEL]; ROWS] {
        let k = self.k;
        let rows = x.len() / k.max(1);
        let mut acc = [[0f32; PANEL]; ROWS];
        match &self.packed {
            Packed::F32(panels) => {
                let panel = &panels[p * k * PANEL..(p + 1) * k * PANEL];
                panel_portable(x, k, rows.min(ROWS), panel, &mut acc);
            }
            #[cfg(target_arch = "x86_64")]
            Packed::F16(panels) => {
                let panel = &panels[p * k * PANEL..(p + 1) * k * PANEL];
                // SAFETY: F16C, AVX2 and FMA are present (the panels are
                // f16 only then); x holds rows·k and the panel 16·k values.
                unsafe {
                    match rows {
                        4.. => panel_avx2_f16::<4>(x, k, panel, &mut acc),
                        3 => panel_avx2_f16::<3>(x, k, panel, &mut acc),
                        2 => panel_avx2_f16::<2>(x, k, panel, &mut acc),
                        _ => panel_avx2_f16::<1>(x, k, panel, &mut acc),
                    }
                }
            }
        }
        acc
    }
}

/// f32 → IEEE half (round to nearest even), 8 at a time.
///
/// # Safety
/// The CPU must support F16C and AVX; `src.len() == dst.len()`, a multiple
/// of 8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,f16c")]
unsafe fn to_f16(src: &[f32], dst: &mut [u16]) {
    use std::arch::x86_64::*;
    for (s, d) in src.chunks_exact(8).zip(dst.chunks_exact_mut(8)) {
        // SAFETY: 8 readable f32 and 8 writable u16.
        unsafe {
            let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm256_loadu_ps(s.as_ptr()));
            _mm_storeu_si128(d.as_mut_ptr().cast(), h);
        }
    }
}

/// The microkernel on AVX2 + FMA + F16C for `R` (1 to 4) rows: 2·R
/// accumulators (R rows × 2 vectors of 8 lanes); per input step two f16
/// weight loads widened to f32, R broadcasts, 2·R FMAs. A block of fewer
/// than 4 rows (a query's last rows) costs its own rows, not 4.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C; `R <= 4`, `x.len() >= R·k`
/// and `panel.len() >= 16·k`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn panel_avx2_f16<const R: usize>(
    x: &[f32],
    k: usize,
    panel: &[u16],
    acc: &mut [[f32; PANEL]; ROWS],
) {
    use std::arch::x86_64::*;
    let z = _mm256_setzero_ps();
    let mut c = [[z; 2]; R];
    let (xp, wp) = (x.as_ptr(), panel.as_ptr());
    for j in 0..k {
        // SAFETY: j < k, so 16·j + 16 ≤ 16·k ≤ panel.len() and
        // r·k + j < R·k ≤ x.len() (the caller's bounds).
        unsafe {
            let w = wp.add(j * PANEL);
            let w0 = _mm256_cvtph_ps(_mm_loadu_si128(w.cast()));
            let w1 = _mm256_cvtph_ps(_mm_loadu_si128(w.add(8).cast()));
            for (r, cr) in c.iter_mut().enumerate() {
                let xv = _mm256_set1_ps(*xp.add(r * k + j));
                cr[0] = _mm256_fmadd_ps(xv, w0, cr[0]);
                cr[1] = _mm256_fmadd_ps(xv, w1, cr[1]);
            }
        }
    }
    for (a, cr) in acc.iter_mut().zip(&c) {
        // SAFETY: `a` is 16 writable f32.
        unsafe {
            _mm256_storeu_ps(a.as_mut_ptr(), cr[0]);
            _mm256_storeu_ps(a.as_mut_ptr().add(8), cr[1]);
        }
    }
}

/// The portable microkernel (f32 panels: CPUs without AVX2/FMA/F16C).
fn panel_portable(x: &[f32], k: usize, rows: usize, panel: &[f32], acc: &mut [[f32; PANEL]; ROWS]) {
    for (j, w) in panel.chunks_exact(PANEL).take(k).enumerate() {
        for (r, a) in acc.iter_mut().enumerate().take(rows) {
            let xv = x[r * k + j];
            for (av, &wv) in a.iter_mut().zip(w) {
                *av = xv.mul_add(wv, *av);
            }
        }
    }
}

fn layer_norm(x: &mut [f32], h: usize, (g, b): &(Vec<f32>, Vec<f32>), eps: f32) {
    for row in x.chunks_mut(h) {
        let mean = row.iter().sum::<f32>() / h as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / h as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, g), b) in row.iter_mut().zip(g).zip(b) {
            *v = (*v - mean) * inv * g + b;
        }
    }
}

fn softmax(p: &mut [f32]) {
    let max = p.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in p.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in p.iter_mut() {
        *v /= sum;
    }
}

/// `eˣ` for x in [-87, 88] (clamped there), relative error < 2e-7:
/// Cephes' `expf` (2ⁿ · a degree-7 polynomial of the remainder), written
/// without calls or branches so that a loop over it vectorises (libm's
/// `expf` was 6% of a query's time, one call per element).
#[allow(clippy::excessive_precision)]
fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    // x − n·ln 2, with ln 2 in two parts so the product stays exact.
    let r = x - n * 0.693_359_375 + n * 2.121_944_4e-4;
    let p = ((((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2)
        * r
        + 1.666_666_5e-1)
        * r
        + 5.000_000_1e-1)
        * r)
        * r
        + r
        + 1.0;
    // 2ⁿ from its exponent bits (n ∈ [-126, 127] after the clamp). n is
    // read from the low mantissa bits of 1.5·2²³ + n rather than with an
    // `as` cast, whose saturation would keep the loop scalar.
    let n_bits = (n + 12_582_912.0).to_bits().wrapping_sub(0x4B40_0000);
    p * f32::from_bits(n_bits.wrapping_add(127) << 23)
}

/// GELU with the exact error function, as BERT's `gelu`.
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x / std::f32::consts::SQRT_2))
}

/// Error function, |error| < 1.2e-7 (Numerical Recipes' `erfc` Chebyshev
/// fit; evaluated in f32, which keeps |error| < 4e-7). The published
/// coefficients are kept digit for digit.
#[allow(clippy::excessive_precision)]
fn erf(x: f32) -> f32 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * exp(poly);
    let r = 1.0 - erfc;
    if x >= 0.0 { r } else { -r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_known_values() {
        for (x, want) in [
            (0.0f32, 0.0f64),
            (0.5, 0.520_499_877_8),
            (1.0, 0.842_700_792_9),
            (-1.5, -0.966_105_146_5),
            (3.0, 0.999_977_909_5),
        ] {
            assert!((f64::from(erf(x)) - want).abs() < 5e-7, "erf({x})");
        }
    }

    #[test]
    fn linear_matches_a_naive_product() {
        let (n, k, m) = (7, 37, 70);
        let x: Vec<f32> = (0..n * k)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 5.0)
            .collect();
        let w: Vec<f32> = (0..m * k)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) / 7.0)
            .collect();
        let b: Vec<f32> = (0..m).map(|i| i as f32 / 10.0).collect();
        for f16 in [false, true] {
            let mut out = Vec::new();
            Linear::with_f16(&w, b.clone(), f16).apply(&x, n, &mut out);
            for r in 0..n {
                for o in 0..m {
                    let want: f32 = (0..k).map(|j| x[r * k + j] * w[o * k + j]).sum::<f32>() + b[o];
                    // f16 rounds each weight by at most 2^-11 relative.
                    let tol = if f16 { 2e-2 } else { 1e-4 };
                    assert!((out[r * m + o] - want).abs() < tol, "({r},{o}) f16={f16}");
                }
            }
        }
    }

    #[test]
    fn portable_and_simd_kernels_agree() {
        let k = 45;
        let x: Vec<f32> = (0..4 * k)
            .map(|i| ((i * 3 % 17) as f32 - 8.0) / 9.0)
            .collect();
        let panel: Vec<f32> = (0..k * PANEL)
            .map(|i| ((i * 7 % 19) as f32 - 9.0) / 4.0)
            .collect();
        // Panel 0 of a layer whose weights are that panel, f32 and f16.
        let mut w = vec![0f32; PANEL * k];
        for o in 0..PANEL {
            for j in 0..k {
                w[o * k + j] = panel[j * PANEL + o];
            }
        }
        // Blocks of 1 to 4 rows (a query's last block is often short).
        for rows in 1..=ROWS {
            let x = &x[..rows * k];
            let mut slow = [[0f32; PANEL]; ROWS];
            panel_portable(x, k, rows, &panel, &mut slow);
            assert!(slow[rows - 1].iter().any(|&v| v != 0.0));
            for f16 in [false, true] {
                let lin = Linear::with_f16(&w, vec![0.0; PANEL], f16);
                let fast = lin.kernel(x, 0);
                for r in 0..ROWS {
                    for l in 0..PANEL {
                        // Weights here are multiples of 1/4: exact in f16;
                        // rows past the block stay 0 in both.
                        let ok = (slow[r][l] - fast[r][l]).abs() < 1e-4;
                        assert!(ok, "rows={rows} f16={f16} r={r}");
                    }
                }
            }
        }
    }

    #[test]
    fn exp_matches_the_standard_library() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let (got, want) = (exp(x), x.exp());
            assert!(
                ((got - want) / want).abs() < 3e-7,
                "exp({x}) = {got}, want {want}"
            );
            x += 0.0137;
        }
    }

    /// A small random encoder: 2 layers, hidden 32, 4 heads.
    fn tiny() -> SmallEncoder {
        let mut seed = 7u32;
        let mut rnd = |len: usize, scale: f32| -> Vec<f32> {
            (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    ((seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * scale
                })
                .collect()
        };
        let (h, i) = (32, 64);
        let layers = (0..2)
            .map(|_| Layer {
                qkv: Linear::new(&rnd(3 * h * h, 0.4), rnd(3 * h, 0.1)),
                out: Linear::new(&rnd(h * h, 0.4), rnd(h, 0.1)),
                ln1: (vec![1.0; h], rnd(h, 0.1)),
                inter: Linear::new(&rnd(i * h, 0.4), rnd(i, 0.1)),
                down: Linear::new(&rnd(h * i, 0.4), rnd(h, 0.1)),
                ln2: (vec![1.0; h], rnd(h, 0.1)),
            })
            .collect();
        SmallEncoder {
            hidden: h,
            heads: 4,
            eps: 1e-12,
            max_pos: 64,
            word: rnd(50 * h, 1.0),
            pos: rnd(64 * h, 0.5),
            type0: rnd(h, 0.1),
            emb_ln: (vec![1.0; h], vec![0.0; h]),
            layers,
            two_threads: true,
        }
    }

    #[test]
    fn two_row_halves_compute_what_one_pass_does() {
        let enc = tiny();
        let ids: Vec<u32> = (0..13).map(|i| (i * 7 % 50) as u32).collect();
        let whole = enc.forward(&ids).unwrap();
        let n = ids.len();
        let embedded = |enc: &SmallEncoder| {
            // forward()'s embedding step, to feed encode() directly.
            let h = enc.hidden;
            let mut x = vec![0f32; n * h];
            for (r, &id) in ids.iter().enumerate() {
                for j in 0..h {
                    x[r * h + j] =
                        enc.word[id as usize * h + j] + enc.pos[r * h + j] + enc.type0[j];
                }
            }
            layer_norm(&mut x, h, &enc.emb_ln, enc.eps);
            x
        };
        let one = enc.encode(embedded(&enc), n, n);
        for split in [1, 4, 5, 7, 8, 12] {
            let two = enc.encode(embedded(&enc), n, split);
            let worst = one
                .iter()
                .zip(&two)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-5, "split {split}: {worst}");
        }
        assert_eq!(whole.len(), one.len());
        assert_eq!(
            (
                split_rows(16, 2),
                split_rows(9, 2),
                split_rows(5, 2),
                split_rows(3, 2)
            ),
            (8, 5, 3, 3)
        );
        assert_eq!(split_rows(16, 1), 16);
    }

    #[test]
    fn softmax_and_layer_norm() {
        let mut p = [1.0f32, 2.0, 3.0];
        softmax(&mut p);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6 && p[2] > p[1]);
        let mut x = vec![1.0f32, 2.0, 3.0, 4.0];
        layer_norm(&mut x, 4, &(vec![1.0; 4], vec![0.0; 4]), 1e-12);
        assert!(x.iter().sum::<f32>().abs() < 1e-5);
        assert!((x.iter().map(|v| v * v).sum::<f32>() / 4.0 - 1.0).abs() < 1e-4);
    }
}
