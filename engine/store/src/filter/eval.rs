//! Evaluating a [`Filter`] against a memory.

use std::cmp::Ordering;

use serde_json::Value;

use super::ast::{Field, Filter, Op, Scalar};
use crate::record::Memory;
use crate::time::Timestamp;

/// A field's value in one memory.
enum FieldValue<'a> {
    Missing,
    Str(&'a str),
    Time(Timestamp),
    Json(&'a Value),
}

fn opt(s: Option<&str>) -> FieldValue<'_> {
    s.map_or(FieldValue::Missing, FieldValue::Str)
}

fn lookup<'a>(m: &'a Memory, field: &Field, id: &'a str) -> FieldValue<'a> {
    match field {
        Field::UserId => opt(m.scope.user_id.as_deref()),
        Field::AgentId => opt(m.scope.agent_id.as_deref()),
        Field::RunId => opt(m.scope.run_id.as_deref()),
        Field::ActorId => opt(m.actor_id.as_deref()),
        Field::Role => opt(m.role.as_deref()),
        Field::Id => FieldValue::Str(id),
        Field::Text => FieldValue::Str(&m.text),
        Field::Hash => FieldValue::Str(&m.hash),
        Field::MemoryType => opt(m.memory_type.as_deref()),
        Field::EmbeddingModel => FieldValue::Str(&m.embedding_model),
        Field::CreatedAt => FieldValue::Time(m.created_at),
        Field::UpdatedAt => FieldValue::Time(m.updated_at),
        Field::ExpirationDate => m
            .expiration_date
            .map_or(FieldValue::Missing, FieldValue::Time),
        Field::Metadata(k) => match m.metadata.get(k) {
            None | Some(Value::Null) => FieldValue::Missing,
            Some(v) => FieldValue::Json(v),
        },
    }
}

fn compare(v: &FieldValue<'_>, s: &Scalar) -> Option<Ordering> {
    match (v, s) {
        (FieldValue::Str(a), Scalar::Str(b)) => Some((*a).cmp(b.as_str())),
        (FieldValue::Time(a), Scalar::Time(b)) => Some(a.cmp(b)),
        (FieldValue::Json(Value::String(a)), Scalar::Str(b)) => Some(a.as_str().cmp(b.as_str())),
        (FieldValue::Json(Value::Number(a)), Scalar::Num(b)) => {
            a.as_f64().and_then(|a| a.partial_cmp(b))
        }
        (FieldValue::Json(Value::Bool(a)), Scalar::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

fn eq(v: &FieldValue<'_>, s: &Scalar) -> bool {
    compare(v, s) == Some(Ordering::Equal)
}

fn contains(v: &FieldValue<'_>, needle: &str, fold: bool) -> bool {
    let hit = |hay: &str| {
        if fold {
            hay.to_lowercase().contains(needle)
        } else {
            hay.contains(needle)
        }
    };
    let same = |el: &str| {
        if fold {
            el.to_lowercase() == needle
        } else {
            el == needle
        }
    };
    match v {
        FieldValue::Str(s) => hit(s),
        FieldValue::Json(Value::String(s)) => hit(s),
        FieldValue::Json(Value::Array(items)) => items.iter().any(|i| i.as_str().is_some_and(same)),
        _ => false,
    }
}

impl Filter {
    /// Does `m` match?
    pub fn matches(&self, m: &Memory) -> bool {
        let id = m.id.to_string();
        self.eval(m, &id)
    }

    fn eval(&self, m: &Memory, id: &str) -> bool {
        match self {
            Filter::All => true,
            Filter::And(c) => c.iter().all(|f| f.eval(m, id)),
            Filter::Or(c) => c.iter().any(|f| f.eval(m, id)),
            Filter::Not(f) => !f.eval(m, id),
            Filter::Cond(field, op) => {
                let v = lookup(m, field, id);
                match op {
                    Op::Exists => !matches!(v, FieldValue::Missing),
                    Op::Eq(s) => eq(&v, s),
                    Op::Ne(s) => !eq(&v, s),
                    Op::Gt(s) => compare(&v, s) == Some(Ordering::Greater),
                    Op::Gte(s) => {
                        matches!(compare(&v, s), Some(Ordering::Greater | Ordering::Equal))
                    }
                    Op::Lt(s) => compare(&v, s) == Some(Ordering::Less),
                    Op::Lte(s) => matches!(compare(&v, s), Some(Ordering::Less | Ordering::Equal)),
                    Op::In(list) => list.iter().any(|s| eq(&v, s)),
                    Op::Nin(list) => !list.iter().any(|s| eq(&v, s)),
                    Op::Contains(n) => contains(&v, n, false),
                    Op::IContains(n) => contains(&v, n, true),
                }
            }
        }
    }
}
