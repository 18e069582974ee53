//! The prompts and JSON Schemas of the LLM pipeline. Our own wording,
//! written for 0.5B-class local models: short rules, few-shot examples as
//! real chat turns, and grammar-constrained JSON answers. The system prompt
//! and examples of each call are fixed, so the model's prompt-prefix cache
//! reuses their KV state from one `add` to the next.

use memlayer_models::ChatMessage;
use serde_json::{Value, json};

/// Fact extraction about the user (from the user's messages).
pub const USER_FACTS_PROMPT: &str = "You read a conversation between a user and an AI assistant and write down \
durable facts about the USER that are worth remembering for future conversations: name, age, home, job, \
family, friends, pets, health and allergies, diet, likes and dislikes, hobbies, habits, plans and goals.\n\
Rules:\n\
- Use only what the user says about themselves. Never take facts from the assistant's replies.\n\
- Ignore greetings, small talk, questions, thanks and one-off requests: they are not facts.\n\
- Never write general knowledge, answers or calculations: only what the user says about their own life.\n\
- One fact per item, a short phrase about the user in the third person without the word 'user', \
e.g. \"Is vegetarian\", \"Lives in Oslo\", \"Has a dog named Rex\".\n\
- A fact about another person (family, friend, partner, coworker) starts with who it is about, \
e.g. \"Brother Ivan lives in Kyiv\", never just \"Lives in Kyiv\".\n\
- Keep names, places, numbers and details exactly as said. Keep the language the user wrote in.\n\
- If there is nothing worth remembering, answer {\"facts\": []}.\n\
Answer with JSON only.";

/// Fact extraction about the agent (from the assistant's messages), used
/// when only `agent_id` is set.
pub const AGENT_FACTS_PROMPT: &str = "You read a conversation between a user and an AI assistant and write down \
durable facts about the ASSISTANT itself that it states in its own messages: its name, role, purpose, \
skills, rules it follows, style and preferences.\n\
Rules:\n\
- Use only what the assistant says about itself. Ignore facts about the user.\n\
- Ignore greetings, small talk and answers to one-off questions.\n\
- One fact per item, a short phrase in the third person, e.g. \"Is a travel assistant\", \
\"Always answers in French\".\n\
- If there is nothing worth remembering, answer {\"facts\": []}.\n\
Answer with JSON only.";

/// Reconciliation of new facts with the existing memories they resemble.
pub const RECONCILE_PROMPT: &str = "You keep an AI assistant's memory about a person up to date. You get the \
existing memories, each with an id, and a numbered list of new facts. Write exactly one decision per new \
fact, in the same order as the facts. First pick `memory`: the id of the existing memory about the same thing \
(the same job, home, diet, relationship, preference...) or \"new\" if there is none; then `op`:\n\
- NONE: that memory already says the same thing.\n\
- UPDATE: the fact is about the same thing as that memory and adds detail or changes it \
(a new city, a new job, a changed preference, more precise information). text = the full corrected memory, \
keeping what is still true.\n\
- DELETE: the fact says that memory is no longer true. text = the new fact that replaces it, \
or \"\" if nothing replaces it.\n\
- ADD: memory = \"new\": the fact is new information not covered by any memory. text = the fact.\n\
Only use ids from the list. Answer with JSON only.";

/// Supersession as classification: how one new fact relates to one stored
/// memory, answered with one word (scored, not generated).
pub const SUPERSEDE_PROMPT: &str = "You compare a stored memory about a person with a new fact about the same \
person and answer with one word:\n\
same - the new fact says what the memory already says, in other words or with less detail.\n\
changed - both are about the same attribute (home, job, employer, relationship, diet, car, age, habit, \
preference...) and the new fact gives a new value or says the memory stopped being true: \
the memory is now outdated.\n\
detail - the new fact adds detail to the memory and the memory stays true.\n\
unrelated - they are about different things, or about different people, and both can be true.";

/// The personal-fact check: is an extracted fact about the user's life, or
/// general knowledge, an answer, a calculation or a request? Answered with
/// one word (scored, not generated).
pub const FACT_CHECK_PROMPT: &str = "You check facts that were written down from a user's message for a \
long-term memory about the user. Answer with one word:\n\
personal - the fact is about the user's own life or the people in it: who they are, where they live, \
work or study, family and friends, pets, health, diet, likes, habits, plans.\n\
general - anything else: general knowledge, an answer to a question, a calculation, a definition, \
or what the user asked for in this one message.";

/// Answers of the personal-fact check, scored; the first keeps the fact.
pub const FACT_CHECK_CHOICES: [&str; 2] = ["personal", "general"];

fn fact_check_turn(message: &str, fact: &str) -> String {
    format!("Message: {message}\nFact: {fact}")
}

/// The chat messages that ask whether `fact`, written down from `message`,
/// is a personal fact. The fixed part is shared by every call.
pub fn fact_check_messages(message: &str, fact: &str) -> Vec<ChatMessage> {
    let mut m = vec![ChatMessage::system(FACT_CHECK_PROMPT)];
    for (msg, fact, answer) in [
        (
            "I'm Tom and I work as a chef.",
            "Works as a chef",
            "personal",
        ),
        ("What is 9 times 6?", "9 times 6 equals 54", "general"),
        (
            "My sister lives in Rome.",
            "Sister lives in Rome",
            "personal",
        ),
        (
            "Who painted the Mona Lisa?",
            "The Mona Lisa was painted by Leonardo da Vinci",
            "general",
        ),
        (
            "Can you write me a poem about the sea?",
            "Wants a poem about the sea",
            "general",
        ),
        (
            "I've been learning Japanese for two years.",
            "Has been learning Japanese for two years",
            "personal",
        ),
        (
            "How far away is the Moon?",
            "The Moon is 384,400 km away",
            "general",
        ),
        (
            "I'm allergic to penicillin. What can I take instead?",
            "Is allergic to penicillin",
            "personal",
        ),
    ] {
        m.push(ChatMessage::user(fact_check_turn(msg, fact)));
        m.push(ChatMessage::assistant(answer));
    }
    m.push(ChatMessage::user(fact_check_turn(message, fact)));
    m
}

/// The attribution check: is a fact written down from a user's message
/// about the user, or about the other person the message names? Answered
/// with one word (scored, not generated).
pub const ATTRIBUTION_PROMPT: &str = "You check whom a fact is about. The fact was written down from \
a user's message that also talks about another person. Answer with one word:\n\
me - the fact is about the user who wrote the message.\n\
them - the fact is about the other person.";

/// Answers of the attribution check, scored; the second names the person.
pub const ATTRIBUTION_CHOICES: [&str; 2] = ["me", "them"];

/// The chat messages that ask whether `fact` is about the user or about
/// the other person; `message` is the user's message followed by a line
/// `Other person: …`. The fixed part is shared by every call.
pub fn attribution_messages(message: &str, fact: &str) -> Vec<ChatMessage> {
    let mut m = vec![ChatMessage::system(ATTRIBUTION_PROMPT)];
    for (msg, other, fact, answer) in [
        (
            "My uncle Ravi is a pilot and I'm a teacher.",
            "Uncle Ravi",
            "Is a pilot",
            "them",
        ),
        (
            "My uncle Ravi is a pilot and I'm a teacher.",
            "Uncle Ravi",
            "Is a teacher",
            "me",
        ),
        (
            "My girlfriend loves horror films. I can't stand them.",
            "Girlfriend",
            "Can't stand horror films",
            "me",
        ),
        (
            "My girlfriend loves horror films. I can't stand them.",
            "Girlfriend",
            "Loves horror films",
            "them",
        ),
    ] {
        m.push(ChatMessage::user(format!(
            "Message: {msg}\nOther person: {other}\nFact: {fact}"
        )));
        m.push(ChatMessage::assistant(answer));
    }
    m.push(ChatMessage::user(format!(
        "Message: {message}\nFact: {fact}"
    )));
    m
}

/// Summary of an agent's run as procedural memory.
pub const PROCEDURAL_PROMPT: &str = "You record what an AI agent did in a conversation so that it can \
repeat or resume the task later. Write the overall task, then the steps in order: for each step the \
action taken, the key inputs and what came out of it. Keep exact values (names, numbers, paths, URLs, \
errors). Leave out chit-chat. Answer with JSON only.";

/// JSON Schema of the fact-extraction answer.
pub fn facts_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["facts"],
        "properties": {
            "facts": {
                "type": "array",
                "maxItems": 12,
                "items": {"type": "string", "minLength": 1, "maxLength": 200}
            }
        }
    })
}

/// JSON Schema of the reconciliation answer, with the ids restricted to
/// `"new"` and the candidate keys shown to the model.
pub fn decisions_schema(keys: &[String], n_facts: usize) -> Value {
    let mut ids = vec![Value::from("new")];
    ids.extend(keys.iter().map(|k| Value::from(k.as_str())));
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["decisions"],
        "properties": {
            "decisions": {
                "type": "array",
                "minItems": n_facts,
                "maxItems": n_facts,
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    // llama.cpp's grammar writes keys in alphabetical
                    // order: `memory` < `op` < `text` is the order of
                    // reasoning (which memory, then what to do with it).
                    "required": ["memory", "op", "text"],
                    "properties": {
                        "memory": {"enum": ids},
                        "op": {"enum": ["ADD", "UPDATE", "DELETE", "NONE"]},
                        "text": {"type": "string", "maxLength": 300}
                    }
                }
            }
        }
    })
}

/// JSON Schema of the procedural summary.
pub fn procedural_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["task", "steps"],
        "properties": {
            "task": {"type": "string", "minLength": 1, "maxLength": 300},
            "steps": {
                "type": "array",
                "minItems": 1,
                "maxItems": 30,
                "items": {"type": "string", "minLength": 1, "maxLength": 400}
            }
        }
    })
}

fn conv(transcript: &str) -> String {
    format!("Conversation:\n{transcript}")
}

fn system(base: &str, custom_instructions: Option<&str>) -> ChatMessage {
    match custom_instructions.map(str::trim).filter(|s| !s.is_empty()) {
        Some(extra) => ChatMessage::system(format!("{base}\nAdditional instructions:\n{extra}")),
        None => ChatMessage::system(base),
    }
}

/// Which side of the conversation facts are taken from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FactSubject {
    /// Facts about the user, from user messages.
    User,
    /// Facts about the agent, from assistant messages.
    Agent,
}

/// The chat messages of a fact-extraction call. A custom prompt replaces
/// the system prompt and drops the built-in examples.
pub fn extraction_messages(
    subject: FactSubject,
    transcript: &str,
    custom_prompt: Option<&str>,
    custom_instructions: Option<&str>,
) -> Vec<ChatMessage> {
    if let Some(p) = custom_prompt.map(str::trim).filter(|s| !s.is_empty()) {
        return vec![
            system(p, custom_instructions),
            ChatMessage::user(conv(transcript)),
        ];
    }
    let mut m = Vec::with_capacity(12);
    match subject {
        FactSubject::User => {
            m.push(system(USER_FACTS_PROMPT, custom_instructions));
            for (t, a) in [
                ("user: Hi! How is your day going?", r#"{"facts": []}"#),
                (
                    "user: I'm Tom, I work as a chef in Madrid and I have two cats.",
                    r#"{"facts": ["Name is Tom", "Works as a chef", "Lives in Madrid", "Has two cats"]}"#,
                ),
                (
                    "user: Can you explain how rainbows form? And what is 7 times 8?",
                    r#"{"facts": []}"#,
                ),
                (
                    "user: I stopped eating meat last month, so I'm vegetarian now.",
                    r#"{"facts": ["Is vegetarian since last month"]}"#,
                ),
                (
                    "user: I switched jobs. I'm a nurse at the city hospital now.",
                    r#"{"facts": ["Works as a nurse at the city hospital"]}"#,
                ),
                (
                    "user: My sister Ana is getting married in June.\nuser: Oh, and I'm allergic to shellfish.",
                    r#"{"facts": ["Has a sister named Ana", "Sister Ana is getting married in June", "Is allergic to shellfish"]}"#,
                ),
                (
                    "user: I play tennis, mostly doubles on Sunday mornings.",
                    r#"{"facts": ["Plays tennis, mostly doubles on Sunday mornings"]}"#,
                ),
            ] {
                m.push(ChatMessage::user(conv(t)));
                m.push(ChatMessage::assistant(a));
            }
        }
        FactSubject::Agent => {
            m.push(system(AGENT_FACTS_PROMPT, custom_instructions));
            for (t, a) in [
                (
                    "assistant: Hello! How can I help you today?",
                    r#"{"facts": []}"#,
                ),
                (
                    "assistant: I'm Max, a cooking assistant. I only suggest recipes with metric units.",
                    r#"{"facts": ["Name is Max", "Is a cooking assistant", "Uses metric units in recipes"]}"#,
                ),
                (
                    "assistant: The capital of Peru is Lima.",
                    r#"{"facts": []}"#,
                ),
            ] {
                m.push(ChatMessage::user(conv(t)));
                m.push(ChatMessage::assistant(a));
            }
        }
    }
    m.push(ChatMessage::user(conv(transcript)));
    m
}

fn reconcile_turn(existing: &[(String, String)], facts: &[String]) -> String {
    let mut s = String::from("Existing memories:\n");
    for (k, t) in existing {
        s.push_str(&format!("{k}: {t}\n"));
    }
    s.push_str("\nNew facts:\n");
    for (i, f) in facts.iter().enumerate() {
        s.push_str(&format!("{}. {f}\n", i + 1));
    }
    s
}

/// The chat messages of a reconciliation call. `existing` are (key, text)
/// pairs with keys `"0"`, `"1"`, ...
pub fn reconcile_messages(
    existing: &[(String, String)],
    facts: &[String],
    custom_prompt: Option<&str>,
    custom_instructions: Option<&str>,
) -> Vec<ChatMessage> {
    let turn = reconcile_turn(existing, facts);
    if let Some(p) = custom_prompt.map(str::trim).filter(|s| !s.is_empty()) {
        return vec![system(p, custom_instructions), ChatMessage::user(turn)];
    }
    let ex = |e: &[(&str, &str)], f: &[&str]| {
        reconcile_turn(
            &e.iter()
                .map(|(k, t)| (k.to_string(), t.to_string()))
                .collect::<Vec<_>>(),
            &f.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
    };
    vec![
        system(RECONCILE_PROMPT, custom_instructions),
        ChatMessage::user(ex(
            &[("0", "Lives in Berlin"), ("1", "Likes pizza")],
            &["Moved to Lisbon", "Likes pizza", "Has a dog named Rex"],
        )),
        ChatMessage::assistant(
            r#"{"decisions": [{"memory": "0", "op": "UPDATE", "text": "Lives in Lisbon"}, {"memory": "1", "op": "NONE", "text": "Likes pizza"}, {"memory": "new", "op": "ADD", "text": "Has a dog named Rex"}]}"#,
        ),
        ChatMessage::user(ex(
            &[("0", "Likes tea"), ("1", "Works as a teacher")],
            &["Likes green tea the most", "Works as a nurse now"],
        )),
        ChatMessage::assistant(
            r#"{"decisions": [{"memory": "0", "op": "UPDATE", "text": "Likes tea, especially green tea"}, {"memory": "1", "op": "UPDATE", "text": "Works as a nurse"}]}"#,
        ),
        ChatMessage::user(ex(
            &[("0", "Is allergic to peanuts")],
            &["Has a peanut allergy"],
        )),
        ChatMessage::assistant(
            r#"{"decisions": [{"memory": "0", "op": "NONE", "text": "Is allergic to peanuts"}]}"#,
        ),
        ChatMessage::user(ex(
            &[("0", "Has a cat named Tom"), ("1", "Enjoys tennis")],
            &["Gave the cat Tom to a friend"],
        )),
        ChatMessage::assistant(r#"{"decisions": [{"memory": "0", "op": "DELETE", "text": ""}]}"#),
        ChatMessage::user(turn),
    ]
}

fn supersede_turn(memory: &str, fact: &str) -> String {
    format!("Memory: {memory}\nNew fact: {fact}")
}

/// The chat messages that ask how `fact` relates to `memory`; the answer
/// is one of `add::supersede::Relation::CHOICES`, scored. The fixed part
/// (system prompt and examples) is shared by every call, so its KV state
/// is evaluated once.
pub fn supersede_messages(memory: &str, fact: &str) -> Vec<ChatMessage> {
    let mut m = vec![ChatMessage::system(SUPERSEDE_PROMPT)];
    for (old, new, answer) in [
        ("Lives in Berlin", "Moved to Lisbon", "changed"),
        ("Is allergic to peanuts", "Has a peanut allergy", "same"),
        ("Has a dog", "Dog is a beagle named Rex", "detail"),
        ("Likes pizza", "Works as a nurse", "unrelated"),
        ("Is married to Ana", "Divorced Ana last year", "changed"),
        ("Lives in Oslo", "Sister Eva lives in Bergen", "unrelated"),
        ("Goes swimming on Fridays", "Stopped swimming", "changed"),
        ("Plays chess", "Plays chess online every evening", "detail"),
    ] {
        m.push(ChatMessage::user(supersede_turn(old, new)));
        m.push(ChatMessage::assistant(answer));
    }
    m.push(ChatMessage::user(supersede_turn(memory, fact)));
    m
}

/// The chat messages of a procedural-summary call.
pub fn procedural_messages(
    transcript: &str,
    custom_prompt: Option<&str>,
    custom_instructions: Option<&str>,
) -> Vec<ChatMessage> {
    let base = custom_prompt
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(PROCEDURAL_PROMPT);
    vec![
        system(base, custom_instructions),
        ChatMessage::user(conv(transcript)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_prefix_is_stable_across_calls() {
        // Prefix-cache reuse needs every message but the last to be identical.
        let a = extraction_messages(FactSubject::User, "user: a", None, None);
        let b = extraction_messages(FactSubject::User, "user: b", None, None);
        assert_eq!(a[..a.len() - 1], b[..b.len() - 1]);
        let a = reconcile_messages(&[("0".into(), "x".into())], &["y".into()], None, None);
        let b = reconcile_messages(&[], &["z".into()], None, None);
        assert_eq!(a[..a.len() - 1], b[..b.len() - 1]);
    }

    #[test]
    fn supersede_prefix_is_stable_and_asks_about_the_pair() {
        let a = supersede_messages("Lives in Rome", "Moved to Milan");
        let b = supersede_messages("Works as a chef", "Is a nurse");
        assert_eq!(a[..a.len() - 1], b[..b.len() - 1]);
        let last = &a[a.len() - 1].content;
        assert!(last.contains("Lives in Rome") && last.contains("Moved to Milan"));
    }

    #[test]
    fn custom_prompt_replaces_system_and_examples() {
        let m = extraction_messages(
            FactSubject::User,
            "user: a",
            Some("Only food."),
            Some("Be brief."),
        );
        assert_eq!(m.len(), 2);
        assert!(m[0].content.starts_with("Only food."));
        assert!(m[0].content.contains("Be brief."));
    }

    #[test]
    fn decisions_schema_lists_candidate_ids() {
        let s = decisions_schema(&["0".into(), "1".into()], 2);
        assert_eq!(
            s["properties"]["decisions"]["items"]["properties"]["memory"]["enum"],
            json!(["new", "0", "1"])
        );
    }
}
