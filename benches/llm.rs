//! LLM prefill and decode throughput of `LlamaCppChat` for SmolLM2-135M and
//! Qwen2.5-0.5B, and the latency of an add-style call (a ~600-token fixed
//! system prompt, a short conversation, JSON-constrained output) with and
//! without prefix reuse.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use memlayer_benches::long_system_prompt;
use memlayer_models::{
    CachedModel, ChatConfig, ChatMessage, ChatModel, GenerateOptions, LlamaCppChat,
};

fn load(m: CachedModel) -> LlamaCppChat {
    let cfg = ChatConfig {
        n_ctx: 2048,
        ..ChatConfig::default()
    };
    LlamaCppChat::load_file(&memlayer_tests::require(m), cfg).expect("load model")
}

fn llm(c: &mut Criterion) {
    let models = [
        ("smollm2", CachedModel::SMOLLM2_135M),
        ("qwen0.5b", CachedModel::QWEN25_05B),
    ];
    let system = ChatMessage::system(long_system_prompt(600));
    let schema = serde_json::json!({"type": "object", "additionalProperties": false, "required": ["facts"],
        "properties": {"facts": {"type": "array", "maxItems": 4, "items": {"type": "string", "maxLength": 80}}}});
    for (name, m) in models {
        let model = load(m);
        let mut g = c.benchmark_group(format!("llm/{name}"));
        g.sample_size(10)
            .measurement_time(Duration::from_secs(20))
            .warm_up_time(Duration::from_secs(2));

        // Prefill: a ~600-token prompt, one output token, nothing cached.
        let prefill_msgs = [
            system.clone(),
            ChatMessage::user("user: I just adopted a cat named Miso."),
        ];
        let one = GenerateOptions::default().max_tokens(1);
        model.clear_prefix_cache();
        let probe = model.generate(&prefill_msgs, &one).expect("generate");
        g.throughput(Throughput::Elements(probe.prompt_tokens as u64));
        g.bench_function("prefill_600", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    model.clear_prefix_cache();
                    let out = model.generate(&prefill_msgs, &one).expect("generate");
                    total += Duration::from_secs_f64(out.timings.prompt_ms / 1e3);
                }
                total
            })
        });

        // Decode: 128 tokens of free text after a short prompt (generation
        // time only; greedy, so every iteration produces the same tokens).
        let decode_msgs = [ChatMessage::user(
            "Write a long, detailed essay about the history of tea.",
        )];
        let gen128 = GenerateOptions::default().max_tokens(128);
        let probe = model.generate(&decode_msgs, &gen128).expect("generate");
        g.throughput(Throughput::Elements(probe.completion_tokens as u64));
        g.bench_function("decode_128", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let out = model.generate(&decode_msgs, &gen128).expect("generate");
                    total += Duration::from_secs_f64(out.timings.generation_ms / 1e3);
                }
                total
            })
        });

        // Add-style call: fixed system prompt + a new conversation each time,
        // JSON-constrained facts. With reuse the system prompt's KV state is
        // kept between calls; without, it is evaluated every call.
        let convs = [
            "user: I moved to Lisbon and work as a nurse.",
            "user: I'm vegetarian but eat fish on weekends.",
            "user: My daughter Ana is allergic to peanuts.",
            "user: I switched from coffee to green tea.",
        ];
        let opts = GenerateOptions::default()
            .max_tokens(96)
            .json_schema(schema.clone());
        g.throughput(Throughput::Elements(1));
        for reuse in [false, true] {
            let label = if reuse {
                "with_prefix_reuse"
            } else {
                "without_prefix_reuse"
            };
            let mut i = 0usize;
            g.bench_function(BenchmarkId::new("add_call", label), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        if !reuse {
                            model.clear_prefix_cache();
                        }
                        let msgs = [system.clone(), ChatMessage::user(convs[i % convs.len()])];
                        i += 1;
                        let out = model.generate(&msgs, &opts).expect("generate");
                        total += Duration::from_secs_f64(out.timings.total_ms / 1e3);
                    }
                    total
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, llm);
criterion_main!(benches);
