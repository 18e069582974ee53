//! `memlayer add`: one message or conversation (`add`), or a JSONL file of
//! raw memories in bulk (`add --jsonl`).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::time::Instant;

use memlayer::{AddEvent, AddOptions, AddResult, BulkMemory, MemoryError, Messages, Scope};

use crate::args::{AddArgs, Cli};
use crate::backend::Backend;
use crate::commands::{is_stdio, load_chat, open, parse_json, parse_object, read_input, scope_of};
use crate::error::{CliResult, Failure};
use crate::output::{Table, count, count_progress, one_line, print_json, spinner};
use serde_json::json;

/// The text column of an add event: the memory, plus what it replaced.
pub fn event_text(e: &AddEvent) -> String {
    let mut s = one_line(&e.memory);
    if let Some(prev) = &e.previous_memory {
        s.push_str(&format!("  (was: {})", one_line(prev)));
    }
    if let Some(by) = &e.superseded_by {
        s.push_str(&format!("  (superseded by {by})"));
    }
    s
}

/// One line of counters of an `add` call.
pub fn add_summary(r: &AddResult, ms: f64, infer: bool) -> String {
    let s = &r.stats;
    let mut out = format!(
        "{} in {ms:.0} ms",
        count(r.results.len() as u64, "change", "changes")
    );
    if infer {
        out.push_str(&format!(
            " · {} LLM call(s) · {} prompt tokens ({} cached) · {} generated · {} fact(s)",
            s.llm_calls, s.prompt_tokens, s.cached_prompt_tokens, s.completion_tokens, s.facts
        ));
        if s.exact_duplicates > 0 {
            out.push_str(&format!(" · {} already known", s.exact_duplicates));
        }
        if s.dropped > 0 {
            out.push_str(&format!(" · {} invalid decision(s) dropped", s.dropped));
        }
    }
    out
}

/// A `--timestamp`: RFC 3339 or Unix seconds.
fn parse_time(flag: &str, s: &str) -> CliResult<memlayer::store::Timestamp> {
    let t = s.trim();
    let r = match t.parse::<i64>() {
        Ok(secs) => memlayer::store::Timestamp::from_unix_seconds(secs),
        Err(_) => memlayer::store::Timestamp::parse_rfc3339(t),
    };
    r.map_err(|e| Failure::usage(flag, e.to_string()))
}

/// Reads and parses every line of a `--jsonl` file; each line takes the
/// ids it lacks from `default`. Returns the items and their line numbers.
fn read_bulk(file: &Path, default: &Scope) -> CliResult<(Vec<BulkMemory>, Vec<usize>)> {
    let reader: Box<dyn Read> =
        if is_stdio(Some(file)) {
            Box::new(std::io::stdin())
        } else {
            Box::new(File::open(file).map_err(|e| {
                Failure::usage("jsonl", format!("cannot open {}: {e}", file.display()))
            })?)
        };
    let (mut items, mut lines) = (Vec::new(), Vec::new());
    for (i, line) in BufReader::new(reader).lines().enumerate() {
        let line = line.map_err(|e| Failure::io(format!("reading {}", file.display()), e))?;
        if line.trim().is_empty() {
            continue;
        }
        let mut m: BulkMemory = serde_json::from_str(&line).map_err(|e| {
            // serde's "at line 1 column N" is about the line alone.
            let msg = e.to_string();
            let msg = msg.rsplit_once(" at line ").map_or(msg.as_str(), |x| x.0);
            Failure::usage(
                "jsonl",
                format!("line {} (column {}): {msg}", i + 1, e.column()),
            )
        })?;
        let s = &mut m.scope;
        s.user_id = s.user_id.take().or_else(|| default.user_id.clone());
        s.agent_id = s.agent_id.take().or_else(|| default.agent_id.clone());
        s.run_id = s.run_id.take().or_else(|| default.run_id.clone());
        items.push(m);
        lines.push(i + 1);
    }
    Ok((items, lines))
}

/// Names the line of a bulk item in a validation error (`item 7 (user_id)`
/// becomes `line 9 (user_id)`).
fn at_line(e: MemoryError, lines: &[usize]) -> MemoryError {
    match e {
        MemoryError::Validation { field, reason } => {
            let renamed = field.strip_prefix("item ").and_then(|rest| {
                let (n, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let line = lines.get(n.parse::<usize>().ok()?)?;
                Some(format!("line {line} {tail}").trim_end().to_string())
            });
            let field = renamed.unwrap_or(field);
            MemoryError::Validation { field, reason }
        }
        other => other,
    }
}

/// `memlayer add --jsonl`.
fn add_jsonl(cli: &Cli, a: &AddArgs, file: &Path) -> CliResult {
    let default = Scope {
        user_id: a.scope.user_id.clone(),
        agent_id: a.scope.agent_id.clone(),
        run_id: a.scope.run_id.clone(),
    };
    let (items, lines) = read_bulk(file, &default)?;
    let mem = open(cli)?;
    let pb = count_progress("embedding and storing", items.len() as u64);
    let t = Instant::now();
    let r = mem.add_many_with_progress(&items, |done| pb.set_position(done as u64));
    pb.finish_and_clear();
    let r = r.map_err(|e| at_line(e, &lines))?;
    let s = t.elapsed().as_secs_f64();
    if cli.json {
        return print_json(&json!({
            "message": "Memories added successfully!",
            "added": r.ids.len(),
            "skipped": r.skipped,
            "commits": r.commits,
            "ids": r.ids,
        }));
    }
    println!(
        "stored {} in {s:.1} s ({:.0}/s, {} write batches){}",
        count(r.ids.len() as u64, "memory", "memories"),
        r.ids.len() as f64 / s.max(1e-9),
        r.commits,
        if r.skipped > 0 {
            format!(" · {} system line(s) skipped", r.skipped)
        } else {
            String::new()
        }
    );
    Ok(())
}

/// `memlayer add`.
pub fn add(cli: &Cli, a: &AddArgs) -> CliResult {
    if let Some(f) = &a.jsonl {
        return add_jsonl(cli, a, f);
    }
    let messages = match (&a.text, &a.file) {
        (Some(t), _) if t == "-" => Messages::Text(read_input(Path::new("-"))?),
        (Some(t), _) => Messages::Text(t.clone()),
        (None, Some(f)) => {
            let v = parse_json("--file", &read_input(f)?)?;
            Messages::from_json(&v)?
        }
        (None, None) => return Err(Failure::usage("messages", "give a TEXT or --file")),
    };
    // Validate everything before loading any model.
    messages.clone().normalize()?;
    let scope = scope_of(&a.scope)?;
    let metadata = a
        .metadata
        .as_deref()
        .map(|s| parse_object("--metadata", s))
        .transpose()?;
    if let Some(m) = &metadata {
        memlayer::store::validate_metadata(m)?;
    }
    let infer = a.infer || !a.no_infer;
    let opts = AddOptions {
        scope,
        metadata,
        infer,
        memory_type: a.memory_type.clone(),
        prompt: a.prompt.clone(),
        expiration_date: a.expiration_date.clone(),
        timestamp: a
            .timestamp
            .as_deref()
            .map(|t| parse_time("timestamp", t))
            .transpose()?,
    };
    let mem = Backend::open(cli)?;
    let uses_llm = infer || opts.memory_type.is_some();
    if let (true, Backend::Local(m)) = (uses_llm, &mem) {
        load_chat(m)?;
    }
    let pb = spinner(if uses_llm {
        "extracting facts and reconciling with memory"
    } else {
        "embedding and storing"
    });
    let t = Instant::now();
    let r = mem.add(messages, &opts);
    pb.finish_and_clear();
    let r = r?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    if cli.json {
        return print_json(&r);
    }
    if r.results.is_empty() {
        println!("nothing changed: no new facts to remember (or all already known)");
    } else {
        let mut t = Table::new(vec!["EVENT", "ID", "MEMORY"]);
        for e in &r.results {
            t.row(vec![e.event.as_str().into(), e.id.clone(), event_text(e)]);
        }
        t.print();
    }
    if let Some(g) = r.relations.as_ref().filter(|g| !g.is_empty()) {
        let mut t = Table::new(vec!["GRAPH", "SOURCE", "RELATIONSHIP", "DESTINATION"]);
        for (what, rels) in [
            ("added", &g.added_entities),
            ("invalidated", &g.deleted_entities),
        ] {
            for x in rels {
                t.row(vec![
                    what.into(),
                    x.source.clone(),
                    x.relationship.clone(),
                    x.destination.clone(),
                ]);
            }
        }
        t.print();
    }
    println!("{}", add_summary(&r, ms, uses_llm));
    Ok(())
}
