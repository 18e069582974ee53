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
