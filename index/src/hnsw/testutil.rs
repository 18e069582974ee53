//! Hand-built graphs for the phase files' unit tests: nodes placed by
//! hand, link lists written directly (with or without the in-degree
//! bookkeeping).

use std::sync::atomic::Ordering::Relaxed;

use super::HnswParams;
use super::graph::{Entry, Graph, NONE};
use crate::distance::Metric;
use crate::util::Item;

/// An empty L2 graph (distances are squared Euclidean) with `m` links per
/// upper-layer list and `2 * m` on layer 0.
pub(super) fn graph(dims: usize, m: usize) -> Graph {
    Graph::new(
        dims,
        Metric::L2,
        HnswParams {
            m,
            ef_construction: 16,
            ..HnswParams::default()
        },
    )
    .expect("valid parameters")
}

/// Appends an unlinked node at `v` whose caller id is its slot number; it
/// becomes the entry point if it is the first node or the highest one.
pub(super) fn add(g: &mut Graph, v: &[f32], level: u8) -> u32 {
    let id = g.n() as u64;
    let node = g.alloc_node(id, v, level).expect("capacity");
    let mut e = g.entry.lock();
    if e.node == NONE || level > e.level {
        *e = Entry { node, level };
    }
    node
}

/// One-dimensional nodes at `xs` on layer 0, unlinked.
pub(super) fn line(m: usize, xs: &[f32]) -> Graph {
    let mut g = graph(1, m);
    for &x in xs {
        add(&mut g, &[x], 0);
    }
    g
}

/// Sets `node`'s list on `layer` to `targets` through `set_neighbors`
/// (the in-degrees follow).
pub(super) fn set(g: &Graph, node: u32, layer: usize, targets: &[u32]) {
    let items: Vec<Item> = targets
        .iter()
        .map(|&t| Item {
            d: g.dist_nodes(node, t),
            id: t,
        })
        .collect();
    g.set_neighbors(node, layer, &items);
}

/// `node`'s links on `layer`, in list order.
pub(super) fn out(g: &Graph, node: u32, layer: usize) -> Vec<u32> {
    let mut v = Vec::new();
    g.neighbors_into(node, layer, &mut v);
    v
}

/// Appends `target` to `node`'s list without touching the in-degrees or
/// checking the capacity (to corrupt a graph on purpose).
pub(super) fn push_raw(g: &Graph, node: u32, layer: usize, target: u32) {
    let links = g.links(node, layer).expect("node has the layer");
    let cnt = links[0].load(Relaxed) as usize;
    if let Some(slot) = links.get(1 + cnt) {
        slot.store(target, Relaxed);
    }
    links[0].store(cnt as u32 + 1, Relaxed);
}

/// The recorded layer-0 in-degree of every node.
pub(super) fn indegs(g: &Graph) -> Vec<u32> {
    (0..g.n() as u32).map(|i| g.indeg_of(i)).collect()
}

/// A 1-d chain of nodes at x = 0, 1, …, n − 1, each linked to its
/// neighbours on both sides; node i has caller id i.
pub(super) fn chain(n: usize) -> Graph {
    let xs: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let g = line(2, &xs);
    for i in 0..n as u32 {
        let nbrs: Vec<u32> = [i.wrapping_sub(1), i + 1]
            .into_iter()
            .filter(|&t| (t as usize) < n)
            .collect();
        set(&g, i, 0, &nbrs);
    }
    g
}
