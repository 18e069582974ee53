//! Query-embedding latency of the default embedder (MiniLM-L6-v2), with a
//! text's pass on one thread and on two (the default: a helper thread
//! computes half of each layer's weights), by query length: p50 / p95 of `Embedder::embed` (tokenizing + the single-text
//! fast path) for queries of exactly 6, 8, 10, 12, 16 and 32 tokens ([CLS] and [SEP]
//! included), and of tokenizing alone; then `embed_batch` throughput on
//! 32 texts of 16 and of 128 tokens, in texts/s and in GFLOP/s of the
//! encoder's matrix products (2 · 10.6 M multiply-adds per token for
//! MiniLM-L6), to compare with the machine's sgemm rate
//! (`cargo bench -p memlayer-benches --bench embed -- sgemm`).
//!
//! ```text
//! cargo run --release -p memlayer-tests --bin embed-latency [-- ROUNDS [queries]]
//! ```
//!
//! With `queries`, only the default configuration's query table runs (for
//! profiling the single-text path). With `bandwidth`, it prints instead
//! the rate at which one and two threads read a buffer over and over, by
//! buffer size: where it falls is the cache this machine really gives a
//! process, against the encoder's ~21 MB of weights read once per query.

use std::time::Instant;

use memlayer_models::{BertEmbedder, CachedModel, Embedder, EmbedderConfig};

const WORDS: &[&str] = &[
    "what", "did", "caroline", "paint", "after", "the", "trip", "to", "lisbon", "last", "summer",
    "with", "her", "sister", "and", "which", "colours", "she", "chose", "for", "sunrise", "over",
    "lake", "near", "old", "house", "where", "they", "grew", "up", "as", "children", "before",
    "moving", "city",
];

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// A query of exactly `tokens` tokens, varied by `seed` (so no cache of
/// any kind sees a repeat).
fn query(e: &BertEmbedder, tokens: usize, seed: usize) -> String {
    let mut words: Vec<&str> = Vec::new();
    let mut i = seed;
    loop {
        words.push(WORDS[i % WORDS.len()]);
        i = i.wrapping_mul(31).wrapping_add(7);
        let q = words.join(" ");
        match e.token_count(&q) {
            Ok(n) if n == tokens => return q,
            Ok(n) if n > tokens => {
                words.pop();
            }
            _ => {}
        }
        if words.len() > tokens {
            words.clear();
            i = i.wrapping_add(1);
        }
    }
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(400);
    let mode = std::env::args().nth(2);
    if mode.as_deref() == Some("bandwidth") {
        bandwidth();
        return;
    }
    let queries_only = mode.as_deref() == Some("queries");
    let dir = memlayer_tests::require(CachedModel::MINILM_L6_V2);
    let split = BertEmbedder::load_dir(&dir, &EmbedderConfig::default()).expect("load MiniLM");
    let one = BertEmbedder::load_dir(
        &dir,
        &EmbedderConfig {
            one_thread: true,
            ..EmbedderConfig::default()
        },
    )
    .expect("load MiniLM");
    if queries_only {
        run(&split, rounds, false);
        return;
    }
    for (name, e) in [("one thread", &one), ("two threads (default)", &split)] {
        println!("\n## {name}");
        run(e, rounds, true);
    }
}

fn run(e: &BertEmbedder, rounds: usize, batches: bool) {
    println!(
        "fast path: {}, cores: {}",
        e.has_fast_path(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("| tokens | embed p50 ms | embed p95 ms | tokenize p50 ms |");
    println!("|---|---|---|---|");
    for tokens in [6usize, 8, 10, 12, 16, 32] {
        let qs: Vec<String> = (0..rounds).map(|s| query(e, tokens, s)).collect();
        for q in qs.iter().take(20) {
            e.embed(q).expect("embed");
        }
        let (mut emb, mut tok) = (Vec::new(), Vec::new());
        for q in &qs {
            let t = Instant::now();
            e.token_count(q).expect("tokenize");
            tok.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            std::hint::black_box(e.embed(q).expect("embed"));
            emb.push(t.elapsed().as_secs_f64() * 1e3);
        }
        println!(
            "| {tokens} | {:.2} | {:.2} | {:.3} |",
            pct(&mut emb, 0.5),
            pct(&mut emb, 0.95),
            pct(&mut tok, 0.5)
        );
    }
    if !batches {
        return;
    }
    // MiniLM-L6: hidden 384, intermediate 1536, 6 layers.
    let (h, i, layers) = (384.0, 1536.0, 6.0);
    let flop_per_token = 2.0 * layers * (4.0 * h * h + 2.0 * h * i);
    println!("\n| batch of 32 | texts/s | GFLOP/s |");
    println!("|---|---|---|");
    for tokens in [16usize, 128] {
        let texts: Vec<String> = (0..32).map(|s| query(e, tokens, 1000 + s)).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        e.embed_batch(&refs).expect("embed");
        let reps = (rounds / 20).max(3);
        let mut rates = Vec::new();
        for _ in 0..reps {
            let t = Instant::now();
            std::hint::black_box(e.embed_batch(&refs).expect("embed"));
            rates.push(32.0 / t.elapsed().as_secs_f64());
        }
        let rate = pct(&mut rates, 0.5);
        println!(
            "| {tokens} tokens | {rate:.0} | {:.1} |",
            rate * tokens as f64 * flop_per_token / 1e9
        );
    }
}

/// Read bandwidth (GB/s per thread, median of 15 passes) over buffers of
/// growing size, one thread then two threads with a buffer each.
fn bandwidth() {
    println!("| MB per thread | one thread GB/s | two threads GB/s each |");
    println!("|---|---|---|");
    for mb in [1usize, 4, 8, 12, 16, 21, 32, 64] {
        let rate = |threads: usize| -> Vec<f64> {
            std::thread::scope(|s| {
                let hs: Vec<_> = (0..threads)
                    .map(|t| {
                        s.spawn(move || {
                            let words: Vec<u64> =
                                (0..(mb << 20) / 8).map(|i| (i + t) as u64).collect();
                            let mut rates: Vec<f64> = (0..15)
                                .map(|_| {
                                    let start = Instant::now();
                                    // Eight lanes: the sum vectorises.
                                    let mut acc = [0u64; 8];
                                    for c in words.chunks_exact(8) {
                                        for l in 0..8 {
                                            acc[l] = acc[l].wrapping_add(c[l]);
                                        }
                                    }
                                    std::hint::black_box(acc);
                                    (mb << 20) as f64 / start.elapsed().as_secs_f64() / 1e9
                                })
                                .collect();
                            pct(&mut rates, 0.5)
                        })
                    })
                    .collect();
                hs.into_iter()
                    .map(|h| h.join().expect("reader thread"))
                    .collect()
            })
        };
        let (one, two) = (rate(1), rate(2));
        println!("| {mb} | {:.1} | {:.1} / {:.1} |", one[0], two[0], two[1]);
    }
}
