//! Stage 1 of `add(infer)`: whose facts are extracted, from which messages,
//! and which extracted facts survive the grounding check.

use memlayer_store::Scope;

use crate::llm_output;
use crate::messages::{Message, transcript};
use crate::prompts::FactSubject;

/// The messages facts are extracted from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Source {
    /// Whose facts: the user's, or the agent's own.
    pub(crate) subject: FactSubject,
    /// The role of the subject's messages (`user` / `assistant`), stored on
    /// the memories written.
    pub(crate) role: &'static str,
    /// The subject's messages only, as one transcript.
    pub(crate) transcript: String,
}

/// Chooses the subject and keeps only its messages: the agent's own facts
/// when only `agent_id` is set and the assistant spoke, else the user's.
/// `None` when the subject said nothing (no LLM call is needed).
///
/// Only the subject's own messages are shown to the model: small models
/// otherwise take the other side's words as facts about the subject.
pub(crate) fn source(msgs: &[Message], scope: &Scope) -> Option<Source> {
    let agent = scope.user_id.is_none()
        && scope.agent_id.is_some()
        && msgs.iter().any(|m| m.role == "assistant");
    let (subject, role) = if agent {
        (FactSubject::Agent, "assistant")
    } else {
        (FactSubject::User, "user")
    };
    let own: Vec<Message> = msgs.iter().filter(|m| m.role == role).cloned().collect();
    if own.is_empty() {
        return None;
    }
    Some(Source {
        subject,
        role,
        transcript: transcript(&own),
    })
}

/// Tokens of the extraction prompt besides the conversation (system
/// prompt and examples), rounded up.
const EXTRACTION_OVERHEAD_TOKENS: usize = 1000;
/// Characters per token assumed when sizing windows: low enough for
/// non-English text, which tokenises less densely than English.
const CHARS_PER_TOKEN: usize = 3;

/// The most transcript characters one extraction call takes with a context
/// of `n_ctx` tokens of which `max_tokens` are kept for the answer (at
/// least 400 characters).
pub(crate) fn window_chars(n_ctx: usize, max_tokens: usize) -> usize {
    n_ctx
        .saturating_sub(max_tokens + EXTRACTION_OVERHEAD_TOKENS)
        .saturating_mul(CHARS_PER_TOKEN)
        .max(400)
}

/// Cuts a transcript (one message per line) into windows of at most
/// `max_chars` characters, at message boundaries; a longer message is cut
/// at word boundaries and each piece keeps its `role: ` label. A long
/// conversation is read window by window instead of being refused.
pub(crate) fn windows(transcript: &str, max_chars: usize) -> Vec<String> {
    let max_chars = max_chars.max(40);
    let mut pieces: Vec<String> = Vec::new();
    for line in transcript.lines() {
        if line.chars().count() <= max_chars {
            pieces.push(line.to_string());
            continue;
        }
        let (label, body) = match line.split_once(": ") {
            Some((l, b)) if l.len() < 32 => (format!("{l}: "), b),
            _ => (String::new(), line),
        };
        let room = max_chars.saturating_sub(label.chars().count()).max(20);
        let mut cur = String::new();
        for word in body.split_whitespace() {
            let word: String = word.chars().take(room).collect();
            if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > room {
                pieces.push(format!("{label}{cur}"));
                cur.clear();
            }
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(&word);
        }
        if !cur.is_empty() {
            pieces.push(format!("{label}{cur}"));
        }
    }
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    for p in pieces {
        if !cur.is_empty() && cur.chars().count() + 1 + p.chars().count() > max_chars {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push('\n');
        }
        cur.push_str(&p);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Splits facts into those grounded in the transcript and those not (small
/// models copy the prompt's examples; see [`llm_output::is_grounded`]).
pub(crate) fn ground(facts: Vec<String>, transcript: &str) -> (Vec<String>, Vec<String>) {
    facts
        .into_iter()
        .partition(|f| llm_output::is_grounded(f, transcript))
}

/// Object words that point back to something said before ("Gave it up",
/// "Packed everything up"): a short fact with one of them means nothing on
/// its own.
const POINTERS: &[&str] = &[
    "it",
    "them",
    "that",
    "this",
    "there",
    "those",
    "these",
    "everything",
];

/// Whether a fact is a fragment of the fact next to it: one word
/// ("Promoted"), or at most four words with a pointer word ("Gave it up").
pub(crate) fn is_fragment(fact: &str) -> bool {
    let words: Vec<String> = fact
        .split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect();
    words.len() == 1 || (words.len() <= 4 && words.iter().any(|w| POINTERS.contains(&w.as_str())))
}

/// Joins each fragment ([`is_fragment`]) to the fact before it (the one
/// after it when it comes first), so that "Packed everything up" + "Now
/// lives in Denver" becomes one memory instead of a memory that means
/// nothing. A lone fragment stays as it is.
pub(crate) fn join_fragments(facts: Vec<String>) -> Vec<String> {
    if facts.len() < 2 {
        return facts;
    }
    let join = super::supersede::join;
    let mut out: Vec<String> = Vec::with_capacity(facts.len());
    // Leading fragments wait for the first whole fact.
    let mut lead: Option<String> = None;
    for f in facts {
        if is_fragment(&f) {
            match out.last_mut() {
                Some(prev) => *prev = join(prev, &f),
                None => lead = Some(lead.map_or(f.clone(), |l| join(&l, &f))),
            }
            continue;
        }
        out.push(lead.take().map_or(f.clone(), |l| join(&l, &f)));
    }
    // Only fragments: keep them joined as one.
    out.extend(lead);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs(v: &[(&str, &str)]) -> Vec<Message> {
        v.iter()
            .map(|(r, c)| Message {
                role: r.to_string(),
                content: c.to_string(),
                name: None,
            })
            .collect()
    }

    #[test]
    fn subject_follows_scope_and_speakers() {
        let conv = msgs(&[
            ("user", "I like tea"),
            ("assistant", "I will remember that"),
        ]);
        // (scope, expected subject, expected role)
        let cases = [
            (Scope::user("u"), Some(FactSubject::User), "user"),
            (Scope::agent("a"), Some(FactSubject::Agent), "assistant"),
            (
                Scope::user("u").with_agent("a"),
                Some(FactSubject::User),
                "user",
            ),
            (Scope::run("r"), Some(FactSubject::User), "user"),
        ];
        for (scope, subject, role) in cases {
            let s = source(&conv, &scope);
            assert_eq!(s.as_ref().map(|s| s.subject), subject, "{scope:?}");
            assert_eq!(s.map(|s| s.role), Some(role));
        }
        // Only an agent id but no assistant message: the user's facts.
        let s = source(&msgs(&[("user", "I like tea")]), &Scope::agent("a")).unwrap();
        assert_eq!(s.subject, FactSubject::User);
        // The subject said nothing: nothing to extract.
        assert!(source(&msgs(&[("assistant", "hello")]), &Scope::user("u")).is_none());
    }

    #[test]
    fn transcript_holds_only_the_subjects_messages() {
        let conv = msgs(&[("user", "I live in Oslo"), ("assistant", "Paris is nice")]);
        let s = source(&conv, &Scope::user("u")).unwrap();
        assert!(s.transcript.contains("Oslo"));
        assert!(!s.transcript.contains("Paris"));
    }

    #[test]
    fn windows_cut_at_messages_and_words_and_lose_nothing() {
        let t = "user: I live in Oslo\nuser: I have a cat\nuser: I work as a nurse";
        // Everything fits: one window, unchanged.
        assert_eq!(windows(t, 1000), vec![t.to_string()]);
        // Two messages per window at most.
        let w = windows(t, 40);
        assert_eq!(
            w,
            vec![
                "user: I live in Oslo\nuser: I have a cat".to_string(),
                "user: I work as a nurse".to_string()
            ]
        );
        // One long message is cut at words; each piece keeps its label.
        let long = format!("user: {}", "word ".repeat(30).trim());
        let w = windows(&long, 50);
        assert!(w.len() > 1);
        for piece in &w {
            assert!(piece.starts_with("user: "), "{piece}");
            assert!(piece.chars().count() <= 50, "{piece}");
        }
        let words: usize = w.iter().map(|p| p.matches("word").count()).sum();
        assert_eq!(words, 30);
        assert!(windows("", 100).is_empty());
    }

    #[test]
    fn window_size_follows_the_context() {
        assert_eq!(window_chars(4096, 512), (4096 - 512 - 1000) * 3);
        assert_eq!(window_chars(1024, 512), 400);
    }

    #[test]
    fn fragments_join_the_fact_next_to_them() {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            join_fragments(v(&["Packed everything up", "Now lives in Denver"])),
            v(&["Packed everything up; Now lives in Denver"])
        );
        assert_eq!(
            join_fragments(v(&[
                "Does not play the guitar",
                "Gave it up",
                "Lives in Oslo"
            ])),
            v(&["Does not play the guitar; Gave it up", "Lives in Oslo"])
        );
        assert_eq!(
            join_fragments(v(&["Promoted", "Is the manager of the design team"])),
            v(&["Promoted; Is the manager of the design team"])
        );
        // Whole facts and a lone fragment stay as they are.
        assert_eq!(
            join_fragments(v(&["Is vegetarian", "Has a dog named Rex"])),
            v(&["Is vegetarian", "Has a dog named Rex"])
        );
        assert_eq!(join_fragments(v(&["Loves it"])), v(&["Loves it"]));
        assert_eq!(
            join_fragments(v(&["Loves it", "Likes that"])),
            v(&["Loves it; Likes that"])
        );
        assert!(is_fragment("Promoted"));
        assert!(!is_fragment("Is vegetarian"));
        assert!(!is_fragment("Has a dog that barks at night"));
    }

    #[test]
    fn grounding_drops_copied_facts() {
        let (kept, dropped) = ground(
            vec!["Works as a dentist".into(), "Name is Tom".into()],
            "user: I work as a dentist.",
        );
        assert_eq!(kept, ["Works as a dentist"]);
        assert_eq!(dropped, ["Name is Tom"]);
    }
}
