//! `memlayer serve`: one process owns the database and serves it over HTTP
//! until SIGINT/SIGTERM. While it runs, `<db>.server.json` beside the
//! database says where (`{"url", "pid"}`), so other tools can find it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use memlayer::AsyncMemory;
use memlayer_server::{ServeOptions, Server};
use serde_json::json;

use crate::args::{Cli, ServeArgs};
use crate::commands::{db_path, memory_config, open_at};
use crate::error::{CliResult, EXIT_OTHER, EXIT_USAGE, Failure};
use crate::mcp::{chain, default_scope};

/// The discovery file of a database.
pub fn discovery_file(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".server.json");
    PathBuf::from(name)
}

fn api_key(a: &ServeArgs) -> CliResult<Option<String>> {
    if let Some(f) = &a.api_key_file {
        let k = std::fs::read_to_string(f)
            .map_err(|e| Failure::io(format!("cannot read {}", f.display()), e))?;
        return Ok(Some(k.trim().to_string()));
    }
    Ok(std::env::var("MEMLAYER_API_KEY")
        .ok()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty()))
}

fn failure(e: memlayer_server::ServerError) -> Failure {
    let usage = matches!(
        e,
        memlayer_server::ServerError::ApiKeyRequired { .. }
            | memlayer_server::ServerError::InvalidApiKey(_)
    );
    Failure {
        code: if usage { "validation" } else { "server" },
        message: chain(&e),
        suggestion: if usage {
            "set MEMLAYER_API_KEY (or --api-key-file) to a key of 16+ characters, or keep --host 127.0.0.1".into()
        } else {
            "check the port and the log above".into()
        },
        exit: if usage { EXIT_USAGE } else { EXIT_OTHER },
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Opens the database, binds, serves until a signal, flushes.
pub fn run(cli: &Cli, a: &ServeArgs) -> CliResult {
    let opts = ServeOptions {
        addr: std::net::SocketAddr::new(a.host, a.port),
        api_key: api_key(a)?,
        max_body_bytes: a.max_body_bytes,
        request_timeout: Duration::from_secs(a.request_timeout.max(1)),
        mcp_default_scope: default_scope(&a.mcp)?,
    };
    let path = db_path(cli)?;
    let mem = open_at(cli, &path, memory_config(cli)?)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("memlayer-serve")
        .build()
        .map_err(|e| Failure::io("cannot start the async runtime", e))?;
    runtime.block_on(async {
        let server = Server::bind(AsyncMemory::new(mem), opts)
            .await
            .map_err(failure)?;
        let url = format!("http://{}", server.local_addr());
        let discovery = discovery_file(&path);
        let info = json!({"url": url, "pid": std::process::id()});
        std::fs::write(&discovery, format!("{info}\n"))
            .map_err(|e| Failure::io(format!("cannot write {}", discovery.display()), e))?;
        // The one line on stdout: where to connect.
        println!("{info}");
        let r = server.run(shutdown_signal()).await;
        let _ = std::fs::remove_file(&discovery);
        r.map_err(failure)
    })
}
