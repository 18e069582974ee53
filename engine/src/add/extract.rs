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

/// Splits facts into those grounded in the transcript and those not (small
/// models copy the prompt's examples; see [`llm_output::is_grounded`]).
pub(crate) fn ground(facts: Vec<String>, transcript: &str) -> (Vec<String>, Vec<String>) {
    facts
        .into_iter()
        .partition(|f| llm_output::is_grounded(f, transcript))
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
    fn grounding_drops_copied_facts() {
        let (kept, dropped) = ground(
            vec!["Works as a dentist".into(), "Name is Tom".into()],
            "user: I work as a dentist.",
        );
        assert_eq!(kept, ["Works as a dentist"]);
        assert_eq!(dropped, ["Name is Tom"]);
    }
}
