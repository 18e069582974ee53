//! Tool results: the engine's JSON response (Mem0's shapes) as structured
//! content, a readable summary for the model, and errors as tool errors
//! that carry the engine's code and suggestion.

use memlayer::{AddResult, HistoryEvent, MemoryError, MemoryItem, Relation, RelationRecord};
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Value, json};

/// A successful result: `summary` for the reader, `value` (a JSON object)
/// as structured content and as a second text block for clients that only
/// read text.
pub fn success(summary: String, value: Value) -> CallToolResult {
    let mut r = CallToolResult::structured(value.clone());
    r.content = vec![
        ContentBlock::text(summary),
        ContentBlock::text(value.to_string()),
    ];
    r
}

/// A failed call: `{"error": {code, message, suggestion}}` with
/// `isError: true`; nothing about the server changes.
pub fn failure(e: &MemoryError) -> CallToolResult {
    error_result(e.code().as_str(), &e.report(), e.suggestion())
}

/// A tool error from its parts.
pub fn error_result(code: &str, message: &str, suggestion: &str) -> CallToolResult {
    let value = json!({"error": {"code": code, "message": message, "suggestion": suggestion}});
    let mut r = CallToolResult::structured_error(value.clone());
    r.content = vec![
        ContentBlock::text(format!("error ({code}): {message}\nhint: {suggestion}")),
        ContentBlock::text(value.to_string()),
    ];
    r
}

/// `add_memory`: one line per change.
pub fn add_summary(r: &AddResult) -> String {
    if r.results.is_empty() {
        return "Nothing stored: no new personal facts (or only facts already remembered)."
            .to_string();
    }
    let mut s = format!("{} change(s):", r.results.len());
    for e in &r.results {
        let kind = e.event.as_str();
        s.push_str(&format!("\n- {kind} {} (id {})", e.memory, e.id));
        if let Some(p) = &e.previous_memory {
            s.push_str(&format!(", was: {p}"));
        }
        if let Some(by) = &e.superseded_by {
            s.push_str(&format!(", superseded by {by}"));
        }
    }
    if let Some(g) = &r.relations {
        for rel in &g.added_entities {
            s.push_str(&format!("\n- relation {}", relation(rel)));
        }
        for rel in &g.deleted_entities {
            s.push_str(&format!("\n- relation invalidated {}", relation(rel)));
        }
    }
    s
}

/// A list of memories, numbered, with scores when searched.
pub fn items_summary(what: &str, items: &[MemoryItem], relations: Option<&[Relation]>) -> String {
    let mut s = match items.len() {
        0 => format!("No {what} found."),
        1 => format!(
            "1 {}:",
            what.strip_suffix("ies")
                .map_or_else(|| what.to_string(), |w| format!("{w}y"))
        ),
        n => format!("{n} {what}:"),
    };
    for (i, m) in items.iter().enumerate() {
        s.push_str(&format!("\n{}. {}", i + 1, m.memory));
        match m.score {
            Some(score) => s.push_str(&format!(" (score {score:.2}, id {})", m.id)),
            None => s.push_str(&format!(" (id {})", m.id)),
        }
        if let Some(by) = &m.superseded_by {
            s.push_str(&format!(" [superseded by {by}]"));
        }
    }
    if let Some(rels) = relations.filter(|r| !r.is_empty()) {
        s.push_str("\nRelations:");
        for r in rels {
            s.push_str(&format!("\n- {}", relation(r)));
        }
    }
    s
}

/// One memory.
pub fn item_summary(m: &MemoryItem) -> String {
    let mut s = format!(
        "{} (id {}, created {}, updated {})",
        m.memory, m.id, m.created_at, m.updated_at
    );
    if let Some(at) = &m.superseded_at {
        s.push_str(&format!(", superseded at {at}"));
    }
    s
}

/// A memory's history, oldest first.
pub fn history_summary(events: &[HistoryEvent]) -> String {
    let mut s = format!("{} event(s):", events.len());
    for e in events {
        let kind = e.event.as_str();
        s.push_str(&format!("\n- {kind} at {}", e.event_at));
        match (&e.old_memory, &e.new_memory) {
            (Some(old), Some(new)) => s.push_str(&format!(": {old} -> {new}")),
            (None, Some(new)) => s.push_str(&format!(": {new}")),
            (Some(old), None) => s.push_str(&format!(": {old}")),
            (None, None) => {}
        }
    }
    s
}

/// `source -relationship-> destination`.
pub fn relation(r: &Relation) -> String {
    format!("{} -{}-> {}", r.source, r.relationship, r.destination)
}

/// Stored relations, one per line.
pub fn records_summary(records: &[RelationRecord]) -> String {
    if records.is_empty() {
        return "No relations found.".to_string();
    }
    let mut s = format!("{} relation(s):", records.len());
    for r in records {
        s.push_str(&format!(
            "\n- {} -{}-> {}{}",
            r.source,
            r.relationship,
            r.destination,
            if r.valid { "" } else { " (invalidated)" }
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn errors_carry_code_and_suggestion() {
        let e = MemoryError::NotFound { id: "x".into() };
        let r = failure(&e);
        assert_eq!(r.is_error, Some(true));
        let v = r.structured_content.unwrap();
        assert_eq!(v["error"]["code"], "not_found");
        assert!(v["error"]["suggestion"].as_str().unwrap().len() > 10);
    }

    #[test]
    fn success_has_text_and_structure() {
        let r = success("ok".into(), json!({"results": []}));
        assert_eq!(r.is_error, Some(false));
        assert_eq!(r.content.len(), 2);
        assert_eq!(r.structured_content.unwrap()["results"], json!([]));
    }

    #[test]
    fn counts_agree_in_number() {
        assert!(items_summary("memories", &[], None).starts_with("No memories"));
        let m = MemoryItem {
            id: "i".into(),
            memory: "Likes tea".into(),
            hash: String::new(),
            metadata: Default::default(),
            score: Some(0.5),
            created_at: String::new(),
            updated_at: String::new(),
            user_id: None,
            agent_id: None,
            run_id: None,
            actor_id: None,
            role: None,
            memory_type: None,
            expiration_date: None,
            superseded_at: None,
            superseded_by: None,
            explain: None,
        };
        assert!(items_summary("memories", std::slice::from_ref(&m), None).starts_with("1 memory:"));
        assert!(items_summary("memories", &[m.clone(), m], None).starts_with("2 memories:"));
    }

    #[test]
    fn empty_add_says_nothing_was_stored() {
        assert!(add_summary(&AddResult::default()).starts_with("Nothing stored"));
    }
}
