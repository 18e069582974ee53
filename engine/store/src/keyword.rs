//! Keyword index: BM25 postings maintained in the same write transaction as
//! the records. Tokenizer, stop words and the BM25 term score come from
//! `memlayer-text` (shared with graph search and grounding).

use std::collections::{BTreeMap, HashMap, HashSet};

use memlayer_text::bm25;
use redb::{ReadTransaction, ReadableTable};
use uuid::Uuid;

use crate::error::{Result, StoreError};
use crate::scope::Scope;
use crate::tables::{KW_DOCLEN, KW_POSTINGS, KW_STATS, WTables};

pub use memlayer_text::bm25::{B as BM25_B, K1 as BM25_K1};
pub use memlayer_text::{MAX_TOKEN_BYTES, STOP_WORDS, tokenize};

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

pub(crate) fn posting_key(term: &str, id: Uuid) -> Vec<u8> {
    let mut k = Vec::with_capacity(term.len() + 17);
    k.extend_from_slice(term.as_bytes());
    k.push(0);
    k.extend_from_slice(id.as_bytes());
    k
}

/// Splits a posting key into (term, id).
pub(crate) fn split_posting_key(k: &[u8]) -> Result<(&str, Uuid)> {
    if k.len() < 17 || k[k.len() - 17] != 0 {
        return Err(StoreError::corrupt("kw_postings key", "bad layout"));
    }
    let term = std::str::from_utf8(&k[..k.len() - 17])
        .map_err(|e| StoreError::corrupt("kw_postings key", e))?;
    let id = Uuid::from_slice(&k[k.len() - 16..])
        .map_err(|e| StoreError::corrupt("kw_postings key", e))?;
    Ok((term, id))
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
    for (term, tf) in &counts {
        t.kw_postings
            .insert(posting_key(term, id).as_slice(), *tf)?;
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
    for term in counts.keys() {
        t.kw_postings.remove(posting_key(term, id).as_slice())?;
    }
    let len = t
        .kw_doclen
        .remove(id.as_bytes())?
        .map(|g| g.value())
        .unwrap_or(0);
    bump_stats(t, scope, -1, -i64::from(len))
}

/// Candidate documents of a keyword query and how N / avgdl were obtained.
pub(crate) struct Corpus<'a> {
    /// Documents in scope.
    pub ids: &'a HashSet<Uuid>,
    /// Stats from `kw_stats` when the scope has exactly one dimension.
    pub stats: Option<(u64, u64)>,
}

/// BM25 scores of every document in `corpus` matching at least one query term.
pub(crate) fn bm25(
    txn: &ReadTransaction,
    corpus: &Corpus<'_>,
    query: &str,
    stop_words: bool,
) -> Result<Vec<(Uuid, f32)>> {
    let postings = txn.open_table(KW_POSTINGS)?;
    let doclen = txn.open_table(KW_DOCLEN)?;
    let mut terms: Vec<String> = tokenize(query, stop_words);
    terms.sort();
    terms.dedup();
    if terms.is_empty() || corpus.ids.is_empty() {
        return Ok(Vec::new());
    }
    let (n, total) = match corpus.stats {
        Some(s) => s,
        None => {
            let mut total = 0u64;
            for id in corpus.ids {
                total += u64::from(doclen.get(id.as_bytes())?.map(|g| g.value()).unwrap_or(0));
            }
            (corpus.ids.len() as u64, total)
        }
    };
    let avgdl = if n == 0 {
        1.0
    } else {
        (total as f32 / n as f32).max(1e-6)
    };
    let mut scores: HashMap<Uuid, f32> = HashMap::new();
    for term in &terms {
        let mut lo = term.as_bytes().to_vec();
        lo.push(0);
        let mut hi = term.as_bytes().to_vec();
        hi.push(1);
        let mut hits = Vec::new();
        for entry in postings.range(lo.as_slice()..hi.as_slice())? {
            let (k, tf) = entry?;
            let (_, id) = split_posting_key(k.value())?;
            if corpus.ids.contains(&id) {
                hits.push((id, tf.value()));
            }
        }
        let idf = bm25::idf(n as f32, hits.len() as f32);
        for (id, tf) in hits {
            let dl = doclen.get(id.as_bytes())?.map(|g| g.value()).unwrap_or(0) as f32;
            *scores.entry(id).or_insert(0.0) += bm25::term_score(idf, tf as f32, dl, avgdl);
        }
    }
    let mut out: Vec<(Uuid, f32)> = scores.into_iter().collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(out)
}

/// Reads stats for a stats key.
pub(crate) fn read_stats(txn: &ReadTransaction, key: &[u8]) -> Result<Option<(u64, u64)>> {
    let t = txn.open_table(KW_STATS)?;
    Ok(t.get(key)?.map(|v| decode_stats(v.value())))
}
