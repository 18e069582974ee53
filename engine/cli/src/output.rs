//! Human output (aligned tables, key/value blocks), JSON output, and the
//! progress indicators (drawn on stderr, only when stderr is a terminal).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use memlayer::{HistoryEvent, MemoryItem};
use serde::Serialize;

use crate::error::{CliResult, Failure};

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: Serialize + ?Sized>(v: &T) -> CliResult {
    let s = serde_json::to_string_pretty(v).map_err(|e| Failure {
        code: "internal",
        message: format!("cannot serialise the response: {e}"),
        suggestion: "this is a bug; please report it".into(),
        exit: crate::error::EXIT_OTHER,
    })?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{s}").map_err(|e| Failure::io("writing standard output", e))
}

/// A table with aligned columns; the last column is not padded, so long
/// texts (memories) go there.
pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(header: Vec<&'static str>) -> Self {
        Table {
            header,
            rows: Vec::new(),
        }
    }

    /// Adds a row (one cell per column).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, one line per row, `indent` spaces before each.
    pub fn render(&self, indent: usize) -> String {
        let n = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self.header.iter().map(|h| h.to_string()).collect();
        for r in std::iter::once(&header).chain(&self.rows) {
            out.push_str(&" ".repeat(indent));
            for (i, c) in r.iter().enumerate().take(n) {
                out.push_str(c);
                if i + 1 < n {
                    let pad = widths[i] - c.chars().count() + 2;
                    out.push_str(&" ".repeat(pad));
                }
            }
            let trimmed = out.trim_end().len();
            out.truncate(trimmed);
            out.push('\n');
        }
        out
    }

    /// Prints the table on stdout.
    pub fn print(&self) {
        print!("{}", self.render(0));
    }
}

/// `1 memory`, `2 memories`.
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Collapses whitespace (newlines included) so a text fits on one row.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `2025-06-01T12:34:56.123456Z` → `2025-06-01 12:34:56` (UTC).
pub fn short_time(rfc3339: &str) -> String {
    let s: String = rfc3339.chars().take(19).collect();
    s.replacen('T', " ", 1)
}

/// Prints one memory as `key  value` lines.
pub fn print_item(m: &MemoryItem) {
    let mut t = Table::new(vec!["FIELD", "VALUE"]);
    let mut kv = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            t.row(vec![k.to_string(), v]);
        }
    };
    kv("id", Some(m.id.clone()));
    kv("memory", Some(m.memory.clone()));
    kv("user_id", m.user_id.clone());
    kv("agent_id", m.agent_id.clone());
    kv("run_id", m.run_id.clone());
    kv("role", m.role.clone());
    kv("actor_id", m.actor_id.clone());
    kv("memory_type", m.memory_type.clone());
    kv(
        "metadata",
        (!m.metadata.is_empty()).then(|| serde_json::Value::Object(m.metadata.clone()).to_string()),
    );
    kv("hash", Some(m.hash.clone()));
    kv("created_at", Some(m.created_at.clone()));
    kv("updated_at", Some(m.updated_at.clone()));
    kv("expiration_date", m.expiration_date.clone());
    // A key/value block reads better without the header line.
    let text = t.render(0);
    print!("{}", text.split_once('\n').map_or("", |(_, rest)| rest));
}

/// The history table of one memory.
pub fn history_table(events: &[HistoryEvent], indent: usize) -> String {
    let mut t = Table::new(vec!["EVENT", "AT (UTC)", "CHANGE"]);
    for e in events {
        let event = e.event.as_str();
        let change = match (&e.old_memory, &e.new_memory) {
            (None, Some(new)) => one_line(new),
            (Some(old), Some(new)) => format!("{} → {}", one_line(old), one_line(new)),
            (Some(old), None) => format!("{} (deleted)", one_line(old)),
            (None, None) => String::new(),
        };
        t.row(vec![
            event.to_string(),
            short_time(&e.event_at.to_string()),
            change,
        ]);
    }
    t.render(indent)
}

/// True when progress indicators should be drawn (stderr is a terminal).
pub fn interactive_stderr() -> bool {
    std::io::stderr().is_terminal()
}

/// A spinner on stderr with a message and the elapsed time; hidden when
/// stderr is not a terminal.
pub fn spinner(msg: impl Into<String>) -> ProgressBar {
    if !interactive_stderr() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(msg.into());
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

/// A count progress bar on stderr; hidden when stderr is not a terminal.
pub fn count_progress(msg: impl Into<String>, len: u64) -> ProgressBar {
    if !interactive_stderr() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {per_sec} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(msg.into());
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

/// A byte progress bar on stderr (`len` known) or a byte-counting spinner;
/// hidden when stderr is not a terminal.
pub fn byte_progress(msg: impl Into<String>, len: Option<u64>) -> ProgressBar {
    if !interactive_stderr() {
        return ProgressBar::hidden();
    }
    let (pb, template) = match len {
        Some(n) => (
            ProgressBar::new(n),
            "{msg} [{bar:30}] {bytes}/{total_bytes} {elapsed}",
        ),
        None => (
            ProgressBar::new_spinner(),
            "{spinner} {msg} {bytes} {elapsed}",
        ),
    };
    pb.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(msg.into());
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}
