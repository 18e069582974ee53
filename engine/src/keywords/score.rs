//! BM25 with neighbour context over positions in a scope's order: dense
//! arrays indexed by position instead of maps keyed by memory id.
//!
//! The formula is the store's (`memlayer_store::keyword`, `bm25_in_context`):
//!
//! ```text
//! tf'(t, p) = tf(t, p) + w · tf(t, p − 1)       |p|' = |p| + w · |p − 1|
//! df'(t)    = #{p : tf'(t, p) > 0}              avgdl' = Σ|p|' / N
//! score(p)  = Σ_t weight(t) · BM25(idf(df'(t)), tf'(t, p), |p|', avgdl')
//! ```
//!
//! where p − 1 is the memory stored just before p in the scope. A term
//! that does not pass on (a date: when a memory was made, not what it
//! says) keeps tf' = tf. With w = 0 it is plain BM25.

use std::borrow::Cow;
use std::cell::Cell;

use memlayer_text::bm25;

/// One query term in a scope: the positions holding it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Term<'a> {
    /// (position, term frequency), each position at most once.
    pub hits: Cow<'a, [(u32, u32)]>,
    /// Query-word weight (1 for the query's own words and dates).
    pub weight: f32,
    /// Whether w × its frequency passes on to the next position.
    pub passes: bool,
}

/// Per-position work arrays, kept per thread between queries and left
/// clean (zero, unmarked) after each: a query pays for the positions it
/// touches, not for the scope's size.
#[derive(Default)]
struct Scratch {
    joint: Vec<f32>,
    mark: Vec<u32>,
    epoch: u32,
    scores: Vec<f32>,
    scored: Vec<bool>,
}

impl Scratch {
    fn fit(&mut self, n: usize) {
        if self.joint.len() < n {
            self.joint.resize(n, 0.0);
            self.mark.resize(n, 0);
            self.scores.resize(n, 0.0);
            self.scored.resize(n, false);
        }
    }

    fn next_epoch(&mut self) -> u32 {
        if self.epoch == u32::MAX {
            self.mark.fill(0);
            self.epoch = 0;
        }
        self.epoch += 1;
        self.epoch
    }
}

thread_local! {
    static SCRATCH: Cell<Scratch> = Cell::new(Scratch::default());
}

/// Scores of every position holding a term or following one that passes
/// on, in a scope of `lens.len()` positions (each position's length in
/// indexed words) with context weight `w` (≤ 0 or not finite: none).
/// Positions come in the order they were first scored.
pub(crate) fn score(terms: &[Term<'_>], lens: &[u32], w: f32) -> Vec<(u32, f32)> {
    let n = lens.len();
    if n == 0 || terms.is_empty() {
        return Vec::new();
    }
    let w = if w > 0.0 && w.is_finite() { w } else { 0.0 };
    let total: f64 = lens.iter().map(|&l| f64::from(l)).sum();
    let total = total as f32;
    let last = lens[n - 1] as f32;
    let avgdl = ((total + w * (total - last).max(0.0)) / n as f32).max(1e-6);
    let dl = |p: usize| lens[p] as f32 + if p > 0 { w * lens[p - 1] as f32 } else { 0.0 };

    // Taken out while in use: a panic leaves no dirty arrays behind.
    let mut sc = SCRATCH.take();
    sc.fit(n);
    let mut out: Vec<u32> = Vec::new();
    let mut touched: Vec<usize> = Vec::new();
    for term in terms {
        touched.clear();
        let epoch = sc.next_epoch();
        let Scratch { joint, mark, .. } = &mut sc;
        let mut add = |p: usize, x: f32| {
            if mark[p] != epoch {
                mark[p] = epoch;
                touched.push(p);
            }
            joint[p] += x;
        };
        for &(p, tf) in term.hits.iter() {
            let (p, tf) = (p as usize, tf as f32);
            if p >= n {
                continue;
            }
            add(p, tf);
            if term.passes && w > 0.0 && p + 1 < n {
                add(p + 1, w * tf);
            }
        }
        let idf = bm25::idf(n as f32, touched.len() as f32);
        for &p in &touched {
            sc.scores[p] += term.weight * bm25::term_score(idf, sc.joint[p], dl(p), avgdl);
            sc.joint[p] = 0.0;
            if !sc.scored[p] {
                sc.scored[p] = true;
                out.push(p as u32);
            }
        }
    }
    let result = out
        .into_iter()
        .map(|p| {
            let p_ = p as usize;
            let s = sc.scores[p_];
            sc.scores[p_] = 0.0;
            sc.scored[p_] = false;
            (p, s)
        })
        .collect();
    SCRATCH.set(sc);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(hits: &[(u32, u32)], weight: f32, passes: bool) -> Term<'static> {
        Term {
            hits: hits.to_vec().into(),
            weight,
            passes,
        }
    }

    fn get(s: &[(u32, f32)], p: u32) -> Option<f32> {
        s.iter().find(|x| x.0 == p).map(|x| x.1)
    }

    #[test]
    fn without_context_it_is_plain_bm25() {
        // Four documents of lengths 3, 5, 2, 6; "lake" in 0 (tf 2) and 2.
        let lens = [3, 5, 2, 6];
        let got = score(&[term(&[(0, 2), (2, 1)], 1.0, true)], &lens, 0.0);
        let idf = bm25::idf(4.0, 2.0);
        let avgdl = 16.0 / 4.0;
        assert_eq!(got.len(), 2);
        let want0 = bm25::term_score(idf, 2.0, 3.0, avgdl);
        let want2 = bm25::term_score(idf, 1.0, 2.0, avgdl);
        assert!((get(&got, 0).unwrap() - want0).abs() < 1e-6);
        assert!((get(&got, 2).unwrap() - want2).abs() < 1e-6);
    }

    #[test]
    fn a_word_passes_on_to_the_next_position_at_the_context_weight() {
        let lens = [4, 2, 3];
        let w = 0.5;
        let got = score(&[term(&[(0, 1)], 1.0, true)], &lens, w);
        // Positions 0 (own) and 1 (neighbour) hold it: df' = 2.
        let idf = bm25::idf(3.0, 2.0);
        let avgdl = (9.0 + w * (9.0 - 3.0)) / 3.0;
        let want1 = bm25::term_score(idf, w, 2.0 + w * 4.0, avgdl);
        assert_eq!(got.iter().map(|x| x.0).collect::<Vec<_>>(), [0, 1]);
        assert!((get(&got, 1).unwrap() - want1).abs() < 1e-6);
        assert!(get(&got, 0).unwrap() > get(&got, 1).unwrap());
        // A date does not pass on; the last position passes to nothing.
        let got = score(&[term(&[(0, 1), (2, 1)], 1.0, false)], &lens, w);
        assert_eq!(got.iter().map(|x| x.0).collect::<Vec<_>>(), [0, 2]);
    }

    #[test]
    fn terms_add_up_at_their_weights_and_out_of_range_hits_are_ignored() {
        let lens = [3, 3, 3, 3];
        let a = score(&[term(&[(1, 1)], 1.0, true)], &lens, 0.0);
        let b = score(&[term(&[(1, 1)], 0.25, true)], &lens, 0.0);
        assert!((get(&b, 1).unwrap() - 0.25 * get(&a, 1).unwrap()).abs() < 1e-6);
        let both = score(
            &[
                term(&[(1, 1), (9, 1)], 1.0, true),
                term(&[(1, 1)], 0.25, true),
            ],
            &lens,
            0.0,
        );
        assert_eq!(both.len(), 1);
        assert!((get(&both, 1).unwrap() - 1.25 * get(&a, 1).unwrap()).abs() < 1e-6);
        assert!(score(&[], &lens, 0.3).is_empty());
        assert!(score(&[term(&[(0, 1)], 1.0, true)], &[], 0.3).is_empty());
    }

    #[test]
    fn a_query_leaves_the_per_thread_arrays_clean() {
        let lens = [3, 1, 4, 1, 5];
        let terms = [
            term(&[(0, 1), (3, 2)], 1.0, true),
            term(&[(3, 1), (4, 1)], 0.5, false),
        ];
        let first = score(&terms, &lens, 0.4);
        // A larger scope in between, then the same query again.
        let _ = score(&[term(&[(7, 1)], 1.0, true)], &[2; 9], 0.4);
        assert_eq!(score(&terms, &lens, 0.4), first);
        assert_eq!(first.len(), 4); // 0, 3 and their successors 1, 4
    }
}
