//! Bulk add ([`Memory::add_many`]): many raw memories (like `add` with
//! `infer = false`), validated all before anything is written, embedded in
//! batches and committed in bounded write batches.

use memlayer_store::{Scope, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{MemoryError, Result};
use crate::memory::Memory;
use crate::messages::{Message, Messages};
use crate::options::wire_time;
use crate::types::AddOptions;
use crate::validate::AddCtx;

/// Memories per write batch of [`Memory::add_many`]: large enough that the
/// commit cost (one fsync) is spread thin, small enough that memory use and
/// the work lost to a crash stay bounded.
pub const BULK_COMMIT_SIZE: usize = 512;

/// One memory of [`Memory::add_many`], stored verbatim (no LLM), as one
/// line of `memlayer add --jsonl`.
///
/// ```
/// use memlayer::BulkMemory;
/// let m: BulkMemory = serde_json::from_str(
///     r#"{"text": "Caroline: I went to a support group", "user_id": "conv-26",
///         "timestamp": 1683554160, "metadata": {"dia_id": "D1:3"}}"#,
/// ).unwrap();
/// assert_eq!(m.scope.user_id.as_deref(), Some("conv-26"));
/// assert_eq!(m.timestamp.unwrap().to_string(), "2023-05-08T13:56:00.000000Z");
/// assert!(serde_json::from_str::<BulkMemory>(r#"{"text": "x", "user": "u"}"#).is_err());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "BulkMemoryWire")]
pub struct BulkMemory {
    /// The memory text.
    pub text: String,
    /// Whose memory (at least one of user/agent/run).
    #[serde(flatten)]
    pub scope: Scope,
    /// Metadata of the memory (a JSON object without identity keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    /// `user` (default) or `assistant`; `system` lines are skipped, as in
    /// `add` with `infer = false`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The speaker (stored as `actor_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<String>,
    /// When it was said: the memory's `created_at` (Unix seconds or RFC
    /// 3339 in JSON). Unset: now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    /// RFC 3339 expiry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_date: Option<String>,
}

impl BulkMemory {
    /// A memory with a text and a scope.
    pub fn new(text: impl Into<String>, scope: Scope) -> Self {
        BulkMemory {
            text: text.into(),
            scope,
            ..BulkMemory::default()
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkMemoryWire {
    text: String,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    run_id: Option<String>,
    #[serde(default)]
    metadata: Option<Map<String, Value>>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    actor_id: Option<String>,
    #[serde(default, deserialize_with = "wire_time::deserialize")]
    timestamp: Option<Timestamp>,
    #[serde(default)]
    expiration_date: Option<String>,
}

impl From<BulkMemoryWire> for BulkMemory {
    fn from(w: BulkMemoryWire) -> Self {
        BulkMemory {
            text: w.text,
            scope: Scope {
                user_id: w.user_id,
                agent_id: w.agent_id,
                run_id: w.run_id,
            },
            metadata: w.metadata,
            role: w.role,
            actor_id: w.actor_id,
            timestamp: w.timestamp,
            expiration_date: w.expiration_date,
        }
    }
}

/// What [`Memory::add_many`] stored.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BulkResult {
    /// Ids of the stored memories, in input order (system lines have none).
    pub ids: Vec<Uuid>,
    /// System lines left out.
    pub skipped: usize,
    /// Write batches committed.
    pub commits: usize,
}

/// One validated item: the stored message and its context.
struct Checked {
    message: Message,
    ctx: AddCtx,
}

/// Validates one item; errors name it by its position.
fn check(i: usize, m: &BulkMemory) -> Result<Option<Checked>> {
    let at = |e: MemoryError| match e {
        MemoryError::Validation { field, reason } => MemoryError::Validation {
            field: format!("item {i} ({field})"),
            reason,
        },
        other => other,
    };
    let mut msg = Message::new(m.role.as_deref().unwrap_or("user"), m.text.clone());
    msg.name = m.actor_id.clone();
    let message = Messages::One(msg)
        .normalize()
        .map_err(at)?
        .into_iter()
        .next()
        .ok_or_else(|| MemoryError::invalid(format!("item {i}"), "no message"))?;
    if message.role == "system" {
        return Ok(None);
    }
    let opts = AddOptions {
        scope: m.scope.clone(),
        metadata: m.metadata.clone(),
        infer: false,
        expiration_date: m.expiration_date.clone(),
        timestamp: m.timestamp,
        ..AddOptions::default()
    };
    let ctx = AddCtx::from_options(&opts).map_err(at)?;
    Ok(Some(Checked { message, ctx }))
}

impl Memory {
    /// Stores many memories verbatim (no LLM): every item is validated
    /// first (a bad one fails the call with its position and nothing is
    /// written), then they are embedded in batches and committed
    /// [`BULK_COMMIT_SIZE`] at a time. A storage or model failure after
    /// the first commit is a [`MemoryError::BulkInterrupted`] that says how
    /// many leading items are stored.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use memlayer::{BulkMemory, Memory, Scope};
    /// # use memlayer::models::HashEmbedder;
    /// # let dir = tempfile::tempdir().unwrap();
    /// let mem = Memory::builder(dir.path().join("m.redb"))
    ///     .embedder(Arc::new(HashEmbedder::new(64)))
    ///     .open()
    ///     .unwrap();
    /// let items: Vec<BulkMemory> = (0..1000)
    ///     .map(|i| BulkMemory::new(format!("note {i}"), Scope::user("alice")))
    ///     .collect();
    /// let r = mem.add_many(&items).unwrap();
    /// assert_eq!((r.ids.len(), r.commits), (1000, 2));
    /// ```
    pub fn add_many(&self, items: &[BulkMemory]) -> Result<BulkResult> {
        self.add_many_with_progress(items, |_| {})
    }

    /// [`Memory::add_many`], calling `progress` with the number of items
    /// done after every commit.
    pub fn add_many_with_progress(
        &self,
        items: &[BulkMemory],
        mut progress: impl FnMut(usize),
    ) -> Result<BulkResult> {
        let checked = items
            .iter()
            .enumerate()
            .map(|(i, m)| check(i, m))
            .collect::<Result<Vec<_>>>()?;
        let mut out = BulkResult::default();
        let mut done = 0usize;
        for chunk in checked.chunks(BULK_COMMIT_SIZE) {
            let stored = done;
            self.commit_chunk(chunk, &mut out)
                .map_err(|e| interrupted(e, stored, items.len()))?;
            done += chunk.len();
            progress(done);
        }
        Ok(out)
    }

    /// Embeds and commits one chunk.
    fn commit_chunk(&self, chunk: &[Option<Checked>], out: &mut BulkResult) -> Result<()> {
        let keep: Vec<(&Message, &AddCtx)> = chunk
            .iter()
            .flatten()
            .map(|c| (&c.message, &c.ctx))
            .collect();
        out.skipped += chunk.len() - keep.len();
        if keep.is_empty() {
            return Ok(());
        }
        out.ids.extend(self.store_verbatim(&keep)?);
        out.commits += 1;
        Ok(())
    }
}

/// A failure inside the write loop: validation errors cannot happen there,
/// so anything after the first commit reports what is already stored.
fn interrupted(e: MemoryError, stored: usize, total: usize) -> MemoryError {
    if stored == 0 {
        return e;
    }
    MemoryError::BulkInterrupted {
        stored,
        total,
        source: Box::new(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_names_the_item_and_skips_system_lines() {
        let ok = BulkMemory::new("likes tea", Scope::user("u"));
        assert!(check(0, &ok).unwrap().is_some());
        let mut sys = ok.clone();
        sys.role = Some("system".into());
        assert!(check(1, &sys).unwrap().is_none());
        for (bad, field) in [
            (BulkMemory::new("x", Scope::default()), "scope"),
            (BulkMemory::new("  ", Scope::user("u")), "content"),
            (
                BulkMemory {
                    role: Some("narrator".into()),
                    ..ok.clone()
                },
                "role",
            ),
            (
                BulkMemory {
                    expiration_date: Some("soon".into()),
                    ..ok.clone()
                },
                "expiration_date",
            ),
        ] {
            let e = check(7, &bad).map(|_| ()).unwrap_err();
            let s = e.to_string();
            assert!(s.contains("item 7"), "{s}");
            assert!(s.contains(field) || field == "scope", "{s}");
        }
    }

    #[test]
    fn interruption_after_a_commit_says_what_is_stored() {
        let e = interrupted(MemoryError::Conflict("x".into()), 0, 10);
        assert!(matches!(e, MemoryError::Conflict(_)));
        let e = interrupted(MemoryError::Conflict("x".into()), 512, 1000);
        assert!(e.to_string().contains("512 of 1000"), "{e}");
        assert_eq!(e.code(), crate::ErrorCode::Conflict);
    }
}
