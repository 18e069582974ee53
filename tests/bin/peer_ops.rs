//! memlayer's side of `benches/peers/mem0_search.sh`: the same adds and
//! searches as the Mem0 side, in-process, on the same MiniLM weights.
//!
//! ```text
//! cargo run --release -p memlayer-tests --bin peer-ops -- --input OPS.json --out OUT.json
//! ```
//!
//! `OPS.json` is `{"memories": [{"user_id", "text"}], "queries": [{"user_id",
//! "text"}]}`. Each memory is one `add(infer=false)` call, then each query one
//! `search(limit 10)` scoped to its user; both timed per call. It runs twice
//! on new databases: with the default durability (an fsync per add) and with
//! `Durability::None` (Mem0's stores do not fsync). The query-embedding cache
//! is off. `OUT.json`: `{"configs": [{"name", "add_ms": [...], "search_ms":
//! [...], "hits": [[text, ...], ...]}]}`.
//!
//! `--lockstep immediate|none` is the Rust side of
//! `benches/python/overhead.py`: one new database with that durability,
//! then one call per stdin line (`{"op": "add"|"search", "user_id", "text"}`),
//! answering each with `{"ms": …}`, the call's own time. The Python side
//! makes the same call between two lines, so drift of the machine hits
//! both sides alike.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use memlayer::models::{BertEmbedder, Embedder, EmbedderConfig};
use memlayer::{AddOptions, Durability, Memory, MemoryConfig, SearchConfig, SearchOptions};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct Op {
    user_id: String,
    text: String,
}

#[derive(Deserialize)]
struct Ops {
    memories: Vec<Op>,
    queries: Vec<Op>,
}

fn open(dir: &std::path::Path, durability: Durability, embedder: Arc<dyn Embedder>) -> Memory {
    Memory::builder(dir.join("m.redb"))
        .config(MemoryConfig {
            durability,
            search: SearchConfig {
                query_cache: 0,
                ..SearchConfig::default()
            },
            ..MemoryConfig::default()
        })
        .embedder(embedder)
        .open()
        .unwrap()
}

fn lockstep(durability: &str, embedder: Arc<dyn Embedder>) {
    use std::io::{BufRead, Write};
    #[derive(Deserialize)]
    struct Call {
        op: String,
        user_id: String,
        text: String,
    }
    let durability: Durability =
        serde_json::from_value(json!(durability)).expect("--lockstep immediate|none");
    let dir = tempfile::tempdir().unwrap();
    let mem = open(dir.path(), durability, embedder);
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let c: Call = serde_json::from_str(&line.unwrap()).expect("lockstep call JSON");
        let t = Instant::now();
        if c.op == "add" {
            mem.add(c.text.as_str(), &AddOptions::user(&c.user_id).infer(false))
                .unwrap();
        } else {
            mem.search(&c.text, &SearchOptions::user(&c.user_id).limit(10))
                .unwrap();
        }
        let ms = t.elapsed().as_secs_f64() * 1e3;
        writeln!(out, "{}", json!({"ms": ms})).unwrap();
        out.flush().unwrap();
    }
}

fn main() {
    memlayer_tests::init_tracing();
    let args = memlayer_tests::Args::from_env();
    let embedder: Arc<dyn Embedder> = Arc::new(
        BertEmbedder::load(
            &memlayer_tests::model_source("minilm"),
            &EmbedderConfig::default(),
        )
        .expect("MiniLM"),
    );
    if let Some(d) = args.value("--lockstep") {
        return lockstep(&d, embedder);
    }
    let input = args.value("--input").expect("--input OPS.json");
    let out = args.value("--out").expect("--out OUT.json");
    let ops: Ops = serde_json::from_str(&std::fs::read_to_string(&input).expect("read --input"))
        .expect("ops JSON");
    let mut configs = Vec::new();
    for (name, durability) in [
        ("memlayer (fsync per add)", Durability::Immediate),
        ("memlayer (no fsync)", Durability::None),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mem = open(dir.path(), durability, embedder.clone());
        let mut add_ms = Vec::with_capacity(ops.memories.len());
        for m in &ops.memories {
            let opts = AddOptions::user(&m.user_id).infer(false);
            let t = Instant::now();
            mem.add(m.text.as_str(), &opts).unwrap();
            add_ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let (mut search_ms, mut hits) = (Vec::new(), Vec::new());
        for q in &ops.queries {
            let opts = SearchOptions::user(&q.user_id).limit(10);
            let t = Instant::now();
            let r = mem.search(&q.text, &opts).unwrap();
            search_ms.push(t.elapsed().as_secs_f64() * 1e3);
            hits.push(r.results.into_iter().map(|m| m.memory).collect::<Vec<_>>());
        }
        let p = |v: &[f64]| {
            let mut v = v.to_vec();
            (
                memlayer_tests::percentile(&mut v, 0.5),
                memlayer_tests::percentile(&mut v, 0.95),
            )
        };
        let ((a50, a95), (s50, s95)) = (p(&add_ms), p(&search_ms));
        eprintln!(
            "{name}: add p50 {a50:.2} ms p95 {a95:.2} ms; search p50 {s50:.2} ms p95 {s95:.2} ms"
        );
        configs.push(json!({"name": name, "add_ms": add_ms, "search_ms": search_ms, "hits": hits}));
    }
    std::fs::write(&out, json!({"configs": configs}).to_string()).expect("write --out");
}
