//! memlayer: an embedded, offline long-term memory engine for AI agents.
//!
//! [`Memory`] does what Mem0's self-hosted `Memory` does — an LLM reads
//! conversations, extracts facts, reconciles them with what is already
//! remembered (ADD / UPDATE / DELETE / NONE), and agents search those
//! memories — with local models only: a Candle embedder
//! (all-MiniLM-L6-v2 by default) and a llama.cpp GGUF chat model
//! (Qwen2.5-Coder-0.5B-Instruct by default), an HNSW index from
//! `memlayer-index`, and one redb file from `memlayer-store`.
//!
//! ```
//! use std::sync::Arc;
//! use memlayer::{AddOptions, Memory, Message, SearchOptions};
//! use memlayer::models::{HashEmbedder, ScriptedChat};
//!
//! let dir = tempfile::tempdir().unwrap();
//! // Test doubles here; `Memory::open(path, MemoryConfig::default())` loads the real models.
//! let mem = Memory::builder(dir.path().join("m.redb"))
//!     .embedder(Arc::new(HashEmbedder::new(64)))
//!     .chat(Arc::new(ScriptedChat::new([r#"{"facts": ["Is vegetarian", "Lives in Lisbon"]}"#])))
//!     .open()
//!     .unwrap();
//! let r = mem
//!     .add(vec![Message::user("I'm vegetarian and live in Lisbon")], &AddOptions::user("alice"))
//!     .unwrap();
//! assert_eq!(r.results.len(), 2);
//! let hits = mem.search("Lisbon", &SearchOptions::user("alice").limit(1)).unwrap();
//! assert_eq!(hits.results[0].memory, "Lives in Lisbon");
//! ```
#![deny(clippy::unwrap_used)]
#![deny(missing_docs)]

mod add;
#[cfg(feature = "tokio")]
mod async_memory;
mod builder;
mod config;
mod crud;
mod error;
mod graph;
pub mod graph_llm;
mod keywords;
pub mod llm_output;
mod memory;
mod messages;
mod options;
pub mod prompts;
pub mod search;
mod types;
mod validate;
mod vectors;

pub use add::{BULK_COMMIT_SIZE, BulkMemory, BulkResult};
#[cfg(feature = "tokio")]
pub use async_memory::AsyncMemory;
pub use builder::MemoryBuilder;
pub use config::{
    Durability, GraphConfig, IndexConfig, LlmConfig, MemoryConfig, PromptConfig, ReconcileConfig,
    ReconcileMethod, SearchConfig,
};
pub use error::{ErrorCode, MemoryError, Result};
pub use graph::{GraphChanges, Relation, RelationRecord};
pub use memory::Memory;
pub use messages::{MAX_MESSAGE_BYTES, MAX_MESSAGES, MAX_TOTAL_BYTES, Message, Messages};
pub use types::{
    AddEvent, AddOptions, AddResult, AddStats, Event, GetAllOptions, MemoryItem, MemoryPage,
    PROCEDURAL_MEMORY, Reranker, ScoreDetails, SearchOptions, SearchResult, StageTimings,
    UpdateOptions,
};
pub use vectors::IndexOrigin;

/// The models crate (embedders, chat models, model sources).
pub use memlayer_models as models;
/// The store crate (scopes, filters, history events, export format).
pub use memlayer_store as store;
pub use memlayer_store::{
    DeleteAllReport, HistoryEvent, HistoryKind, Scope, Snapshot, TransferStats, VerifyReport,
};
/// The text crate (tokenizer, stop words, stemmer, BM25).
pub use memlayer_text as text;
