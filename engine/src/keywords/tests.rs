//! The in-memory index scores as the store does: same memories, same
//! scores, on random scopes, after inserts out of time order, updates and
//! deletes, with and without neighbour context, dates and expansion.

use std::collections::HashMap;

use memlayer_store::keyword::Expansion;
use memlayer_store::{
    KeywordOptions, MemoryUpdate, NewMemory, Scope, Store, StoreConfig, Timestamp, WriteBatch,
};
use uuid::Uuid;

use super::Keywords;
use crate::vectors::Change;

const WORDS: [&str; 14] = [
    "lake", "lakes", "painting", "painted", "sunrise", "camping", "tent", "violin", "june",
    "sister", "bakery", "hiking", "hikes", "the",
];

/// xorshift: deterministic pseudo-random numbers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn text(r: &mut Rng) -> String {
    let n = 1 + r.below(6);
    (0..n)
        .map(|_| WORDS[r.below(WORDS.len() as u64) as usize])
        .collect::<Vec<_>>()
        .join(" ")
}

fn scope(r: &mut Rng) -> Scope {
    let s = Scope::user(format!("u{}", r.below(2)));
    if r.below(3) == 0 {
        s.with_run(format!("r{}", r.below(2)))
    } else {
        s
    }
}

/// A day in June or July 2023 (UTC), at some hour.
fn time(r: &mut Rng) -> Timestamp {
    const DAY: i64 = 86_400_000_000;
    let june_1 = 19_509 * DAY; // 2023-06-01
    Timestamp(june_1 + r.below(50) as i64 * DAY + r.below(24) as i64 * 3_600_000_000)
}

fn assert_same(mine: Vec<(Uuid, f32)>, theirs: Vec<(Uuid, f32)>, what: &str) {
    let theirs: HashMap<Uuid, f32> = theirs.into_iter().collect();
    assert_eq!(mine.len(), theirs.len(), "{what}: {mine:?} vs {theirs:?}");
    for (id, s) in &mine {
        let t = theirs
            .get(id)
            .unwrap_or_else(|| panic!("{what}: {id} missing"));
        assert!(
            (s - t).abs() <= 1e-4 * t.abs().max(1.0),
            "{what}: {id} {s} vs {t}"
        );
    }
    assert!(
        mine.windows(2).all(|w| w[0].1 >= w[1].1),
        "{what}: not sorted"
    );
}

/// The index's invariants: per scope, order, lengths and ids line up,
/// each memory knows its position, postings are sorted by position.
fn check_invariants(kw: &Keywords) {
    let st = kw.state.read();
    for ((kind, _), si) in &st.scopes {
        assert_eq!(si.order.len(), si.lens.len());
        assert_eq!(si.order.len(), si.ids.len());
        for (p, &s) in si.order.iter().enumerate() {
            let doc = st.doc(s).expect("live");
            assert_eq!(doc.pos[super::state::dim(*kind)] as usize, p);
            assert_eq!((si.lens[p], si.ids[p]), (doc.len, doc.id));
        }
        let at = |p: usize| st.doc(si.order[p]).map(|d| (d.at, d.id));
        assert!((1..si.order.len()).all(|p| at(p - 1) < at(p)));
        for list in si.postings.values() {
            assert!(list.windows(2).all(|w| w[0].0 < w[1].0));
            assert!(list.iter().all(|x| (x.0 as usize) < si.order.len()));
        }
    }
}

fn compare(store: &Store, kw: &Keywords, round: usize) {
    check_invariants(kw);
    let snap = store.snapshot().unwrap();
    let queries = [
        "painting the lake",
        "hikes in June 2023",
        "violin",
        "the",
        "camping on 12 June 2023",
        "nothing matches",
    ];
    let expansion = Expansion {
        stems: ["sunris", "tent", "bakeri", "lake", "zzz"]
            .iter()
            .map(|s| (memlayer_text::stem(s), 0.5))
            .collect(),
        terms: 3,
        weight: 0.3,
    };
    let scopes = [
        Scope::user("u0"),
        Scope::user("u1"),
        Scope::user("u0").with_run("r1"),
        Scope::run("r0"),
        Scope::user("nobody"),
    ];
    for s in &scopes {
        for q in queries {
            for context_weight in [0.0, 0.35] {
                for dates in [false, true] {
                    for exp in [None, Some(&expansion)] {
                        let opts = KeywordOptions {
                            context_weight,
                            dates,
                        };
                        let mine = kw.search(s, q, &opts, exp, None);
                        let theirs = snap
                            .keyword_search_expanded(s, None, q, 10_000, &opts, exp)
                            .unwrap();
                        let what = format!(
                            "round {round}, {s:?}, {q:?}, w {context_weight}, dates {dates}, expansion {}",
                            exp.is_some()
                        );
                        assert_same(mine, theirs, &what);
                    }
                }
            }
        }
    }
}

#[test]
fn in_memory_scores_equal_the_stores_through_inserts_updates_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("k.redb"), StoreConfig::new("t", 2)).unwrap();
    let mut r = Rng(0x5eed_1234_abcd_0001);
    let mut ids = Vec::new();
    let mut b = WriteBatch::new();
    for _ in 0..120 {
        let mut m = NewMemory::new(text(&mut r), scope(&mut r), vec![1.0, 0.0]);
        m.created_at = Some(time(&mut r));
        ids.push(b.insert(m));
    }
    store.commit(b).unwrap();
    let kw = Keywords::open(&store).unwrap();
    compare(&store, &kw, 0);

    // Inserts out of time order, text updates, deletes: applied as changes.
    for round in 1..4 {
        let mut b = WriteBatch::new();
        let mut changes = Vec::new();
        for _ in 0..15 {
            let sc = scope(&mut r);
            let mut m = NewMemory::new(text(&mut r), sc.clone(), vec![1.0, 0.0]);
            m.created_at = Some(time(&mut r));
            let id = b.insert(m);
            ids.push(id);
            changes.push(Change::Insert {
                id,
                scope: sc,
                vector: vec![1.0, 0.0],
            });
        }
        for _ in 0..10 {
            let id = ids.remove(r.below(ids.len() as u64 - 15) as usize);
            b.delete(id);
            changes.push(Change::Delete { id });
        }
        for _ in 0..10 {
            let id = ids[r.below(ids.len() as u64 - 15) as usize];
            let update = MemoryUpdate {
                text: Some(text(&mut r)),
                vector: Some(vec![0.0, 1.0]),
                ..MemoryUpdate::default()
            };
            b.update(id, update);
            changes.push(Change::Update {
                id,
                vector: vec![0.0, 1.0],
            });
        }
        store.commit(b).unwrap();
        kw.apply(&store, &changes).unwrap();
        compare(&store, &kw, round);
    }
    // A rebuilt index equals the one kept up to date.
    let fresh = Keywords::open(&store).unwrap();
    let opts = KeywordOptions {
        context_weight: 0.35,
        dates: true,
    };
    for q in ["painting the lake", "hikes in June 2023"] {
        let a = kw.search(&Scope::user("u0"), q, &opts, None, Some(7));
        let b = fresh.search(&Scope::user("u0"), q, &opts, None, Some(7));
        assert_eq!(a, b);
        assert_eq!(a.len(), 7);
    }
}
