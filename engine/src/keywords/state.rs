//! The in-memory keyword index: every memory's stems and length, and per
//! scope dimension value (`user_id = alice`, …) its memories in
//! insertion order with their stems' postings. Derived from the store
//! (rebuilt at open, updated after each commit), like the vector side.

use std::collections::{HashMap, HashSet};

use memlayer_store::{Scope, ScopeKind, Timestamp};
use uuid::Uuid;

/// A scope dimension and its value.
pub(crate) type ScopeKey = (ScopeKind, String);

/// Index of a scope dimension in [`Doc::pos`].
pub(crate) fn dim(kind: ScopeKind) -> usize {
    match kind {
        ScopeKind::User => 0,
        ScopeKind::Agent => 1,
        ScopeKind::Run => 2,
    }
}

/// One memory as the keyword index knows it.
pub(crate) struct Doc {
    pub id: Uuid,
    pub scope: Scope,
    pub at: Timestamp,
    /// Indexed words (stop words removed when the store removes them).
    pub len: u32,
    /// (term id, term frequency) of each distinct stem.
    pub stems: Vec<(u32, u32)>,
    /// Position in each of its scope dimensions' order (by [`dim`]).
    pub pos: [u32; 3],
}

/// One scope dimension value's memories.
#[derive(Default)]
pub(crate) struct ScopeIndex {
    /// Slots in insertion order: `created_at`, then id (the store's scope
    /// index order).
    pub order: Vec<u32>,
    /// Length of the memory at each position of `order`.
    pub lens: Vec<u32>,
    /// Id of the memory at each position of `order`.
    pub ids: Vec<Uuid>,
    /// Term id → (position in `order`, term frequency), by position: a
    /// query reads positions without touching the documents, and sweeps
    /// its per-position arrays in one direction.
    pub postings: HashMap<u32, Vec<(u32, u32)>>,
    /// `order` is out of order (an insert before the last memory).
    unsorted: bool,
}

/// The whole index.
#[derive(Default)]
pub(crate) struct State {
    /// By slot; `None` once deleted (slots are not reused).
    pub docs: Vec<Option<Doc>>,
    pub by_id: HashMap<Uuid, u32>,
    /// Stem → term id.
    pub terms: HashMap<String, u32>,
    pub scopes: HashMap<ScopeKey, ScopeIndex>,
    /// Scopes changed since the last [`State::finish`].
    touched: HashSet<ScopeKey>,
}

/// A text's distinct stems with their term frequencies (the frequencies
/// of a stem's words add up) and its length in indexed words: what the
/// store's postings give a query stem (see `memlayer_store::keyword`).
pub(crate) fn stem_counts(text: &str, stop_words: bool) -> (Vec<(String, u32)>, u32) {
    let tokens = memlayer_text::tokenize(text, stop_words);
    let len = u32::try_from(tokens.len()).unwrap_or(u32::MAX);
    let mut at: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<(String, u32)> = Vec::new();
    for t in &tokens {
        let s = memlayer_text::stem(t);
        match at.get(&s) {
            Some(&i) => out[i].1 = out[i].1.saturating_add(1),
            None => {
                at.insert(s.clone(), out.len());
                out.push((s, 1));
            }
        }
    }
    (out, len)
}

fn key_of(scope: &Scope) -> impl Iterator<Item = ScopeKey> + '_ {
    scope.entries().map(|(k, v)| (k, v.to_string()))
}

impl State {
    fn intern(&mut self, stem: String) -> u32 {
        let next = self.terms.len() as u32;
        *self.terms.entry(stem).or_insert(next)
    }

    /// Adds a memory (an id already present is replaced).
    pub(crate) fn insert(
        &mut self,
        id: Uuid,
        scope: Scope,
        at: Timestamp,
        text: &str,
        stop_words: bool,
    ) {
        if self.by_id.contains_key(&id) {
            self.remove(id);
        }
        let (counts, len) = stem_counts(text, stop_words);
        let stems: Vec<(u32, u32)> = counts
            .into_iter()
            .map(|(s, tf)| (self.intern(s), tf))
            .collect();
        let slot = self.docs.len() as u32;
        let mut pos = [u32::MAX; 3];
        for key in key_of(&scope) {
            let d = dim(key.0);
            let si = self.scopes.entry(key.clone()).or_default();
            let p = si.order.len() as u32;
            for &(t, tf) in &stems {
                si.postings.entry(t).or_default().push((p, tf));
            }
            let after_last = si.order.last().is_none_or(|&l| {
                self.docs[l as usize]
                    .as_ref()
                    .is_none_or(|o| (o.at, o.id) < (at, id))
            });
            pos[d] = p;
            si.order.push(slot);
            si.lens.push(len);
            si.ids.push(id);
            if !after_last {
                si.unsorted = true;
                self.touched.insert(key);
            }
        }
        self.docs.push(Some(Doc {
            id,
            scope,
            at,
            len,
            stems,
            pos,
        }));
        self.by_id.insert(id, slot);
    }

    /// Replaces a memory's text (its scope and time stay).
    pub(crate) fn update(&mut self, id: Uuid, text: &str, stop_words: bool) {
        let Some(&slot) = self.by_id.get(&id) else {
            return;
        };
        let (counts, len) = stem_counts(text, stop_words);
        let stems: Vec<(u32, u32)> = counts
            .into_iter()
            .map(|(s, tf)| (self.intern(s), tf))
            .collect();
        let Some(doc) = self.docs[slot as usize].as_mut() else {
            return;
        };
        let old = std::mem::replace(&mut doc.stems, stems.clone());
        doc.len = len;
        for key in key_of(&doc.scope) {
            let Some(si) = self.scopes.get_mut(&key) else {
                continue;
            };
            let p = doc.pos[dim(key.0)];
            for (t, _) in &old {
                if let Some(list) = si.postings.get_mut(t) {
                    list.retain(|x| x.0 != p);
                    if list.is_empty() {
                        si.postings.remove(t);
                    }
                }
            }
            for &(t, tf) in &stems {
                let list = si.postings.entry(t).or_default();
                let at = list.partition_point(|x| x.0 < p);
                list.insert(at, (p, tf));
            }
            if let Some(l) = si.lens.get_mut(p as usize) {
                *l = len;
            }
        }
    }

    /// Removes a memory; its scopes are compacted by [`State::finish`].
    pub(crate) fn remove(&mut self, id: Uuid) {
        let Some(slot) = self.by_id.remove(&id) else {
            return;
        };
        let Some(doc) = self.docs[slot as usize].take() else {
            return;
        };
        for key in key_of(&doc.scope) {
            if self.scopes.contains_key(&key) {
                self.touched.insert(key);
            }
        }
    }

    /// Brings the scopes changed since the last call back in order: drops
    /// deleted memories, sorts an order that took an insert out of
    /// sequence, renumbers positions and moves the postings to the new
    /// positions (one pass over the scope's postings).
    pub(crate) fn finish(&mut self) {
        let docs = &mut self.docs;
        for key in std::mem::take(&mut self.touched) {
            let Some(si) = self.scopes.get_mut(&key) else {
                continue;
            };
            let d = dim(key.0);
            let old_len = si.order.len();
            si.order.retain(|&s| docs[s as usize].is_some());
            if si.unsorted {
                si.order
                    .sort_by_key(|&s| docs[s as usize].as_ref().map(|d| (d.at, d.id)));
            }
            // Old position → new (u32::MAX: deleted).
            let mut moved = vec![u32::MAX; old_len];
            si.lens.clear();
            si.ids.clear();
            for (p, &s) in si.order.iter().enumerate() {
                if let Some(doc) = docs[s as usize].as_mut() {
                    if let Some(m) = moved.get_mut(doc.pos[d] as usize) {
                        *m = p as u32;
                    }
                    doc.pos[d] = p as u32;
                    si.lens.push(doc.len);
                    si.ids.push(doc.id);
                }
            }
            let resort = si.unsorted;
            si.postings.retain(|_, list| {
                list.retain_mut(|x| match moved.get(x.0 as usize) {
                    Some(&p) if p != u32::MAX => {
                        x.0 = p;
                        true
                    }
                    _ => false,
                });
                // Dropping deleted positions keeps the order; a re-sorted
                // scope moves positions around.
                if resort {
                    list.sort_unstable_by_key(|x| x.0);
                }
                !list.is_empty()
            });
            si.unsorted = false;
            if si.order.is_empty() {
                self.scopes.remove(&key);
            }
        }
    }

    /// A live memory by slot.
    pub(crate) fn doc(&self, slot: u32) -> Option<&Doc> {
        self.docs.get(slot as usize).and_then(Option::as_ref)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(st: &State, key: &ScopeKey) -> Vec<u128> {
        st.scopes[key]
            .order
            .iter()
            .map(|&s| st.doc(s).unwrap().id.as_u128())
            .collect()
    }

    #[test]
    fn stems_of_one_word_family_add_up() {
        let (c, len) = stem_counts("She lives here; living is easy, she lived", true);
        let liv = memlayer_text::stem("lives");
        assert_eq!(c.iter().find(|x| x.0 == liv).unwrap().1, 3);
        assert_eq!(len, c.iter().map(|x| x.1).sum::<u32>());
    }

    #[test]
    fn order_positions_and_postings_follow_inserts_updates_and_deletes() {
        let mut st = State::default();
        let u = Scope::user("u");
        let key = (ScopeKind::User, "u".to_string());
        let t = |s: i64| Timestamp(s);
        st.insert(Uuid::from_u128(1), u.clone(), t(10), "red kite", true);
        st.insert(Uuid::from_u128(3), u.clone(), t(30), "blue lake", true);
        // Imported with an earlier time: goes between the two.
        st.insert(
            Uuid::from_u128(2),
            u.clone().with_run("r"),
            t(20),
            "red lake lake",
            true,
        );
        st.finish();
        assert_eq!(ids(&st, &key), [1, 2, 3]);
        let si = &st.scopes[&key];
        assert_eq!(si.lens, [2, 3, 2]);
        for (p, &s) in si.order.iter().enumerate() {
            assert_eq!(st.doc(s).unwrap().pos[0] as usize, p);
        }
        let lake = st.terms[&memlayer_text::stem("lake")];
        let lake_docs = si.postings[&lake].clone();
        // Position 1 is memory 2 ("red lake lake"), 2 memory 3 ("blue lake").
        assert_eq!(lake_docs, [(1, 2), (2, 1)]);
        // The run dimension holds only memory 2.
        assert_eq!(ids(&st, &(ScopeKind::Run, "r".into())), [2]);

        st.update(Uuid::from_u128(3), "green", true);
        st.remove(Uuid::from_u128(2));
        st.finish();
        assert_eq!(ids(&st, &key), [1, 3]);
        assert_eq!(st.scopes[&key].lens, [2, 1]);
        assert!(!st.scopes[&key].postings.contains_key(&lake));
        assert!(!st.scopes.contains_key(&(ScopeKind::Run, "r".into())));
        assert_eq!(st.doc(st.by_id[&Uuid::from_u128(3)]).unwrap().pos[0], 1);
        // Postings stay sorted by position through updates.
        st.update(Uuid::from_u128(1), "green kite", true);
        st.finish();
        let green = st.terms[&memlayer_text::stem("green")];
        assert_eq!(st.scopes[&key].postings[&green], [(0, 1), (1, 1)]);
    }
}
