//! End-to-end tests of the `memlayer` binary, run as a real process against
//! a temporary `--db`. Adds use `--no-infer` (no chat model); the embedder
//! is the real MiniLM from the model cache. Tests that need a model that is
//! not installed say so on stderr and return early.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use memlayer_models::{CachedModel, models_dir};
use serde_json::{Value, json};

/// True when `model` is in the cache; otherwise explains how to get it.
fn have(model: CachedModel) -> bool {
    let p = model.path();
    if p.exists() {
        return true;
    }
    eprintln!(
        "SKIPPED: model {} not found at {}; run `scripts/fetch-models {}` (or set MEMLAYER_MODELS_DIR)",
        model.name,
        p.display(),
        model.alias()
    );
    false
}

/// The binary with a clean environment for memlayer's variables.
fn memlayer() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_memlayer"));
    c.env_remove("MEMLAYER_DB")
        .env("MEMLAYER_LOG", "error")
        .env("MEMLAYER_MODELS_DIR", models_dir())
        .stdin(Stdio::null());
    c
}

/// A temporary database.
struct Db {
    dir: tempfile::TempDir,
}

impl Db {
    fn new() -> Self {
        Db {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("m.redb")
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = memlayer();
        c.arg("--db").arg(self.path()).args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn run_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs with `--json`, expects exit 0 and returns the parsed stdout.
    fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let o = self.run(&a);
        ok(&o, args);
        parse(&o)
    }
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn parse(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", stdout(o)))
}

fn ok(o: &Output, what: &[&str]) {
    assert_eq!(
        code(o),
        0,
        "{what:?} failed\nstdout: {}\nstderr: {}",
        stdout(o),
        stderr(o)
    );
}

/// Expects exit status `want`, `error:` and `hint:` on stderr, and (with
/// `--json` in the arguments) the JSON error object on stdout with `code`.
fn fails(o: &Output, want: i32, error_code: Option<&str>) {
    assert_eq!(
        code(o),
        want,
        "stdout: {}\nstderr: {}",
        stdout(o),
        stderr(o)
    );
    let err = stderr(o);
    assert!(err.contains("error:"), "no `error:` on stderr: {err}");
    if let Some(c) = error_code {
        let v = parse(o);
        assert_eq!(v["error"]["code"], c, "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert!(
            v["error"]["suggestion"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        // clap's own usage errors end with its "try '--help'" line instead
        if c != "usage" {
            assert!(err.contains("hint:"), "no `hint:` on stderr: {err}");
        }
    }
}

fn ids(v: &Value) -> Vec<String> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

fn texts(v: &Value) -> Vec<String> {
    let mut t: Vec<String> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["memory"].as_str().unwrap().to_string())
        .collect();
    t.sort();
    t
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|&c| c == '-').count() == 4
}

#[test]
fn crud_round_trip_with_json() {
    if !have(CachedModel::MINILM_L6_V2) {
        return;
    }
    let db = Db::new();
    // add (text), with metadata
    let r = db.json(&[
        "add",
        "--no-infer",
        "-u",
        "alice",
        "I like green tea in the morning",
        "--metadata",
        r#"{"source": "cli", "n": 1}"#,
    ]);
    let results = r["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{r}");
    assert_eq!(results[0]["event"], "ADD");
    assert_eq!(results[0]["memory"], "I like green tea in the morning");
    let tea = results[0]["id"].as_str().unwrap().to_string();
    assert!(is_uuid(&tea), "full id expected: {tea}");

    // add (--file with a conversation: the system message is not stored)
    let conv = db.file("conv.json");
    std::fs::write(
        &conv,
        json!([
            {"role": "system", "content": "be nice"},
            {"role": "user", "content": "My cat is called Miso", "name": "alice_k"},
            {"role": "assistant", "content": "Miso is a lovely name for a cat"},
        ])
        .to_string(),
    )
    .unwrap();
    let r = db.json(&[
        "add",
        "--no-infer",
        "--user-id",
        "alice",
        "--file",
        conv.to_str().unwrap(),
    ]);
    assert_eq!(ids(&r).len(), 2, "{r}");
    // another user's memory, for scope isolation
    db.json(&["add", "--no-infer", "-u", "bob", "I like green tea too"]);

    // search: scoped, scored, best first
    let r = db.json(&["search", "-u", "alice", "what does she drink?", "--explain"]);
    let hits = r["results"].as_array().unwrap();
    assert_eq!(hits.len(), 3, "{r}");
    assert_eq!(hits[0]["id"], tea.as_str());
    assert!(hits[0]["score"].as_f64().unwrap() > 0.0);
    assert!(hits[0]["explain"]["semantic"].as_f64().is_some());
    assert!(hits.iter().all(|h| h["user_id"] == "alice"));
    let r = db.json(&["search", "-u", "alice", "tea", "--limit", "1"]);
    assert_eq!(ids(&r), vec![tea.clone()]);
    let r = db.json(&[
        "search",
        "-u",
        "alice",
        "tea",
        "--filters",
        r#"{"source": "cli"}"#,
    ]);
    assert_eq!(ids(&r), vec![tea.clone()]);

    // get
    let m = db.json(&["get", &tea]);
    assert_eq!(m["id"], tea.as_str());
    assert_eq!(m["memory"], "I like green tea in the morning");
    assert_eq!(m["metadata"], json!({"source": "cli", "n": 1}));
    assert_eq!(m["user_id"], "alice");
    assert!(m["created_at"].as_str().is_some() && m["hash"].as_str().is_some());

    // list: full ids, newest first, paging
    let all = db.json(&["list", "-u", "alice"]);
    assert_eq!(ids(&all).len(), 3);
    assert!(ids(&all).iter().all(|id| is_uuid(id)));
    assert!(all.get("next_cursor").is_none());
    let p1 = db.json(&["list", "-u", "alice", "--limit", "2"]);
    assert_eq!(ids(&p1).len(), 2);
    let cursor = p1["next_cursor"].as_str().unwrap().to_string();
    let p2 = db.json(&["list", "-u", "alice", "--limit", "2", "--cursor", &cursor]);
    assert_eq!(ids(&p2).len(), 1);
    let mut paged = [ids(&p1), ids(&p2)].concat();
    let mut listed = ids(&all);
    paged.sort();
    listed.sort();
    assert_eq!(paged, listed);

    // update: text and metadata
    let m = db.json(&[
        "update",
        &tea,
        "--text",
        "I love jasmine tea",
        "--metadata",
        r#"{"n": null, "mood": "happy"}"#,
    ]);
    assert_eq!(m["memory"], "I love jasmine tea");
    assert_eq!(m["metadata"], json!({"source": "cli", "mood": "happy"}));
    let r = db.json(&["search", "-u", "alice", "jasmine"]);
    assert_eq!(r["results"][0]["id"], tea.as_str());

    // history
    let h = db.json(&["history", &tea]);
    let events: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["ADD", "UPDATE"]);
    assert_eq!(h[1]["old_memory"], "I like green tea in the morning");
    assert_eq!(h[1]["new_memory"], "I love jasmine tea");

    // delete: gone from get (exit 3), history kept
    let r = db.json(&["delete", &tea]);
    assert!(r["message"].as_str().is_some());
    fails(&db.run(&["get", &tea, "--json"]), 3, Some("not_found"));
    let h = db.json(&["history", &tea]);
    assert_eq!(h.as_array().unwrap().len(), 3);
    assert_eq!(h[2]["event"], "DELETE");
    assert_eq!(texts(&db.json(&["list", "-u", "alice"])).len(), 2);

    // export → reset → import restores everything
    let export = db.file("export.jsonl");
    let r = db.json(&["export", export.to_str().unwrap()]);
    assert_eq!(r["memories"], 3, "{r}");
    let before = texts(&db.json(&["list", "-u", "alice"]));
    db.json(&["reset", "--yes"]);
    assert!(ids(&db.json(&["list", "-u", "alice"])).is_empty());
    assert!(ids(&db.json(&["list", "-u", "bob"])).is_empty());
    let r = db.json(&["import", export.to_str().unwrap()]);
    assert_eq!(r["memories"], 3, "{r}");
    assert_eq!(texts(&db.json(&["list", "-u", "alice"])), before);
    let r = db.json(&["search", "-u", "alice", "cat"]);
    assert_eq!(r["results"][0]["memory"], "My cat is called Miso");
    assert_eq!(db.json(&["history", &tea]).as_array().unwrap().len(), 3);

    // delete-all of one scope leaves the others
    let r = db.json(&["delete-all", "-u", "alice", "--yes"]);
    assert_eq!(r["deleted"], 2, "{r}");
    assert!(ids(&db.json(&["list", "-u", "alice"])).is_empty());
    assert_eq!(
        texts(&db.json(&["list", "-u", "bob"])),
        ["I like green tea too"]
    );
}

#[test]
fn usage_errors_exit_2_before_loading_models() {
    // None of these needs a model: they fail in argument parsing or in the
    // CLI's own checks, before the database is opened.
    let db = Db::new();
    // clap errors, with a JSON error under --json
    fails(&db.run(&["add", "--json"]), 2, Some("usage"));
    fails(&db.run(&["frobnicate"]), 2, None);
    fails(&db.run(&["search", "-u", "a", "--json"]), 2, Some("usage"));
    fails(
        &db.run(&["search", "-u", "a", "q", "--limit", "many"]),
        2,
        None,
    );
    fails(&db.run(&["update", "some-id"]), 2, None);
    fails(&db.run(&["add", "x", "--file", "y"]), 2, None);
    // validation: missing scope, bad JSON, reserved metadata key, bad file
    fails(
        &db.run(&["add", "--no-infer", "hello", "--json"]),
        2,
        Some("validation"),
    );
    fails(
        &db.run(&["search", "hello", "--json"]),
        2,
        Some("validation"),
    );
    fails(&db.run(&["list", "--json"]), 2, Some("validation"));
    fails(
        &db.run(&["delete-all", "--yes", "--json"]),
        2,
        Some("validation"),
    );
    fails(
        &db.run(&[
            "add",
            "--no-infer",
            "-u",
            "a",
            "hi",
            "--metadata",
            "{not json",
            "--json",
        ]),
        2,
        Some("validation"),
    );
    fails(
        &db.run(&[
            "add",
            "--no-infer",
            "-u",
            "a",
            "hi",
            "--metadata",
            r#"{"user_id": "b"}"#,
            "--json",
        ]),
        2,
        Some("validation"),
    );
    let o = db.run(&["add", "--no-infer", "-u", "a b", "hi", "--json"]);
    fails(&o, 2, Some("validation"));
    // The field is named once ("invalid user_id: …", not twice).
    let msg = parse(&o)["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(msg.starts_with("invalid user_id:"), "{msg}");
    assert_eq!(msg.matches("user_id").count(), 1, "{msg}");
    fails(
        &db.run(&["add", "--no-infer", "-u", "a", "   ", "--json"]),
        2,
        Some("validation"),
    );
    fails(
        &db.run(&["add", "-u", "a", "--file", "/nonexistent/x.json", "--json"]),
        2,
        Some("validation"),
    );
    let bad = db.file("bad.json");
    std::fs::write(&bad, r#"[{"role": "user", "text": "hi"}]"#).unwrap();
    fails(
        &db.run(&["add", "-u", "a", "--file", bad.to_str().unwrap(), "--json"]),
        2,
        Some("validation"),
    );
    fails(
        &db.run(&["import", "/nonexistent/x.jsonl", "--json"]),
        2,
        Some("validation"),
    );
    // human mode: error and hint on stderr, nothing on stdout
    let o = db.run(&["list"]);
    fails(&o, 2, None);
    assert!(stderr(&o).contains("hint:"));
    assert!(stdout(&o).is_empty());
    // nothing above created the database
    assert!(!db.path().exists());
}

#[test]
fn engine_errors_map_to_exit_codes() {
    if !have(CachedModel::MINILM_L6_V2) {
        return;
    }
    let db = Db::new();
    let missing = "01900000-0000-7000-8000-000000000000";
    fails(&db.run(&["get", missing, "--json"]), 3, Some("not_found"));
    fails(
        &db.run(&["history", missing, "--json"]),
        3,
        Some("not_found"),
    );
    fails(
        &db.run(&["delete", missing, "--json"]),
        3,
        Some("not_found"),
    );
    fails(
        &db.run(&["update", missing, "--text", "x", "--json"]),
        3,
        Some("not_found"),
    );
    let o = db.run(&["get", missing]);
    fails(&o, 3, None);
    assert!(stderr(&o).contains("not found") && stderr(&o).contains("hint:"));
    // engine-side validation → 2
    fails(
        &db.run(&["get", "not-a-uuid", "--json"]),
        2,
        Some("validation"),
    );
    fails(
        &db.run(&["search", "-u", "a", "q", "--limit", "0", "--json"]),
        2,
        Some("validation"),
    );
    fails(
        &db.run(&["search", "-u", "a", "q", "--threshold", "1.5", "--json"]),
        2,
        Some("validation"),
    );
    fails(
        &db.run(&[
            "list",
            "-u",
            "a",
            "--filters",
            r#"{"x": {"$bogus": 1}}"#,
            "--json",
        ]),
        2,
        Some("validation"),
    );
    fails(
        &db.run(&["list", "-u", "a", "--cursor", "garbage", "--json"]),
        2,
        Some("validation"),
    );
    let junk = db.file("junk.jsonl");
    std::fs::write(&junk, "this is not jsonl\n").unwrap();
    fails(
        &db.run(&["import", junk.to_str().unwrap(), "--json"]),
        2,
        Some("validation"),
    );
    // a missing model is a model error → 1
    fails(
        &db.run(&[
            "--embedder",
            "/nonexistent/model",
            "list",
            "-u",
            "a",
            "--json",
        ]),
        1,
        Some("model"),
    );
    // an empty search is not an error
    let r = db.json(&["search", "-u", "nobody", "anything"]);
    assert_eq!(r, json!({"results": []}));
}

#[test]
fn stdin_and_stdout_streams() {
    if !have(CachedModel::MINILM_L6_V2) {
        return;
    }
    let db = Db::new();
    // --file - : JSON messages on stdin
    let o = db.run_stdin(
        &["add", "--no-infer", "-u", "carol", "--file", "-", "--json"],
        json!({"role": "user", "content": "I am learning Portuguese"})
            .to_string()
            .as_bytes(),
    );
    ok(&o, &["add --file -"]);
    assert_eq!(
        parse(&o)["results"][0]["memory"],
        "I am learning Portuguese"
    );
    // TEXT - : plain text on stdin
    let o = db.run_stdin(
        &["add", "--no-infer", "-u", "carol", "-", "--json"],
        b"I play the cello\n",
    );
    ok(&o, &["add -"]);
    assert_eq!(parse(&o)["results"][0]["memory"], "I play the cello");

    // export to stdout (pure JSONL), import from stdin into another database
    let o = db.run(&["export"]);
    ok(&o, &["export"]);
    let jsonl = o.stdout;
    for line in String::from_utf8(jsonl.clone()).unwrap().lines() {
        serde_json::from_str::<Value>(line).unwrap();
    }
    let other = Db::new();
    let o = other.run_stdin(&["import", "-", "--json"], &jsonl);
    ok(&o, &["import -"]);
    assert_eq!(parse(&o)["memories"], 2);
    let r = other.json(&["search", "-u", "carol", "language"]);
    assert_eq!(r["results"][0]["memory"], "I am learning Portuguese");
}

#[test]
fn human_output_is_tables() {
    if !have(CachedModel::MINILM_L6_V2) {
        return;
    }
    let db = Db::new();
    let o = db.run(&["add", "--no-infer", "-u", "dan", "I collect vinyl records"]);
    ok(&o, &["add"]);
    let out = stdout(&o);
    assert!(out.starts_with("EVENT"), "{out}");
    assert!(out.contains("ADD") && out.contains("I collect vinyl records"));
    let id = db.json(&["list", "-u", "dan"])["results"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // the full id is printed, so it can be pasted into `get`
    assert!(out.contains(&id), "{out}");

    let o = db.run(&["list", "-u", "dan"]);
    ok(&o, &["list"]);
    let out = stdout(&o);
    let mut lines = out.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("ID") && header.contains("MEMORY"),
        "{out}"
    );
    let row = lines.next().unwrap();
    assert!(row.starts_with(&id) && row.ends_with("I collect vinyl records"));
    // columns line up
    assert_eq!(header.find("MEMORY"), row.find("I collect"));

    let o = db.run(&["search", "-u", "dan", "music"]);
    ok(&o, &["search"]);
    assert!(stdout(&o).starts_with("SCORE"), "{}", stdout(&o));

    let o = db.run(&["get", &id]);
    ok(&o, &["get"]);
    assert!(stdout(&o).contains("I collect vinyl records"));

    let o = db.run(&["history", &id]);
    ok(&o, &["history"]);
    assert!(stdout(&o).contains("ADD"));

    // no TTY on stdin: delete-all and reset need no --yes
    let o = db.run(&["delete-all", "-u", "dan"]);
    ok(&o, &["delete-all"]);
    assert!(stdout(&o).contains("deleted 1 memory"), "{}", stdout(&o));
    let o = db.run(&["reset"]);
    ok(&o, &["reset"]);
}

#[test]
fn default_database_location() {
    if !have(CachedModel::MINILM_L6_V2) {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let run = |envs: &[(&str, &Path)]| {
        let mut c = memlayer();
        c.env_remove("XDG_DATA_HOME")
            .env("HOME", home.path())
            .args(["list", "-u", "x", "--json"]);
        for (k, v) in envs {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        ok(&o, &["list"]);
    };
    run(&[]);
    assert!(
        home.path()
            .join(".local/share/memlayer/memories.redb")
            .exists()
    );
    let xdg = home.path().join("xdg");
    run(&[("XDG_DATA_HOME", &xdg)]);
    assert!(xdg.join("memlayer/memories.redb").exists());
    let explicit = home.path().join("env/db.redb");
    run(&[("MEMLAYER_DB", &explicit)]);
    assert!(explicit.exists());
}

#[test]
fn help_and_version_exit_0() {
    for args in [
        &["--help"][..],
        &["--version"],
        &["add", "--help"],
        &["demo", "--help"],
    ] {
        let o = memlayer().args(args).output().unwrap();
        ok(&o, args);
        assert!(!stdout(&o).is_empty());
    }
}

#[test]
fn add_with_inference_on_smollm2() {
    if !have(CachedModel::MINILM_L6_V2) || !have(CachedModel::SMOLLM2_135M) {
        return;
    }
    let db = Db::new();
    let r = db.json(&[
        "--chat",
        "smollm2",
        "add",
        "-u",
        "erin",
        "Hi, I'm Erin. I live in Oslo and I have a dog named Rex.",
    ]);
    let results = r["results"].as_array().expect("results array");
    assert!(r.as_object().unwrap().keys().all(|k| k == "results"), "{r}");
    for e in results {
        assert!(is_uuid(e["id"].as_str().unwrap()), "{e}");
        assert!(!e["memory"].as_str().unwrap().is_empty(), "{e}");
        let ev = e["event"].as_str().unwrap();
        assert!(["ADD", "UPDATE", "SUPERSEDE"].contains(&ev), "{e}");
    }
    // what was added is stored in the scope, with the user role
    let listed = db.json(&["list", "-u", "erin"]);
    let added: Vec<&str> = results
        .iter()
        .filter(|e| e["event"] == "ADD")
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    for id in added {
        assert!(ids(&listed).iter().any(|x| x == id));
        assert_eq!(db.json(&["get", id])["role"], "user");
    }
}

#[test]
fn demo_report_on_smollm2() {
    if !have(CachedModel::MINILM_L6_V2) || !have(CachedModel::SMOLLM2_135M) {
        return;
    }
    // The demo's default chat model is Qwen; the fast model checks the
    // report's shape (what the small model decides is not asserted).
    let db = Db::new();
    let r = db.json(&["--chat", "smollm2", "demo"]);
    assert_eq!(r["user_id"], "maya");
    let turns = r["turns"].as_array().unwrap();
    assert_eq!(turns.len(), 4);
    for t in turns {
        assert!(t["messages"][0]["role"] == "user", "{t}");
        assert!(t["response"]["results"].is_array(), "{t}");
        assert!(t["ms"].as_f64().unwrap() > 0.0);
        assert!(t["stats"]["llm_calls"].as_u64().unwrap() >= 1, "{t}");
    }
    assert_eq!(r["searches"].as_array().unwrap().len(), 3);
    assert!(r["changed"].is_boolean());
    assert!(r["history"].is_array());
    for k in [
        "embedder_load_ms",
        "chat_load_ms",
        "add_p50_ms",
        "search_p50_ms",
        "llm_calls",
    ] {
        assert!(r["timings"][k].is_number(), "{k}: {r}");
    }
    // with --db the demo writes there (its user only)
    let listed = db.json(&["list", "-u", "maya"]);
    assert!(!ids(&listed).is_empty());
}

/// `memlayer graph show|neighbors|paths` on a graph built by `add` with the
/// graph on (SmolLM2 extracts it), JSON shapes and exit codes.
#[test]
fn graph_commands() {
    if !have(CachedModel::MINILM_L6_V2) || !have(CachedModel::SMOLLM2_135M) {
        return;
    }
    let db = Db::new();
    let cfg = db.file("graph.toml");
    std::fs::write(&cfg, "graph = true\nchat = { cached = \"smollm2\" }\n").unwrap();
    let c = cfg.to_str().unwrap();
    let add = db.json(&[
        "--config",
        c,
        "add",
        "My brother Tom lives in Dublin and works as a chef.",
        "-u",
        "bob",
    ]);
    assert!(add["relations"]["added_entities"].is_array(), "{add}");
    let show = db.json(&["--config", c, "graph", "show", "-u", "bob", "--all"]);
    let rels = show["relations"].as_array().unwrap();
    assert_eq!(
        rels.len(),
        add["relations"]["added_entities"].as_array().unwrap().len(),
        "{show}"
    );
    for r in rels {
        assert!(r["valid"].as_bool().unwrap());
        assert!(r["created_at"].is_string());
    }
    let search = db.json(&["--config", c, "search", "Tom", "-u", "bob"]);
    assert!(search["relations"].is_array(), "{search}");
    if let Some(r) = rels.first() {
        let src = r["source"].as_str().unwrap();
        let dst = r["destination"].as_str().unwrap();
        let n = db.json(&["graph", "neighbors", src, "-u", "bob"]);
        assert!(!n["relations"].as_array().unwrap().is_empty());
        let p = db.json(&["graph", "paths", src, dst, "-u", "bob", "-d", "2"]);
        assert!(!p["paths"].as_array().unwrap().is_empty(), "{p}");
    }
    fails(
        &db.run(&["graph", "neighbors", "nobody-here", "-u", "bob", "--json"]),
        3,
        Some("not_found"),
    );
    fails(
        &db.run(&["graph", "neighbors", "x", "-u", "bob", "-d", "9", "--json"]),
        2,
        Some("validation"),
    );
    fails(&db.run(&["graph", "show", "--json"]), 2, Some("validation"));
}

#[test]
fn add_jsonl_imports_in_bulk_with_dates_and_names_bad_lines() {
    if !have(CachedModel::MINILM_L6_V2) {
        return;
    }
    let db = Db::new();
    let file = db.file("history.jsonl");
    let mut lines: Vec<String> = (0..600)
        .map(|i| {
            json!({
                "text": format!("session note {i}: we talked about topic {}", i % 10),
                "run_id": format!("s{}", i / 100),
                "timestamp": 1_600_000_000 + i * 3600,
                "metadata": {"n": i},
            })
            .to_string()
        })
        .collect();
    lines.insert(10, String::new()); // blank lines are skipped
    lines.push(
        json!({"text": "Melanie painted a sunrise", "user_id": "mel",
                      "timestamp": "2023-05-08T13:56:00Z", "actor_id": "Melanie"})
        .to_string(),
    );
    std::fs::write(&file, lines.join("\n")).unwrap();

    // A bad line fails the import before anything is stored, by line number.
    let bad = db.file("bad.jsonl");
    let import_with = |i: usize, line: Value, want: &str| {
        let mut with_bad = lines.clone();
        with_bad[i] = line.to_string();
        std::fs::write(&bad, with_bad.join("\n")).unwrap();
        let o = db.run(&[
            "add",
            "-u",
            "alice",
            "--jsonl",
            bad.to_str().unwrap(),
            "--json",
        ]);
        fails(&o, 2, Some("validation"));
        assert!(stderr(&o).contains(want), "{}", stderr(&o));
    };
    import_with(
        300,
        json!({"text": "x", "user_id": "u", "timestamp": "May 8"}),
        "line 301 (column",
    );
    import_with(400, json!({"text": "x", "user_id": "bad id\n"}), "line 401");
    assert!(
        db.json(&["list", "-u", "alice"])["results"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let o = db.run(&[
        "add",
        "-u",
        "alice",
        "--jsonl",
        file.to_str().unwrap(),
        "--infer",
    ]);
    assert_eq!(code(&o), 2, "--jsonl stores verbatim: {}", stderr(&o));

    let r = db.json(&["add", "-u", "alice", "--jsonl", file.to_str().unwrap()]);
    assert_eq!(r["added"], 601, "{r}");
    assert_eq!(r["commits"], 2, "{r}");
    // Lines without a scope took -u alice; their own run_id is kept beside it.
    let page = db.json(&["list", "-u", "alice", "-r", "s5"]);
    let items = page["results"].as_array().unwrap();
    assert_eq!(items.len(), 100, "{page}");
    assert_eq!(items[0]["created_at"], "2020-10-08T11:26:40.000000Z");
    let hit = db.json(&[
        "search",
        "-u",
        "mel",
        "what did Melanie paint?",
        "--limit",
        "1",
    ]);
    assert_eq!(
        hit["results"][0]["memory"], "Melanie painted a sunrise",
        "{hit}"
    );
    assert_eq!(
        hit["results"][0]["created_at"],
        "2023-05-08T13:56:00.000000Z"
    );
    assert_eq!(hit["results"][0]["actor_id"], "Melanie");

    // add --timestamp (RFC 3339 or Unix seconds)
    let r = db.json(&[
        "add",
        "--no-infer",
        "-u",
        "bob",
        "moved to Lisbon",
        "--timestamp",
        "1683554160",
    ]);
    let id = r["results"][0]["id"].as_str().unwrap().to_string();
    let m = db.json(&["get", &id]);
    assert_eq!(m["created_at"], "2023-05-08T13:56:00.000000Z", "{m}");
    let o = db.run(&[
        "add",
        "--no-infer",
        "-u",
        "bob",
        "x",
        "--timestamp",
        "yesterday",
    ]);
    fails(&o, 2, None);
}
