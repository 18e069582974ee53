//! Property checks behind the memlayer fuzz targets.
//!
//! Each `check_*` function takes one fuzz input and panics only when the
//! property it documents is violated. The `fuzz_targets/*.rs` binaries are
//! one-line wrappers, and `tests/corpus.rs` replays the seed corpora through
//! the same functions on stable, so a seed that breaks a property fails
//! `cargo test` in this folder too.

use memlayer_store::codec::{decode_record, encode_record};
use memlayer_store::{Memory, Scope, Timestamp, filter, md5};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// The id every decoded record gets (`decode_record` takes it from the key).
pub const RECORD_ID: Uuid = Uuid::from_u128(0x0190_f0e0_7c1a_7000_8000_0000_0000_0001);

/// Memories that parsed filters are evaluated against: one with every
/// optional field set and metadata of every JSON type, one bare.
fn sample_memories() -> [Memory; 2] {
    let Value::Object(metadata) = json!({
        "topic": "food",
        "score": 4.5,
        "count": 3,
        "big": u64::MAX,
        "neg": -7,
        "flag": true,
        "tags": ["x", "Spicy", "ramen"],
        "nested": {"a": [1, {"b": null}]},
        "nothing": null,
        "user_id": "shadowed-by-the-record-field",
        "": "empty key",
    }) else {
        unreachable!("json! object literal")
    };
    let text = "Loves spicy RAMEN, hates ads";
    let full = Memory {
        id: RECORD_ID,
        text: text.to_string(),
        hash: md5::hex_digest(text),
        scope: Scope::user("alice").with_agent("planner").with_run("run-1"),
        actor_id: Some("alice".into()),
        role: Some("user".into()),
        memory_type: Some("procedural_memory".into()),
        metadata,
        created_at: Timestamp::from_micros(1_714_564_800_000_000),
        updated_at: Timestamp::from_micros(1_714_568_400_000_000),
        expiration_date: Some(Timestamp::from_micros(i64::MAX)),
        embedding_model: "minilm".into(),
    };
    let bare = Memory {
        id: Uuid::nil(),
        text: String::new(),
        hash: md5::hex_digest(""),
        scope: Scope::default(),
        actor_id: None,
        role: None,
        memory_type: None,
        metadata: Map::new(),
        created_at: Timestamp::from_micros(i64::MIN),
        updated_at: Timestamp::from_micros(0),
        expiration_date: None,
        embedding_model: String::new(),
    };
    [full, bare]
}

/// `store_filter_parse`: bytes that are JSON go through `filter::parse`;
/// the bytes as a JSON string value go through it too. Properties:
///
/// * `parse` never panics;
/// * a JSON string is never a filter (`parse` returns `Err`);
/// * a filter that parses evaluates against memories without panicking,
///   parsing is deterministic, and `NOT` of a filter object evaluates to
///   the negation of that filter.
pub fn check_filter_parse(data: &[u8]) {
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        check_filter_value(&v);
    }
    let s = Value::String(String::from_utf8_lossy(data).into_owned());
    assert!(
        filter::parse(&s).is_err(),
        "a JSON string parsed as a filter: {s}"
    );
}

fn check_filter_value(v: &Value) {
    let Ok(f) = filter::parse(v) else { return };
    assert_eq!(
        filter::parse(v).ok().as_ref(),
        Some(&f),
        "parse is not deterministic"
    );
    let _ = f.scope_equalities();
    let memories = sample_memories();
    let hits: Vec<bool> = memories.iter().map(|m| f.matches(m)).collect();
    if let Value::Object(_) = v {
        // `{"NOT": <object>}` adds one level of nesting, which may push a
        // filter at the depth limit over it; only compare when it parses.
        if let Ok(not) = filter::parse(&json!({ "NOT": v })) {
            for (m, hit) in memories.iter().zip(&hits) {
                assert_eq!(not.matches(m), !hit, "NOT disagrees with {v} on {m:?}");
            }
        }
    }
}

/// `store_record_decode`: bytes go through `codec::decode_record`.
/// Properties:
///
/// * `decode_record` never panics;
/// * a decoded memory renders as JSON and its `hash` is 32 hex digits;
/// * `encode_record` accepts it, and decoding that gives the same memory
///   with `hash` recomputed from `text` (the encoder always recomputes it);
/// * re-encoding is a fixed point: encode(decode(encode(m))) == encode(m).
pub fn check_record_decode(data: &[u8]) {
    let Ok(m1) = decode_record(RECORD_ID, data) else {
        return;
    };
    assert_eq!(m1.id, RECORD_ID);
    assert!(
        m1.hash.len() == 32 && m1.hash.bytes().all(|b| b.is_ascii_hexdigit()),
        "hash {:?} is not 32 hex digits",
        m1.hash
    );
    let _ = serde_json::to_string(&m1).expect("a decoded memory renders as JSON");

    let enc1 = encode_record(&m1).expect("a decoded memory re-encodes");
    let m2 = decode_record(RECORD_ID, &enc1).expect("a re-encoded memory decodes");
    let mut expected = m1.clone();
    expected.hash = md5::hex_digest(&m1.text);
    assert_eq!(m2, expected, "record changed across encode → decode");
    let enc2 = encode_record(&m2).expect("a decoded memory re-encodes");
    assert_eq!(enc1, enc2, "re-encoding is not a fixed point");
}
