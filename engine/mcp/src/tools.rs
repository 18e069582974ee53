//! The tool table (names like Mem0's hosted MCP server, so prompts written
//! for it carry over) and each tool's call: parse the arguments, run the
//! engine call off the async threads, shape the reply.

use std::collections::BTreeMap;
use std::sync::Arc;

use memlayer::{AsyncMemory, MemoryError, Message, Messages, Scope};
use rmcp::handler::server::common::schema_for_type;
use rmcp::model::{CallToolResult, JsonObject, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::params::{
    AddMemoryParams, DeleteAllParams, GetMemoriesParams, GraphScopeParams, MemoryIdParams,
    NeighborsParams, PathsParams, SearchMemoriesParams, UpdateMemoryParams,
};
use crate::reply;

/// Tools always served.
pub const MEMORY_TOOLS: [&str; 8] = [
    "add_memory",
    "search_memories",
    "get_memories",
    "get_memory",
    "update_memory",
    "delete_memory",
    "delete_all_memories",
    "memory_history",
];

/// Tools served when graph memory is on.
pub const GRAPH_TOOLS: [&str; 4] = ["list_entities", "get_relations", "neighbors", "paths"];

fn tool<T: JsonSchema + 'static>(name: &'static str, description: &'static str) -> Tool {
    Tool::new(name, description, schema_for_type::<T>())
}

fn read_only(t: Tool) -> Tool {
    t.annotate(ToolAnnotations::new().read_only(true).open_world(false))
}

fn writes(t: Tool, destructive: bool) -> Tool {
    t.annotate(
        ToolAnnotations::new()
            .read_only(false)
            .destructive(destructive)
            .open_world(false),
    )
}

/// The tools this server lists (graph tools only with graph memory on).
pub fn list(graph: bool) -> Vec<Tool> {
    let mut tools = vec![
        writes(
            tool::<AddMemoryParams>(
                "add_memory",
                "Remember something about the user (or agent/run). Give `text` or a `messages` conversation. \
                 With infer (default) the local LLM extracts personal facts and reconciles them with what is \
                 already remembered: new facts are added, changed facts update or supersede old ones, duplicates \
                 and chit-chat are skipped. Returns the changes made.",
            ),
            false,
        ),
        read_only(tool::<SearchMemoriesParams>(
            "search_memories",
            "Find the memories most relevant to a natural-language query (semantic + keyword ranking), best \
             first, with scores. Call this before answering questions about the user's preferences, facts or history.",
        )),
        read_only(tool::<GetMemoriesParams>(
            "get_memories",
            "List the memories of a user/agent/run, newest first, optionally filtered by metadata; page with `cursor`.",
        )),
        read_only(tool::<MemoryIdParams>(
            "get_memory",
            "Get one memory by its id.",
        )),
        writes(
            tool::<UpdateMemoryParams>(
                "update_memory",
                "Change a memory's text and/or merge metadata into it. Its history keeps the old text.",
            ),
            true,
        ),
        writes(
            tool::<MemoryIdParams>(
                "delete_memory",
                "Delete one memory by id (its history is kept).",
            ),
            true,
        ),
        writes(
            tool::<DeleteAllParams>(
                "delete_all_memories",
                "Delete every memory of the user_id / agent_id / run_id given in this call (the server's default \
                 scope is not used: the scope must be explicit). Cannot be undone.",
            ),
            true,
        ),
        read_only(tool::<MemoryIdParams>(
            "memory_history",
            "The changes of one memory (ADD, UPDATE, SUPERSEDE, DELETE), oldest first.",
        )),
    ];
    if graph {
        tools.extend([
            read_only(tool::<GraphScopeParams>(
                "list_entities",
                "The entities (people, places, things) of the scope's knowledge graph with how many relations each has.",
            )),
            read_only(tool::<GraphScopeParams>(
                "get_relations",
                "The scope's knowledge-graph relations (source -relationship-> destination).",
            )),
            read_only(tool::<NeighborsParams>(
                "neighbors",
                "Relations within `depth` hops of an entity in the scope's knowledge graph.",
            )),
            read_only(tool::<PathsParams>(
                "paths",
                "Chains of relations that connect two entities in the scope's knowledge graph, shortest first.",
            )),
        ]);
    }
    tools
}

/// Parses a tool's arguments: keys the schema does not list are rejected
/// (naming the ones it does), then the types are checked by serde.
pub fn parse<T: DeserializeOwned + JsonSchema + 'static>(
    tool: &str,
    args: JsonObject,
) -> Result<T, MemoryError> {
    let schema = schema_for_type::<T>();
    if let Some(Value::Object(props)) = schema.get("properties")
        && let Some(k) = args.keys().find(|k| !props.contains_key(*k))
    {
        let known: Vec<&str> = props.keys().map(String::as_str).collect();
        return Err(MemoryError::Validation {
            field: k.clone(),
            reason: format!("unknown argument of {tool}; it takes: {}", known.join(", ")),
        });
    }
    serde_json::from_value(Value::Object(args)).map_err(|e| MemoryError::Validation {
        field: format!("{tool} arguments"),
        reason: e.to_string(),
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Value, MemoryError> {
    serde_json::to_value(v).map_err(|e| MemoryError::Validation {
        field: "result".into(),
        reason: format!("cannot encode the result as JSON: {e}"),
    })
}

fn messages(p: &AddMemoryParams) -> Result<Messages, MemoryError> {
    match (&p.text, &p.messages) {
        (Some(t), None) => Ok(Messages::Text(t.clone())),
        (None, Some(list)) => Ok(Messages::Many(
            list.iter()
                .map(|m| Message {
                    role: m.role.clone(),
                    content: m.content.clone(),
                    name: m.name.clone(),
                })
                .collect(),
        )),
        (Some(_), Some(_)) => Err(MemoryError::Validation {
            field: "text".into(),
            reason: "give either `text` or `messages`, not both".into(),
        }),
        (None, None) => Err(MemoryError::Validation {
            field: "text".into(),
            reason: "give `text` (what to remember) or `messages` (a conversation)".into(),
        }),
    }
}

/// What one server knows: the engine, the default scope, graph on or off.
pub struct Context {
    /// The engine.
    pub mem: AsyncMemory,
    /// Ids used where a call gives none.
    pub defaults: Scope,
    /// Graph tools served.
    pub graph: bool,
}

/// Runs tool `name`; every failure becomes a tool error result. `None`
/// when no such tool is served.
pub async fn call(ctx: &Arc<Context>, name: &str, args: JsonObject) -> Option<CallToolResult> {
    let served = MEMORY_TOOLS.contains(&name) || (ctx.graph && GRAPH_TOOLS.contains(&name));
    if !served {
        return None;
    }
    let started = std::time::Instant::now();
    let r = run(ctx, name, args).await;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    Some(match r {
        Ok(r) => {
            tracing::info!(tool = name, ms, "tool call");
            r
        }
        Err(e) => {
            tracing::info!(
                tool = name,
                ms,
                code = e.code().as_str(),
                "tool call failed"
            );
            reply::failure(&e)
        }
    })
}

async fn run(ctx: &Context, name: &str, args: JsonObject) -> Result<CallToolResult, MemoryError> {
    let mem = &ctx.mem;
    let d = &ctx.defaults;
    match name {
        "add_memory" => {
            let p: AddMemoryParams = parse(name, args)?;
            let msgs = messages(&p)?;
            let r = mem.add(msgs, p.options(d)).await?;
            Ok(reply::success(reply::add_summary(&r), to_json(&r)?))
        }
        "search_memories" => {
            let p: SearchMemoriesParams = parse(name, args)?;
            let r = mem.search(p.query.clone(), p.options(d)).await?;
            let text = reply::items_summary("memories", &r.results, r.relations.as_deref());
            Ok(reply::success(text, to_json(&r)?))
        }
        "get_memories" => {
            let p: GetMemoriesParams = parse(name, args)?;
            let page = mem.get_all(p.options(d)).await?;
            let mut text =
                reply::items_summary("memories", &page.results, page.relations.as_deref());
            if let Some(c) = &page.next_cursor {
                text.push_str(&format!("\nMore: call again with cursor {c}"));
            }
            Ok(reply::success(text, to_json(&page)?))
        }
        "get_memory" => {
            let p: MemoryIdParams = parse(name, args)?;
            let id = p.memory_id.trim().to_string();
            match mem.get(id.clone()).await? {
                Some(m) => Ok(reply::success(reply::item_summary(&m), to_json(&m)?)),
                None => Err(MemoryError::NotFound { id }),
            }
        }
        "update_memory" => {
            let p: UpdateMemoryParams = parse(name, args)?;
            let m = mem.update(p.memory_id.clone(), p.options()).await?;
            let text = format!("Updated: {}", reply::item_summary(&m));
            Ok(reply::success(text, to_json(&m)?))
        }
        "delete_memory" => {
            let p: MemoryIdParams = parse(name, args)?;
            let id = p.memory_id.trim().to_string();
            mem.delete(id.clone()).await?;
            Ok(reply::success(
                format!("Deleted memory {id} (its history is kept)."),
                json!({"message": "Memory deleted successfully!", "id": id}),
            ))
        }
        "delete_all_memories" => {
            let p: DeleteAllParams = parse(name, args)?;
            let scope = Scope {
                user_id: p.user_id,
                agent_id: p.agent_id,
                run_id: p.run_id,
            };
            if scope.user_id.is_none() && scope.agent_id.is_none() && scope.run_id.is_none() {
                return Err(MemoryError::Validation {
                    field: "scope".into(),
                    reason: "delete_all_memories needs user_id, agent_id or run_id in the call itself (the default scope is not used for deleting)".into(),
                });
            }
            let report = mem.delete_all(scope.clone()).await?;
            Ok(reply::success(
                format!(
                    "Deleted {} memories of {}.",
                    report.memories,
                    to_json(&scope)?
                ),
                json!({
                    "message": "Memories deleted successfully!",
                    "deleted": report.memories,
                    "graph_entries_deleted": report.graph_entries,
                }),
            ))
        }
        "memory_history" => {
            let p: MemoryIdParams = parse(name, args)?;
            let events = mem.history(p.memory_id.clone()).await?;
            Ok(reply::success(
                reply::history_summary(&events),
                json!({"results": to_json(&events)?}),
            ))
        }
        "list_entities" => {
            let p: GraphScopeParams = parse(name, args)?;
            let records = mem
                .relations(p.scope.with_defaults(d), p.include_invalid.unwrap_or(false))
                .await?;
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for r in &records {
                *counts.entry(r.source.as_str()).or_default() += 1;
                *counts.entry(r.destination.as_str()).or_default() += 1;
            }
            let list: Vec<Value> = counts
                .iter()
                .map(|(n, c)| json!({"name": n, "relations": c}))
                .collect();
            let text = if list.is_empty() {
                "No entities found.".to_string()
            } else {
                let names: Vec<String> = counts.iter().map(|(n, c)| format!("{n} ({c})")).collect();
                format!("{} entities: {}", list.len(), names.join(", "))
            };
            Ok(reply::success(text, json!({"results": list})))
        }
        "get_relations" => {
            let p: GraphScopeParams = parse(name, args)?;
            let records = mem
                .relations(p.scope.with_defaults(d), p.include_invalid.unwrap_or(false))
                .await?;
            Ok(reply::success(
                reply::records_summary(&records),
                json!({"results": to_json(&records)?}),
            ))
        }
        "neighbors" => {
            let p: NeighborsParams = parse(name, args)?;
            let records = mem
                .neighbors(
                    p.entity.clone(),
                    p.depth.unwrap_or(1),
                    p.scope.with_defaults(d),
                )
                .await?;
            Ok(reply::success(
                reply::records_summary(&records),
                json!({"results": to_json(&records)?}),
            ))
        }
        "paths" => {
            let p: PathsParams = parse(name, args)?;
            let paths = mem
                .paths(
                    p.from.clone(),
                    p.to.clone(),
                    p.max_depth.unwrap_or(3),
                    p.scope.with_defaults(d),
                )
                .await?;
            let text = if paths.is_empty() {
                format!("No path from {} to {}.", p.from, p.to)
            } else {
                let lines: Vec<String> = paths
                    .iter()
                    .map(|path| {
                        path.iter()
                            .map(reply::relation)
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .collect();
                format!("{} path(s):\n- {}", paths.len(), lines.join("\n- "))
            };
            Ok(reply::success(text, json!({"results": to_json(&paths)?})))
        }
        other => Err(MemoryError::Validation {
            field: "name".into(),
            reason: format!("no tool named `{other}`"),
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn obj(v: Value) -> JsonObject {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn unknown_arguments_name_the_known_ones() {
        let e = parse::<SearchMemoriesParams>(
            "search_memories",
            obj(json!({"query": "x", "usr_id": "a"})),
        )
        .unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("usr_id") && s.contains("user_id") && s.contains("query"),
            "{s}"
        );
    }

    #[test]
    fn wrong_types_and_missing_fields_are_validation_errors() {
        let e =
            parse::<SearchMemoriesParams>("search_memories", obj(json!({"limit": 3}))).unwrap_err();
        assert!(e.to_string().contains("query"), "{e}");
        let e =
            parse::<SearchMemoriesParams>("search_memories", obj(json!({"query": 7}))).unwrap_err();
        assert_eq!(e.code(), memlayer::ErrorCode::Validation);
    }

    #[test]
    fn text_or_messages_exactly_one() {
        let p = parse::<AddMemoryParams>("add_memory", obj(json!({}))).unwrap();
        assert!(messages(&p).is_err());
        let p = parse::<AddMemoryParams>(
            "add_memory",
            obj(json!({"text": "a", "messages": [{"role": "user", "content": "b"}]})),
        )
        .unwrap();
        assert!(messages(&p).is_err());
        let p = parse::<AddMemoryParams>(
            "add_memory",
            obj(json!({"messages": [{"role": "user", "content": "b", "name": "bo"}]})),
        )
        .unwrap();
        assert!(
            matches!(messages(&p).unwrap(), Messages::Many(v) if v[0].name.as_deref() == Some("bo"))
        );
    }

    #[test]
    fn graph_tools_listed_only_with_graph_memory() {
        let names = |g| {
            list(g)
                .into_iter()
                .map(|t| t.name.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(false), MEMORY_TOOLS.to_vec());
        assert_eq!(names(true).len(), MEMORY_TOOLS.len() + GRAPH_TOOLS.len());
        for t in list(true) {
            assert_eq!(
                t.input_schema.get("type"),
                Some(&json!("object")),
                "{}",
                t.name
            );
        }
    }
}
