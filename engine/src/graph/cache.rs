//! Per-scope graph nodes with an exact-scan index of their embeddings
//! (graphs per scope are small; the flat SIMD scan is the right index),
//! cached until the next graph write.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use memlayer_index::{FlatIndex, Metric};
use memlayer_store::{GraphNode, Scope, Snapshot};
use parking_lot::Mutex;

use crate::error::Result;

/// The nodes of one scope and the index of their embeddings.
pub(crate) struct ScopeGraph {
    generation: u64,
    pub(crate) nodes: Vec<GraphNode>,
    pub(crate) by_name: HashMap<String, usize>,
    index: FlatIndex,
}

impl ScopeGraph {
    fn load(snap: &Snapshot<'_>, scope: &Scope, dims: usize, generation: u64) -> Result<Self> {
        let nodes = snap.graph_nodes(scope)?;
        let index = FlatIndex::new(dims, Metric::Cosine)?;
        let mut by_name = HashMap::with_capacity(nodes.len());
        for (i, n) in nodes.iter().enumerate() {
            by_name.insert(n.name.clone(), i);
            if let Some(eid) = n.embedding_id
                && let Some(v) = snap.graph_node_vector(eid)?
                && v.len() == dims
            {
                // A vector the index refuses (e.g. all zeros) only loses
                // embedding matches for this node.
                let _ = index.insert(i as u64, &v);
            }
        }
        Ok(ScopeGraph {
            generation,
            nodes,
            by_name,
            index,
        })
    }

    /// Nodes most similar to `v` with cosine ≥ `min`, best first.
    pub(crate) fn similar(&self, v: &[f32], k: usize, min: f32) -> Vec<(usize, f32)> {
        if self.index.is_empty() {
            return Vec::new();
        }
        self.index
            .search(v, k, None)
            .unwrap_or_default()
            .into_iter()
            .map(|(i, d)| (i as usize, 1.0 - d))
            .filter(|&(_, cos)| cos >= min)
            .collect()
    }
}

/// Per-scope [`ScopeGraph`]s, dropped whenever a commit touches the graph.
#[derive(Default)]
pub(crate) struct GraphCache {
    generation: AtomicU64,
    map: Mutex<HashMap<Scope, Arc<ScopeGraph>>>,
}

impl GraphCache {
    /// Forgets every cached scope (call after any graph write).
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.map.lock().clear();
    }

    pub(crate) fn get(
        &self,
        snap: &Snapshot<'_>,
        scope: &Scope,
        dims: usize,
    ) -> Result<Arc<ScopeGraph>> {
        let generation = self.generation.load(Ordering::SeqCst);
        if let Some(g) = self
            .map
            .lock()
            .get(scope)
            .filter(|g| g.generation == generation)
        {
            return Ok(g.clone());
        }
        let g = Arc::new(ScopeGraph::load(snap, scope, dims, generation)?);
        let mut m = self.map.lock();
        if self.generation.load(Ordering::SeqCst) == generation {
            if m.len() > 1024 {
                m.clear();
            }
            m.insert(scope.clone(), g.clone());
        }
        Ok(g)
    }
}
