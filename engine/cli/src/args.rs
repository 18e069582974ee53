//! Command-line arguments (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Default `--log` filter: warnings, and llama.cpp's own chatter muted.
pub const DEFAULT_LOG: &str = "warn,llama-cpp-2=error";

/// A `--lock-timeout`: finite, 0 to one day.
fn lock_timeout(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=86_400.0).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` is not a number of seconds from 0 to 86400")),
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "memlayer",
    version,
    about = "Offline long-term memory for AI agents",
    long_about = "Offline long-term memory for AI agents: a local LLM extracts facts from \
                  conversations and reconciles them with what is already remembered \
                  (ADD / UPDATE / DELETE), and agents search those memories. Local models only.\n\n\
                  Start with `memlayer demo`.",
    after_help = "Exit status: 0 ok, 1 failure, 2 usage or invalid input, 3 memory not found."
)]
pub struct Cli {
    /// Database file [default: $MEMLAYER_DB, else
    /// $XDG_DATA_HOME/memlayer/memories.redb or ~/.local/share/memlayer/memories.redb].
    #[arg(long, global = true, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Engine configuration (`MemoryConfig`), a .toml or .json file.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Embedding model: a cached model name (`minilm`) or a model directory.
    /// Overrides the config.
    #[arg(long, global = true, value_name = "MODEL")]
    pub embedder: Option<String>,
    /// Chat model: a cached model name (`qwen`, `smollm2`) or a .gguf file.
    /// Overrides the config.
    #[arg(long, global = true, value_name = "MODEL")]
    pub chat: Option<String>,
    /// Seconds to wait while another process has the database open (redb
    /// locks the file) before failing with the error code `locked`.
    #[arg(
        long,
        global = true,
        env = "MEMLAYER_LOCK_TIMEOUT",
        value_name = "SECS",
        default_value_t = 30.0,
        value_parser = lock_timeout
    )]
    pub lock_timeout: f64,
    /// Send add/search/get/list/update/delete/history/reset to this
    /// `memlayer serve` instead of opening the database [default: the
    /// server named in `<db>.server.json`, if it answers].
    #[arg(long, global = true, env = "MEMLAYER_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// Print JSON (Mem0's response shapes) instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Log filter (tracing EnvFilter syntax), e.g. `debug` or `memlayer=trace`
    /// [default: warn,llama-cpp-2=error].
    #[arg(long, global = true, env = "MEMLAYER_LOG", value_name = "FILTER")]
    pub log: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// Whose memories: at least one of the three is required by every command
/// that takes them.
#[derive(Args, Debug, Clone, Default)]
pub struct ScopeArgs {
    /// The end user.
    #[arg(short = 'u', long, value_name = "ID")]
    pub user_id: Option<String>,
    /// The agent.
    #[arg(short = 'a', long, value_name = "ID")]
    pub agent_id: Option<String>,
    /// The run / session.
    #[arg(short = 'r', long, value_name = "ID")]
    pub run_id: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Remember a message or a conversation.
    Add(AddArgs),
    /// Search memories (hybrid semantic + keyword ranking).
    Search(SearchArgs),
    /// Show one memory.
    Get {
        /// Memory id (a UUID).
        id: String,
    },
    /// List the memories of a scope, newest first.
    List(ListArgs),
    /// Change a memory's text (re-embedded) and/or metadata.
    Update(UpdateArgs),
    /// Delete one memory (its history is kept).
    Delete {
        /// Memory id (a UUID).
        id: String,
    },
    /// Delete every memory of a scope.
    DeleteAll {
        #[command(flatten)]
        scope: ScopeArgs,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Show a memory's history (ADD / UPDATE / DELETE), oldest first.
    History {
        /// Memory id (a UUID).
        id: String,
    },
    /// Delete everything: every memory, its history and the index.
    Reset {
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Serve the memory to an MCP client over stdin/stdout (Model Context
    /// Protocol; tools named like Mem0's: add_memory, search_memories, ...).
    Mcp(McpArgs),
    /// Serve the database over HTTP: Mem0's REST routes, /health, /metrics
    /// and MCP at /mcp. One process owns the database; clients share it.
    Serve(ServeArgs),
    /// Check the database's integrity (records, vectors, scope indexes,
    /// keyword postings, history, graph); exit 1 when a problem is found.
    Verify,
    /// Import a JSONL export (memories, vectors, history) into the database.
    Import {
        /// JSONL file; `-` reads standard input.
        file: PathBuf,
    },
    /// Export everything as JSONL (memories with vectors, history).
    Export {
        /// Output file; `-` or nothing writes standard output.
        file: Option<PathBuf>,
    },
    /// The graph memory of a scope: relations, neighbourhoods, paths.
    #[command(subcommand)]
    Graph(GraphCommand),
    /// A scripted conversation on the default local models: facts are added,
    /// a changed preference is UPDATEd or DELETEd, then searches, history and timings.
    /// Uses a temporary database unless --db is given.
    Demo,
}

#[derive(Args, Debug)]
pub struct AddArgs {
    /// The text to remember (one user message); `-` reads it from standard input.
    #[arg(required_unless_present_any = ["file", "jsonl"], conflicts_with_all = ["file", "jsonl"])]
    pub text: Option<String>,
    /// JSON messages: a list of {role, content, name?}, one message, or a
    /// string; `-` reads standard input.
    #[arg(short = 'f', long, value_name = "FILE", conflicts_with = "jsonl")]
    pub file: Option<PathBuf>,
    /// Bulk import, no chat model: one memory per line, stored verbatim
    /// ({"text", "user_id"?, "agent_id"?, "run_id"?, "metadata"?, "role"?,
    /// "actor_id"?, "timestamp"? (Unix seconds or RFC 3339),
    /// "expiration_date"?}). A line takes the ids it lacks from --user-id /
    /// --agent-id / --run-id. Every line is checked before anything is
    /// stored; `-` reads standard input.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["infer", "metadata", "memory_type", "prompt", "expiration_date", "timestamp"])]
    pub jsonl: Option<PathBuf>,
    /// Extract facts with the chat model and reconcile them with existing
    /// memories (the default).
    #[arg(long, overrides_with = "no_infer")]
    pub infer: bool,
    /// Store each non-system message verbatim; no chat model.
    #[arg(long, overrides_with = "infer")]
    pub no_infer: bool,
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Metadata stored on every memory this call creates or updates (a JSON object).
    #[arg(short = 'm', long, value_name = "JSON")]
    pub metadata: Option<String>,
    /// `procedural_memory`: summarise the agent's run into one memory (needs --agent-id).
    #[arg(long, value_name = "TYPE")]
    pub memory_type: Option<String>,
    /// A fact-extraction system prompt for this call only.
    #[arg(long, value_name = "TEXT")]
    pub prompt: Option<String>,
    /// Expiry of the created memories, RFC 3339 (hidden from search after it).
    #[arg(long, value_name = "RFC3339")]
    pub expiration_date: Option<String>,
    /// When the messages were said: the created memories' `created_at`
    /// (RFC 3339 or Unix seconds) [default: now].
    #[arg(long, value_name = "TIME")]
    pub timestamp: Option<String>,
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// What to look for.
    pub query: String,
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Most results [default: the config's search.limit, 20].
    #[arg(short = 'l', long, value_name = "N")]
    pub limit: Option<usize>,
    /// Drop hits whose semantic score is below this (0..=1).
    #[arg(short = 't', long, value_name = "SCORE")]
    pub threshold: Option<f32>,
    /// Filters in Mem0's filter language (a JSON object).
    #[arg(long, value_name = "JSON")]
    pub filters: Option<String>,
    /// Show the score details (semantic, keyword, fused).
    #[arg(long)]
    pub explain: bool,
    /// Also return memories past their expiration date.
    #[arg(long)]
    pub include_expired: bool,
    /// Also return memories that a newer memory superseded.
    #[arg(long)]
    pub include_superseded: bool,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Filters in Mem0's filter language (a JSON object).
    #[arg(long, value_name = "JSON")]
    pub filters: Option<String>,
    /// Page size [default: everything].
    #[arg(short = 'l', long, value_name = "N")]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[arg(long, value_name = "CURSOR")]
    pub cursor: Option<String>,
    /// Also list expired memories.
    #[arg(long)]
    pub include_expired: bool,
    /// Also list memories that a newer memory superseded.
    #[arg(long)]
    pub include_superseded: bool,
}

#[derive(Args, Debug)]
#[command(group(
    clap::ArgGroup::new("change").required(true).multiple(true).args(["text", "metadata"])
))]
pub struct UpdateArgs {
    /// Memory id (a UUID).
    pub id: String,
    /// The new text.
    #[arg(long, value_name = "TEXT")]
    pub text: Option<String>,
    /// Metadata to merge (a JSON object; `null` values remove keys).
    #[arg(short = 'm', long, value_name = "JSON")]
    pub metadata: Option<String>,
}

/// `memlayer graph ...`.
#[derive(Subcommand, Debug)]
pub enum GraphCommand {
    /// List the scope's relations (with --all, invalidated ones too, with
    /// when they were added and invalidated).
    Show {
        #[command(flatten)]
        scope: ScopeArgs,
        /// Include invalidated relations.
        #[arg(long)]
        all: bool,
    },
    /// Relations within DEPTH hops of an entity (`me` = the scope's user).
    Neighbors {
        /// Entity name.
        entity: String,
        #[command(flatten)]
        scope: ScopeArgs,
        /// Hops, 1..=4.
        #[arg(short = 'd', long, default_value_t = 1)]
        depth: usize,
    },
    /// Paths of relations between two entities, shortest first.
    Paths {
        /// From this entity.
        from: String,
        /// To this entity.
        to: String,
        #[command(flatten)]
        scope: ScopeArgs,
        /// Longest path in edges, 1..=6.
        #[arg(short = 'd', long, default_value_t = 3)]
        max_depth: usize,
    },
}

/// `memlayer mcp`: the default scope fills the ids a tool call leaves out.
#[derive(Args, Debug, Clone, Default)]
pub struct McpArgs {
    /// Default user of tool calls.
    #[arg(short = 'u', long, env = "MEMLAYER_USER_ID", value_name = "ID")]
    pub user_id: Option<String>,
    /// Default agent of tool calls.
    #[arg(short = 'a', long, env = "MEMLAYER_AGENT_ID", value_name = "ID")]
    pub agent_id: Option<String>,
    /// Default run of tool calls.
    #[arg(short = 'r', long, env = "MEMLAYER_RUN_ID", value_name = "ID")]
    pub run_id: Option<String>,
}

/// `memlayer serve`.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on; anything but loopback needs an API key.
    #[arg(long, default_value = "127.0.0.1", value_name = "IP")]
    pub host: std::net::IpAddr,
    /// Port (0 picks a free one; the address is printed and written to
    /// `<db>.server.json`).
    #[arg(long, default_value_t = 8765)]
    pub port: u16,
    /// File holding the API key (`Authorization: Bearer <key>`); else
    /// $MEMLAYER_API_KEY. The key is never logged.
    #[arg(long, value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = 8 << 20, value_name = "BYTES")]
    pub max_body_bytes: usize,
    /// Longest a REST request may take, in seconds.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub request_timeout: u64,
    /// Default scope of MCP tool calls.
    #[command(flatten)]
    pub mcp: McpArgs,
}
