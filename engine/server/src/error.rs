//! The one error type of the server crate: why `memlayer serve` could not
//! start or stopped abnormally. Request failures are HTTP responses
//! ([`crate::reply::ApiError`]), not this.

use std::net::SocketAddr;

/// Why the server could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A non-loopback address was asked for without an API key.
    #[error(
        "binding {addr} exposes the memory beyond this machine: set an API key (MEMLAYER_API_KEY or --api-key-file), or bind 127.0.0.1"
    )]
    ApiKeyRequired {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The API key is unusable.
    #[error("invalid API key: {0}")]
    InvalidApiKey(String),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source} (is another server using the port?)")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server loop failed.
    #[error("the HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
    /// Flushing the memory at shutdown failed (the store is intact; the
    /// index is rebuilt from it on the next open).
    #[error("closing the memory failed")]
    Close(#[source] memlayer::MemoryError),
}

/// Result alias of the crate.
pub type Result<T, E = ServerError> = std::result::Result<T, E>;
