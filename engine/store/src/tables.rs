//! redb table definitions and the bundle of open tables a write uses.

use redb::{MultimapTable, MultimapTableDefinition, Table, TableDefinition, WriteTransaction};

use crate::error::Result;
use crate::scope::ScopeKind;

/// `meta`: string key → raw bytes (see `docs/design.md`).
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// `records`: id → version byte ‖ postcard `RecordV1`.
pub(crate) const RECORDS: TableDefinition<&[u8; 16], &[u8]> = TableDefinition::new("records");
/// `vectors`: id → little-endian f32 × dims.
pub(crate) const VECTORS: TableDefinition<&[u8; 16], &[u8]> = TableDefinition::new("vectors");
/// `history`: id ‖ seq BE ‖ idx BE → version byte ‖ postcard `HistoryV1`.
pub(crate) const HISTORY: TableDefinition<&[u8], &[u8]> = TableDefinition::new("history");
/// Scope indexes: scope id → order key (created_at ‖ id).
pub(crate) const SCOPE_USER: MultimapTableDefinition<&str, &[u8; 24]> =
    MultimapTableDefinition::new("scope_user_id");
/// See [`SCOPE_USER`].
pub(crate) const SCOPE_AGENT: MultimapTableDefinition<&str, &[u8; 24]> =
    MultimapTableDefinition::new("scope_agent_id");
/// See [`SCOPE_USER`].
pub(crate) const SCOPE_RUN: MultimapTableDefinition<&str, &[u8; 24]> =
    MultimapTableDefinition::new("scope_run_id");
/// `kw_scope_postings`: scope tag ‖ scope id ‖ 0x00 ‖ term ‖ 0x00 ‖ id →
/// term frequency | document length << 32 (`keyword::posting_value`); one
/// entry per scope dimension the memory has (schema 3).
pub(crate) const KW_POSTINGS: TableDefinition<&[u8], u64> =
    TableDefinition::new("kw_scope_postings");
/// The store-wide postings of schemas 1–2 (term ‖ 0x00 ‖ id → tf), dropped
/// by the upgrade to schema 3.
pub(crate) const KW_POSTINGS_V2: TableDefinition<&[u8], u32> = TableDefinition::new("kw_postings");
/// `kw_doclen`: id → token count.
pub(crate) const KW_DOCLEN: TableDefinition<&[u8; 16], u32> = TableDefinition::new("kw_doclen");
/// `kw_stats`: scope tag ‖ id (or `*`) → doc count u64 LE ‖ total length u64 LE.
pub(crate) const KW_STATS: TableDefinition<&[u8], &[u8; 16]> = TableDefinition::new("kw_stats");
/// `graph_scopes`: scope key → () (which scopes have graph data).
pub(crate) const GRAPH_SCOPES: TableDefinition<&[u8], ()> = TableDefinition::new("graph_scopes");
/// `graph_nodes`: scope key ‖ part(name) → version byte ‖ postcard `NodeV1`.
pub(crate) const GRAPH_NODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("graph_nodes");
/// `graph_edges`: scope key ‖ part(src) ‖ part(rel) ‖ part(dst) → version byte ‖ postcard `EdgeV1`.
pub(crate) const GRAPH_EDGES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("graph_edges");
/// `graph_out`: scope key ‖ part(src) → edge key.
pub(crate) const GRAPH_OUT: MultimapTableDefinition<&[u8], &[u8]> =
    MultimapTableDefinition::new("graph_out");
/// `graph_in`: scope key ‖ part(dst) → edge key.
pub(crate) const GRAPH_IN: MultimapTableDefinition<&[u8], &[u8]> =
    MultimapTableDefinition::new("graph_in");
/// `graph_vectors`: embedding id → little-endian f32 × dims.
pub(crate) const GRAPH_VECTORS: TableDefinition<&[u8; 16], &[u8]> =
    TableDefinition::new("graph_vectors");

/// Meta keys.
pub(crate) mod meta {
    pub const SCHEMA_VERSION: &str = "schema_version";
    pub const EMBEDDING_MODEL: &str = "embedding_model";
    pub const EMBEDDING_DIMS: &str = "embedding_dims";
    pub const COMMIT_SEQ: &str = "commit_seq";
    pub const STOP_WORDS: &str = "keyword_stop_words";
    pub const CREATED_AT: &str = "created_at";
}

/// Current schema version. Version 2 added superseded records
/// ([`crate::codec::RECORD_V2`], history kind SUPERSEDE; old records stay
/// readable as they are). Version 3 keys the keyword postings by scope
/// (`kw_scope_postings`), so a scoped keyword search reads only its scope's
/// postings; opening an older file rebuilds the postings from the records
/// and drops `kw_postings`, in the open transaction.
pub const SCHEMA_VERSION: u32 = 3;

/// Oldest schema version this build opens (and upgrades).
pub const OLDEST_SCHEMA_VERSION: u32 = 1;

pub(crate) type Multi<'t> = MultimapTable<'t, &'static str, &'static [u8; 24]>;

/// Every table, open for writing inside one transaction.
pub(crate) struct WTables<'t> {
    pub meta: Table<'t, &'static str, &'static [u8]>,
    pub records: Table<'t, &'static [u8; 16], &'static [u8]>,
    pub vectors: Table<'t, &'static [u8; 16], &'static [u8]>,
    pub history: Table<'t, &'static [u8], &'static [u8]>,
    pub scope_user: Multi<'t>,
    pub scope_agent: Multi<'t>,
    pub scope_run: Multi<'t>,
    pub kw_postings: Table<'t, &'static [u8], u64>,
    pub kw_doclen: Table<'t, &'static [u8; 16], u32>,
    pub kw_stats: Table<'t, &'static [u8], &'static [u8; 16]>,
    pub graph_scopes: Table<'t, &'static [u8], ()>,
    pub graph_nodes: Table<'t, &'static [u8], &'static [u8]>,
    pub graph_edges: Table<'t, &'static [u8], &'static [u8]>,
    pub graph_out: MultimapTable<'t, &'static [u8], &'static [u8]>,
    pub graph_in: MultimapTable<'t, &'static [u8], &'static [u8]>,
    pub graph_vectors: Table<'t, &'static [u8; 16], &'static [u8]>,
}

impl<'t> WTables<'t> {
    pub(crate) fn open(txn: &'t WriteTransaction) -> Result<Self> {
        Ok(WTables {
            meta: txn.open_table(META)?,
            records: txn.open_table(RECORDS)?,
            vectors: txn.open_table(VECTORS)?,
            history: txn.open_table(HISTORY)?,
            scope_user: txn.open_multimap_table(SCOPE_USER)?,
            scope_agent: txn.open_multimap_table(SCOPE_AGENT)?,
            scope_run: txn.open_multimap_table(SCOPE_RUN)?,
            kw_postings: txn.open_table(KW_POSTINGS)?,
            kw_doclen: txn.open_table(KW_DOCLEN)?,
            kw_stats: txn.open_table(KW_STATS)?,
            graph_scopes: txn.open_table(GRAPH_SCOPES)?,
            graph_nodes: txn.open_table(GRAPH_NODES)?,
            graph_edges: txn.open_table(GRAPH_EDGES)?,
            graph_out: txn.open_multimap_table(GRAPH_OUT)?,
            graph_in: txn.open_multimap_table(GRAPH_IN)?,
            graph_vectors: txn.open_table(GRAPH_VECTORS)?,
        })
    }

    pub(crate) fn scope_index(&mut self, kind: ScopeKind) -> &mut Multi<'t> {
        match kind {
            ScopeKind::User => &mut self.scope_user,
            ScopeKind::Agent => &mut self.scope_agent,
            ScopeKind::Run => &mut self.scope_run,
        }
    }
}

/// Multimap definition of a scope dimension.
pub(crate) fn scope_table(
    kind: ScopeKind,
) -> MultimapTableDefinition<'static, &'static str, &'static [u8; 24]> {
    match kind {
        ScopeKind::User => SCOPE_USER,
        ScopeKind::Agent => SCOPE_AGENT,
        ScopeKind::Run => SCOPE_RUN,
    }
}

/// Deletes every data table (not `meta`) so the next open recreates them.
pub(crate) fn delete_data_tables(txn: &WriteTransaction) -> Result<()> {
    txn.delete_table(RECORDS)?;
    txn.delete_table(VECTORS)?;
    txn.delete_table(HISTORY)?;
    txn.delete_multimap_table(SCOPE_USER)?;
    txn.delete_multimap_table(SCOPE_AGENT)?;
    txn.delete_multimap_table(SCOPE_RUN)?;
    txn.delete_table(KW_POSTINGS)?;
    txn.delete_table(KW_DOCLEN)?;
    txn.delete_table(KW_STATS)?;
    txn.delete_table(GRAPH_SCOPES)?;
    txn.delete_table(GRAPH_NODES)?;
    txn.delete_table(GRAPH_EDGES)?;
    txn.delete_multimap_table(GRAPH_OUT)?;
    txn.delete_multimap_table(GRAPH_IN)?;
    txn.delete_table(GRAPH_VECTORS)?;
    Ok(())
}
