//! Graph memory on real models.
//!
//! ```text
//! # Triple precision/recall on tests/scenarios/graph.json, and add(infer)
//! # latency with graph on vs off on the same conversations (interleaved):
//! cargo run --release -p memlayer-tests --bin graph-scenarios -- [--chat qwen|smollm2|PATH]
//!     [--only NAME_SUBSTRING] [--verbose]
//! # Entity-merge threshold: MiniLM cosine of tests/scenarios/entity_pairs.json
//! cargo run --release -p memlayer-tests --bin graph-scenarios -- --pairs
//! ```
//!
//! A predicted triple matches an expected one when the sources are equal,
//! the destinations are equal (or one contains the other, e.g.
//! `dublin` / `dublin_ireland`), and the relationship contains one of the
//! listed alternatives or is contained in one. Precision is over the valid
//! relations left at the end, recall over the expected triples; triples
//! listed as `invalidated` must not be valid at the end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use memlayer::models::{
    BertEmbedder, ChatConfig, ChatModel, Embedder, EmbedderConfig, LlamaCppChat,
};
use memlayer::{AddOptions, Memory, MemoryConfig, Message, Scope};
use serde::Deserialize;

#[derive(Deserialize)]
struct File {
    scenarios: Vec<Scenario>,
}

#[derive(Deserialize)]
struct Scenario {
    name: String,
    user_id: String,
    turns: Vec<Vec<Message>>,
    expected: Vec<Triple>,
    #[serde(default)]
    invalidated: Vec<Triple>,
}

#[derive(Deserialize, Debug)]
struct Triple {
    source: String,
    relationship: Vec<String>,
    destination: String,
}

#[derive(Deserialize)]
struct Pairs {
    pairs: Vec<Pair>,
}

#[derive(Deserialize)]
struct Pair {
    a: String,
    b: String,
    same: bool,
}

fn name_eq(a: &str, b: &str) -> bool {
    a == b || (a.len() >= 3 && b.contains(a)) || (b.len() >= 3 && a.contains(b))
}

fn matches(t: &Triple, s: &str, r: &str, d: &str) -> bool {
    t.source == s
        && name_eq(&t.destination, d)
        && t.relationship
            .iter()
            .any(|alt| r.contains(alt.as_str()) || alt.contains(r))
}

fn pairs(embedder: &dyn Embedder) {
    let file = memlayer_tests::repo_root().join("tests/scenarios/entity_pairs.json");
    let p: Pairs = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let mut scored = Vec::new();
    for x in &p.pairs {
        let v = embedder.embed_batch(&[&x.a, &x.b]).unwrap();
        scored.push((memlayer::models::cosine(&v[0], &v[1]), x.same, x));
    }
    println!(
        "{} pairs ({} same, {} different), MiniLM cosine of the names",
        scored.len(),
        scored.iter().filter(|s| s.1).count(),
        scored.iter().filter(|s| !s.1).count()
    );
    println!(
        "| threshold | merged same (TP) | merged different (FP) | precision | recall | accuracy |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for t in [0.5f32, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95] {
        let tp = scored.iter().filter(|s| s.1 && s.0 >= t).count();
        let fp = scored.iter().filter(|s| !s.1 && s.0 >= t).count();
        let tn = scored.iter().filter(|s| !s.1 && s.0 < t).count();
        let same = scored.iter().filter(|s| s.1).count();
        println!(
            "| {t:.2} | {tp} | {fp} | {:.3} | {:.3} | {:.3} |",
            tp as f64 / (tp + fp).max(1) as f64,
            tp as f64 / same.max(1) as f64,
            (tp + tn) as f64 / scored.len() as f64
        );
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!("\nmost similar different-entity pairs:");
    for s in scored.iter().filter(|s| !s.1).take(5) {
        println!("  {:.3}  {:?} / {:?}", s.0, s.2.a, s.2.b);
    }
}

fn main() {
    let args = memlayer_tests::Args::from_env();
    let arg = |name: &str| args.value(name);
    let embedder: Arc<dyn Embedder> = Arc::new(
        BertEmbedder::load(
            &memlayer_tests::model_source("minilm"),
            &EmbedderConfig::default(),
        )
        .unwrap(),
    );
    if args.flag("--pairs") {
        pairs(embedder.as_ref());
        return;
    }
    let chat_name = arg("--chat").unwrap_or_else(|| "qwen".into());
    let only = arg("--only");
    let verbose = args.flag("--verbose");
    let file = memlayer_tests::repo_root().join("tests/scenarios/graph.json");
    let data: File = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let chat: Arc<dyn ChatModel> = Arc::new(
        LlamaCppChat::load(
            &memlayer_tests::model_source(&chat_name),
            ChatConfig {
                parallel: 4,
                ..ChatConfig::default()
            },
        )
        .unwrap(),
    );
    println!("chat model {}", chat.model_id());
    let open = |dir: &std::path::Path, graph: bool| {
        Memory::builder(dir.join("m.redb"))
            .config(MemoryConfig {
                durability: memlayer::Durability::None,
                graph,
                ..MemoryConfig::default()
            })
            .embedder(embedder.clone())
            .chat(chat.clone())
            .open()
            .unwrap()
    };
    let (mut tp_pred, mut n_pred, mut tp_exp, mut n_exp) = (0usize, 0usize, 0usize, 0usize);
    let (mut inv_ok, mut inv_total) = (0usize, 0usize);
    let (mut lat_on, mut lat_off) = (Vec::new(), Vec::new());
    let (mut calls, mut dropped, mut merged, mut unusable) = (0u32, 0usize, 0usize, 0usize);
    let mut perfect = 0;
    let mut ran = 0;
    for sc in &data.scenarios {
        if only.as_deref().is_some_and(|o| !sc.name.contains(o)) {
            continue;
        }
        ran += 1;
        let (d_on, d_off) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (on, off) = (open(d_on.path(), true), open(d_off.path(), false));
        let opts = AddOptions::user(sc.user_id.clone());
        let mut log = Vec::new();
        for (i, turn) in sc.turns.iter().enumerate() {
            // Alternate which engine goes first so neither always gets a
            // warmer prefix cache.
            let order = if i % 2 == 0 {
                [true, false]
            } else {
                [false, true]
            };
            for graph in order {
                let mem = if graph { &on } else { &off };
                let t = Instant::now();
                let r = mem.add(turn.clone(), &opts).unwrap();
                let ms = t.elapsed().as_secs_f64() * 1e3;
                if graph {
                    lat_on.push(ms);
                    calls += r.stats.llm_calls;
                    dropped += r.stats.graph_dropped;
                    unusable += r.stats.graph_unusable_answers;
                    merged += r.stats.graph_merged_by_embedding;
                    if let Some(g) = &r.relations {
                        for x in &g.added_entities {
                            log.push(format!(
                                "+ {} -{}-> {}",
                                x.source, x.relationship, x.destination
                            ));
                        }
                        for x in &g.deleted_entities {
                            log.push(format!(
                                "- {} -{}-> {}",
                                x.source, x.relationship, x.destination
                            ));
                        }
                    }
                } else {
                    lat_off.push(ms);
                }
            }
        }
        let scope = Scope::user(sc.user_id.clone());
        let rels = on.relations(&scope, true).unwrap();
        let valid: Vec<_> = rels.iter().filter(|r| r.valid).collect();
        let mut why = Vec::new();
        for r in &valid {
            n_pred += 1;
            if sc
                .expected
                .iter()
                .any(|t| matches(t, &r.source, &r.relationship, &r.destination))
            {
                tp_pred += 1;
            } else {
                why.push(format!(
                    "extra {}-{}->{}",
                    r.source, r.relationship, r.destination
                ));
            }
        }
        for t in &sc.expected {
            n_exp += 1;
            if valid
                .iter()
                .any(|r| matches(t, &r.source, &r.relationship, &r.destination))
            {
                tp_exp += 1;
            } else {
                why.push(format!(
                    "missing {}-{:?}->{}",
                    t.source, t.relationship, t.destination
                ));
            }
        }
        for t in &sc.invalidated {
            inv_total += 1;
            if valid
                .iter()
                .any(|r| matches(t, &r.source, &r.relationship, &r.destination))
            {
                why.push(format!(
                    "still valid {}-{:?}->{}",
                    t.source, t.relationship, t.destination
                ));
            } else {
                inv_ok += 1;
            }
        }
        if why.is_empty() {
            perfect += 1;
        }
        println!(
            "{} {:<44} {}",
            if why.is_empty() { "PASS" } else { "FAIL" },
            sc.name,
            why.join("; ")
        );
        if verbose || !why.is_empty() {
            for l in &log {
                println!("       {l}");
            }
        }
    }
    let p = tp_pred as f64 / n_pred.max(1) as f64;
    let r = tp_exp as f64 / n_exp.max(1) as f64;
    println!("\n== {} ==", chat.model_id());
    println!("scenarios {ran}, all triples right in {perfect}");
    println!(
        "triple precision {:.3} ({tp_pred}/{n_pred}), recall {:.3} ({tp_exp}/{n_exp}), F1 {:.3}",
        p,
        r,
        2.0 * p * r / (p + r).max(1e-9)
    );
    println!("contradicted triples no longer valid: {inv_ok}/{inv_total}");
    println!(
        "graph-on LLM calls {calls}; unusable graph answers {unusable}; graph items dropped by validation {dropped}; entities merged by embedding {merged}"
    );
    println!(
        "add(infer) latency over {} adds: graph on p50 {:.0} ms (p95 {:.0}), graph off p50 {:.0} ms (p95 {:.0}); on/off p50 ratio {:.2}",
        lat_on.len(),
        memlayer_tests::percentile(&mut lat_on.clone(), 0.5),
        memlayer_tests::percentile(&mut lat_on.clone(), 0.95),
        memlayer_tests::percentile(&mut lat_off.clone(), 0.5),
        memlayer_tests::percentile(&mut lat_off.clone(), 0.95),
        memlayer_tests::percentile(&mut lat_on, 0.5)
            / memlayer_tests::percentile(&mut lat_off, 0.5)
    );
}
