//! [`Memory`]: the engine handle users link. This file is the facade: the
//! handle, the model accessors and the one commit path. The pipelines live
//! in their own folders (`add/`, `search/`, `graph/`), the plain reads and
//! writes in `crud.rs`, input checks in `validate.rs`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use memlayer_models::{ChatMessage, ChatModel, Completion, Embedder, GenerateOptions};
use memlayer_store::{Snapshot, Store, VerifyReport, WriteBatch};
use parking_lot::Mutex;
use serde_json::Value;

use crate::builder::MemoryBuilder;
use crate::config::MemoryConfig;
use crate::error::Result;
use crate::graph::GraphCache;
use crate::types::{AddStats, Reranker};
use crate::vectors::{Change, IndexOrigin, Vectors};

/// What every handle of one database shares.
pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) vectors: Vectors,
    /// The keyword index, kept in memory like the vectors.
    pub(crate) keywords: crate::keywords::Keywords,
    pub(crate) embedder: Arc<dyn Embedder>,
    pub(crate) chat: OnceLock<Arc<dyn ChatModel>>,
    pub(crate) chat_loading: Mutex<()>,
    pub(crate) reranker: Option<Arc<dyn Reranker>>,
    pub(crate) config: MemoryConfig,
    /// Serialises commits and the index updates that follow them.
    pub(crate) write: Mutex<()>,
    pub(crate) path: PathBuf,
    /// Per-scope graph nodes and their embedding index.
    pub(crate) graph_cache: GraphCache,
    /// Recent query embeddings (`search.query_cache`).
    pub(crate) query_cache: crate::search::QueryCache,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(e) = self.vectors.save() {
            tracing::warn!(error = %e, "could not write the index snapshot; it will be rebuilt on next open");
        }
    }
}

/// The memory engine: a cheap, cloneable, `Send + Sync` handle over one redb
/// file, its vector index and the local models.
///
/// ```no_run
/// use memlayer::{AddOptions, Memory, MemoryConfig, SearchOptions};
/// let mem = Memory::open("memories.redb", MemoryConfig::default())?;
/// mem.add("I'm vegetarian and I live in Lisbon.", &AddOptions::user("alice"))?;
/// let hits = mem.search("where does she live?", &SearchOptions::user("alice"))?;
/// println!("{}", hits.results[0].memory);
/// # Ok::<(), memlayer::MemoryError>(())
/// ```
#[derive(Clone)]
pub struct Memory {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory")
            .field("path", &self.inner.path)
            .field("embedder", &self.inner.embedder.model_id())
            .finish()
    }
}

impl Memory {
    /// Opens (or creates) a database with the configured models.
    pub fn open(path: impl AsRef<Path>, config: MemoryConfig) -> Result<Memory> {
        Memory::builder(path).config(config).open()
    }

    /// A builder, for injecting models or a reranker.
    pub fn builder(path: impl AsRef<Path>) -> MemoryBuilder {
        MemoryBuilder::new(path.as_ref().to_path_buf())
    }

    /// The configuration in use.
    pub fn config(&self) -> &MemoryConfig {
        &self.inner.config
    }

    /// The embedder in use.
    pub fn embedder(&self) -> &dyn Embedder {
        self.inner.embedder.as_ref()
    }

    /// The database path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Whether the index came from the snapshot or was rebuilt at open.
    pub fn index_origin(&self) -> IndexOrigin {
        self.inner.vectors.origin
    }

    /// A consistent read-only view of the store (one read transaction):
    /// records, vectors, history, keyword postings and the graph as of now.
    /// Writes go through the `Memory` API only, so that the vector index
    /// and the writer lock stay in step with the store.
    pub fn snapshot(&self) -> Result<Snapshot<'_>> {
        Ok(self.inner.store.snapshot()?)
    }

    /// Checks the store's integrity (records, vectors, scope indexes,
    /// keyword postings, history and graph adjacency agree). Problems are
    /// reported, not repaired.
    pub fn verify(&self) -> Result<VerifyReport> {
        Ok(self.inner.store.verify()?)
    }

    #[cfg(feature = "llama")]
    fn load_chat(&self) -> Result<Arc<dyn ChatModel>> {
        use memlayer_models::{ChatConfig, LlamaCppChat};
        let l = &self.inner.config.llm;
        let threads = (l.threads > 0).then(|| i32::try_from(l.threads).unwrap_or(i32::MAX));
        let cfg = ChatConfig {
            n_ctx: l.n_ctx,
            n_threads: threads,
            n_threads_batch: threads,
            prefix_cache: l.prefix_cache,
            parallel: l.slots,
            ..ChatConfig::default()
        };
        let t = std::time::Instant::now();
        let model: Arc<dyn ChatModel> = Arc::new(LlamaCppChat::load(&self.inner.config.chat, cfg)?);
        tracing::info!(
            model = model.model_id(),
            ms = t.elapsed().as_millis() as u64,
            "chat model loaded"
        );
        Ok(model)
    }

    #[cfg(not(feature = "llama"))]
    fn load_chat(&self) -> Result<Arc<dyn ChatModel>> {
        Err(crate::error::MemoryError::invalid(
            "chat",
            "this build has no chat backend (feature `llama` is off): inject one with MemoryBuilder::chat",
        ))
    }

    /// The chat model, loading it from `config.chat` on first use.
    pub fn chat_model(&self) -> Result<Arc<dyn ChatModel>> {
        if let Some(c) = self.inner.chat.get() {
            return Ok(c.clone());
        }
        let _g = self.inner.chat_loading.lock();
        if let Some(c) = self.inner.chat.get() {
            return Ok(c.clone());
        }
        let model = self.load_chat()?;
        let _ = self.inner.chat.set(model.clone());
        Ok(model)
    }

    /// One schema-constrained chat call; its token usage is added to `stats`.
    pub(crate) fn generate(
        &self,
        messages: &[ChatMessage],
        schema: Value,
        stats: &mut AddStats,
    ) -> Result<String> {
        let chat = self.chat_model()?;
        let l = &self.inner.config.llm;
        let opts = GenerateOptions::default()
            .max_tokens(l.max_tokens)
            .temperature(l.temperature)
            .json_schema(schema);
        let out = chat.generate(messages, &opts)?;
        add_usage(stats, &out);
        Ok(out.text)
    }

    /// Commits a batch and applies its changes to the index, under the
    /// writer lock (a caller that holds it already uses `commit_locked`).
    pub(crate) fn commit(&self, batch: WriteBatch, changes: Vec<Change>) -> Result<()> {
        let _w = self.inner.write.lock();
        self.commit_locked(batch, changes)
    }

    /// [`Memory::commit`] for a caller holding the writer lock.
    pub(crate) fn commit_locked(&self, batch: WriteBatch, changes: Vec<Change>) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let info = self.inner.store.commit(batch)?;
        if let Err(e) = self.inner.keywords.apply(&self.inner.store, &changes) {
            tracing::error!(error = %e, "keyword index update failed after commit; rebuilding it");
            self.inner.keywords.rebuild(&self.inner.store)?;
        }
        if let Err(e) = self.inner.vectors.apply(info.seq, changes) {
            // The store is the source of truth: bring the index back in line.
            tracing::error!(error = %e, "index update failed after commit; rebuilding the index");
            self.inner.vectors.rebuild(&self.inner.store)?;
        }
        Ok(())
    }
}

fn add_usage(stats: &mut AddStats, c: &Completion) {
    stats.llm_calls += 1;
    stats.prompt_tokens += c.prompt_tokens;
    stats.cached_prompt_tokens += c.cached_prompt_tokens;
    stats.completion_tokens += c.completion_tokens;
    stats.llm_prompt_ms += c.timings.prompt_ms;
    stats.llm_generation_ms += c.timings.generation_ms;
}
