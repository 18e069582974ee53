//! Graph memory, engine side: turning an extraction into store operations
//! (entity resolution by name and embedding, the outdated-relation check),
//! relation search and traversal. The store's graph tables hold the data;
//! every change joins the `add` write batch.
//!
//! Graph data is kept per exact scope (the `user_id` / `agent_id` / `run_id`
//! triple of the `add`), like the memories it came from.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use memlayer_index::{FlatIndex, Metric};
use memlayer_store::graph::normalize_name;
use memlayer_store::{GraphEdge, GraphNode, Scope, Snapshot, Timestamp};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Words that name the speaker in a query or an extraction.
const SELF_WORDS: &[&str] = &["user", "i", "me", "my", "mine", "myself", "speaker"];

/// Query words ignored when matching entities by embedding.
const STOP_WORDS: &[&str] = &[
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "at", "for", "with", "by", "from", "is",
    "are", "was", "were", "be", "been", "do", "does", "did", "what", "which", "who", "whom",
    "where", "when", "why", "how", "i", "me", "my", "mine", "you", "your", "he", "she", "it", "we",
    "they", "his", "her", "its", "our", "their", "this", "that", "these", "those", "there", "has",
    "have", "had", "can", "could", "would", "should", "will", "any", "some", "about", "like",
    "likes", "tell", "know", "user",
];

/// A relation `source -relationship-> destination` (search results and add
/// events). Names are the stored (normalised) names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Relation {
    /// Source entity.
    pub source: String,
    /// Relationship (lowercase snake case).
    pub relationship: String,
    /// Destination entity.
    pub destination: String,
    /// Search score in [0, 1] (search only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
}

impl Relation {
    /// A relation without a score.
    ///
    /// ```
    /// let r = memlayer::Relation::new("bob", "lives_in", "oslo");
    /// assert_eq!(r.score, None);
    /// ```
    pub fn new(s: &str, r: &str, d: &str) -> Self {
        Relation {
            source: s.to_string(),
            relationship: r.to_string(),
            destination: d.to_string(),
            score: None,
        }
    }

    fn of(e: &GraphEdge) -> Self {
        Relation::new(&e.source, &e.relationship, &e.destination)
    }
}

/// The graph changes of one `add` (Mem0's `relations` field of `add`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GraphChanges {
    /// Relations created or re-asserted.
    pub added_entities: Vec<Relation>,
    /// Relations marked invalid (soft delete) because the conversation
    /// contradicted them.
    pub deleted_entities: Vec<Relation>,
}

impl GraphChanges {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added_entities.is_empty() && self.deleted_entities.is_empty()
    }
}

/// A stored relation with its history (`Memory::relations`,
/// `Memory::neighbors`, `memlayer graph show`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RelationRecord {
    /// Source entity.
    pub source: String,
    /// Relationship.
    pub relationship: String,
    /// Destination entity.
    pub destination: String,
    /// False once a later conversation contradicted it.
    pub valid: bool,
    /// When it was first added.
    pub created_at: Timestamp,
    /// When it was last asserted or changed.
    pub updated_at: Timestamp,
    /// When it was invalidated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalidated_at: Option<Timestamp>,
    /// How many `add` calls asserted it.
    pub mentions: u64,
    /// Memories it came from.
    pub memory_ids: Vec<String>,
    /// Memories it came from that were deleted since.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retracted_memory_ids: Vec<String>,
}

impl From<GraphEdge> for RelationRecord {
    fn from(e: GraphEdge) -> Self {
        RelationRecord {
            source: e.source,
            relationship: e.relationship,
            destination: e.destination,
            valid: e.valid,
            created_at: e.created_at,
            updated_at: e.updated_at,
            invalidated_at: e.invalidated_at,
            mentions: e.mentions,
            memory_ids: e.memory_ids.iter().map(ToString::to_string).collect(),
            retracted_memory_ids: e
                .retracted_memory_ids
                .iter()
                .map(ToString::to_string)
                .collect(),
        }
    }
}

/// The nodes of one scope with an exact-scan index of their embeddings
/// (graphs per scope are small; the flat SIMD scan is the right index).
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

/// The normalised name of the speaker of a scope (`user_id`, else
/// `agent_id`, else `run_id`).
pub(crate) fn self_name(scope: &Scope, agent_subject: bool) -> Option<String> {
    let id = if agent_subject {
        scope.agent_id.as_deref().or(scope.user_id.as_deref())
    } else {
        scope.user_id.as_deref().or(scope.agent_id.as_deref())
    }
    .or(scope.run_id.as_deref())?;
    let n = crate::graph_llm::normalize_entity(id);
    (!n.is_empty()).then_some(n)
}

/// True if a normalised name refers to the speaker.
pub(crate) fn is_self_word(name: &str) -> bool {
    SELF_WORDS.contains(&name) || name == "the_user"
}

fn words(s: &str) -> Vec<String> {
    s.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Lowercase word set of a text (provenance matching).
pub(crate) fn word_set(s: &str) -> HashSet<String> {
    words(s).into_iter().collect()
}

/// Word n-grams (1..=4) of a query, joined with `_` like stored names.
pub(crate) fn query_ngrams(q: &str) -> Vec<String> {
    let w = words(q);
    let mut out = Vec::new();
    for n in 1..=4usize.min(w.len()) {
        for win in w.windows(n) {
            out.push(win.join("_"));
        }
    }
    out
}

/// Content unigrams and bigrams of a query, for embedding matches (at most
/// `max`).
pub(crate) fn query_terms(q: &str, max: usize) -> Vec<String> {
    let w: Vec<String> = words(q)
        .into_iter()
        .filter(|w| !STOP_WORDS.contains(&w.as_str()) && w.len() > 1)
        .collect();
    let mut out: Vec<String> = w.clone();
    for pair in w.windows(2) {
        out.push(pair.join(" "));
    }
    out.dedup();
    out.truncate(max);
    out
}

/// A light English stemmer for relation ranking: one of `ing`, `ed`, `es`,
/// `s` and then a final `e` come off while 3+ letters remain, so `live`,
/// `lives`, `lived` and `living` all become `liv` (query and triples get the
/// same treatment).
fn stem(w: &str) -> String {
    let mut b = w;
    for suf in ["ing", "ed", "es", "s"] {
        if let Some(r) = b.strip_suffix(suf)
            && r.chars().count() >= 3
        {
            b = r;
            break;
        }
    }
    if let Some(r) = b.strip_suffix('e')
        && r.chars().count() >= 3
    {
        b = r;
    }
    b.to_string()
}

fn stems(s: &str) -> Vec<String> {
    words(s).iter().map(|w| stem(w)).collect()
}

/// BM25 (k1 1.2, b 0.75) of `query` against each document, over the
/// documents given (the candidate relations), mapped to [0, 1) by s/(s+1).
/// Words are lowercased and lightly stemmed.
pub(crate) fn bm25_norm(query: &str, docs: &[String]) -> Vec<f32> {
    let qt: HashSet<String> = stems(query).into_iter().collect();
    let dt: Vec<Vec<String>> = docs.iter().map(|d| stems(d)).collect();
    let n = dt.len().max(1) as f32;
    let avg = dt.iter().map(Vec::len).sum::<usize>() as f32 / n;
    let df = |t: &str| dt.iter().filter(|d| d.iter().any(|w| w == t)).count() as f32;
    dt.iter()
        .map(|d| {
            let len = d.len() as f32;
            let s: f32 = qt
                .iter()
                .map(|t| {
                    let tf = d.iter().filter(|w| *w == t).count() as f32;
                    if tf == 0.0 {
                        return 0.0;
                    }
                    let idf = ((n - df(t) + 0.5) / (df(t) + 0.5) + 1.0).ln();
                    idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len / avg.max(1e-6)))
                })
                .sum();
            s / (s + 1.0)
        })
        .collect()
}

/// Renders a relation for a prompt.
pub(crate) fn render(s: &str, r: &str, d: &str) -> String {
    format!("{s} -- {r} -- {d}")
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
    normalize_name(&n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ngrams_and_terms() {
        assert_eq!(
            query_ngrams("Where is New York?"),
            vec![
                "where",
                "is",
                "new",
                "york",
                "where_is",
                "is_new",
                "new_york",
                "where_is_new",
                "is_new_york",
                "where_is_new_york"
            ]
        );
        assert_eq!(
            query_terms("Where does my brother live?", 8),
            vec!["brother", "live", "brother live"]
        );
    }

    #[test]
    fn stems_agree() {
        for (a, b) in [
            ("live", "lives"),
            ("lived", "living"),
            ("love", "loves"),
            ("watch", "watches"),
            ("move", "moved"),
        ] {
            assert_eq!(stem(a), stem(b), "{a} {b}");
        }
        assert_eq!(stem("has"), "has");
    }

    #[test]
    fn bm25_prefers_matching_triples() {
        let s = bm25_norm(
            "where does tom live",
            &[
                "tom lives in dublin".into(),
                "tom works as chef".into(),
                "ana likes tea".into(),
            ],
        );
        assert!(s[0] > 0.0 && s[1] > 0.0 && s[2] == 0.0);
        let s = bm25_norm("tom live", &["tom live dublin".into(), "tom works".into()]);
        assert!(s[0] > s[1]);
    }

    #[test]
    fn self_resolution() {
        let sc = Scope::user("Alice Smith");
        assert_eq!(self_name(&sc, false).as_deref(), Some("alice_smith"));
        assert_eq!(resolve_query_entity(&sc, "me"), "alice_smith");
        assert_eq!(resolve_query_entity(&sc, "The Dog"), "dog");
        assert!(is_self_word("user"));
    }
}
