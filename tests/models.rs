//! Real-model tests for `memlayer-models`: the Candle MiniLM embedder against
//! an independent reference, and llama.cpp chat with SmolLM2-135M (and a
//! template check with Qwen2.5-0.5B). Models come from `scripts/fetch-models`.

use std::sync::OnceLock;

use memlayer_models::*;
use memlayer_tests::{minilm_reference, require, schema};
use serde_json::{Value, json};

fn minilm() -> &'static BertEmbedder {
    static M: OnceLock<BertEmbedder> = OnceLock::new();
    M.get_or_init(|| {
        BertEmbedder::load_dir(
            &require(CachedModel::MINILM_L6_V2),
            &EmbedderConfig::default(),
        )
        .expect("load MiniLM")
    })
}

fn smollm() -> &'static LlamaCppChat {
    static M: OnceLock<LlamaCppChat> = OnceLock::new();
    M.get_or_init(|| {
        let cfg = ChatConfig {
            n_ctx: 2048,
            ..ChatConfig::default()
        };
        LlamaCppChat::load_file(&require(CachedModel::SMOLLM2_135M), cfg).expect("load SmolLM2")
    })
}

// ---------------------------------------------------------------- embedder

/// Cosine in f64 throughout, so tiny differences are not rounded away.
fn cos64(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

#[test]
fn minilm_matches_independent_reference() {
    let r = minilm_reference();
    let e = minilm();
    assert_eq!(e.dims(), 384);
    assert_eq!(e.max_seq_length(), r.max_seq_length);
    let texts: Vec<&str> = r.cases.iter().map(|c| c.text.as_str()).collect();
    // One batch mixing every length (on the fast path: one text per
    // worker, no padding)…
    let batched = e.embed_batch(&texts).unwrap();
    assert!(
        e.has_fast_path(),
        "MiniLM must take the single-text fast path"
    );
    let mut worst = (f64::MAX, String::new());
    let mut worst_single = f64::MAX;
    for (case, got) in r.cases.iter().zip(&batched) {
        assert_eq!(
            e.token_count(&case.text).unwrap(),
            case.tokens,
            "token count for {:?}",
            case.text
        );
        let c = cos64(got, &case.embedding);
        if c < worst.0 {
            worst = (c, case.text.chars().take(40).collect());
        }
        // …and each text alone (the fast path) must give the same vector.
        let single = e.embed(&case.text).unwrap();
        worst_single = worst_single.min(cos64(&single, &case.embedding));
        assert!(
            cosine(&single, got) > 0.99999,
            "batched vs single differ for {:?}",
            case.text
        );
        let norm: f32 = got.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "not normalised: {norm}");
    }
    eprintln!(
        "MiniLM vs reference: {} cases, worst cosine {:.9} (1 - cos = {:.2e}) ({:?})",
        r.cases.len(),
        worst.0,
        1.0 - worst.0,
        worst.1
    );
    assert!(
        worst.0 >= 0.9999,
        "worst cosine {} for {:?}",
        worst.0,
        worst.1
    );
    eprintln!("fast path vs reference: worst cosine {worst_single:.9}");
    assert!(
        worst_single >= 0.9999,
        "fast path worst cosine {worst_single}"
    );
    // The Candle path for single texts, when asked for, agrees as well.
    let dir = require(CachedModel::MINILM_L6_V2);
    let slow = BertEmbedder::load_dir(
        &dir,
        &EmbedderConfig {
            candle_only: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(!slow.has_fast_path());
    for case in r.cases.iter().take(8) {
        let a = slow.embed(&case.text).unwrap();
        let b = e.embed(&case.text).unwrap();
        assert!(cos64(&a, &b) > 0.99999, "{:?}", case.text);
    }
    // Candle's padded batch (padding + attention mask exercised) matches
    // the reference and the fast path's batch.
    let padded = slow.embed_batch(&texts).unwrap();
    for ((case, a), b) in r.cases.iter().zip(&padded).zip(&batched) {
        assert!(cos64(a, &case.embedding) >= 0.9999, "{:?}", case.text);
        assert!(cos64(a, b) > 0.99999, "{:?}", case.text);
    }
    assert!(
        r.cases.iter().any(|c| c.tokens == 256),
        "fixture must include a truncated case"
    );
}

#[test]
fn minilm_similarity_is_meaningful() {
    let e = minilm();
    let v = e
        .embed_batch(&[
            "I love drinking green tea",
            "Green tea is my favourite drink",
            "The train leaves at noon",
        ])
        .unwrap();
    assert!(cosine(&v[0], &v[1]) > cosine(&v[0], &v[2]) + 0.3);
    assert!(e.embed_batch(&[]).unwrap().is_empty());
    assert_eq!(e.embed("").unwrap().len(), 384);
}

#[test]
fn embedder_errors_are_typed_and_name_the_file() {
    let dir = require(CachedModel::MINILM_L6_V2);
    let cfg = EmbedderConfig {
        expected_dims: Some(768),
        ..Default::default()
    };
    match BertEmbedder::load_dir(&dir, &cfg) {
        Err(ModelError::DimensionMismatch {
            expected: 768,
            found: 384,
            ..
        }) => {}
        other => panic!("expected DimensionMismatch, got {other:?}"),
    }
    let tmp = tempfile::tempdir().unwrap();
    match BertEmbedder::load_dir(tmp.path(), &EmbedderConfig::default()) {
        Err(ModelError::NotFound { path, .. }) => assert!(path.ends_with("config.json")),
        other => panic!("expected NotFound, got {other:?}"),
    }
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(dir.join(f), tmp.path().join(f)).unwrap();
    }
    let weights = std::fs::read(dir.join("model.safetensors")).unwrap();
    std::fs::write(
        tmp.path().join("model.safetensors"),
        &weights[..weights.len() / 3],
    )
    .unwrap();
    match BertEmbedder::load_dir(tmp.path(), &EmbedderConfig::default()) {
        Err(e @ ModelError::Corrupt { .. }) => {
            assert!(e.to_string().contains("model.safetensors"), "{e}")
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    std::fs::write(tmp.path().join("model.safetensors"), &weights).unwrap();
    std::fs::write(tmp.path().join("tokenizer.json"), b"{not json").unwrap();
    match BertEmbedder::load_dir(tmp.path(), &EmbedderConfig::default()) {
        Err(e @ ModelError::Corrupt { .. }) => {
            assert!(e.to_string().contains("tokenizer.json"), "{e}")
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn embedder_model_id_is_a_stable_fingerprint() {
    let dir = require(CachedModel::MINILM_L6_V2);
    let a = BertEmbedder::load_dir(&dir, &EmbedderConfig::default()).unwrap();
    assert_eq!(a.model_id(), minilm().model_id());
    let short = EmbedderConfig {
        max_seq_length: Some(128),
        ..Default::default()
    };
    let b = BertEmbedder::load_dir(&dir, &short).unwrap();
    assert_ne!(
        a.model_id(),
        b.model_id(),
        "settings that change vectors change the id"
    );
    assert!(a.model_id().contains("384d"), "{}", a.model_id());
}

// ---------------------------------------------------------------- chat

fn schemas() -> Vec<(&'static str, Value)> {
    let s = |max| json!({"type": "string", "minLength": 1, "maxLength": max});
    vec![
        (
            "Extract the facts about the user from the conversation as a JSON object {\"facts\": [..]}.",
            json!({"type": "object", "additionalProperties": false, "required": ["facts"],
                   "properties": {"facts": {"type": "array", "maxItems": 6, "items": s(120)}}}),
        ),
        (
            "Decide for the new fact whether to ADD it, UPDATE memory \"0\", DELETE it or do NONE. Answer in JSON.",
            json!({"type": "object", "additionalProperties": false, "required": ["memory"],
                   "properties": {"memory": {"type": "array", "maxItems": 4, "items": {
                       "type": "object", "additionalProperties": false, "required": ["id", "text", "event"],
                       "properties": {"id": {"type": "string", "maxLength": 8}, "text": s(120),
                                      "event": {"enum": ["ADD", "UPDATE", "DELETE", "NONE"]}}}}}}),
        ),
        (
            "List the entities and relations in the conversation as JSON.",
            json!({"type": "object", "additionalProperties": false, "required": ["entities", "relations"],
                   "properties": {
                       "entities": {"type": "array", "maxItems": 6, "items": {"type": "object", "additionalProperties": false,
                           "required": ["name", "type"], "properties": {"name": s(40), "type": s(20)}}},
                       "relations": {"type": "array", "maxItems": 6, "items": {"type": "object", "additionalProperties": false,
                           "required": ["source", "relationship", "destination"],
                           "properties": {"source": s(40), "relationship": s(30), "destination": s(40)}}}}}),
        ),
        (
            "Rate how important this message is to remember, 1 to 5, and say why, as JSON.",
            json!({"type": "object", "additionalProperties": false, "required": ["importance", "reason", "personal"],
                   "properties": {"importance": {"type": "integer", "minimum": 1, "maximum": 5},
                                  "reason": s(100), "personal": {"type": "boolean"}}}),
        ),
        (
            "Summarise what the agent did as a short title and numbered steps, in JSON.",
            json!({"type": "object", "additionalProperties": false, "required": ["title", "steps"],
                   "properties": {"title": s(60), "steps": {"type": "array", "minItems": 1, "maxItems": 5, "items": s(100)}}}),
        ),
    ]
}

const CONVERSATIONS: [&str; 10] = [
    "Hi, I'm Priya. I moved to Lisbon last month and I work as a nurse.",
    "I'm vegetarian, but I eat fish on weekends. Please remember that for restaurant tips.",
    "My daughter Ana starts school in September; she is allergic to peanuts.",
    "Actually I no longer like coffee, I switched to green tea.",
    "The weather is nice today, isn't it?",
    "I run 5k every morning before work and I'm training for a half marathon in May.",
    "Booked flights to Tokyo for the 3rd of March; I prefer aisle seats.",
    "Assistant: I searched three hotels, compared prices, and booked the cheapest one near the station.",
    "My manager Tom wants the quarterly report by Friday. I use Rust and Python at work.",
    "I hate horror films. My favourite film is Spirited Away and I play the cello.",
];

#[test]
fn fifty_schema_constrained_generations_parse_and_validate() {
    let m = smollm();
    let mut ok = 0;
    let mut failures = Vec::new();
    for (task, sch) in schemas() {
        for conv in CONVERSATIONS {
            let msgs = [
                ChatMessage::system(format!(
                    "You are a precise assistant that answers only with JSON. {task}"
                )),
                ChatMessage::user(conv),
            ];
            let opts = GenerateOptions::default()
                .max_tokens(1024)
                .json_schema(sch.clone());
            let out = m.generate(&msgs, &opts).unwrap();
            match serde_json::from_str::<Value>(&out.text)
                .map_err(|e| e.to_string())
                .and_then(|v| schema::validate(&sch, &v))
            {
                Ok(()) => ok += 1,
                Err(e) => failures.push(format!(
                    "{conv:?} / {task:?}: {e}: {:?} ({:?})",
                    out.text, out.finish_reason
                )),
            }
        }
    }
    eprintln!("schema-constrained JSON: {ok}/50 parse and validate");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(ok, 50);
}

#[test]
fn schema_constrained_answers_end_with_their_json_value() {
    let m = smollm();
    // Bounded like the engine's extraction schema, so that a looping
    // answer still closes within max_tokens.
    let sch = json!({"type": "object", "additionalProperties": false, "required": ["facts"],
        "properties": {"facts": {"type": "array", "maxItems": 6,
            "items": {"type": "string", "minLength": 1, "maxLength": 60}}}});
    for conv in CONVERSATIONS {
        let msgs = [
            ChatMessage::system(
                "List facts about the user as JSON: {\"facts\": [\"...\"]}. Answer with JSON only.",
            ),
            ChatMessage::user(conv),
        ];
        let opts = GenerateOptions::default()
            .max_tokens(512)
            .json_schema(sch.clone());
        let out = m.generate(&msgs, &opts).unwrap();
        // Generation stops on the closing brace: no step for trailing
        // space or the end token, which the grammar would allow next.
        assert_eq!(out.finish_reason, FinishReason::Stop, "{:?}", out.text);
        assert!(out.text.ends_with('}'), "{:?}", out.text);
        let v: Value = serde_json::from_str(&out.text).unwrap();
        schema::validate(&sch, &v).unwrap();
        // The KV state recorded for the slot is still right: the same call
        // (prompt reused from the cache) gives the same answer.
        assert_eq!(m.generate(&msgs, &opts).unwrap().text, out.text);
    }
}

#[test]
fn temperature_zero_is_deterministic_with_and_without_prefix_cache() {
    let m = smollm();
    let msgs = [
        ChatMessage::system("You are a helpful assistant."),
        ChatMessage::user("Name three colours of the rainbow."),
    ];
    let opts = GenerateOptions::default().max_tokens(48);
    let a = m.generate(&msgs, &opts).unwrap();
    let b = m.generate(&msgs, &opts).unwrap();
    assert!(!a.text.trim().is_empty());
    assert_eq!(a.text, b.text);
    // A different prompt in between changes the cached state; still identical.
    m.generate(
        &[ChatMessage::user("Say hello.")],
        &opts.clone().max_tokens(8),
    )
    .unwrap();
    let c = m.generate(&msgs, &opts).unwrap();
    assert_eq!(a.text, c.text);
    // A second model instance without prefix reuse gives the same text.
    let cfg = ChatConfig {
        n_ctx: 1024,
        prefix_cache: false,
        ..ChatConfig::default()
    };
    let fresh = LlamaCppChat::load_file(&require(CachedModel::SMOLLM2_135M), cfg).unwrap();
    let d = fresh.generate(&msgs, &opts).unwrap();
    assert_eq!(d.cached_prompt_tokens, 0);
    assert_eq!(a.text, d.text);
    // Sampling with a seed is reproducible too.
    let hot = opts.clone().temperature(0.9).seed(7);
    assert_eq!(
        fresh.generate(&msgs, &hot).unwrap().text,
        fresh.generate(&msgs, &hot).unwrap().text
    );
}

#[test]
fn prefix_cache_skips_the_shared_system_prompt() {
    let cfg = ChatConfig {
        n_ctx: 2048,
        ..ChatConfig::default()
    };
    let m = LlamaCppChat::load_file(&require(CachedModel::SMOLLM2_135M), cfg).unwrap();
    let system = ChatMessage::system(
        "You extract facts about the user. Rules: ".to_string()
            + &(1..40)
                .map(|i| format!("rule {i}: be brief and exact. "))
                .collect::<String>(),
    );
    let opts = GenerateOptions::default().max_tokens(8);
    let first = m
        .generate(&[system.clone(), ChatMessage::user("I like tea.")], &opts)
        .unwrap();
    assert_eq!(first.cached_prompt_tokens, 0);
    let second = m
        .generate(&[system.clone(), ChatMessage::user("I own a cat.")], &opts)
        .unwrap();
    let system_tokens = m.tokenize(&m.render_prompt(&[system]).unwrap()).len();
    assert!(
        second.cached_prompt_tokens + 8 >= system_tokens
            && second.cached_prompt_tokens < second.prompt_tokens,
        "cached {} of {} (system prompt alone is {system_tokens})",
        second.cached_prompt_tokens,
        second.prompt_tokens
    );
}

#[test]
fn classify_scores_fixed_answers_from_next_token_logits() {
    let m = smollm();
    let ask = |word: &str| {
        vec![
            ChatMessage::system("You repeat the word the user asks for, nothing else."),
            ChatMessage::user(format!("Say the word '{word}'.")),
        ]
    };
    let choices = ["apple", "banana", "cherry"];
    for (i, word) in choices.iter().enumerate() {
        let c = m.classify(&ask(word), &choices).unwrap();
        assert_eq!(c.probs.len(), 3);
        assert!((c.probs.iter().sum::<f32>() - 1.0).abs() < 1e-4, "{c:?}");
        assert!(c.mass > 0.0 && c.mass <= 1.0 + 1e-4, "{c:?}");
        assert_eq!(c.best(), Some(i), "asked for {word}: {c:?}");
    }
    // The fixed prefix is reused from the previous call; the scores do not
    // depend on it.
    let again = m.classify(&ask("banana"), &choices).unwrap();
    assert!(again.cached_prompt_tokens > 0);
    let fresh = LlamaCppChat::load_file(
        &require(CachedModel::SMOLLM2_135M),
        ChatConfig {
            n_ctx: 2048,
            prefix_cache: false,
            ..ChatConfig::default()
        },
    )
    .unwrap();
    let cold = fresh.classify(&ask("banana"), &choices).unwrap();
    assert_eq!(cold.cached_prompt_tokens, 0);
    for (a, b) in again.probs.iter().zip(&cold.probs) {
        assert!((a - b).abs() < 1e-3, "{again:?} vs {cold:?}");
    }
    // Bad requests are typed errors.
    for bad in [&[][..], &["same", "same thing"][..]] {
        assert!(matches!(
            m.classify(&ask("x"), bad),
            Err(ModelError::InvalidArgument(_))
        ));
    }
}

#[test]
fn stop_strings_and_max_tokens() {
    let m = smollm();
    let msgs = [ChatMessage::user(
        "Count from 1 to 20, separated by commas.",
    )];
    let long = m
        .generate(&msgs, &GenerateOptions::default().max_tokens(60))
        .unwrap();
    let short = m
        .generate(&msgs, &GenerateOptions::default().max_tokens(5))
        .unwrap();
    assert_eq!(short.completion_tokens, 5);
    assert_eq!(short.finish_reason, FinishReason::Length);
    assert!(
        long.text.starts_with(&short.text),
        "{:?} vs {:?}",
        long.text,
        short.text
    );
    let stop = m
        .generate(&msgs, &GenerateOptions::default().max_tokens(60).stop("5"))
        .unwrap();
    assert_eq!(
        stop.finish_reason,
        FinishReason::StopSequence,
        "{:?}",
        stop.text
    );
    assert!(!stop.text.contains('5'));
    assert!(long.text.starts_with(&stop.text));
}

#[test]
fn chat_templates_come_from_the_gguf() {
    let s = smollm()
        .render_prompt(&[ChatMessage::system("S"), ChatMessage::user("U")])
        .unwrap();
    assert!(s.contains("<|im_start|>system\nS<|im_end|>"), "{s}");
    assert!(s.ends_with("<|im_start|>assistant\n"), "{s}");
    let cfg = ChatConfig {
        n_ctx: 512,
        ..ChatConfig::default()
    };
    let q = LlamaCppChat::load_file(&require(CachedModel::QWEN25_05B), cfg).unwrap();
    let p = q.render_prompt(&[ChatMessage::user("U")]).unwrap();
    assert!(p.contains("<|im_start|>user\nU<|im_end|>"), "{p}");
    let out = q
        .generate(
            &[ChatMessage::user("Is water wet? Answer in JSON.")],
            &GenerateOptions::default().max_tokens(64).json_schema(
                json!({"type": "object", "required": ["answer"], "additionalProperties": false,
                                    "properties": {"answer": {"type": "boolean"}}}),
            ),
        )
        .unwrap();
    let v: Value = serde_json::from_str(&out.text).unwrap();
    assert!(v["answer"].is_boolean(), "{v}");
}

#[test]
fn chat_errors_are_typed_and_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.gguf");
    match LlamaCppChat::load_file(&missing, ChatConfig::default()) {
        Err(ModelError::NotFound { path, .. }) => assert_eq!(path, missing),
        other => panic!("expected NotFound, got {other:?}"),
    }
    let junk = tmp.path().join("junk.gguf");
    std::fs::write(&junk, b"this is not a model").unwrap();
    match LlamaCppChat::load_file(&junk, ChatConfig::default()) {
        Err(e @ ModelError::Corrupt { .. }) => assert!(e.to_string().contains("junk.gguf"), "{e}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let real = std::fs::read(require(CachedModel::SMOLLM2_135M)).unwrap();
    let truncated = tmp.path().join("truncated.gguf");
    std::fs::write(&truncated, &real[..real.len() / 2]).unwrap();
    match LlamaCppChat::load_file(&truncated, ChatConfig::default()) {
        Err(e @ ModelError::Corrupt { .. }) => {
            assert!(e.to_string().contains("truncated.gguf"), "{e}")
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // The same GGUF with its chat-template key renamed (same length, so every
    // offset stays valid): a model without a chat template.
    let key = b"tokenizer.chat_template";
    let at = real
        .windows(key.len())
        .position(|w| w == key)
        .expect("SmolLM2 has a chat template");
    let mut patched = real.clone();
    patched[at + key.len() - 1] = b'X';
    let no_tmpl = tmp.path().join("no-template.gguf");
    std::fs::write(&no_tmpl, &patched).unwrap();
    match LlamaCppChat::load_file(&no_tmpl, ChatConfig::default()) {
        Err(e @ ModelError::MissingChatTemplate { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("no-template.gguf") && msg.contains("chat_template"),
                "{msg}"
            );
        }
        other => panic!("expected MissingChatTemplate, got {other:?}"),
    }
    // …which works once a template is named explicitly.
    let cfg = ChatConfig {
        n_ctx: 512,
        chat_template: Some("chatml".into()),
        ..ChatConfig::default()
    };
    let m = LlamaCppChat::load_file(&no_tmpl, cfg).unwrap();
    let out = m
        .generate(
            &[ChatMessage::user("hi")],
            &GenerateOptions::default().max_tokens(4),
        )
        .unwrap();
    assert!(out.completion_tokens <= 4);
    // Request-level errors.
    let m = smollm();
    let too_long = GenerateOptions::default().max_tokens(4000);
    assert!(matches!(
        m.generate(&[ChatMessage::user("hi")], &too_long),
        Err(ModelError::ContextOverflow { .. })
    ));
    assert!(matches!(
        m.generate(&[], &GenerateOptions::default()),
        Err(ModelError::InvalidArgument(_))
    ));
    let bad_temp = GenerateOptions::default().temperature(f32::NAN);
    assert!(matches!(
        m.generate(&[ChatMessage::user("hi")], &bad_temp),
        Err(ModelError::InvalidArgument(_))
    ));
    let bad_schema = GenerateOptions::default().json_schema(json!({"type": "no-such-type"}));
    assert!(matches!(
        m.generate(&[ChatMessage::user("hi")], &bad_schema),
        Err(ModelError::InvalidSchema(_))
    ));
    // NUL bytes in user content are not a crash.
    let out = m
        .generate(
            &[ChatMessage::user("a\0b")],
            &GenerateOptions::default().max_tokens(4),
        )
        .unwrap();
    assert!(out.completion_tokens <= 4);
}

#[test]
fn mpnet_matches_independent_reference() {
    // all-mpnet-base-v2 through the fast path (MPNet: relative-position
    // attention buckets, positions from pad + 1, no token types) against
    // an independent float64 numpy forward pass
    // (scripts/mpnet-reference.py → tests/fixtures/mpnet_reference.json).
    let p = memlayer_tests::fixture("mpnet_reference.json");
    let r: memlayer_tests::Reference =
        serde_json::from_slice(&std::fs::read(&p).expect("mpnet fixture")).expect("fixture");
    let e = BertEmbedder::load_dir(
        &require(CachedModel::MPNET_BASE_V2),
        &EmbedderConfig::default(),
    )
    .expect("load all-mpnet-base-v2");
    assert!(e.has_fast_path());
    assert_eq!((e.dims(), e.max_seq_length()), (768, r.max_seq_length));
    let texts: Vec<&str> = r.cases.iter().map(|c| c.text.as_str()).collect();
    let batched = e.embed_batch(&texts).unwrap();
    let mut worst = f64::MAX;
    for (case, got) in r.cases.iter().zip(&batched) {
        assert_eq!(
            e.token_count(&case.text).unwrap(),
            case.tokens,
            "{:?}",
            case.text
        );
        let single = e.embed(&case.text).unwrap();
        worst = worst
            .min(cos64(got, &case.embedding))
            .min(cos64(&single, &case.embedding));
    }
    eprintln!(
        "MPNet vs reference: {} cases, worst cosine {worst:.9}",
        r.cases.len()
    );
    assert!(worst >= 0.9999, "worst cosine {worst}");
    // Candle has no MPNet: asking for it is a clear error, not a panic.
    let err = BertEmbedder::load_dir(
        &require(CachedModel::MPNET_BASE_V2),
        &EmbedderConfig {
            candle_only: true,
            ..Default::default()
        },
    )
    .expect_err("candle_only MPNet");
    assert!(err.to_string().contains("fast path"), "{err}");
}
