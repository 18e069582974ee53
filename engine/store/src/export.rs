//! JSONL export/import: one JSON object per line, lossless for records,
//! vectors, metadata, timestamps, history and graph.
//!
//! Line kinds (externally tagged): `{"header": {...}}` first, then
//! `{"memory": {"memory": {...}, "vector": [...]}}`, `{"history": {...}}`,
//! `{"node": {...}}`, `{"edge": {...}}`.

use std::io::{BufRead, Write};

use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use crate::batch::Tx;
use crate::codec;
use crate::error::{Result, StoreError};
use crate::graph::{GraphEdge, GraphNode};
use crate::record::{HistoryEvent, Memory};
use crate::store::Store;
use crate::tables::{GRAPH_EDGES, GRAPH_NODES, GRAPH_VECTORS, HISTORY, RECORDS, VECTORS};

/// Export format name in the header.
pub const EXPORT_FORMAT: &str = "memlayer-jsonl";
/// Export format version.
pub const EXPORT_VERSION: u32 = 1;

/// First line of an export.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportHeader {
    /// Always [`EXPORT_FORMAT`].
    pub format: String,
    /// Always [`EXPORT_VERSION`].
    pub version: u32,
    /// Embedding model of the vectors.
    pub embedding_model: String,
    /// Vector dimensions.
    pub dims: u32,
    /// Commit sequence the export was taken at.
    pub commit_seq: u64,
}

/// A memory with its vector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryLine {
    /// The record.
    pub memory: Memory,
    /// Its vector.
    pub vector: Vec<f32>,
}

/// A node with its embedding, if any.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeLine {
    /// The node.
    pub node: GraphNode,
    /// Its embedding.
    #[serde(default)]
    pub embedding: Option<Vec<f32>>,
}

/// One line of an export.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportLine {
    /// The header (first line).
    Header(ExportHeader),
    /// A live memory.
    Memory(Box<MemoryLine>),
    /// A history event (also for deleted memories), in commit order.
    History(Box<HistoryEvent>),
    /// A graph node.
    Node(Box<NodeLine>),
    /// A graph edge.
    Edge(Box<GraphEdge>),
}

/// Counts of an export or import.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransferStats {
    /// Memories.
    pub memories: u64,
    /// History events.
    pub history: u64,
    /// Graph nodes.
    pub nodes: u64,
    /// Graph edges.
    pub edges: u64,
}

fn write_line(w: &mut impl Write, line: &ExportLine) -> Result<()> {
    serde_json::to_writer(&mut *w, line).map_err(std::io::Error::other)?;
    w.write_all(b"\n")?;
    Ok(())
}

impl Store {
    /// Writes everything (one consistent snapshot) as JSONL.
    pub fn export_jsonl(&self, mut w: impl Write) -> Result<TransferStats> {
        let snap = self.snapshot()?;
        let txn = &snap.txn;
        let mut stats = TransferStats::default();
        write_line(
            &mut w,
            &ExportLine::Header(ExportHeader {
                format: EXPORT_FORMAT.into(),
                version: EXPORT_VERSION,
                embedding_model: self.embedding_model().into(),
                dims: self.dims(),
                commit_seq: snap.commit_seq()?,
            }),
        )?;
        let records = txn.open_table(RECORDS)?;
        let vectors = txn.open_table(VECTORS)?;
        for entry in records.iter()? {
            let (k, v) = entry?;
            let id = uuid::Uuid::from_bytes(*k.value());
            let memory = codec::decode_record(id, v.value())?;
            let vector = match vectors.get(k.value())? {
                Some(v) => codec::vector_from_bytes(v.value())?,
                None => {
                    return Err(StoreError::corrupt(
                        "vectors",
                        format!("memory {id} has no vector"),
                    ));
                }
            };
            write_line(
                &mut w,
                &ExportLine::Memory(Box::new(MemoryLine { memory, vector })),
            )?;
            stats.memories += 1;
        }
        for entry in txn.open_table(HISTORY)?.iter()? {
            let (k, v) = entry?;
            let e = codec::decode_history(k.value(), v.value())?;
            write_line(&mut w, &ExportLine::History(Box::new(e)))?;
            stats.history += 1;
        }
        let gvec = txn.open_table(GRAPH_VECTORS)?;
        for entry in txn.open_table(GRAPH_NODES)?.iter()? {
            let (k, v) = entry?;
            let node = crate::graph::decode_node(k.value(), v.value())?;
            let embedding = match node.embedding_id {
                Some(e) => gvec
                    .get(e.as_bytes())?
                    .map(|v| codec::vector_from_bytes(v.value()))
                    .transpose()?,
                None => None,
            };
            write_line(
                &mut w,
                &ExportLine::Node(Box::new(NodeLine { node, embedding })),
            )?;
            stats.nodes += 1;
        }
        for entry in txn.open_table(GRAPH_EDGES)?.iter()? {
            let (k, v) = entry?;
            let e = crate::graph::decode_edge(k.value(), v.value())?;
            write_line(&mut w, &ExportLine::Edge(Box::new(e)))?;
            stats.edges += 1;
        }
        w.flush()?;
        Ok(stats)
    }

    /// Imports a JSONL export in ONE write transaction: all of it or none.
    /// Ids, timestamps and history are kept; history events get this
    /// import's commit sequence. Fails on id collisions and on a header
    /// whose embedder differs from this store's.
    pub fn import_jsonl(&self, r: impl BufRead) -> Result<TransferStats> {
        let model = self.embedding_model().to_string();
        let dims = self.dims();
        let (_, stats) = self.write(|tx| {
            let mut stats = TransferStats::default();
            let mut seen_header = false;
            for (i, line) in r.lines().enumerate() {
                let n = i + 1;
                let line = line?;
                if line.trim().is_empty() {
                    continue;
                }
                let parsed: ExportLine =
                    serde_json::from_str(&line).map_err(|e| StoreError::Import {
                        line: n,
                        reason: e.to_string(),
                    })?;
                let err = |e: StoreError| StoreError::Import {
                    line: n,
                    reason: e.to_string(),
                };
                match parsed {
                    ExportLine::Header(h) => {
                        if seen_header || n != 1 {
                            return Err(StoreError::Import {
                                line: n,
                                reason: "header must be the first line and appear once".into(),
                            });
                        }
                        if h.format != EXPORT_FORMAT || h.version != EXPORT_VERSION {
                            return Err(StoreError::Import {
                                line: n,
                                reason: format!("unsupported format {} v{}", h.format, h.version),
                            });
                        }
                        if h.embedding_model != model || h.dims != dims {
                            return Err(err(StoreError::EmbedderMismatch {
                                stored_model: model.clone(),
                                stored_dims: dims,
                                requested_model: h.embedding_model,
                                requested_dims: h.dims,
                            }));
                        }
                        seen_header = true;
                    }
                    _ if !seen_header => {
                        return Err(StoreError::Import {
                            line: n,
                            reason: "missing header line".into(),
                        });
                    }
                    ExportLine::Memory(ml) => {
                        let MemoryLine { mut memory, vector } = *ml;
                        if memory.embedding_model != model {
                            return Err(StoreError::Import {
                                line: n,
                                reason: format!(
                                    "memory embedded with `{}`, store uses `{model}`",
                                    memory.embedding_model
                                ),
                            });
                        }
                        let given_hash = memory.hash.clone();
                        Tx::validate_memory(&mut memory).map_err(err)?;
                        if !given_hash.is_empty() && given_hash != memory.hash {
                            return Err(StoreError::Import {
                                line: n,
                                reason: "hash does not match text".into(),
                            });
                        }
                        tx.put_new(&memory, &vector).map_err(err)?;
                        stats.memories += 1;
                    }
                    ExportLine::History(e) => {
                        let mut e = *e;
                        e.seq = tx.seq;
                        tx.add_history(&e).map_err(err)?;
                        stats.history += 1;
                    }
                    ExportLine::Node(nl) => {
                        tx.graph()
                            .put_raw_node(&nl.node, nl.embedding.as_deref())
                            .map_err(err)?;
                        stats.nodes += 1;
                    }
                    ExportLine::Edge(e) => {
                        tx.graph().put_raw_edge(&e).map_err(err)?;
                        stats.edges += 1;
                    }
                }
            }
            if !seen_header {
                return Err(StoreError::Import {
                    line: 1,
                    reason: "empty input: missing header line".into(),
                });
            }
            Ok(stats)
        })?;
        tracing::info!(?stats, "import committed");
        Ok(stats)
    }
}
