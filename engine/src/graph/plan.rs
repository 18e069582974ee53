//! Graph memory in `add`, before the writer lock: one constrained
//! extraction call (entities, relations; the speaker is `USER`, resolved to
//! the scope's id) → entities resolve to existing nodes of the scope by
//! normalised name, else by name-embedding cosine ≥ `merge_threshold` →
//! existing valid relations touching those nodes go to one outdated-relation
//! call, which may only name their numbers.

use std::collections::{HashMap, HashSet};

use memlayer_store::{NodeUpsert, Scope, Snapshot};

use super::cache::ScopeGraph;
use super::{GraphPlan, Triple, is_self_word, render, self_name};
use crate::error::Result;
use crate::graph_llm::{self, ExtractedRelation, normalize_entity};
use crate::llm_output;
use crate::memory::Memory;
use crate::types::AddStats;

/// Who "the speaker" of an extraction is in this scope.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Speaker {
    /// The speaker's node key (`None`: the scope has no usable id).
    pub(crate) key: Option<String>,
    /// How the speaker's node is displayed (the scope id as given).
    pub(crate) display: Option<String>,
}

impl Speaker {
    /// The speaker of `scope`: its agent when the agent's own facts are
    /// extracted, else its user (each falling back to the other, then the run).
    pub(crate) fn of(scope: &Scope, agent_subject: bool) -> Speaker {
        let display = if agent_subject {
            scope.agent_id.clone().or_else(|| scope.user_id.clone())
        } else {
            scope.user_id.clone().or_else(|| scope.agent_id.clone())
        }
        .or_else(|| scope.run_id.clone());
        Speaker {
            key: self_name(scope, agent_subject),
            display,
        }
    }

    /// An extracted name → (node key, display name); speaker words map to
    /// the speaker.
    pub(crate) fn key_of(&self, name: &str) -> (String, String) {
        let k = normalize_entity(name);
        match (&self.key, is_self_word(&k)) {
            (Some(me), true) => (
                me.clone(),
                self.display.clone().unwrap_or_else(|| me.clone()),
            ),
            _ => (k, name.trim().to_string()),
        }
    }
}

/// Drops relations naming an entity absent from the conversation (small
/// models copy the prompt's examples); the speaker always counts as
/// present. Returns how many were dropped.
pub(crate) fn ground_relations(relations: &mut Vec<ExtractedRelation>, transcript: &str) -> usize {
    let before = relations.len();
    relations.retain(|r| {
        [&r.source, &r.destination]
            .iter()
            .all(|n| is_self_word(&normalize_entity(n)) || llm_output::is_grounded(n, transcript))
    });
    before - relations.len()
}

/// The distinct entity names of the relations, as (key, display), in order.
pub(crate) fn entity_names(
    relations: &[ExtractedRelation],
    who: &Speaker,
) -> Vec<(String, String)> {
    let mut names: Vec<(String, String)> = Vec::new();
    for r in relations {
        for n in [&r.source, &r.destination] {
            let kd = who.key_of(n);
            if !names.iter().any(|(k, _)| *k == kd.0) {
                names.push(kd);
            }
        }
    }
    names
}

/// The relations as stored triples through the resolution of their names;
/// duplicates collapse, self-loops after resolution (e.g. "I -is-> me")
/// are dropped and counted.
pub(crate) fn resolved_edges(
    relations: &[ExtractedRelation],
    who: &Speaker,
    resolved: &HashMap<String, String>,
) -> (Vec<Triple>, usize) {
    let mut edges: Vec<Triple> = Vec::new();
    let mut self_loops = 0;
    for r in relations {
        let (Some(s), Some(d)) = (
            resolved.get(&who.key_of(&r.source).0),
            resolved.get(&who.key_of(&r.destination).0),
        ) else {
            continue;
        };
        let t = (s.clone(), r.relationship.clone(), d.clone());
        if s == d {
            self_loops += 1;
        } else if !edges.contains(&t) {
            edges.push(t);
        }
    }
    (edges, self_loops)
}

/// How the names of one extraction resolve.
struct Resolution {
    /// Name key → stored (or new) node key.
    resolved: HashMap<String, String>,
    /// Nodes to create.
    nodes: Vec<NodeUpsert>,
}

impl Memory {
    /// Graph extraction, entity resolution and the outdated-relation check
    /// (LLM calls; no lock held). `None`: nothing to write.
    pub(crate) fn graph_plan(
        &self,
        text: &str,
        scope: &Scope,
        agent_subject: bool,
        stats: &mut AddStats,
    ) -> Result<Option<GraphPlan>> {
        let g = &self.inner.config.graph_options;
        let l = &self.inner.config.llm;
        // A conversation longer than the context is read window by window;
        // the windows' entities and relations are pooled.
        let mut pooled: Option<graph_llm::Extraction> = None;
        for window in crate::add::windows(
            text,
            crate::add::window_chars(l.n_ctx as usize, l.max_tokens),
        ) {
            let m = graph_llm::extraction_messages(&window, g.extraction_prompt.as_deref());
            let out = self.generate(&m, graph_llm::extraction_schema(), stats)?;
            match graph_llm::parse_extraction(&out) {
                Ok(x) => match pooled.as_mut() {
                    None => pooled = Some(x),
                    Some(p) => p.absorb(x),
                },
                Err(e) => {
                    stats.graph_unusable_answers += 1;
                    tracing::warn!(error = %e, "dropped an unusable graph extraction");
                }
            }
        }
        let Some(mut x) = pooled else {
            return Ok(None);
        };
        stats.graph_dropped += x.dropped;
        if self.inner.config.reconcile.require_grounding {
            stats.graph_dropped += ground_relations(&mut x.relations, text);
        }
        if x.relations.is_empty() {
            return Ok(None);
        }
        let who = Speaker::of(scope, agent_subject);
        let mut types: HashMap<String, String> = HashMap::new();
        for e in &x.entities {
            types.insert(who.key_of(&e.name).0, e.entity_type.clone());
        }
        let names = entity_names(&x.relations, &who);
        let snap = self.inner.store.snapshot()?;
        let sg = self
            .inner
            .graph_cache
            .get(&snap, scope, self.inner.embedder.dims())?;
        let res = self.resolve_entities(&names, &who, &types, &sg, scope, stats)?;
        let (edges, self_loops) = resolved_edges(&x.relations, &who, &res.resolved);
        stats.graph_dropped += self_loops;
        if edges.is_empty() {
            return Ok(None);
        }
        let outdated = if g.check_outdated {
            self.outdated_relations(
                &snap,
                &sg,
                scope,
                &edges,
                &names,
                &res.resolved,
                text,
                stats,
            )?
        } else {
            Vec::new()
        };
        Ok(Some(GraphPlan {
            scope: scope.clone(),
            nodes: res.nodes,
            edges,
            outdated,
        }))
    }

    /// Resolves names: same normalised name, else embedding cosine ≥
    /// `merge_threshold` against stored nodes, then against nodes new in
    /// this call; the rest become new nodes.
    fn resolve_entities(
        &self,
        names: &[(String, String)],
        who: &Speaker,
        types: &HashMap<String, String>,
        sg: &ScopeGraph,
        scope: &Scope,
        stats: &mut AddStats,
    ) -> Result<Resolution> {
        let threshold = self.inner.config.graph_options.merge_threshold;
        let unknown: Vec<usize> = (0..names.len())
            .filter(|&i| !sg.by_name.contains_key(&names[i].0))
            .collect();
        let displays: Vec<&str> = unknown.iter().map(|&i| names[i].1.as_str()).collect();
        let vecs = if displays.is_empty() {
            Vec::new()
        } else {
            self.inner.embedder.embed_batch(&displays)?
        };
        let mut res = Resolution {
            resolved: HashMap::new(),
            nodes: Vec::new(),
        };
        let mut fresh: Vec<(String, Vec<f32>)> = Vec::new();
        for (i, (key, shown)) in names.iter().enumerate() {
            if sg.by_name.contains_key(key) {
                res.resolved.insert(key.clone(), key.clone());
                continue;
            }
            let Some(v) = unknown
                .iter()
                .position(|&u| u == i)
                .and_then(|p| vecs.get(p))
            else {
                continue;
            };
            let is_me = who.key.as_deref() == Some(key.as_str());
            let best = if is_me {
                None
            } else {
                sg.similar(v, 1, threshold)
                    .first()
                    .map(|&(j, _)| sg.nodes[j].name.clone())
                    .or_else(|| {
                        fresh
                            .iter()
                            .find(|(_, w)| memlayer_models::cosine(v, w) >= threshold)
                            .map(|(n, _)| n.clone())
                    })
            };
            match best {
                Some(target) => {
                    stats.graph_merged_by_embedding += 1;
                    tracing::debug!(entity = %shown, into = %target, "merged an entity by embedding");
                    res.resolved.insert(key.clone(), target);
                }
                None => {
                    res.resolved.insert(key.clone(), key.clone());
                    fresh.push((key.clone(), v.clone()));
                    res.nodes.push(NodeUpsert {
                        scope: scope.clone(),
                        name: key.clone(),
                        display_name: Some(shown.clone()),
                        node_type: Some(
                            types
                                .get(key)
                                .cloned()
                                .unwrap_or_else(|| "entity".to_string()),
                        ),
                        embedding: Some(v.clone()),
                    });
                }
            }
        }
        Ok(res)
    }

    /// Existing valid relations of the entities involved that the new ones
    /// may have outdated, shown to one LLM call (newest first, at most
    /// `max_outdated_candidates`); returns the ones it names.
    #[allow(clippy::too_many_arguments)]
    fn outdated_relations(
        &self,
        snap: &Snapshot<'_>,
        sg: &ScopeGraph,
        scope: &Scope,
        edges: &[Triple],
        names: &[(String, String)],
        resolved: &HashMap<String, String>,
        text: &str,
        stats: &mut AddStats,
    ) -> Result<Vec<Triple>> {
        let g = &self.inner.config.graph_options;
        let mut seen = HashSet::new();
        let mut existing = Vec::new();
        for (s, _, d) in edges {
            for n in [s, d] {
                if !sg.by_name.contains_key(n) || !seen.insert(n.clone()) {
                    continue;
                }
                for e in snap.graph_neighbors(scope, n, false)? {
                    let t = (
                        e.source.clone(),
                        e.relationship.clone(),
                        e.destination.clone(),
                    );
                    if !edges.contains(&t) && !existing.iter().any(|(x, _)| *x == t) {
                        existing.push((t, e.updated_at));
                    }
                }
            }
        }
        existing.sort_by_key(|e| std::cmp::Reverse(e.1));
        existing.truncate(g.max_outdated_candidates);
        if existing.is_empty() {
            return Ok(Vec::new());
        }
        let display = |n: &str| {
            sg.by_name
                .get(n)
                .map(|&i| sg.nodes[i].display_name.clone())
                .or_else(|| {
                    names
                        .iter()
                        .find(|(k, _)| resolved.get(k).map(String::as_str) == Some(n))
                        .map(|(_, d)| d.clone())
                })
                .unwrap_or_else(|| n.to_string())
        };
        let show = |(s, r, d): &Triple| render(&display(s), r, &display(d));
        let shown: Vec<String> = existing.iter().map(|(t, _)| show(t)).collect();
        let new: Vec<String> = edges.iter().map(show).collect();
        let m = graph_llm::update_messages(&shown, text, &new);
        let out = self.generate(&m, graph_llm::outdated_schema(shown.len()), stats)?;
        match graph_llm::parse_outdated(&out, shown.len()) {
            Ok((ids, dropped)) => {
                stats.graph_dropped += dropped;
                Ok(ids.into_iter().map(|i| existing[i].0.clone()).collect())
            }
            Err(e) => {
                stats.graph_unusable_answers += 1;
                tracing::warn!(error = %e, "dropped an unusable outdated-relation answer");
                Ok(Vec::new())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(s: &str, r: &str, d: &str) -> ExtractedRelation {
        ExtractedRelation {
            source: s.into(),
            relationship: r.into(),
            destination: d.into(),
        }
    }

    #[test]
    fn the_speaker_is_the_scope() {
        let who = Speaker::of(&Scope::user("Alice Smith"), false);
        assert_eq!(
            who.key_of("I"),
            ("alice_smith".into(), "Alice Smith".into())
        );
        assert_eq!(
            who.key_of("USER"),
            ("alice_smith".into(), "Alice Smith".into())
        );
        assert_eq!(who.key_of(" The Dog "), ("dog".into(), "The Dog".into()));
        let bot = Speaker::of(&Scope::user("u").with_agent("Bot"), true);
        assert_eq!(bot.key_of("me").0, "bot");
    }

    #[test]
    fn grounding_keeps_the_speaker_and_named_entities() {
        let mut r = vec![
            rel("USER", "lives_in", "Oslo"),
            rel("Tom", "works_as", "dentist"),
            rel("user", "likes", "pizza"),
        ];
        let dropped =
            ground_relations(&mut r, "user: I live in Oslo. My brother Tom is a dentist.");
        assert_eq!(dropped, 1);
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn names_and_edges_resolve_through_the_map() {
        let who = Speaker::of(&Scope::user("ana"), false);
        let r = vec![
            rel("USER", "has_brother", "Tom"),
            rel("Tom", "lives_in", "Oslo"),
            rel("Thomas", "lives_in", "Oslo"),
            rel("USER", "is", "me"),
        ];
        let names = entity_names(&r, &who);
        let keys: Vec<&str> = names.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["ana", "tom", "oslo", "thomas"]);
        // "Thomas" merged into "tom" (by embedding, upstream).
        let resolved: HashMap<String, String> = [
            ("ana", "ana"),
            ("tom", "tom"),
            ("oslo", "oslo"),
            ("thomas", "tom"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let (edges, self_loops) = resolved_edges(&r, &who, &resolved);
        assert_eq!(
            edges,
            vec![
                ("ana".into(), "has_brother".into(), "tom".into()),
                ("tom".into(), "lives_in".into(), "oslo".into()),
            ]
        );
        assert_eq!(self_loops, 1);
    }
}
