//! The [`Embedder`] trait: text in, fixed-size vectors out.

use std::sync::Arc;

use crate::error::Result;

/// Turns texts into embedding vectors.
///
/// Implementations are `Send + Sync` so one loaded model serves every thread.
/// Vectors are L2-normalised unless the implementation documents otherwise, so
/// the dot product is the cosine similarity.
///
/// ```
/// use memlayer_models::{Embedder, HashEmbedder};
/// let e = HashEmbedder::new(64);
/// let v = e.embed_batch(&["hello world", "goodbye"]).unwrap();
/// assert_eq!(v.len(), 2);
/// assert_eq!(v[0].len(), e.dims());
/// ```
pub trait Embedder: Send + Sync {
    /// Embeds every text; the result has one vector of [`dims`](Self::dims)
    /// floats per input, in input order. An empty input gives an empty output.
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;

    /// Embeds one text.
    fn embed(&self, text: &str) -> Result<Vec<f32>> {
        let mut v = self.embed_batch(&[text])?;
        v.pop().ok_or_else(|| crate::ModelError::Inference {
            backend: "embedder",
            reason: "embed_batch returned no vector for one input".into(),
        })
    }

    /// Dimensions of every vector this model produces.
    fn dims(&self) -> usize;

    /// A stable identifier of the model (architecture, settings and a
    /// fingerprint of the weights). Stores pin it so that a database is never
    /// searched with vectors from a different model.
    fn model_id(&self) -> &str;
}

impl<T: Embedder + ?Sized> Embedder for Arc<T> {
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        (**self).embed_batch(texts)
    }
    fn dims(&self) -> usize {
        (**self).dims()
    }
    fn model_id(&self) -> &str {
        (**self).model_id()
    }
}

impl<T: Embedder + ?Sized> Embedder for Box<T> {
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        (**self).embed_batch(texts)
    }
    fn dims(&self) -> usize {
        (**self).dims()
    }
    fn model_id(&self) -> &str {
        (**self).model_id()
    }
}

/// Cosine similarity of two vectors (0 when either is all zeros).
///
/// ```
/// let c = memlayer_models::cosine(&[1.0, 0.0], &[1.0, 1.0]);
/// assert!((c - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
/// ```
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        dot += f64::from(*x) * f64::from(*y);
        na += f64::from(*x) * f64::from(*x);
        nb += f64::from(*y) * f64::from(*y);
    }
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    (dot / (na.sqrt() * nb.sqrt())) as f32
}

/// 64-bit FNV-1a, used for stable model fingerprints (std's hasher is not
/// stable across Rust releases).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv64(u64);

impl Fnv64 {
    pub(crate) fn new() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    pub(crate) fn finish(self) -> u64 {
        self.0
    }
}
