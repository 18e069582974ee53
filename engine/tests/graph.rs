//! Graph memory with a scripted chat model and a hash embedder over the real
//! redb store: new entities, merges by name and by embedding, soft delete,
//! no false contradiction, scope isolation, atomicity, provenance,
//! traversal, search relations and validation of the model's graph output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use memlayer::models::{HashEmbedder, ScriptedChat};
use memlayer::store::{EdgeUpsert, NewMemory, Store, StoreConfig, WriteBatch};
use memlayer::{
    AddOptions, ErrorCode, GetAllOptions, Memory, MemoryConfig, Relation, Scope, SearchOptions,
};

// 384 slots: no two entity or query words of these tests share a hash slot.
const DIMS: usize = 384;

fn cfg() -> MemoryConfig {
    MemoryConfig {
        durability: memlayer::Durability::None,
        graph: true,
        reconcile: memlayer::ReconcileConfig {
            // Only near-identical memories are candidates, so most adds here
            // need no reconciliation call.
            candidate_min_similarity: 0.95,
            none_min_similarity: 0.95,
            require_grounding: false,
            ..memlayer::ReconcileConfig::default()
        },
        ..MemoryConfig::default()
    }
}

fn open_with(
    dir: &std::path::Path,
    config: MemoryConfig,
    replies: &[&str],
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

fn open(dir: &std::path::Path, replies: &[&str]) -> (Memory, Arc<ScriptedChat>) {
    open_with(dir, cfg(), replies)
}

fn facts(f: &[&str]) -> String {
    serde_json::json!({ "facts": f }).to_string()
}

fn graph(rels: &[(&str, &str, &str)]) -> String {
    let relations: Vec<_> = rels
        .iter()
        .map(|(s, r, d)| serde_json::json!({"head": s, "relation": r, "tail": d}))
        .collect();
    serde_json::json!({"entities": [], "relations": relations}).to_string()
}

fn triples(
    mem: &Memory,
    scope: &Scope,
    include_invalid: bool,
) -> Vec<(String, String, String, bool)> {
    let mut v: Vec<_> = mem
        .relations(scope, include_invalid)
        .unwrap()
        .into_iter()
        .map(|r| (r.source, r.relationship, r.destination, r.valid))
        .collect();
    v.sort();
    v
}

fn t(s: &str, r: &str, d: &str, valid: bool) -> (String, String, String, bool) {
    (s.into(), r.into(), d.into(), valid)
}

#[test]
fn new_entities_relations_provenance_and_search() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, chat) = open(
        dir.path(),
        &[
            &facts(&["Has a brother named Tom", "Brother Tom lives in Dublin"]),
            r#"{"entities": [{"name": "USER", "type": "person"}, {"name": "Tom", "type": "Person"}, {"name": "Dublin", "type": "city"}],
                "relations": [{"source": "I", "relationship": "has brother", "destination": "Tom"},
                              {"source": "Tom", "relationship": "Lives_In", "destination": "Dublin"}]}"#,
        ],
    );
    let r = mem
        .add("My brother Tom lives in Dublin.", &AddOptions::user("Bob"))
        .unwrap();
    assert_eq!(r.results.len(), 2);
    let g = r.relations.unwrap();
    assert_eq!(
        g.added_entities,
        vec![
            Relation::new("bob", "has_brother", "tom"),
            Relation::new("tom", "lives_in", "dublin"),
        ]
    );
    assert!(g.deleted_entities.is_empty());
    assert_eq!(chat.remaining(), 0);
    let scope = Scope::user("Bob");
    assert_eq!(
        triples(&mem, &scope, true),
        vec![
            t("bob", "has_brother", "tom", true),
            t("tom", "lives_in", "dublin", true)
        ]
    );
    // Names are normalised for matching, displayed as given; types kept.
    let snap = mem.snapshot().unwrap();
    let tom = snap.graph_node(&scope, "tom").unwrap().unwrap();
    assert_eq!(tom.display_name, "Tom");
    assert_eq!(tom.node_type, "person");
    assert!(tom.embedding_id.is_some());
    assert_eq!(
        snap.graph_node(&scope, "bob")
            .unwrap()
            .unwrap()
            .display_name,
        "Bob"
    );
    drop(snap);
    // Provenance: each relation points at the memory that shares its words.
    let rels = mem.relations(&scope, false).unwrap();
    let lives = rels.iter().find(|r| r.relationship == "lives_in").unwrap();
    let lives_mem = mem.get(&lives.memory_ids[0]).unwrap().unwrap();
    assert_eq!(lives_mem.memory, "Brother Tom lives in Dublin");
    // get_all and search return relations.
    let page = mem.get_all(&GetAllOptions::user("Bob")).unwrap();
    assert_eq!(page.relations.unwrap().len(), 2);
    let hits = mem
        .search("where does Tom live", &SearchOptions::user("Bob"))
        .unwrap();
    let rel = hits.relations.unwrap();
    assert_eq!(rel.len(), 2);
    assert_eq!(
        (
            rel[0].source.as_str(),
            rel[0].relationship.as_str(),
            rel[0].destination.as_str()
        ),
        ("tom", "lives_in", "dublin")
    );
    assert!(rel[0].score.unwrap() > rel[1].score.unwrap());
    // Speaker words in a query find the user's node.
    let mine = mem
        .search("my brother", &SearchOptions::user("Bob"))
        .unwrap()
        .relations
        .unwrap();
    assert_eq!(mine[0].relationship, "has_brother");
    // JSON shape: Mem0's `relations` beside `results`.
    let j = serde_json::to_value(r_json(&mem)).unwrap();
    assert!(j["relations"][0]["score"].is_number());
}

fn r_json(mem: &Memory) -> memlayer::SearchResult {
    mem.search("Tom", &SearchOptions::user("Bob")).unwrap()
}

#[test]
fn merge_by_name_and_outdated_check_sees_existing_relations() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, chat) = open(
        dir.path(),
        &[
            &facts(&["Brother Tom lives in Dublin"]),
            &graph(&[("Tom", "lives_in", "Dublin")]),
            &facts(&["Tom works as a chef"]),
            &graph(&[("the tom", "works as", "chef")]),
            r#"{"outdated": []}"#,
        ],
    );
    let scope = Scope::user("bob");
    mem.add("My brother Tom lives in Dublin.", &AddOptions::user("bob"))
        .unwrap();
    let r = mem
        .add("Tom works as a chef.", &AddOptions::user("bob"))
        .unwrap();
    assert_eq!(r.stats.llm_calls, 3, "facts, graph, outdated check");
    assert_eq!(chat.remaining(), 0);
    // The check was shown the existing relation of `tom`.
    let req = chat.requests();
    let check = &req[4].last().unwrap().content;
    assert!(check.contains("0: Tom -- lives_in -- Dublin"), "{check}");
    assert!(check.contains("- Tom -- works_as -- chef"), "{check}");
    let snap = mem.snapshot().unwrap();
    let mut names: Vec<String> = snap
        .graph_nodes(&scope)
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .collect();
    names.sort();
    assert_eq!(names, vec!["chef", "dublin", "tom"]);
    assert!(snap.graph_node(&scope, "tom").unwrap().unwrap().mentions >= 3);
    drop(snap);
    assert_eq!(
        triples(&mem, &scope, true),
        vec![
            t("tom", "lives_in", "dublin", true),
            t("tom", "works_as", "chef", true)
        ]
    );
}

#[test]
fn merge_by_embedding_at_the_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg();
    c.graph_options.merge_threshold = 0.99;
    c.graph_options.check_outdated = false;
    let (mem, _) = open_with(
        dir.path(),
        c,
        &[
            &facts(&["Knows John Smith"]),
            &graph(&[("USER", "knows", "John Smith")]),
            &facts(&["Smith John plays golf"]),
            // Same words, other order: a different normalised name whose
            // hash embedding is identical (cosine 1 ≥ 0.99).
            &graph(&[("Smith John", "plays", "golf")]),
            &facts(&["John likes golf"]),
            // `John` alone: cosine 0.71 < 0.99, a new node.
            &graph(&[("John", "likes", "golf")]),
        ],
    );
    let scope = Scope::user("ann");
    mem.add("I know John Smith.", &AddOptions::user("ann"))
        .unwrap();
    let r = mem
        .add("Smith John plays golf.", &AddOptions::user("ann"))
        .unwrap();
    assert_eq!(r.stats.graph_merged_by_embedding, 1);
    let r = mem
        .add("John likes golf.", &AddOptions::user("ann"))
        .unwrap();
    assert_eq!(r.stats.graph_merged_by_embedding, 0);
    assert_eq!(
        triples(&mem, &scope, false),
        vec![
            t("ann", "knows", "john_smith", true),
            t("john", "likes", "golf", true),
            t("john_smith", "plays", "golf", true),
        ]
    );
}

#[test]
fn contradicted_relation_is_soft_deleted_with_history() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, chat) = open(
        dir.path(),
        &[
            &facts(&["Lives in Berlin"]),
            &graph(&[("USER", "lives_in", "Berlin")]),
            &facts(&["Moved to Lisbon"]),
            &graph(&[("USER", "lives_in", "Lisbon")]),
            r#"{"outdated": ["0"]}"#,
        ],
    );
    let scope = Scope::user("eve");
    mem.add("I live in Berlin.", &AddOptions::user("eve"))
        .unwrap();
    let r = mem
        .add("I moved to Lisbon.", &AddOptions::user("eve"))
        .unwrap();
    assert_eq!(chat.remaining(), 0);
    let g = r.relations.unwrap();
    assert_eq!(
        g.deleted_entities,
        vec![Relation::new("eve", "lives_in", "berlin")]
    );
    assert_eq!(r.stats.graph_invalidated, 1);
    assert_eq!(
        triples(&mem, &scope, false),
        vec![t("eve", "lives_in", "lisbon", true)]
    );
    // Soft delete: still stored, with when it was added and invalidated.
    let all = mem.relations(&scope, true).unwrap();
    let berlin = all.iter().find(|r| r.destination == "berlin").unwrap();
    assert!(!berlin.valid);
    assert!(berlin.invalidated_at.unwrap() >= berlin.created_at);
    // Search and get_all only return valid relations.
    let rel = mem
        .search("where does she live", &SearchOptions::user("eve"))
        .unwrap()
        .relations
        .unwrap();
    assert!(rel.iter().all(|r| r.destination != "berlin"));
    assert_eq!(
        mem.get_all(&GetAllOptions::user("eve"))
            .unwrap()
            .relations
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn same_relation_other_destination_is_not_a_contradiction() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, chat) = open(
        dir.path(),
        &[
            &facts(&["Loves Anna"]),
            &graph(&[("USER", "loves", "Anna")]),
            &facts(&["Loves Maria too"]),
            &graph(&[("USER", "loves", "Maria")]),
            // The model keeps both; an id it was never shown is dropped.
            r#"{"outdated": ["5"]}"#,
        ],
    );
    let scope = Scope::user("sam");
    mem.add("I love Anna.", &AddOptions::user("sam")).unwrap();
    let r = mem
        .add("I love Maria too.", &AddOptions::user("sam"))
        .unwrap();
    assert_eq!(chat.remaining(), 0);
    assert_eq!(r.stats.graph_dropped, 1);
    assert_eq!(
        triples(&mem, &scope, true),
        vec![
            t("sam", "loves", "anna", true),
            t("sam", "loves", "maria", true)
        ]
    );
    // The prompt told the model so.
    let sys = &chat.requests()[4][0].content;
    assert!(sys.contains("does NOT make an old one outdated"));
}

#[test]
fn graphs_are_isolated_by_scope() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, chat) = open(
        dir.path(),
        &[
            &facts(&["Lives in Oslo"]),
            &graph(&[("USER", "lives_in", "Oslo")]),
            &facts(&["Lives in Oslo too"]),
            // bob's extraction names the same city; alice's relation must
            // not be shown to bob's outdated check (no extra call).
            &graph(&[("USER", "lives_in", "Oslo")]),
        ],
    );
    mem.add("I live in Oslo.", &AddOptions::user("alice"))
        .unwrap();
    let r = mem
        .add("I live in Oslo too.", &AddOptions::user("bob"))
        .unwrap();
    assert_eq!(r.stats.llm_calls, 2);
    assert_eq!(chat.remaining(), 0);
    assert_eq!(
        triples(&mem, &Scope::user("alice"), true),
        vec![t("alice", "lives_in", "oslo", true)]
    );
    assert_eq!(
        triples(&mem, &Scope::user("bob"), true),
        vec![t("bob", "lives_in", "oslo", true)]
    );
    let rel = mem
        .search("oslo", &SearchOptions::user("bob"))
        .unwrap()
        .relations
        .unwrap();
    assert_eq!(rel.len(), 1);
    assert_eq!(rel[0].source, "bob");
    // Deleting alice's scope leaves bob's graph.
    mem.delete_all(&Scope::user("alice")).unwrap();
    assert!(triples(&mem, &Scope::user("alice"), true).is_empty());
    assert_eq!(triples(&mem, &Scope::user("bob"), true).len(), 1);
    mem.reset().unwrap();
    assert!(triples(&mem, &Scope::user("bob"), true).is_empty());
}

#[test]
fn relations_stored_under_a_run_show_in_the_users_reads() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, _chat) = open(
        dir.path(),
        &[
            &facts(&["Sister Ana lives in Porto"]),
            &graph(&[("Ana", "lives_in", "Porto")]),
            &facts(&["Likes hiking"]),
            &graph(&[("USER", "likes", "hiking")]),
        ],
    );
    mem.add(
        "My sister Ana lives in Porto.",
        &AddOptions::user("bob").with_run("trip"),
    )
    .unwrap();
    mem.add("I like hiking.", &AddOptions::user("bob")).unwrap();
    // The user's listing shows the run's memory, and now its relation too.
    let page = mem.get_all(&GetAllOptions::user("bob")).unwrap();
    assert_eq!(page.results.len(), 2);
    let mut rels: Vec<(String, String, String)> = page
        .relations
        .unwrap()
        .into_iter()
        .map(|r| (r.source, r.relationship, r.destination))
        .collect();
    rels.sort();
    assert_eq!(
        rels,
        vec![
            ("ana".into(), "lives_in".into(), "porto".into()),
            ("bob".into(), "likes".into(), "hiking".into()),
        ]
    );
    // Search at user level finds the run's relation.
    let rel = mem
        .search("where does ana live", &SearchOptions::user("bob"))
        .unwrap()
        .relations
        .unwrap();
    assert_eq!(rel[0].source, "ana", "{rel:?}");
    // A run-level read still sees only that run.
    let run = mem
        .get_all(&GetAllOptions::user("bob").with_run("trip"))
        .unwrap()
        .relations
        .unwrap();
    assert_eq!(run.len(), 1);
    assert_eq!(run[0].source, "ana");
    // Another user sees nothing of it.
    let other = mem
        .get_all(&GetAllOptions::user("carol"))
        .unwrap()
        .relations
        .unwrap();
    assert!(other.is_empty());
}

#[test]
fn a_failing_batch_leaves_neither_memories_nor_relations() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, _) = open(dir.path(), &[]);
    let scope = Scope::user("u");
    // `Memory` hands out no write access to its store: commit the engine's
    // add batch (memory + nodes + edge, guarded by a hash check that fails
    // because the memory it expects was changed) on the store itself, with
    // the engine closed, then reopen → nothing was written.
    let (model, path) = (
        mem.embedder().model_id().to_string(),
        mem.path().to_path_buf(),
    );
    drop(mem);
    let store = Store::open(&path, StoreConfig::new(model, DIMS as u32)).unwrap();
    let mut b = WriteBatch::new();
    let id = b.insert(NewMemory::new("Likes tea", scope.clone(), vec![0.5; DIMS]));
    b.upsert_edge(EdgeUpsert {
        scope: scope.clone(),
        source: "u".into(),
        relationship: "likes".into(),
        destination: "tea".into(),
        memory_id: Some(id),
    });
    b.expect_hash(uuid::Uuid::now_v7(), "0".repeat(32));
    assert!(store.commit(b).is_err());
    drop(store);
    let (mem, _) = open(dir.path(), &[]);
    assert!(mem.get(&id.to_string()).unwrap().is_none());
    assert!(triples(&mem, &scope, true).is_empty());
    assert!(
        mem.snapshot()
            .unwrap()
            .graph_nodes(&scope)
            .unwrap()
            .is_empty()
    );
    assert!(mem.verify().unwrap().is_ok());
}

#[test]
fn deleting_a_memory_keeps_its_relations_and_records_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, _) = open(
        dir.path(),
        &[
            &facts(&["Has a cat named Mia"]),
            &graph(&[("USER", "has_pet", "Mia")]),
        ],
    );
    let scope = Scope::user("kim");
    let r = mem
        .add("I have a cat named Mia.", &AddOptions::user("kim"))
        .unwrap();
    let id = r.results[0].id.clone();
    assert_eq!(
        mem.relations(&scope, false).unwrap()[0].memory_ids,
        vec![id.clone()]
    );
    mem.delete(&id).unwrap();
    let rel = mem.relations(&scope, false).unwrap();
    assert_eq!(rel.len(), 1);
    assert!(rel[0].valid);
    assert!(rel[0].memory_ids.is_empty());
    assert_eq!(rel[0].retracted_memory_ids, vec![id]);
}

#[test]
fn neighbors_and_paths() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg();
    c.graph_options.check_outdated = false;
    let (mem, _) = open_with(
        dir.path(),
        c,
        &[
            &facts(&[
                "Has a brother Tom",
                "Tom lives in Dublin",
                "Tom works at Acme",
            ]),
            &graph(&[
                ("USER", "has_brother", "Tom"),
                ("Tom", "lives_in", "Dublin"),
                ("Tom", "works_at", "Acme"),
            ]),
            &facts(&["Acme is based in Cork"]),
            &graph(&[("Acme", "based_in", "Cork")]),
        ],
    );
    let scope = Scope::user("bob");
    mem.add(
        "My brother Tom lives in Dublin and works at Acme.",
        &AddOptions::user("bob"),
    )
    .unwrap();
    mem.add("Acme is based in Cork.", &AddOptions::user("bob"))
        .unwrap();
    assert_eq!(mem.neighbors("Tom", 1, &scope).unwrap().len(), 3);
    assert_eq!(mem.neighbors("me", 1, &scope).unwrap().len(), 1);
    assert_eq!(mem.neighbors("me", 3, &scope).unwrap().len(), 4);
    let p = mem.paths("me", "Cork", 3, &scope).unwrap();
    assert_eq!(p.len(), 1);
    let hops: Vec<&str> = p[0].iter().map(|r| r.relationship.as_str()).collect();
    assert_eq!(hops, vec!["has_brother", "works_at", "based_in"]);
    assert!(mem.paths("me", "Cork", 2, &scope).unwrap().is_empty());
    assert_eq!(mem.paths("Dublin", "Acme", 2, &scope).unwrap().len(), 1);
    let e = mem.neighbors("nobody", 1, &scope).unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotFound);
    let e = mem.neighbors("Tom", 0, &scope).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Validation);
    let e = mem.paths("Tom", "", 2, &scope).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Validation);
}

#[test]
fn unusable_graph_output_is_dropped_and_memories_still_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, chat) = open(
        dir.path(),
        &[
            &facts(&["Likes jazz"]),
            "this is not json",
            &facts(&["Plays the piano"]),
            // Self-loops, empty and over-long names are dropped one by one.
            &format!(
                r#"{{"entities": [], "relations": [{{"source": "USER", "relationship": "is", "destination": "me"}},
                   {{"source": "USER", "relationship": "", "destination": "x"}},
                   {{"source": "USER", "relationship": "plays", "destination": "{}"}},
                   {{"source": "USER", "relationship": "plays", "destination": "piano"}}]}}"#,
                "p".repeat(200)
            ),
        ],
    );
    let r = mem.add("I like jazz.", &AddOptions::user("liv")).unwrap();
    assert_eq!(r.results.len(), 1);
    assert_eq!(r.stats.graph_unusable_answers, 1);
    assert!(r.relations.unwrap().is_empty());
    let r = mem
        .add("I play the piano.", &AddOptions::user("liv"))
        .unwrap();
    assert_eq!(r.stats.graph_dropped, 3);
    assert_eq!(
        triples(&mem, &Scope::user("liv"), true),
        vec![t("liv", "plays", "piano", true)]
    );
    assert_eq!(chat.remaining(), 0);
}

#[test]
fn graph_off_makes_no_graph_call_and_no_relations_field() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg();
    c.graph = false;
    let (mem, chat) = open_with(dir.path(), c, &[&facts(&["Likes tea"])]);
    let r = mem.add("I like tea.", &AddOptions::user("u")).unwrap();
    assert_eq!(r.stats.llm_calls, 1);
    assert!(r.relations.is_none());
    assert_eq!(chat.remaining(), 0);
    let s = mem.search("tea", &SearchOptions::user("u")).unwrap();
    assert!(s.relations.is_none());
    assert!(!serde_json::to_string(&s).unwrap().contains("relations"));
}

#[test]
fn a_question_makes_no_fact_or_graph_call() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing scripted: any LLM call would fail.
    let (mem, chat) = open(dir.path(), &[]);
    let r = mem
        .add("Who wrote Hamlet?", &AddOptions::user("u"))
        .unwrap();
    assert!(r.results.is_empty() && r.stats.no_statement);
    assert_eq!(r.stats.llm_calls, 0);
    assert_eq!(r.relations, Some(Default::default()));
    assert_eq!(chat.remaining(), 0);
    assert!(triples(&mem, &Scope::user("u"), false).is_empty());
}

#[test]
fn graph_only_changes_commit_without_memories() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, _) = open(
        dir.path(),
        &[r#"{"facts": []}"#, &graph(&[("USER", "visited", "Rome")])],
    );
    let r = mem.add("I visited Rome.", &AddOptions::user("u")).unwrap();
    assert!(r.results.is_empty());
    assert_eq!(r.relations.unwrap().added_entities.len(), 1);
    assert_eq!(triples(&mem, &Scope::user("u"), false).len(), 1);
    assert!(
        mem.relations(&Scope::user("u"), false).unwrap()[0]
            .memory_ids
            .is_empty()
    );
}
