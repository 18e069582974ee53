//! Post-build repair: in-links for nodes a search for their own vector
//! misses, then layer-0 reachability of every live node from the entry
//! point (linking unreached nodes in, replacing only links off the
//! traversal tree).

use std::sync::atomic::Ordering::Relaxed;

use rayon::prelude::*;

use super::graph::{Graph, NONE};
use super::search::Scratch;
use crate::util::Item;

impl Graph {
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

    /// Adds the layer-0 link `c → u` for the reachability repair: appended
    /// if `c` has room, else replacing `c`'s farthest link that is not an
    /// edge of the traversal tree (`parent[t] != c`). False if `c` has no
    /// such link (or already links `u`).
    pub(super) fn link_off_tree(&self, c: u32, u: u32, parent: &[u32]) -> bool {
        self.link_replacing(c, u, |t| parent.get(t as usize) != Some(&c))
    }

    /// Adds the layer-0 link `c → u`: appended if `c` has room, else
    /// replacing `c`'s farthest link whose target has another in-link.
    pub(super) fn add_in_link(&self, c: u32, u: u32) -> bool {
        self.link_replacing(c, u, |t| self.indeg_of(t) >= 2)
    }

    /// Adds the layer-0 link `c → u`: appended if `c` has room, else in
    /// place of `c`'s farthest link whose target passes `replaceable`.
    /// False if `c` already links `u` or no link may be replaced.
    pub(super) fn link_replacing(&self, c: u32, u: u32, replaceable: impl Fn(u32) -> bool) -> bool {
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
    /// point: a traversal from the entry point finds the unreached nodes,
    /// and each gets an in-link from the nearest reached node that has
    /// room or a link off the traversal tree ([`Self::link_off_tree`]), so
    /// no reached node is ever cut off. Needs exclusive access (called
    /// under the write lock). Returns the number of links added.
    pub(crate) fn repair_reachability(&self, s: &mut Scratch) -> usize {
        // A pass links in every unreached live node without cutting a
        // reached one off, so the next pass finds nothing to add; the loop
        // stops at the first pass that adds nothing (bounded as a guard).
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
    pub(super) fn repair_reachability_pass(&self, s: &mut Scratch) -> usize {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hnsw::InvariantError;
    use crate::hnsw::testutil::{graph, indegs, line, out, set};

    /// Node 0 (the entry point, x = 0) with a full layer-0 list (m = 2)
    /// of 1..=4 at x = 1, −2, 3, −4 (4 the farthest); 1 links node 5
    /// (x = 10), which links 0; node 6 (x = 0.5) is linked by nobody.
    fn full() -> Graph {
        let g = line(2, &[0.0, 1.0, -2.0, 3.0, -4.0, 10.0, 0.5]);
        set(&g, 0, 0, &[1, 2, 3, 4]);
        set(&g, 1, 0, &[5]);
        set(&g, 5, 0, &[0]);
        g
    }

    #[test]
    fn link_replacing_appends_while_there_is_room() {
        let g = line(2, &[0.0, 1.0, 2.0]);
        set(&g, 0, 0, &[1]);
        assert!(g.link_replacing(0, 2, |_| false));
        assert_eq!(out(&g, 0, 0), [1, 2]);
        assert_eq!(indegs(&g), [0, 1, 1]);
        assert!(!g.link_replacing(0, 2, |_| true), "already linked");
        assert_eq!(out(&g, 0, 0), [1, 2]);
    }

    #[test]
    fn add_in_link_replaces_the_farthest_link_to_a_shared_target() {
        // The pruning's predicate: the target keeps another in-link.
        let g = full();
        set(&g, 5, 0, &[0, 2, 3]);
        assert!(g.add_in_link(0, 6));
        assert_eq!(
            out(&g, 0, 0),
            [1, 2, 6, 4],
            "3 replaced; 4 is farther but 0 is its only in-link"
        );
        assert_eq!(indegs(&g), [1, 1, 2, 1, 1, 1, 1]);
        g.check_invariants().expect("bookkeeping in step");
        // No shared target left in a full list: nothing is replaced.
        let g = full();
        assert!(!g.add_in_link(0, 6));
        assert_eq!(out(&g, 0, 0), [1, 2, 3, 4]);
        assert_eq!(g.indeg_of(6), 0);
    }

    #[test]
    fn link_off_tree_never_replaces_a_tree_edge() {
        // The repair's predicate: the link is not an edge of the traversal
        // tree (`parent[t] != c`), whatever the in-degrees say.
        let g = full();
        set(&g, 5, 0, &[0, 3, 4]);
        let mut parent = vec![NONE; g.n()];
        // 0 first reached 1, 3 and 4; 2 was reached from elsewhere.
        for t in [1, 3, 4] {
            parent[t] = 0;
        }
        parent[2] = 5;
        assert!(g.link_off_tree(0, 6, &parent));
        assert_eq!(out(&g, 0, 0), [1, 6, 3, 4], "2 (off the tree) replaced");
        assert_eq!(g.indeg_of(2), 0);
        g.check_invariants().expect("bookkeeping in step");
        // Only tree edges: no link may go.
        let g = full();
        let parent: Vec<u32> = (0..g.n()).map(|_| 0).collect();
        assert!(!g.link_off_tree(0, 6, &parent));
        assert_eq!(out(&g, 0, 0), [1, 2, 3, 4]);
    }

    #[test]
    fn repair_reachability_links_an_unreachable_node_in() {
        let g = full();
        // 6 links out but nobody links to it.
        set(&g, 6, 0, &[0]);
        assert!(matches!(
            g.check_reachable(),
            Err(InvariantError::Unreachable { node: 6, .. })
        ));
        let mut s = Scratch::new();
        assert_eq!(g.repair_reachability(&mut s), 1);
        g.check_invariants().expect("bookkeeping in step");
        g.check_reachable().expect("repaired");
        // The nearest reached node, 0, has a full list of tree edges only,
        // so the link comes from the next nearest, 1, which has room.
        let from: Vec<u32> = (0..g.n() as u32)
            .filter(|&c| out(&g, c, 0).contains(&6))
            .collect();
        assert_eq!(from, [1]);
        assert_eq!(out(&g, 0, 0), [1, 2, 3, 4]);
        assert_eq!(g.repair_reachability(&mut s), 0, "nothing left to do");
    }

    #[test]
    fn repair_reachability_reconnects_a_cut_off_pair_through_full_lists() {
        // Five reached nodes whose layer-0 lists are all full (each links
        // the other four), and two duplicates linking only each other.
        let g = line(2, &[0.0, 1.0, 2.0, 3.0, 4.0, 9.0, 9.0]);
        for c in 0..5u32 {
            let others: Vec<u32> = (0..5).filter(|&t| t != c).collect();
            set(&g, c, 0, &others);
        }
        set(&g, 5, 0, &[6]);
        set(&g, 6, 0, &[5]);
        assert!(g.check_reachable().is_err());
        let mut s = Scratch::new();
        assert_eq!(g.repair_reachability(&mut s), 1, "one link reaches both");
        g.check_invariants().expect("bookkeeping in step");
        g.check_reachable().expect("repaired");
        // The nearest reached node (4) gave up a link off the tree.
        assert!(out(&g, 4, 0).iter().any(|&t| t == 5 || t == 6));
    }

    #[test]
    fn repair_reachability_leaves_unreachable_tombstones_alone() {
        let mut g = full();
        set(&g, 6, 0, &[0]);
        g.tombstone(6);
        g.map.remove(&6);
        let mut s = Scratch::new();
        assert_eq!(g.repair_reachability(&mut s), 0);
        g.check_reachable()
            .expect("only live nodes must be reached");
    }

    #[test]
    fn repair_makes_a_sparsely_linked_graph_reachable() {
        // Tiny m and ef_construction cut nodes off during single inserts.
        let mut g = graph(1, 2);
        g.params.ef_construction = 1;
        let mut s = Scratch::new();
        let mut x = 1u64;
        for i in 0..200u64 {
            x = crate::util::splitmix64(x);
            let v = [(x % 64) as f32 / 4.0];
            let level = g.draw_level();
            let q = g.alloc_node(i, &v, level).expect("capacity");
            g.insert_node(q, &mut s);
        }
        for node in (0..200u32).step_by(5) {
            g.map.remove(&(u64::from(node)));
            g.tombstone(node);
        }
        assert!(g.check_reachable().is_err(), "some nodes were cut off");
        assert!(g.repair(&mut s) > 0);
        g.check_invariants().expect("bookkeeping in step");
        g.check_reachable().expect("repaired");
    }
}
