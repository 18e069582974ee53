//! Runs the memory scenario set (`tests/scenarios/memory.json`) through the
//! real pipeline with a real chat model and reports the pass rate, JSON
//! validity, add() latency and tokens, and the LLM calls saved by the
//! no-candidates and exact-duplicate shortcuts.
//!
//! ```text
//! cargo run --release -p memlayer-tests --bin scenarios -- [--chat qwen|qwen1.5b|smollm2|PATH]
//!     [--file SCENARIOS.json] [--method classify|generate] [--no-calibrate] [--fact-check] [--no-attribute]
//!     [--candidate-min-similarity X] [--no-prefix-cache]
//!     [--only NAME_SUBSTRING] [--limit N] [--json OUT.json] [--verbose]
//! ```
//!
//! `--json` writes one record per scenario (name, kind, pass, each add's
//! latency in ms, LLM calls) for side-by-side tables with a peer
//! (`benches/peers/mem0_scenarios.sh`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use memlayer::models::{
    BertEmbedder, ChatConfig, ChatModel, Embedder, EmbedderConfig, LlamaCppChat,
};
use memlayer::{AddOptions, GetAllOptions, Memory, MemoryConfig, MemoryError, Message, Scope};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct File {
    scenarios: Vec<Scenario>,
}

#[derive(Deserialize)]
struct Scenario {
    name: String,
    kind: String,
    user_id: Option<String>,
    agent_id: Option<String>,
    initial: Vec<String>,
    turns: Vec<Vec<Message>>,
    expect: Expect,
}

#[derive(Deserialize)]
struct Expect {
    present: Vec<Vec<String>>,
    absent: Vec<String>,
    max_memories: Option<usize>,
    #[serde(default)]
    absent_prefix: Vec<String>,
}

/// One scenario's outcome, for `--json`.
#[derive(Serialize)]
struct Outcome {
    name: String,
    kind: String,
    pass: bool,
    add_ms: Vec<f64>,
    llm_calls: u32,
}

fn main() {
    // RUST_LOG=memlayer=debug shows each classified pair and its scores.
    memlayer_tests::init_tracing();
    let args = memlayer_tests::Args::from_env();
    let arg = |name: &str| args.value(name);
    let chat_name = arg("--chat").unwrap_or_else(|| "qwen".into());
    let only = arg("--only");
    let verbose = args.flag("--verbose");
    let prefix_cache = !args.flag("--no-prefix-cache");
    let limit: usize = arg("--limit").map_or(usize::MAX, |n| n.parse().expect("--limit N"));
    let json_out = arg("--json");
    let floor: f32 = arg("--candidate-min-similarity").map_or(
        memlayer::ReconcileConfig::default().candidate_min_similarity,
        |x| x.parse().expect("--candidate-min-similarity X"),
    );
    let method = match arg("--method").as_deref() {
        None | Some("classify") => memlayer::ReconcileMethod::Classify,
        Some("generate") => memlayer::ReconcileMethod::Generate,
        Some(m) => panic!("--method {m}: use classify or generate"),
    };
    let file = arg("--file").unwrap_or_else(|| {
        memlayer_tests::repo_root()
            .join("tests/scenarios/memory.json")
            .display()
            .to_string()
    });
    let data: File = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();

    let embedder: Arc<dyn Embedder> = Arc::new(
        BertEmbedder::load(
            &memlayer_tests::model_source("minilm"),
            &EmbedderConfig::default(),
        )
        .unwrap(),
    );
    // As many KV-cache slots as the engine gives a model it loads, so each
    // prompt family (extraction, fact check, attribution, supersession)
    // keeps its prefix cached as it does in an application.
    let cfg = ChatConfig {
        prefix_cache,
        parallel: MemoryConfig::default().llm.slots,
        ..ChatConfig::default()
    };
    let chat: Arc<dyn ChatModel> =
        Arc::new(LlamaCppChat::load(&memlayer_tests::model_source(&chat_name), cfg).unwrap());
    println!(
        "chat model {}  prefix cache {}",
        chat.model_id(),
        if prefix_cache { "on" } else { "off" }
    );

    let (mut passed, mut total) = (0, 0);
    let mut by_kind: std::collections::BTreeMap<String, (u32, u32)> = Default::default();
    let (mut lat, mut toks, mut ptoks, mut ctoks) = (Vec::new(), Vec::new(), 0usize, 0usize);
    let (mut calls, mut bad_json, mut dropped, mut shortcut, mut dups, mut adds) =
        (0u32, 0u32, 0, 0, 0, 0);
    let (mut scored, mut errors, mut per_add_calls) = (0u32, 0u32, Vec::new());
    let mut events = std::collections::BTreeMap::<String, u32>::new();
    // Facts filtered: ungrounded, not personal, one-day states, temporary.
    let mut filtered = [0usize; 4];
    let mut gated = 0usize;
    // Milliseconds per pipeline stage, summed over the adds; completion tokens.
    let mut stage_ms = std::collections::BTreeMap::<&'static str, f64>::new();
    let mut completion = 0usize;
    let (mut prompt_ms, mut gen_ms) = (0f64, 0f64);
    let mut outcomes: Vec<Outcome> = Vec::new();
    for sc in data
        .scenarios
        .iter()
        .filter(|sc| only.as_deref().is_none_or(|o| sc.name.contains(o)))
        .take(limit)
    {
        let dir = tempfile::tempdir().unwrap();
        let mem = Memory::builder(dir.path().join("m.redb"))
            .config(MemoryConfig {
                durability: memlayer::Durability::None,
                reconcile: memlayer::ReconcileConfig {
                    method,
                    calibrate: !args.flag("--no-calibrate"),
                    fact_check: args.flag("--fact-check"),
                    attribute: !args.flag("--no-attribute"),
                    time_words: !args.flag("--no-time-words"),
                    statement_gate: !args.flag("--no-statement-gate"),
                    negation_guard: !args.flag("--no-negation-guard"),
                    join_fragments: !args.flag("--no-join-fragments"),
                    candidate_min_similarity: floor,
                    ..Default::default()
                },
                ..MemoryConfig::default()
            })
            .embedder(embedder.clone())
            .chat(chat.clone())
            .open()
            .unwrap();
        let scope = Scope {
            user_id: sc.user_id.clone(),
            agent_id: sc.agent_id.clone(),
            run_id: None,
        };
        let base = AddOptions::scoped(scope.clone());
        for m in &sc.initial {
            mem.add(
                m.as_str(),
                &AddOptions {
                    infer: false,
                    ..base.clone()
                },
            )
            .unwrap();
        }
        let mut log = Vec::new();
        let (mut sc_ms, mut sc_calls) = (Vec::new(), 0u32);
        for turn in &sc.turns {
            let t = Instant::now();
            let r = mem.add(turn.clone(), &base);
            let ms = t.elapsed().as_secs_f64() * 1e3;
            adds += 1;
            match r {
                Ok(r) => {
                    lat.push(ms);
                    sc_ms.push(ms);
                    let s = &r.stats;
                    calls += s.llm_calls;
                    sc_calls += s.llm_calls;
                    scored += s.scored_pairs;
                    per_add_calls.push(f64::from(s.llm_calls));
                    dropped += s.dropped;
                    ptoks += s.prompt_tokens;
                    ctoks += s.cached_prompt_tokens;
                    toks.push((s.prompt_tokens + s.completion_tokens) as f64);
                    shortcut += usize::from(s.no_candidates_shortcut);
                    dups += s.exact_duplicates;
                    filtered[0] += s.ungrounded;
                    filtered[1] += s.not_personal;
                    filtered[2] += s.momentary;
                    filtered[3] += s.temporary;
                    gated += usize::from(s.no_statement);
                    completion += s.completion_tokens;
                    prompt_ms += s.llm_prompt_ms;
                    gen_ms += s.llm_generation_ms;
                    for (stage, ms) in s.timings.stages() {
                        *stage_ms.entry(stage).or_default() += ms;
                    }
                    for e in &r.results {
                        *events.entry(format!("{:?}", e.event)).or_default() += 1;
                        log.push(format!(
                            "{:?} {:?}{}",
                            e.event,
                            e.memory,
                            e.previous_memory
                                .as_ref()
                                .map(|p| format!(" (was {p:?})"))
                                .unwrap_or_default()
                        ));
                    }
                    if r.results.is_empty() {
                        log.push(format!(
                            "no change (facts {}, dup {})",
                            s.facts, s.exact_duplicates
                        ));
                    }
                }
                Err(MemoryError::LlmOutput { stage, reason }) => {
                    calls += 1;
                    bad_json += 1;
                    sc_calls += 1;
                    sc_ms.push(ms);
                    log.push(format!("LLM output error in {stage}: {reason}"));
                }
                Err(e) => {
                    errors += 1;
                    log.push(format!("add failed: {e}"));
                }
            }
        }
        let opts = GetAllOptions::scoped(scope.clone());
        let finals: Vec<String> = mem
            .get_all(&opts)
            .unwrap()
            .results
            .into_iter()
            .map(|m| m.memory)
            .collect();
        let lower: Vec<String> = finals.iter().map(|m| m.to_lowercase()).collect();
        let mut why = Vec::new();
        for group in &sc.expect.present {
            if !lower
                .iter()
                .any(|m| group.iter().any(|g| m.contains(g.as_str())))
            {
                why.push(format!("missing {group:?}"));
            }
        }
        for a in &sc.expect.absent {
            if lower.iter().any(|m| m.contains(a.as_str())) {
                why.push(format!("still has {a:?}"));
            }
        }
        for a in &sc.expect.absent_prefix {
            if lower.iter().any(|m| m.starts_with(a.as_str())) {
                why.push(format!("a memory starts with {a:?}"));
            }
        }
        if let Some(max) = sc.expect.max_memories
            && finals.len() > max
        {
            why.push(format!("{} memories > {max}", finals.len()));
        }
        total += 1;
        let k = by_kind.entry(sc.kind.clone()).or_default();
        k.1 += 1;
        if why.is_empty() {
            passed += 1;
            k.0 += 1;
        }
        outcomes.push(Outcome {
            name: sc.name.clone(),
            kind: sc.kind.clone(),
            pass: why.is_empty(),
            add_ms: sc_ms,
            llm_calls: sc_calls,
        });
        let status = if why.is_empty() { "PASS" } else { "FAIL" };
        println!("{status} {:<48} {}", sc.name, why.join("; "));
        if verbose || !why.is_empty() {
            for l in &log {
                println!("       {l}");
            }
            println!("       final: {finals:?}");
        }
    }
    println!("\n== {} ==", chat.model_id());
    println!(
        "scenarios passed: {passed}/{total} ({:.1}%)",
        100.0 * passed as f64 / total.max(1) as f64
    );
    for (k, (p, t)) in &by_kind {
        println!("  {k:<14} {p}/{t}");
    }
    println!(
        "LLM calls {calls}; unusable JSON answers {bad_json} (JSON validity {:.1}%); decisions dropped by validation {dropped}",
        100.0 * (calls - bad_json) as f64 / calls.max(1) as f64
    );
    println!(
        "pairs classified by scoring {scored}; LLM calls per add p50 {:.0}, mean {:.2}; adds failed with a non-LLM error {errors}",
        memlayer_tests::percentile(&mut per_add_calls.clone(), 0.5),
        per_add_calls.iter().sum::<f64>() / per_add_calls.len().max(1) as f64
    );
    println!("events: {events:?}");
    println!(
        "add(infer) latency over {} calls: p50 {:.0} ms, p95 {:.0} ms; tokens per add p50 {:.0} (prompt tokens {ptoks}, of which cached {ctoks} = {:.1}%)",
        lat.len(),
        memlayer_tests::percentile(&mut lat.clone(), 0.5),
        memlayer_tests::percentile(&mut lat, 0.95),
        memlayer_tests::percentile(&mut toks, 0.5),
        100.0 * ctoks as f64 / ptoks.max(1) as f64
    );
    println!(
        "reconciliation calls saved: {shortcut} by the no-candidates shortcut, {dups} facts answered by exact-duplicate match (of {adds} adds)"
    );
    println!(
        "facts filtered: {} ungrounded, {} not personal, {} one-day states; {} temporary states added without reconciliation",
        filtered[0], filtered[1], filtered[2], filtered[3]
    );
    println!("adds without a statement (no extraction call): {gated}");
    let n = lat.len().max(1) as f64;
    let all_ms: f64 = lat.iter().sum();
    let stages: Vec<String> = stage_ms
        .iter()
        .map(|(k, v)| {
            format!(
                "{k} {:.0} ({:.0}%)",
                v / n,
                100.0 * v / all_ms.max(f64::MIN_POSITIVE)
            )
        })
        .collect();
    println!(
        "time per add by stage, mean ms (share): {}; completion tokens per add mean {:.1}",
        stages.join(", "),
        completion as f64 / n
    );
    println!(
        "chat model time per add, mean: prompt evaluation {:.0} ms, generation {:.0} ms ({:.1} ms per generated token)",
        prompt_ms / n,
        gen_ms / n,
        gen_ms / completion.max(1) as f64
    );
    if let Some(path) = json_out {
        let v = serde_json::json!({"model": chat.model_id(), "scenarios": outcomes});
        std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
        println!("per-scenario results written to {path}");
    }
}
