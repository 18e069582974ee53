//! MCP over streamable HTTP (feature `http`): a tower service to mount at
//! `/mcp` of an HTTP server. Every session shares the one memory.

use std::sync::Arc;

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::MemoryServer;

/// The service type [`http_service`] returns.
pub type HttpService = StreamableHttpService<MemoryServer, LocalSessionManager>;

/// A streamable-HTTP MCP endpoint over `server`. `allowed_hosts` guards
/// against DNS rebinding (`Host` header check; empty = no check, for a
/// server behind an API key on a public address); cancelling `cancel`
/// ends every session (graceful shutdown). Simple calls are answered with
/// `application/json`, not an event stream.
pub fn http_service(
    server: MemoryServer,
    cancel: CancellationToken,
    allowed_hosts: Vec<String>,
    max_body_bytes: usize,
) -> HttpService {
    let mut config = StreamableHttpServerConfig::default()
        .with_cancellation_token(cancel)
        .with_max_request_body_bytes(max_body_bytes)
        .with_json_response(true);
    config = if allowed_hosts.is_empty() {
        config.disable_allowed_hosts()
    } else {
        config.with_allowed_hosts(allowed_hosts)
    };
    StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}
