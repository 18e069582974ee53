//! The one error type of the engine, with stable codes and suggestions.

use memlayer_index::IndexError;
use memlayer_models::ModelError;
use memlayer_store::StoreError;

/// Stable, machine-readable category of a [`MemoryError`] (front ends map
/// them to exit codes and HTTP statuses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
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
        }
    }
}

/// Everything the [`crate::Memory`] API can fail with. Every variant says
/// what went wrong; [`MemoryError::suggestion`] says what to do.
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
    #[error("model error: {0}")]
    Model(#[from] ModelError),
    /// The store failed (I/O, corruption, model pinning).
    #[error("storage error: {0}")]
    Storage(StoreError),
    /// The vector index failed.
    #[error("index error: {0}")]
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
        }
    }

    /// What the caller can do about it.
    pub fn suggestion(&self) -> &'static str {
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
            S::NotFound { id } => MemoryError::NotFound { id: id.to_string() },
            S::Conflict { .. } => MemoryError::Conflict(e.to_string()),
            S::InvalidScope { field, .. } => MemoryError::invalid(field, e.to_string()),
            S::MissingScope => MemoryError::invalid(
                "scope",
                "at least one of user_id, agent_id or run_id is required",
            ),
            S::IdentityKeyInMetadata { .. } | S::InvalidMetadata(_) => {
                MemoryError::invalid("metadata", e.to_string())
            }
            S::InvalidFilter { .. } | S::InvalidTimestamp { .. } => {
                MemoryError::invalid("filters", e.to_string())
            }
            S::EmbedderMismatch { .. } => MemoryError::invalid("embedder", e.to_string()),
            S::InvalidCursor(_) => MemoryError::invalid("cursor", e.to_string()),
            S::InvalidText(_) => MemoryError::invalid("text", e.to_string()),
            S::InvalidVector(_) => MemoryError::invalid("vector", e.to_string()),
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
}
