//! [`MemoryBuilder`]: opens a database with configured or injected models.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use memlayer_models::{BertEmbedder, ChatModel, Embedder, EmbedderConfig};
use memlayer_store::{DurabilityMode, Store, StoreConfig, StoreError};
use parking_lot::Mutex;

use crate::config::{Durability, MemoryConfig};
use crate::error::{MemoryError, Result};
use crate::graph::GraphCache;
use crate::memory::{Inner, Memory};
use crate::types::Reranker;
use crate::vectors::Vectors;

/// Builds a [`Memory`] with injected models (tests, custom backends).
///
/// ```
/// use std::sync::Arc;
/// use memlayer::{Memory, AddOptions, SearchOptions};
/// use memlayer::models::{HashEmbedder, ScriptedChat};
/// let dir = tempfile::tempdir().unwrap();
/// let mem = Memory::builder(dir.path().join("m.redb"))
///     .embedder(Arc::new(HashEmbedder::new(64)))
///     .chat(Arc::new(ScriptedChat::new([r#"{"facts": ["Likes tea"]}"#])))
///     .open()
///     .unwrap();
/// let r = mem.add("I like tea", &AddOptions::user("alice")).unwrap();
/// assert_eq!(r.results[0].memory, "Likes tea");
/// let hits = mem.search("tea", &SearchOptions::user("alice")).unwrap();
/// assert_eq!(hits.results.len(), 1);
/// ```
pub struct MemoryBuilder {
    path: PathBuf,
    config: MemoryConfig,
    embedder: Option<Arc<dyn Embedder>>,
    chat: Option<Arc<dyn ChatModel>>,
    reranker: Option<Arc<dyn Reranker>>,
    lock_timeout: Duration,
}

impl MemoryBuilder {
    pub(crate) fn new(path: PathBuf) -> Self {
        MemoryBuilder {
            path,
            config: MemoryConfig::default(),
            embedder: None,
            chat: None,
            reranker: None,
            lock_timeout: Duration::ZERO,
        }
    }

    /// Sets the configuration.
    pub fn config(mut self, config: MemoryConfig) -> Self {
        self.config = config;
        self
    }
    /// Uses this embedder instead of loading `config.embedder`.
    pub fn embedder(mut self, e: Arc<dyn Embedder>) -> Self {
        self.embedder = Some(e);
        self
    }
    /// Uses this chat model instead of loading `config.chat`.
    pub fn chat(mut self, c: Arc<dyn ChatModel>) -> Self {
        self.chat = Some(c);
        self
    }
    /// Reranks search results with this model.
    pub fn reranker(mut self, r: Arc<dyn Reranker>) -> Self {
        self.reranker = Some(r);
        self
    }

    /// How long `open` waits while another process has the database open
    /// (redb locks the file for as long as a process keeps it open).
    /// Default zero: fail at once with [`MemoryError::Locked`].
    pub fn lock_timeout(mut self, t: Duration) -> Self {
        self.lock_timeout = t;
        self
    }

    /// Opens (or creates) the database: loads the embedder, opens the store
    /// (its pinned embedding model must match), and loads the index snapshot
    /// or rebuilds the index from the store.
    pub fn open(self) -> Result<Memory> {
        self.config.validate()?;
        let embedder = match self.embedder {
            Some(e) => e,
            None => Arc::new(BertEmbedder::load(
                &self.config.embedder,
                &EmbedderConfig::default(),
            )?),
        };
        let dims = u32::try_from(embedder.dims())
            .map_err(|_| MemoryError::invalid("embedder", "dimension too large"))?;
        let mut sc = StoreConfig::new(embedder.model_id(), dims);
        sc.durability = match self.config.durability {
            Durability::Immediate => DurabilityMode::Immediate,
            Durability::None => DurabilityMode::None,
        };
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                MemoryError::invalid("path", format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let store = open_waiting(&self.path, &sc, self.lock_timeout)?;
        let vectors = Vectors::open(
            &store,
            &self.path,
            self.config.hnsw_params(),
            self.config.index.snapshot,
        )?;
        let keywords = crate::keywords::Keywords::open(&store)?;
        let query_cache = self.config.search.query_cache;
        let chat = OnceLock::new();
        if let Some(c) = self.chat {
            let _ = chat.set(c);
        }
        Ok(Memory {
            inner: Arc::new(Inner {
                store,
                vectors,
                keywords,
                embedder,
                chat,
                chat_loading: Mutex::new(()),
                reranker: self.reranker,
                config: self.config,
                write: Mutex::new(()),
                path: self.path,
                graph_cache: GraphCache::default(),
                query_cache: crate::search::QueryCache::new(query_cache),
            }),
        })
    }
}

/// Opens the store, retrying while another process holds the file lock,
/// for at most `timeout` (polls from 10 ms, doubling up to 200 ms).
fn open_waiting(path: &Path, config: &StoreConfig, timeout: Duration) -> Result<Store> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(10);
    let mut announced = false;
    loop {
        match Store::open(path, config.clone()) {
            Err(StoreError::Locked { .. }) if start.elapsed() < timeout => {
                if !announced {
                    tracing::info!(path = %path.display(), timeout_s = timeout.as_secs_f64(), "database open in another process; waiting for its lock");
                    announced = true;
                }
                std::thread::sleep(pause.min(timeout.saturating_sub(start.elapsed())));
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            other => return Ok(other?),
        }
    }
}
