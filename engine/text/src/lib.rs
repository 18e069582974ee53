//! memlayer's text handling, in one place. The store's keyword index, graph
//! search (entity matching and relation ranking) and the grounding check of
//! extracted facts all cut text into words the same way:
//!
//! - [`words`] / [`tokenize`]: lowercase runs of Unicode alphanumerics;
//! - [`STOP_WORDS`]: the one stop-word list, with two documented
//!   extensions for the callers that need more ([`QUERY_STOP_WORDS`] for
//!   entity matching, [`GENERIC_WORDS`] for grounding);
//! - [`stem`]: a light English suffix stemmer (see its docs for why);
//! - [`bm25`]: the Okapi BM25 term score with the project's `k1`/`b`;
//! - [`dates`]: calendar dates named in a query ("in June", "on 1 May, 2023");
//! - [`normalize_name`]: how entity and relationship names are keyed.
//!
//! The keyword postings on disk are [`tokenize`]`(text, true)` of each
//! memory: changing the tokenizer or [`STOP_WORDS`] changes what new
//! postings hold, so such a change needs a keyword reindex (a new store
//! schema version), not just a new build.
#![deny(clippy::unwrap_used)]
#![deny(missing_docs)]

pub mod bm25;
pub mod dates;

/// Tokens longer than this many bytes are not indexed.
pub const MAX_TOKEN_BYTES: usize = 128;

/// The stop-word list of the keyword index (and the base of every other
/// caller's list). Part of the on-disk format: see the crate docs.
pub const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with", "i", "me", "my", "we", "our", "you", "your", "he",
    "she", "him", "her", "his", "its", "has", "have", "had", "do", "does", "did", "am", "been",
    "so",
];

/// Words that name no entity in a question, on top of [`STOP_WORDS`]
/// (graph search matches the remaining query words against entity names by
/// embedding).
pub const QUERY_STOP_WORDS: &[&str] = &[
    "from", "were", "what", "which", "who", "whom", "where", "when", "why", "how", "mine", "those",
    "can", "could", "would", "should", "any", "some", "about", "like", "likes", "tell", "know",
    "user",
];

/// Words that say nothing about what a fact is about, on top of
/// [`STOP_WORDS`] (the grounding check needs a fact's other words to occur
/// in the conversation).
pub const GENERIC_WORDS: &[&str] = &[
    "were",
    "from",
    "likes",
    "like",
    "loves",
    "love",
    "enjoys",
    "enjoy",
    "name",
    "named",
    "lives",
    "live",
    "works",
    "work",
    "user",
    "who",
    "now",
    "doesn",
    "don",
    "didn",
    "very",
    "also",
    "being",
    "prefers",
    "prefer",
    "favorite",
    "favourite",
    "wants",
    "want",
    "plans",
    "plan",
    "goes",
    "go",
    "uses",
    "use",
    "can",
    "would",
    "how",
    "what",
    "when",
    "where",
    "why",
    "which",
    "here",
    "hi",
    "hello",
    "thanks",
    "thank",
    "today",
    "please",
    "help",
    "just",
    "really",
    "about",
    "some",
    "any",
];

/// Lowercase words of a text: maximal runs of Unicode alphanumeric
/// characters, lowercased.
///
/// ```
/// let w: Vec<String> = memlayer_text::words("Héllo, WORLD! café-au-lait").collect();
/// assert_eq!(w, ["héllo", "world", "café", "au", "lait"]);
/// ```
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
}

/// The keyword index's tokens: [`words`] of at most [`MAX_TOKEN_BYTES`],
/// without [`STOP_WORDS`] when `stop_words` is set.
///
/// ```
/// use memlayer_text::tokenize;
/// assert_eq!(tokenize("Héllo, WORLD! café-au-lait", false), ["héllo", "world", "café", "au", "lait"]);
/// assert_eq!(tokenize("The cat is on the mat", true), ["cat", "mat"]);
/// ```
pub fn tokenize(text: &str, stop_words: bool) -> Vec<String> {
    words(text)
        .filter(|t| t.len() <= MAX_TOKEN_BYTES)
        .filter(|t| !(stop_words && is_stop_word(t)))
        .collect()
}

/// Whether a lowercase word is in [`STOP_WORDS`].
pub fn is_stop_word(w: &str) -> bool {
    STOP_WORDS.contains(&w)
}

/// A light English stemmer: one of `ing`, `ed`, `es`, `s` comes off, then a
/// final `e`, each only while at least 3 letters remain, so `live`, `lives`,
/// `lived` and `living` all become `liv`.
///
/// Why a stemmer at all, and why this one: relation triples and extracted
/// facts are written by the model in another inflection than the user's
/// words ("lives in" / "where does she live", "hiking" / "I hike"), and
/// matching them is what relation ranking and grounding need; keyword
/// queries stem too (the postings stay exact words and a query stem is
/// matched by prefix scan, since a stem is a prefix of its words). A full Porter
/// stemmer would merge more, but also merge names; this one only removes
/// the commonest English inflections and never shortens a word below three
/// letters.
///
/// ```
/// use memlayer_text::stem;
/// assert_eq!(stem("living"), stem("lives"));
/// assert_eq!(stem("watches"), "watch");
/// assert_eq!(stem("has"), "has");
/// ```
pub fn stem(w: &str) -> String {
    let mut b = w;
    for suf in ["ing", "ed", "es", "s"] {
        if let Some(r) = b.strip_suffix(suf)
            && r.chars().count() >= 3
        {
            b = r;
            break;
        }
    }
    if let Some(r) = b.strip_suffix('e')
        && r.chars().count() >= 3
    {
        b = r;
    }
    b.to_string()
}

/// Stemmed [`words`] of a text.
pub fn stems(text: &str) -> Vec<String> {
    words(text).map(|w| stem(&w)).collect()
}

/// The key of an entity or relationship name: trimmed, lowercased,
/// whitespace runs → `_`.
///
/// ```
/// assert_eq!(memlayer_text::normalize_name("  New   York "), "new_york");
/// ```
pub fn normalize_name(s: &str) -> String {
    s.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join("_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_edges() {
        assert!(tokenize("", true).is_empty());
        assert!(tokenize("!!! ... ???", false).is_empty());
        assert_eq!(tokenize("don't", false), ["don", "t"]);
        assert_eq!(tokenize("東京 tokyo", false), ["東京", "tokyo"]);
        let long = "x".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(tokenize(&format!("{long} ok"), false), ["ok"]);
        assert_eq!(tokenize("So THE dog", true), ["dog"]);
    }

    #[test]
    fn word_lists_do_not_repeat_the_base_list() {
        for w in QUERY_STOP_WORDS.iter().chain(GENERIC_WORDS) {
            assert!(!is_stop_word(w), "{w} is already a stop word");
            assert_eq!(*w, w.to_lowercase());
        }
    }

    #[test]
    fn stems_agree() {
        for (a, b) in [
            ("live", "lives"),
            ("lived", "living"),
            ("love", "loves"),
            ("watch", "watches"),
            ("move", "moved"),
            ("hike", "hiking"),
        ] {
            assert_eq!(stem(a), stem(b), "{a} {b}");
        }
        assert_eq!(stem("has"), "has");
        assert_eq!(stem("bus"), "bus");
        assert_eq!(stems("Tom lives"), ["tom", "liv"]);
    }

    #[test]
    fn names() {
        assert_eq!(normalize_name("Tom"), "tom");
        assert_eq!(normalize_name(" "), "");
        assert_eq!(normalize_name("a\tb\nc"), "a_b_c");
    }
}
