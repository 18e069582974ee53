//! Stage 4 of `add(infer)`: what the reconciliation model is shown (the
//! candidates of contested facts under short keys `"0"`, `"1"`, …; it never
//! sees a UUID) and how its validated decisions become a [`Planned`] change
//! per fact, with the similarity guards applied.

use std::collections::HashMap;

use uuid::Uuid;

use super::candidates::CandidateSet;
use crate::config::ReconcileConfig;
use crate::llm_output::{Candidate, Decision};

/// A decision resolved to memory ids, ready to commit.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Planned {
    /// A new memory.
    Add {
        /// Its text.
        text: String,
    },
    /// A new text for a memory, if its hash is still `hash`.
    Update {
        /// The memory.
        id: Uuid,
        /// Its hash when the model saw it.
        hash: String,
        /// Its text then.
        old: String,
        /// The new text.
        text: String,
    },
    /// Retire a memory (it stopped being true), if its hash is still
    /// `hash`; optionally add the memory that supersedes it. The memory is
    /// kept, marked superseded (`WriteBatch::supersede`), never deleted.
    Supersede {
        /// The memory.
        id: Uuid,
        /// Its hash when the model saw it.
        hash: String,
        /// Its text then.
        old: String,
        /// The superseding memory's text.
        replacement: Option<String>,
    },
}

impl Planned {
    /// The memory an UPDATE/DELETE targets and the hash it was shown with.
    pub(crate) fn target(&self) -> Option<(Uuid, &str)> {
        match self {
            Planned::Add { .. } => None,
            Planned::Update { id, hash, .. } | Planned::Supersede { id, hash, .. } => {
                Some((*id, hash.as_str()))
            }
        }
    }

    /// The new text this change writes, if any (to be embedded).
    pub(crate) fn new_text(&self) -> Option<&str> {
        match self {
            Planned::Add { text } | Planned::Update { text, .. } => Some(text),
            Planned::Supersede { replacement, .. } => replacement.as_deref(),
        }
    }
}

/// The candidates shown to the model.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Shown {
    /// Keyed `"0"`, `"1"`, … in order of first appearance.
    pub(crate) candidates: Vec<Candidate>,
    /// Shown position → index into the [`CandidateSet`].
    pub(crate) of: Vec<usize>,
}

/// The candidates of the contested facts, each once, renamed `"0"`, `"1"`, ….
pub(crate) fn show(contested: &[usize], set: &CandidateSet) -> Shown {
    let mut seen: HashMap<usize, usize> = HashMap::new();
    let mut shown = Shown::default();
    for &i in contested {
        for &(ci, _) in set.near.get(i).map_or(&[][..], Vec::as_slice) {
            seen.entry(ci).or_insert_with(|| {
                shown.candidates.push(Candidate {
                    key: shown.of.len().to_string(),
                    text: set.known[ci].text.clone(),
                });
                shown.of.push(ci);
                shown.of.len() - 1
            });
        }
    }
    shown
}

/// What the guards did to one attempt's decisions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct GuardStats {
    /// Decisions overridden by a similarity guard (→ ADD of the fact).
    pub(crate) guarded: usize,
}

/// Turns validated decisions into planned changes.
///
/// Decision `pos` answers contested fact `contested[pos]` (one per fact, in
/// order); an extra item has no fact and is taken as is. Guards:
/// - NONE needs a candidate at least `none_min_similarity` similar to the
///   fact, else the fact is added;
/// - UPDATE/DELETE must target a candidate at least
///   `candidate_min_similarity` similar to the fact, else the fact is added.
pub(crate) fn plan_decisions(
    decisions: Vec<(usize, Decision)>,
    contested: &[usize],
    facts: &[String],
    shown: &Shown,
    set: &CandidateSet,
    cfg: &ReconcileConfig,
) -> (Vec<Planned>, GuardStats) {
    let mut plan = Vec::new();
    let mut stats = GuardStats::default();
    for (pos, d) in decisions {
        let fact = contested.get(pos).copied();
        // Similarity of the fact to shown candidate `target` (1 for an
        // extra item, which has no fact to compare with).
        let sim_to = |target: usize| {
            let ci = shown.of.get(target).copied();
            match (fact, ci) {
                (None, _) => 1.0,
                (Some(i), Some(ci)) => set.similarity(i, ci),
                (Some(_), None) => 0.0,
            }
        };
        let best = fact.map_or(1.0, |i| set.best(i));
        let fact_add = || {
            fact.and_then(|i| facts.get(i))
                .map(|t| Planned::Add { text: t.clone() })
        };
        let known = |target: usize| shown.of.get(target).and_then(|&ci| set.known.get(ci));
        let planned = match d {
            Decision::None if best < cfg.none_min_similarity => {
                stats.guarded += 1;
                fact_add()
            }
            Decision::None => None,
            Decision::Add { text } => Some(Planned::Add { text }),
            Decision::Update { target, .. } | Decision::Delete { target, .. }
                if sim_to(target) < cfg.candidate_min_similarity =>
            {
                stats.guarded += 1;
                fact_add()
            }
            Decision::Update { target, text } => known(target).map(|c| Planned::Update {
                id: c.id,
                hash: c.hash.clone(),
                old: c.text.clone(),
                text,
            }),
            Decision::Delete {
                target,
                replacement,
            } => known(target).map(|c| Planned::Supersede {
                id: c.id,
                hash: c.hash.clone(),
                old: c.text.clone(),
                replacement,
            }),
        };
        plan.extend(planned);
    }
    (plan, stats)
}

#[cfg(test)]
mod tests {
    use super::super::candidates::tests::{known, set};
    use super::*;

    fn cfg() -> ReconcileConfig {
        ReconcileConfig {
            candidate_min_similarity: 0.3,
            none_min_similarity: 0.75,
            require_grounding: true,
            ..ReconcileConfig::default()
        }
    }

    #[test]
    fn show_renames_each_candidate_once() {
        let s = set(
            vec![known(1, "A"), known(2, "B"), known(3, "C")],
            vec![vec![(2, 0.9)], vec![], vec![(0, 0.5), (2, 0.4)]],
        );
        let shown = show(&[0, 2], &s);
        assert_eq!(shown.of, vec![2, 0]);
        let keys: Vec<(&str, &str)> = shown
            .candidates
            .iter()
            .map(|c| (c.key.as_str(), c.text.as_str()))
            .collect();
        assert_eq!(keys, vec![("0", "C"), ("1", "A")]);
        assert!(show(&[1], &s).candidates.is_empty());
    }

    /// One fact ("Lives in Lisbon"), one candidate ("Lives in Berlin") at
    /// similarity `sim`; what does each decision become?
    #[test]
    fn guards_table() {
        let berlin = known(1, "Lives in Berlin");
        let facts = vec!["Lives in Lisbon".to_string()];
        let add_fact = Some(Planned::Add {
            text: "Lives in Lisbon".into(),
        });
        let update = Some(Planned::Update {
            id: berlin.id,
            hash: berlin.hash.clone(),
            old: "Lives in Berlin".into(),
            text: "Lives in Lisbon".into(),
        });
        let delete = Some(Planned::Supersede {
            id: berlin.id,
            hash: berlin.hash.clone(),
            old: "Lives in Berlin".into(),
            replacement: None,
        });
        let upd = || Decision::Update {
            target: 0,
            text: "Lives in Lisbon".into(),
        };
        let del = || Decision::Delete {
            target: 0,
            replacement: None,
        };
        // (decision, similarity, expected plan, guarded)
        let cases: Vec<(Decision, f32, Option<Planned>, usize)> = vec![
            (Decision::None, 0.9, None, 0),
            (Decision::None, 0.6, add_fact.clone(), 1),
            (upd(), 0.6, update, 0),
            (upd(), 0.2, add_fact.clone(), 1),
            (del(), 0.5, delete, 0),
            (del(), 0.1, add_fact.clone(), 1),
            (
                Decision::Add {
                    text: "Lives in Lisbon".into(),
                },
                0.9,
                add_fact,
                0,
            ),
        ];
        for (d, sim, want, guarded) in cases {
            let s = set(vec![berlin.clone()], vec![vec![(0, sim)]]);
            let shown = show(&[0], &s);
            let (plan, st) = plan_decisions(vec![(0, d.clone())], &[0], &facts, &shown, &s, &cfg());
            assert_eq!(plan, want.into_iter().collect::<Vec<_>>(), "{d:?} at {sim}");
            assert_eq!(st.guarded, guarded, "{d:?} at {sim}");
        }
    }

    #[test]
    fn extra_items_are_taken_as_is_and_targets_follow_shown_order() {
        // Two contested facts; candidates shown in the order [C, A].
        let s = set(
            vec![known(1, "A"), known(3, "C")],
            vec![vec![(1, 0.8)], vec![(0, 0.7)]],
        );
        let shown = show(&[0, 1], &s);
        let facts = vec!["C2".to_string(), "A2".to_string()];
        let decisions = vec![
            (
                1,
                Decision::Update {
                    target: 1,
                    text: "A2".into(),
                },
            ),
            // Item 2 answers no fact: taken as is, no guard applies.
            (
                2,
                Decision::Delete {
                    target: 0,
                    replacement: None,
                },
            ),
        ];
        let (plan, st) = plan_decisions(decisions, &[0, 1], &facts, &shown, &s, &cfg());
        assert_eq!(st.guarded, 0);
        assert_eq!(plan.len(), 2);
        assert_eq!(plan[0].target().map(|t| t.0), Some(Uuid::from_u128(1)));
        assert_eq!(plan[1].target().map(|t| t.0), Some(Uuid::from_u128(3)));
        assert_eq!(plan[0].new_text(), Some("A2"));
        assert_eq!(plan[1].new_text(), None);
    }
}
