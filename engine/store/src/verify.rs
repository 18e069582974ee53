//! `verify()`: an integrity checker that recomputes every derived
//! structure from the records and compares.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use redb::{ReadableMultimapTable, ReadableTable};
use uuid::Uuid;

use crate::codec::{self, order_key};
use crate::error::Result;
use crate::graph;
use crate::keyword::{self, decode_stats, split_posting_key};
use crate::record::HistoryKind;
use crate::scope::{ScopeKind, validate_metadata};
use crate::store::{Snapshot, Store, check_vector};
use crate::tables::{
    GRAPH_EDGES, GRAPH_IN, GRAPH_NODES, GRAPH_OUT, GRAPH_SCOPES, GRAPH_VECTORS, HISTORY, KW_DOCLEN,
    KW_POSTINGS, KW_STATS, RECORDS, VECTORS, scope_table,
};

/// Most problems listed in a report (the count is always exact).
pub const MAX_LISTED_PROBLEMS: usize = 100;

/// Outcome of [`Store::verify`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Commit sequence that was checked.
    pub seq: u64,
    /// Memories checked.
    pub records: u64,
    /// History events checked.
    pub history_events: u64,
    /// Keyword postings checked.
    pub postings: u64,
    /// Graph nodes checked.
    pub graph_nodes: u64,
    /// Graph edges checked.
    pub graph_edges: u64,
    /// Number of problems found.
    pub problem_count: usize,
    /// The first [`MAX_LISTED_PROBLEMS`] problems.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// True when no problem was found.
    pub fn is_ok(&self) -> bool {
        self.problem_count == 0
    }

    fn problem(&mut self, p: String) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED_PROBLEMS {
            tracing::warn!(problem = %p, "verify");
            self.problems.push(p);
        }
    }
}

impl Store {
    /// Checks, in one consistent snapshot, that scope indexes, vectors,
    /// keyword postings, document lengths, per-scope counts, history and
    /// graph adjacency all agree with the records. Problems are reported,
    /// not repaired; an `Err` means the check itself could not run.
    pub fn verify(&self) -> Result<VerifyReport> {
        let snap = self.snapshot()?;
        verify_snapshot(&snap, self)
    }
}

/// Posting key → value.
type Postings = BTreeMap<Vec<u8>, u64>;

fn verify_snapshot(snap: &Snapshot<'_>, store: &Store) -> Result<VerifyReport> {
    let txn = &snap.txn;
    let mut r = VerifyReport {
        seq: snap.commit_seq()?,
        ..VerifyReport::default()
    };
    let stop_words = store.stop_words_pinned();

    let mut ids = HashSet::new();
    let mut scope_expected: BTreeSet<(u8, String, [u8; 24])> = BTreeSet::new();
    let mut postings_expected: Postings = BTreeMap::new();
    let mut doclen_expected: BTreeMap<Uuid, u32> = BTreeMap::new();
    let mut stats_expected: BTreeMap<Vec<u8>, (u64, u64)> = BTreeMap::new();

    let records = txn.open_table(RECORDS)?;
    let vectors = txn.open_table(VECTORS)?;
    for entry in records.iter()? {
        let (k, v) = entry?;
        let id = Uuid::from_bytes(*k.value());
        r.records += 1;
        ids.insert(id);
        let m = match codec::decode_record(id, v.value()) {
            Ok(m) => m,
            Err(e) => {
                r.problem(format!("record {id}: {e}"));
                continue;
            }
        };
        if m.hash != crate::md5::hex_digest(&m.text) {
            r.problem(format!("record {id}: hash does not match text"));
        }
        if m.scope.validated().map(|s| s != m.scope).unwrap_or(true) {
            r.problem(format!("record {id}: invalid scope {:?}", m.scope));
        }
        if let Err(e) = validate_metadata(&m.metadata) {
            r.problem(format!("record {id}: {e}"));
        }
        if m.embedding_model != store.embedding_model() {
            r.problem(format!(
                "record {id}: embedding model {} differs from the store's",
                m.embedding_model
            ));
        }
        match vectors.get(id.as_bytes())? {
            None => r.problem(format!("record {id}: vector missing")),
            Some(v) => match codec::vector_from_bytes(v.value()) {
                Ok(vec) => {
                    if let Err(e) = check_vector(&vec, store.dims()) {
                        r.problem(format!("record {id}: {e}"));
                    }
                }
                Err(e) => r.problem(format!("record {id}: {e}")),
            },
        }
        let ok = order_key(m.created_at, id);
        for (kind, v) in m.scope.entries() {
            scope_expected.insert((kind.tag(), v.to_string(), ok));
        }
        let (counts, len) = keyword::term_counts(&m.text, stop_words);
        postings_expected.extend(keyword::doc_postings(id, &m.scope, &counts, len));
        doclen_expected.insert(id, len);
        for key in keyword::stats_keys(&m.scope) {
            let e = stats_expected.entry(key).or_insert((0, 0));
            e.0 += 1;
            e.1 += u64::from(len);
        }
        let hist = snap.history(id)?;
        match hist.last() {
            None => r.problem(format!("record {id}: no history")),
            Some(e) if e.event == HistoryKind::Delete => r.problem(format!(
                "record {id}: live but last history event is DELETE"
            )),
            Some(_) => {}
        }
        // A superseded record has a SUPERSEDE event at its supersession
        // time; `superseded_by` never points at itself or without a time.
        if m.superseded_by.is_some() && m.superseded_at.is_none() {
            r.problem(format!("record {id}: superseded_by without superseded_at"));
        }
        if m.superseded_by == Some(id) {
            r.problem(format!("record {id}: superseded by itself"));
        }
        if let Some(at) = m.superseded_at
            && !hist
                .iter()
                .any(|e| e.event == HistoryKind::Supersede && e.event_at == at)
        {
            r.problem(format!(
                "record {id}: superseded at {at} but history has no SUPERSEDE event then"
            ));
        }
    }
    for entry in vectors.iter()? {
        let (k, _) = entry?;
        let id = Uuid::from_bytes(*k.value());
        if !ids.contains(&id) {
            r.problem(format!("vector {id} has no record"));
        }
    }

    // Scope indexes.
    let mut scope_actual = BTreeSet::new();
    for kind in ScopeKind::ALL {
        let t = txn.open_multimap_table(scope_table(kind))?;
        for entry in t.iter()? {
            let (k, vals) = entry?;
            for v in vals {
                scope_actual.insert((kind.tag(), k.value().to_string(), *v?.value()));
            }
        }
    }
    for extra in scope_actual.difference(&scope_expected) {
        r.problem(format!(
            "scope index entry {}={} {:?} has no matching record",
            char::from(extra.0),
            extra.1,
            codec::split_order_key(&extra.2).1
        ));
    }
    for missing in scope_expected.difference(&scope_actual) {
        r.problem(format!(
            "scope index entry {}={} {:?} missing",
            char::from(missing.0),
            missing.1,
            codec::split_order_key(&missing.2).1
        ));
    }

    // Keyword index.
    let mut postings_actual: Postings = BTreeMap::new();
    for entry in txn.open_table(KW_POSTINGS)?.iter()? {
        let (k, v) = entry?;
        r.postings += 1;
        match split_posting_key(k.value()) {
            Ok(_) => {
                postings_actual.insert(k.value().to_vec(), v.value());
            }
            Err(e) => r.problem(format!("posting: {e}")),
        }
    }
    if postings_actual != postings_expected {
        let extra = postings_actual
            .iter()
            .filter(|(k, v)| postings_expected.get(k.as_slice()) != Some(v))
            .count();
        let missing = postings_expected
            .iter()
            .filter(|(k, v)| postings_actual.get(k.as_slice()) != Some(v))
            .count();
        r.problem(format!(
            "keyword postings disagree with records: {extra} extra/wrong, {missing} missing/wrong"
        ));
    }
    let mut doclen_actual = BTreeMap::new();
    for entry in txn.open_table(KW_DOCLEN)?.iter()? {
        let (k, v) = entry?;
        doclen_actual.insert(Uuid::from_bytes(*k.value()), v.value());
    }
    if doclen_actual != doclen_expected {
        r.problem(format!(
            "document lengths disagree with records ({} stored, {} expected)",
            doclen_actual.len(),
            doclen_expected.len()
        ));
    }
    let mut stats_actual = BTreeMap::new();
    for entry in txn.open_table(KW_STATS)?.iter()? {
        let (k, v) = entry?;
        stats_actual.insert(k.value().to_vec(), decode_stats(v.value()));
    }
    if stats_actual != stats_expected {
        r.problem(format!(
            "per-scope keyword stats disagree with records ({} stored, {} expected)",
            stats_actual.len(),
            stats_expected.len()
        ));
    }

    // History decodes.
    for entry in txn.open_table(HISTORY)?.iter()? {
        let (k, v) = entry?;
        r.history_events += 1;
        if let Err(e) = codec::decode_history(k.value(), v.value()) {
            r.problem(format!("history: {e}"));
        }
    }

    verify_graph(txn, store, &mut r)?;
    Ok(r)
}

fn verify_graph(txn: &redb::ReadTransaction, store: &Store, r: &mut VerifyReport) -> Result<()> {
    let nodes = txn.open_table(GRAPH_NODES)?;
    let gvec = txn.open_table(GRAPH_VECTORS)?;
    let mut node_keys = HashSet::new();
    let mut scopes_expected = BTreeSet::new();
    let mut emb_ids = HashSet::new();
    for entry in nodes.iter()? {
        let (k, v) = entry?;
        r.graph_nodes += 1;
        match graph::decode_node(k.value(), v.value()) {
            Ok(n) => {
                scopes_expected.insert(codec::scope_key(&n.scope));
                if let Some(e) = n.embedding_id {
                    emb_ids.insert(e);
                    match gvec.get(e.as_bytes())? {
                        None => r.problem(format!("graph node {}: embedding missing", n.name)),
                        Some(v) => {
                            if codec::vector_from_bytes(v.value())
                                .map(|x| check_vector(&x, store.dims()).is_err())
                                .unwrap_or(true)
                            {
                                r.problem(format!("graph node {}: bad embedding", n.name));
                            }
                        }
                    }
                }
            }
            Err(e) => r.problem(format!("graph node: {e}")),
        }
        node_keys.insert(k.value().to_vec());
    }
    for entry in gvec.iter()? {
        let (k, _) = entry?;
        if !emb_ids.contains(&Uuid::from_bytes(*k.value())) {
            r.problem("graph vector without node".into());
        }
    }
    let mut out_expected = BTreeSet::new();
    let mut in_expected = BTreeSet::new();
    for entry in txn.open_table(GRAPH_EDGES)?.iter()? {
        let (k, v) = entry?;
        r.graph_edges += 1;
        match graph::decode_edge(k.value(), v.value()) {
            Ok(e) => {
                let (ek, src, dst, _) = graph::edge_keys(&e);
                if ek != k.value() {
                    r.problem(format!(
                        "graph edge {} key is not canonical",
                        e.relationship
                    ));
                }
                if !node_keys.contains(&src) || !node_keys.contains(&dst) {
                    r.problem(format!(
                        "graph edge {} -{}-> {}: endpoint node missing",
                        e.source, e.relationship, e.destination
                    ));
                }
                if e.valid == e.invalidated_at.is_some() {
                    r.problem(format!(
                        "graph edge {} -{}-> {}: valid flag and invalidated_at disagree",
                        e.source, e.relationship, e.destination
                    ));
                }
                out_expected.insert((src, ek.clone()));
                in_expected.insert((dst, ek));
            }
            Err(e) => r.problem(format!("graph edge: {e}")),
        }
    }
    for (def, expected, name) in [
        (GRAPH_OUT, &out_expected, "out"),
        (GRAPH_IN, &in_expected, "in"),
    ] {
        let mut actual = BTreeSet::new();
        for entry in txn.open_multimap_table(def)?.iter()? {
            let (k, vals) = entry?;
            for v in vals {
                actual.insert((k.value().to_vec(), v?.value().to_vec()));
            }
        }
        if &actual != expected {
            r.problem(format!(
                "graph {name}-adjacency disagrees with edges ({} stored, {} expected)",
                actual.len(),
                expected.len()
            ));
        }
    }
    let mut scopes_actual = BTreeSet::new();
    for entry in txn.open_table(GRAPH_SCOPES)?.iter()? {
        scopes_actual.insert(entry?.0.value().to_vec());
    }
    if !scopes_expected.is_subset(&scopes_actual) {
        r.problem("graph scope list is missing a scope that has nodes".into());
    }
    Ok(())
}
