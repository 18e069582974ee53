//! Parsing and validation of LLM answers. Pure functions with no model or
//! storage access, so that they are unit-tested and fuzzed on their own:
//! arbitrary text yields an error or a list of decisions that only touch the
//! candidates the model was shown — never a panic, never another memory.

use serde_json::Value;

/// Longest fact or memory text accepted from the model, in characters.
pub const MAX_TEXT_CHARS: usize = 1000;
/// Most facts kept from one extraction.
pub const MAX_FACTS: usize = 24;

/// Validated decisions, each with the position of its item (= the fact it
/// answers), and the items dropped.
pub type Parsed = (Vec<(usize, Decision)>, Vec<Dropped>);

/// Why a whole LLM answer was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unusable LLM output: {0}")]
pub struct OutputError(pub String);

/// A memory shown to the reconciliation model, under a short key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Key shown to the model: `"0"`, `"1"`, ...
    pub key: String,
    /// Memory text.
    pub text: String,
}

/// A validated reconciliation decision. `target` indexes the candidate list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Store a new memory.
    Add {
        /// The memory text.
        text: String,
    },
    /// Replace the text of candidate `target`.
    Update {
        /// Index into the candidates.
        target: usize,
        /// The new text.
        text: String,
    },
    /// Delete candidate `target`, optionally replaced by a new memory.
    Delete {
        /// Index into the candidates.
        target: usize,
        /// Text of the memory that supersedes it, if any.
        replacement: Option<String>,
    },
    /// Nothing to do (the fact is already known).
    None,
}

/// A decision the validator dropped, and why (logged and counted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// Why it was dropped.
    pub reason: String,
    /// The item as the model wrote it (truncated).
    pub raw: String,
}

fn clean_text(v: Option<&Value>) -> Option<String> {
    let s = v?.as_str()?;
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let s = s
        .trim_matches(|c: char| c == '"' || c == '\'' || c == '-' || c == '•' || c.is_whitespace());
    if s.is_empty() || s.contains('\0') {
        return None;
    }
    Some(s.chars().take(MAX_TEXT_CHARS).collect())
}

pub(crate) fn parse_object(text: &str) -> Result<serde_json::Map<String, Value>, OutputError> {
    let t = text.trim();
    // Tolerate a Markdown code fence around the JSON (unconstrained models).
    let t = t
        .strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .map(|r| r.trim_end().trim_end_matches("```").trim())
        .unwrap_or(t);
    match serde_json::from_str::<Value>(t) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(OutputError("expected a JSON object".into())),
        Err(e) => Err(OutputError(format!("not JSON: {e}"))),
    }
}

fn raw(v: &Value) -> String {
    let s = v.to_string();
    s.chars().take(200).collect()
}

/// Parses `{"facts": [string, ...]}`: trims and normalises whitespace, drops
/// empty, question and duplicate (case-insensitive) facts, keeps at most
/// [`MAX_FACTS`].
///
/// ```
/// use memlayer::llm_output::parse_facts;
/// let f = parse_facts(r#"{"facts": ["Likes tea", " likes  TEA ", "", "Is it raining?", "Lives in Oslo"]}"#).unwrap();
/// assert_eq!(f, vec!["Likes tea", "Lives in Oslo"]);
/// assert!(parse_facts("not json").is_err());
/// ```
pub fn parse_facts(text: &str) -> Result<Vec<String>, OutputError> {
    let o = parse_object(text)?;
    let Some(Value::Array(items)) = o.get("facts") else {
        return Err(OutputError("missing `facts` array".into()));
    };
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for it in items {
        if out.len() == MAX_FACTS {
            break;
        }
        // Questions are not facts (small models echo the user's questions).
        if let Some(f) = clean_text(Some(it)).filter(|f| !f.ends_with('?'))
            && seen.insert(f.to_lowercase())
        {
            out.push(f);
        }
    }
    Ok(out)
}

/// A fact's content words: [`memlayer_text::words`] of 3+ letters that are
/// neither stop words nor generic ([`memlayer_text::GENERIC_WORDS`]), and
/// numbers of any length ("Age is 34" is grounded by "I'm 34").
fn content_words(s: &str) -> Vec<String> {
    memlayer_text::words(s)
        .filter(|w| {
            w.chars().any(|c| c.is_ascii_digit())
                || (w.chars().count() >= 3
                    && !memlayer_text::is_stop_word(w)
                    && !memlayer_text::GENERIC_WORDS.contains(&w.as_str()))
        })
        .collect()
}

/// Whether a fact is grounded in the source text: at least one of its
/// content words occurs in the source, as written or as its stem
/// ([`memlayer_text::stem`], for inflections: "hiking" / "I hike"), or its
/// first five letters do (longer derivations: "engineering" / "engineer").
/// Facts without content words count as grounded. Small models sometimes
/// copy facts from the prompt's examples; this drops them.
///
/// ```
/// use memlayer::llm_output::is_grounded;
/// assert!(is_grounded("Works as a dentist", "I work as a dentist."));
/// assert!(is_grounded("Has two cats", "We adopted two kittens, both cats."));
/// assert!(is_grounded("Enjoys hiking", "I love to hike."));
/// assert!(!is_grounded("Name is Tom", "I work as a dentist."));
/// assert!(is_grounded("Age is 34", "By the way, I'm 34 years old."));
/// assert!(!is_grounded("Age is 35", "By the way, I'm 34 years old."));
/// ```
pub fn is_grounded(fact: &str, source: &str) -> bool {
    let words = content_words(fact);
    if words.is_empty() {
        return true;
    }
    let src = source.to_lowercase();
    words.iter().any(|w| {
        let prefix: String = w.chars().take(5).collect();
        src.contains(w.as_str())
            || src.contains(memlayer_text::stem(w).as_str())
            || src.contains(prefix.as_str())
    })
}

/// Parses `{"task": string, "steps": [string, ...]}` into one numbered
/// text: `"Task: ...\n1. ...\n2. ..."`.
pub fn parse_procedural(text: &str) -> Result<String, OutputError> {
    let o = parse_object(text)?;
    let task = clean_text(o.get("task")).ok_or_else(|| OutputError("missing `task`".into()))?;
    let Some(Value::Array(steps)) = o.get("steps") else {
        return Err(OutputError("missing `steps` array".into()));
    };
    let steps: Vec<String> = steps.iter().filter_map(|s| clean_text(Some(s))).collect();
    if steps.is_empty() {
        return Err(OutputError("no usable steps".into()));
    }
    let mut s = format!("Task: {task}");
    for (i, st) in steps.iter().enumerate() {
        s.push_str(&format!("\n{}. {st}", i + 1));
    }
    Ok(s)
}

/// Parses and validates `{"decisions": [{"memory", "op", "text"}, ...]}`
/// (`id` / `event`, Mem0's key names, are read too)
/// against the candidates shown to the model. The model writes one decision
/// per new fact, in order; each returned decision carries the position of
/// its item (= the fact it answers).
///
/// Dropped (with a reason): unknown events, ids that are not a shown
/// candidate key (for UPDATE/DELETE), empty texts where one is needed, a
/// second decision on a candidate already decided. An UPDATE whose text
/// equals the candidate's becomes NONE; an ADD whose text equals a
/// candidate's (case-insensitive) becomes NONE, as does a repeated ADD.
///
/// ```
/// use memlayer::llm_output::{parse_decisions, Candidate, Decision};
/// let c = vec![Candidate { key: "0".into(), text: "Lives in Berlin".into() }];
/// let (d, dropped) = parse_decisions(
///     r#"{"decisions": [{"memory": "0", "op": "UPDATE", "text": "Lives in Lisbon"},
///                       {"event": "DELETE", "id": "7", "text": ""}]}"#, &c).unwrap();
/// assert_eq!(d, vec![(0, Decision::Update { target: 0, text: "Lives in Lisbon".into() })]);
/// assert_eq!(dropped.len(), 1); // id 7 was never shown
/// ```
pub fn parse_decisions(text: &str, candidates: &[Candidate]) -> Result<Parsed, OutputError> {
    let o = parse_object(text)?;
    let items = match o.get("decisions").or_else(|| o.get("memory")) {
        Some(Value::Array(a)) => a,
        _ => return Err(OutputError("missing `decisions` array".into())),
    };
    let mut decided = vec![false; candidates.len()];
    let mut added = std::collections::HashSet::new();
    let mut out = Vec::new();
    let mut dropped = Vec::new();
    let mut drop = |reason: &str, v: &Value| {
        dropped.push(Dropped {
            reason: reason.to_string(),
            raw: raw(v),
        })
    };
    for (pos, it) in items.iter().enumerate() {
        let Value::Object(d) = it else {
            drop("not an object", it);
            continue;
        };
        let event = d
            .get("op")
            .or_else(|| d.get("event"))
            .and_then(Value::as_str)
            .map(|s| s.trim().to_ascii_uppercase())
            .unwrap_or_default();
        let target = d
            .get("memory")
            .or_else(|| d.get("id"))
            .and_then(|v| match v {
                Value::String(s) => Some(s.trim().to_string()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .and_then(|k| candidates.iter().position(|c| c.key == k));
        let text = clean_text(d.get("text"));
        let same_as = |t: &str| {
            candidates
                .iter()
                .position(|c| c.text.trim().eq_ignore_ascii_case(t))
        };
        match event.as_str() {
            "NONE" => out.push((pos, Decision::None)),
            "ADD" => match text {
                None => drop("ADD without text", it),
                Some(t) => {
                    if same_as(&t).is_some() || !added.insert(t.to_lowercase()) {
                        out.push((pos, Decision::None));
                    } else {
                        out.push((pos, Decision::Add { text: t }));
                    }
                }
            },
            "UPDATE" | "DELETE" => {
                let Some(target) = target else {
                    drop("id is not one of the memories shown", it);
                    continue;
                };
                if decided[target] {
                    drop("memory already has a decision", it);
                    continue;
                }
                if event == "UPDATE" {
                    match text {
                        None => {
                            drop("UPDATE without text", it);
                            continue;
                        }
                        Some(t) if t.eq_ignore_ascii_case(candidates[target].text.trim()) => {
                            out.push((pos, Decision::None))
                        }
                        Some(t) => out.push((pos, Decision::Update { target, text: t })),
                    }
                } else {
                    let replacement =
                        text.filter(|t| same_as(t).is_none() && added.insert(t.to_lowercase()));
                    out.push((
                        pos,
                        Decision::Delete {
                            target,
                            replacement,
                        },
                    ));
                }
                decided[target] = true;
            }
            _ => drop("unknown event", it),
        }
    }
    Ok((out, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cands() -> Vec<Candidate> {
        ["Lives in Berlin", "Likes pizza"]
            .iter()
            .enumerate()
            .map(|(i, t)| Candidate {
                key: i.to_string(),
                text: t.to_string(),
            })
            .collect()
    }

    #[test]
    fn every_event_path() {
        let (d, dropped) = parse_decisions(
            r#"{"decisions": [
                {"memory": "0", "op": "UPDATE", "text": "Lives in Lisbon"},
                {"memory": "1", "op": "NONE", "text": "Likes pizza"},
                {"event": "ADD", "id": "new", "text": "Has a dog"},
                {"event": "delete", "id": "1", "text": "Hates pizza now"}
            ]}"#,
            &cands(),
        )
        .unwrap();
        assert!(dropped.is_empty(), "{dropped:?}");
        assert_eq!(
            d,
            vec![
                (
                    0,
                    Decision::Update {
                        target: 0,
                        text: "Lives in Lisbon".into()
                    }
                ),
                (1, Decision::None),
                (
                    2,
                    Decision::Add {
                        text: "Has a dog".into()
                    }
                ),
                (
                    3,
                    Decision::Delete {
                        target: 1,
                        replacement: Some("Hates pizza now".into())
                    }
                ),
            ]
        );
    }

    #[test]
    fn hallucinations_and_garbage_are_dropped() {
        let (d, dropped) = parse_decisions(
            r#"{"decisions": [
                {"event": "UPDATE", "id": "5", "text": "x"},
                {"event": "DELETE", "id": "019300000000"},
                {"event": "MERGE", "id": "0", "text": "x"},
                {"event": "UPDATE", "id": "0", "text": "   "},
                {"event": "ADD", "id": "new", "text": "likes PIZZA"},
                {"event": "UPDATE", "id": "0", "text": "Lives in Rome"},
                {"event": "DELETE", "id": "0", "text": ""},
                "junk", 7, null
            ]}"#,
            &cands(),
        )
        .unwrap();
        assert_eq!(
            d,
            vec![
                (4, Decision::None),
                (
                    5,
                    Decision::Update {
                        target: 0,
                        text: "Lives in Rome".into()
                    }
                )
            ]
        );
        assert_eq!(dropped.len(), 8);
        for bad in [
            "",
            "[]",
            "{}",
            "{\"decisions\": 3}",
            "null",
            "```json\n{\"x\":1}\n```",
        ] {
            assert!(parse_decisions(bad, &cands()).is_err(), "{bad}");
        }
    }

    #[test]
    fn facts_and_procedural() {
        assert_eq!(
            parse_facts(r#"{"facts": []}"#).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            parse_facts("```json\n{\"facts\": [\"- Is vegan\"]}\n```").unwrap(),
            vec!["Is vegan"]
        );
        assert!(parse_facts(r#"{"facts": "x"}"#).is_err());
        let p = parse_procedural(
            r#"{"task": "Book a flight", "steps": ["Searched flights", "Paid 120 EUR"]}"#,
        )
        .unwrap();
        assert_eq!(
            p,
            "Task: Book a flight\n1. Searched flights\n2. Paid 120 EUR"
        );
        assert!(parse_procedural(r#"{"task": "x", "steps": []}"#).is_err());
    }
}
