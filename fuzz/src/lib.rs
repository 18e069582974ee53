//! Property checks behind the memlayer fuzz targets.
//!
//! Each `check_*` function takes one fuzz input and panics only when the
//! property it documents is violated. The `fuzz_targets/*.rs` binaries are
//! one-line wrappers, and `tests/corpus.rs` replays the seed corpora through
//! the same functions on stable, so a seed that breaks a property fails
//! `cargo test` in this folder too.

pub mod engine;

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
        superseded_at: Some(Timestamp::from_micros(1_714_568_400_000_001)),
        superseded_by: Some(Uuid::from_u128(7)),
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
        superseded_at: None,
        superseded_by: None,
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

// ---------------------------------------------------------------------------
// memlayer-index
// ---------------------------------------------------------------------------

use memlayer_index::{AllowSet, FlatIndex, HnswIndex, HnswParams, Metric, SearchPlan};

/// `index_snapshot_load`: bytes go through `HnswIndex::load_from_bytes`.
/// Properties:
///
/// * loading never panics (a bad snapshot is an `Err`);
/// * a snapshot that loads re-serialises, loads again and re-serialises to
///   the same bytes (the format is a fixed point);
/// * the loaded index answers searches (with and without a filter) with
///   live ids only, sorted by distance, and accepts an insert, a delete and
///   a compaction without panicking.
pub fn check_index_snapshot_load(data: &[u8]) {
    let Ok((idx, seq)) = HnswIndex::load_from_bytes(data) else {
        return;
    };
    let bytes = idx.to_bytes(seq);
    let (again, seq2) = HnswIndex::load_from_bytes(&bytes).expect("a re-serialised snapshot loads");
    assert_eq!(seq, seq2, "commit sequence changed across save → load");
    assert_eq!(
        again.to_bytes(seq),
        bytes,
        "save → load → save is not a fixed point"
    );
    assert_eq!(again.len(), idx.len());

    let dims = idx.dims();
    let query: Vec<f32> = (0..dims)
        .map(|i| ((i % 7) as f32 - 3.0) / 4.0 + 0.01)
        .collect();
    let check_hits = |idx: &HnswIndex, hits: &[(u64, f32)], filter: Option<&AllowSet>| {
        for w in hits.windows(2) {
            assert!(w[0].1 <= w[1].1, "results not sorted: {hits:?}");
        }
        for &(id, d) in hits {
            assert!(idx.contains(id), "search returned id {id} that is not live");
            assert!(!d.is_nan(), "NaN distance for id {id}");
            if let Some(f) = filter {
                assert!(f.contains(id), "search returned id {id} outside the filter");
            }
        }
    };
    let hits = idx.search_ef(&query, 5, 16, None).expect("valid query");
    check_hits(&idx, &hits, None);
    // A filter of the ids just found plus some that are not there.
    let allow = AllowSet::from_ids(hits.iter().map(|h| h.0).chain([0, 1, u64::MAX]));
    for ef in [1, 8, 64] {
        let hits = idx
            .search_ef(&query, 3, ef, Some(&allow))
            .expect("valid query");
        check_hits(&idx, &hits, Some(&allow));
    }

    // Writes on a loaded index.
    let new_id = (0..).find(|i| !idx.contains(*i)).unwrap_or(0);
    let v: Vec<f32> = (0..dims).map(|i| 1.0 + i as f32 / 8.0).collect();
    if idx.insert(new_id, &v).is_ok() {
        assert!(idx.contains(new_id));
        let hits = idx.search_ef(&v, 3, 32, None).expect("valid query");
        check_hits(&idx, &hits, None);
        assert!(idx.delete(new_id).expect("delete"), "inserted id missing");
    }
    if let Some(&(id, _)) = hits.first() {
        let _ = idx.update(id, &v);
        let _ = idx.delete(id);
    }
    idx.compact().expect("compaction of a loaded index");
    let hits = idx.search_ef(&query, 5, 16, None).expect("valid query");
    check_hits(&idx, &hits, None);
}

/// Reads fuzz bytes as little numbers; past the end everything is 0.
struct Bytes<'a> {
    data: &'a [u8],
    at: usize,
}

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }
    fn done(&self) -> bool {
        self.at >= self.data.len()
    }
    /// One vector component: a multiple of 1/16 in [-8, 8), or NaN / inf
    /// for two reserved byte values (which every index must reject).
    fn component(&mut self) -> f32 {
        match self.u8() {
            0x7f => f32::NAN,
            0x7e => f32::INFINITY,
            b => f32::from(b as i8) / 16.0,
        }
    }
    fn vector(&mut self, dims: usize) -> Vec<f32> {
        (0..dims).map(|_| self.component()).collect()
    }
}

/// Whether both indexes must accept `v` as a vector for `metric`.
fn vector_ok(metric: Metric, v: &[f32]) -> bool {
    v.iter().all(|x| x.is_finite()) && (metric != Metric::Cosine || v.iter().any(|&x| x != 0.0))
}

/// Ids the ops target draw from: small, so operations collide often.
const OPS_IDS: u64 = 48;

/// `index_ops`: the bytes are a program of insert / update / delete /
/// batch insert / search / compact / snapshot round trip operations run on
/// an `HnswIndex` and on a `FlatIndex` (the oracle) side by side.
/// Properties, after every operation:
///
/// * the graph keeps its invariants (`HnswIndex::check_invariants`: layout,
///   link counts and ranges, no self links, links only to nodes that have
///   the layer, in-degree counters, entry point, tombstones and id map);
///   right after a rebuild, every live node is also reachable on layer 0
///   from the entry point (`HnswIndex::check_reachability`);
/// * both indexes accept or reject the same writes, and agree on `len` and
///   membership;
/// * a search never returns a deleted or filtered-out id, never the same id
///   twice, at most `k` results, sorted, each with the exact distance the
///   oracle computes for that id;
/// * a search answered by an exact scan (small filter, or a graph search
///   past its budget) returns exactly the oracle's top-k distances;
/// * right after a rebuild (compaction), which guarantees every live node
///   is reachable, a graph search whose beam covers every candidate
///   (`ef` ≥ allowed live ids) returns exactly the oracle's top-k too.
///   (Single inserts give no such guarantee, in any HNSW: pruning can cut
///   a small group of nodes off, e.g. two duplicates linking only to each
///   other; the index avoids the common case, a node losing its last
///   in-link, and compaction repairs the rest.)
pub fn check_index_ops(data: &[u8]) {
    let mut b = Bytes { data, at: 0 };
    let dims = 1 + usize::from(b.u8() % 8);
    let metric = [Metric::L2, Metric::Cosine, Metric::Dot][usize::from(b.u8() % 3)];
    let p = b.u8();
    let q = b.u8();
    let params = HnswParams {
        m: 2 + usize::from(p % 6),
        ef_construction: 1 + usize::from(p / 6 % 24),
        ef_search: 1 + usize::from(q % 32),
        seed: u64::from(q),
        exact_filter_threshold: usize::from(b.u8() % 24),
        filter_fallback_factor: [0.0, 0.5, 1.0, 4.0][usize::from(q / 32 % 4)],
        max_tombstone_ratio: [0.1, 0.3, 0.6, 2.0][usize::from(q / 128 % 2 * 2 + p / 144 % 2)],
    };
    let mut hnsw = HnswIndex::new(dims, metric, params).expect("valid parameters");
    let flat = FlatIndex::new(dims, metric).expect("valid dims");

    let mut ops = 0;
    // Whether the graph was (re)built with the reachability repair since
    // the last successful insert or update.
    let mut repaired = true;
    while !b.done() && ops < 256 {
        ops += 1;
        let deleted_before = hnsw.deleted_count();
        let op = b.u8();
        match op % 8 {
            0 | 1 => {
                let id = u64::from(b.u8()) % OPS_IDS;
                let v = b.vector(dims);
                let (h, f) = (hnsw.insert(id, &v), flat.insert(id, &v));
                assert_eq!(
                    h.is_ok(),
                    f.is_ok(),
                    "insert {id} {v:?}: hnsw {h:?}, flat {f:?}"
                );
                repaired &= h.is_err();
            }
            2 => {
                let id = u64::from(b.u8()) % OPS_IDS;
                let v = b.vector(dims);
                let (h, f) = (hnsw.update(id, &v), flat.update(id, &v));
                assert_eq!(
                    h.is_ok(),
                    f.is_ok(),
                    "update {id} {v:?}: hnsw {h:?}, flat {f:?}"
                );
                repaired &= h.is_err();
            }
            3 => {
                let id = u64::from(b.u8()) % OPS_IDS;
                let (h, f) = (hnsw.delete(id), flat.delete(id));
                assert_eq!(h.ok(), f.ok(), "delete {id}");
            }
            4 => {
                let count = usize::from(b.u8() % 9);
                let mut ids = Vec::with_capacity(count);
                let mut vecs = Vec::with_capacity(count * dims);
                for _ in 0..count {
                    ids.push(u64::from(b.u8()) % OPS_IDS);
                    vecs.extend(b.vector(dims));
                }
                let mut seen = std::collections::HashSet::new();
                let valid = ids.iter().all(|&id| !flat.contains(id) && seen.insert(id))
                    && vecs.chunks_exact(dims).all(|v| vector_ok(metric, v));
                let r = hnsw.insert_batch(&ids, &vecs);
                assert_eq!(r.is_ok(), valid, "insert_batch {ids:?}: {r:?}");
                if r.is_ok() {
                    repaired &= ids.is_empty();
                    for (&id, v) in ids.iter().zip(vecs.chunks_exact(dims)) {
                        flat.insert(id, v).expect("oracle accepts a batch member");
                    }
                }
            }
            5 | 6 => {
                let k = usize::from(b.u8() % 12);
                let ef = 1 + usize::from(b.u8() % 64);
                let fsel = b.u8();
                let filter = (fsel % 3 != 0).then(|| {
                    let mask = u64::from_le_bytes(std::array::from_fn(|_| b.u8()));
                    AllowSet::from_ids((0..64).filter(|i| mask >> i & 1 == 1))
                });
                let query = b.vector(dims);
                check_search(&hnsw, &flat, &query, k, ef, filter.as_ref(), repaired);
            }
            _ => match b.u8() % 3 {
                0 => hnsw.compact().expect("compact"),
                1 => {
                    let bytes = hnsw.to_bytes(u64::from(op));
                    let (back, seq) =
                        HnswIndex::load_from_bytes(&bytes).expect("own snapshot loads");
                    assert_eq!(seq, u64::from(op));
                    assert_eq!(back.to_bytes(seq), bytes, "snapshot not a fixed point");
                    hnsw = back;
                }
                _ => {
                    let ef = 1 + usize::from(b.u8() % 64);
                    let thr = usize::from(b.u8() % 24);
                    hnsw.set_search_params(ef, thr, 1.0)
                        .expect("valid search params");
                }
            },
        }
        if deleted_before > 0 && hnsw.deleted_count() == 0 {
            // A compaction (explicit or automatic) rebuilt the graph.
            repaired = true;
        }
        let invariants = if repaired {
            hnsw.check_reachability()
        } else {
            hnsw.check_invariants()
        };
        if let Err(e) = invariants {
            panic!("graph invariant broken after op {ops} ({op}): {e}");
        }
        assert_eq!(hnsw.len(), flat.len(), "len disagrees after op {op}");
        for id in 0..OPS_IDS {
            assert_eq!(
                hnsw.contains(id),
                flat.contains(id),
                "membership of {id} after op {op}"
            );
        }
    }
}

fn check_search(
    hnsw: &HnswIndex,
    flat: &FlatIndex,
    query: &[f32],
    k: usize,
    ef: usize,
    filter: Option<&AllowSet>,
    repaired: bool,
) {
    let h = hnsw.search_with_stats(query, k, ef, filter);
    let all = flat.search(query, OPS_IDS as usize, filter);
    assert_eq!(h.is_ok(), all.is_ok(), "query {query:?}: {h:?} vs {all:?}");
    let (Ok((hits, stats)), Ok(all)) = (h, all) else {
        return;
    };
    let truth: Vec<f32> = all.iter().take(k).map(|x| x.1).collect();
    assert!(hits.len() <= k, "{} results for k = {k}", hits.len());
    let mut seen = std::collections::HashSet::new();
    for w in hits.windows(2) {
        assert!(w[0].1 <= w[1].1, "results not sorted: {hits:?}");
    }
    for &(id, d) in &hits {
        assert!(seen.insert(id), "id {id} returned twice: {hits:?}");
        assert!(flat.contains(id), "returned id {id} is deleted or unknown");
        if let Some(f) = filter {
            assert!(f.contains(id), "returned id {id} outside the filter");
        }
        let exact = all
            .iter()
            .find(|x| x.0 == id)
            .map(|x| x.1)
            .expect("a live, allowed id is in the oracle's full ranking");
        assert!(
            (d - exact).abs() <= 1e-5 * (1.0 + exact.abs()),
            "id {id}: distance {d}, exact {exact}"
        );
    }
    let exact_plan = matches!(stats.plan, SearchPlan::Exact | SearchPlan::GraphThenExact);
    if exact_plan || (repaired && ef.max(k) >= all.len()) {
        let got: Vec<f32> = hits.iter().map(|x| x.1).collect();
        assert_eq!(
            got.len(),
            truth.len(),
            "{:?}: {hits:?} vs exact {all:?}",
            stats.plan
        );
        for (g, t) in got.iter().zip(&truth) {
            assert!(
                (g - t).abs() <= 1e-5 * (1.0 + t.abs()),
                "{:?}: {hits:?} vs exact {all:?}",
                stats.plan
            );
        }
    }
}
