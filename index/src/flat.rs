//! Exact (brute-force) SIMD index: the test oracle and the engine's path
//! for small scopes.

use std::collections::HashMap;

use parking_lot::RwLock;

use crate::allow::AllowSet;
use crate::distance::{Kernels, Metric, distance, kernels, prepare_into};
use crate::error::{IndexError, Result};
use crate::util::{AlignedRows, Item, TopK, stride_for};

/// Exact nearest-neighbour index: a SIMD scan over contiguous vectors.
///
/// Same API as [`crate::HnswIndex`]; results are exact, sorted by ascending
/// distance (ties broken by insertion slot).
///
/// ```
/// use memlayer_index::{FlatIndex, Metric};
/// let idx = FlatIndex::new(2, Metric::L2).unwrap();
/// idx.insert(1, &[0.0, 0.0]).unwrap();
/// idx.insert(2, &[1.0, 1.0]).unwrap();
/// let hits = idx.search(&[0.9, 0.9], 1, None).unwrap();
/// assert_eq!(hits[0].0, 2);
/// ```
pub struct FlatIndex {
    inner: RwLock<Flat>,
}

struct Flat {
    dims: usize,
    metric: Metric,
    kernels: Kernels,
    rows: AlignedRows,
    ids: Vec<u64>,
    map: HashMap<u64, u32>,
}

impl FlatIndex {
    /// Creates an empty index for `dims`-dimensional vectors.
    pub fn new(dims: usize, metric: Metric) -> Result<Self> {
        if dims == 0 || dims > crate::MAX_DIMS {
            return Err(IndexError::InvalidParameter {
                name: "dims",
                reason: format!("must be in 1..={}, got {dims}", crate::MAX_DIMS),
            });
        }
        Ok(Self {
            inner: RwLock::new(Flat {
                dims,
                metric,
                kernels: *kernels(),
                rows: AlignedRows::new(stride_for(dims)),
                ids: Vec::new(),
                map: HashMap::new(),
            }),
        })
    }

    /// Vector dimensions.
    pub fn dims(&self) -> usize {
        self.inner.read().dims
    }

    /// Distance metric.
    pub fn metric(&self) -> Metric {
        self.inner.read().metric
    }

    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.inner.read().ids.len()
    }

    /// True if the index holds no vectors.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `id` is present.
    pub fn contains(&self, id: u64) -> bool {
        self.inner.read().map.contains_key(&id)
    }

    /// Adds a vector under a new id; errors if the id exists.
    pub fn insert(&self, id: u64, vector: &[f32]) -> Result<()> {
        let mut g = self.inner.write();
        if g.map.contains_key(&id) {
            return Err(IndexError::DuplicateId(id));
        }
        if g.ids.len() >= crate::MAX_NODES {
            return Err(IndexError::CapacityExceeded {
                max: crate::MAX_NODES,
            });
        }
        let (metric, dims) = (g.metric, g.dims);
        let mut buf = vec![0.0; dims];
        prepare_into(metric, dims, vector, &mut buf)?;
        let slot = g.ids.len() as u32;
        g.rows.push_zeroed()[..dims].copy_from_slice(&buf);
        g.ids.push(id);
        g.map.insert(id, slot);
        Ok(())
    }

    /// Replaces the vector of an existing id; errors if the id is unknown.
    pub fn update(&self, id: u64, vector: &[f32]) -> Result<()> {
        let mut g = self.inner.write();
        let Some(&slot) = g.map.get(&id) else {
            return Err(IndexError::UnknownId(id));
        };
        let (metric, dims) = (g.metric, g.dims);
        let row = g.rows.row_mut(slot as usize);
        prepare_into(metric, dims, vector, row)
    }

    /// Removes `id`; returns whether it was present.
    pub fn delete(&self, id: u64) -> Result<bool> {
        let mut g = self.inner.write();
        let Some(slot) = g.map.remove(&id) else {
            return Ok(false);
        };
        let slot = slot as usize;
        g.rows.swap_remove(slot);
        g.ids.swap_remove(slot);
        if let Some(&moved) = g.ids.get(slot) {
            g.map.insert(moved, slot as u32);
        }
        Ok(true)
    }

    /// Exact k nearest neighbours as `(id, distance)`, ascending distance.
    /// With a filter only allowed ids are returned.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<&AllowSet>,
    ) -> Result<Vec<(u64, f32)>> {
        let g = self.inner.read();
        let mut q = vec![0.0; g.rows.stride()];
        prepare_into(g.metric, g.dims, query, &mut q)?;
        let mut top = TopK::new(k);
        let n = g.ids.len();
        match filter {
            // Small allowed set: look each id up.
            Some(f) if f.len().saturating_mul(4) < n => {
                for id in f.iter() {
                    if let Some(&slot) = g.map.get(&id) {
                        let d = distance(&g.kernels, g.metric, &q, g.rows.row(slot as usize));
                        top.push(Item { d, id: slot });
                    }
                }
            }
            _ => {
                for slot in 0..n {
                    if let Some(f) = filter
                        && !f.contains(g.ids[slot])
                    {
                        continue;
                    }
                    let d = distance(&g.kernels, g.metric, &q, g.rows.row(slot));
                    top.push(Item { d, id: slot as u32 });
                }
            }
        }
        Ok(top
            .into_sorted()
            .into_iter()
            .map(|it| (g.ids[it.id as usize], it.d))
            .collect())
    }
}

impl std::fmt::Debug for FlatIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.inner.read();
        f.debug_struct("FlatIndex")
            .field("dims", &g.dims)
            .field("metric", &g.metric)
            .field("len", &g.ids.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crud_and_filter() {
        let idx = FlatIndex::new(3, Metric::Cosine).unwrap();
        for i in 0..50u64 {
            idx.insert(i, &[1.0, i as f32, 0.5]).unwrap();
        }
        assert!(matches!(
            idx.insert(3, &[1.0, 0.0, 0.0]),
            Err(IndexError::DuplicateId(3))
        ));
        assert!(idx.delete(10).unwrap());
        assert!(!idx.delete(10).unwrap());
        assert_eq!(idx.len(), 49);
        let r = idx.search(&[1.0, 10.0, 0.5], 3, None).unwrap();
        assert!(r.iter().all(|(id, _)| *id != 10));
        assert!(r.windows(2).all(|w| w[0].1 <= w[1].1));
        idx.update(11, &[0.0, 0.0, 1.0]).unwrap();
        let r = idx.search(&[0.0, 0.0, 1.0], 1, None).unwrap();
        assert_eq!(r[0].0, 11);
        let f = AllowSet::from_ids([5, 6, 10]);
        let r = idx.search(&[1.0, 10.0, 0.5], 5, Some(&f)).unwrap();
        assert_eq!(r.len(), 2);
        assert!(matches!(
            idx.update(999, &[1.0, 0.0, 0.0]),
            Err(IndexError::UnknownId(999))
        ));
        assert!(idx.search(&[1.0], 1, None).is_err());
    }
}
