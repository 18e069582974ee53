//! Stage 1d of `add(infer)`: how long an extracted fact stays true, read
//! from its time words. A state bound to one day ("Is tired today") is not
//! worth remembering; a state bound to a trip, a week or a month ("Is in
//! Rome this week for a conference") is remembered but never replaces a
//! lasting memory ("Lives in Madrid"). A change that happened today
//! ("Turned 35 today", "Moved to Lisbon this week") is a lasting fact.

/// How long a fact stays true.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Span {
    /// A lasting fact (the default).
    Lasting,
    /// True for a while (a trip, this week, this month, until something):
    /// stored, but it never supersedes or rewrites a memory.
    Temporary,
    /// True for today only: not stored.
    Momentary,
}

/// Time words of a state that ends with the day.
const DAY: &[&str] = &[
    "today",
    "tonight",
    "last night",
    "this morning",
    "this afternoon",
    "this evening",
    "hoy",
    "esta noche",
    "anoche",
    "aujourd'hui",
    "ce soir",
    "heute",
    "hoje",
    "esta noite",
    "oggi",
    "stasera",
];

/// Time words of a state that ends after a while.
const WHILE: &[&str] = &[
    "this week",
    "this weekend",
    "next week",
    "tomorrow",
    "this month",
    "for now",
    "for the time being",
    "at the moment",
    "right now",
    "temporarily",
    "until",
    "for the holidays",
    "for the weekend",
    "for a conference",
    "business trip",
    "on vacation",
    "on holiday",
    "for a few days",
    "for a couple of days",
    "esta semana",
    "este fin de semana",
    "mañana",
    "este mes",
    "por ahora",
    "cette semaine",
    "ce week-end",
    "demain",
    "ce mois",
    "pour l'instant",
    "diese woche",
    "dieses wochenende",
    "diesen monat",
    "vorerst",
    "amanhã",
    "este mês",
    "por enquanto",
    "questa settimana",
    "domani",
    "questo mese",
    "per ora",
];

/// Words of a change that lasts beyond the day it happened on.
const CHANGE: &[&str] = &[
    "turned",
    "turns",
    "birthday",
    "died",
    "passed away",
    "moved",
    "moving",
    "quit",
    "left",
    "started",
    "starts",
    "began",
    "became",
    "married",
    "engaged",
    "divorced",
    "broke up",
    "born",
    "graduated",
    "retired",
    "joined",
    "switched",
    "adopted",
    "bought",
    "sold",
    "promoted",
    "hired",
    "fired",
    "new job",
    "no longer",
    "anymore",
    "stopped",
    "gave up",
];

/// Whether `phrase` occurs in `text` (lowercase) between word boundaries.
fn has(text: &str, phrase: &str) -> bool {
    text.match_indices(phrase).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + phrase.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// How long `fact` stays true, from its time words (English, Spanish,
/// French, German, Portuguese, Italian).
pub(crate) fn span(fact: &str) -> Span {
    let t = fact.to_lowercase();
    if CHANGE.iter().any(|w| has(&t, w)) {
        return Span::Lasting;
    }
    if DAY.iter().any(|w| has(&t, w)) {
        return Span::Momentary;
    }
    if WHILE.iter().any(|w| has(&t, w)) {
        return Span::Temporary;
    }
    Span::Lasting
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_from_time_words() {
        let cases = [
            ("Lives in Madrid", Span::Lasting),
            ("Is tired today", Span::Momentary),
            ("Has the flu today", Span::Momentary),
            ("Slept badly last night", Span::Momentary),
            ("Works late tonight", Span::Momentary),
            ("Is in Rome this week for a conference", Span::Temporary),
            ("Flying to Lima tomorrow for three days", Span::Temporary),
            ("Skips runs until the cold is gone", Span::Temporary),
            (
                "Is staying at a hotel in Tokyo for a business trip",
                Span::Temporary,
            ),
            ("Está en Roma esta semana", Span::Temporary),
            ("Turned 35 today", Span::Lasting),
            ("Moved to Lisbon this week", Span::Lasting),
            ("Started a new job today", Span::Lasting),
            ("Nugget died yesterday", Span::Lasting),
            // Word boundaries: "todays" / "untill" are not time words.
            ("Reads Todays Paper", Span::Lasting),
            ("Works at Untilled Farms", Span::Lasting),
        ];
        for (fact, want) in cases {
            assert_eq!(span(fact), want, "{fact}");
        }
    }
}
