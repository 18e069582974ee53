//! Deletes (tombstones) and compaction: rebuilding the graph from the live
//! nodes once tombstones pass the configured ratio.

use super::graph::Graph;
use super::search::Scratch;
use crate::error::Result;

impl Graph {
    /// Tombstones a node.
    pub(super) fn tombstone(&mut self, node: u32) {
        if let Some(d) = self.deleted.get_mut(node as usize)
            && !*d
        {
            *d = true;
            self.n_deleted += 1;
        }
    }

    /// A new graph with the live nodes only.
    pub(super) fn rebuild(&self) -> Result<Graph> {
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

    pub(super) fn should_compact(&self) -> bool {
        let r = self.params.max_tombstone_ratio;
        r < 1.0 && self.n_deleted > 0 && self.n_deleted as f64 > f64::from(r) * self.n() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hnsw::testutil::{graph, line};

    /// A graph of `n` 2-d points linked by `insert_node` (callers' ids
    /// `100 + slot`), with small `m` and `ef_construction` so single
    /// inserts leave some nodes cut off.
    fn built(n: u32) -> Graph {
        let mut g = graph(2, 2);
        g.params.ef_construction = 2;
        let mut s = Scratch::new();
        for i in 0..n {
            let v = [(i % 7) as f32, (i * 3 % 11) as f32 / 2.0];
            let level = g.draw_level();
            let q = g
                .alloc_node(100 + u64::from(i), &v, level)
                .expect("capacity");
            g.insert_node(q, &mut s);
        }
        g
    }

    #[test]
    fn tombstone_counts_each_node_once() {
        let mut g = line(2, &[0.0, 1.0, 2.0]);
        g.tombstone(1);
        g.tombstone(1);
        g.tombstone(9);
        assert_eq!(g.n_deleted, 1);
        assert_eq!(g.deleted, [false, true, false]);
        assert_eq!(g.live(), 2);
    }

    #[test]
    fn should_compact_only_past_the_ratio() {
        let mut g = line(2, &[0.0; 10]);
        g.params.max_tombstone_ratio = 0.3;
        for node in 0..3 {
            g.tombstone(node);
        }
        assert!(!g.should_compact(), "3/10 is not above 0.3");
        g.tombstone(3);
        assert!(g.should_compact());
        g.params.max_tombstone_ratio = 1.0;
        assert!(!g.should_compact(), "1.0 disables automatic compaction");
    }

    #[test]
    fn rebuild_keeps_the_live_nodes_and_every_invariant() {
        let mut g = built(120);
        g.check_invariants().expect("built by single inserts");
        for node in (0..120u32).step_by(3) {
            g.map.remove(&(100 + u64::from(node)));
            g.tombstone(node);
        }
        g.check_invariants().expect("tombstones");
        let c = g.rebuild().expect("rebuild");
        c.check_invariants().expect("rebuilt");
        c.check_reachable()
            .expect("the rebuild ends with the repair");
        assert_eq!((c.n(), c.n_deleted), (80, 0));
        assert_eq!(c.insert_counter, g.insert_counter + 80);
        // Same ids with the same vectors, in the same order.
        let live: Vec<usize> = (0..120).filter(|&i| !g.deleted[i]).collect();
        for (slot, &old) in live.iter().enumerate() {
            assert_eq!(c.ext[slot], g.ext[old]);
            assert_eq!(c.rows.row(slot), g.rows.row(old));
            assert_eq!(c.map[&g.ext[old]], slot as u32);
        }
        // Everything deleted: an empty graph.
        for node in 0..120u32 {
            g.map.remove(&(100 + u64::from(node)));
            g.tombstone(node);
        }
        let c = g.rebuild().expect("rebuild");
        assert_eq!(c.n(), 0);
        c.check_invariants().expect("empty");
    }
}
