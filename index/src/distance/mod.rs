//! Distance metrics and SIMD kernels.
//!
//! Kernels are selected once per process ([`kernels`]) from runtime CPU
//! feature detection: AVX-512F, then AVX2+FMA, then a portable scalar loop.

use std::sync::OnceLock;

use crate::error::{IndexError, Result};

/// How vectors are compared. Every search result carries a *distance*:
/// lower is better and results are sorted ascending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Cosine distance `1 - cos(a, b)`, in `[0, 2]`. Vectors are normalised
    /// at insert, so search is a dot product.
    Cosine,
    /// Negative inner product `-a·b` (maximum inner product search).
    Dot,
    /// Squared Euclidean distance `|a - b|²`, never negative.
    L2,
}

impl Metric {
    /// Converts a distance returned by a search into a similarity where
    /// higher is better: cosine similarity, inner product, or `-|a-b|²`.
    ///
    /// ```
    /// use memlayer_index::Metric;
    /// assert_eq!(Metric::Cosine.similarity(0.25), 0.75);
    /// assert_eq!(Metric::Dot.similarity(-3.0), 3.0);
    /// ```
    pub fn similarity(self, distance: f32) -> f32 {
        match self {
            Metric::Cosine => 1.0 - distance,
            Metric::Dot | Metric::L2 => -distance,
        }
    }

    pub(crate) fn code(self) -> u32 {
        match self {
            Metric::Cosine => 1,
            Metric::Dot => 2,
            Metric::L2 => 3,
        }
    }

    pub(crate) fn from_code(code: u32) -> Option<Self> {
        match code {
            1 => Some(Metric::Cosine),
            2 => Some(Metric::Dot),
            3 => Some(Metric::L2),
            _ => None,
        }
    }
}

/// A pair of distance kernels chosen for this CPU.
#[derive(Clone, Copy)]
pub struct Kernels {
    /// Inner product of two equally long slices.
    pub dot: fn(&[f32], &[f32]) -> f32,
    /// Squared Euclidean distance of two equally long slices.
    pub l2sq: fn(&[f32], &[f32]) -> f32,
    /// `dot` of one query against four rows at once (one pass over the
    /// query, four independent memory streams).
    pub dot4: fn(&[f32], [&[f32]; 4]) -> [f32; 4],
    /// `l2sq` of one query against four rows at once.
    pub l2sq4: fn(&[f32], [&[f32]; 4]) -> [f32; 4],
    /// Name of the selected implementation (`"avx512"`, `"avx2+fma"` or `"scalar"`).
    pub name: &'static str,
}

impl std::fmt::Debug for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernels").field("name", &self.name).finish()
    }
}

/// The kernels for this CPU, detected once.
///
/// ```
/// let k = memlayer_index::distance::kernels();
/// assert_eq!((k.dot)(&[1.0, 2.0], &[3.0, 4.0]), 11.0);
/// ```
pub fn kernels() -> &'static Kernels {
    static K: OnceLock<Kernels> = OnceLock::new();
    K.get_or_init(detect)
}

fn detect() -> Kernels {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            return Kernels {
                dot: x86::dot_avx512,
                l2sq: x86::l2sq_avx512,
                dot4: x86::dot4_avx512,
                l2sq4: x86::l2sq4_avx512,
                name: "avx512",
            };
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return Kernels {
                dot: x86::dot_avx2,
                l2sq: x86::l2sq_avx2,
                dot4: x86::dot4_avx2,
                l2sq4: x86::l2sq4_avx2,
                name: "avx2+fma",
            };
        }
    }
    scalar_kernels()
}

/// The portable kernels (also the reference in tests).
pub fn scalar_kernels() -> Kernels {
    Kernels {
        dot: dot_scalar,
        l2sq: l2sq_scalar,
        dot4: |q, r| r.map(|x| dot_scalar(q, x)),
        l2sq4: |q, r| r.map(|x| l2sq_scalar(q, x)),
        name: "scalar",
    }
}

/// Portable inner product (8 independent accumulators).
pub fn dot_scalar(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        s += x * y;
    }
    s
}

/// Portable squared Euclidean distance (8 independent accumulators).
pub fn l2sq_scalar(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..8 {
            let d = x[i] - y[i];
            acc[i] += d * d;
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        let d = x - y;
        s += d * d;
    }
    s
}

#[cfg(target_arch = "x86_64")]
mod x86;

/// Every kernel set this CPU supports, fastest first, scalar last.
pub fn available_kernels() -> Vec<Kernels> {
    #[allow(unused_mut)]
    let mut v: Vec<Kernels> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    v.extend(x86::available());
    v.push(scalar_kernels());
    v
}

/// Hints the CPU to pull the cache line at `p` into L1.
#[inline(always)]
pub(crate) fn prefetch(p: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: prefetch is a hint that never faults, and SSE is part of
        // the x86_64 baseline, so no feature detection is needed.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                p.as_ptr().cast::<i8>(),
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Validates `v` (length, finiteness, norm) and writes it into `out`
/// (`out.len() >= dims`, padding must already be zero), normalising for
/// cosine.
pub(crate) fn prepare_into(metric: Metric, dims: usize, v: &[f32], out: &mut [f32]) -> Result<()> {
    if v.len() != dims {
        return Err(IndexError::DimensionMismatch {
            expected: dims,
            actual: v.len(),
        });
    }
    if let Some(position) = v.iter().position(|x| !x.is_finite()) {
        return Err(IndexError::NonFiniteVector { position });
    }
    let k = kernels();
    let norm2 = (k.dot)(v, v);
    if !norm2.is_finite() {
        return Err(IndexError::VectorOverflow);
    }
    let out = &mut out[..dims];
    match metric {
        Metric::Cosine => {
            if norm2 <= f32::MIN_POSITIVE {
                return Err(IndexError::ZeroVector);
            }
            // f64 keeps tiny norms (subnormal components) normalisable.
            let norm = (v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>()).sqrt();
            if norm == 0.0 || !norm.is_finite() {
                return Err(IndexError::ZeroVector);
            }
            for (o, &x) in out.iter_mut().zip(v) {
                *o = (f64::from(x) / norm) as f32;
            }
        }
        Metric::Dot | Metric::L2 => out.copy_from_slice(v),
    }
    Ok(())
}

/// [`distance`] of one prepared query against four rows (the batched
/// kernels; identical results).
#[inline(always)]
pub(crate) fn distance4(k: &Kernels, metric: Metric, q: &[f32], r: [&[f32]; 4]) -> [f32; 4] {
    let post = |d: f32| if d.is_nan() { f32::INFINITY } else { d };
    match metric {
        Metric::Cosine => (k.dot4)(q, r).map(|x| post((1.0 - x).clamp(0.0, 2.0))),
        Metric::Dot => (k.dot4)(q, r).map(|x| post(-x)),
        Metric::L2 => (k.l2sq4)(q, r).map(|x| post(x.max(0.0))),
    }
}

/// Distance between two prepared vectors under `metric`, clamped to the
/// metric's range; NaN (impossible for validated input) maps to +inf.
#[inline(always)]
pub(crate) fn distance(k: &Kernels, metric: Metric, a: &[f32], b: &[f32]) -> f32 {
    let d = match metric {
        Metric::Cosine => (1.0 - (k.dot)(a, b)).clamp(0.0, 2.0),
        Metric::Dot => -(k.dot)(a, b),
        Metric::L2 => (k.l2sq)(a, b).max(0.0),
    };
    if d.is_nan() { f32::INFINITY } else { d }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng(seed: &mut u64) -> f32 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    #[test]
    fn batched_kernels_match_single_ones() {
        let mut s = 0x1234_5678_9ABC_DEF0u64;
        for n in [1usize, 15, 16, 17, 31, 32, 33, 50, 64, 384, 785] {
            let q: Vec<f32> = (0..n).map(|_| rng(&mut s)).collect();
            let rows: Vec<Vec<f32>> = (0..4)
                .map(|_| (0..n).map(|_| rng(&mut s)).collect())
                .collect();
            let r = [&rows[0][..], &rows[1][..], &rows[2][..], &rows[3][..]];
            for k in available_kernels() {
                let (d4, l4) = ((k.dot4)(&q, r), (k.l2sq4)(&q, r));
                for j in 0..4 {
                    let (d, l) = ((k.dot)(&q, r[j]), (k.l2sq)(&q, r[j]));
                    assert!(
                        (d4[j] - d).abs() <= 1e-4 * (1.0 + d.abs()),
                        "{} dot n={n}",
                        k.name
                    );
                    assert!(
                        (l4[j] - l).abs() <= 1e-4 * (1.0 + l.abs()),
                        "{} l2 n={n}",
                        k.name
                    );
                }
            }
        }
    }

    #[test]
    fn kernels_match_scalar_on_odd_lengths() {
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        for n in [
            0usize, 1, 3, 7, 8, 15, 16, 17, 31, 33, 50, 63, 64, 65, 127, 129, 384, 785,
        ] {
            let a: Vec<f32> = (0..n).map(|_| rng(&mut s)).collect();
            let b: Vec<f32> = (0..n).map(|_| rng(&mut s)).collect();
            let want_dot: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| f64::from(*x) * f64::from(*y))
                .sum();
            let want_l2: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
                .sum();
            for k in available_kernels() {
                let d = (k.dot)(&a, &b) as f64;
                let l = (k.l2sq)(&a, &b) as f64;
                let tol = 1e-4 * (n as f64 + 1.0);
                assert!(
                    (d - want_dot).abs() <= tol,
                    "{} dot n={n}: {d} vs {want_dot}",
                    k.name
                );
                assert!(
                    (l - want_l2).abs() <= tol,
                    "{} l2 n={n}: {l} vs {want_l2}",
                    k.name
                );
                assert!(l >= 0.0);
            }
        }
    }

    #[test]
    fn prepare_rejects_bad_vectors() {
        let mut out = vec![0.0; 4];
        assert!(matches!(
            prepare_into(Metric::L2, 3, &[1.0, 2.0], &mut out),
            Err(IndexError::DimensionMismatch {
                expected: 3,
                actual: 2
            })
        ));
        assert!(matches!(
            prepare_into(Metric::L2, 3, &[1.0, f32::NAN, 0.0], &mut out),
            Err(IndexError::NonFiniteVector { position: 1 })
        ));
        assert!(matches!(
            prepare_into(Metric::Dot, 2, &[f32::INFINITY, 0.0], &mut out),
            Err(IndexError::NonFiniteVector { position: 0 })
        ));
        assert!(matches!(
            prepare_into(Metric::Cosine, 2, &[0.0, 0.0], &mut out),
            Err(IndexError::ZeroVector)
        ));
        assert!(matches!(
            prepare_into(Metric::Dot, 2, &[3e38, 3e38], &mut out),
            Err(IndexError::VectorOverflow)
        ));
        prepare_into(Metric::Cosine, 2, &[3.0, 4.0], &mut out).unwrap();
        assert!((out[0] - 0.6).abs() < 1e-6 && (out[1] - 0.8).abs() < 1e-6);
    }

    #[test]
    fn cosine_distance_is_clamped() {
        let k = kernels();
        let a = [1.0f32, 0.0];
        let d = distance(k, Metric::Cosine, &a, &a);
        assert!((0.0..=2.0).contains(&d));
        let neg = [-1.0f32, 0.0];
        assert!(distance(k, Metric::Cosine, &a, &neg) <= 2.0);
        assert_eq!(distance(k, Metric::L2, &a, &a), 0.0);
    }
}
