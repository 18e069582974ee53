//! memlayer-index: memlayer's approximate-nearest-neighbour index.
//!
//! * [`HnswIndex`]: HNSW graph with deletes (tombstones + compaction),
//!   updates, scoped search over an [`AllowSet`], parallel batch build and
//!   crash-safe, checksummed snapshots.
//! * [`FlatIndex`]: exact SIMD scan with the same API: the test oracle and
//!   the engine's path for small scopes.
//! * [`distance`]: cosine / dot / L2 kernels (AVX-512F, AVX2+FMA, scalar),
//!   picked once at runtime.
//!
//! Search results are `(id, distance)` pairs, lower distance is better
//! (see [`Metric`]).
//!
//! ```
//! use memlayer_index::{HnswIndex, HnswParams, Metric, VectorIndex};
//! let idx = HnswIndex::new(2, Metric::L2, HnswParams::default()).unwrap();
//! idx.insert(1, &[0.0, 0.0]).unwrap();
//! idx.insert(2, &[5.0, 5.0]).unwrap();
//! assert_eq!(idx.search(&[4.0, 4.0], 1, None).unwrap()[0].0, 2);
//! // The same through the trait shared with `FlatIndex`:
//! let dyn_idx: &dyn VectorIndex = &idx;
//! assert_eq!(dyn_idx.len(), 2);
//! ```
#![deny(clippy::unwrap_used)]
#![deny(missing_docs)]

mod allow;
pub mod distance;
mod error;
mod flat;
mod hnsw;
mod persist;
mod util;

pub use allow::AllowSet;
pub use distance::Metric;
pub use error::{IndexError, Result};
pub use flat::FlatIndex;
#[cfg(any(test, feature = "check-invariants"))]
pub use hnsw::InvariantError;
pub use hnsw::{HnswIndex, HnswParams, SearchPlan, SearchStats};
pub use persist::{FORMAT_VERSION, MAGIC};

/// Largest supported vector dimension.
pub const MAX_DIMS: usize = 1 << 16;
/// Largest number of nodes (live + tombstoned) in one index.
pub const MAX_NODES: usize = (u32::MAX - 1) as usize;

/// Operations shared by [`HnswIndex`] and [`FlatIndex`], so the engine (and
/// tests) can swap one for the other.
pub trait VectorIndex: Send + Sync {
    /// Vector dimensions.
    fn dims(&self) -> usize;
    /// Distance metric.
    fn metric(&self) -> Metric;
    /// Number of live vectors.
    fn len(&self) -> usize;
    /// True if no live vectors.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Whether `id` is present.
    fn contains(&self, id: u64) -> bool;
    /// Adds a vector under a new id.
    fn insert(&self, id: u64, vector: &[f32]) -> Result<()>;
    /// Replaces the vector of an existing id.
    fn update(&self, id: u64, vector: &[f32]) -> Result<()>;
    /// Removes an id; returns whether it was present.
    fn delete(&self, id: u64) -> Result<bool>;
    /// The `k` nearest `(id, distance)` pairs, ascending, optionally
    /// restricted to `filter`.
    fn search(&self, query: &[f32], k: usize, filter: Option<&AllowSet>)
    -> Result<Vec<(u64, f32)>>;
}

macro_rules! impl_vector_index {
    ($t:ty) => {
        impl VectorIndex for $t {
            fn dims(&self) -> usize {
                <$t>::dims(self)
            }
            fn metric(&self) -> Metric {
                <$t>::metric(self)
            }
            fn len(&self) -> usize {
                <$t>::len(self)
            }
            fn contains(&self, id: u64) -> bool {
                <$t>::contains(self, id)
            }
            fn insert(&self, id: u64, vector: &[f32]) -> Result<()> {
                <$t>::insert(self, id, vector)
            }
            fn update(&self, id: u64, vector: &[f32]) -> Result<()> {
                <$t>::update(self, id, vector)
            }
            fn delete(&self, id: u64) -> Result<bool> {
                <$t>::delete(self, id)
            }
            fn search(
                &self,
                query: &[f32],
                k: usize,
                filter: Option<&AllowSet>,
            ) -> Result<Vec<(u64, f32)>> {
                <$t>::search(self, query, k, filter)
            }
        }
    };
}

impl_vector_index!(HnswIndex);
impl_vector_index!(FlatIndex);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_are_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<HnswIndex>();
        check::<FlatIndex>();
        check::<AllowSet>();
    }
}
