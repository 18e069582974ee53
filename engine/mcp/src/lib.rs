//! `memlayer-mcp`: the memlayer engine as a Model Context Protocol server
//! on the official Rust SDK (`rmcp`).
//!
//! Tools carry Mem0's hosted-MCP names (`add_memory`, `search_memories`,
//! `get_memories`, `get_memory`, `update_memory`, `delete_memory`,
//! `delete_all_memories`, `memory_history`; with graph memory on also
//! `list_entities`, `get_relations`, `neighbors`, `paths`). Results are
//! Mem0's JSON shapes as structured content plus a readable summary;
//! failures are tool errors carrying the engine's error code and
//! suggestion, never a crash of the server. A default scope fills the ids a
//! call leaves out, so a desktop client needs no ids in every call.
//!
//! The server speaks every protocol revision `rmcp` knows, 2024-11-05 to
//! 2026-07-28 (see [`PROTOCOL_VERSIONS`]); the client's `initialize`
//! picks one.
//!
//! ```no_run
//! use memlayer::{AsyncMemory, Memory, MemoryConfig, Scope};
//! # async fn run() -> memlayer_mcp::Result<()> {
//! let mem = Memory::open("memories.redb", MemoryConfig::default()).expect("open");
//! let server = memlayer_mcp::MemoryServer::new(AsyncMemory::new(mem), Scope::user("alice"));
//! memlayer_mcp::serve_stdio(server).await
//! # }
//! ```
#![deny(clippy::unwrap_used)]
#![deny(missing_docs)]

mod error;
#[cfg(feature = "http")]
mod http;
pub mod params;
pub mod reply;
pub mod tools;

use std::sync::Arc;

use memlayer::{AsyncMemory, Scope};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ErrorData, Implementation, ListToolsResult,
    PaginatedRequestParams, ProtocolVersion, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler, ServiceExt};

pub use error::{McpError, Result};
#[cfg(feature = "http")]
pub use http::{HttpService, http_service};

/// The protocol revisions served.
pub const PROTOCOL_VERSIONS: &[ProtocolVersion] = ProtocolVersion::KNOWN_VERSIONS;

const INSTRUCTIONS: &str = "Long-term memory of the user, stored locally. Call search_memories \
before answering anything that may depend on the user's preferences, facts, plans or history; \
call add_memory with what the user tells you about themselves (their own words, or the \
conversation) so it is remembered. Ids (user_id, agent_id, run_id) default to the server's.";

/// An MCP server over one memory database. Cheap to clone (one per
/// session of a streamable-HTTP server).
#[derive(Clone)]
pub struct MemoryServer {
    ctx: Arc<tools::Context>,
    tools: Arc<Vec<Tool>>,
}

impl MemoryServer {
    /// A server over `mem`; `defaults` fills the ids a call leaves out.
    /// Graph tools are served when the memory's config has graph memory on.
    pub fn new(mem: AsyncMemory, defaults: Scope) -> Self {
        let graph = mem.blocking_handle().config().graph;
        MemoryServer {
            tools: Arc::new(tools::list(graph)),
            ctx: Arc::new(tools::Context {
                mem,
                defaults,
                graph,
            }),
        }
    }

    /// The memory served.
    pub fn memory(&self) -> &AsyncMemory {
        &self.ctx.mem
    }
}

impl ServerHandler for MemoryServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("memlayer", env!("CARGO_PKG_VERSION"))
                    .with_title("memlayer — offline long-term memory"),
            )
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.as_ref().clone()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<CallToolResponse, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        match tools::call(&self.ctx, &request.name, args).await {
            Some(r) => Ok(r.into()),
            None => Err(ErrorData::invalid_params(
                format!(
                    "unknown tool `{}`; tools/list names the tools served",
                    request.name
                ),
                None,
            )),
        }
    }
}

/// Serves one MCP session over stdin/stdout until the client closes it,
/// then flushes the index snapshot. Logs must go to stderr.
pub async fn serve_stdio(server: MemoryServer) -> Result<()> {
    let mem = server.memory().clone();
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| McpError::Initialize(e.to_string()))?;
    let reason = running
        .waiting()
        .await
        .map_err(|e| McpError::Session(e.to_string()))?;
    tracing::info!(?reason, "MCP session ended");
    mem.flush().await.map_err(McpError::Close)
}
