//! Measures `LlamaCppChat` prefill and decode throughput on one GGUF and
//! prints one JSON object per repetition; `benches/peers/llama_cpp_python.sh`
//! runs it beside llama-cpp-python on the same file, prompt and threads.
//!
//! Usage: llm-throughput MODEL.gguf THREADS MAX_TOKENS REPS [short|long]
//! `long` prepends a ~600-token extraction prompt (prefill-heavy); `short` is
//! a one-line request (decode-heavy). One unmeasured warm-up call runs first.
//! The rendered prompt is printed first as {"prompt": "..."} so the peer can
//! evaluate exactly the same text.

use memlayer_models::{ChatConfig, ChatMessage, ChatModel, GenerateOptions, LlamaCppChat};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: llm-throughput MODEL.gguf THREADS MAX_TOKENS REPS [short|long]");
        std::process::exit(2);
    }
    let parse = |i: usize| -> usize {
        args[i].parse().unwrap_or_else(|_| {
            eprintln!("argument {i} must be a number: {}", args[i]);
            std::process::exit(2)
        })
    };
    let (threads, max_tokens, reps) = (parse(2), parse(3), parse(4));
    let essay = "Write a long, detailed essay about the history of tea.";
    let prompt = match args.get(5).map(String::as_str) {
        Some("long") => format!("{}\n\n{essay}", memlayer_benches::long_system_prompt(600)),
        _ => essay.to_string(),
    };
    let cfg = ChatConfig {
        n_ctx: 2048,
        n_threads: Some(threads as i32),
        prefix_cache: false,
        ..ChatConfig::default()
    };
    let model = LlamaCppChat::load_file(std::path::Path::new(&args[1]), cfg).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    let msgs = [ChatMessage::user(prompt)];
    let rendered = model.render_prompt(&msgs).unwrap_or_default();
    println!("{}", serde_json::json!({"prompt": rendered}));
    let opts = GenerateOptions::default().max_tokens(max_tokens);
    // Warm-up: page in the weights and size the buffers, as the peer's
    // long-lived process has.
    if let Err(e) = model.generate(&msgs, &GenerateOptions::default().max_tokens(8)) {
        eprintln!("{e}");
        std::process::exit(1)
    }
    for _ in 0..reps {
        match model.generate(&msgs, &opts) {
            Ok(out) => println!(
                "{}",
                serde_json::json!({
                    "impl": "memlayer", "prompt_tokens": out.prompt_tokens, "completion_tokens": out.completion_tokens,
                    "prefill_tok_s": out.prompt_tokens_per_s(), "decode_tok_s": out.generation_tokens_per_s(),
                })
            ),
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1)
            }
        }
    }
}
