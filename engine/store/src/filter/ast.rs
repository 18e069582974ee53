//! The typed filter AST.

use crate::scope::ScopeKind;
use crate::time::Timestamp;

/// A parsed filter.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// Matches everything (an empty filter).
    All,
    /// All children match.
    And(Vec<Filter>),
    /// At least one child matches.
    Or(Vec<Filter>),
    /// The child does not match.
    Not(Box<Filter>),
    /// A condition on one field.
    Cond(Field, Op),
}

/// A filterable field.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// `user_id`
    UserId,
    /// `agent_id`
    AgentId,
    /// `run_id`
    RunId,
    /// `actor_id`
    ActorId,
    /// `role`
    Role,
    /// `id`
    Id,
    /// `text` (also accepted as `data` / `memory`)
    Text,
    /// `hash`
    Hash,
    /// `memory_type`
    MemoryType,
    /// `embedding_model`
    EmbeddingModel,
    /// `created_at`
    CreatedAt,
    /// `updated_at`
    UpdatedAt,
    /// `expiration_date`
    ExpirationDate,
    /// Any other key: a user-metadata key (`metadata.` prefix optional).
    Metadata(String),
}

/// What values a field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// A string (ids, text, ...).
    Text,
    /// An RFC 3339 timestamp.
    Time,
    /// Arbitrary JSON from metadata.
    Json,
}

impl Field {
    /// Resolves a filter key. Record fields win over metadata keys of the
    /// same name; `metadata.<key>` always addresses metadata.
    pub fn from_key(key: &str) -> Field {
        match key {
            "user_id" => Field::UserId,
            "agent_id" => Field::AgentId,
            "run_id" => Field::RunId,
            "actor_id" => Field::ActorId,
            "role" => Field::Role,
            "id" => Field::Id,
            "text" | "data" | "memory" => Field::Text,
            "hash" => Field::Hash,
            "memory_type" => Field::MemoryType,
            "embedding_model" => Field::EmbeddingModel,
            "created_at" => Field::CreatedAt,
            "updated_at" => Field::UpdatedAt,
            "expiration_date" => Field::ExpirationDate,
            other => Field::Metadata(other.strip_prefix("metadata.").unwrap_or(other).to_string()),
        }
    }

    /// The field's value type.
    pub fn field_type(&self) -> FieldType {
        match self {
            Field::CreatedAt | Field::UpdatedAt | Field::ExpirationDate => FieldType::Time,
            Field::Metadata(_) => FieldType::Json,
            _ => FieldType::Text,
        }
    }

    /// The scope dimension this field is, if any.
    pub fn scope_kind(&self) -> Option<ScopeKind> {
        match self {
            Field::UserId => Some(ScopeKind::User),
            Field::AgentId => Some(ScopeKind::Agent),
            Field::RunId => Some(ScopeKind::Run),
            _ => None,
        }
    }
}

/// A comparison value.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    /// JSON boolean.
    Bool(bool),
    /// JSON number (compared as f64).
    Num(f64),
    /// JSON string.
    Str(String),
    /// A timestamp (for time fields).
    Time(Timestamp),
}

/// An operator with its argument(s).
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// `"*"`: the field is present and not null.
    Exists,
    /// `eq` (also the bare `{"k": v}` form).
    Eq(Scalar),
    /// `ne`: not equal (missing fields match).
    Ne(Scalar),
    /// `gt`
    Gt(Scalar),
    /// `gte`
    Gte(Scalar),
    /// `lt`
    Lt(Scalar),
    /// `lte`
    Lte(Scalar),
    /// `in`: equals one of.
    In(Vec<Scalar>),
    /// `nin`: equals none of (missing fields match).
    Nin(Vec<Scalar>),
    /// `contains`: substring of a string, or exact element of an array.
    Contains(String),
    /// `icontains`: case-insensitive `contains`.
    IContains(String),
}

impl Filter {
    /// Scope equalities that every match must satisfy (`{"user_id": "x"}`
    /// at top level or inside a top-level `AND`): the part pushed down to
    /// the scope indexes.
    pub fn scope_equalities(&self) -> Vec<(ScopeKind, String)> {
        let mut out = Vec::new();
        self.collect_scope_eq(&mut out);
        out
    }

    fn collect_scope_eq(&self, out: &mut Vec<(ScopeKind, String)>) {
        match self {
            Filter::And(children) => children.iter().for_each(|c| c.collect_scope_eq(out)),
            Filter::Cond(field, Op::Eq(Scalar::Str(v))) => {
                if let Some(k) = field.scope_kind() {
                    out.push((k, v.clone()));
                }
            }
            _ => {}
        }
    }
}
