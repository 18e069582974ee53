//! memlayer engine: `search` latency (embed query + scoped index search +
//! record fetch + BM25 + fusion, in-process) at 1k, 10k and 100k memories in
//! one scope and with 100 scopes of 1k; `add(infer=false)` throughput, one
//! message per call vs 32 per call (one batched embedding, one commit).
//!
//! `cargo bench -p memlayer-benches --bench engine`. Criterion reports the
//! medians; the p50/p95 table (200 queries × 5 rounds per database) is
//! printed and written to target/criterion/engine-search-percentiles.json.
//! Memory vectors are real MiniLM embeddings of generated facts, cached under
//! ~/.cache/memlayer/bench-data/engine/ after the first run.
//! `MEMLAYER_BENCH_ONLY=search` runs one group; `MEMLAYER_BENCH_CASES=100k_one_scope`
//! (comma-separated) only those databases of the search group.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use memlayer::models::{BertEmbedder, CachedModel, Embedder, EmbedderConfig};
use memlayer::store::{
    DurabilityMode, EdgeUpsert, NewMemory, NodeUpsert, Scope, Store, StoreConfig, WriteBatch,
};
use memlayer::{AddOptions, Durability, Memory, MemoryConfig, Message, SearchOptions};
use memlayer_benches::{memory_facts, memory_queries};

const N_MAX: usize = 100_000;

fn embedder() -> Arc<dyn Embedder> {
    let dir = memlayer_tests::require(CachedModel::MINILM_L6_V2);
    Arc::new(BertEmbedder::load_dir(&dir, &EmbedderConfig::default()).expect("MiniLM"))
}

/// Facts and their embeddings (cached on disk: embedding 100k texts takes
/// minutes).
fn corpus(emb: &dyn Embedder) -> (Vec<String>, Vec<Vec<f32>>) {
    let texts = memory_facts(N_MAX, 7);
    let dir = dirs_cache().join("engine");
    let path = dir.join(format!("facts-{N_MAX}-{}.f32", emb.dims()));
    let d = emb.dims();
    if let Ok(bytes) = std::fs::read(&path)
        && bytes.len() == N_MAX * d * 4
    {
        let flat: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        return (texts, flat.chunks(d).map(<[f32]>::to_vec).collect());
    }
    eprintln!(
        "embedding {N_MAX} facts once (cached at {})",
        path.display()
    );
    let mut vecs = Vec::with_capacity(N_MAX);
    for chunk in texts.chunks(256) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        vecs.extend(emb.embed_batch(&refs).expect("embed"));
    }
    let mut bytes = Vec::with_capacity(N_MAX * d * 4);
    for v in &vecs {
        for x in v {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
    }
    std::fs::create_dir_all(&dir).expect("cache dir");
    std::fs::write(&path, bytes).expect("write cache");
    (texts, vecs)
}

fn dirs_cache() -> PathBuf {
    std::env::var_os("MEMLAYER_BENCH_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/memlayer/bench-data")
        })
}

/// A database with `n` memories spread over `scopes` users (`u0`, `u1`, ...).
fn build_db(
    dir: &std::path::Path,
    emb: &Arc<dyn Embedder>,
    texts: &[String],
    vecs: &[Vec<f32>],
    n: usize,
    scopes: usize,
) -> Memory {
    let path = dir.join("m.redb");
    {
        let cfg = StoreConfig::new(emb.model_id(), emb.dims() as u32)
            .with_durability(DurabilityMode::None);
        let store = Store::open(&path, cfg).expect("store");
        for start in (0..n).step_by(2000) {
            let mut b = WriteBatch::new();
            for i in start..(start + 2000).min(n) {
                b.insert(NewMemory::new(
                    texts[i].clone(),
                    Scope::user(format!("u{}", i % scopes)),
                    vecs[i].clone(),
                ));
            }
            store.commit(b).expect("commit");
        }
    }
    let t = Instant::now();
    let mem = Memory::builder(&path)
        .config(MemoryConfig {
            durability: Durability::None,
            // The 200 queries repeat: without this every round after the
            // first would skip the query embedding.
            search: memlayer::SearchConfig {
                query_cache: 0,
                ..memlayer::SearchConfig::default()
            },
            ..MemoryConfig::default()
        })
        .embedder(emb.clone())
        .open()
        .expect("open");
    eprintln!(
        "{n} memories / {scopes} scopes: index built in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    mem
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// `MEMLAYER_BENCH_ONLY=graph_search` (etc.) runs one of this file's
/// groups; their setup and percentile passes run outside criterion's filter.
fn skip(group: &str) -> bool {
    std::env::var("MEMLAYER_BENCH_ONLY").is_ok_and(|o| o != group)
}

fn search(c: &mut Criterion) {
    if skip("search") {
        return;
    }
    let emb = embedder();
    let (texts, vecs) = corpus(emb.as_ref());
    let queries = memory_queries(200);
    let mut table = Vec::new();
    let mut g = c.benchmark_group("engine/search");
    g.sample_size(30).measurement_time(Duration::from_secs(6));
    for (name, n, scopes) in [
        ("1k_one_scope", 1_000, 1),
        ("10k_one_scope", 10_000, 1),
        ("100k_one_scope", 100_000, 1),
        ("100_scopes_of_1k", 100_000, 100),
    ] {
        // `MEMLAYER_BENCH_CASES=100k_one_scope,…` runs only those databases.
        if std::env::var("MEMLAYER_BENCH_CASES").is_ok_and(|c| !c.split(',').any(|x| x == name)) {
            continue;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let mem = build_db(dir.path(), &emb, &texts, &vecs, n, scopes);
        let opts: Vec<SearchOptions> = (0..scopes.min(100))
            .map(|s| SearchOptions::user(format!("u{s}")).limit(10))
            .collect();
        let mut i = 0usize;
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                i += 1;
                mem.search(&queries[i % queries.len()], &opts[i % opts.len()])
                    .expect("search")
            })
        });
        // Percentiles over every query, 5 rounds.
        let mut lat = Vec::new();
        let mut stages: std::collections::BTreeMap<&str, Vec<f64>> = Default::default();
        for r in 0..5 {
            for (qi, q) in queries.iter().enumerate() {
                let t = Instant::now();
                let hits = mem.search(q, &opts[(qi + r) % opts.len()]).expect("search");
                lat.push(t.elapsed().as_secs_f64() * 1e3);
                assert!(!hits.results.is_empty());
                for &(stage, ms) in hits.timings.stages() {
                    stages.entry(stage).or_default().push(ms);
                }
            }
        }
        let (p50, p95) = (pct(&mut lat, 0.5), pct(&mut lat, 0.95));
        let by_stage: Vec<String> = stages
            .iter_mut()
            .map(|(stage, v)| format!("{stage} {:.2}", pct(v, 0.5)))
            .collect();
        eprintln!(
            "search {name}: p50 {p50:.2} ms, p95 {p95:.2} ms (stage p50s, ms: {})",
            by_stage.join(", ")
        );
        table.push(serde_json::json!({"db": name, "memories": n, "scopes": scopes, "p50_ms": p50, "p95_ms": p95}));
    }
    g.finish();
    // Query embedding alone, for the breakdown.
    let mut lat = Vec::new();
    for q in queries.iter().cycle().take(1000) {
        let t = Instant::now();
        emb.embed(q).expect("embed");
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (p50, p95) = (pct(&mut lat, 0.5), pct(&mut lat, 0.95));
    eprintln!("query embedding alone: p50 {p50:.2} ms, p95 {p95:.2} ms");
    table.push(serde_json::json!({"db": "query_embedding_only", "p50_ms": p50, "p95_ms": p95}));
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/criterion");
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(
        out.join("engine-search-percentiles.json"),
        serde_json::to_string_pretty(&table).unwrap_or_default(),
    );
}

fn add_raw(c: &mut Criterion) {
    if skip("add_raw") {
        return;
    }
    let emb = embedder();
    let texts = memory_facts(20_000, 11);
    let mut g = c.benchmark_group("engine/add_infer_false");
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    for (name, durability) in [
        ("immediate", Durability::Immediate),
        ("none", Durability::None),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mem = Memory::builder(dir.path().join("m.redb"))
            .config(MemoryConfig {
                durability,
                ..MemoryConfig::default()
            })
            .embedder(emb.clone())
            .open()
            .expect("open");
        let opts = AddOptions::user("u").infer(false);
        let mut i = 0usize;
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::new(name, "1_message"), |b| {
            b.iter(|| {
                i += 1;
                mem.add(texts[i % texts.len()].as_str(), &opts)
                    .expect("add")
            })
        });
        g.throughput(Throughput::Elements(32));
        g.bench_function(BenchmarkId::new(name, "32_messages"), |b| {
            b.iter(|| {
                let msgs: Vec<Message> = (0..32)
                    .map(|_| {
                        i += 1;
                        Message::user(texts[i % texts.len()].clone())
                    })
                    .collect();
                mem.add(msgs, &opts).expect("add")
            })
        });
    }
    g.finish();
}

/// Search at 10k memories in one scope with graph memory off and on, same
/// database. The graph is built from the memories themselves: each fact's
/// object phrase (the words a query asks about) is an entity with its
/// MiniLM name embedding, linked from the user and to the next fact's
/// entity, so queries recognise entities by name and by embedding and the
/// user's node is a 10k-edge hub.
fn graph_search(c: &mut Criterion) {
    if skip("graph_search") {
        return;
    }
    let emb = embedder();
    let (texts, vecs) = corpus(emb.as_ref());
    let queries = memory_queries(200);
    let n = 10_000;
    let dir = tempfile::tempdir().expect("tempdir");
    drop(build_db(dir.path(), &emb, &texts, &vecs, n, 1));
    let path = dir.path().join("m.redb");
    let object = |t: &str| {
        let w: Vec<&str> = t.split_whitespace().collect();
        let mid = w.len() / 2;
        w[mid.saturating_sub(1)..=mid].join(" ")
    };
    let names: Vec<String> = texts[..n].iter().map(|t| object(t)).collect();
    let mut distinct = names.clone();
    distinct.sort();
    distinct.dedup();
    let refs: Vec<&str> = distinct.iter().map(String::as_str).collect();
    let name_vecs = emb.embed_batch(&refs).expect("embed names");
    {
        let cfg = StoreConfig::new(emb.model_id(), emb.dims() as u32)
            .with_durability(DurabilityMode::None);
        let store = Store::open(&path, cfg).expect("store");
        let scope = Scope::user("u0");
        let mut b = WriteBatch::new();
        for (name, v) in distinct.iter().zip(&name_vecs) {
            b.upsert_node(NodeUpsert {
                scope: scope.clone(),
                name: name.clone(),
                display_name: None,
                node_type: Some("thing".into()),
                embedding: Some(v.clone()),
            });
        }
        for (i, name) in names.iter().enumerate() {
            let rel = texts[i]
                .split_whitespace()
                .next()
                .unwrap_or("likes")
                .to_lowercase();
            b.upsert_edge(EdgeUpsert {
                scope: scope.clone(),
                source: "u0".into(),
                relationship: rel,
                destination: name.clone(),
                memory_id: None,
            });
            let next = &names[(i + 1) % n];
            if next != name {
                b.upsert_edge(EdgeUpsert {
                    scope: scope.clone(),
                    source: name.clone(),
                    relationship: "related_to".into(),
                    destination: next.clone(),
                    memory_id: None,
                });
            }
        }
        store.commit(b).expect("graph commit");
        let snap = store.snapshot().expect("snapshot");
        eprintln!(
            "graph: {} nodes, {} edges",
            snap.graph_nodes(&scope).expect("nodes").len(),
            snap.graph_edges(&scope, false).expect("edges").len()
        );
    }
    let open = |graph: bool| {
        Memory::builder(&path)
            .config(MemoryConfig {
                durability: Durability::None,
                graph,
                ..MemoryConfig::default()
            })
            .embedder(emb.clone())
            .open()
            .expect("open")
    };
    let opts = SearchOptions::user("u0").limit(10);
    let mut g = c.benchmark_group("engine/search_10k_graph");
    g.sample_size(30).measurement_time(Duration::from_secs(6));
    let mut lat: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut relations = 0usize;
    for round in 0..4 {
        for graph in [false, true] {
            let mem = open(graph);
            if round == 0 {
                let mut i = 0usize;
                g.bench_function(if graph { "graph_on" } else { "graph_off" }, |b| {
                    b.iter(|| {
                        i += 1;
                        mem.search(&queries[i % queries.len()], &opts)
                            .expect("search")
                    })
                });
            }
            for q in &queries {
                let t = Instant::now();
                let r = mem.search(q, &opts).expect("search");
                lat[usize::from(graph)].push(t.elapsed().as_secs_f64() * 1e3);
                if graph {
                    relations += r.relations.map_or(0, |x| x.len());
                }
            }
        }
    }
    g.finish();
    let [mut off, mut on] = lat;
    eprintln!(
        "search 10k graph off: p50 {:.2} ms, p95 {:.2} ms; graph on: p50 {:.2} ms, p95 {:.2} ms ({:.1} relations per query)",
        pct(&mut off, 0.5),
        pct(&mut off, 0.95),
        pct(&mut on, 0.5),
        pct(&mut on, 0.95),
        relations as f64 / (4 * queries.len()) as f64
    );
}

criterion_group!(benches, search, add_raw, graph_search);
criterion_main!(benches);
