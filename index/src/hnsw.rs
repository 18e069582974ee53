//! The HNSW graph index.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use parking_lot::{Mutex, RwLock};
use rayon::prelude::*;

use crate::allow::AllowSet;
use crate::distance::{Kernels, Metric, distance, distance4, kernels, prefetch, prepare_into};
use crate::error::{IndexError, Result};
use crate::util::{AlignedRows, Item, TopK, Visited, splitmix64, stride_for};

/// Internal id meaning "no node".
pub(crate) const NONE: u32 = u32::MAX;
/// Highest layer a node can be assigned (levels are `0..=MAX_LEVEL`).
pub(crate) const MAX_LEVEL: usize = 15;
/// Batches at least this large are inserted in parallel.
const PARALLEL_MIN: usize = 256;
/// Beam search computes distances to neighbours in groups of this many
/// (the batched kernels) and prefetches the next group's rows.
const PREFETCH_AHEAD: usize = 4;
/// How many 64-byte lines of a row are prefetched.
const PREFETCH_LINES: usize = 8;

/// Construction and search parameters of an [`HnswIndex`].
///
/// ```
/// use memlayer_index::HnswParams;
/// let p = HnswParams { m: 24, ef_construction: 300, ..HnswParams::default() };
/// assert_eq!(p.ef_search, 64);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HnswParams {
    /// Links per node on upper layers; layer 0 keeps `2 * m`. Range 2..=128.
    pub m: usize,
    /// Beam width while inserting (quality of the graph). Range 1..=65536.
    pub ef_construction: usize,
    /// Default beam width for [`HnswIndex::search`] (raised to `k` if smaller).
    pub ef_search: usize,
    /// Seed of the deterministic level assignment.
    pub seed: u64,
    /// Filtered searches whose allowed set has at most this many ids use an
    /// exact scan of the allowed ids instead of the graph.
    pub exact_filter_threshold: usize,
    /// A filtered graph search gives up and scans the allowed set exactly
    /// once it has computed more than `filter_fallback_factor × |allowed|`
    /// distances (the scan would then have been cheaper).
    pub filter_fallback_factor: f32,
    /// Rebuild the graph without tombstones once deleted nodes exceed this
    /// fraction of all nodes. `1.0` or more disables automatic compaction
    /// (call [`HnswIndex::compact`] yourself).
    pub max_tombstone_ratio: f32,
}

impl Default for HnswParams {
    fn default() -> Self {
        Self {
            m: 16,
            ef_construction: 200,
            ef_search: 64,
            seed: 0x6d65_6d6c_6179_6572,
            exact_filter_threshold: 2048,
            filter_fallback_factor: 1.0,
            max_tombstone_ratio: 0.3,
        }
    }
}

impl HnswParams {
    /// Checks every field's range.
    pub fn validate(&self) -> Result<()> {
        let bad = |name, reason: String| Err(IndexError::InvalidParameter { name, reason });
        if !(2..=128).contains(&self.m) {
            return bad("m", format!("must be in 2..=128, got {}", self.m));
        }
        if !(1..=65536).contains(&self.ef_construction) {
            return bad(
                "ef_construction",
                format!("must be in 1..=65536, got {}", self.ef_construction),
            );
        }
        if !(1..=65536).contains(&self.ef_search) {
            return bad(
                "ef_search",
                format!("must be in 1..=65536, got {}", self.ef_search),
            );
        }
        if !self.filter_fallback_factor.is_finite() || self.filter_fallback_factor < 0.0 {
            return bad(
                "filter_fallback_factor",
                format!(
                    "must be finite and >= 0, got {}",
                    self.filter_fallback_factor
                ),
            );
        }
        if !self.max_tombstone_ratio.is_finite() || self.max_tombstone_ratio <= 0.0 {
            return bad(
                "max_tombstone_ratio",
                format!("must be finite and > 0, got {}", self.max_tombstone_ratio),
            );
        }
        Ok(())
    }
}

/// Which path a search took (see [`HnswIndex::search_with_stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchPlan {
    /// Graph traversal.
    Graph,
    /// Exact scan of the allowed set (small filter).
    Exact,
    /// Graph traversal that passed its budget, then an exact scan.
    GraphThenExact,
}

/// Cost report of one search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchStats {
    /// The path taken.
    pub plan: SearchPlan,
    /// Distances computed.
    pub distance_evals: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) node: u32,
    pub(crate) level: u8,
}

/// Reusable per-search buffers.
pub(crate) struct Scratch {
    visited: Visited,
    cand: BinaryHeap<Reverse<Item>>,
    res: BinaryHeap<Item>,
    nbrs: Vec<u32>,
    eps: Vec<Item>,
    sorted: Vec<Item>,
    sel: Vec<Item>,
    query: Vec<f32>,
    conn_ids: Vec<u32>,
    conn_items: Vec<Item>,
    conn_sel: Vec<Item>,
}

impl Scratch {
    fn new() -> Self {
        Self {
            visited: Visited::new(),
            cand: BinaryHeap::new(),
            res: BinaryHeap::new(),
            nbrs: Vec::new(),
            eps: Vec::new(),
            sorted: Vec::new(),
            sel: Vec::new(),
            query: Vec::new(),
            conn_ids: Vec::new(),
            conn_items: Vec::new(),
            conn_sel: Vec::new(),
        }
    }
}

/// The graph and its vectors. Link lists are atomics so a parallel build
/// can write them under per-node locks while other inserts read them.
pub(crate) struct Graph {
    pub(crate) dims: usize,
    pub(crate) metric: Metric,
    pub(crate) params: HnswParams,
    kernels: Kernels,
    pub(crate) m0: usize,
    level_mult: f64,
    pub(crate) rows: AlignedRows,
    pub(crate) ext: Vec<u64>,
    pub(crate) levels: Vec<u8>,
    upper_off: Vec<u32>,
    pub(crate) layer0: Vec<AtomicU32>,
    pub(crate) upper: Vec<AtomicU32>,
    /// Layer-0 in-degree of every node, kept in step with the link lists so
    /// pruning never drops a node's last in-link (which would make it
    /// unreachable).
    indeg: Vec<AtomicU32>,
    locks: Vec<Mutex<()>>,
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
    fn draw_level(&mut self) -> u8 {
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
    fn check_capacity(&self, count: usize) -> Result<()> {
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

    fn reserve(&mut self, count: usize) {
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
    fn neighbors_into(&self, node: u32, layer: usize, out: &mut Vec<u32>) {
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
    fn set_neighbors(&self, node: u32, layer: usize, ids: &[Item]) {
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
    fn indeg_add(&self, node: u32, up: bool) {
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
    fn indeg_of(&self, node: u32) -> u32 {
        self.indeg.get(node as usize).map_or(0, |c| c.load(Relaxed))
    }

    /// Prefetches the first cache lines of a stored row (the hardware
    /// prefetcher follows the rest of a long row).
    #[inline(always)]
    fn prefetch_row(&self, node: u32) {
        let row = self.rows.row(node as usize);
        for line in row.chunks(16).take(PREFETCH_LINES) {
            prefetch(line);
        }
    }

    #[inline(always)]
    fn dist_q(&self, q: &[f32], node: u32) -> f32 {
        distance(&self.kernels, self.metric, q, self.rows.row(node as usize))
    }

    #[inline(always)]
    fn dist_nodes(&self, a: u32, b: u32) -> f32 {
        self.dist_q(self.rows.row(a as usize), b)
    }

    fn greedy(
        &self,
        q: &[f32],
        mut cur: Item,
        layer: usize,
        nbrs: &mut Vec<u32>,
        evals: &mut usize,
    ) -> Item {
        loop {
            let mut changed = false;
            self.neighbors_into(cur.id, layer, nbrs);
            for &nb in nbrs.iter() {
                let d = self.dist_q(q, nb);
                *evals += 1;
                if d < cur.d {
                    cur = Item { d, id: nb };
                    changed = true;
                }
            }
            if !changed {
                return cur;
            }
        }
    }

    /// Beam search on one layer from `s.eps`; admitted nodes end in
    /// `s.res` (at most `ef`). Returns false if `budget` distance
    /// evaluations were exceeded (results then incomplete).
    #[allow(clippy::too_many_arguments)]
    fn search_layer<F: Fn(u32) -> bool>(
        &self,
        q: &[f32],
        ef: usize,
        layer: usize,
        s: &mut Scratch,
        admit: F,
        budget: usize,
        evals: &mut usize,
    ) -> bool {
        let Scratch {
            visited,
            cand,
            res,
            nbrs,
            eps,
            ..
        } = s;
        visited.reset(self.n());
        cand.clear();
        res.clear();
        for &ep in eps.iter() {
            if !visited.insert(ep.id) {
                continue;
            }
            cand.push(Reverse(ep));
            if admit(ep.id) {
                res.push(ep);
                if res.len() > ef {
                    res.pop();
                }
            }
        }
        let mut bound = match res.peek() {
            Some(top) if res.len() >= ef => top.d,
            _ => f32::INFINITY,
        };
        while let Some(Reverse(c)) = cand.pop() {
            if c.d > bound {
                break;
            }
            self.neighbors_into(c.id, layer, nbrs);
            // Drop visited neighbours first so the prefetches below only
            // fetch rows whose distance will really be computed.
            nbrs.retain(|&nb| visited.insert(nb));
            for &nb in nbrs.iter().take(PREFETCH_AHEAD) {
                self.prefetch_row(nb);
            }
            // Distances four at a time (one pass over the query, four
            // memory streams), then the usual per-neighbour bookkeeping.
            let mut ds = [0f32; 4];
            for i in 0..nbrs.len() {
                let nb = nbrs[i];
                if i % 4 == 0 {
                    for &next in nbrs.iter().skip(i + PREFETCH_AHEAD).take(PREFETCH_AHEAD) {
                        self.prefetch_row(next);
                    }
                    if i + 4 <= nbrs.len() {
                        ds = distance4(
                            &self.kernels,
                            self.metric,
                            q,
                            [0, 1, 2, 3].map(|j| self.rows.row(nbrs[i + j] as usize)),
                        );
                    }
                }
                let d = if i - i % 4 + 4 <= nbrs.len() {
                    ds[i % 4]
                } else {
                    self.dist_q(q, nb)
                };
                *evals += 1;
                if d < bound {
                    cand.push(Reverse(Item { d, id: nb }));
                    if admit(nb) {
                        res.push(Item { d, id: nb });
                        if res.len() > ef {
                            res.pop();
                        }
                        if res.len() >= ef
                            && let Some(top) = res.peek()
                        {
                            bound = top.d;
                        }
                    }
                }
            }
            if *evals > budget {
                return false;
            }
        }
        true
    }

    /// HNSW paper algorithm 4 (simple heuristic, no extension, no keeping
    /// of pruned links): `cands` sorted ascending by distance to the base.
    fn select_neighbors(&self, cands: &[Item], m: usize, out: &mut Vec<Item>) {
        out.clear();
        if cands.len() <= m {
            out.extend_from_slice(cands);
            return;
        }
        for &c in cands {
            if out.len() >= m {
                break;
            }
            if out.iter().all(|s| self.dist_nodes(c.id, s.id) >= c.d) {
                out.push(c);
            }
        }
    }

    /// After pruning a layer-0 list (`cands` ascending, `sel` the kept
    /// subset, `q` the node being linked in): every dropped node whose only
    /// in-link was this list is kept instead, in a free slot or in place of
    /// the farthest kept node that has other in-links. Without this a
    /// pruned node can lose its last in-link and become unreachable.
    fn keep_last_in_links(&self, q: u32, cap: usize, cands: &[Item], sel: &mut Vec<Item>) {
        for &c in cands {
            // `q` has no link from this list yet; the others count it.
            if c.id == q || self.indeg_of(c.id) > 1 || sel.iter().any(|s| s.id == c.id) {
                continue;
            }
            if sel.len() < cap {
                sel.push(c);
                continue;
            }
            let victim = sel
                .iter()
                .enumerate()
                .rev()
                .filter(|(_, s)| s.id != q && self.indeg_of(s.id) > 1)
                .max_by(|a, b| a.1.d.total_cmp(&b.1.d))
                .map(|(i, _)| i);
            if let Some(i) = victim {
                sel[i] = c;
            }
        }
    }

    /// Adds the link `e → q` at `layer`, pruning `e`'s list if full.
    /// Returns whether `e` now links to `q`.
    fn connect(&self, e: u32, q: u32, d_eq: f32, layer: usize, s: &mut Scratch) -> bool {
        let Some(lock) = self.locks.get(e as usize) else {
            return false;
        };
        let _g = lock.lock();
        self.neighbors_into(e, layer, &mut s.conn_ids);
        if s.conn_ids.contains(&q) {
            return true;
        }
        let Some(links) = self.links(e, layer) else {
            return false;
        };
        let cap = links.len() - 1;
        let len = s.conn_ids.len();
        if len < cap {
            links[1 + len].store(q, Relaxed);
            links[0].store(len as u32 + 1, Relaxed);
            if layer == 0 {
                self.indeg_add(q, true);
            }
            return true;
        }
        // A full list that still links a tombstone: reuse that slot (the
        // deleted node is never returned, and new nodes need the in-link
        // more than searches need the detour).
        if let Some(j) = s
            .conn_ids
            .iter()
            .position(|&x| self.deleted.get(x as usize).copied().unwrap_or(false))
        {
            if layer == 0 {
                self.indeg_add(s.conn_ids[j], false);
                self.indeg_add(q, true);
            }
            links[1 + j].store(q, Relaxed);
            return true;
        }
        s.conn_items.clear();
        s.conn_items.push(Item { d: d_eq, id: q });
        for &x in &s.conn_ids {
            s.conn_items.push(Item {
                d: self.dist_nodes(e, x),
                id: x,
            });
        }
        s.conn_items.sort_unstable();
        let mut sel = std::mem::take(&mut s.conn_sel);
        self.select_neighbors(&s.conn_items, cap, &mut sel);
        if layer == 0 {
            self.keep_last_in_links(q, cap, &s.conn_items, &mut sel);
        }
        self.set_neighbors(e, layer, &sel);
        let kept = sel.iter().any(|it| it.id == q);
        s.conn_sel = sel;
        kept
    }

    /// Makes `e` link to `q` by replacing `e`'s farthest link (used when
    /// every neighbour pruned `q` away, which would leave it unreachable).
    fn force_link(&self, e: u32, q: u32, layer: usize) {
        let Some(lock) = self.locks.get(e as usize) else {
            return;
        };
        let _g = lock.lock();
        let Some(links) = self.links(e, layer) else {
            return;
        };
        let cnt = (links[0].load(Relaxed) as usize).min(links.len() - 1);
        if cnt < links.len() - 1 {
            links[1 + cnt].store(q, Relaxed);
            links[0].store(cnt as u32 + 1, Relaxed);
        } else {
            // The farthest link whose target keeps another in-link, else
            // the farthest one.
            let far = |shared: bool| {
                (1..=cnt)
                    .filter(|&j| !shared || layer != 0 || self.indeg_of(links[j].load(Relaxed)) > 1)
                    .max_by(|&a, &b| {
                        let da = self.dist_nodes(e, links[a].load(Relaxed));
                        let db = self.dist_nodes(e, links[b].load(Relaxed));
                        da.total_cmp(&db)
                    })
            };
            let Some(j) = far(true).or_else(|| far(false)) else {
                return;
            };
            if layer == 0 {
                self.indeg_add(links[j].load(Relaxed), false);
            }
            links[j].store(q, Relaxed);
        }
        if layer == 0 {
            self.indeg_add(q, true);
        }
    }

    /// Links an allocated node into the graph. Safe to run concurrently for
    /// different nodes.
    pub(crate) fn insert_node(&self, q: u32, s: &mut Scratch) {
        let Some(&level) = self.levels.get(q as usize) else {
            return;
        };
        let level = level as usize;
        let qv = self.rows.row(q as usize);
        let mut guard = self.entry.lock();
        let ep = *guard;
        if ep.node == NONE {
            *guard = Entry {
                node: q,
                level: level as u8,
            };
            return;
        }
        let hold = if level > ep.level as usize {
            Some(guard)
        } else {
            drop(guard);
            None
        };
        let mut evals = 0;
        let mut cur = Item {
            d: self.dist_q(qv, ep.node),
            id: ep.node,
        };
        for l in (level + 1..=ep.level as usize).rev() {
            cur = self.greedy(qv, cur, l, &mut s.nbrs, &mut evals);
        }
        s.eps.clear();
        s.eps.push(cur);
        let ef = self.params.ef_construction;
        let m = self.m();
        for l in (0..=level.min(ep.level as usize)).rev() {
            let deleted = &self.deleted;
            self.search_layer(
                qv,
                ef,
                l,
                s,
                |id| id != q && !deleted[id as usize],
                usize::MAX,
                &mut evals,
            );
            if s.res.is_empty() {
                // Only tombstones nearby: link through them rather than not at all.
                self.search_layer(qv, ef, l, s, |id| id != q, usize::MAX, &mut evals);
            }
            s.sorted.clear();
            s.sorted.extend(s.res.drain());
            s.sorted.sort_unstable();
            if s.sorted.is_empty() {
                continue;
            }
            let mut sel = std::mem::take(&mut s.sel);
            self.select_neighbors(&s.sorted, m, &mut sel);
            if let Some(lock) = self.locks.get(q as usize) {
                let _g = lock.lock();
                self.set_neighbors(q, l, &sel);
            }
            let mut kept = false;
            for it in &sel {
                kept |= self.connect(it.id, q, it.d, l, s);
            }
            if !kept && let Some(first) = sel.first() {
                self.force_link(first.id, q, l);
            }
            s.sel = sel;
            std::mem::swap(&mut s.eps, &mut s.sorted);
        }
        if let Some(mut g) = hold
            && level > g.level as usize
        {
            *g = Entry {
                node: q,
                level: level as u8,
            };
        }
    }

    /// Links nodes `start..n` (already allocated) into the graph, in
    /// parallel for big batches.
    pub(crate) fn link_range(&self, start: usize, scratch: &mut Scratch) {
        let end = self.n();
        let mut i = start;
        // Seed the graph serially so parallel inserts have structure to find.
        while i < end && (self.entry.lock().node == NONE || i < start + 32) {
            self.insert_node(i as u32, scratch);
            i += 1;
        }
        if end - i < PARALLEL_MIN {
            for j in i..end {
                self.insert_node(j as u32, scratch);
            }
        } else {
            (i..end)
                .into_par_iter()
                .with_min_len(64)
                .for_each_init(Scratch::new, |s, j| self.insert_node(j as u32, s));
            self.recount_in_degrees();
        }
    }

    /// Post-build repair (exclusive access): every live node that a search
    /// for its own vector at `ef_search` does not find gets in-links from
    /// the nodes that search does find nearest; then
    /// [`Self::repair_reachability`] guarantees layer-0 reachability.
    /// Returns the number of links added.
    pub(crate) fn repair(&self, s: &mut Scratch) -> usize {
        let ep = *self.entry.lock();
        if ep.node == NONE {
            return 0;
        }
        let ef = self.params.ef_search.max(16);
        let failing: Vec<(u32, [u32; 2])> = (0..self.n() as u32)
            .into_par_iter()
            .with_min_len(256)
            .filter(|&u| !self.deleted[u as usize])
            .map_init(Scratch::new, |s, u| {
                let uv = self.rows.row(u as usize);
                let mut evals = 0;
                let mut cur = Item {
                    d: self.dist_q(uv, ep.node),
                    id: ep.node,
                };
                for l in (1..=ep.level as usize).rev() {
                    cur = self.greedy(uv, cur, l, &mut s.nbrs, &mut evals);
                }
                s.eps.clear();
                s.eps.push(cur);
                self.search_layer(uv, ef, 0, s, |_| true, usize::MAX, &mut evals);
                if s.res.iter().any(|it| it.id == u) {
                    return None;
                }
                s.sorted.clear();
                s.sorted.extend(s.res.drain());
                s.sorted.sort_unstable();
                let mut near = [NONE; 2];
                for (slot, it) in near.iter_mut().zip(s.sorted.iter()) {
                    *slot = it.id;
                }
                Some((u, near))
            })
            .flatten()
            .collect();
        let mut added = 0;
        self.recount_in_degrees();
        if !failing.is_empty() {
            for (u, near) in failing {
                for c in near {
                    if c != NONE && self.add_in_link(c, u) {
                        added += 1;
                    }
                }
            }
        }
        added + self.repair_reachability(s)
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

    /// Whether `c`'s layer-0 list has a free slot.
    /// Adds the layer-0 link `c → u` for the reachability repair: appended
    /// if `c` has room, else replacing `c`'s farthest link that is not an
    /// edge of the traversal tree (`parent[t] != c`). False if `c` has no
    /// such link (or already links `u`).
    fn link_off_tree(&self, c: u32, u: u32, parent: &[u32]) -> bool {
        self.link_replacing(c, u, |t| parent.get(t as usize) != Some(&c))
    }

    /// Adds the layer-0 link `c → u`: appended if `c` has room, else
    /// replacing `c`'s farthest link whose target has another in-link.
    fn add_in_link(&self, c: u32, u: u32) -> bool {
        self.link_replacing(c, u, |t| self.indeg_of(t) >= 2)
    }

    /// Adds the layer-0 link `c → u`: appended if `c` has room, else in
    /// place of `c`'s farthest link whose target passes `replaceable`.
    /// False if `c` already links `u` or no link may be replaced.
    fn link_replacing(&self, c: u32, u: u32, replaceable: impl Fn(u32) -> bool) -> bool {
        let n = self.n();
        let Some(links) = self.links(c, 0) else {
            return false;
        };
        let cnt = (links[0].load(Relaxed) as usize).min(links.len() - 1);
        if links[1..1 + cnt].iter().any(|a| a.load(Relaxed) == u) {
            return false;
        }
        if cnt < links.len() - 1 {
            links[1 + cnt].store(u, Relaxed);
            links[0].store(cnt as u32 + 1, Relaxed);
        } else {
            let mut best: Option<(usize, f32)> = None;
            for (j, a) in links.iter().enumerate().take(cnt + 1).skip(1) {
                let t = a.load(Relaxed);
                if (t as usize) < n && replaceable(t) {
                    let d = self.dist_nodes(c, t);
                    if best.is_none_or(|(_, bd)| d > bd) {
                        best = Some((j, d));
                    }
                }
            }
            let Some((j, _)) = best else { return false };
            self.indeg_add(links[j].load(Relaxed), false);
            links[j].store(u, Relaxed);
        }
        self.indeg_add(u, true);
        true
    }

    /// Guarantees every live node is reachable on layer 0 from the entry
    /// point: a BFS finds unreached nodes, each gets an in-link from its
    /// nearest reached node (replacing a link whose target has other
    /// in-links). Needs exclusive access (called under the write lock).
    /// Returns the number of links added.
    pub(crate) fn repair_reachability(&self, s: &mut Scratch) -> usize {
        // A pass can replace a link some reached node depended on (its
        // target had another in-link, but maybe only from unreached
        // nodes), so repeat until a pass finds every live node reached.
        let mut total = 0;
        for _ in 0..16 {
            let added = self.repair_reachability_pass(s);
            total += added;
            if added == 0 {
                break;
            }
        }
        total
    }

    /// One pass of [`Self::repair_reachability`]: returns the links added
    /// (0 once every live node is reached, or none can be linked).
    fn repair_reachability_pass(&self, s: &mut Scratch) -> usize {
        let n = self.n();
        let ep = self.entry.lock().node;
        if ep == NONE || n == 0 {
            return 0;
        }
        self.recount_in_degrees();
        let mut nb = Vec::new();
        let mut reached = vec![false; n];
        // The search tree of the traversal: `parent[t]` is the node whose
        // link first reached `t`. Replacing any link that is not a tree
        // edge keeps every reached node reached, so linking in an
        // unreached node can never cut off another one.
        let mut parent = vec![NONE; n];
        let mut stack = Vec::new();
        let mut bfs =
            |start: u32, reached: &mut Vec<bool>, parent: &mut Vec<u32>, nb: &mut Vec<u32>| {
                if !reached[start as usize] {
                    reached[start as usize] = true;
                    stack.push(start);
                }
                while let Some(x) = stack.pop() {
                    self.neighbors_into(x, 0, nb);
                    for &t in nb.iter() {
                        if !reached[t as usize] {
                            reached[t as usize] = true;
                            parent[t as usize] = x;
                            stack.push(t);
                        }
                    }
                }
            };
        bfs(ep, &mut reached, &mut parent, &mut nb);
        let mut added = 0;
        for u in 0..n {
            if reached[u] || self.deleted[u] {
                continue;
            }
            let uv = self.rows.row(u);
            // Candidates: a search from the entry point (finds reached nodes).
            let mut evals = 0;
            s.eps.clear();
            s.eps.push(Item {
                d: self.dist_q(uv, ep),
                id: ep,
            });
            let r = &reached;
            self.search_layer(
                uv,
                self.params.ef_construction.max(64),
                0,
                s,
                |id| r[id as usize],
                usize::MAX,
                &mut evals,
            );
            s.sorted.clear();
            s.sorted.extend(s.res.drain());
            s.sorted.sort_unstable();
            // The nearest reached candidates first, then any reached node.
            // Some reached node always has room or a non-tree link: all
            // their links point at reached nodes, and full lists of at
            // least 2 links outnumber the |reached| − 1 tree edges.
            let linked = s
                .sorted
                .iter()
                .map(|c| c.id)
                .chain((0..n as u32).filter(|&c| reached[c as usize]))
                .find(|&c| self.link_off_tree(c, u as u32, &parent));
            if let Some(c) = linked {
                added += 1;
                parent[u] = c;
                bfs(u as u32, &mut reached, &mut parent, &mut nb);
            }
        }
        added
    }

    /// Exact scan over live nodes (restricted to `filter` if given).
    fn exact(
        &self,
        q: &[f32],
        k: usize,
        filter: Option<&AllowSet>,
        evals: &mut usize,
    ) -> Vec<Item> {
        let mut top = TopK::new(k);
        match filter {
            Some(f) if f.len().saturating_mul(4) < self.n() => {
                for id in f.iter() {
                    if let Some(&node) = self.map.get(&id) {
                        *evals += 1;
                        top.push(Item {
                            d: self.dist_q(q, node),
                            id: node,
                        });
                    }
                }
            }
            _ => {
                for node in 0..self.n() {
                    if self.deleted[node] || filter.is_some_and(|f| !f.contains(self.ext[node])) {
                        continue;
                    }
                    *evals += 1;
                    top.push(Item {
                        d: self.dist_q(q, node as u32),
                        id: node as u32,
                    });
                }
            }
        }
        top.into_sorted()
    }

    /// Search with a prepared (normalised, padded) query.
    fn search_prepared(
        &self,
        q: &[f32],
        k: usize,
        ef: usize,
        filter: Option<&AllowSet>,
        s: &mut Scratch,
    ) -> (Vec<(u64, f32)>, SearchStats) {
        let mut evals = 0;
        let finish = |items: Vec<Item>| {
            items
                .into_iter()
                .map(|it| (self.ext[it.id as usize], it.d))
                .collect::<Vec<_>>()
        };
        let empty = (
            Vec::new(),
            SearchStats {
                plan: SearchPlan::Graph,
                distance_evals: 0,
            },
        );
        if k == 0 || self.live() == 0 || filter.is_some_and(AllowSet::is_empty) {
            return empty;
        }
        if let Some(f) = filter
            && f.len() <= self.params.exact_filter_threshold
        {
            let r = self.exact(q, k, filter, &mut evals);
            return (
                finish(r),
                SearchStats {
                    plan: SearchPlan::Exact,
                    distance_evals: evals,
                },
            );
        }
        let ep = *self.entry.lock();
        if ep.node == NONE {
            return empty;
        }
        let mut cur = Item {
            d: self.dist_q(q, ep.node),
            id: ep.node,
        };
        let top = cur;
        for l in (1..=ep.level as usize).rev() {
            cur = self.greedy(q, cur, l, &mut s.nbrs, &mut evals);
        }
        s.eps.clear();
        s.eps.push(cur);
        if cur.id != top.id {
            // Also start from the entry point: every live node is reachable
            // from it on layer 0 after a repair, while the greedy descent
            // may end in a part of the graph that does not lead everywhere.
            // Costs one distance; early termination ignores it when far.
            s.eps.push(top);
        }
        let ef = ef.max(k);
        let deleted = &self.deleted;
        let done = match filter {
            None => self.search_layer(
                q,
                ef,
                0,
                s,
                |id| !deleted[id as usize],
                usize::MAX,
                &mut evals,
            ),
            Some(f) => {
                let budget =
                    (f.len() as f64 * f64::from(self.params.filter_fallback_factor)) as usize;
                let ext = &self.ext;
                self.search_layer(
                    q,
                    ef,
                    0,
                    s,
                    |id| !deleted[id as usize] && f.contains(ext[id as usize]),
                    budget.max(ef),
                    &mut evals,
                )
            }
        };
        if !done {
            let r = self.exact(q, k, filter, &mut evals);
            return (
                finish(r),
                SearchStats {
                    plan: SearchPlan::GraphThenExact,
                    distance_evals: evals,
                },
            );
        }
        s.sorted.clear();
        s.sorted.extend(s.res.drain());
        s.sorted.sort_unstable();
        s.sorted.truncate(k);
        let out = s
            .sorted
            .iter()
            .map(|it| (self.ext[it.id as usize], it.d))
            .collect();
        (
            out,
            SearchStats {
                plan: SearchPlan::Graph,
                distance_evals: evals,
            },
        )
    }

    /// Tombstones a node.
    fn tombstone(&mut self, node: u32) {
        if let Some(d) = self.deleted.get_mut(node as usize)
            && !*d
        {
            *d = true;
            self.n_deleted += 1;
        }
    }

    /// A new graph with the live nodes only.
    fn rebuild(&self) -> Result<Graph> {
        let mut g = Graph::new(self.dims, self.metric, self.params.clone())?;
        g.insert_counter = self.insert_counter;
        g.reserve(self.live());
        for node in 0..self.n() {
            if !self.deleted[node] {
                let level = g.draw_level();
                g.alloc_node(self.ext[node], self.rows.row(node), level)?;
            }
        }
        let mut s = Scratch::new();
        g.link_range(0, &mut s);
        g.repair(&mut s);
        Ok(g)
    }

    fn should_compact(&self) -> bool {
        let r = self.params.max_tombstone_ratio;
        r < 1.0 && self.n_deleted > 0 && self.n_deleted as f64 > f64::from(r) * self.n() as f64
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
