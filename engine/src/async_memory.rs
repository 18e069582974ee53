//! [`AsyncMemory`]: the [`Memory`] API for async code. Every call runs on
//! tokio's blocking pool (model inference and fsyncs must not block the
//! async executor).

use std::io::{BufRead, Write};

use crate::error::{MemoryError, Result};
use crate::{
    AddOptions, AddResult, BulkMemory, BulkResult, DeleteAllReport, GetAllOptions, HistoryEvent,
    Memory, MemoryItem, MemoryPage, Messages, Relation, RelationRecord, Scope, SearchOptions,
    SearchResult, TransferStats, UpdateOptions, VerifyReport,
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
        Err(e) => Err(MemoryError::Cancelled(format!(
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

    /// See [`Memory::add_many`].
    pub async fn add_many(&self, items: Vec<BulkMemory>) -> Result<BulkResult> {
        let m = self.inner.clone();
        blocking(move || m.add_many(&items)).await
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
    pub async fn update(&self, id: impl Into<String>, opts: UpdateOptions) -> Result<MemoryItem> {
        let m = self.inner.clone();
        let id = id.into();
        blocking(move || m.update(&id, &opts)).await
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

    /// See [`Memory::flush`].
    pub async fn flush(&self) -> Result<()> {
        let m = self.inner.clone();
        blocking(move || m.flush()).await
    }

    /// See [`Memory::len`].
    pub async fn len(&self) -> Result<u64> {
        let m = self.inner.clone();
        blocking(move || m.len()).await
    }

    /// See [`Memory::is_empty`].
    pub async fn is_empty(&self) -> Result<bool> {
        let m = self.inner.clone();
        blocking(move || m.is_empty()).await
    }

    /// See [`Memory::relations`].
    pub async fn relations(
        &self,
        scope: Scope,
        include_invalid: bool,
    ) -> Result<Vec<RelationRecord>> {
        let m = self.inner.clone();
        blocking(move || m.relations(&scope, include_invalid)).await
    }

    /// See [`Memory::neighbors`].
    pub async fn neighbors(
        &self,
        entity: impl Into<String>,
        depth: usize,
        scope: Scope,
    ) -> Result<Vec<RelationRecord>> {
        let m = self.inner.clone();
        let entity = entity.into();
        blocking(move || m.neighbors(&entity, depth, &scope)).await
    }

    /// See [`Memory::paths`].
    pub async fn paths(
        &self,
        from: impl Into<String>,
        to: impl Into<String>,
        max_depth: usize,
        scope: Scope,
    ) -> Result<Vec<Vec<Relation>>> {
        let m = self.inner.clone();
        let (from, to) = (from.into(), to.into());
        blocking(move || m.paths(&from, &to, max_depth, &scope)).await
    }

    /// See [`Memory::verify`].
    pub async fn verify(&self) -> Result<VerifyReport> {
        let m = self.inner.clone();
        blocking(move || m.verify()).await
    }

    /// See [`Memory::export_jsonl`]; the writer is handed back when done.
    pub async fn export_jsonl<W: Write + Send + 'static>(
        &self,
        mut w: W,
    ) -> Result<(W, TransferStats)> {
        let m = self.inner.clone();
        blocking(move || {
            let stats = m.export_jsonl(&mut w)?;
            Ok((w, stats))
        })
        .await
    }

    /// See [`Memory::import_jsonl`].
    pub async fn import_jsonl<R: BufRead + Send + 'static>(&self, r: R) -> Result<TransferStats> {
        let m = self.inner.clone();
        blocking(move || m.import_jsonl(r)).await
    }
}
