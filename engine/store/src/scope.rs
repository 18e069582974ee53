//! Scopes (`user_id`, `agent_id`, `run_id`), id validation and the
//! identity-key guard on user metadata.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Result, StoreError};

/// Metadata keys that carry identity and may never be set through metadata
/// (Mem0 bug #6655: metadata overwrote the owner of a memory).
pub const IDENTITY_KEYS: [&str; 5] = ["user_id", "agent_id", "run_id", "actor_id", "role"];

/// Longest accepted id, in bytes.
pub const MAX_ID_LEN: usize = 256;

/// Who a memory belongs to. At least one field must be set for every add,
/// search and list.
///
/// ```
/// use memlayer_store::Scope;
/// let s = Scope::user("alice").with_agent("planner");
/// assert!(s.validated().is_ok());
/// assert!(Scope::default().validated().is_err());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Scope {
    /// The end user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// The run / session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

/// The three scope dimensions, in their canonical order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScopeKind {
    /// `user_id`
    User,
    /// `agent_id`
    Agent,
    /// `run_id`
    Run,
}

impl ScopeKind {
    /// All kinds, canonical order.
    pub const ALL: [ScopeKind; 3] = [ScopeKind::User, ScopeKind::Agent, ScopeKind::Run];

    /// Field name (`user_id`, ...).
    pub fn field(self) -> &'static str {
        match self {
            ScopeKind::User => "user_id",
            ScopeKind::Agent => "agent_id",
            ScopeKind::Run => "run_id",
        }
    }

    /// One-byte tag used in on-disk keys (`u`, `a`, `r`).
    pub fn tag(self) -> u8 {
        match self {
            ScopeKind::User => b'u',
            ScopeKind::Agent => b'a',
            ScopeKind::Run => b'r',
        }
    }
}

impl Scope {
    /// Scope with only `user_id`.
    pub fn user(id: impl Into<String>) -> Self {
        Scope {
            user_id: Some(id.into()),
            ..Scope::default()
        }
    }

    /// Scope with only `agent_id`.
    pub fn agent(id: impl Into<String>) -> Self {
        Scope {
            agent_id: Some(id.into()),
            ..Scope::default()
        }
    }

    /// Scope with only `run_id`.
    pub fn run(id: impl Into<String>) -> Self {
        Scope {
            run_id: Some(id.into()),
            ..Scope::default()
        }
    }

    /// Adds/replaces `agent_id`.
    pub fn with_agent(mut self, id: impl Into<String>) -> Self {
        self.agent_id = Some(id.into());
        self
    }

    /// Adds/replaces `run_id`.
    pub fn with_run(mut self, id: impl Into<String>) -> Self {
        self.run_id = Some(id.into());
        self
    }

    /// Adds/replaces `user_id`.
    pub fn with_user(mut self, id: impl Into<String>) -> Self {
        self.user_id = Some(id.into());
        self
    }

    /// The value of one dimension.
    pub fn get(&self, kind: ScopeKind) -> Option<&str> {
        match kind {
            ScopeKind::User => self.user_id.as_deref(),
            ScopeKind::Agent => self.agent_id.as_deref(),
            ScopeKind::Run => self.run_id.as_deref(),
        }
    }

    pub(crate) fn set(&mut self, kind: ScopeKind, v: Option<String>) {
        match kind {
            ScopeKind::User => self.user_id = v,
            ScopeKind::Agent => self.agent_id = v,
            ScopeKind::Run => self.run_id = v,
        }
    }

    /// Set dimensions, canonical order.
    pub fn entries(&self) -> impl Iterator<Item = (ScopeKind, &str)> {
        ScopeKind::ALL
            .into_iter()
            .filter_map(|k| self.get(k).map(|v| (k, v)))
    }

    /// True when no dimension is set.
    pub fn is_empty(&self) -> bool {
        self.user_id.is_none() && self.agent_id.is_none() && self.run_id.is_none()
    }

    /// Trims every id, checks it is non-empty, whitespace-free and at most
    /// [`MAX_ID_LEN`] bytes, and that at least one dimension is set.
    pub fn validated(&self) -> Result<Scope> {
        let mut out = Scope::default();
        for kind in ScopeKind::ALL {
            if let Some(v) = self.get(kind) {
                out.set(kind, Some(validate_id(kind.field(), v)?));
            }
        }
        if out.is_empty() {
            return Err(StoreError::MissingScope);
        }
        Ok(out)
    }

    /// True if every dimension set in `self` equals the one in `other`.
    pub fn matches(&self, other: &Scope) -> bool {
        self.entries().all(|(k, v)| other.get(k) == Some(v))
    }
}

/// Validates one id: trimmed, non-empty, no whitespace or control
/// characters, at most [`MAX_ID_LEN`] bytes. Returns the trimmed id.
pub fn validate_id(field: &'static str, raw: &str) -> Result<String> {
    let v = raw.trim();
    let err = |reason: &str| StoreError::InvalidScope {
        field,
        reason: reason.to_string(),
    };
    if v.is_empty() {
        return Err(err("must not be empty or only whitespace"));
    }
    if v.len() > MAX_ID_LEN {
        return Err(err(&format!(
            "is {} bytes, at most {MAX_ID_LEN} allowed",
            v.len()
        )));
    }
    if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(err("must not contain whitespace or control characters"));
    }
    Ok(v.to_string())
}

/// Validates an optional id (e.g. `actor_id`).
pub fn validate_opt_id(field: &'static str, raw: Option<&str>) -> Result<Option<String>> {
    raw.map(|v| validate_id(field, v)).transpose()
}

/// Rejects identity keys in user metadata.
pub fn validate_metadata(meta: &Map<String, Value>) -> Result<()> {
    for key in meta.keys() {
        if IDENTITY_KEYS.contains(&key.as_str()) {
            return Err(StoreError::IdentityKeyInMetadata { key: key.clone() });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_rules() {
        assert_eq!(
            Scope::user("  bob ")
                .validated()
                .unwrap()
                .user_id
                .as_deref(),
            Some("bob")
        );
        assert!(matches!(
            Scope::user("   ").validated(),
            Err(StoreError::InvalidScope { .. })
        ));
        assert!(matches!(
            Scope::user("a b").validated(),
            Err(StoreError::InvalidScope { .. })
        ));
        assert!(matches!(
            Scope::default().validated(),
            Err(StoreError::MissingScope)
        ));
        let mut m = Map::new();
        m.insert("user_id".into(), Value::from("mallory"));
        assert!(matches!(
            validate_metadata(&m),
            Err(StoreError::IdentityKeyInMetadata { .. })
        ));
    }
}
