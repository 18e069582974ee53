//! Request bodies and query strings → the engine's options, each a pure
//! function with the error a client sees. Bodies follow Mem0's REST server:
//! `POST /memories` `{messages, user_id?, agent_id?, run_id?, metadata?,
//! infer?, ...}`, `POST /search` `{query, user_id?, ..., filters?, limit?,
//! threshold?}`, `PUT /memories/{id}` `{text | data, metadata?}`.

use std::collections::HashMap;

use memlayer::{AddOptions, GetAllOptions, Messages, Scope, SearchOptions, UpdateOptions};
use serde_json::{Map, Value};

use crate::reply::ApiError;

fn object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::bad_request(
            "bad_json",
            "the body must be a JSON object",
        )),
        Err(e) => Err(ApiError::bad_request(
            "bad_json",
            format!("the body is not valid JSON: {e}"),
        )),
    }
}

fn options<T: serde::de::DeserializeOwned>(rest: Map<String, Value>) -> Result<T, ApiError> {
    serde_json::from_value(Value::Object(rest)).map_err(|e| {
        let m = e.to_string();
        let code = if m.starts_with("unknown field") {
            "unknown_field"
        } else {
            "validation"
        };
        ApiError::bad_request(code, m)
    })
}

/// `POST /memories`.
pub fn add(body: &[u8]) -> Result<(Messages, AddOptions), ApiError> {
    let mut m = object(body)?;
    let messages = m.remove("messages").ok_or_else(|| {
        ApiError::bad_request(
            "validation",
            "`messages` is required: a string, a {role, content} object or a list of them",
        )
    })?;
    let messages = Messages::from_json(&messages)?;
    Ok((messages, options(m)?))
}

/// `POST /search`.
pub fn search(body: &[u8]) -> Result<(String, SearchOptions), ApiError> {
    let mut m = object(body)?;
    let query = match m.remove("query") {
        Some(Value::String(q)) => q,
        Some(_) => {
            return Err(ApiError::bad_request(
                "validation",
                "`query` must be a string",
            ));
        }
        None => return Err(ApiError::bad_request("validation", "`query` is required")),
    };
    let o: SearchOptions = options(m)?;
    scope_conflict(&o.scope, o.filters.as_ref())?;
    Ok((query, o))
}

/// Scope equalities in `filters` (top level or inside `AND`, as the
/// store's filter parser reads them) that name
/// another id than the request's scope: a request scoped to one user may
/// not read another's memories through its filters. The engine would
/// return nothing; the server says why.
pub fn scope_conflict(scope: &Scope, filters: Option<&Value>) -> Result<(), ApiError> {
    // An unparsable filter is left to the engine, which names the fault.
    let Some(Ok(f)) = filters.map(memlayer::store::filter::parse) else {
        return Ok(());
    };
    for (kind, asked) in f.scope_equalities() {
        if let Some(given) = scope.get(kind)
            && given.trim() != asked.trim()
        {
            let k = kind.field();
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "scope_conflict",
                format!(
                    "the filters ask for {k} `{asked}` but the request is scoped to {k} `{given}`"
                ),
                "put the ids in the request's scope, not in filters that contradict it",
            ));
        }
    }
    Ok(())
}

/// `PUT /memories/{id}`: `text` (or Mem0's `data`) and/or `metadata`.
pub fn update(body: &[u8]) -> Result<UpdateOptions, ApiError> {
    let mut m = object(body)?;
    if let Some(d) = m.remove("data") {
        if m.contains_key("text") {
            return Err(ApiError::bad_request(
                "validation",
                "give `text` or `data` (Mem0's name), not both",
            ));
        }
        m.insert("text".into(), d);
    }
    let o: UpdateOptions = options(m)?;
    if o.text.is_none() && o.metadata.is_none() {
        return Err(ApiError::bad_request(
            "validation",
            "nothing to update: give `text` and/or `metadata`",
        ));
    }
    Ok(o)
}

fn scope_of(q: &mut HashMap<String, String>) -> Scope {
    Scope {
        user_id: q.remove("user_id"),
        agent_id: q.remove("agent_id"),
        run_id: q.remove("run_id"),
    }
}

fn reject_rest(q: &HashMap<String, String>, takes: &str) -> Result<(), ApiError> {
    match q.keys().next() {
        Some(k) => Err(ApiError::bad_request(
            "unknown_field",
            format!("unknown query parameter `{k}`; this route takes {takes}"),
        )),
        None => Ok(()),
    }
}

fn flag(q: &mut HashMap<String, String>, k: &str) -> Result<bool, ApiError> {
    match q.remove(k).as_deref() {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") | Some("") => Ok(true),
        Some(v) => Err(ApiError::bad_request(
            "validation",
            format!("`{k}` must be true or false, not `{v}`"),
        )),
    }
}

/// `GET /memories?user_id=&agent_id=&run_id=&limit=&cursor=&filters=&include_superseded=`.
pub fn list(mut q: HashMap<String, String>) -> Result<GetAllOptions, ApiError> {
    let mut o = GetAllOptions::scoped(scope_of(&mut q));
    if let Some(l) = q.remove("limit") {
        o.limit = Some(l.parse().map_err(|_| {
            ApiError::bad_request("validation", format!("`limit` must be a number, not `{l}`"))
        })?);
    }
    o.cursor = q.remove("cursor");
    if let Some(f) = q.remove("filters") {
        o.filters = Some(serde_json::from_str(&f).map_err(|e| {
            ApiError::bad_request("bad_json", format!("`filters` is not valid JSON: {e}"))
        })?);
    }
    o.include_superseded = flag(&mut q, "include_superseded")?;
    o.include_expired = flag(&mut q, "include_expired")?;
    reject_rest(
        &q,
        "user_id, agent_id, run_id, limit, cursor, filters, include_superseded, include_expired",
    )?;
    scope_conflict(&o.scope, o.filters.as_ref())?;
    Ok(o)
}

/// `DELETE /memories?user_id=&agent_id=&run_id=`: at least one id.
pub fn delete_all(mut q: HashMap<String, String>) -> Result<Scope, ApiError> {
    let scope = scope_of(&mut q);
    reject_rest(&q, "user_id, agent_id, run_id")?;
    if scope == Scope::default() {
        return Err(ApiError::bad_request(
            "validation",
            "deleting needs user_id, agent_id or run_id (POST /reset deletes everything)",
        ));
    }
    Ok(scope)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn add_takes_mem0_bodies() {
        let (m, o) = add(
            br#"{"messages": [{"role": "user", "content": "hi"}], "user_id": "a", "infer": false}"#,
        )
        .unwrap();
        assert!(matches!(m, Messages::Many(v) if v.len() == 1));
        assert!(!o.infer);
        assert_eq!(o.scope.user_id.as_deref(), Some("a"));
    }

    #[test]
    fn bad_bodies_name_the_problem() {
        assert_eq!(add(b"{nope").unwrap_err().code, "bad_json");
        assert_eq!(add(b"[1]").unwrap_err().code, "bad_json");
        assert_eq!(add(br#"{"user_id": "a"}"#).unwrap_err().code, "validation");
        let e = add(br#"{"messages": "hi", "usr_id": "a"}"#).unwrap_err();
        assert_eq!(e.code, "unknown_field");
        assert!(e.message.contains("usr_id"), "{}", e.message);
        assert_eq!(search(br#"{"query": 3}"#).unwrap_err().code, "validation");
        assert_eq!(update(br#"{}"#).unwrap_err().code, "validation");
        assert_eq!(
            update(br#"{"text": "a", "data": "b"}"#).unwrap_err().code,
            "validation"
        );
    }

    #[test]
    fn update_accepts_mem0_data() {
        assert_eq!(
            update(br#"{"data": "x"}"#).unwrap().text.as_deref(),
            Some("x")
        );
    }

    #[test]
    fn query_strings() {
        let q = |s: &[(&str, &str)]| {
            s.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let o = list(q(&[
            ("user_id", "a"),
            ("limit", "5"),
            ("filters", r#"{"k": 1}"#),
        ]))
        .unwrap();
        assert_eq!((o.limit, o.scope.user_id.as_deref()), (Some(5), Some("a")));
        assert_eq!(list(q(&[("limit", "x")])).unwrap_err().code, "validation");
        assert_eq!(list(q(&[("usr", "a")])).unwrap_err().code, "unknown_field");
        assert_eq!(delete_all(q(&[])).unwrap_err().code, "validation");
        assert!(delete_all(q(&[("run_id", "r")])).is_ok());
        let e = list(q(&[
            ("user_id", "alice"),
            ("filters", r#"{"AND": [{"user_id": "bob"}]}"#),
        ]))
        .unwrap_err();
        assert_eq!((e.code, e.status.as_u16()), ("scope_conflict", 403));
        assert!(
            list(q(&[
                ("user_id", "alice"),
                ("filters", r#"{"user_id": "alice"}"#)
            ]))
            .is_ok()
        );
        let e = search(br#"{"query": "q", "user_id": "alice", "filters": {"user_id": "bob"}}"#)
            .unwrap_err();
        assert_eq!(e.code, "scope_conflict");
    }
}
