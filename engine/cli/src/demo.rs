//! `memlayer demo`: a scripted conversation on the default local models
//! (MiniLM embedder, Qwen2.5-0.5B chat). Each turn is one `add`; a later
//! turn changes what an earlier one said, so the reconciliation step has to
//! UPDATE or SUPERSEDE a memory. Then searches, the changed memories' history,
//! and timings.

use std::path::PathBuf;
use std::time::Instant;

use memlayer::{AddOptions, AddResult, AddStats, Event, HistoryEvent, Memory, Message, Scope};
use memlayer::{SearchOptions, SearchResult};
use serde::Serialize;

use crate::add::event_text;
use crate::args::Cli;
use crate::commands::{describe, load_chat, memory_config, open_at};
use crate::error::{CliResult, Failure};
use crate::output::{history_table, one_line, print_json, spinner};

/// The demo's user.
const USER: &str = "maya";

/// The scripted conversation: one `add` per turn. Turn 3 contradicts turn 1
/// (a new city) and turn 4 contradicts turn 2 (no dog any more), so each
/// should UPDATE or SUPERSEDE a memory. The wording is chosen so that
/// Qwen2.5-Coder-0.5B gets it right: it misreads some negations, e.g.
/// "I'm not vegetarian anymore" is extracted as "Is vegetarian".
const TURNS: &[&[(&str, &str)]] = &[
    &[
        ("user", "Hi, I'm Maya. I live in Berlin and I'm vegetarian."),
        ("assistant", "Nice to meet you, Maya! How can I help?"),
    ],
    &[("user", "I have a dog named Bruno.")],
    &[("user", "Big news: I moved to Lisbon last month!")],
    &[(
        "user",
        "I don't have a dog anymore: Bruno lives with my parents now.",
    )],
];

/// Queries run after the conversation.
const SEARCHES: &[&str] = &[
    "Which city does she live in?",
    "Does she have pets?",
    "What does she eat?",
];

/// Hits shown per query in text mode.
const SHOWN_HITS: usize = 3;

#[derive(Serialize)]
struct Turn {
    messages: Vec<Message>,
    /// Mem0's `add` response: `{"results": [...]}`.
    response: AddResult,
    stats: AddStats,
    ms: f64,
}

#[derive(Serialize)]
struct Search {
    query: &'static str,
    response: SearchResult,
    ms: f64,
}

#[derive(Serialize)]
struct History {
    memory_id: String,
    events: Vec<HistoryEvent>,
}

#[derive(Serialize)]
struct Timings {
    embedder_load_ms: f64,
    chat_load_ms: f64,
    add_p50_ms: f64,
    search_p50_ms: f64,
    llm_calls: u32,
    prompt_tokens: usize,
    cached_prompt_tokens: usize,
    completion_tokens: usize,
}

#[derive(Serialize)]
struct Report {
    embedder: String,
    chat_model: String,
    database: PathBuf,
    user_id: &'static str,
    turns: Vec<Turn>,
    /// Whether the model made at least one UPDATE or SUPERSEDE.
    changed: bool,
    searches: Vec<Search>,
    /// Histories of the memories the model changed (or of the first one
    /// added, when it changed none).
    history: Vec<History>,
    timings: Timings,
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Median (mean of the two middle values for an even count); 0 when empty.
fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// Runs the demo. Uses a temporary database unless `--db` is given (then
/// the demo user's memories are cleared first, so the script starts clean).
pub fn run(cli: &Cli) -> CliResult {
    let config = memory_config(cli)?;
    let tmp;
    let path = match &cli.db {
        Some(p) => p.clone(),
        None => {
            tmp = tempfile::tempdir()
                .map_err(|e| Failure::io("cannot create a temporary directory", e))?;
            tmp.path().join("demo.redb")
        }
    };
    let t = Instant::now();
    let mem = open_at(cli, &path, config)?;
    let embedder_load_ms = ms_since(t);
    let chat_load_ms = load_chat(&mem)?;
    let chat_model = mem.chat_model()?.model_id().to_string();
    let embedder = mem.embedder().model_id().to_string();
    let (embedder_name, chat_name) = (
        describe(&mem.config().embedder),
        describe(&mem.config().chat),
    );
    if cli.db.is_some() {
        mem.delete_all(&Scope::user(USER))?;
    }
    if !cli.json {
        println!("memlayer demo: Mem0-style memory on local models, nothing leaves this machine\n");
        println!("  embedder    {embedder_name}  (loaded in {embedder_load_ms:.0} ms)");
        println!("  chat model  {chat_name}  (loaded in {chat_load_ms:.0} ms)");
        println!("  database    {}\n", path.display());
        println!("A conversation with user \"{USER}\", one add() per turn:");
    }

    let turns = converse(&mem, cli.json)?;
    let events = || turns.iter().flat_map(|t| &t.response.results);
    // The memories the model changed, in order, each once.
    let mut history_ids: Vec<String> = Vec::new();
    for e in
        events().filter(|e| matches!(e.event, Event::Update | Event::Delete | Event::Supersede))
    {
        if !history_ids.contains(&e.id) {
            history_ids.push(e.id.clone());
        }
    }
    let changed = !history_ids.is_empty();
    if !cli.json && !changed {
        println!(
            "\nnote: the model made no UPDATE or SUPERSEDE this run; \
             every fact was added as new (see the history below)"
        );
    }

    let searches = search_all(&mem, cli.json)?;

    if !changed {
        history_ids.extend(events().next().map(|e| e.id.clone()));
    }
    let mut history = Vec::with_capacity(history_ids.len());
    for id in history_ids {
        history.push(History {
            events: mem.history(&id)?,
            memory_id: id,
        });
    }
    if !cli.json {
        for h in &history {
            println!("\nHistory of memory {}:", h.memory_id);
            print!("{}", history_table(&h.events, 2));
        }
    }

    let add_ms: Vec<f64> = turns.iter().map(|t| t.ms).collect();
    let search_ms: Vec<f64> = searches.iter().map(|s| s.ms).collect();
    let timings = Timings {
        embedder_load_ms,
        chat_load_ms,
        add_p50_ms: median(&add_ms),
        search_p50_ms: median(&search_ms),
        llm_calls: turns.iter().map(|t| t.stats.llm_calls).sum(),
        prompt_tokens: turns.iter().map(|t| t.stats.prompt_tokens).sum(),
        cached_prompt_tokens: turns.iter().map(|t| t.stats.cached_prompt_tokens).sum(),
        completion_tokens: turns.iter().map(|t| t.stats.completion_tokens).sum(),
    };
    if cli.json {
        return print_json(&Report {
            embedder,
            chat_model,
            database: path,
            user_id: USER,
            turns,
            changed,
            searches,
            history,
            timings,
        });
    }
    let t = &timings;
    println!("\nTimings:");
    println!(
        "  model load  embedder {:.0} ms (with database open), chat model {:.0} ms",
        t.embedder_load_ms, t.chat_load_ms
    );
    println!(
        "  add         p50 {:.0} ms over {} adds: {} LLM calls, {} prompt tokens ({} from the prefix cache), {} generated",
        t.add_p50_ms,
        turns.len(),
        t.llm_calls,
        t.prompt_tokens,
        t.cached_prompt_tokens,
        t.completion_tokens
    );
    println!(
        "  search      p50 {:.1} ms over {} searches (embed + index + keyword + fuse)",
        t.search_p50_ms,
        searches.len()
    );
    Ok(())
}

/// Plays the script, printing each turn's events unless `quiet`.
fn converse(mem: &Memory, quiet: bool) -> CliResult<Vec<Turn>> {
    let opts = AddOptions::user(USER);
    let mut turns = Vec::with_capacity(TURNS.len());
    for (i, script) in TURNS.iter().enumerate() {
        let messages: Vec<Message> = script
            .iter()
            .map(|(role, text)| Message::new(*role, *text))
            .collect();
        let pb = spinner(format!(
            "turn {}/{}: extracting facts and reconciling",
            i + 1,
            TURNS.len()
        ));
        let t = Instant::now();
        let r = mem.add(messages.clone(), &opts);
        let ms = ms_since(t);
        pb.finish_and_clear();
        let response = r?;
        if !quiet {
            println!();
            for (j, m) in messages.iter().enumerate() {
                let label = if j == 0 {
                    format!("turn {}", i + 1)
                } else {
                    String::new()
                };
                println!("{label:<6}  {}: {}", m.role, m.content);
            }
            if response.results.is_empty() {
                println!("        (nothing new to remember)");
            }
            for e in &response.results {
                println!("        {:<6}  {}", e.event.as_str(), event_text(e));
            }
            let s = &response.stats;
            println!(
                "        {ms:.0} ms · {} fact(s) · {} LLM call(s) · {} prompt tokens ({} cached) · {} generated",
                s.facts, s.llm_calls, s.prompt_tokens, s.cached_prompt_tokens, s.completion_tokens
            );
        }
        turns.push(Turn {
            messages,
            stats: response.stats.clone(),
            response,
            ms,
        });
    }
    Ok(turns)
}

/// Runs the queries, printing the top hits unless `quiet`.
fn search_all(mem: &Memory, quiet: bool) -> CliResult<Vec<Search>> {
    if !quiet {
        println!("\nSearches (hybrid score: semantic + keyword):");
    }
    let mut out = Vec::with_capacity(SEARCHES.len());
    for q in SEARCHES {
        let t = Instant::now();
        let response = mem.search(q, &SearchOptions::user(USER).limit(5))?;
        let ms = ms_since(t);
        if !quiet {
            println!("  \"{q}\"  ({ms:.1} ms)");
            for m in response.results.iter().take(SHOWN_HITS) {
                println!(
                    "      {:.3}  {}",
                    m.score.unwrap_or_default(),
                    one_line(&m.memory)
                );
            }
        }
        out.push(Search {
            query: q,
            response,
            ms,
        });
    }
    Ok(out)
}
