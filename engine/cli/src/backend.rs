//! Where a command's engine calls go: the database in this process, or —
//! when a `memlayer serve` owns it (`--server URL`, `$MEMLAYER_SERVER`, or
//! the `<db>.server.json` it writes) — that server over HTTP, so several
//! CLI processes can use one database at once without waiting for its lock.

use std::path::Path;
use std::time::Duration;

use memlayer::{
    AddOptions, AddResult, DeleteAllReport, GetAllOptions, HistoryEvent, Memory, MemoryItem,
    MemoryPage, Messages, Scope, SearchOptions, SearchResult, UpdateOptions,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::args::Cli;
use crate::commands::{db_path, memory_config, open_at};
use crate::error::{CliResult, EXIT_NOT_FOUND, EXIT_OTHER, EXIT_USAGE, Failure};
use crate::serve::discovery_file;

/// A running server.
pub struct Remote {
    base: String,
    agent: ureq::Agent,
    key: Option<String>,
}

/// The engine of one command.
pub enum Backend {
    /// The database, opened here.
    Local(Memory),
    /// A `memlayer serve` that owns it.
    Remote(Remote),
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(2))
        .timeout(timeout)
        .build()
}

/// The server named by `--server` / `$MEMLAYER_SERVER`, else the one the
/// discovery file beside `db` names if it answers `/health`.
fn find_server(cli: &Cli, db: &Path) -> Option<String> {
    if let Some(u) = &cli.server {
        return Some(u.trim_end_matches('/').to_string());
    }
    let text = std::fs::read_to_string(discovery_file(db)).ok()?;
    let url = serde_json::from_str::<Value>(&text).ok()?["url"]
        .as_str()?
        .trim_end_matches('/')
        .to_string();
    match agent(Duration::from_secs(2))
        .get(&format!("{url}/health"))
        .call()
    {
        Ok(_) => Some(url),
        Err(e) => {
            tracing::info!(%url, error = %e, "stale server file; opening the database here");
            None
        }
    }
}

impl Backend {
    /// The server if one owns the database, else the database itself.
    pub fn open(cli: &Cli) -> CliResult<Backend> {
        let path = db_path(cli)?;
        if let Some(base) = find_server(cli, &path) {
            tracing::info!(%base, "sending the request to memlayer serve");
            return Ok(Backend::Remote(Remote {
                base,
                agent: agent(Duration::from_secs(600)),
                key: std::env::var("MEMLAYER_API_KEY")
                    .ok()
                    .filter(|k| !k.trim().is_empty()),
            }));
        }
        Ok(Backend::Local(open_at(cli, &path, memory_config(cli)?)?))
    }

    /// See [`Memory::add`].
    pub fn add(&self, messages: Messages, opts: &AddOptions) -> CliResult<AddResult> {
        match self {
            Backend::Local(m) => Ok(m.add(messages, opts)?),
            Backend::Remote(r) => {
                let mut body = object(opts)?;
                body.insert("messages".into(), messages_json(&messages)?);
                r.call("POST", &["memories"], &[], Some(Value::Object(body)))
            }
        }
    }

    /// See [`Memory::search`].
    pub fn search(&self, query: &str, opts: &SearchOptions) -> CliResult<SearchResult> {
        match self {
            Backend::Local(m) => Ok(m.search(query, opts)?),
            Backend::Remote(r) => {
                let mut body = object(opts)?;
                body.insert("query".into(), query.into());
                r.call("POST", &["search"], &[], Some(Value::Object(body)))
            }
        }
    }

    /// See [`Memory::get`].
    pub fn get(&self, id: &str) -> CliResult<Option<MemoryItem>> {
        match self {
            Backend::Local(m) => Ok(m.get(id)?),
            Backend::Remote(r) => match r.call("GET", &["memories", id.trim()], &[], None) {
                Ok(m) => Ok(Some(m)),
                Err(f) if f.exit == EXIT_NOT_FOUND => Ok(None),
                Err(f) => Err(f),
            },
        }
    }

    /// See [`Memory::get_all`].
    pub fn get_all(&self, opts: &GetAllOptions) -> CliResult<MemoryPage> {
        match self {
            Backend::Local(m) => Ok(m.get_all(opts)?),
            Backend::Remote(r) => {
                let mut q = scope_query(&opts.scope);
                if let Some(l) = opts.limit {
                    q.push(("limit", l.to_string()));
                }
                if let Some(c) = &opts.cursor {
                    q.push(("cursor", c.clone()));
                }
                if let Some(f) = &opts.filters {
                    q.push(("filters", f.to_string()));
                }
                if opts.include_expired {
                    q.push(("include_expired", "true".into()));
                }
                if opts.include_superseded {
                    q.push(("include_superseded", "true".into()));
                }
                r.call("GET", &["memories"], &q, None)
            }
        }
    }

    /// See [`Memory::update`].
    pub fn update(&self, id: &str, opts: &UpdateOptions) -> CliResult<MemoryItem> {
        match self {
            Backend::Local(m) => Ok(m.update(id, opts)?),
            Backend::Remote(r) => {
                let v: Value = r.call(
                    "PUT",
                    &["memories", id.trim()],
                    &[],
                    Some(serde_json::to_value(opts).unwrap_or_default()),
                )?;
                decode(v["result"].clone())
            }
        }
    }

    /// See [`Memory::delete`].
    pub fn delete(&self, id: &str) -> CliResult<()> {
        match self {
            Backend::Local(m) => Ok(m.delete(id)?),
            Backend::Remote(r) => r
                .call::<Value>("DELETE", &["memories", id.trim()], &[], None)
                .map(drop),
        }
    }

    /// See [`Memory::delete_all`].
    pub fn delete_all(&self, scope: &Scope) -> CliResult<DeleteAllReport> {
        match self {
            Backend::Local(m) => Ok(m.delete_all(scope)?),
            Backend::Remote(r) => {
                let v: Value = r.call("DELETE", &["memories"], &scope_query(scope), None)?;
                Ok(DeleteAllReport {
                    memories: v["deleted"].as_u64().unwrap_or_default() as usize,
                    ..DeleteAllReport::default()
                })
            }
        }
    }

    /// See [`Memory::history`].
    pub fn history(&self, id: &str) -> CliResult<Vec<HistoryEvent>> {
        match self {
            Backend::Local(m) => Ok(m.history(id)?),
            Backend::Remote(r) => r.call("GET", &["memories", id.trim(), "history"], &[], None),
        }
    }

    /// See [`Memory::reset`].
    pub fn reset(&self) -> CliResult<()> {
        match self {
            Backend::Local(m) => Ok(m.reset()?),
            Backend::Remote(r) => r.call::<Value>("POST", &["reset"], &[], None).map(drop),
        }
    }
}

fn object<T: serde::Serialize>(v: &T) -> CliResult<Map<String, Value>> {
    match serde_json::to_value(v) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(Failure::usage(
            "options",
            "cannot be encoded as a JSON object",
        )),
    }
}

fn messages_json(m: &Messages) -> CliResult<Value> {
    Ok(match m {
        Messages::Text(t) => Value::String(t.clone()),
        Messages::One(x) => serde_json::to_value(x).unwrap_or_default(),
        Messages::Many(v) => serde_json::to_value(v).unwrap_or_default(),
    })
}

fn scope_query(s: &Scope) -> Vec<(&'static str, String)> {
    let mut q = Vec::new();
    for (k, v) in [
        ("user_id", &s.user_id),
        ("agent_id", &s.agent_id),
        ("run_id", &s.run_id),
    ] {
        if let Some(v) = v {
            q.push((k, v.clone()));
        }
    }
    q
}

fn decode<T: DeserializeOwned>(v: Value) -> CliResult<T> {
    serde_json::from_value(v).map_err(|e| Failure {
        code: "server",
        message: format!("the server's response is not what this CLI expects: {e}"),
        suggestion: "use a CLI of the same version as the server".into(),
        exit: EXIT_OTHER,
    })
}

/// A server error body `{"error": {code, message, suggestion}}` as a failure.
fn server_failure(status: u16, body: &str) -> Failure {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| json!({}));
    let e = &v["error"];
    let code = e["code"].as_str().unwrap_or("server");
    let (code, exit) = match code {
        "validation" | "bad_json" | "unknown_field" | "scope_conflict" | "payload_too_large" => {
            ("validation", EXIT_USAGE)
        }
        "not_found" => ("not_found", EXIT_NOT_FOUND),
        "unauthorized" => ("unauthorized", EXIT_OTHER),
        "conflict" => ("conflict", EXIT_OTHER),
        "model" => ("model", EXIT_OTHER),
        "storage" => ("storage", EXIT_OTHER),
        "timeout" => ("timeout", EXIT_OTHER),
        _ => ("server", EXIT_OTHER),
    };
    Failure {
        code,
        message: e["message"].as_str().map_or_else(
            || format!("the server answered {status}: {body}"),
            str::to_string,
        ),
        suggestion: e["suggestion"]
            .as_str()
            .unwrap_or("check the server's log")
            .to_string(),
        exit,
    }
}

impl Remote {
    /// `base/segments…?query`, each segment and pair percent-encoded.
    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> CliResult<url::Url> {
        let bad = |why: String| Failure {
            code: "server",
            message: format!("the server URL `{}` is unusable: {why}", self.base),
            suggestion: "give --server / MEMLAYER_SERVER as http://HOST:PORT".into(),
            exit: EXIT_USAGE,
        };
        let mut url = url::Url::parse(&self.base).map_err(|e| bad(e.to_string()))?;
        url.path_segments_mut()
            .map_err(|()| bad("it cannot have a path".into()))?
            .pop_if_empty()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (k, v.as_str())));
        }
        Ok(url)
    }

    fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> CliResult<T> {
        let url = self.url(segments, query)?;
        let mut req = self
            .agent
            .request_url(method, &url)
            .set("Content-Type", "application/json");
        if let Some(k) = &self.key {
            req = req.set("Authorization", &format!("Bearer {}", k.trim()));
        }
        let r = match body {
            Some(b) => req.send_string(&b.to_string()),
            None => req.call(),
        };
        match r {
            Ok(resp) => {
                let text = resp.into_string().map_err(|e| Failure::io("reading the server's answer", e))?;
                let v: Value = serde_json::from_str(&text).map_err(|e| Failure {
                    code: "server",
                    message: format!("the server's answer is not JSON: {e}"),
                    suggestion: "check that --server points at memlayer serve".into(),
                    exit: EXIT_OTHER,
                })?;
                decode(v)
            }
            Err(ureq::Error::Status(status, resp)) => {
                let text = resp.into_string().unwrap_or_default();
                Err(server_failure(status, &text))
            }
            Err(e) => Err(Failure {
                code: "server",
                message: format!("cannot reach memlayer serve at {}: {e}", self.base),
                suggestion: "start `memlayer serve`, or drop --server / MEMLAYER_SERVER to open the database directly".into(),
                exit: EXIT_OTHER,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_encoding() {
        let r = Remote {
            base: "http://127.0.0.1:8765".into(),
            agent: agent(Duration::from_secs(1)),
            key: None,
        };
        let u = r.url(&["memories", "a b/{\"x\"}"], &[]).unwrap();
        assert_eq!(u.path(), "/memories/a%20b%2F%7B%22x%22%7D");
        let u = r
            .url(&["memories"], &[("user_id", "al ice".into())])
            .unwrap();
        assert_eq!(u.query(), Some("user_id=al+ice"));
    }

    #[test]
    fn server_errors_keep_code_and_exit() {
        let f = server_failure(
            404,
            r#"{"error": {"code": "not_found", "message": "m", "suggestion": "s"}}"#,
        );
        assert_eq!(
            (f.code, f.exit, f.message.as_str()),
            ("not_found", EXIT_NOT_FOUND, "m")
        );
        let f = server_failure(502, "bad gateway");
        assert_eq!((f.code, f.exit), ("server", EXIT_OTHER));
    }
}
