//! Graph tables: entity nodes and relationship edges per scope, with
//! adjacency multimaps, written through the same batches as memories.

use redb::{ReadTransaction, ReadableTable};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

// Entity and relationship keys: trim, lowercase, whitespace runs → `_`
// (the one name normaliser, from `memlayer-text`).
pub use memlayer_text::normalize_name;

use crate::codec::{
    self, decode, decode_version, encode, encode_version, push_part, scope_key, split_parts,
};
use crate::error::{Result, StoreError};
use crate::scope::Scope;
use crate::tables::{GRAPH_EDGES, GRAPH_IN, GRAPH_NODES, GRAPH_OUT, WTables};
use crate::time::Timestamp;

/// Longest accepted node name / relationship, in bytes.
pub const MAX_NAME_LEN: usize = 512;

/// Insert-or-bump a node.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeUpsert {
    /// Owner scope.
    pub scope: Scope,
    /// Entity name (normalised: trimmed, lowercased, whitespace runs → `_`).
    pub name: String,
    /// Name as written, kept when the node is created (`None`: `name`).
    pub display_name: Option<String>,
    /// Entity type (e.g. `person`); `None` keeps the stored one (or `entity`).
    pub node_type: Option<String>,
    /// Optional embedding of the entity name (pinned dimension).
    pub embedding: Option<Vec<f32>>,
}

/// Insert-or-bump an edge `source -relationship-> destination`.
#[derive(Clone, Debug, PartialEq)]
pub struct EdgeUpsert {
    /// Owner scope.
    pub scope: Scope,
    /// Source entity name (missing nodes are created).
    pub source: String,
    /// Relationship (normalised like names).
    pub relationship: String,
    /// Destination entity name (missing nodes are created).
    pub destination: String,
    /// The memory that produced this edge, recorded as provenance.
    pub memory_id: Option<Uuid>,
}

/// A stored node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GraphNode {
    /// Owner scope.
    pub scope: Scope,
    /// Normalised name (the key).
    pub name: String,
    /// Name as first seen.
    pub display_name: String,
    /// Entity type.
    pub node_type: String,
    /// How many upserts touched it.
    pub mentions: u64,
    /// First seen.
    pub created_at: Timestamp,
    /// Last touched.
    pub updated_at: Timestamp,
    /// Id of its embedding in the `graph_vectors` table.
    pub embedding_id: Option<Uuid>,
}

/// A stored edge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GraphEdge {
    /// Owner scope.
    pub scope: Scope,
    /// Normalised source name.
    pub source: String,
    /// Normalised relationship.
    pub relationship: String,
    /// Normalised destination name.
    pub destination: String,
    /// First seen.
    pub created_at: Timestamp,
    /// Last touched.
    pub updated_at: Timestamp,
    /// False once invalidated (kept for temporal reasoning).
    pub valid: bool,
    /// When it was invalidated.
    pub invalidated_at: Option<Timestamp>,
    /// How many upserts touched it.
    pub mentions: u64,
    /// Memories that produced it, oldest first, without duplicates.
    pub memory_ids: Vec<Uuid>,
    /// Memories that produced it and were deleted since (moved here from
    /// `memory_ids` by [`crate::WriteBatch::retract_provenance`]): the edge
    /// stays, its provenance change is recorded.
    #[serde(default)]
    pub retracted_memory_ids: Vec<Uuid>,
}

#[derive(Serialize, Deserialize)]
struct NodeV1 {
    display_name: String,
    node_type: String,
    mentions: u64,
    created_at: i64,
    updated_at: i64,
    embedding_id: Option<[u8; 16]>,
}

/// Edge value, format version 1 (read only: older files).
#[derive(Serialize, Deserialize)]
pub(crate) struct EdgeV1 {
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) valid: bool,
    pub(crate) invalidated_at: Option<i64>,
    pub(crate) mentions: u64,
    pub(crate) memory_ids: Vec<[u8; 16]>,
}

/// Edge value, format version 2 (written by this build): version 1 plus
/// the retracted provenance list.
#[derive(Serialize, Deserialize)]
struct EdgeV2 {
    created_at: i64,
    updated_at: i64,
    valid: bool,
    invalidated_at: Option<i64>,
    mentions: u64,
    memory_ids: Vec<[u8; 16]>,
    retracted_memory_ids: Vec<[u8; 16]>,
}

/// Format-version byte of edge values written by this build.
pub const EDGE_FORMAT: u8 = 2;

/// Decodes an edge value of either format version.
fn decode_edge_value(bytes: &[u8]) -> Result<EdgeV2> {
    match bytes.first() {
        Some(&codec::FORMAT_V1) => {
            let v: EdgeV1 = decode("graph edge", bytes)?;
            Ok(EdgeV2 {
                created_at: v.created_at,
                updated_at: v.updated_at,
                valid: v.valid,
                invalidated_at: v.invalidated_at,
                mentions: v.mentions,
                memory_ids: v.memory_ids,
                retracted_memory_ids: Vec::new(),
            })
        }
        _ => decode_version(EDGE_FORMAT, "graph edge", bytes),
    }
}

fn encode_edge_value(e: &EdgeV2) -> Result<Vec<u8>> {
    encode_version(EDGE_FORMAT, "graph edge", e)
}

fn checked_name(what: &str, s: &str) -> Result<String> {
    let n = normalize_name(s);
    if n.is_empty() {
        return Err(StoreError::InvalidGraph(format!(
            "{what} must not be empty"
        )));
    }
    if n.len() > MAX_NAME_LEN {
        return Err(StoreError::InvalidGraph(format!(
            "{what} is {} bytes, at most {MAX_NAME_LEN}",
            n.len()
        )));
    }
    Ok(n)
}

fn node_key(sk: &[u8], name: &str) -> Vec<u8> {
    let mut k = sk.to_vec();
    push_part(&mut k, name.as_bytes());
    k
}

fn edge_key(sk: &[u8], src: &str, rel: &str, dst: &str) -> Vec<u8> {
    let mut k = sk.to_vec();
    push_part(&mut k, src.as_bytes());
    push_part(&mut k, rel.as_bytes());
    push_part(&mut k, dst.as_bytes());
    k
}

pub(crate) fn decode_node(key: &[u8], bytes: &[u8]) -> Result<GraphNode> {
    let parts = split_parts(key)?;
    let [u, a, r, name] = parts.as_slice() else {
        return Err(StoreError::corrupt("graph_nodes key", "expected 4 parts"));
    };
    let v: NodeV1 = decode("graph node", bytes)?;
    Ok(GraphNode {
        scope: codec::scope_from_key(&[u, a, r])?,
        name: utf8(name)?,
        display_name: v.display_name,
        node_type: v.node_type,
        mentions: v.mentions,
        created_at: Timestamp(v.created_at),
        updated_at: Timestamp(v.updated_at),
        embedding_id: v.embedding_id.map(Uuid::from_bytes),
    })
}

pub(crate) fn decode_edge(key: &[u8], bytes: &[u8]) -> Result<GraphEdge> {
    let parts = split_parts(key)?;
    let [u, a, r, src, rel, dst] = parts.as_slice() else {
        return Err(StoreError::corrupt("graph_edges key", "expected 6 parts"));
    };
    let v = decode_edge_value(bytes)?;
    Ok(GraphEdge {
        scope: codec::scope_from_key(&[u, a, r])?,
        source: utf8(src)?,
        relationship: utf8(rel)?,
        destination: utf8(dst)?,
        created_at: Timestamp(v.created_at),
        updated_at: Timestamp(v.updated_at),
        valid: v.valid,
        invalidated_at: v.invalidated_at.map(Timestamp),
        mentions: v.mentions,
        memory_ids: v.memory_ids.into_iter().map(Uuid::from_bytes).collect(),
        retracted_memory_ids: v
            .retracted_memory_ids
            .into_iter()
            .map(Uuid::from_bytes)
            .collect(),
    })
}

fn utf8(b: &[u8]) -> Result<String> {
    String::from_utf8(b.to_vec()).map_err(|e| StoreError::corrupt("graph key", e))
}

/// Scope key, edge key and node keys of an edge, for verification.
pub(crate) fn edge_keys(e: &GraphEdge) -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
    let sk = scope_key(&e.scope);
    (
        edge_key(&sk, &e.source, &e.relationship, &e.destination),
        node_key(&sk, &e.source),
        node_key(&sk, &e.destination),
        sk,
    )
}

/// Writes nodes/edges inside a batch.
pub(crate) struct GraphWriter<'a, 'b> {
    pub t: &'a mut WTables<'b>,
    pub now: Timestamp,
    pub dims: u32,
}

impl GraphWriter<'_, '_> {
    fn touch_node(
        &mut self,
        sk: &[u8],
        name: &str,
        display: &str,
        node_type: Option<&str>,
    ) -> Result<NodeV1> {
        let key = node_key(sk, name);
        let existing = self
            .t
            .graph_nodes
            .get(key.as_slice())?
            .map(|g| g.value().to_vec());
        let node = match existing {
            Some(bytes) => {
                let mut n: NodeV1 = decode("graph node", &bytes)?;
                n.mentions = n.mentions.saturating_add(1);
                n.updated_at = self.now.0;
                if let Some(t) = node_type {
                    n.node_type = t.to_string();
                }
                n
            }
            None => NodeV1 {
                display_name: display.trim().to_string(),
                node_type: node_type.unwrap_or("entity").to_string(),
                mentions: 1,
                created_at: self.now.0,
                updated_at: self.now.0,
                embedding_id: None,
            },
        };
        self.t.graph_scopes.insert(sk, ())?;
        Ok(node)
    }

    fn put_node(&mut self, sk: &[u8], name: &str, n: &NodeV1) -> Result<()> {
        self.t.graph_nodes.insert(
            node_key(sk, name).as_slice(),
            encode("graph node", n)?.as_slice(),
        )?;
        Ok(())
    }

    pub(crate) fn upsert_node(&mut self, up: &NodeUpsert) -> Result<()> {
        let scope = up.scope.validated()?;
        let name = checked_name("node name", &up.name)?;
        let sk = scope_key(&scope);
        let node_type = up
            .node_type
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let display = up.display_name.as_deref().unwrap_or(&up.name);
        let mut n = self.touch_node(&sk, &name, display, node_type)?;
        if let Some(v) = &up.embedding {
            crate::store::check_vector(v, self.dims)?;
            let id = match n.embedding_id {
                Some(id) => id,
                None => *Uuid::now_v7().as_bytes(),
            };
            self.t
                .graph_vectors
                .insert(&id, codec::vector_to_bytes(v).as_slice())?;
            n.embedding_id = Some(id);
        }
        self.put_node(&sk, &name, &n)
    }

    pub(crate) fn upsert_edge(&mut self, up: &EdgeUpsert) -> Result<()> {
        let scope = up.scope.validated()?;
        let src = checked_name("edge source", &up.source)?;
        let rel = checked_name("relationship", &up.relationship)?;
        let dst = checked_name("edge destination", &up.destination)?;
        let sk = scope_key(&scope);
        let n = self.touch_node(&sk, &src, &up.source, None)?;
        self.put_node(&sk, &src, &n)?;
        if dst != src {
            let n = self.touch_node(&sk, &dst, &up.destination, None)?;
            self.put_node(&sk, &dst, &n)?;
        }
        let ek = edge_key(&sk, &src, &rel, &dst);
        let existing = self
            .t
            .graph_edges
            .get(ek.as_slice())?
            .map(|g| g.value().to_vec());
        let mut e = match existing {
            Some(bytes) => {
                let mut e = decode_edge_value(&bytes)?;
                e.mentions = e.mentions.saturating_add(1);
                e.updated_at = self.now.0;
                e.valid = true;
                e.invalidated_at = None;
                e
            }
            None => EdgeV2 {
                created_at: self.now.0,
                updated_at: self.now.0,
                valid: true,
                invalidated_at: None,
                mentions: 1,
                memory_ids: Vec::new(),
                retracted_memory_ids: Vec::new(),
            },
        };
        if let Some(mid) = up.memory_id {
            let b = *mid.as_bytes();
            if !e.memory_ids.contains(&b) {
                e.memory_ids.push(b);
            }
            e.retracted_memory_ids.retain(|r| *r != b);
        }
        self.t
            .graph_edges
            .insert(ek.as_slice(), encode_edge_value(&e)?.as_slice())?;
        self.t
            .graph_out
            .insert(node_key(&sk, &src).as_slice(), ek.as_slice())?;
        self.t
            .graph_in
            .insert(node_key(&sk, &dst).as_slice(), ek.as_slice())?;
        Ok(())
    }

    /// Marks an edge invalid (kept, with `invalidated_at`). Errors if absent.
    pub(crate) fn invalidate_edge(
        &mut self,
        scope: &Scope,
        src: &str,
        rel: &str,
        dst: &str,
    ) -> Result<()> {
        let scope = scope.validated()?;
        let sk = scope_key(&scope);
        let ek = edge_key(
            &sk,
            &normalize_name(src),
            &normalize_name(rel),
            &normalize_name(dst),
        );
        let existing = self
            .t
            .graph_edges
            .get(ek.as_slice())?
            .map(|g| g.value().to_vec());
        let Some(bytes) = existing else {
            return Err(StoreError::InvalidGraph(format!(
                "no edge {src} -{rel}-> {dst} in this scope to invalidate"
            )));
        };
        let mut e = decode_edge_value(&bytes)?;
        if e.valid {
            e.valid = false;
            e.invalidated_at = Some(self.now.0);
            e.updated_at = self.now.0;
            self.t
                .graph_edges
                .insert(ek.as_slice(), encode_edge_value(&e)?.as_slice())?;
        }
        Ok(())
    }

    /// Moves `memory` from the provenance list of every edge of `scope` to
    /// its retracted list (the edges stay). Returns how many edges changed.
    pub(crate) fn retract_provenance(&mut self, scope: &Scope, memory: Uuid) -> Result<usize> {
        let scope = scope.validated()?;
        let sk = scope_key(&scope);
        let b = *memory.as_bytes();
        let mut changed = Vec::new();
        for entry in self.t.graph_edges.range(sk.as_slice()..)? {
            let (k, v) = entry?;
            if !k.value().starts_with(&sk) {
                break;
            }
            let mut e = decode_edge_value(v.value())?;
            if e.memory_ids.contains(&b) {
                e.memory_ids.retain(|m| *m != b);
                if !e.retracted_memory_ids.contains(&b) {
                    e.retracted_memory_ids.push(b);
                }
                e.updated_at = self.now.0;
                changed.push((k.value().to_vec(), encode_edge_value(&e)?));
            }
        }
        for (k, v) in &changed {
            self.t.graph_edges.insert(k.as_slice(), v.as_slice())?;
        }
        Ok(changed.len())
    }

    /// Removes up to `limit` nodes/edges from every graph scope matched by
    /// `filter` (every dimension set in `filter` equal). Returns how many
    /// entries were removed; 0 means the scope is empty.
    pub(crate) fn clear_scope(&mut self, filter: &Scope, limit: usize) -> Result<usize> {
        let mut scopes = Vec::new();
        for entry in self.t.graph_scopes.iter()? {
            let (k, _) = entry?;
            let key = k.value().to_vec();
            let parts = split_parts(&key)?;
            if filter.matches(&codec::scope_from_key(&parts)?) {
                scopes.push(key);
            }
        }
        let mut removed = 0usize;
        for sk in scopes {
            // Edges first (they reference nodes), then adjacency, then nodes.
            let mut edges = Vec::new();
            for entry in self.t.graph_edges.range(sk.as_slice()..)? {
                let (k, _) = entry?;
                if !k.value().starts_with(&sk) || removed + edges.len() >= limit {
                    break;
                }
                edges.push(k.value().to_vec());
            }
            for ek in &edges {
                let parts = split_parts(ek)?;
                if let [_, _, _, src, _, dst] = parts.as_slice() {
                    self.t
                        .graph_out
                        .remove(node_key(&sk, &utf8(src)?).as_slice(), ek.as_slice())?;
                    self.t
                        .graph_in
                        .remove(node_key(&sk, &utf8(dst)?).as_slice(), ek.as_slice())?;
                }
                self.t.graph_edges.remove(ek.as_slice())?;
            }
            removed += edges.len();
            if removed >= limit {
                return Ok(removed);
            }
            let mut nodes = Vec::new();
            for entry in self.t.graph_nodes.range(sk.as_slice()..)? {
                let (k, v) = entry?;
                if !k.value().starts_with(&sk) || removed + nodes.len() >= limit {
                    break;
                }
                let n: NodeV1 = decode("graph node", v.value())?;
                nodes.push((k.value().to_vec(), n.embedding_id));
            }
            for (nk, emb) in &nodes {
                self.t.graph_out.remove_all(nk.as_slice())?;
                self.t.graph_in.remove_all(nk.as_slice())?;
                if let Some(id) = emb {
                    self.t.graph_vectors.remove(id)?;
                }
                self.t.graph_nodes.remove(nk.as_slice())?;
            }
            removed += nodes.len();
            if removed >= limit {
                return Ok(removed);
            }
            self.t.graph_scopes.remove(sk.as_slice())?;
        }
        Ok(removed)
    }
}

fn scope_range(sk: &[u8]) -> std::ops::RangeFrom<&[u8]> {
    sk..
}

/// Nodes of exactly this scope, by name.
/// The graph scopes matched by `filter` (every dimension set in `filter`
/// equal), in key order: `user=u` matches `(u, -, -)` and `(u, -, r1)`.
pub(crate) fn scopes_matching(txn: &ReadTransaction, filter: &Scope) -> Result<Vec<Scope>> {
    let filter = filter.validated()?;
    let t = txn.open_table(crate::tables::GRAPH_SCOPES)?;
    let mut out = Vec::new();
    for entry in t.iter()? {
        let (k, _) = entry?;
        let s = codec::scope_from_key(&split_parts(k.value())?)?;
        if filter.matches(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

pub(crate) fn nodes(txn: &ReadTransaction, scope: &Scope) -> Result<Vec<GraphNode>> {
    let sk = scope_key(&scope.validated()?);
    let t = txn.open_table(GRAPH_NODES)?;
    let mut out = Vec::new();
    for entry in t.range(scope_range(&sk))? {
        let (k, v) = entry?;
        if !k.value().starts_with(&sk) {
            break;
        }
        out.push(decode_node(k.value(), v.value())?);
    }
    Ok(out)
}

/// A node's stored embedding.
pub(crate) fn node_vector(txn: &ReadTransaction, embedding_id: Uuid) -> Result<Option<Vec<f32>>> {
    let t = txn.open_table(crate::tables::GRAPH_VECTORS)?;
    t.get(embedding_id.as_bytes())?
        .map(|v| codec::vector_from_bytes(v.value()))
        .transpose()
}

/// One node.
pub(crate) fn node(txn: &ReadTransaction, scope: &Scope, name: &str) -> Result<Option<GraphNode>> {
    let sk = scope_key(&scope.validated()?);
    let key = node_key(&sk, &normalize_name(name));
    let t = txn.open_table(GRAPH_NODES)?;
    t.get(key.as_slice())?
        .map(|v| decode_node(&key, v.value()))
        .transpose()
}

/// Edges of exactly this scope.
pub(crate) fn edges(
    txn: &ReadTransaction,
    scope: &Scope,
    include_invalid: bool,
) -> Result<Vec<GraphEdge>> {
    let sk = scope_key(&scope.validated()?);
    let t = txn.open_table(GRAPH_EDGES)?;
    let mut out = Vec::new();
    for entry in t.range(scope_range(&sk))? {
        let (k, v) = entry?;
        if !k.value().starts_with(&sk) {
            break;
        }
        let e = decode_edge(k.value(), v.value())?;
        if include_invalid || e.valid {
            out.push(e);
        }
    }
    Ok(out)
}

/// Edges touching a node (outgoing then incoming), via the adjacency
/// multimaps; at most `limit`.
pub(crate) fn neighbors(
    txn: &ReadTransaction,
    scope: &Scope,
    name: &str,
    include_invalid: bool,
    limit: usize,
) -> Result<Vec<GraphEdge>> {
    let sk = scope_key(&scope.validated()?);
    let nk = node_key(&sk, &normalize_name(name));
    let edges_t = txn.open_table(GRAPH_EDGES)?;
    let mut out = Vec::new();
    for def in [GRAPH_OUT, GRAPH_IN] {
        let adj = txn.open_multimap_table(def)?;
        for ek in adj.get(nk.as_slice())? {
            let ek = ek?;
            let v = edges_t
                .get(ek.value())?
                .ok_or_else(|| StoreError::corrupt("graph adjacency", "edge missing"))?;
            let e = decode_edge(ek.value(), v.value())?;
            if include_invalid || e.valid {
                out.push(e);
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
    }
    Ok(out)
}

impl GraphWriter<'_, '_> {
    /// Writes a node verbatim (import).
    pub(crate) fn put_raw_node(&mut self, n: &GraphNode, embedding: Option<&[f32]>) -> Result<()> {
        let scope = n.scope.validated()?;
        let name = checked_name("node name", &n.name)?;
        if name != n.name {
            return Err(StoreError::InvalidGraph(format!(
                "node name `{}` is not normalised",
                n.name
            )));
        }
        let sk = scope_key(&scope);
        let embedding_id = match (n.embedding_id, embedding) {
            (Some(id), Some(v)) => {
                crate::store::check_vector(v, self.dims)?;
                self.t
                    .graph_vectors
                    .insert(id.as_bytes(), codec::vector_to_bytes(v).as_slice())?;
                Some(*id.as_bytes())
            }
            (None, None) => None,
            _ => {
                return Err(StoreError::InvalidGraph(
                    "node embedding id and embedding must come together".into(),
                ));
            }
        };
        let v = NodeV1 {
            display_name: n.display_name.clone(),
            node_type: n.node_type.clone(),
            mentions: n.mentions,
            created_at: n.created_at.0,
            updated_at: n.updated_at.0,
            embedding_id,
        };
        self.t.graph_scopes.insert(sk.as_slice(), ())?;
        self.put_node(&sk, &name, &v)
    }

    /// Writes an edge verbatim (import); its nodes must already exist.
    pub(crate) fn put_raw_edge(&mut self, e: &GraphEdge) -> Result<()> {
        let scope = e.scope.validated()?;
        let sk = scope_key(&scope);
        for (what, n) in [
            ("source", &e.source),
            ("relationship", &e.relationship),
            ("destination", &e.destination),
        ] {
            if checked_name(what, n)? != *n {
                return Err(StoreError::InvalidGraph(format!(
                    "edge {what} `{n}` is not normalised"
                )));
            }
        }
        for n in [&e.source, &e.destination] {
            if self
                .t
                .graph_nodes
                .get(node_key(&sk, n).as_slice())?
                .is_none()
            {
                return Err(StoreError::InvalidGraph(format!(
                    "edge endpoint `{n}` has no node; import nodes first"
                )));
            }
        }
        let ek = edge_key(&sk, &e.source, &e.relationship, &e.destination);
        let v = EdgeV2 {
            created_at: e.created_at.0,
            updated_at: e.updated_at.0,
            valid: e.valid,
            invalidated_at: e.invalidated_at.map(|t| t.0),
            mentions: e.mentions,
            memory_ids: e.memory_ids.iter().map(|u| *u.as_bytes()).collect(),
            retracted_memory_ids: e
                .retracted_memory_ids
                .iter()
                .map(|u| *u.as_bytes())
                .collect(),
        };
        self.t
            .graph_edges
            .insert(ek.as_slice(), encode_edge_value(&v)?.as_slice())?;
        self.t
            .graph_out
            .insert(node_key(&sk, &e.source).as_slice(), ek.as_slice())?;
        self.t
            .graph_in
            .insert(node_key(&sk, &e.destination).as_slice(), ek.as_slice())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Edge values written by format version 1 (before retracted provenance
    /// existed) still decode, with an empty retracted list.
    #[test]
    fn reads_version_1_edges() {
        let v1 = EdgeV1 {
            created_at: 5,
            updated_at: 6,
            valid: false,
            invalidated_at: Some(6),
            mentions: 2,
            memory_ids: vec![[7; 16]],
        };
        let bytes = encode("graph edge", &v1).unwrap();
        assert_eq!(bytes[0], codec::FORMAT_V1);
        let scope = Scope::user("u");
        let key = edge_key(&scope_key(&scope), "a", "likes", "b");
        let e = decode_edge(&key, &bytes).unwrap();
        assert_eq!(e.memory_ids, vec![Uuid::from_bytes([7; 16])]);
        assert!(e.retracted_memory_ids.is_empty());
        assert_eq!(e.invalidated_at, Some(Timestamp(6)));
        // Version 2 round trip, and unknown versions are corruption.
        let v2 = decode_edge_value(&bytes).unwrap();
        let b2 = encode_edge_value(&v2).unwrap();
        assert_eq!(b2[0], EDGE_FORMAT);
        assert!(decode_edge_value(&b2).is_ok());
        let mut bad = b2.clone();
        bad[0] = 9;
        assert!(decode_edge_value(&bad).is_err());
    }
}
