//! Stage 3 of `add(infer)`: for each extracted fact, the similar memories
//! of the scope it may repeat, refine or contradict; then the split into
//! exact duplicates (NONE, no LLM), facts with no candidate (ADD, no LLM)
//! and contested facts (one reconciliation call).

use std::collections::HashMap;

use uuid::Uuid;

use crate::error::Result;

/// A stored memory a fact was compared with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Known {
    /// Its id.
    pub(crate) id: Uuid,
    /// Its text's md5 (optimistic-concurrency check and duplicate test).
    pub(crate) hash: String,
    /// Its text.
    pub(crate) text: String,
}

/// The candidate memories of every fact of one `add`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CandidateSet {
    /// Distinct candidate memories, in order of first appearance.
    pub(crate) known: Vec<Known>,
    /// Per fact: (index into `known`, cosine), best first.
    pub(crate) near: Vec<Vec<(usize, f32)>>,
}

impl CandidateSet {
    /// Gathers each fact's candidates, at most `per_fact` each: `search`
    /// returns its nearest memories in scope as (id, cosine), best first;
    /// those below `min_similarity` are dropped; `fetch` reads a memory
    /// (gone, or hidden from reconciliation: `None`, skipped, so `search`
    /// should return more than `per_fact`).
    pub(crate) fn gather(
        fact_vectors: &[Vec<f32>],
        min_similarity: f32,
        per_fact: usize,
        mut search: impl FnMut(&[f32]) -> Result<Vec<(Uuid, f32)>>,
        mut fetch: impl FnMut(Uuid) -> Result<Option<Known>>,
    ) -> Result<CandidateSet> {
        let mut set = CandidateSet::default();
        let mut index_of: HashMap<Uuid, usize> = HashMap::new();
        for v in fact_vectors {
            let mut mine = Vec::new();
            for (id, cos) in search(v)? {
                if mine.len() >= per_fact {
                    break;
                }
                if cos < min_similarity {
                    continue;
                }
                let ci = match index_of.get(&id) {
                    Some(&ci) => ci,
                    None => {
                        let Some(k) = fetch(id)? else { continue };
                        set.known.push(k);
                        index_of.insert(id, set.known.len() - 1);
                        set.known.len() - 1
                    }
                };
                mine.push((ci, cos));
            }
            set.near.push(mine);
        }
        Ok(set)
    }

    /// Cosine of fact `fact` to candidate `ci` (0 when not its candidate).
    pub(crate) fn similarity(&self, fact: usize, ci: usize) -> f32 {
        self.near
            .get(fact)
            .and_then(|n| n.iter().find(|&&(c, _)| c == ci))
            .map_or(0.0, |&(_, s)| s)
    }

    /// The best cosine of fact `fact` to any candidate (0 when none).
    pub(crate) fn best(&self, fact: usize) -> f32 {
        self.near
            .get(fact)
            .map_or(0.0, |n| n.iter().map(|&(_, s)| s).fold(0.0, f32::max))
    }
}

/// How the facts of one `add` are answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Split {
    /// Facts whose exact text is already a candidate (NONE without the LLM).
    pub(crate) duplicates: Vec<usize>,
    /// Facts with no candidate (ADD without the LLM).
    pub(crate) direct: Vec<usize>,
    /// Facts that go to the reconciliation call.
    pub(crate) contested: Vec<usize>,
}

/// Splits facts by their candidates (indices into `facts`, in order).
pub(crate) fn split(facts: &[String], set: &CandidateSet) -> Split {
    let mut out = Split::default();
    for (i, f) in facts.iter().enumerate() {
        let near = set.near.get(i).map_or(&[][..], Vec::as_slice);
        let h = memlayer_store::md5::hex_digest(f);
        if near.iter().any(|&(ci, _)| set.known[ci].hash == h) {
            out.duplicates.push(i);
        } else if near.is_empty() {
            out.direct.push(i);
        } else {
            out.contested.push(i);
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A memory with a fixed id derived from `n`.
    pub(crate) fn known(n: u128, text: &str) -> Known {
        Known {
            id: Uuid::from_u128(n),
            hash: memlayer_store::md5::hex_digest(text),
            text: text.to_string(),
        }
    }

    /// A candidate set from explicit similarities: `near[f]` lists
    /// (candidate index, cosine) of fact `f`.
    pub(crate) fn set(known: Vec<Known>, near: Vec<Vec<(usize, f32)>>) -> CandidateSet {
        CandidateSet { known, near }
    }

    #[test]
    fn gather_applies_the_floor_and_shares_candidates() {
        let mems = [known(1, "Lives in Berlin"), known(2, "Likes tea")];
        // Fact vectors are just labels here: [0] and [1].
        let hits = |v: &[f32]| -> Result<Vec<(Uuid, f32)>> {
            Ok(if v[0] == 0.0 {
                vec![(mems[0].id, 0.8), (mems[1].id, 0.2)]
            } else {
                vec![(mems[0].id, 0.5), (Uuid::from_u128(9), 0.9)]
            })
        };
        let fetch = |id: Uuid| Ok(mems.iter().find(|m| m.id == id).cloned());
        let s = CandidateSet::gather(&[vec![0.0], vec![1.0]], 0.3, 5, hits, fetch).unwrap();
        // Berlin is shared; tea is under the floor; id 9 no longer exists.
        assert_eq!(s.known, vec![mems[0].clone()]);
        assert_eq!(s.near, vec![vec![(0, 0.8)], vec![(0, 0.5)]]);
        assert_eq!(s.similarity(1, 0), 0.5);
        assert_eq!(s.similarity(1, 7), 0.0);
        assert_eq!(s.best(0), 0.8);
        assert_eq!(s.best(5), 0.0);
    }

    #[test]
    fn gather_keeps_per_fact_visible_candidates_past_hidden_ones() {
        // Ids 1..=3 are hidden (superseded): fetch says None. The two
        // visible ones behind them are kept; the third is past the cap.
        let mems = [
            known(4, "Lives in Lisbon"),
            known(5, "Likes tea"),
            known(6, "Has a dog"),
        ];
        let hits = |_: &[f32]| -> Result<Vec<(Uuid, f32)>> {
            Ok((1..=6)
                .map(|n| (Uuid::from_u128(n), 0.9 - n as f32 / 100.0))
                .collect())
        };
        let fetch = |id: Uuid| Ok(mems.iter().find(|m| m.id == id).cloned());
        let s = CandidateSet::gather(&[vec![0.0]], 0.3, 2, hits, fetch).unwrap();
        assert_eq!(s.known, vec![mems[0].clone(), mems[1].clone()]);
        assert_eq!(s.near[0].len(), 2);
    }

    #[test]
    fn split_table() {
        let k = vec![known(1, "Lives in Berlin"), known(2, "Likes tea")];
        // (facts, near, expected duplicates, direct, contested)
        type Case = (
            Vec<&'static str>,
            Vec<Vec<(usize, f32)>>,
            Vec<usize>,
            Vec<usize>,
            Vec<usize>,
        );
        let cases: Vec<Case> = vec![
            (
                vec!["Lives in Berlin"],
                vec![vec![(0, 1.0)]],
                vec![0],
                vec![],
                vec![],
            ),
            (
                vec!["Lives in Lisbon"],
                vec![vec![(0, 0.7)]],
                vec![],
                vec![],
                vec![0],
            ),
            (vec!["Has a dog"], vec![vec![]], vec![], vec![0], vec![]),
            // The same text under another candidate is still a duplicate
            // only if that candidate is among the fact's own.
            (
                vec!["Likes tea"],
                vec![vec![(0, 0.4)]],
                vec![],
                vec![],
                vec![0],
            ),
            (
                vec!["Likes tea", "Has a dog", "Moved to Oslo"],
                vec![vec![(1, 0.99)], vec![], vec![(0, 0.6)]],
                vec![0],
                vec![1],
                vec![2],
            ),
        ];
        for (facts, near, dup, direct, contested) in cases {
            let facts: Vec<String> = facts.into_iter().map(String::from).collect();
            let s = split(&facts, &set(k.clone(), near));
            assert_eq!(
                s,
                Split {
                    duplicates: dup,
                    direct,
                    contested
                },
                "{facts:?}"
            );
        }
    }
}
