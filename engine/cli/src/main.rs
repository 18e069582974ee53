//! `memlayer` — the command-line front end over the memlayer engine.

use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use memlayer::models::{
    BertEmbedder, ChatConfig, ChatMessage, ChatModel, Embedder, EmbedderConfig, GenerateOptions,
    LlamaCppChat, ModelSource, cosine,
};

#[derive(Parser)]
#[command(
    name = "memlayer",
    version,
    about = "Offline long-term memory for AI agents"
)]
struct Cli {
    /// Log filter (tracing EnvFilter syntax), e.g. `debug` or `memlayer=trace`.
    #[arg(
        long,
        global = true,
        env = "MEMLAYER_LOG",
        default_value = "warn,llama-cpp-2=error"
    )]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load the default local models and show what they do: embedding
    /// similarity and JSON-constrained fact extraction from a conversation.
    Demo {
        /// Embedding model: a directory, or a cached model name (default: minilm).
        #[arg(long, default_value = "minilm")]
        embedder: String,
        /// Chat model: a .gguf path, or a cached model name (default: qwen).
        #[arg(long, default_value = "qwen")]
        chat: String,
        /// Print machine-readable JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// A cached-model alias or folder name, else a filesystem path.
fn source(s: &str) -> ModelSource {
    if memlayer::models::CachedModel::by_name(s).is_some() {
        ModelSource::Cached(s.to_string())
    } else {
        ModelSource::Path(s.into())
    }
}

fn spinner(msg: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(msg.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

fn demo(embedder: &str, chat: &str, json: bool) -> Result<()> {
    let t = Instant::now();
    let pb = spinner("loading embedder");
    let emb = BertEmbedder::load(&source(embedder), &EmbedderConfig::default())
        .context("loading the embedder")?;
    let emb_load = t.elapsed();
    pb.set_message("loading chat model");
    let t = Instant::now();
    let llm = LlamaCppChat::load(&source(chat), ChatConfig::default())
        .context("loading the chat model")?;
    let llm_load = t.elapsed();
    pb.finish_and_clear();

    let sentences = [
        "I love drinking green tea in the morning.",
        "My favourite drink is tea.",
        "The train to Porto leaves at noon.",
        "I'm allergic to peanuts.",
    ];
    let t = Instant::now();
    let vecs = emb.embed_batch(&sentences)?;
    let embed_ms = t.elapsed().as_secs_f64() * 1e3;

    // Few-shot as earlier turns: small models copy an example embedded in the
    // system prompt, but treat a previous exchange as a pattern to follow.
    let conversation = [
        ChatMessage::system(
            "You extract durable facts about the user from a conversation. Write each fact as a short \
             phrase about the user in the third person, one fact per item, no duplicates. Ignore small \
             talk and one-off requests. Answer with JSON only.",
        ),
        ChatMessage::user(
            "Conversation:\nuser: Hey, I'm Tom. I love hiking and I have two cats.\n\
             assistant: Nice to meet you, Tom!\nuser: Can you find me a trail for Sunday?",
        ),
        ChatMessage::assistant(r#"{"facts": ["Name is Tom", "Loves hiking", "Has two cats"]}"#),
        ChatMessage::user(
            "Conversation:\nuser: Hi! I'm Priya, I just moved to Lisbon and started as a nurse at Santa Maria \
             hospital.\nassistant: Welcome to Lisbon! How can I help?\nuser: Find me vegetarian restaurants \
             near work. Oh, and I can't eat peanuts.",
        ),
    ];
    let schema = serde_json::json!({
        "type": "object", "additionalProperties": false, "required": ["facts"],
        "properties": {"facts": {"type": "array", "maxItems": 8,
            "items": {"type": "string", "minLength": 1, "maxLength": 160}}}
    });
    let out = llm.generate(
        &conversation,
        &GenerateOptions::default()
            .max_tokens(400)
            .json_schema(schema),
    )?;
    let facts: serde_json::Value =
        serde_json::from_str(&out.text).context("model output is not JSON")?;

    if json {
        let sims: Vec<Vec<f32>> = vecs
            .iter()
            .map(|a| vecs.iter().map(|b| cosine(a, b)).collect())
            .collect();
        let report = serde_json::json!({
            "embedder": emb.model_id(), "chat_model": llm.model_id(),
            "sentences": sentences, "similarity": sims, "embed_ms": embed_ms,
            "extraction": facts, "completion": out,
            "load_ms": {"embedder": emb_load.as_secs_f64() * 1e3, "chat": llm_load.as_secs_f64() * 1e3},
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("memlayer demo — local models only, no network\n");
    println!(
        "embedder   {}  (loaded in {:.0} ms)",
        emb.model_id(),
        emb_load.as_secs_f64() * 1e3
    );
    println!(
        "chat model {}  (loaded in {:.0} ms)\n",
        llm.model_id(),
        llm_load.as_secs_f64() * 1e3
    );
    println!(
        "Embedding similarity (cosine), {} sentences in {embed_ms:.1} ms:",
        sentences.len()
    );
    for (i, s) in sentences.iter().enumerate() {
        let row: Vec<String> = vecs
            .iter()
            .map(|b| format!("{:5.2}", cosine(&vecs[i], b)))
            .collect();
        println!("  [{i}] {}  {s}", row.join(" "));
    }
    println!("\nJSON-constrained fact extraction from a short conversation:");
    match facts["facts"].as_array() {
        Some(list) if !list.is_empty() => {
            for f in list {
                println!("  - {}", f.as_str().unwrap_or_default());
            }
        }
        _ => println!("  (no facts extracted)"),
    }
    println!(
        "\n  {} prompt tokens in {:.0} ms ({:.0} tok/s), {} output tokens in {:.0} ms ({:.1} tok/s)",
        out.prompt_tokens,
        out.timings.prompt_ms,
        out.prompt_tokens_per_s(),
        out.completion_tokens,
        out.timings.generation_ms,
        out.generation_tokens_per_s()
    );
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log)
                .unwrap_or_else(|_| "warn,llama-cpp-2=error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Demo {
            embedder,
            chat,
            json,
        } => demo(&embedder, &chat, json),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
