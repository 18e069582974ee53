//! Real-model tests of the engine: the MiniLM embedder and SmolLM2-135M
//! (the fast CI model) through `Memory`, on a real redb file.

use std::sync::{Arc, OnceLock};

use memlayer::models::{
    BertEmbedder, CachedModel, ChatConfig, ChatModel, Embedder, EmbedderConfig, LlamaCppChat,
};
use memlayer::{
    AddOptions, Event, GetAllOptions, Memory, MemoryConfig, MemoryError, Message, SearchOptions,
};
use memlayer_tests::require;

fn minilm() -> Arc<dyn Embedder> {
    static M: OnceLock<Arc<BertEmbedder>> = OnceLock::new();
    M.get_or_init(|| {
        Arc::new(
            BertEmbedder::load_dir(
                &require(CachedModel::MINILM_L6_V2),
                &EmbedderConfig::default(),
            )
            .expect("load MiniLM"),
        )
    })
    .clone()
}

fn smollm() -> Arc<dyn ChatModel> {
    static M: OnceLock<Arc<LlamaCppChat>> = OnceLock::new();
    M.get_or_init(|| {
        Arc::new(
            LlamaCppChat::load_file(&require(CachedModel::SMOLLM2_135M), ChatConfig::default())
                .expect("load SmolLM2"),
        )
    })
    .clone()
}

fn open(dir: &std::path::Path) -> Memory {
    Memory::builder(dir.join("m.redb"))
        .config(MemoryConfig {
            durability: memlayer::Durability::None,
            ..MemoryConfig::default()
        })
        .embedder(minilm())
        .chat(smollm())
        .open()
        .expect("open")
}

#[test]
fn infer_false_round_trip_with_real_embedder() {
    let dir = tempfile::tempdir().unwrap();
    let mem = open(dir.path());
    let facts = [
        "I am allergic to penicillin.",
        "My daughter's name is Sofia.",
        "I drive a blue Volvo.",
        "I work night shifts at the hospital.",
    ];
    for f in facts {
        mem.add(f, &AddOptions::user("ana").infer(false)).unwrap();
    }
    mem.add("I love hiking", &AddOptions::user("other").infer(false))
        .unwrap();
    for (q, want) in [
        ("which antibiotics must be avoided?", 0),
        ("what is her child called?", 1),
        ("what car does she own?", 2),
        ("when does she work?", 3),
    ] {
        let hits = mem
            .search(q, &SearchOptions::user("ana").limit(1))
            .unwrap()
            .results;
        assert_eq!(hits[0].memory, facts[want], "query {q:?}");
    }
    assert_eq!(
        mem.get_all(&GetAllOptions::user("ana"))
            .unwrap()
            .results
            .len(),
        4
    );
    drop(mem);
    // Reopen from the index snapshot: same answers.
    let mem = open(dir.path());
    assert_eq!(mem.index_origin(), memlayer::IndexOrigin::Snapshot);
    let hits = mem
        .search("antibiotics", &SearchOptions::user("ana").limit(1))
        .unwrap()
        .results;
    assert_eq!(hits[0].memory, facts[0]);
}

#[test]
fn infer_true_with_smollm2_yields_valid_events_and_searchable_facts() {
    let dir = tempfile::tempdir().unwrap();
    let mem = open(dir.path());
    let conv = vec![
        Message::user("Hi! My name is Daniel and I live in Porto. I play the cello every evening."),
        Message::assistant("Nice to meet you, Daniel! The cello is a beautiful instrument."),
    ];
    let r = match mem.add(conv, &AddOptions::user("daniel")) {
        Ok(r) => r,
        // A cut-off answer is the one allowed failure, and it must be typed.
        Err(e @ MemoryError::LlmOutput { .. }) => {
            panic!("grammar-constrained output unusable: {e}")
        }
        Err(e) => panic!("{e}"),
    };
    assert!(r.stats.llm_calls >= 1);
    assert!(!r.results.is_empty(), "no memory extracted: {r:?}");
    for e in &r.results {
        assert_eq!(
            e.event,
            Event::Add,
            "first add into an empty scope only adds"
        );
        assert!(!e.memory.trim().is_empty());
        let m = mem.get(&e.id).unwrap().expect("event id exists");
        assert_eq!(m.memory, e.memory);
        assert_eq!(m.user_id.as_deref(), Some("daniel"));
    }
    // Each extracted fact is found by searching its own words.
    for e in &r.results {
        let hits = mem
            .search(&e.memory, &SearchOptions::user("daniel").limit(3))
            .unwrap()
            .results;
        assert!(
            hits.iter().any(|h| h.id == e.id),
            "{:?} not found",
            e.memory
        );
    }
    // A second add in the same scope goes through reconciliation (or the
    // exact-duplicate shortcut) and still only produces valid events.
    let r2 = mem
        .add(
            "I moved from Porto to Braga last week.",
            &AddOptions::user("daniel"),
        )
        .unwrap();
    for e in &r2.results {
        match e.event {
            Event::Add => assert!(mem.get(&e.id).unwrap().is_some()),
            Event::Update => {
                assert!(e.previous_memory.is_some());
                assert_eq!(mem.get(&e.id).unwrap().unwrap().memory, e.memory);
            }
            // The pipeline never erases: a contradicted memory is kept,
            // marked superseded.
            Event::Supersede => {
                let m = mem
                    .get(&e.id)
                    .unwrap()
                    .expect("superseded memories are kept");
                assert!(m.superseded_at.is_some());
            }
            Event::Delete => panic!("add never deletes: {e:?}"),
        }
    }
    assert!(mem.verify().unwrap().is_ok());
}

/// Graph memory on SmolLM2: the pipeline runs end to end, every graph answer
/// is schema-valid (nothing dropped as unusable), what it stored is
/// normalised, and search / get_all / traversal return it.
#[test]
fn graph_memory_with_smollm2_yields_schema_valid_output() {
    let dir = tempfile::tempdir().unwrap();
    let mem = Memory::builder(dir.path().join("m.redb"))
        .config(MemoryConfig {
            durability: memlayer::Durability::None,
            graph: true,
            ..MemoryConfig::default()
        })
        .embedder(minilm())
        .chat(smollm())
        .open()
        .expect("open");
    let opts = AddOptions::user("bob");
    let mut relation_calls = 0;
    for turn in [
        "My sister Lena lives in Porto and she works as a teacher.",
        "I have a dog named Rex and I love hiking in the Alps.",
        "Lena moved from Porto to Madrid last year.",
    ] {
        let r = mem.add(vec![Message::user(turn)], &opts).expect("add");
        let g = r.relations.expect("graph on: relations field present");
        assert!(r.stats.llm_calls >= 2, "fact + graph extraction calls");
        assert_eq!(
            r.stats.graph_unusable_answers, 0,
            "constrained answers parse"
        );
        relation_calls += 1;
        for x in g.added_entities.iter().chain(&g.deleted_entities) {
            for name in [&x.source, &x.destination] {
                assert!(!name.is_empty() && !name.contains(' ') && *name == name.to_lowercase());
            }
            assert!(!x.relationship.is_empty() && !x.relationship.contains(' '));
        }
    }
    assert_eq!(relation_calls, 3);
    let rels = mem
        .relations(&memlayer::Scope::user("bob"), true)
        .expect("relations");
    eprintln!("SmolLM2 graph: {} relations", rels.len());
    for r in &rels {
        eprintln!(
            "  {} -{}-> {} (valid {})",
            r.source, r.relationship, r.destination, r.valid
        );
    }
    let hits = mem
        .search("Where does Lena live?", &SearchOptions::user("bob"))
        .expect("search");
    assert!(hits.relations.is_some());
    let page = mem.get_all(&GetAllOptions::user("bob")).expect("get_all");
    assert_eq!(
        page.relations.expect("relations").len(),
        rels.iter().filter(|r| r.valid).count()
    );
    if let Some(r) = rels.first() {
        assert!(
            !mem.neighbors(&r.source, 1, &memlayer::Scope::user("bob"))
                .expect("neighbors")
                .is_empty()
        );
    }
}

#[test]
fn search_rerank_scores_the_best_hits_with_the_chat_model() {
    let dir = tempfile::tempdir().unwrap();
    let mem = Memory::builder(dir.path().join("m.redb"))
        .config(MemoryConfig {
            durability: memlayer::Durability::None,
            search: memlayer::SearchConfig {
                rerank: true,
                rerank_depth: 5,
                ..memlayer::SearchConfig::default()
            },
            ..MemoryConfig::default()
        })
        .embedder(minilm())
        .chat(smollm())
        .open()
        .expect("open");
    for f in [
        "I am allergic to penicillin.",
        "My daughter's name is Sofia.",
        "I drive a blue Volvo.",
        "I work night shifts at the hospital.",
        "My favourite food is ramen.",
        "I moved to Lisbon in 2021.",
    ] {
        mem.add(f, &AddOptions::user("ana").infer(false)).unwrap();
    }
    let q = "what car does she drive?";
    let r = mem
        .search(q, &SearchOptions::user("ana").limit(3).explain())
        .unwrap();
    assert_eq!(r.results.len(), 3);
    assert!(r.timings.stages().iter().any(|(s, _)| *s == "rerank"));
    let scores: Vec<f32> = r
        .results
        .iter()
        .map(|m| {
            let d = m.explain.as_ref().expect("explain");
            let s = d.rerank.expect("a rerank score");
            assert_eq!(m.score, Some(s));
            s
        })
        .collect();
    // Probabilities of "yes", best first.
    assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)), "{scores:?}");
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    // Without the reranker: the fused order, no rerank scores.
    let mut plain = SearchOptions::user("ana").limit(3).explain();
    plain.no_rerank = true;
    let r = mem.search(q, &plain).unwrap();
    assert!(!r.timings.stages().iter().any(|(s, _)| *s == "rerank"));
    assert!(
        r.results
            .iter()
            .all(|m| m.explain.as_ref().is_some_and(|d| d.rerank.is_none()))
    );
}
