//! memlayer: an embedded, offline long-term memory engine for AI agents.
//!
//! This crate is the API agents link. Today it re-exports the model layer
//! ([`models`]); the `Memory` type (records, history and graph in one redb
//! file, LLM extraction and reconciliation, hybrid search) is built on top of
//! it by the Store and Engine work items — see `ARCHITECTURE.md`.
//!
//! ```no_run
//! use memlayer::models::{BertEmbedder, Embedder, EmbedderConfig, ModelSource};
//! let e = BertEmbedder::load(&ModelSource::Cached("minilm".into()), &EmbedderConfig::default())?;
//! assert_eq!(e.dims(), 384);
//! # Ok::<(), memlayer::models::ModelError>(())
//! ```
#![deny(clippy::unwrap_used)]
#![deny(missing_docs)]

pub use memlayer_models as models;
