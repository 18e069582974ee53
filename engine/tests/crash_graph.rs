//! Crash test of `add(infer=true)` with graph memory on: a child process
//! (this test binary, re-run with an env switch) adds conversations through
//! the engine — scripted chat model, random-vector embedder, real redb file with
//! `Immediate` durability — and reports each add; the parent SIGKILLs it at
//! random moments, reopens the database and checks that every reported add
//! is present and that no add is partial: each memory has exactly the
//! relations it produced and every relation has its memory (and the
//! memory's superseded relation was invalidated in the same batch).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use memlayer::models::{
    ChatMessage, ChatModel, Completion, Embedder, GenerateOptions, ScriptedChat,
};
use memlayer::{AddOptions, Memory, MemoryConfig, Scope};

const USERS: [&str; 3] = ["g0", "g1", "g2"];

fn kills() -> usize {
    std::env::var("MEMLAYER_CRASH_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30)
}

fn config() -> MemoryConfig {
    MemoryConfig {
        graph: true,
        durability: memlayer::Durability::Immediate,
        reconcile: memlayer::ReconcileConfig {
            candidate_min_similarity: 0.999,
            none_min_similarity: 0.999,
            require_grounding: false,
            ..memlayer::ReconcileConfig::default()
        },
        ..MemoryConfig::default()
    }
}

/// Scripted replies, except the outdated-relation check, which it answers
/// by pointing at the listed `works_at` relation, and reconciliation, which
/// it answers with ADD for every fact.
struct CrashChat(ScriptedChat);

impl ChatModel for CrashChat {
    fn generate(
        &self,
        m: &[ChatMessage],
        o: &GenerateOptions,
    ) -> memlayer::models::Result<Completion> {
        let last = m.last().map(|x| x.content.as_str()).unwrap_or_default();
        if last.starts_with("Existing relations:") {
            let ids: Vec<&str> = last
                .lines()
                .take_while(|l| !l.is_empty())
                .filter(|l| l.contains(" -- works_at -- "))
                .filter_map(|l| l.split(':').next())
                .collect();
            self.0
                .push(serde_json::json!({ "outdated": ids }).to_string());
        }
        if last.starts_with("Existing memories:") {
            // Hash-embedding collisions can make an old memory a candidate:
            // every new fact is an ADD.
            let facts: Vec<&str> = last
                .split("New facts:")
                .nth(1)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.split_once(". ").map(|(_, f)| f.trim()))
                .collect();
            let d: Vec<_> = facts
                .iter()
                .map(|f| serde_json::json!({"id": "new", "event": "ADD", "text": f}))
                .collect();
            self.0
                .push(serde_json::json!({ "decisions": d }).to_string());
        }
        self.0.generate(m, o)
    }
    fn model_id(&self) -> &str {
        "crash-chat"
    }
}

/// A random unit vector per distinct text (seeded by its FNV-1a hash):
/// distinct names are never near-duplicates (cosine ~ N(0, 1/64)), unlike
/// the bag-of-words hash embedder whose slot collisions would merge
/// `thing12` into `thing3` by design.
struct RandomEmbedder;

impl Embedder for RandomEmbedder {
    fn embed_batch(&self, texts: &[&str]) -> memlayer::models::Result<Vec<Vec<f32>>> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut h: u64 = 0xcbf2_9ce4_8422_2325;
                for b in t.bytes() {
                    h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
                }
                let mut v: Vec<f32> = (0..64)
                    .map(|_| {
                        h = h.wrapping_add(0x9E37_79B9_7F4A_7C15);
                        let mut z = h;
                        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                        ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 23) as f32 - 1.0
                    })
                    .collect();
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter_mut().for_each(|x| *x /= n);
                v
            })
            .collect())
    }
    fn dims(&self) -> usize {
        64
    }
    fn model_id(&self) -> &str {
        "random-64"
    }
}

fn open(path: &std::path::Path, chat: Arc<CrashChat>) -> Memory {
    Memory::builder(path)
        .config(config())
        .embedder(Arc::new(RandomEmbedder))
        .chat(chat)
        .open()
        .unwrap()
}

/// Add number `i`: user `g{i%3}` now likes `thing{i}` and works at
/// `place{i}`; the previous `works_at` relation of that user is outdated.
fn replies(i: u64) -> Vec<String> {
    vec![
        serde_json::json!({"facts": [format!("Likes thing{i}"), format!("Works at place{i}")]})
            .to_string(),
        serde_json::json!({"entities": [], "relations": [
            {"source": "USER", "relationship": "likes", "destination": format!("thing{i}")},
            {"source": "USER", "relationship": "works_at", "destination": format!("place{i}")},
        ]})
        .to_string(),
    ]
}

#[test]
fn crash_graph_child() {
    let Ok(path) = std::env::var("MEMLAYER_GRAPH_CRASH_DB") else {
        return;
    };
    let start: u64 = std::env::var("MEMLAYER_GRAPH_CRASH_START")
        .unwrap()
        .parse()
        .unwrap();
    let chat = Arc::new(CrashChat(ScriptedChat::new(Vec::<String>::new())));
    let mem = open(std::path::Path::new(&path), chat.clone());
    let mut out = std::io::stdout().lock();
    for i in start..start + 1_000_000 {
        let user = USERS[(i % 3) as usize];
        for r in replies(i) {
            chat.0.push(r);
        }
        let r = mem
            .add(
                format!("I like thing{i} and work at place{i}."),
                &AddOptions::user(user),
            )
            .unwrap();
        assert_eq!(r.results.len(), 2);
        writeln!(out, "ADDED {i}").unwrap();
        out.flush().unwrap();
    }
}

/// Checks the database; returns (adds present, partial adds).
fn check(mem: &Memory) -> (BTreeSet<u64>, usize) {
    let mut present = BTreeSet::new();
    let mut partial = 0;
    for user in USERS {
        let scope = Scope::user(user);
        let memories = mem
            .get_all(&memlayer::GetAllOptions::user(user))
            .unwrap()
            .results;
        let rels = mem.relations(&scope, true).unwrap();
        let mut adds: BTreeSet<u64> = BTreeSet::new();
        for m in &memories {
            let n: u64 = m
                .memory
                .trim_start_matches("Likes thing")
                .trim_start_matches("Works at place")
                .parse()
                .unwrap();
            adds.insert(n);
        }
        for r in &rels {
            let n: u64 = r
                .destination
                .trim_start_matches("thing")
                .trim_start_matches("place")
                .parse()
                .unwrap();
            adds.insert(n);
        }
        let mut latest_work = None;
        for &n in &adds {
            let has = |t: &str| memories.iter().filter(|m| m.memory == t).count();
            let rel = |r: &str, d: &str| {
                rels.iter()
                    .find(|x| x.relationship == r && x.destination == d)
            };
            let likes = rel("likes", &format!("thing{n}"));
            let works = rel("works_at", &format!("place{n}"));
            let whole = has(&format!("Likes thing{n}")) == 1
                && has(&format!("Works at place{n}")) == 1
                && likes.is_some_and(|l| l.valid && l.memory_ids.len() == 1)
                && works.is_some_and(|w| w.memory_ids.len() == 1);
            if !whole {
                partial += 1;
                eprintln!(
                    "partial add {n} for {user}: likes {likes:?} works {works:?} memories {:?}",
                    memories.iter().map(|m| &m.memory).collect::<Vec<_>>()
                );
            }
            latest_work = Some(n);
            present.insert(n);
        }
        // Exactly one valid works_at per user: the latest one.
        let valid_work: Vec<_> = rels
            .iter()
            .filter(|r| r.relationship == "works_at" && r.valid)
            .collect();
        if let Some(n) = latest_work
            && (valid_work.len() != 1 || valid_work[0].destination != format!("place{n}"))
        {
            partial += 1;
            eprintln!("{user}: valid works_at {valid_work:?}, latest add {n}");
        }
    }
    (present, partial)
}

#[test]
fn crash_graph_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.redb");
    drop(open(
        &path,
        Arc::new(CrashChat(ScriptedChat::new(Vec::<String>::new()))),
    ));
    let exe = std::env::current_exe().unwrap();
    let mut next = 0u64;
    let mut rng = 0x5EED_u64;
    let (mut reported, mut unreported, mut lost, mut partial, mut verify_failures) =
        (0usize, 0usize, 0usize, 0usize, 0usize);
    let started = Instant::now();
    let kills = kills();
    for run in 0..kills {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_graph_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("MEMLAYER_GRAPH_CRASH_DB", &path)
            .env("MEMLAYER_GRAPH_CRASH_START", next.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        std::thread::sleep(Duration::from_millis(100 + (rng >> 33) % 300));
        child.kill().unwrap(); // SIGKILL on Unix
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let mut last_reported = None;
        for n in stdout
            .lines()
            .filter_map(|l| l.find("ADDED ").map(|at| &l[at + 6..]))
        {
            let n: u64 = n.trim().parse().unwrap();
            assert_eq!(n, next, "run {run}: adds reported out of order");
            next += 1;
            reported += 1;
            last_reported = Some(n);
        }
        let mem = open(
            &path,
            Arc::new(CrashChat(ScriptedChat::new(Vec::<String>::new()))),
        );
        let (present, p) = check(&mem);
        partial += p;
        if let Some(n) = last_reported {
            lost += (0..=n).filter(|i| !present.contains(i)).count();
        }
        // Committed but killed before reporting: whole (checked above), and
        // the next child continues after it.
        if present.contains(&next) {
            unreported += 1;
            next += 1;
        }
        if !mem.verify().unwrap().is_ok() {
            verify_failures += 1;
        }
    }
    eprintln!(
        "graph crash test: {kills} runs, {kills} SIGKILLs, {reported} reported adds checked, \
         {unreported} unreported-but-committed adds checked, lost {lost}, partial {partial}, \
         verify failures {verify_failures}, {:.1}s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!((lost, partial, verify_failures), (0, 0, 0));
    assert!(reported > kills, "children added too little: {reported}");
}
