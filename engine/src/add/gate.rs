//! Stage 0 of `add(infer)`: does the subject's text state anything about
//! them at all? Messages made only of questions, requests to the assistant,
//! greetings, thanks and laughter ("Who wrote Hamlet?", "Tell me a joke.",
//! "Thanks, bye!") carry no fact about the user, yet small models answer
//! them or copy them as facts ("Capital of Australia is Canberra"). Such a
//! message skips extraction (facts, and relations when graph memory is
//! on): no LLM call, nothing stored.
//!
//! A sentence counts as a statement when it is none of those, or when it
//! speaks about the user in the first person ("I'm", "my", "I have", …):
//! "Can I take ibuprofen with my penicillin allergy?" still goes through.

/// Words that open a request to the assistant.
const REQUESTS: &[&str] = &[
    "tell",
    "write",
    "translate",
    "explain",
    "give",
    "show",
    "format",
    "make",
    "list",
    "help",
    "summarize",
    "summarise",
    "describe",
    "calculate",
    "compute",
    "convert",
    "define",
    "find",
    "recommend",
    "suggest",
    "name",
    "draw",
    "generate",
    "compose",
    "create",
    "read",
    "rewrite",
    "fix",
    "check",
    "solve",
    "please",
];

/// Words of a greeting, thanks, agreement or laughter (a whole sentence of
/// them carries no fact).
const SMALL_TALK: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "hiya",
    "yo",
    "thanks",
    "thank",
    "you",
    "bye",
    "goodbye",
    "good",
    "morning",
    "evening",
    "night",
    "afternoon",
    "day",
    "lol",
    "haha",
    "hahaha",
    "ok",
    "okay",
    "cool",
    "nice",
    "great",
    "awesome",
    "one",
    "sure",
    "yes",
    "no",
    "yeah",
    "nope",
    "fine",
    "that's",
    "that",
    "was",
    "is",
    "funny",
    "helpful",
    "so",
    "very",
    "much",
    "a",
    "lot",
    "see",
    "later",
    "cheers",
    "ciao",
    "hola",
    "salut",
    "bonjour",
    "hallo",
    "olá",
    "ola",
    "gracias",
    "merci",
    "danke",
    "obrigado",
    "obrigada",
    "grazie",
    "adiós",
    "adios",
    "tschüss",
    "buenos",
    "días",
    "dias",
    "bom",
    "dia",
    "buongiorno",
    "wow",
    "oh",
    "ah",
    "hmm",
    "alright",
    "right",
    "got",
    "it",
    "perfect",
    "and",
    "too",
    "again",
    "everyone",
    "there",
    "all",
];

/// First-person words that make a sentence speak about the user, in the
/// languages the extraction prompt sees most. A bare "I" is not one of
/// them: "How long should I boil an egg?" states nothing.
const FIRST_PERSON: &[&str] = &[
    "my", "mine", "myself", "i'm", "im", "i've", "i'd", "i'll", "our", "ours", "we're", "we've",
    "mi", "mis", "mío", "mía", "soy", "estoy", "tengo", "vivo", "trabajo", "mon", "ma", "mes",
    "j'ai", "suis", "j'habite", "mein", "meine", "meinen", "meiner", "bin", "habe", "wohne", "meu",
    "minha", "sou", "estou", "moro", "mio", "mia", "miei", "sono", "ho", "abito",
];

/// First-person subject "I" followed by one of these states something
/// ("I have", "I live", "I work").
const I_STATES: &[&str] = &[
    "am", "have", "had", "live", "lived", "work", "worked", "like", "love", "hate", "own", "got",
    "was", "moved", "quit", "started", "prefer", "need", "want", "eat", "drink", "play", "study",
    "teach", "use", "drive", "take", "go", "run", "just", "always", "never", "usually", "don't",
    "can't", "won't", "recently", "finally", "also", "really", "still",
];

/// The sentences of `text`: cut after `.`, `!`, `?` and at line breaks.
fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut start = 0;
        for (i, c) in line.char_indices() {
            if matches!(c, '.' | '!' | '?') {
                let end = i + c.len_utf8();
                // Keep "?" with its sentence; skip "..." repeats.
                let s = line[start..end].trim();
                if s.chars().any(char::is_alphanumeric) {
                    out.push(s);
                }
                start = end;
            }
        }
        let s = line[start..].trim();
        if s.chars().any(char::is_alphanumeric) {
            out.push(s);
        }
    }
    out
}

/// The lowercase words of `s`, apostrophes kept ("i'm", "that's"; a
/// typographic apostrophe becomes `'`).
pub(crate) fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’'))
        .filter(|w| !w.is_empty())
        .map(|w| w.replace('’', "'").to_lowercase())
        .collect()
}

/// Whether the sentence speaks about the user in the first person.
fn first_person(w: &[String]) -> bool {
    w.iter().any(|x| FIRST_PERSON.contains(&x.as_str()))
        || w.windows(2)
            .any(|p| p[0] == "i" && I_STATES.contains(&p[1].as_str()))
}

/// Whether one sentence states something: not a question, request or
/// small talk, or any sentence in the first person.
fn states_something(sentence: &str) -> bool {
    let w = words(sentence);
    if w.is_empty() {
        return false;
    }
    if first_person(&w) {
        return true;
    }
    let question = sentence.trim_end().ends_with('?') || sentence.trim_start().starts_with('¿');
    let request = REQUESTS.contains(&w[0].as_str())
        || (w.len() > 1
            && matches!(w[0].as_str(), "can" | "could" | "would" | "will")
            && w[1] == "you");
    let small_talk = w.iter().all(|x| SMALL_TALK.contains(&x.as_str()));
    !(question || request || small_talk)
}

/// Whether the subject's text (one message per line, `role: ` labels
/// allowed) states anything about them; `false` means only questions,
/// requests and small talk.
pub(crate) fn states_facts(transcript: &str) -> bool {
    transcript
        .lines()
        .map(|l| match l.split_once(": ") {
            Some(("user" | "assistant", body)) => body,
            _ => l,
        })
        .flat_map(sentences)
        .any(states_something)
}

/// Verbs of a request that small models copy as a fact ("Reminds me to eat
/// dinner", "Tell me a joke").
const ASKS: &[&str] = &[
    "remind", "tell", "send", "show", "give", "help", "write", "bring", "find", "let", "wake",
];

/// Whether an extracted fact is a request to the assistant written as a
/// fact: a request verb with "me" as its object ("Reminds me to eat
/// dinner"), which says nothing lasting about the user. "Reminds me of my
/// grandmother" is not one.
pub(crate) fn is_request(fact: &str) -> bool {
    let w = words(fact);
    w.windows(2).enumerate().any(|(i, p)| {
        let verb = p[0].strip_suffix('s').unwrap_or(&p[0]);
        ASKS.contains(&verb) && p[1] == "me" && w.get(i + 2).is_none_or(|next| next != "of")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_requests_and_small_talk_state_nothing() {
        for t in [
            "user: Who wrote Hamlet?",
            "user: What is 17 times 23?",
            "user: Tell me a short joke.",
            "user: Write me a haiku about autumn.",
            "user: Translate 'good morning' into Spanish.",
            "user: Can you explain what a black hole is?",
            "user: Hi there! How are you today?",
            "user: Thanks, that was helpful. Bye!",
            "user: lol that's funny. Ok, what else can you do?",
            "user: haha 😂 nice one",
            "user: How long should I boil an egg for a soft yolk?",
            "user: ¿Qué tal? ¿Me cuentas un chiste?",
            "user: Quelle est la capitale du Canada ?",
            "user: Ciao! Come stai oggi?",
            "user: What's 12 squared?\nuser: And 144 divided by 9?",
            "",
        ] {
            assert!(!states_facts(t), "{t}");
        }
    }

    #[test]
    fn statements_and_first_person_questions_go_through() {
        for t in [
            "user: I work as a barista.",
            "user: I'm allergic to penicillin. What can I take instead?",
            "user: Can I take ibuprofen with my penicillin allergy?",
            "user: Please remember that I'm vegetarian.",
            "user: Tell me a joke, I have had a long day.",
            "user: My sister lives in Rome.",
            "user: Soy médico y vivo en Madrid.",
            "user: Ich bin Lehrerin.",
            "user: Nugget died yesterday.",
            "user: Got engaged to Sam!",
            "user: Who wrote Hamlet?\nuser: I moved to Lisbon last month.",
        ] {
            assert!(states_facts(t), "{t}");
        }
    }

    #[test]
    fn requests_written_as_facts() {
        assert!(is_request("Reminds me to eat dinner at some point"));
        assert!(is_request("Tell me a joke"));
        assert!(is_request("Wants you to wake me at 6"));
        assert!(!is_request("Reminds me of my grandmother"));
        assert!(!is_request("Has a dog named Rex"));
        assert!(!is_request("Shows dogs at competitions"));
    }

    #[test]
    fn sentences_split_at_marks_and_lines() {
        assert_eq!(
            sentences("Hi! How are you?\nFine. ok"),
            vec!["Hi!", "How are you?", "Fine.", "ok"]
        );
        assert_eq!(sentences("..."), Vec::<&str>::new());
    }
}
