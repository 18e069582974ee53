//! The chat-model reranker (`search.rerank`): each hit is scored by the
//! chat model's next-token probability of "yes" to "does this memory help
//! answer the question?" — one prefill per hit through
//! [`ChatModel::classify`], no generation. The system prompt and the
//! question come first in every prompt, so after the first hit they are a
//! cached prefix and each further hit costs the prefill of its own text.

use std::sync::Arc;

use memlayer_models::{ChatMessage, ChatModel, ModelError};

use crate::error::{MemoryError, Result};
use crate::types::Reranker;

/// The instruction every reranking prompt starts with.
const SYSTEM: &str = "You judge search results for a personal memory assistant. \
Given a question and one stored memory, answer Yes if the memory contains \
information that helps answer the question, and No otherwise. Answer with one word.";

/// The answers scored: "yes" in either case counts for relevance.
const CHOICES: [&str; 4] = ["Yes", "No", "yes", "no"];

/// A [`Reranker`] over a chat model (see the module docs).
pub struct ChatReranker {
    chat: Arc<dyn ChatModel>,
}

impl ChatReranker {
    /// Reranks with `chat` (it must support [`ChatModel::classify`], as
    /// the llama.cpp backend does).
    pub fn new(chat: Arc<dyn ChatModel>) -> ChatReranker {
        ChatReranker { chat }
    }
}

/// The prompt for one hit: the shared instruction and question first.
fn messages(query: &str, document: &str) -> [ChatMessage; 2] {
    [
        ChatMessage::system(SYSTEM),
        ChatMessage::user(format!(
            "Question: {query}\nMemory: {document}\nDoes the memory help answer the question?"
        )),
    ]
}

/// The relevance score of one classification: P(yes) over the choices.
fn yes(probs: &[f32]) -> f32 {
    probs.first().copied().unwrap_or(0.0) + probs.get(2).copied().unwrap_or(0.0)
}

impl Reranker for ChatReranker {
    fn rerank(&self, query: &str, documents: &[&str]) -> Result<Vec<f32>> {
        documents
            .iter()
            .map(|d| {
                // A model that cannot score answers is a configuration
                // problem (name the key); any other failure is the model's.
                let c = self
                    .chat
                    .classify(&messages(query, d), &CHOICES)
                    .map_err(|e| match e {
                        ModelError::Unsupported { .. } => {
                            MemoryError::invalid("search.rerank", e.to_string())
                        }
                        e => MemoryError::Model(e),
                    })?;
                Ok(yes(&c.probs))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use memlayer_models::{Classification, Completion, GenerateOptions};

    /// Says "yes" with probability 0.9 when the memory mentions a word of
    /// the question after "Question: ", else 0.2; or cannot classify.
    struct Judge {
        can_classify: bool,
    }

    impl ChatModel for Judge {
        fn generate(
            &self,
            _: &[ChatMessage],
            _: &GenerateOptions,
        ) -> memlayer_models::Result<Completion> {
            Err(ModelError::InvalidArgument("not used".into()))
        }
        fn model_id(&self) -> &str {
            "judge"
        }
        fn classify(
            &self,
            messages: &[ChatMessage],
            choices: &[&str],
        ) -> memlayer_models::Result<Classification> {
            if !self.can_classify {
                return Err(ModelError::Unsupported {
                    model: "judge".into(),
                    what: "scoring fixed answers (classify)",
                });
            }
            assert_eq!(choices, CHOICES);
            let text = &messages[1].content;
            let (q, rest) = text.split_once("\nMemory: ").expect("prompt shape");
            let q = q.trim_start_matches("Question: ");
            let hit = q.split_whitespace().any(|w| rest.contains(w));
            let y = if hit { 0.9 } else { 0.2 };
            Ok(Classification {
                probs: vec![y * 0.75, (1.0 - y) * 0.75, y * 0.25, (1.0 - y) * 0.25],
                mass: 1.0,
                prompt_tokens: 0,
                cached_prompt_tokens: 0,
                total_ms: 0.0,
            })
        }
    }

    #[test]
    fn scores_are_the_probability_of_yes() {
        let r = ChatReranker::new(Arc::new(Judge { can_classify: true }));
        let s = r
            .rerank("sushi", &["likes sushi", "plays chess"])
            .expect("rerank");
        assert!(
            (s[0] - 0.9).abs() < 1e-6 && (s[1] - 0.2).abs() < 1e-6,
            "{s:?}"
        );
    }

    #[test]
    fn a_model_that_cannot_classify_is_a_typed_error() {
        let r = ChatReranker::new(Arc::new(Judge {
            can_classify: false,
        }));
        let err = r.rerank("q", &["d"]).expect_err("unsupported");
        assert!(err.to_string().contains("search.rerank"), "{err}");
    }

    #[test]
    fn the_question_is_the_shared_prefix() {
        let a = messages("where?", "one");
        let b = messages("where?", "two");
        assert_eq!(a[0].content, b[0].content);
        let (pa, pb) = (&a[1].content, &b[1].content);
        assert!(pa.starts_with("Question: where?\nMemory: ") && pa != pb);
    }
}
