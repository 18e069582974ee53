//! The graph's invariants, checked from the outside: by the unit tests,
//! the integration tests and the `index_ops` fuzz target after every
//! operation (feature `check-invariants`; never compiled into a normal
//! build).
//!
//! What holds after every public operation (see [`Graph::check_invariants`]):
//! the layout sizes agree, link counts are within capacity, every link
//! points at an existing slot other than its own node that has the link's
//! layer, the layer-0 in-degree counters equal a recount of the lists, the
//! entry point is a node on the top layer, and the tombstone count and the
//! id map agree with the tombstone flags. Tombstoned nodes keep their links
//! and may be linked to (searches traverse them until a compaction), so no
//! invariant forbids those links. Duplicate links within one list are not
//! checked: racing inserts of a parallel batch build do not rule them out,
//! and searches skip visited nodes anyway.
//!
//! Layer-0 reachability of every live node from the entry point
//! ([`Graph::check_reachable`]) holds only after the reachability repair:
//! right after a compaction (explicit or automatic) or a batch insert of
//! at least `PARALLEL_MIN` vectors, and through deletes and snapshot round
//! trips after that. Single inserts and updates do not keep it, in any
//! HNSW: pruning can cut a small group of nodes off.

use std::sync::atomic::Ordering::Relaxed;

use super::graph::{Graph, MAX_LEVEL, NONE};

/// The first broken invariant found by
/// [`HnswIndex::check_invariants`](crate::HnswIndex::check_invariants) or
/// [`HnswIndex::check_reachability`](crate::HnswIndex::check_reachability).
///
/// Node numbers are internal slot numbers (`0..` in insertion order,
/// tombstones included), not the caller's ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvariantError {
    /// Per-node arrays, link arrays or upper-layer offsets disagree with
    /// the node count and levels.
    #[error("layout: {0}")]
    Layout(String),
    /// A link list claims more links than it has slots.
    #[error("node {node} has {count} links on layer {layer}, capacity {capacity}")]
    LinkCount {
        /// The node whose list is too long.
        node: u32,
        /// The layer of the list.
        layer: usize,
        /// The stored link count.
        count: usize,
        /// Slots in the list (`2m` on layer 0, `m` above).
        capacity: usize,
    },
    /// A link points past the last slot.
    #[error("node {node} links to {target} on layer {layer}, but there are only {slots} slots")]
    LinkOutOfRange {
        /// The linking node.
        node: u32,
        /// The layer of the link.
        layer: usize,
        /// The linked id.
        target: u32,
        /// Number of slots (live and tombstoned nodes).
        slots: usize,
    },
    /// A node links to itself.
    #[error("node {node} links to itself on layer {layer}")]
    SelfLink {
        /// The node.
        node: u32,
        /// The layer of the link.
        layer: usize,
    },
    /// A link on `layer` points at a node whose level is below `layer`.
    #[error("node {node} links to {target} on layer {layer}, but {target} has level {level}")]
    LinkAboveLevel {
        /// The linking node.
        node: u32,
        /// The layer of the link.
        layer: usize,
        /// The linked node.
        target: u32,
        /// The linked node's level.
        level: u8,
    },
    /// A layer-0 in-degree counter differs from a recount of the lists.
    #[error("node {node} has layer-0 in-degree {stored} recorded but {counted} in-links")]
    InDegree {
        /// The node.
        node: u32,
        /// The counter.
        stored: u32,
        /// The recount.
        counted: u32,
    },
    /// The entry point is missing, out of range or not on the top layer.
    #[error("entry point: {0}")]
    EntryPoint(String),
    /// The tombstone count or the id map disagrees with the tombstone
    /// flags and stored ids.
    #[error("tombstones / id map: {0}")]
    IdMap(String),
    /// A live node cannot be reached on layer 0 from the entry point.
    #[error(
        "live node {node} (id {id}) is unreachable on layer 0 from the entry point \
         ({reached} of {live} live nodes reached)"
    )]
    Unreachable {
        /// The first unreached live node.
        node: u32,
        /// Its caller id.
        id: u64,
        /// Live nodes reached.
        reached: usize,
        /// Live nodes.
        live: usize,
    },
}

type Check = Result<(), InvariantError>;

impl Graph {
    /// Checks every invariant that holds after each public operation and
    /// returns the first violation (see the module docs for the list).
    /// Needs exclusive access or a read lock (no concurrent writer).
    pub(crate) fn check_invariants(&self) -> Check {
        self.check_layout()?;
        self.check_links()?;
        self.check_in_degrees()?;
        self.check_entry()?;
        self.check_id_map()
    }

    /// Checks that every live node is reachable on layer 0 from the entry
    /// point (tombstones are traversed, as searches do). Holds only after
    /// the reachability repair (see the module docs).
    pub(crate) fn check_reachable(&self) -> Check {
        let n = self.n();
        let ep = self.entry.lock().node;
        let live = self.live();
        let mut reached = vec![false; n];
        let mut stack = Vec::new();
        if (ep as usize) < n {
            reached[ep as usize] = true;
            stack.push(ep);
        }
        let mut nb = Vec::new();
        while let Some(x) = stack.pop() {
            self.neighbors_into(x, 0, &mut nb);
            for &t in &nb {
                if !reached[t as usize] {
                    reached[t as usize] = true;
                    stack.push(t);
                }
            }
        }
        let live_reached = (0..n).filter(|&i| reached[i] && !self.deleted[i]).count();
        match (0..n).find(|&i| !reached[i] && !self.deleted[i]) {
            None => Ok(()),
            Some(i) => Err(InvariantError::Unreachable {
                node: i as u32,
                id: self.ext[i],
                reached: live_reached,
                live,
            }),
        }
    }

    fn check_layout(&self) -> Check {
        let n = self.n();
        let bad = |what: String| Err(InvariantError::Layout(what));
        let lens = [
            ("vector rows", self.rows.rows()),
            ("levels", self.levels.len()),
            ("upper offsets", self.upper_off.len()),
            ("in-degrees", self.indeg.len()),
            ("locks", self.locks.len()),
            ("tombstone flags", self.deleted.len()),
        ];
        if let Some((what, len)) = lens.iter().find(|(_, len)| *len != n) {
            return bad(format!("{len} {what} for {n} nodes"));
        }
        if self.m0 != 2 * self.m() {
            return bad(format!("m0 {} is not 2 * m {}", self.m0, self.m()));
        }
        if self.layer0.len() != n * (1 + self.m0) {
            return bad(format!(
                "{} layer-0 slots for {n} nodes of {} links",
                self.layer0.len(),
                self.m0
            ));
        }
        let mut off = 0usize;
        for (node, (&level, &uo)) in self.levels.iter().zip(&self.upper_off).enumerate() {
            if level as usize > MAX_LEVEL {
                return bad(format!("node {node} has level {level} > {MAX_LEVEL}"));
            }
            let want = if level == 0 { NONE } else { off as u32 };
            if uo != want {
                return bad(format!(
                    "node {node} upper-layer offset {uo}, expected {want}"
                ));
            }
            off += level as usize * (1 + self.m());
        }
        if off != self.upper.len() {
            return bad(format!(
                "{} upper-layer slots, levels need {off}",
                self.upper.len()
            ));
        }
        Ok(())
    }

    /// Counts, ranges, self links and layers of every link list.
    fn check_links(&self) -> Check {
        let n = self.n();
        for node in 0..n as u32 {
            for layer in 0..=self.levels[node as usize] as usize {
                let Some(list) = self.links(node, layer) else {
                    return Err(InvariantError::Layout(format!(
                        "node {node} has no link list on layer {layer}"
                    )));
                };
                let count = list[0].load(Relaxed) as usize;
                let capacity = list.len() - 1;
                if count > capacity {
                    return Err(InvariantError::LinkCount {
                        node,
                        layer,
                        count,
                        capacity,
                    });
                }
                for target in list[1..1 + count].iter().map(|a| a.load(Relaxed)) {
                    if target as usize >= n {
                        return Err(InvariantError::LinkOutOfRange {
                            node,
                            layer,
                            target,
                            slots: n,
                        });
                    }
                    if target == node {
                        return Err(InvariantError::SelfLink { node, layer });
                    }
                    let level = self.levels[target as usize];
                    if (level as usize) < layer {
                        return Err(InvariantError::LinkAboveLevel {
                            node,
                            layer,
                            target,
                            level,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// The layer-0 in-degree counters against a recount (links from
    /// tombstoned nodes count: they are still traversed).
    fn check_in_degrees(&self) -> Check {
        let mut counted = vec![0u32; self.n()];
        let mut nb = Vec::new();
        for node in 0..self.n() as u32 {
            self.neighbors_into(node, 0, &mut nb);
            for &t in &nb {
                counted[t as usize] += 1;
            }
        }
        let stored = self.indeg.iter().map(|c| c.load(Relaxed));
        match stored.zip(counted).enumerate().find(|(_, (s, c))| s != c) {
            None => Ok(()),
            Some((node, (stored, counted))) => Err(InvariantError::InDegree {
                node: node as u32,
                stored,
                counted,
            }),
        }
    }

    fn check_entry(&self) -> Check {
        let e = *self.entry.lock();
        let bad = |what: String| Err(InvariantError::EntryPoint(what));
        let n = self.n();
        if n == 0 {
            if e.node != NONE {
                return bad(format!("empty graph with entry point {}", e.node));
            }
            return Ok(());
        }
        if e.node as usize >= n {
            return bad(format!("entry point {} in a graph of {n} nodes", e.node));
        }
        let level = self.levels[e.node as usize];
        let top = self.levels.iter().copied().max().unwrap_or(0);
        if e.level != level || level != top {
            return bad(format!(
                "entry point {} recorded at level {}, has level {level}, top layer {top}",
                e.node, e.level
            ));
        }
        Ok(())
    }

    fn check_id_map(&self) -> Check {
        let bad = |what: String| Err(InvariantError::IdMap(what));
        let flagged = self.deleted.iter().filter(|&&d| d).count();
        if flagged != self.n_deleted {
            return bad(format!(
                "{flagged} tombstone flags, {} recorded",
                self.n_deleted
            ));
        }
        if self.map.len() != self.live() {
            return bad(format!(
                "{} ids mapped for {} live nodes",
                self.map.len(),
                self.live()
            ));
        }
        // Every mapped id names a distinct live node storing that id (the
        // counts above then make the map a bijection onto live nodes).
        for (&id, &node) in &self.map {
            match (self.ext.get(node as usize), self.deleted.get(node as usize)) {
                (Some(&stored), Some(false)) if stored == id => {}
                _ => {
                    return bad(format!(
                        "id {id} maps to node {node}, which is not live with that id"
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hnsw::Entry;
    use crate::hnsw::testutil::{self, add, graph, push_raw, set};

    /// A connected 1-d chain `0 ↔ 1 ↔ … ↔ n-1` that passes every check.
    fn chain(n: usize) -> Graph {
        let g = testutil::chain(n);
        g.check_invariants().expect("a well-formed chain");
        g.check_reachable().expect("a connected chain");
        g
    }

    #[test]
    fn well_formed_graphs_pass() {
        let g = graph(3, 4);
        g.check_invariants().expect("empty graph");
        g.check_reachable().expect("empty graph");
        let mut g = graph(2, 2);
        add(&mut g, &[1.0, 2.0], 3);
        g.check_invariants().expect("one node");
        g.check_reachable().expect("one node");
        chain(6);
        // Tombstones may keep links and be linked to.
        let mut g = chain(4);
        g.tombstone(1);
        g.map.remove(&1);
        g.check_invariants().expect("tombstone with links");
        g.check_reachable().expect("reachable through a tombstone");
    }

    #[test]
    fn detects_a_corrupt_in_degree() {
        let g = chain(4);
        g.indeg[2].store(1, Relaxed);
        assert_eq!(
            g.check_invariants(),
            Err(InvariantError::InDegree {
                node: 2,
                stored: 1,
                counted: 2
            })
        );
    }

    #[test]
    fn detects_a_self_link() {
        let g = chain(4);
        push_raw(&g, 3, 0, 3);
        assert_eq!(
            g.check_invariants(),
            Err(InvariantError::SelfLink { node: 3, layer: 0 })
        );
    }

    #[test]
    fn detects_an_out_of_range_link() {
        let g = chain(4);
        push_raw(&g, 1, 0, 4);
        assert_eq!(
            g.check_invariants(),
            Err(InvariantError::LinkOutOfRange {
                node: 1,
                layer: 0,
                target: 4,
                slots: 4
            })
        );
    }

    #[test]
    fn detects_a_link_count_above_capacity() {
        let g = chain(4);
        g.links(0, 0).expect("layer 0")[0].store(5, Relaxed);
        assert_eq!(
            g.check_invariants(),
            Err(InvariantError::LinkCount {
                node: 0,
                layer: 0,
                count: 5,
                capacity: 4
            })
        );
    }

    #[test]
    fn detects_a_link_to_a_node_without_the_layer() {
        let mut g = graph(1, 2);
        let a = add(&mut g, &[0.0], 2);
        let b = add(&mut g, &[1.0], 1);
        set(&g, a, 0, &[b]);
        set(&g, b, 0, &[a]);
        set(&g, a, 1, &[b]);
        g.check_invariants().expect("b has layer 1");
        set(&g, a, 2, &[b]);
        assert_eq!(
            g.check_invariants(),
            Err(InvariantError::LinkAboveLevel {
                node: a,
                layer: 2,
                target: b,
                level: 1
            })
        );
    }

    #[test]
    fn detects_an_unreachable_node() {
        let g = chain(5);
        // Cut 3 → 4: node 4 still links back but nothing links to it.
        set(&g, 3, 0, &[2]);
        g.check_invariants().expect("still well formed");
        assert_eq!(
            g.check_reachable(),
            Err(InvariantError::Unreachable {
                node: 4,
                id: 4,
                reached: 4,
                live: 5
            })
        );
        // A tombstoned node may be unreachable.
        let mut g = g;
        g.tombstone(4);
        g.map.remove(&4);
        g.check_reachable()
            .expect("only live nodes must be reached");
    }

    #[test]
    fn detects_a_bad_entry_point() {
        let mut g = chain(3);
        *g.entry.lock() = Entry { node: 7, level: 0 };
        assert!(matches!(
            g.check_invariants(),
            Err(InvariantError::EntryPoint(_))
        ));
        // Not on the top layer.
        add(&mut g, &[9.0], 0);
        *g.entry.lock() = Entry { node: 0, level: 0 };
        g.levels[3] = 1;
        g.upper_off[3] = 0;
        g.upper
            .extend((0..3).map(|_| std::sync::atomic::AtomicU32::new(0)));
        assert!(matches!(
            g.check_invariants(),
            Err(InvariantError::EntryPoint(_))
        ));
        // An empty graph has none.
        let g = graph(1, 2);
        *g.entry.lock() = Entry { node: 0, level: 0 };
        assert!(matches!(
            g.check_invariants(),
            Err(InvariantError::EntryPoint(_))
        ));
    }

    #[test]
    fn detects_tombstone_and_id_map_mismatches() {
        let mut g = chain(3);
        g.deleted[1] = true;
        assert!(matches!(
            g.check_invariants(),
            Err(InvariantError::IdMap(_))
        ));
        g.n_deleted = 1;
        // Id 1 still maps to its (now tombstoned) node.
        assert!(matches!(
            g.check_invariants(),
            Err(InvariantError::IdMap(_))
        ));
        g.map.remove(&1);
        g.check_invariants().expect("consistent again");
        g.map.insert(5, 2);
        g.map.remove(&2);
        assert!(matches!(
            g.check_invariants(),
            Err(InvariantError::IdMap(_))
        ));
    }

    #[test]
    fn detects_layout_mismatches() {
        let mut g = chain(3);
        g.indeg.pop();
        assert!(matches!(
            g.check_invariants(),
            Err(InvariantError::Layout(_))
        ));
        let mut g = chain(3);
        g.upper_off[1] = 0;
        assert!(matches!(
            g.check_invariants(),
            Err(InvariantError::Layout(_))
        ));
    }
}
