//! Search: the greedy descent through the upper layers, the layer beam
//! search (prefetching, batched distance kernels), exact scans and the
//! planner that picks graph, exact or graph-then-exact for a filter.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::graph::{Graph, NONE};
use crate::allow::AllowSet;
use crate::distance::distance4;
use crate::util::{Item, TopK, Visited};

/// Beam search computes distances to neighbours in groups of this many
/// (the batched kernels) and prefetches the next group's rows.
const PREFETCH_AHEAD: usize = 4;

/// Which path a search took (see
/// [`HnswIndex::search_with_stats`](crate::HnswIndex::search_with_stats)).
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

/// Reusable per-search buffers.
pub(crate) struct Scratch {
    pub(super) visited: Visited,
    pub(super) cand: BinaryHeap<Reverse<Item>>,
    pub(super) res: BinaryHeap<Item>,
    pub(super) nbrs: Vec<u32>,
    pub(super) eps: Vec<Item>,
    pub(super) sorted: Vec<Item>,
    pub(super) sel: Vec<Item>,
    pub(super) query: Vec<f32>,
    pub(super) conn_ids: Vec<u32>,
    pub(super) conn_items: Vec<Item>,
    pub(super) conn_sel: Vec<Item>,
}

impl Scratch {
    pub(super) fn new() -> Self {
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

impl Graph {
    pub(super) fn greedy(
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
    pub(super) fn search_layer<F: Fn(u32) -> bool>(
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

    /// Exact scan over live nodes (restricted to `filter` if given).
    pub(super) fn exact(
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
    pub(super) fn search_prepared(
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hnsw::testutil::chain;

    /// A prepared (padded) query at `x`.
    fn query(g: &Graph, x: f32) -> Vec<f32> {
        let mut q = vec![0.0; g.rows.stride()];
        q[0] = x;
        q
    }

    #[test]
    fn greedy_descent_walks_to_the_nearest_node() {
        let g = chain(10);
        let q = query(&g, 7.2);
        let (mut nbrs, mut evals) = (Vec::new(), 0);
        let start = Item {
            d: g.dist_q(&q, 0),
            id: 0,
        };
        let end = g.greedy(&q, start, 0, &mut nbrs, &mut evals);
        assert_eq!(end.id, 7);
        assert!((end.d - 0.04).abs() < 1e-5);
        assert!(evals >= 7, "{evals} distances for seven steps");
    }

    #[test]
    fn beam_search_admits_only_allowed_nodes_but_walks_through_the_rest() {
        let g = chain(10);
        let q = query(&g, 7.2);
        let mut s = Scratch::new();
        s.eps.push(Item {
            d: g.dist_q(&q, 0),
            id: 0,
        });
        let mut evals = 0;
        let done = g.search_layer(&q, 3, 0, &mut s, |id| id % 2 == 0, usize::MAX, &mut evals);
        assert!(done);
        let mut got: Vec<u32> = s.res.drain().map(|it| it.id).collect();
        got.sort_unstable();
        assert_eq!(got, [4, 6, 8]);
        // Past its distance budget the search reports itself incomplete.
        let mut evals = 0;
        assert!(!g.search_layer(&q, 3, 0, &mut s, |_| true, 2, &mut evals));
    }

    #[test]
    fn exact_scan_skips_tombstones_and_honours_the_filter() {
        let mut g = chain(10);
        g.tombstone(7);
        g.map.remove(&7);
        let q = query(&g, 7.2);
        let mut evals = 0;
        let ids = |v: Vec<Item>| v.iter().map(|it| it.id).collect::<Vec<_>>();
        assert_eq!(ids(g.exact(&q, 3, None, &mut evals)), [8, 6, 9]);
        // A small filter (under a quarter of the nodes) is scanned through
        // the id map, a large one against every node; both skip the
        // tombstone.
        let small = AllowSet::from_ids([7, 3]);
        assert_eq!(ids(g.exact(&q, 3, Some(&small), &mut evals)), [3]);
        let large = AllowSet::from_ids([7, 1, 2, 3, 4, 5, 9]);
        assert_eq!(ids(g.exact(&q, 2, Some(&large), &mut evals)), [9, 5]);
    }

    #[test]
    fn planner_picks_graph_exact_or_graph_then_exact() {
        let mut g = chain(40);
        g.params.exact_filter_threshold = 3;
        g.params.filter_fallback_factor = 0.0;
        let q = query(&g, 30.0);
        let mut s = Scratch::new();
        let (hits, st) = g.search_prepared(&q, 2, 8, None, &mut s);
        assert_eq!(st.plan, SearchPlan::Graph);
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [30, 29]);
        // At most `exact_filter_threshold` allowed ids: an exact scan.
        let few = AllowSet::from_ids([1, 2, 3]);
        let (hits, st) = g.search_prepared(&q, 2, 8, Some(&few), &mut s);
        assert_eq!(st.plan, SearchPlan::Exact);
        assert_eq!(st.distance_evals, 3);
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [3, 2]);
        // A larger filter far from the entry point: the walk there costs
        // more than its budget (factor 0: the beam width), so it scans.
        let far = AllowSet::from_ids([35, 36, 37, 38]);
        let (hits, st) = g.search_prepared(&q, 2, 8, Some(&far), &mut s);
        assert_eq!(st.plan, SearchPlan::GraphThenExact);
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [35, 36]);
        // No results for k = 0 or an empty filter.
        assert!(g.search_prepared(&q, 0, 8, None, &mut s).0.is_empty());
        let none = AllowSet::from_ids([]);
        assert!(
            g.search_prepared(&q, 2, 8, Some(&none), &mut s)
                .0
                .is_empty()
        );
    }
}
