//! [`Store`]: opening the file, committing batches, consistent reads.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata};
use uuid::Uuid;

use crate::batch::{Tx, WriteBatch};
use crate::codec::{self, split_order_key};
use crate::error::{Result, StoreError};
use crate::filter::Filter;
use crate::graph::{self, GraphEdge, GraphNode};
use crate::keyword;
use crate::keyword::KeywordOptions;
use crate::md5;
use crate::record::{HistoryEvent, Memory, MemoryUpdate, NewMemory};
use crate::scope::{Scope, ScopeKind};
use crate::tables::{
    self, HISTORY, META, RECORDS, SCHEMA_VERSION, VECTORS, WTables, meta, scope_table,
};
use crate::time::Timestamp;

/// How hard a commit tries to reach the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DurabilityMode {
    /// fsync before `commit` returns (default): a committed batch survives
    /// power loss.
    #[default]
    Immediate,
    /// No fsync: commits are atomic and visible but may be lost on crash
    /// until a later `Immediate` commit. For benchmarks and bulk loads.
    None,
}

/// Options for [`Store::open`].
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Id of the embedding model; pinned in the file at creation.
    pub embedding_model: String,
    /// Vector dimensions; pinned in the file at creation.
    pub dims: u32,
    /// Commit durability.
    pub durability: DurabilityMode,
    /// Drop English stop words from the keyword index. Pinned at creation;
    /// later opens use the stored setting.
    pub stop_words: bool,
    /// redb page cache size in bytes (`None`: redb's default).
    pub cache_size: Option<usize>,
}

impl StoreConfig {
    /// Config with defaults: `Immediate` durability, stop words on.
    pub fn new(embedding_model: impl Into<String>, dims: u32) -> Self {
        StoreConfig {
            embedding_model: embedding_model.into(),
            dims,
            durability: DurabilityMode::Immediate,
            stop_words: true,
            cache_size: None,
        }
    }

    /// Sets the durability.
    pub fn with_durability(mut self, d: DurabilityMode) -> Self {
        self.durability = d;
        self
    }
}

/// Result of a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitInfo {
    /// Commit sequence number of the batch (strictly increasing).
    pub seq: u64,
}

/// Paging options for [`Store::list`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size; `None` returns every match (there is no hidden cap).
    pub limit: Option<usize>,
}

/// One page of a listing, newest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    /// Matching memories, newest `created_at` first (ties: larger id first).
    pub items: Vec<Memory>,
    /// Cursor of the next page, `None` when this is the last one.
    pub next_cursor: Option<String>,
}

/// What [`Store::delete_all`] removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteAllReport {
    /// Memories deleted.
    pub memories: usize,
    /// Graph nodes + edges deleted.
    pub graph_entries: usize,
    /// Write batches committed.
    pub batches: usize,
}

/// Memories deleted per batch by [`Store::delete_all`].
pub const DELETE_ALL_BATCH: usize = 256;

/// The store: one redb file. `Send + Sync`; share it behind an `Arc`.
/// Many readers run concurrently with one writer; writers queue.
pub struct Store {
    db: Database,
    path: PathBuf,
    model: String,
    dims: u32,
    stop_words: bool,
    durability: redb::Durability,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("model", &self.model)
            .field("dims", &self.dims)
            .finish()
    }
}

/// Checks a vector's length and that every component is finite.
pub(crate) fn check_vector(v: &[f32], dims: u32) -> Result<()> {
    if v.len() != dims as usize {
        return Err(StoreError::InvalidVector(format!(
            "has {} dimensions, the store's embedding model has {dims}",
            v.len()
        )));
    }
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(StoreError::InvalidVector(format!(
            "component {i} is not finite"
        )));
    }
    Ok(())
}

fn meta_u32(v: &[u8], key: &'static str) -> Result<u32> {
    <[u8; 4]>::try_from(v)
        .map(u32::from_le_bytes)
        .map_err(|_| StoreError::corrupt("meta", format!("{key} has {} bytes", v.len())))
}

pub(crate) fn meta_u64(v: &[u8]) -> Result<u64> {
    <[u8; 8]>::try_from(v)
        .map(u64::from_le_bytes)
        .map_err(|_| StoreError::corrupt("meta", "commit_seq is not 8 bytes"))
}

impl Store {
    /// Opens (creating if needed) the store at `path`. A new file pins
    /// `config.embedding_model` and `config.dims`; an existing one must
    /// match them ([`StoreError::EmbedderMismatch`] otherwise).
    pub fn open(path: impl AsRef<Path>, config: StoreConfig) -> Result<Store> {
        if config.dims == 0 || config.embedding_model.trim().is_empty() {
            return Err(StoreError::InvalidConfig(
                "embedding_model must be non-empty and dims > 0".into(),
            ));
        }
        let path = path.as_ref().to_path_buf();
        let mut builder = Database::builder();
        if let Some(c) = config.cache_size {
            builder.set_cache_size(c);
        }
        let db = match builder.create(&path) {
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(StoreError::Locked { path });
            }
            other => other?,
        };
        let txn = db.begin_write()?;
        let stop_words;
        let mut upgraded_from = None;
        {
            let mut t = WTables::open(&txn)?;
            let existing = t
                .meta
                .get(meta::SCHEMA_VERSION)?
                .map(|g| g.value().to_vec());
            match existing {
                None => {
                    t.meta.insert(
                        meta::SCHEMA_VERSION,
                        SCHEMA_VERSION.to_le_bytes().as_slice(),
                    )?;
                    t.meta
                        .insert(meta::EMBEDDING_MODEL, config.embedding_model.as_bytes())?;
                    t.meta
                        .insert(meta::EMBEDDING_DIMS, config.dims.to_le_bytes().as_slice())?;
                    t.meta
                        .insert(meta::COMMIT_SEQ, 0u64.to_le_bytes().as_slice())?;
                    t.meta
                        .insert(meta::STOP_WORDS, [u8::from(config.stop_words)].as_slice())?;
                    t.meta.insert(
                        meta::CREATED_AT,
                        Timestamp::now().0.to_le_bytes().as_slice(),
                    )?;
                    stop_words = config.stop_words;
                    tracing::info!(path = %path.display(), model = %config.embedding_model, dims = config.dims, "created store");
                }
                Some(v) => {
                    let found = meta_u32(&v, meta::SCHEMA_VERSION)?;
                    if !(tables::OLDEST_SCHEMA_VERSION..=SCHEMA_VERSION).contains(&found) {
                        return Err(StoreError::SchemaVersion {
                            found,
                            supported: SCHEMA_VERSION,
                        });
                    }
                    if found < SCHEMA_VERSION {
                        // Version 1 → 2 only adds layouts (records 0x02,
                        // history kind 3); old values stay readable. 2 → 3
                        // re-keys the postings by scope (rebuilt below).
                        // Marking the file keeps an older build from
                        // misreading it.
                        t.meta.insert(
                            meta::SCHEMA_VERSION,
                            SCHEMA_VERSION.to_le_bytes().as_slice(),
                        )?;
                        upgraded_from = Some(found);
                    }
                    let model = t
                        .meta
                        .get(meta::EMBEDDING_MODEL)?
                        .map(|g| String::from_utf8_lossy(g.value()).into_owned())
                        .ok_or_else(|| StoreError::corrupt("meta", "embedding_model missing"))?;
                    let dims = t
                        .meta
                        .get(meta::EMBEDDING_DIMS)?
                        .map(|g| meta_u32(g.value(), meta::EMBEDDING_DIMS))
                        .transpose()?
                        .ok_or_else(|| StoreError::corrupt("meta", "embedding_dims missing"))?;
                    if model != config.embedding_model || dims != config.dims {
                        return Err(StoreError::EmbedderMismatch {
                            stored_model: model,
                            stored_dims: dims,
                            requested_model: config.embedding_model,
                            requested_dims: config.dims,
                        });
                    }
                    stop_words = t
                        .meta
                        .get(meta::STOP_WORDS)?
                        .map(|g| g.value().first() == Some(&1))
                        .unwrap_or(true);
                    if stop_words != config.stop_words {
                        tracing::warn!(
                            stored = stop_words,
                            requested = config.stop_words,
                            "stop-word setting is pinned in the file; using the stored one"
                        );
                    }
                    if upgraded_from.is_some_and(|v| v < 3) {
                        let n = keyword::rebuild_postings(&mut t, stop_words)?;
                        tracing::info!(documents = n, "keyword postings rebuilt per scope");
                    }
                }
            }
        }
        if let Some(from) = upgraded_from {
            if from < 3 {
                txn.delete_table(tables::KW_POSTINGS_V2)?;
            }
            tracing::info!(path = %path.display(), from, to = SCHEMA_VERSION, "upgraded store schema");
        }
        txn.commit()?;
        Ok(Store {
            db,
            path,
            model: config.embedding_model,
            dims: config.dims,
            stop_words,
            durability: match config.durability {
                DurabilityMode::Immediate => redb::Durability::Immediate,
                DurabilityMode::None => redb::Durability::None,
            },
        })
    }

    /// Path of the file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Pinned embedding model id.
    pub fn embedding_model(&self) -> &str {
        &self.model
    }

    /// Pinned vector dimensions.
    pub fn dims(&self) -> u32 {
        self.dims
    }

    /// Whether the keyword index drops stop words (pinned at creation).
    pub fn stop_words(&self) -> bool {
        self.stop_words
    }

    pub(crate) fn stop_words_pinned(&self) -> bool {
        self.stop_words
    }

    /// Runs `f` inside one write transaction with a fresh commit sequence;
    /// commits if `f` succeeds, aborts (nothing visible) otherwise.
    pub(crate) fn write<R>(
        &self,
        f: impl FnOnce(&mut Tx<'_, '_>) -> Result<R>,
    ) -> Result<(u64, R)> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(self.durability)?;
        let result = (|| {
            let mut t = WTables::open(&txn)?;
            let seq = current_seq_w(&t)? + 1;
            let r = {
                let mut tx = Tx {
                    t: &mut t,
                    seq,
                    now: Timestamp::now(),
                    hist_idx: 0,
                    model: &self.model,
                    dims: self.dims,
                    stop_words: self.stop_words,
                };
                f(&mut tx)?
            };
            t.meta
                .insert(meta::COMMIT_SEQ, seq.to_le_bytes().as_slice())?;
            Ok((seq, r))
        })();
        match result {
            Ok(v) => {
                txn.commit()?;
                Ok(v)
            }
            Err(e) => {
                if let Err(abort) = txn.abort() {
                    tracing::warn!(error = %abort, "aborting write transaction failed");
                }
                Err(e)
            }
        }
    }

    /// Commits a batch atomically. An empty batch writes nothing and returns
    /// the current sequence.
    pub fn commit(&self, batch: WriteBatch) -> Result<CommitInfo> {
        if batch.is_empty() {
            return Ok(CommitInfo {
                seq: self.commit_seq()?,
            });
        }
        let (seq, ()) = self.write(|tx| {
            for op in batch.ops {
                tx.apply(op)?;
            }
            Ok(())
        })?;
        Ok(CommitInfo { seq })
    }

    /// Inserts one memory in its own batch; returns it as stored.
    pub fn add(&self, memory: NewMemory) -> Result<Memory> {
        let mut b = WriteBatch::new();
        let id = b.insert(memory);
        self.commit(b)?;
        self.get(id)?.ok_or(StoreError::NotFound { id })
    }

    /// Updates one memory in its own batch; returns it as stored.
    pub fn update(&self, id: Uuid, update: MemoryUpdate) -> Result<Memory> {
        Ok(self.write(|tx| tx.update(id, update))?.1)
    }

    /// Deletes one memory in its own batch.
    pub fn delete(&self, id: Uuid) -> Result<()> {
        let mut b = WriteBatch::new();
        b.delete(id);
        self.commit(b).map(|_| ())
    }

    /// Deletes every memory in `scope` (all set dimensions equal), in
    /// batches of [`DELETE_ALL_BATCH`] until none is left, then clears the
    /// scope's graph the same way. Keyword postings and per-scope stats go
    /// with the memories.
    pub fn delete_all(&self, scope: &Scope) -> Result<DeleteAllReport> {
        let scope = scope.validated()?;
        let mut report = DeleteAllReport::default();
        loop {
            let page = self.list(
                &scope,
                None,
                &ListOptions {
                    cursor: None,
                    limit: Some(DELETE_ALL_BATCH),
                },
            )?;
            if page.items.is_empty() {
                break;
            }
            let mut b = WriteBatch::new();
            for m in &page.items {
                b.delete_if_exists(m.id);
            }
            self.commit(b)?;
            report.memories += page.items.len();
            report.batches += 1;
        }
        loop {
            let (_, removed) =
                self.write(|tx| tx.graph().clear_scope(&scope, DELETE_ALL_BATCH * 4))?;
            report.batches += 1;
            if removed == 0 {
                break;
            }
            report.graph_entries += removed;
        }
        tracing::info!(
            ?scope,
            memories = report.memories,
            graph = report.graph_entries,
            "delete_all done"
        );
        Ok(report)
    }

    /// Removes everything except the pinned configuration; the file stays
    /// valid and the commit sequence keeps increasing.
    pub fn reset(&self) -> Result<CommitInfo> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(self.durability)?;
        tables::delete_data_tables(&txn)?;
        let seq = {
            let mut t = WTables::open(&txn)?;
            let seq = current_seq_w(&t)? + 1;
            t.meta
                .insert(meta::COMMIT_SEQ, seq.to_le_bytes().as_slice())?;
            seq
        };
        txn.commit()?;
        tracing::info!(seq, "store reset");
        Ok(CommitInfo { seq })
    }

    /// A consistent read view: everything read through it comes from one
    /// committed state.
    pub fn snapshot(&self) -> Result<Snapshot<'_>> {
        Ok(Snapshot {
            txn: self.db.begin_read()?,
            store: self,
        })
    }

    /// Sequence number of the last commit (0 for a new store).
    pub fn commit_seq(&self) -> Result<u64> {
        self.snapshot()?.commit_seq()
    }

    /// One memory.
    pub fn get(&self, id: Uuid) -> Result<Option<Memory>> {
        self.snapshot()?.get(id)
    }

    /// A memory's vector.
    pub fn vector(&self, id: Uuid) -> Result<Option<Vec<f32>>> {
        self.snapshot()?.vector(id)
    }

    /// See [`Snapshot::list`].
    pub fn list(&self, scope: &Scope, filter: Option<&Filter>, opts: &ListOptions) -> Result<Page> {
        self.snapshot()?.list(scope, filter, opts)
    }

    /// See [`Snapshot::history`].
    pub fn history(&self, id: Uuid) -> Result<Vec<HistoryEvent>> {
        self.snapshot()?.history(id)
    }

    /// See [`Snapshot::keyword_search`].
    pub fn keyword_search(
        &self,
        scope: &Scope,
        filter: Option<&Filter>,
        query: &str,
        k: usize,
    ) -> Result<Vec<(Uuid, f32)>> {
        self.snapshot()?.keyword_search(scope, filter, query, k)
    }

    /// Number of memories.
    pub fn len(&self) -> Result<u64> {
        self.snapshot()?.len()
    }

    /// True when there are no memories.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
}

fn current_seq_w(t: &WTables<'_>) -> Result<u64> {
    t.meta
        .get(meta::COMMIT_SEQ)?
        .map(|g| meta_u64(g.value()))
        .transpose()
        .map(|v| v.unwrap_or(0))
}

/// A read transaction over the store.
pub struct Snapshot<'s> {
    pub(crate) txn: ReadTransaction,
    pub(crate) store: &'s Store,
}

/// Parses a cursor string (48 hex chars).
fn parse_cursor(c: &str) -> Result<[u8; 24]> {
    md5::from_hex::<24>(c).ok_or_else(|| StoreError::InvalidCursor(c.chars().take(64).collect()))
}

impl Snapshot<'_> {
    /// Sequence number of the last commit visible here.
    pub fn commit_seq(&self) -> Result<u64> {
        let t = self.txn.open_table(META)?;
        t.get(meta::COMMIT_SEQ)?
            .map(|g| meta_u64(g.value()))
            .transpose()
            .map(|v| v.unwrap_or(0))
    }

    /// Number of memories.
    pub fn len(&self) -> Result<u64> {
        Ok(self.txn.open_table(RECORDS)?.len()?)
    }

    /// True when there are no memories.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// One memory.
    pub fn get(&self, id: Uuid) -> Result<Option<Memory>> {
        let t = self.txn.open_table(RECORDS)?;
        t.get(id.as_bytes())?
            .map(|v| codec::decode_record(id, v.value()))
            .transpose()
    }

    /// A memory's vector.
    pub fn vector(&self, id: Uuid) -> Result<Option<Vec<f32>>> {
        let t = self.txn.open_table(VECTORS)?;
        t.get(id.as_bytes())?
            .map(|v| codec::vector_from_bytes(v.value()))
            .transpose()
    }

    /// Calls `f` for every memory record, in id order (what an engine's
    /// in-memory scope cache reads at open). Stops at the first error.
    pub fn for_each_memory(&self, mut f: impl FnMut(Memory)) -> Result<()> {
        let t = self.txn.open_table(RECORDS)?;
        for entry in t.iter()? {
            let (k, v) = entry?;
            f(codec::decode_record(
                Uuid::from_bytes(*k.value()),
                v.value(),
            )?);
        }
        Ok(())
    }

    /// Calls `f` for every (id, vector), in id order: what an ANN index
    /// rebuild reads.
    pub fn for_each_vector(&self, mut f: impl FnMut(Uuid, &[f32])) -> Result<()> {
        let t = self.txn.open_table(VECTORS)?;
        for entry in t.iter()? {
            let (k, v) = entry?;
            let vec = codec::vector_from_bytes(v.value())?;
            f(Uuid::from_bytes(*k.value()), &vec);
        }
        Ok(())
    }

    /// History of a memory in commit order (kept after deletion).
    pub fn history(&self, id: Uuid) -> Result<Vec<HistoryEvent>> {
        let t = self.txn.open_table(HISTORY)?;
        let lo = codec::history_key(id, 0, 0);
        let hi = codec::history_key(id, u64::MAX, u32::MAX);
        let mut out = Vec::new();
        for entry in t.range(lo.as_slice()..=hi.as_slice())? {
            let (k, v) = entry?;
            out.push(codec::decode_history(k.value(), v.value())?);
        }
        Ok(out)
    }

    /// Merges the scope with the filter's scope equalities. `None` when
    /// they contradict (nothing can match).
    fn effective_scope(scope: &Scope, filter: Option<&Filter>) -> Result<Option<Scope>> {
        let mut s = scope.clone();
        if let Some(f) = filter {
            for (kind, v) in f.scope_equalities() {
                match s.get(kind).map(str::trim) {
                    Some(x) if x != v => return Ok(None),
                    Some(_) => {}
                    None => s.set(kind, Some(v)),
                }
            }
        }
        s.validated().map(Some)
    }

    /// The scope dimension with the fewest index entries, with its size.
    fn driving_index(&self, scope: &Scope) -> Result<Option<(ScopeKind, String, u64)>> {
        let mut best: Option<(ScopeKind, String, u64)> = None;
        for (kind, v) in scope.entries() {
            let t = self.txn.open_multimap_table(scope_table(kind))?;
            let n = t.get(v)?.len();
            if best.as_ref().is_none_or(|b| n < b.2) {
                best = Some((kind, v.to_string(), n));
            }
        }
        Ok(best)
    }

    /// Memories in `scope` matching `filter`, newest first, paged by
    /// cursor. Scope equalities in the filter are pushed down to the scope
    /// indexes; everything else is post-filtered. At least one of
    /// user_id/agent_id/run_id is required (in `scope` or the filter).
    pub fn list(&self, scope: &Scope, filter: Option<&Filter>, opts: &ListOptions) -> Result<Page> {
        let cursor = opts.cursor.as_deref().map(parse_cursor).transpose()?;
        let Some(scope) = Self::effective_scope(scope, filter)? else {
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        };
        let limit = opts.limit.unwrap_or(usize::MAX);
        let mut items = Vec::new();
        let mut next_cursor = None;
        if limit == 0 {
            return Ok(Page { items, next_cursor });
        }
        let Some((kind, value, _)) = self.driving_index(&scope)? else {
            return Err(StoreError::MissingScope);
        };
        let idx = self.txn.open_multimap_table(scope_table(kind))?;
        let records = self.txn.open_table(RECORDS)?;
        let mut last_key = [0u8; 24];
        for entry in idx.get(value.as_str())?.rev() {
            let key = *entry?.value();
            if cursor.is_some_and(|c| key >= c) {
                continue;
            }
            let (_, id) = split_order_key(&key);
            let bytes = records.get(id.as_bytes())?.ok_or_else(|| {
                StoreError::corrupt("scope index", format!("points at missing memory {id}"))
            })?;
            let m = codec::decode_record(id, bytes.value())?;
            if !scope.matches(&m.scope) || !filter.is_none_or(|f| f.matches(&m)) {
                continue;
            }
            if items.len() == limit {
                next_cursor = Some(md5::to_hex(&last_key));
                break;
            }
            last_key = key;
            items.push(m);
        }
        Ok(Page { items, next_cursor })
    }

    /// The memories of `scope` (all set dimensions) in insertion order
    /// (`created_at`, then id), each with its `created_at`.
    pub(crate) fn scope_order(&self, scope: &Scope) -> Result<Vec<(Timestamp, Uuid)>> {
        let mut acc: Option<HashSet<Uuid>> = None;
        let mut order = Vec::new();
        for (kind, v) in scope.entries() {
            let t = self.txn.open_multimap_table(scope_table(kind))?;
            order.clear();
            for e in t.get(v)? {
                let (at, id) = split_order_key(e?.value());
                if acc.as_ref().is_none_or(|a| a.contains(&id)) {
                    order.push((at, id));
                }
            }
            acc = Some(order.iter().map(|x| x.1).collect());
        }
        Ok(order)
    }

    /// BM25 keyword search within `scope`, post-filtered by `filter`;
    /// the `k` best (id, score) pairs, best first. Query words match by
    /// stem; no neighbour context (see [`Snapshot::keyword_search_with`]).
    pub fn keyword_search(
        &self,
        scope: &Scope,
        filter: Option<&Filter>,
        query: &str,
        k: usize,
    ) -> Result<Vec<(Uuid, f32)>> {
        self.keyword_search_with(scope, filter, query, k, &KeywordOptions::default())
    }

    /// [`Snapshot::keyword_search`] with options: with `context_weight` w,
    /// each memory is scored as if w × the words of the memory stored just
    /// before it in the scope were part of it. A date the query names ("in
    /// June", "on 13 October 2023") scores as one more query word, held by
    /// every memory whose `created_at` (UTC) falls on it (see
    /// `docs/design.md`, keyword index).
    pub fn keyword_search_with(
        &self,
        scope: &Scope,
        filter: Option<&Filter>,
        query: &str,
        k: usize,
        opts: &KeywordOptions,
    ) -> Result<Vec<(Uuid, f32)>> {
        self.keyword_search_expanded(scope, filter, query, k, opts, None)
    }

    /// [`Snapshot::keyword_search_with`] with query expansion: the stems
    /// of `expansion` that are not query stems, rated by their feedback
    /// weight × idf in the scope, the best `expansion.terms` of them
    /// scoring as query words at a reduced weight
    /// ([`keyword::expansion_weights`]).
    pub fn keyword_search_expanded(
        &self,
        scope: &Scope,
        filter: Option<&Filter>,
        query: &str,
        k: usize,
        opts: &KeywordOptions,
        expansion: Option<&keyword::Expansion>,
    ) -> Result<Vec<(Uuid, f32)>> {
        let Some(scope) = Self::effective_scope(scope, filter)? else {
            return Ok(Vec::new());
        };
        if k == 0 {
            return Ok(Vec::new());
        }
        // Scan the postings of the scope's smallest dimension; with more
        // than one dimension, keep the documents in all of them.
        let mut dims = Vec::new();
        for (kind, v) in scope.entries() {
            let stats = keyword::read_stats(&self.txn, &codec::stats_key(kind.tag(), v))?;
            dims.push((kind, v, stats.unwrap_or((0, 0))));
        }
        let Some(&(kind, v, stats)) = dims.iter().min_by_key(|d| d.2.0) else {
            return Ok(Vec::new());
        };
        let multi = dims.len() > 1;
        let context = opts.context_weight > 0.0 && opts.context_weight.is_finite();
        let dates = if opts.dates {
            memlayer_text::dates::named_dates(query)
        } else {
            Vec::new()
        };
        let order = if multi || context || !dates.is_empty() {
            self.scope_order(&scope)?
        } else {
            Vec::new()
        };
        // The memories made on each date the query names.
        let mut dated: Vec<Vec<Uuid>> = vec![Vec::new(); dates.len()];
        if !dates.is_empty() {
            for &(at, id) in &order {
                let (y, m, d) = at.civil_date();
                for (docs, date) in dated.iter_mut().zip(&dates) {
                    if date.contains(y, m, d) {
                        docs.push(id);
                    }
                }
            }
        }
        let ids: HashSet<Uuid> = if multi {
            order.iter().map(|x| x.1).collect()
        } else {
            HashSet::new()
        };
        let stats = if multi {
            let doclen = self.txn.open_table(crate::tables::KW_DOCLEN)?;
            let mut total = 0u64;
            for id in &ids {
                total += u64::from(doclen.get(id.as_bytes())?.map(|g| g.value()).unwrap_or(0));
            }
            (ids.len() as u64, total)
        } else {
            stats
        };
        let corpus = keyword::Corpus {
            prefix: keyword::scope_prefix(kind, v),
            ids: multi.then_some(&ids),
        };
        let terms = keyword::query_terms(
            &self.txn,
            &corpus,
            query,
            self.store.stop_words,
            &dated,
            expansion.map(|e| (e, stats.0)),
        )?;
        let scores = if context {
            keyword::bm25_in_context(&self.txn, terms, stats, &order, opts.context_weight)?
        } else {
            keyword::bm25(terms, stats)
        };
        // Without a filter the k best are the answer: select them instead
        // of sorting every scored document.
        let top = filter.is_none().then_some(k);
        let scored = keyword::sorted(scores, top);
        let mut out = Vec::with_capacity(k.min(scored.len()));
        for (id, score) in scored {
            if out.len() == k {
                break;
            }
            if let Some(f) = filter {
                match self.get(id)? {
                    Some(m) if f.matches(&m) => {}
                    _ => continue,
                }
            }
            out.push((id, score));
        }
        Ok(out)
    }

    /// The stored embedding of a graph node (`GraphNode::embedding_id`).
    pub fn graph_node_vector(&self, embedding_id: Uuid) -> Result<Option<Vec<f32>>> {
        graph::node_vector(&self.txn, embedding_id)
    }

    /// Graph nodes of exactly this scope.
    pub fn graph_nodes(&self, scope: &Scope) -> Result<Vec<GraphNode>> {
        graph::nodes(&self.txn, scope)
    }

    /// One graph node by (normalised) name.
    pub fn graph_node(&self, scope: &Scope, name: &str) -> Result<Option<GraphNode>> {
        graph::node(&self.txn, scope, name)
    }

    /// Graph edges of exactly this scope.
    pub fn graph_edges(&self, scope: &Scope, include_invalid: bool) -> Result<Vec<GraphEdge>> {
        graph::edges(&self.txn, scope, include_invalid)
    }

    /// The graph scopes that `scope` covers, as memory reads see them: every
    /// dimension set in `scope` equal, so `user=u` covers the graphs of
    /// `(u)`, `(u, run r1)`, `(u, agent a)`… Only scopes that hold (or
    /// held) graph data are listed.
    pub fn graph_scopes_within(&self, scope: &Scope) -> Result<Vec<Scope>> {
        graph::scopes_matching(&self.txn, scope)
    }

    /// Edges touching a node, via the adjacency tables.
    pub fn graph_neighbors(
        &self,
        scope: &Scope,
        name: &str,
        include_invalid: bool,
    ) -> Result<Vec<GraphEdge>> {
        graph::neighbors(&self.txn, scope, name, include_invalid, usize::MAX)
    }

    /// Like [`Snapshot::graph_neighbors`], stopping after `limit` edges
    /// (bounds the work on hub nodes such as the user's own node).
    pub fn graph_neighbors_limit(
        &self,
        scope: &Scope,
        name: &str,
        include_invalid: bool,
        limit: usize,
    ) -> Result<Vec<GraphEdge>> {
        graph::neighbors(&self.txn, scope, name, include_invalid, limit)
    }
}
