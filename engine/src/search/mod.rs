//! The `search` pipeline:
//!
//! 1. check the options; narrow the scope by the filter's scope equalities;
//! 2. embed the query (or take it from the cache of recent queries,
//!    `search.query_cache`);
//! 3. candidates: scoped HNSW hits (the beam widens while post-filters
//!    reject hits) ∪ scoped BM25 hits from the store (query words match by
//!    stem; a memory's BM25 counts the words of the memory stored before it
//!    in the scope at `context_weight`; a date the query names counts as a
//!    word of every memory made on it; their cosine from the stored
//!    vector); expired and superseded memories hidden unless asked for;
//! 4. [`rank`]: [`fuse`] the signals, threshold on the semantic part, sort,
//!    cut to `limit`, then the optional reranker;
//! 5. graph memory on: the query's `relations` (`crate::graph`).

mod cache;
mod fuse;
mod rank;

use std::collections::HashMap;

use memlayer_store::{Filter, KeywordOptions, Memory as Record, Scope, Timestamp};
use uuid::Uuid;

pub(crate) use self::cache::QueryCache;
pub use self::fuse::fuse;
use crate::error::Result;
use crate::memory::Memory;
use crate::types::{MemoryItem, SearchOptions, SearchResult};
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
        let c = self.search_candidates(&q)?;
        let t = timings.record("candidates", t);
        let mut hits = rank::rank(c.hits, &c.bm25, cfg, now, threshold, limit);
        let mut t = timings.record("rank", t);
        if let Some(r) = self.inner.reranker.as_ref().filter(|_| !opts.no_rerank)
            && !hits.is_empty()
        {
            let docs: Vec<&str> = hits.iter().map(|(m, _)| m.text.as_str()).collect();
            let scores = r.rerank(query, &docs)?;
            rank::apply_rerank(&mut hits, scores)?;
            t = timings.record("rerank", t);
        }
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

    /// Stage 3: semantic ∪ keyword candidates.
    fn search_candidates(&self, q: &Query<'_>) -> Result<Candidates> {
        let Query {
            text: query,
            vector: qv,
            scope,
            filter,
            include_expired,
            include_superseded,
            limit,
            now,
        } = *q;
        let pool = (limit * 2).max(50);
        let snap = self.inner.store.snapshot()?;
        let keyword = if self.inner.config.search.semantic_weight < 1.0 {
            let opts = KeywordOptions {
                context_weight: self.inner.config.search.context_weight,
                dates: self.inner.config.search.query_dates,
            };
            snap.keyword_search_with(scope, filter, query, pool, &opts)?
        } else {
            Vec::new()
        };
        let hidden = |m: &Record| {
            (!include_expired && is_expired(m, now)) || (!include_superseded && m.is_superseded())
        };
        // Semantic candidates; widen the beam while post-filters reject hits.
        let mut k = pool;
        let mut accepted: HashMap<Uuid, (Record, f32)> = HashMap::new();
        loop {
            let semantic = self.inner.vectors.search(qv, k, scope)?;
            let mut n_ok = 0;
            for &(id, cos) in &semantic {
                if accepted.contains_key(&id) {
                    n_ok += 1;
                    continue;
                }
                let Some(m) = snap.get(id)? else { continue };
                if filter.is_some_and(|f| !f.matches(&m)) || hidden(&m) {
                    continue;
                }
                accepted.insert(id, (m, cos));
                n_ok += 1;
            }
            if n_ok >= limit || semantic.len() < k || k >= 16 * pool {
                break;
            }
            k *= 4;
        }
        let mut bm25: HashMap<Uuid, f32> = HashMap::with_capacity(keyword.len());
        for (id, score) in keyword {
            bm25.insert(id, score);
            if accepted.contains_key(&id) {
                continue;
            }
            let Some(m) = snap.get(id)? else { continue };
            if hidden(&m) {
                continue;
            }
            let Some(v) = snap.vector(id)? else { continue };
            accepted.insert(id, (m, memlayer_models::cosine(qv, &v)));
        }
        Ok(Candidates {
            hits: accepted.into_values().collect(),
            bm25,
        })
    }
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

/// Search candidates: each memory with its cosine to the query, and the
/// BM25 score of every keyword hit.
struct Candidates {
    hits: Vec<(Record, f32)>,
    bm25: HashMap<Uuid, f32>,
}
