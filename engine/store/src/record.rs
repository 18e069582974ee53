//! Public record types: memories, drafts for inserts/updates, history events.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::scope::Scope;
use crate::time::Timestamp;

/// A stored memory, as returned by reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// Id (UUIDv7 for memories created here; imports keep theirs).
    pub id: Uuid,
    /// The memory text.
    pub text: String,
    /// Lowercase hex MD5 of `text` (Mem0 compatibility).
    pub hash: String,
    /// Owner scope.
    #[serde(flatten)]
    pub scope: Scope,
    /// Who said it (speaker name/id), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<String>,
    /// Role of the message it came from (`user`, `assistant`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Kind of memory (e.g. `procedural_memory`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_type: Option<String>,
    /// User metadata (never contains identity keys).
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last modification time.
    pub updated_at: Timestamp,
    /// Optional expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_date: Option<Timestamp>,
    /// Id of the embedding model that produced the vector.
    pub embedding_model: String,
    /// When the memory stopped being true: set when a newer memory
    /// superseded it ([`crate::WriteBatch::supersede`]). A superseded
    /// memory keeps its text, vector and history; readers hide it unless
    /// they ask for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_at: Option<Timestamp>,
    /// The memory that replaced it, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<Uuid>,
}

impl Memory {
    /// True once another memory superseded this one.
    pub fn is_superseded(&self) -> bool {
        self.superseded_at.is_some()
    }
}

/// A memory to insert through a [`crate::WriteBatch`].
#[derive(Clone, Debug, PartialEq)]
pub struct NewMemory {
    /// Explicit id; `None` assigns a fresh UUIDv7.
    pub id: Option<Uuid>,
    /// The memory text.
    pub text: String,
    /// Owner scope (validated on commit).
    pub scope: Scope,
    /// Speaker.
    pub actor_id: Option<String>,
    /// Message role.
    pub role: Option<String>,
    /// Memory kind.
    pub memory_type: Option<String>,
    /// User metadata (a JSON object without identity keys).
    pub metadata: Map<String, Value>,
    /// Optional expiry.
    pub expiration_date: Option<Timestamp>,
    /// When the memory came to be (an imported conversation's real date);
    /// `None` stores the commit time. `updated_at` is always the commit
    /// time, and list order (newest first) follows `created_at`.
    pub created_at: Option<Timestamp>,
    /// The embedding, exactly the store's pinned dimension.
    pub vector: Vec<f32>,
}

impl NewMemory {
    /// A memory with text, scope and vector; everything else empty.
    pub fn new(text: impl Into<String>, scope: Scope, vector: Vec<f32>) -> Self {
        NewMemory {
            id: None,
            text: text.into(),
            scope,
            actor_id: None,
            role: None,
            memory_type: None,
            metadata: Map::new(),
            expiration_date: None,
            created_at: None,
            vector,
        }
    }

    /// Sets metadata.
    pub fn with_metadata(mut self, metadata: Map<String, Value>) -> Self {
        self.metadata = metadata;
        self
    }

    /// Sets the creation time (see [`NewMemory::created_at`]).
    pub fn with_created_at(mut self, t: Timestamp) -> Self {
        self.created_at = Some(t);
        self
    }

    /// Sets the explicit id.
    pub fn with_id(mut self, id: Uuid) -> Self {
        self.id = Some(id);
        self
    }
}

/// A change to an existing memory.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemoryUpdate {
    /// New text; requires `vector` too (the old vector would be stale).
    pub text: Option<String>,
    /// New vector.
    pub vector: Option<Vec<f32>>,
    /// Metadata to merge in: keys overwrite, a JSON `null` removes the key.
    pub metadata: Option<Map<String, Value>>,
    /// Who made the change (recorded in history).
    pub actor_id: Option<String>,
    /// Role of the change's origin (recorded in history).
    pub role: Option<String>,
}

/// Kind of a history event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HistoryKind {
    /// Memory created.
    #[serde(rename = "ADD")]
    Add,
    /// Memory changed.
    #[serde(rename = "UPDATE")]
    Update,
    /// Memory deleted.
    #[serde(rename = "DELETE")]
    Delete,
    /// Memory superseded: it stopped being true (`old_memory` is its text,
    /// `new_memory` the text of the memory that replaced it, if any). The
    /// record stays, marked with `superseded_at` / `superseded_by`.
    #[serde(rename = "SUPERSEDE")]
    Supersede,
}

impl HistoryKind {
    /// The JSON name: `ADD`, `UPDATE`, `DELETE`, `SUPERSEDE`.
    ///
    /// ```
    /// use memlayer_store::HistoryKind;
    /// assert_eq!(HistoryKind::Supersede.as_str(), "SUPERSEDE");
    /// assert_eq!(serde_json::to_value(HistoryKind::Add).unwrap(), HistoryKind::Add.as_str());
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryKind::Add => "ADD",
            HistoryKind::Update => "UPDATE",
            HistoryKind::Delete => "DELETE",
            HistoryKind::Supersede => "SUPERSEDE",
        }
    }
}

/// One entry of a memory's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    /// The memory this event belongs to.
    pub memory_id: Uuid,
    /// Commit sequence number of the batch that wrote it (in this store;
    /// imports get the import's sequence).
    #[serde(default)]
    pub seq: u64,
    /// ADD / UPDATE / DELETE.
    pub event: HistoryKind,
    /// Text before the change (`None` for ADD).
    #[serde(default)]
    pub old_memory: Option<String>,
    /// Text after the change (`None` for DELETE).
    #[serde(default)]
    pub new_memory: Option<String>,
    /// The memory's creation time.
    pub created_at: Timestamp,
    /// When the change happened (`None` for ADD).
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
    /// When the event was written (always set, DELETE included).
    pub event_at: Timestamp,
    /// True for DELETE events.
    pub is_deleted: bool,
    /// Actor recorded for the change.
    #[serde(default)]
    pub actor_id: Option<String>,
    /// Role recorded for the change.
    #[serde(default)]
    pub role: Option<String>,
}
