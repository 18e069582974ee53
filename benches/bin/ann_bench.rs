//! ANN benchmark driver for memlayer-index (and hnsw_rs as a baseline).
//!
//! Data comes from `benches/ann/prepare.py` (`base.fbin`, `query.fbin`,
//! `gt.ibin`, `meta.json` under `~/.cache/memlayer/bench-data/<name>/`).
//!
//! ```text
//! ann-bench worker   --engine ours|hnsw_rs --data DIR [--m 16] [--efc 200] [--queries N]
//!                    [--cache FILE]   (ours: load the graph from FILE, or build and save it)
//! ann-bench filtered --data DIR [--queries N] [--labels]
//! ann-bench churn    --data DIR [--queries N] [--ef 64]
//! ann-bench snapshot --data DIR
//! ann-bench embed-minilm --out DIR [--n 100000] [--queries 1000]
//! ```
//!
//! `worker` speaks JSON lines on stdin/stdout so `benches/peers/ann_peers.py`
//! can interleave it with the Python peers: commands `build`, `search EF K`,
//! `size`, `quit`; every reply is one JSON object. Everything runs on one
//! thread (rayon's global pool is pinned to 1) unless stated otherwise.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use memlayer_index::{AllowSet, FlatIndex, HnswIndex, HnswParams, Metric, SearchPlan};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Row-major f32 matrix.
struct Mat {
    n: usize,
    d: usize,
    v: Vec<f32>,
}

impl Mat {
    fn row(&self, i: usize) -> &[f32] {
        &self.v[i * self.d..(i + 1) * self.d]
    }
}

fn read_header(b: &[u8]) -> Res<(usize, usize)> {
    if b.len() < 8 {
        return Err("file too short".into());
    }
    let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let d = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
    if b.len() != 8 + n * d * 4 {
        return Err(format!("size mismatch: {n}x{d} vs {} bytes", b.len()).into());
    }
    Ok((n, d))
}

fn read_fbin(p: &Path) -> Res<Mat> {
    let b = fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
    let (n, d) = read_header(&b)?;
    let v = b[8..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(Mat { n, d, v })
}

fn read_ibin(p: &Path) -> Res<(usize, usize, Vec<u32>)> {
    let b = fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
    let (n, d) = read_header(&b)?;
    let v = b[8..]
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok((n, d, v))
}

fn write_fbin(p: &Path, n: usize, d: usize, v: &[f32]) -> Res<()> {
    let mut b = Vec::with_capacity(8 + v.len() * 4);
    b.extend_from_slice(&(n as u32).to_le_bytes());
    b.extend_from_slice(&(d as u32).to_le_bytes());
    for x in v {
        b.extend_from_slice(&x.to_le_bytes());
    }
    fs::write(p, b)?;
    Ok(())
}

struct Data {
    base: Mat,
    query: Mat,
    /// Exact neighbours (indices into `base`), `gt_k` per query.
    gt: Vec<u32>,
    gt_k: usize,
    metric: Metric,
    name: String,
}

fn load_data(dir: &Path, max_queries: usize) -> Res<Data> {
    let meta = fs::read_to_string(dir.join("meta.json"))?;
    let meta: serde_json::Value = serde_json::from_str(&meta)?;
    let metric = match meta["metric"].as_str() {
        Some("cosine") | Some("angular") => Metric::Cosine,
        Some("l2") | Some("euclidean") => Metric::L2,
        Some("dot") => Metric::Dot,
        other => return Err(format!("unknown metric {other:?}").into()),
    };
    let base = read_fbin(&dir.join("base.fbin"))?;
    let mut query = read_fbin(&dir.join("query.fbin"))?;
    let (gn, gt_k, mut gt) = read_ibin(&dir.join("gt.ibin"))?;
    if gn != query.n || base.d != query.d {
        return Err("ground truth / query shape mismatch".into());
    }
    let nq = max_queries.min(query.n);
    query.v.truncate(nq * query.d);
    query.n = nq;
    gt.truncate(nq * gt_k);
    Ok(Data {
        base,
        query,
        gt,
        gt_k,
        metric,
        name: meta["name"].as_str().unwrap_or("?").to_string(),
    })
}

/// Peak and current resident set size in kB (Linux `/proc/self/status`).
fn rss_kb() -> (u64, u64) {
    let s = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let get = |key: &str| {
        s.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|x| x.parse().ok())
            .unwrap_or(0)
    };
    (get("VmHWM:"), get("VmRSS:"))
}

fn recall_at(found: &[Vec<u32>], gt: &[u32], gt_k: usize, k: usize) -> f64 {
    let mut hit = 0usize;
    for (qi, f) in found.iter().enumerate() {
        let truth = &gt[qi * gt_k..qi * gt_k + k.min(gt_k)];
        hit += f.iter().take(k).filter(|id| truth.contains(id)).count();
    }
    hit as f64 / (found.len() * k.min(gt_k)).max(1) as f64
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs `f` for every query, timing each call; returns the JSON summary.
fn timed_queries(
    data: &Data,
    k: usize,
    mut f: impl FnMut(&[f32]) -> Vec<u32>,
) -> (serde_json::Value, Vec<Vec<u32>>) {
    let mut lat = Vec::with_capacity(data.query.n);
    let mut found = Vec::with_capacity(data.query.n);
    let t0 = Instant::now();
    for qi in 0..data.query.n {
        let t = Instant::now();
        let r = f(data.query.row(qi));
        lat.push(t.elapsed().as_secs_f64() * 1e6);
        found.push(r);
    }
    let total = t0.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    let v = serde_json::json!({
        "qps": data.query.n as f64 / total,
        "p50_us": percentile(&lat, 0.5),
        "p99_us": percentile(&lat, 0.99),
        "recall": recall_at(&found, &data.gt, data.gt_k, k),
        "queries": data.query.n,
    });
    (v, found)
}

/// Normalised copy (for L2-on-unit-vectors = cosine ranking in hnsw_rs).
fn normalised(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-30);
    v.iter().map(|x| x / n).collect()
}

enum Engine {
    None,
    Ours(Box<HnswIndex>),
    HnswRs(Box<hnsw_rs::hnsw::Hnsw<'static, f32, hnsw_rs::prelude::DistL2>>),
}

fn params(m: usize, efc: usize) -> HnswParams {
    HnswParams {
        m,
        ef_construction: efc,
        ..HnswParams::default()
    }
}

fn build_ours(data: &Data, m: usize, efc: usize) -> Res<HnswIndex> {
    let idx = HnswIndex::new(data.base.d, data.metric, params(m, efc))?;
    let ids: Vec<u64> = (0..data.base.n as u64).collect();
    idx.insert_batch(&ids, &data.base.v)?;
    Ok(idx)
}

fn worker(args: &Args) -> Res<()> {
    pin_one_thread();
    let data = load_data(&args.data()?, args.num("queries", usize::MAX))?;
    let engine_name = args.get("engine").unwrap_or("ours").to_string();
    let (m, efc) = (args.num("m", 16), args.num("efc", 200));
    // hnsw_rs gets unit vectors and L2 for the cosine datasets (same ranking;
    // its DistDot asserts on rounding).
    let cosine = data.metric == Metric::Cosine;
    let prep = |v: &[f32]| if cosine { normalised(v) } else { v.to_vec() };
    let mut engine = Engine::None;
    let out = std::io::stdout();
    let say = |v: serde_json::Value| -> Res<()> {
        let mut o = out.lock();
        writeln!(o, "{v}")?;
        o.flush()?;
        Ok(())
    };
    let (hwm, rss) = rss_kb();
    say(
        serde_json::json!({"event": "loaded", "engine": engine_name, "dataset": data.name,
        "n": data.base.n, "dims": data.base.d, "queries": data.query.n,
        "peak_rss_kb": hwm, "rss_kb": rss,
        "kernels": memlayer_index::distance::kernels().name}),
    )?;
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let line = line?;
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["build"] => {
                let t = Instant::now();
                engine = match engine_name.as_str() {
                    "ours" => Engine::Ours(Box::new(match args.get("cache") {
                        // Tuning loop only: reuse a saved graph so search
                        // changes can be timed without a rebuild.
                        Some(p) if Path::new(p).exists() => HnswIndex::load(p)?.0,
                        Some(p) => {
                            let idx = build_ours(&data, m, efc)?;
                            idx.save(p, 0)?;
                            idx
                        }
                        None => build_ours(&data, m, efc)?,
                    })),
                    "hnsw_rs" => {
                        let h = hnsw_rs::hnsw::Hnsw::<f32, hnsw_rs::prelude::DistL2>::new(
                            m,
                            data.base.n,
                            16,
                            efc,
                            hnsw_rs::prelude::DistL2 {},
                        );
                        for i in 0..data.base.n {
                            h.insert_slice((&prep(data.base.row(i)), i));
                        }
                        Engine::HnswRs(Box::new(h))
                    }
                    other => return Err(format!("unknown engine {other}").into()),
                };
                let (hwm, rss) = rss_kb();
                say(
                    serde_json::json!({"event": "built", "build_s": t.elapsed().as_secs_f64(),
                    "peak_rss_kb": hwm, "rss_kb": rss}),
                )?;
            }
            ["search", ef, k] => {
                let (ef, k): (usize, usize) = (ef.parse()?, k.parse()?);
                let (mut v, _) = match &engine {
                    Engine::Ours(idx) => timed_queries(&data, k, |q| {
                        idx.search_ef(q, k, ef, None)
                            .unwrap_or_default()
                            .into_iter()
                            .map(|(id, _)| id as u32)
                            .collect()
                    }),
                    Engine::HnswRs(h) => {
                        let qs: Vec<Vec<f32>> =
                            (0..data.query.n).map(|i| prep(data.query.row(i))).collect();
                        let mut i = 0;
                        timed_queries(&data, k, |_| {
                            let r = h.search(&qs[i], k, ef);
                            i += 1;
                            r.into_iter().map(|n| n.d_id as u32).collect()
                        })
                    }
                    Engine::None => return Err("search before build".into()),
                };
                v["event"] = "search".into();
                v["ef"] = ef.into();
                say(v)?;
            }
            ["size"] => {
                let dir = std::env::temp_dir().join(format!("ann-bench-{}", std::process::id()));
                fs::create_dir_all(&dir)?;
                let bytes: u64 = match &engine {
                    Engine::Ours(idx) => {
                        let p = dir.join("index.hnsw");
                        idx.save(&p, 0)?;
                        fs::metadata(&p)?.len()
                    }
                    Engine::HnswRs(h) => {
                        use hnsw_rs::prelude::AnnT;
                        h.file_dump(&dir, "peer")
                            .map_err(|e| format!("hnsw_rs dump: {e}"))?;
                        fs::read_dir(&dir)?
                            .filter_map(|e| e.ok()?.metadata().ok())
                            .map(|m| m.len())
                            .sum()
                    }
                    Engine::None => 0,
                };
                let _ = fs::remove_dir_all(&dir);
                say(serde_json::json!({"event": "size", "bytes": bytes}))?;
            }
            ["quit"] => {
                let (hwm, rss) = rss_kb();
                say(serde_json::json!({"event": "quit", "peak_rss_kb": hwm, "rss_kb": rss}))?;
                break;
            }
            _ => say(serde_json::json!({"event": "error", "line": line}))?,
        }
    }
    Ok(())
}

fn pin_one_thread() {
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global();
}

/// Deterministic 64-bit hash (splitmix64) for synthetic tags.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Synthetic user tag: point `i` belongs to the `pct`% scope `s`
/// (independent of its content).
fn in_scope(i: usize, pct: u64, salt: u64) -> bool {
    mix(i as u64 ^ salt.wrapping_mul(0x1234_5678_9abc_def1)) % 100 < pct
}

fn exact_truth(
    flat: &FlatIndex,
    data: &Data,
    k: usize,
    filters: &[AllowSet],
) -> Res<Vec<Vec<u32>>> {
    (0..data.query.n)
        .map(|qi| {
            Ok(flat
                .search(data.query.row(qi), k, Some(&filters[qi % filters.len()]))?
                .into_iter()
                .map(|(id, _)| id as u32)
                .collect())
        })
        .collect()
}

fn filtered_run(
    idx: &HnswIndex,
    data: &Data,
    k: usize,
    ef: usize,
    filters: &[AllowSet],
    truth: &[Vec<u32>],
) -> Res<serde_json::Value> {
    let mut lat = Vec::new();
    let mut hit = 0usize;
    let mut total = 0usize;
    let mut plans: HashMap<&'static str, usize> = HashMap::new();
    let mut evals = 0usize;
    let t0 = Instant::now();
    for qi in 0..data.query.n {
        let f = &filters[qi % filters.len()];
        let t = Instant::now();
        let (r, st) = idx.search_with_stats(data.query.row(qi), k, ef, Some(f))?;
        lat.push(t.elapsed().as_secs_f64() * 1e6);
        let tr = &truth[qi];
        hit += r
            .iter()
            .filter(|(id, _)| tr.contains(&(*id as u32)))
            .count();
        total += tr.len();
        evals += st.distance_evals;
        *plans
            .entry(match st.plan {
                SearchPlan::Graph => "graph",
                SearchPlan::Exact => "exact",
                SearchPlan::GraphThenExact => "graph_then_exact",
            })
            .or_default() += 1;
    }
    let secs = t0.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    Ok(serde_json::json!({
        "ef": ef,
        "qps": data.query.n as f64 / secs,
        "p50_us": percentile(&lat, 0.5),
        "p99_us": percentile(&lat, 0.99),
        "recall": hit as f64 / total.max(1) as f64,
        "mean_distance_evals": evals as f64 / data.query.n as f64,
        "plans": plans,
    }))
}

/// Filtered search: graph vs exact scan of the allowed set at several
/// selectivities, plus the planner crossover (allowed-set size sweep).
fn filtered(args: &Args) -> Res<()> {
    pin_one_thread();
    let data = load_data(&args.data()?, args.num("queries", 1000))?;
    let k = 10;
    let t = Instant::now();
    let idx = build_ours(&data, args.num("m", 16), args.num("efc", 200))?;
    eprintln!("built {} in {:.1}s", data.name, t.elapsed().as_secs_f64());
    let flat = FlatIndex::new(data.base.d, data.metric)?;
    for i in 0..data.base.n {
        flat.insert(i as u64, data.base.row(i))?;
    }
    let n = data.base.n;
    // Scopes: `--labels` uses labels.u8 (one class = a scope), else
    // synthetic tags at 1/10/50%. 16 scopes per selectivity, round robin.
    let mut cases: Vec<(String, Vec<AllowSet>)> = Vec::new();
    let labels_path = args.data()?.join("labels.u8");
    if args.flag("labels") {
        let labels = fs::read(&labels_path)?;
        let sets: Vec<AllowSet> = (0..10u8)
            .map(|c| AllowSet::from_ids((0..n).filter(|&i| labels[i] == c).map(|i| i as u64)))
            .collect();
        cases.push(("label (10%)".into(), sets));
    }
    for pct in [1u64, 10, 50] {
        let sets = (0..16)
            .map(|s| AllowSet::from_ids((0..n).filter(|&i| in_scope(i, pct, s)).map(|i| i as u64)))
            .collect();
        cases.push((format!("tags {pct}%"), sets));
    }
    for (name, sets) in &cases {
        let mean = sets.iter().map(AllowSet::len).sum::<usize>() as f64 / sets.len() as f64;
        let truth = exact_truth(&flat, &data, k, sets)?;
        // Exact scan of the allowed set (planner forced to exact).
        idx.set_search_params(64, usize::MAX, 1.0)?;
        let exact = filtered_run(&idx, &data, k, 64, sets, &truth)?;
        println!(
            "{}",
            serde_json::json!({"event": "filtered", "dataset": data.name, "case": name,
                "allowed_mean": mean, "mode": "exact", "result": exact})
        );
        // Graph only (no small-set shortcut), then the default planner.
        for (mode, thr) in [
            ("graph", 0usize),
            ("planner", HnswParams::default().exact_filter_threshold),
        ] {
            idx.set_search_params(64, thr, HnswParams::default().filter_fallback_factor)?;
            for ef in [32, 64, 128, 256] {
                let r = filtered_run(&idx, &data, k, ef, sets, &truth)?;
                println!(
                    "{}",
                    serde_json::json!({"event": "filtered", "dataset": data.name, "case": name,
                        "allowed_mean": mean, "mode": mode, "result": r})
                );
            }
        }
    }
    // Crossover: random allowed sets of size s; exact scan vs graph at the
    // smallest ef in the sweep that reaches recall@10 >= 0.95.
    let mut rng = 0x5eed_u64;
    for s in [256usize, 512, 1024, 2048, 4096, 8192, 16384, 32768] {
        if s > n / 2 {
            break;
        }
        let sets: Vec<AllowSet> = (0..16)
            .map(|_| {
                let mut ids = Vec::with_capacity(s);
                while ids.len() < s {
                    rng = mix(rng);
                    ids.push(rng % n as u64);
                    if ids.len() == s {
                        ids.sort_unstable();
                        ids.dedup();
                    }
                }
                AllowSet::from_ids(ids)
            })
            .collect();
        let truth = exact_truth(&flat, &data, k, &sets)?;
        idx.set_search_params(64, usize::MAX, 1.0)?;
        let exact = filtered_run(&idx, &data, k, 64, &sets, &truth)?;
        idx.set_search_params(64, 0, 1.0)?;
        let mut graph = serde_json::Value::Null;
        for ef in [16, 32, 64, 128, 256] {
            let r = filtered_run(&idx, &data, k, ef, &sets, &truth)?;
            let ok = r["recall"].as_f64().unwrap_or(0.0) >= 0.95;
            graph = r;
            if ok {
                break;
            }
        }
        println!(
            "{}",
            serde_json::json!({"event": "crossover", "dataset": data.name, "allowed": s,
                "exact": exact, "graph": graph})
        );
    }
    Ok(())
}

/// Recall@10 before and after deleting 20% of the points and reinserting
/// them (tombstones + new nodes), then after an explicit compaction.
fn churn(args: &Args) -> Res<()> {
    pin_one_thread();
    let data = load_data(&args.data()?, args.num("queries", 1000))?;
    let k = 10;
    let ef = args.num("ef", 64);
    let idx = build_ours(&data, args.num("m", 16), args.num("efc", 200))?;
    let measure = |idx: &HnswIndex, stage: &str| -> Res<()> {
        let (mut v, _) = timed_queries(&data, k, |q| {
            idx.search_ef(q, k, ef, None)
                .unwrap_or_default()
                .into_iter()
                .map(|(id, _)| id as u32)
                .collect()
        });
        v["event"] = "churn".into();
        v["stage"] = stage.into();
        v["ef"] = ef.into();
        v["dataset"] = data.name.clone().into();
        v["deleted_nodes"] = idx.deleted_count().into();
        println!("{v}");
        Ok(())
    };
    measure(&idx, "before")?;
    let victims: Vec<usize> = (0..data.base.n)
        .filter(|&i| mix(i as u64 ^ 0xc4).is_multiple_of(5))
        .collect();
    let t = Instant::now();
    for &i in &victims {
        idx.delete(i as u64)?;
    }
    eprintln!(
        "deleted {} in {:.2}s",
        victims.len(),
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    for &i in &victims {
        idx.insert(i as u64, data.base.row(i))?;
    }
    eprintln!(
        "reinserted {} in {:.2}s",
        victims.len(),
        t.elapsed().as_secs_f64()
    );
    measure(&idx, "after_delete_20pct_and_reinsert")?;
    idx.compact()?;
    measure(&idx, "after_compact")?;
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Snapshot load time vs rebuild time, and the snapshot size.
fn snapshot(args: &Args) -> Res<()> {
    let data = load_data(&args.data()?, 100)?;
    let threads = rayon::current_num_threads();
    let dir = std::env::temp_dir().join(format!("ann-snapshot-{}", std::process::id()));
    fs::create_dir_all(&dir)?;
    let path = dir.join("index.hnsw");
    let mut build = Vec::new();
    let mut idx = None;
    for _ in 0..args.num("builds", 1) {
        let t = Instant::now();
        idx = Some(build_ours(&data, args.num("m", 16), args.num("efc", 200))?);
        build.push(t.elapsed().as_secs_f64());
    }
    let idx = idx.ok_or("no build")?;
    let t = Instant::now();
    idx.save(&path, 1)?;
    let save_s = t.elapsed().as_secs_f64();
    let size = fs::metadata(&path)?.len();
    let mut load = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let (back, _) = HnswIndex::load(&path)?;
        load.push(t.elapsed().as_secs_f64());
        assert_eq!(back.len(), idx.len());
    }
    let raw = (data.base.n * data.base.d * 4) as u64;
    println!(
        "{}",
        serde_json::json!({"event": "snapshot", "dataset": data.name, "n": data.base.n,
            "dims": data.base.d, "rayon_threads": threads,
            "rebuild_s": median(build), "save_s": save_s, "load_s_median": median(load.clone()),
            "load_s_all": load, "snapshot_bytes": size, "raw_vector_bytes": raw})
    );
    let _ = fs::remove_dir_all(&dir);
    Ok(())
}

/// Generated memory-like texts: templates × vocabulary.
fn memory_texts(n: usize, salt: u64) -> Vec<String> {
    const WHO: [&str; 12] = [
        "User",
        "The user",
        "Their sister",
        "Their manager",
        "Their son",
        "Their partner",
        "Their doctor",
        "Their landlord",
        "Their friend Sam",
        "Their cat",
        "The team",
        "Their coach",
    ];
    const VERB: [&str; 16] = [
        "prefers",
        "dislikes",
        "is allergic to",
        "bought",
        "wants to learn",
        "recommended",
        "is planning",
        "cancelled",
        "often talks about",
        "forgot about",
        "booked",
        "collects",
        "is worried about",
        "gave up",
        "started",
        "asked about",
    ];
    const OBJ: [&str; 40] = [
        "green tea",
        "espresso",
        "peanuts",
        "shellfish",
        "a trip to Lisbon",
        "a hike in the Alps",
        "the aisle seat",
        "window seats",
        "vegetarian food",
        "spicy ramen",
        "the quarterly report",
        "a new cello",
        "running shoes",
        "the Rust compiler",
        "Python type hints",
        "jazz records",
        "vintage cameras",
        "a dentist appointment",
        "yoga classes",
        "a road trip to Porto",
        "sourdough baking",
        "chess openings",
        "the gym membership",
        "a pottery course",
        "sci-fi novels",
        "a standing desk",
        "electric bikes",
        "the night shift",
        "Spanish lessons",
        "board games",
        "a kitchen renovation",
        "mechanical keyboards",
        "birdwatching",
        "sushi",
        "oat milk",
        "the marathon",
        "a job interview",
        "house plants",
        "noise-cancelling headphones",
        "the book club",
    ];
    const WHEN: [&str; 10] = [
        "on weekends",
        "every morning",
        "since last year",
        "when travelling",
        "at work",
        "for the holidays",
        "after dinner",
        "in the summer",
        "this month",
        "whenever possible",
    ];
    const WHY: [&str; 8] = [
        "because it helps them relax",
        "to save money",
        "for health reasons",
        "after a friend's advice",
        "to spend time with family",
        "because of a deadline",
        "for fun",
        "to prepare for a move",
    ];
    (0..n)
        .map(|i| {
            let h = mix(i as u64 ^ salt);
            let pick = |shift: u32, len: usize| ((h >> shift) as usize) % len;
            let mut s = format!(
                "{} {} {} {}",
                WHO[pick(0, WHO.len())],
                VERB[pick(8, VERB.len())],
                OBJ[pick(16, OBJ.len())],
                WHEN[pick(24, WHEN.len())]
            );
            if !(h >> 32).is_multiple_of(3) {
                s.push(' ');
                s.push_str(WHY[pick(36, WHY.len())]);
            }
            if (h >> 44).is_multiple_of(4) {
                s.push_str(&format!(
                    ", and also mentioned {}",
                    OBJ[pick(48, OBJ.len())]
                ));
            }
            s.push_str(&format!(" (note {}).", h % 997));
            s
        })
        .collect()
}

/// Embeds generated texts with MiniLM (Candle) into `base.fbin` /
/// `query.fbin` (ground truth: `benches/ann/prepare.py minilm`).
fn embed_minilm(args: &Args) -> Res<()> {
    use memlayer_models::{BertEmbedder, CachedModel, Embedder, EmbedderConfig};
    let out = PathBuf::from(args.get("out").ok_or("--out DIR")?);
    fs::create_dir_all(&out)?;
    let e = BertEmbedder::load_dir(
        &memlayer_tests::require(CachedModel::MINILM_L6_V2),
        &EmbedderConfig::default(),
    )?;
    let batch = 64;
    for (file, n, salt) in [
        ("query.fbin", args.num("queries", 1000), QUERY_SALT),
        ("base.fbin", args.num("n", 100_000), 0),
    ] {
        let texts = memory_texts(n, salt);
        let mut v: Vec<f32> = Vec::with_capacity(n * 384);
        let t = Instant::now();
        for (bi, chunk) in texts.chunks(batch).enumerate() {
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            for row in e.embed_batch(&refs)? {
                v.extend_from_slice(&row);
            }
            if bi % 100 == 0 {
                eprintln!(
                    "{file}: {}/{n} in {:.0}s",
                    bi * batch,
                    t.elapsed().as_secs_f64()
                );
            }
        }
        let d = v.len() / n.max(1);
        write_fbin(&out.join(file), n, d, &v)?;
    }
    fs::write(
        out.join("meta.json"),
        r#"{"name": "minilm-100k", "metric": "cosine", "source": "ann-bench embed-minilm"}"#,
    )?;
    Ok(())
}

/// Salt for query texts (base texts use 0): queries are new texts drawn
/// from the same templates.
const QUERY_SALT: u64 = 0x9ee7_0000_0000;

struct Args {
    cmd: String,
    kv: HashMap<String, String>,
}

impl Args {
    fn parse() -> Self {
        let mut it = std::env::args().skip(1);
        let cmd = it.next().unwrap_or_default();
        let mut kv = HashMap::new();
        let rest: Vec<String> = it.collect();
        let mut i = 0;
        while i < rest.len() {
            let key = rest[i].trim_start_matches("--").to_string();
            match rest.get(i + 1) {
                Some(v) if !v.starts_with("--") => {
                    kv.insert(key, v.clone());
                    i += 2;
                }
                _ => {
                    kv.insert(key, String::new());
                    i += 1;
                }
            }
        }
        Self { cmd, kv }
    }
    fn get(&self, k: &str) -> Option<&str> {
        self.kv.get(k).map(String::as_str)
    }
    fn flag(&self, k: &str) -> bool {
        self.kv.contains_key(k)
    }
    fn num(&self, k: &str, default: usize) -> usize {
        self.get(k).and_then(|v| v.parse().ok()).unwrap_or(default)
    }
    fn data(&self) -> Res<PathBuf> {
        Ok(PathBuf::from(self.get("data").ok_or("--data DIR")?))
    }
}

fn main() -> Res<()> {
    let args = Args::parse();
    match args.cmd.as_str() {
        "worker" => worker(&args),
        "filtered" => filtered(&args),
        "churn" => churn(&args),
        "snapshot" => snapshot(&args),
        "embed-minilm" => embed_minilm(&args),
        _ => Err(
            "usage: ann-bench worker|filtered|churn|snapshot|embed-minilm --data DIR ...".into(),
        ),
    }
}
