//! Hybrid ranking: how semantic similarity, BM25 and recency combine into
//! one score.
//!
//! For a memory with cosine similarity `c` to the query and keyword score
//! `b` (BM25 over stemmed query words, the words of the memory stored just
//! before it in the scope counting at `context_weight`, and each date the
//! query names counting as a word of the memories made on it; 0 when
//! nothing matches):
//!
//! ```text
//! semantic = clamp(c, 0, 1)
//! keyword  = b / (b + bm25_k)                     in [0, 1)
//! fused    = w · semantic + (1 − w) · keyword     w = semantic_weight
//! recency  = 1 − r + r · 0.5^(age_days / half_life)   (1 when off)
//! score    = fused · recency
//! ```
//!
//! Candidates are the union of the top semantic hits (vector index, scoped)
//! and the top BM25 hits (store keyword index, scoped); a keyword-only hit
//! gets its cosine from its stored vector, so `threshold` (on `semantic`)
//! applies to every hit alike. The saturating BM25 map keeps one rare-term
//! match from outweighing a strong semantic match, and needs no
//! per-query normalisation (scores stay comparable across queries).

use crate::config::SearchConfig;
use crate::types::ScoreDetails;

/// Combines the signals of one candidate (see the module docs).
///
/// ```
/// use memlayer::{search::fuse, SearchConfig};
/// let cfg = SearchConfig::default();
/// let a = fuse(&cfg, 0.8, 0.0, 0.0);
/// let b = fuse(&cfg, 0.8, 6.0, 0.0);
/// assert!(b.fused > a.fused);
/// assert!((a.fused - cfg.semantic_weight * 0.8).abs() < 1e-6);
/// ```
pub fn fuse(cfg: &SearchConfig, cosine: f32, bm25: f32, age_days: f64) -> ScoreDetails {
    let semantic = if cosine.is_finite() {
        cosine.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let keyword = if bm25.is_finite() { bm25.max(0.0) } else { 0.0 };
    let keyword_norm = keyword / (keyword + cfg.bm25_k);
    let w = cfg.semantic_weight;
    let mixed = w * semantic + (1.0 - w) * keyword_norm;
    let recency = match cfg.recency_half_life_days {
        Some(h) if h > 0.0 => {
            let decay = 0.5f64.powf(age_days.max(0.0) / h) as f32;
            1.0 - cfg.recency_weight + cfg.recency_weight * decay
        }
        _ => 1.0,
    };
    ScoreDetails {
        semantic,
        keyword,
        keyword_norm,
        recency,
        fused: mixed * recency,
        rerank: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recency_decays_old_memories() {
        let cfg = SearchConfig {
            recency_half_life_days: Some(30.0),
            recency_weight: 0.5,
            ..SearchConfig::default()
        };
        let new = fuse(&cfg, 0.6, 0.0, 0.0);
        let old = fuse(&cfg, 0.6, 0.0, 30.0);
        assert!((new.recency - 1.0).abs() < 1e-6);
        assert!((old.recency - 0.75).abs() < 1e-6);
        assert!(new.fused > old.fused);
        assert_eq!(fuse(&cfg, f32::NAN, f32::INFINITY, 0.0).fused, 0.0);
    }
}
