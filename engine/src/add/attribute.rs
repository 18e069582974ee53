//! Stage 1c of `add(infer)`: whom a fact is about. Small models drop the
//! subject when they split "My mom lives in Lyon and I live in Marseille"
//! into facts ("Lives in Lyon"), and a subjectless fact reads as the user's
//! own, so it then supersedes the user's real memory. When the message
//! names exactly one other person (`mentions`), every fact without a
//! subject is scored me / them by the chat model; a "them" fact is
//! rewritten to name the person (`attribute`: "Mom lives in Lyon"), and the
//! subject guard then keeps it apart from the user's memories.

use super::supersede::subject_of;

/// The other people a message names with a possessive ("my brother Tom",
/// "our daughter", "mi hermana Ana"), as lowercase relation phrases in
/// order of first mention, each once.
pub(crate) fn mentions(message: &str) -> Vec<String> {
    let words: Vec<&str> = message.split_whitespace().collect();
    let mut out: Vec<String> = Vec::new();
    for k in 0..words.len() {
        let w = words[k]
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        if !POSSESSIVES.contains(&w.as_str()) {
            continue;
        }
        // A clause ends at punctuation: "my mom, and I" names only mom.
        let tail: Vec<&str> = words[k..].iter().take(5).copied().collect();
        let mut clause = Vec::new();
        for (i, t) in tail.iter().enumerate() {
            clause.push(*t);
            if i > 0 && t.ends_with([',', '.', ';', ':', '!', '?']) {
                break;
            }
        }
        if let Some(p) = subject_of(&clause.join(" "))
            && !out.contains(&p)
        {
            out.push(p);
        }
    }
    out
}

/// Possessives that open a mention (the ones `subject_of` strips).
const POSSESSIVES: &[&str] = &[
    "my", "our", "mi", "mon", "ma", "mein", "meine", "meu", "minha", "mio", "mia",
];

/// The mention as a fact's subject: "brother tom" → "Brother Tom".
pub(crate) fn display(mention: &str) -> String {
    mention
        .split_whitespace()
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `fact` rewritten to be about `mention`: "Lives in Lyon" + "mom" →
/// "Mom lives in Lyon". The fact's first letter is lowercased unless the
/// first word looks like a name or an acronym (more than one capital, or
/// "I").
pub(crate) fn attribute(fact: &str, mention: &str) -> String {
    let first = fact.split_whitespace().next().unwrap_or("");
    let keep_case = first == "I" || first.chars().filter(|c| c.is_uppercase()).count() > 1;
    let body = if keep_case {
        fact.to_string()
    } else {
        let mut c = fact.chars();
        c.next()
            .map(|f| f.to_lowercase().chain(c).collect::<String>())
            .unwrap_or_default()
    };
    format!("{} {}", display(mention), body)
}

/// Facts to ask about: those `subject_of` reads as the user's own.
pub(crate) fn needs_check(fact: &str) -> bool {
    subject_of(fact).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_table() {
        let cases: [(&str, &[&str]); 7] = [
            (
                "My brother Tom lives in Toronto and works as a dentist.",
                &["brother tom"],
            ),
            ("My mom lives in Lyon. I live in Marseille.", &["mom"]),
            (
                "My wife Teresa went vegetarian, but I still eat meat. My son too.",
                &["wife teresa", "son"],
            ),
            ("I live in Paris with my cat.", &[]),
            ("My best friend Jess is a nurse", &["best friend jess"]),
            ("I moved to Lisbon", &[]),
            ("Mi hermana Ana vive en Madrid", &["hermana ana"]),
        ];
        for (msg, want) in cases {
            assert_eq!(mentions(msg), want, "{msg}");
        }
    }

    #[test]
    fn attribute_table() {
        let cases = [
            ("Lives in Lyon", "mom", "Mom lives in Lyon"),
            (
                "Is vegetarian since last month",
                "wife teresa",
                "Wife Teresa is vegetarian since last month",
            ),
            (
                "BMW is his car",
                "brother tom",
                "Brother Tom BMW is his car",
            ),
            ("I love soccer", "son", "Son I love soccer"),
        ];
        for (fact, m, want) in cases {
            assert_eq!(attribute(fact, m), want);
        }
        assert!(needs_check("Lives in Lyon"));
        assert!(!needs_check("Mom lives in Lyon"));
    }
}
