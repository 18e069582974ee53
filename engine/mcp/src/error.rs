//! The one error type of the MCP front end.

/// Why the server could not start or stopped abnormally. Tool failures are
/// not errors here: they are tool results with `isError: true`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum McpError {
    /// The MCP session could not be set up (the client closed the stream or
    /// sent no valid `initialize`).
    #[error("the MCP session did not start: {0} (is the client speaking MCP over this stream?)")]
    Initialize(String),
    /// The session task ended abnormally.
    #[error("the MCP session failed: {0}")]
    Session(String),
    /// Flushing the index snapshot at shutdown failed (the store itself is
    /// intact; the index is rebuilt from it on the next open).
    #[error("closing the memory failed")]
    Close(#[source] memlayer::MemoryError),
}

/// Result alias of the crate.
pub type Result<T, E = McpError> = std::result::Result<T, E>;
