//! Input messages: the shapes `add` accepts and their validation.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{MemoryError, Result};

/// Largest accepted content of one message, in bytes (1 MiB). Larger inputs
/// are refused up front: the chat template code of llama.cpp cannot take
/// multi-gigabyte strings, and no local model has that context anyway.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// Largest accepted total content of one `add` call, in bytes (4 MiB).
pub const MAX_TOTAL_BYTES: usize = 4 << 20;
/// Most messages accepted by one `add` call.
pub const MAX_MESSAGES: usize = 1000;

/// One chat message, as Mem0 takes it: `{role, content, name?}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// `user`, `assistant` or `system`.
    pub role: String,
    /// The text.
    pub content: String,
    /// Speaker name; stored as the memory's `actor_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Message {
    /// A message with a role and content.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            role: role.into(),
            content: content.into(),
            name: None,
        }
    }
    /// A `user` message.
    pub fn user(content: impl Into<String>) -> Self {
        Message::new("user", content)
    }
    /// An `assistant` message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Message::new("assistant", content)
    }
    /// A `system` message.
    pub fn system(content: impl Into<String>) -> Self {
        Message::new("system", content)
    }
    /// Sets the speaker name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// What `add` accepts: a string (one user message), one message, or a list.
///
/// ```
/// use memlayer::{Message, Messages};
/// let m: Messages = "I like tea".into();
/// assert_eq!(m.normalize().unwrap(), vec![Message::user("I like tea")]);
/// let m = Messages::from_json(&serde_json::json!([{"role": "user", "content": "hi", "name": "bob"}])).unwrap();
/// assert_eq!(m.normalize().unwrap()[0].name.as_deref(), Some("bob"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Messages {
    /// Plain text: one `user` message.
    Text(String),
    /// One message.
    One(Message),
    /// A conversation.
    Many(Vec<Message>),
}

impl From<&str> for Messages {
    fn from(s: &str) -> Self {
        Messages::Text(s.to_string())
    }
}
impl From<String> for Messages {
    fn from(s: String) -> Self {
        Messages::Text(s)
    }
}
impl From<Message> for Messages {
    fn from(m: Message) -> Self {
        Messages::One(m)
    }
}
impl From<Vec<Message>> for Messages {
    fn from(v: Vec<Message>) -> Self {
        Messages::Many(v)
    }
}
impl From<&[Message]> for Messages {
    fn from(v: &[Message]) -> Self {
        Messages::Many(v.to_vec())
    }
}

fn field(i: Option<usize>, name: &str) -> String {
    match i {
        Some(i) => format!("messages[{i}].{name}"),
        None => format!("messages.{name}"),
    }
}

fn message_from_json(v: &Value, i: Option<usize>) -> Result<Message> {
    let Value::Object(o) = v else {
        return Err(MemoryError::invalid(
            i.map_or_else(|| "messages".to_string(), |i| format!("messages[{i}]")),
            "expected a string, an object {role, content, name?} or a list of such objects",
        ));
    };
    for k in o.keys() {
        if !matches!(k.as_str(), "role" | "content" | "name") {
            return Err(MemoryError::invalid(
                field(i, k),
                "unknown key; a message has only role, content and name",
            ));
        }
    }
    let role = match o.get("role") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(MemoryError::invalid(field(i, "role"), "must be a string")),
        None => return Err(MemoryError::invalid(field(i, "role"), "is required")),
    };
    let content = match o.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => {
            return Err(MemoryError::invalid(field(i, "content"), "is required"));
        }
        Some(_) => {
            return Err(MemoryError::invalid(
                field(i, "content"),
                "must be a string (images and other parts are not supported by the local models)",
            ));
        }
    };
    let name = match o.get("name") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null) | None => None,
        Some(_) => return Err(MemoryError::invalid(field(i, "name"), "must be a string")),
    };
    Ok(Message {
        role,
        content,
        name,
    })
}

impl Messages {
    /// Reads Mem0's accepted JSON shapes: a string, one message object, or
    /// an array of message objects. Unknown keys and non-string contents are
    /// validation errors.
    pub fn from_json(v: &Value) -> Result<Messages> {
        match v {
            Value::String(s) => Ok(Messages::Text(s.clone())),
            Value::Object(_) => Ok(Messages::One(message_from_json(v, None)?)),
            Value::Array(a) => {
                if a.len() > MAX_MESSAGES {
                    return Err(MemoryError::invalid(
                        "messages",
                        format!("{} messages; at most {MAX_MESSAGES} per call", a.len()),
                    ));
                }
                a.iter()
                    .enumerate()
                    .map(|(i, m)| message_from_json(m, Some(i)))
                    .collect::<Result<Vec<_>>>()
                    .map(Messages::Many)
            }
            _ => Err(MemoryError::invalid(
                "messages",
                "expected a string, an object {role, content, name?} or a list of such objects",
            )),
        }
    }

    /// Validates and returns the messages as a list: roles are lowercased
    /// and must be `user`, `assistant` or `system`; contents are
    /// whitespace-trimmed and must be non-empty, free of NUL bytes and within
    /// [`MAX_MESSAGE_BYTES`] / [`MAX_TOTAL_BYTES`]; names must be valid ids.
    pub fn normalize(self) -> Result<Vec<Message>> {
        let (list, single) = match self {
            Messages::Text(s) => (vec![Message::user(s)], true),
            Messages::One(m) => (vec![m], true),
            Messages::Many(v) => (v, false),
        };
        if list.is_empty() {
            return Err(MemoryError::invalid("messages", "must not be empty"));
        }
        if list.len() > MAX_MESSAGES {
            return Err(MemoryError::invalid(
                "messages",
                format!("{} messages; at most {MAX_MESSAGES} per call", list.len()),
            ));
        }
        let mut total = 0usize;
        let mut out = Vec::with_capacity(list.len());
        for (i, m) in list.into_iter().enumerate() {
            let idx = (!single).then_some(i);
            let role = m.role.trim().to_ascii_lowercase();
            if !matches!(role.as_str(), "user" | "assistant" | "system") {
                return Err(MemoryError::invalid(
                    field(idx, "role"),
                    format!(
                        "`{}` is not a role; use user, assistant or system",
                        m.role.chars().take(40).collect::<String>()
                    ),
                ));
            }
            if m.content.len() > MAX_MESSAGE_BYTES {
                return Err(MemoryError::invalid(
                    field(idx, "content"),
                    format!(
                        "{} bytes; at most {MAX_MESSAGE_BYTES} per message — split long documents",
                        m.content.len()
                    ),
                ));
            }
            if m.content.contains('\0') {
                return Err(MemoryError::invalid(
                    field(idx, "content"),
                    "contains a NUL character",
                ));
            }
            let content = m.content.trim();
            if content.is_empty() {
                return Err(MemoryError::invalid(field(idx, "content"), "is empty"));
            }
            total += content.len();
            if total > MAX_TOTAL_BYTES {
                return Err(MemoryError::invalid(
                    "messages",
                    format!("more than {MAX_TOTAL_BYTES} bytes of content in one call"),
                ));
            }
            let name = match m.name.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(n) => Some(
                    memlayer_store::validate_id("actor_id", n)
                        .map_err(|e| MemoryError::invalid(field(idx, "name"), e.to_string()))?,
                ),
            };
            out.push(Message {
                role,
                content: content.to_string(),
                name,
            });
        }
        Ok(out)
    }
}

/// Renders messages as the transcript the extraction prompts read
/// (`role: content` lines, system messages left out).
pub(crate) fn transcript(messages: &[Message]) -> String {
    let mut s = String::new();
    for m in messages.iter().filter(|m| m.role != "system") {
        if !s.is_empty() {
            s.push('\n');
        }
        s.push_str(&m.role);
        s.push_str(": ");
        s.push_str(&m.content.replace('\n', " "));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shapes_and_errors() {
        assert_eq!(
            Messages::from_json(&json!("hi"))
                .unwrap()
                .normalize()
                .unwrap(),
            vec![Message::user("hi")]
        );
        let one = Messages::from_json(&json!({"role": "Assistant", "content": " ok "})).unwrap();
        assert_eq!(one.normalize().unwrap(), vec![Message::assistant("ok")]);
        for (bad, field) in [
            (json!(5), "messages"),
            (json!([{"role": "user"}]), "messages[0].content"),
            (
                json!([{"role": "user", "content": ["x"]}]),
                "messages[0].content",
            ),
            (
                json!([{"role": "user", "content": "x", "extra": 1}]),
                "messages[0].extra",
            ),
        ] {
            match Messages::from_json(&bad) {
                Err(MemoryError::Validation { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{bad}: {other:?}"),
            }
        }
        for bad in [
            Messages::Many(vec![]),
            Messages::Many(vec![Message::new("tool", "x")]),
            Messages::Text("  ".into()),
            Messages::Text("a\0b".into()),
            Messages::Text("x".repeat(MAX_MESSAGE_BYTES + 1)),
            Messages::One(Message::user("x").with_name("bad\nname")),
        ] {
            assert!(matches!(
                bad.normalize(),
                Err(MemoryError::Validation { .. })
            ));
        }
    }

    #[test]
    fn transcript_skips_system() {
        let t = transcript(&[
            Message::system("rules"),
            Message::user("I like\ntea"),
            Message::assistant("noted"),
        ]);
        assert_eq!(t, "user: I like tea\nassistant: noted");
    }
}
