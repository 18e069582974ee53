//! Local models for memlayer: sentence embedders on Candle and GGUF chat
//! models on llama.cpp, behind two small traits.
//!
//! * [`Embedder`] — [`BertEmbedder`] runs BERT-family sentence-transformers
//!   models (all-MiniLM-L6-v2 by default) exactly as sentence-transformers
//!   does: its `max_seq_length`, pooling and normalisation.
//! * [`ChatModel`] — [`LlamaCppChat`] runs GGUF instruct models with their own
//!   chat template, greedy or sampled decoding, JSON-Schema-constrained output
//!   and reuse of a repeated prompt prefix's KV state.
//! * [`ModelSource`] — where model files come from: an explicit path, the
//!   memlayer model cache that `scripts/fetch-models` fills, or a Hugging Face
//!   hub repository (local hub cache when offline, download when online).
//!
//! Nothing here touches the network unless a [`ModelSource::Hub`] is resolved
//! online.
//!
//! ```no_run
//! use memlayer_models::*;
//! let embedder = BertEmbedder::load(&ModelSource::Cached("minilm".into()), &EmbedderConfig::default())?;
//! let chat = LlamaCppChat::load(&ModelSource::Cached("qwen".into()), ChatConfig::default())?;
//! let v = embedder.embed("I like green tea")?;
//! let reply = chat.generate(&[ChatMessage::user("Say hi")], &GenerateOptions::default().max_tokens(8))?;
//! # Ok::<(), ModelError>(())
//! ```
#![deny(clippy::unwrap_used)]
#![deny(missing_docs)]

mod bert;
mod chat;
mod doubles;
mod embed;
mod error;
#[cfg(feature = "llama")]
mod llama;
mod small_encoder;
mod source;

pub use bert::{BertEmbedder, EmbedderConfig, Pooling};
pub use chat::{
    ChatMessage, ChatModel, Classification, Completion, FinishReason, GenerateOptions, Role,
    Timings,
};
pub use doubles::{HashEmbedder, ScriptedChat};
pub use embed::{Embedder, cosine};
pub use error::{ModelError, Result};
#[cfg(feature = "llama")]
pub use llama::{ChatConfig, LlamaCppChat};
pub use source::{CachedModel, HubSource, ModelSource, models_dir};
