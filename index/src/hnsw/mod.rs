//! The HNSW graph index, split by phase:
//!
//! * `graph`: the layout (vectors, adjacency, in-degrees, levels) and its accessors;
//! * `search`: greedy descent, beam search, exact scans and the filter planner;
//! * `insert`: neighbour selection and linking (single and parallel builds);
//! * `repair`: the post-build reachability repair;
//! * `compact`: tombstones and compaction;
//! * `params`: [`HnswParams`];
//! * `invariants`: `check_invariants` (feature `check-invariants` and tests);
//! * this file: the public facade [`HnswIndex`].

mod compact;
mod graph;
mod insert;
#[cfg(any(test, feature = "check-invariants"))]
mod invariants;
mod params;
mod repair;
mod search;
#[cfg(test)]
mod testutil;

use std::path::Path;

use parking_lot::{Mutex, RwLock};

pub(crate) use graph::{Entry, Graph, MAX_LEVEL, NONE};
use insert::PARALLEL_MIN;
#[cfg(any(test, feature = "check-invariants"))]
pub use invariants::InvariantError;
pub use params::HnswParams;
use search::Scratch;
pub use search::{SearchPlan, SearchStats};

use crate::allow::AllowSet;
use crate::distance::{Metric, prepare_into};
use crate::error::{IndexError, Result};

/// Hierarchical navigable small world index with deletes, updates,
/// filtered search and crash-safe snapshots.
///
/// All methods take `&self`: searches run concurrently under a read lock,
/// writes take a write lock (one writer at a time).
///
/// ```
/// use memlayer_index::{AllowSet, HnswIndex, HnswParams, Metric};
/// let idx = HnswIndex::new(3, Metric::Cosine, HnswParams::default()).unwrap();
/// idx.insert(10, &[1.0, 0.0, 0.0]).unwrap();
/// idx.insert(11, &[0.0, 1.0, 0.0]).unwrap();
/// idx.insert(12, &[0.7, 0.7, 0.0]).unwrap();
/// let hits = idx.search(&[1.0, 0.1, 0.0], 2, None).unwrap();
/// assert_eq!(hits[0].0, 10);
/// // Scoped search: only ids 11 and 12 may be returned.
/// let scope = AllowSet::from_ids([11, 12]);
/// let hits = idx.search(&[1.0, 0.1, 0.0], 1, Some(&scope)).unwrap();
/// assert_eq!(hits[0].0, 12);
/// idx.delete(12).unwrap();
/// assert_eq!(idx.search(&[1.0, 0.1, 0.0], 1, Some(&scope)).unwrap()[0].0, 11);
/// ```
pub struct HnswIndex {
    pub(crate) inner: RwLock<Graph>,
    scratch: Mutex<Vec<Scratch>>,
}

impl std::fmt::Debug for HnswIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.inner.read();
        f.debug_struct("HnswIndex")
            .field("dims", &g.dims)
            .field("metric", &g.metric)
            .field("live", &g.live())
            .field("deleted", &g.n_deleted)
            .field("params", &g.params)
            .finish()
    }
}

impl HnswIndex {
    /// Creates an empty index for `dims`-dimensional vectors.
    pub fn new(dims: usize, metric: Metric, params: HnswParams) -> Result<Self> {
        Ok(Self::from_graph(Graph::new(dims, metric, params)?))
    }

    pub(crate) fn from_graph(g: Graph) -> Self {
        Self {
            inner: RwLock::new(g),
            scratch: Mutex::new(Vec::new()),
        }
    }

    fn take_scratch(&self) -> Scratch {
        self.scratch.lock().pop().unwrap_or_else(Scratch::new)
    }

    fn give_scratch(&self, s: Scratch) {
        let mut pool = self.scratch.lock();
        if pool.len() < 64 {
            pool.push(s);
        }
    }

    /// Vector dimensions.
    pub fn dims(&self) -> usize {
        self.inner.read().dims
    }

    /// Distance metric.
    pub fn metric(&self) -> Metric {
        self.inner.read().metric
    }

    /// The parameters the index was built with.
    pub fn params(&self) -> HnswParams {
        self.inner.read().params.clone()
    }

    /// Changes the search-time parameters ([`HnswParams::ef_search`],
    /// [`HnswParams::exact_filter_threshold`],
    /// [`HnswParams::filter_fallback_factor`]) without rebuilding.
    ///
    /// ```
    /// use memlayer_index::{HnswIndex, HnswParams, Metric};
    /// let idx = HnswIndex::new(4, Metric::L2, HnswParams::default()).unwrap();
    /// idx.set_search_params(128, 0, 4.0).unwrap();
    /// assert_eq!(idx.params().ef_search, 128);
    /// ```
    pub fn set_search_params(
        &self,
        ef_search: usize,
        exact_filter_threshold: usize,
        filter_fallback_factor: f32,
    ) -> Result<()> {
        let mut g = self.inner.write();
        let p = HnswParams {
            ef_search,
            exact_filter_threshold,
            filter_fallback_factor,
            ..g.params.clone()
        };
        p.validate()?;
        g.params = p;
        Ok(())
    }

    /// Number of live (searchable) vectors.
    pub fn len(&self) -> usize {
        self.inner.read().live()
    }

    /// True if no live vectors remain.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of tombstoned nodes still in the graph (cleared by [`Self::compact`]).
    pub fn deleted_count(&self) -> usize {
        self.inner.read().n_deleted
    }

    /// Whether `id` is present (and not deleted).
    pub fn contains(&self, id: u64) -> bool {
        self.inner.read().map.contains_key(&id)
    }

    /// Adds a vector under a new id; errors if the id exists.
    pub fn insert(&self, id: u64, vector: &[f32]) -> Result<()> {
        let mut g = self.inner.write();
        if g.map.contains_key(&id) {
            return Err(IndexError::DuplicateId(id));
        }
        self.insert_locked(&mut g, id, vector)
    }

    fn insert_locked(&self, g: &mut Graph, id: u64, vector: &[f32]) -> Result<()> {
        let mut s = self.take_scratch();
        s.query.clear();
        s.query.resize(g.rows.stride(), 0.0);
        let r = prepare_into(g.metric, g.dims, vector, &mut s.query).and_then(|()| {
            g.check_capacity(1)?;
            if let Some(&old) = g.map.get(&id) {
                g.map.remove(&id);
                g.tombstone(old);
            }
            let level = g.draw_level();
            let node = g.alloc_node(id, &s.query, level)?;
            g.insert_node(node, &mut s);
            Ok(())
        });
        self.give_scratch(s);
        r?;
        self.maybe_compact(g)
    }

    /// Replaces the vector of an existing id (the old node is tombstoned
    /// and a new one linked). Errors if the id is unknown.
    pub fn update(&self, id: u64, vector: &[f32]) -> Result<()> {
        let mut g = self.inner.write();
        if !g.map.contains_key(&id) {
            return Err(IndexError::UnknownId(id));
        }
        self.insert_locked(&mut g, id, vector)
    }

    /// Inserts many vectors at once (`vectors` is row-major, `ids.len() ×
    /// dims` floats), linking them in parallel with rayon. All-or-nothing:
    /// nothing is inserted if any vector or id is invalid or already present.
    ///
    /// ```
    /// use memlayer_index::{HnswIndex, HnswParams, Metric};
    /// let idx = HnswIndex::new(2, Metric::L2, HnswParams::default()).unwrap();
    /// idx.insert_batch(&[1, 2, 3], &[0.0, 0.0, 1.0, 0.0, 0.0, 1.0]).unwrap();
    /// assert_eq!(idx.len(), 3);
    /// ```
    pub fn insert_batch(&self, ids: &[u64], vectors: &[f32]) -> Result<()> {
        let mut g = self.inner.write();
        let dims = g.dims;
        if ids.len().checked_mul(dims) != Some(vectors.len()) {
            return Err(IndexError::BatchShape {
                ids: ids.len(),
                floats: vectors.len(),
                dims,
            });
        }
        g.check_capacity(ids.len())?;
        let stride = g.rows.stride();
        let mut prepared = vec![0.0f32; ids.len() * stride];
        let mut seen = std::collections::HashSet::with_capacity(ids.len());
        for (i, (&id, v)) in ids.iter().zip(vectors.chunks_exact(dims)).enumerate() {
            if g.map.contains_key(&id) || !seen.insert(id) {
                return Err(IndexError::DuplicateId(id));
            }
            prepare_into(
                g.metric,
                dims,
                v,
                &mut prepared[i * stride..(i + 1) * stride],
            )?;
        }
        let start = g.n();
        g.reserve(ids.len());
        for (i, &id) in ids.iter().enumerate() {
            let level = g.draw_level();
            g.alloc_node(id, &prepared[i * stride..(i + 1) * stride], level)?;
        }
        let mut s = self.take_scratch();
        g.link_range(start, &mut s);
        if ids.len() >= PARALLEL_MIN {
            g.repair(&mut s);
        }
        self.give_scratch(s);
        Ok(())
    }

    /// Deletes `id` (tombstone: never returned again, still used for
    /// traversal until compaction). Returns whether it was present.
    pub fn delete(&self, id: u64) -> Result<bool> {
        let mut g = self.inner.write();
        let Some(node) = g.map.remove(&id) else {
            return Ok(false);
        };
        g.tombstone(node);
        self.maybe_compact(&mut g)?;
        Ok(true)
    }

    fn maybe_compact(&self, g: &mut Graph) -> Result<()> {
        if g.should_compact() {
            *g = g.rebuild()?;
        }
        Ok(())
    }

    /// Rebuilds the graph from the live vectors, dropping all tombstones.
    /// Runs automatically past [`HnswParams::max_tombstone_ratio`].
    pub fn compact(&self) -> Result<()> {
        let mut g = self.inner.write();
        if g.n_deleted > 0 {
            *g = g.rebuild()?;
        }
        Ok(())
    }

    /// The `k` nearest neighbours of `query` as `(id, distance)` sorted by
    /// ascending distance, with beam width [`HnswParams::ef_search`].
    /// With a filter only allowed ids are returned.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<&AllowSet>,
    ) -> Result<Vec<(u64, f32)>> {
        let ef = self.inner.read().params.ef_search;
        self.search_ef(query, k, ef, filter)
    }

    /// Like [`Self::search`] with an explicit beam width `ef` (raised to `k`).
    pub fn search_ef(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        filter: Option<&AllowSet>,
    ) -> Result<Vec<(u64, f32)>> {
        self.search_with_stats(query, k, ef, filter).map(|(r, _)| r)
    }

    /// Like [`Self::search_ef`], also reporting the plan taken and its cost.
    ///
    /// ```
    /// use memlayer_index::{AllowSet, HnswIndex, HnswParams, Metric, SearchPlan};
    /// let idx = HnswIndex::new(1, Metric::L2, HnswParams::default()).unwrap();
    /// idx.insert_batch(&[1, 2, 3], &[1.0, 2.0, 3.0]).unwrap();
    /// let (hits, stats) = idx.search_with_stats(&[2.1], 1, 16, Some(&AllowSet::from_ids([1, 3]))).unwrap();
    /// assert_eq!(stats.plan, SearchPlan::Exact);
    /// assert_eq!(hits[0].0, 3);
    /// ```
    pub fn search_with_stats(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        filter: Option<&AllowSet>,
    ) -> Result<(Vec<(u64, f32)>, SearchStats)> {
        let g = self.inner.read();
        let mut s = self.take_scratch();
        s.query.clear();
        s.query.resize(g.rows.stride(), 0.0);
        let r = prepare_into(g.metric, g.dims, query, &mut s.query).map(|()| {
            let q = std::mem::take(&mut s.query);
            let out = g.search_prepared(&q, k, ef, filter, &mut s);
            s.query = q;
            out
        });
        self.give_scratch(s);
        r
    }

    /// Writes a snapshot to `path` atomically (temp file, fsync, rename,
    /// directory fsync), recording the store commit sequence it reflects.
    pub fn save(&self, path: impl AsRef<Path>, commit_seq: u64) -> Result<()> {
        let g = self.inner.read();
        crate::persist::save(&g, path.as_ref(), commit_seq)
    }

    /// Serialises a snapshot into memory (same bytes as [`Self::save`]).
    pub fn to_bytes(&self, commit_seq: u64) -> Vec<u8> {
        let g = self.inner.read();
        let mut out = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = crate::persist::write(&g, &mut out, commit_seq);
        out
    }

    /// Loads a snapshot written by [`Self::save`]; returns the index and the
    /// commit sequence it reflects. Any corruption or version mismatch is an
    /// error (rebuild from the store), never a panic.
    ///
    /// ```
    /// use memlayer_index::{HnswIndex, HnswParams, Metric};
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("index.hnsw");
    /// let idx = HnswIndex::new(2, Metric::Dot, HnswParams::default()).unwrap();
    /// idx.insert(7, &[0.5, 0.5]).unwrap();
    /// idx.save(&path, 42).unwrap();
    /// let (back, seq) = HnswIndex::load(&path).unwrap();
    /// assert_eq!(seq, 42);
    /// assert!(back.contains(7));
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<(Self, u64)> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| IndexError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::load_from_bytes(&bytes)
    }

    /// Parses a snapshot from bytes. Never panics on any input (fuzz entry).
    pub fn load_from_bytes(bytes: &[u8]) -> Result<(Self, u64)> {
        let (g, seq) = crate::persist::read(bytes)?;
        Ok((Self::from_graph(g), seq))
    }
}

/// Invariant checks for tests and fuzzing (feature `check-invariants`):
/// each walks the whole graph under the read lock.
#[cfg(any(test, feature = "check-invariants"))]
impl HnswIndex {
    /// Checks the invariants that hold after every operation and returns
    /// the first violation: layout sizes agree; link counts are within
    /// capacity (`2m` on layer 0, `m` above); every link points at an
    /// existing slot other than its own node, on a layer that node has;
    /// the layer-0 in-degree counters equal a recount of the lists; the
    /// entry point is a node on the top layer (none iff the graph is
    /// empty); the tombstone count and the id map agree with the stored
    /// ids and tombstone flags.
    ///
    /// ```
    /// use memlayer_index::{HnswIndex, HnswParams, Metric};
    /// let idx = HnswIndex::new(2, Metric::L2, HnswParams::default()).unwrap();
    /// idx.insert(1, &[0.0, 1.0]).unwrap();
    /// idx.check_invariants().unwrap();
    /// ```
    pub fn check_invariants(&self) -> Result<(), InvariantError> {
        self.inner.read().check_invariants()
    }

    /// [`Self::check_invariants`], then that every live node is reachable
    /// on layer 0 from the entry point (through tombstones too, as searches
    /// go). That holds only after the reachability repair: right after a
    /// compaction (explicit or automatic) or a batch insert of at least 256
    /// vectors, and through later deletes and snapshot round trips; single
    /// inserts, updates and smaller batches can cut a few nodes off.
    pub fn check_reachability(&self) -> Result<(), InvariantError> {
        let g = self.inner.read();
        g.check_invariants()?;
        g.check_reachable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_deterministic_and_geometric() {
        let mut a = Graph::new(4, Metric::L2, HnswParams::default()).unwrap();
        let mut b = Graph::new(4, Metric::L2, HnswParams::default()).unwrap();
        let la: Vec<u8> = (0..10_000).map(|_| a.draw_level()).collect();
        let lb: Vec<u8> = (0..10_000).map(|_| b.draw_level()).collect();
        assert_eq!(la, lb);
        let upper = la.iter().filter(|&&l| l > 0).count();
        // Expect 1/m = 6.25% of nodes above layer 0.
        assert!((400..900).contains(&upper), "{upper}");
    }

    #[test]
    fn bad_params_rejected() {
        assert!(
            HnswIndex::new(
                4,
                Metric::L2,
                HnswParams {
                    m: 1,
                    ..Default::default()
                }
            )
            .is_err()
        );
        assert!(HnswIndex::new(0, Metric::L2, HnswParams::default()).is_err());
        assert!(
            HnswIndex::new(
                4,
                Metric::L2,
                HnswParams {
                    max_tombstone_ratio: f32::NAN,
                    ..Default::default()
                }
            )
            .is_err()
        );
    }
}
