//! The one error type of the store.

use uuid::Uuid;

/// Everything that can go wrong in the store. Messages say what went wrong
/// and, where there is one, what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The underlying redb database failed (I/O, corruption, lock held).
    #[error(
        "storage error: {0} (check the disk, the file permissions and that no other process has the store open)"
    )]
    Storage(Box<redb::Error>),

    /// Another process has the database open (redb holds an exclusive file
    /// lock for as long as a process keeps the store open).
    #[error(
        "the database {} is open in another process; wait for it to finish (the CLI waits up to --lock-timeout), stop it, or send the request to the `memlayer serve` that owns it",
        path.display()
    )]
    Locked {
        /// The database file.
        path: std::path::PathBuf,
    },

    /// An I/O error outside redb (export/import streams).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),

    /// The file was written for another embedding model or dimension.
    #[error(
        "embedding model mismatch: the store was created for model `{stored_model}` with {stored_dims} dimensions, \
         but was opened with `{requested_model}` ({requested_dims} dimensions); open it with the original embedder \
         or export and re-embed into a new store"
    )]
    EmbedderMismatch {
        /// Model id pinned in the file.
        stored_model: String,
        /// Dimensions pinned in the file.
        stored_dims: u32,
        /// Model id the caller asked for.
        requested_model: String,
        /// Dimensions the caller asked for.
        requested_dims: u32,
    },

    /// The file has a schema version this build does not understand.
    #[error(
        "unsupported schema version {found} (this build reads versions 1 to {supported}); upgrade memlayer or export with the version that wrote it"
    )]
    SchemaVersion {
        /// Version found in the file.
        found: u32,
        /// Version this build supports.
        supported: u32,
    },

    /// The configuration passed to `Store::open` is unusable.
    #[error("invalid store configuration: {0}")]
    InvalidConfig(String),

    /// A scope id (user_id, agent_id, run_id, actor_id) is malformed.
    #[error("invalid {field}: {reason}")]
    InvalidScope {
        /// Which field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// None of user_id, agent_id, run_id was given.
    #[error("at least one of user_id, agent_id or run_id is required")]
    MissingScope,

    /// User metadata tried to set an identity key.
    #[error(
        "metadata key `{key}` is reserved for identity; pass it as a scope/actor argument instead of inside metadata"
    )]
    IdentityKeyInMetadata {
        /// The offending key.
        key: String,
    },

    /// Metadata is not a JSON object or cannot be encoded.
    #[error("invalid metadata: {0}")]
    InvalidMetadata(String),

    /// A vector has the wrong length or non-finite components.
    #[error("invalid vector: {0}")]
    InvalidVector(String),

    /// A supersession that cannot be recorded: the memory is already
    /// superseded, or it would supersede itself.
    #[error("cannot supersede memory {id}: {reason}")]
    InvalidSupersede {
        /// The memory that was to be superseded.
        id: Uuid,
        /// Why, and what to do instead.
        reason: String,
    },

    /// The memory id does not exist (or was deleted).
    #[error("memory {id} not found")]
    NotFound {
        /// The id asked for.
        id: Uuid,
    },

    /// A batch precondition ([`crate::WriteBatch::expect_hash`]) failed:
    /// the memory changed or vanished since it was read. Nothing was written.
    #[error(
        "memory {id} changed concurrently (expected hash {expected}, found {}); nothing was written: re-read it and retry",
        found.as_deref().unwrap_or("no memory")
    )]
    Conflict {
        /// The memory.
        id: Uuid,
        /// The hash the batch expected.
        expected: String,
        /// The hash found, `None` if the memory no longer exists.
        found: Option<String>,
    },

    /// The memory text is unusable (empty).
    #[error("invalid memory text: {0}")]
    InvalidText(String),

    /// A memory with this id already exists.
    #[error("memory {id} already exists; use update instead of insert")]
    AlreadyExists {
        /// The duplicate id.
        id: Uuid,
    },

    /// A filter could not be parsed.
    #[error("invalid filter at `{path}`: {reason}")]
    InvalidFilter {
        /// JSON path of the offending part, e.g. `$.AND[1].score`.
        path: String,
        /// What is wrong.
        reason: String,
    },

    /// A timestamp string is not RFC 3339.
    #[error("invalid timestamp `{input}`: expected RFC 3339 such as 2024-05-01T12:00:00Z")]
    InvalidTimestamp {
        /// The input that failed to parse.
        input: String,
    },

    /// A pagination cursor is malformed.
    #[error(
        "invalid cursor `{0}`: pass back the `next_cursor` string returned by the previous page unchanged"
    )]
    InvalidCursor(String),

    /// A graph operation was given bad input or refers to missing data.
    #[error("invalid graph operation: {0}")]
    InvalidGraph(String),

    /// Stored bytes could not be decoded.
    #[error(
        "corrupt data in {what}: {reason}; run verify() and restore from an export if it persists"
    )]
    Corrupt {
        /// Which table/structure.
        what: &'static str,
        /// Decoder message.
        reason: String,
    },

    /// An import line could not be applied.
    #[error("import failed at line {line}: {reason} (nothing from this import was committed)")]
    Import {
        /// 1-based line number.
        line: usize,
        /// What went wrong.
        reason: String,
    },
}

/// Result alias used throughout the crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

macro_rules! redb_from {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Storage(Box::new(redb::Error::from(e)))
            }
        }
    )*};
}

redb_from!(
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError,
    redb::DatabaseError,
    redb::SetDurabilityError
);

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        StoreError::Storage(Box::new(e))
    }
}

impl StoreError {
    pub(crate) fn corrupt(what: &'static str, reason: impl std::fmt::Display) -> Self {
        StoreError::Corrupt {
            what,
            reason: reason.to_string(),
        }
    }

    pub(crate) fn filter(path: &str, reason: impl Into<String>) -> Self {
        StoreError::InvalidFilter {
            path: path.to_string(),
            reason: reason.into(),
        }
    }
}
