//! Linking: neighbour selection (the HNSW heuristic, which never drops a
//! node's last layer-0 in-link), linking a new node in both directions,
//! and the serial or parallel build of a range of allocated nodes.

use std::sync::atomic::Ordering::Relaxed;

use rayon::prelude::*;

use super::graph::{Entry, Graph, NONE};
use super::search::Scratch;
use crate::util::Item;

/// Batches at least this large are inserted in parallel.
pub(super) const PARALLEL_MIN: usize = 256;

impl Graph {
    /// HNSW paper algorithm 4 (simple heuristic, no extension, no keeping
    /// of pruned links): `cands` sorted ascending by distance to the base.
    pub(super) fn select_neighbors(&self, cands: &[Item], m: usize, out: &mut Vec<Item>) {
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
    pub(super) fn keep_last_in_links(
        &self,
        q: u32,
        cap: usize,
        cands: &[Item],
        sel: &mut Vec<Item>,
    ) {
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
    pub(super) fn connect(&self, e: u32, q: u32, d_eq: f32, layer: usize, s: &mut Scratch) -> bool {
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
    pub(super) fn force_link(&self, e: u32, q: u32, layer: usize) {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hnsw::testutil::{add, graph, indegs, line, out, set};

    fn items(g: &Graph, base: u32, ids: &[u32]) -> Vec<Item> {
        let mut v: Vec<Item> = ids
            .iter()
            .map(|&id| Item {
                d: g.dist_nodes(base, id),
                id,
            })
            .collect();
        v.sort_unstable();
        v
    }

    fn ids(v: &[Item]) -> Vec<u32> {
        v.iter().map(|it| it.id).collect()
    }

    #[test]
    fn selection_keeps_diverse_neighbours_over_near_duplicates() {
        // Base 0 at x = 0; 1 and 2 to its right, 3 and 4 to its left.
        let g = line(2, &[0.0, 1.0, 1.1, -1.0, -1.1]);
        let cands = items(&g, 0, &[1, 2, 3, 4]);
        let mut sel = Vec::new();
        g.select_neighbors(&cands, 2, &mut sel);
        assert_eq!(ids(&sel), [1, 3], "one neighbour on each side");
        // With room for three, 2 and 4 are still skipped: each is closer
        // to a kept neighbour than to the base.
        g.select_neighbors(&cands, 3, &mut sel);
        assert_eq!(ids(&sel), [1, 3]);
        // Candidates that fit are all kept, duplicates included.
        g.select_neighbors(&cands, 4, &mut sel);
        assert_eq!(ids(&sel), [1, 3, 2, 4]);
    }

    /// A 2-d graph with node 0 at the origin linking the four points at
    /// distance 1 on the axes (1: +x, 2: +y, 3: −x, 4: −y), node 0's
    /// layer-0 list full (m = 2), and node 5 far away linking 0.
    fn star() -> Graph {
        let mut g = graph(2, 2);
        for v in [
            [0.0, 0.0],
            [1.0, 0.0],
            [0.0, 1.0],
            [-1.0, 0.0],
            [0.0, -1.0],
            [5.0, 5.0],
        ] {
            add(&mut g, &v, 0);
        }
        set(&g, 0, 0, &[1, 2, 3, 4]);
        set(&g, 5, 0, &[0]);
        g
    }

    /// Node 0 at x = 0 with a full layer-0 list (m = 2) of 1 (x = 1),
    /// 2 (x = 1.1), 3 (x = −1) and 4 (x = −1.1), node 5 far away linking
    /// 0, and q (x = 0.5) to be linked in.
    fn full_line() -> (Graph, u32) {
        let g = line(2, &[0.0, 1.0, 1.1, -1.0, -1.1, 10.0, 0.5]);
        set(&g, 0, 0, &[1, 2, 3, 4]);
        set(&g, 5, 0, &[0]);
        (g, 6)
    }

    #[test]
    fn pruning_puts_last_in_links_back_in_free_slots() {
        let (g, q) = full_line();
        // 4 has a second in-link; 1, 2 and 3 only node 0's.
        set(&g, 5, 0, &[0, 4]);
        // The heuristic alone keeps q and 3 (1 and 2 are closer to q than
        // to node 0, 4 is closer to 3); the free slots take 1 and 2 back.
        let mut s = Scratch::new();
        assert!(g.connect(0, q, g.dist_nodes(0, q), 0, &mut s));
        assert_eq!(out(&g, 0, 0), [q, 3, 1, 2]);
        assert_eq!(indegs(&g), [1, 1, 1, 1, 1, 0, 1], "4 keeps 5's link");
        g.check_invariants().expect("bookkeeping in step");
    }

    #[test]
    fn pruning_keeps_a_last_in_link_in_place_of_a_shared_one() {
        let mut g = star();
        // q near node 1: the heuristic keeps q, 2, 3 and 4 and drops 1,
        // whose only in-link is node 0's list; 3 also has one from 2.
        let q = add(&mut g, &[0.9, 0.0], 0);
        set(&g, 2, 0, &[3]);
        let mut s = Scratch::new();
        assert!(g.connect(0, q, g.dist_nodes(0, q), 0, &mut s));
        assert_eq!(out(&g, 0, 0), [q, 2, 1, 4], "1 replaced 3 (shared)");
        assert_eq!(indegs(&g), [1, 1, 1, 1, 1, 0, 1], "3 keeps 2's link");
        g.check_invariants().expect("bookkeeping in step");
    }

    /// The limit of the in-degree rule (why reachability is restored by the
    /// repair, not kept by every insert): when every candidate is some
    /// node's last in-link and the list is full, one of them must go.
    #[test]
    fn pruning_with_only_last_in_links_can_cut_a_node_off() {
        let (g, q) = full_line();
        let mut s = Scratch::new();
        assert!(g.connect(0, q, g.dist_nodes(0, q), 0, &mut s));
        assert_eq!(out(&g, 0, 0), [q, 3, 1, 2]);
        assert_eq!(g.indeg_of(4), 0);
        g.check_invariants().expect("still well formed");
        assert!(matches!(
            g.check_reachable(),
            Err(crate::hnsw::InvariantError::Unreachable { node: 4, .. })
        ));
    }

    #[test]
    fn connect_appends_when_there_is_room_and_never_twice() {
        let g = line(2, &[0.0, 1.0, 2.0]);
        set(&g, 0, 0, &[1]);
        let mut s = Scratch::new();
        assert!(g.connect(0, 2, 4.0, 0, &mut s));
        assert!(g.connect(0, 2, 4.0, 0, &mut s), "already linked");
        assert_eq!(out(&g, 0, 0), [1, 2]);
        assert_eq!(indegs(&g), [0, 1, 1]);
    }

    #[test]
    fn connect_reuses_a_tombstoned_slot() {
        let mut g = star();
        g.tombstone(2);
        g.map.remove(&2);
        let q = add(&mut g, &[3.0, 3.0], 0);
        let mut s = Scratch::new();
        let d = g.dist_nodes(0, q);
        assert!(g.connect(0, q, d, 0, &mut s));
        assert_eq!(out(&g, 0, 0), [1, q, 3, 4], "q took the tombstone's slot");
        assert_eq!(g.indeg_of(2), 0);
        assert_eq!(g.indeg_of(q), 1);
        g.check_invariants().expect("bookkeeping in step");
    }

    #[test]
    fn force_link_replaces_the_farthest_link_to_a_shared_target() {
        let g = line(2, &[0.0, 1.0, -2.0, 3.0, -4.0, 10.0, 0.5]);
        set(&g, 0, 0, &[1, 2, 3, 4]);
        // 2 and 3 have a second in-link; 4 (the farthest) has not.
        set(&g, 5, 0, &[2, 3]);
        g.force_link(0, 6, 0);
        assert_eq!(out(&g, 0, 0), [1, 2, 6, 4], "3 replaced, not 4");
        assert_eq!(indegs(&g), [0, 1, 2, 1, 1, 0, 1]);
        // With room it appends.
        set(&g, 1, 0, &[0]);
        g.force_link(1, 6, 0);
        assert_eq!(out(&g, 1, 0), [0, 6]);
        assert_eq!(g.indeg_of(6), 2);
        g.check_invariants().expect("bookkeeping in step");
    }

    #[test]
    fn inserted_nodes_are_linked_both_ways() {
        let mut g = graph(2, 2);
        let mut s = Scratch::new();
        let mut x = 7u32;
        for i in 0..60u32 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let v = [(x >> 16 & 0xff) as f32 / 32.0, (i % 9) as f32 / 3.0];
            let level = g.draw_level();
            let top = g.entry.lock().level;
            let q = g.alloc_node(u64::from(i), &v, level).expect("capacity");
            g.insert_node(q, &mut s);
            g.check_invariants()
                .unwrap_or_else(|e| panic!("insert {i}: {e}"));
            if i > 0 {
                for layer in 0..=usize::from(level.min(top)) {
                    assert!(!out(&g, q, layer).is_empty(), "{i}: no links on {layer}");
                    let linked = (0..g.n() as u32).any(|e| out(&g, e, layer).contains(&q));
                    assert!(linked, "{i}: no in-link on layer {layer}");
                }
            }
        }
    }
}
