//! Keyword index: BM25 postings maintained in the same write transaction as
//! the records. Tokenizer, stop words and the BM25 term score come from
//! `memlayer-text` (shared with graph search and grounding).

use std::collections::{BTreeMap, HashMap, HashSet};

use memlayer_text::bm25;
use redb::{ReadTransaction, ReadableTable};
use uuid::Uuid;

use crate::error::{Result, StoreError};
use crate::scope::{Scope, ScopeKind};
use crate::tables::{KW_POSTINGS, KW_STATS, WTables};

pub use memlayer_text::bm25::{B as BM25_B, K1 as BM25_K1};
pub use memlayer_text::{MAX_TOKEN_BYTES, STOP_WORDS, tokenize};

/// Options of a keyword search.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct KeywordOptions {
    /// Share of the BM25 score of the memory stored just before a memory
    /// (same scope, insertion order) that the memory also scores; 0 turns
    /// neighbour context off.
    pub context_weight: f32,
}

/// Term frequencies of a text.
pub(crate) fn term_counts(text: &str, stop_words: bool) -> (BTreeMap<String, u32>, u32) {
    let tokens = tokenize(text, stop_words);
    let len = u32::try_from(tokens.len()).unwrap_or(u32::MAX);
    let mut counts = BTreeMap::new();
    for t in tokens {
        *counts.entry(t).or_insert(0u32) += 1;
    }
    (counts, len)
}

/// The postings prefix of one scope dimension: tag ‖ scope id ‖ 0x00
/// (scope ids hold no control characters, so the 0x00 ends the id).
pub(crate) fn scope_prefix(kind: ScopeKind, value: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(value.len() + 2);
    k.push(kind.tag());
    k.extend_from_slice(value.as_bytes());
    k.push(0);
    k
}

/// prefix ‖ term ‖ 0x00 ‖ id.
pub(crate) fn posting_key(prefix: &[u8], term: &str, id: Uuid) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + term.len() + 17);
    k.extend_from_slice(prefix);
    k.extend_from_slice(term.as_bytes());
    k.push(0);
    k.extend_from_slice(id.as_bytes());
    k
}

/// A posting's value: the term frequency in the low 32 bits, the
/// document's length (indexed tokens) in the high 32, so scoring a posting
/// needs no second lookup.
pub(crate) fn posting_value(tf: u32, doc_len: u32) -> u64 {
    u64::from(tf) | (u64::from(doc_len) << 32)
}

/// (term frequency, document length) of a posting value.
pub(crate) fn split_posting_value(v: u64) -> (u32, u32) {
    (v as u32, (v >> 32) as u32)
}

/// A document's postings, (key, value): each term under each of its
/// scope's dimensions. The one place their layout is produced (indexing,
/// the schema upgrade, `verify`).
pub(crate) fn doc_postings(
    id: Uuid,
    scope: &Scope,
    counts: &BTreeMap<String, u32>,
    len: u32,
) -> Vec<(Vec<u8>, u64)> {
    let mut out = Vec::with_capacity(counts.len() * 3);
    for (kind, v) in scope.entries() {
        let prefix = scope_prefix(kind, v);
        for (term, tf) in counts {
            out.push((posting_key(&prefix, term, id), posting_value(*tf, len)));
        }
    }
    out
}

/// Splits a posting key into (scope prefix, term, id).
pub(crate) fn split_posting_key(k: &[u8]) -> Result<(&[u8], &str, Uuid)> {
    let bad = |why: &str| StoreError::corrupt("kw_scope_postings key", why.to_string());
    if k.len() < 20 || k[k.len() - 17] != 0 {
        return Err(bad("bad layout"));
    }
    let head = &k[..k.len() - 17];
    let end = head
        .iter()
        .skip(1)
        .position(|&b| b == 0)
        .map(|p| p + 2)
        .ok_or_else(|| bad("no scope id terminator"))?;
    if !matches!(head[0], b'u' | b'a' | b'r') {
        return Err(bad("unknown scope tag"));
    }
    let term = std::str::from_utf8(&head[end..])
        .map_err(|e| StoreError::corrupt("kw_scope_postings key", e))?;
    let id = Uuid::from_slice(&k[k.len() - 16..])
        .map_err(|e| StoreError::corrupt("kw_scope_postings key", e))?;
    Ok((&head[..end], term, id))
}

/// The stats keys a document contributes to: one per scope dimension plus `*`.
pub(crate) fn stats_keys(scope: &Scope) -> Vec<Vec<u8>> {
    let mut keys = vec![b"*".to_vec()];
    for (k, v) in scope.entries() {
        keys.push(crate::codec::stats_key(k.tag(), v));
    }
    keys
}

pub(crate) fn decode_stats(v: &[u8; 16]) -> (u64, u64) {
    let mut a = [0u8; 8];
    let mut b = [0u8; 8];
    a.copy_from_slice(&v[..8]);
    b.copy_from_slice(&v[8..]);
    (u64::from_le_bytes(a), u64::from_le_bytes(b))
}

pub(crate) fn encode_stats(count: u64, total: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&count.to_le_bytes());
    out[8..].copy_from_slice(&total.to_le_bytes());
    out
}

fn bump_stats(t: &mut WTables<'_>, scope: &Scope, delta_count: i64, delta_len: i64) -> Result<()> {
    for key in stats_keys(scope) {
        let (c, l) = match t.kw_stats.get(key.as_slice())? {
            Some(v) => decode_stats(v.value()),
            None => (0, 0),
        };
        let c = c.saturating_add_signed(delta_count);
        let l = l.saturating_add_signed(delta_len);
        if c == 0 {
            t.kw_stats.remove(key.as_slice())?;
        } else {
            t.kw_stats.insert(key.as_slice(), &encode_stats(c, l))?;
        }
    }
    Ok(())
}

/// Adds a document's postings, length and stats.
pub(crate) fn index_doc(
    t: &mut WTables<'_>,
    id: Uuid,
    text: &str,
    scope: &Scope,
    stop_words: bool,
) -> Result<()> {
    let (counts, len) = term_counts(text, stop_words);
    for (key, value) in doc_postings(id, scope, &counts, len) {
        t.kw_postings.insert(key.as_slice(), value)?;
    }
    t.kw_doclen.insert(id.as_bytes(), len)?;
    bump_stats(t, scope, 1, i64::from(len))
}

/// Removes a document's postings, length and stats (`text` is the indexed text).
pub(crate) fn unindex_doc(
    t: &mut WTables<'_>,
    id: Uuid,
    text: &str,
    scope: &Scope,
    stop_words: bool,
) -> Result<()> {
    let (counts, _) = term_counts(text, stop_words);
    for (key, _) in doc_postings(id, scope, &counts, 0) {
        t.kw_postings.remove(key.as_slice())?;
    }
    let len = t
        .kw_doclen
        .remove(id.as_bytes())?
        .map(|g| g.value())
        .unwrap_or(0);
    bump_stats(t, scope, -1, -i64::from(len))
}

/// Where a keyword query looks.
pub(crate) struct Corpus<'a> {
    /// Postings prefix of the scope dimension scanned ([`scope_prefix`]):
    /// the scope's dimension with the fewest documents.
    pub prefix: Vec<u8>,
    /// When the scope has more than one dimension: its documents (the
    /// scanned dimension's postings are filtered by them). `None`: every
    /// posting under `prefix` is in scope.
    pub ids: Option<&'a HashSet<Uuid>>,
    /// Documents in scope and their total length (BM25's N and avgdl).
    pub stats: (u64, u64),
}

/// The query's distinct stems (stop words removed first, as when indexing).
pub(crate) fn query_stems(query: &str, stop_words: bool) -> Vec<String> {
    let mut stems: Vec<String> = tokenize(query, stop_words)
        .iter()
        .map(|t| memlayer_text::stem(t))
        .collect();
    stems.sort();
    stems.dedup();
    stems
}

/// BM25 scores of every document in `corpus` that holds a word with the
/// stem of a query word.
///
/// The postings hold exact words; a query word matches every indexed word
/// of the same [`memlayer_text::stem`] ("lived" finds "lives", "living").
/// A stem is a prefix of each word it stems, so the words of one stem are
/// found by one prefix scan of the scope's postings (prefix ‖ stem) and
/// kept when their stem is equal. The variants' term frequencies add up, and the document
/// frequency counts documents, so a stem scores like one term.
pub(crate) fn bm25(
    txn: &ReadTransaction,
    corpus: &Corpus<'_>,
    query: &str,
    stop_words: bool,
) -> Result<HashMap<Uuid, f32>> {
    let postings = txn.open_table(KW_POSTINGS)?;
    let stems = query_stems(query, stop_words);
    let mut scores: HashMap<Uuid, f32> = HashMap::new();
    let (n, total) = corpus.stats;
    if stems.is_empty() || n == 0 {
        return Ok(scores);
    }
    let avgdl = (total as f32 / n as f32).max(1e-6);
    let mut start = corpus.prefix.clone();
    for stem in &stems {
        start.truncate(corpus.prefix.len());
        start.extend_from_slice(stem.as_bytes());
        // id → (summed tf of the stem's words, document length)
        let mut tfs: HashMap<Uuid, (u32, u32)> = HashMap::new();
        let (mut last_term, mut same_stem): (Option<String>, bool) = (None, false);
        for entry in postings.range(start.as_slice()..)? {
            let (k, v) = entry?;
            let key = k.value();
            if !key.starts_with(&start) {
                break;
            }
            let (_, term, id) = split_posting_key(key)?;
            // Keys come sorted by term: stem each distinct word once.
            if last_term.as_deref() != Some(term) {
                same_stem = memlayer_text::stem(term) == *stem;
                last_term = Some(term.to_string());
            }
            if same_stem && corpus.ids.is_none_or(|ids| ids.contains(&id)) {
                let (tf, dl) = split_posting_value(v.value());
                let e = tfs.entry(id).or_insert((0, dl));
                e.0 = e.0.saturating_add(tf);
            }
        }
        let idf = bm25::idf(n as f32, tfs.len() as f32);
        for (id, (tf, dl)) in tfs {
            *scores.entry(id).or_insert(0.0) += bm25::term_score(idf, tf as f32, dl as f32, avgdl);
        }
    }
    Ok(scores)
}

/// Rebuilds the postings from the records (the upgrade from schema 1–2,
/// whose postings were not keyed by scope). Returns the documents indexed.
pub(crate) fn rebuild_postings(t: &mut WTables<'_>, stop_words: bool) -> Result<u64> {
    let mut n = 0u64;
    for entry in t.records.iter()? {
        let (k, v) = entry?;
        let id = Uuid::from_bytes(*k.value());
        let m = crate::codec::decode_record(id, v.value())?;
        let (counts, len) = term_counts(&m.text, stop_words);
        for (key, value) in doc_postings(id, &m.scope, &counts, len) {
            t.kw_postings.insert(key.as_slice(), value)?;
        }
        n += 1;
    }
    Ok(n)
}

/// Neighbour context: each document also scores `weight` times the BM25
/// of the document stored just before it in the scope (`order` is the
/// scope in insertion order). In a conversation the answer to a question
/// often sits in the turn after the one that names the topic ("What did
/// you paint?" → "A sunrise over the lake"); the weight keeps a document's
/// own match ahead of its neighbour's.
///
/// ```text
/// score(d) = bm25(d) + weight · bm25(prev(d))
/// ```
pub(crate) fn with_context(
    own: &HashMap<Uuid, f32>,
    order: &[Uuid],
    weight: f32,
) -> HashMap<Uuid, f32> {
    let mut out = own.clone();
    if weight <= 0.0 || !weight.is_finite() {
        return out;
    }
    for pair in order.windows(2) {
        if let Some(&prev) = own.get(&pair[0]) {
            *out.entry(pair[1]).or_insert(0.0) += weight * prev;
        }
    }
    out
}

/// Scores, best first (ties: smaller id first); only the best `top` when
/// given (selected in linear time, then sorted), else all.
pub(crate) fn sorted(scores: HashMap<Uuid, f32>, top: Option<usize>) -> Vec<(Uuid, f32)> {
    let order = |a: &(Uuid, f32), b: &(Uuid, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    let mut out: Vec<(Uuid, f32)> = scores.into_iter().collect();
    if let Some(k) = top
        && k < out.len()
    {
        if k == 0 {
            return Vec::new();
        }
        out.select_nth_unstable_by(k - 1, order);
        out.truncate(k);
    }
    out.sort_by(order);
    out
}

/// Reads stats for a stats key.
pub(crate) fn read_stats(txn: &ReadTransaction, key: &[u8]) -> Result<Option<(u64, u64)>> {
    let t = txn.open_table(KW_STATS)?;
    Ok(t.get(key)?.map(|v| decode_stats(v.value())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posting_keys_split_back_into_scope_term_and_id() {
        let id = Uuid::from_u128(0x0001_0000_0000_0000_0000_0000_0000_0200);
        let p = scope_prefix(ScopeKind::Run, "trip-2024");
        let k = posting_key(&p, "lisbon", id);
        let (prefix, term, got) = split_posting_key(&k).unwrap();
        assert_eq!((prefix, term, got), (p.as_slice(), "lisbon", id));
        // One scope's keys never share a prefix with another scope's.
        assert!(!k.starts_with(&scope_prefix(ScopeKind::Run, "trip")));
        assert!(!k.starts_with(&scope_prefix(ScopeKind::User, "trip-2024")));
        for bad in [&b"short"[..], &k[1..], &[b"x".as_slice(), &k[1..]].concat()] {
            assert!(split_posting_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sorted_keeps_the_best_in_order_with_or_without_a_cut() {
        let scores: HashMap<Uuid, f32> = (0..50u128)
            .map(|i| (Uuid::from_u128(i), ((i * 37) % 50) as f32))
            .collect();
        let all = sorted(scores.clone(), None);
        assert_eq!(all.len(), 50);
        assert!(all.windows(2).all(|w| w[0].1 >= w[1].1));
        for k in [0, 1, 7, 49, 50, 80] {
            assert_eq!(
                sorted(scores.clone(), Some(k)),
                all[..k.min(50)].to_vec(),
                "k={k}"
            );
        }
    }

    #[test]
    fn query_stems_drop_stop_words_and_merge_inflections() {
        assert_eq!(query_stems("Is she living? She lives", true), ["liv"]);
        assert_eq!(query_stems("hiking HIKES", false), ["hik"]);
    }

    #[test]
    fn context_adds_the_previous_documents_score() {
        let [a, b, c] = [1u128, 2, 3].map(Uuid::from_u128);
        let own: HashMap<Uuid, f32> = [(a, 2.0), (c, 1.0)].into_iter().collect();
        let s = with_context(&own, &[a, b, c], 0.5);
        assert_eq!(s[&a], 2.0);
        assert_eq!(s[&b], 1.0);
        assert_eq!(s[&c], 1.0);
        assert_eq!(with_context(&own, &[a, b, c], 0.0).len(), 2);
        assert_eq!(with_context(&own, &[a, b, c], f32::NAN).len(), 2);
        let order: Vec<Uuid> = sorted(s, None).into_iter().map(|x| x.0).collect();
        assert_eq!(order, [a, b, c]);
    }
}
