//! `memlayer serve` as a real process driven by real clients: every REST
//! route and the bad inputs (Python's http.client), MCP over streamable
//! HTTP (the official MCP Python SDK), 16 concurrent clients with 5,000
//! mixed requests, and a SIGKILL mid-load followed by a restart. The
//! embedder is the real MiniLM; adds run without inference except in the
//! MCP session (SmolLM2).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Served, memlayer, need, python_with_mcp, run_py, script};
use memlayer_models::CachedModel;
use serde_json::Value;

const KEY: &str = "test-key-0123456789abcdef";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn rest_routes_and_bad_inputs() {
    need(&[CachedModel::MINILM_L6_V2]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.redb");
    let server = Served::start(
        &db,
        &["--max-body-bytes", "65536"],
        &[("MEMLAYER_API_KEY", KEY)],
    );
    assert!(dir.path().join("m.redb.server.json").exists());
    run_py(
        Path::new("python3"),
        &[s(&script("http_client.py")), &server.url, KEY],
    );
    assert!(server.stop().success(), "graceful stop");
    assert!(
        !dir.path().join("m.redb.server.json").exists(),
        "the discovery file is removed on shutdown"
    );
}

#[test]
fn public_bind_needs_an_api_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.redb");
    let out = memlayer(&db)
        .args(["serve", "--host", "0.0.0.0", "--port", "0", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], "validation", "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("API key"));
    let out = memlayer(&db)
        .args(["serve", "--port", "0", "--json"])
        .env("MEMLAYER_API_KEY", "short")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a short key is refused");
}

#[test]
fn mcp_over_streamable_http() {
    need(&[CachedModel::MINILM_L6_V2, CachedModel::SMOLLM2_135M]);
    let python = python_with_mcp();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.redb");
    let config = dir.path().join("graph.toml");
    std::fs::write(&config, "graph = true\n").unwrap();
    let server = Served::start(
        &db,
        &["-u", "alice", "--chat", "smollm2", "--config", s(&config)],
        &[],
    );
    let url = format!("{}/mcp", server.url);
    let out = run_py(
        &python,
        &[s(&script("mcp_client.py")), "--url", &url, "--graph"],
    );
    assert!(out.contains(r#""kind": "done""#));
    assert!(server.stop().success());
}

fn json_line(out: &str) -> Value {
    let line = out.lines().rev().find(|l| l.starts_with('{')).unwrap();
    serde_json::from_str(line).unwrap()
}

#[test]
fn load_then_sigkill_and_restart() {
    need(&[CachedModel::MINILM_L6_V2]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.redb");
    let acked = dir.path().join("acked.txt");
    let py = Path::new("python3");
    let load = script("load.py");

    // 16 clients, 5,000 mixed requests: no errors, no lost write.
    let server = Served::start(&db, &[], &[]);
    let r = json_line(&run_py(
        py,
        &[
            s(&load),
            "run",
            &server.url,
            "--acked",
            s(&acked),
            "--clients",
            "16",
            "--requests",
            "5000",
        ],
    ));
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["requests"], 5000, "{r}");
    let v = json_line(&run_py(
        py,
        &[s(&load), "verify", &server.url, "--acked", s(&acked)],
    ));
    assert_eq!(v["lost"], 0, "{v}");
    assert!(server.stop().success());
    let out = memlayer(&db).args(["verify", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // SIGKILL mid-load, restart: every acknowledged add is there, the
    // store verifies clean (no partial batch).
    let server = Served::start(&db, &[], &[]);
    let url = server.url.clone();
    let acked2 = dir.path().join("acked2.txt");
    let a2 = acked2.clone();
    let load2 = load.clone();
    let loader = std::thread::spawn(move || {
        run_py(
            Path::new("python3"),
            &[
                s(&load2),
                "run",
                &url,
                "--acked",
                s(&a2),
                "--clients",
                "16",
                "--requests",
                "1000000",
                "--no-deletes",
                "--until-down",
            ],
        )
    });
    std::thread::sleep(Duration::from_secs(4));
    server.kill();
    let r = json_line(&loader.join().unwrap());
    assert_eq!(r["server_went_down"], true, "{r}");
    assert!(r["requests"].as_u64().unwrap() > 50, "{r}");
    let out = memlayer(&db).args(["verify", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "verify after SIGKILL: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let server = Served::start(&db, &[], &[]);
    let v = json_line(&run_py(
        py,
        &[s(&load), "verify", &server.url, "--acked", s(&acked2)],
    ));
    assert_eq!(v["lost"], 0, "{v}");
    assert!(v["acked"].as_u64().unwrap() > 10, "{v}");
    assert!(server.stop().success());
}

#[test]
fn cli_processes_share_a_running_server() {
    need(&[CachedModel::MINILM_L6_V2]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.redb");
    let server = Served::start(&db, &[], &[]);
    // 8 concurrent CLI adds while the server owns the database: each finds
    // the server through <db>.server.json (none waits for the lock).
    let children: Vec<_> = (0..8)
        .map(|i| {
            memlayer(&db)
                .args([
                    "add",
                    "--no-infer",
                    "-u",
                    "team",
                    "--lock-timeout",
                    "0",
                    "--json",
                ])
                .arg(format!("Shared fact number {i}"))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let list = |db: &Path| -> Value {
        let o = memlayer(db)
            .args(["list", "-u", "team", "--json", "--lock-timeout", "0"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    assert_eq!(list(&db)["results"].as_array().unwrap().len(), 8);
    // Errors come back with the engine's code and exit status.
    let o = memlayer(&db)
        .args(["get", "01900000-0000-7000-8000-000000000000", "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["code"], "not_found");
    // An explicit --server works too.
    let o = memlayer(Path::new("/nonexistent/other.redb"))
        .args(["--server", &server.url, "list", "-u", "team", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(server.stop().success());
    // Server gone: the CLI opens the database itself; a stale discovery
    // file (a killed server) is ignored.
    std::fs::write(
        dir.path().join("m.redb.server.json"),
        r#"{"url": "http://127.0.0.1:9", "pid": 1}"#,
    )
    .unwrap();
    assert_eq!(list(&db)["results"].as_array().unwrap().len(), 8);
}
