//! Ranking of search candidates: fused scores, the threshold, the order and
//! the cut, then the optional reranker's order.

use std::collections::HashMap;

use memlayer_store::{Memory as Record, Timestamp};
use uuid::Uuid;

use super::fuse::fuse;
use crate::config::SearchConfig;
use crate::error::{MemoryError, Result};
use crate::types::ScoreDetails;

/// Scores each candidate (its cosine, its BM25 from `bm25` or 0, its age
/// at `now`), drops those whose semantic score is under `threshold`, and
/// keeps the best `limit` (ties: larger id first, so the order is total).
pub(crate) fn rank(
    candidates: Vec<(Record, f32)>,
    bm25: &HashMap<Uuid, f32>,
    cfg: &SearchConfig,
    now: Timestamp,
    threshold: Option<f32>,
    limit: usize,
) -> Vec<(Record, ScoreDetails)> {
    let mut hits: Vec<(Record, ScoreDetails)> = candidates
        .into_iter()
        .map(|(m, cos)| {
            let age = (now.as_micros() - m.updated_at.as_micros()) as f64 / 86_400e6;
            let d = fuse(cfg, cos, bm25.get(&m.id).copied().unwrap_or(0.0), age);
            (m, d)
        })
        .filter(|(_, d)| threshold.is_none_or(|t| d.semantic >= t))
        .collect();
    hits.sort_by(|a, b| {
        b.1.fused
            .total_cmp(&a.1.fused)
            .then_with(|| b.0.id.cmp(&a.0.id))
    });
    hits.truncate(limit);
    hits
}

/// Pseudo-relevance feedback's order: the hits of `first` (the first
/// ranking's best, in that order) keep the top places, then the other
/// `ranked` hits in their order; the best `limit`. So feedback reorders only
/// below the hits it was drawn from.
pub(crate) fn keep_first(
    ranked: Vec<(Record, ScoreDetails)>,
    first: &[Uuid],
    limit: usize,
) -> Vec<(Record, ScoreDetails)> {
    let mut top: Vec<Option<(Record, ScoreDetails)>> = vec![None; first.len()];
    let mut rest = Vec::with_capacity(ranked.len());
    for hit in ranked {
        match first.iter().position(|&id| id == hit.0.id) {
            Some(i) => top[i] = Some(hit),
            None => rest.push(hit),
        }
    }
    let mut out: Vec<_> = top.into_iter().flatten().chain(rest).collect();
    out.truncate(limit);
    out
}

/// Records the reranker's `scores` (one per hit, in order; a non-finite
/// score ranks last) and reorders the hits by them.
pub(crate) fn apply_rerank(hits: &mut [(Record, ScoreDetails)], scores: Vec<f32>) -> Result<()> {
    if scores.len() != hits.len() {
        return Err(MemoryError::invalid(
            "reranker",
            format!(
                "returned {} scores for {} documents",
                scores.len(),
                hits.len()
            ),
        ));
    }
    for ((_, d), s) in hits.iter_mut().zip(scores) {
        d.rerank = Some(if s.is_finite() { s } else { f32::MIN });
    }
    hits.sort_by(|a, b| {
        b.1.rerank
            .unwrap_or(f32::MIN)
            .total_cmp(&a.1.rerank.unwrap_or(f32::MIN))
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use memlayer_store::Scope;

    fn rec(n: u128, text: &str, now: Timestamp) -> Record {
        Record {
            id: Uuid::from_u128(n),
            text: text.into(),
            hash: memlayer_store::md5::hex_digest(text),
            scope: Scope::user("u"),
            actor_id: None,
            role: None,
            memory_type: None,
            metadata: Default::default(),
            created_at: now,
            updated_at: now,
            expiration_date: None,
            embedding_model: String::new(),
            superseded_at: None,
            superseded_by: None,
        }
    }

    /// Ranked by cosine alone (no BM25), default settings, limit 10.
    fn plain(cands: Vec<(Record, f32)>, now: Timestamp) -> Vec<(Record, ScoreDetails)> {
        rank(
            cands,
            &HashMap::new(),
            &SearchConfig::default(),
            now,
            None,
            10,
        )
    }

    #[test]
    fn fused_order_threshold_and_limit() {
        let now = Timestamp::now();
        let cfg = SearchConfig::default();
        let cands = vec![
            (rec(1, "a", now), 0.9),
            (rec(2, "b", now), 0.2),
            (rec(3, "c", now), 0.6),
        ];
        // BM25 lifts memory 3 above memory 1.
        let bm25: HashMap<Uuid, f32> = [(Uuid::from_u128(3), 50.0)].into_iter().collect();
        let hits = rank(cands.clone(), &bm25, &cfg, now, None, 10);
        let order: Vec<u128> = hits.iter().map(|(m, _)| m.id.as_u128()).collect();
        assert_eq!(order, [3, 1, 2]);
        assert!(hits[0].1.keyword > 0.0 && hits[1].1.keyword == 0.0);
        // The threshold applies to the semantic part only.
        let hits = rank(cands.clone(), &bm25, &cfg, now, Some(0.7), 10);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].0.id.as_u128(), 1);
        assert_eq!(rank(cands, &HashMap::new(), &cfg, now, None, 2).len(), 2);
    }

    #[test]
    fn feedback_keeps_the_first_hits_on_top_and_orders_the_rest() {
        let now = Timestamp::now();
        let cands: Vec<(Record, f32)> = (1..=5)
            .map(|i| (rec(i, "x", now), i as f32 / 10.0))
            .collect();
        // Expanded order: 5 4 3 2 1; the first ranking's best were 2 then 4
        // (and 9, no longer a candidate: skipped).
        let ranked = plain(cands, now);
        let first = [2u128, 4, 9].map(Uuid::from_u128);
        let ids = |hits: &[(Record, ScoreDetails)]| -> Vec<u128> {
            hits.iter().map(|(m, _)| m.id.as_u128()).collect()
        };
        assert_eq!(
            ids(&keep_first(ranked.clone(), &first, 10)),
            [2, 4, 5, 3, 1]
        );
        assert_eq!(ids(&keep_first(ranked.clone(), &first, 3)), [2, 4, 5]);
        assert_eq!(ids(&keep_first(ranked.clone(), &first, 1)), [2]);
        assert_eq!(ids(&keep_first(ranked, &[], 2)), [5, 4]);
    }

    #[test]
    fn ties_break_by_id() {
        let now = Timestamp::now();
        let cands = vec![(rec(1, "a", now), 0.5), (rec(2, "b", now), 0.5)];
        let hits = plain(cands, now);
        assert_eq!(hits[0].0.id.as_u128(), 2);
    }

    #[test]
    fn rerank_reorders_and_checks_the_count() {
        let now = Timestamp::now();
        let cands = vec![(rec(1, "a", now), 0.9), (rec(2, "b", now), 0.5)];
        let mut hits = plain(cands, now);
        apply_rerank(&mut hits, vec![0.1, 0.7]).unwrap();
        assert_eq!(hits[0].0.id.as_u128(), 2);
        assert_eq!(hits[0].1.rerank, Some(0.7));
        apply_rerank(&mut hits, vec![f32::NAN, 0.0]).unwrap();
        assert_eq!(hits[0].0.id.as_u128(), 1);
        assert!(apply_rerank(&mut hits, vec![1.0]).is_err());
    }
}
