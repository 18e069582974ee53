//! The commands other than `demo`: argument checks first (so bad input
//! fails fast, before any model loads), then the engine call, then JSON
//! (`--json`, Mem0's shapes) or human output.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use memlayer::models::{CachedModel, ModelSource};
use memlayer::{GetAllOptions, Memory, MemoryConfig, Scope, SearchOptions, UpdateOptions};
use serde_json::{Map, Value, json};

use crate::args::{Cli, GraphCommand, ListArgs, ScopeArgs, SearchArgs, UpdateArgs};
use crate::backend::Backend;
use crate::error::{CliResult, Failure};
use crate::output::{
    Table, count, history_table, one_line, print_item, print_json, short_time, spinner,
};

/// A cached-model alias or folder name, else a filesystem path.
pub fn source(s: &str) -> ModelSource {
    if CachedModel::by_name(s).is_some() {
        ModelSource::Cached(s.to_string())
    } else {
        ModelSource::Path(s.into())
    }
}

/// A short name of a model source: the cache folder name of a cached
/// model (`all-minilm-l6-v2`), else the path or hub repository.
pub fn describe(s: &ModelSource) -> String {
    match s {
        ModelSource::Cached(n) => {
            CachedModel::by_name(n).map_or_else(|| n.clone(), |m| m.name.into())
        }
        ModelSource::Path(p) => p.display().to_string(),
        ModelSource::Hub(h) => h.repo.clone(),
    }
}

/// The default database: `$MEMLAYER_DB`, else
/// `$XDG_DATA_HOME/memlayer/memories.redb`, else
/// `~/.local/share/memlayer/memories.redb`.
pub fn default_db_path() -> PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(p) = env("MEMLAYER_DB") {
        return PathBuf::from(p);
    }
    let data = env("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".local").join("share")))
        .unwrap_or_else(|| PathBuf::from("."));
    data.join("memlayer").join("memories.redb")
}

/// The database path of this invocation, with its parent directory created.
pub fn db_path(cli: &Cli) -> CliResult<PathBuf> {
    let path = cli.db.clone().unwrap_or_else(default_db_path);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| Failure::io(format!("cannot create {}", parent.display()), e))?;
    }
    Ok(path)
}

/// `--config` (or the defaults) with `--embedder` / `--chat` applied.
pub fn memory_config(cli: &Cli) -> CliResult<MemoryConfig> {
    let mut config = match &cli.config {
        Some(p) => MemoryConfig::load(p)?,
        None => MemoryConfig::default(),
    };
    if let Some(e) = &cli.embedder {
        config.embedder = source(e);
    }
    if let Some(c) = &cli.chat {
        config.chat = source(c);
    }
    Ok(config)
}

/// Opens the database at `path`, loading the embedder (with a spinner).
/// The chat model is loaded later, only by commands that need it.
/// Waits up to `--lock-timeout` while another process has the file open.
pub fn open_at(cli: &Cli, path: &Path, config: MemoryConfig) -> CliResult<Memory> {
    let pb = spinner(format!("loading embedder {}", describe(&config.embedder)));
    let mem = Memory::builder(path)
        .config(config)
        .lock_timeout(Duration::from_secs_f64(cli.lock_timeout))
        .open();
    pb.finish_and_clear();
    Ok(mem?)
}

pub(crate) fn open(cli: &Cli) -> CliResult<Memory> {
    let config = memory_config(cli)?;
    open_at(cli, &db_path(cli)?, config)
}

/// Loads the chat model now (with a spinner) and returns how long it took.
pub fn load_chat(mem: &Memory) -> CliResult<f64> {
    let pb = spinner(format!(
        "loading chat model {}",
        describe(&mem.config().chat)
    ));
    let t = Instant::now();
    let r = mem.chat_model();
    pb.finish_and_clear();
    r?;
    Ok(t.elapsed().as_secs_f64() * 1e3)
}

pub(crate) fn parse_json(flag: &str, s: &str) -> CliResult<Value> {
    serde_json::from_str(s).map_err(|e| Failure::usage(flag, format!("not valid JSON: {e}")))
}

pub(crate) fn parse_object(flag: &str, s: &str) -> CliResult<Map<String, Value>> {
    match parse_json(flag, s)? {
        Value::Object(m) => Ok(m),
        other => Err(Failure::usage(
            flag,
            format!("expected a JSON object, got `{other}`"),
        )),
    }
}

/// The scope flags as a validated [`Scope`] (at least one id, well formed).
pub(crate) fn scope_of(s: &ScopeArgs) -> CliResult<Scope> {
    let scope = Scope {
        user_id: s.user_id.clone(),
        agent_id: s.agent_id.clone(),
        run_id: s.run_id.clone(),
    };
    if scope.is_empty() {
        return Err(Failure::usage(
            "scope",
            "pass at least one of --user-id, --agent-id or --run-id",
        ));
    }
    Ok(scope.validated()?)
}

/// Reads a file named on the command line, `-` meaning standard input.
pub(crate) fn read_input(path: &Path) -> CliResult<String> {
    let mut s = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Failure::io("reading standard input", e))?;
    } else {
        s = std::fs::read_to_string(path)
            .map_err(|e| Failure::usage("file", format!("cannot read {}: {e}", path.display())))?;
    }
    Ok(s)
}

pub(crate) fn is_stdio(path: Option<&Path>) -> bool {
    path.is_none_or(|p| p.as_os_str() == "-")
}

/// Asks on the terminal; without a terminal on stdin there is no one to ask
/// and the command proceeds.
pub(crate) fn confirm(question: &str) -> CliResult<bool> {
    if !std::io::stdin().is_terminal() {
        return Ok(true);
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::io("reading the answer", e))?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

pub(crate) fn scope_label(s: &Scope) -> String {
    [
        ("user_id", &s.user_id),
        ("agent_id", &s.agent_id),
        ("run_id", &s.run_id),
    ]
    .iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
    .collect::<Vec<_>>()
    .join(" ")
}

/// `memlayer search`.
pub fn search(cli: &Cli, a: &SearchArgs) -> CliResult {
    let scope = scope_of(&a.scope)?;
    let filters = a
        .filters
        .as_deref()
        .map(|s| parse_json("--filters", s))
        .transpose()?;
    let opts = SearchOptions {
        scope,
        filters,
        limit: a.limit,
        threshold: a.threshold,
        explain: a.explain,
        include_expired: a.include_expired,
        include_superseded: a.include_superseded,
        ..SearchOptions::default()
    };
    let mem = Backend::open(cli)?;
    let r = mem.search(&a.query, &opts)?;
    if cli.json {
        return print_json(&r);
    }
    print_relations(r.relations.as_deref().unwrap_or_default());
    if r.results.is_empty() {
        println!("no memories found");
        return Ok(());
    }
    let mut t = if a.explain {
        Table::new(vec![
            "SCORE",
            "SEMANTIC",
            "KEYWORD",
            "ID",
            "UPDATED (UTC)",
            "MEMORY",
        ])
    } else {
        Table::new(vec!["SCORE", "ID", "UPDATED (UTC)", "MEMORY"])
    };
    for m in &r.results {
        let mut row = vec![format!("{:.3}", m.score.unwrap_or_default())];
        if let Some(d) = &m.explain {
            row.push(format!("{:.3}", d.semantic));
            row.push(format!("{:.2}", d.keyword));
        }
        row.extend([m.id.clone(), short_time(&m.updated_at), one_line(&m.memory)]);
        t.row(row);
    }
    t.print();
    Ok(())
}

/// `memlayer get`.
pub fn get(cli: &Cli, id: &str) -> CliResult {
    let mem = Backend::open(cli)?;
    let m = mem.get(id)?.ok_or_else(|| Failure::not_found(id))?;
    if cli.json {
        return print_json(&m);
    }
    print_item(&m);
    Ok(())
}

/// `memlayer list`.
pub fn list(cli: &Cli, a: &ListArgs) -> CliResult {
    let scope = scope_of(&a.scope)?;
    let filters = a
        .filters
        .as_deref()
        .map(|s| parse_json("--filters", s))
        .transpose()?;
    let opts = GetAllOptions {
        scope: scope.clone(),
        filters,
        limit: a.limit,
        cursor: a.cursor.clone(),
        include_expired: a.include_expired,
        include_superseded: a.include_superseded,
    };
    let mem = Backend::open(cli)?;
    let page = mem.get_all(&opts)?;
    if cli.json {
        return print_json(&page);
    }
    if page.results.is_empty() {
        println!("no memories for {}", scope_label(&scope));
    } else {
        let mut t = Table::new(vec!["ID", "UPDATED (UTC)", "MEMORY"]);
        for m in &page.results {
            t.row(vec![
                m.id.clone(),
                short_time(&m.updated_at),
                one_line(&m.memory),
            ]);
        }
        t.print();
        println!("{}", count(page.results.len() as u64, "memory", "memories"));
    }
    if let Some(c) = &page.next_cursor {
        println!("more: add --cursor {c}");
    }
    Ok(())
}

/// `memlayer update`.
pub fn update(cli: &Cli, a: &UpdateArgs) -> CliResult {
    let metadata = a
        .metadata
        .as_deref()
        .map(|s| parse_object("--metadata", s))
        .transpose()?;
    let mem = Backend::open(cli)?;
    let m = mem.update(
        &a.id,
        &UpdateOptions {
            text: a.text.clone(),
            metadata,
        },
    )?;
    if cli.json {
        return print_json(&m);
    }
    print_item(&m);
    Ok(())
}

/// `memlayer delete`.
pub fn delete(cli: &Cli, id: &str) -> CliResult {
    let mem = Backend::open(cli)?;
    mem.delete(id)?;
    if cli.json {
        return print_json(&json!({"message": "Memory deleted successfully!", "id": id.trim()}));
    }
    println!("deleted {} (its history is kept)", id.trim());
    Ok(())
}

/// `memlayer delete-all`.
pub fn delete_all(cli: &Cli, scope: &ScopeArgs, yes: bool) -> CliResult {
    let scope = scope_of(scope)?;
    let label = scope_label(&scope);
    if !yes && !confirm(&format!("Delete every memory of {label}?"))? {
        return Err(Failure::aborted("delete-all"));
    }
    let mem = Backend::open(cli)?;
    let report = mem.delete_all(&scope)?;
    if cli.json {
        return print_json(&json!({
            "message": "Memories deleted successfully!",
            "deleted": report.memories,
        }));
    }
    println!(
        "deleted {} of {label}",
        count(report.memories as u64, "memory", "memories")
    );
    Ok(())
}

/// `memlayer history`.
pub fn history(cli: &Cli, id: &str) -> CliResult {
    let mem = Backend::open(cli)?;
    let h = mem.history(id)?;
    if cli.json {
        return print_json(&h);
    }
    print!("{}", history_table(&h, 0));
    Ok(())
}

/// `memlayer reset`.
pub fn reset(cli: &Cli, yes: bool) -> CliResult {
    let path = db_path(cli)?;
    if !yes
        && !confirm(&format!(
            "Delete every memory and all history in {}?",
            path.display()
        ))?
    {
        return Err(Failure::aborted("reset"));
    }
    let mem = Backend::open(cli)?;
    mem.reset()?;
    if cli.json {
        return print_json(&json!({"message": "Memory store reset successfully!"}));
    }
    println!(
        "reset {}: every memory and its history deleted",
        path.display()
    );
    Ok(())
}

fn print_relations(rels: &[memlayer::Relation]) {
    if rels.is_empty() {
        return;
    }
    let mut t = Table::new(vec!["SCORE", "SOURCE", "RELATIONSHIP", "DESTINATION"]);
    for r in rels {
        t.row(vec![
            r.score.map_or_else(String::new, |s| format!("{s:.3}")),
            r.source.clone(),
            r.relationship.clone(),
            r.destination.clone(),
        ]);
    }
    t.print();
}

fn relation_table(rels: &[memlayer::RelationRecord]) {
    if rels.is_empty() {
        println!("no relations");
        return;
    }
    let mut t = Table::new(vec![
        "SOURCE",
        "RELATIONSHIP",
        "DESTINATION",
        "VALID",
        "ADDED (UTC)",
        "INVALIDATED (UTC)",
        "MENTIONS",
    ]);
    for r in rels {
        t.row(vec![
            r.source.clone(),
            r.relationship.clone(),
            r.destination.clone(),
            if r.valid { "yes" } else { "no" }.into(),
            short_time(&r.created_at.to_string()),
            r.invalidated_at
                .map(|x| short_time(&x.to_string()))
                .unwrap_or_default(),
            r.mentions.to_string(),
        ]);
    }
    t.print();
}

/// `memlayer graph show|neighbors|paths`.
pub fn graph(cli: &Cli, g: &GraphCommand) -> CliResult {
    match g {
        GraphCommand::Show { scope, all } => {
            let scope = scope_of(scope)?;
            let mem = open(cli)?;
            let rels = mem.relations(&scope, *all)?;
            if cli.json {
                return print_json(&json!({ "relations": rels }));
            }
            relation_table(&rels);
        }
        GraphCommand::Neighbors {
            entity,
            scope,
            depth,
        } => {
            let scope = scope_of(scope)?;
            let mem = open(cli)?;
            let rels = mem.neighbors(entity, *depth, &scope)?;
            if cli.json {
                return print_json(&json!({ "relations": rels }));
            }
            relation_table(&rels);
        }
        GraphCommand::Paths {
            from,
            to,
            scope,
            max_depth,
        } => {
            let scope = scope_of(scope)?;
            let mem = open(cli)?;
            let paths = mem.paths(from, to, *max_depth, &scope)?;
            if cli.json {
                return print_json(&json!({ "paths": paths }));
            }
            if paths.is_empty() {
                println!("no path within {max_depth} hops");
            }
            for p in &paths {
                let hops: Vec<String> = p
                    .iter()
                    .map(|r| format!("{} -{}-> {}", r.source, r.relationship, r.destination))
                    .collect();
                println!("{}", hops.join("  ·  "));
            }
        }
    }
    Ok(())
}
