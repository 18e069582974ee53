//! `memlayer` — the command-line front end over the memlayer engine.
//!
//! Every command prints a human table by default and Mem0's JSON response
//! shapes with `--json`. Exit status: 0 ok, 1 failure, 2 usage or invalid
//! input, 3 memory not found. Errors print `error: ...` and `hint: ...` on
//! stderr, and with `--json` also `{"error": {code, message, suggestion}}`
//! on stdout.

mod add;
mod admin;
mod args;
mod backend;
mod commands;
mod demo;
mod error;
mod mcp;
mod output;
mod serve;

use clap::Parser;
use serde_json::json;

use crate::args::{Cli, Command, DEFAULT_LOG};
use crate::error::{CliResult, EXIT_USAGE, Failure};

fn run(cli: &Cli) -> CliResult {
    match &cli.command {
        Command::Add(a) => add::add(cli, a),
        Command::Search(a) => commands::search(cli, a),
        Command::Get { id } => commands::get(cli, id),
        Command::List(a) => commands::list(cli, a),
        Command::Update(a) => commands::update(cli, a),
        Command::Delete { id } => commands::delete(cli, id),
        Command::DeleteAll { scope, yes } => commands::delete_all(cli, scope, *yes),
        Command::History { id } => commands::history(cli, id),
        Command::Reset { yes } => commands::reset(cli, *yes),
        Command::Mcp(a) => mcp::run(cli, a),
        Command::Serve(a) => serve::run(cli, a),
        Command::Verify => admin::verify(cli),
        Command::Import { file } => admin::import(cli, file),
        Command::Export { file } => admin::export(cli, file.as_deref()),
        Command::Graph(g) => commands::graph(cli, g),
        Command::Demo => demo::run(cli),
    }
}

fn report(f: &Failure, json: bool) {
    if json {
        println!("{}", f.to_json());
    }
    eprintln!("error: {}", f.message);
    eprintln!("hint: {}", f.suggestion);
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and --version go to stdout with status 0; real usage
            // errors exit 2 (clap's default), with a JSON error under --json.
            if e.use_stderr() && std::env::args_os().any(|a| a == "--json") {
                // The first paragraph of clap's message, on one line.
                let rendered = e.render().to_string();
                let message = rendered
                    .lines()
                    .take_while(|l| !l.trim().is_empty())
                    .map(str::trim)
                    .collect::<Vec<_>>()
                    .join(" ");
                let message = message.strip_prefix("error: ").unwrap_or(&message);
                println!(
                    "{}",
                    json!({"error": {
                        "code": "usage",
                        "message": message,
                        "suggestion": "see `memlayer --help` or `memlayer <command> --help`",
                    }})
                );
                let _ = e.print();
                std::process::exit(EXIT_USAGE);
            }
            e.exit();
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(cli.log.as_deref().unwrap_or(DEFAULT_LOG))
                .unwrap_or_else(|_| DEFAULT_LOG.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    // `run` returns before exiting, so the engine handle is dropped (and the
    // index snapshot written) first.
    let status = match run(&cli) {
        Ok(()) => 0,
        Err(f) => {
            report(&f, cli.json);
            f.exit
        }
    };
    std::process::exit(status);
}
