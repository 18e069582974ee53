//! The one error type of this crate.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;

/// Everything that can go wrong loading or running a model.
///
/// Every variant names the file or setting involved and says what to do
/// about it, so a front end can print the error as is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A model file or directory that should exist does not.
    #[error("model file not found: {path}; {hint}")]
    NotFound {
        /// The missing path.
        path: PathBuf,
        /// What to do about it.
        hint: String,
    },

    /// A file exists but could not be read or parsed as what it should be.
    #[error(
        "invalid model file {path}: {reason}; re-download it (scripts/fetch-models) or point to a valid file"
    )]
    Corrupt {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The model's output dimension is not what the caller (or the store) expects.
    #[error(
        "model {path} produces {found}-dimensional embeddings but {expected} were expected; use the embedding model the store was created with, or a new store"
    )]
    DimensionMismatch {
        /// The model directory.
        path: PathBuf,
        /// Dimensions the caller asked for.
        expected: usize,
        /// Dimensions the model produces.
        found: usize,
    },

    /// The GGUF has no chat template (or one llama.cpp cannot apply).
    #[error(
        "{path} has no usable chat template ({reason}); set `chat_template` in the chat model config to a built-in name such as \"chatml\", \"llama3\" or \"gemma\""
    )]
    MissingChatTemplate {
        /// The GGUF file.
        path: PathBuf,
        /// Details from llama.cpp.
        reason: String,
    },

    /// The prompt plus the requested output does not fit the context window.
    #[error(
        "prompt of {prompt_tokens} tokens plus max_tokens {max_tokens} exceeds the context window of {n_ctx} tokens; shorten the input or raise `n_ctx`"
    )]
    ContextOverflow {
        /// Tokens in the prompt.
        prompt_tokens: usize,
        /// Requested output budget.
        max_tokens: usize,
        /// Context window size.
        n_ctx: usize,
    },

    /// The JSON Schema could not be turned into a grammar.
    #[error(
        "JSON Schema not supported for constrained decoding: {0}; simplify the schema (objects, arrays, strings, numbers, enums)"
    )]
    InvalidSchema(String),

    /// An argument was out of range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The model cannot do what was asked (e.g. a test double asked to
    /// score answers).
    #[error(
        "model {model} does not support {what}; use a model that does (LlamaCppChat) or the generating path"
    )]
    Unsupported {
        /// The model's id.
        model: String,
        /// The capability asked for.
        what: &'static str,
    },

    /// Model resolution through the Hugging Face hub (or its cache) failed.
    #[error("could not resolve {repo}/{file} from the Hugging Face hub: {reason}")]
    Hub {
        /// Repository id, e.g. `sentence-transformers/all-MiniLM-L6-v2`.
        repo: String,
        /// File inside the repository.
        file: String,
        /// What went wrong, including what to do.
        reason: String,
    },

    /// An inference backend (Candle or llama.cpp) failed at run time.
    #[error("{backend} inference failed: {reason}")]
    Inference {
        /// `candle` or `llama.cpp`.
        backend: &'static str,
        /// The backend's message.
        reason: String,
    },

    /// An I/O error on a named file.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl ModelError {
    pub(crate) fn candle(e: impl std::fmt::Display) -> Self {
        ModelError::Inference {
            backend: "candle",
            reason: e.to_string(),
        }
    }

    #[cfg(feature = "llama")]
    pub(crate) fn llama(e: impl std::fmt::Display) -> Self {
        ModelError::Inference {
            backend: "llama.cpp",
            reason: e.to_string(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            return ModelError::NotFound {
                path,
                hint: "run scripts/fetch-models, or pass the path of an existing model".into(),
            };
        }
        ModelError::Io { path, source }
    }
}
