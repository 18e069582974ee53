//! The graph layout: vectors, per-layer adjacency, layer-0 in-degrees,
//! levels, tombstone flags and the id map, plus the accessors every phase
//! uses (link lists, distances, in-degree bookkeeping).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use parking_lot::Mutex;

use super::HnswParams;
use crate::distance::{Kernels, Metric, distance, kernels, prefetch};
use crate::error::{IndexError, Result};
use crate::util::{AlignedRows, Item, splitmix64, stride_for};

/// Internal id meaning "no node".
pub(crate) const NONE: u32 = u32::MAX;
/// Highest layer a node can be assigned (levels are `0..=MAX_LEVEL`).
pub(crate) const MAX_LEVEL: usize = 15;
/// How many 64-byte lines of a row are prefetched.
const PREFETCH_LINES: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) node: u32,
    pub(crate) level: u8,
}

/// The graph and its vectors. Link lists are atomics so a parallel build
/// can write them under per-node locks while other inserts read them.
pub(crate) struct Graph {
    pub(crate) dims: usize,
    pub(crate) metric: Metric,
    pub(crate) params: HnswParams,
    pub(super) kernels: Kernels,
    pub(crate) m0: usize,
    level_mult: f64,
    pub(crate) rows: AlignedRows,
    pub(crate) ext: Vec<u64>,
    pub(crate) levels: Vec<u8>,
    pub(super) upper_off: Vec<u32>,
    pub(crate) layer0: Vec<AtomicU32>,
    pub(crate) upper: Vec<AtomicU32>,
    /// Layer-0 in-degree of every node, kept in step with the link lists so
    /// pruning never drops a node's last in-link (which would make it
    /// unreachable).
    pub(super) indeg: Vec<AtomicU32>,
    pub(super) locks: Vec<Mutex<()>>,
    pub(crate) deleted: Vec<bool>,
    pub(crate) n_deleted: usize,
    pub(crate) entry: Mutex<Entry>,
    pub(crate) map: HashMap<u64, u32>,
    pub(crate) insert_counter: u64,
}

impl Graph {
    pub(crate) fn new(dims: usize, metric: Metric, params: HnswParams) -> Result<Self> {
        params.validate()?;
        if dims == 0 || dims > crate::MAX_DIMS {
            return Err(IndexError::InvalidParameter {
                name: "dims",
                reason: format!("must be in 1..={}, got {dims}", crate::MAX_DIMS),
            });
        }
        let m = params.m;
        Ok(Self {
            dims,
            metric,
            kernels: *kernels(),
            m0: 2 * m,
            level_mult: 1.0 / (m as f64).ln(),
            params,
            rows: AlignedRows::new(stride_for(dims)),
            ext: Vec::new(),
            levels: Vec::new(),
            upper_off: Vec::new(),
            layer0: Vec::new(),
            upper: Vec::new(),
            indeg: Vec::new(),
            locks: Vec::new(),
            deleted: Vec::new(),
            n_deleted: 0,
            entry: Mutex::new(Entry {
                node: NONE,
                level: 0,
            }),
            map: HashMap::new(),
            insert_counter: 0,
        })
    }

    #[inline(always)]
    pub(crate) fn n(&self) -> usize {
        self.ext.len()
    }

    pub(crate) fn m(&self) -> usize {
        self.params.m
    }

    pub(crate) fn live(&self) -> usize {
        self.n() - self.n_deleted
    }

    /// Deterministic level for the next inserted node.
    pub(super) fn draw_level(&mut self) -> u8 {
        let h = splitmix64(self.params.seed ^ splitmix64(self.insert_counter));
        self.insert_counter = self.insert_counter.wrapping_add(1);
        let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let l = (-u.ln() * self.level_mult).floor();
        if l.is_finite() && l >= 0.0 {
            (l as usize).min(MAX_LEVEL) as u8
        } else {
            0
        }
    }

    /// Capacity checks for `count` more nodes.
    pub(super) fn check_capacity(&self, count: usize) -> Result<()> {
        if self.n().saturating_add(count) > crate::MAX_NODES {
            return Err(IndexError::CapacityExceeded {
                max: crate::MAX_NODES,
            });
        }
        Ok(())
    }

    /// Appends a node (prepared, padded row) with no links.
    pub(crate) fn alloc_node(&mut self, ext: u64, row: &[f32], level: u8) -> Result<u32> {
        self.check_capacity(1)?;
        let upper_need = level as usize * (1 + self.m());
        let off = self.upper.len();
        if off + upper_need > u32::MAX as usize {
            return Err(IndexError::CapacityExceeded { max: self.n() });
        }
        let id = self.n() as u32;
        let dst = self.rows.push_zeroed();
        let k = dst.len().min(row.len());
        dst[..k].copy_from_slice(&row[..k]);
        self.ext.push(ext);
        self.levels.push(level);
        self.upper_off
            .push(if level == 0 { NONE } else { off as u32 });
        self.upper
            .extend((0..upper_need).map(|_| AtomicU32::new(0)));
        self.layer0
            .extend((0..1 + self.m0).map(|_| AtomicU32::new(0)));
        self.locks.push(Mutex::new(()));
        self.indeg.push(AtomicU32::new(0));
        self.deleted.push(false);
        self.map.insert(ext, id);
        Ok(id)
    }

    pub(super) fn reserve(&mut self, count: usize) {
        self.rows.reserve(count);
        self.ext.reserve(count);
        self.levels.reserve(count);
        self.upper_off.reserve(count);
        self.layer0.reserve(count * (1 + self.m0));
        self.locks.reserve(count);
        self.indeg.reserve(count);
        self.deleted.reserve(count);
        self.map.reserve(count);
    }

    /// Link list `[count, ids...]` of `node` at `layer`, if the node has that layer.
    #[inline(always)]
    pub(crate) fn links(&self, node: u32, layer: usize) -> Option<&[AtomicU32]> {
        let node = node as usize;
        if layer == 0 {
            let s = node * (1 + self.m0);
            self.layer0.get(s..s + 1 + self.m0)
        } else {
            if layer > *self.levels.get(node)? as usize {
                return None;
            }
            let off = *self.upper_off.get(node)? as usize + (layer - 1) * (1 + self.m());
            self.upper.get(off..off + 1 + self.m())
        }
    }

    #[inline(always)]
    pub(super) fn neighbors_into(&self, node: u32, layer: usize, out: &mut Vec<u32>) {
        out.clear();
        let Some(links) = self.links(node, layer) else {
            return;
        };
        let cnt = (links[0].load(Relaxed) as usize).min(links.len() - 1);
        let n = self.n() as u32;
        for a in &links[1..1 + cnt] {
            let v = a.load(Relaxed);
            if v < n {
                out.push(v);
            }
        }
    }

    /// Overwrites a link list; caller holds the node's lock (or `&mut`).
    pub(super) fn set_neighbors(&self, node: u32, layer: usize, ids: &[Item]) {
        let Some(links) = self.links(node, layer) else {
            return;
        };
        let cnt = ids.len().min(links.len() - 1);
        if layer == 0 {
            let old = (links[0].load(Relaxed) as usize).min(links.len() - 1);
            for a in &links[1..1 + old] {
                self.indeg_add(a.load(Relaxed), false);
            }
            for it in &ids[..cnt] {
                self.indeg_add(it.id, true);
            }
        }
        for (slot, it) in links[1..].iter().zip(&ids[..cnt]) {
            slot.store(it.id, Relaxed);
        }
        links[0].store(cnt as u32, Relaxed);
    }

    /// Counts a layer-0 link to `node` gained (`up`) or lost.
    #[inline]
    pub(super) fn indeg_add(&self, node: u32, up: bool) {
        if let Some(c) = self.indeg.get(node as usize) {
            if up {
                c.fetch_add(1, Relaxed);
            } else {
                // Saturating: a racing parallel build may read a list that
                // another thread is rewriting.
                let _ = c.fetch_update(Relaxed, Relaxed, |v| Some(v.saturating_sub(1)));
            }
        }
    }

    #[inline]
    pub(super) fn indeg_of(&self, node: u32) -> u32 {
        self.indeg.get(node as usize).map_or(0, |c| c.load(Relaxed))
    }

    /// Recomputes the layer-0 in-degrees from the link lists (exclusive
    /// access: after a parallel build, or a snapshot load).
    pub(crate) fn recount_in_degrees(&self) {
        for c in &self.indeg {
            c.store(0, Relaxed);
        }
        let mut nb = Vec::new();
        for node in 0..self.n() {
            self.neighbors_into(node as u32, 0, &mut nb);
            for &t in &nb {
                self.indeg_add(t, true);
            }
        }
    }

    /// Prefetches the first cache lines of a stored row (the hardware
    /// prefetcher follows the rest of a long row).
    #[inline(always)]
    pub(super) fn prefetch_row(&self, node: u32) {
        let row = self.rows.row(node as usize);
        for line in row.chunks(16).take(PREFETCH_LINES) {
            prefetch(line);
        }
    }

    #[inline(always)]
    pub(super) fn dist_q(&self, q: &[f32], node: u32) -> f32 {
        distance(&self.kernels, self.metric, q, self.rows.row(node as usize))
    }

    #[inline(always)]
    pub(super) fn dist_nodes(&self, a: u32, b: u32) -> f32 {
        self.dist_q(self.rows.row(a as usize), b)
    }

    /// Rebuilds from raw parts (snapshot load): recomputes upper offsets,
    /// locks and the id map. Link arrays must already have the right sizes.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_parts(
        dims: usize,
        metric: Metric,
        params: HnswParams,
        rows: AlignedRows,
        ext: Vec<u64>,
        levels: Vec<u8>,
        deleted: Vec<bool>,
        layer0: Vec<AtomicU32>,
        upper: Vec<AtomicU32>,
        entry: Entry,
        insert_counter: u64,
    ) -> Result<Graph> {
        let mut g = Graph::new(dims, metric, params)?;
        let n = ext.len();
        let m = g.m();
        let mut upper_off = Vec::with_capacity(n);
        let mut off = 0usize;
        for &l in &levels {
            if l == 0 {
                upper_off.push(NONE);
            } else {
                upper_off.push(
                    u32::try_from(off)
                        .map_err(|_| IndexError::Corrupt("upper links too large".into()))?,
                );
                off += l as usize * (1 + m);
            }
        }
        if off != upper.len()
            || layer0.len() != n * (1 + g.m0)
            || rows.rows() != n
            || levels.len() != n
            || deleted.len() != n
        {
            return Err(IndexError::Corrupt("section sizes disagree".into()));
        }
        let mut map = HashMap::with_capacity(n);
        let mut n_deleted = 0;
        for (i, (&id, &del)) in ext.iter().zip(&deleted).enumerate() {
            if del {
                n_deleted += 1;
            } else if map.insert(id, i as u32).is_some() {
                return Err(IndexError::Corrupt(format!(
                    "id {id} appears twice among live nodes"
                )));
            }
        }
        g.rows = rows;
        g.ext = ext;
        g.levels = levels;
        g.upper_off = upper_off;
        g.layer0 = layer0;
        g.upper = upper;
        g.locks = (0..n).map(|_| Mutex::new(())).collect();
        g.indeg = (0..n).map(|_| AtomicU32::new(0)).collect();
        g.deleted = deleted;
        g.n_deleted = n_deleted;
        g.entry = Mutex::new(entry);
        g.map = map;
        g.insert_counter = insert_counter;
        g.recount_in_degrees();
        Ok(g)
    }

    /// Number of `u32` slots in the upper-layer link array.
    pub(crate) fn upper_len(&self) -> usize {
        self.upper.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hnsw::testutil::{add, graph, indegs, line, set};

    #[test]
    fn set_neighbors_keeps_in_degrees_in_step() {
        let g = line(2, &[0.0, 1.0, 2.0, 3.0]);
        set(&g, 0, 0, &[1, 2]);
        set(&g, 1, 0, &[2]);
        assert_eq!(indegs(&g), [0, 1, 2, 0]);
        // Replacing a list takes its old targets' in-links away.
        set(&g, 0, 0, &[3]);
        assert_eq!(indegs(&g), [0, 0, 1, 1]);
        set(&g, 2, 0, &[0, 1, 3]);
        assert_eq!(indegs(&g), [1, 1, 1, 2]);
        set(&g, 2, 0, &[]);
        assert_eq!(indegs(&g), [0, 0, 1, 1]);
        g.check_invariants().expect("bookkeeping in step");
        // Upper layers have no in-degree counters.
        let mut g = graph(1, 2);
        add(&mut g, &[0.0], 1);
        add(&mut g, &[1.0], 1);
        set(&g, 0, 1, &[1]);
        assert_eq!(indegs(&g), [0, 0]);
        g.check_invariants().expect("upper-layer link");
    }

    #[test]
    fn indeg_add_counts_and_saturates_at_zero() {
        let g = line(2, &[0.0, 1.0]);
        g.indeg_add(1, true);
        g.indeg_add(1, true);
        g.indeg_add(1, false);
        assert_eq!(g.indeg_of(1), 1);
        g.indeg_add(0, false);
        assert_eq!(g.indeg_of(0), 0, "never wraps below zero");
        // Ids past the end are ignored.
        g.indeg_add(7, true);
        assert_eq!(g.indeg_of(7), 0);
    }

    #[test]
    fn recount_in_degrees_restores_corrupted_counters() {
        let g = line(2, &[0.0, 1.0, 2.0]);
        set(&g, 0, 0, &[1, 2]);
        set(&g, 2, 0, &[1]);
        g.indeg[1].store(9, Relaxed);
        g.indeg[0].store(3, Relaxed);
        assert!(g.check_invariants().is_err());
        g.recount_in_degrees();
        assert_eq!(indegs(&g), [0, 2, 1]);
        g.check_invariants().expect("recounted");
    }

    #[test]
    fn link_lists_exist_only_on_a_nodes_layers() {
        let mut g = graph(2, 3);
        let a = add(&mut g, &[0.0, 0.0], 0);
        let b = add(&mut g, &[1.0, 0.0], 2);
        let c = add(&mut g, &[0.0, 1.0], 1);
        assert_eq!(g.links(a, 0).map(<[_]>::len), Some(1 + 6));
        assert!(g.links(a, 1).is_none());
        assert_eq!(g.links(b, 1).map(<[_]>::len), Some(1 + 3));
        assert_eq!(g.links(b, 2).map(<[_]>::len), Some(1 + 3));
        assert!(g.links(b, 3).is_none());
        assert!(g.links(c, 2).is_none());
        assert!(g.links(3, 0).is_none(), "no such node");
        assert_eq!(g.upper_len(), 3 * (1 + 3));
        assert_eq!(*g.entry.lock(), Entry { node: b, level: 2 });
        assert_eq!(g.map.get(&1), Some(&b));
        g.check_invariants().expect("fresh nodes");
    }
}
