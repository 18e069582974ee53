//! Behaviour tests of the public API.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too

mod common;

use common::*;
use memlayer_store::{
    EdgeUpsert, HistoryKind, KeywordOptions, ListOptions, MemoryUpdate, NewMemory, NodeUpsert,
    Scope, Store, StoreConfig, StoreError, WriteBatch, filter,
};
use serde_json::json;
use uuid::Uuid;

fn mem(text: &str, scope: Scope) -> NewMemory {
    NewMemory::new(text, scope, vec![0.5; DIMS as usize])
}

#[test]
fn add_get_update_delete_with_history() {
    let dir = tempfile::tempdir().unwrap();
    let s = open_fast(&dir.path().join("s.redb"));
    let mut n = mem("likes green tea", Scope::user("alice").with_agent("bot"));
    n.actor_id = Some("alice".into());
    n.role = Some("user".into());
    n.metadata = obj(json!({"topic": "drinks", "n": 1}));
    let m = s.add(n).unwrap();
    assert_eq!(m.hash, memlayer_store::md5::hex_digest("likes green tea"));
    assert_eq!(m.embedding_model, MODEL);
    assert_eq!(s.vector(m.id).unwrap().unwrap(), vec![0.5; 4]);

    let u = s
        .update(
            m.id,
            MemoryUpdate {
                text: Some("likes black tea".into()),
                vector: Some(vec![0.25; 4]),
                metadata: Some(obj(json!({"n": 2, "topic": null, "mood": "ok"}))),
                actor_id: Some("bot".into()),
                role: Some("assistant".into()),
            },
        )
        .unwrap();
    assert_eq!(u.created_at, m.created_at);
    assert!(u.updated_at >= m.updated_at);
    assert_eq!(u.metadata, obj(json!({"n": 2, "mood": "ok"})));
    assert_eq!(
        s.keyword_search(&Scope::user("alice"), None, "black", 5)
            .unwrap()
            .len(),
        1
    );
    assert!(
        s.keyword_search(&Scope::user("alice"), None, "green", 5)
            .unwrap()
            .is_empty()
    );

    // Text without a vector is refused and changes nothing.
    let err = s
        .update(
            m.id,
            MemoryUpdate {
                text: Some("x".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidVector(_)));

    s.delete(m.id).unwrap();
    assert!(s.get(m.id).unwrap().is_none());
    assert!(matches!(s.delete(m.id), Err(StoreError::NotFound { .. })));
    let h = s.history(m.id).unwrap();
    let kinds: Vec<_> = h.iter().map(|e| e.event).collect();
    assert_eq!(
        kinds,
        [HistoryKind::Add, HistoryKind::Update, HistoryKind::Delete]
    );
    assert_eq!(h[1].old_memory.as_deref(), Some("likes green tea"));
    assert_eq!(h[1].actor_id.as_deref(), Some("bot"));
    assert_eq!(h[2].old_memory.as_deref(), Some("likes black tea"));
    assert!(h[2].is_deleted && h[2].updated_at.is_some());
    assert!(h.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(s.verify().unwrap().is_ok());
}

#[test]
fn validation_errors_are_typed_and_atomic() {
    let dir = tempfile::tempdir().unwrap();
    let s = open_fast(&dir.path().join("s.redb"));
    let mut b = WriteBatch::new();
    b.insert(mem("ok", Scope::user("a")));
    b.insert(mem("bad", Scope::user("has space")));
    assert!(matches!(
        s.commit(b),
        Err(StoreError::InvalidScope {
            field: "user_id",
            ..
        })
    ));
    assert_eq!(
        s.len().unwrap(),
        0,
        "failed batch must leave nothing behind"
    );
    assert_eq!(s.commit_seq().unwrap(), 0);

    assert!(matches!(
        s.add(mem("x", Scope::default())),
        Err(StoreError::MissingScope)
    ));
    let n = mem("x", Scope::user("a")).with_metadata(obj(json!({"user_id": "mallory"})));
    assert!(matches!(
        s.add(n),
        Err(StoreError::IdentityKeyInMetadata { .. })
    ));
    let mut n = mem("x", Scope::user("a"));
    n.vector = vec![1.0; 3];
    assert!(matches!(s.add(n), Err(StoreError::InvalidVector(_))));
    let mut n = mem("x", Scope::user("a"));
    n.vector = vec![f32::NAN; 4];
    assert!(matches!(s.add(n), Err(StoreError::InvalidVector(_))));
    assert!(matches!(
        s.add(mem("  ", Scope::user("a"))),
        Err(StoreError::InvalidText(_))
    ));
    let m = s.add(mem("x", Scope::user("  a  "))).unwrap();
    assert_eq!(m.scope.user_id.as_deref(), Some("a"));
    let up = MemoryUpdate {
        metadata: Some(obj(json!({"role": "admin"}))),
        ..Default::default()
    };
    assert!(matches!(
        s.update(m.id, up),
        Err(StoreError::IdentityKeyInMetadata { .. })
    ));
    let mut dup = mem("y", Scope::user("a"));
    dup.id = Some(m.id);
    assert!(matches!(s.add(dup), Err(StoreError::AlreadyExists { .. })));
    assert!(s.verify().unwrap().is_ok());
}

#[test]
fn embedder_is_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.redb");
    drop(open(&p));
    let err = Store::open(&p, StoreConfig::new("other-model", DIMS)).unwrap_err();
    assert!(matches!(err, StoreError::EmbedderMismatch { .. }));
    assert!(err.to_string().contains("other-model"));
    assert!(matches!(
        Store::open(&p, StoreConfig::new(MODEL, 8)),
        Err(StoreError::EmbedderMismatch { .. })
    ));
    assert!(Store::open(&p, StoreConfig::new(MODEL, DIMS)).is_ok());
}

#[test]
fn list_pages_newest_first_without_cap() {
    let dir = tempfile::tempdir().unwrap();
    let s = open_fast(&dir.path().join("s.redb"));
    let mut ids = Vec::new();
    for chunk in 0..5 {
        let mut b = WriteBatch::new();
        for i in 0..100 {
            let meta = obj(json!({"i": chunk * 100 + i, "even": i % 2 == 0}));
            ids.push(b.insert(
                mem(&format!("memory {}", chunk * 100 + i), Scope::user("u")).with_metadata(meta),
            ));
        }
        s.commit(b).unwrap();
    }
    s.add(mem("other", Scope::user("v"))).unwrap();
    let all = s
        .list(&Scope::user("u"), None, &ListOptions::default())
        .unwrap();
    assert_eq!(all.items.len(), 500);
    assert!(all.next_cursor.is_none());
    let mut expected = ids.clone();
    expected.reverse();
    // Same created_at inside a batch: ties are broken by id (v7: insertion order).
    assert_eq!(all.items.iter().map(|m| m.id).collect::<Vec<_>>(), expected);

    let f = filter::parse(&json!({"even": true})).unwrap();
    let mut got = Vec::new();
    let mut cursor = None;
    loop {
        let p = s
            .list(
                &Scope::user("u"),
                Some(&f),
                &ListOptions {
                    cursor,
                    limit: Some(7),
                },
            )
            .unwrap();
        got.extend(p.items.iter().map(|m| m.id));
        match p.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let want: Vec<Uuid> = all
        .items
        .iter()
        .filter(|m| m.metadata["even"] == json!(true))
        .map(|m| m.id)
        .collect();
    assert_eq!(got, want);
    assert!(matches!(
        s.list(
            &Scope::user("u"),
            None,
            &ListOptions {
                cursor: Some("zz".into()),
                limit: None
            }
        ),
        Err(StoreError::InvalidCursor(_))
    ));
    // Filter-only scope and contradictions.
    let f = filter::parse(&json!({"user_id": "v"})).unwrap();
    assert_eq!(
        s.list(&Scope::default(), Some(&f), &ListOptions::default())
            .unwrap()
            .items
            .len(),
        1
    );
    assert!(
        s.list(&Scope::user("u"), Some(&f), &ListOptions::default())
            .unwrap()
            .items
            .is_empty()
    );
    assert!(matches!(
        s.list(&Scope::default(), None, &ListOptions::default()),
        Err(StoreError::MissingScope)
    ));
}

#[test]
fn delete_all_in_bounded_batches_clears_keywords_and_graph() {
    let dir = tempfile::tempdir().unwrap();
    let s = open_fast(&dir.path().join("s.redb"));
    let mut b = WriteBatch::new();
    for i in 0..700 {
        b.insert(mem(
            &format!("alice fact number {i}"),
            Scope::user("alice").with_run(format!("r{}", i % 3)),
        ));
    }
    for i in 0..10 {
        b.insert(mem(&format!("bob fact {i}"), Scope::user("bob")));
    }
    for i in 0..30 {
        b.upsert_edge(EdgeUpsert {
            scope: Scope::user("alice"),
            source: format!("n{i}"),
            relationship: "knows".into(),
            destination: format!("n{}", i + 1),
            memory_id: None,
        });
    }
    b.upsert_edge(EdgeUpsert {
        scope: Scope::user("bob"),
        source: "bob".into(),
        relationship: "likes".into(),
        destination: "tea".into(),
        memory_id: None,
    });
    s.commit(b).unwrap();
    let r = s.delete_all(&Scope::user("alice").with_run("r1")).unwrap();
    assert_eq!(r.memories, 233);
    let r = s.delete_all(&Scope::user("alice")).unwrap();
    assert_eq!(r.memories, 467);
    assert!(r.batches >= 2);
    assert_eq!(r.graph_entries, 30 + 31);
    assert_eq!(s.len().unwrap(), 10);
    assert!(
        s.keyword_search(&Scope::user("alice"), None, "fact", 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.keyword_search(&Scope::user("bob"), None, "fact", 100)
            .unwrap()
            .len(),
        10
    );
    let snap = s.snapshot().unwrap();
    assert!(snap.graph_nodes(&Scope::user("alice")).unwrap().is_empty());
    assert_eq!(
        snap.graph_edges(&Scope::user("bob"), true).unwrap().len(),
        1
    );
    let rep = s.verify().unwrap();
    assert!(rep.is_ok(), "{:?}", rep.problems);
}

#[test]
fn reset_keeps_file_valid() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.redb");
    let s = open_fast(&p);
    let m = s.add(mem("one", Scope::user("a"))).unwrap();
    let before = s.commit_seq().unwrap();
    let info = s.reset().unwrap();
    assert!(info.seq > before);
    assert!(s.get(m.id).unwrap().is_none());
    assert!(s.history(m.id).unwrap().is_empty());
    s.add(mem("two", Scope::user("a"))).unwrap();
    assert!(s.verify().unwrap().is_ok());
    drop(s);
    let s = open(&p);
    assert_eq!(s.len().unwrap(), 1);
}

#[test]
fn keyword_search_ranks_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let s = open_fast(&dir.path().join("s.redb"));
    let a = s
        .add(mem(
            "Alice loves hiking in the Alps, hiking every weekend",
            Scope::user("u"),
        ))
        .unwrap();
    let b = s
        .add(mem("Alice went hiking once", Scope::user("u")).with_metadata(obj(json!({"k": 1}))))
        .unwrap();
    s.add(mem("Bob likes chess", Scope::user("u"))).unwrap();
    s.add(mem("hiking hiking hiking", Scope::user("other")))
        .unwrap();
    let hits = s
        .keyword_search(&Scope::user("u"), None, "HIKING alps", 10)
        .unwrap();
    assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [a.id, b.id]);
    assert!(hits[0].1 > hits[1].1 && hits[1].1 > 0.0);
    let f = filter::parse(&json!({"k": 1})).unwrap();
    assert_eq!(
        s.keyword_search(&Scope::user("u"), Some(&f), "hiking", 10)
            .unwrap()[0]
            .0,
        b.id
    );
    assert_eq!(
        s.keyword_search(&Scope::user("u"), None, "hiking", 1)
            .unwrap()
            .len(),
        1
    );
    assert!(
        s.keyword_search(&Scope::user("u"), None, "the", 10)
            .unwrap()
            .is_empty(),
        "stop words"
    );
    // Multi-dimension scope computes N/avgdl from the candidate set.
    let c = s
        .add(mem("hiking boots", Scope::user("u").with_agent("g")))
        .unwrap();
    assert_eq!(
        s.keyword_search(&Scope::user("u").with_agent("g"), None, "hiking", 10)
            .unwrap()[0]
            .0,
        c.id
    );
}

#[test]
fn graph_batch_ops() {
    let dir = tempfile::tempdir().unwrap();
    let s = open_fast(&dir.path().join("s.redb"));
    let scope = Scope::user("alice");
    let m = s.add(mem("alice lives in paris", scope.clone())).unwrap();
    let mut b = WriteBatch::new();
    b.upsert_node(NodeUpsert {
        display_name: None,
        scope: scope.clone(),
        name: "Alice".into(),
        node_type: Some("person".into()),
        embedding: Some(vec![0.1; 4]),
    });
    b.upsert_edge(EdgeUpsert {
        scope: scope.clone(),
        source: "Alice".into(),
        relationship: "lives in".into(),
        destination: " Paris ".into(),
        memory_id: Some(m.id),
    });
    b.upsert_edge(EdgeUpsert {
        scope: Scope::user("bob"),
        source: "bob".into(),
        relationship: "lives_in".into(),
        destination: "paris".into(),
        memory_id: None,
    });
    s.commit(b).unwrap();
    let snap = s.snapshot().unwrap();
    let alice = snap.graph_node(&scope, "ALICE").unwrap().unwrap();
    assert_eq!(
        (
            alice.node_type.as_str(),
            alice.mentions,
            alice.display_name.as_str()
        ),
        ("person", 2, "Alice")
    );
    assert!(alice.embedding_id.is_some());
    let edges = snap.graph_edges(&scope, false).unwrap();
    assert_eq!(edges.len(), 1);
    assert_eq!(
        (
            edges[0].relationship.as_str(),
            edges[0].destination.as_str()
        ),
        ("lives_in", "paris")
    );
    assert_eq!(edges[0].memory_ids, [m.id]);
    assert_eq!(
        snap.graph_neighbors(&scope, "paris", false).unwrap().len(),
        1
    );
    drop(snap);

    let mut b = WriteBatch::new();
    b.invalidate_edge(scope.clone(), "alice", "lives in", "paris");
    s.commit(b).unwrap();
    let snap = s.snapshot().unwrap();
    assert!(snap.graph_edges(&scope, false).unwrap().is_empty());
    let e = &snap.graph_edges(&scope, true).unwrap()[0];
    assert!(!e.valid && e.invalidated_at.is_some());
    drop(snap);
    let mut b = WriteBatch::new();
    b.invalidate_edge(scope.clone(), "alice", "hates", "paris");
    assert!(matches!(s.commit(b), Err(StoreError::InvalidGraph(_))));
    // Re-upsert revalidates and bumps mentions.
    let mut b = WriteBatch::new();
    b.upsert_edge(EdgeUpsert {
        scope: scope.clone(),
        source: "alice".into(),
        relationship: "lives_in".into(),
        destination: "paris".into(),
        memory_id: Some(m.id),
    });
    s.commit(b).unwrap();
    let e = &s.snapshot().unwrap().graph_edges(&scope, false).unwrap()[0];
    assert_eq!((e.mentions, e.valid, e.memory_ids.len()), (2, true, 1));
    assert!(s.verify().unwrap().is_ok());

    let mut b = WriteBatch::new();
    b.clear_graph_scope(scope.clone());
    s.commit(b).unwrap();
    let snap = s.snapshot().unwrap();
    assert!(snap.graph_nodes(&scope).unwrap().is_empty());
    assert_eq!(snap.graph_nodes(&Scope::user("bob")).unwrap().len(), 2);
    assert!(s.verify().unwrap().is_ok());
}

#[test]
fn export_import_round_trip_is_lossless() {
    let dir = tempfile::tempdir().unwrap();
    let s = open_fast(&dir.path().join("a.redb"));
    let mut rng = Rng(7);
    let mut ids = Vec::new();
    for i in 0..50 {
        let mut n = NewMemory::new(
            format!("fact {i} ünïcødé"),
            Scope::user(format!("u{}", i % 3)),
            rng.vector(),
        );
        n.metadata = obj(json!({"i": i, "f": 0.1 + i as f64, "nested": {"a": [1, "x", null]}}));
        n.memory_type = (i % 5 == 0).then(|| "procedural_memory".to_string());
        n.expiration_date = (i % 7 == 0).then(|| "2030-01-01T00:00:00Z".parse().unwrap());
        n.vector[0] = f32::MIN_POSITIVE * (i as f32 + 1.0);
        ids.push(s.add(n).unwrap().id);
    }
    for id in ids.iter().take(10) {
        s.update(
            *id,
            MemoryUpdate {
                text: Some("changed".into()),
                vector: Some(rng.vector()),
                ..Default::default()
            },
        )
        .unwrap();
    }
    for id in ids.iter().skip(40) {
        s.delete(*id).unwrap();
    }
    let mut b = WriteBatch::new();
    b.upsert_node(NodeUpsert {
        display_name: None,
        scope: Scope::user("u0"),
        name: "x".into(),
        node_type: None,
        embedding: Some(rng.vector()),
    });
    b.upsert_edge(EdgeUpsert {
        scope: Scope::user("u0"),
        source: "x".into(),
        relationship: "r".into(),
        destination: "y".into(),
        memory_id: Some(ids[0]),
    });
    b.invalidate_edge(Scope::user("u0"), "x", "r", "y");
    s.commit(b).unwrap();

    let mut buf = Vec::new();
    let st = s.export_jsonl(&mut buf).unwrap();
    assert_eq!(
        (st.memories, st.history, st.nodes, st.edges),
        (40, 70, 2, 1)
    );

    let t = open_fast(&dir.path().join("b.redb"));
    let it = t.import_jsonl(buf.as_slice()).unwrap();
    assert_eq!(it, st);
    for id in &ids {
        assert_eq!(s.get(*id).unwrap(), t.get(*id).unwrap());
        assert_eq!(s.vector(*id).unwrap(), t.vector(*id).unwrap());
        let strip = |v: Vec<memlayer_store::HistoryEvent>| {
            v.into_iter()
                .map(|mut e| {
                    e.seq = 0;
                    e
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            strip(s.history(*id).unwrap()),
            strip(t.history(*id).unwrap())
        );
    }
    let (sa, sb) = (s.snapshot().unwrap(), t.snapshot().unwrap());
    assert_eq!(
        sa.graph_nodes(&Scope::user("u0")).unwrap(),
        sb.graph_nodes(&Scope::user("u0")).unwrap()
    );
    assert_eq!(
        sa.graph_edges(&Scope::user("u0"), true).unwrap(),
        sb.graph_edges(&Scope::user("u0"), true).unwrap()
    );
    assert!(t.verify().unwrap().is_ok());
    // A second export of the copy is byte-identical except for the header.
    let mut buf2 = Vec::new();
    t.export_jsonl(&mut buf2).unwrap();
    let body = |b: &[u8]| {
        String::from_utf8(b.to_vec())
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                if let Some(h) = v.get_mut("history") {
                    h["seq"] = json!(0);
                }
                v
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(body(&buf), body(&buf2));

    // Importing again collides and commits nothing.
    let before = t.commit_seq().unwrap();
    assert!(matches!(
        t.import_jsonl(buf.as_slice()),
        Err(StoreError::Import { .. })
    ));
    assert_eq!(t.commit_seq().unwrap(), before);
    // Wrong embedder is refused.
    let u = Store::open(dir.path().join("c.redb"), StoreConfig::new("other", DIMS)).unwrap();
    assert!(u.import_jsonl(buf.as_slice()).is_err());
}

#[test]
fn readers_see_whole_batches() {
    let dir = tempfile::tempdir().unwrap();
    let s = open_fast(&dir.path().join("s.redb"));
    s.add(mem("before", Scope::user("a"))).unwrap();
    let snap = s.snapshot().unwrap();
    let mut b = WriteBatch::new();
    for i in 0..20 {
        b.insert(mem(&format!("in batch {i}"), Scope::user("a")));
    }
    s.commit(b).unwrap();
    assert_eq!(
        snap.list(&Scope::user("a"), None, &ListOptions::default())
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(snap.commit_seq().unwrap(), 1);
    assert_eq!(
        s.list(&Scope::user("a"), None, &ListOptions::default())
            .unwrap()
            .items
            .len(),
        21
    );
}

#[test]
fn store_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Store>();
}

/// Found by the `store_record_decode` fuzz target: without serde_json's
/// `float_roundtrip`, metadata numbers drifted by one ulp across a store
/// round trip (18546744097370551616 came back as 1.8546744097370554e19).
#[test]
fn metadata_numbers_round_trip_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("m.redb"), StoreConfig::new("m", DIMS)).unwrap();
    let meta = serde_json::json!({
        "big": 18546744097370551616u128 as f64,
        "tenth": 0.1, "sum": 0.1 + 0.2, "tiny": 5e-324, "neg": -1.7976931348623157e308,
        "int": u64::MAX, "nested": {"pi": std::f64::consts::PI, "list": [1e-7, 2.5e21]}
    });
    let m = store
        .add(mem("numbers", Scope::user("u")).with_metadata(meta.as_object().unwrap().clone()))
        .unwrap();
    let got = store.get(m.id).unwrap().unwrap();
    assert_eq!(serde_json::Value::Object(got.metadata.clone()), meta);
    // Also from the exact bytes the fuzzer produced, through the JSON parser.
    let parsed: serde_json::Value = serde_json::from_str(r#"{"x":18546744097370551616}"#).unwrap();
    let m2 = store
        .add(mem("x", Scope::user("u")).with_metadata(parsed.as_object().unwrap().clone()))
        .unwrap();
    assert_eq!(
        serde_json::Value::Object(store.get(m2.id).unwrap().unwrap().metadata),
        parsed
    );
}

#[test]
fn expect_hash_guards_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let s = open_fast(&dir.path().join("s.redb"));
    let m = s.add(mem("likes tea", Scope::user("u"))).unwrap();
    let upd = || MemoryUpdate {
        text: Some("likes coffee".into()),
        vector: Some(vec![0.25; DIMS as usize]),
        ..MemoryUpdate::default()
    };

    // Matching hash: the guarded update applies.
    let mut b = WriteBatch::new();
    b.expect_hash(m.id, m.hash.clone());
    b.update(m.id, upd());
    s.commit(b).unwrap();
    assert_eq!(s.get(m.id).unwrap().unwrap().text, "likes coffee");

    // Stale hash: Conflict, and the insert in the same batch is not written.
    let mut b = WriteBatch::new();
    let other = b.insert(mem("unrelated", Scope::user("u")));
    b.expect_hash(m.id, m.hash.clone());
    b.delete(m.id);
    match s.commit(b) {
        Err(StoreError::Conflict {
            id,
            expected,
            found,
        }) => {
            assert_eq!(id, m.id);
            assert_eq!(expected, m.hash);
            assert_eq!(found, Some(memlayer_store::md5::hex_digest("likes coffee")));
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert!(s.get(other).unwrap().is_none());
    assert!(s.get(m.id).unwrap().is_some());

    // Missing memory: Conflict with found = None.
    let mut b = WriteBatch::new();
    b.expect_hash(Uuid::now_v7(), "x");
    assert!(matches!(
        s.commit(b),
        Err(StoreError::Conflict { found: None, .. })
    ));
    assert!(s.verify().unwrap().is_ok());
}

#[test]
fn supersede_keeps_the_record_marks_it_and_refuses_bad_links() {
    let dir = tempfile::tempdir().unwrap();
    let s = open_fast(&dir.path().join("s.redb"));
    let berlin = s.add(mem("Lives in Berlin", Scope::user("alice"))).unwrap();
    let mut b = WriteBatch::new();
    let lisbon = b.insert(mem("Lives in Lisbon", Scope::user("alice")));
    b.supersede_as(berlin.id, Some(lisbon), Some("bot".into()), None);
    let info = s.commit(b).unwrap();
    let old = s.get(berlin.id).unwrap().unwrap();
    assert_eq!(old.superseded_by, Some(lisbon));
    assert!(old.is_superseded());
    assert_eq!(old.text, "Lives in Berlin");
    assert_eq!(
        s.vector(berlin.id).unwrap().unwrap().len(),
        4,
        "vector kept"
    );
    let h = s.history(berlin.id).unwrap();
    let last = h.last().unwrap();
    assert_eq!(last.event, HistoryKind::Supersede);
    assert_eq!(last.seq, info.seq);
    assert_eq!(last.new_memory.as_deref(), Some("Lives in Lisbon"));
    assert_eq!(last.actor_id.as_deref(), Some("bot"));
    assert_eq!(Some(last.event_at), old.superseded_at);

    // Each bad link fails the whole batch and writes nothing.
    let seq = s.commit_seq().unwrap();
    let cases: Vec<(WriteBatch, &str)> = vec![
        {
            let mut b = WriteBatch::new();
            b.supersede(berlin.id, None);
            (b, "already superseded")
        },
        {
            let mut b = WriteBatch::new();
            b.supersede(lisbon, Some(lisbon));
            (b, "itself")
        },
        {
            let mut b = WriteBatch::new();
            b.insert(mem("extra", Scope::user("alice")));
            b.supersede(lisbon, Some(Uuid::from_u128(42)));
            (b, "not found")
        },
        {
            let mut b = WriteBatch::new();
            b.supersede(Uuid::from_u128(43), None);
            (b, "not found")
        },
    ];
    for (b, want) in cases {
        let e = s.commit(b).unwrap_err();
        assert!(e.to_string().contains(want), "{e}");
        assert!(
            matches!(
                e,
                StoreError::InvalidSupersede { .. } | StoreError::NotFound { .. }
            ),
            "{e:?}"
        );
    }
    assert_eq!(s.commit_seq().unwrap(), seq);

    // A superseded memory fails `expect_hash` (it is no longer current).
    let mut b = WriteBatch::new();
    b.expect_hash(berlin.id, old.hash.clone());
    assert!(matches!(
        s.commit(b).unwrap_err(),
        StoreError::Conflict { found: None, .. }
    ));

    // Export → import keeps the supersession; verify holds on both sides.
    assert!(s.verify().unwrap().is_ok());
    let mut out = Vec::new();
    s.export_jsonl(&mut out).unwrap();
    let t = open_fast(&dir.path().join("t.redb"));
    t.import_jsonl(&out[..]).unwrap();
    assert_eq!(t.get(berlin.id).unwrap().unwrap(), old);
    assert!(t.verify().unwrap().is_ok(), "{:?}", t.verify().unwrap());
}

#[test]
fn keyword_search_matches_stems_and_scores_the_previous_turn() {
    let dir = tempfile::tempdir().unwrap();
    let s = open_fast(&dir.path().join("s.redb"));
    let q = s
        .add(mem("Ana: what did you paint last week?", Scope::user("u")))
        .unwrap();
    let answer = s
        .add(mem("Ben: a sunrise over the lake", Scope::user("u")))
        .unwrap();
    let lived = s
        .add(mem("Ben: I lived in Lisbon", Scope::user("u")))
        .unwrap();
    s.add(mem("painting painted paints", Scope::user("other")))
        .unwrap();
    // "living" finds "lived"; "painted" finds "paint", only in scope.
    let hits = s
        .keyword_search(&Scope::user("u"), None, "living", 10)
        .unwrap();
    assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [lived.id]);
    let own = s
        .keyword_search(&Scope::user("u"), None, "painted", 10)
        .unwrap();
    assert_eq!(own.iter().map(|h| h.0).collect::<Vec<_>>(), [q.id]);
    // With context, the turn after the question holds its words at half
    // weight: found, ranked below the question itself.
    let opts = KeywordOptions {
        context_weight: 0.5,
        dates: true,
    };
    let search = |query: &str| {
        s.snapshot()
            .unwrap()
            .keyword_search_with(&Scope::user("u"), None, query, 10, &opts)
            .unwrap()
    };
    let ctx = search("painted");
    assert_eq!(
        ctx.iter().map(|h| h.0).collect::<Vec<_>>(),
        [q.id, answer.id]
    );
    assert!(ctx[1].1 > 0.0 && ctx[1].1 < ctx[0].1, "{ctx:?}");
    // The last memory is nobody's previous one.
    assert_eq!(
        search("Lisbon").iter().map(|h| h.0).collect::<Vec<_>>(),
        [lived.id]
    );
    // Context is read at query time: deleting the question takes its
    // words out of the answer's score too.
    s.delete(q.id).unwrap();
    assert!(search("painted").is_empty());
    assert_eq!(
        search("sunrise").iter().map(|h| h.0).collect::<Vec<_>>(),
        [answer.id, lived.id]
    );
}

#[test]
fn caller_given_created_at_orders_lists_and_survives_updates() {
    let dir = tempfile::tempdir().unwrap();
    let s = open_fast(&dir.path().join("s.redb"));
    let old: memlayer_store::Timestamp = "2023-05-08T13:56:00Z".parse().unwrap();
    let older: memlayer_store::Timestamp = "2022-01-01T00:00:00Z".parse().unwrap();
    let mut b = WriteBatch::new();
    let a = b.insert(mem("went to a support group", Scope::user("u")).with_created_at(old));
    let c = b.insert(mem("painted a sunrise", Scope::user("u")).with_created_at(older));
    let now = b.insert(mem("today's note", Scope::user("u")));
    s.commit(b).unwrap();
    let m = s.get(a).unwrap().unwrap();
    assert_eq!(m.created_at, old);
    assert!(m.updated_at > old, "updated_at is the commit time");
    let h = s.history(a).unwrap();
    assert_eq!(h[0].created_at, old);
    // Newest first by created_at, not by insertion.
    let ids: Vec<Uuid> = s
        .list(&Scope::user("u"), None, &ListOptions::default())
        .unwrap()
        .items
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, vec![now, a, c]);
    // An update keeps created_at; a delete finds the scope entry by it.
    let u = s
        .update(
            c,
            MemoryUpdate {
                metadata: Some(obj(json!({"k": 1}))),
                ..MemoryUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(u.created_at, older);
    s.delete(c).unwrap();
    let left = s
        .list(&Scope::user("u"), None, &ListOptions::default())
        .unwrap()
        .items;
    assert_eq!(left.iter().map(|m| m.id).collect::<Vec<_>>(), vec![now, a]);
}

#[test]
fn expansion_stems_score_at_their_weight_and_too_common_ones_are_dropped() {
    use memlayer_store::keyword::{Expansion, MAX_EXPANSION_POSTINGS};
    let dir = tempfile::tempdir().unwrap();
    let s = open_fast(&dir.path().join("s.redb"));
    let u = Scope::user("u");
    let kitchen = s
        .add(mem("the sunrise hangs in the kitchen", u.clone()))
        .unwrap();
    // More memories holding "note" than an expansion stem may read.
    let mut b = WriteBatch::new();
    for i in 0..=MAX_EXPANSION_POSTINGS {
        b.insert(mem(&format!("note number {i}"), u.clone()));
    }
    s.commit(b).unwrap();
    let opts = KeywordOptions::default();
    let search = |stems: &[(&str, f32)]| {
        let e = Expansion {
            stems: stems
                .iter()
                .map(|(t, w)| (memlayer_text::stem(t), *w))
                .collect(),
            terms: 10,
            weight: 0.3,
        };
        s.snapshot()
            .unwrap()
            .keyword_search_expanded(&u, None, "watercolour", 5, &opts, Some(&e))
            .unwrap()
    };
    // No memory holds the query word; the expansion stem finds one.
    let hits = search(&[("sunrise", 1.0)]);
    assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [kitchen.id]);
    let alone = s
        .snapshot()
        .unwrap()
        .keyword_search_with(&u, None, "sunrise", 5, &opts)
        .unwrap();
    assert!(
        (hits[0].1 - 0.3 * alone[0].1).abs() < 1e-5,
        "{hits:?} {alone:?}"
    );
    // "note" is in more memories than the cap: dropped, nothing found.
    assert!(search(&[("note", 1.0)]).is_empty());
    assert_eq!(search(&[("note", 1.0), ("sunrise", 0.5)]).len(), 1);
}
