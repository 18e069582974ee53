//! The REST handlers: Mem0's self-hosted server routes, `/health`,
//! `/metrics`. Each parses with [`crate::wire`], calls the engine (model and
//! storage work runs on tokio's blocking pool, off the async threads), and
//! answers Mem0's JSON shapes or a [`ApiError`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use memlayer::MemoryError;
use serde_json::{Value, json};

use crate::App;
use crate::reply::ApiError;
use crate::wire;

type Reply = Result<Json<Value>, ApiError>;

fn body(b: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    b.map_err(|r| {
        let status = r.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                "payload_too_large",
                format!("the body is larger than the server's limit: {}", r.body_text()),
                "send less per request (split a long conversation over several adds), or raise --max-body-bytes",
            )
        } else {
            ApiError::new(status, "bad_body", r.body_text(), "resend the request")
        }
    })
}

fn query(
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<HashMap<String, String>, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|r| ApiError::bad_request("validation", r.body_text()))
}

fn encode<T: serde::Serialize>(v: &T) -> Reply {
    serde_json::to_value(v).map(Json).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("cannot encode the response: {e}"),
            "report this as a bug",
        )
    })
}

/// `POST /memories`.
pub async fn add(State(app): State<Arc<App>>, b: Result<Bytes, BytesRejection>) -> Reply {
    let (messages, opts) = wire::add(&body(b)?)?;
    let op = if opts.infer { "add_infer" } else { "add_raw" };
    let t = Instant::now();
    let r = app.mem.add(messages, opts).await?;
    app.metrics.op(op, t.elapsed());
    app.metrics.add_stats(&r.stats);
    app.metrics.stages("add", &r.stats.timings);
    encode(&r)
}

/// `GET /memories`.
pub async fn list(
    State(app): State<Arc<App>>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Reply {
    let opts = wire::list(query(q)?)?;
    let t = Instant::now();
    let page = app.mem.get_all(opts).await?;
    app.metrics.op("get_all", t.elapsed());
    encode(&page)
}

/// `DELETE /memories` (a scope in the query).
pub async fn delete_all(
    State(app): State<Arc<App>>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Reply {
    let scope = wire::delete_all(query(q)?)?;
    let report = app.mem.delete_all(scope).await?;
    Ok(Json(json!({
        "message": "All relevant memories deleted",
        "deleted": report.memories,
    })))
}

/// `GET /memories/{id}`.
pub async fn get(State(app): State<Arc<App>>, Path(id): Path<String>) -> Reply {
    let id = id.trim().to_string();
    match app.mem.get(id.clone()).await? {
        Some(m) => encode(&m),
        None => Err(MemoryError::NotFound { id }.into()),
    }
}

/// `PUT /memories/{id}`.
pub async fn update(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> Reply {
    let opts = wire::update(&body(b)?)?;
    let t = Instant::now();
    let m = app.mem.update(id.trim().to_string(), opts).await?;
    app.metrics.op("update", t.elapsed());
    Ok(Json(
        json!({"message": "Memory updated successfully!", "result": m}),
    ))
}

/// `DELETE /memories/{id}`.
pub async fn delete(State(app): State<Arc<App>>, Path(id): Path<String>) -> Reply {
    app.mem.delete(id.trim().to_string()).await?;
    Ok(Json(json!({"message": "Memory deleted successfully"})))
}

/// `GET /memories/{id}/history`.
pub async fn history(State(app): State<Arc<App>>, Path(id): Path<String>) -> Reply {
    encode(&app.mem.history(id.trim().to_string()).await?)
}

/// `POST /search`.
pub async fn search(State(app): State<Arc<App>>, b: Result<Bytes, BytesRejection>) -> Reply {
    let (query, opts) = wire::search(&body(b)?)?;
    let t = Instant::now();
    let r = app.mem.search(query, opts).await?;
    app.metrics.op("search", t.elapsed());
    app.metrics.stages("search", &r.timings);
    encode(&r)
}

/// `POST /reset`: every memory, its history and the index.
pub async fn reset(State(app): State<Arc<App>>) -> Reply {
    app.mem.reset().await?;
    Ok(Json(json!({"message": "Reset all memories"})))
}

/// `GET /health` (no API key needed).
pub async fn health(State(app): State<Arc<App>>) -> Reply {
    let memories = app.mem.len().await?;
    Ok(Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "memories": memories,
    })))
}

/// `GET /metrics`: Prometheus text exposition.
pub async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.encode(),
    )
        .into_response()
}

/// Any other path.
pub async fn no_route() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found_route",
        "no such route",
        "routes: POST/GET/DELETE /memories, GET/PUT/DELETE /memories/{id}, GET /memories/{id}/history, POST /search, POST /reset, GET /health, GET /metrics, /mcp",
    )
}

/// A known path with another method.
pub async fn wrong_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
        "see the README's REST section for each route's methods",
    )
}
