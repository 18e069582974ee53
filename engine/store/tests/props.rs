//! Property tests with a seeded generator: the filter evaluator (with
//! scope pushdown and pagination) against a naive reference interpreter of
//! the filter JSON, and scope isolation under random multi-user data.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too

mod common;

use std::collections::HashSet;

use common::*;
use memlayer_store::{
    ListOptions, Memory, MemoryUpdate, NewMemory, Scope, Store, WriteBatch, filter,
};
use serde_json::{Map, Value, json};

const USERS: [&str; 4] = ["u0", "u1", "u2", "u3"];
const AGENTS: [&str; 3] = ["a0", "a1", "a2"];
const RUNS: [&str; 2] = ["r0", "r1"];
const CATS: [&str; 5] = ["food", "travel", "Work", "work", "wörk"];
const TAGS: [&str; 4] = ["red", "Blue", "green", "blue"];
const WORDS: [&str; 8] = [
    "tea", "coffee", "Paris", "hiking", "chess", "ramen", "Berlin", "music",
];

fn random_memory(rng: &mut Rng) -> NewMemory {
    let mut scope = Scope::user(*rng.pick(&USERS));
    if rng.chance(0.6) {
        scope.agent_id = Some(rng.pick(&AGENTS).to_string());
    }
    if rng.chance(0.3) {
        scope.run_id = Some(rng.pick(&RUNS).to_string());
    }
    let text = (0..1 + rng.below(5))
        .map(|_| *rng.pick(&WORDS))
        .collect::<Vec<_>>()
        .join(" ");
    let mut meta = Map::new();
    if rng.chance(0.8) {
        meta.insert("cat".into(), json!(rng.pick(&CATS)));
    }
    if rng.chance(0.8) {
        let v = if rng.chance(0.5) {
            json!(rng.below(10))
        } else {
            json!(rng.below(100) as f64 / 10.0)
        };
        meta.insert("score".into(), v);
    }
    if rng.chance(0.6) {
        meta.insert("flag".into(), json!(rng.chance(0.5)));
    }
    if rng.chance(0.5) {
        let tags: Vec<_> = (0..rng.below(3)).map(|_| *rng.pick(&TAGS)).collect();
        meta.insert("tags".into(), json!(tags));
    }
    if rng.chance(0.2) {
        meta.insert("note".into(), Value::Null);
    }
    let mut n = NewMemory::new(text, scope, rng.vector()).with_metadata(meta);
    if rng.chance(0.3) {
        n.memory_type = Some("procedural_memory".into());
    }
    n
}

/// JSON view of a memory for the reference interpreter.
fn view(m: &Memory) -> Map<String, Value> {
    let mut o = m.metadata.clone();
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            o.insert(k.into(), json!(v));
        } else {
            o.remove(k);
        }
    };
    put("user_id", m.scope.user_id.as_deref());
    put("agent_id", m.scope.agent_id.as_deref());
    put("run_id", m.scope.run_id.as_deref());
    put("memory_type", m.memory_type.as_deref());
    put("text", Some(&m.text));
    put("created_at", Some(&m.created_at.to_string()));
    o
}

fn ref_cmp(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn ref_eval(f: &Value, doc: &Map<String, Value>) -> bool {
    let Value::Object(m) = f else {
        panic!("generated filters are objects")
    };
    m.iter().all(|(k, v)| match k.as_str() {
        "AND" => v.as_array().unwrap().iter().all(|c| ref_eval(c, doc)),
        "OR" => v.as_array().unwrap().iter().any(|c| ref_eval(c, doc)),
        "NOT" => match v {
            Value::Array(cs) => !cs.iter().any(|c| ref_eval(c, doc)),
            c => !ref_eval(c, doc),
        },
        field => {
            let fv = doc.get(field).filter(|x| !x.is_null());
            match v {
                Value::String(s) if s == "*" => fv.is_some(),
                Value::Object(ops) => ops.iter().all(|(op, arg)| ref_op(op, arg, fv)),
                scalar => ref_op("eq", scalar, fv),
            }
        }
    })
}

fn ref_op(op: &str, arg: &Value, fv: Option<&Value>) -> bool {
    use std::cmp::Ordering::*;
    let cmp = fv.and_then(|x| ref_cmp(x, arg));
    match op {
        "eq" => cmp == Some(Equal),
        "ne" => cmp != Some(Equal),
        "gt" => cmp == Some(Greater),
        "gte" => matches!(cmp, Some(Greater | Equal)),
        "lt" => cmp == Some(Less),
        "lte" => matches!(cmp, Some(Less | Equal)),
        "in" => arg.as_array().unwrap().iter().any(|a| ref_op("eq", a, fv)),
        "nin" => !arg.as_array().unwrap().iter().any(|a| ref_op("eq", a, fv)),
        "contains" | "icontains" => {
            let fold = op == "icontains";
            let norm = |s: &str| {
                if fold {
                    s.to_lowercase()
                } else {
                    s.to_string()
                }
            };
            let needle = norm(arg.as_str().unwrap());
            match fv {
                Some(Value::String(s)) => norm(s).contains(&needle),
                Some(Value::Array(xs)) => xs
                    .iter()
                    .any(|x| x.as_str().is_some_and(|s| norm(s) == needle)),
                _ => false,
            }
        }
        _ => unreachable!(),
    }
}

fn gen_value(rng: &mut Rng, field: &str, times: &[String]) -> Value {
    match field {
        "user_id" => json!(rng.pick(&USERS)),
        "agent_id" => json!(rng.pick(&AGENTS)),
        "run_id" => json!(rng.pick(&RUNS)),
        "memory_type" => json!(if rng.chance(0.7) {
            "procedural_memory"
        } else {
            "semantic"
        }),
        "text" => json!(rng.pick(&WORDS)),
        "created_at" => json!(rng.pick(times)),
        "cat" | "note" => json!(rng.pick(&CATS)),
        "tags" => json!(rng.pick(&TAGS)),
        "score" => {
            if rng.chance(0.5) {
                json!(rng.below(10))
            } else {
                json!(rng.below(100) as f64 / 10.0)
            }
        }
        "flag" => json!(rng.chance(0.5)),
        _ => unreachable!(),
    }
}

fn gen_leaf(rng: &mut Rng, times: &[String]) -> Value {
    const FIELDS: [&str; 11] = [
        "user_id",
        "agent_id",
        "run_id",
        "memory_type",
        "text",
        "created_at",
        "cat",
        "score",
        "flag",
        "tags",
        "note",
    ];
    let field = *rng.pick(&FIELDS);
    let mut ops = vec!["eq", "ne", "in", "nin", "*", "bare"];
    if field != "flag" {
        ops.extend(["gt", "gte", "lt", "lte"]);
    }
    if !matches!(field, "created_at" | "score" | "flag") {
        ops.extend(["contains", "icontains"]);
    }
    let op = *rng.pick(&ops);
    let cond = match op {
        "*" => json!("*"),
        "bare" => gen_value(rng, field, times),
        "in" | "nin" => {
            let list: Vec<Value> = (0..rng.below(4))
                .map(|_| gen_value(rng, field, times))
                .collect();
            json!({ op: list })
        }
        "contains" | "icontains" => {
            let v = gen_value(rng, field, times);
            let s = v.as_str().unwrap_or("o").to_string();
            let s = if rng.chance(0.4) && s.chars().count() > 2 {
                s.chars().skip(1).take(2).collect()
            } else {
                s
            };
            json!({ op: s })
        }
        _ => json!({ op: gen_value(rng, field, times) }),
    };
    let mut m = Map::new();
    m.insert(field.into(), cond);
    Value::Object(m)
}

fn gen_filter(rng: &mut Rng, depth: usize, times: &[String]) -> Value {
    if depth == 0 || rng.chance(0.4) {
        return gen_leaf(rng, times);
    }
    let n = 1 + rng.below(3);
    let kids: Vec<Value> = (0..n).map(|_| gen_filter(rng, depth - 1, times)).collect();
    match rng.below(4) {
        0 => json!({ "AND": kids }),
        1 => json!({ "OR": kids }),
        2 => {
            if rng.chance(0.5) {
                json!({ "NOT": kids })
            } else {
                json!({ "NOT": kids[0] })
            }
        }
        _ => {
            // Implicit AND of several keys in one object.
            let mut m = Map::new();
            for k in kids {
                for (key, v) in k.as_object().unwrap() {
                    m.insert(key.clone(), v.clone());
                }
            }
            Value::Object(m)
        }
    }
}

fn gen_scope(rng: &mut Rng) -> Scope {
    let mut s = Scope::default();
    match rng.below(5) {
        0 => s.user_id = Some(rng.pick(&USERS).to_string()),
        1 => s.agent_id = Some(rng.pick(&AGENTS).to_string()),
        2 => {
            s.user_id = Some(rng.pick(&USERS).to_string());
            s.agent_id = Some(rng.pick(&AGENTS).to_string());
        }
        3 => s.run_id = Some(rng.pick(&RUNS).to_string()),
        _ => {}
    }
    s
}

fn list_all(
    s: &Store,
    scope: &Scope,
    f: Option<&filter::Filter>,
    page: Option<usize>,
) -> Vec<Memory> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let p = s
            .list(
                scope,
                f,
                &ListOptions {
                    cursor,
                    limit: page,
                },
            )
            .unwrap();
        out.extend(p.items);
        match p.next_cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

#[test]
fn filter_evaluator_matches_reference() {
    let dir = tempfile::tempdir().unwrap();
    let s = open_fast(&dir.path().join("p.redb"));
    let mut rng = Rng(0xF117E4);
    for _ in 0..12 {
        let mut b = WriteBatch::new();
        for _ in 0..20 {
            b.insert(random_memory(&mut rng));
        }
        s.commit(b).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let mut all: Vec<Memory> = USERS
        .iter()
        .flat_map(|u| list_all(&s, &Scope::user(*u), None, None))
        .collect();
    all.sort_by_key(|m| std::cmp::Reverse((m.created_at, m.id)));
    assert_eq!(all.len(), 240);
    let times: Vec<String> = all.iter().map(|m| m.created_at.to_string()).collect();
    let views: Vec<_> = all.iter().map(view).collect();

    const CASES: usize = 3000;
    let (mut mismatches, mut nonempty, mut pushdowns) = (0, 0, 0);
    for case in 0..CASES {
        let fj = gen_filter(&mut rng, 3, &times);
        let f =
            filter::parse(&fj).unwrap_or_else(|e| panic!("case {case}: {fj} did not parse: {e}"));
        let mut scope = gen_scope(&mut rng);
        let pushed = f.scope_equalities();
        if scope.is_empty() {
            if pushed.is_empty() {
                scope = Scope::user(*rng.pick(&USERS));
            } else {
                pushdowns += 1;
            }
        }
        let want: Vec<_> = all
            .iter()
            .zip(&views)
            .filter(|(m, v)| scope.matches(&m.scope) && ref_eval(&fj, v))
            .map(|(m, _)| m.id)
            .collect();
        let page = if rng.chance(0.5) {
            Some(1 + rng.below(10))
        } else {
            None
        };
        let got: Vec<_> = list_all(&s, &scope, Some(&f), page)
            .iter()
            .map(|m| m.id)
            .collect();
        if got != want {
            mismatches += 1;
            eprintln!(
                "MISMATCH case {case}: scope {scope:?} filter {fj}\n got {} want {}",
                got.len(),
                want.len()
            );
        }
        nonempty += usize::from(!want.is_empty());
    }
    eprintln!(
        "filter property: {CASES} cases, {mismatches} mismatches, {nonempty} non-empty, {pushdowns} filter-only scopes"
    );
    assert_eq!(mismatches, 0);
    assert!(nonempty > CASES / 4, "generator too selective: {nonempty}");
}

#[test]
fn scoped_reads_never_leak() {
    let dir = tempfile::tempdir().unwrap();
    let s = open_fast(&dir.path().join("i.redb"));
    let mut rng = Rng(0x150_1A7E);
    let mut live: Vec<uuid::Uuid> = Vec::new();
    for _ in 0..60 {
        let mut b = WriteBatch::new();
        for _ in 0..rng.below(8) {
            live.push(b.insert(random_memory(&mut rng)));
        }
        let committed_live = live.len();
        s.commit(b).unwrap();
        if committed_live > 10 && rng.chance(0.5) {
            let id = live.swap_remove(rng.below(live.len()));
            s.delete(id).unwrap();
        }
        if !live.is_empty() && rng.chance(0.5) {
            let id = *rng.pick(&live);
            let up = MemoryUpdate {
                text: Some("updated tea ramen".into()),
                vector: Some(rng.vector()),
                metadata: Some(common::obj(json!({"cat": "food"}))),
                ..Default::default()
            };
            s.update(id, up).unwrap();
        }
    }
    let mut scopes = Vec::new();
    for u in USERS {
        scopes.push(Scope::user(u));
        for a in AGENTS {
            scopes.push(Scope::user(u).with_agent(a));
        }
    }
    for a in AGENTS {
        scopes.push(Scope::agent(a));
    }
    for r in RUNS {
        scopes.push(Scope::run(r));
        scopes.push(Scope::user("u1").with_run(r));
    }
    let sneaky = [
        json!({"OR": [{"user_id": "u0"}, {"user_id": "u1"}, {"user_id": "u2"}, {"user_id": "u3"}]}),
        json!({"user_id": {"ne": "nobody"}}),
        json!({"NOT": {"user_id": "u0"}}),
        json!({"agent_id": "*"}),
        json!({"user_id": {"in": ["u0", "u1", "u2", "u3"]}}),
    ];
    let (mut reads, mut leaks, mut returned) = (0usize, 0usize, 0usize);
    let live_set: HashSet<_> = live.iter().copied().collect();
    for scope in &scopes {
        let mut check = |ms: Vec<Memory>| {
            reads += 1;
            returned += ms.len();
            leaks += ms
                .iter()
                .filter(|m| !scope.matches(&m.scope) || !live_set.contains(&m.id))
                .count();
        };
        check(list_all(&s, scope, None, None));
        check(list_all(&s, scope, None, Some(3)));
        for f in &sneaky {
            let f = filter::parse(f).unwrap();
            check(list_all(&s, scope, Some(&f), Some(5)));
            let hits = s
                .keyword_search(scope, Some(&f), "tea coffee ramen paris hiking", 1000)
                .unwrap();
            check(
                hits.iter()
                    .map(|(id, _)| s.get(*id).unwrap().unwrap())
                    .collect(),
            );
        }
        let hits = s
            .keyword_search(
                scope,
                None,
                "tea coffee ramen paris hiking chess berlin music updated",
                1000,
            )
            .unwrap();
        check(
            hits.iter()
                .map(|(id, _)| s.get(*id).unwrap().unwrap())
                .collect(),
        );
        // Completeness: the scope's listing equals the model's.
        let want = live
            .iter()
            .filter(|id| scope.matches(&s.get(**id).unwrap().unwrap().scope))
            .count();
        assert_eq!(list_all(&s, scope, None, Some(4)).len(), want);
    }
    eprintln!(
        "isolation property: {} scopes, {reads} scoped reads, {returned} memories returned, {leaks} leaks",
        scopes.len()
    );
    assert_eq!(leaks, 0);
    let rep = s.verify().unwrap();
    assert!(rep.is_ok(), "{:?}", rep.problems);
}

/// Seed corpora of the fuzz targets, run as ordinary tests: arbitrary
/// input must give an error, never a panic.
#[test]
fn fuzz_seed_corpus_never_panics() {
    let mut rng = Rng(0xF022);
    let mut parsed = (0usize, 0usize);
    const KEYS: [&str; 12] = [
        "AND",
        "OR",
        "NOT",
        "$and",
        "eq",
        "in",
        "gt",
        "icontains",
        "*",
        "user_id",
        "created_at",
        "",
    ];
    fn rand_json(rng: &mut Rng, depth: usize) -> Value {
        match if depth == 0 {
            rng.below(5)
        } else {
            rng.below(7)
        } {
            0 => Value::Null,
            1 => json!(rng.chance(0.5)),
            2 => json!(rng.next_u64() as i64 as f64 / 3.0),
            3 => json!(*rng.pick(&["*", "", "2024-01-01T00:00:00Z", "x", "ü"])),
            4 => json!(rng.next_u64()),
            5 => Value::Array(
                (0..rng.below(4))
                    .map(|_| rand_json(rng, depth - 1))
                    .collect(),
            ),
            _ => {
                let mut m = Map::new();
                for _ in 0..rng.below(4) {
                    m.insert(rng.pick(&KEYS).to_string(), rand_json(rng, depth - 1));
                }
                Value::Object(m)
            }
        }
    }
    for _ in 0..600 {
        let v = rand_json(&mut rng, 6);
        match filter::parse(&v) {
            Ok(_) => parsed.0 += 1,
            Err(e) => {
                assert!(!e.to_string().is_empty());
                parsed.1 += 1;
            }
        }
    }
    // Deep nesting is refused cleanly.
    let mut deep = json!({"k": 1});
    for _ in 0..100 {
        deep = json!({ "AND": [deep] });
    }
    assert!(filter::parse(&deep).is_err());
    // Raw bytes → JSON → filter.
    for _ in 0..300 {
        let bytes: Vec<u8> = (0..rng.below(64))
            .map(|_| *rng.pick(b"{}[]\":,0123 aANDOR*eqin\\u"))
            .collect();
        if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
            let _ = filter::parse(&v);
        }
    }
    // Record decoder: random bytes, and valid encodings truncated / bit-flipped.
    let m = Memory {
        id: uuid::Uuid::nil(),
        text: "hello".into(),
        hash: String::new(),
        scope: Scope::user("u"),
        actor_id: Some("a".into()),
        role: None,
        memory_type: None,
        metadata: common::obj(json!({"k": [1, 2]})),
        created_at: memlayer_store::Timestamp(1),
        updated_at: memlayer_store::Timestamp(2),
        expiration_date: None,
        embedding_model: "m".into(),
        superseded_at: None,
        superseded_by: None,
    };
    let good = memlayer_store::codec::encode_record(&m).unwrap();
    assert_eq!(
        memlayer_store::codec::decode_record(m.id, &good)
            .unwrap()
            .text,
        "hello"
    );
    let mut decoded = (0usize, 0usize);
    for i in 0..600 {
        let bytes: Vec<u8> = if i % 3 == 0 {
            (0..rng.below(80)).map(|_| rng.next_u64() as u8).collect()
        } else if i % 3 == 1 {
            good[..rng.below(good.len())].to_vec()
        } else {
            let mut b = good.clone();
            let at = rng.below(b.len());
            b[at] ^= 1 << rng.below(8);
            b
        };
        match memlayer_store::codec::decode_record(m.id, &bytes) {
            Ok(_) => decoded.0 += 1,
            Err(_) => decoded.1 += 1,
        }
        let s = String::from_utf8_lossy(&bytes);
        let _ = memlayer_store::Timestamp::parse_rfc3339(&s);
    }
    eprintln!("fuzz seeds: filter ok/err {parsed:?}, record ok/err {decoded:?}");
    assert!(parsed.0 > 0 && parsed.1 > 0);
}
