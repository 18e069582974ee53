//! Measures `LlamaCppChat` prefill and decode throughput on one GGUF and
//! prints one JSON object per repetition; `benches/peers/llama_cpp_python.sh`
//! runs it beside llama-cpp-python on the same file, prompt and threads.
//!
//! Usage: llm-throughput MODEL.gguf THREADS MAX_TOKENS REPS [PROMPT]
//! The rendered prompt is printed first as {"prompt": "..."} so the peer can
//! evaluate exactly the same text.

use memlayer_models::{ChatConfig, ChatMessage, ChatModel, GenerateOptions, LlamaCppChat};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: llm-throughput MODEL.gguf THREADS MAX_TOKENS REPS [PROMPT]");
        std::process::exit(2);
    }
    let parse = |i: usize| -> usize {
        args[i].parse().unwrap_or_else(|_| {
            eprintln!("argument {i} must be a number: {}", args[i]);
            std::process::exit(2)
        })
    };
    let (threads, max_tokens, reps) = (parse(2), parse(3), parse(4));
    let prompt = args
        .get(5)
        .cloned()
        .unwrap_or_else(|| "Write a long, detailed essay about the history of tea.".into());
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
