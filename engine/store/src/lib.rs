//! memlayer-store: the engine's source of truth. Memories, vectors,
//! history, scope indexes, a BM25 keyword index and graph tables live in
//! ONE redb file; every logical operation commits atomically through a
//! [`WriteBatch`], and readers see whole batches or nothing.
//!
//! ```
//! use memlayer_store::{filter, ListOptions, NewMemory, Scope, Store, StoreConfig};
//! use serde_json::json;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path().join("mem.redb"), StoreConfig::new("minilm", 3)).unwrap();
//! let meta = json!({"topic": "food"}).as_object().unwrap().clone();
//! let m = store
//!     .add(NewMemory::new("Loves spicy ramen", Scope::user("alice"), vec![0.1, 0.2, 0.3]).with_metadata(meta))
//!     .unwrap();
//! let f = filter::parse(&json!({"topic": "food"})).unwrap();
//! let page = store.list(&Scope::user("alice"), Some(&f), &ListOptions::default()).unwrap();
//! assert_eq!(page.items[0].id, m.id);
//! let hits = store.keyword_search(&Scope::user("alice"), None, "ramen", 5).unwrap();
//! assert_eq!(hits[0].0, m.id);
//! assert!(store.verify().unwrap().is_ok());
//! ```
#![deny(clippy::unwrap_used)]
#![deny(missing_docs)]

mod batch;
pub mod codec;
mod error;
pub mod export;
pub mod filter;
pub mod graph;
pub mod keyword;
pub mod md5;
mod record;
mod scope;
mod store;
mod tables;
mod time;
mod verify;

pub use batch::{WriteBatch, merge_metadata};
pub use error::{Result, StoreError};
pub use export::{ExportHeader, ExportLine, TransferStats};
pub use filter::Filter;
pub use graph::{EdgeUpsert, GraphEdge, GraphNode, NodeUpsert};
pub use keyword::KeywordOptions;
pub use record::{HistoryEvent, HistoryKind, Memory, MemoryUpdate, NewMemory};
pub use scope::{IDENTITY_KEYS, MAX_ID_LEN, Scope, ScopeKind, validate_id, validate_metadata};
pub use store::{
    CommitInfo, DELETE_ALL_BATCH, DeleteAllReport, DurabilityMode, ListOptions, Page, Snapshot,
    Store, StoreConfig,
};
pub use tables::SCHEMA_VERSION;
pub use time::Timestamp;
pub use verify::VerifyReport;
