//! Request options of the [`crate::Memory`] API.
//!
//! Every scoped request embeds a [`Scope`] (serde-flattened, so JSON keeps
//! Mem0's top-level `user_id` / `agent_id` / `run_id`) and shares one set of
//! scope constructors, the same as [`Scope`]'s: `user`, `agent`, `run`,
//! `scoped`, and the setters `with_user`, `with_agent`, `with_run`.
//! Deserialising rejects unknown fields (a misspelt option is an error, not
//! a silent default).

use memlayer_store::{Scope, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Scope constructors and setters shared by every options struct.
macro_rules! scoped_options {
    ($t:ident) => {
        impl $t {
            /// Options for a user's memories.
            pub fn user(id: impl Into<String>) -> Self {
                Self::scoped(Scope::user(id))
            }
            /// Options for an agent's memories.
            pub fn agent(id: impl Into<String>) -> Self {
                Self::scoped(Scope::agent(id))
            }
            /// Options for a run's memories.
            pub fn run(id: impl Into<String>) -> Self {
                Self::scoped(Scope::run(id))
            }
            /// Options for any scope.
            pub fn scoped(scope: Scope) -> Self {
                $t {
                    scope,
                    ..Self::default()
                }
            }
            /// Sets the user.
            pub fn with_user(mut self, id: impl Into<String>) -> Self {
                self.scope.user_id = Some(id.into());
                self
            }
            /// Sets the agent.
            pub fn with_agent(mut self, id: impl Into<String>) -> Self {
                self.scope.agent_id = Some(id.into());
                self
            }
            /// Sets the run.
            pub fn with_run(mut self, id: impl Into<String>) -> Self {
                self.scope.run_id = Some(id.into());
                self
            }
        }
    };
}

/// Options of [`crate::Memory::add`].
///
/// ```
/// use memlayer::AddOptions;
/// let o = AddOptions::user("alice").with_agent("planner").infer(false);
/// assert!(!o.infer);
/// assert_eq!(o.scope.agent_id.as_deref(), Some("planner"));
/// let json = serde_json::to_value(&o).unwrap();
/// assert_eq!(json["user_id"], "alice"); // Mem0's flat shape
/// let back: AddOptions = serde_json::from_value(json).unwrap();
/// assert_eq!(back, o);
/// assert!(serde_json::from_str::<AddOptions>(r#"{"user_id": "a", "infre": false}"#).is_err());
/// // Mem0's `timestamp`: Unix seconds or RFC 3339.
/// let t: AddOptions = serde_json::from_str(r#"{"user_id": "a", "timestamp": 1683554160}"#).unwrap();
/// assert_eq!(t.timestamp.unwrap().to_string(), "2023-05-08T13:56:00.000000Z");
/// assert_eq!(serde_json::from_value::<AddOptions>(serde_json::to_value(&t).unwrap()).unwrap(), t);
/// assert!(serde_json::from_str::<AddOptions>(r#"{"user_id": "a", "timestamp": "May 8"}"#).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "AddOptionsWire")]
pub struct AddOptions {
    /// Who the memories belong to (at least one of user/agent/run).
    #[serde(flatten)]
    pub scope: Scope,
    /// Metadata stored on every memory this call creates or updates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    /// `true` (default): extract facts with the LLM and reconcile them;
    /// `false`: store each non-system message verbatim.
    pub infer: bool,
    /// `procedural_memory` summarises the agent's run (needs `agent_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_type: Option<String>,
    /// A fact-extraction prompt for this call only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// RFC 3339 expiry of the created memories (hidden from search after).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_date: Option<String>,
    /// When the messages were said (Mem0's `timestamp`): the `created_at`
    /// of the memories this call creates, so an imported conversation
    /// keeps its real dates. JSON takes Unix seconds or RFC 3339. Unset:
    /// now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
}

impl Default for AddOptions {
    fn default() -> Self {
        AddOptions {
            scope: Scope::default(),
            metadata: None,
            infer: true,
            memory_type: None,
            prompt: None,
            expiration_date: None,
            timestamp: None,
        }
    }
}

scoped_options!(AddOptions);

impl AddOptions {
    /// Sets `infer`.
    pub fn infer(mut self, infer: bool) -> Self {
        self.infer = infer;
        self
    }
    /// Sets the metadata.
    pub fn metadata(mut self, m: Map<String, Value>) -> Self {
        self.metadata = Some(m);
        self
    }
    /// Sets the memory type.
    pub fn memory_type(mut self, t: impl Into<String>) -> Self {
        self.memory_type = Some(t.into());
        self
    }
    /// Sets a fact-extraction prompt for this call.
    pub fn prompt(mut self, p: impl Into<String>) -> Self {
        self.prompt = Some(p.into());
        self
    }
    /// Sets the expiry (RFC 3339).
    pub fn expiration_date(mut self, t: impl Into<String>) -> Self {
        self.expiration_date = Some(t.into());
        self
    }
    /// Sets when the messages were said (see [`AddOptions::timestamp`]).
    pub fn timestamp(mut self, t: Timestamp) -> Self {
        self.timestamp = Some(t);
        self
    }
}

/// Mem0's `timestamp` on the wire: Unix seconds or an RFC 3339 string.
pub(crate) mod wire_time {
    use memlayer_store::Timestamp;
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Wire {
        Secs(i64),
        Text(String),
    }

    /// Deserialises an optional timestamp from either form.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Timestamp>, D::Error> {
        match Option::<Wire>::deserialize(d)? {
            None => Ok(None),
            Some(Wire::Secs(s)) => Timestamp::from_unix_seconds(s)
                .map(Some)
                .map_err(serde::de::Error::custom),
            Some(Wire::Text(t)) => Timestamp::parse_rfc3339(&t)
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct AddOptionsWire {
    user_id: Option<String>,
    agent_id: Option<String>,
    run_id: Option<String>,
    metadata: Option<Map<String, Value>>,
    infer: Option<bool>,
    memory_type: Option<String>,
    prompt: Option<String>,
    expiration_date: Option<String>,
    #[serde(deserialize_with = "wire_time::deserialize")]
    timestamp: Option<Timestamp>,
}

impl From<AddOptionsWire> for AddOptions {
    fn from(w: AddOptionsWire) -> Self {
        AddOptions {
            scope: Scope {
                user_id: w.user_id,
                agent_id: w.agent_id,
                run_id: w.run_id,
            },
            metadata: w.metadata,
            infer: w.infer.unwrap_or(true),
            memory_type: w.memory_type,
            prompt: w.prompt,
            expiration_date: w.expiration_date,
            timestamp: w.timestamp,
        }
    }
}

/// Options of [`crate::Memory::search`].
///
/// ```
/// use memlayer::SearchOptions;
/// let o = SearchOptions::user("alice").with_run("trip").limit(5).threshold(0.3);
/// assert_eq!(o.scope.run_id.as_deref(), Some("trip"));
/// let back: SearchOptions = serde_json::from_value(serde_json::to_value(&o).unwrap()).unwrap();
/// assert_eq!(back, o);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "SearchOptionsWire")]
pub struct SearchOptions {
    /// The scope searched (at least one of user/agent/run).
    #[serde(flatten)]
    pub scope: Scope,
    /// Filters in the store's (Mem0's) filter language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filters: Option<Value>,
    /// Result count (default from config, at most 1000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Drop hits whose semantic score is below this (0..=1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f32>,
    /// Attach [`crate::ScoreDetails`] to every hit.
    pub explain: bool,
    /// Also return memories past their expiration date.
    pub include_expired: bool,
    /// Also return memories that a newer memory superseded (they carry
    /// `superseded_at` / `superseded_by`): for "where did she live before?".
    pub include_superseded: bool,
    /// Skip the configured reranker for this query.
    pub no_rerank: bool,
}

scoped_options!(SearchOptions);

impl SearchOptions {
    /// Sets the limit.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }
    /// Sets the filters.
    pub fn filters(mut self, f: Value) -> Self {
        self.filters = Some(f);
        self
    }
    /// Sets the threshold.
    pub fn threshold(mut self, t: f32) -> Self {
        self.threshold = Some(t);
        self
    }
    /// Turns on score details.
    pub fn explain(mut self) -> Self {
        self.explain = true;
        self
    }
    /// Also returns superseded memories.
    pub fn include_superseded(mut self) -> Self {
        self.include_superseded = true;
        self
    }
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct SearchOptionsWire {
    user_id: Option<String>,
    agent_id: Option<String>,
    run_id: Option<String>,
    filters: Option<Value>,
    limit: Option<usize>,
    threshold: Option<f32>,
    explain: bool,
    include_expired: bool,
    include_superseded: bool,
    no_rerank: bool,
}

impl From<SearchOptionsWire> for SearchOptions {
    fn from(w: SearchOptionsWire) -> Self {
        SearchOptions {
            scope: Scope {
                user_id: w.user_id,
                agent_id: w.agent_id,
                run_id: w.run_id,
            },
            filters: w.filters,
            limit: w.limit,
            threshold: w.threshold,
            explain: w.explain,
            include_expired: w.include_expired,
            include_superseded: w.include_superseded,
            no_rerank: w.no_rerank,
        }
    }
}

/// Options of [`crate::Memory::get_all`].
///
/// ```
/// use memlayer::GetAllOptions;
/// let o = GetAllOptions::agent("planner").limit(10);
/// assert_eq!(o.scope.agent_id.as_deref(), Some("planner"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "GetAllOptionsWire")]
pub struct GetAllOptions {
    /// The scope listed (at least one of user/agent/run).
    #[serde(flatten)]
    pub scope: Scope,
    /// Filters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filters: Option<Value>,
    /// Page size (`None`: everything).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Also list expired memories.
    pub include_expired: bool,
    /// Also list superseded memories (see [`SearchOptions::include_superseded`]).
    pub include_superseded: bool,
}

scoped_options!(GetAllOptions);

impl GetAllOptions {
    /// Sets the page size.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }
    /// Sets the filters.
    pub fn filters(mut self, f: Value) -> Self {
        self.filters = Some(f);
        self
    }
    /// Continues after a previous page.
    pub fn cursor(mut self, c: impl Into<String>) -> Self {
        self.cursor = Some(c.into());
        self
    }
    /// Also lists superseded memories.
    pub fn include_superseded(mut self) -> Self {
        self.include_superseded = true;
        self
    }
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct GetAllOptionsWire {
    user_id: Option<String>,
    agent_id: Option<String>,
    run_id: Option<String>,
    filters: Option<Value>,
    limit: Option<usize>,
    cursor: Option<String>,
    include_expired: bool,
    include_superseded: bool,
}

impl From<GetAllOptionsWire> for GetAllOptions {
    fn from(w: GetAllOptionsWire) -> Self {
        GetAllOptions {
            scope: Scope {
                user_id: w.user_id,
                agent_id: w.agent_id,
                run_id: w.run_id,
            },
            filters: w.filters,
            limit: w.limit,
            cursor: w.cursor,
            include_expired: w.include_expired,
            include_superseded: w.include_superseded,
        }
    }
}

/// Options of [`crate::Memory::update`]: a new text (re-embedded), a
/// metadata patch (`null` values remove keys), or both.
///
/// ```
/// use memlayer::UpdateOptions;
/// let mut patch = serde_json::Map::new();
/// patch.insert("topic".into(), "food".into());
/// let o = UpdateOptions::text("Lives in Lisbon").with_metadata(patch);
/// assert!(o.text.is_some() && o.metadata.is_some());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpdateOptions {
    /// The new text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Metadata merged into the memory's (`null` removes a key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

impl UpdateOptions {
    /// A text change.
    pub fn text(t: impl Into<String>) -> Self {
        UpdateOptions {
            text: Some(t.into()),
            metadata: None,
        }
    }
    /// A metadata patch.
    pub fn metadata(m: Map<String, Value>) -> Self {
        UpdateOptions {
            text: None,
            metadata: Some(m),
        }
    }
    /// Adds a text change.
    pub fn with_text(mut self, t: impl Into<String>) -> Self {
        self.text = Some(t.into());
        self
    }
    /// Adds a metadata patch.
    pub fn with_metadata(mut self, m: Map<String, Value>) -> Self {
        self.metadata = Some(m);
        self
    }
}
