//! A JSON Schema validator for the subset memlayer's prompts use: `type`
//! (string, number, integer, boolean, object, array, null, or a list of
//! them), `properties`, `required`, `additionalProperties: false`, `items`,
//! `enum`, `const`, `minItems`, `maxItems`, `minLength`, `maxLength`,
//! `minimum`, `maximum`. Any other keyword is reported as unsupported rather
//! than ignored, so a test can never pass by skipping a rule.

use serde_json::Value;

/// Validates `v` against `schema`; `Err` lists the first violation with its
/// JSON pointer.
pub fn validate(schema: &Value, v: &Value) -> Result<(), String> {
    check(schema, v, "")
}

fn type_ok(t: &str, v: &Value) -> Result<bool, String> {
    Ok(match t {
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.as_f64().is_some_and(|x| x.fract() == 0.0),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "null" => v.is_null(),
        other => return Err(format!("unsupported type {other}")),
    })
}

fn check(schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let Some(s) = schema.as_object() else {
        return match schema {
            Value::Bool(true) => Ok(()),
            _ => Err(format!("{at}: schema is not an object")),
        };
    };
    for key in s.keys() {
        let known = [
            "type",
            "properties",
            "required",
            "additionalProperties",
            "items",
            "enum",
            "const",
            "minItems",
            "maxItems",
            "minLength",
            "maxLength",
            "minimum",
            "maximum",
            "description",
            "title",
        ];
        if !known.contains(&key.as_str()) {
            return Err(format!("{at}: unsupported schema keyword {key}"));
        }
    }
    if let Some(t) = s.get("type") {
        let ok = match t {
            Value::String(t) => type_ok(t, v)?,
            Value::Array(ts) => {
                let mut any = false;
                for t in ts {
                    any |= type_ok(t.as_str().ok_or("type list entry not a string")?, v)?;
                }
                any
            }
            _ => return Err(format!("{at}: bad type keyword")),
        };
        if !ok {
            return Err(format!("{at}: expected type {t}, got {v}"));
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        return Err(format!("{at}: {v} not in enum {e:?}"));
    }
    if let Some(c) = s.get("const")
        && c != v
    {
        return Err(format!("{at}: {v} != const {c}"));
    }
    if let Some(st) = v.as_str() {
        let n = st.chars().count() as u64;
        if let Some(min) = s.get("minLength").and_then(Value::as_u64)
            && n < min
        {
            return Err(format!("{at}: string shorter than {min}"));
        }
        if let Some(max) = s.get("maxLength").and_then(Value::as_u64)
            && n > max
        {
            return Err(format!("{at}: string longer than {max}"));
        }
    }
    if let Some(x) = v.as_f64() {
        if let Some(min) = s.get("minimum").and_then(Value::as_f64)
            && x < min
        {
            return Err(format!("{at}: {x} < minimum {min}"));
        }
        if let Some(max) = s.get("maximum").and_then(Value::as_f64)
            && x > max
        {
            return Err(format!("{at}: {x} > maximum {max}"));
        }
    }
    if let Some(obj) = v.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        if let Some(req) = s.get("required").and_then(Value::as_array) {
            for r in req {
                let r = r.as_str().ok_or("required entry not a string")?;
                if !obj.contains_key(r) {
                    return Err(format!("{at}: missing required property {r}"));
                }
            }
        }
        for (k, val) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => check(ps, val, &format!("{at}/{k}"))?,
                None => match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        return Err(format!("{at}: unexpected property {k}"));
                    }
                    Some(extra @ Value::Object(_)) => check(extra, val, &format!("{at}/{k}"))?,
                    _ => {}
                },
            }
        }
    }
    if let Some(arr) = v.as_array() {
        if let Some(min) = s.get("minItems").and_then(Value::as_u64)
            && (arr.len() as u64) < min
        {
            return Err(format!("{at}: fewer than {min} items"));
        }
        if let Some(max) = s.get("maxItems").and_then(Value::as_u64)
            && (arr.len() as u64) > max
        {
            return Err(format!("{at}: more than {max} items"));
        }
        if let Some(items) = s.get("items") {
            for (i, item) in arr.iter().enumerate() {
                check(items, item, &format!("{at}/{i}"))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_valid_and_rejects_each_violation() {
        let s = json!({"type": "object", "additionalProperties": false, "required": ["facts"],
            "properties": {"facts": {"type": "array", "maxItems": 2, "items": {"type": "string", "minLength": 1}},
                           "mood": {"enum": ["happy", "sad"]}, "n": {"type": "integer", "minimum": 0}}});
        assert!(validate(&s, &json!({"facts": ["a"], "mood": "sad", "n": 3})).is_ok());
        assert!(validate(&s, &json!({})).is_err());
        assert!(validate(&s, &json!({"facts": "a"})).is_err());
        assert!(validate(&s, &json!({"facts": ["a", "b", "c"]})).is_err());
        assert!(validate(&s, &json!({"facts": [""]})).is_err());
        assert!(validate(&s, &json!({"facts": [], "mood": "angry"})).is_err());
        assert!(validate(&s, &json!({"facts": [], "n": 1.5})).is_err());
        assert!(validate(&s, &json!({"facts": [], "n": -1})).is_err());
        assert!(validate(&s, &json!({"facts": [], "other": 1})).is_err());
        assert!(validate(&json!({"type": "object", "pattern": "x"}), &json!({})).is_err());
    }
}
