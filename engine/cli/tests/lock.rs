//! Several `memlayer` processes on one database: redb locks the file for
//! as long as a process has it open, so the CLI waits for the lock (up to
//! `--lock-timeout`) instead of failing at once. Real processes, the real
//! MiniLM embedder, adds without inference.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::{memlayer, need};
use memlayer::{Memory, MemoryConfig};
use memlayer_models::CachedModel;
use serde_json::Value;

fn show(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", show(o)))
}

#[test]
fn eight_concurrent_adds_all_succeed() {
    need(&[CachedModel::MINILM_L6_V2]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.redb");
    let children: Vec<_> = (0..8)
        .map(|i| {
            memlayer(&db)
                .args(["add", "--no-infer", "-u", "team", "--json"])
                .arg(format!("Concurrent fact number {i}"))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", show(&o));
        assert_eq!(json(&o)["results"][0]["event"], "ADD", "{}", show(&o));
    }
    let o = memlayer(&db)
        .args(["list", "-u", "team", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    let mut got: Vec<String> = json(&o)["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["memory"].as_str().unwrap().to_string())
        .collect();
    got.sort();
    let want: Vec<String> = (0..8)
        .map(|i| format!("Concurrent fact number {i}"))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn a_held_lock_fails_with_code_locked_or_is_waited_for() {
    need(&[CachedModel::MINILM_L6_V2]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.redb");
    let held = Memory::open(&db, MemoryConfig::default()).unwrap();

    // No waiting: a clear `locked` error, nothing written.
    let o = memlayer(&db)
        .args([
            "add",
            "--no-infer",
            "-u",
            "x",
            "--lock-timeout",
            "0",
            "--json",
        ])
        .arg("Never stored")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let e = json(&o);
    assert_eq!(e["error"]["code"], "locked", "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("open in another process"),
        "{e}"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("hint:"));

    // A short timeout expires the same way, after waiting.
    let t = Instant::now();
    let o = memlayer(&db)
        .args(["get", "01900000-0000-7000-8000-000000000000", "--json"])
        .env("MEMLAYER_LOCK_TIMEOUT", "0.5")
        .output()
        .unwrap();
    assert_eq!(json(&o)["error"]["code"], "locked", "{}", show(&o));
    assert!(t.elapsed() >= Duration::from_millis(500));

    // A waiting process gets the database once the holder closes it.
    let child = memlayer(&db)
        .args([
            "add",
            "--no-infer",
            "-u",
            "x",
            "--lock-timeout",
            "60",
            "--json",
        ])
        .arg("Stored after the wait")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        held.len().unwrap(),
        0,
        "nothing may be written while locked"
    );
    drop(held);
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(json(&o)["results"][0]["memory"], "Stored after the wait");
}

#[test]
fn bad_lock_timeouts_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.redb");
    for bad in ["-1", "nan", "abc", "1e9"] {
        let o = memlayer(&db)
            .args(["get", "x"])
            .arg(format!("--lock-timeout={bad}"))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", show(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("seconds"),
            "{bad}: {}",
            show(&o)
        );
    }
    assert!(!db.exists(), "a usage error must not create the database");
}
