//! The `add` pipeline. [`Memory::add`] checks its input and picks a path:
//! verbatim (`infer = false`), procedural summary, or inference, whose
//! stages each live in their own file:
//!
//! | stage | file | LLM |
//! |---|---|---|
//! | 0. statement gate: only questions/requests/small talk → no extraction | [`gate`] | – |
//! | 1. subject, own messages, grounding, fragments joined | [`extract`] | extraction call |
//! | 1b. personal or general; 1c. whom a fact is about ([`attribute`]) | [`questions`] | one scoring per fact |
//! | 1d. time words: one-day states dropped, temporary ones marked | [`transient`] | – |
//! | 2. graph plan (graph memory on) | `crate::graph::plan` | extraction + outdated check |
//! | 3. candidates, duplicates, direct/contested split | [`candidates`] | – |
//! | 4. (default) each fact against its nearest memories, [`negation`] guard → plan | [`questions`], [`supersede`] | one scoring per pair |
//! | 4. (generate) shown keys, decisions → plan, guards | [`reconcile`] | reconciliation call |
//! | 5. texts to embed, stale check, write batch | [`commit`] | – |
//!
//! LLM calls run without any lock; the stale check and the commit run under
//! the writer lock, and a conflict re-runs stages 3–5 once.

mod attribute;
mod bulk;
mod candidates;
mod commit;
mod extract;
mod gate;
mod negation;
mod questions;
mod reconcile;
mod supersede;
mod transient;

pub use self::bulk::{BULK_COMMIT_SIZE, BulkMemory, BulkResult};
pub(crate) use self::commit::Written;
pub(crate) use self::extract::{window_chars, windows};

use std::collections::HashMap;

use memlayer_store::{Timestamp, WriteBatch};

use self::candidates::{CandidateSet, Known};
use self::extract::Source;
use self::reconcile::Planned;
use crate::config::ReconcileMethod;
use crate::error::{MemoryError, Result};
use crate::graph::{GraphChanges, GraphPlan};
use crate::llm_output;
use crate::memory::Memory;
use crate::messages::{Message, Messages, transcript};
use crate::prompts::{self, FactSubject};
use crate::types::{AddEvent, AddOptions, AddResult, AddStats, PROCEDURAL_MEMORY};
use crate::validate::{AddCtx, is_expired};
use crate::vectors::Change;

/// Similar memories fetched per new fact for reconciliation.
const CANDIDATES_PER_FACT: usize = 5;

/// Counters of one reconciliation attempt; the committed attempt's are
/// reported (a retry replaces them, it does not add to them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct AttemptStats {
    exact_duplicates: usize,
    dropped: usize,
    guarded: usize,
    no_candidates_shortcut: bool,
}

impl AttemptStats {
    fn report(self, s: &mut AddStats) {
        s.exact_duplicates = self.exact_duplicates;
        s.dropped = self.dropped;
        s.guarded = self.guarded;
        s.no_candidates_shortcut = self.no_candidates_shortcut;
    }
}

impl Memory {
    /// Adds memories from messages (a string, one [`Message`] or a list).
    /// See [`AddOptions`] for inference, scoping and procedural memory.
    /// Everything the call changes commits in one write batch.
    pub fn add(&self, messages: impl Into<Messages>, opts: &AddOptions) -> Result<AddResult> {
        let msgs = messages.into().normalize()?;
        let ctx = AddCtx::from_options(opts)?;
        match opts.memory_type.as_deref().map(str::trim) {
            None | Some("") => {}
            Some(PROCEDURAL_MEMORY) | Some("procedural") => {
                return self.add_procedural(&msgs, &ctx, opts);
            }
            Some(other) => {
                return Err(MemoryError::invalid(
                    "memory_type",
                    format!(
                        "`{other}` is not supported; use `{PROCEDURAL_MEMORY}` or leave it unset"
                    ),
                ));
            }
        }
        if opts.infer {
            self.add_infer(&msgs, &ctx, opts.prompt.as_deref())
        } else {
            self.add_raw(&msgs, &ctx)
        }
    }

    /// `infer = false`: every non-system message verbatim, one batched
    /// embedding, no LLM.
    fn add_raw(&self, msgs: &[Message], ctx: &AddCtx) -> Result<AddResult> {
        let keep: Vec<(&Message, &AddCtx)> = msgs
            .iter()
            .filter(|m| m.role != "system")
            .map(|m| (m, ctx))
            .collect();
        let mut stats = AddStats::default();
        let t = std::time::Instant::now();
        let ids = self.store_verbatim(&keep)?;
        stats.timings.record("store", t);
        let results = keep
            .iter()
            .zip(ids)
            .map(|((m, _), id)| AddEvent::added(id, m.content.clone()))
            .collect();
        Ok(AddResult {
            results,
            stats,
            relations: None,
        })
    }

    /// Stores messages verbatim, each with its context (scope, metadata,
    /// expiry, created_at; role and name as `role` / `actor_id`): one
    /// batched embedding, one write batch. Shared by `add(infer=false)`
    /// and each chunk of [`Memory::add_many`]. Returns the ids in order.
    fn store_verbatim(&self, items: &[(&Message, &AddCtx)]) -> Result<Vec<uuid::Uuid>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let texts: Vec<&str> = items.iter().map(|(m, _)| m.content.as_str()).collect();
        let vecs = self.inner.embedder.embed_batch(&texts)?;
        if vecs.len() != items.len() {
            return Err(MemoryError::Model(memlayer_models::ModelError::Inference {
                backend: "embedder",
                reason: format!("{} vectors for {} texts", vecs.len(), items.len()),
            }));
        }
        let mut batch = WriteBatch::new();
        let mut changes = Vec::with_capacity(items.len());
        let mut ids = Vec::with_capacity(items.len());
        for ((m, ctx), v) in items.iter().zip(vecs) {
            let mut n = commit::new_memory(m.content.clone(), ctx, v.clone());
            n.role = Some(m.role.clone());
            n.actor_id = m.name.clone();
            let id = batch.insert(n);
            changes.push(Change::Insert {
                id,
                scope: ctx.scope.clone(),
                vector: v,
            });
            ids.push(id);
        }
        self.commit(batch, changes)?;
        Ok(ids)
    }

    /// Procedural memory: one summary of the agent's run.
    fn add_procedural(
        &self,
        msgs: &[Message],
        ctx: &AddCtx,
        opts: &AddOptions,
    ) -> Result<AddResult> {
        if ctx.scope.agent_id.is_none() {
            return Err(MemoryError::invalid(
                "agent_id",
                "procedural memory summarises an agent's run: pass agent_id",
            ));
        }
        let mut stats = AddStats::default();
        let p = &self.inner.config.prompts;
        let prompt = opts.prompt.as_deref().or(p.procedural.as_deref());
        let m = prompts::procedural_messages(
            &transcript(msgs),
            prompt,
            p.custom_instructions.as_deref(),
        );
        let out = self.generate(&m, prompts::procedural_schema(), &mut stats)?;
        let text = llm_output::parse_procedural(&out).map_err(|e| MemoryError::LlmOutput {
            stage: "procedural summary",
            reason: e.0,
        })?;
        let v = self.inner.embedder.embed(&text)?;
        let mut n = commit::new_memory(text.clone(), ctx, v.clone());
        n.memory_type = Some(PROCEDURAL_MEMORY.to_string());
        n.role = Some("assistant".into());
        let mut batch = WriteBatch::new();
        let id = batch.insert(n);
        let change = Change::Insert {
            id,
            scope: ctx.scope.clone(),
            vector: v,
        };
        self.commit(batch, vec![change])?;
        Ok(AddResult {
            results: vec![AddEvent::added(id, text)],
            stats,
            relations: None,
        })
    }

    /// `infer = true`: the staged pipeline (see the module docs).
    fn add_infer(&self, msgs: &[Message], ctx: &AddCtx, prompt: Option<&str>) -> Result<AddResult> {
        let mut stats = AddStats::default();
        let Some(src) = extract::source(msgs, &ctx.scope) else {
            return Ok(AddResult::default());
        };
        let facts = self.extract_facts(&src, prompt, &mut stats)?;
        let mut t = std::time::Instant::now();
        // Graph extraction reads the same messages; its changes join the
        // memories' write batch below.
        // A message with no statement (only questions, requests, small
        // talk) holds no relation about the user either.
        let graph_plan = if self.inner.config.graph && !stats.no_statement {
            let p = self.graph_plan(
                &src.transcript,
                &ctx.scope,
                src.subject == FactSubject::Agent,
                &mut stats,
            )?;
            t = stats.timings.record("graph_extract", t);
            p
        } else {
            None
        };
        if facts.is_empty() {
            return self.commit_graph_only(graph_plan, stats);
        }
        let refs: Vec<&str> = facts.iter().map(String::as_str).collect();
        let fact_vecs = self.inner.embedder.embed_batch(&refs)?;
        let mut t = stats.timings.record("embed", t);
        let mut vectors: HashMap<String, Vec<f32>> = facts
            .iter()
            .cloned()
            .zip(fact_vecs.iter().cloned())
            .collect();
        let mut retried = false;
        loop {
            let set = self.candidates(&fact_vecs, ctx)?;
            t = stats.timings.record("candidates", t);
            let (plan, attempt) = self.reconcile(&facts, &set, &mut stats)?;
            attempt.report(&mut stats);
            t = stats.timings.record("reconcile", t);
            if plan.is_empty() {
                return self.commit_graph_only(graph_plan, stats);
            }
            let missing = commit::texts_to_embed(&plan, &vectors);
            if !missing.is_empty() {
                let refs: Vec<&str> = missing.iter().map(String::as_str).collect();
                let vs = self.inner.embedder.embed_batch(&refs)?;
                vectors.extend(missing.into_iter().zip(vs));
            }
            // Commit under the writer lock, if no target changed meanwhile.
            let _w = self.inner.write.lock();
            let snap = self.inner.store.snapshot()?;
            let stale = commit::stale_targets(&plan, |id| {
                Ok(snap.get(id)?.filter(|m| !m.is_superseded()).map(|m| m.hash))
            })?;
            drop(snap);
            if !stale.is_empty() && !retried {
                retried = true;
                stats.conflict_retries += 1;
                tracing::info!(
                    conflicts = stale.len(),
                    "memories changed during reconciliation; retrying once"
                );
                continue;
            }
            stats.skipped_conflicts = stale.len();
            let mut built = commit::build_batch(plan, &stale, ctx, src.role, &vectors);
            let relations = match &graph_plan {
                Some(gp) => {
                    Some(self.apply_graph(gp, &mut built.batch, &built.written, &mut stats)?)
                }
                None => self.inner.config.graph.then(GraphChanges::default),
            };
            self.commit_locked(built.batch, built.changes)?;
            if graph_plan.is_some() {
                self.inner.graph_cache.invalidate();
            }
            stats.timings.record("commit", t);
            return Ok(AddResult {
                results: built.events,
                stats,
                relations,
            });
        }
    }

    /// Stage 1: one constrained extraction call, then grounding.
    fn extract_facts(
        &self,
        src: &Source,
        prompt: Option<&str>,
        stats: &mut AddStats,
    ) -> Result<Vec<String>> {
        let p = &self.inner.config.prompts;
        let prompt = prompt.or(p.fact_extraction.as_deref());
        if self.inner.config.reconcile.statement_gate
            && src.subject == FactSubject::User
            && prompt.is_none()
            && !gate::states_facts(&src.transcript)
        {
            tracing::debug!("only questions, requests and small talk: nothing to extract");
            stats.no_statement = true;
            return Ok(Vec::new());
        }
        let l = &self.inner.config.llm;
        let t = std::time::Instant::now();
        let mut facts: Vec<String> = Vec::new();
        // A conversation longer than the context is read window by window.
        for window in extract::windows(
            &src.transcript,
            extract::window_chars(l.n_ctx as usize, l.max_tokens),
        ) {
            let m = prompts::extraction_messages(
                src.subject,
                &window,
                prompt,
                p.custom_instructions.as_deref(),
            );
            let out = self.generate(&m, prompts::facts_schema(), stats)?;
            let found = llm_output::parse_facts(&out).map_err(|e| MemoryError::LlmOutput {
                stage: "fact extraction",
                reason: e.0,
            })?;
            for f in found {
                if !facts.iter().any(|g| g.eq_ignore_ascii_case(&f)) {
                    facts.push(f);
                }
            }
        }
        if self.inner.config.reconcile.require_grounding {
            let (kept, dropped) = extract::ground(facts, &src.transcript);
            for f in &dropped {
                tracing::info!(fact = %f, "dropped a fact not grounded in the conversation");
            }
            stats.ungrounded += dropped.len();
            facts = kept;
        }
        if self.inner.config.reconcile.statement_gate && src.subject == FactSubject::User {
            facts.retain(|f| {
                let request = gate::is_request(f);
                if request {
                    tracing::info!(fact = %f, "dropped a request written as a fact");
                    stats.not_personal += 1;
                }
                !request
            });
        }
        if self.inner.config.reconcile.join_fragments {
            facts = extract::join_fragments(facts);
        }
        let t = stats.timings.record("extract", t);
        if self.inner.config.reconcile.fact_check
            && src.subject == FactSubject::User
            && prompt.is_none()
            && !facts.is_empty()
        {
            facts = self.keep_personal(facts, &src.transcript, stats)?;
        }
        let t = stats.timings.record("fact_check", t);
        if self.inner.config.reconcile.attribute
            && src.subject == FactSubject::User
            && prompt.is_none()
            && !facts.is_empty()
        {
            facts = self.attribute_subjects(facts, &src.transcript, stats)?;
        }
        stats.timings.record("attribute", t);
        if self.inner.config.reconcile.time_words {
            let before = facts.len();
            facts.retain(|f| {
                let keep = transient::span(f) != transient::Span::Momentary;
                if !keep {
                    tracing::info!(fact = %f, "dropped a state of one day");
                }
                keep
            });
            stats.momentary += before - facts.len();
        }
        stats.facts = facts.len();
        Ok(facts)
    }

    /// Stage 3: each fact's similar memories in scope, above the floor.
    fn candidates(&self, fact_vecs: &[Vec<f32>], ctx: &AddCtx) -> Result<CandidateSet> {
        let snap = self.inner.store.snapshot()?;
        let now = Timestamp::now();
        CandidateSet::gather(
            fact_vecs,
            self.inner.config.reconcile.candidate_min_similarity,
            CANDIDATES_PER_FACT,
            // Superseded memories stay in the index (search can ask for
            // them), so look further than the candidates kept.
            |v| {
                self.inner
                    .vectors
                    .search(v, CANDIDATES_PER_FACT * 4, &ctx.scope)
            },
            // An expired or superseded memory takes no part: a restated
            // fact is added again instead of being answered "already known"
            // by a memory that readers no longer see.
            |id| {
                Ok(snap
                    .get(id)?
                    .filter(|m| !is_expired(m, now) && !m.is_superseded())
                    .map(|m| Known {
                        id: m.id,
                        hash: m.hash,
                        text: m.text,
                    }))
            },
        )
    }

    /// Stage 4: duplicates → NONE and facts without candidates → ADD
    /// without the LLM; the rest in one reconciliation call.
    fn reconcile(
        &self,
        facts: &[String],
        set: &CandidateSet,
        stats: &mut AddStats,
    ) -> Result<(Vec<Planned>, AttemptStats)> {
        let mut split = candidates::split(facts, set);
        if self.inner.config.reconcile.time_words {
            // A temporary state is added beside the lasting memories it
            // resembles ("Is in Rome this week" keeps "Lives in Madrid").
            let (temporary, contested): (Vec<usize>, Vec<usize>) = split
                .contested
                .iter()
                .partition(|&&i| transient::span(&facts[i]) == transient::Span::Temporary);
            stats.temporary = temporary.len();
            split.direct.extend(temporary);
            split.direct.sort_unstable();
            split.contested = contested;
        }
        let mut attempt = AttemptStats {
            exact_duplicates: split.duplicates.len(),
            ..AttemptStats::default()
        };
        let mut plan: Vec<Planned> = split
            .direct
            .iter()
            .map(|&i| Planned::Add {
                text: facts[i].clone(),
            })
            .collect();
        if split.contested.is_empty() {
            attempt.no_candidates_shortcut = !split.direct.is_empty();
            return Ok((plan, attempt));
        }
        let p = &self.inner.config.prompts;
        if self.inner.config.reconcile.method == ReconcileMethod::Classify
            && p.update_memory.is_none()
            && let Some(labelled) = self.classify_pairs(&split.contested, facts, set, stats)?
        {
            plan.extend(supersede::plan(&split.contested, facts, set, &labelled));
            return Ok((plan, attempt));
        }
        let shown = reconcile::show(&split.contested, set);
        let pairs: Vec<(String, String)> = shown
            .candidates
            .iter()
            .map(|c| (c.key.clone(), c.text.clone()))
            .collect();
        let keys: Vec<String> = shown.candidates.iter().map(|c| c.key.clone()).collect();
        let contested: Vec<String> = split.contested.iter().map(|&i| facts[i].clone()).collect();
        let m = prompts::reconcile_messages(
            &pairs,
            &contested,
            p.update_memory.as_deref(),
            p.custom_instructions.as_deref(),
        );
        let schema = prompts::decisions_schema(&keys, contested.len());
        let out = self.generate(&m, schema, stats)?;
        let (decisions, dropped) =
            llm_output::parse_decisions(&out, &shown.candidates).map_err(|e| {
                MemoryError::LlmOutput {
                    stage: "reconciliation",
                    reason: e.0,
                }
            })?;
        attempt.dropped = dropped.len();
        for d in &dropped {
            tracing::warn!(reason = %d.reason, item = %d.raw, "dropped an LLM decision");
        }
        let (planned, guards) = reconcile::plan_decisions(
            decisions,
            &split.contested,
            facts,
            &shown,
            set,
            &self.inner.config.reconcile,
        );
        attempt.guarded = guards.guarded;
        plan.extend(planned);
        Ok((plan, attempt))
    }

    /// Commits only the graph changes of an `add` that changed no memory.
    fn commit_graph_only(&self, plan: Option<GraphPlan>, mut stats: AddStats) -> Result<AddResult> {
        let Some(gp) = plan else {
            return Ok(AddResult {
                results: Vec::new(),
                stats,
                relations: self.inner.config.graph.then(GraphChanges::default),
            });
        };
        let _w = self.inner.write.lock();
        let mut batch = WriteBatch::new();
        let rel = self.apply_graph(&gp, &mut batch, &[], &mut stats)?;
        self.commit_locked(batch, Vec::new())?;
        self.inner.graph_cache.invalidate();
        Ok(AddResult {
            results: Vec::new(),
            stats,
            relations: Some(rel),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_replaces_the_attempt_counters() {
        let mut s = AddStats {
            conflict_retries: 1,
            ..AddStats::default()
        };
        AttemptStats {
            exact_duplicates: 2,
            dropped: 1,
            guarded: 3,
            no_candidates_shortcut: false,
        }
        .report(&mut s);
        AttemptStats {
            exact_duplicates: 1,
            ..AttemptStats::default()
        }
        .report(&mut s);
        assert_eq!(
            (s.exact_duplicates, s.dropped, s.guarded, s.conflict_retries),
            (1, 0, 0, 1)
        );
    }
}
