//! The engine's keyword side: BM25 over an in-memory index of every
//! memory's stems, per scope dimension value, in insertion order.
//!
//! The store keeps the keyword postings in redb (the source of truth,
//! with `Snapshot::keyword_search_expanded` scoring them there); a
//! search reading them costs a B-tree walk per posting and, with
//! neighbour context, the scope's whole order per query: 80 ms at 100k
//! memories in one scope. This index is derived like the vector side:
//! built from the store at open ([`Keywords::open`]), brought up to date
//! after each commit under the writer lock ([`Keywords::apply`]), and
//! scored on dense arrays by position ([`score`]). The scores are the
//! store's (same stems, lengths, neighbour context, dates and expansion);
//! a test compares the two on random scopes.
//!
//! - [`state`]: the index and its upkeep;
//! - [`score`]: BM25 with neighbour context by position.

mod score;
mod state;

use std::borrow::Cow;
use std::collections::HashSet;

use memlayer_store::keyword::{
    Expansion, MAX_EXPANSION_POSTINGS, expansion_weights, query_stems, sort_best,
};
use memlayer_store::{KeywordOptions, Scope, Snapshot, Store};
use parking_lot::RwLock;
use uuid::Uuid;

use self::score::Term;
use self::state::{ScopeIndex, State};
use crate::error::Result;
use crate::vectors::Change;

/// The in-memory keyword index (see the module docs).
pub(crate) struct Keywords {
    state: RwLock<State>,
    stop_words: bool,
}

impl Keywords {
    /// Builds the index from a store snapshot.
    pub(crate) fn open(store: &Store) -> Result<Keywords> {
        let stop_words = store.stop_words();
        let state = Self::build(&store.snapshot()?, stop_words)?;
        Ok(Keywords {
            state: RwLock::new(state),
            stop_words,
        })
    }

    fn build(snap: &Snapshot<'_>, stop_words: bool) -> Result<State> {
        let t = std::time::Instant::now();
        let mut st = State::default();
        snap.for_each_memory(|m| st.insert(m.id, m.scope, m.created_at, &m.text, stop_words))?;
        st.finish();
        tracing::debug!(
            memories = st.by_id.len(),
            ms = t.elapsed().as_secs_f64() * 1e3,
            "keyword index built"
        );
        Ok(st)
    }

    /// Rebuilds the whole index from the store.
    pub(crate) fn rebuild(&self, store: &Store) -> Result<()> {
        let st = Self::build(&store.snapshot()?, self.stop_words)?;
        *self.state.write() = st;
        Ok(())
    }

    /// Drops everything (after a store reset).
    pub(crate) fn clear(&self) {
        *self.state.write() = State::default();
    }

    /// Applies committed changes: inserted and updated memories are read
    /// back from the store (their text, scope and time).
    pub(crate) fn apply(&self, store: &Store, changes: &[Change]) -> Result<()> {
        let snap = store.snapshot()?;
        let mut st = self.state.write();
        for c in changes {
            match c {
                Change::Insert { id, .. } => match snap.get(*id)? {
                    Some(m) => st.insert(m.id, m.scope, m.created_at, &m.text, self.stop_words),
                    None => st.remove(*id),
                },
                Change::Update { id, .. } => match snap.get(*id)? {
                    Some(m) => st.update(m.id, &m.text, self.stop_words),
                    None => st.remove(*id),
                },
                Change::Delete { id } => st.remove(*id),
            }
        }
        st.finish();
        Ok(())
    }

    /// Removes memories (a `delete_all`).
    pub(crate) fn remove(&self, ids: &[Uuid]) {
        let mut st = self.state.write();
        for &id in ids {
            st.remove(id);
        }
        st.finish();
    }

    /// BM25 scores of the memories of `scope` (every set dimension) for
    /// `query`, best first (ties: smaller id first), the `top` best when
    /// given: the store's `keyword_search_expanded` without its filter.
    pub(crate) fn search(
        &self,
        scope: &Scope,
        query: &str,
        opts: &KeywordOptions,
        expansion: Option<&Expansion>,
        top: Option<usize>,
    ) -> Vec<(Uuid, f32)> {
        let st = self.state.read();
        let Some(view) = View::new(&st, scope) else {
            return Vec::new();
        };
        let stems = query_stems(query, self.stop_words);
        let words = stems
            .iter()
            .filter_map(|s| view.hits(&st, s))
            .filter(|h| !h.is_empty())
            .map(|hits| Term {
                hits,
                weight: 1.0,
                passes: true,
            });
        let expanded = match expansion.filter(|e| e.weight > 0.0 && e.terms > 0) {
            Some(e) => view.expansion(&st, &stems, e),
            None => Vec::new(),
        };
        let dates = match opts.dates {
            true => view.dates(&st, &memlayer_text::dates::named_dates(query)),
            false => Vec::new(),
        };
        let context = opts.context_weight > 0.0 && opts.context_weight.is_finite();
        // The store's order of terms (words, then expansion, then dates
        // with context; dates before expansion without), so that scores
        // add up in the same order. With context, a query of no stems and
        // no date scores nothing, as in the store.
        if context && stems.is_empty() && dates.is_empty() {
            return Vec::new();
        }
        let terms: Vec<Term> = if context {
            words.chain(expanded).chain(dates).collect()
        } else {
            words.chain(dates).chain(expanded).collect()
        };
        let scored = score::score(&terms, &view.lens, opts.context_weight);
        let mut out: Vec<(Uuid, f32)> = scored
            .into_iter()
            .filter_map(|(p, s)| Some((*view.ids.get(p as usize)?, s)))
            .collect();
        sort_best(&mut out, top);
        out
    }
}

/// A scope as the scorer sees it: its memories in insertion order. One
/// dimension is that dimension's [`ScopeIndex`]; more than one is the
/// smallest dimension's memories that are in all of them.
struct View<'a> {
    si: &'a ScopeIndex,
    order: Cow<'a, [u32]>,
    lens: Cow<'a, [u32]>,
    ids: Cow<'a, [Uuid]>,
    /// Several dimensions: position in the scanned dimension → position
    /// in `order` (`u32::MAX`: not in every dimension).
    moved: Option<Vec<u32>>,
}

impl<'a> View<'a> {
    fn new(st: &'a State, scope: &Scope) -> Option<View<'a>> {
        let mut best: Option<&ScopeIndex> = None;
        let mut dims = 0;
        for (kind, v) in scope.entries() {
            dims += 1;
            let si = st.scopes.get(&(kind, v.to_string()))?;
            if best.is_none_or(|b| si.order.len() < b.order.len()) {
                best = Some(si);
            }
        }
        let si = best?;
        if dims == 1 {
            return Some(View {
                si,
                order: si.order.as_slice().into(),
                lens: si.lens.as_slice().into(),
                ids: si.ids.as_slice().into(),
                moved: None,
            });
        }
        let (mut order, mut lens, mut ids) = (Vec::new(), Vec::new(), Vec::new());
        let mut moved = vec![u32::MAX; si.order.len()];
        for (p, &s) in si.order.iter().enumerate() {
            if let Some(doc) = st.doc(s).filter(|doc| scope.matches(&doc.scope)) {
                moved[p] = order.len() as u32;
                order.push(s);
                lens.push(doc.len);
                ids.push(doc.id);
            }
        }
        Some(View {
            si,
            order: order.into(),
            lens: lens.into(),
            ids: ids.into(),
            moved: Some(moved),
        })
    }

    /// (position, term frequency) of the memories holding `stem`; `None`
    /// when no memory of the dimension does.
    fn hits(&self, st: &'a State, stem: &str) -> Option<Cow<'a, [(u32, u32)]>> {
        let list = self.si.postings.get(st.terms.get(stem)?)?;
        Some(match &self.moved {
            None => Cow::Borrowed(list.as_slice()),
            Some(moved) => list
                .iter()
                .filter_map(|&(p, tf)| match moved.get(p as usize) {
                    Some(&q) if q != u32::MAX => Some((q, tf)),
                    _ => None,
                })
                .collect(),
        })
    }

    /// The expansion stems kept ([`expansion_weights`]), as terms that
    /// pass on like query words.
    fn expansion(&self, st: &'a State, stems: &[String], e: &Expansion) -> Vec<Term<'a>> {
        let mut seen: HashSet<&str> = stems.iter().map(String::as_str).collect();
        let mut raw = Vec::new();
        let mut docs = Vec::new();
        for (stem, r) in &e.stems {
            if !seen.insert(stem.as_str()) || !r.is_finite() || *r <= 0.0 {
                continue;
            }
            let too_common = st
                .terms
                .get(stem)
                .and_then(|t| self.si.postings.get(t))
                .is_some_and(|l| l.len() > MAX_EXPANSION_POSTINGS);
            if too_common {
                continue;
            }
            let hits = self.hits(st, stem).unwrap_or_default();
            raw.push((*r, hits.len() as u64));
            docs.push(Some(hits));
        }
        let n = self.order.len() as u64;
        expansion_weights(&raw, n, e.terms, e.weight)
            .into_iter()
            .filter_map(|(i, weight)| {
                Some(Term {
                    hits: docs.get_mut(i)?.take()?,
                    weight,
                    passes: true,
                })
            })
            .collect()
    }

    /// One term per date the query names that some memory was made on:
    /// those memories, term frequency 1, not passed on.
    fn dates(&self, st: &State, dates: &[memlayer_text::dates::NamedDate]) -> Vec<Term<'a>> {
        if dates.is_empty() {
            return Vec::new();
        }
        let mut hits: Vec<Vec<(u32, u32)>> = vec![Vec::new(); dates.len()];
        for (p, &s) in self.order.iter().enumerate() {
            let Some(doc) = st.doc(s) else { continue };
            let (y, m, d) = doc.at.civil_date();
            for (h, date) in hits.iter_mut().zip(dates) {
                if date.contains(y, m, d) {
                    h.push((p as u32, 1));
                }
            }
        }
        hits.into_iter()
            .filter(|h| !h.is_empty())
            .map(|hits| Term {
                hits: hits.into(),
                weight: 1.0,
                passes: false,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
