//! Graph memory in `add`, under the writer lock: the plan becomes write-batch
//! operations that commit together with the memories. Each relation
//! records as provenance the memory of this `add` whose text shares the
//! most words with it; outdated relations still valid now are invalidated
//! (soft delete).

use std::collections::HashSet;

use memlayer_store::{EdgeUpsert, WriteBatch};
use uuid::Uuid;

use super::{GraphChanges, GraphPlan, Relation, Triple};
use crate::add::Written;
use crate::error::Result;
use crate::memory::Memory;
use crate::types::{AddStats, Event};

/// The memory a triple came from: of the memories written (ADD/UPDATE),
/// the one sharing most words with the triple (the last on a tie), else
/// the first written; `None` when nothing was written.
pub(crate) fn provenance(triple: &Triple, written: &[(Uuid, HashSet<String>)]) -> Option<Uuid> {
    let (s, r, d) = triple;
    let tw: HashSet<String> =
        memlayer_text::words(&format!("{s} {r} {d}").replace('_', " ")).collect();
    written
        .iter()
        .map(|(id, w)| (*id, w.intersection(&tw).count()))
        .max_by_key(|&(_, c)| c)
        .filter(|&(_, c)| c > 0)
        .map(|(id, _)| id)
        .or_else(|| written.first().map(|(id, _)| *id))
}

impl Memory {
    /// Adds a graph plan to `batch` (caller holds the writer lock).
    pub(crate) fn apply_graph(
        &self,
        gp: &GraphPlan,
        batch: &mut WriteBatch,
        written: &[Written],
        stats: &mut AddStats,
    ) -> Result<GraphChanges> {
        let mut ch = GraphChanges::default();
        for n in &gp.nodes {
            batch.upsert_node(n.clone());
        }
        let words: Vec<(Uuid, HashSet<String>)> = written
            .iter()
            .filter(|w| matches!(w.event, Event::Add | Event::Update))
            .map(|w| (w.id, memlayer_text::words(&w.text).collect()))
            .collect();
        for t in &gp.edges {
            let (s, r, d) = t;
            batch.upsert_edge(EdgeUpsert {
                scope: gp.scope.clone(),
                source: s.clone(),
                relationship: r.clone(),
                destination: d.clone(),
                memory_id: provenance(t, &words),
            });
            ch.added_entities.push(Relation::new(s, r, d));
        }
        stats.graph_relations += gp.edges.len();
        if !gp.outdated.is_empty() {
            let snap = self.inner.store.snapshot()?;
            for (s, r, d) in &gp.outdated {
                let still = snap
                    .graph_neighbors(&gp.scope, s, false)?
                    .iter()
                    .any(|e| e.relationship == *r && e.destination == *d && e.source == *s);
                if still {
                    batch.invalidate_edge(gp.scope.clone(), s, r, d);
                    ch.deleted_entities.push(Relation::new(s, r, d));
                    stats.graph_invalidated += 1;
                }
            }
        }
        Ok(ch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str, r: &str, d: &str) -> Triple {
        (s.into(), r.into(), d.into())
    }

    #[test]
    fn provenance_table() {
        let w = |n: u128, text: &str| (Uuid::from_u128(n), memlayer_text::words(text).collect());
        let written = vec![w(1, "Lives in Oslo"), w(2, "Has a brother named Tom")];
        // (triple, expected memory)
        let cases = [
            (t("ana", "lives_in", "oslo"), Some(1)),
            (t("ana", "has_brother", "tom"), Some(2)),
            // No shared word: the first memory written.
            (t("ana", "likes", "jazz"), Some(1)),
        ];
        for (triple, want) in cases {
            assert_eq!(
                provenance(&triple, &written),
                want.map(Uuid::from_u128),
                "{triple:?}"
            );
        }
        // A tie goes to the last such memory.
        let tie = vec![w(1, "tom oslo"), w(2, "tom oslo")];
        assert_eq!(
            provenance(&t("tom", "x", "oslo"), &tie),
            Some(Uuid::from_u128(2))
        );
        assert_eq!(provenance(&t("a", "b", "c"), &[]), None);
    }
}
