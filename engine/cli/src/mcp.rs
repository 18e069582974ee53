//! `memlayer mcp`: one MCP session over stdin/stdout. The database stays
//! open (and locked) for the session; stdout carries only the protocol,
//! logs go to stderr.

use memlayer::{AsyncMemory, Scope};
use memlayer_mcp::MemoryServer;

use crate::args::{Cli, McpArgs};
use crate::commands::{db_path, memory_config, open_at};
use crate::error::{CliResult, EXIT_OTHER, Failure};

/// The default scope of MCP tool calls, checked.
pub fn default_scope(a: &McpArgs) -> CliResult<Scope> {
    let defaults = Scope {
        user_id: clean(&a.user_id),
        agent_id: clean(&a.agent_id),
        run_id: clean(&a.run_id),
    };
    if defaults != Scope::default() {
        defaults.validated()?;
    }
    Ok(defaults)
}

fn clean(id: &Option<String>) -> Option<String> {
    id.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Opens the database, then serves until the client closes the session.
pub fn run(cli: &Cli, a: &McpArgs) -> CliResult {
    let defaults = default_scope(a)?;
    let mem = open_at(cli, &db_path(cli)?, memory_config(cli)?)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("memlayer-mcp")
        .build()
        .map_err(|e| Failure::io("cannot start the async runtime", e))?;
    tracing::info!(db = %mem.path().display(), ?defaults, "serving MCP over stdio");
    let server = MemoryServer::new(AsyncMemory::new(mem), defaults);
    runtime
        .block_on(memlayer_mcp::serve_stdio(server))
        .map_err(|e| Failure {
            code: "mcp",
            message: chain(&e),
            suggestion: "check that the client speaks MCP over this process's stdin/stdout (see the README's MCP section)".into(),
            exit: EXIT_OTHER,
        })
}

/// The error and its sources on one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
