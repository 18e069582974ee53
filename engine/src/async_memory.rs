//! [`AsyncMemory`]: the [`Memory`] API for async code. Every call runs on
//! tokio's blocking pool (model inference and fsyncs must not block the
//! async executor).

use serde_json::{Map, Value};

use crate::error::{MemoryError, Result};
use crate::{
    AddOptions, AddResult, DeleteAllReport, GetAllOptions, HistoryEvent, Memory, MemoryItem,
    MemoryPage, Messages, Scope, SearchOptions, SearchResult,
};

/// Async wrapper of a [`Memory`]; cheap to clone.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::sync::Arc;
/// use memlayer::{AsyncMemory, AddOptions, Memory, SearchOptions};
/// use memlayer::models::HashEmbedder;
/// let dir = tempfile::tempdir().unwrap();
/// let mem = Memory::builder(dir.path().join("m.redb"))
///     .embedder(Arc::new(HashEmbedder::new(32)))
///     .open()
///     .unwrap();
/// let mem = AsyncMemory::new(mem);
/// mem.add("likes tea", AddOptions::user("a").infer(false)).await.unwrap();
/// let hits = mem.search("tea", SearchOptions::user("a")).await.unwrap();
/// assert_eq!(hits.results.len(), 1);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct AsyncMemory {
    inner: Memory,
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        // A panic inside the engine is a bug: propagate it, don't hide it.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(MemoryError::Conflict(format!(
            "the blocking task was cancelled (runtime shutting down?): {e}"
        ))),
    }
}

impl AsyncMemory {
    /// Wraps a handle.
    pub fn new(inner: Memory) -> Self {
        AsyncMemory { inner }
    }

    /// The synchronous handle.
    pub fn blocking_handle(&self) -> &Memory {
        &self.inner
    }

    /// See [`Memory::add`].
    pub async fn add(&self, messages: impl Into<Messages>, opts: AddOptions) -> Result<AddResult> {
        let m = self.inner.clone();
        let messages = messages.into();
        blocking(move || m.add(messages, &opts)).await
    }

    /// See [`Memory::search`].
    pub async fn search(
        &self,
        query: impl Into<String>,
        opts: SearchOptions,
    ) -> Result<SearchResult> {
        let m = self.inner.clone();
        let q = query.into();
        blocking(move || m.search(&q, &opts)).await
    }

    /// See [`Memory::get`].
    pub async fn get(&self, id: impl Into<String>) -> Result<Option<MemoryItem>> {
        let m = self.inner.clone();
        let id = id.into();
        blocking(move || m.get(&id)).await
    }

    /// See [`Memory::get_all`].
    pub async fn get_all(&self, opts: GetAllOptions) -> Result<MemoryPage> {
        let m = self.inner.clone();
        blocking(move || m.get_all(&opts)).await
    }

    /// See [`Memory::update`].
    pub async fn update(
        &self,
        id: impl Into<String>,
        text: Option<String>,
        metadata: Option<Map<String, Value>>,
    ) -> Result<MemoryItem> {
        let m = self.inner.clone();
        let id = id.into();
        blocking(move || m.update(&id, text.as_deref(), metadata)).await
    }

    /// See [`Memory::delete`].
    pub async fn delete(&self, id: impl Into<String>) -> Result<()> {
        let m = self.inner.clone();
        let id = id.into();
        blocking(move || m.delete(&id)).await
    }

    /// See [`Memory::delete_all`].
    pub async fn delete_all(&self, scope: Scope) -> Result<DeleteAllReport> {
        let m = self.inner.clone();
        blocking(move || m.delete_all(&scope)).await
    }

    /// See [`Memory::history`].
    pub async fn history(&self, id: impl Into<String>) -> Result<Vec<HistoryEvent>> {
        let m = self.inner.clone();
        let id = id.into();
        blocking(move || m.history(&id)).await
    }

    /// See [`Memory::reset`].
    pub async fn reset(&self) -> Result<()> {
        let m = self.inner.clone();
        blocking(move || m.reset()).await
    }
}
