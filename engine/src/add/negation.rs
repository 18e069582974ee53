//! Stage 4 guard of the scoring path: a negated fact about what a memory
//! says ("Is not a doctor" against "Works as a doctor", "Stopped learning
//! French" against "Is learning French on Duolingo") ends that memory,
//! without asking the model. Small models score such pairs *unrelated* or
//! *detail* about as often as *changed*, and keep both.

use super::gate::words;

/// Words that negate a fact or say it stopped, in the languages the
/// extraction prompt sees most.
const NEGATIONS: &[&str] = &[
    "not", "no", "never", "don't", "doesn't", "isn't", "aren't", "wasn't", "can't", "cannot",
    "won't", "didn't", "anymore", "longer", "stopped", "quit", "ex", "outgrew", "nunca", "pas",
    "plus", "jamais", "nicht", "kein", "keine", "keinen", "não", "non",
];

/// Whether a fact is negated or says something stopped.
pub(crate) fn is_negated(fact: &str) -> bool {
    let w = words(fact);
    w.iter()
        .any(|w| NEGATIONS.contains(&w.as_str()) || w.ends_with("n't"))
        || w.windows(2)
            .any(|p| matches!(p[0].as_str(), "gave" | "given" | "giving") && p[1] == "up")
}

/// Stems of the words that carry content: 3+ letters, no stop word, no
/// negation word.
fn content(s: &str) -> Vec<String> {
    let mut out: Vec<String> = words(s)
        .into_iter()
        .filter(|w| {
            w.chars().count() >= 3
                && !memlayer_text::is_stop_word(w)
                && !NEGATIONS.contains(&w.as_str())
                && !w.ends_with("n't")
                && !matches!(
                    w.as_str(),
                    "any" | "anything" | "does" | "up" | "more" | "gave" | "given"
                )
        })
        .map(|w| memlayer_text::stem(&w))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Whether `fact` negates what `memory` says: the fact is negated, the
/// memory is not, and at least two thirds of the fact's content words
/// (stemmed; at least one) are the memory's.
pub(crate) fn ends(fact: &str, memory: &str) -> bool {
    if !is_negated(fact) || is_negated(memory) {
        return false;
    }
    let f = content(fact);
    if f.is_empty() {
        return false;
    }
    let m = content(memory);
    let shared = f.iter().filter(|w| m.contains(w)).count();
    shared >= 1 && 3 * shared >= 2 * f.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negated_facts_end_the_memory_they_negate() {
        let cases = [
            ("Is not a doctor", "Works as a doctor", true),
            (
                "Stopped learning French",
                "Is learning French on Duolingo",
                true,
            ),
            (
                "No longer plays the guitar",
                "Plays the guitar in a jazz band",
                true,
            ),
            ("Doesn't smoke anymore", "Smokes a pack a day", true),
            (
                "Quit job at Acme Logistics",
                "Works at Acme Logistics",
                true,
            ),
            ("Gave up smoking", "Smokes a pack a day", true),
            ("No come carne", "Come carne todos los días", true),
            ("Gave birth to a son", "Is pregnant", false),
            // Different things, or nothing negated.
            ("Does not eat meat", "Eats fish on Fridays", false),
            ("Is not a morning person", "Works as a nurse", false),
            ("Works as a nurse", "Works as a doctor", false),
            // Both negated: the memory already says it.
            ("Does not drink coffee", "Doesn't drink coffee", false),
            ("Not really", "Likes tea", false),
        ];
        for (fact, memory, want) in cases {
            assert_eq!(ends(fact, memory), want, "{fact} / {memory}");
        }
    }
}
