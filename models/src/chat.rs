//! The [`ChatModel`] trait and its request/response types.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the model.
    System,
    /// The human (or calling agent).
    User,
    /// The model.
    Assistant,
}

impl Role {
    /// The role name chat templates use (`system`, `user`, `assistant`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: Role,
    /// The text.
    pub content: String,
}

impl ChatMessage {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        ChatMessage {
            role: Role::System,
            content: content.into(),
        }
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        ChatMessage {
            role: Role::User,
            content: content.into(),
        }
    }
    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        ChatMessage {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// How to generate.
///
/// ```
/// use memlayer_models::GenerateOptions;
/// let o = GenerateOptions::default().max_tokens(64).json_schema(serde_json::json!({"type": "object"}));
/// assert_eq!(o.temperature, 0.0); // greedy, deterministic
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateOptions {
    /// Maximum tokens to generate.
    pub max_tokens: usize,
    /// Sampling temperature; `0.0` is greedy decoding (deterministic).
    pub temperature: f32,
    /// Nucleus sampling mass (only when temperature > 0).
    pub top_p: f32,
    /// Top-k cut-off (only when temperature > 0; 0 = off).
    pub top_k: i32,
    /// Random seed for sampling (only when temperature > 0).
    pub seed: u32,
    /// Generation stops before the first occurrence of any of these strings.
    pub stop: Vec<String>,
    /// When set, output is constrained to JSON valid under this JSON Schema
    /// (grammar-constrained sampling), and generation ends as soon as the
    /// JSON value is complete.
    pub json_schema: Option<serde_json::Value>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_tokens: 512,
            temperature: 0.0,
            top_p: 0.95,
            top_k: 40,
            seed: 42,
            stop: Vec::new(),
            json_schema: None,
        }
    }
}

impl GenerateOptions {
    /// Sets [`max_tokens`](Self::max_tokens).
    pub fn max_tokens(mut self, n: usize) -> Self {
        self.max_tokens = n;
        self
    }
    /// Sets [`temperature`](Self::temperature).
    pub fn temperature(mut self, t: f32) -> Self {
        self.temperature = t;
        self
    }
    /// Sets [`seed`](Self::seed).
    pub fn seed(mut self, s: u32) -> Self {
        self.seed = s;
        self
    }
    /// Adds a stop string.
    pub fn stop(mut self, s: impl Into<String>) -> Self {
        self.stop.push(s.into());
        self
    }
    /// Constrains output to this JSON Schema.
    pub fn json_schema(mut self, schema: serde_json::Value) -> Self {
        self.json_schema = Some(schema);
        self
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model emitted an end-of-generation token, or the JSON value of a
    /// schema-constrained answer is complete.
    Stop,
    /// A stop string was produced (it is not part of the text).
    StopSequence,
    /// `max_tokens` was reached.
    Length,
}

/// Wall-clock timings of one generation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Time to evaluate the (uncached part of the) prompt.
    pub prompt_ms: f64,
    /// Time to generate the completion tokens.
    pub generation_ms: f64,
    /// Whole call, including templating and tokenisation.
    pub total_ms: f64,
}

/// The result of [`ChatModel::generate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// Generated text.
    pub text: String,
    /// Tokens in the templated prompt.
    pub prompt_tokens: usize,
    /// Prompt tokens whose KV state was reused from an earlier call (not
    /// evaluated again).
    pub cached_prompt_tokens: usize,
    /// Tokens generated.
    pub completion_tokens: usize,
    /// Why generation ended.
    pub finish_reason: FinishReason,
    /// Timings.
    pub timings: Timings,
}

impl Completion {
    /// Prompt tokens evaluated per second (uncached tokens only).
    pub fn prompt_tokens_per_s(&self) -> f64 {
        let n = (self.prompt_tokens - self.cached_prompt_tokens.min(self.prompt_tokens)) as f64;
        if self.timings.prompt_ms > 0.0 {
            n * 1000.0 / self.timings.prompt_ms
        } else {
            0.0
        }
    }

    /// Completion tokens per second.
    pub fn generation_tokens_per_s(&self) -> f64 {
        if self.timings.generation_ms > 0.0 {
            self.completion_tokens as f64 * 1000.0 / self.timings.generation_ms
        } else {
            0.0
        }
    }
}

/// The result of [`ChatModel::classify`]: how likely the model is to open
/// its reply with each of the given choices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    /// Per choice, in the order given: its probability renormalised over
    /// the choices (they sum to 1).
    pub probs: Vec<f32>,
    /// The probability mass the model put on the choices' first tokens
    /// before renormalising (low: the model wanted to say something else).
    pub mass: f32,
    /// Tokens in the templated prompt.
    pub prompt_tokens: usize,
    /// Prompt tokens whose KV state was reused from an earlier call.
    pub cached_prompt_tokens: usize,
    /// Wall-clock time of the call in milliseconds.
    pub total_ms: f64,
}

impl Classification {
    /// Index of the most likely choice (the first on a tie; `None` when
    /// there are no choices).
    pub fn best(&self) -> Option<usize> {
        self.probs
            .iter()
            .enumerate()
            .fold(None, |acc: Option<(usize, f32)>, (i, &p)| match acc {
                Some((_, b)) if b >= p => acc,
                _ => Some((i, p)),
            })
            .map(|(i, _)| i)
    }
}

/// A chat (instruction-following) language model.
///
/// `Send + Sync`: one loaded model serves every thread; implementations
/// serialise or pool access internally.
pub trait ChatModel: Send + Sync {
    /// Generates the assistant's reply to `messages`.
    fn generate(&self, messages: &[ChatMessage], options: &GenerateOptions) -> Result<Completion>;

    /// A stable identifier of the model (for logs and reports).
    fn model_id(&self) -> &str;

    /// Scores fixed answers instead of generating: one prefill of
    /// `messages` (ending with the assistant's turn opener), then the
    /// next-token probability of each choice's first token. No sampling,
    /// so the answer is always one of the choices. Choices must start with
    /// different tokens (e.g. `"A"`, `"B"`, `"C"`).
    ///
    /// The default implementation returns [`ModelError::Unsupported`]:
    /// callers fall back to [`generate`](Self::generate).
    fn classify(&self, messages: &[ChatMessage], choices: &[&str]) -> Result<Classification> {
        let _ = (messages, choices);
        Err(ModelError::Unsupported {
            model: self.model_id().to_string(),
            what: "scoring fixed answers (classify)",
        })
    }
}

impl<T: ChatModel + ?Sized> ChatModel for Arc<T> {
    fn generate(&self, messages: &[ChatMessage], options: &GenerateOptions) -> Result<Completion> {
        (**self).generate(messages, options)
    }
    fn model_id(&self) -> &str {
        (**self).model_id()
    }
    fn classify(&self, messages: &[ChatMessage], choices: &[&str]) -> Result<Classification> {
        (**self).classify(messages, choices)
    }
}

impl<T: ChatModel + ?Sized> ChatModel for Box<T> {
    fn generate(&self, messages: &[ChatMessage], options: &GenerateOptions) -> Result<Completion> {
        (**self).generate(messages, options)
    }
    fn model_id(&self) -> &str {
        (**self).model_id()
    }
    fn classify(&self, messages: &[ChatMessage], choices: &[&str]) -> Result<Classification> {
        (**self).classify(messages, choices)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_picks_the_first_maximum() {
        let c = |probs: Vec<f32>| Classification {
            probs,
            mass: 1.0,
            prompt_tokens: 0,
            cached_prompt_tokens: 0,
            total_ms: 0.0,
        };
        assert_eq!(c(vec![0.2, 0.5, 0.3]).best(), Some(1));
        assert_eq!(c(vec![0.5, 0.5]).best(), Some(0));
        assert_eq!(c(vec![]).best(), None);
    }
}
