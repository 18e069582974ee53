//! Okapi BM25, the one implementation: the store's keyword index scores
//! postings with [`term_score`], graph search ranks candidate relations with
//! [`score_docs`].
//!
//! ```text
//! idf(t)      = ln(1 + (N − df + 0.5) / (df + 0.5))
//! score(t, d) = idf · tf · (k1 + 1) / (tf + k1 · (1 − b + b · |d| / avgdl))
//! ```

use std::collections::HashSet;

/// BM25 `k1`.
pub const K1: f32 = 1.2;
/// BM25 `b`.
pub const B: f32 = 0.75;

/// Inverse document frequency of a term found in `df` of `n` documents.
pub fn idf(n: f32, df: f32) -> f32 {
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
}

/// The BM25 contribution of one term to one document.
///
/// ```
/// use memlayer_text::bm25::{idf, term_score};
/// let rare = term_score(idf(100.0, 1.0), 1.0, 5.0, 5.0);
/// let common = term_score(idf(100.0, 50.0), 1.0, 5.0, 5.0);
/// assert!(rare > common && common > 0.0);
/// ```
pub fn term_score(idf: f32, tf: f32, doc_len: f32, avgdl: f32) -> f32 {
    idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * doc_len / avgdl.max(1e-6)))
}

/// BM25 of the query terms against each document, all given as terms
/// (e.g. [`crate::stems`]); the collection is the documents themselves.
/// Repeated query terms count once.
///
/// ```
/// use memlayer_text::{bm25::score_docs, stems};
/// let docs = [stems("tom lives in dublin"), stems("ana likes tea")];
/// let s = score_docs(&stems("where does tom live"), &docs);
/// assert!(s[0] > 0.0 && s[1] == 0.0);
/// ```
pub fn score_docs(query: &[String], docs: &[Vec<String>]) -> Vec<f32> {
    let qt: HashSet<&str> = query.iter().map(String::as_str).collect();
    let n = docs.len().max(1) as f32;
    let avgdl = docs.iter().map(Vec::len).sum::<usize>() as f32 / n;
    let df = |t: &str| docs.iter().filter(|d| d.iter().any(|w| w == t)).count() as f32;
    let idfs: Vec<(&str, f32)> = qt.iter().map(|&t| (t, idf(n, df(t)))).collect();
    docs.iter()
        .map(|d| {
            let len = d.len() as f32;
            idfs.iter()
                .map(|&(t, idf)| {
                    let tf = d.iter().filter(|w| *w == t).count() as f32;
                    if tf == 0.0 {
                        0.0
                    } else {
                        term_score(idf, tf, len, avgdl)
                    }
                })
                .sum()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stems;

    #[test]
    fn matches_the_closed_form() {
        // One document, one term: N = 1, df = 1, |d| = avgdl.
        let s = score_docs(&stems("tea"), &[stems("tea")]);
        let expect = idf(1.0, 1.0) * (K1 + 1.0) / (1.0 + K1);
        assert!((s[0] - expect).abs() < 1e-6);
    }

    #[test]
    fn prefers_matching_and_shorter_documents() {
        let docs = [
            stems("tom lives in dublin"),
            stems("tom works as chef"),
            stems("ana likes tea"),
        ];
        let s = score_docs(&stems("where does tom live"), &docs);
        assert!(s[0] > s[1] && s[1] > 0.0 && s[2] == 0.0);
        let s = score_docs(&stems("tom"), &[stems("tom"), stems("tom and a long tail")]);
        assert!(s[0] > s[1]);
        assert!(score_docs(&stems("x"), &[]).is_empty());
    }
}
