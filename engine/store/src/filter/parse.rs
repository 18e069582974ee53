//! JSON → [`Filter`].

use serde_json::{Map, Value};

use super::ast::{Field, FieldType, Filter, Op, Scalar};
use crate::error::{Result, StoreError};
use crate::time::Timestamp;

/// Deepest accepted nesting of `AND`/`OR`/`NOT`.
pub const MAX_DEPTH: usize = 32;

const OPERATORS: &str = "eq, ne, gt, gte, lt, lte, in, nin, contains, icontains";

/// Parses a Mem0 filter. `null` and `{}` mean "match everything".
/// Arbitrary input yields an error, never a panic (fuzz target).
pub fn parse(v: &Value) -> Result<Filter> {
    match v {
        Value::Null => Ok(Filter::All),
        Value::Object(m) => parse_object(m, "$", 0),
        other => Err(StoreError::filter(
            "$",
            format!("a filter must be a JSON object, got {}", kind(other)),
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn logical(key: &str) -> Option<&'static str> {
    match key.trim_start_matches('$').to_ascii_uppercase().as_str() {
        "AND" => Some("AND"),
        "OR" => Some("OR"),
        "NOT" => Some("NOT"),
        _ => None,
    }
}

fn parse_object(m: &Map<String, Value>, path: &str, depth: usize) -> Result<Filter> {
    if depth > MAX_DEPTH {
        return Err(StoreError::filter(
            path,
            format!("nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    let mut parts = Vec::with_capacity(m.len());
    for (key, value) in m {
        let p = format!("{path}.{key}");
        let part = match logical(key) {
            Some("AND") => Filter::And(parse_list(value, &p, depth)?),
            Some("OR") => Filter::Or(parse_list(value, &p, depth)?),
            Some(_) => match value {
                Value::Object(inner) => Filter::Not(Box::new(parse_object(inner, &p, depth + 1)?)),
                // NOT [a, b] = none of a, b matches.
                _ => Filter::Not(Box::new(Filter::Or(parse_list(value, &p, depth)?))),
            },
            None => parse_field(key, value, &p)?,
        };
        parts.push(part);
    }
    Ok(match parts.len() {
        0 => Filter::All,
        1 => parts.pop().unwrap_or(Filter::All),
        _ => Filter::And(parts),
    })
}

fn parse_list(v: &Value, path: &str, depth: usize) -> Result<Vec<Filter>> {
    let Value::Array(items) = v else {
        return Err(StoreError::filter(
            path,
            format!("expected an array of filter objects, got {}", kind(v)),
        ));
    };
    if items.is_empty() {
        return Err(StoreError::filter(
            path,
            "expected at least one filter object",
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let p = format!("{path}[{i}]");
            match item {
                Value::Object(m) => parse_object(m, &p, depth + 1),
                other => Err(StoreError::filter(
                    &p,
                    format!("expected a filter object, got {}", kind(other)),
                )),
            }
        })
        .collect()
}

fn parse_field(key: &str, value: &Value, path: &str) -> Result<Filter> {
    if key.trim().is_empty() {
        return Err(StoreError::filter(path, "field name must not be empty"));
    }
    let field = Field::from_key(key);
    if let Field::Metadata(k) = &field
        && k.is_empty()
    {
        return Err(StoreError::filter(path, "metadata key must not be empty"));
    }
    match value {
        Value::String(s) if s == "*" => Ok(Filter::Cond(field, Op::Exists)),
        Value::Object(ops) => {
            if ops.is_empty() {
                return Err(StoreError::filter(
                    path,
                    format!("empty operator object; use one of {OPERATORS}"),
                ));
            }
            let mut conds = Vec::with_capacity(ops.len());
            for (op, arg) in ops {
                let p = format!("{path}.{op}");
                conds.push(Filter::Cond(field.clone(), parse_op(&field, op, arg, &p)?));
            }
            Ok(if conds.len() == 1 {
                conds.pop().unwrap_or(Filter::All)
            } else {
                Filter::And(conds)
            })
        }
        Value::Array(_) => Err(StoreError::filter(
            path,
            "a bare array is ambiguous; use {\"in\": [...]} to match any of several values",
        )),
        Value::Null => Err(StoreError::filter(
            path,
            "null is not a filter value; use \"*\" to test presence or NOT to test absence",
        )),
        scalar => Ok(Filter::Cond(
            field.clone(),
            Op::Eq(scalar_for(&field, scalar, path)?),
        )),
    }
}

fn parse_op(field: &Field, op: &str, arg: &Value, path: &str) -> Result<Op> {
    let name = op.trim_start_matches('$').to_ascii_lowercase();
    let one = |path: &str| scalar_for(field, arg, path);
    Ok(match name.as_str() {
        "eq" => Op::Eq(one(path)?),
        "ne" => Op::Ne(one(path)?),
        "gt" | "gte" | "lt" | "lte" => {
            let s = one(path)?;
            if matches!(s, Scalar::Bool(_)) {
                return Err(StoreError::filter(
                    path,
                    format!("`{name}` needs a number, string or timestamp, got a boolean"),
                ));
            }
            match name.as_str() {
                "gt" => Op::Gt(s),
                "gte" => Op::Gte(s),
                "lt" => Op::Lt(s),
                _ => Op::Lte(s),
            }
        }
        "in" | "nin" => {
            let Value::Array(items) = arg else {
                return Err(StoreError::filter(
                    path,
                    format!("`{name}` needs an array, got {}", kind(arg)),
                ));
            };
            let list = items
                .iter()
                .enumerate()
                .map(|(i, v)| scalar_for(field, v, &format!("{path}[{i}]")))
                .collect::<Result<Vec<_>>>()?;
            if name == "in" {
                Op::In(list)
            } else {
                Op::Nin(list)
            }
        }
        "contains" | "icontains" => {
            if field.field_type() == FieldType::Time {
                return Err(StoreError::filter(
                    path,
                    format!("`{name}` does not apply to timestamp fields; use gt/lt"),
                ));
            }
            let Value::String(s) = arg else {
                return Err(StoreError::filter(
                    path,
                    format!("`{name}` needs a string, got {}", kind(arg)),
                ));
            };
            if name == "contains" {
                Op::Contains(s.clone())
            } else {
                Op::IContains(s.to_lowercase())
            }
        }
        _ => {
            return Err(StoreError::filter(
                path,
                format!("unknown operator `{op}`; supported: {OPERATORS}, or \"*\" for presence"),
            ));
        }
    })
}

fn scalar_for(field: &Field, v: &Value, path: &str) -> Result<Scalar> {
    match (field.field_type(), v) {
        (FieldType::Time, Value::String(s)) => {
            Timestamp::parse_rfc3339(s).map(Scalar::Time).map_err(|_| {
                StoreError::filter(
                    path,
                    format!("`{s}` is not an RFC 3339 timestamp (e.g. 2024-05-01T12:00:00Z)"),
                )
            })
        }
        (FieldType::Time, other) => Err(StoreError::filter(
            path,
            format!(
                "timestamp field needs an RFC 3339 string, got {}",
                kind(other)
            ),
        )),
        (FieldType::Text, Value::String(s)) => Ok(Scalar::Str(s.clone())),
        (FieldType::Text, other) => Err(StoreError::filter(
            path,
            format!("text field needs a string, got {}", kind(other)),
        )),
        (FieldType::Json, Value::String(s)) => Ok(Scalar::Str(s.clone())),
        (FieldType::Json, Value::Bool(b)) => Ok(Scalar::Bool(*b)),
        (FieldType::Json, Value::Number(n)) => n
            .as_f64()
            .map(Scalar::Num)
            .ok_or_else(|| StoreError::filter(path, "number out of range")),
        (FieldType::Json, other) => Err(StoreError::filter(
            path,
            format!(
                "values must be strings, numbers or booleans, got {}",
                kind(other)
            ),
        )),
    }
}
