//! [`BertEmbedder`]: BERT-family sentence embedders (all-MiniLM, bge, e5, …)
//! on Candle, honouring the sentence-transformers configuration.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use serde::Deserialize;
use tokenizers::{
    PaddingParams, Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy,
};

use crate::embed::{Embedder, Fnv64};
use crate::error::{ModelError, Result};
use crate::small_encoder::{Arch, Shape, SmallEncoder};
use crate::source::ModelSource;

/// How token vectors are pooled into one sentence vector
/// (from sentence-transformers' `1_Pooling/config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// Mean over real (unpadded) tokens.
    Mean,
    /// The `[CLS]` token's vector.
    Cls,
    /// Element-wise max over real tokens.
    Max,
    /// Sum over real tokens divided by the square root of their count.
    MeanSqrtLen,
}

impl Pooling {
    fn as_str(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
            Pooling::Max => "max",
            Pooling::MeanSqrtLen => "mean_sqrt_len",
        }
    }
}

/// Options for [`BertEmbedder::load`]. `Default` follows the model's own
/// sentence-transformers files.
#[derive(Debug, Clone, Default)]
pub struct EmbedderConfig {
    /// Fail with [`ModelError::DimensionMismatch`] unless the model produces
    /// this many dimensions (e.g. the dimensions a store was created with).
    pub expected_dims: Option<usize>,
    /// Override the maximum sequence length (tokens, including special tokens).
    /// Default: `max_seq_length` from `sentence_bert_config.json`, else the
    /// model's `max_position_embeddings`.
    pub max_seq_length: Option<usize>,
    /// Texts per forward pass (default 32). Inputs are sorted by length and
    /// padded only within a pass.
    pub max_batch: Option<usize>,
    /// Override the model id (normally a fingerprint of config and weights).
    pub model_id: Option<String>,
    /// Run single texts through Candle too, instead of the single-sequence
    /// fast path (for comparisons; the results agree to cosine ≥ 0.9999).
    pub candle_only: bool,
    /// Keep a single text's fast-path pass on the calling thread. By
    /// default a helper thread computes half of each layer's weights (when
    /// rayon has two threads); the results are bit-identical.
    pub one_thread: bool,
}

/// A BERT-family sentence embedder running on Candle (CPU).
///
/// Loads `config.json`, `model.safetensors` and `tokenizer.json` from a
/// directory, and follows sentence-transformers: `max_seq_length` from
/// `sentence_bert_config.json` (not the tokenizer's own fixed padding or
/// truncation), pooling from `1_Pooling/config.json`, normalisation when
/// `modules.json` lists a Normalize module (or no `modules.json` exists).
///
/// ```no_run
/// use memlayer_models::{BertEmbedder, Embedder, EmbedderConfig, ModelSource};
/// let e = BertEmbedder::load(&ModelSource::Cached("minilm".into()), &EmbedderConfig::default())?;
/// let v = e.embed_batch(&["I like tea", "I enjoy tea"])?;
/// assert_eq!(v[0].len(), 384);
/// # Ok::<(), memlayer_models::ModelError>(())
/// ```
pub struct BertEmbedder {
    /// Candle's model for padded batches (`None` for MPNet, whose texts
    /// all take the fast path).
    model: Option<BertModel>,
    /// The single-text path (`None`: an architecture it does not cover).
    fast: Option<SmallEncoder>,
    tokenizer: Tokenizer,
    device: Device,
    dims: usize,
    max_seq_length: usize,
    max_batch: usize,
    pooling: Pooling,
    normalize: bool,
    model_id: String,
    dir: PathBuf,
}

impl std::fmt::Debug for BertEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BertEmbedder")
            .field("dir", &self.dir)
            .field("dims", &self.dims)
            .field("max_seq_length", &self.max_seq_length)
            .field("pooling", &self.pooling)
            .field("normalize", &self.normalize)
            .field("model_id", &self.model_id)
            .finish()
    }
}

/// What the embedder reads from `config.json` for every encoder family.
#[derive(Deserialize)]
struct EncoderConfig {
    model_type: Option<String>,
    hidden_size: usize,
    max_position_embeddings: usize,
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

#[derive(Deserialize, Default)]
struct PoolingConfig {
    word_embedding_dimension: Option<usize>,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

#[derive(Deserialize)]
struct StModule {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: String,
}

const REQUIRED: [&str; 3] = ["config.json", "model.safetensors", "tokenizer.json"];
const OPTIONAL: [&str; 3] = [
    "sentence_bert_config.json",
    "1_Pooling/config.json",
    "modules.json",
];

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| ModelError::io(path, e))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>> {
    if !path.exists() {
        return Ok(None);
    }
    let bytes = read(path)?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| ModelError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("not valid JSON for this file: {e}"),
        })
}

impl BertEmbedder {
    /// Resolves `source` and loads the model (see the type docs).
    pub fn load(source: &ModelSource, config: &EmbedderConfig) -> Result<Self> {
        let dir = source.resolve_dir(&REQUIRED, &OPTIONAL)?;
        Self::load_dir(&dir, config)
    }

    /// Loads the model from a local directory.
    pub fn load_dir(dir: &Path, config: &EmbedderConfig) -> Result<Self> {
        let device = Device::Cpu;
        for f in REQUIRED {
            if !dir.join(f).is_file() {
                return Err(ModelError::NotFound {
                    path: dir.join(f),
                    hint: "an embedder directory needs config.json, model.safetensors and tokenizer.json; run scripts/fetch-models or pass a complete model directory".into(),
                });
            }
        }
        let cfg_path = dir.join("config.json");
        let cfg_bytes = read(&cfg_path)?;
        let cfg_json: serde_json::Value =
            serde_json::from_slice(&cfg_bytes).map_err(|e| ModelError::Corrupt {
                path: cfg_path.clone(),
                reason: format!("not JSON: {e}"),
            })?;
        let not_bert = |e: serde_json::Error| ModelError::Corrupt {
            path: cfg_path.clone(),
            reason: format!("not a BERT config: {e}"),
        };
        let encoder = EncoderConfig::deserialize(&cfg_json).map_err(not_bert)?;
        // Candle's config, for Candle's model. MPNet has none (no token
        // types; Candle has no MPNet): it runs on the fast path only.
        let mpnet = encoder.model_type.as_deref() == Some("mpnet");
        let candle_cfg = if mpnet {
            None
        } else {
            Some(Config::deserialize(&cfg_json).map_err(not_bert)?)
        };

        let st: Option<SentenceBertConfig> = read_json(&dir.join("sentence_bert_config.json"))?;
        let pool_cfg: Option<PoolingConfig> = read_json(&dir.join("1_Pooling/config.json"))?;
        let modules: Option<Vec<StModule>> = read_json(&dir.join("modules.json"))?;

        let pooling = match &pool_cfg {
            None => Pooling::Mean,
            Some(p) => {
                let modes = [
                    (p.pooling_mode_mean_tokens, Pooling::Mean),
                    (p.pooling_mode_cls_token, Pooling::Cls),
                    (p.pooling_mode_max_tokens, Pooling::Max),
                    (p.pooling_mode_mean_sqrt_len_tokens, Pooling::MeanSqrtLen),
                ];
                let on: Vec<Pooling> = modes.iter().filter(|(b, _)| *b).map(|(_, m)| *m).collect();
                match on.as_slice() {
                    [one] => *one,
                    [] => Pooling::Mean,
                    _ => {
                        return Err(ModelError::Corrupt {
                            path: dir.join("1_Pooling/config.json"),
                            reason: "several pooling modes at once (concatenated pooling) are not supported".into(),
                        });
                    }
                }
            }
        };
        let normalize = match &modules {
            Some(m) => m
                .iter()
                .any(|m| m.kind.ends_with(".Normalize") || m.path.ends_with("Normalize")),
            None => true,
        };
        let dims = encoder.hidden_size;
        if let Some(w) = pool_cfg.as_ref().and_then(|p| p.word_embedding_dimension)
            && w != dims
        {
            return Err(ModelError::Corrupt {
                path: dir.join("1_Pooling/config.json"),
                reason: format!(
                    "word_embedding_dimension {w} disagrees with hidden_size {dims} in config.json"
                ),
            });
        }
        if let Some(expected) = config.expected_dims
            && expected != dims
        {
            return Err(ModelError::DimensionMismatch {
                path: dir.to_path_buf(),
                expected,
                found: dims,
            });
        }
        let max_seq_length = config
            .max_seq_length
            .or(st.and_then(|s| s.max_seq_length))
            .unwrap_or(encoder.max_position_embeddings)
            .min(encoder.max_position_embeddings);
        if max_seq_length < 2 {
            return Err(ModelError::InvalidArgument(format!(
                "max_seq_length {max_seq_length} is too small (needs room for [CLS] and [SEP])"
            )));
        }

        let tok_path = dir.join("tokenizer.json");
        // Read once: the bytes build the tokenizer and feed the fingerprint.
        let tok_bytes = read(&tok_path)?;
        let mut tokenizer = Tokenizer::from_bytes(&tok_bytes).map_err(|e| ModelError::Corrupt {
            path: tok_path.clone(),
            reason: format!("cannot load tokenizer: {e}"),
        })?;
        // The tokenizer.json shipped with sentence-transformers models often
        // pads to a fixed length and truncates at 128; sentence-transformers
        // itself truncates at max_seq_length and pads only within a batch.
        tokenizer.with_padding(None::<PaddingParams>);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_seq_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| ModelError::Corrupt {
                path: tok_path.clone(),
                reason: format!("cannot set truncation: {e}"),
            })?;

        let st_path = dir.join("model.safetensors");
        let weights = read(&st_path)?;
        let fingerprint = {
            let mut h = Fnv64::new();
            h.write(&cfg_bytes);
            h.write(pooling.as_str().as_bytes());
            h.write(&[u8::from(normalize)]);
            h.write(&(max_seq_length as u64).to_le_bytes());
            // Tokenizer vocabulary and normalisation are part of the model.
            h.write(&tok_bytes);
            h.write(&(weights.len() as u64).to_le_bytes());
            // The safetensors header (names, shapes, offsets) and a strided
            // sample of the weights: cheap, and any re-trained model differs.
            let stride = (weights.len() / 256).max(1);
            for chunk in weights.chunks(stride) {
                h.write(&chunk[..chunk.len().min(4096)]);
            }
            h.finish()
        };
        let model_id = config.model_id.clone().unwrap_or_else(|| {
            format!(
                "bert/{}/{}{}/{}d/{}/{:016x}",
                encoder.model_type.as_deref().unwrap_or("bert"),
                pooling.as_str(),
                if normalize { "+norm" } else { "" },
                dims,
                max_seq_length,
                fingerprint
            )
        });
        let fast = if config.candle_only {
            None
        } else {
            fast_path(&cfg_json, &weights, !config.one_thread)
        };
        let model = match candle_cfg {
            None if fast.is_none() => {
                return Err(ModelError::Corrupt {
                    path: st_path.clone(),
                    reason: if config.candle_only {
                        "MPNet runs on the single-text fast path only; unset candle_only".into()
                    } else {
                        "weights do not match an MPNet config.json".into()
                    },
                });
            }
            None => None,
            Some(cfg) => {
                let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
                    .map_err(|e| ModelError::Corrupt {
                        path: st_path.clone(),
                        reason: format!("not a readable safetensors file: {e}"),
                    })?;
                Some(BertModel::load(vb, &cfg).map_err(|e| ModelError::Corrupt {
                    path: st_path.clone(),
                    reason: format!("weights do not match config.json: {e}"),
                })?)
            }
        };
        tracing::debug!(dir = %dir.display(), dims, max_seq_length, pooling = pooling.as_str(), normalize, fast_path = fast.is_some(), "loaded BERT embedder");
        Ok(BertEmbedder {
            model,
            fast,
            tokenizer,
            device,
            dims,
            max_seq_length,
            max_batch: config.max_batch.unwrap_or(32).max(1),
            pooling,
            normalize,
            model_id,
            dir: dir.to_path_buf(),
        })
    }

    /// Maximum tokens per text (including special tokens); longer texts are
    /// truncated, as sentence-transformers does.
    pub fn max_seq_length(&self) -> usize {
        self.max_seq_length
    }

    /// The pooling mode in use.
    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// Number of tokens (including special tokens, after truncation) that
    /// `text` becomes.
    pub fn token_count(&self, text: &str) -> Result<usize> {
        let enc = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| ModelError::Inference {
                backend: "tokenizers",
                reason: e.to_string(),
            })?;
        Ok(enc.get_ids().len())
    }

    /// One forward pass over texts of similar length.
    fn forward(&self, ids: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let b = ids.len();
        let len = ids.iter().map(|i| i.len()).max().unwrap_or(0).max(1);
        let mut flat = vec![0u32; b * len];
        let mut mask = vec![0u32; b * len];
        for (row, seq) in ids.iter().enumerate() {
            flat[row * len..row * len + seq.len()].copy_from_slice(seq);
            for m in &mut mask[row * len..row * len + seq.len()] {
                *m = 1;
            }
        }
        let c = ModelError::candle;
        let input_ids = Tensor::from_vec(flat, (b, len), &self.device).map_err(c)?;
        let type_ids = input_ids.zeros_like().map_err(c)?;
        let attention = Tensor::from_vec(mask, (b, len), &self.device).map_err(c)?;
        let model = self
            .model
            .as_ref()
            .ok_or_else(|| ModelError::candle("this model has no Candle path"))?;
        let hidden = model
            .forward(&input_ids, &type_ids, Some(&attention))
            .map_err(c)?; // (b, len, dims)
        let mask_f = attention
            .to_dtype(DType::F32)
            .map_err(c)?
            .unsqueeze(2)
            .map_err(c)?; // (b, len, 1)
        let pooled = match self.pooling {
            Pooling::Cls => hidden.narrow(1, 0, 1).map_err(c)?.squeeze(1).map_err(c)?,
            Pooling::Mean | Pooling::MeanSqrtLen => {
                let sum = hidden
                    .broadcast_mul(&mask_f)
                    .map_err(c)?
                    .sum(1)
                    .map_err(c)?; // (b, dims)
                let count = mask_f
                    .sum(1)
                    .map_err(c)?
                    .clamp(1e-9f32, f32::MAX)
                    .map_err(c)?; // (b, 1)
                let count = if self.pooling == Pooling::MeanSqrtLen {
                    count.sqrt().map_err(c)?
                } else {
                    count
                };
                sum.broadcast_div(&count).map_err(c)?
            }
            Pooling::Max => {
                // Padded positions get a large negative value so they never win.
                let neg = ((mask_f.ones_like().map_err(c)? - &mask_f).map_err(c)? * -1e9f64)
                    .map_err(c)?;
                hidden.broadcast_add(&neg).map_err(c)?.max(1).map_err(c)?
            }
        };
        let out = if self.normalize {
            let norm = pooled
                .sqr()
                .map_err(c)?
                .sum_keepdim(1)
                .map_err(c)?
                .sqrt()
                .map_err(c)?
                .clamp(1e-12f32, f32::MAX)
                .map_err(c)?;
            pooled.broadcast_div(&norm).map_err(c)?
        } else {
            pooled
        };
        out.to_vec2::<f32>().map_err(c)
    }
}

/// The fast path's shape from `config.json`, when it covers the model: a
/// BERT with absolute positions or an MPNet, with exact-GELU activations.
fn fast_path(v: &serde_json::Value, weights: &[u8], two_threads: bool) -> Option<SmallEncoder> {
    let s = |k: &str| v.get(k).and_then(serde_json::Value::as_str);
    let n = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_u64)
            .and_then(|x| usize::try_from(x).ok())
    };
    let arch = match s("model_type") {
        None | Some("bert") => Arch::Bert,
        Some("mpnet") => Arch::MpNet {
            pad_id: n("pad_token_id").unwrap_or(1),
            buckets: n("relative_attention_num_buckets").unwrap_or(32),
        },
        Some(_) => return None,
    };
    let covered = s("hidden_act").is_none_or(|a| a == "gelu")
        && s("position_embedding_type").is_none_or(|p| p == "absolute");
    let (Some(hidden), Some(heads), Some(inter), Some(layers), Some(max_pos)) = (
        n("hidden_size"),
        n("num_attention_heads"),
        n("intermediate_size"),
        n("num_hidden_layers"),
        n("max_position_embeddings"),
    ) else {
        return None;
    };
    if !covered {
        return None;
    }
    let eps = v
        .get("layer_norm_eps")
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(1e-12);
    let shape = Shape {
        arch,
        hidden,
        heads,
        inter,
        layers,
        eps,
        max_pos,
    };
    SmallEncoder::load(weights, &shape, two_threads)
}

impl BertEmbedder {
    /// Whether single texts take the fast path (see `small_encoder`).
    pub fn has_fast_path(&self) -> bool {
        self.fast.is_some()
    }

    /// One text through the fast path: hidden states, pooled, normalised.
    /// `alone` keeps the pass on the calling thread (batches run one text
    /// per thread already).
    fn embed_one_fast(&self, fast: &SmallEncoder, ids: &[u32], alone: bool) -> Result<Vec<f32>> {
        let h = self.dims;
        let x = if alone {
            fast.forward_alone(ids)?
        } else {
            fast.forward(ids)?
        };
        let n = ids.len();
        let mut v = vec![0f32; h];
        match self.pooling {
            Pooling::Cls => v.copy_from_slice(&x[..h]),
            Pooling::Max => {
                v.copy_from_slice(&x[..h]);
                for row in x.chunks(h).skip(1) {
                    for (a, &b) in v.iter_mut().zip(row) {
                        *a = a.max(b);
                    }
                }
            }
            Pooling::Mean | Pooling::MeanSqrtLen => {
                for row in x.chunks(h) {
                    for (a, &b) in v.iter_mut().zip(row) {
                        *a += b;
                    }
                }
                let div = if self.pooling == Pooling::Mean {
                    n as f32
                } else {
                    (n as f32).sqrt()
                };
                v.iter_mut().for_each(|a| *a /= div);
            }
        }
        if self.normalize {
            let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-12);
            v.iter_mut().for_each(|a| *a /= norm);
        }
        Ok(v)
    }
}

impl Embedder for BertEmbedder {
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        if let ([text], Some(fast)) = (texts, self.fast.as_ref()) {
            let enc = self
                .tokenizer
                .encode(*text, true)
                .map_err(|e| ModelError::Inference {
                    backend: "tokenizers",
                    reason: e.to_string(),
                })?;
            return Ok(vec![self.embed_one_fast(fast, enc.get_ids(), false)?]);
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| ModelError::Inference {
                backend: "tokenizers",
                reason: e.to_string(),
            })?;
        let ids: Vec<&[u32]> = encodings.iter().map(|e| e.get_ids()).collect();
        if let Some(fast) = self.fast.as_ref() {
            // One text per worker through the packed single-text path: no
            // padding, and on this class of machine faster per text than a
            // padded Candle batch (docs/benchmarks.md, bulk add).
            use rayon::prelude::*;
            return ids
                .par_iter()
                .map(|ids| self.embed_one_fast(fast, ids, true))
                .collect();
        }
        // Sort by length so each forward pass pads as little as possible.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| ids[i].len());
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(self.max_batch) {
            let batch: Vec<&[u32]> = chunk.iter().map(|&i| ids[i]).collect();
            let vecs = self.forward(&batch)?;
            if vecs.len() != chunk.len() {
                return Err(ModelError::candle(
                    "forward pass returned the wrong number of rows",
                ));
            }
            for (&i, v) in chunk.iter().zip(vecs) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    fn dims(&self) -> usize {
        self.dims
    }

    fn model_id(&self) -> &str {
        &self.model_id
    }
}
