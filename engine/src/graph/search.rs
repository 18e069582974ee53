//! The `relations` of a search: entities recognised in the query (exact
//! name n-grams, speaker words, embedding matches), their valid edges at
//! depth 1, ranked by `w·BM25(triple text) + (1−w)·entity similarity`.

use std::collections::{HashMap, HashSet};

use memlayer_store::Scope;
use memlayer_text::{QUERY_STOP_WORDS, bm25, is_stop_word, stems, words};

use super::{Relation, is_self_word, self_name};
use crate::error::Result;
use crate::memory::Memory;

/// Relations read per recognised entity.
const MAX_EDGES_PER_ENTITY: usize = 500;

impl Memory {
    /// [`Memory::graph_search`] over every graph that `scope` covers (a
    /// user-level search also sees the relations stored under that user's
    /// runs and agents, as it sees their memories), merged best first, each
    /// triple once.
    pub(crate) fn graph_search_within(
        &self,
        query: &str,
        qv: &[f32],
        scope: &Scope,
        limit: usize,
    ) -> Result<Vec<Relation>> {
        let scopes = self.inner.store.snapshot()?.graph_scopes_within(scope)?;
        let mut out: Vec<Relation> = Vec::new();
        for s in &scopes {
            out.extend(self.graph_search(query, qv, s, limit)?);
        }
        Ok(merge_relations(out, limit))
    }

    /// Relations of the entities recognised in `query` (exact name n-grams,
    /// speaker words, and embedding matches of the query's content words),
    /// their valid edges at depth 1, ranked by
    /// `w·BM25(triple text) + (1−w)·entity similarity`.
    pub(crate) fn graph_search(
        &self,
        query: &str,
        qv: &[f32],
        scope: &Scope,
        limit: usize,
    ) -> Result<Vec<Relation>> {
        let g = &self.inner.config.graph_options;
        let snap = self.inner.store.snapshot()?;
        let sg = self
            .inner
            .graph_cache
            .get(&snap, scope, self.inner.embedder.dims())?;
        if sg.nodes.is_empty() {
            return Ok(Vec::new());
        }
        // The speaker's own node (a hub: most relations start there).
        let me = self_name(scope, false).and_then(|m| sg.by_name.get(&m).copied());
        let mut sim: HashMap<usize, f32> = HashMap::new();
        let bump = |sim: &mut HashMap<usize, f32>, i: usize, s: f32| {
            let e = sim.entry(i).or_insert(0.0);
            *e = e.max(s);
        };
        for ng in query_ngrams(query) {
            if let Some(&i) = sg.by_name.get(&ng) {
                bump(&mut sim, i, 1.0);
            }
            if is_self_word(&ng)
                && let Some(i) = me
            {
                bump(&mut sim, i, 1.0);
            }
        }
        for (i, cos) in sg.similar(qv, 3, g.query_match_threshold) {
            bump(&mut sim, i, cos);
        }
        // Embedding matches of the query's words cost one more (batched)
        // embedding call: only when no entity other than the speaker was
        // recognised by name or by the whole query.
        let found_other = sim.keys().any(|&i| Some(i) != me);
        let terms = if found_other {
            Vec::new()
        } else {
            query_terms(query, 6)
        };
        if !terms.is_empty() {
            let refs: Vec<&str> = terms.iter().map(String::as_str).collect();
            for v in self.inner.embedder.embed_batch(&refs)? {
                for (i, cos) in sg.similar(&v, 2, g.query_match_threshold) {
                    bump(&mut sim, i, cos);
                }
            }
        }
        let mut matched: Vec<(usize, f32)> = sim.into_iter().collect();
        matched.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        matched.truncate(10);
        let node_sim: HashMap<&str, f32> = matched
            .iter()
            .map(|&(i, s)| (sg.nodes[i].name.as_str(), s))
            .collect();
        // The hub's edges are reached through the other recognised
        // entities, and read directly (bounded) only when no other entity
        // was recognised.
        let mut expand: Vec<usize> = matched
            .iter()
            .map(|&(i, _)| i)
            .filter(|&i| Some(i) != me)
            .collect();
        if expand.is_empty() {
            expand.extend(me.filter(|m| matched.iter().any(|&(i, _)| i == *m)));
        }
        let mut edges = Vec::new();
        let mut seen = HashSet::new();
        for i in expand {
            for e in
                snap.graph_neighbors_limit(scope, &sg.nodes[i].name, false, MAX_EDGES_PER_ENTITY)?
            {
                if seen.insert((
                    e.source.clone(),
                    e.relationship.clone(),
                    e.destination.clone(),
                )) {
                    edges.push(e);
                }
            }
        }
        let docs: Vec<String> = edges
            .iter()
            .map(|e| format!("{} {} {}", e.source, e.relationship, e.destination).replace('_', " "))
            .collect();
        let bm = bm25_norm(query, &docs);
        let out: Vec<Relation> = edges
            .iter()
            .zip(bm)
            .map(|(e, b)| {
                let es = node_sim
                    .get(e.source.as_str())
                    .copied()
                    .unwrap_or(0.0)
                    .max(node_sim.get(e.destination.as_str()).copied().unwrap_or(0.0));
                let mut r = Relation::new(&e.source, &e.relationship, &e.destination);
                r.score = Some(g.keyword_weight * b + (1.0 - g.keyword_weight) * es);
                r
            })
            .collect();
        Ok(merge_relations(out, limit))
    }
}

/// Relations best first (then by triple), each triple once (its best
/// score), at most `limit`.
pub(crate) fn merge_relations(mut rs: Vec<Relation>, limit: usize) -> Vec<Relation> {
    rs.sort_by(|a, b| {
        b.score
            .unwrap_or(0.0)
            .total_cmp(&a.score.unwrap_or(0.0))
            .then_with(|| a.source.cmp(&b.source))
            .then_with(|| a.relationship.cmp(&b.relationship))
            .then_with(|| a.destination.cmp(&b.destination))
    });
    let mut seen = HashSet::new();
    rs.retain(|r| {
        seen.insert((
            r.source.clone(),
            r.relationship.clone(),
            r.destination.clone(),
        ))
    });
    rs.truncate(limit);
    rs
}

/// Word n-grams (1..=4) of a query, joined with `_` like stored names.
pub(crate) fn query_ngrams(q: &str) -> Vec<String> {
    let w: Vec<String> = words(q).collect();
    let mut out = Vec::new();
    for n in 1..=4usize.min(w.len()) {
        for win in w.windows(n) {
            out.push(win.join("_"));
        }
    }
    out
}

/// Content unigrams and bigrams of a query, for embedding matches (at most
/// `max`).
pub(crate) fn query_terms(q: &str, max: usize) -> Vec<String> {
    let w: Vec<String> = words(q)
        .filter(|w| !is_stop_word(w) && !QUERY_STOP_WORDS.contains(&w.as_str()) && w.len() > 1)
        .collect();
    let mut out: Vec<String> = w.clone();
    for pair in w.windows(2) {
        out.push(pair.join(" "));
    }
    out.dedup();
    out.truncate(max);
    out
}

/// BM25 of `query` against each document (the candidate relations' text),
/// over stemmed words, mapped to [0, 1) by s/(s+1).
pub(crate) fn bm25_norm(query: &str, docs: &[String]) -> Vec<f32> {
    let d: Vec<Vec<String>> = docs.iter().map(|t| stems(t)).collect();
    bm25::score_docs(&stems(query), &d)
        .into_iter()
        .map(|s| s / (s + 1.0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ngrams_and_terms() {
        assert_eq!(
            query_ngrams("Where is New York?"),
            vec![
                "where",
                "is",
                "new",
                "york",
                "where_is",
                "is_new",
                "new_york",
                "where_is_new",
                "is_new_york",
                "where_is_new_york"
            ]
        );
        assert_eq!(
            query_terms("Where does my brother live?", 8),
            vec!["brother", "live", "brother live"]
        );
        assert_eq!(query_terms("a b c", 8), Vec::<String>::new());
    }

    #[test]
    fn merged_relations_are_best_first_each_once() {
        let r = |s: &str, score: f32| {
            let mut r = Relation::new(s, "likes", "tea");
            r.score = Some(score);
            r
        };
        let merged = merge_relations(
            vec![r("ana", 0.2), r("bo", 0.9), r("ana", 0.5), r("cy", 0.1)],
            2,
        );
        let got: Vec<(&str, Option<f32>)> = merged
            .iter()
            .map(|r| (r.source.as_str(), r.score))
            .collect();
        assert_eq!(got, vec![("bo", Some(0.9)), ("ana", Some(0.5))]);
    }

    #[test]
    fn bm25_prefers_matching_triples() {
        let s = bm25_norm(
            "where does tom live",
            &[
                "tom lives in dublin".into(),
                "tom works as chef".into(),
                "ana likes tea".into(),
            ],
        );
        assert!(s[0] > 0.0 && s[1] > 0.0 && s[2] == 0.0);
        assert!(s.iter().all(|&x| (0.0..1.0).contains(&x)));
        let s = bm25_norm("tom live", &["tom live dublin".into(), "tom works".into()]);
        assert!(s[0] > s[1]);
    }
}
