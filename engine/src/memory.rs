//! [`Memory`]: the engine handle users link.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use memlayer_models::{
    BertEmbedder, ChatMessage, ChatModel, Completion, Embedder, EmbedderConfig, GenerateOptions,
};
use memlayer_store::{
    DeleteAllReport, DurabilityMode, EdgeUpsert, Filter, HistoryEvent, ListOptions,
    Memory as Record, MemoryUpdate, NewMemory, NodeUpsert, Scope, ScopeKind, Store, StoreConfig,
    Timestamp, TransferStats, WriteBatch, filter,
};
use parking_lot::Mutex;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::config::{Durability, MemoryConfig};
use crate::error::{MemoryError, Result};
use crate::graph::{self, GraphCache, GraphChanges, Relation, RelationRecord};
use crate::graph_llm;
use crate::llm_output::{self, Candidate, Decision};
use crate::messages::{MAX_MESSAGE_BYTES, Message, Messages, transcript};
use crate::prompts::{self, FactSubject};
use crate::search::{MAX_LIMIT, fuse};
use crate::types::*;
use crate::vectors::{Change, IndexOrigin, Vectors};

/// Similar memories fetched per new fact for reconciliation.
const CANDIDATES_PER_FACT: usize = 5;
/// Relations read per recognised entity in graph search.
const MAX_EDGES_PER_ENTITY: usize = 500;

struct Inner {
    store: Store,
    vectors: Vectors,
    embedder: Arc<dyn Embedder>,
    chat: OnceLock<Arc<dyn ChatModel>>,
    chat_loading: Mutex<()>,
    reranker: Option<Arc<dyn Reranker>>,
    config: MemoryConfig,
    /// Serialises commits and the index updates that follow them.
    write: Mutex<()>,
    path: PathBuf,
    /// Per-scope graph nodes and their embedding index.
    graph_cache: GraphCache,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(e) = self.vectors.save() {
            tracing::warn!(error = %e, "could not write the index snapshot; it will be rebuilt on next open");
        }
    }
}

/// The memory engine: a cheap, cloneable, `Send + Sync` handle over one redb
/// file, its vector index and the local models.
///
/// ```no_run
/// use memlayer::{AddOptions, Memory, MemoryConfig, SearchOptions};
/// let mem = Memory::open("memories.redb", MemoryConfig::default())?;
/// mem.add("I'm vegetarian and I live in Lisbon.", &AddOptions::user("alice"))?;
/// let hits = mem.search("where does she live?", &SearchOptions::user("alice"))?;
/// println!("{}", hits.results[0].memory);
/// # Ok::<(), memlayer::MemoryError>(())
/// ```
#[derive(Clone)]
pub struct Memory {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory")
            .field("path", &self.inner.path)
            .field("embedder", &self.inner.embedder.model_id())
            .finish()
    }
}

/// Builds a [`Memory`] with injected models (tests, custom backends).
///
/// ```
/// use std::sync::Arc;
/// use memlayer::{Memory, AddOptions, SearchOptions};
/// use memlayer::models::{HashEmbedder, ScriptedChat};
/// let dir = tempfile::tempdir().unwrap();
/// let mem = Memory::builder(dir.path().join("m.redb"))
///     .embedder(Arc::new(HashEmbedder::new(64)))
///     .chat(Arc::new(ScriptedChat::new([r#"{"facts": ["Likes tea"]}"#])))
///     .open()
///     .unwrap();
/// let r = mem.add("I like tea", &AddOptions::user("alice")).unwrap();
/// assert_eq!(r.results[0].memory, "Likes tea");
/// let hits = mem.search("tea", &SearchOptions::user("alice")).unwrap();
/// assert_eq!(hits.results.len(), 1);
/// ```
pub struct MemoryBuilder {
    path: PathBuf,
    config: MemoryConfig,
    embedder: Option<Arc<dyn Embedder>>,
    chat: Option<Arc<dyn ChatModel>>,
    reranker: Option<Arc<dyn Reranker>>,
}

impl MemoryBuilder {
    /// Sets the configuration.
    pub fn config(mut self, config: MemoryConfig) -> Self {
        self.config = config;
        self
    }
    /// Uses this embedder instead of loading `config.embedder`.
    pub fn embedder(mut self, e: Arc<dyn Embedder>) -> Self {
        self.embedder = Some(e);
        self
    }
    /// Uses this chat model instead of loading `config.chat`.
    pub fn chat(mut self, c: Arc<dyn ChatModel>) -> Self {
        self.chat = Some(c);
        self
    }
    /// Reranks search results with this model.
    pub fn reranker(mut self, r: Arc<dyn Reranker>) -> Self {
        self.reranker = Some(r);
        self
    }

    /// Opens (or creates) the database: loads the embedder, opens the store
    /// (its pinned embedding model must match), and loads the index snapshot
    /// or rebuilds the index from the store.
    pub fn open(self) -> Result<Memory> {
        self.config.validate()?;
        let embedder = match self.embedder {
            Some(e) => e,
            None => Arc::new(BertEmbedder::load(
                &self.config.embedder,
                &EmbedderConfig::default(),
            )?),
        };
        let dims = u32::try_from(embedder.dims())
            .map_err(|_| MemoryError::invalid("embedder", "dimension too large"))?;
        let mut sc = StoreConfig::new(embedder.model_id(), dims);
        sc.durability = match self.config.durability {
            Durability::Immediate => DurabilityMode::Immediate,
            Durability::None => DurabilityMode::None,
        };
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                MemoryError::invalid("path", format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let store = Store::open(&self.path, sc)?;
        let vectors = Vectors::open(
            &store,
            &self.path,
            self.config.hnsw_params(),
            self.config.index.snapshot,
        )?;
        let chat = OnceLock::new();
        if let Some(c) = self.chat {
            let _ = chat.set(c);
        }
        Ok(Memory {
            inner: Arc::new(Inner {
                store,
                vectors,
                embedder,
                chat,
                chat_loading: Mutex::new(()),
                reranker: self.reranker,
                config: self.config,
                write: Mutex::new(()),
                path: self.path,
                graph_cache: GraphCache::default(),
            }),
        })
    }
}

fn parse_id(id: &str) -> Result<Uuid> {
    Uuid::parse_str(id.trim()).map_err(|_| {
        MemoryError::invalid(
            "memory_id",
            format!(
                "`{}` is not a UUID",
                id.chars().take(64).collect::<String>()
            ),
        )
    })
}

fn check_query(q: &str) -> Result<&str> {
    let q = q.trim();
    if q.is_empty() {
        return Err(MemoryError::invalid("query", "is empty"));
    }
    if q.len() > MAX_MESSAGE_BYTES || q.contains('\0') {
        return Err(MemoryError::invalid(
            "query",
            format!("must be at most {MAX_MESSAGE_BYTES} bytes without NUL characters"),
        ));
    }
    Ok(q)
}

fn check_text(t: &str, field: &str) -> Result<String> {
    let t = t.trim();
    if t.is_empty() || t.contains('\0') || t.len() > MAX_MESSAGE_BYTES {
        return Err(MemoryError::invalid(
            field,
            format!("must be non-empty, at most {MAX_MESSAGE_BYTES} bytes, without NUL characters"),
        ));
    }
    Ok(t.to_string())
}

fn validated_scope(scope: &Scope) -> Result<Scope> {
    Ok(scope.validated()?)
}

fn parse_filters(f: Option<&Value>) -> Result<Option<Filter>> {
    match f {
        None | Some(Value::Null) => Ok(None),
        Some(v) => Ok(Some(filter::parse(v)?)),
    }
}

/// Narrows `scope` by the scope equalities of a filter; `None` when they
/// contradict it (nothing can match).
fn narrow_scope(scope: &Scope, f: Option<&Filter>) -> Option<Scope> {
    let mut s = scope.clone();
    if let Some(f) = f {
        for (kind, v) in f.scope_equalities() {
            let slot = match kind {
                ScopeKind::User => &mut s.user_id,
                ScopeKind::Agent => &mut s.agent_id,
                ScopeKind::Run => &mut s.run_id,
            };
            match slot.as_deref().map(str::trim) {
                Some(x) if x != v => return None,
                Some(_) => {}
                None => *slot = Some(v),
            }
        }
    }
    Some(s)
}

fn is_expired(m: &Record, now: Timestamp) -> bool {
    m.expiration_date.is_some_and(|e| e <= now)
}

fn add_usage(stats: &mut AddStats, c: &Completion) {
    stats.llm_calls += 1;
    stats.prompt_tokens += c.prompt_tokens;
    stats.cached_prompt_tokens += c.cached_prompt_tokens;
    stats.completion_tokens += c.completion_tokens;
}

/// A decision resolved to memory ids, ready to commit.
enum Planned {
    Add {
        text: String,
    },
    Update {
        id: Uuid,
        hash: String,
        old: String,
        text: String,
    },
    Delete {
        id: Uuid,
        hash: String,
        old: String,
        replacement: Option<String>,
    },
}

impl Memory {
    /// Opens (or creates) a database with the configured models.
    pub fn open(path: impl AsRef<Path>, config: MemoryConfig) -> Result<Memory> {
        Memory::builder(path).config(config).open()
    }

    /// A builder, for injecting models or a reranker.
    pub fn builder(path: impl AsRef<Path>) -> MemoryBuilder {
        MemoryBuilder {
            path: path.as_ref().to_path_buf(),
            config: MemoryConfig::default(),
            embedder: None,
            chat: None,
            reranker: None,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &MemoryConfig {
        &self.inner.config
    }

    /// The embedder in use.
    pub fn embedder(&self) -> &dyn Embedder {
        self.inner.embedder.as_ref()
    }

    /// The database path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Whether the index came from the snapshot or was rebuilt at open.
    pub fn index_origin(&self) -> IndexOrigin {
        self.inner.vectors.origin
    }

    #[cfg(feature = "llama")]
    fn load_chat(&self) -> Result<Arc<dyn ChatModel>> {
        use memlayer_models::{ChatConfig, LlamaCppChat};
        let l = &self.inner.config.llm;
        let threads = (l.threads > 0).then(|| i32::try_from(l.threads).unwrap_or(i32::MAX));
        let cfg = ChatConfig {
            n_ctx: l.n_ctx,
            n_threads: threads,
            n_threads_batch: threads,
            prefix_cache: l.prefix_cache,
            parallel: l.slots,
            ..ChatConfig::default()
        };
        let t = std::time::Instant::now();
        let model: Arc<dyn ChatModel> = Arc::new(LlamaCppChat::load(&self.inner.config.chat, cfg)?);
        tracing::info!(
            model = model.model_id(),
            ms = t.elapsed().as_millis() as u64,
            "chat model loaded"
        );
        Ok(model)
    }

    #[cfg(not(feature = "llama"))]
    fn load_chat(&self) -> Result<Arc<dyn ChatModel>> {
        Err(MemoryError::invalid(
            "chat",
            "this build has no chat backend (feature `llama` is off): inject one with MemoryBuilder::chat",
        ))
    }

    /// The chat model, loading it from `config.chat` on first use.
    pub fn chat_model(&self) -> Result<Arc<dyn ChatModel>> {
        if let Some(c) = self.inner.chat.get() {
            return Ok(c.clone());
        }
        let _g = self.inner.chat_loading.lock();
        if let Some(c) = self.inner.chat.get() {
            return Ok(c.clone());
        }
        let model = self.load_chat()?;
        let _ = self.inner.chat.set(model.clone());
        Ok(model)
    }

    fn generate(
        &self,
        messages: &[ChatMessage],
        schema: Value,
        stats: &mut AddStats,
    ) -> Result<String> {
        let chat = self.chat_model()?;
        let l = &self.inner.config.llm;
        let opts = GenerateOptions::default()
            .max_tokens(l.max_tokens)
            .temperature(l.temperature)
            .json_schema(schema);
        let out = chat.generate(messages, &opts)?;
        add_usage(stats, &out);
        Ok(out.text)
    }

    /// Adds memories from messages (a string, one [`Message`] or a list).
    /// See [`AddOptions`] for inference, scoping and procedural memory.
    /// Everything the call changes commits in one write batch.
    pub fn add(&self, messages: impl Into<Messages>, opts: &AddOptions) -> Result<AddResult> {
        let msgs = messages.into().normalize()?;
        let scope = validated_scope(&opts.scope())?;
        let metadata = opts.metadata.clone().unwrap_or_default();
        memlayer_store::validate_metadata(&metadata)?;
        let expiration = opts
            .expiration_date
            .as_deref()
            .map(Timestamp::parse_rfc3339)
            .transpose()?;
        let ctx = AddCtx {
            scope,
            metadata,
            expiration,
        };
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

    fn new_memory(&self, text: String, ctx: &AddCtx, vector: Vec<f32>) -> NewMemory {
        let mut n =
            NewMemory::new(text, ctx.scope.clone(), vector).with_metadata(ctx.metadata.clone());
        n.expiration_date = ctx.expiration;
        n
    }

    fn add_raw(&self, msgs: &[Message], ctx: &AddCtx) -> Result<AddResult> {
        let keep: Vec<&Message> = msgs.iter().filter(|m| m.role != "system").collect();
        if keep.is_empty() {
            return Ok(AddResult::default());
        }
        let texts: Vec<&str> = keep.iter().map(|m| m.content.as_str()).collect();
        let vecs = self.inner.embedder.embed_batch(&texts)?;
        let mut batch = WriteBatch::new();
        let mut changes = Vec::with_capacity(keep.len());
        let mut results = Vec::with_capacity(keep.len());
        for (m, v) in keep.iter().zip(vecs) {
            let mut n = self.new_memory(m.content.clone(), ctx, v.clone());
            n.role = Some(m.role.clone());
            n.actor_id = m.name.clone();
            let id = batch.insert(n);
            changes.push(Change::Insert {
                id,
                scope: ctx.scope.clone(),
                vector: v,
            });
            results.push(AddEvent::added(id, m.content.clone()));
        }
        self.commit(batch, changes)?;
        Ok(AddResult {
            results,
            stats: AddStats::default(),
            relations: None,
        })
    }

    /// Commits a batch and applies its changes to the index, under the
    /// writer lock (the caller may hold it already via `commit_locked`).
    fn commit(&self, batch: WriteBatch, changes: Vec<Change>) -> Result<()> {
        let _w = self.inner.write.lock();
        self.commit_locked(batch, changes)
    }

    fn commit_locked(&self, batch: WriteBatch, changes: Vec<Change>) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let info = self.inner.store.commit(batch)?;
        if let Err(e) = self.inner.vectors.apply(info.seq, changes) {
            // The store is the source of truth: bring the index back in line.
            tracing::error!(error = %e, "index update failed after commit; rebuilding the index");
            self.inner.vectors.rebuild(&self.inner.store)?;
        }
        Ok(())
    }

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
        let mut n = self.new_memory(text.clone(), ctx, v.clone());
        n.memory_type = Some(PROCEDURAL_MEMORY.to_string());
        n.role = Some("assistant".into());
        let mut batch = WriteBatch::new();
        let id = batch.insert(n);
        self.commit(
            batch,
            vec![Change::Insert {
                id,
                scope: ctx.scope.clone(),
                vector: v,
            }],
        )?;
        Ok(AddResult {
            results: vec![AddEvent::added(id, text)],
            stats,
            relations: None,
        })
    }

    fn add_infer(&self, msgs: &[Message], ctx: &AddCtx, prompt: Option<&str>) -> Result<AddResult> {
        let mut stats = AddStats::default();
        let subject = if ctx.scope.user_id.is_none()
            && ctx.scope.agent_id.is_some()
            && msgs.iter().any(|m| m.role == "assistant")
        {
            FactSubject::Agent
        } else {
            FactSubject::User
        };
        let wanted = match subject {
            FactSubject::User => "user",
            FactSubject::Agent => "assistant",
        };
        if !msgs.iter().any(|m| m.role == wanted) {
            return Ok(AddResult::default());
        }
        let p = &self.inner.config.prompts;
        let prompt = prompt.or(p.fact_extraction.as_deref());
        // Only the subject's own messages: small models otherwise take the
        // other side's words as facts about the subject.
        let own: Vec<Message> = msgs.iter().filter(|m| m.role == wanted).cloned().collect();
        let text = transcript(&own);
        let m =
            prompts::extraction_messages(subject, &text, prompt, p.custom_instructions.as_deref());
        let out = self.generate(&m, prompts::facts_schema(), &mut stats)?;
        let mut facts = llm_output::parse_facts(&out).map_err(|e| MemoryError::LlmOutput {
            stage: "fact extraction",
            reason: e.0,
        })?;
        if self.inner.config.reconcile.require_grounding {
            facts.retain(|f| {
                let ok = llm_output::is_grounded(f, &text);
                if !ok {
                    stats.ungrounded += 1;
                    tracing::info!(fact = %f, "dropped a fact not grounded in the conversation");
                }
                ok
            });
        }
        stats.facts = facts.len();
        // Graph extraction reads the same messages; its changes join the
        // memories' write batch below.
        let graph_plan = if self.inner.config.graph {
            self.graph_plan(&text, ctx, subject == FactSubject::Agent, &mut stats)?
        } else {
            None
        };
        if facts.is_empty() {
            return self.commit_graph_only(graph_plan, stats);
        }
        let refs: Vec<&str> = facts.iter().map(String::as_str).collect();
        let fact_vecs = self.inner.embedder.embed_batch(&refs)?;
        let role = Some(wanted.to_string());

        let rc = &self.inner.config.reconcile;
        for attempt in 0..2 {
            // (3) Candidates: the top-k similar memories of each fact, in
            // scope, above the similarity floor.
            let snap = self.inner.store.snapshot()?;
            let mut cands: Vec<Record> = Vec::new();
            let mut index_of: HashMap<Uuid, usize> = HashMap::new();
            // Per fact: (candidate index, cosine).
            let mut near: Vec<Vec<(usize, f32)>> = Vec::with_capacity(facts.len());
            for v in &fact_vecs {
                let mut mine = Vec::new();
                for (id, cos) in self
                    .inner
                    .vectors
                    .search(v, CANDIDATES_PER_FACT, &ctx.scope)?
                {
                    if cos < rc.candidate_min_similarity {
                        continue;
                    }
                    let ci = match index_of.get(&id) {
                        Some(&ci) => ci,
                        None => {
                            let Some(m) = snap.get(id)? else { continue };
                            cands.push(m);
                            index_of.insert(id, cands.len() - 1);
                            cands.len() - 1
                        }
                    };
                    mine.push((ci, cos));
                }
                near.push(mine);
            }
            drop(snap);
            // Exact duplicates in scope answer NONE without the LLM.
            let mut fresh = Vec::new();
            stats.exact_duplicates = 0;
            for (i, f) in facts.iter().enumerate() {
                let h = memlayer_store::md5::hex_digest(f);
                if near[i].iter().any(|&(ci, _)| cands[ci].hash == h) {
                    stats.exact_duplicates += 1;
                } else {
                    fresh.push(i);
                }
            }
            // (4) Facts with no similar memory are ADDs without an LLM call;
            // the rest go to one reconciliation call.
            let (direct, contested): (Vec<usize>, Vec<usize>) =
                fresh.iter().partition(|&&i| near[i].is_empty());
            let mut plan: Vec<Planned> = direct
                .iter()
                .map(|&i| Planned::Add {
                    text: facts[i].clone(),
                })
                .collect();
            if contested.is_empty() {
                stats.no_candidates_shortcut = !direct.is_empty();
            } else {
                // Show only the candidates of contested facts, renamed 0, 1, ...
                let mut shown_of: HashMap<usize, usize> = HashMap::new();
                let mut shown_recs: Vec<usize> = Vec::new();
                for &i in &contested {
                    for &(ci, _) in &near[i] {
                        shown_of.entry(ci).or_insert_with(|| {
                            shown_recs.push(ci);
                            shown_recs.len() - 1
                        });
                    }
                }
                let shown: Vec<Candidate> = shown_recs
                    .iter()
                    .enumerate()
                    .map(|(k, &ci)| Candidate {
                        key: k.to_string(),
                        text: cands[ci].text.clone(),
                    })
                    .collect();
                let pairs: Vec<(String, String)> = shown
                    .iter()
                    .map(|c| (c.key.clone(), c.text.clone()))
                    .collect();
                let keys: Vec<String> = shown.iter().map(|c| c.key.clone()).collect();
                let contested_facts: Vec<String> =
                    contested.iter().map(|&i| facts[i].clone()).collect();
                let m = prompts::reconcile_messages(
                    &pairs,
                    &contested_facts,
                    p.update_memory.as_deref(),
                    p.custom_instructions.as_deref(),
                );
                let schema = prompts::decisions_schema(&keys, contested.len());
                let out = self.generate(&m, schema, &mut stats)?;
                let (decisions, dropped) =
                    llm_output::parse_decisions(&out, &shown).map_err(|e| {
                        MemoryError::LlmOutput {
                            stage: "reconciliation",
                            reason: e.0,
                        }
                    })?;
                stats.dropped += dropped.len();
                for d in &dropped {
                    tracing::warn!(reason = %d.reason, item = %d.raw, "dropped an LLM decision");
                }
                for (pos, d) in decisions {
                    // Decision `pos` answers contested fact `pos` (one per fact,
                    // in order); extra items have no fact and are taken as is.
                    let fact = contested.get(pos).copied();
                    let sim_to = |target: usize| {
                        let ci = shown_recs[target];
                        fact.map_or(1.0, |i| {
                            near[i]
                                .iter()
                                .find(|&&(c, _)| c == ci)
                                .map_or(0.0, |&(_, s)| s)
                        })
                    };
                    let best =
                        fact.map_or(1.0, |i| near[i].iter().map(|&(_, s)| s).fold(0.0, f32::max));
                    let fact_add = || {
                        fact.map(|i| Planned::Add {
                            text: facts[i].clone(),
                        })
                    };
                    let planned = match d {
                        // Guard: "already known" needs a memory that is nearly the same.
                        Decision::None if best < rc.none_min_similarity => {
                            stats.guarded += 1;
                            fact_add()
                        }
                        Decision::None => None,
                        Decision::Add { text } => Some(Planned::Add { text }),
                        // Guard: an UPDATE/DELETE must target a memory similar to its fact.
                        Decision::Update { target, .. } | Decision::Delete { target, .. }
                            if sim_to(target) < rc.candidate_min_similarity =>
                        {
                            stats.guarded += 1;
                            fact_add()
                        }
                        Decision::Update { target, text } => {
                            let c = &cands[shown_recs[target]];
                            Some(Planned::Update {
                                id: c.id,
                                hash: c.hash.clone(),
                                old: c.text.clone(),
                                text,
                            })
                        }
                        Decision::Delete {
                            target,
                            replacement,
                        } => {
                            let c = &cands[shown_recs[target]];
                            Some(Planned::Delete {
                                id: c.id,
                                hash: c.hash.clone(),
                                old: c.text.clone(),
                                replacement,
                            })
                        }
                    };
                    plan.extend(planned);
                }
            }
            if plan.is_empty() {
                return self.commit_graph_only(graph_plan, stats);
            }
            // (2') Embed texts the model wrote that are not extracted facts.
            let mut vec_of: HashMap<String, Vec<f32>> = facts
                .iter()
                .cloned()
                .zip(fact_vecs.iter().cloned())
                .collect();
            let missing: Vec<&str> = plan
                .iter()
                .filter_map(|p| match p {
                    Planned::Add { text } | Planned::Update { text, .. } => Some(text.as_str()),
                    Planned::Delete { replacement, .. } => replacement.as_deref(),
                })
                .filter(|t| !vec_of.contains_key(*t))
                .collect();
            if !missing.is_empty() {
                let missing: Vec<String> = missing.iter().map(|s| s.to_string()).collect();
                let refs: Vec<&str> = missing.iter().map(String::as_str).collect();
                for (t, v) in missing.iter().zip(self.inner.embedder.embed_batch(&refs)?) {
                    vec_of.insert(t.clone(), v);
                }
            }
            // (6) Commit under the writer lock, if no target changed meanwhile.
            let _w = self.inner.write.lock();
            let snap = self.inner.store.snapshot()?;
            let mut stale = Vec::new();
            for (i, p) in plan.iter().enumerate() {
                if let Planned::Update { id, hash, .. } | Planned::Delete { id, hash, .. } = p {
                    let now = snap.get(*id)?;
                    if now.as_ref().map(|m| &m.hash) != Some(hash) {
                        stale.push(i);
                    }
                }
            }
            drop(snap);
            if !stale.is_empty() && attempt == 0 {
                stats.conflict_retries += 1;
                tracing::info!(
                    conflicts = stale.len(),
                    "memories changed during reconciliation; retrying once"
                );
                continue;
            }
            stats.skipped_conflicts = stale.len();
            let mut batch = WriteBatch::new();
            let mut changes = Vec::new();
            let mut results = Vec::new();
            let vec_for = |t: &str| vec_of.get(t).cloned().unwrap_or_default();
            for (i, p) in plan.into_iter().enumerate() {
                if stale.contains(&i) {
                    continue;
                }
                match p {
                    Planned::Add { text } => {
                        let v = vec_for(&text);
                        let mut n = self.new_memory(text.clone(), ctx, v.clone());
                        n.role = role.clone();
                        let id = batch.insert(n);
                        changes.push(Change::Insert {
                            id,
                            scope: ctx.scope.clone(),
                            vector: v,
                        });
                        results.push(AddEvent::added(id, text));
                    }
                    Planned::Update {
                        id,
                        hash,
                        old,
                        text,
                    } => {
                        let v = vec_for(&text);
                        batch.expect_hash(id, hash);
                        batch.update(
                            id,
                            MemoryUpdate {
                                text: Some(text.clone()),
                                vector: Some(v.clone()),
                                metadata: (!ctx.metadata.is_empty()).then(|| ctx.metadata.clone()),
                                actor_id: None,
                                role: role.clone(),
                            },
                        );
                        changes.push(Change::Update { id, vector: v });
                        results.push(AddEvent {
                            id: id.to_string(),
                            memory: text,
                            event: Event::Update,
                            previous_memory: Some(old),
                            superseded_by: None,
                        });
                    }
                    Planned::Delete {
                        id,
                        hash,
                        old,
                        replacement,
                    } => {
                        batch.expect_hash(id, hash);
                        batch.delete_as(id, None, role.clone());
                        changes.push(Change::Delete { id });
                        let mut superseded_by = None;
                        let mut added = None;
                        if let Some(text) = replacement {
                            let v = vec_for(&text);
                            let mut n = self.new_memory(text.clone(), ctx, v.clone());
                            n.role = role.clone();
                            n.metadata
                                .insert("supersedes".into(), Value::from(id.to_string()));
                            let new_id = batch.insert(n);
                            changes.push(Change::Insert {
                                id: new_id,
                                scope: ctx.scope.clone(),
                                vector: v,
                            });
                            superseded_by = Some(new_id.to_string());
                            added = Some(AddEvent::added(new_id, text));
                        }
                        results.push(AddEvent {
                            id: id.to_string(),
                            memory: old,
                            event: Event::Delete,
                            previous_memory: None,
                            superseded_by,
                        });
                        results.extend(added);
                    }
                }
            }
            let relations = match &graph_plan {
                Some(gp) => Some(self.apply_graph(gp, &mut batch, &results, &mut stats)?),
                None => self.inner.config.graph.then(GraphChanges::default),
            };
            self.commit_locked(batch, changes)?;
            if graph_plan.is_some() {
                self.inner.graph_cache.invalidate();
            }
            return Ok(AddResult {
                results,
                stats,
                relations,
            });
        }
        // Unreachable in practice: the second attempt always commits.
        Ok(AddResult {
            results: Vec::new(),
            stats,
            relations: None,
        })
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

    /// Graph extraction, entity resolution and the outdated-relation check
    /// (LLM calls; no lock held). `None`: nothing to write.
    fn graph_plan(
        &self,
        text: &str,
        ctx: &AddCtx,
        agent_subject: bool,
        stats: &mut AddStats,
    ) -> Result<Option<GraphPlan>> {
        let g = &self.inner.config.graph_options;
        let m = graph_llm::extraction_messages(text, g.extraction_prompt.as_deref());
        let out = self.generate(&m, graph_llm::extraction_schema(), stats)?;
        let mut x = match graph_llm::parse_extraction(&out) {
            Ok(x) => x,
            Err(e) => {
                stats.graph_unusable_answers += 1;
                tracing::warn!(error = %e, "dropped an unusable graph extraction");
                return Ok(None);
            }
        };
        stats.graph_dropped += x.dropped;
        if self.inner.config.reconcile.require_grounding {
            // Entities must occur in the conversation (small models copy
            // the prompt's examples); the speaker always does.
            let before = x.relations.len();
            x.relations.retain(|r| {
                [&r.source, &r.destination].iter().all(|n| {
                    graph::is_self_word(&graph_llm::normalize_entity(n))
                        || llm_output::is_grounded(n, text)
                })
            });
            stats.graph_dropped += before - x.relations.len();
        }
        if x.relations.is_empty() {
            return Ok(None);
        }
        let scope = &ctx.scope;
        let me = graph::self_name(scope, agent_subject);
        let me_display = if agent_subject {
            scope.agent_id.clone().or_else(|| scope.user_id.clone())
        } else {
            scope.user_id.clone().or_else(|| scope.agent_id.clone())
        }
        .or_else(|| scope.run_id.clone());
        // Extracted name → (key, display); the speaker maps to the scope id.
        let key_of = |name: &str| -> (String, String) {
            let k = graph_llm::normalize_entity(name);
            match (&me, graph::is_self_word(&k)) {
                (Some(me), true) => (me.clone(), me_display.clone().unwrap_or_else(|| me.clone())),
                _ => (k, name.trim().to_string()),
            }
        };
        let mut types: HashMap<String, String> = HashMap::new();
        for e in &x.entities {
            types.insert(key_of(&e.name).0, e.entity_type.clone());
        }
        let mut names: Vec<(String, String)> = Vec::new();
        for r in &x.relations {
            for n in [&r.source, &r.destination] {
                let kd = key_of(n);
                if !names.iter().any(|(k, _)| *k == kd.0) {
                    names.push(kd);
                }
            }
        }
        let snap = self.inner.store.snapshot()?;
        let sg = self
            .inner
            .graph_cache
            .get(&snap, scope, self.inner.embedder.dims())?;
        // Resolve: same normalised name, else embedding cosine ≥ threshold
        // (against stored nodes, then against nodes new in this call).
        let unknown: Vec<usize> = (0..names.len())
            .filter(|&i| !sg.by_name.contains_key(&names[i].0))
            .collect();
        let displays: Vec<&str> = unknown.iter().map(|&i| names[i].1.as_str()).collect();
        let vecs = if displays.is_empty() {
            Vec::new()
        } else {
            self.inner.embedder.embed_batch(&displays)?
        };
        let mut resolved: HashMap<String, String> = HashMap::new();
        let mut nodes = Vec::new();
        let mut fresh: Vec<(String, Vec<f32>)> = Vec::new();
        for (i, (key, shown)) in names.iter().enumerate() {
            if sg.by_name.contains_key(key) {
                resolved.insert(key.clone(), key.clone());
                continue;
            }
            let Some(v) = unknown
                .iter()
                .position(|&u| u == i)
                .and_then(|p| vecs.get(p))
            else {
                continue;
            };
            let is_me = me.as_deref() == Some(key.as_str());
            let best = if is_me {
                None
            } else {
                sg.similar(v, 1, g.merge_threshold)
                    .first()
                    .map(|&(j, _)| sg.nodes[j].name.clone())
                    .or_else(|| {
                        fresh
                            .iter()
                            .find(|(_, w)| memlayer_models::cosine(v, w) >= g.merge_threshold)
                            .map(|(n, _)| n.clone())
                    })
            };
            match best {
                Some(target) => {
                    stats.graph_merged_by_embedding += 1;
                    tracing::debug!(entity = %shown, into = %target, "merged an entity by embedding");
                    resolved.insert(key.clone(), target);
                }
                None => {
                    resolved.insert(key.clone(), key.clone());
                    fresh.push((key.clone(), v.clone()));
                    nodes.push(NodeUpsert {
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
        let mut edges: Vec<(String, String, String)> = Vec::new();
        for r in &x.relations {
            let (Some(s), Some(d)) = (
                resolved.get(&key_of(&r.source).0),
                resolved.get(&key_of(&r.destination).0),
            ) else {
                continue;
            };
            let t = (s.clone(), r.relationship.clone(), d.clone());
            if s == d {
                // A self-loop after resolution (e.g. "I -is-> me").
                stats.graph_dropped += 1;
            } else if !edges.contains(&t) {
                edges.push(t);
            }
        }
        if edges.is_empty() {
            return Ok(None);
        }
        // Existing relations of the entities involved may now be outdated.
        let mut outdated = Vec::new();
        if g.check_outdated {
            let mut seen = std::collections::HashSet::new();
            let mut existing = Vec::new();
            for (s, _, d) in &edges {
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
            if !existing.is_empty() {
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
                let show = |(s, r, d): &(String, String, String)| {
                    graph::render(&display(s), r, &display(d))
                };
                let shown: Vec<String> = existing.iter().map(|(t, _)| show(t)).collect();
                let new: Vec<String> = edges.iter().map(show).collect();
                let m = graph_llm::update_messages(&shown, text, &new);
                let out = self.generate(&m, graph_llm::outdated_schema(shown.len()), stats)?;
                match graph_llm::parse_outdated(&out, shown.len()) {
                    Ok((ids, dropped)) => {
                        stats.graph_dropped += dropped;
                        outdated.extend(ids.into_iter().map(|i| existing[i].0.clone()));
                    }
                    Err(e) => {
                        stats.graph_unusable_answers += 1;
                        tracing::warn!(error = %e, "dropped an unusable outdated-relation answer");
                    }
                }
            }
        }
        Ok(Some(GraphPlan {
            scope: scope.clone(),
            nodes,
            edges,
            outdated,
        }))
    }

    /// Adds a graph plan to `batch` (caller holds the writer lock). Each
    /// relation records the memory of this `add` whose text shares the most
    /// words with it as provenance. Outdated relations still valid now are
    /// invalidated (soft delete).
    fn apply_graph(
        &self,
        gp: &GraphPlan,
        batch: &mut WriteBatch,
        results: &[AddEvent],
        stats: &mut AddStats,
    ) -> Result<GraphChanges> {
        let mut ch = GraphChanges::default();
        for n in &gp.nodes {
            batch.upsert_node(n.clone());
        }
        let written: Vec<(&AddEvent, std::collections::HashSet<String>)> = results
            .iter()
            .filter(|e| matches!(e.event, Event::Add | Event::Update))
            .map(|e| (e, graph::word_set(&e.memory)))
            .collect();
        for (s, r, d) in &gp.edges {
            let tw = graph::word_set(&format!("{s} {r} {d}").replace('_', " "));
            let best = written
                .iter()
                .map(|(e, w)| (e, w.intersection(&tw).count()))
                .max_by_key(|&(_, c)| c)
                .filter(|&(_, c)| c > 0)
                .map(|(e, _)| *e)
                .or_else(|| written.first().map(|(e, _)| *e));
            batch.upsert_edge(EdgeUpsert {
                scope: gp.scope.clone(),
                source: s.clone(),
                relationship: r.clone(),
                destination: d.clone(),
                memory_id: best.and_then(|e| Uuid::parse_str(&e.id).ok()),
            });
            ch.added_entities.push(Relation::new(s, r, d));
        }
        stats.graph_relations += gp.edges.len();
        if !gp.outdated.is_empty() {
            let snap = self.inner.store.snapshot()?;
            for (s, r, d) in &gp.outdated {
                let still = snap
                    .graph_neighbors(&gp.scope, s, false)?
                    .iter()
                    .any(|e| e.relationship == *r && e.destination == *d && e.source == *s);
                if still {
                    batch.invalidate_edge(gp.scope.clone(), s, r, d);
                    ch.deleted_entities.push(Relation::new(s, r, d));
                    stats.graph_invalidated += 1;
                }
            }
        }
        Ok(ch)
    }

    /// Hybrid search in a scope (see [`crate::search`] for the ranking).
    pub fn search(&self, query: &str, opts: &SearchOptions) -> Result<SearchResult> {
        let query = check_query(query)?;
        let full_scope = validated_scope(&opts.scope())?;
        let limit = opts.limit.unwrap_or(self.inner.config.search.limit);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(MemoryError::invalid(
                "limit",
                format!("must be in 1..={MAX_LIMIT}"),
            ));
        }
        if let Some(t) = opts.threshold
            && !(0.0..=1.0).contains(&t)
        {
            return Err(MemoryError::invalid("threshold", "must be in 0..=1"));
        }
        let filter = parse_filters(opts.filters.as_ref())?;
        let Some(scope) = narrow_scope(&full_scope, filter.as_ref()) else {
            return Ok(SearchResult::default());
        };
        let qv = self.inner.embedder.embed(query)?;
        let cfg = &self.inner.config.search;
        let now = Timestamp::now();
        let pool = (limit * 2).max(50);
        let snap = self.inner.store.snapshot()?;
        let keyword = if cfg.semantic_weight < 1.0 {
            snap.keyword_search(&scope, filter.as_ref(), query, pool)?
        } else {
            Vec::new()
        };
        // Semantic candidates; widen the beam while post-filters reject hits.
        let mut k = pool;
        let mut semantic;
        let mut accepted: HashMap<Uuid, (Record, f32)> = HashMap::new();
        loop {
            semantic = self.inner.vectors.search(&qv, k, &scope)?;
            let mut n_ok = 0;
            for &(id, cos) in &semantic {
                if accepted.contains_key(&id) {
                    n_ok += 1;
                    continue;
                }
                let Some(m) = snap.get(id)? else { continue };
                if filter.as_ref().is_some_and(|f| !f.matches(&m))
                    || (!opts.include_expired && is_expired(&m, now))
                {
                    continue;
                }
                accepted.insert(id, (m, cos));
                n_ok += 1;
            }
            if n_ok >= limit || semantic.len() < k || k >= 16 * pool {
                break;
            }
            k *= 4;
        }
        let mut bm25: HashMap<Uuid, f32> = HashMap::with_capacity(keyword.len());
        for (id, score) in keyword {
            bm25.insert(id, score);
            if accepted.contains_key(&id) {
                continue;
            }
            let Some(m) = snap.get(id)? else { continue };
            if !opts.include_expired && is_expired(&m, now) {
                continue;
            }
            let Some(v) = snap.vector(id)? else { continue };
            accepted.insert(id, (m, memlayer_models::cosine(&qv, &v)));
        }
        drop(snap);
        let mut hits: Vec<(Record, ScoreDetails)> = accepted
            .into_values()
            .map(|(m, cos)| {
                let age = (now.as_micros() - m.updated_at.as_micros()) as f64 / 86_400e6;
                let d = fuse(cfg, cos, bm25.get(&m.id).copied().unwrap_or(0.0), age);
                (m, d)
            })
            .filter(|(_, d)| opts.threshold.is_none_or(|t| d.semantic >= t))
            .collect();
        hits.sort_by(|a, b| {
            b.1.fused
                .total_cmp(&a.1.fused)
                .then_with(|| b.0.id.cmp(&a.0.id))
        });
        hits.truncate(limit);
        if let Some(r) = self.inner.reranker.as_ref().filter(|_| !opts.no_rerank)
            && !hits.is_empty()
        {
            let docs: Vec<&str> = hits.iter().map(|(m, _)| m.text.as_str()).collect();
            let scores = r.rerank(query, &docs)?;
            if scores.len() != hits.len() {
                return Err(MemoryError::invalid(
                    "reranker",
                    format!(
                        "returned {} scores for {} documents",
                        scores.len(),
                        hits.len()
                    ),
                ));
            }
            for ((_, d), s) in hits.iter_mut().zip(scores) {
                d.rerank = Some(if s.is_finite() { s } else { f32::MIN });
            }
            hits.sort_by(|a, b| {
                b.1.rerank
                    .unwrap_or(f32::MIN)
                    .total_cmp(&a.1.rerank.unwrap_or(f32::MIN))
            });
        }
        let relations = if self.inner.config.graph {
            Some(self.graph_search(query, &qv, &full_scope, limit)?)
        } else {
            None
        };
        Ok(SearchResult {
            relations,
            results: hits
                .into_iter()
                .map(|(m, d)| {
                    let mut it = MemoryItem::from(m);
                    it.score = Some(d.rerank.unwrap_or(d.fused));
                    if opts.explain {
                        it.explain = Some(d);
                    }
                    it
                })
                .collect(),
        })
    }

    /// One memory, or `None` if it does not exist.
    pub fn get(&self, memory_id: &str) -> Result<Option<MemoryItem>> {
        let id = parse_id(memory_id)?;
        Ok(self.inner.store.get(id)?.map(MemoryItem::from))
    }

    /// Memories of a scope, newest first, with filters and cursor paging.
    pub fn get_all(&self, opts: &GetAllOptions) -> Result<MemoryPage> {
        let scope = validated_scope(&opts.scope())?;
        if let Some(l) = opts.limit
            && (l == 0 || l > MAX_LIMIT)
        {
            return Err(MemoryError::invalid(
                "limit",
                format!("must be in 1..={MAX_LIMIT}"),
            ));
        }
        let filter = parse_filters(opts.filters.as_ref())?;
        let now = Timestamp::now();
        let mut cursor = opts.cursor.clone();
        let mut results = Vec::new();
        // Expired memories are skipped; keep paging until the page is full.
        loop {
            let page = self.inner.store.list(
                &scope,
                filter.as_ref(),
                &ListOptions {
                    cursor: cursor.clone(),
                    limit: opts.limit.map(|l| l - results.len()),
                },
            )?;
            results.extend(
                page.items
                    .into_iter()
                    .filter(|m| opts.include_expired || !is_expired(m, now))
                    .map(MemoryItem::from),
            );
            cursor = page.next_cursor;
            if cursor.is_none() || opts.limit.is_none_or(|l| results.len() >= l) {
                break;
            }
        }
        let relations = if self.inner.config.graph && opts.cursor.is_none() {
            let snap = self.inner.store.snapshot()?;
            Some(
                snap.graph_edges(&scope, false)?
                    .iter()
                    .map(|e| Relation::new(&e.source, &e.relationship, &e.destination))
                    .collect(),
            )
        } else {
            None
        };
        Ok(MemoryPage {
            results,
            next_cursor: cursor,
            relations,
        })
    }

    /// Relations of the entities recognised in `query` (exact name n-grams,
    /// speaker words, and embedding matches of the query's content words),
    /// their valid edges at depth 1, ranked by
    /// `w·BM25(triple text) + (1−w)·entity similarity`.
    fn graph_search(
        &self,
        query: &str,
        qv: &[f32],
        scope: &Scope,
        limit: usize,
    ) -> Result<Vec<Relation>> {
        let g = &self.inner.config.graph_options;
        let snap = self.inner.store.snapshot()?;
        let sg = self
            .inner
            .graph_cache
            .get(&snap, scope, self.inner.embedder.dims())?;
        if sg.nodes.is_empty() {
            return Ok(Vec::new());
        }
        // The speaker's own node (a hub: most relations start there).
        let me = graph::self_name(scope, false).and_then(|m| sg.by_name.get(&m).copied());
        let mut sim: HashMap<usize, f32> = HashMap::new();
        let bump = |sim: &mut HashMap<usize, f32>, i: usize, s: f32| {
            let e = sim.entry(i).or_insert(0.0);
            *e = e.max(s);
        };
        for ng in graph::query_ngrams(query) {
            if let Some(&i) = sg.by_name.get(&ng) {
                bump(&mut sim, i, 1.0);
            }
            if graph::is_self_word(&ng)
                && let Some(i) = me
            {
                bump(&mut sim, i, 1.0);
            }
        }
        for (i, cos) in sg.similar(qv, 3, g.query_match_threshold) {
            bump(&mut sim, i, cos);
        }
        // Embedding matches of the query's words cost one more (batched)
        // embedding call: only when no entity other than the speaker was
        // recognised by name or by the whole query.
        let found_other = sim.keys().any(|&i| Some(i) != me);
        let terms = if found_other {
            Vec::new()
        } else {
            graph::query_terms(query, 6)
        };
        if !terms.is_empty() {
            let refs: Vec<&str> = terms.iter().map(String::as_str).collect();
            for v in self.inner.embedder.embed_batch(&refs)? {
                for (i, cos) in sg.similar(&v, 2, g.query_match_threshold) {
                    bump(&mut sim, i, cos);
                }
            }
        }
        let mut matched: Vec<(usize, f32)> = sim.into_iter().collect();
        matched.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        matched.truncate(10);
        let node_sim: HashMap<&str, f32> = matched
            .iter()
            .map(|&(i, s)| (sg.nodes[i].name.as_str(), s))
            .collect();
        // The hub's edges are reached through the other recognised
        // entities, and read directly (bounded) only when no other entity
        // was recognised.
        let mut expand: Vec<usize> = matched
            .iter()
            .map(|&(i, _)| i)
            .filter(|&i| Some(i) != me)
            .collect();
        if expand.is_empty() {
            expand.extend(me.filter(|m| matched.iter().any(|&(i, _)| i == *m)));
        }
        let mut edges = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for i in expand {
            for e in
                snap.graph_neighbors_limit(scope, &sg.nodes[i].name, false, MAX_EDGES_PER_ENTITY)?
            {
                if seen.insert((
                    e.source.clone(),
                    e.relationship.clone(),
                    e.destination.clone(),
                )) {
                    edges.push(e);
                }
            }
        }
        let docs: Vec<String> = edges
            .iter()
            .map(|e| format!("{} {} {}", e.source, e.relationship, e.destination).replace('_', " "))
            .collect();
        let bm = graph::bm25_norm(query, &docs);
        let mut out: Vec<Relation> = edges
            .iter()
            .zip(bm)
            .map(|(e, b)| {
                let es = node_sim
                    .get(e.source.as_str())
                    .copied()
                    .unwrap_or(0.0)
                    .max(node_sim.get(e.destination.as_str()).copied().unwrap_or(0.0));
                let mut r = Relation::new(&e.source, &e.relationship, &e.destination);
                r.score = Some(g.keyword_weight * b + (1.0 - g.keyword_weight) * es);
                r
            })
            .collect();
        out.sort_by(|a, b| {
            b.score
                .unwrap_or(0.0)
                .total_cmp(&a.score.unwrap_or(0.0))
                .then_with(|| a.source.cmp(&b.source))
                .then_with(|| a.relationship.cmp(&b.relationship))
                .then_with(|| a.destination.cmp(&b.destination))
        });
        out.truncate(limit);
        Ok(out)
    }

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
        let start = graph::resolve_query_entity(&scope, check_text(entity, "entity")?.as_str());
        let snap = self.inner.store.snapshot()?;
        if snap.graph_node(&scope, &start)?.is_none() {
            return Err(MemoryError::NotFound {
                id: format!("entity `{entity}`"),
            });
        }
        Ok(
            graph::neighbourhood(&snap, &scope, &start, depth, false, 1000)?
                .into_iter()
                .map(RelationRecord::from)
                .collect(),
        )
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
        let a = graph::resolve_query_entity(&scope, check_text(from, "from")?.as_str());
        let b = graph::resolve_query_entity(&scope, check_text(to, "to")?.as_str());
        let snap = self.inner.store.snapshot()?;
        for (n, raw) in [(&a, from), (&b, to)] {
            if snap.graph_node(&scope, n)?.is_none() {
                return Err(MemoryError::NotFound {
                    id: format!("entity `{raw}`"),
                });
            }
        }
        graph::find_paths(&snap, &scope, &a, &b, max_depth, 50)
    }

    /// Changes a memory's text (re-embedded) and/or merges metadata
    /// (`null` values remove keys). Recorded in history.
    pub fn update(
        &self,
        memory_id: &str,
        text: Option<&str>,
        metadata: Option<Map<String, Value>>,
    ) -> Result<MemoryItem> {
        let id = parse_id(memory_id)?;
        if text.is_none() && metadata.is_none() {
            return Err(MemoryError::invalid(
                "update",
                "give a new text, metadata or both",
            ));
        }
        let text = text.map(|t| check_text(t, "text")).transpose()?;
        let vector = text
            .as_deref()
            .map(|t| self.inner.embedder.embed(t))
            .transpose()?;
        let mut batch = WriteBatch::new();
        batch.update(
            id,
            MemoryUpdate {
                text,
                vector: vector.clone(),
                metadata,
                actor_id: None,
                role: None,
            },
        );
        let changes = vector
            .map(|vector| Change::Update { id, vector })
            .into_iter()
            .collect();
        self.commit(batch, changes)?;
        self.get(memory_id)?
            .ok_or(MemoryError::NotFound { id: id.to_string() })
    }

    /// Deletes a memory (its history is kept).
    pub fn delete(&self, memory_id: &str) -> Result<()> {
        let id = parse_id(memory_id)?;
        let mut batch = WriteBatch::new();
        // Relations the memory produced stay; their provenance records the
        // deletion (same batch).
        if let Some(m) = self.inner.store.get(id)? {
            batch.retract_provenance(m.scope.clone(), id);
        }
        batch.delete(id);
        self.commit(batch, vec![Change::Delete { id }])
    }

    /// Deletes every memory of a scope (at least one of user/agent/run).
    pub fn delete_all(&self, scope: &Scope) -> Result<DeleteAllReport> {
        let scope = validated_scope(scope)?;
        let _w = self.inner.write.lock();
        let ids = self.inner.vectors.scope_ids(&scope);
        let report = self.inner.store.delete_all(&scope);
        self.inner.graph_cache.invalidate();
        let report = report?;
        let seq = self.inner.store.commit_seq()?;
        self.inner.vectors.apply(
            seq,
            ids.into_iter().map(|id| Change::Delete { id }).collect(),
        )?;
        Ok(report)
    }

    /// A memory's history (ADD / UPDATE / DELETE events, oldest first). Kept
    /// after the memory is deleted.
    pub fn history(&self, memory_id: &str) -> Result<Vec<HistoryEvent>> {
        let id = parse_id(memory_id)?;
        let h = self.inner.store.history(id)?;
        if h.is_empty() {
            return Err(MemoryError::NotFound { id: id.to_string() });
        }
        Ok(h)
    }

    /// Deletes everything (memories, history, graph) and the index.
    pub fn reset(&self) -> Result<()> {
        let _w = self.inner.write.lock();
        let info = self.inner.store.reset();
        self.inner.graph_cache.invalidate();
        let info = info?;
        self.inner.vectors.clear(info.seq)?;
        self.inner.vectors.remove_snapshot();
        Ok(())
    }

    /// Writes the index snapshot now (it is also written when the last
    /// handle is dropped).
    pub fn flush(&self) -> Result<()> {
        let _w = self.inner.write.lock();
        self.inner.vectors.save()
    }

    /// Number of memories.
    pub fn len(&self) -> Result<u64> {
        Ok(self.inner.store.len()?)
    }

    /// True when there are no memories.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Writes every memory (with vectors and history) and the graph as JSONL.
    pub fn export_jsonl(&self, w: impl std::io::Write) -> Result<TransferStats> {
        Ok(self.inner.store.export_jsonl(w)?)
    }

    /// Imports a JSONL export in one transaction, then rebuilds the index.
    pub fn import_jsonl(&self, r: impl std::io::BufRead) -> Result<TransferStats> {
        let _w = self.inner.write.lock();
        let stats = self.inner.store.import_jsonl(r);
        self.inner.graph_cache.invalidate();
        let stats = stats?;
        self.inner.vectors.rebuild(&self.inner.store)?;
        Ok(stats)
    }

    /// The underlying store (read access for tools and tests).
    pub fn store(&self) -> &Store {
        &self.inner.store
    }
}

/// Graph changes planned outside the writer lock.
struct GraphPlan {
    scope: Scope,
    nodes: Vec<NodeUpsert>,
    edges: Vec<(String, String, String)>,
    outdated: Vec<(String, String, String)>,
}

struct AddCtx {
    scope: Scope,
    metadata: Map<String, Value>,
    expiration: Option<Timestamp>,
}
