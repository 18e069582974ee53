//! Stages 5–6 of `add(infer)`: the texts still to embed, the optimistic
//! concurrency check (has a target changed since the model saw it?), and
//! the write batch with its index changes and `add` events.

use std::collections::HashMap;

use memlayer_store::{MemoryUpdate, NewMemory, WriteBatch};
use serde_json::Value;
use uuid::Uuid;

use super::reconcile::Planned;
use crate::error::Result;
use crate::types::{AddEvent, Event};
use crate::validate::AddCtx;
use crate::vectors::Change;

/// Texts of the plan that have no vector yet (the model wrote them), each once.
pub(crate) fn texts_to_embed(plan: &[Planned], known: &HashMap<String, Vec<f32>>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in plan.iter().filter_map(Planned::new_text) {
        if !known.contains_key(t) && !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    out
}

/// Positions of planned UPDATE/DELETEs whose memory no longer has the hash
/// the model saw (changed or deleted meanwhile). `current` reads a memory's
/// hash now (`None`: gone).
pub(crate) fn stale_targets(
    plan: &[Planned],
    mut current: impl FnMut(Uuid) -> Result<Option<String>>,
) -> Result<Vec<usize>> {
    let mut stale = Vec::new();
    for (i, p) in plan.iter().enumerate() {
        if let Some((id, hash)) = p.target()
            && current(id)?.as_deref() != Some(hash)
        {
            stale.push(i);
        }
    }
    Ok(stale)
}

/// A new memory of this `add`.
pub(crate) fn new_memory(text: String, ctx: &AddCtx, vector: Vec<f32>) -> NewMemory {
    let mut n = NewMemory::new(text, ctx.scope.clone(), vector).with_metadata(ctx.metadata.clone());
    n.expiration_date = ctx.expiration;
    n.created_at = ctx.created_at;
    n
}

/// One committed change of an `add`, with its id typed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Written {
    /// The memory.
    pub(crate) id: Uuid,
    /// Its text (for DELETE: the deleted text).
    pub(crate) text: String,
    /// ADD / UPDATE / DELETE.
    pub(crate) event: Event,
}

/// A write batch with what it does to the index and what `add` reports.
pub(crate) struct Built {
    pub(crate) batch: WriteBatch,
    pub(crate) changes: Vec<Change>,
    pub(crate) events: Vec<AddEvent>,
    pub(crate) written: Vec<Written>,
}

/// Builds the write batch of a plan, skipping the positions in `skip`
/// (stale targets). UPDATE/DELETE carry the hash the model saw
/// (`WriteBatch::expect_hash`), so the commit itself refuses a change made
/// since. `vectors` must hold a vector for every new text; `role` is stored
/// on every memory written.
pub(crate) fn build_batch(
    plan: Vec<Planned>,
    skip: &[usize],
    ctx: &AddCtx,
    role: &str,
    vectors: &HashMap<String, Vec<f32>>,
) -> Built {
    let role = Some(role.to_string());
    let vec_for = |t: &str| vectors.get(t).cloned().unwrap_or_default();
    let mut b = Built {
        batch: WriteBatch::new(),
        changes: Vec::new(),
        events: Vec::new(),
        written: Vec::new(),
    };
    // New texts inserted by this batch (each once), for superseding links.
    let mut inserted: HashMap<String, Uuid> = HashMap::new();
    let mut insert = |b: &mut Built, text: String, supersedes: Option<Uuid>| -> (Uuid, bool) {
        if let Some(&id) = inserted.get(&text) {
            return (id, false);
        }
        let v = vec_for(&text);
        let mut n = new_memory(text.clone(), ctx, v.clone());
        n.role = role.clone();
        if let Some(old) = supersedes {
            n.metadata
                .insert("supersedes".into(), Value::from(old.to_string()));
        }
        let id = b.batch.insert(n);
        b.changes.push(Change::Insert {
            id,
            scope: ctx.scope.clone(),
            vector: v,
        });
        b.written.push(Written {
            id,
            text: text.clone(),
            event: Event::Add,
        });
        inserted.insert(text, id);
        (id, true)
    };
    for (i, p) in plan.into_iter().enumerate() {
        if skip.contains(&i) {
            continue;
        }
        match p {
            Planned::Add { text } => {
                let (id, new) = insert(&mut b, text.clone(), None);
                if new {
                    b.events.push(AddEvent::added(id, text));
                }
            }
            Planned::Update {
                id,
                hash,
                old,
                text,
            } => {
                let v = vec_for(&text);
                b.batch.expect_hash(id, hash);
                b.batch.update(
                    id,
                    MemoryUpdate {
                        text: Some(text.clone()),
                        vector: Some(v.clone()),
                        metadata: (!ctx.metadata.is_empty()).then(|| ctx.metadata.clone()),
                        actor_id: None,
                        role: role.clone(),
                    },
                );
                b.changes.push(Change::Update { id, vector: v });
                b.written.push(Written {
                    id,
                    text: text.clone(),
                    event: Event::Update,
                });
                b.events.push(AddEvent {
                    id: id.to_string(),
                    memory: text,
                    event: Event::Update,
                    previous_memory: Some(old),
                    superseded_by: None,
                });
            }
            Planned::Supersede {
                id,
                hash,
                old,
                replacement,
            } => {
                b.batch.expect_hash(id, hash);
                // The replacement first: `supersede` needs it to exist.
                let added = replacement.map(|text| {
                    let (n, new) = insert(&mut b, text.clone(), Some(id));
                    (n, new.then_some(text))
                });
                b.batch
                    .supersede_as(id, added.as_ref().map(|(n, _)| *n), None, role.clone());
                // The memory stays in the store and in the index (search
                // with `include_superseded` finds it): no index change.
                b.written.push(Written {
                    id,
                    text: old.clone(),
                    event: Event::Supersede,
                });
                b.events.push(AddEvent {
                    id: id.to_string(),
                    memory: old,
                    event: Event::Supersede,
                    previous_memory: None,
                    superseded_by: added.as_ref().map(|(n, _)| n.to_string()),
                });
                if let Some((n, Some(text))) = added {
                    b.events.push(AddEvent::added(n, text));
                }
            }
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use memlayer_store::Scope;

    fn ctx() -> AddCtx {
        AddCtx {
            scope: Scope::user("u"),
            metadata: Default::default(),
            expiration: None,
            created_at: None,
        }
    }

    fn plan() -> Vec<Planned> {
        vec![
            Planned::Add {
                text: "Has a dog".into(),
            },
            Planned::Update {
                id: Uuid::from_u128(1),
                hash: "h1".into(),
                old: "Lives in Berlin".into(),
                text: "Lives in Lisbon".into(),
            },
            Planned::Supersede {
                id: Uuid::from_u128(2),
                hash: "h2".into(),
                old: "Is single".into(),
                replacement: Some("Is engaged to Sam".into()),
            },
            Planned::Supersede {
                id: Uuid::from_u128(3),
                hash: "h3".into(),
                old: "Likes tea".into(),
                replacement: None,
            },
        ]
    }

    #[test]
    fn texts_to_embed_are_new_and_unique() {
        let mut known = HashMap::new();
        known.insert("Has a dog".to_string(), vec![1.0]);
        let mut p = plan();
        p.push(Planned::Add {
            text: "Lives in Lisbon".into(),
        });
        assert_eq!(
            texts_to_embed(&p, &known),
            vec!["Lives in Lisbon", "Is engaged to Sam"]
        );
    }

    #[test]
    fn stale_targets_compare_hashes() {
        let now = |id: Uuid| -> Result<Option<String>> {
            Ok(match id.as_u128() {
                1 => Some("h1".into()),      // unchanged
                2 => Some("changed".into()), // changed
                _ => None,                   // deleted
            })
        };
        assert_eq!(stale_targets(&plan(), now).unwrap(), vec![2, 3]);
    }

    #[test]
    fn batch_events_and_index_changes() {
        let vectors: HashMap<String, Vec<f32>> =
            ["Has a dog", "Lives in Lisbon", "Is engaged to Sam"]
                .iter()
                .map(|t| (t.to_string(), vec![0.5; 4]))
                .collect();
        let b = build_batch(plan(), &[], &ctx(), "user", &vectors);
        let kinds: Vec<(Event, &str)> = b
            .events
            .iter()
            .map(|e| (e.event, e.memory.as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (Event::Add, "Has a dog"),
                (Event::Update, "Lives in Lisbon"),
                (Event::Supersede, "Is single"),
                (Event::Add, "Is engaged to Sam"),
                (Event::Supersede, "Likes tea"),
            ]
        );
        // The SUPERSEDE names the memory that replaces it.
        assert_eq!(
            b.events[2].superseded_by.as_deref(),
            Some(b.events[3].id.as_str())
        );
        assert_eq!(
            b.events[1].previous_memory.as_deref(),
            Some("Lives in Berlin")
        );
        // Index: insert, update, insert; superseded memories stay indexed
        // (no change); every vector present.
        assert_eq!(b.changes.len(), 3);
        for c in &b.changes {
            match c {
                Change::Insert { vector, .. } | Change::Update { vector, .. } => {
                    assert_eq!(vector.len(), 4)
                }
                Change::Delete { .. } => {}
            }
        }
        // Typed ids of everything written, in order.
        assert_eq!(b.written.len(), 5);
        assert_eq!(b.written[1].id, Uuid::from_u128(1));
        assert!(!b.batch.is_empty());
    }

    #[test]
    fn one_replacement_supersedes_several_memories_and_is_inserted_once() {
        let vectors: HashMap<String, Vec<f32>> = [("Lives in Lisbon".to_string(), vec![0.5; 4])]
            .into_iter()
            .collect();
        let sup = |n: u128, old: &str| Planned::Supersede {
            id: Uuid::from_u128(n),
            hash: format!("h{n}"),
            old: old.into(),
            replacement: Some("Lives in Lisbon".into()),
        };
        let plan = vec![
            sup(1, "Lives in Berlin"),
            sup(2, "Lives in Germany"),
            Planned::Add {
                text: "Lives in Lisbon".into(),
            },
        ];
        let b = build_batch(plan, &[], &ctx(), "user", &vectors);
        let adds: Vec<&AddEvent> = b.events.iter().filter(|e| e.event == Event::Add).collect();
        assert_eq!(adds.len(), 1, "{:?}", b.events);
        let sups: Vec<&AddEvent> = b
            .events
            .iter()
            .filter(|e| e.event == Event::Supersede)
            .collect();
        assert_eq!(sups.len(), 2);
        for e in sups {
            assert_eq!(e.superseded_by.as_deref(), Some(adds[0].id.as_str()));
        }
        assert_eq!(b.changes.len(), 1);
    }

    #[test]
    fn stale_positions_are_skipped() {
        let vectors = HashMap::new();
        let b = build_batch(plan(), &[1, 2, 3], &ctx(), "user", &vectors);
        assert_eq!(b.events.len(), 1);
        assert_eq!(b.events[0].event, Event::Add);
        assert_eq!(b.changes.len(), 1);
    }
}
