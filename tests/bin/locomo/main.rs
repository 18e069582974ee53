//! Retrieval benchmark on a LOCOMO-format file (the protocol of
//! `../shared/eval/README.md`), through the `Memory` API.
//!
//! Every turn of every conversation is stored with `infer=false` as
//! `"{speaker}: {text}"` (plus `" [shares {caption}]"`), metadata `dia_id`,
//! `session`, `session_date`, `speaker`; one user per conversation. Every
//! question of categories 1–4 with evidence is then searched (limit 10) in
//! each configuration — the shipped default, keyword only
//! (`semantic_weight` 0) and semantic only (1) — and a plain Okapi BM25
//! over the same texts is scored as the fixed baseline, all in one run.
//!
//! ```text
//! cargo run --release -p memlayer-tests --bin locomo -- [--file LOCOMO.json]
//!     [--db DIR] [--configs default,keyword,semantic[:ctx=W][:k=K][:w=S][:dates=0][:fb=G][:fbd=R][:fbt=T][:rr=D]]
//!     [--convs N] [--questions N] [--embedder minilm|mpnet|PATH]
//!     [--json OUT.json] [--lab]
//!     [--candle-only] [--compare-ingest]
//! ```
//!
//! `--file` defaults to `../shared/eval/locomo-dev.json` (never copied into
//! the repository: CC BY-NC 4.0). `--db DIR` keeps the ingested database
//! there and reuses it on the next run (ingest only when DIR has none).
//! `--questions N` scores an evenly spread sample of N questions (for the
//! slow chat-model reranker, `:rr=D`); `--embedder` picks the embedder (a
//! database keeps the embedder it was ingested with: use a new `--db`).
//! `--candle-only` embeds single queries through Candle instead of the
//! single-text fast path (for the comparison). Turns are ingested with
//! `add_many` (their session date as `created_at`); `--compare-ingest`
//! first ingests them one `add` per turn into a scratch database and
//! prints both rates (both fsync every commit, the default durability).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod lab;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use memlayer::models::{BertEmbedder, Embedder, EmbedderConfig};
use memlayer::store::Timestamp;
use memlayer::{AddOptions, BulkMemory, Memory, MemoryConfig, Scope, SearchConfig, SearchOptions};
use serde_json::{Map, Value, json};

/// One stored turn.
struct Turn {
    user: String,
    dia_id: String,
    text: String,
    session: u32,
    date: String,
    speaker: String,
}

/// One scored question.
struct Question {
    user: String,
    text: String,
    category: u8,
    evidence: Vec<String>,
}

/// Reads the conversations: turns in session order and scored questions.
fn load(path: &str, convs: usize) -> (Vec<Turn>, Vec<Question>) {
    let data: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}")),
    )
    .expect("a LOCOMO-format JSON list");
    let (mut turns, mut questions) = (Vec::new(), Vec::new());
    for sample in data.iter().take(convs) {
        let user = sample["sample_id"].as_str().expect("sample_id").to_string();
        let conv = sample["conversation"].as_object().expect("conversation");
        let mut sessions: Vec<u32> = conv
            .keys()
            .filter_map(|k| k.strip_prefix("session_")?.parse().ok())
            .collect();
        sessions.sort_unstable();
        for s in sessions {
            let Some(list) = conv[&format!("session_{s}")].as_array() else {
                continue;
            };
            let date = conv
                .get(&format!("session_{s}_date_time"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            for t in list {
                let speaker = t["speaker"].as_str().unwrap_or("").to_string();
                let mut text = format!("{speaker}: {}", t["text"].as_str().unwrap_or(""));
                if let Some(c) = t.get("blip_caption").and_then(Value::as_str) {
                    text.push_str(&format!(" [shares {c}]"));
                }
                turns.push(Turn {
                    user: user.clone(),
                    dia_id: t["dia_id"].as_str().unwrap_or("").to_string(),
                    text,
                    session: s,
                    date: date.clone(),
                    speaker,
                });
            }
        }
        for qa in sample["qa"].as_array().expect("qa") {
            let category = qa["category"].as_u64().unwrap_or(0) as u8;
            if !(1..=4).contains(&category) {
                continue;
            }
            let evidence: Vec<String> = qa["evidence"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>())
                .unwrap_or_default()
                .iter()
                .flat_map(|e| e.split([';', ',']))
                .map(|e| e.trim().to_string())
                .filter(|e| !e.is_empty())
                .collect();
            if evidence.is_empty() {
                continue;
            }
            questions.push(Question {
                user: user.clone(),
                text: qa["question"].as_str().unwrap_or("").to_string(),
                category,
                evidence,
            });
        }
    }
    (turns, questions)
}

/// Recall and hit counters per category (0 = all).
#[derive(Default, Clone)]
struct Score {
    n: u32,
    r1: f64,
    r5: f64,
    r10: f64,
    hit10: f64,
}

impl Score {
    fn add(&mut self, ranked: &[String], evidence: &[String]) {
        let ev: HashSet<&str> = evidence.iter().map(String::as_str).collect();
        let recall = |k: usize| {
            let top: HashSet<&str> = ranked.iter().take(k).map(String::as_str).collect();
            ev.iter().filter(|e| top.contains(*e)).count() as f64 / ev.len() as f64
        };
        self.n += 1;
        self.r1 += recall(1);
        self.r5 += recall(5);
        self.r10 += recall(10);
        self.hit10 += f64::from(u8::from(recall(10) > 0.0));
    }

    fn row(&self) -> [f64; 4] {
        let n = f64::from(self.n.max(1));
        [self.r1 / n, self.r5 / n, self.r10 / n, self.hit10 / n]
    }
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Scores of one configuration.
struct Run {
    name: String,
    by_cat: BTreeMap<u8, Score>,
    latency_ms: Vec<f64>,
}

impl Run {
    fn new(name: &str) -> Run {
        Run {
            name: name.into(),
            by_cat: BTreeMap::new(),
            latency_ms: Vec::new(),
        }
    }

    fn add(&mut self, q: &Question, ranked: &[String]) {
        self.by_cat.entry(0).or_default().add(ranked, &q.evidence);
        self.by_cat
            .entry(q.category)
            .or_default()
            .add(ranked, &q.evidence);
    }

    fn print(&self) {
        let mut lat = self.latency_ms.clone();
        let (p50, p95) = (percentile(&mut lat, 0.5), percentile(&mut lat, 0.95));
        println!("\n## {}", self.name);
        println!("| category | n | R@1 | R@5 | R@10 | hit@10 |");
        println!("|---|---|---|---|---|---|");
        for (c, s) in &self.by_cat {
            let name = match c {
                0 => "all",
                1 => "1 multi-hop",
                2 => "2 temporal",
                3 => "3 open-domain",
                _ => "4 single-hop",
            };
            let [r1, r5, r10, h] = s.row();
            println!(
                "| {name} | {} | {r1:.3} | {r5:.3} | {r10:.3} | {h:.3} |",
                s.n
            );
        }
        if !lat.is_empty() {
            println!("search latency p50 {p50:.2} ms, p95 {p95:.2} ms");
        }
    }

    fn json(&self) -> Value {
        let mut lat = self.latency_ms.clone();
        let cats: Map<String, Value> = self
            .by_cat
            .iter()
            .map(|(c, s)| {
                let [r1, r5, r10, h] = s.row();
                (
                    c.to_string(),
                    json!({"n": s.n, "r1": r1, "r5": r5, "r10": r10, "hit10": h}),
                )
            })
            .collect();
        json!({
            "name": self.name,
            "categories": cats,
            "p50_ms": percentile(&mut lat, 0.5),
            "p95_ms": percentile(&mut lat, 0.95),
        })
    }
}

/// Plain Okapi BM25 (k1 1.2, b 0.75, lowercase alphanumeric tokens, the
/// store's English stop words) over each user's turns: the fixed baseline.
fn bm25_baseline(turns: &[Turn], questions: &[Question]) -> Run {
    let mut docs: HashMap<&str, (Vec<&str>, Vec<Vec<String>>)> = HashMap::new();
    for t in turns {
        let e = docs.entry(t.user.as_str()).or_default();
        e.0.push(t.dia_id.as_str());
        e.1.push(memlayer_text::tokenize(&t.text, true));
    }
    let mut run = Run::new("baseline: Okapi BM25 over the same texts");
    for q in questions {
        let (ids, toks) = &docs[q.user.as_str()];
        let scores = memlayer_text::bm25::score_docs(&memlayer_text::tokenize(&q.text, true), toks);
        let mut order: Vec<usize> = (0..ids.len()).filter(|&i| scores[i] > 0.0).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
        let ranked: Vec<String> = order.iter().take(10).map(|&i| ids[i].to_string()).collect();
        run.add(q, &ranked);
    }
    run
}

/// A LOCOMO session date ("1:56 pm on 8 May, 2023") as a timestamp.
fn session_time(s: &str) -> Option<Timestamp> {
    let (time, date) = s.trim().split_once(" on ")?;
    let (hm, half) = time.trim().split_once(' ')?;
    let (h, m) = hm.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    let h = match half.to_ascii_lowercase().as_str() {
        "am" => h % 12,
        "pm" => h % 12 + 12,
        _ => return None,
    };
    let mut parts = date.split([' ', ',']).filter(|p| !p.is_empty());
    let day: u32 = parts.next()?.parse().ok()?;
    let name = parts.next()?;
    let month = memlayer_text::dates::month_number(&name.to_lowercase())?;
    let year: u32 = parts.next()?.parse().ok()?;
    Timestamp::parse_rfc3339(&format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:00Z")).ok()
}

/// Stores every turn in a new database at `db` (default durability: an
/// fsync per commit) with `add_many` (`bulk`) or one `add` per turn;
/// returns the seconds it took. Turns keep their session date as
/// `created_at`.
fn ingest(turns: &[Turn], embedder: &Arc<dyn Embedder>, db: &std::path::Path, bulk: bool) -> f64 {
    let mem = Memory::builder(db)
        .embedder(embedder.clone())
        .open()
        .unwrap();
    let items: Vec<BulkMemory> = turns
        .iter()
        .map(|turn| {
            let mut md = Map::new();
            md.insert("dia_id".into(), turn.dia_id.clone().into());
            md.insert("session".into(), turn.session.into());
            md.insert("session_date".into(), turn.date.clone().into());
            md.insert("speaker".into(), turn.speaker.clone().into());
            BulkMemory {
                metadata: Some(md),
                timestamp: session_time(&turn.date),
                actor_id: None,
                ..BulkMemory::new(turn.text.as_str(), Scope::user(&turn.user))
            }
        })
        .collect();
    let t = Instant::now();
    if bulk {
        mem.add_many(&items).unwrap();
    } else {
        for m in &items {
            let opts = AddOptions {
                infer: false,
                metadata: m.metadata.clone(),
                timestamp: m.timestamp,
                ..AddOptions::scoped(m.scope.clone())
            };
            mem.add(m.text.as_str(), &opts).unwrap();
        }
    }
    mem.flush().unwrap();
    t.elapsed().as_secs_f64()
}

fn main() {
    memlayer_tests::init_tracing();
    let args = memlayer_tests::Args::from_env();
    let arg = |name: &str| args.value(name);
    let file = arg("--file").unwrap_or_else(|| {
        memlayer_tests::repo_root()
            .join("../shared/eval/locomo-dev.json")
            .display()
            .to_string()
    });
    let convs: usize = arg("--convs").map_or(usize::MAX, |n| n.parse().expect("--convs N"));
    let configs = arg("--configs").unwrap_or_else(|| "default,keyword,semantic".into());
    let (turns, mut questions) = load(&file, convs);
    // `--questions N`: an evenly spread sample of N questions (for slow
    // configurations such as the chat-model reranker).
    if let Some(n) = arg("--questions").map(|n| n.parse::<usize>().expect("--questions N")) {
        let step = questions.len().div_ceil(n.max(1)).max(1);
        questions = questions.into_iter().step_by(step).collect();
    }
    println!(
        "{file}: {} turns, {} scored questions",
        turns.len(),
        questions.len()
    );

    let bert = BertEmbedder::load(
        &memlayer_tests::model_source(&arg("--embedder").unwrap_or_else(|| "minilm".into())),
        &EmbedderConfig {
            candle_only: args.flag("--candle-only"),
            ..EmbedderConfig::default()
        },
    )
    .unwrap();
    if std::env::var_os("LOCOMO_TOKTIME").is_some() {
        let mut ms: Vec<f64> = questions
            .iter()
            .map(|q| {
                let t = Instant::now();
                bert.token_count(&q.text).unwrap();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        println!("tokenize p50 {:.3} ms", percentile(&mut ms, 0.5));
    }
    let embedder: Arc<dyn Embedder> = Arc::new(bert);
    let tmp = tempfile::tempdir().unwrap();
    let dir = arg("--db").map_or_else(|| tmp.path().to_path_buf(), Into::into);
    std::fs::create_dir_all(&dir).unwrap();
    if args.flag("--lab") {
        lab::run(embedder.as_ref(), &turns, &questions, &dir);
        return;
    }
    let db = dir.join("locomo.redb");
    let open = |search: SearchConfig| {
        Memory::builder(&db)
            .config(MemoryConfig {
                durability: memlayer::Durability::None,
                search,
                ..MemoryConfig::default()
            })
            .embedder(embedder.clone())
            .open()
            .unwrap()
    };
    if !db.exists() {
        if args.flag("--compare-ingest") {
            let per_add = tmp.path().join("per-add.redb");
            let s = ingest(&turns, &embedder, &per_add, false);
            println!(
                "ingest, one add per turn: {} memories in {s:.1} s ({:.1} memories/s)",
                turns.len(),
                turns.len() as f64 / s
            );
        }
        let s = ingest(&turns, &embedder, &db, true);
        println!(
            "ingest, add_many: {} memories in {s:.1} s ({:.1} memories/s)",
            turns.len(),
            turns.len() as f64 / s
        );
    }

    let mut emb_ms: Vec<f64> = questions
        .iter()
        .map(|q| {
            let t = Instant::now();
            embedder.embed(&q.text).unwrap();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    println!(
        "query embedding alone: p50 {:.2} ms, p95 {:.2} ms",
        percentile(&mut emb_ms, 0.5),
        percentile(&mut emb_ms, 0.95)
    );
    let mut runs = vec![bm25_baseline(&turns, &questions)];
    for spec in configs.split(',').filter(|c| !c.is_empty()) {
        // "NAME[:ctx=W][:k=K][:w=S][:dates=0][:fb=G][:fbd=R][:fbt=T][:rr=D]":
        // a configuration with overrides of context_weight, bm25_k,
        // semantic_weight, query_dates, feedback_weight, feedback_docs,
        // feedback_terms and rerank (the chat model reranks the best D).
        let mut parts = spec.split(':');
        let name = parts.next().unwrap_or_default();
        let search = match name {
            "default" => SearchConfig::default(),
            "keyword" => SearchConfig {
                semantic_weight: 0.0,
                ..SearchConfig::default()
            },
            "semantic" => SearchConfig {
                semantic_weight: 1.0,
                ..SearchConfig::default()
            },
            other => panic!("--configs: unknown configuration {other}"),
        };
        let search = parts.fold(search, |s, kv| {
            let (k, v) = kv.split_once('=').expect("--configs: KEY=VALUE");
            let v: f32 = v.parse().expect("--configs: a number");
            match k {
                "ctx" => SearchConfig {
                    context_weight: v,
                    ..s
                },
                "k" => SearchConfig { bm25_k: v, ..s },
                "dates" => SearchConfig {
                    query_dates: v != 0.0,
                    ..s
                },
                "w" => SearchConfig {
                    semantic_weight: v,
                    ..s
                },
                "fb" => SearchConfig {
                    feedback_weight: v,
                    ..s
                },
                "fbd" => SearchConfig {
                    feedback_docs: v as usize,
                    ..s
                },
                "fbt" => SearchConfig {
                    feedback_terms: v as usize,
                    ..s
                },
                // The chat-model reranker over the best `v` hits.
                "rr" => SearchConfig {
                    rerank: v > 0.0,
                    rerank_depth: (v as usize).max(1),
                    ..s
                },
                other => panic!("--configs: unknown override {other}"),
            }
        });
        // Every search pays its query embedding (no cache hits on repeated
        // questions), so the latencies are those of new queries.
        let search = SearchConfig {
            query_cache: 0,
            ..search
        };
        let label = format!(
            "memlayer {spec} (semantic_weight {}, context_weight {}, bm25_k {})",
            search.semantic_weight, search.context_weight, search.bm25_k
        );
        let mem = open(search);
        let mut run = Run::new(&label);
        for q in &questions {
            let opts = SearchOptions::user(&q.user).limit(10);
            let t = Instant::now();
            let r = mem.search(&q.text, &opts).unwrap();
            run.latency_ms.push(t.elapsed().as_secs_f64() * 1e3);
            let ranked: Vec<String> = r
                .results
                .iter()
                .filter_map(|m| m.metadata.get("dia_id")?.as_str().map(String::from))
                .collect();
            run.add(q, &ranked);
        }
        runs.push(run);
    }
    for r in &runs {
        r.print();
    }
    if let Some(out) = arg("--json") {
        let v: Vec<Value> = runs.iter().map(Run::json).collect();
        std::fs::write(&out, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_dates_parse() {
        let t = |s: &str| session_time(s).map(|t| t.to_string());
        assert_eq!(
            t("1:56 pm on 8 May, 2023").as_deref(),
            Some("2023-05-08T13:56:00.000000Z")
        );
        assert_eq!(
            t("12:09 am on 13 September, 2023").as_deref(),
            Some("2023-09-13T00:09:00.000000Z")
        );
        assert_eq!(
            t("12:30 pm on 1 January, 2024").as_deref(),
            Some("2024-01-01T12:30:00.000000Z")
        );
        assert_eq!(t("someday"), None);
        assert_eq!(t("1:56 pm on 8 Smarch, 2023"), None);
    }
}
