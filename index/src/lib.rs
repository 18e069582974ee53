//! memlayer-index: memlayer's approximate-nearest-neighbour index.
//!
//! Reserved for the Index work item (HNSW with deletes, filtered search and
//! crash-safe snapshots, plus an exact SIMD scan). See `ARCHITECTURE.md`.
#![deny(clippy::unwrap_used)]
#![deny(missing_docs)]
