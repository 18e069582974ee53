//! Property checks of the engine's input boundary and LLM-output validation.

use memlayer::graph_llm::{
    MAX_GRAPH_ITEMS, MAX_GRAPH_NAME, normalize_entity, normalize_relationship, parse_extraction,
    parse_outdated,
};
use memlayer::llm_output::{
    Candidate, Decision, MAX_FACTS, MAX_TEXT_CHARS, parse_decisions, parse_facts, parse_procedural,
};
use memlayer::{MAX_MESSAGE_BYTES, MAX_TOTAL_BYTES, Messages};

/// Arbitrary bytes as JSON messages: `Messages::from_json` + `normalize`
/// return `Ok` or a validation error, never panic; what they accept obeys
/// every documented limit.
pub fn check_messages(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let candidates = [
        serde_json::from_str::<serde_json::Value>(text).ok(),
        Some(serde_json::Value::String(text.to_string())),
    ];
    for v in candidates.into_iter().flatten() {
        let Ok(m) = Messages::from_json(&v) else {
            continue;
        };
        let Ok(list) = m.normalize() else { continue };
        assert!(!list.is_empty());
        let mut total = 0;
        for msg in &list {
            assert!(matches!(msg.role.as_str(), "user" | "assistant" | "system"));
            assert!(!msg.content.is_empty() && msg.content.trim() == msg.content);
            assert!(!msg.content.contains('\0'));
            assert!(msg.content.len() <= MAX_MESSAGE_BYTES);
            total += msg.content.len();
            if let Some(n) = &msg.name {
                assert!(
                    !n.is_empty() && !n.chars().any(char::is_whitespace),
                    "{n:?}"
                );
            }
        }
        assert!(total <= MAX_TOTAL_BYTES);
    }
}

/// Arbitrary bytes as a model answer. The first byte picks how many
/// candidates (0..=7) were shown. Whatever the text, the parsers return an
/// error or decisions that only target shown candidates, at most once each,
/// with non-empty bounded texts.
pub fn check_llm_output(data: &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let candidates: Vec<Candidate> = (0..usize::from(n % 8))
        .map(|i| Candidate {
            key: i.to_string(),
            text: format!("memory number {i}"),
        })
        .collect();
    let ok_text =
        |t: &str| !t.trim().is_empty() && t.chars().count() <= MAX_TEXT_CHARS && !t.contains('\0');
    if let Ok((decisions, _dropped)) = parse_decisions(&text, &candidates) {
        let mut seen = vec![false; candidates.len()];
        let mut last_pos = None;
        for (pos, d) in decisions {
            assert!(last_pos.is_none_or(|p| p < pos), "positions increase");
            last_pos = Some(pos);
            match d {
                Decision::Add { text } => assert!(ok_text(&text)),
                Decision::Update { target, text } => {
                    assert!(target < candidates.len());
                    assert!(!std::mem::replace(&mut seen[target], true));
                    assert!(ok_text(&text));
                }
                Decision::Delete {
                    target,
                    replacement,
                } => {
                    assert!(target < candidates.len());
                    assert!(!std::mem::replace(&mut seen[target], true));
                    if let Some(r) = replacement {
                        assert!(ok_text(&r));
                    }
                }
                Decision::None => {}
            }
        }
    }
    if let Ok(facts) = parse_facts(&text) {
        assert!(facts.len() <= MAX_FACTS);
        let mut lower: Vec<String> = facts.iter().map(|f| f.to_lowercase()).collect();
        assert!(facts.iter().all(|f| ok_text(f)));
        lower.sort();
        lower.dedup();
        assert_eq!(lower.len(), facts.len(), "facts are unique");
    }
    if let Ok(p) = parse_procedural(&text) {
        assert!(p.starts_with("Task: ") && p.contains("\n1. "));
    }
    // Graph answers: bounded, normalised, no self-loops, no duplicates;
    // outdated ids only among the `n % 8` shown relations.
    if let Ok(x) = parse_extraction(&text) {
        assert!(x.entities.len() <= MAX_GRAPH_ITEMS && x.relations.len() <= MAX_GRAPH_ITEMS);
        let mut seen = std::collections::HashSet::new();
        for r in &x.relations {
            let (s, d) = (
                normalize_entity(&r.source),
                normalize_entity(&r.destination),
            );
            assert!(!s.is_empty() && !d.is_empty() && s != d);
            assert!(s.len() <= MAX_GRAPH_NAME && d.len() <= MAX_GRAPH_NAME);
            assert!(!r.relationship.is_empty() && r.relationship.len() <= MAX_GRAPH_NAME);
            assert_eq!(normalize_relationship(&r.relationship), r.relationship);
            assert!(seen.insert((s, r.relationship.clone(), d)), "unique");
        }
    }
    if let Ok((ids, _)) = parse_outdated(&text, usize::from(n % 8)) {
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len());
        assert!(ids.iter().all(|&i| i < usize::from(n % 8)));
    }
}
