//! memlayer-index: search latency (unfiltered and 10%-filtered), single
//! insert, snapshot serialise and load, on 20k random 384-d unit vectors
//! (MiniLM's shape). Single-threaded searches; the batch build uses rayon.
//!
//! `cargo bench -p memlayer-benches --bench index`. The peer comparison on
//! real data is `benches/peers/ann_peers.py` (see docs/benchmarks.md).

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use memlayer_benches::random_unit_vectors;
use memlayer_index::{AllowSet, HnswIndex, HnswParams, Metric};

const DIMS: usize = 384;
const N: usize = 20_000;

fn build() -> (HnswIndex, Vec<Vec<f32>>) {
    let data = random_unit_vectors(N, DIMS, 11);
    let flat: Vec<f32> = data.iter().flatten().copied().collect();
    let ids: Vec<u64> = (0..N as u64).collect();
    let idx = HnswIndex::new(DIMS, Metric::Cosine, HnswParams::default()).expect("index");
    idx.insert_batch(&ids, &flat).expect("build");
    (idx, random_unit_vectors(256, DIMS, 12))
}

fn index(c: &mut Criterion) {
    let (idx, queries) = build();
    let mut g = c.benchmark_group("index/search_20k_384d");
    g.sample_size(30).measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(1));
    for ef in [32usize, 64, 128] {
        let mut i = 0;
        g.bench_function(BenchmarkId::new("unfiltered_k10", ef), |b| {
            b.iter(|| {
                i += 1;
                idx.search_ef(&queries[i % queries.len()], 10, ef, None)
                    .expect("search")
            })
        });
    }
    let scope = AllowSet::from_ids((0..N as u64).filter(|i| i % 10 == 3));
    let mut i = 0;
    g.bench_function("filtered_10pct_k10_ef64", |b| {
        b.iter(|| {
            i += 1;
            idx.search_ef(&queries[i % queries.len()], 10, 64, Some(&scope))
                .expect("search")
        })
    });
    g.finish();

    let mut g = c.benchmark_group("index/write_20k_384d");
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    let extra = random_unit_vectors(4096, DIMS, 13);
    let mut next = N as u64;
    g.bench_function("insert_one", |b| {
        b.iter(|| {
            let v = &extra[next as usize % extra.len()];
            idx.insert(next, v).expect("insert");
            next += 1;
        })
    });
    let bytes = idx.to_bytes(1);
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("snapshot_to_bytes", |b| b.iter(|| idx.to_bytes(1)));
    g.bench_function("snapshot_load_from_bytes", |b| {
        b.iter(|| HnswIndex::load_from_bytes(&bytes).expect("load"))
    });
    g.finish();
}

criterion_group!(benches, index);
criterion_main!(benches);
