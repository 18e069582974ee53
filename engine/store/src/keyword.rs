//! Keyword index: BM25 postings maintained in the same write transaction as
//! the records. Tokenizer, stop words and the BM25 term score come from
//! `memlayer-text` (shared with graph search and grounding).

use std::collections::{BTreeMap, HashMap, HashSet};

use memlayer_text::bm25;
use redb::{ReadTransaction, ReadableTable};
use uuid::Uuid;

use crate::error::{Result, StoreError};
use crate::scope::{Scope, ScopeKind};
use crate::tables::{KW_DOCLEN, KW_POSTINGS, KW_STATS, WTables};
use crate::time::Timestamp;

pub use memlayer_text::bm25::{B as BM25_B, K1 as BM25_K1};
pub use memlayer_text::{MAX_TOKEN_BYTES, STOP_WORDS, tokenize};

/// Options of a keyword search.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct KeywordOptions {
    /// Weight at which the words of the memory stored just before a memory
    /// (same scope, insertion order) count as the memory's own in BM25
    /// (see [`bm25_in_context`]); 0 turns neighbour context off.
    pub context_weight: f32,
    /// Match the dates the query names against `created_at` (see
    /// [`query_terms`]).
    pub dates: bool,
}

/// Query expansion by pseudo-relevance feedback: stems of the best hits
/// of a first search added to the query at a reduced weight (see
/// [`expansion_weights`] for which stems are kept and their weights).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Expansion {
    /// Candidate stems, each with its weight in the feedback documents
    /// (e.g. Σ tf / length over them). Query stems are ignored.
    pub stems: Vec<(String, f32)>,
    /// Most stems kept.
    pub terms: usize,
    /// Query-word weight of the best kept stem (the others in proportion
    /// to their feedback weight × idf); 0 adds nothing.
    pub weight: f32,
}

/// Which expansion stems to keep and at what weight: each candidate `i`
/// with feedback weight `raw[i].0` and document frequency `raw[i].1` in a
/// corpus of `n` documents rates `raw · idf(df)`; the `terms` best with a
/// positive rating are kept (ties: lower index first), weighted
/// `weight · rating / best rating`. Returns (index, weight) pairs.
pub fn expansion_weights(
    raw: &[(f32, u64)],
    n: u64,
    terms: usize,
    weight: f32,
) -> Vec<(usize, f32)> {
    let mut rated: Vec<(usize, f32)> = raw
        .iter()
        .enumerate()
        .filter(|(_, (_, df))| *df > 0)
        .map(|(i, &(r, df))| (i, r * bm25::idf(n as f32, df as f32)))
        .filter(|(_, x)| x.is_finite() && *x > 0.0)
        .collect();
    rated.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    rated.truncate(terms);
    let Some(&(_, best)) = rated.first() else {
        return Vec::new();
    };
    rated
        .into_iter()
        .map(|(i, x)| (i, weight * x / best))
        .collect()
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
}

/// The query's distinct stems (stop words removed first, as when
/// indexing), sorted: the terms of a keyword query (the engine's in-memory
/// keyword index uses them too).
pub fn query_stems(query: &str, stop_words: bool) -> Vec<String> {
    let mut stems: Vec<String> = tokenize(query, stop_words)
        .iter()
        .map(|t| memlayer_text::stem(t))
        .collect();
    stems.sort();
    stems.dedup();
    stems
}

/// The documents of `corpus` holding a word with the stem `stem`, each
/// with (summed term frequency of the stem's words, document length).
///
/// The postings hold exact words; a query word matches every indexed word
/// of the same [`memlayer_text::stem`] ("lived" finds "lives", "living").
/// A stem is a prefix of each word it stems, so the words of one stem are
/// found by one prefix scan of the scope's postings (prefix ‖ stem) and
/// kept when their stem is equal. The variants' term frequencies add up,
/// and the document frequency counts documents, so a stem scores like one
/// term.
fn stem_postings(
    postings: &redb::ReadOnlyTable<&'static [u8], u64>,
    corpus: &Corpus<'_>,
    stem: &str,
) -> Result<HashMap<Uuid, (u32, u32)>> {
    Ok(stem_postings_upto(postings, corpus, stem, usize::MAX)?.unwrap_or_default())
}

/// Most postings read for one expansion stem: a stem with more is too
/// common to tell memories apart (and reading it would cost more than the
/// whole first search in a large scope), so it is dropped.
pub const MAX_EXPANSION_POSTINGS: usize = 1000;

/// [`stem_postings`], or `None` once the prefix scan has read more than
/// `cap` postings.
fn stem_postings_upto(
    postings: &redb::ReadOnlyTable<&'static [u8], u64>,
    corpus: &Corpus<'_>,
    stem: &str,
    cap: usize,
) -> Result<Option<HashMap<Uuid, (u32, u32)>>> {
    let mut start = corpus.prefix.clone();
    start.extend_from_slice(stem.as_bytes());
    let mut tfs: HashMap<Uuid, (u32, u32)> = HashMap::new();
    let (mut last_term, mut same_stem): (Option<String>, bool) = (None, false);
    for (read, entry) in postings.range(start.as_slice()..)?.enumerate() {
        let (k, v) = entry?;
        let key = k.value();
        if !key.starts_with(&start) {
            break;
        }
        if read >= cap {
            return Ok(None);
        }
        let (_, term, id) = split_posting_key(key)?;
        // Keys come sorted by term: stem each distinct word once.
        if last_term.as_deref() != Some(term) {
            same_stem = memlayer_text::stem(term) == stem;
            last_term = Some(term.to_string());
        }
        if same_stem && corpus.ids.is_none_or(|ids| ids.contains(&id)) {
            let (tf, dl) = split_posting_value(v.value());
            let e = tfs.entry(id).or_insert((0, dl));
            e.0 = e.0.saturating_add(tf);
        }
    }
    Ok(Some(tfs))
}

/// One query term's documents: id → (term frequency, document length).
pub(crate) type TermDocs = HashMap<Uuid, (u32, u32)>;

/// The query's terms in `corpus`: one per distinct query stem (see
/// [`stem_postings`]), and one per date the query names, given as the
/// documents of the corpus made on that date (`dated`, from
/// [`memlayer_text::dates`]): a date scores like a word that every memory
/// made on it holds once, so "camping in June" prefers June's memories
/// that mention camping.
pub(crate) struct QueryTerms {
    /// Per query stem, the documents holding it.
    pub words: Vec<TermDocs>,
    /// Per named date, the documents made on it (term frequency 1).
    pub dates: Vec<TermDocs>,
    /// Expansion stems ([`Expansion`]): their documents and weights.
    pub expansion: Vec<(TermDocs, f32)>,
}

/// Reads the [`QueryTerms`] of `query` in `corpus`.
pub(crate) fn query_terms(
    txn: &ReadTransaction,
    corpus: &Corpus<'_>,
    query: &str,
    stop_words: bool,
    dated: &[Vec<Uuid>],
    expansion: Option<(&Expansion, u64)>,
) -> Result<QueryTerms> {
    let postings = txn.open_table(KW_POSTINGS)?;
    let stems = query_stems(query, stop_words);
    let words = stems
        .iter()
        .map(|stem| stem_postings(&postings, corpus, stem))
        .collect::<Result<Vec<_>>>()?;
    let mut extra = Vec::new();
    if let Some((e, n)) = expansion.filter(|(e, _)| e.weight > 0.0 && e.terms > 0) {
        let mut docs = Vec::new();
        let mut raw = Vec::new();
        let mut seen: HashSet<&str> = stems.iter().map(String::as_str).collect();
        for (stem, r) in &e.stems {
            if !seen.insert(stem.as_str()) || !r.is_finite() || *r <= 0.0 {
                continue;
            }
            let Some(d) = stem_postings_upto(&postings, corpus, stem, MAX_EXPANSION_POSTINGS)?
            else {
                continue;
            };
            raw.push((*r, d.len() as u64));
            docs.push(d);
        }
        let mut docs: Vec<Option<TermDocs>> = docs.into_iter().map(Some).collect();
        for (i, w) in expansion_weights(&raw, n, e.terms, e.weight) {
            if let Some(d) = docs[i].take() {
                extra.push((d, w));
            }
        }
    }
    let mut dates = Vec::new();
    if dated.iter().any(|d| !d.is_empty()) {
        let doclen = txn.open_table(KW_DOCLEN)?;
        for ids in dated.iter().filter(|d| !d.is_empty()) {
            let mut docs = TermDocs::with_capacity(ids.len());
            for &id in ids {
                let len = doclen.get(id.as_bytes())?.map_or(0, |g| g.value());
                docs.insert(id, (1, len));
            }
            dates.push(docs);
        }
    }
    Ok(QueryTerms {
        words,
        dates,
        expansion: extra,
    })
}

/// BM25 of every document holding a query term, over a corpus of `n`
/// documents of total length `total`.
pub(crate) fn bm25(terms: QueryTerms, (n, total): (u64, u64)) -> HashMap<Uuid, f32> {
    let mut scores: HashMap<Uuid, f32> = HashMap::new();
    if n == 0 {
        return scores;
    }
    let avgdl = (total as f32 / n as f32).max(1e-6);
    let own = terms.words.into_iter().chain(terms.dates).map(|d| (d, 1.0));
    for (docs, w) in own.chain(terms.expansion) {
        let idf = bm25::idf(n as f32, docs.len() as f32);
        for (id, (tf, dl)) in docs {
            *scores.entry(id).or_insert(0.0) +=
                w * bm25::term_score(idf, tf as f32, dl as f32, avgdl);
        }
    }
    scores
}

/// Neighbours in a scope's order (insertion order: `created_at`, then
/// id) of the documents a query touches, for neighbour context. Only
/// those documents and their successors are indexed, not the whole scope.
pub(crate) struct Neighbours<'a> {
    order: &'a [(Timestamp, Uuid)],
    pos: HashMap<Uuid, usize>,
}

impl<'a> Neighbours<'a> {
    /// Positions in `order` (the scope's documents, oldest first) of the
    /// documents for which `wanted` holds and of the document after each.
    pub(crate) fn new(order: &'a [(Timestamp, Uuid)], wanted: impl Fn(&Uuid) -> bool) -> Self {
        let mut pos = HashMap::new();
        for (i, (_, id)) in order.iter().enumerate() {
            if wanted(id) {
                pos.insert(*id, i);
                if let Some(&(_, next)) = order.get(i + 1) {
                    pos.insert(next, i + 1);
                }
            }
        }
        Neighbours { order, pos }
    }

    /// The document stored just before `id`.
    fn prev(&self, id: Uuid) -> Option<Uuid> {
        let p = *self.pos.get(&id)?;
        p.checked_sub(1).map(|q| self.order[q].1)
    }

    /// The document stored just after `id`.
    fn next(&self, id: Uuid) -> Option<Uuid> {
        let p = *self.pos.get(&id)?;
        self.order.get(p + 1).map(|x| x.1)
    }
}

/// BM25 with neighbour context: each document is scored as if its text
/// and `weight` × the text of the document stored just before it in the
/// scope were one document, so a document's term frequencies, length and
/// document frequencies all count its previous neighbour's words at that
/// weight. In a conversation the answer to a question often sits in the
/// turn after the one that names the topic ("What did you paint?" → "A
/// sunrise over the lake"). Computed at query time from the postings (no
/// context is indexed), so it follows deletes and updates at once.
///
/// ```text
/// tf'(t, d) = tf(t, d) + w · tf(t, prev(d))      |d|' = |d| + w · |prev(d)|
/// df'(t)    = #{d : tf'(t, d) > 0}               avgdl' = Σ|d|' / N
/// score(d)  = Σ_t BM25(idf(df'(t)), tf'(t, d), |d|', avgdl')
/// ```
///
/// A date term is the memory's own (when it was made, not what it says),
/// so it is not passed on to the next memory: tf' = tf for dates.
/// Expansion stems count like query words, times their weight.
pub(crate) fn bm25_in_context(
    txn: &ReadTransaction,
    terms: QueryTerms,
    (n, total): (u64, u64),
    order: &[(Timestamp, Uuid)],
    weight: f32,
) -> Result<HashMap<Uuid, f32>> {
    if weight <= 0.0 || !weight.is_finite() {
        return Ok(bm25(terms, (n, total)));
    }
    let mut scores: HashMap<Uuid, f32> = HashMap::new();
    if n == 0 || (terms.words.is_empty() && terms.dates.is_empty()) {
        return Ok(scores);
    }
    let doclen = txn.open_table(KW_DOCLEN)?;
    // Document lengths: from the terms read, else from kw_doclen.
    let mut lens: HashMap<Uuid, u32> = HashMap::new();
    let expansion = terms.expansion.iter().map(|(d, _)| d);
    for docs in terms.words.iter().chain(&terms.dates).chain(expansion) {
        lens.extend(docs.iter().map(|(&id, &(_, dl))| (id, dl)));
    }
    let neighbours = Neighbours::new(order, |id| lens.contains_key(id));
    let mut len_of = |id: Uuid| -> Result<f32> {
        if let Some(&l) = lens.get(&id) {
            return Ok(l as f32);
        }
        let l = doclen.get(id.as_bytes())?.map_or(0, |g| g.value());
        lens.insert(id, l);
        Ok(l as f32)
    };
    // Every document but the last is some document's previous one.
    let last = match order.last() {
        Some(&(_, id)) => len_of(id)?,
        None => 0.0,
    };
    let total = total as f32;
    let avgdl = ((total + weight * (total - last).max(0.0)) / n as f32).max(1e-6);
    // Words pass `weight` × their frequency on to the next document; a
    // date term stays with its own.
    let weighted = terms.words.iter().map(|d| (d, 1.0));
    let weighted = weighted.chain(terms.expansion.iter().map(|(d, w)| (d, *w)));
    let words = weighted.map(|(docs, w)| {
        let mut joint: HashMap<Uuid, f32> = HashMap::with_capacity(docs.len() * 2);
        for (&id, &(tf, _)) in docs {
            *joint.entry(id).or_insert(0.0) += tf as f32;
            if let Some(next) = neighbours.next(id) {
                *joint.entry(next).or_insert(0.0) += weight * tf as f32;
            }
        }
        (joint, w)
    });
    let dates = terms.dates.iter().map(|docs| {
        let joint = docs.iter().map(|(&id, &(tf, _))| (id, tf as f32)).collect();
        (joint, 1.0)
    });
    for (joint, w) in words.chain(dates) {
        let joint: HashMap<Uuid, f32> = joint;
        let idf = bm25::idf(n as f32, joint.len() as f32);
        for (id, tf) in joint {
            let prev = match neighbours.prev(id) {
                Some(p) => len_of(p)?,
                None => 0.0,
            };
            let dl = len_of(id)? + weight * prev;
            *scores.entry(id).or_insert(0.0) += w * bm25::term_score(idf, tf, dl, avgdl);
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

/// Scores, best first (ties: smaller id first); only the best `top` when
/// given (selected in linear time, then sorted), else all.
pub(crate) fn sorted(scores: HashMap<Uuid, f32>, top: Option<usize>) -> Vec<(Uuid, f32)> {
    let mut out: Vec<(Uuid, f32)> = scores.into_iter().collect();
    sort_best(&mut out, top);
    out
}

/// Sorts (id, score) pairs best first (ties: smaller id first), keeping
/// only the best `top` when given (selected in linear time, then sorted):
/// the order of every keyword search's results.
pub fn sort_best(v: &mut Vec<(Uuid, f32)>, top: Option<usize>) {
    let order = |a: &(Uuid, f32), b: &(Uuid, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if let Some(k) = top
        && k < v.len()
    {
        if k == 0 {
            v.clear();
            return;
        }
        v.select_nth_unstable_by(k - 1, order);
        v.truncate(k);
    }
    v.sort_by(order);
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
    fn expansion_keeps_the_best_rated_stems_in_proportion() {
        // Ratings raw · idf(df) over 100 documents: a rare stem outrates a
        // commoner one of the same raw weight; absent stems are dropped.
        let raw = [(1.0, 50), (1.0, 2), (0.0, 1), (2.0, 0), (0.5, 2)];
        let got = expansion_weights(&raw, 100, 2, 0.4);
        assert_eq!(got.iter().map(|x| x.0).collect::<Vec<_>>(), [1, 4]);
        assert!((got[0].1 - 0.4).abs() < 1e-6);
        assert!((got[1].1 - 0.2).abs() < 1e-6);
        assert!(expansion_weights(&raw, 100, 0, 0.4).is_empty());
        assert_eq!(expansion_weights(&raw, 100, 9, 0.4).len(), 3);
    }

    #[test]
    fn query_stems_drop_stop_words_and_merge_inflections() {
        assert_eq!(query_stems("Is she living? She lives", true), ["liv"]);
        assert_eq!(query_stems("hiking HIKES", false), ["hik"]);
    }

    #[test]
    fn neighbours_are_the_documents_stored_before_and_after() {
        let [a, b, c, x] = [1u128, 2, 3, 9].map(Uuid::from_u128);
        let t = Timestamp(0);
        let order = [(t, a), (t, b), (t, c)];
        let n = Neighbours::new(&order, |_| true);
        assert_eq!((n.prev(a), n.next(a)), (None, Some(b)));
        assert_eq!((n.prev(b), n.next(b)), (Some(a), Some(c)));
        assert_eq!((n.prev(c), n.next(c)), (Some(b), None));
        assert_eq!((n.prev(x), n.next(x)), (None, None));
    }
}
