//! `memlayer-server`: one long-lived process that owns a memory database
//! and serves it over HTTP — Mem0's self-hosted REST routes, `GET /health`,
//! Prometheus `GET /metrics`, and MCP over streamable HTTP at `/mcp` (the
//! tools of `memlayer-mcp`).
//!
//! Bound to 127.0.0.1 by default; any other address needs an API key
//! (`Authorization: Bearer`, compared in constant time, never logged).
//! Request bodies are size-limited, REST requests time out, and shutdown is
//! graceful: in-flight requests finish, MCP sessions close, the index
//! snapshot is flushed.
//!
//! ```no_run
//! use memlayer::{AsyncMemory, Memory, MemoryConfig, Scope};
//! use memlayer_server::{ServeOptions, Server};
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mem = AsyncMemory::new(Memory::open("memories.redb", MemoryConfig::default())?);
//! let server = Server::bind(mem, ServeOptions::default()).await?;
//! println!("listening on {}", server.local_addr());
//! server.run(async { tokio::signal::ctrl_c().await.ok(); }).await?;
//! # Ok(()) }
//! ```
#![deny(clippy::unwrap_used)]
#![deny(missing_docs)]

mod error;
pub mod metrics;
pub mod reply;
pub mod routes;
pub mod wire;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use memlayer::{AsyncMemory, Scope};
use memlayer_mcp::MemoryServer;
use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;

pub use error::{Result, ServerError};

use crate::metrics::Metrics;
use crate::reply::ApiError;

/// Shortest API key accepted.
pub const MIN_API_KEY_LEN: usize = 16;

/// How the server runs.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Address to listen on (default 127.0.0.1:8765).
    pub addr: SocketAddr,
    /// Bearer key required on every route but `/health` (required when
    /// `addr` is not loopback).
    pub api_key: Option<String>,
    /// Largest request body (default 8 MiB).
    pub max_body_bytes: usize,
    /// Longest a REST request may take (default 120 s; MCP streams excepted).
    pub request_timeout: Duration,
    /// Ids the MCP tools use where a call gives none.
    pub mcp_default_scope: Scope,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 8765)),
            api_key: None,
            max_body_bytes: 8 << 20,
            request_timeout: Duration::from_secs(120),
            mcp_default_scope: Scope::default(),
        }
    }
}

/// What every handler shares.
pub struct App {
    /// The memory.
    pub mem: AsyncMemory,
    /// Metrics.
    pub metrics: Metrics,
    api_key: Option<Vec<u8>>,
    timeout: Duration,
}

/// A bound server, ready to [`Server::run`].
pub struct Server {
    listener: tokio::net::TcpListener,
    router: Router,
    app: Arc<App>,
    cancel: CancellationToken,
    addr: SocketAddr,
}

fn authorized(app: &App, req: &Request) -> bool {
    let Some(key) = &app.api_key else {
        return true;
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    given.as_bytes().ct_eq(key).into()
}

/// Auth, then the request with a deadline (REST only), then metrics.
async fn guard(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| {
            if path.starts_with("/mcp") {
                "/mcp".to_string()
            } else {
                "unmatched".to_string()
            }
        });
    let response = if path != "/health" && !authorized(&app, &req) {
        tracing::warn!(%method, %route, "rejected: missing or wrong API key");
        ApiError::unauthorized().into_response()
    } else if route == "/mcp" {
        next.run(req).await
    } else {
        match tokio::time::timeout(app.timeout, next.run(req)).await {
            Ok(r) => r,
            Err(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                format!("the request took longer than {:?}", app.timeout),
                "an add may still complete in the background: check with GET /memories before retrying, or raise --request-timeout",
            )
            .into_response(),
        }
    };
    let status = response.status().as_u16();
    let took = started.elapsed();
    app.metrics.request(&method, &route, status, took);
    tracing::info!(%method, %route, status, ms = took.as_secs_f64() * 1e3, "request");
    response
}

fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

impl Server {
    /// Checks the options and binds the address.
    pub async fn bind(mem: AsyncMemory, opts: ServeOptions) -> Result<Server> {
        let api_key = match opts.api_key.as_deref().map(str::trim) {
            Some(k) if k.len() < MIN_API_KEY_LEN => {
                return Err(ServerError::InvalidApiKey(format!(
                    "it has {} characters; use at least {MIN_API_KEY_LEN} (e.g. `openssl rand -hex 32`)",
                    k.len()
                )));
            }
            Some(k) if k.chars().any(|c| c.is_whitespace() || c.is_control()) => {
                return Err(ServerError::InvalidApiKey(
                    "it contains whitespace or control characters".into(),
                ));
            }
            Some(k) => Some(k.as_bytes().to_vec()),
            None if !is_loopback(&opts.addr) => {
                return Err(ServerError::ApiKeyRequired { addr: opts.addr });
            }
            None => None,
        };
        let listener = tokio::net::TcpListener::bind(opts.addr)
            .await
            .map_err(|source| ServerError::Bind {
                addr: opts.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: opts.addr,
            source,
        })?;
        let cancel = CancellationToken::new();
        // Behind a key the Host check is the key's job; on loopback keep
        // rmcp's DNS-rebinding guard (loopback host names only).
        let allowed_hosts = if api_key.is_some() {
            Vec::new()
        } else {
            vec![
                "localhost".to_string(),
                "127.0.0.1".to_string(),
                "::1".to_string(),
                "[::1]".to_string(),
            ]
        };
        let mcp = memlayer_mcp::http_service(
            MemoryServer::new(mem.clone(), opts.mcp_default_scope.clone()),
            cancel.child_token(),
            allowed_hosts,
            opts.max_body_bytes,
        );
        let app = Arc::new(App {
            mem,
            metrics: Metrics::default(),
            api_key,
            timeout: opts.request_timeout,
        });
        let router = Router::new()
            .route(
                "/memories",
                post(routes::add)
                    .get(routes::list)
                    .delete(routes::delete_all),
            )
            .route(
                "/memories/{id}",
                get(routes::get).put(routes::update).delete(routes::delete),
            )
            .route("/memories/{id}/history", get(routes::history))
            .route("/search", post(routes::search))
            .route("/reset", post(routes::reset))
            .route("/health", get(routes::health))
            .route("/metrics", get(routes::metrics))
            .nest_service("/mcp", mcp)
            .fallback(routes::no_route)
            .method_not_allowed_fallback(routes::wrong_method)
            .layer(DefaultBodyLimit::max(opts.max_body_bytes))
            .layer(middleware::from_fn_with_state(app.clone(), guard))
            .with_state(app.clone());
        tracing::info!(%addr, api_key = app.api_key.is_some(), "memlayer serve listening");
        Ok(Server {
            listener,
            router,
            app,
            cancel,
            addr,
        })
    }

    /// The address bound (with the port chosen when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` resolves, lets in-flight requests finish,
    /// closes MCP sessions and flushes the index snapshot.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let cancel = self.cancel.clone();
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async move {
                shutdown.await;
                tracing::info!("shutting down: finishing in-flight requests");
                cancel.cancel();
            })
            .await
            .map_err(ServerError::Serve)?;
        self.app.mem.flush().await.map_err(ServerError::Close)?;
        tracing::info!("memlayer serve stopped; index snapshot flushed");
        Ok(())
    }
}
