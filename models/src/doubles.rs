//! Deterministic test doubles for unit tests of logic built on the model
//! traits. They are not models: use [`crate::BertEmbedder`] and
//! [`crate::LlamaCppChat`] for anything real.

use std::collections::VecDeque;

use parking_lot::Mutex;

use crate::chat::{
    ChatMessage, ChatModel, Classification, Completion, FinishReason, GenerateOptions, Timings,
};
use crate::embed::{Embedder, Fnv64};
use crate::error::{ModelError, Result};

/// An embedder that hashes lower-cased word tokens into a fixed number of
/// buckets (signed feature hashing) and L2-normalises. Texts sharing words
/// get similar vectors; it is deterministic across runs and platforms.
#[derive(Debug, Clone)]
pub struct HashEmbedder {
    dims: usize,
    id: String,
}

impl HashEmbedder {
    /// A hash embedder with `dims` dimensions (at least 1).
    pub fn new(dims: usize) -> Self {
        let dims = dims.max(1);
        HashEmbedder {
            dims,
            id: format!("hash/{dims}d"),
        }
    }
}

impl Embedder for HashEmbedder {
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0f32; self.dims];
                for w in t
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                {
                    let mut h = Fnv64::new();
                    h.write(w.to_lowercase().as_bytes());
                    let h = h.finish();
                    let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
                    v[(h % self.dims as u64) as usize] += sign;
                }
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                if n > 0.0 {
                    v.iter_mut().for_each(|x| *x /= n);
                } else {
                    v[0] = 1.0;
                }
                v
            })
            .collect())
    }
    fn dims(&self) -> usize {
        self.dims
    }
    fn model_id(&self) -> &str {
        &self.id
    }
}

/// A chat model that returns scripted replies in order and records every
/// request, for deterministic tests of LLM pipelines.
///
/// ```
/// use memlayer_models::{ChatMessage, ChatModel, GenerateOptions, ScriptedChat};
/// let m = ScriptedChat::new(["{\"facts\": []}"]);
/// let out = m.generate(&[ChatMessage::user("hi")], &GenerateOptions::default()).unwrap();
/// assert_eq!(out.text, "{\"facts\": []}");
/// assert_eq!(m.requests().len(), 1);
/// assert!(m.generate(&[ChatMessage::user("again")], &GenerateOptions::default()).is_err());
/// ```
#[derive(Debug, Default)]
pub struct ScriptedChat {
    replies: Mutex<VecDeque<String>>,
    choices: Mutex<VecDeque<String>>,
    requests: Mutex<Vec<Vec<ChatMessage>>>,
}

impl ScriptedChat {
    /// A model that will answer with `replies`, one per call.
    pub fn new<I, S>(replies: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ScriptedChat {
            replies: Mutex::new(replies.into_iter().map(Into::into).collect()),
            choices: Mutex::new(VecDeque::new()),
            requests: Mutex::new(Vec::new()),
        }
    }

    /// Queues one more reply.
    pub fn push(&self, reply: impl Into<String>) {
        self.replies.lock().push_back(reply.into());
    }

    /// Queues the answer of one [`ChatModel::classify`] call: that choice
    /// gets probability 1. While no answer is queued, `classify` returns
    /// [`ModelError::Unsupported`], as a model without scoring would.
    ///
    /// ```
    /// use memlayer_models::{ChatMessage, ChatModel, ScriptedChat};
    /// let m = ScriptedChat::new(Vec::<String>::new());
    /// assert!(m.classify(&[ChatMessage::user("q")], &["A", "B"]).is_err());
    /// m.push_choice("B");
    /// let c = m.classify(&[ChatMessage::user("q")], &["A", "B"]).unwrap();
    /// assert_eq!(c.best(), Some(1));
    /// ```
    pub fn push_choice(&self, choice: impl Into<String>) {
        self.choices.lock().push_back(choice.into());
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Vec<ChatMessage>> {
        self.requests.lock().clone()
    }

    /// Replies not yet used.
    pub fn remaining(&self) -> usize {
        self.replies.lock().len()
    }
}

impl ChatModel for ScriptedChat {
    fn generate(&self, messages: &[ChatMessage], _options: &GenerateOptions) -> Result<Completion> {
        self.requests.lock().push(messages.to_vec());
        let text = self
            .replies
            .lock()
            .pop_front()
            .ok_or_else(|| ModelError::Inference {
                backend: "scripted",
                reason: "no scripted reply left".into(),
            })?;
        Ok(Completion {
            completion_tokens: text.split_whitespace().count(),
            text,
            prompt_tokens: messages
                .iter()
                .map(|m| m.content.split_whitespace().count())
                .sum(),
            cached_prompt_tokens: 0,
            finish_reason: FinishReason::Stop,
            timings: Timings::default(),
        })
    }
    fn model_id(&self) -> &str {
        "scripted"
    }
    fn classify(&self, messages: &[ChatMessage], choices: &[&str]) -> Result<Classification> {
        let Some(answer) = self.choices.lock().pop_front() else {
            return Err(ModelError::Unsupported {
                model: "scripted".into(),
                what: "scoring fixed answers (no scripted choice queued)",
            });
        };
        self.requests.lock().push(messages.to_vec());
        if !choices.contains(&answer.as_str()) {
            return Err(ModelError::InvalidArgument(format!(
                "scripted choice {answer:?} is not among {choices:?}"
            )));
        }
        Ok(Classification {
            probs: choices
                .iter()
                .map(|c| if *c == answer { 1.0 } else { 0.0 })
                .collect(),
            mass: 1.0,
            prompt_tokens: 0,
            cached_prompt_tokens: 0,
            total_ms: 0.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::cosine;

    #[test]
    fn hash_embedder_is_deterministic_and_normalised() {
        let e = HashEmbedder::new(128);
        let a = e
            .embed_batch(&[
                "I like green tea",
                "I like green tea",
                "rust borrow checker",
                "",
            ])
            .unwrap();
        assert_eq!(a[0], a[1]);
        assert!((a[0].iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(cosine(&a[0], &a[1]) > 0.999);
        assert!(cosine(&a[0], &a[2]) < 0.5);
        assert_eq!(a[3].len(), 128);
    }
}
