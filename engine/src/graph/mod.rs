//! Graph memory, engine side. The store's graph tables hold the data;
//! every change joins the `add` write batch. Graph data is kept per exact
//! scope (the `user_id` / `agent_id` / `run_id` triple of the `add`), like
//! the memories it came from.
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | the public relation types; who "the speaker" is |
//! | [`cache`] | per-scope nodes with an exact-scan index of their embeddings |
//! | [`plan`] | `add`: extraction → entity resolution → outdated-relation check (LLM, no lock) |
//! | [`apply`] | `add`: the plan as write-batch operations, with provenance (writer lock held) |
//! | [`search`] | the `relations` of a search: entity recognition and relation ranking |
//! | [`traverse`] | `relations`, `neighbors`, `paths` |
//!
//! The LLM prompts, schemas and answer parsers are in `crate::graph_llm`.

mod apply;
mod cache;
mod plan;
mod search;
mod traverse;

use memlayer_store::{GraphEdge, NodeUpsert, Scope, Timestamp};
use serde::{Deserialize, Serialize};

pub(crate) use cache::GraphCache;

/// Words that name the speaker in a query or an extraction.
const SELF_WORDS: &[&str] = &["user", "i", "me", "my", "mine", "myself", "speaker"];

/// Graph changes planned outside the writer lock (see [`plan`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct GraphPlan {
    pub(crate) scope: Scope,
    pub(crate) nodes: Vec<NodeUpsert>,
    pub(crate) edges: Vec<Triple>,
    pub(crate) outdated: Vec<Triple>,
}

/// (source, relationship, destination), as stored (normalised names).
pub(crate) type Triple = (String, String, String);

/// A relation `source -relationship-> destination` (search results and add
/// events). Names are the stored (normalised) names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Relation {
    /// Source entity.
    pub source: String,
    /// Relationship (lowercase snake case).
    pub relationship: String,
    /// Destination entity.
    pub destination: String,
    /// Search score in [0, 1] (search only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
}

impl Relation {
    /// A relation without a score.
    ///
    /// ```
    /// let r = memlayer::Relation::new("bob", "lives_in", "oslo");
    /// assert_eq!(r.score, None);
    /// ```
    pub fn new(s: &str, r: &str, d: &str) -> Self {
        Relation {
            source: s.to_string(),
            relationship: r.to_string(),
            destination: d.to_string(),
            score: None,
        }
    }

    pub(crate) fn of(e: &GraphEdge) -> Self {
        Relation::new(&e.source, &e.relationship, &e.destination)
    }
}

/// The graph changes of one `add` (Mem0's `relations` field of `add`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GraphChanges {
    /// Relations created or re-asserted.
    pub added_entities: Vec<Relation>,
    /// Relations marked invalid (soft delete) because the conversation
    /// contradicted them.
    pub deleted_entities: Vec<Relation>,
}

impl GraphChanges {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added_entities.is_empty() && self.deleted_entities.is_empty()
    }
}

/// A stored relation with its history (`Memory::relations`,
/// `Memory::neighbors`, `memlayer graph show`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RelationRecord {
    /// Source entity.
    pub source: String,
    /// Relationship.
    pub relationship: String,
    /// Destination entity.
    pub destination: String,
    /// False once a later conversation contradicted it.
    pub valid: bool,
    /// When it was first added.
    pub created_at: Timestamp,
    /// When it was last asserted or changed.
    pub updated_at: Timestamp,
    /// When it was invalidated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalidated_at: Option<Timestamp>,
    /// How many `add` calls asserted it.
    pub mentions: u64,
    /// Memories it came from.
    pub memory_ids: Vec<String>,
    /// Memories it came from that were deleted since.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retracted_memory_ids: Vec<String>,
}

impl From<GraphEdge> for RelationRecord {
    fn from(e: GraphEdge) -> Self {
        RelationRecord {
            source: e.source,
            relationship: e.relationship,
            destination: e.destination,
            valid: e.valid,
            created_at: e.created_at,
            updated_at: e.updated_at,
            invalidated_at: e.invalidated_at,
            mentions: e.mentions,
            memory_ids: e.memory_ids.iter().map(ToString::to_string).collect(),
            retracted_memory_ids: e
                .retracted_memory_ids
                .iter()
                .map(ToString::to_string)
                .collect(),
        }
    }
}

/// The normalised name of the speaker of a scope (`user_id`, else
/// `agent_id`, else `run_id`).
pub(crate) fn self_name(scope: &Scope, agent_subject: bool) -> Option<String> {
    let id = if agent_subject {
        scope.agent_id.as_deref().or(scope.user_id.as_deref())
    } else {
        scope.user_id.as_deref().or(scope.agent_id.as_deref())
    }
    .or(scope.run_id.as_deref())?;
    let n = crate::graph_llm::normalize_entity(id);
    (!n.is_empty()).then_some(n)
}

/// True if a normalised name refers to the speaker.
pub(crate) fn is_self_word(name: &str) -> bool {
    SELF_WORDS.contains(&name) || name == "the_user"
}

/// Renders a relation for a prompt.
pub(crate) fn render(s: &str, r: &str, d: &str) -> String {
    format!("{s} -- {r} -- {d}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_resolution() {
        let sc = Scope::user("Alice Smith");
        assert_eq!(self_name(&sc, false).as_deref(), Some("alice_smith"));
        assert_eq!(
            self_name(&sc.clone().with_agent("Bot"), true).as_deref(),
            Some("bot")
        );
        assert_eq!(self_name(&Scope::run("r1"), false).as_deref(), Some("r1"));
        assert!(is_self_word("user") && is_self_word("the_user") && !is_self_word("tom"));
        assert_eq!(render("a", "likes", "b"), "a -- likes -- b");
    }
}
