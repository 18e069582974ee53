//! Concurrency stress: 8 threads (4 writers, 4 readers) share one `Store`.
//! Writers commit pairs of memories atomically; readers must always see
//! whole pairs; at the end the model matches and `verify()` passes.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::*;
use memlayer_store::{HistoryKind, ListOptions, MemoryUpdate, NewMemory, Scope, WriteBatch};
use serde_json::json;

#[test]
fn eight_threads_mixing_reads_and_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open_fast(&dir.path().join("stress.redb")));
    let done = Arc::new(AtomicBool::new(false));
    let violations = Arc::new(AtomicUsize::new(0));
    let reads = Arc::new(AtomicUsize::new(0));

    let writers: Vec<_> = (0..4)
        .map(|w| {
            let s = Arc::clone(&store);
            std::thread::spawn(move || {
                let mut rng = Rng(100 + w);
                let user = format!("w{w}");
                let mut pairs: HashMap<u64, [uuid::Uuid; 2]> = HashMap::new();
                let mut deleted = Vec::new();
                for n in 0..80u64 {
                    let mut b = WriteBatch::new();
                    let mk = |i: u64| {
                        NewMemory::new(
                            format!("pair {n} half {i} stress words"),
                            Scope::user(user.clone()),
                            vec![0.1; 4],
                        )
                        .with_metadata(obj(json!({"pair": n})))
                    };
                    pairs.insert(n, [b.insert(mk(0)), b.insert(mk(1))]);
                    if n > 3 && rng.chance(0.3) {
                        let victim = *pairs
                            .keys()
                            .filter(|k| **k != n)
                            .nth(rng.below(pairs.len() - 1))
                            .unwrap();
                        for id in pairs.remove(&victim).unwrap() {
                            b.delete(id);
                            deleted.push(id);
                        }
                    } else if rng.chance(0.5) {
                        let k = *pairs.keys().nth(rng.below(pairs.len())).unwrap();
                        if k != n {
                            for id in pairs[&k] {
                                b.update(
                                    id,
                                    MemoryUpdate {
                                        metadata: Some(obj(json!({"touched": true}))),
                                        ..Default::default()
                                    },
                                );
                            }
                        }
                    }
                    s.commit(b).unwrap();
                }
                (user, pairs, deleted)
            })
        })
        .collect();

    let readers: Vec<_> = (0..4)
        .map(|r| {
            let (s, done, violations, reads) = (
                Arc::clone(&store),
                Arc::clone(&done),
                Arc::clone(&violations),
                Arc::clone(&reads),
            );
            std::thread::spawn(move || {
                let mut rng = Rng(900 + r);
                while !done.load(Ordering::Relaxed) {
                    let snap = s.snapshot().unwrap();
                    let user = format!("w{}", rng.below(4));
                    let items = snap
                        .list(&Scope::user(user.clone()), None, &ListOptions::default())
                        .unwrap()
                        .items;
                    let mut count: HashMap<u64, usize> = HashMap::new();
                    for m in &items {
                        if m.scope.user_id.as_deref() != Some(user.as_str()) {
                            violations.fetch_add(1, Ordering::Relaxed);
                        }
                        *count
                            .entry(m.metadata["pair"].as_u64().unwrap())
                            .or_default() += 1;
                        let touched = m.metadata.get("touched").is_some();
                        let partner = items
                            .iter()
                            .filter(|o| o.metadata["pair"] == m.metadata["pair"]);
                        if partner
                            .clone()
                            .any(|o| o.metadata.get("touched").is_some() != touched)
                        {
                            violations.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    violations.fetch_add(
                        count.values().filter(|c| **c != 2).count(),
                        Ordering::Relaxed,
                    );
                    let hits = snap
                        .keyword_search(&Scope::user(user.clone()), None, "stress", 1000)
                        .unwrap();
                    if hits.len() != items.len() {
                        violations.fetch_add(1, Ordering::Relaxed);
                    }
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    let results: Vec<_> = writers.into_iter().map(|h| h.join().unwrap()).collect();
    done.store(true, Ordering::Relaxed);
    for h in readers {
        h.join().unwrap();
    }
    for (user, pairs, deleted) in &results {
        let live = store
            .list(&Scope::user(user.clone()), None, &ListOptions::default())
            .unwrap()
            .items;
        assert_eq!(live.len(), pairs.len() * 2);
        for id in deleted {
            let h = store.history(*id).unwrap();
            assert_eq!(h.last().unwrap().event, HistoryKind::Delete);
            assert_eq!(h.first().unwrap().event, HistoryKind::Add);
        }
    }
    let rep = store.verify().unwrap();
    eprintln!(
        "stress: 4 writers x 80 batches, {} reader snapshots, {} violations, verify ok={}",
        reads.load(Ordering::Relaxed),
        violations.load(Ordering::Relaxed),
        rep.is_ok()
    );
    assert_eq!(violations.load(Ordering::Relaxed), 0);
    assert!(rep.is_ok(), "{:?}", rep.problems);
    assert_eq!(store.commit_seq().unwrap(), 320);
}
