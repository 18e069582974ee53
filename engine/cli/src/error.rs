//! The CLI's failure type: an error code, a message and a hint, mapped to
//! the process exit status (0 ok, 1 other, 2 usage/validation, 3 not found).

use memlayer::{ErrorCode, MemoryError};
use serde_json::json;

/// Exit status of a usage or validation error (clap uses 2 as well).
pub const EXIT_USAGE: i32 = 2;
/// Exit status when the memory asked for does not exist.
pub const EXIT_NOT_FOUND: i32 = 3;
/// Exit status of every other failure.
pub const EXIT_OTHER: i32 = 1;

/// Why a command failed, ready to print.
#[derive(Debug)]
pub struct Failure {
    /// Stable machine-readable code: the engine's codes (`validation`,
    /// `not_found`, `model`, `storage`, `index`, `conflict`) plus `io` and
    /// `aborted` from the CLI itself.
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
    /// What to do about it.
    pub suggestion: String,
    /// Process exit status.
    pub exit: i32,
}

/// Result alias of the CLI.
pub type CliResult<T = ()> = Result<T, Failure>;

impl Failure {
    /// Invalid input named on the command line (exit 2).
    pub fn usage(field: &str, reason: impl std::fmt::Display) -> Self {
        Failure {
            code: ErrorCode::Validation.as_str(),
            message: format!("invalid {field}: {reason}"),
            suggestion: "fix the argument named in the message and retry; nothing was changed"
                .into(),
            exit: EXIT_USAGE,
        }
    }

    /// No memory with this id (exit 3).
    pub fn not_found(id: &str) -> Self {
        MemoryError::NotFound {
            id: id.trim().into(),
        }
        .into()
    }

    /// An I/O failure writing output (exit 1).
    pub fn io(what: impl std::fmt::Display, e: std::io::Error) -> Self {
        Failure {
            code: "io",
            message: format!("{what}: {e}"),
            suggestion: "check the path, free disk space and permissions".into(),
            exit: EXIT_OTHER,
        }
    }

    /// The user declined a confirmation prompt (exit 1).
    pub fn aborted(what: &str) -> Self {
        Failure {
            code: "aborted",
            message: format!("{what} aborted; nothing was changed"),
            suggestion: "pass --yes to skip the confirmation".into(),
            exit: EXIT_OTHER,
        }
    }

    /// `{"error": {"code", "message", "suggestion"}}`.
    pub fn to_json(&self) -> serde_json::Value {
        json!({"error": {
            "code": self.code,
            "message": self.message,
            "suggestion": self.suggestion,
        }})
    }
}

impl From<MemoryError> for Failure {
    fn from(e: MemoryError) -> Self {
        let code = e.code();
        let exit = match code {
            ErrorCode::Validation => EXIT_USAGE,
            ErrorCode::NotFound => EXIT_NOT_FOUND,
            _ => EXIT_OTHER,
        };
        let suggestion = match code {
            // The engine's hint names the library call; name the command.
            ErrorCode::NotFound => {
                "check the id (`memlayer list --user-id ...` shows ids); it may have been deleted"
            }
            ErrorCode::Model => {
                "run scripts/fetch-models, or point --embedder / --chat (or --config) at model files"
            }
            _ => e.suggestion(),
        };
        Failure {
            code: code.as_str(),
            message: e.report(),
            suggestion: suggestion.into(),
            exit,
        }
    }
}

impl From<memlayer::store::StoreError> for Failure {
    fn from(e: memlayer::store::StoreError) -> Self {
        MemoryError::from(e).into()
    }
}
