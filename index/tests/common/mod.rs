//! Shared test helpers: deterministic synthetic data and recall.
#![allow(dead_code, clippy::unwrap_used)]

use memlayer_index::{AllowSet, FlatIndex};

/// xorshift64* generator.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn uniform(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn gauss(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f32::consts::PI * v).cos()
    }
}

/// `n` points of a Gaussian mixture (`clusters` centres), row-major.
pub fn clustered(n: usize, dims: usize, clusters: usize, seed: u64) -> Vec<f32> {
    let mut r = Rng(seed | 1);
    let centres: Vec<f32> = (0..clusters * dims).map(|_| r.gauss()).collect();
    let mut out = Vec::with_capacity(n * dims);
    for _ in 0..n {
        let c = r.below(clusters);
        for d in 0..dims {
            out.push(centres[c * dims + d] + 0.35 * r.gauss());
        }
    }
    out
}

/// Fraction of `truth` ids found in `got` (per query, averaged).
pub fn recall(got: &[Vec<(u64, f32)>], truth: &[Vec<(u64, f32)>]) -> f64 {
    let mut hit = 0usize;
    let mut total = 0usize;
    for (g, t) in got.iter().zip(truth) {
        total += t.len();
        hit += t
            .iter()
            .filter(|(id, _)| g.iter().any(|(x, _)| x == id))
            .count();
    }
    if total == 0 {
        1.0
    } else {
        hit as f64 / total as f64
    }
}

/// Exact answers for every query.
pub fn exact(
    flat: &FlatIndex,
    queries: &[f32],
    dims: usize,
    k: usize,
    f: Option<&AllowSet>,
) -> Vec<Vec<(u64, f32)>> {
    queries
        .chunks_exact(dims)
        .map(|q| flat.search(q, k, f).unwrap())
        .collect()
}
