//! [`MemoryConfig`]: everything `Memory::open` needs, loadable from TOML or
//! JSON. Every field has a default, so an empty file is a valid config.

use std::path::Path;

use memlayer_models::ModelSource;
use serde::{Deserialize, Serialize};

use crate::error::{MemoryError, Result};

/// Configuration of a [`crate::Memory`].
///
/// ```
/// use memlayer::MemoryConfig;
/// let c = MemoryConfig::from_toml_str(r#"
///     chat = { cached = "smollm2" }
///     [search]
///     limit = 5
///     [prompts]
///     custom_instructions = "Only remember food preferences."
/// "#).unwrap();
/// assert_eq!(c.search.limit, 5);
/// assert_eq!(MemoryConfig::from_json_str("{}").unwrap().search.limit, 20);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryConfig {
    /// The embedding model (default: all-MiniLM-L6-v2 from the model cache).
    pub embedder: ModelSource,
    /// The chat model (default: Qwen2.5-Coder-0.5B-Instruct from the model
    /// cache). Loaded on the first `add` that needs it.
    pub chat: ModelSource,
    /// llama.cpp settings of the chat model.
    pub llm: LlmConfig,
    /// Vector index parameters.
    pub index: IndexConfig,
    /// Search defaults and ranking weights.
    pub search: SearchConfig,
    /// Custom prompts and instructions.
    pub prompts: PromptConfig,
    /// How new facts are reconciled with existing memories.
    pub reconcile: ReconcileConfig,
    /// Commit durability.
    pub durability: Durability,
    /// Graph memory (entities and relations, see [`GraphConfig`]): when
    /// true, `add(infer=true)` also extracts a graph and `search` returns
    /// `relations`. Default false.
    pub graph: bool,
    /// Graph-memory settings (used when `graph` is true).
    pub graph_options: GraphConfig,
}

/// Graph-memory settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GraphConfig {
    /// A new entity merges with an existing node of the scope when their
    /// name embeddings have at least this cosine (names equal after
    /// normalisation always merge). Chosen on `tests/scenarios/entity_pairs.json`.
    pub merge_threshold: f32,
    /// A query word or word pair recognises an entity when their embeddings
    /// have at least this cosine (exact name matches always count).
    pub query_match_threshold: f32,
    /// Show existing relations of the extracted entities to the model, which
    /// may mark contradicted ones invalid (one more LLM call when any exist).
    pub check_outdated: bool,
    /// Most existing relations shown to that check (most recent first).
    pub max_outdated_candidates: usize,
    /// Replaces the built-in extraction prompt (and its examples).
    pub extraction_prompt: Option<String>,
    /// Weight of the BM25 score of the triple text in relation ranking; the
    /// rest is the entity-match similarity.
    pub keyword_weight: f32,
}

impl Default for GraphConfig {
    fn default() -> Self {
        GraphConfig {
            merge_threshold: 0.9,
            query_match_threshold: 0.75,
            check_outdated: true,
            max_outdated_candidates: 20,
            extraction_prompt: None,
            keyword_weight: 0.5,
        }
    }
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            embedder: ModelSource::Cached("minilm".into()),
            chat: ModelSource::Cached("qwen".into()),
            llm: LlmConfig::default(),
            index: IndexConfig::default(),
            search: SearchConfig::default(),
            prompts: PromptConfig::default(),
            reconcile: ReconcileConfig::default(),
            durability: Durability::default(),
            graph: false,
            graph_options: GraphConfig::default(),
        }
    }
}

/// Chat-model settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// Context window in tokens.
    pub n_ctx: u32,
    /// CPU threads (0: all cores).
    pub threads: u32,
    /// Reuse the KV cache of a shared prompt prefix across calls.
    pub prefix_cache: bool,
    /// Most tokens generated per call.
    pub max_tokens: usize,
    /// Sampling temperature (0 = greedy, deterministic).
    pub temperature: f32,
    /// Model contexts kept, each with its own prefix cache: one per fixed
    /// prompt in use avoids evictions (fact extraction and reconciliation;
    /// graph memory adds graph extraction and the outdated-relation check).
    /// Default 4.
    pub slots: usize,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            n_ctx: 4096,
            threads: 0,
            prefix_cache: true,
            max_tokens: 512,
            temperature: 0.0,
            slots: 4,
        }
    }
}

/// HNSW parameters (see `memlayer_index::HnswParams`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexConfig {
    /// Links per node.
    pub m: usize,
    /// Build beam width.
    pub ef_construction: usize,
    /// Search beam width.
    pub ef_search: usize,
    /// Scopes with at most this many memories are searched exactly.
    pub exact_threshold: usize,
    /// Persist the index beside the database (`<db>.hnsw` + `<db>.ids`) when
    /// the last handle closes, so the next open skips the rebuild.
    pub snapshot: bool,
}

impl Default for IndexConfig {
    fn default() -> Self {
        let d = memlayer_index::HnswParams::default();
        IndexConfig {
            m: d.m,
            ef_construction: d.ef_construction,
            ef_search: d.ef_search,
            exact_threshold: d.exact_filter_threshold,
            snapshot: true,
        }
    }
}

/// Search defaults and the hybrid ranking's weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    /// Default result count.
    pub limit: usize,
    /// Weight of the semantic score in the fused score (the keyword score
    /// gets `1 - semantic_weight`).
    pub semantic_weight: f32,
    /// BM25 saturation: a keyword score `b` counts as `b / (b + bm25_k)`.
    pub bm25_k: f32,
    /// Neighbour context: a memory's BM25 counts the words of the memory
    /// stored just before it in the scope (a conversation's previous turn)
    /// at this weight, as if they were its own; 0 turns it off.
    pub context_weight: f32,
    /// Dates the query names ("in June", "on 13 October 2023") count as a
    /// keyword of every memory whose `created_at` (UTC) falls on them.
    pub query_dates: bool,
    /// Pseudo-relevance feedback: after a first ranking, stems of the
    /// `feedback_docs` best hits join the keyword query, the best of them
    /// at this weight of a query word (the others in proportion to their
    /// frequency in those hits × idf), and the keyword side is scored
    /// again. Those best hits keep their places at the top; the expanded
    /// scores order the rest, so feedback finds memories that say the same
    /// thing in other words without moving the first hits. A stem with
    /// more than 1,000 postings in the scope is too common to join (and
    /// to read). 0 turns it off. At the default 0.3 (and `feedback_terms`
    /// 20), LOCOMO's dev half gains R@10 0.742 → 0.762 with R@1 and R@5
    /// unchanged, for about +1 ms p50 at ~550 memories per scope (the
    /// second keyword search runs on the in-memory index;
    /// docs/benchmarks.md).
    pub feedback_weight: f32,
    /// Pseudo-relevance feedback: the best hits of the first ranking whose
    /// stems may join the query.
    pub feedback_docs: usize,
    /// Pseudo-relevance feedback: most stems added to the query.
    pub feedback_terms: usize,
    /// Recent query embeddings kept in memory (0: no cache).
    pub query_cache: usize,
    /// Rerank with the chat model (`config.chat`, loaded on first use):
    /// the best `rerank_depth` hits are each scored by the model's
    /// next-token probability of "yes" to "does this memory help answer
    /// the question?" (one prefill per hit; the system prompt and question
    /// are a shared, cached prefix) and reordered by it before the cut to
    /// `limit`. Off by default: it costs about one prefill of ~60 tokens
    /// per hit (docs/benchmarks.md). A reranker given to
    /// `MemoryBuilder::reranker` takes its place.
    pub rerank: bool,
    /// How many of the best hits the reranker scores (at least `limit`).
    pub rerank_depth: usize,
    /// Recency weighting: half-life in days (`None`: off).
    pub recency_half_life_days: Option<f64>,
    /// Share of the fused score subject to recency decay (0..=1).
    pub recency_weight: f32,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            limit: 20,
            semantic_weight: 0.4,
            bm25_k: 4.0,
            context_weight: 0.7,
            query_dates: true,
            feedback_weight: 0.3,
            feedback_docs: 5,
            feedback_terms: 20,
            query_cache: 256,
            rerank: false,
            rerank_depth: 20,
            recency_half_life_days: None,
            recency_weight: 0.2,
        }
    }
}

/// Custom prompts (each replaces the built-in system prompt and examples)
/// and instructions (appended to whichever prompt is used).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PromptConfig {
    /// Fact-extraction system prompt.
    pub fact_extraction: Option<String>,
    /// Reconciliation (ADD/UPDATE/DELETE/NONE) system prompt.
    pub update_memory: Option<String>,
    /// Procedural-summary system prompt.
    pub procedural: Option<String>,
    /// Extra instructions for every call (e.g. "only remember food").
    pub custom_instructions: Option<String>,
}

/// Reconciliation settings: which memories the model sees, and the guards
/// applied to its decisions (cosine similarities of the embedder).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReconcileConfig {
    /// A memory is shown to the model for a fact only if at least this
    /// similar; facts with no such memory are added without an LLM call.
    /// An UPDATE/DELETE of a memory less similar to its fact becomes an ADD.
    pub candidate_min_similarity: f32,
    /// A NONE ("already known") is accepted only if some memory is at least
    /// this similar to the fact; otherwise the fact is added.
    pub none_min_similarity: f32,
    /// Drop extracted facts that share no content word with the messages
    /// they came from (small models sometimes copy the prompt's examples).
    pub require_grounding: bool,
    /// How contested facts are reconciled.
    pub method: ReconcileMethod,
    /// [`ReconcileMethod::Classify`]: nearest memories scored per fact.
    pub classify_candidates: usize,
    /// [`ReconcileMethod::Classify`]: divide out the model's answer bias,
    /// measured on content-free questions (three scorings, once per chat
    /// model instance).
    pub calibrate: bool,
    /// Score each fact extracted from the user's messages as personal or
    /// general (knowledge, answers, calculations, requests) and drop the
    /// general ones: one short prefix-cached scoring per fact. Skipped for
    /// a chat model that cannot score answers or with a custom extraction
    /// prompt. Off by default: since the statement gate keeps questions,
    /// requests and small talk from extraction, the check changed no
    /// outcome on the held-in scenarios and cost a third of `add`'s time
    /// (docs/benchmarks.md, "Session 12").
    pub fact_check: bool,
    /// When a user's message names exactly one other person ("my mom",
    /// "my brother Tom"), score each extracted fact without a subject as
    /// about the user or about that person, and make the person's facts
    /// name them ("Mom lives in Lyon"): one short prefix-cached scoring per
    /// such fact. Skipped like `fact_check`.
    pub attribute: bool,
    /// Read each fact's time words: a state of one day ("Is tired today")
    /// is not stored, and a state of a while ("Is in Rome this week") is
    /// added without replacing or rewriting a memory. A change that
    /// happened today ("Turned 35 today") is a lasting fact.
    pub time_words: bool,
    /// Skip extraction of facts and graph relations (no LLM call) when the user's messages are
    /// only questions, requests to the assistant, greetings, thanks or
    /// laughter with nothing said in the first person ("Who wrote
    /// Hamlet?", "Tell me a joke."), and drop extracted user facts that
    /// are requests to the assistant ("Reminds me to eat dinner"). The
    /// skip applies with the default extraction prompt only.
    pub statement_gate: bool,
    /// [`ReconcileMethod::Classify`]: a negated fact whose content words
    /// are mostly a memory's ("Is not a doctor" / "Works as a doctor")
    /// supersedes that memory without a scoring.
    pub negation_guard: bool,
    /// Join an extracted fact that means nothing on its own (one word, or a
    /// short phrase pointing back: "Gave it up") to the fact next to it.
    pub join_fragments: bool,
}

/// How a fact with similar memories is reconciled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReconcileMethod {
    /// Each (fact, similar memory) pair is classified by the chat model's
    /// next-token probabilities of four fixed answers (same / changed /
    /// detail / unrelated): one short prefix-cached prefill per pair, no
    /// sampling, no JSON. Falls back to [`Generate`](Self::Generate) for a
    /// chat model that cannot score answers, or when a custom
    /// `update_memory` prompt is set.
    #[default]
    Classify,
    /// One generated JSON answer with a decision per fact (Mem0's way).
    Generate,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        ReconcileConfig {
            candidate_min_similarity: 0.15,
            none_min_similarity: 0.75,
            require_grounding: true,
            method: ReconcileMethod::Classify,
            classify_candidates: 3,
            calibrate: true,
            fact_check: false,
            attribute: true,
            time_words: true,
            statement_gate: true,
            negation_guard: true,
            join_fragments: true,
        }
    }
}

/// How hard a commit tries to reach the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// fsync before a write returns (default).
    #[default]
    Immediate,
    /// No fsync: atomic but the latest writes may be lost on power loss.
    None,
}

impl MemoryConfig {
    /// Parses TOML.
    pub fn from_toml_str(s: &str) -> Result<Self> {
        toml::from_str(s).map_err(|e| MemoryError::invalid("config", e.to_string()))
    }

    /// Parses JSON.
    pub fn from_json_str(s: &str) -> Result<Self> {
        serde_json::from_str(s).map_err(|e| MemoryError::invalid("config", e.to_string()))
    }

    /// Reads a `.toml` or `.json` file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            MemoryError::invalid("config", format!("cannot read {}: {e}", path.display()))
        })?;
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Self::from_json_str(&text),
            Some("toml") => Self::from_toml_str(&text),
            _ => Err(MemoryError::invalid(
                "config",
                format!("{}: use a .toml or .json file", path.display()),
            )),
        }
    }

    /// Checks ranges; called by `Memory::open`.
    pub fn validate(&self) -> Result<()> {
        let s = &self.search;
        if s.limit == 0 || s.limit > crate::search::MAX_LIMIT {
            return Err(MemoryError::invalid(
                "search.limit",
                format!("must be in 1..={}", crate::search::MAX_LIMIT),
            ));
        }
        for (key, v) in [
            ("search.semantic_weight", s.semantic_weight),
            ("search.context_weight", s.context_weight),
            ("search.feedback_weight", s.feedback_weight),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(MemoryError::invalid(key, "must be in 0..=1"));
            }
        }
        for (key, v) in [
            ("search.feedback_docs", s.feedback_docs),
            ("search.feedback_terms", s.feedback_terms),
            ("search.rerank_depth", s.rerank_depth),
        ] {
            if !(1..=100).contains(&v) {
                return Err(MemoryError::invalid(key, "must be in 1..=100"));
            }
        }
        if !(s.bm25_k.is_finite() && s.bm25_k > 0.0) {
            return Err(MemoryError::invalid("search.bm25_k", "must be > 0"));
        }
        if !(0.0..=1.0).contains(&s.recency_weight) {
            return Err(MemoryError::invalid(
                "search.recency_weight",
                "must be in 0..=1",
            ));
        }
        if let Some(h) = s.recency_half_life_days
            && !(h.is_finite() && h > 0.0)
        {
            return Err(MemoryError::invalid(
                "search.recency_half_life_days",
                "must be > 0",
            ));
        }
        if !(self.llm.temperature.is_finite() && self.llm.temperature >= 0.0) {
            return Err(MemoryError::invalid("llm.temperature", "must be >= 0"));
        }
        for (name, v) in [
            (
                "reconcile.candidate_min_similarity",
                self.reconcile.candidate_min_similarity,
            ),
            (
                "reconcile.none_min_similarity",
                self.reconcile.none_min_similarity,
            ),
        ] {
            if !(-1.0..=1.0).contains(&v) {
                return Err(MemoryError::invalid(name, "must be in -1..=1"));
            }
        }
        if !(1..=5).contains(&self.reconcile.classify_candidates) {
            return Err(MemoryError::invalid(
                "reconcile.classify_candidates",
                "must be in 1..=5 (the memories fetched per fact)",
            ));
        }
        if !(1..=16).contains(&self.llm.slots) {
            return Err(MemoryError::invalid("llm.slots", "must be in 1..=16"));
        }
        if self.llm.max_tokens == 0 {
            return Err(MemoryError::invalid("llm.max_tokens", "must be > 0"));
        }
        let g = &self.graph_options;
        for (name, v) in [
            ("graph_options.merge_threshold", g.merge_threshold),
            (
                "graph_options.query_match_threshold",
                g.query_match_threshold,
            ),
            ("graph_options.keyword_weight", g.keyword_weight),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(MemoryError::invalid(name, "must be in 0..=1"));
            }
        }
        if !(1..=200).contains(&g.max_outdated_candidates) {
            return Err(MemoryError::invalid(
                "graph_options.max_outdated_candidates",
                "must be in 1..=200",
            ));
        }
        self.hnsw_params().validate()?;
        Ok(())
    }

    pub(crate) fn hnsw_params(&self) -> memlayer_index::HnswParams {
        memlayer_index::HnswParams {
            m: self.index.m,
            ef_construction: self.index.ef_construction,
            ef_search: self.index.ef_search,
            exact_filter_threshold: self.index.exact_threshold,
            ..memlayer_index::HnswParams::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_unknown_keys() {
        let c = MemoryConfig::default();
        let t = toml::to_string(&c).unwrap();
        assert_eq!(MemoryConfig::from_toml_str(&t).unwrap(), c);
        let j = serde_json::to_string(&c).unwrap();
        assert_eq!(MemoryConfig::from_json_str(&j).unwrap(), c);
        assert!(MemoryConfig::from_toml_str("embeder = 1").is_err());
        let mut bad = c.clone();
        bad.search.limit = 0;
        assert!(bad.validate().is_err());
        for f in [
            |s: &mut SearchConfig| s.feedback_weight = 1.5,
            |s: &mut SearchConfig| s.feedback_docs = 0,
            |s: &mut SearchConfig| s.feedback_terms = 0,
        ] {
            let mut bad = c.clone();
            f(&mut bad.search);
            assert!(bad.validate().is_err());
        }
        c.validate().unwrap();
    }
}
