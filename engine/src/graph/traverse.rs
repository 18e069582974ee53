//! Reading the graph: a scope's relations, an entity's neighbourhood and
//! the paths between two entities (breadth first, bounded).

use std::collections::{HashMap, HashSet, VecDeque};

use memlayer_store::{GraphEdge, Scope, Snapshot};

use super::{Relation, RelationRecord, is_self_word, self_name};
use crate::error::{MemoryError, Result};
use crate::memory::Memory;
use crate::validate::{check_text, validated_scope};

impl Memory {
    /// The relations stored for exactly this scope, with their history
    /// (creation, invalidation, provenance); invalid ones too when
    /// `include_invalid`.
    pub fn relations(&self, scope: &Scope, include_invalid: bool) -> Result<Vec<RelationRecord>> {
        let scope = validated_scope(scope)?;
        let snap = self.inner.store.snapshot()?;
        Ok(snap
            .graph_edges(&scope, include_invalid)?
            .into_iter()
            .map(RelationRecord::from)
            .collect())
    }

    /// Valid relations within `depth` hops (1..=4) of `entity` in a scope,
    /// both directions, breadth first (at most 1000). `entity` is matched by
    /// normalised name; `me` / `I` / `user` mean the scope's own id.
    pub fn neighbors(
        &self,
        entity: &str,
        depth: usize,
        scope: &Scope,
    ) -> Result<Vec<RelationRecord>> {
        let scope = validated_scope(scope)?;
        if !(1..=4).contains(&depth) {
            return Err(MemoryError::invalid("depth", "must be in 1..=4"));
        }
        let start = resolve_query_entity(&scope, check_text(entity, "entity")?.as_str());
        let snap = self.inner.store.snapshot()?;
        if snap.graph_node(&scope, &start)?.is_none() {
            return Err(MemoryError::NotFound {
                id: format!("entity `{entity}`"),
            });
        }
        Ok(neighbourhood(&snap, &scope, &start, depth, false, 1000)?
            .into_iter()
            .map(RelationRecord::from)
            .collect())
    }

    /// Paths of valid relations (either direction) between two entities of
    /// a scope, at most `max_depth` (1..=6) edges long, shortest first (at
    /// most 50): multi-hop questions such as "how is Tom related to Dublin?".
    pub fn paths(
        &self,
        from: &str,
        to: &str,
        max_depth: usize,
        scope: &Scope,
    ) -> Result<Vec<Vec<Relation>>> {
        let scope = validated_scope(scope)?;
        if !(1..=6).contains(&max_depth) {
            return Err(MemoryError::invalid("max_depth", "must be in 1..=6"));
        }
        let a = resolve_query_entity(&scope, check_text(from, "from")?.as_str());
        let b = resolve_query_entity(&scope, check_text(to, "to")?.as_str());
        let snap = self.inner.store.snapshot()?;
        for (n, raw) in [(&a, from), (&b, to)] {
            if snap.graph_node(&scope, n)?.is_none() {
                return Err(MemoryError::NotFound {
                    id: format!("entity `{raw}`"),
                });
            }
        }
        find_paths(&snap, &scope, &a, &b, max_depth, 50)
    }
}

/// Valid and invalid edges within `depth` hops of `start` (both
/// directions), breadth first, at most `max_edges`.
pub(crate) fn neighbourhood(
    snap: &Snapshot<'_>,
    scope: &Scope,
    start: &str,
    depth: usize,
    include_invalid: bool,
    max_edges: usize,
) -> Result<Vec<GraphEdge>> {
    let mut seen_nodes: HashSet<String> = HashSet::from([start.to_string()]);
    let mut seen_edges = HashSet::new();
    let mut out = Vec::new();
    let mut frontier = VecDeque::from([(start.to_string(), 0usize)]);
    while let Some((n, d)) = frontier.pop_front() {
        if d >= depth {
            continue;
        }
        for e in snap.graph_neighbors(scope, &n, include_invalid)? {
            let key = (
                e.source.clone(),
                e.relationship.clone(),
                e.destination.clone(),
            );
            if !seen_edges.insert(key) {
                continue;
            }
            for next in [&e.source, &e.destination] {
                if seen_nodes.insert(next.clone()) {
                    frontier.push_back((next.clone(), d + 1));
                }
            }
            out.push(e);
            if out.len() >= max_edges {
                return Ok(out);
            }
        }
    }
    Ok(out)
}

/// Simple paths (undirected, over valid edges) from `a` to `b` of at most
/// `max_depth` edges, shortest first, at most `max_paths`.
pub(crate) fn find_paths(
    snap: &Snapshot<'_>,
    scope: &Scope,
    a: &str,
    b: &str,
    max_depth: usize,
    max_paths: usize,
) -> Result<Vec<Vec<Relation>>> {
    let mut adj: HashMap<String, Vec<GraphEdge>> = HashMap::new();
    let mut out = Vec::new();
    // Breadth-first over partial paths; adjacency read once per node.
    let mut queue: VecDeque<(String, Vec<GraphEdge>, Vec<String>)> =
        VecDeque::from([(a.to_string(), Vec::new(), vec![a.to_string()])]);
    let mut expanded = 0usize;
    while let Some((node, path, visited)) = queue.pop_front() {
        if node == b && !path.is_empty() {
            out.push(path.iter().map(Relation::of).collect());
            if out.len() >= max_paths {
                break;
            }
            continue;
        }
        if path.len() >= max_depth {
            continue;
        }
        expanded += 1;
        if expanded > 100_000 {
            break;
        }
        if !adj.contains_key(&node) {
            let es = snap.graph_neighbors(scope, &node, false)?;
            adj.insert(node.clone(), es);
        }
        let Some(edges) = adj.get(&node) else {
            continue;
        };
        for e in edges {
            let next = if e.source == node {
                &e.destination
            } else {
                &e.source
            };
            if visited.contains(next) {
                continue;
            }
            let mut p = path.clone();
            p.push(e.clone());
            let mut v = visited.clone();
            v.push(next.clone());
            queue.push_back((next.clone(), p, v));
        }
    }
    Ok(out)
}

/// Resolves a user-supplied entity name to a stored node name of `scope`:
/// the speaker words map to the scope's own id, then exact normalised name.
pub(crate) fn resolve_query_entity(scope: &Scope, name: &str) -> String {
    let n = crate::graph_llm::normalize_entity(name);
    if is_self_word(&n) {
        return self_name(scope, false).unwrap_or(n);
    }
    memlayer_text::normalize_name(&n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_entities_resolve_like_stored_names() {
        let sc = Scope::user("Alice Smith");
        assert_eq!(resolve_query_entity(&sc, "me"), "alice_smith");
        assert_eq!(resolve_query_entity(&sc, "I"), "alice_smith");
        assert_eq!(resolve_query_entity(&sc, "The Dog"), "dog");
        assert_eq!(resolve_query_entity(&sc, "New York"), "new_york");
    }
}
