//! Request options and response shapes of the [`crate::Memory`] API. The
//! responses serialise to Mem0's JSON shapes.

use memlayer_store::Memory as Record;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::options::{AddOptions, GetAllOptions, SearchOptions, UpdateOptions};

/// The `memory_type` of procedural memories (Mem0's value).
pub const PROCEDURAL_MEMORY: &str = "procedural_memory";

/// What happened to a memory: the store's history event kind (`ADD`,
/// `UPDATE`, `DELETE`, `SUPERSEDE` in JSON), so `add` results and `history`
/// agree. `add` reports `SUPERSEDE` where Mem0 reports `DELETE`: the memory
/// stopped being true and leaves default reads, but it is kept (with
/// `superseded_by` naming its replacement) for `include_superseded` reads.
pub use memlayer_store::HistoryKind as Event;

/// One change made by `add`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AddEvent {
    /// The memory id.
    pub id: String,
    /// Its text (for SUPERSEDE: the superseded text).
    pub memory: String,
    /// ADD / UPDATE / SUPERSEDE.
    pub event: Event,
    /// UPDATE: the text before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_memory: Option<String>,
    /// SUPERSEDE: id of the memory that replaces it (added in the same call).
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

/// Wall time of each stage of one call, in order (not part of the JSON
/// response; front ends export them, e.g. `memlayer serve`'s `/metrics`).
///
/// ```
/// let mut t = memlayer::StageTimings::default();
/// let start = std::time::Instant::now();
/// t.record("embed", start);
/// assert_eq!(t.stages()[0].0, "embed");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StageTimings(Vec<(&'static str, f64)>);

impl StageTimings {
    /// Records `stage` as having taken the time since `since`; returns now
    /// (the next stage's start).
    pub fn record(&mut self, stage: &'static str, since: std::time::Instant) -> std::time::Instant {
        let now = std::time::Instant::now();
        self.0.push((stage, (now - since).as_secs_f64() * 1e3));
        now
    }
    /// `(stage, milliseconds)` in the order they ran; a stage that ran
    /// several times appears several times.
    pub fn stages(&self) -> &[(&'static str, f64)] {
        &self.0
    }
}

/// Counters of one `add` call (not part of the JSON response).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AddStats {
    /// Wall time per pipeline stage.
    pub timings: StageTimings,
    /// Facts extracted.
    pub facts: usize,
    /// Chat-model calls made (generations and scorings).
    pub llm_calls: u32,
    /// Of which (fact, memory) pairs classified by scoring fixed answers.
    pub scored_pairs: u32,
    /// Prompt tokens over all calls.
    pub prompt_tokens: usize,
    /// Of which served from the prefix cache.
    pub cached_prompt_tokens: usize,
    /// Generated tokens over all calls.
    pub completion_tokens: usize,
    /// Milliseconds the chat model spent evaluating prompts (prefill, the
    /// scorings included), over all calls.
    pub llm_prompt_ms: f64,
    /// Milliseconds the chat model spent generating tokens, over all calls.
    pub llm_generation_ms: f64,
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
    /// Extracted facts dropped by the personal-fact check (general
    /// knowledge, answers, calculations, requests).
    pub not_personal: usize,
    /// Extracted facts rewritten to name the other person the message
    /// talks about (attribution check).
    pub attributed: usize,
    /// Extraction skipped: the user's messages were only questions,
    /// requests and small talk.
    pub no_statement: bool,
    /// Extracted facts dropped as states of one day ("Is tired today").
    pub momentary: usize,
    /// Facts added without reconciliation as temporary states ("Is in
    /// Rome this week"), so that they replace no lasting memory.
    pub temporary: usize,
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
    /// When a newer memory superseded this one, RFC 3339 (only superseded
    /// memories, which reads return with `include_superseded` or `get`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_at: Option<String>,
    /// Id of the memory that superseded this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
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
            superseded_at: m.superseded_at.map(|t| t.to_string()),
            superseded_by: m.superseded_by.map(|id| id.to_string()),
            explain: None,
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
    /// Wall time per stage (not serialised).
    #[serde(skip)]
    pub timings: StageTimings,
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
