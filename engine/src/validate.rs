//! Input checks at the API boundary: everything a caller passes is checked
//! here before any model runs or anything is written, and bad input becomes
//! a [`MemoryError::Validation`] naming the field.

use memlayer_store::{Filter, Memory as Record, Scope, ScopeKind, Timestamp, filter};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{MemoryError, Result};
use crate::messages::MAX_MESSAGE_BYTES;
use crate::options::AddOptions;
use crate::search::MAX_LIMIT;

/// A memory id given as text.
pub(crate) fn parse_id(id: &str) -> Result<Uuid> {
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

/// A search query: trimmed, non-empty, bounded, without NUL.
pub(crate) fn check_query(q: &str) -> Result<&str> {
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

/// A caller-written text (memory text, entity name): trimmed, non-empty,
/// bounded, without NUL.
pub(crate) fn check_text(t: &str, field: &str) -> Result<String> {
    let t = t.trim();
    if t.is_empty() || t.contains('\0') || t.len() > MAX_MESSAGE_BYTES {
        return Err(MemoryError::invalid(
            field,
            format!("must be non-empty, at most {MAX_MESSAGE_BYTES} bytes, without NUL characters"),
        ));
    }
    Ok(t.to_string())
}

/// A scope with at least one valid id.
pub(crate) fn validated_scope(scope: &Scope) -> Result<Scope> {
    Ok(scope.validated()?)
}

/// A page or result size in `1..=MAX_LIMIT`.
pub(crate) fn check_limit(limit: usize) -> Result<usize> {
    if limit == 0 || limit > MAX_LIMIT {
        return Err(MemoryError::invalid(
            "limit",
            format!("must be in 1..={MAX_LIMIT}"),
        ));
    }
    Ok(limit)
}

/// A search threshold in `0..=1`.
pub(crate) fn check_threshold(t: Option<f32>) -> Result<Option<f32>> {
    match t {
        Some(t) if !(0.0..=1.0).contains(&t) => {
            Err(MemoryError::invalid("threshold", "must be in 0..=1"))
        }
        t => Ok(t),
    }
}

/// Mem0 filters, parsed; `null` means none.
pub(crate) fn parse_filters(f: Option<&Value>) -> Result<Option<Filter>> {
    match f {
        None | Some(Value::Null) => Ok(None),
        Some(v) => Ok(Some(filter::parse(v)?)),
    }
}

/// Narrows `scope` by the scope equalities of a filter; `None` when they
/// contradict it (nothing can match).
pub(crate) fn narrow_scope(scope: &Scope, f: Option<&Filter>) -> Option<Scope> {
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

/// Whether a memory is past its expiration date.
pub(crate) fn is_expired(m: &Record, now: Timestamp) -> bool {
    m.expiration_date.is_some_and(|e| e <= now)
}

/// What every memory written by one `add` shares, checked.
#[derive(Debug, Clone)]
pub(crate) struct AddCtx {
    pub(crate) scope: Scope,
    pub(crate) metadata: Map<String, Value>,
    pub(crate) expiration: Option<Timestamp>,
    /// The caller-given `created_at` of new memories (`None`: commit time).
    pub(crate) created_at: Option<Timestamp>,
}

impl AddCtx {
    /// Checks an `add`'s scope, metadata (no identity keys) and expiry.
    pub(crate) fn from_options(opts: &AddOptions) -> Result<AddCtx> {
        let scope = validated_scope(&opts.scope)?;
        let metadata = opts.metadata.clone().unwrap_or_default();
        memlayer_store::validate_metadata(&metadata)?;
        let expiration = opts
            .expiration_date
            .as_deref()
            .map(|t| {
                Timestamp::parse_rfc3339(t)
                    .map_err(|e| MemoryError::invalid("expiration_date", e.to_string()))
            })
            .transpose()?;
        Ok(AddCtx {
            scope,
            metadata,
            expiration,
            created_at: opts.timestamp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn ids_queries_and_texts() {
        assert!(parse_id(" 01a20151-d108-743b-9320-52259c0f4e07 ").is_ok());
        let e = parse_id("nope").unwrap_err();
        assert_eq!(e.code(), ErrorCode::Validation);
        assert!(e.to_string().contains("memory_id"));
        assert_eq!(check_query("  tea ").unwrap(), "tea");
        for bad in ["", "   ", "a\0b"] {
            assert!(check_query(bad).is_err(), "{bad:?}");
            assert!(check_text(bad, "text").is_err(), "{bad:?}");
        }
        assert!(check_query(&"x".repeat(MAX_MESSAGE_BYTES + 1)).is_err());
    }

    #[test]
    fn limits() {
        assert!(check_limit(0).is_err());
        assert_eq!(check_limit(1).unwrap(), 1);
        assert_eq!(check_limit(MAX_LIMIT).unwrap(), MAX_LIMIT);
        assert!(check_limit(MAX_LIMIT + 1).is_err());
        assert_eq!(check_threshold(None).unwrap(), None);
        assert_eq!(check_threshold(Some(0.5)).unwrap(), Some(0.5));
        assert!(check_threshold(Some(1.5)).is_err());
        assert!(check_threshold(Some(f32::NAN)).is_err());
    }

    #[test]
    fn filters_narrow_the_scope() {
        let f = parse_filters(Some(&serde_json::json!({"user_id": "bob"}))).unwrap();
        let s = narrow_scope(&Scope::agent("a"), f.as_ref()).unwrap();
        assert_eq!(s.user_id.as_deref(), Some("bob"));
        assert_eq!(s.agent_id.as_deref(), Some("a"));
        // A filter that contradicts the scope matches nothing.
        assert!(narrow_scope(&Scope::user("alice"), f.as_ref()).is_none());
        assert!(parse_filters(Some(&Value::Null)).unwrap().is_none());
        assert!(parse_filters(Some(&serde_json::json!("x"))).is_err());
    }

    #[test]
    fn add_context_checks_scope_metadata_and_expiry() {
        assert!(AddCtx::from_options(&AddOptions::default()).is_err());
        let ok =
            AddCtx::from_options(&AddOptions::user("u").expiration_date("2030-01-01T00:00:00Z"))
                .unwrap();
        assert!(ok.expiration.is_some());
        let e =
            AddCtx::from_options(&AddOptions::user("u").expiration_date("tomorrow")).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Validation);
        assert!(e.to_string().starts_with("invalid expiration_date:"), "{e}");
        let mut m = Map::new();
        m.insert("user_id".into(), "x".into());
        assert!(AddCtx::from_options(&AddOptions::user("u").metadata(m)).is_err());
    }
}
