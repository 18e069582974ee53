//! memlayer-store: commit throughput (1- and 100-record batches, Immediate vs
//! None durability), get/list latency at 100k records, and on-disk bytes per
//! memory (384-d vector + 100-character text) at 100k records.
//!
//! `cargo bench -p memlayer-benches --bench store`; the bytes-per-memory
//! figure is printed and written to target/criterion/store-size.json.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use memlayer_benches::{random_unit_vectors, texts_of_len};
use memlayer_store::{
    DurabilityMode, ListOptions, NewMemory, Scope, Store, StoreConfig, WriteBatch, filter,
};
use serde_json::json;

const DIMS: usize = 384;

fn memory(text: &str, user: usize, v: Vec<f32>) -> NewMemory {
    let topic = ["food", "travel", "work", "health"][user % 4];
    let meta = json!({"topic": topic, "n": user % 10});
    NewMemory::new(text, Scope::user(format!("user{user}")), v)
        .with_metadata(meta.as_object().cloned().unwrap_or_default())
}

fn commit(c: &mut Criterion) {
    let texts = texts_of_len(1000, 100);
    let vecs = random_unit_vectors(1000, DIMS, 7);
    let mut g = c.benchmark_group("store/commit");
    g.sample_size(20).measurement_time(Duration::from_secs(8));
    for (dname, d) in [
        ("immediate", DurabilityMode::Immediate),
        ("none", DurabilityMode::None),
    ] {
        for batch in [1usize, 100] {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = Store::open(
                dir.path().join("m.redb"),
                StoreConfig::new("bench", DIMS as u32).with_durability(d),
            )
            .expect("open");
            let mut i = 0usize;
            g.throughput(Throughput::Elements(batch as u64));
            g.bench_function(BenchmarkId::new(dname, format!("{batch}_records")), |b| {
                b.iter(|| {
                    let mut wb = WriteBatch::new();
                    for _ in 0..batch {
                        wb.insert(memory(&texts[i % 1000], i % 50, vecs[i % 1000].clone()));
                        i += 1;
                    }
                    store.commit(wb).expect("commit")
                })
            });
        }
    }
    g.finish();
}

fn reads_at_100k(c: &mut Criterion) {
    let n = 100_000usize;
    let users = 100usize;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("m.redb");
    let store = Store::open(
        &path,
        StoreConfig::new("bench", DIMS as u32).with_durability(DurabilityMode::None),
    )
    .expect("open");
    let texts = texts_of_len(1000, 100);
    let vecs = random_unit_vectors(1000, DIMS, 11);
    let mut ids = Vec::with_capacity(n);
    for chunk in 0..n / 1000 {
        let mut wb = WriteBatch::new();
        for j in 0..1000 {
            let i = chunk * 1000 + j;
            ids.push(wb.insert(memory(
                &texts[i % 1000],
                i % users,
                vecs[(i * 7) % 1000].clone(),
            )));
        }
        store.commit(wb).expect("commit");
    }
    drop(store);
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "store file: {bytes} bytes for {n} memories = {:.0} bytes/memory (raw vector 1536 B + text 100 B)",
        bytes as f64 / n as f64
    );
    let dir_out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/criterion");
    let _ = std::fs::create_dir_all(&dir_out);
    let _ = std::fs::write(
        dir_out.join("store-size.json"),
        format!(
            r#"{{"memories": {n}, "file_bytes": {bytes}, "bytes_per_memory": {}}}"#,
            bytes as f64 / n as f64
        ),
    );
    let store = Store::open(&path, StoreConfig::new("bench", DIMS as u32)).expect("reopen");

    let mut g = c.benchmark_group("store/read_100k");
    g.sample_size(50).measurement_time(Duration::from_secs(5));
    let mut k = 0usize;
    g.bench_function("get", |b| {
        b.iter(|| {
            k = (k + 7919) % n;
            store.get(ids[k]).expect("get").expect("present")
        })
    });
    let page = ListOptions {
        cursor: None,
        limit: Some(20),
    };
    let mut u = 0usize;
    g.bench_function("list_scope_first_20", |b| {
        b.iter(|| {
            u = (u + 1) % users;
            store
                .list(&Scope::user(format!("user{u}")), None, &page)
                .expect("list")
        })
    });
    let f = filter::parse(&json!({"AND": [{"topic": "food"}, {"n": {"gte": 4}}]})).expect("filter");
    g.bench_function("list_scope_filtered_first_20", |b| {
        b.iter(|| {
            u = (u + 4) % users;
            store
                .list(&Scope::user(format!("user{u}")), Some(&f), &page)
                .expect("list")
        })
    });
    g.bench_function("keyword_search_top10", |b| {
        b.iter(|| {
            u = (u + 1) % users;
            store
                .keyword_search(
                    &Scope::user(format!("user{u}")),
                    None,
                    "green tea lisbon",
                    10,
                )
                .expect("search")
        })
    });
    g.finish();
}

criterion_group!(benches, commit, reads_at_100k);
criterion_main!(benches);
