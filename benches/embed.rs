//! Embedding throughput (MiniLM-L6-v2 on Candle) at batch 1, 8 and 32 for
//! short and ~128-token texts, and the machine's sgemm rate, so embedding
//! throughput can be stated as a fraction of the FLOP limit
//! (`python3 scripts/bench-report`).

use candle_core::{Device, Tensor};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use memlayer_benches::{long_texts, short_texts};
use memlayer_models::{BertEmbedder, CachedModel, Embedder, EmbedderConfig};

fn embed(c: &mut Criterion) {
    let e = BertEmbedder::load_dir(
        &memlayer_tests::require(CachedModel::MINILM_L6_V2),
        &EmbedderConfig::default(),
    )
    .expect("load MiniLM");
    let short = short_texts(32);
    let long = long_texts(32, 100);
    let tokens = |ts: &[String]| {
        ts.iter()
            .map(|t| e.token_count(t).unwrap_or(0))
            .sum::<usize>() as f64
            / ts.len() as f64
    };
    let (ts, tl) = (tokens(&short), tokens(&long));
    eprintln!("mean tokens per text: short {ts:.1}, long {tl:.1}");
    // Sidecar for scripts/bench-report: token counts turn texts/s into FLOP/s.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/criterion");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(
        dir.join("embed-workload.json"),
        format!(
            r#"{{"short": {ts}, "long128": {tl}, "hidden": 384, "intermediate": 1536, "layers": 6}}"#
        ),
    );
    let mut g = c.benchmark_group("embed");
    g.sample_size(20);
    for (kind, texts) in [("short", &short), ("long128", &long)] {
        for batch in [1usize, 8, 32] {
            let refs: Vec<&str> = texts[..batch].iter().map(String::as_str).collect();
            g.throughput(Throughput::Elements(batch as u64));
            g.bench_with_input(BenchmarkId::new(kind, batch), &refs, |b, refs| {
                b.iter(|| e.embed_batch(refs).expect("embed"))
            });
        }
    }
    g.finish();
}

/// f32 matmul of (4096 × 384) · (384 × 1536): the shape of MiniLM's
/// feed-forward layer over 32 texts of 128 tokens. Throughput is FLOPs.
fn sgemm(c: &mut Criterion) {
    let (m, k, n) = (4096usize, 384usize, 1536usize);
    let a = Tensor::randn(0f32, 1.0, (m, k), &Device::Cpu).expect("a");
    let b = Tensor::randn(0f32, 1.0, (k, n), &Device::Cpu).expect("b");
    let mut g = c.benchmark_group("sgemm");
    g.sample_size(30);
    g.throughput(Throughput::Elements((2 * m * k * n) as u64));
    g.bench_function("4096x384x1536", |bch| {
        bch.iter(|| a.matmul(&b).expect("matmul"))
    });
    g.finish();
}

criterion_group!(benches, embed, sgemm);
criterion_main!(benches);
