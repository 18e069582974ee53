//! The one error type of the engine, with stable codes and suggestions.

use memlayer_index::IndexError;
use memlayer_models::ModelError;
use memlayer_store::StoreError;

/// Stable, machine-readable category of a [`MemoryError`] (front ends map
/// them to exit codes and HTTP statuses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The caller's input is invalid; nothing was changed.
    Validation,
    /// The memory does not exist.
    NotFound,
    /// A model failed to load or to run.
    Model,
    /// The redb store failed.
    Storage,
    /// The vector index failed.
    Index,
    /// A concurrent change won; nothing was changed.
    Conflict,
    /// The operation was cancelled before it finished (e.g. its async
    /// runtime shut down); it may or may not have been applied.
    Cancelled,
    /// Another process has the database open; nothing was changed.
    Locked,
}

impl ErrorCode {
    /// The code as a string (`validation`, `not_found`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Validation => "validation",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Model => "model",
            ErrorCode::Storage => "storage",
            ErrorCode::Index => "index",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::Locked => "locked",
        }
    }
}

/// Everything the [`crate::Memory`] API can fail with. Every variant says
/// what went wrong; [`MemoryError::suggestion`] says what to do.
///
/// Failures of the layers below (model, store, index) keep the layer's
/// error as [`std::error::Error::source`] and name only the layer in their
/// own message, so a chain prints each part once;
/// [`MemoryError::report`] renders the whole chain on one line.
///
/// ```
/// use std::error::Error;
/// use memlayer::{MemoryError, store::StoreError};
/// let e = MemoryError::from(StoreError::Io(std::io::Error::other("disk full")));
/// assert_eq!(e.to_string(), "the store failed");
/// assert!(e.source().is_some());
/// assert_eq!(e.report(), "the store failed: I/O error: disk full");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryError {
    /// Invalid input (messages, scope, options, filters, metadata, config).
    #[error("invalid {field}: {reason}")]
    Validation {
        /// The argument or field at fault, e.g. `messages[2].role`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No memory with this id.
    #[error("memory {id} not found")]
    NotFound {
        /// The id asked for.
        id: String,
    },
    /// A model failed (loading, inference).
    #[error("the model failed")]
    Model(#[from] ModelError),
    /// The store failed (I/O, corruption, lock held by another process).
    #[error("the store failed")]
    Storage(#[source] StoreError),
    /// Another process has the database open (and kept it for longer than
    /// [`crate::MemoryBuilder::lock_timeout`]).
    #[error("the database {} is open in another process", path.display())]
    Locked {
        /// The database file.
        path: std::path::PathBuf,
    },
    /// The vector index failed.
    #[error("the vector index failed")]
    Index(#[from] IndexError),
    /// The chat model's answer could not be used (not the expected JSON even
    /// after grammar-constrained decoding, e.g. cut off by `max_tokens`).
    /// Nothing was written.
    #[error("unusable {stage} output from the chat model: {reason}")]
    LlmOutput {
        /// Pipeline stage: `fact extraction`, `reconciliation`, `procedural summary`.
        stage: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// A memory changed while an operation was deciding about it.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The operation was cancelled before it finished.
    #[error("cancelled: {0}")]
    Cancelled(String),
    /// [`crate::Memory::add_many`] failed after committing some items: the
    /// first `stored` items are in the store, the rest are not.
    #[error("bulk add stopped after storing the first {stored} of {total} items")]
    BulkInterrupted {
        /// Leading items committed.
        stored: usize,
        /// Items asked for.
        total: usize,
        /// What failed.
        #[source]
        source: Box<MemoryError>,
    },
}

impl MemoryError {
    /// The error's stable category.
    pub fn code(&self) -> ErrorCode {
        match self {
            MemoryError::Validation { .. } => ErrorCode::Validation,
            MemoryError::NotFound { .. } => ErrorCode::NotFound,
            MemoryError::Model(ModelError::InvalidArgument(_)) => ErrorCode::Validation,
            MemoryError::Model(ModelError::ContextOverflow { .. }) => ErrorCode::Validation,
            MemoryError::Model(_) | MemoryError::LlmOutput { .. } => ErrorCode::Model,
            MemoryError::Storage(_) => ErrorCode::Storage,
            MemoryError::Index(_) => ErrorCode::Index,
            MemoryError::Conflict(_) => ErrorCode::Conflict,
            MemoryError::Cancelled(_) => ErrorCode::Cancelled,
            MemoryError::Locked { .. } => ErrorCode::Locked,
            MemoryError::BulkInterrupted { source, .. } => source.code(),
        }
    }

    /// The message and every source's, joined by `: ` (what a front end
    /// prints). A source whose message is already part of the line (an
    /// error that both prints and exposes its cause) is not repeated.
    pub fn report(&self) -> String {
        let mut s = self.to_string();
        let mut cur = std::error::Error::source(self);
        while let Some(e) = cur {
            let m = e.to_string();
            if !s.contains(&m) {
                s.push_str(": ");
                s.push_str(&m);
            }
            cur = e.source();
        }
        s
    }

    /// What the caller can do about it.
    pub fn suggestion(&self) -> &'static str {
        if let MemoryError::BulkInterrupted { .. } = self {
            return "the leading items the message counts are stored: fix the cause and add only the remaining items (for a JSONL file, the lines after them)";
        }
        match self.code() {
            ErrorCode::Validation => {
                "fix the input named in the message and retry; nothing was changed"
            }
            ErrorCode::NotFound => {
                "check the id (list memories with get_all) — it may have been deleted"
            }
            ErrorCode::Model => {
                "check the model paths in MemoryConfig (or run scripts/fetch-models) and that the files are intact"
            }
            ErrorCode::Storage => {
                "check the disk, file permissions and that no other process has the database open; run verify"
            }
            ErrorCode::Index => {
                "delete the index snapshot beside the database (<db>.hnsw, <db>.ids); it is rebuilt from the store on open"
            }
            ErrorCode::Conflict => "another writer changed the memory; re-read it and retry",
            ErrorCode::Cancelled => {
                "the call was cancelled (runtime shutting down?); check the memory's state before retrying"
            }
            ErrorCode::Locked => {
                "wait for the other process to finish and retry (the CLI waits up to --lock-timeout seconds), or send requests to the `memlayer serve` that owns the database (CLI: --server)"
            }
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        MemoryError::Validation {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<StoreError> for MemoryError {
    fn from(e: StoreError) -> Self {
        use StoreError as S;
        match e {
            S::Locked { path } => MemoryError::Locked { path },
            S::NotFound { id } => MemoryError::NotFound { id: id.to_string() },
            S::Conflict { .. } => MemoryError::Conflict(e.to_string()),
            S::InvalidScope { field, reason } => MemoryError::invalid(field, reason),
            S::MissingScope => MemoryError::invalid(
                "scope",
                "at least one of user_id, agent_id or run_id is required",
            ),
            S::InvalidMetadata(reason) => MemoryError::invalid("metadata", reason),
            S::IdentityKeyInMetadata { .. } => MemoryError::invalid("metadata", e.to_string()),
            S::InvalidFilter { path, reason } => {
                MemoryError::invalid("filters", format!("at `{path}`: {reason}"))
            }
            S::InvalidTimestamp { .. } => MemoryError::invalid("filters", e.to_string()),
            S::EmbedderMismatch { .. } => MemoryError::invalid("embedder", e.to_string()),
            S::InvalidCursor(_) => MemoryError::invalid("cursor", e.to_string()),
            S::InvalidText(reason) => MemoryError::invalid("text", reason),
            S::InvalidVector(reason) => MemoryError::invalid("vector", reason),
            S::Import { .. } => MemoryError::invalid("import", e.to_string()),
            other => MemoryError::Storage(other),
        }
    }
}

/// Result alias of the engine.
pub type Result<T, E = MemoryError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_map_to_codes() {
        let e: MemoryError = StoreError::MissingScope.into();
        assert_eq!(e.code(), ErrorCode::Validation);
        let e: MemoryError = StoreError::NotFound {
            id: uuid::Uuid::nil(),
        }
        .into();
        assert_eq!(e.code(), ErrorCode::NotFound);
        assert_eq!(e.code().as_str(), "not_found");
        assert!(!e.suggestion().is_empty());
    }

    #[test]
    fn messages_name_the_field_once() {
        let e: MemoryError = StoreError::InvalidScope {
            field: "user_id",
            reason: "contains whitespace".into(),
        }
        .into();
        assert_eq!(e.to_string(), "invalid user_id: contains whitespace");
        let e: MemoryError = StoreError::InvalidMetadata("not an object".into()).into();
        assert_eq!(e.to_string(), "invalid metadata: not an object");
    }

    #[test]
    fn layer_failures_keep_their_source() {
        use std::error::Error;
        let e: MemoryError = StoreError::Corrupt {
            what: "records",
            reason: "bad tag".into(),
        }
        .into();
        assert_eq!(e.code(), ErrorCode::Storage);
        let src = e.source().map(ToString::to_string).unwrap_or_default();
        assert!(src.starts_with("corrupt data in records"), "{src}");
        assert_eq!(e.report().matches("corrupt data").count(), 1);
        let e = MemoryError::Cancelled("runtime gone".into());
        assert_eq!(e.code().as_str(), "cancelled");
    }
}
