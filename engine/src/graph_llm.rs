//! Graph memory's LLM side: prompts, JSON Schemas and the parsers of the
//! two graph calls (entity/relation extraction and the outdated-relation
//! check). Pure functions, like [`crate::llm_output`]: arbitrary model text
//! yields an error or validated items, never a panic.

use memlayer_models::ChatMessage;
use serde_json::{Value, json};

use crate::llm_output::{OutputError, parse_object};

/// Longest entity name, type or relationship kept from the model, in bytes
/// after normalisation (the store accepts up to 512).
pub const MAX_GRAPH_NAME: usize = 80;
/// Most entities / relations kept from one extraction (also the schema's
/// `maxItems`: with names ≤ 40 characters a full answer stays well inside
/// the default 512-token budget even when a small model repeats itself).
pub const MAX_GRAPH_ITEMS: usize = 8;

/// The placeholder the extraction prompt uses for the speaker; resolved to
/// the scope's user (or agent) id.
pub const SELF_NAME: &str = "USER";

/// System prompt of the graph-extraction call.
pub const GRAPH_EXTRACTION_PROMPT: &str = "You build a knowledge graph from what a person says. \
List the entities they mention (people, pets, places, organisations, things, activities, foods, languages) \
with a short lowercase type, and the relations between them: head (who or what the relation starts from), \
relation, tail (what it points to).\n\
Rules:\n\
- The speaker is always called USER. Use USER for I, me, my, myself.\n\
- relation: a short lowercase verb phrase with underscores built from the person's own words: \
my cousin Ben -> has_cousin, my boss Ana -> has_boss, I live in Rome -> lives_in, I work at X -> works_at, \
I work as a nurse -> works_as, I speak Thai -> speaks, I love jazz -> loves.\n\
- Names exactly as said, without words like 'my' or 'the'. Times and dates (last week, in 2020) are not entities.\n\
- Only relations the person states. Questions, greetings and small talk give nothing.\n\
Answer with JSON only.";

/// System prompt of the outdated-relation check.
pub const GRAPH_UPDATE_PROMPT: &str = "You keep a knowledge graph about a person up to date. You get \
numbered existing relations, a new message from the person and the relations extracted from it. List the \
numbers of the existing relations that the new message shows are no longer true: the person moved away, \
changed job, ended a relationship, lost or gave away a pet, stopped liking something.\n\
A new relation with the same relationship but another destination does NOT make an old one outdated by \
itself: people can love several people, have several friends, like many foods, speak several languages. \
Only list a relation when the message contradicts it. If none is outdated, answer {\"outdated\": []}.\n\
Answer with JSON only.";

/// An entity as extracted (display form).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtractedEntity {
    /// Name as written by the model (trimmed).
    pub name: String,
    /// Entity type, lowercase (`entity` when missing).
    pub entity_type: String,
}

/// A relation as extracted (display form of the endpoints, normalised
/// relationship).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtractedRelation {
    /// Source entity, as written.
    pub source: String,
    /// Relationship, lowercase snake case.
    pub relationship: String,
    /// Destination entity, as written.
    pub destination: String,
}

/// The validated answer of a graph-extraction call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extraction {
    /// Entities, without duplicates (by normalised name).
    pub entities: Vec<ExtractedEntity>,
    /// Relations, without duplicates and self-loops.
    pub relations: Vec<ExtractedRelation>,
    /// Items dropped by validation.
    pub dropped: usize,
}

impl Extraction {
    /// Pools another window's answer into this one, keeping the entities
    /// and relations free of duplicates (by normalised names).
    pub fn absorb(&mut self, other: Extraction) {
        for e in other.entities {
            let key = normalize_entity(&e.name);
            if !self
                .entities
                .iter()
                .any(|x| normalize_entity(&x.name) == key)
            {
                self.entities.push(e);
            }
        }
        let key = |r: &ExtractedRelation| {
            (
                normalize_entity(&r.source),
                r.relationship.clone(),
                normalize_entity(&r.destination),
            )
        };
        for r in other.relations {
            let k = key(&r);
            if !self.relations.iter().any(|x| key(x) == k) {
                self.relations.push(r);
            }
        }
        self.dropped += other.dropped;
    }
}

/// Normalises an extracted entity name for matching: the entity cleanup
/// (words split at whitespace, `-` and `_`; surrounding punctuation removed;
/// a leading article or possessive — `the`, `a`, `an`, `my`, `our`, `his`,
/// `her` — dropped), then the one name key, [`memlayer_text::normalize_name`].
///
/// ```
/// use memlayer::graph_llm::normalize_entity;
/// assert_eq!(normalize_entity("  The Eiffel  Tower "), "eiffel_tower");
/// assert_eq!(normalize_entity("my dog"), "dog");
/// assert_eq!(normalize_entity("New-York"), "new_york");
/// ```
pub fn normalize_entity(s: &str) -> String {
    let lower = s.trim().to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || c == '-' || c == '_')
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '.' && c != '&')
        })
        .map(|w| w.trim_end_matches('.'))
        .filter(|w| !w.is_empty())
        .collect();
    let start = usize::from(
        words.len() > 1 && matches!(words[0], "the" | "a" | "an" | "my" | "our" | "his" | "her"),
    );
    memlayer_text::normalize_name(&words[start..].join(" "))
}

/// Normalises a relationship: lowercase snake case of its words.
///
/// ```
/// use memlayer::graph_llm::normalize_relationship;
/// assert_eq!(normalize_relationship("Lives In"), "lives_in");
/// assert_eq!(normalize_relationship("works-at"), "works_at");
/// ```
pub fn normalize_relationship(s: &str) -> String {
    memlayer_text::words(s).collect::<Vec<_>>().join("_")
}

fn clean(v: Option<&Value>) -> Option<String> {
    let s = v?.as_str()?;
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let s = s.trim_matches(|c: char| c == '"' || c == '\'' || c.is_whitespace());
    if s.is_empty() || s.contains('\0') || s.len() > MAX_GRAPH_NAME * 2 {
        return None;
    }
    Some(s.to_string())
}

/// Parses `{"entities": [{name, type}], "relations": [{head, relation,
/// tail}]}` (`source` / `relationship` / `destination` are accepted too).
/// The schema's keys are in alphabetical order on purpose: llama.cpp's
/// grammar emits properties in that order, and `head < relation < tail`
/// keeps the model writing the subject first. Drops empty, over-long and duplicate items and
/// self-loops; a missing `entities` list is tolerated (entities are also
/// taken from the relations), a missing `relations` list is an error.
///
/// ```
/// use memlayer::graph_llm::parse_extraction;
/// let x = parse_extraction(r#"{"entities": [{"name": "Rex", "type": "Dog"}],
///   "relations": [{"head": "USER", "relation": "Has Pet", "tail": "Rex"},
///                 {"source": "Rex", "relationship": "is", "destination": "rex"}]}"#).unwrap();
/// assert_eq!(x.relations.len(), 1);
/// assert_eq!(x.relations[0].relationship, "has_pet");
/// assert_eq!(x.entities[0].entity_type, "dog");
/// assert_eq!(x.dropped, 1);
/// assert!(parse_extraction("[]").is_err());
/// ```
pub fn parse_extraction(text: &str) -> Result<Extraction, OutputError> {
    let o = parse_object(text)?;
    let Some(Value::Array(rels)) = o.get("relations") else {
        return Err(OutputError("missing `relations` array".into()));
    };
    let mut x = Extraction::default();
    let mut seen_entities = std::collections::HashSet::new();
    if let Some(Value::Array(ents)) = o.get("entities") {
        for e in ents {
            let name = clean(e.get("name"));
            let ty = clean(e.get("type"))
                .map(|t| normalize_relationship(&t))
                .filter(|t| !t.is_empty() && t.len() <= MAX_GRAPH_NAME)
                .unwrap_or_else(|| "entity".to_string());
            match name {
                Some(n)
                    if !normalize_entity(&n).is_empty()
                        && normalize_entity(&n).len() <= MAX_GRAPH_NAME
                        && x.entities.len() < MAX_GRAPH_ITEMS =>
                {
                    if seen_entities.insert(normalize_entity(&n)) {
                        x.entities.push(ExtractedEntity {
                            name: n,
                            entity_type: ty,
                        });
                    }
                }
                _ => x.dropped += 1,
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    for r in rels {
        let (s, rel, d) = (
            clean(r.get("head").or_else(|| r.get("source"))),
            clean(r.get("relation").or_else(|| r.get("relationship")))
                .map(|r| normalize_relationship(&r)),
            clean(r.get("tail").or_else(|| r.get("destination"))),
        );
        let (Some(s), Some(rel), Some(d)) = (s, rel, d) else {
            x.dropped += 1;
            continue;
        };
        let (ns, nd) = (normalize_entity(&s), normalize_entity(&d));
        let ok = !ns.is_empty()
            && !nd.is_empty()
            && !rel.is_empty()
            && ns.len() <= MAX_GRAPH_NAME
            && nd.len() <= MAX_GRAPH_NAME
            && rel.len() <= MAX_GRAPH_NAME
            && ns != nd
            && x.relations.len() < MAX_GRAPH_ITEMS;
        if !ok || !seen.insert((ns, rel.clone(), nd)) {
            x.dropped += 1;
            continue;
        }
        x.relations.push(ExtractedRelation {
            source: s,
            relationship: rel,
            destination: d,
        });
    }
    Ok(x)
}

/// Parses `{"outdated": ["0", ...]}` against `n` shown relations: returns
/// the valid, distinct indices and how many items were dropped.
///
/// ```
/// use memlayer::graph_llm::parse_outdated;
/// assert_eq!(parse_outdated(r#"{"outdated": ["1", "7", "1", 0]}"#, 2).unwrap(), (vec![1, 0], 2));
/// assert!(parse_outdated("nope", 2).is_err());
/// ```
pub fn parse_outdated(text: &str, n: usize) -> Result<(Vec<usize>, usize), OutputError> {
    let o = parse_object(text)?;
    let Some(Value::Array(items)) = o.get("outdated") else {
        return Err(OutputError("missing `outdated` array".into()));
    };
    let mut out = Vec::new();
    let mut dropped = 0;
    for it in items {
        let idx = match it {
            Value::String(s) => s.trim().parse::<usize>().ok(),
            Value::Number(x) => x.as_u64().and_then(|v| usize::try_from(v).ok()),
            _ => None,
        };
        match idx {
            Some(i) if i < n && !out.contains(&i) => out.push(i),
            _ => dropped += 1,
        }
    }
    Ok((out, dropped))
}

/// JSON Schema of the extraction answer.
pub fn extraction_schema() -> Value {
    let name = json!({"type": "string", "minLength": 1, "maxLength": 40});
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["entities", "relations"],
        "properties": {
            "entities": {
                "type": "array",
                "maxItems": MAX_GRAPH_ITEMS,
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["name", "type"],
                    "properties": {"name": name, "type": {"type": "string", "minLength": 1, "maxLength": 20}}
                }
            },
            "relations": {
                "type": "array",
                "maxItems": MAX_GRAPH_ITEMS,
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["head", "relation", "tail"],
                    "properties": {"head": name, "relation": {"type": "string", "minLength": 1, "maxLength": 30}, "tail": name}
                }
            }
        }
    })
}

/// JSON Schema of the outdated-relation answer: ids restricted to `0..n`.
pub fn outdated_schema(n: usize) -> Value {
    let ids: Vec<Value> = (0..n).map(|i| Value::from(i.to_string())).collect();
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["outdated"],
        "properties": {
            "outdated": {"type": "array", "maxItems": n, "items": {"enum": ids}}
        }
    })
}

fn conv(t: &str) -> String {
    format!("Conversation:\n{t}")
}

/// Chat messages of the extraction call (fixed prefix, then the
/// conversation). A custom prompt replaces the system prompt and examples.
pub fn extraction_messages(transcript: &str, custom_prompt: Option<&str>) -> Vec<ChatMessage> {
    if let Some(p) = custom_prompt.map(str::trim).filter(|s| !s.is_empty()) {
        return vec![ChatMessage::system(p), ChatMessage::user(conv(transcript))];
    }
    let mut m = vec![ChatMessage::system(GRAPH_EXTRACTION_PROMPT)];
    for (t, a) in [
        (
            "user: Hello there, how are you today?",
            r#"{"entities": [], "relations": []}"#,
        ),
        (
            "user: My daughter Mia plays the violin, and my husband Karl works at a bank.",
            r#"{"entities": [{"name": "USER", "type": "person"}, {"name": "Mia", "type": "person"}, {"name": "violin", "type": "instrument"}, {"name": "Karl", "type": "person"}, {"name": "bank", "type": "organisation"}], "relations": [{"head": "USER", "relation": "has_daughter", "tail": "Mia"}, {"head": "Mia", "relation": "plays", "tail": "violin"}, {"head": "USER", "relation": "has_husband", "tail": "Karl"}, {"head": "Karl", "relation": "works_at", "tail": "bank"}]}"#,
        ),
        (
            "user: I'm a pilot at Aerolux and I really love sushi.",
            r#"{"entities": [{"name": "USER", "type": "person"}, {"name": "pilot", "type": "job"}, {"name": "Aerolux", "type": "company"}, {"name": "sushi", "type": "food"}], "relations": [{"head": "USER", "relation": "works_as", "tail": "pilot"}, {"head": "USER", "relation": "works_at", "tail": "Aerolux"}, {"head": "USER", "relation": "loves", "tail": "sushi"}]}"#,
        ),
        (
            "user: I moved to Denver last week. I speak French and German.",
            r#"{"entities": [{"name": "USER", "type": "person"}, {"name": "Denver", "type": "city"}, {"name": "French", "type": "language"}, {"name": "German", "type": "language"}], "relations": [{"head": "USER", "relation": "lives_in", "tail": "Denver"}, {"head": "USER", "relation": "speaks", "tail": "French"}, {"head": "USER", "relation": "speaks", "tail": "German"}]}"#,
        ),
    ] {
        m.push(ChatMessage::user(conv(t)));
        m.push(ChatMessage::assistant(a));
    }
    m.push(ChatMessage::user(conv(transcript)));
    m
}

fn update_turn(existing: &[String], transcript: &str, new: &[String]) -> String {
    let mut s = String::from("Existing relations:\n");
    for (i, e) in existing.iter().enumerate() {
        s.push_str(&format!("{i}: {e}\n"));
    }
    s.push_str(&format!("\nNew message:\n{transcript}\n\nNew relations:\n"));
    if new.is_empty() {
        s.push_str("(none)\n");
    }
    for n in new {
        s.push_str(&format!("- {n}\n"));
    }
    s
}

/// Chat messages of the outdated-relation check. `existing` and `new` are
/// triples rendered as `source -- relationship -- destination`.
pub fn update_messages(existing: &[String], transcript: &str, new: &[String]) -> Vec<ChatMessage> {
    let ex = |e: &[&str], t: &str, n: &[&str]| {
        update_turn(
            &e.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            t,
            &n.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
    };
    vec![
        ChatMessage::system(GRAPH_UPDATE_PROMPT),
        ChatMessage::user(ex(
            &["USER -- lives_in -- Berlin", "USER -- likes -- pizza"],
            "user: I moved to Lisbon last month.",
            &["USER -- lives_in -- Lisbon"],
        )),
        ChatMessage::assistant(r#"{"outdated": ["0"]}"#),
        ChatMessage::user(ex(
            &["USER -- loves -- Anna", "USER -- works_at -- Acme"],
            "user: I love Maria too.",
            &["USER -- loves -- Maria"],
        )),
        ChatMessage::assistant(r#"{"outdated": []}"#),
        ChatMessage::user(ex(
            &["USER -- has_pet -- Rex", "USER -- plays -- chess"],
            "user: Sadly Rex died last week.",
            &[],
        )),
        ChatMessage::assistant(r#"{"outdated": ["0"]}"#),
        ChatMessage::user(update_turn(existing, transcript, new)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_prefixes_are_stable() {
        let a = extraction_messages("user: a", None);
        let b = extraction_messages("user: b", None);
        assert_eq!(a[..a.len() - 1], b[..b.len() - 1]);
        let a = update_messages(&["x".into()], "user: a", &[]);
        let b = update_messages(&[], "user: b", &["y".into()]);
        assert_eq!(a[..a.len() - 1], b[..b.len() - 1]);
    }

    #[test]
    fn extraction_drops_bad_items() {
        let x = parse_extraction(
            r#"{"entities": [{"name": ""}, {"name": "Tom", "type": ""}, {"name": "tom"}],
                "relations": [{"source": "USER", "relationship": "", "destination": "Tom"},
                              {"source": "USER", "relationship": "knows", "destination": "Tom"},
                              {"source": "user", "relationship": "Knows", "destination": "the tom"},
                              {"source": 3, "relationship": "knows", "destination": "Tom"}]}"#,
        )
        .unwrap();
        assert_eq!(x.entities.len(), 1);
        assert_eq!(x.entities[0].entity_type, "entity");
        assert_eq!(x.relations.len(), 1);
        assert_eq!(x.dropped, 1 + 1 + 1 + 1);
        assert!(parse_extraction(r#"{"entities": []}"#).is_err());
    }

    #[test]
    fn outdated_schema_lists_ids() {
        let s = outdated_schema(2);
        assert_eq!(
            s["properties"]["outdated"]["items"]["enum"],
            json!(["0", "1"])
        );
    }

    #[test]
    fn absorb_pools_windows_without_duplicates() {
        let rel = |s: &str, r: &str, d: &str| ExtractedRelation {
            source: s.into(),
            relationship: r.into(),
            destination: d.into(),
        };
        let ent = |n: &str| ExtractedEntity {
            name: n.into(),
            entity_type: "person".into(),
        };
        let mut a = Extraction {
            entities: vec![ent("Alice")],
            relations: vec![rel("Alice", "lives_in", "Oslo")],
            dropped: 1,
        };
        a.absorb(Extraction {
            entities: vec![ent("alice"), ent("Bob")],
            relations: vec![
                rel("alice", "lives_in", "oslo"),
                rel("Bob", "works_at", "Acme"),
            ],
            dropped: 2,
        });
        assert_eq!(a.entities.len(), 2);
        assert_eq!(a.relations.len(), 2);
        assert_eq!(a.dropped, 3);
    }
}
