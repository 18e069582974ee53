//! [`WriteBatch`]: a list of logical operations committed in one redb write
//! transaction, and the code that applies each operation (records, vectors,
//! scope indexes, history, keyword index and graph together).

use redb::ReadableTable;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::codec::{self, order_key};
use crate::error::{Result, StoreError};
use crate::graph::{EdgeUpsert, GraphWriter, NodeUpsert};
use crate::keyword;
use crate::record::{HistoryEvent, HistoryKind, Memory, MemoryUpdate, NewMemory};
use crate::scope::{Scope, validate_metadata, validate_opt_id};
use crate::store::check_vector;
use crate::tables::WTables;
use crate::time::Timestamp;

#[derive(Clone, Debug)]
pub(crate) enum Op {
    Insert(Uuid, Box<NewMemory>),
    Update(Uuid, Box<MemoryUpdate>),
    Delete {
        id: Uuid,
        actor_id: Option<String>,
        role: Option<String>,
        must_exist: bool,
    },
    Supersede {
        id: Uuid,
        by: Option<Uuid>,
        actor_id: Option<String>,
        role: Option<String>,
    },
    UpsertNode(Box<NodeUpsert>),
    UpsertEdge(Box<EdgeUpsert>),
    InvalidateEdge {
        scope: Scope,
        source: String,
        relationship: String,
        destination: String,
    },
    ClearGraphScope(Scope),
    RetractProvenance {
        scope: Scope,
        memory: Uuid,
    },
    ExpectHash {
        id: Uuid,
        hash: String,
    },
}

/// A set of changes committed atomically by [`crate::Store::commit`]: all
/// of it becomes visible to readers at once, or none of it does. History
/// events and keyword-index changes are derived from the memory operations
/// inside the same transaction, so they can never disagree with the records.
///
/// ```
/// use memlayer_store::{NewMemory, Scope, Store, StoreConfig, WriteBatch};
/// let dir = tempfile::tempdir().unwrap();
/// let store = Store::open(dir.path().join("m.redb"), StoreConfig::new("test-model", 2)).unwrap();
/// let mut batch = WriteBatch::new();
/// let id = batch.insert(NewMemory::new("likes tea", Scope::user("alice"), vec![0.1, 0.2]));
/// let info = store.commit(batch).unwrap();
/// assert_eq!(info.seq, 1);
/// assert_eq!(store.get(id).unwrap().unwrap().text, "likes tea");
/// ```
#[derive(Clone, Debug, Default)]
pub struct WriteBatch {
    pub(crate) ops: Vec<Op>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        WriteBatch::default()
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when there is nothing to commit.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Inserts a memory (history ADD, keyword postings, scope indexes).
    /// Returns its id (the given one, or a fresh UUIDv7).
    pub fn insert(&mut self, memory: NewMemory) -> Uuid {
        let id = memory.id.unwrap_or_else(Uuid::now_v7);
        self.ops.push(Op::Insert(id, Box::new(memory)));
        id
    }

    /// Updates text and/or metadata of a memory (history UPDATE).
    pub fn update(&mut self, id: Uuid, update: MemoryUpdate) {
        self.ops.push(Op::Update(id, Box::new(update)));
    }

    /// Deletes a memory (history DELETE). Committing fails with
    /// [`StoreError::NotFound`] if it does not exist.
    pub fn delete(&mut self, id: Uuid) {
        self.delete_as(id, None, None);
    }

    /// Deletes a memory, recording who did it in history.
    pub fn delete_as(&mut self, id: Uuid, actor_id: Option<String>, role: Option<String>) {
        self.ops.push(Op::Delete {
            id,
            actor_id,
            role,
            must_exist: true,
        });
    }

    /// Deletes a memory if it exists (no error otherwise).
    pub fn delete_if_exists(&mut self, id: Uuid) {
        self.ops.push(Op::Delete {
            id,
            actor_id: None,
            role: None,
            must_exist: false,
        });
    }

    /// Marks memory `id` as no longer true, superseded by memory `by` (which
    /// must exist when this operation is applied: insert it earlier in the
    /// same batch) or by nothing in particular. The record, its vector and
    /// its keyword postings stay; it gets `superseded_at` (the commit time)
    /// and `superseded_by`, and history gets a SUPERSEDE event. Committing
    /// fails with [`StoreError::NotFound`] if either memory is missing and
    /// with [`StoreError::InvalidSupersede`] if `id` is already superseded
    /// or `by == Some(id)`.
    ///
    /// ```
    /// use memlayer_store::{NewMemory, Scope, Store, StoreConfig, WriteBatch};
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = Store::open(dir.path().join("m.redb"), StoreConfig::new("test-model", 2)).unwrap();
    /// let mut batch = WriteBatch::new();
    /// let berlin = batch.insert(NewMemory::new("Lives in Berlin", Scope::user("alice"), vec![1.0, 0.0]));
    /// store.commit(batch).unwrap();
    /// let mut batch = WriteBatch::new();
    /// let lisbon = batch.insert(NewMemory::new("Lives in Lisbon", Scope::user("alice"), vec![0.0, 1.0]));
    /// batch.supersede(berlin, Some(lisbon));
    /// store.commit(batch).unwrap();
    /// let old = store.get(berlin).unwrap().unwrap();
    /// assert_eq!(old.superseded_by, Some(lisbon));
    /// assert!(old.superseded_at.is_some());
    /// ```
    pub fn supersede(&mut self, id: Uuid, by: Option<Uuid>) {
        self.supersede_as(id, by, None, None);
    }

    /// [`WriteBatch::supersede`], recording who did it in history.
    pub fn supersede_as(
        &mut self,
        id: Uuid,
        by: Option<Uuid>,
        actor_id: Option<String>,
        role: Option<String>,
    ) {
        self.ops.push(Op::Supersede {
            id,
            by,
            actor_id,
            role,
        });
    }

    /// Creates a graph node or bumps its mentions.
    pub fn upsert_node(&mut self, node: NodeUpsert) {
        self.ops.push(Op::UpsertNode(Box::new(node)));
    }

    /// Creates an edge (and missing endpoint nodes) or bumps its mentions,
    /// re-validating it and recording provenance.
    pub fn upsert_edge(&mut self, edge: EdgeUpsert) {
        self.ops.push(Op::UpsertEdge(Box::new(edge)));
    }

    /// Marks an edge invalid; committing fails if it does not exist.
    pub fn invalidate_edge(
        &mut self,
        scope: Scope,
        source: &str,
        relationship: &str,
        destination: &str,
    ) {
        self.ops.push(Op::InvalidateEdge {
            scope,
            source: source.to_string(),
            relationship: relationship.to_string(),
            destination: destination.to_string(),
        });
    }

    /// Makes the whole batch fail with [`StoreError::Conflict`] unless memory
    /// `id` exists and its text still hashes to `hash` when this operation is
    /// applied (optimistic concurrency: the engine shows a memory to the LLM,
    /// then updates it only if nobody changed it in between). Put it before
    /// the operations it guards.
    pub fn expect_hash(&mut self, id: Uuid, hash: impl Into<String>) {
        self.ops.push(Op::ExpectHash {
            id,
            hash: hash.into(),
        });
    }

    /// Moves `memory` from the provenance list of every edge of `scope` to
    /// the edge's retracted list (see [`crate::GraphEdge`]): what the engine
    /// does when a memory is deleted but the relations it produced stay.
    pub fn retract_provenance(&mut self, scope: Scope, memory: Uuid) {
        self.ops.push(Op::RetractProvenance { scope, memory });
    }

    /// Removes every node and edge of the graph scopes matched by `scope`
    /// (all dimensions set in `scope` equal) in this batch.
    pub fn clear_graph_scope(&mut self, scope: Scope) {
        self.ops.push(Op::ClearGraphScope(scope));
    }
}

/// State of one write transaction.
pub(crate) struct Tx<'a, 't> {
    pub t: &'a mut WTables<'t>,
    pub seq: u64,
    pub now: Timestamp,
    pub hist_idx: u32,
    pub model: &'a str,
    pub dims: u32,
    pub stop_words: bool,
}

fn check_text(text: &str) -> Result<()> {
    if text.trim().is_empty() {
        return Err(StoreError::InvalidText("must not be empty".into()));
    }
    Ok(())
}

impl<'t> Tx<'_, 't> {
    pub(crate) fn apply(&mut self, op: Op) -> Result<()> {
        match op {
            Op::Insert(id, m) => self.insert(id, *m),
            Op::Update(id, u) => self.update(id, *u).map(|_| ()),
            Op::Delete {
                id,
                actor_id,
                role,
                must_exist,
            } => self.delete(id, actor_id, role, must_exist),
            Op::Supersede {
                id,
                by,
                actor_id,
                role,
            } => self.supersede(id, by, actor_id, role),
            Op::UpsertNode(n) => self.graph().upsert_node(&n),
            Op::UpsertEdge(e) => self.graph().upsert_edge(&e),
            Op::InvalidateEdge {
                scope,
                source,
                relationship,
                destination,
            } => self
                .graph()
                .invalidate_edge(&scope, &source, &relationship, &destination),
            Op::ExpectHash { id, hash } => match self.load(id)? {
                Some(m) if m.is_superseded() => Err(StoreError::Conflict {
                    id,
                    expected: hash,
                    found: None,
                }),
                Some(m) if m.hash == hash => Ok(()),
                Some(m) => Err(StoreError::Conflict {
                    id,
                    expected: hash,
                    found: Some(m.hash),
                }),
                None => Err(StoreError::Conflict {
                    id,
                    expected: hash,
                    found: None,
                }),
            },
            Op::RetractProvenance { scope, memory } => {
                self.graph().retract_provenance(&scope, memory).map(|_| ())
            }
            Op::ClearGraphScope(scope) => {
                let scope = if scope.is_empty() {
                    scope
                } else {
                    scope.validated()?
                };
                self.graph().clear_scope(&scope, usize::MAX).map(|_| ())
            }
        }
    }

    pub(crate) fn graph(&mut self) -> GraphWriter<'_, 't> {
        GraphWriter {
            now: self.now,
            dims: self.dims,
            t: self.t,
        }
    }

    pub(crate) fn load(&self, id: Uuid) -> Result<Option<Memory>> {
        match self.t.records.get(id.as_bytes())? {
            Some(v) => Ok(Some(codec::decode_record(id, v.value())?)),
            None => Ok(None),
        }
    }

    pub(crate) fn add_history(&mut self, e: &HistoryEvent) -> Result<()> {
        let key = codec::history_key(e.memory_id, self.seq, self.hist_idx);
        self.hist_idx = self.hist_idx.saturating_add(1);
        self.t
            .history
            .insert(key.as_slice(), codec::encode_history(e)?.as_slice())?;
        Ok(())
    }

    /// Writes a complete memory (record, vector, scope indexes, keywords) without history.
    pub(crate) fn put_new(&mut self, m: &Memory, vector: &[f32]) -> Result<()> {
        check_vector(vector, self.dims)?;
        if self.t.records.get(m.id.as_bytes())?.is_some() {
            return Err(StoreError::AlreadyExists { id: m.id });
        }
        self.t
            .records
            .insert(m.id.as_bytes(), codec::encode_record(m)?.as_slice())?;
        self.t
            .vectors
            .insert(m.id.as_bytes(), codec::vector_to_bytes(vector).as_slice())?;
        let ok = order_key(m.created_at, m.id);
        for (kind, v) in m.scope.entries() {
            self.t.scope_index(kind).insert(v, &ok)?;
        }
        keyword::index_doc(self.t, m.id, &m.text, &m.scope, self.stop_words)
    }

    /// Validates an imported/new memory's identity fields.
    pub(crate) fn validate_memory(m: &mut Memory) -> Result<()> {
        check_text(&m.text)?;
        m.scope = m.scope.validated()?;
        m.actor_id = validate_opt_id("actor_id", m.actor_id.as_deref())?;
        m.role = validate_opt_id("role", m.role.as_deref())?;
        validate_metadata(&m.metadata)?;
        m.hash = crate::md5::hex_digest(&m.text);
        Ok(())
    }

    fn insert(&mut self, id: Uuid, n: NewMemory) -> Result<()> {
        let mut m = Memory {
            id,
            hash: String::new(),
            text: n.text,
            scope: n.scope,
            actor_id: n.actor_id,
            role: n.role,
            memory_type: n.memory_type,
            metadata: n.metadata,
            created_at: n.created_at.unwrap_or(self.now),
            updated_at: self.now,
            expiration_date: n.expiration_date,
            embedding_model: self.model.to_string(),
            superseded_at: None,
            superseded_by: None,
        };
        Self::validate_memory(&mut m)?;
        self.put_new(&m, &n.vector)?;
        self.add_history(&HistoryEvent {
            memory_id: id,
            seq: self.seq,
            event: HistoryKind::Add,
            old_memory: None,
            new_memory: Some(m.text.clone()),
            created_at: m.created_at,
            updated_at: None,
            event_at: self.now,
            is_deleted: false,
            actor_id: m.actor_id.clone(),
            role: m.role.clone(),
        })
    }

    pub(crate) fn update(&mut self, id: Uuid, u: MemoryUpdate) -> Result<Memory> {
        let mut m = self.load(id)?.ok_or(StoreError::NotFound { id })?;
        let actor_id = validate_opt_id("actor_id", u.actor_id.as_deref())?;
        let role = validate_opt_id("role", u.role.as_deref())?;
        let old_text = m.text.clone();
        if u.text.is_some() && u.vector.is_none() {
            return Err(StoreError::InvalidVector(
                "the text changed but no new vector was given; embed the new text and pass it too"
                    .into(),
            ));
        }
        if let Some(v) = &u.vector {
            check_vector(v, self.dims)?;
            self.t
                .vectors
                .insert(id.as_bytes(), codec::vector_to_bytes(v).as_slice())?;
        }
        if let Some(patch) = &u.metadata {
            validate_metadata(patch)?;
            merge_metadata(&mut m.metadata, patch);
        }
        if let Some(text) = u.text {
            check_text(&text)?;
            if text != old_text {
                keyword::unindex_doc(self.t, id, &old_text, &m.scope, self.stop_words)?;
                keyword::index_doc(self.t, id, &text, &m.scope, self.stop_words)?;
            }
            m.hash = crate::md5::hex_digest(&text);
            m.text = text;
        }
        m.updated_at = self.now;
        self.t
            .records
            .insert(id.as_bytes(), codec::encode_record(&m)?.as_slice())?;
        self.add_history(&HistoryEvent {
            memory_id: id,
            seq: self.seq,
            event: HistoryKind::Update,
            old_memory: Some(old_text),
            new_memory: Some(m.text.clone()),
            created_at: m.created_at,
            updated_at: Some(self.now),
            event_at: self.now,
            is_deleted: false,
            actor_id,
            role,
        })?;
        Ok(m)
    }

    pub(crate) fn delete(
        &mut self,
        id: Uuid,
        actor_id: Option<String>,
        role: Option<String>,
        must_exist: bool,
    ) -> Result<()> {
        let Some(m) = self.load(id)? else {
            return if must_exist {
                Err(StoreError::NotFound { id })
            } else {
                Ok(())
            };
        };
        let actor_id = validate_opt_id("actor_id", actor_id.as_deref())?;
        let role = validate_opt_id("role", role.as_deref())?;
        self.t.records.remove(id.as_bytes())?;
        self.t.vectors.remove(id.as_bytes())?;
        let ok = order_key(m.created_at, id);
        for (kind, v) in m.scope.entries() {
            self.t.scope_index(kind).remove(v, &ok)?;
        }
        keyword::unindex_doc(self.t, id, &m.text, &m.scope, self.stop_words)?;
        self.add_history(&HistoryEvent {
            memory_id: id,
            seq: self.seq,
            event: HistoryKind::Delete,
            old_memory: Some(m.text),
            new_memory: None,
            created_at: m.created_at,
            updated_at: Some(self.now),
            event_at: self.now,
            is_deleted: true,
            actor_id,
            role,
        })
    }
}

impl Tx<'_, '_> {
    fn supersede(
        &mut self,
        id: Uuid,
        by: Option<Uuid>,
        actor_id: Option<String>,
        role: Option<String>,
    ) -> Result<()> {
        let mut m = self.load(id)?.ok_or(StoreError::NotFound { id })?;
        if m.is_superseded() {
            return Err(StoreError::InvalidSupersede {
                id,
                reason: format!(
                    "it was already superseded{}; supersede the memory that replaced it instead",
                    m.superseded_by
                        .map(|b| format!(" by {b}"))
                        .unwrap_or_default()
                ),
            });
        }
        let new_text = match by {
            Some(b) if b == id => {
                return Err(StoreError::InvalidSupersede {
                    id,
                    reason: "a memory cannot supersede itself".into(),
                });
            }
            Some(b) => Some(self.load(b)?.ok_or(StoreError::NotFound { id: b })?.text),
            None => None,
        };
        let actor_id = validate_opt_id("actor_id", actor_id.as_deref())?;
        let role = validate_opt_id("role", role.as_deref())?;
        m.superseded_at = Some(self.now);
        m.superseded_by = by;
        m.updated_at = self.now;
        self.t
            .records
            .insert(id.as_bytes(), codec::encode_record(&m)?.as_slice())?;
        self.add_history(&HistoryEvent {
            memory_id: id,
            seq: self.seq,
            event: HistoryKind::Supersede,
            old_memory: Some(m.text),
            new_memory: new_text,
            created_at: m.created_at,
            updated_at: Some(self.now),
            event_at: self.now,
            is_deleted: false,
            actor_id,
            role,
        })
    }
}

/// Merges `patch` into `meta`: keys overwrite, `null` removes.
pub fn merge_metadata(meta: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (k, v) in patch {
        if v.is_null() {
            meta.remove(k);
        } else {
            meta.insert(k.clone(), v.clone());
        }
    }
}
