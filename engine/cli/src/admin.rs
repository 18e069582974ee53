//! Whole-database commands: `import`, `export` (JSONL) and `verify`.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use serde_json::{Value, json};

use crate::args::Cli;
use crate::commands::{is_stdio, open};
use crate::error::{CliResult, Failure};
use crate::output::{byte_progress, count, print_json};

fn transfer_json(message: &str, s: &memlayer::store::TransferStats) -> Value {
    json!({
        "message": message,
        "memories": s.memories,
        "history": s.history,
        "graph_nodes": s.nodes,
        "graph_edges": s.edges,
    })
}

/// `memlayer import`.
pub fn import(cli: &Cli, file: &Path) -> CliResult {
    let (reader, len): (Box<dyn Read>, Option<u64>) = if is_stdio(Some(file)) {
        (Box::new(std::io::stdin()), None)
    } else {
        let f = File::open(file)
            .map_err(|e| Failure::usage("file", format!("cannot open {}: {e}", file.display())))?;
        let len = f.metadata().ok().map(|m| m.len());
        (Box::new(f), len)
    };
    let mem = open(cli)?;
    let pb = byte_progress("importing", len);
    let r = mem.import_jsonl(pb.wrap_read(BufReader::new(reader)));
    pb.finish_and_clear();
    let stats = r?;
    if cli.json {
        return print_json(&transfer_json("Memories imported successfully!", &stats));
    }
    println!(
        "imported {} and {}",
        count(stats.memories, "memory", "memories"),
        count(stats.history, "history event", "history events")
    );
    Ok(())
}

/// `memlayer export`.
pub fn export(cli: &Cli, file: Option<&Path>) -> CliResult {
    let mem = open(cli)?;
    if is_stdio(file) {
        let mut w = BufWriter::new(std::io::stdout().lock());
        let stats = mem.export_jsonl(&mut w)?;
        w.flush()
            .map_err(|e| Failure::io("writing standard output", e))?;
        // Standard output carries the JSONL; the summary goes to stderr.
        if !cli.json {
            eprintln!(
                "exported {} and {}",
                count(stats.memories, "memory", "memories"),
                count(stats.history, "history event", "history events")
            );
        }
        return Ok(());
    }
    let path = file.unwrap_or(Path::new("-"));
    let f = File::create(path)
        .map_err(|e| Failure::io(format!("cannot create {}", path.display()), e))?;
    let mut w = BufWriter::new(f);
    let stats = mem.export_jsonl(&mut w)?;
    w.flush()
        .map_err(|e| Failure::io(format!("writing {}", path.display()), e))?;
    if cli.json {
        return print_json(&transfer_json("Memories exported successfully!", &stats));
    }
    println!(
        "exported {} and {} to {}",
        count(stats.memories, "memory", "memories"),
        count(stats.history, "history event", "history events"),
        path.display()
    );
    Ok(())
}

/// `memlayer verify`: the store's integrity report; exit 1 on problems.
pub fn verify(cli: &Cli) -> CliResult {
    let mem = open(cli)?;
    let r = mem.verify()?;
    if cli.json {
        print_json(&json!({
            "ok": r.is_ok(),
            "seq": r.seq,
            "records": r.records,
            "history_events": r.history_events,
            "postings": r.postings,
            "graph_nodes": r.graph_nodes,
            "graph_edges": r.graph_edges,
            "problem_count": r.problem_count,
            "problems": r.problems,
        }))?;
    } else {
        println!(
            "checked {} memories, {} history events, {} postings, {} graph nodes, {} edges at commit {}: {}",
            r.records,
            r.history_events,
            r.postings,
            r.graph_nodes,
            r.graph_edges,
            r.seq,
            if r.is_ok() {
                "ok".to_string()
            } else {
                format!("{} problem(s)", r.problem_count)
            }
        );
        for p in &r.problems {
            println!("  {p}");
        }
    }
    if r.is_ok() {
        Ok(())
    } else {
        Err(Failure {
            code: "corrupt",
            message: format!("verify found {} problem(s)", r.problem_count),
            suggestion: "export what is readable (memlayer export) and import it into a new database; report the problems".into(),
            exit: crate::error::EXIT_OTHER,
        })
    }
}
