//! CI recall tests on a shared 10k × 64-d clustered data set (built once
//! with the parallel batch build).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::sync::OnceLock;

use common::{Rng, clustered, exact, recall};
use memlayer_index::{AllowSet, FlatIndex, HnswIndex, HnswParams, Metric, SearchPlan};

const N: usize = 10_000;
const DIMS: usize = 64;
const NQ: usize = 200;
const K: usize = 10;
const EF: usize = 64;

struct Fixture {
    data: Vec<f32>,
    queries: Vec<f32>,
    hnsw: HnswIndex,
    flat: FlatIndex,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let data = clustered(N + NQ, DIMS, 50, 7);
        let (data, queries) = data.split_at(N * DIMS);
        let params = HnswParams {
            m: 16,
            ef_construction: 100,
            ..HnswParams::default()
        };
        let hnsw = HnswIndex::new(DIMS, Metric::Cosine, params).unwrap();
        let ids: Vec<u64> = (0..N as u64).collect();
        let t = std::time::Instant::now();
        hnsw.insert_batch(&ids, data).unwrap();
        eprintln!("parallel build {N}x{DIMS}: {:?}", t.elapsed());
        hnsw.check_reachability().unwrap();
        let flat = FlatIndex::new(DIMS, Metric::Cosine).unwrap();
        for (i, v) in data.chunks_exact(DIMS).enumerate() {
            flat.insert(i as u64, v).unwrap();
        }
        Fixture {
            data: data.to_vec(),
            queries: queries.to_vec(),
            hnsw,
            flat,
        }
    })
}

#[test]
fn recall_at_10_vs_exact_at_fixed_ef() {
    let f = fixture();
    let truth = exact(&f.flat, &f.queries, DIMS, K, None);
    let got: Vec<_> = f
        .queries
        .chunks_exact(DIMS)
        .map(|q| f.hnsw.search_ef(q, K, EF, None).unwrap())
        .collect();
    let r = recall(&got, &truth);
    eprintln!("recall@10 (ef={EF}) = {r:.4}");
    assert!(r >= 0.95, "recall@10 {r}");
    for g in &got {
        assert_eq!(g.len(), K);
        assert!(g.windows(2).all(|w| w[0].1 <= w[1].1));
    }
}

#[test]
fn every_point_finds_itself_after_parallel_build() {
    let f = fixture();
    let mut misses = Vec::new();
    for (i, v) in f.data.chunks_exact(DIMS).enumerate() {
        let r = f.hnsw.search_ef(v, 1, EF, None).unwrap();
        if r.first().map(|x| x.0) != Some(i as u64) {
            misses.push(i);
        }
    }
    for &i in &misses {
        let v = &f.data[i * DIMS..(i + 1) * DIMS];
        let r = f.hnsw.search_ef(v, 10, 500, None).unwrap();
        eprintln!("miss {i}: ef=500 top {:?}", &r[..3]);
    }
    assert!(
        misses.is_empty(),
        "{} points not found as their own top-1: {:?}",
        misses.len(),
        &misses[..misses.len().min(10)]
    );
}

#[test]
fn filtered_recall_at_1_10_50_percent() {
    let f = fixture();
    for pct in [1usize, 10, 50] {
        let mut r = Rng(1000 + pct as u64);
        let allow = AllowSet::from_ids((0..N as u64).filter(|_| r.below(100) < pct));
        let truth = exact(&f.flat, &f.queries, DIMS, K, Some(&allow));
        // Planner defaults.
        f.hnsw
            .set_search_params(EF, HnswParams::default().exact_filter_threshold, 1.0)
            .unwrap();
        let mut plans = Vec::new();
        let got: Vec<_> = f
            .queries
            .chunks_exact(DIMS)
            .map(|q| {
                let (res, st) = f.hnsw.search_with_stats(q, K, EF, Some(&allow)).unwrap();
                plans.push(st.plan);
                res
            })
            .collect();
        for g in &got {
            assert!(g.iter().all(|(id, _)| allow.contains(*id)));
        }
        let r_plan = recall(&got, &truth);
        // Graph path forced (no exact threshold, no fallback).
        f.hnsw.set_search_params(EF, 0, 1e9).unwrap();
        let mut evals = 0usize;
        let got: Vec<_> = f
            .queries
            .chunks_exact(DIMS)
            .map(|q| {
                let (res, st) = f.hnsw.search_with_stats(q, K, EF, Some(&allow)).unwrap();
                assert_eq!(st.plan, SearchPlan::Graph);
                evals += st.distance_evals;
                res
            })
            .collect();
        let r_graph = recall(&got, &truth);
        let exact_n = plans.iter().filter(|p| **p != SearchPlan::Graph).count();
        eprintln!(
            "selectivity {pct}% (|allowed|={}): planner recall {r_plan:.4} ({exact_n}/{NQ} exact), \
             graph-only recall {r_graph:.4}, {:.0} distance evals/query",
            allow.len(),
            evals as f64 / NQ as f64
        );
        assert!(r_plan >= 0.95, "planner recall at {pct}%: {r_plan}");
        assert!(r_graph >= 0.95, "graph recall at {pct}%: {r_graph}");
    }
    f.hnsw
        .set_search_params(EF, HnswParams::default().exact_filter_threshold, 1.0)
        .unwrap();
}

#[test]
fn churn_delete_20_percent_and_reinsert() {
    let n = 5_000;
    let data = clustered(n + NQ, DIMS, 25, 99);
    let (data, queries) = data.split_at(n * DIMS);
    let params = HnswParams {
        m: 16,
        ef_construction: 100,
        max_tombstone_ratio: 1.0,
        ..HnswParams::default()
    };
    let hnsw = HnswIndex::new(DIMS, Metric::Cosine, params).unwrap();
    let ids: Vec<u64> = (0..n as u64).collect();
    hnsw.insert_batch(&ids, data).unwrap();
    hnsw.check_reachability().unwrap();
    let flat = FlatIndex::new(DIMS, Metric::Cosine).unwrap();
    for (i, v) in data.chunks_exact(DIMS).enumerate() {
        flat.insert(i as u64, v).unwrap();
    }
    let truth = exact(&flat, queries, DIMS, K, None);
    let run = |h: &HnswIndex| {
        let got: Vec<_> = queries
            .chunks_exact(DIMS)
            .map(|q| h.search_ef(q, K, EF, None).unwrap())
            .collect();
        recall(&got, &truth)
    };
    let before = run(&hnsw);
    let mut r = Rng(5);
    let victims: Vec<u64> = (0..n as u64).filter(|_| r.below(5) == 0).collect();
    for &id in &victims {
        assert!(hnsw.delete(id).unwrap());
    }
    hnsw.check_reachability().unwrap();
    // While deleted, victims must never be returned.
    for q in queries.chunks_exact(DIMS) {
        for (id, _) in hnsw.search_ef(q, K, EF, None).unwrap() {
            assert!(victims.binary_search(&id).is_err());
        }
    }
    for &id in &victims {
        let i = id as usize;
        hnsw.insert(id, &data[i * DIMS..(i + 1) * DIMS]).unwrap();
    }
    hnsw.check_invariants().unwrap();
    let after = run(&hnsw);
    let tombstones = hnsw.deleted_count();
    hnsw.compact().unwrap();
    hnsw.check_reachability().unwrap();
    let compacted = run(&hnsw);
    eprintln!(
        "churn: recall before {before:.4}, after delete+reinsert of {} ({tombstones} tombstones) {after:.4} \
         (loss {:.4}), after compaction {compacted:.4}",
        victims.len(),
        before - after
    );
    assert_eq!(hnsw.deleted_count(), 0);
    assert_eq!(hnsw.len(), n);
    assert!(before - after <= 0.01, "recall loss {}", before - after);
    assert!(before - compacted <= 0.01);
}

/// Timing smoke test (not a benchmark): `cargo test --release -- --ignored perf_smoke --nocapture`.
#[test]
#[ignore]
fn perf_smoke() {
    let f = fixture();
    let nq = f.queries.len() / DIMS;
    for ef in [16, 32, 64, 128] {
        let t = std::time::Instant::now();
        let mut got = Vec::new();
        for _ in 0..5 {
            got = f
                .queries
                .chunks_exact(DIMS)
                .map(|q| f.hnsw.search_ef(q, K, ef, None).unwrap())
                .collect::<Vec<_>>();
        }
        let qps = (5 * nq) as f64 / t.elapsed().as_secs_f64();
        let truth = exact(&f.flat, &f.queries, DIMS, K, None);
        eprintln!(
            "ef={ef}: recall {:.4}, {qps:.0} QPS single-thread",
            recall(&got, &truth)
        );
    }
    let t = std::time::Instant::now();
    let _ = exact(&f.flat, &f.queries, DIMS, K, None);
    eprintln!(
        "exact scan: {:.0} QPS",
        nq as f64 / t.elapsed().as_secs_f64()
    );
    let bytes = f.hnsw.to_bytes(0);
    let t = std::time::Instant::now();
    let _ = HnswIndex::load_from_bytes(&bytes).unwrap();
    eprintln!(
        "load {} MB from memory: {:?}",
        bytes.len() >> 20,
        t.elapsed()
    );
}
