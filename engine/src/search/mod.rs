//! The `search` pipeline:
//!
//! 1. check the options; narrow the scope by the filter's scope equalities;
//! 2. embed the query (or take it from the cache of recent queries,
//!    `search.query_cache`);
//! 3. candidates: scoped HNSW hits (the beam widens while post-filters
//!    reject hits) ∪ scoped BM25 hits from the in-memory keyword index
//!    (`keywords`, scored as the store scores them; query words match by
//!    stem; a memory's BM25 counts the words of the memory stored before it
//!    in the scope at `context_weight`; a date the query names counts as a
//!    word of every memory made on it; their cosine from the stored
//!    vector); expired and superseded memories hidden unless asked for;
//! 4. [`rank`]: [`fuse`] the signals, threshold on the semantic part, sort,
//!    cut to `limit`; with `search.feedback_weight` > 0 (0.3 by default),
//!    pseudo-relevance feedback: stems of the `feedback_docs` best hits
//!    ([`feedback_stems`]) join the keyword query at a reduced weight, the
//!    keyword side of stage 3 runs again, and those best hits keep the top
//!    places while the expanded scores order the rest; then the optional
//!    reranker (the builder's, or the chat model with `search.rerank`:
//!    [`ChatReranker`]) reorders the best `rerank_depth` before the cut;
//! 5. graph memory on: the query's `relations` (`crate::graph`).

mod cache;
mod fuse;
mod rank;
mod rerank;

use std::collections::HashMap;
use std::sync::Arc;

use memlayer_store::keyword::Expansion;
use memlayer_store::{Filter, KeywordOptions, Memory as Record, Scope, Timestamp};
use uuid::Uuid;

pub(crate) use self::cache::QueryCache;
pub use self::fuse::fuse;
pub use self::rerank::ChatReranker;
use crate::error::Result;
use crate::memory::Memory;
use crate::types::{MemoryItem, Reranker, SearchOptions, SearchResult};
use crate::validate::{
    check_limit, check_query, check_threshold, is_expired, narrow_scope, parse_filters,
    validated_scope,
};

/// Largest `limit` accepted by `search` and `get_all` pages.
pub const MAX_LIMIT: usize = 1000;

impl Memory {
    /// Hybrid search in a scope (see [`crate::search`] for the pipeline and
    /// [`fuse`] for the ranking formula).
    pub fn search(&self, query: &str, opts: &SearchOptions) -> Result<SearchResult> {
        let query = check_query(query)?;
        let full_scope = validated_scope(&opts.scope)?;
        let limit = check_limit(opts.limit.unwrap_or(self.inner.config.search.limit))?;
        let threshold = check_threshold(opts.threshold)?;
        let filter = parse_filters(opts.filters.as_ref())?;
        let Some(scope) = narrow_scope(&full_scope, filter.as_ref()) else {
            return Ok(SearchResult::default());
        };
        let mut timings = crate::types::StageTimings::default();
        let t = std::time::Instant::now();
        let embedder = &self.inner.embedder;
        let qv = self
            .inner
            .query_cache
            .get_or_embed(query, |q| embedder.embed(q))?;
        let cfg = &self.inner.config.search;
        let now = Timestamp::now();
        let q = Query {
            text: query,
            vector: &qv,
            scope: &scope,
            filter: filter.as_ref(),
            include_expired: opts.include_expired,
            include_superseded: opts.include_superseded,
            limit,
            now,
        };
        let t = timings.record("embed", t);
        let reranker = self.reranker(opts)?;
        // The reranker sees the best `rerank_depth` hits, then the cut.
        let depth = if reranker.is_some() {
            limit.max(cfg.rerank_depth)
        } else {
            limit
        };
        let (c, t) = self.search_candidates(&q, cfg, &mut timings, t)?;
        let mut hits = if c.first.is_empty() {
            rank::rank(c.hits, &c.bm25, cfg, now, threshold, depth)
        } else {
            let all = rank::rank(c.hits, &c.bm25, cfg, now, threshold, usize::MAX);
            rank::keep_first(all, &c.first, depth)
        };
        let mut t = timings.record("rank", t);
        if let Some(r) = reranker
            && !hits.is_empty()
        {
            let docs: Vec<&str> = hits.iter().map(|(m, _)| m.text.as_str()).collect();
            let scores = r.rerank(query, &docs)?;
            rank::apply_rerank(&mut hits, scores)?;
            t = timings.record("rerank", t);
        }
        hits.truncate(limit);
        let relations = if self.inner.config.graph {
            let r = self.graph_search_within(query, &qv, &full_scope, limit)?;
            timings.record("graph", t);
            Some(r)
        } else {
            None
        };
        Ok(SearchResult {
            timings,
            relations,
            results: hits
                .into_iter()
                .map(|(m, d)| {
                    let mut it = MemoryItem::from(m);
                    it.score = Some(d.rerank.unwrap_or(d.fused));
                    if opts.explain {
                        it.explain = Some(d);
                    }
                    it
                })
                .collect(),
        })
    }

    /// The reranker of a search: none with `no_rerank`; else the one given
    /// to the builder; else, with `search.rerank`, the chat model.
    fn reranker(&self, opts: &SearchOptions) -> Result<Option<Arc<dyn Reranker>>> {
        if opts.no_rerank {
            return Ok(None);
        }
        if let Some(r) = &self.inner.reranker {
            return Ok(Some(Arc::clone(r)));
        }
        if self.inner.config.search.rerank {
            return Ok(Some(Arc::new(ChatReranker::new(self.chat_model()?))));
        }
        Ok(None)
    }

    /// Stage 3: semantic ∪ keyword candidates, from one snapshot. With
    /// `feedback_weight` > 0, the first candidates are ranked, and the
    /// keyword search runs again with the query expanded by the stems of
    /// the best `feedback_docs` ([`feedback_stems`]); its scores replace
    /// the first ones (the semantic candidates are kept).
    ///
    /// Stages timed: `keyword`, `semantic` (HNSW and the hits' records),
    /// `fetch` (the keyword hits' records and vectors), `feedback`.
    fn search_candidates(
        &self,
        q: &Query<'_>,
        cfg: &crate::SearchConfig,
        timings: &mut crate::types::StageTimings,
        t: std::time::Instant,
    ) -> Result<(Candidates, std::time::Instant)> {
        let snap = self.inner.store.snapshot()?;
        let keyword = self.keyword_hits(&snap, q, None)?;
        let t = timings.record("keyword", t);
        let mut c = self.semantic_candidates(&snap, q)?;
        let t = timings.record("semantic", t);
        let mut bm25 = self.add_keyword_candidates(&snap, q, keyword, &mut c)?;
        let mut t = timings.record("fetch", t);
        let mut first_ids = Vec::new();
        if cfg.feedback_weight > 0.0 && cfg.semantic_weight < 1.0 {
            let hits: Vec<(Record, f32)> = c.values().cloned().collect();
            let first = rank::rank(hits, &bm25, cfg, q.now, None, cfg.feedback_docs);
            let expansion = Expansion {
                stems: feedback_stems(first.iter().map(|(m, _)| m.text.as_str())),
                terms: cfg.feedback_terms,
                weight: cfg.feedback_weight,
            };
            if !expansion.stems.is_empty() {
                let keyword = self.keyword_hits(&snap, q, Some(&expansion))?;
                bm25 = self.add_keyword_candidates(&snap, q, keyword, &mut c)?;
                first_ids = first.iter().map(|(m, _)| m.id).collect();
            }
            t = timings.record("feedback", t);
        }
        let c = Candidates {
            hits: c.into_values().collect(),
            bm25,
            first: first_ids,
        };
        Ok((c, t))
    }

    /// The best keyword hits of the scope (none when search is semantic
    /// only), the query expanded by `expansion` when given.
    fn keyword_hits(
        &self,
        snap: &memlayer_store::Snapshot<'_>,
        q: &Query<'_>,
        expansion: Option<&Expansion>,
    ) -> Result<Vec<(Uuid, f32)>> {
        let cfg = &self.inner.config.search;
        if cfg.semantic_weight >= 1.0 {
            return Ok(Vec::new());
        }
        let opts = KeywordOptions {
            context_weight: cfg.context_weight,
            dates: cfg.query_dates,
        };
        let pool = q.pool();
        let kw = &self.inner.keywords;
        let Some(f) = q.filter else {
            return Ok(kw.search(q.scope, q.text, &opts, expansion, Some(pool)));
        };
        // A filter is checked on the stored record, best first, until the
        // pool is full.
        let mut out = Vec::with_capacity(pool);
        for (id, score) in kw.search(q.scope, q.text, &opts, expansion, None) {
            if out.len() == pool {
                break;
            }
            if snap.get(id)?.is_some_and(|m| f.matches(&m)) {
                out.push((id, score));
            }
        }
        Ok(out)
    }

    /// Semantic candidates: scoped HNSW hits that pass the filter, the beam
    /// widening while post-filters reject hits.
    fn semantic_candidates(
        &self,
        snap: &memlayer_store::Snapshot<'_>,
        q: &Query<'_>,
    ) -> Result<HashMap<Uuid, (Record, f32)>> {
        let pool = q.pool();
        let mut k = pool;
        let mut accepted: HashMap<Uuid, (Record, f32)> = HashMap::new();
        loop {
            let semantic = self.inner.vectors.search(q.vector, k, q.scope)?;
            let mut n_ok = 0;
            for &(id, cos) in &semantic {
                if accepted.contains_key(&id) {
                    n_ok += 1;
                    continue;
                }
                let Some(m) = snap.get(id)? else { continue };
                if q.filter.is_some_and(|f| !f.matches(&m)) || q.hidden(&m) {
                    continue;
                }
                accepted.insert(id, (m, cos));
                n_ok += 1;
            }
            if n_ok >= q.limit || semantic.len() < k || k >= 16 * pool {
                break;
            }
            k *= 4;
        }
        Ok(accepted)
    }

    /// Adds the keyword hits not yet among the candidates (their cosine
    /// from the stored vector); returns every hit's BM25 score.
    fn add_keyword_candidates(
        &self,
        snap: &memlayer_store::Snapshot<'_>,
        q: &Query<'_>,
        keyword: Vec<(Uuid, f32)>,
        accepted: &mut HashMap<Uuid, (Record, f32)>,
    ) -> Result<HashMap<Uuid, f32>> {
        let mut bm25: HashMap<Uuid, f32> = HashMap::with_capacity(keyword.len());
        for (id, score) in keyword {
            bm25.insert(id, score);
            if accepted.contains_key(&id) {
                continue;
            }
            let Some(m) = snap.get(id)? else { continue };
            if q.hidden(&m) {
                continue;
            }
            let Some(v) = snap.vector(id)? else { continue };
            accepted.insert(id, (m, memlayer_models::cosine(q.vector, &v)));
        }
        Ok(bm25)
    }
}

/// Pseudo-relevance feedback: the stems of `texts` (stop words removed),
/// each weighted by its share of each text's words, summed over the texts
/// (Σ tf / length), so every text counts alike whatever its length. In
/// order of first appearance.
pub fn feedback_stems<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<(String, f32)> {
    let mut out: Vec<(String, f32)> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for text in texts {
        let words = memlayer_text::tokenize(text, true);
        let share = 1.0 / words.len().max(1) as f32;
        for w in &words {
            let stem = memlayer_text::stem(w);
            match at.get(&stem) {
                Some(&i) => out[i].1 += share,
                None => {
                    at.insert(stem.clone(), out.len());
                    out.push((stem, share));
                }
            }
        }
    }
    out
}

/// A checked search request, as the candidate stage needs it.
#[derive(Clone, Copy)]
struct Query<'a> {
    text: &'a str,
    vector: &'a [f32],
    scope: &'a Scope,
    filter: Option<&'a Filter>,
    include_expired: bool,
    include_superseded: bool,
    limit: usize,
    now: Timestamp,
}

impl Query<'_> {
    /// Candidates wanted from each signal.
    fn pool(&self) -> usize {
        (self.limit * 2).max(50)
    }

    /// Whether a memory is hidden from this search (expired or superseded
    /// unless asked for).
    fn hidden(&self, m: &Record) -> bool {
        (!self.include_expired && is_expired(m, self.now))
            || (!self.include_superseded && m.is_superseded())
    }
}

/// Search candidates: each memory with its cosine to the query, and the
/// BM25 score of every keyword hit.
struct Candidates {
    hits: Vec<(Record, f32)>,
    bm25: HashMap<Uuid, f32>,
    /// With feedback: the first ranking's best hits, whose words expanded
    /// the query; they keep the top places (see [`rank::keep_first`]).
    first: Vec<Uuid>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feedback_stems_weigh_each_text_alike() {
        let got = feedback_stems(["Painting sunsets", "the sunset was painted by the lake"]);
        let get = |s: &str| got.iter().find(|x| x.0 == s).map(|x| x.1);
        // Words "painting sunsets" and "sunset painted lake": the shared
        // stems weigh ½ + ⅓.
        assert_eq!(got[0].0, memlayer_text::stem("painting"));
        assert_eq!(got.len(), 3);
        let sunset = get(&memlayer_text::stem("sunset")).unwrap();
        assert!((sunset - (0.5 + 1.0 / 3.0)).abs() < 1e-6);
        assert!((get(&memlayer_text::stem("lake")).unwrap() - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(get("the"), None);
        assert!(feedback_stems(["", "the"]).is_empty());
    }
}
