//! The plain reads and writes of the [`Memory`] API: get, list, update,
//! delete, history, reset, flush, export and import. No LLM is involved;
//! every write goes through the facade's commit path.

use memlayer_store::{
    DeleteAllReport, HistoryEvent, ListOptions, MemoryUpdate, Scope, Timestamp, TransferStats,
    WriteBatch,
};

use crate::error::{MemoryError, Result};
use crate::graph::Relation;
use crate::memory::Memory;
use crate::types::{GetAllOptions, MemoryItem, MemoryPage, UpdateOptions};
use crate::validate::{
    check_limit, check_text, is_expired, parse_filters, parse_id, validated_scope,
};
use crate::vectors::Change;

impl Memory {
    /// One memory, or `None` if it does not exist.
    pub fn get(&self, memory_id: &str) -> Result<Option<MemoryItem>> {
        let id = parse_id(memory_id)?;
        Ok(self.inner.store.get(id)?.map(MemoryItem::from))
    }

    /// Memories of a scope, newest first, with filters and cursor paging.
    pub fn get_all(&self, opts: &GetAllOptions) -> Result<MemoryPage> {
        let scope = validated_scope(&opts.scope)?;
        if let Some(l) = opts.limit {
            check_limit(l)?;
        }
        let filter = parse_filters(opts.filters.as_ref())?;
        let now = Timestamp::now();
        let mut cursor = opts.cursor.clone();
        let mut results = Vec::new();
        // Expired and superseded memories are skipped; keep paging until
        // the page is full.
        loop {
            let page = self.inner.store.list(
                &scope,
                filter.as_ref(),
                &ListOptions {
                    cursor: cursor.clone(),
                    limit: opts.limit.map(|l| l - results.len()),
                },
            )?;
            results.extend(
                page.items
                    .into_iter()
                    .filter(|m| opts.include_expired || !is_expired(m, now))
                    .filter(|m| opts.include_superseded || !m.is_superseded())
                    .map(MemoryItem::from),
            );
            cursor = page.next_cursor;
            if cursor.is_none() || opts.limit.is_none_or(|l| results.len() >= l) {
                break;
            }
        }
        let relations = if self.inner.config.graph && opts.cursor.is_none() {
            // The relations of every graph this listing covers (a user's
            // listing shows their runs' memories, so also their runs'
            // relations), each triple once.
            let snap = self.inner.store.snapshot()?;
            let mut seen = std::collections::HashSet::new();
            let mut out = Vec::new();
            for s in snap.graph_scopes_within(&scope)? {
                for e in snap.graph_edges(&s, false)? {
                    let r = Relation::new(&e.source, &e.relationship, &e.destination);
                    if seen.insert((
                        r.source.clone(),
                        r.relationship.clone(),
                        r.destination.clone(),
                    )) {
                        out.push(r);
                    }
                }
            }
            Some(out)
        } else {
            None
        };
        Ok(MemoryPage {
            results,
            next_cursor: cursor,
            relations,
        })
    }

    /// Changes a memory's text (re-embedded) and/or merges metadata
    /// (`null` values remove keys). Recorded in history.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use memlayer::{AddOptions, Memory, UpdateOptions};
    /// use memlayer::models::HashEmbedder;
    /// let dir = tempfile::tempdir().unwrap();
    /// let mem = Memory::builder(dir.path().join("m.redb"))
    ///     .embedder(Arc::new(HashEmbedder::new(32)))
    ///     .open()
    ///     .unwrap();
    /// let id = mem.add("Lives in Berlin", &AddOptions::user("a").infer(false)).unwrap().results[0].id.clone();
    /// let m = mem.update(&id, &UpdateOptions::text("Lives in Lisbon")).unwrap();
    /// assert_eq!(m.memory, "Lives in Lisbon");
    /// assert_eq!(mem.history(&id).unwrap().len(), 2);
    /// ```
    pub fn update(&self, memory_id: &str, opts: &UpdateOptions) -> Result<MemoryItem> {
        let id = parse_id(memory_id)?;
        if opts.text.is_none() && opts.metadata.is_none() {
            return Err(MemoryError::invalid(
                "update",
                "nothing to update: give a new text, metadata or both",
            ));
        }
        let text = opts
            .text
            .as_deref()
            .map(|t| check_text(t, "text"))
            .transpose()?;
        let vector = text
            .as_deref()
            .map(|t| self.inner.embedder.embed(t))
            .transpose()?;
        let mut batch = WriteBatch::new();
        batch.update(
            id,
            MemoryUpdate {
                text,
                vector: vector.clone(),
                metadata: opts.metadata.clone(),
                actor_id: None,
                role: None,
            },
        );
        let changes = vector
            .map(|vector| Change::Update { id, vector })
            .into_iter()
            .collect();
        self.commit(batch, changes)?;
        self.get(memory_id)?
            .ok_or(MemoryError::NotFound { id: id.to_string() })
    }

    /// Deletes a memory (its history is kept).
    pub fn delete(&self, memory_id: &str) -> Result<()> {
        let id = parse_id(memory_id)?;
        let mut batch = WriteBatch::new();
        // Relations the memory produced stay; their provenance records the
        // deletion (same batch).
        if let Some(m) = self.inner.store.get(id)? {
            batch.retract_provenance(m.scope.clone(), id);
        }
        batch.delete(id);
        self.commit(batch, vec![Change::Delete { id }])
    }

    /// Deletes every memory of a scope (at least one of user/agent/run).
    pub fn delete_all(&self, scope: &Scope) -> Result<DeleteAllReport> {
        let scope = validated_scope(scope)?;
        let _w = self.inner.write.lock();
        let ids = self.inner.vectors.scope_ids(&scope);
        let report = self.inner.store.delete_all(&scope);
        self.inner.graph_cache.invalidate();
        let report = report?;
        let seq = self.inner.store.commit_seq()?;
        self.inner.keywords.remove(&ids);
        self.inner.vectors.apply(
            seq,
            ids.into_iter().map(|id| Change::Delete { id }).collect(),
        )?;
        Ok(report)
    }

    /// A memory's history (ADD / UPDATE / DELETE events, oldest first). Kept
    /// after the memory is deleted.
    pub fn history(&self, memory_id: &str) -> Result<Vec<HistoryEvent>> {
        let id = parse_id(memory_id)?;
        let h = self.inner.store.history(id)?;
        if h.is_empty() {
            return Err(MemoryError::NotFound { id: id.to_string() });
        }
        Ok(h)
    }

    /// Deletes everything (memories, history, graph) and the index.
    pub fn reset(&self) -> Result<()> {
        let _w = self.inner.write.lock();
        let info = self.inner.store.reset();
        self.inner.graph_cache.invalidate();
        let info = info?;
        self.inner.keywords.clear();
        self.inner.vectors.clear(info.seq)?;
        self.inner.vectors.remove_snapshot();
        Ok(())
    }

    /// Writes the index snapshot now (it is also written when the last
    /// handle is dropped).
    pub fn flush(&self) -> Result<()> {
        let _w = self.inner.write.lock();
        self.inner.vectors.save()
    }

    /// Number of memories.
    pub fn len(&self) -> Result<u64> {
        Ok(self.inner.store.len()?)
    }

    /// True when there are no memories.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Writes every memory (with vectors and history) and the graph as JSONL.
    pub fn export_jsonl(&self, w: impl std::io::Write) -> Result<TransferStats> {
        Ok(self.inner.store.export_jsonl(w)?)
    }

    /// Imports a JSONL export in one transaction, then rebuilds the index.
    pub fn import_jsonl(&self, r: impl std::io::BufRead) -> Result<TransferStats> {
        let _w = self.inner.write.lock();
        let stats = self.inner.store.import_jsonl(r);
        self.inner.graph_cache.invalidate();
        let stats = stats?;
        self.inner.keywords.rebuild(&self.inner.store)?;
        self.inner.vectors.rebuild(&self.inner.store)?;
        Ok(stats)
    }
}
