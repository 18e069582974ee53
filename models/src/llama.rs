//! [`LlamaCppChat`]: GGUF chat models through llama.cpp (`llama-cpp-2`),
//! with the model's own chat template, JSON-Schema-constrained sampling and
//! reuse of the KV state of a repeated prompt prefix.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::chat::{
    ChatMessage, ChatModel, Classification, Completion, FinishReason, GenerateOptions, Timings,
};
use crate::error::{ModelError, Result};
use crate::source::ModelSource;

mod json_end;

/// Settings for [`LlamaCppChat`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatConfig {
    /// Context window in tokens (prompt + completion).
    pub n_ctx: u32,
    /// Threads for generation; default: all available cores.
    pub n_threads: Option<i32>,
    /// Threads for prompt evaluation; default: same as `n_threads`.
    pub n_threads_batch: Option<i32>,
    /// Tokens per prompt-evaluation batch.
    pub n_batch: u32,
    /// Reuse the KV state of the longest common token prefix with the
    /// previous call (e.g. a fixed system prompt). On by default.
    pub prefix_cache: bool,
    /// Number of independent contexts (concurrent generations). Each keeps
    /// its own prefix cache.
    pub parallel: usize,
    /// Chat template override: a llama.cpp built-in name (`chatml`, `llama3`,
    /// `gemma`, …) or a template string. Default: the GGUF's own template.
    pub chat_template: Option<String>,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            n_ctx: 4096,
            n_threads: None,
            n_threads_batch: None,
            n_batch: 512,
            prefix_cache: true,
            parallel: 1,
            chat_template: None,
        }
    }
}

/// The process-wide llama.cpp backend (llama.cpp allows one initialisation).
fn backend() -> Result<&'static LlamaBackend> {
    static BACKEND: OnceLock<std::result::Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            // Route llama.cpp's own logging into `tracing` instead of stderr.
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| ModelError::llama(format!("backend initialisation failed: {e}")))
}

/// One context and the tokens whose KV state it currently holds (sequence 0).
struct Slot {
    /// Borrows `LlamaCppChat::model`; see the safety note on [`LlamaCppChat`].
    ctx: Option<LlamaContext<'static>>,
    cached: Vec<LlamaToken>,
    /// Tick of the last use (0 = never), for least-recently-used eviction.
    used: u64,
}

/// A GGUF chat model on llama.cpp.
///
/// * Applies the model's own chat template (or [`ChatConfig::chat_template`]).
/// * `temperature == 0` is greedy decoding: the same input gives the same output.
/// * [`GenerateOptions::json_schema`] constrains sampling with a grammar
///   compiled from the schema, so the output always parses.
/// * Keeps each context's KV state between calls and re-evaluates only the
///   part of a new prompt after the longest common prefix, so a fixed system
///   prompt is evaluated once.
///
/// ```no_run
/// use memlayer_models::{ChatConfig, ChatMessage, ChatModel, GenerateOptions, LlamaCppChat, ModelSource};
/// let m = LlamaCppChat::load(&ModelSource::Cached("smollm2".into()), ChatConfig::default())?;
/// let out = m.generate(
///     &[ChatMessage::user("Reply with a JSON object with a key \"ok\".")],
///     &GenerateOptions::default().json_schema(serde_json::json!({
///         "type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]
///     })),
/// )?;
/// let v: serde_json::Value = serde_json::from_str(&out.text).unwrap();
/// # Ok::<(), memlayer_models::ModelError>(())
/// ```
pub struct LlamaCppChat {
    // Field order is drop order: every context (which borrows the model) is
    // dropped before the model.
    slots: Vec<Mutex<Slot>>,
    /// Use counter for [`Slot::used`].
    tick: std::sync::atomic::AtomicU64,
    create_lock: Mutex<()>,
    template: LlamaChatTemplate,
    // SAFETY: contexts in `slots` hold a `'static` borrow of this model. That
    // is sound because (1) the model is boxed, so its address never changes
    // when `LlamaCppChat` moves, (2) it is never replaced or mutated after
    // construction, (3) `slots` is declared first and so dropped first, and
    // (4) no context ever leaves this struct.
    model: Box<LlamaModel>,
    path: PathBuf,
    model_id: String,
    config: ChatConfig,
}

impl std::fmt::Debug for LlamaCppChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlamaCppChat")
            .field("path", &self.path)
            .field("model_id", &self.model_id)
            .field("config", &self.config)
            .finish()
    }
}

fn check_gguf_magic(path: &Path) -> Result<()> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
    let mut magic = [0u8; 4];
    f.read_exact(&mut magic).map_err(|_| ModelError::Corrupt {
        path: path.to_path_buf(),
        reason: "file is shorter than a GGUF header".into(),
    })?;
    if &magic != b"GGUF" {
        return Err(ModelError::Corrupt {
            path: path.to_path_buf(),
            reason: "not a GGUF file (bad magic)".into(),
        });
    }
    Ok(())
}

fn sanitize(s: &str) -> String {
    // llama.cpp takes C strings: interior NUL bytes cannot cross.
    s.replace('\0', " ")
}

impl LlamaCppChat {
    /// Resolves `source` to a GGUF file and loads it.
    pub fn load(source: &ModelSource, config: ChatConfig) -> Result<Self> {
        let path = source.resolve_file()?;
        Self::load_file(&path, config)
    }

    /// Loads a GGUF file.
    pub fn load_file(path: &Path, config: ChatConfig) -> Result<Self> {
        if config.n_ctx < 64 {
            return Err(ModelError::InvalidArgument(format!(
                "n_ctx {} is too small (minimum 64)",
                config.n_ctx
            )));
        }
        if config.n_batch == 0 || config.parallel == 0 {
            return Err(ModelError::InvalidArgument(
                "n_batch and parallel must be at least 1".into(),
            ));
        }
        if !path.is_file() {
            return Err(ModelError::NotFound {
                path: path.to_path_buf(),
                hint: "run scripts/fetch-models, or pass the path of an existing .gguf file".into(),
            });
        }
        check_gguf_magic(path)?;
        let backend = backend()?;
        let model = LlamaModel::load_from_file(backend, path, &LlamaModelParams::default())
            .map_err(|e| ModelError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("llama.cpp could not load it: {e}"),
            })?;
        let template = match &config.chat_template {
            Some(t) => LlamaChatTemplate::new(t)
                .map_err(|e| ModelError::InvalidArgument(format!("chat_template: {e}")))?,
            None => model
                .chat_template(None)
                .map_err(|e| ModelError::MissingChatTemplate {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })?,
        };
        // Prove the template is one llama.cpp can apply.
        let probe = [
            LlamaChatMessage::new("system".into(), "s".into()),
            LlamaChatMessage::new("user".into(), "u".into()),
        ]
        .into_iter()
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(ModelError::llama)?;
        model
            .apply_chat_template(&template, &probe, true)
            .map_err(|e| ModelError::MissingChatTemplate {
                path: path.to_path_buf(),
                reason: format!("llama.cpp cannot apply the template: {e}"),
            })?;
        let n_ctx_train = model.n_ctx_train();
        if n_ctx_train > 0 && config.n_ctx > n_ctx_train {
            tracing::warn!(
                n_ctx = config.n_ctx,
                n_ctx_train,
                "n_ctx exceeds the model's training context"
            );
        }
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let model_id = format!("gguf/{file}/{size}");
        let slots = (0..config.parallel)
            .map(|_| {
                Mutex::new(Slot {
                    used: 0,
                    ctx: None,
                    cached: Vec::new(),
                })
            })
            .collect();
        tracing::debug!(path = %path.display(), params = model.n_params(), "loaded GGUF chat model");
        Ok(LlamaCppChat {
            slots,
            tick: std::sync::atomic::AtomicU64::new(0),
            create_lock: Mutex::new(()),
            template,
            model: Box::new(model),
            path: path.to_path_buf(),
            model_id,
            config,
        })
    }

    /// The GGUF file this model was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The settings in use.
    pub fn config(&self) -> &ChatConfig {
        &self.config
    }

    /// Renders messages with the chat template, ending with the assistant's
    /// turn opener.
    pub fn render_prompt(&self, messages: &[ChatMessage]) -> Result<String> {
        let msgs = messages
            .iter()
            .map(|m| LlamaChatMessage::new(m.role.as_str().to_string(), sanitize(&m.content)))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(ModelError::llama)?;
        self.model
            .apply_chat_template(&self.template, &msgs, true)
            .map_err(|e| ModelError::MissingChatTemplate {
                path: self.path.clone(),
                reason: e.to_string(),
            })
    }

    /// Tokenises text as the model sees it (special tokens parsed).
    pub fn tokenize(&self, text: &str) -> Vec<LlamaToken> {
        self.model
            .vocab()
            .tokenize(sanitize(text).as_bytes(), true, true)
    }

    /// Forgets every cached prompt prefix (the next call evaluates its whole
    /// prompt). Used by benchmarks to measure the uncached path.
    pub fn clear_prefix_cache(&self) {
        for slot in &self.slots {
            let mut s = slot.lock();
            if let Some(ctx) = s.ctx.as_mut() {
                ctx.clear_kv_cache();
            }
            s.cached.clear();
        }
    }

    fn threads(&self) -> (i32, i32) {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let n = self.config.n_threads.unwrap_or(cores as i32).max(1);
        (n, self.config.n_threads_batch.unwrap_or(n).max(1))
    }

    fn new_context(&self) -> Result<LlamaContext<'static>> {
        let _guard = self.create_lock.lock();
        let backend = backend()?;
        let (t, tb) = self.threads();
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(self.config.n_ctx))
            .with_n_batch(self.config.n_batch)
            .with_n_ubatch(self.config.n_batch)
            .with_n_threads(t)
            .with_n_threads_batch(tb);
        // SAFETY: see the field comment on `model`.
        let model: &'static LlamaModel = unsafe { &*(self.model.as_ref() as *const LlamaModel) };
        model.new_context(backend, params).map_err(|e| {
            ModelError::llama(format!(
                "cannot create a context of {} tokens: {e}",
                self.config.n_ctx
            ))
        })
    }

    /// Picks a slot: among the free ones, the one sharing the longest
    /// prefix with `tokens` — unless that prefix is short (under 64 tokens or
    /// half the prompt), in which case the least recently used free slot, so
    /// that prompts with different fixed prefixes (e.g. extraction and
    /// reconciliation) each keep their own cache. Waits for the first slot
    /// when none is free.
    fn acquire(&self, tokens: &[LlamaToken]) -> parking_lot::MutexGuard<'_, Slot> {
        let mut free: Vec<(usize, parking_lot::MutexGuard<'_, Slot>)> = self
            .slots
            .iter()
            .filter_map(|s| s.try_lock())
            .map(|g| (common_prefix(&g.cached, tokens), g))
            .collect();
        let tick = self.tick.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let best = free
            .iter()
            .enumerate()
            .max_by_key(|(_, (l, _))| *l)
            .map(|(i, (l, _))| (i, *l));
        let pick = match best {
            None => None,
            Some((i, l)) if l >= 64.min(tokens.len() / 2).max(1) => Some(i),
            Some(_) => free
                .iter()
                .enumerate()
                .min_by_key(|(_, (_, g))| g.used)
                .map(|(i, _)| i),
        };
        let mut g = match pick {
            Some(i) => free.swap_remove(i).1,
            None => self.slots[0].lock(),
        };
        g.used = tick;
        g
    }

    fn build_sampler(&self, o: &GenerateOptions) -> LlamaSampler {
        if o.temperature <= 0.0 {
            LlamaSampler::greedy()
        } else {
            let mut chain = Vec::new();
            if o.top_k > 0 {
                chain.push(LlamaSampler::top_k(o.top_k));
            }
            if o.top_p > 0.0 && o.top_p < 1.0 {
                chain.push(LlamaSampler::top_p(o.top_p, 1));
            }
            chain.push(LlamaSampler::temp(o.temperature));
            chain.push(LlamaSampler::dist(o.seed));
            LlamaSampler::chain(chain, true)
        }
    }

    /// Evaluates `tokens` into the slot's sequence 0, reusing the KV state
    /// of the longest common prefix with what the slot holds. Afterwards
    /// the logits of the last prompt token are at `logits_idx`.
    fn prefill(&self, slot: &mut Slot, tokens: &[LlamaToken]) -> Result<Prefilled> {
        if slot.ctx.is_none() {
            slot.ctx = Some(self.new_context()?);
            slot.cached.clear();
        }
        let Some(ctx) = slot.ctx.as_mut() else {
            return Err(ModelError::llama("context unavailable"));
        };

        // Reuse the KV state of the longest common prefix.
        let mut keep = if self.config.prefix_cache {
            common_prefix(&slot.cached, tokens)
        } else {
            0
        };
        if keep == tokens.len() {
            keep -= 1; // the last prompt token must be evaluated for its logits
        }
        if keep < slot.cached.len() {
            let removed = u32::try_from(keep)
                .ok()
                .and_then(|k| ctx.clear_kv_cache_seq(Some(0), Some(k), None).ok())
                .unwrap_or(false);
            if !removed {
                ctx.clear_kv_cache();
                keep = 0;
            }
            slot.cached.truncate(keep);
        }

        let t_prompt = Instant::now();
        let n_batch = self.config.n_batch as usize;
        let mut batch = LlamaBatch::new(n_batch.max(1), 1);
        let rest = &tokens[keep..];
        let mut pos = keep;
        for (ci, chunk) in rest.chunks(n_batch).enumerate() {
            batch.clear();
            let last_chunk = (ci + 1) * n_batch >= rest.len();
            for (i, &t) in chunk.iter().enumerate() {
                let logits = last_chunk && i + 1 == chunk.len();
                batch
                    .add(t, (pos + i) as i32, &[0], logits)
                    .map_err(ModelError::llama)?;
            }
            ctx.decode(&mut batch).map_err(ModelError::llama)?;
            slot.cached.extend_from_slice(chunk);
            pos += chunk.len();
        }
        Ok(Prefilled {
            cached: keep,
            logits_idx: batch.n_tokens() - 1,
            ms: t_prompt.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// Renders and tokenises `messages`, checking that the prompt plus
    /// `reserve` tokens fit the context.
    fn prompt_tokens(&self, messages: &[ChatMessage], reserve: usize) -> Result<Vec<LlamaToken>> {
        if messages.is_empty() {
            return Err(ModelError::InvalidArgument(
                "a prompt needs at least one message".into(),
            ));
        }
        let prompt = self.render_prompt(messages)?;
        let tokens = self.tokenize(&prompt);
        if tokens.is_empty() {
            return Err(ModelError::InvalidArgument(
                "the prompt tokenised to nothing".into(),
            ));
        }
        let n_ctx = self.config.n_ctx as usize;
        if tokens.len() + reserve.min(n_ctx) > n_ctx {
            return Err(ModelError::ContextOverflow {
                prompt_tokens: tokens.len(),
                max_tokens: reserve,
                n_ctx,
            });
        }
        Ok(tokens)
    }

    /// Runs `f` on a slot chosen for `tokens`; on error the slot's KV state
    /// is cleared, since it may no longer match what it records.
    fn with_slot<T>(
        &self,
        tokens: &[LlamaToken],
        f: impl FnOnce(&mut Slot) -> Result<T>,
    ) -> Result<T> {
        let mut slot = self.acquire(tokens);
        let result = f(&mut slot);
        if result.is_err() {
            if let Some(ctx) = slot.ctx.as_mut() {
                ctx.clear_kv_cache();
            }
            slot.cached.clear();
        }
        result
    }

    /// The first token of each choice, which must all differ.
    fn choice_tokens(&self, choices: &[&str]) -> Result<Vec<LlamaToken>> {
        let vocab = self.model.vocab();
        let mut firsts: Vec<LlamaToken> = Vec::with_capacity(choices.len());
        for c in choices {
            let toks = vocab.tokenize(sanitize(c).as_bytes(), false, false);
            let Some(&t) = toks.first() else {
                return Err(ModelError::InvalidArgument(format!(
                    "choice {c:?} tokenises to nothing"
                )));
            };
            if let Some(j) = firsts.iter().position(|&f| f == t) {
                return Err(ModelError::InvalidArgument(format!(
                    "choices {:?} and {c:?} start with the same token; make their first words differ",
                    choices[j]
                )));
            }
            firsts.push(t);
        }
        Ok(firsts)
    }

    fn run(
        &self,
        slot: &mut Slot,
        tokens: &[LlamaToken],
        o: &GenerateOptions,
        t0: Instant,
    ) -> Result<Completion> {
        let n_ctx = self.config.n_ctx as usize;
        let mut grammar = match &o.json_schema {
            Some(schema) => {
                let gbnf = llama_cpp_2::json_schema_to_grammar(&schema.to_string())
                    .map_err(|e| ModelError::InvalidSchema(e.to_string()))?;
                Some(
                    LlamaSampler::grammar(&self.model, &gbnf, "root").map_err(|e| {
                        ModelError::InvalidSchema(format!("grammar rejected by llama.cpp: {e}"))
                    })?,
                )
            }
            None => None,
        };
        let mut sampler = self.build_sampler(o);
        let pre = self.prefill(slot, tokens)?;
        let Some(ctx) = slot.ctx.as_mut() else {
            return Err(ModelError::llama("context unavailable"));
        };
        let (cached_prompt_tokens, prompt_ms) = (pre.cached, pre.ms);
        let mut pos = tokens.len();
        let mut batch = LlamaBatch::new(1, 1);

        // Generate.
        let t_gen = Instant::now();
        let vocab = self.model.vocab();
        let mut logits_idx = pre.logits_idx;
        let mut out: Vec<u8> = Vec::new();
        // A complete JSON answer ends generation without evaluating its
        // last token (the grammar allows nothing but the end after it).
        let mut json_end = o.json_schema.as_ref().map(|_| json_end::JsonEnd::default());
        let mut n_gen = 0usize;
        let finish = loop {
            if n_gen >= o.max_tokens {
                break FinishReason::Length;
            }
            if pos >= n_ctx {
                break FinishReason::Length;
            }
            let tok = sample(ctx, logits_idx, &mut sampler, grammar.as_mut())?;
            if vocab.is_eog(tok) {
                break FinishReason::Stop;
            }
            let piece = vocab.token_to_piece(tok, false, None);
            out.extend_from_slice(&piece);
            n_gen += 1;
            if !o.stop.is_empty() {
                let text = String::from_utf8_lossy(&out);
                if let Some(cut) = o
                    .stop
                    .iter()
                    .filter(|s| !s.is_empty())
                    .filter_map(|s| text.find(s.as_str()))
                    .min()
                {
                    let kept = text[..cut].to_string();
                    out = kept.into_bytes();
                    break FinishReason::StopSequence;
                }
            }
            if json_end.as_mut().is_some_and(|j| j.feed(&piece)) {
                break FinishReason::Stop;
            }
            batch.clear();
            batch
                .add(tok, pos as i32, &[0], true)
                .map_err(ModelError::llama)?;
            ctx.decode(&mut batch).map_err(ModelError::llama)?;
            slot.cached.push(tok);
            pos += 1;
            logits_idx = 0;
        };
        let generation_ms = t_gen.elapsed().as_secs_f64() * 1e3;
        Ok(Completion {
            text: String::from_utf8_lossy(&out).into_owned(),
            prompt_tokens: tokens.len(),
            cached_prompt_tokens,
            completion_tokens: n_gen,
            finish_reason: finish,
            timings: Timings {
                prompt_ms,
                generation_ms,
                total_ms: t0.elapsed().as_secs_f64() * 1e3,
            },
        })
    }
}

/// Samples one token. With a grammar, first samples unconstrained and checks
/// that one token against the grammar (cheap), and only when it is rejected
/// applies the grammar to the whole vocabulary and samples again — the same
/// strategy as llama.cpp's common sampler. Each sampler accepts the token
/// exactly once (a double accept aborts inside llama.cpp's grammar code).
fn sample(
    ctx: &LlamaContext<'_>,
    idx: i32,
    sampler: &mut LlamaSampler,
    grammar: Option<&mut LlamaSampler>,
) -> Result<LlamaToken> {
    let mut cur = ctx.token_data_array_ith(idx);
    sampler.apply(&mut cur);
    let mut tok = cur
        .selected_token()
        .ok_or_else(|| ModelError::llama("sampler selected no token"))?;
    if let Some(g) = grammar {
        let mut single = LlamaTokenDataArray::new(vec![LlamaTokenData::new(tok, 1.0, 0.0)], false);
        g.apply(&mut single);
        let allowed = single.data.first().is_some_and(|d| d.logit().is_finite());
        if !allowed {
            let mut cur = ctx.token_data_array_ith(idx);
            g.apply(&mut cur);
            if !cur.data.iter().any(|d| d.logit().is_finite()) {
                return Err(ModelError::llama("the grammar allows no next token"));
            }
            sampler.apply(&mut cur);
            tok = cur
                .selected_token()
                .ok_or_else(|| ModelError::llama("sampler selected no token under the grammar"))?;
        }
        g.try_accept(tok).map_err(ModelError::llama)?;
    }
    sampler.accept(tok);
    Ok(tok)
}

/// What [`LlamaCppChat::prefill`] did.
struct Prefilled {
    /// Prompt tokens reused from the slot's cache.
    cached: usize,
    /// Batch index of the last prompt token's logits.
    logits_idx: i32,
    /// Time spent evaluating the rest, in milliseconds.
    ms: f64,
}

/// `ln Σ exp(x)`, computed stably.
fn log_sum_exp(xs: &[f32]) -> f32 {
    let m = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !m.is_finite() {
        return m;
    }
    m + xs.iter().map(|&x| (x - m).exp()).sum::<f32>().ln()
}

fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl ChatModel for LlamaCppChat {
    fn generate(&self, messages: &[ChatMessage], options: &GenerateOptions) -> Result<Completion> {
        let t0 = Instant::now();
        if !(options.temperature.is_finite() && options.temperature >= 0.0) {
            return Err(ModelError::InvalidArgument(format!(
                "temperature must be a finite number >= 0, got {}",
                options.temperature
            )));
        }
        let tokens = self.prompt_tokens(messages, options.max_tokens)?;
        self.with_slot(&tokens, |slot| self.run(slot, &tokens, options, t0))
    }

    fn classify(&self, messages: &[ChatMessage], choices: &[&str]) -> Result<Classification> {
        let t0 = Instant::now();
        if choices.is_empty() {
            return Err(ModelError::InvalidArgument(
                "classify needs at least one choice".into(),
            ));
        }
        let firsts = self.choice_tokens(choices)?;
        let tokens = self.prompt_tokens(messages, 1)?;
        let (cached, logits) = self.with_slot(&tokens, |slot| {
            let pre = self.prefill(slot, &tokens)?;
            let ctx = slot
                .ctx
                .as_ref()
                .ok_or_else(|| ModelError::llama("context unavailable"))?;
            let all = ctx.get_logits_ith(pre.logits_idx);
            let picked = firsts
                .iter()
                .map(|t| {
                    usize::try_from(t.0)
                        .ok()
                        .and_then(|i| all.get(i).copied())
                        .ok_or_else(|| ModelError::llama("choice token outside the vocabulary"))
                })
                .collect::<Result<Vec<f32>>>()?;
            Ok((pre.cached, (log_sum_exp(all), picked)))
        })?;
        let (lse, picked) = logits;
        let probs: Vec<f32> = picked.iter().map(|&l| (l - lse).exp()).collect();
        let mass: f32 = probs.iter().sum();
        if !(mass.is_finite() && mass > 0.0) {
            return Err(ModelError::llama(
                "the model gave the choices no probability (non-finite logits)",
            ));
        }
        Ok(Classification {
            probs: probs.iter().map(|p| p / mass).collect(),
            mass,
            prompt_tokens: tokens.len(),
            cached_prompt_tokens: cached,
            total_ms: t0.elapsed().as_secs_f64() * 1e3,
        })
    }

    fn model_id(&self) -> &str {
        &self.model_id
    }
}
