//! Crash test: a child process (this test binary, re-run with an env
//! switch) commits deterministic random batches with `Immediate`
//! durability and prints each committed sequence; the parent SIGKILLs it at
//! random moments, reopens the file and checks that every reported batch
//! is present, no batch is partially visible, `verify()` passes and
//! history is complete.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use memlayer_store::{
    EdgeUpsert, HistoryKind, ListOptions, MemoryUpdate, NewMemory, Scope, Store, WriteBatch,
};
use uuid::Uuid;

const SEED: u64 = 0x00C4_A511;
const USERS: [&str; 4] = ["c0", "c1", "c2", "c3"];
const KILLS: usize = 200;

#[derive(Clone, Debug)]
enum MOp {
    Insert(Uuid, String, usize),
    Update(Uuid, String),
    Delete(Uuid),
    Edge(u64),
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Model {
    live: BTreeMap<Uuid, (String, usize)>,
    history: BTreeMap<Uuid, Vec<HistoryKind>>,
    edges: BTreeSet<u64>,
}

fn gen_batch(idx: u64, model: &Model) -> Vec<MOp> {
    let mut rng = Rng(SEED ^ idx.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut live: Vec<Uuid> = model.live.keys().copied().collect();
    let mut ops = Vec::new();
    for j in 0..1 + rng.below(6) {
        match rng.below(10) {
            0..=4 => {
                let id = Uuid::from_u128(
                    (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64()),
                );
                ops.push(MOp::Insert(
                    id,
                    format!("batch {idx} item {j} word{}", rng.below(50)),
                    rng.below(USERS.len()),
                ));
            }
            5..=6 if !live.is_empty() => {
                let id = live[rng.below(live.len())];
                ops.push(MOp::Update(
                    id,
                    format!("updated in batch {idx} word{}", rng.below(50)),
                ));
            }
            7..=8 if live.len() > 5 => {
                let id = live.swap_remove(rng.below(live.len()));
                ops.push(MOp::Delete(id));
            }
            _ => ops.push(MOp::Edge(rng.below(40) as u64)),
        }
    }
    // An update after a delete of the same id in one batch would fail; drop it.
    let deleted: Vec<Uuid> = ops
        .iter()
        .filter_map(|o| {
            if let MOp::Delete(id) = o {
                Some(*id)
            } else {
                None
            }
        })
        .collect();
    ops.retain(|o| !matches!(o, MOp::Update(id, _) if deleted.contains(id)));
    ops
}

fn apply_model(model: &mut Model, ops: &[MOp]) {
    for op in ops {
        match op {
            MOp::Insert(id, text, u) => {
                model.live.insert(*id, (text.clone(), *u));
                model.history.entry(*id).or_default().push(HistoryKind::Add);
            }
            MOp::Update(id, text) => {
                if let Some(e) = model.live.get_mut(id) {
                    e.0 = text.clone();
                }
                model
                    .history
                    .entry(*id)
                    .or_default()
                    .push(HistoryKind::Update);
            }
            MOp::Delete(id) => {
                model.live.remove(id);
                model
                    .history
                    .entry(*id)
                    .or_default()
                    .push(HistoryKind::Delete);
            }
            MOp::Edge(k) => {
                model.edges.insert(*k);
            }
        }
    }
}

fn to_batch(ops: &[MOp]) -> WriteBatch {
    let mut b = WriteBatch::new();
    for op in ops {
        match op {
            MOp::Insert(id, text, u) => {
                b.insert(
                    NewMemory::new(
                        text.clone(),
                        Scope::user(USERS[*u]),
                        vec![0.5; DIMS as usize],
                    )
                    .with_id(*id),
                );
            }
            MOp::Update(id, text) => b.update(
                *id,
                MemoryUpdate {
                    text: Some(text.clone()),
                    vector: Some(vec![0.25; DIMS as usize]),
                    ..Default::default()
                },
            ),
            MOp::Delete(id) => b.delete(*id),
            MOp::Edge(k) => b.upsert_edge(EdgeUpsert {
                scope: Scope::user("graph"),
                source: format!("e{k}"),
                relationship: "next".into(),
                destination: format!("e{}", k + 1),
                memory_id: None,
            }),
        }
    }
    b
}

/// Reads the observable state of the store as a model (history only for
/// ids the reference model knows).
fn observe(s: &Store, known: &Model) -> Model {
    let snap = s.snapshot().unwrap();
    let mut m = Model::default();
    for (ui, u) in USERS.iter().enumerate() {
        for mem in snap
            .list(&Scope::user(*u), None, &ListOptions::default())
            .unwrap()
            .items
        {
            m.live.insert(mem.id, (mem.text, ui));
        }
    }
    for id in known.history.keys().chain(m.live.keys()) {
        let kinds: Vec<_> = snap
            .history(*id)
            .unwrap()
            .into_iter()
            .map(|e| e.event)
            .collect();
        if !kinds.is_empty() {
            m.history.insert(*id, kinds);
        }
    }
    for e in snap.graph_edges(&Scope::user("graph"), true).unwrap() {
        m.edges
            .insert(e.source.trim_start_matches('e').parse().unwrap());
    }
    m
}

/// Child mode: commit batches forever, reporting each one.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var("MEMLAYER_CRASH_DB") else {
        return;
    };
    let start: u64 = std::env::var("MEMLAYER_CRASH_START")
        .unwrap()
        .parse()
        .unwrap();
    let s = open(std::path::Path::new(&path));
    let mut model = observe(&s, &Model::default());
    let mut out = std::io::stdout().lock();
    for idx in start..start + 1_000_000 {
        let ops = gen_batch(idx, &model);
        let info = s.commit(to_batch(&ops)).unwrap();
        apply_model(&mut model, &ops);
        writeln!(out, "COMMITTED {idx} {}", info.seq).unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn crash_sigkill_200_times() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.redb");
    drop(open(&path));
    let exe = std::env::current_exe().unwrap();
    let mut model = Model::default();
    let mut next_idx = 0u64;
    let mut seq = 0u64;
    let mut kill_rng = Rng(0xDEAD);
    let (mut reported_total, mut unreported_committed, mut lost, mut partial, mut verify_failures) =
        (0usize, 0usize, 0usize, 0usize, 0usize);
    let started = Instant::now();
    for run in 0..KILLS {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env("MEMLAYER_CRASH_DB", &path)
            .env("MEMLAYER_CRASH_START", next_idx.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(15 + kill_rng.below(150) as u64));
        child.kill().unwrap(); // SIGKILL on Unix
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        for line in stdout
            .lines()
            .filter_map(|l| l.find("COMMITTED ").map(|at| &l[at + 10..]))
        {
            let mut it = line.split_whitespace().map(|x| x.parse::<u64>().unwrap());
            let (idx, s) = (it.next().unwrap(), it.next().unwrap());
            assert_eq!(idx, next_idx, "run {run}: child reported out of order");
            assert!(s > seq, "run {run}: sequence not increasing");
            let ops = gen_batch(idx, &model);
            apply_model(&mut model, &ops);
            next_idx += 1;
            seq = s;
            reported_total += 1;
        }
        let s = open(&path);
        let stored_seq = s.commit_seq().unwrap();
        if stored_seq < seq {
            lost += (seq - stored_seq) as usize;
        } else if stored_seq == seq + 1 {
            // Committed but killed before reporting: it must be whole.
            let ops = gen_batch(next_idx, &model);
            apply_model(&mut model, &ops);
            next_idx += 1;
            seq = stored_seq;
            unreported_committed += 1;
        } else if stored_seq != seq {
            panic!("run {run}: store at seq {stored_seq}, reports end at {seq}");
        }
        let observed = observe(&s, &model);
        if observed != model {
            partial += 1;
            eprintln!("run {run}: state differs from the model at seq {stored_seq}");
            model = observed;
        }
        let rep = s.verify().unwrap();
        if !rep.is_ok() {
            verify_failures += 1;
            eprintln!("run {run}: verify: {:?}", rep.problems);
        }
    }
    eprintln!(
        "crash test: {KILLS} runs, {KILLS} SIGKILLs, {reported_total} reported batches checked, \
         {unreported_committed} unreported-but-committed batches checked, {} live memories, {} history ids, \
         lost {lost}, partial {partial}, verify failures {verify_failures}, {:.1}s",
        model.live.len(),
        model.history.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!((lost, partial, verify_failures), (0, 0, 0));
    assert!(
        reported_total > KILLS,
        "children committed too little to be meaningful: {reported_total}"
    );
}
