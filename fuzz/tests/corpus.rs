//! Replays every seed corpus through the fuzz targets' property checks on
//! stable: `cargo test` from `fuzz/`.
//!
//! `cargo test -- --ignored regenerate_record_seeds` rewrites the encoded
//! record seeds in `corpus/store_record_decode/` with the current encoder.

use std::fs;
use std::path::{Path, PathBuf};

use memlayer_fuzz::{RECORD_ID, check_filter_parse, check_record_decode};
use memlayer_store::codec::{decode_record, encode_record};
use memlayer_store::{Memory, Scope, Timestamp, filter, md5};
use serde_json::{Map, Value, json};
use uuid::Uuid;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target)
}

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = fs::read_dir(corpus_dir(target))
        .unwrap_or_else(|e| panic!("corpus/{target}: {e}"))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().expect("file name").to_string_lossy().into_owned();
            (name, fs::read(&p).expect("read seed"))
        })
        .collect();
    out.sort();
    assert!(out.len() >= 10, "corpus/{target} has only {} seeds", out.len());
    out
}

#[test]
fn store_filter_parse_corpus() {
    for (name, data) in seeds("store_filter_parse") {
        check_filter_parse(&data);
        // Seeds named `ok-*` are valid filters, `err-*` are rejected ones.
        let v: Value = serde_json::from_slice(&data)
            .unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
        let r = filter::parse(&v);
        if name.starts_with("ok-") {
            assert!(r.is_ok(), "{name}: {r:?}");
        } else if name.starts_with("err-") {
            assert!(r.is_err(), "{name}: {r:?}");
        }
    }
}

#[test]
fn store_record_decode_corpus() {
    for (name, data) in seeds("store_record_decode") {
        check_record_decode(&data);
        let r = decode_record(RECORD_ID, &data);
        if name.starts_with("ok-") {
            assert!(r.is_ok(), "{name}: {r:?}");
        } else if name.starts_with("err-") {
            assert!(r.is_err(), "{name}: {r:?}");
        }
    }
}

fn memory(text: &str) -> Memory {
    Memory {
        id: RECORD_ID,
        text: text.to_string(),
        hash: md5::hex_digest(text),
        scope: Scope::default(),
        actor_id: None,
        role: None,
        memory_type: None,
        metadata: Map::new(),
        created_at: Timestamp::from_micros(1_714_564_800_000_000),
        updated_at: Timestamp::from_micros(1_714_564_800_000_000),
        expiration_date: None,
        embedding_model: "minilm".into(),
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// The valid seeds: memories as the store writes them.
fn record_seeds() -> Vec<(&'static str, Memory)> {
    let minimal = memory("");
    let alice = Memory {
        scope: Scope::user("alice"),
        ..memory("Loves spicy ramen")
    };
    let full = Memory {
        scope: Scope::user("alice").with_agent("planner").with_run("run-42"),
        actor_id: Some("alice".into()),
        role: Some("user".into()),
        memory_type: Some("procedural_memory".into()),
        metadata: object(json!({"topic": "food", "score": 4.5, "tags": ["x", "y"], "flag": true})),
        expiration_date: Some(Timestamp::from_micros(1_893_456_000_000_000)),
        ..memory("Prefers window seats on long flights")
    };
    let agent = Memory {
        scope: Scope::agent("support-bot"),
        role: Some("assistant".into()),
        ..memory("Escalate billing questions to a human")
    };
    let unicode = Memory {
        scope: Scope::user("bob"),
        metadata: object(json!({"lang": "ja", "note": "寿司が好き 🍣"})),
        ..memory("寿司が好き — likes sushi 🍣")
    };
    let nested = Memory {
        scope: Scope::run("session-7"),
        metadata: object(json!({"a": {"b": {"c": [1, 2, {"d": null}]}}, "n": -12, "big": u64::MAX})),
        ..memory("nested metadata")
    };
    let extreme_times = Memory {
        created_at: Timestamp::from_micros(i64::MIN),
        updated_at: Timestamp::from_micros(i64::MAX),
        expiration_date: Some(Timestamp::from_micros(-1)),
        ..memory("timestamps at the i64 limits")
    };
    let long_text = memory(&"The quick brown fox jumps over the lazy dog. ".repeat(8));
    vec![
        ("ok-minimal.bin", minimal),
        ("ok-user-alice.bin", alice),
        ("ok-all-fields.bin", full),
        ("ok-agent-scope.bin", agent),
        ("ok-unicode.bin", unicode),
        ("ok-nested-metadata.bin", nested),
        ("ok-extreme-timestamps.bin", extreme_times),
        ("ok-long-text.bin", long_text),
    ]
}

#[test]
#[ignore = "rewrites corpus/store_record_decode; run on purpose"]
fn regenerate_record_seeds() {
    let dir = corpus_dir("store_record_decode");
    fs::create_dir_all(&dir).expect("mkdir corpus");
    let mut valid = Vec::new();
    for (name, m) in record_seeds() {
        let bytes = encode_record(&m).expect("encode seed");
        assert_eq!(decode_record(RECORD_ID, &bytes).expect("decode seed"), m, "{name}");
        fs::write(dir.join(name), &bytes).expect("write seed");
        valid.push(bytes);
    }
    // Invalid neighbours of a valid record: each must be rejected, not panic.
    let base = &valid[2];
    let mut wrong_version = base.clone();
    wrong_version[0] = 2;
    let mut trailing = base.clone();
    trailing.push(0);
    let truncated = base[..base.len() / 2].to_vec();
    // Version byte, empty text, 16-byte hash, then an absurd varint length.
    let mut huge_len = vec![1u8, 0];
    huge_len.extend_from_slice(&[0; 16]);
    huge_len.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    // A record whose metadata bytes are valid JSON but not an object.
    let mut bad_meta = encode_record(&memory("metadata is an array")).expect("encode");
    // The metadata field is the serde_json bytes `{}` (len 2); swap in `[]`.
    let at = bad_meta
        .windows(3)
        .rposition(|w| w == [2, b'{', b'}'])
        .expect("metadata bytes");
    bad_meta[at + 1] = b'[';
    bad_meta[at + 2] = b']';
    for (name, bytes) in [
        ("err-empty.bin", Vec::new()),
        ("err-wrong-version.bin", wrong_version),
        ("err-trailing-byte.bin", trailing),
        ("err-truncated.bin", truncated),
        ("err-huge-length.bin", huge_len),
        ("err-metadata-not-object.bin", bad_meta),
    ] {
        assert!(decode_record(Uuid::nil(), &bytes).is_err(), "{name}");
        fs::write(dir.join(name), &bytes).expect("write seed");
    }
}
