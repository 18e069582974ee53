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
