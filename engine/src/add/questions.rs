//! Stage 1b/1c/4 of `add(infer)`: the questions the chat model answers by
//! scoring fixed answers (one short prefix-cached prefill each, no
//! sampling): is a fact personal, whom is it about, and how does a fact
//! relate to a similar memory. Calibration priors are measured once per
//! chat model instance and question, and shared by every handle that uses
//! that instance.

use std::sync::{Arc, Weak};

use memlayer_models::ChatModel;
use parking_lot::Mutex;

use super::candidates::CandidateSet;
use super::{attribute, negation, supersede};
use crate::error::Result;
use crate::memory::Memory;
use crate::prompts;
use crate::types::AddStats;

impl Memory {
    /// Stage 4, scoring path: one classification per (contested fact,
    /// nearest memory) pair. `None` when the chat model cannot score
    /// answers (the caller then generates decisions instead).
    pub(super) fn classify_pairs(
        &self,
        contested: &[usize],
        facts: &[String],
        set: &CandidateSet,
        stats: &mut AddStats,
    ) -> Result<Option<Vec<supersede::Labelled>>> {
        let chat = self.chat_model()?;
        let per_fact = self.inner.config.reconcile.classify_candidates;
        let q = Question {
            name: "supersede",
            messages: prompts::supersede_messages,
            choices: &supersede::Relation::CHOICES,
        };
        // The calibration prior is measured on the first pair that needs a
        // scoring (none when the subject guard answers every pair).
        let mut prior: Option<Option<Vec<f32>>> = None;
        let mut out = Vec::new();
        for (f, ci) in supersede::pairs(contested, set, per_fact) {
            // Facts about different people never supersede each other
            // ("Brother Tom lives in Toronto" vs "Lives in Paris").
            if supersede::subject_of(&facts[f]) != supersede::subject_of(&set.known[ci].text) {
                out.push(((f, ci), supersede::Relation::Unrelated));
                continue;
            }
            // A negated fact about what the memory says ends it ("Is not a
            // doctor" / "Works as a doctor").
            if self.inner.config.reconcile.negation_guard
                && negation::ends(&facts[f], &set.known[ci].text)
            {
                out.push(((f, ci), supersede::Relation::Changed));
                continue;
            }
            if prior.is_none() {
                prior = Some(match self.calibration(&chat, &q) {
                    Ok(p) => p,
                    Err(memlayer_models::ModelError::Unsupported { .. }) => return Ok(None),
                    Err(e) => return Err(e.into()),
                });
            }
            let probs = match score(
                chat.as_ref(),
                &q,
                prior.as_ref().and_then(|p| p.as_deref()),
                (&set.known[ci].text, &facts[f]),
                stats,
            ) {
                Ok(p) => p,
                Err(memlayer_models::ModelError::Unsupported { .. }) if stats.scored_pairs == 0 => {
                    return Ok(None);
                }
                Err(e) => return Err(e.into()),
            };
            stats.scored_pairs += 1;
            let Some(r) = supersede::argmax(&probs).and_then(|b| supersede::Relation::ALL.get(b))
            else {
                continue;
            };
            tracing::debug!(
                memory = %set.known[ci].text,
                fact = %facts[f],
                relation = ?r,
                p = ?probs,
                "classified"
            );
            out.push(((f, ci), *r));
        }
        Ok(Some(out))
    }

    /// The question's calibration prior when `reconcile.calibrate` is on,
    /// measured once per chat model instance ([`SharedPriors`]).
    fn calibration(
        &self,
        chat: &Arc<dyn ChatModel>,
        q: &Question,
    ) -> memlayer_models::Result<Option<Vec<f32>>> {
        if !self.inner.config.reconcile.calibrate {
            return Ok(None);
        }
        if let Some(p) = SHARED_PRIORS.get(chat, q.name) {
            return Ok(Some(p));
        }
        let mean = prior(chat.as_ref(), q.messages, q.choices)?;
        tracing::debug!(prior = ?mean, choices = ?q.choices, "answer prior");
        SHARED_PRIORS.put(chat, q.name, &mean);
        Ok(Some(mean))
    }

    /// Asks `q` about every fact that `ask` selects, with `context` as the
    /// question's first input, and returns each fact's answer (index into
    /// `q.choices`) with its probabilities; `None` for facts not asked.
    /// `Ok(None)` when the chat model cannot score answers.
    fn answers(
        &self,
        q: &Question,
        context: &str,
        facts: &[String],
        ask: impl Fn(&str) -> bool,
        stats: &mut AddStats,
    ) -> Result<Option<Vec<Option<Answer>>>> {
        let chat = self.chat_model()?;
        let unsupported = |e: &memlayer_models::ModelError| {
            matches!(e, memlayer_models::ModelError::Unsupported { .. })
        };
        let calibration = match self.calibration(&chat, q) {
            Ok(p) => p,
            Err(e) if unsupported(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::with_capacity(facts.len());
        for f in facts {
            if !ask(f) {
                out.push(None);
                continue;
            }
            match score(
                chat.as_ref(),
                q,
                calibration.as_deref(),
                (context, f),
                stats,
            ) {
                Ok(p) => out.push(supersede::argmax(&p).map(|a| (a, p))),
                Err(e) if unsupported(&e) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Some(out))
    }

    /// Stage 1b: drops facts the chat model scores as general rather than
    /// personal (knowledge, answers, calculations, requests). Keeps every
    /// fact when the model cannot score answers.
    pub(super) fn keep_personal(
        &self,
        facts: Vec<String>,
        transcript: &str,
        stats: &mut AddStats,
    ) -> Result<Vec<String>> {
        let q = Question {
            name: "fact_check",
            messages: prompts::fact_check_messages,
            choices: &prompts::FACT_CHECK_CHOICES,
        };
        let Some(answers) = self.answers(&q, transcript, &facts, |_| true, stats)? else {
            return Ok(facts);
        };
        let mut kept = Vec::with_capacity(facts.len());
        for (f, a) in facts.into_iter().zip(answers) {
            match a {
                Some((a, p)) if a != 0 => {
                    tracing::info!(fact = %f, p = ?p, "dropped a fact that is not personal");
                    stats.not_personal += 1;
                }
                _ => kept.push(f),
            }
        }
        Ok(kept)
    }

    /// Stage 1c: when the user's messages name exactly one other person,
    /// facts without a subject that the chat model scores as about that
    /// person are rewritten to name them ([`attribute`]). Keeps every fact
    /// as it is when the model cannot score answers.
    pub(super) fn attribute_subjects(
        &self,
        facts: Vec<String>,
        transcript: &str,
        stats: &mut AddStats,
    ) -> Result<Vec<String>> {
        let user_text: Vec<&str> = transcript
            .lines()
            .filter_map(|l| l.strip_prefix("user: "))
            .collect();
        let user_text = user_text.join("\n");
        let people = attribute::mentions(&user_text);
        let [person] = people.as_slice() else {
            return Ok(facts);
        };
        if !facts.iter().any(|f| attribute::needs_check(f)) {
            return Ok(facts);
        }
        let q = Question {
            name: "attribution",
            messages: prompts::attribution_messages,
            choices: &prompts::ATTRIBUTION_CHOICES,
        };
        let context = format!("{user_text}\nOther person: {}", attribute::display(person));
        let Some(answers) = self.answers(&q, &context, &facts, attribute::needs_check, stats)?
        else {
            return Ok(facts);
        };
        let mut out: Vec<String> = Vec::with_capacity(facts.len());
        for (f, a) in facts.into_iter().zip(answers) {
            let f = match a {
                Some((1, p)) => {
                    let g = attribute::attribute(&f, person);
                    tracing::info!(fact = %f, now = %g, p = ?p, "fact is about another person");
                    stats.attributed += 1;
                    g
                }
                _ => f,
            };
            if !out.iter().any(|o| o.eq_ignore_ascii_case(&f)) {
                out.push(f);
            }
        }
        Ok(out)
    }
}

/// One scored answer: its index into the question's choices and the
/// (calibrated) probabilities of every choice.
type Answer = (usize, Vec<f32>);

/// Calibration priors of the process, by chat model instance and question.
///
/// A prior depends only on the model and the question's fixed prompt, so
/// handles that share a model (one `Arc`) share its priors instead of each
/// paying the question's three blank scorings on its first add. Entries
/// hold a `Weak`, which keeps the model's allocation (not the model) alive,
/// so a new model can never be mistaken for a dropped one at the same
/// address; entries of dropped models are purged on insert.
struct SharedPriors(Mutex<Vec<SharedPrior>>);

/// One entry of [`SharedPriors`]: model, question name, prior.
type SharedPrior = (Weak<dyn ChatModel>, &'static str, Vec<f32>);

static SHARED_PRIORS: SharedPriors = SharedPriors(Mutex::new(Vec::new()));

impl SharedPriors {
    /// Whether `entry` is `chat`'s prior for `question`.
    fn is(entry: &SharedPrior, chat: &Arc<dyn ChatModel>, question: &str) -> bool {
        entry.1 == question && std::ptr::addr_eq(entry.0.as_ptr(), Arc::as_ptr(chat))
    }

    fn get(&self, chat: &Arc<dyn ChatModel>, question: &str) -> Option<Vec<f32>> {
        let all = self.0.lock();
        all.iter()
            .find(|e| Self::is(e, chat, question))
            .map(|e| e.2.clone())
    }

    fn put(&self, chat: &Arc<dyn ChatModel>, question: &'static str, prior: &[f32]) {
        let mut all = self.0.lock();
        all.retain(|e| e.0.strong_count() > 0);
        if !all.iter().any(|e| Self::is(e, chat, question)) {
            all.push((Arc::downgrade(chat), question, prior.to_vec()));
        }
    }
}

/// A question the chat model answers by scoring fixed answers.
struct Question {
    /// Names the question among those of the module (key of
    /// [`SHARED_PRIORS`]).
    name: &'static str,
    /// Builds the prompt for two inputs (memory and fact, or message and fact).
    messages: fn(&str, &str) -> Vec<memlayer_models::ChatMessage>,
    /// The answers scored.
    choices: &'static [&'static str],
}

/// Scores one question on `inputs`, counts the call in `stats`, and
/// returns the answer probabilities, calibrated when `prior` is given.
fn score(
    chat: &dyn memlayer_models::ChatModel,
    q: &Question,
    prior: Option<&[f32]>,
    inputs: (&str, &str),
    stats: &mut AddStats,
) -> memlayer_models::Result<Vec<f32>> {
    let c = chat.classify(&(q.messages)(inputs.0, inputs.1), q.choices)?;
    stats.llm_calls += 1;
    stats.prompt_tokens += c.prompt_tokens;
    stats.cached_prompt_tokens += c.cached_prompt_tokens;
    stats.llm_prompt_ms += c.total_ms;
    Ok(match prior {
        Some(p) => supersede::calibrate(&c.probs, p),
        None => c.probs,
    })
}

/// A chat model's answer bias on one question: the mean probabilities of
/// `choices` over three content-free questions built by `messages`
/// (contextual calibration).
fn prior(
    chat: &dyn memlayer_models::ChatModel,
    messages: fn(&str, &str) -> Vec<memlayer_models::ChatMessage>,
    choices: &[&str],
) -> memlayer_models::Result<Vec<f32>> {
    let mut mean = vec![0f32; choices.len()];
    let blanks = [("N/A", "N/A"), ("", ""), ("[MASK]", "[MASK]")];
    for (a, b) in blanks {
        let c = chat.classify(&messages(a, b), choices)?;
        for (acc, p) in mean.iter_mut().zip(&c.probs) {
            *acc += p / blanks.len() as f32;
        }
    }
    Ok(mean)
}
