//! Replays every seed corpus through the fuzz targets' property checks on
//! stable: `cargo test` from `fuzz/`.
//!
//! `cargo test -- --ignored regenerate_record_seeds` rewrites the encoded
//! record seeds in `corpus/store_record_decode/` with the current encoder
//! (`ok-v1-*` are records of the version-1 layout, kept as written then);
//! `cargo test -- --ignored regenerate_index_seeds` rewrites the index
//! seeds in `corpus/index_snapshot_load/` and `corpus/index_ops/`.

use std::fs;
use std::path::{Path, PathBuf};

use memlayer_fuzz::{
    RECORD_ID, check_filter_parse, check_index_ops, check_index_snapshot_load, check_record_decode,
};
use memlayer_index::{HnswIndex, HnswParams, Metric};
use memlayer_store::codec::{decode_record, encode_record};
use memlayer_store::{Memory, Scope, Timestamp, filter, md5};
use serde_json::{Map, Value, json};
use uuid::Uuid;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = fs::read_dir(corpus_dir(target))
        .unwrap_or_else(|e| panic!("corpus/{target}: {e}"))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            (name, fs::read(&p).expect("read seed"))
        })
        .collect();
    out.sort();
    assert!(
        out.len() >= 10,
        "corpus/{target} has only {} seeds",
        out.len()
    );
    out
}

#[test]
fn store_filter_parse_corpus() {
    for (name, data) in seeds("store_filter_parse") {
        check_filter_parse(&data);
        // Seeds named `ok-*` are valid filters, `err-*` are rejected ones.
        let v: Value =
            serde_json::from_slice(&data).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
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
        superseded_at: None,
        superseded_by: None,
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
        scope: Scope::user("alice")
            .with_agent("planner")
            .with_run("run-42"),
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
        metadata: object(
            json!({"a": {"b": {"c": [1, 2, {"d": null}]}}, "n": -12, "big": u64::MAX}),
        ),
        ..memory("nested metadata")
    };
    let extreme_times = Memory {
        created_at: Timestamp::from_micros(i64::MIN),
        updated_at: Timestamp::from_micros(i64::MAX),
        expiration_date: Some(Timestamp::from_micros(-1)),
        ..memory("timestamps at the i64 limits")
    };
    let long_text = memory(&"The quick brown fox jumps over the lazy dog. ".repeat(8));
    let superseded = Memory {
        scope: Scope::user("alice"),
        superseded_at: Some(Timestamp::from_micros(1_714_568_400_000_000)),
        superseded_by: Some(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001)),
        ..memory("Lives in Berlin")
    };
    let superseded_by_nothing = Memory {
        scope: Scope::user("alice"),
        superseded_at: Some(Timestamp::from_micros(1_714_568_400_000_000)),
        ..memory("Drinks coffee")
    };
    vec![
        ("ok-minimal.bin", minimal),
        ("ok-user-alice.bin", alice),
        ("ok-all-fields.bin", full),
        ("ok-agent-scope.bin", agent),
        ("ok-unicode.bin", unicode),
        ("ok-nested-metadata.bin", nested),
        ("ok-extreme-timestamps.bin", extreme_times),
        ("ok-long-text.bin", long_text),
        ("ok-superseded.bin", superseded),
        ("ok-superseded-by-nothing.bin", superseded_by_nothing),
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
        assert_eq!(
            decode_record(RECORD_ID, &bytes).expect("decode seed"),
            m,
            "{name}"
        );
        fs::write(dir.join(name), &bytes).expect("write seed");
        valid.push(bytes);
    }
    // Invalid neighbours of a valid record: each must be rejected, not panic.
    let base = &valid[2];
    let mut wrong_version = base.clone();
    wrong_version[0] = 3;
    // A version-2 body behind the version-1 byte: the supersession fields
    // become trailing bytes.
    let mut v2_as_v1 = valid[8].clone();
    v2_as_v1[0] = 1;
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
        ("err-v2-body-as-v1.bin", v2_as_v1),
        ("err-trailing-byte.bin", trailing),
        ("err-truncated.bin", truncated),
        ("err-huge-length.bin", huge_len),
        ("err-metadata-not-object.bin", bad_meta),
    ] {
        assert!(decode_record(Uuid::nil(), &bytes).is_err(), "{name}");
        fs::write(dir.join(name), &bytes).expect("write seed");
    }
}

#[test]
fn index_snapshot_load_corpus() {
    for (name, data) in seeds("index_snapshot_load") {
        check_index_snapshot_load(&data);
        let r = HnswIndex::load_from_bytes(&data);
        if name.starts_with("ok-") {
            assert!(r.is_ok(), "{name}: {:?}", r.err());
        } else if name.starts_with("err-") {
            assert!(r.is_err(), "{name} loaded");
        }
    }
}

#[test]
fn index_ops_corpus() {
    for (_, data) in seeds("index_ops") {
        check_index_ops(&data);
    }
}

/// Deterministic xorshift bytes for generated seeds.
fn xorshift_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 32) as u8
        })
        .collect()
}

/// A small index of `n` points: a grid-ish spiral, some ids deleted.
fn seed_index(dims: usize, metric: Metric, n: u64, delete_every: u64, m: usize) -> HnswIndex {
    let idx = HnswIndex::new(
        dims,
        metric,
        HnswParams {
            m,
            ef_construction: 32,
            max_tombstone_ratio: 2.0,
            ..HnswParams::default()
        },
    )
    .expect("index");
    for i in 0..n {
        let v: Vec<f32> = (0..dims)
            .map(|d| ((i * 7 + d as u64 * 3) % 11) as f32 - 5.0 + 0.25)
            .collect();
        idx.insert(i * 5 + 1, &v).expect("insert");
    }
    if delete_every > 0 {
        for i in (0..n).step_by(delete_every as usize) {
            idx.delete(i * 5 + 1).expect("delete");
        }
    }
    idx
}

#[test]
#[ignore = "rewrites corpus/index_snapshot_load and corpus/index_ops; run on purpose"]
fn regenerate_index_seeds() {
    let dir = corpus_dir("index_snapshot_load");
    fs::create_dir_all(&dir).expect("mkdir corpus");
    let valid = [
        (
            "ok-empty.bin",
            seed_index(3, Metric::L2, 0, 0, 4).to_bytes(0),
        ),
        (
            "ok-one-node.bin",
            seed_index(2, Metric::L2, 1, 0, 2).to_bytes(1),
        ),
        (
            "ok-l2-40.bin",
            seed_index(4, Metric::L2, 40, 0, 4).to_bytes(7),
        ),
        (
            "ok-l2-deletes.bin",
            seed_index(3, Metric::L2, 30, 4, 3).to_bytes(9),
        ),
        (
            "ok-cosine.bin",
            seed_index(5, Metric::Cosine, 25, 6, 4).to_bytes(11),
        ),
        (
            "ok-dot.bin",
            seed_index(2, Metric::Dot, 20, 0, 2).to_bytes(13),
        ),
        (
            "ok-17-dims.bin",
            seed_index(17, Metric::L2, 12, 5, 2).to_bytes(u64::MAX),
        ),
    ];
    for (name, bytes) in &valid {
        assert!(HnswIndex::load_from_bytes(bytes).is_ok(), "{name}");
        fs::write(dir.join(name), bytes).expect("write seed");
    }
    let base = &valid[3].1;
    let mut flipped = base.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 0x10;
    let mut bad_magic = base.clone();
    bad_magic[0] ^= 1;
    let mut version = base.clone();
    version[8] = version[8].wrapping_add(1);
    let mut trailing = base.clone();
    trailing.push(0);
    for (name, bytes) in [
        ("err-empty.bin", Vec::new()),
        ("err-truncated.bin", base[..base.len() - 5].to_vec()),
        ("err-flipped-byte.bin", flipped),
        ("err-bad-magic.bin", bad_magic),
        ("err-version.bin", version),
        ("err-trailing-byte.bin", trailing),
    ] {
        assert!(HnswIndex::load_from_bytes(&bytes).is_err(), "{name}");
        fs::write(dir.join(name), &bytes).expect("write seed");
    }

    // Operation programs (see `check_index_ops` for the encoding): a header
    // of five bytes, then operations.
    let dir = corpus_dir("index_ops");
    fs::create_dir_all(&dir).expect("mkdir corpus");
    // dims 3, L2, m 4 / efC 8, ef 16; insert ids 0..20, delete some, search.
    let mut prog = vec![2u8, 0, 2 + 6 * 7, 15, 0];
    for id in 0..20u8 {
        prog.extend([
            0,
            id,
            id.wrapping_mul(16),
            200u8.wrapping_sub(id * 3),
            id ^ 0x55,
        ]);
    }
    for id in (0..20u8).step_by(3) {
        prog.extend([3, id]);
    }
    for q in 0..6u8 {
        // search k=10, ef=40, filter on ids 0..32 every other, query.
        prog.extend([
            5,
            10,
            40,
            1,
            0x55,
            0x55,
            0x55,
            0x55,
            0,
            0,
            0,
            0,
            q,
            q * 9,
            100,
        ]);
        prog.extend([5, 10, 40, 0, q * 20, 3, 250]);
    }
    prog.extend([7, 1, 7, 0, 5, 5, 60, 0, 1, 2, 3]);
    let programs = [
        ("ok-l2-insert-delete-search.bin", prog),
        (
            "ok-cosine-zero-vector.bin",
            vec![
                1, 1, 8, 8, 4, 0, 3, 0, 0, 0, 0, 5, 0, 0, 1, 1, 5, 3, 10, 0, 1, 1,
            ],
        ),
        ("ok-batch-and-compact.bin", {
            let mut p = vec![3u8, 2, 20, 40, 2, 4, 8];
            for i in 0..8u8 {
                p.extend([i * 5, i, i.wrapping_mul(37), 3, 9]);
            }
            p.extend([3, 5, 3, 10, 7, 0, 6, 4, 64, 0, 1, 2, 3, 4]);
            p
        }),
        (
            "ok-nan-rejected.bin",
            vec![0, 0, 0, 0, 0, 0, 1, 0x7f, 0, 2, 0x7e, 5, 1, 1, 0, 9],
        ),
    ];
    for (name, bytes) in &programs {
        check_index_ops(bytes);
        fs::write(dir.join(name), bytes).expect("write seed");
    }
    for i in 0..8u64 {
        let bytes = xorshift_bytes(0x1de5 + i, 64 + 96 * i as usize);
        check_index_ops(&bytes);
        fs::write(dir.join(format!("random-{i}.bin")), &bytes).expect("write seed");
    }
}
