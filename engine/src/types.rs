//! Request options and response shapes of the [`crate::Memory`] API. The
//! responses serialise to Mem0's JSON shapes.

use memlayer_store::{Memory as Record, Scope};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The `memory_type` of procedural memories (Mem0's value).
pub const PROCEDURAL_MEMORY: &str = "procedural_memory";

/// Options of [`crate::Memory::add`].
///
/// ```
/// use memlayer::AddOptions;
/// let o = AddOptions::user("alice").agent("planner").infer(false);
/// assert!(!o.infer);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AddOptions {
    /// The end user the memories belong to.
    pub user_id: Option<String>,
    /// The agent.
    pub agent_id: Option<String>,
    /// The run / session.
    pub run_id: Option<String>,
    /// Metadata stored on every memory this call creates or updates.
    pub metadata: Option<Map<String, Value>>,
    /// `true` (default): extract facts with the LLM and reconcile them;
    /// `false`: store each non-system message verbatim.
    pub infer: bool,
    /// `procedural_memory` summarises the agent's run (needs `agent_id`).
    pub memory_type: Option<String>,
    /// A fact-extraction prompt for this call only.
    pub prompt: Option<String>,
    /// RFC 3339 expiry of the created memories (hidden from search after).
    pub expiration_date: Option<String>,
}

impl Default for AddOptions {
    fn default() -> Self {
        AddOptions {
            user_id: None,
            agent_id: None,
            run_id: None,
            metadata: None,
            infer: true,
            memory_type: None,
            prompt: None,
            expiration_date: None,
        }
    }
}

impl AddOptions {
    /// Options for a user's memories.
    pub fn user(id: impl Into<String>) -> Self {
        AddOptions {
            user_id: Some(id.into()),
            ..AddOptions::default()
        }
    }
    /// Options for an agent's memories.
    pub fn for_agent(id: impl Into<String>) -> Self {
        AddOptions {
            agent_id: Some(id.into()),
            ..AddOptions::default()
        }
    }
    /// Sets the agent.
    pub fn agent(mut self, id: impl Into<String>) -> Self {
        self.agent_id = Some(id.into());
        self
    }
    /// Sets the run.
    pub fn run(mut self, id: impl Into<String>) -> Self {
        self.run_id = Some(id.into());
        self
    }
    /// Sets `infer`.
    pub fn infer(mut self, infer: bool) -> Self {
        self.infer = infer;
        self
    }
    /// Sets the metadata.
    pub fn metadata(mut self, m: Map<String, Value>) -> Self {
        self.metadata = Some(m);
        self
    }
    /// Sets the memory type.
    pub fn memory_type(mut self, t: impl Into<String>) -> Self {
        self.memory_type = Some(t.into());
        self
    }
    pub(crate) fn scope(&self) -> Scope {
        Scope {
            user_id: self.user_id.clone(),
            agent_id: self.agent_id.clone(),
            run_id: self.run_id.clone(),
        }
    }
}

/// What happened to a memory: the store's history event kind (`ADD`,
/// `UPDATE`, `DELETE` in JSON), so `add` results and `history` agree.
pub use memlayer_store::HistoryKind as Event;

/// One change made by `add`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AddEvent {
    /// The memory id.
    pub id: String,
    /// Its text (for DELETE: the deleted text).
    pub memory: String,
    /// ADD / UPDATE / DELETE.
    pub event: Event,
    /// UPDATE: the text before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_memory: Option<String>,
    /// DELETE: id of the memory added in the same call that replaces it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
}

impl AddEvent {
    /// An ADD event.
    pub(crate) fn added(id: uuid::Uuid, memory: String) -> Self {
        AddEvent {
            id: id.to_string(),
            memory,
            event: Event::Add,
            previous_memory: None,
            superseded_by: None,
        }
    }
}

/// Counters of one `add` call (not part of the JSON response).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AddStats {
    /// Facts extracted.
    pub facts: usize,
    /// Chat-model calls made.
    pub llm_calls: u32,
    /// Prompt tokens over all calls.
    pub prompt_tokens: usize,
    /// Of which served from the prefix cache.
    pub cached_prompt_tokens: usize,
    /// Generated tokens over all calls.
    pub completion_tokens: usize,
    /// Reconciliation skipped: no similar memory existed.
    pub no_candidates_shortcut: bool,
    /// Facts answered NONE without the LLM (exact duplicates in scope).
    pub exact_duplicates: usize,
    /// Decisions dropped by validation.
    pub dropped: usize,
    /// Decisions overridden by the similarity guards (NONE without a
    /// near-identical memory, UPDATE/DELETE of a dissimilar one → ADD).
    pub guarded: usize,
    /// Extracted facts dropped as not grounded in the conversation.
    pub ungrounded: usize,
    /// Reconciliations re-run after a concurrent change.
    pub conflict_retries: u32,
    /// Decisions skipped because their memory changed twice.
    pub skipped_conflicts: usize,
    /// Graph: relations written (new or re-asserted).
    pub graph_relations: usize,
    /// Graph: extracted entities merged into an existing node by embedding.
    pub graph_merged_by_embedding: usize,
    /// Graph: relations invalidated as outdated.
    pub graph_invalidated: usize,
    /// Graph: extracted items or outdated ids dropped by validation
    /// (self-loops, empty or over-long names, ids never shown).
    pub graph_dropped: usize,
    /// Graph: whole answers that were not usable JSON (graph step skipped).
    pub graph_unusable_answers: usize,
}

/// Response of `add`: `{"results": [...]}` (+ `"relations"` when graph
/// memory is on).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AddResult {
    /// The changes, in order.
    pub results: Vec<AddEvent>,
    /// Graph changes (graph memory on and `infer` true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relations: Option<crate::graph::GraphChanges>,
    /// Counters (not serialised).
    #[serde(skip)]
    pub stats: AddStats,
}

/// Score details of a search hit (`explain: true`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScoreDetails {
    /// Cosine similarity of query and memory embeddings, clamped to [0, 1].
    pub semantic: f32,
    /// Raw BM25 score (0 when the memory matched no query term).
    pub keyword: f32,
    /// BM25 mapped to [0, 1): `b / (b + bm25_k)`.
    pub keyword_norm: f32,
    /// Recency factor applied (1 when recency weighting is off).
    pub recency: f32,
    /// `semantic_weight·semantic + (1−semantic_weight)·keyword_norm`, times recency.
    pub fused: f32,
    /// The reranker's score, when a reranker ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerank: Option<f32>,
}

/// A memory as returned by `get`, `get_all` and `search` (Mem0's shape).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryItem {
    /// Id.
    pub id: String,
    /// Text.
    pub memory: String,
    /// MD5 of the text.
    pub hash: String,
    /// User metadata.
    pub metadata: Map<String, Value>,
    /// Search score (search only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Last change, RFC 3339.
    pub updated_at: String,
    /// Owner user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Owner agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Owner run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Speaker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<String>,
    /// Message role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Memory type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_type: Option<String>,
    /// Expiry, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_date: Option<String>,
    /// Score details (search with `explain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explain: Option<ScoreDetails>,
}

impl From<Record> for MemoryItem {
    fn from(m: Record) -> Self {
        MemoryItem {
            id: m.id.to_string(),
            memory: m.text,
            hash: m.hash,
            metadata: m.metadata,
            score: None,
            created_at: m.created_at.to_string(),
            updated_at: m.updated_at.to_string(),
            user_id: m.scope.user_id,
            agent_id: m.scope.agent_id,
            run_id: m.scope.run_id,
            actor_id: m.actor_id,
            role: m.role,
            memory_type: m.memory_type,
            expiration_date: m.expiration_date.map(|t| t.to_string()),
            explain: None,
        }
    }
}

/// Options of [`crate::Memory::search`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchOptions {
    /// User scope.
    pub user_id: Option<String>,
    /// Agent scope.
    pub agent_id: Option<String>,
    /// Run scope.
    pub run_id: Option<String>,
    /// Filters in the store's (Mem0's) filter language.
    pub filters: Option<Value>,
    /// Result count (default from config, at most 1000).
    pub limit: Option<usize>,
    /// Drop hits whose semantic score is below this (0..=1).
    pub threshold: Option<f32>,
    /// Attach [`ScoreDetails`] to every hit.
    pub explain: bool,
    /// Also return memories past their expiration date.
    pub include_expired: bool,
    /// Skip the configured reranker for this query.
    pub no_rerank: bool,
}

impl SearchOptions {
    /// Options for a user's memories.
    pub fn user(id: impl Into<String>) -> Self {
        SearchOptions {
            user_id: Some(id.into()),
            ..SearchOptions::default()
        }
    }
    /// Options for an agent's memories.
    pub fn for_agent(id: impl Into<String>) -> Self {
        SearchOptions {
            agent_id: Some(id.into()),
            ..SearchOptions::default()
        }
    }
    /// Sets the limit.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }
    /// Sets the filters.
    pub fn filters(mut self, f: Value) -> Self {
        self.filters = Some(f);
        self
    }
    /// Sets the threshold.
    pub fn threshold(mut self, t: f32) -> Self {
        self.threshold = Some(t);
        self
    }
    /// Turns on score details.
    pub fn explain(mut self) -> Self {
        self.explain = true;
        self
    }
    pub(crate) fn scope(&self) -> Scope {
        Scope {
            user_id: self.user_id.clone(),
            agent_id: self.agent_id.clone(),
            run_id: self.run_id.clone(),
        }
    }
}

/// Response of `search`: `{"results": [...]}` (+ `"relations"` when graph
/// memory is on).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// Hits, best first.
    pub results: Vec<MemoryItem>,
    /// Relations of the entities recognised in the query, best first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relations: Option<Vec<crate::graph::Relation>>,
}

/// Options of [`crate::Memory::get_all`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GetAllOptions {
    /// User scope.
    pub user_id: Option<String>,
    /// Agent scope.
    pub agent_id: Option<String>,
    /// Run scope.
    pub run_id: Option<String>,
    /// Filters.
    pub filters: Option<Value>,
    /// Page size (`None`: everything).
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Also list expired memories.
    pub include_expired: bool,
}

impl GetAllOptions {
    /// Options for a user's memories.
    pub fn user(id: impl Into<String>) -> Self {
        GetAllOptions {
            user_id: Some(id.into()),
            ..GetAllOptions::default()
        }
    }
    pub(crate) fn scope(&self) -> Scope {
        Scope {
            user_id: self.user_id.clone(),
            agent_id: self.agent_id.clone(),
            run_id: self.run_id.clone(),
        }
    }
}

/// Response of `get_all`: `{"results": [...], "next_cursor": ...}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryPage {
    /// Memories, newest first.
    pub results: Vec<MemoryItem>,
    /// Cursor of the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// The scope's valid relations (graph memory on, first page only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relations: Option<Vec<crate::graph::Relation>>,
}

/// A reranker: scores `documents` for `query`, higher is better (one score
/// per document, in order). Plug in a cross-encoder or an LLM judge.
pub trait Reranker: Send + Sync {
    /// Scores every document.
    fn rerank(&self, query: &str, documents: &[&str]) -> crate::Result<Vec<f32>>;
}
