//! Recovery tests with old-format fixtures: files written by earlier
//! builds open, read and upgrade in place.
//!
//! `fixtures/schema1.redb.gz` was written by the build before schema
//! version 2 (commit 3890c3d) with `StoreConfig::new("fixture-model", 4)`:
//! one batch inserting "Lives in Berlin" (user alice, role user, metadata
//! `{"topic": "home"}`, edge alice -lives_in-> berlin from it), "Likes green
//! tea" (alice, run r1), "Is in Rome this week" (expired in 2023) and "Has a
//! cat" (alice, agent bot); a second batch updating the tea memory to
//! "Likes black tea" and deleting the cat.
//!
//! `fixtures/schema2.redb.gz` was written by the build before schema
//! version 3 (commit 8c92ca5, store-wide keyword postings) with
//! `StoreConfig::new("fixture-model", 4)`: one batch inserting "Lives in
//! Berlin" (alice), "Likes green tea and painting" (alice, run r1), "Has a
//! cat called Miso" (alice, agent bot), "Bob paints landscapes" (bob); a
//! second batch inserting "Lives in Lisbon" (alice) and superseding Berlin
//! by it.
#![allow(clippy::unwrap_used)]

use std::io::Read;

use memlayer_store::{
    HistoryKind, ListOptions, NewMemory, Scope, Store, StoreConfig, StoreError, WriteBatch,
};
use redb::{ReadableDatabase, TableDefinition};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

fn unpack(name: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let gz = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.redb.gz"));
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&gz).unwrap())
        .read_to_end(&mut bytes)
        .unwrap();
    let path = dir.join(format!("{name}.redb"));
    std::fs::write(&path, bytes).unwrap();
    path
}

fn schema_version(path: &std::path::Path) -> u32 {
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_read().unwrap();
    let t = txn.open_table(META).unwrap();
    let v = t.get("schema_version").unwrap().unwrap();
    u32::from_le_bytes(v.value().try_into().unwrap())
}

fn texts(s: &Store, scope: &Scope) -> Vec<String> {
    let mut v: Vec<String> = s
        .snapshot()
        .unwrap()
        .list(scope, None, &ListOptions::default())
        .unwrap()
        .items
        .into_iter()
        .map(|m| m.text)
        .collect();
    v.sort();
    v
}

#[test]
fn a_schema_1_file_opens_reads_and_upgrades_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = unpack("schema1", dir.path());
    assert_eq!(schema_version(&path), 1);

    let s = Store::open(&path, StoreConfig::new("fixture-model", 4)).unwrap();
    let alice = Scope::user("alice");
    assert_eq!(
        texts(&s, &alice),
        vec!["Is in Rome this week", "Likes black tea", "Lives in Berlin"]
    );
    let berlin = s
        .snapshot()
        .unwrap()
        .list(&alice, None, &ListOptions::default())
        .unwrap()
        .items
        .into_iter()
        .find(|m| m.text == "Lives in Berlin")
        .unwrap();
    assert_eq!(berlin.metadata["topic"], "home");
    assert_eq!(berlin.role.as_deref(), Some("user"));
    assert!(berlin.superseded_at.is_none() && berlin.superseded_by.is_none());
    let edges = s.snapshot().unwrap().graph_edges(&alice, false).unwrap();
    assert_eq!(edges.len(), 1);
    assert_eq!(edges[0].memory_ids, vec![berlin.id]);
    assert!(s.verify().unwrap().is_ok(), "{:?}", s.verify().unwrap());

    // The postings were rebuilt per scope: keyword search finds by scope.
    let snap = s.snapshot().unwrap();
    let hits = snap.keyword_search(&alice, None, "berlin", 5).unwrap();
    assert_eq!(
        hits.iter().map(|h| h.0).collect::<Vec<_>>(),
        vec![berlin.id]
    );
    assert!(
        snap.keyword_search(&Scope::user("bob"), None, "berlin", 5)
            .unwrap()
            .is_empty()
    );
    drop(snap);

    // Opening marked the file as the current version, so an older build
    // refuses it with a clear error instead of misreading a superseded
    // record or the re-keyed postings.
    drop(s);
    assert_eq!(schema_version(&path), memlayer_store::SCHEMA_VERSION);

    // Version-1 records take part in version-2 operations.
    let s = Store::open(&path, StoreConfig::new("fixture-model", 4)).unwrap();
    let mut b = WriteBatch::new();
    let lisbon = b.insert(NewMemory::new(
        "Lives in Lisbon",
        alice.clone(),
        vec![0.9, 0.1, 0.0, 0.0],
    ));
    b.supersede(berlin.id, Some(lisbon));
    s.commit(b).unwrap();
    let old = s.get(berlin.id).unwrap().unwrap();
    assert_eq!(old.superseded_by, Some(lisbon));
    assert_eq!(old.text, "Lives in Berlin");
    let h = s.history(berlin.id).unwrap();
    assert_eq!(
        h.iter().map(|e| e.event).collect::<Vec<_>>(),
        vec![HistoryKind::Add, HistoryKind::Supersede]
    );
    assert!(s.verify().unwrap().is_ok(), "{:?}", s.verify().unwrap());
}

#[test]
fn a_newer_schema_is_refused_with_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = unpack("schema1", dir.path());
    {
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn.open_table(META).unwrap();
            t.insert("schema_version", 99u32.to_le_bytes().as_slice())
                .unwrap();
        }
        txn.commit().unwrap();
    }
    match Store::open(&path, StoreConfig::new("fixture-model", 4)) {
        Err(StoreError::SchemaVersion { found: 99, .. }) => {}
        other => panic!("expected SchemaVersion, got {:?}", other.err()),
    }
}

#[test]
fn a_schema_2_file_gets_postings_keyed_by_scope_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = unpack("schema2", dir.path());
    assert_eq!(schema_version(&path), 2);
    let s = Store::open(&path, StoreConfig::new("fixture-model", 4)).unwrap();
    assert_eq!(schema_version_open(&s), memlayer_store::SCHEMA_VERSION);
    assert!(s.verify().unwrap().is_ok(), "{:?}", s.verify().unwrap());
    let snap = s.snapshot().unwrap();
    let alice = Scope::user("alice");
    let found = |scope: &Scope, q: &str| -> Vec<String> {
        snap.keyword_search(scope, None, q, 10)
            .unwrap()
            .into_iter()
            .map(|(id, _)| snap.get(id).unwrap().unwrap().text)
            .collect()
    };
    // "painting" and "paints" share a stem; each user sees only their own.
    assert_eq!(found(&alice, "paint"), vec!["Likes green tea and painting"]);
    assert_eq!(
        found(&Scope::user("bob"), "paint"),
        vec!["Bob paints landscapes"]
    );
    // Two dimensions: alice's memories of run r1 only.
    assert_eq!(
        found(&alice.clone().with_run("r1"), "tea painting"),
        vec!["Likes green tea and painting"]
    );
    assert!(found(&alice.clone().with_run("r1"), "cat").is_empty());
    assert_eq!(
        found(&Scope::agent("bot"), "cat"),
        vec!["Has a cat called Miso"]
    );
    // The superseded record kept its postings like any other.
    assert_eq!(found(&alice, "berlin"), vec!["Lives in Berlin"]);
    drop(snap);
    // New writes and deletes keep the new postings consistent.
    let mut b = WriteBatch::new();
    b.insert(NewMemory::new(
        "Paints at night",
        alice.clone(),
        vec![0.5; 4],
    ));
    s.commit(b).unwrap();
    assert!(s.verify().unwrap().is_ok(), "{:?}", s.verify().unwrap());
    drop(s);
    let s = Store::open(&path, StoreConfig::new("fixture-model", 4)).unwrap();
    assert!(s.verify().unwrap().is_ok());
}

fn schema_version_open(s: &Store) -> u32 {
    let path = s.path().to_path_buf();
    // redb allows one open handle per file: read the meta through a copy.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.redb");
    std::fs::copy(&path, &copy).unwrap();
    schema_version(&copy)
}
