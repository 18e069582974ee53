//! Pipeline tests with a scripted chat model and a hash embedder over the
//! real redb store and the real index: every event path of `add`, LLM
//! output validation, optimistic concurrency, scoping, and the CRUD API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};

use memlayer::models::{
    ChatMessage, ChatModel, Completion, Embedder, GenerateOptions, HashEmbedder, ScriptedChat,
};
use memlayer::{
    AddOptions, ErrorCode, Event, GetAllOptions, HistoryKind, IndexOrigin, Memory, MemoryConfig,
    MemoryError, Message, Scope, SearchOptions, UpdateOptions,
};
use parking_lot::Mutex;
use serde_json::json;

const DIMS: usize = 64;

/// Logic tests: durability off and the similarity guards off (the hash
/// embedder's similarities mean little); `guards_*` tests turn them on.
fn cfg() -> MemoryConfig {
    MemoryConfig {
        durability: memlayer::Durability::None,
        reconcile: memlayer::ReconcileConfig {
            candidate_min_similarity: -1.0,
            none_min_similarity: -1.0,
            require_grounding: false,
            ..memlayer::ReconcileConfig::default()
        },
        ..MemoryConfig::default()
    }
}

fn open(dir: &std::path::Path, replies: &[&str]) -> (Memory, Arc<ScriptedChat>) {
    let config = MemoryConfig {
        durability: memlayer::Durability::None,
        ..MemoryConfig::default()
    };
    open_with(dir, replies, config)
}

fn texts(mem: &Memory, user: &str) -> Vec<String> {
    let mut v: Vec<String> = mem
        .get_all(&GetAllOptions::user(user))
        .unwrap()
        .results
        .into_iter()
        .map(|m| m.memory)
        .collect();
    v.sort();
    v
}

fn raw(mem: &Memory, user: &str, text: &str) -> String {
    mem.add(text, &AddOptions::user(user).infer(false))
        .unwrap()
        .results[0]
        .id
        .clone()
}

#[test]
fn infer_false_stores_messages_verbatim() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, chat) = open(dir.path(), &[]);
    let r = mem
        .add(
            vec![
                Message::system("be nice"),
                Message::user("I like tea").with_name("alice_k"),
                Message::assistant("Noted!"),
            ],
            &AddOptions::user("alice")
                .infer(false)
                .metadata(json!({"src": "chat"}).as_object().unwrap().clone()),
        )
        .unwrap();
    assert_eq!(r.results.len(), 2);
    assert!(r.results.iter().all(|e| e.event == Event::Add));
    let a = mem.get(&r.results[0].id).unwrap().unwrap();
    assert_eq!(a.memory, "I like tea");
    assert_eq!(a.role.as_deref(), Some("user"));
    assert_eq!(a.actor_id.as_deref(), Some("alice_k"));
    assert_eq!(a.metadata["src"], "chat");
    let b = mem.get(&r.results[1].id).unwrap().unwrap();
    assert_eq!(b.role.as_deref(), Some("assistant"));
    assert!(
        chat.requests().is_empty(),
        "infer=false must not call the LLM"
    );
    let hits = mem.search("tea", &SearchOptions::user("alice")).unwrap();
    assert_eq!(hits.results[0].memory, "I like tea");
}

#[test]
fn new_facts_without_candidates_skip_reconciliation() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, chat) = open(
        dir.path(),
        &[r#"{"facts": ["Is vegetarian", "Lives in Oslo"]}"#],
    );
    let r = mem
        .add("I'm vegetarian and live in Oslo", &AddOptions::user("u"))
        .unwrap();
    assert_eq!(r.results.len(), 2);
    assert!(r.stats.no_candidates_shortcut);
    assert_eq!(r.stats.llm_calls, 1);
    assert_eq!(chat.requests().len(), 1);
    assert_eq!(texts(&mem, "u"), vec!["Is vegetarian", "Lives in Oslo"]);
    let m = mem.get(&r.results[0].id).unwrap().unwrap();
    assert_eq!(m.role.as_deref(), Some("user"));
    // Stage timings, in pipeline order (exported by `memlayer serve`).
    let stages: Vec<&str> = r.stats.timings.stages().iter().map(|(s, _)| *s).collect();
    assert_eq!(
        stages,
        [
            "extract",
            "fact_check",
            "attribute",
            "embed",
            "candidates",
            "reconcile",
            "commit"
        ]
    );
    let s = mem.search("oslo", &SearchOptions::user("u")).unwrap();
    let stages: Vec<&str> = s.timings.stages().iter().map(|(s, _)| *s).collect();
    assert_eq!(
        stages,
        ["embed", "keyword", "semantic", "fetch", "feedback", "rank"]
    );
}

/// A chat model whose answer is computed from the prompt.
type Reply = dyn Fn(&[ChatMessage]) -> String + Send + Sync;
struct FnChat(Box<Reply>);

impl ChatModel for FnChat {
    fn generate(
        &self,
        m: &[ChatMessage],
        o: &GenerateOptions,
    ) -> memlayer::models::Result<Completion> {
        ScriptedChat::new([(self.0)(m)]).generate(m, o)
    }
    fn model_id(&self) -> &str {
        "fn"
    }
}

/// The key the reconciliation prompt showed for a memory text.
fn key_in(prompt: &str, text: &str) -> String {
    prompt
        .lines()
        .find(|l| l.split_once(": ").is_some_and(|(_, t)| t == text))
        .and_then(|l| l.split_once(": "))
        .map(|(k, _)| k.to_string())
        .unwrap_or_else(|| panic!("{text} not shown in {prompt}"))
}

#[test]
fn update_delete_none_and_add_paths() {
    let dir = tempfile::tempdir().unwrap();
    let chat = Arc::new(FnChat(Box::new(|m: &[ChatMessage]| {
        let turn = &m.last().unwrap().content;
        if !turn.starts_with("Existing memories") {
            return r#"{"facts": ["Lives in Lisbon", "Quit smoking", "Likes jazz", "Has a cat"]}"#
                .into();
        }
        assert!(
            !turn.contains('-') || !turn.contains("0000"),
            "no UUIDs in prompts"
        );
        format!(
            r#"{{"decisions": [
                {{"event": "UPDATE", "id": "{}", "text": "Lives in Lisbon"}},
                {{"event": "DELETE", "id": "{}", "text": "Quit smoking"}},
                {{"event": "NONE", "id": "{}", "text": "Likes jazz"}},
                {{"event": "ADD", "id": "new", "text": "Has a cat"}}]}}"#,
            key_in(turn, "Lives in Berlin"),
            key_in(turn, "Smokes cigarettes"),
            key_in(turn, "Likes jazz music")
        )
    })));
    let mem = Memory::builder(dir.path().join("m.redb"))
        .config(cfg())
        .embedder(Arc::new(HashEmbedder::new(DIMS)))
        .chat(chat)
        .open()
        .unwrap();
    let berlin = raw(&mem, "u", "Lives in Berlin");
    let smokes = raw(&mem, "u", "Smokes cigarettes");
    raw(&mem, "u", "Likes jazz music");
    let r = mem
        .add(
            "I moved to Lisbon, quit smoking, still love jazz and got a cat",
            &AddOptions::user("u"),
        )
        .unwrap();
    assert_eq!(r.stats.llm_calls, 2);
    let ev: Vec<_> = r
        .results
        .iter()
        .map(|e| (e.event, e.memory.as_str()))
        .collect();
    assert_eq!(
        ev,
        vec![
            (Event::Update, "Lives in Lisbon"),
            (Event::Supersede, "Smokes cigarettes"),
            (Event::Add, "Quit smoking"),
            (Event::Add, "Has a cat"),
        ]
    );
    assert_eq!(
        r.results[0].previous_memory.as_deref(),
        Some("Lives in Berlin")
    );
    assert_eq!(
        r.results[1].superseded_by.as_deref(),
        Some(r.results[2].id.as_str())
    );
    let replacement = mem.get(&r.results[2].id).unwrap().unwrap();
    assert_eq!(replacement.metadata["supersedes"], smokes.as_str());
    assert_eq!(
        texts(&mem, "u"),
        vec![
            "Has a cat",
            "Likes jazz music",
            "Lives in Lisbon",
            "Quit smoking"
        ]
    );
    // The contradicted memory keeps its history.
    let h = mem.history(&smokes).unwrap();
    assert_eq!(
        h.iter().map(|e| e.event).collect::<Vec<_>>(),
        vec![HistoryKind::Add, HistoryKind::Supersede]
    );
    let h = mem.history(&berlin).unwrap();
    assert_eq!(
        h.last().unwrap().old_memory.as_deref(),
        Some("Lives in Berlin")
    );
    assert_eq!(
        h.last().unwrap().new_memory.as_deref(),
        Some("Lives in Lisbon")
    );
    // The index follows: the updated vector is found by its new words.
    let hit = &mem
        .search("Lisbon", &SearchOptions::user("u").limit(1))
        .unwrap()
        .results[0];
    assert_eq!(hit.id, berlin);
    assert!(mem.verify().unwrap().is_ok());
}

#[test]
fn exact_duplicates_need_no_llm_call() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, chat) = open(dir.path(), &[r#"{"facts": ["Likes tea"]}"#]);
    raw(&mem, "u", "Likes tea");
    let r = mem.add("I like tea", &AddOptions::user("u")).unwrap();
    assert!(r.results.is_empty());
    assert_eq!(r.stats.exact_duplicates, 1);
    assert_eq!(chat.requests().len(), 1, "only the extraction call");
    assert_eq!(texts(&mem, "u"), vec!["Likes tea"]);
}

#[test]
fn hallucinated_ids_and_bad_events_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, _) = open(
        dir.path(),
        &[
            r#"{"facts": ["Lives in Rome"]}"#,
            r#"{"decisions": [{"event": "DELETE", "id": "9", "text": ""},
                              {"event": "UPDATE", "id": "new", "text": "x"},
                              {"event": "EXPLODE", "id": "0", "text": "x"}]}"#,
        ],
    );
    raw(&mem, "u", "Lives in Paris");
    raw(&mem, "other", "Lives in Paris");
    let r = mem.add("I live in Rome", &AddOptions::user("u")).unwrap();
    assert!(r.results.is_empty());
    assert_eq!(r.stats.dropped, 3);
    assert_eq!(texts(&mem, "u"), vec!["Lives in Paris"]);
    assert_eq!(texts(&mem, "other"), vec!["Lives in Paris"]);
}

#[test]
fn malformed_llm_output_is_an_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, _) = open(
        dir.path(),
        &[
            "not json at all",
            r#"{"facts": ["Likes tea"]}"#,
            r#"{"decisions": "#,
            r#"{"facts": []}"#,
        ],
    );
    let e = mem
        .add("I like green tea", &AddOptions::user("u"))
        .unwrap_err();
    assert!(
        matches!(
            e,
            MemoryError::LlmOutput {
                stage: "fact extraction",
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.code(), ErrorCode::Model);
    raw(&mem, "u", "Likes coffee");
    let e = mem.add("I like tea", &AddOptions::user("u")).unwrap_err();
    assert!(
        matches!(
            e,
            MemoryError::LlmOutput {
                stage: "reconciliation",
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(texts(&mem, "u"), vec!["Likes coffee"]);
    let r = mem
        .add("I had a nice walk", &AddOptions::user("u"))
        .unwrap();
    assert!(r.results.is_empty() && r.stats.facts == 0);
}

/// A chat model that runs a hook before answering call number `at`.
struct Hooked {
    inner: ScriptedChat,
    calls: Mutex<usize>,
    at: Vec<usize>,
    hook: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

impl ChatModel for Hooked {
    fn generate(
        &self,
        m: &[ChatMessage],
        o: &GenerateOptions,
    ) -> memlayer::models::Result<Completion> {
        let n = {
            let mut c = self.calls.lock();
            *c += 1;
            *c
        };
        if self.at.contains(&n)
            && let Some(h) = self.hook.get()
        {
            h();
        }
        self.inner.generate(m, o)
    }
    fn model_id(&self) -> &str {
        "hooked"
    }
}

fn hooked(dir: &std::path::Path, replies: &[&str], at: Vec<usize>) -> (Memory, Arc<Hooked>) {
    let chat = Arc::new(Hooked {
        inner: ScriptedChat::new(replies.iter().copied()),
        calls: Mutex::new(0),
        at,
        hook: OnceLock::new(),
    });
    let mem = Memory::builder(dir.join("m.redb"))
        .config(cfg())
        .embedder(Arc::new(HashEmbedder::new(DIMS)))
        .chat(chat.clone())
        .open()
        .unwrap();
    (mem, chat)
}

#[test]
fn concurrent_change_retries_reconciliation_once() {
    let dir = tempfile::tempdir().unwrap();
    let update = r#"{"decisions": [{"event": "UPDATE", "id": "0", "text": "Lives in Lisbon"}]}"#;
    let (mem, chat) = hooked(
        dir.path(),
        &[r#"{"facts": ["Lives in Lisbon"]}"#, update, update],
        vec![2],
    );
    let id = raw(&mem, "u", "Lives in Berlin");
    let (m2, id2) = (mem.clone(), id.clone());
    let _ = chat.hook.set(Box::new(move || {
        m2.update(&id2, &UpdateOptions::text("Lives in Berlin, Germany"))
            .unwrap();
    }));
    let r = mem
        .add("I moved to Lisbon", &AddOptions::user("u"))
        .unwrap();
    assert_eq!(r.stats.conflict_retries, 1);
    assert_eq!(r.stats.llm_calls, 3);
    assert_eq!(r.results[0].event, Event::Update);
    // The retry showed the model the concurrent version.
    assert_eq!(
        r.results[0].previous_memory.as_deref(),
        Some("Lives in Berlin, Germany")
    );
    assert_eq!(texts(&mem, "u"), vec!["Lives in Lisbon"]);
}

#[test]
fn second_conflict_is_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let update = r#"{"decisions": [{"event": "UPDATE", "id": "0", "text": "Lives in Lisbon"}, {"event": "ADD", "id": "new", "text": "Has a dog"}]}"#;
    let (mem, chat) = hooked(
        dir.path(),
        &[
            r#"{"facts": ["Lives in Lisbon", "Has a dog"]}"#,
            update,
            update,
        ],
        vec![2, 3],
    );
    let id = raw(&mem, "u", "Lives in Berlin");
    let (m2, id2) = (mem.clone(), id.clone());
    let n = Arc::new(Mutex::new(0));
    let _ = chat.hook.set(Box::new(move || {
        let mut n = n.lock();
        *n += 1;
        m2.update(&id2, &UpdateOptions::text(format!("Lives in Berlin ({n})")))
            .unwrap();
    }));
    let r = mem
        .add("I moved to Lisbon and got a dog", &AddOptions::user("u"))
        .unwrap();
    assert_eq!(r.stats.conflict_retries, 1);
    assert_eq!(r.stats.skipped_conflicts, 1);
    assert_eq!(r.results.len(), 1);
    assert_eq!(r.results[0].memory, "Has a dog");
    assert_eq!(texts(&mem, "u"), vec!["Has a dog", "Lives in Berlin (2)"]);
}

#[test]
fn procedural_memory_needs_an_agent() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, chat) = open(
        dir.path(),
        &[
            r#"{"task": "Book a table", "steps": ["Searched restaurants in Porto", "Booked Casa Ana for 8 pm"]}"#,
        ],
    );
    let msgs = vec![
        Message::user("Book dinner in Porto"),
        Message::assistant("Booked Casa Ana for 8 pm."),
    ];
    let e = mem
        .add(
            msgs.clone(),
            &AddOptions::user("u").memory_type("procedural_memory"),
        )
        .unwrap_err();
    assert!(
        matches!(&e, MemoryError::Validation { field, .. } if field == "agent_id"),
        "{e:?}"
    );
    assert!(chat.requests().is_empty());
    let r = mem
        .add(
            msgs,
            &AddOptions::agent("planner").memory_type("procedural_memory"),
        )
        .unwrap();
    let m = mem.get(&r.results[0].id).unwrap().unwrap();
    assert_eq!(m.memory_type.as_deref(), Some("procedural_memory"));
    assert_eq!(
        m.memory,
        "Task: Book a table\n1. Searched restaurants in Porto\n2. Booked Casa Ana for 8 pm"
    );
    assert!(matches!(
        mem.add("x", &AddOptions::user("u").memory_type("episodic")),
        Err(MemoryError::Validation { .. })
    ));
}

#[test]
fn agent_facts_come_from_assistant_messages_when_only_agent_id_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, chat) = open(dir.path(), &[r#"{"facts": ["Answers in French"]}"#]);
    mem.add(
        vec![
            Message::user("Who are you?"),
            Message::assistant("I'm Lea and I always answer in French."),
        ],
        &AddOptions::agent("lea"),
    )
    .unwrap();
    let sys = &chat.requests()[0][0].content;
    assert!(
        sys.contains("ASSISTANT itself"),
        "agent prompt expected: {sys}"
    );
    let page = mem.get_all(&GetAllOptions::agent("lea")).unwrap();
    assert_eq!(page.results[0].role.as_deref(), Some("assistant"));
    // With only user messages and only an agent id, the user prompt is used.
    let (mem, chat) = open(tempfile::tempdir().unwrap().path(), &[r#"{"facts": []}"#]);
    mem.add("I like tea", &AddOptions::agent("lea")).unwrap();
    assert!(chat.requests()[0][0].content.contains("about the USER"));
}

#[test]
fn scopes_are_isolated_in_candidates_and_search() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, chat) = open(dir.path(), &[r#"{"facts": ["Lives in Paris"]}"#]);
    raw(&mem, "bob", "Lives in Paris");
    raw(&mem, "bob", "Lives in Paris with a cat");
    let r = mem
        .add("I live in Paris", &AddOptions::user("alice"))
        .unwrap();
    // Bob's identical memory is not a duplicate for Alice and is never shown.
    assert_eq!(r.results.len(), 1);
    assert!(r.stats.no_candidates_shortcut);
    assert_eq!(chat.requests().len(), 1);
    for (u, n) in [("alice", 1), ("bob", 2)] {
        let hits = mem
            .search("Paris", &SearchOptions::user(u))
            .unwrap()
            .results;
        assert_eq!(hits.len(), n);
        assert!(hits.iter().all(|h| h.user_id.as_deref() == Some(u)));
    }
    // A filter cannot widen the scope.
    let hits = mem
        .search(
            "Paris",
            &SearchOptions::user("alice")
                .filters(json!({"OR": [{"user_id": "bob"}, {"user_id": "alice"}]})),
        )
        .unwrap()
        .results;
    assert!(hits.iter().all(|h| h.user_id.as_deref() == Some("alice")));
    let hits = mem
        .search(
            "Paris",
            &SearchOptions::user("alice").filters(json!({"user_id": "bob"})),
        )
        .unwrap();
    assert!(hits.results.is_empty());
    // Run and agent scopes nest inside the user scope.
    mem.add(
        "Packed an umbrella",
        &AddOptions::user("alice").with_run("trip").infer(false),
    )
    .unwrap();
    let run = SearchOptions::user("alice").with_run("trip");
    assert_eq!(mem.search("umbrella", &run).unwrap().results.len(), 1);
    let hits = mem.search("Paris", &run).unwrap().results;
    assert!(
        hits.iter()
            .all(|h| h.run_id.as_deref() == Some("trip") && !h.memory.contains("Paris"))
    );
}

#[test]
fn bad_input_is_a_typed_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, chat) = open(dir.path(), &[]);
    let meta = json!({"user_id": "mallory"}).as_object().unwrap().clone();
    for (r, field) in [
        (mem.add("x", &AddOptions::default()), "scope"),
        (
            mem.add("x", &AddOptions::user("u").infer(false).metadata(meta)),
            "metadata",
        ),
        (mem.add("", &AddOptions::user("u")), "messages.content"),
        (mem.add("x", &AddOptions::user("bad id\n")), "user_id"),
        (
            mem.add(
                "x",
                &AddOptions {
                    expiration_date: Some("tomorrow".into()),
                    ..AddOptions::user("u")
                },
            ),
            "expiration_date",
        ),
    ] {
        match r {
            Err(MemoryError::Validation { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    for o in [
        SearchOptions::default(),
        SearchOptions::user("u").limit(0),
        SearchOptions::user("u").limit(1001),
        SearchOptions::user("u").threshold(1.5),
        SearchOptions::user("u").filters(json!({"created_at": {"gte": "soon"}})),
    ] {
        assert_eq!(
            mem.search("q", &o).unwrap_err().code(),
            ErrorCode::Validation,
            "{o:?}"
        );
    }
    assert_eq!(
        mem.search("  ", &SearchOptions::user("u"))
            .unwrap_err()
            .code(),
        ErrorCode::Validation
    );
    assert_eq!(
        mem.get("not-a-uuid").unwrap_err().code(),
        ErrorCode::Validation
    );
    let missing = uuid::Uuid::now_v7().to_string();
    assert!(mem.get(&missing).unwrap().is_none());
    assert_eq!(
        mem.delete(&missing).unwrap_err().code(),
        ErrorCode::NotFound
    );
    assert_eq!(
        mem.history(&missing).unwrap_err().code(),
        ErrorCode::NotFound
    );
    assert_eq!(
        mem.update(&missing, &UpdateOptions::text("x"))
            .unwrap_err()
            .code(),
        ErrorCode::NotFound
    );
    assert_eq!(
        mem.delete_all(&Scope::default()).unwrap_err().code(),
        ErrorCode::Validation
    );
    assert!(chat.requests().is_empty());
    assert_eq!(mem.len().unwrap(), 0);
}

#[test]
fn crud_history_paging_and_reset() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, _) = open(dir.path(), &[]);
    let ids: Vec<String> = (0..25)
        .map(|i| raw(&mem, "u", &format!("memory number {i}")))
        .collect();
    raw(&mem, "v", "other user");
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let p = mem
            .get_all(&GetAllOptions {
                limit: Some(10),
                cursor: cursor.clone(),
                ..GetAllOptions::user("u")
            })
            .unwrap();
        seen.extend(p.results.into_iter().map(|m| m.id));
        cursor = p.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen.len(), 25);
    assert_eq!(seen[0], ids[24], "newest first");

    let m = mem
        .update(
            &ids[3],
            &UpdateOptions::text("memory number three")
                .with_metadata(json!({"k": 1}).as_object().unwrap().clone()),
        )
        .unwrap();
    assert_eq!(m.memory, "memory number three");
    assert_eq!(m.metadata["k"], 1);
    assert_eq!(
        mem.search("three", &SearchOptions::user("u").limit(1))
            .unwrap()
            .results[0]
            .id,
        ids[3]
    );
    mem.delete(&ids[4]).unwrap();
    assert!(mem.get(&ids[4]).unwrap().is_none());
    let h = mem.history(&ids[4]).unwrap();
    assert_eq!(h.last().unwrap().event, HistoryKind::Delete);
    assert!(
        mem.search("number", &SearchOptions::user("u").limit(100))
            .unwrap()
            .results
            .iter()
            .all(|r| r.id != ids[4])
    );

    let rep = mem.delete_all(&Scope::user("u")).unwrap();
    assert_eq!(rep.memories, 24);
    assert!(
        mem.search("number", &SearchOptions::user("u"))
            .unwrap()
            .results
            .is_empty()
    );
    assert_eq!(texts(&mem, "v"), vec!["other user"]);
    mem.reset().unwrap();
    assert_eq!(mem.len().unwrap(), 0);
    assert!(
        mem.search("other", &SearchOptions::user("v"))
            .unwrap()
            .results
            .is_empty()
    );
    raw(&mem, "v", "after reset");
    assert_eq!(texts(&mem, "v"), vec!["after reset"]);
}

#[test]
fn search_filters_threshold_expiry_and_explain() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, _) = open(dir.path(), &[]);
    let meta = |v| json!({"topic": v}).as_object().unwrap().clone();
    mem.add(
        "likes green tea",
        &AddOptions::user("u").infer(false).metadata(meta("drink")),
    )
    .unwrap();
    mem.add(
        "likes black tea with milk",
        &AddOptions::user("u").infer(false).metadata(meta("drink")),
    )
    .unwrap();
    mem.add(
        "plays tennis on sundays",
        &AddOptions::user("u").infer(false).metadata(meta("sport")),
    )
    .unwrap();
    mem.add(
        "tea tasting on friday",
        &AddOptions {
            expiration_date: Some("2000-01-01T00:00:00Z".into()),
            ..AddOptions::user("u").infer(false)
        },
    )
    .unwrap();
    let r = mem
        .search("tea", &SearchOptions::user("u").explain())
        .unwrap()
        .results;
    assert!(
        r.iter().all(|h| !h.memory.contains("friday")),
        "expired memories are hidden"
    );
    assert_eq!(r.len(), 3);
    let d = r[0].explain.as_ref().unwrap();
    assert!(d.keyword > 0.0 && d.semantic > 0.0);
    assert!(r.windows(2).all(|w| w[0].score >= w[1].score));
    let all = SearchOptions {
        include_expired: true,
        ..SearchOptions::user("u")
    };
    assert_eq!(mem.search("tea", &all).unwrap().results.len(), 4);
    let f = mem
        .search(
            "tea",
            &SearchOptions::user("u").filters(json!({"topic": "sport"})),
        )
        .unwrap()
        .results;
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].memory, "plays tennis on sundays");
    let t = mem
        .search("green tea", &SearchOptions::user("u").threshold(0.99))
        .unwrap()
        .results;
    assert!(t.is_empty(), "{t:?}");
    assert_eq!(
        mem.search("tea", &SearchOptions::user("u").limit(1))
            .unwrap()
            .results
            .len(),
        1
    );
}

#[test]
fn index_snapshot_is_reused_when_fresh_and_rebuilt_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.redb");
    let emb: Arc<dyn Embedder> = Arc::new(HashEmbedder::new(DIMS));
    let open = || Memory::builder(&db).embedder(emb.clone()).open().unwrap();
    let mem = open();
    assert_eq!(mem.index_origin(), IndexOrigin::Rebuilt);
    let id = raw(&mem, "u", "likes tea");
    drop(mem);
    let mem = open();
    assert_eq!(mem.index_origin(), IndexOrigin::Snapshot);
    assert_eq!(
        mem.search("tea", &SearchOptions::user("u"))
            .unwrap()
            .results[0]
            .id,
        id
    );
    // A write the snapshot misses (snapshot copied away, then restored) is stale.
    let hnsw = dir.path().join("m.redb.hnsw");
    let ids = dir.path().join("m.redb.ids");
    let (h0, i0) = (std::fs::read(&hnsw).unwrap(), std::fs::read(&ids).unwrap());
    let id2 = raw(&mem, "u", "likes coffee");
    drop(mem);
    std::fs::write(&hnsw, &h0).unwrap();
    std::fs::write(&ids, &i0).unwrap();
    let mem = open();
    assert_eq!(mem.index_origin(), IndexOrigin::Rebuilt);
    assert_eq!(
        mem.search("coffee", &SearchOptions::user("u").limit(1))
            .unwrap()
            .results[0]
            .id,
        id2
    );
    drop(mem);
    // Corrupt snapshot: rebuilt, not an error.
    let mut b = std::fs::read(&hnsw).unwrap();
    let n = b.len();
    b[n / 2] ^= 0xff;
    std::fs::write(&hnsw, &b).unwrap();
    let mem = open();
    assert_eq!(mem.index_origin(), IndexOrigin::Rebuilt);
    assert_eq!(
        mem.search("tea", &SearchOptions::user("u"))
            .unwrap()
            .results
            .len(),
        2
    );
    drop(mem);
    // Another embedder: a clear validation error.
    let e = Memory::builder(&db)
        .embedder(Arc::new(HashEmbedder::new(32)))
        .open()
        .unwrap_err();
    assert!(
        matches!(&e, MemoryError::Validation { field, .. } if field == "embedder"),
        "{e}"
    );
}

#[test]
fn export_import_round_trip_rebuilds_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = open(&dir.path().join("a"), &[]);
    raw(&a, "u", "likes tea");
    raw(&a, "u", "plays chess");
    let mut buf = Vec::new();
    a.export_jsonl(&mut buf).unwrap();
    let (b, _) = open(&dir.path().join("b"), &[]);
    b.import_jsonl(std::io::Cursor::new(buf)).unwrap();
    assert_eq!(
        b.search("chess", &SearchOptions::user("u").limit(1))
            .unwrap()
            .results[0]
            .memory,
        "plays chess"
    );
}

#[test]
fn memory_is_send_sync_clone_and_concurrent() {
    fn assert_traits<T: Send + Sync + Clone>() {}
    assert_traits::<Memory>();
    let dir = tempfile::tempdir().unwrap();
    let (mem, _) = open(dir.path(), &[]);
    std::thread::scope(|s| {
        for t in 0..4 {
            let mem = mem.clone();
            s.spawn(move || {
                for i in 0..25 {
                    mem.add(
                        format!("thread {t} note {i}"),
                        &AddOptions::user(format!("u{t}")).infer(false),
                    )
                    .unwrap();
                    let hits = mem
                        .search("note", &SearchOptions::user(format!("u{t}")))
                        .unwrap()
                        .results;
                    assert!(
                        hits.iter()
                            .all(|h| h.user_id.as_deref() == Some(format!("u{t}").as_str()))
                    );
                }
            });
        }
    });
    assert_eq!(mem.len().unwrap(), 100);
    assert!(mem.verify().unwrap().is_ok());
}

#[test]
fn guards_add_dissimilar_facts_directly_and_override_unfounded_none() {
    let dir = tempfile::tempdir().unwrap();
    let chat = Arc::new(ScriptedChat::new([
        r#"{"facts": ["Has a cat named Whiskers"]}"#,
        r#"{"facts": ["Likes coffee in the morning", "Name is Tom"]}"#,
        r#"{"decisions": [{"event": "NONE", "id": "0", "text": "Likes coffee"}]}"#,
    ]));
    let config = MemoryConfig {
        reconcile: memlayer::ReconcileConfig {
            candidate_min_similarity: 0.3,
            none_min_similarity: 0.9,
            require_grounding: true,
            ..memlayer::ReconcileConfig::default()
        },
        ..cfg()
    };
    let mem = Memory::builder(dir.path().join("m.redb"))
        .config(config)
        .embedder(Arc::new(HashEmbedder::new(256)))
        .chat(chat.clone())
        .open()
        .unwrap();
    raw(&mem, "u", "Enjoys hiking in the mountains");
    // Nothing similar: added without a reconciliation call, hiking kept.
    let r = mem
        .add("I adopted a cat, Whiskers", &AddOptions::user("u"))
        .unwrap();
    assert_eq!((r.stats.llm_calls, r.results.len()), (1, 1));
    raw(&mem, "u", "Likes coffee");
    // "Name is Tom" is not in the conversation: dropped. The model's NONE
    // for the coffee fact has no near-identical memory behind it: added.
    let r = mem
        .add("I like coffee in the morning", &AddOptions::user("u"))
        .unwrap();
    assert_eq!(r.stats.ungrounded, 1);
    assert_eq!(r.stats.guarded, 1);
    assert_eq!(r.results.len(), 1);
    assert_eq!(r.results[0].memory, "Likes coffee in the morning");
    assert_eq!(
        texts(&mem, "u"),
        vec![
            "Enjoys hiking in the mountains",
            "Has a cat named Whiskers",
            "Likes coffee",
            "Likes coffee in the morning"
        ]
    );
}

/// A handle whose reconciliation classifies (fact, memory) pairs with the
/// scripted choices, without calibration (its three extra scorings).
fn open_classifying(dir: &std::path::Path, replies: &[&str]) -> (Memory, Arc<ScriptedChat>) {
    let mut config = cfg();
    config.reconcile.calibrate = false;
    config.reconcile.fact_check = false;
    open_with(dir, replies, config)
}

/// A handle on `config` with the hash embedder and a scripted chat model.
fn open_with(
    dir: &std::path::Path,
    replies: &[&str],
    config: MemoryConfig,
) -> (Memory, Arc<ScriptedChat>) {
    let chat = Arc::new(ScriptedChat::new(replies.iter().copied()));
    let mem = Memory::builder(dir.join("m.redb"))
        .config(config)
        .embedder(Arc::new(HashEmbedder::new(DIMS)))
        .chat(chat.clone())
        .open()
        .unwrap();
    (mem, chat)
}

#[test]
fn handles_on_one_chat_model_share_its_calibration_priors() {
    let mut config = cfg();
    config.reconcile.fact_check = false;
    let extraction = r#"{"facts": ["Lives in Lisbon"]}"#;
    let chat = Arc::new(ScriptedChat::new([extraction, extraction]));
    let open = |dir: &std::path::Path, chat: Arc<ScriptedChat>| {
        Memory::builder(dir.join("m.redb"))
            .config(config.clone())
            .embedder(Arc::new(HashEmbedder::new(DIMS)))
            .chat(chat)
            .open()
            .unwrap()
    };
    let add = |mem: &Memory| {
        raw(mem, "u", "Lives in Berlin");
        mem.add("I live in Lisbon now", &AddOptions::user("u"))
            .unwrap()
    };
    // The first handle measures the prior: three blank scorings, then the
    // pair's own scoring.
    let (d1, d2, d3) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    for c in ["unrelated", "same", "detail", "changed"] {
        chat.push_choice(c);
    }
    let first = add(&open(d1.path(), chat.clone()));
    assert_eq!(chat.requests().len(), 5, "extraction + 3 blanks + 1 pair");
    assert_eq!(first.stats.scored_pairs, 1);
    // A second handle on the same model instance scores the pair only
    // (with one choice queued, a second measurement would run dry and
    // the add would fail).
    chat.push_choice("changed");
    let second = add(&open(d2.path(), chat.clone()));
    assert_eq!(chat.requests().len(), 7, "extraction + 1 pair");
    assert_eq!(second.stats.llm_calls, 2);
    assert_eq!(second.results[0].event, Event::Supersede);
    // Another model instance measures its own prior.
    let other = Arc::new(ScriptedChat::new([extraction]));
    for c in ["same", "same", "same", "changed"] {
        other.push_choice(c);
    }
    add(&open(d3.path(), other.clone()));
    assert_eq!(other.requests().len(), 5, "extraction + 3 blanks + 1 pair");
}

#[test]
fn classified_pairs_decide_without_a_generated_answer() {
    // (label for "Lives in Berlin", label for "Likes tea", final memories)
    let cases: [(&str, &str, Vec<&str>); 4] = [
        ("changed", "unrelated", vec!["Likes tea", "Lives in Lisbon"]),
        ("detail", "unrelated", vec!["Likes tea", "Lives in Lisbon"]),
        ("same", "unrelated", vec!["Likes tea", "Lives in Berlin"]),
        (
            "unrelated",
            "unrelated",
            vec!["Likes tea", "Lives in Berlin", "Lives in Lisbon"],
        ),
    ];
    for (berlin, tea, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        // Only the extraction is generated: a reconciliation call would
        // find no scripted reply and fail.
        let (mem, chat) = open_classifying(dir.path(), &[r#"{"facts": ["Lives in Lisbon"]}"#]);
        raw(&mem, "u", "Lives in Berlin");
        raw(&mem, "u", "Likes tea");
        // The nearest memory is scored first.
        chat.push_choice(berlin);
        chat.push_choice(tea);
        let r = mem
            .add("I live in Lisbon now", &AddOptions::user("u"))
            .unwrap();
        assert_eq!(texts(&mem, "u"), want, "{berlin}/{tea}");
        assert_eq!(r.stats.scored_pairs, 2);
        assert_eq!(r.stats.llm_calls, 3, "one extraction + two scorings");
        let asked = chat.requests();
        let last = &asked[asked.len() - 1];
        assert!(
            last[last.len() - 1]
                .content
                .contains("New fact: Lives in Lisbon")
        );
    }
}

#[test]
fn a_changed_memory_is_superseded_kept_and_readable_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, chat) = open_classifying(
        dir.path(),
        &[
            r#"{"facts": ["Works as a nurse"]}"#,
            r#"{"facts": ["Works as a teacher"]}"#,
        ],
    );
    let old = raw(&mem, "u", "Works as a teacher");
    chat.push_choice("changed");
    let r = mem.add("I'm a nurse now", &AddOptions::user("u")).unwrap();
    let events: Vec<(Event, &str)> = r
        .results
        .iter()
        .map(|e| (e.event, e.memory.as_str()))
        .collect();
    assert_eq!(
        events,
        vec![
            (Event::Supersede, "Works as a teacher"),
            (Event::Add, "Works as a nurse")
        ]
    );
    let nurse = r.results[1].id.clone();
    assert_eq!(r.results[0].superseded_by.as_deref(), Some(nurse.as_str()));

    // Kept, with when it stopped being true and what replaced it.
    let m = mem.get(&old).unwrap().expect("a superseded memory is kept");
    assert_eq!(m.superseded_by.as_deref(), Some(nurse.as_str()));
    assert!(m.superseded_at.is_some());
    assert!(mem.get(&nurse).unwrap().unwrap().superseded_at.is_none());
    let h = mem.history(&old).unwrap();
    let last = h.last().unwrap();
    assert_eq!(last.event, HistoryKind::Supersede);
    assert_eq!(last.old_memory.as_deref(), Some("Works as a teacher"));
    assert_eq!(last.new_memory.as_deref(), Some("Works as a nurse"));

    // Hidden from default reads, returned on request.
    assert_eq!(texts(&mem, "u"), vec!["Works as a nurse"]);
    let all = mem
        .get_all(&GetAllOptions::user("u").include_superseded())
        .unwrap();
    assert_eq!(all.results.len(), 2);
    let q = "Works as a teacher";
    let hits = mem.search(q, &SearchOptions::user("u")).unwrap().results;
    assert!(hits.iter().all(|h| h.id != old), "{hits:?}");
    let hits = mem
        .search(q, &SearchOptions::user("u").include_superseded())
        .unwrap()
        .results;
    assert_eq!(hits[0].id, old);
    assert!(hits[0].superseded_by.is_some());

    // Restating the old fact: the superseded memory is no candidate (no
    // "already known"); the current one is compared and superseded in turn.
    chat.push_choice("changed");
    let r = mem
        .add("I went back to teaching", &AddOptions::user("u"))
        .unwrap();
    let events: Vec<(Event, &str)> = r
        .results
        .iter()
        .map(|e| (e.event, e.memory.as_str()))
        .collect();
    assert_eq!(
        events,
        vec![
            (Event::Supersede, "Works as a nurse"),
            (Event::Add, "Works as a teacher")
        ]
    );
    assert_ne!(
        r.results[1].id, old,
        "a new memory, not the old one revived"
    );
    assert_eq!(texts(&mem, "u"), vec!["Works as a teacher"]);
    assert!(mem.verify().unwrap().is_ok());

    // It survives a reopen.
    drop(mem);
    let (mem, _) = open_classifying(dir.path(), &[]);
    assert!(mem.get(&old).unwrap().unwrap().superseded_at.is_some());
    assert_eq!(texts(&mem, "u"), vec!["Works as a teacher"]);
}

#[test]
fn expired_memories_take_no_part_in_reconciliation() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, chat) = open(dir.path(), &[r#"{"facts": ["Likes tea"]}"#]);
    mem.add(
        "Likes tea",
        &AddOptions::user("u")
            .infer(false)
            .expiration_date("2001-01-01T00:00:00Z"),
    )
    .unwrap();
    assert!(texts(&mem, "u").is_empty(), "expired: hidden");
    // The restated fact is not an exact duplicate of the expired memory:
    // it is added again, without a reconciliation call.
    let r = mem.add("I like tea", &AddOptions::user("u")).unwrap();
    assert_eq!(r.stats.exact_duplicates, 0);
    assert_eq!(r.results.len(), 1);
    assert_eq!(r.results[0].event, Event::Add);
    assert_eq!(chat.requests().len(), 1, "only the extraction call");
    assert_eq!(texts(&mem, "u"), vec!["Likes tea"]);
}

#[test]
fn a_conversation_longer_than_the_context_is_read_in_windows() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, chat) = open(
        dir.path(),
        &[
            r#"{"facts": ["Lives in Oslo"]}"#,
            r#"{"facts": ["Has a cat named Mio", "Lives in Oslo"]}"#,
        ],
    );
    // 40 messages of ~200 characters: about 8,000, over the 7,752 that one
    // extraction call takes with the default context.
    let filler = "and the weather was fine all day long, nothing much happened. ".repeat(3);
    let mut msgs: Vec<Message> = (0..39)
        .map(|i| Message::user(format!("Day {i}: {filler}")))
        .collect();
    msgs.insert(0, Message::user("I live in Oslo."));
    msgs.push(Message::user("I have a cat named Mio."));
    let r = mem.add(msgs, &AddOptions::user("u")).unwrap();
    let asked = chat.requests();
    assert_eq!(asked.len(), 2, "two windows, two extraction calls");
    assert!(asked[0].last().unwrap().content.contains("I live in Oslo"));
    assert!(asked[1].last().unwrap().content.contains("cat named Mio"));
    assert_eq!(r.stats.facts, 2, "the repeated fact is kept once");
    assert_eq!(
        texts(&mem, "u"),
        vec!["Has a cat named Mio", "Lives in Oslo"]
    );
}

#[test]
fn facts_scored_general_are_dropped_before_reconciliation() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = cfg();
    config.reconcile.calibrate = false;
    config.reconcile.fact_check = true;
    let (mem, chat) = open_with(
        dir.path(),
        &[r#"{"facts": ["17 times 23 equals 391", "Is a maths teacher"]}"#],
        config,
    );
    chat.push_choice("general");
    chat.push_choice("personal");
    let r = mem
        .add(
            "I'm a maths teacher. What is 17 times 23?",
            &AddOptions::user("u"),
        )
        .unwrap();
    assert_eq!(r.stats.not_personal, 1);
    assert_eq!(r.stats.facts, 1);
    assert_eq!(texts(&mem, "u"), vec!["Is a maths teacher"]);
    // The check saw the user's message and the fact.
    let asked = chat.requests();
    let q = &asked[1].last().unwrap().content;
    assert!(q.contains("What is 17 times 23?") && q.contains("Fact: 17 times 23 equals 391"));
}

#[test]
fn facts_about_the_one_other_person_named_are_rewritten_to_name_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = cfg();
    config.reconcile.calibrate = false;
    config.reconcile.fact_check = false;
    let (mem, chat) = open_with(
        dir.path(),
        &[r#"{"facts": ["Lives in Lyon", "Lives in Marseille", "Mom is a retired pharmacist"]}"#],
        config,
    );
    // Only the two subjectless facts are asked about, in order.
    chat.push_choice("them");
    chat.push_choice("me");
    let r = mem
        .add(
            "My mom lives in Lyon and is a retired pharmacist. I live in Marseille.",
            &AddOptions::user("u"),
        )
        .unwrap();
    assert_eq!(r.stats.attributed, 1);
    assert_eq!(r.stats.llm_calls, 3, "one extraction + two scorings");
    assert_eq!(
        texts(&mem, "u"),
        vec![
            "Lives in Marseille",
            "Mom is a retired pharmacist",
            "Mom lives in Lyon"
        ]
    );
    let asked = chat.requests();
    let q = &asked[1].last().unwrap().content;
    assert!(
        q.contains("Other person: Mom") && q.contains("Fact: Lives in Lyon"),
        "{q}"
    );

    // No other person named (or two): no question is asked.
    for msg in ["I live in Nice now.", "My mom and my dad live in Nice."] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = cfg();
        config.reconcile.calibrate = false;
        config.reconcile.fact_check = false;
        let (mem, chat) = open_with(dir.path(), &[r#"{"facts": ["Lives in Nice"]}"#], config);
        let r = mem.add(msg, &AddOptions::user("u")).unwrap();
        assert_eq!(r.stats.attributed, 0, "{msg}");
        assert_eq!(chat.requests().len(), 1, "{msg}: only the extraction");
    }
}

#[test]
fn a_caller_given_timestamp_is_the_created_at_of_raw_and_inferred_memories() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, _) = open(dir.path(), &[r#"{"facts": ["Went to a support group"]}"#]);
    let t = memlayer::store::Timestamp::from_unix_seconds(1_683_554_160).unwrap();
    let verbatim = mem
        .add(
            "Caroline: I went to a support group",
            &AddOptions::user("u").infer(false).timestamp(t),
        )
        .unwrap();
    let inferred = mem
        .add(
            "I went to a support group yesterday",
            &AddOptions::user("v").timestamp(t),
        )
        .unwrap();
    for r in [&verbatim, &inferred] {
        let m = mem.get(&r.results[0].id).unwrap().unwrap();
        assert_eq!(m.created_at, "2023-05-08T13:56:00.000000Z");
        assert_ne!(m.updated_at, m.created_at, "updated_at is the commit time");
    }
    // An old memory sorts after a new one in get_all (newest first).
    let now = raw(&mem, "u", "today's note");
    let order: Vec<String> = mem
        .get_all(&GetAllOptions::user("u"))
        .unwrap()
        .results
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(order, vec![now, verbatim.results[0].id.clone()]);
}

#[test]
fn a_date_in_the_query_prefers_memories_made_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, _) = open(dir.path(), &[]);
    let at = |s: &str| s.parse::<memlayer::store::Timestamp>().unwrap();
    let add = |text: &str, when: &str| {
        mem.add(
            text,
            &AddOptions::user("u").infer(false).timestamp(at(when)),
        )
        .unwrap()
        .results[0]
            .id
            .clone()
    };
    let may = add("We went camping by the lake", "2023-05-20T10:00:00Z");
    let june = add("We went camping in the hills", "2023-06-27T10:00:00Z");
    let oct13 = add("Painted a sunrise", "2023-10-13T18:00:00Z");
    let oct20 = add("Painted a sunset", "2023-10-20T18:00:00Z");
    let top = |q: &str| {
        mem.search(q, &SearchOptions::user("u").limit(2))
            .unwrap()
            .results
            .into_iter()
            .map(|m| m.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(top("When did we go camping in June?")[0], june);
    assert_eq!(top("When did we go camping in May?")[0], may);
    assert_eq!(top("What did I paint on October 13, 2023?")[0], oct13);
    assert_eq!(top("What did I paint on 20 October?")[0], oct20);
    // A date no memory was made on adds no keyword score.
    let keyword = |q: &str| {
        let mut v: Vec<(String, f32)> = mem
            .search(q, &SearchOptions::user("u").explain())
            .unwrap()
            .results
            .into_iter()
            .map(|m| (m.id, m.explain.unwrap().keyword))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    // (Feedback sums the same expansion stems in another order when the
    // first ranking differs: equal up to rounding.)
    let (dec, plain) = (
        keyword("When did we go camping in December?"),
        keyword("When did we go camping?"),
    );
    assert_eq!(dec.len(), plain.len());
    for ((a, x), (b, y)) in dec.iter().zip(&plain) {
        assert!(a == b && (x - y).abs() < 1e-5, "{a} {x} vs {b} {y}");
    }
}

#[test]
fn add_many_validates_everything_first_then_commits_in_bounded_batches() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, _) = open(dir.path(), &[]);
    let day = 86_400;
    let mut items: Vec<memlayer::BulkMemory> = (0..1200)
        .map(|i| {
            let mut m = memlayer::BulkMemory::new(
                format!("turn {i} about topic{}", i % 7),
                Scope::user(format!("user{}", i % 3)),
            );
            m.timestamp = Some(
                memlayer::store::Timestamp::from_unix_seconds(1_600_000_000 + i * day).unwrap(),
            );
            m.metadata = Some(json!({"n": i}).as_object().unwrap().clone());
            m
        })
        .collect();
    // One bad item fails the call with its position; nothing is written.
    items[900].scope = Scope::default();
    let e = mem.add_many(&items).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Validation);
    assert!(e.to_string().contains("item 900"), "{e}");
    assert!(
        mem.get_all(&GetAllOptions::user("user0"))
            .unwrap()
            .results
            .is_empty()
    );

    items[900].scope = Scope::user("user0");
    items[5].role = Some("system".into());
    let mut seen = Vec::new();
    let r = mem
        .add_many_with_progress(&items, |done| seen.push(done))
        .unwrap();
    assert_eq!(r.ids.len(), 1199);
    assert_eq!(r.skipped, 1);
    assert_eq!(
        r.commits,
        3,
        "1200 items in batches of {}",
        memlayer::BULK_COMMIT_SIZE
    );
    assert_eq!(seen, vec![512, 1024, 1200]);
    let all = mem
        .get_all(&GetAllOptions::user("user1").limit(1000))
        .unwrap()
        .results;
    assert_eq!(all.len(), 400);
    // Newest first by the given timestamps.
    assert!(all[0].memory.starts_with("turn 1198 "), "{}", all[0].memory);
    assert!(all.windows(2).all(|w| w[0].created_at > w[1].created_at));
    let hit = mem
        .search("turn 1198", &SearchOptions::user("user1").limit(1))
        .unwrap();
    assert_eq!(hit.results[0].memory, "turn 1198 about topic1");
    assert_eq!(hit.results[0].metadata["n"], 1198);
}

#[test]
fn questions_and_small_talk_make_no_llm_call() {
    let dir = tempfile::tempdir().unwrap();
    // No scripted reply: any LLM call would fail.
    let (mem, chat) = open_classifying(dir.path(), &[]);
    for text in [
        "Who wrote Hamlet?",
        "Tell me a short joke.",
        "Thanks, that was helpful. Bye!",
    ] {
        let r = mem.add(text, &AddOptions::user("u")).unwrap();
        assert!(r.results.is_empty(), "{text}");
        assert!(r.stats.no_statement && r.stats.llm_calls == 0, "{text}");
    }
    assert!(chat.requests().is_empty());
    // Off: the extraction runs (and here fails: nothing is scripted).
    let mut config = cfg();
    config.reconcile.statement_gate = false;
    let (mem, _) = open_with(&dir.path().join("off"), &[], config);
    assert!(
        mem.add("Who wrote Hamlet?", &AddOptions::user("u"))
            .is_err()
    );
}

#[test]
fn time_words_drop_one_day_states_and_keep_temporary_ones_beside_lasting_memories() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, chat) = open_classifying(
        dir.path(),
        &[r#"{"facts": ["Is tired today", "Is in Rome this week for a conference"]}"#],
    );
    raw(&mem, "u", "Lives in Madrid");
    // No scoring is scripted: the temporary fact is not compared.
    let r = mem
        .add(
            "I'm so tired today. I'm in Rome this week for a conference.",
            &AddOptions::user("u"),
        )
        .unwrap();
    assert_eq!(
        texts(&mem, "u"),
        vec!["Is in Rome this week for a conference", "Lives in Madrid"]
    );
    assert_eq!((r.stats.momentary, r.stats.temporary), (1, 1));
    assert_eq!(r.stats.scored_pairs, 0);
    assert_eq!(chat.requests().len(), 1, "the extraction only");
}

#[test]
fn one_change_said_twice_becomes_one_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, chat) = open_classifying(
        dir.path(),
        &[
            r#"{"facts": ["Packed everything up", "Moved to Lisbon last month", "Lives in Lisbon now"]}"#,
        ],
    );
    raw(&mem, "u", "Lives in Berlin");
    // The fragment joins the first whole fact; both facts change Berlin.
    chat.push_choice("changed");
    chat.push_choice("changed");
    let r = mem
        .add(
            "Packed everything up: I moved to Lisbon last month, so I live in Lisbon now.",
            &AddOptions::user("u"),
        )
        .unwrap();
    assert_eq!(
        texts(&mem, "u"),
        vec!["Packed everything up; Moved to Lisbon last month; Lives in Lisbon now"]
    );
    assert_eq!(r.stats.scored_pairs, 2);
}

#[test]
fn a_negated_fact_ends_the_memory_it_negates_without_a_scoring() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, _) = open_classifying(dir.path(), &[r#"{"facts": ["Is not a doctor"]}"#]);
    raw(&mem, "u", "Works as a doctor");
    let r = mem
        .add(
            "Actually I'm not a doctor, I never was.",
            &AddOptions::user("u"),
        )
        .unwrap();
    assert_eq!(texts(&mem, "u"), vec!["Is not a doctor"]);
    assert_eq!(r.stats.scored_pairs, 0);
    assert_eq!(r.results[0].event, Event::Supersede);
}

#[test]
fn feedback_finds_a_memory_in_other_words_below_the_first_hits() {
    let memories = [
        "Watercolour of a sunrise over the lake",
        "The lake sunrise now hangs in the kitchen",
        "Bought new running shoes",
        "Dentist appointment moved to Friday",
        "Learning to bake sourdough bread",
        "The cat knocked over a plant",
        "Booked flights to Oslo for March",
        "Started reading a novel about whales",
    ];
    let query = "Where did the watercolour go?";
    let search = |feedback: f32| {
        let dir = tempfile::tempdir().unwrap();
        let mut config = cfg();
        config.search.feedback_weight = feedback;
        config.search.feedback_docs = 1;
        // (Neighbour context would pass "watercolour" on to the next
        // memory: off, to see feedback alone.)
        config.search.context_weight = 0.0;
        let (mem, _) = open_with(dir.path(), &[], config);
        let ids: Vec<String> = memories.iter().map(|t| raw(&mem, "u", t)).collect();
        let hits = mem
            .search(query, &SearchOptions::user("u").limit(8).explain())
            .unwrap()
            .results;
        let keyword = |id: &str| {
            hits.iter()
                .find(|m| m.id == id)
                .map_or(0.0, |m| m.explain.as_ref().unwrap().keyword)
        };
        let order: Vec<usize> = hits
            .iter()
            .map(|m| ids.iter().position(|i| *i == m.id).unwrap())
            .collect();
        (order, keyword(&ids[1]))
    };
    // Off: the kitchen memory shares no word with the query.
    let (_, off) = search(0.0);
    assert_eq!(off, 0.0);
    // On: the first hit (the watercolour) stays first; its words "lake"
    // and "sunrise" find the kitchen memory, which comes next.
    let (order, on) = search(0.3);
    assert!(on > 0.0);
    assert_eq!(order[..2], [0, 1], "{order:?}");
}
