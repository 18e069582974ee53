"""Drives `memlayer mcp` with the official MCP Python SDK (`mcp` on PyPI):
initialize (handshake era and the 2026-07-28 discover mode), list tools,
call every tool, check results and error paths. Run by tests/mcp.rs, which
creates the venv; prints a transcript (one JSON object per exchange).

usage: python mcp_client.py --bin MEMLAYER --db DB --graph-db DB --graph-config TOML --chat MODEL
       python mcp_client.py --url http://127.0.0.1:PORT/mcp   (a `memlayer serve -u alice`)
"""

import argparse
import asyncio
import json
import sys

from mcp import Client, MCPError, StdioServerParameters

MEMORY_TOOLS = [
    "add_memory",
    "search_memories",
    "get_memories",
    "get_memory",
    "update_memory",
    "delete_memory",
    "delete_all_memories",
    "memory_history",
]
GRAPH_TOOLS = ["list_entities", "get_relations", "neighbors", "paths"]


def log(kind, **fields):
    print(json.dumps({"kind": kind, **fields}, ensure_ascii=False), flush=True)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


class Session:
    def __init__(self, client):
        self.client = client

    async def call(self, tool, args, expect_error=None):
        r = await self.client.call_tool(tool, args)
        sc = r.structured_content
        log("call", tool=tool, arguments=args, is_error=r.is_error, structured=sc,
            text=[c.text for c in r.content if getattr(c, "type", "") == "text"][:1])
        if expect_error:
            check(r.is_error, f"{tool} {args}: expected error {expect_error}, got {sc}")
            check(sc["error"]["code"] == expect_error, f"{tool}: code {sc['error']['code']} != {expect_error}")
            check(len(sc["error"]["suggestion"]) > 10, f"{tool}: no suggestion")
            check(len(r.content) >= 1 and "error" in r.content[0].text, f"{tool}: no readable error text")
        else:
            check(not r.is_error, f"{tool} {args} failed: {sc}")
            check(isinstance(sc, dict), f"{tool}: no structured content")
            check(len(r.content) >= 1 and r.content[0].text, f"{tool}: no readable text")
        return sc


def server(args, *extra):
    if args.url:  # a running `memlayer serve` (default user alice): MCP over streamable HTTP
        return args.url
    return StdioServerParameters(
        command=args.bin,
        args=["--db", args.db, "--chat", args.chat, *extra],
        env={"MEMLAYER_LOG": "warn"},
    )


async def memory_session(args):
    """Every memory tool and its error paths, handshake-era protocol."""
    async with Client(server(args, "mcp", "--user-id", "alice"), mode="legacy") as client:
        log("initialize", protocol_version=client.protocol_version, server=client.server_info.name,
            version=client.server_info.version, instructions=bool(client.instructions))
        check(client.server_info.name == "memlayer", "server name")
        check(client.protocol_version == "2025-11-25", f"handshake version {client.protocol_version}")
        tools = (await client.list_tools()).tools
        log("tools", names=[t.name for t in tools])
        want = MEMORY_TOOLS + (GRAPH_TOOLS if args.graph else [])
        check([t.name for t in tools] == want, f"tool list {[t.name for t in tools]}")
        for t in tools:
            props = t.input_schema.get("properties", {})
            check(t.description and len(t.description) > 20, f"{t.name}: description")
            for k, v in props.items():
                check(v.get("description"), f"{t.name}.{k}: no description")
        check(tools[0].input_schema["properties"]["text"], "add_memory takes text")

        s = Session(client)
        # Verbatim add with the default user.
        r = await s.call("add_memory", {"text": "Lives in Lisbon and sails on weekends", "infer": False,
                                        "metadata": {"source": "mcp-test"}})
        check(r["results"][0]["event"] == "ADD", "verbatim add")
        mid = r["results"][0]["id"]
        await s.call("add_memory", {"text": "Works as a nurse at the city hospital", "infer": False})
        # Inference with the real chat model.
        r = await s.call("add_memory", {"messages": [
            {"role": "user", "content": "I'm allergic to peanuts, please remember that."},
            {"role": "assistant", "content": "Noted, no peanuts."}]})
        check(isinstance(r["results"], list), "inferred add has results")

        r = await s.call("search_memories", {"query": "Where does she live?", "limit": 3})
        check(r["results"] and "Lisbon" in r["results"][0]["memory"], f"search top hit {r['results'][:1]}")
        check(r["results"][0]["user_id"] == "alice", "default user applied")
        r = await s.call("search_memories", {"query": "city", "user_id": "bob"})
        check(r["results"] == [], "another user's search sees nothing")
        r = await s.call("search_memories", {"query": "city", "filters": {"source": "mcp-test"}})
        check([m["id"] for m in r["results"]] == [mid], "metadata filter")

        r = await s.call("get_memories", {"limit": 1})
        check(len(r["results"]) == 1 and r.get("next_cursor"), "first page with cursor")
        r2 = await s.call("get_memories", {"limit": 10, "cursor": r["next_cursor"]})
        check(r2["results"] and r2["results"][0]["id"] != r["results"][0]["id"], "second page")

        r = await s.call("get_memory", {"memory_id": mid})
        check(r["memory"] == "Lives in Lisbon and sails on weekends", "get_memory")
        r = await s.call("update_memory", {"memory_id": mid, "text": "Lives in Porto and sails on weekends"})
        check(r["memory"].startswith("Lives in Porto"), "update_memory")
        r = await s.call("memory_history", {"memory_id": mid})
        check([e["event"] for e in r["results"]] == ["ADD", "UPDATE"], f"history {r}")

        # Error paths: each a tool error with our code; the server keeps serving.
        await s.call("search_memories", {"limit": 3}, expect_error="validation")
        await s.call("search_memories", {"query": "x", "usr_id": "a"}, expect_error="validation")
        await s.call("search_memories", {"query": "x", "limit": 0}, expect_error="validation")
        await s.call("search_memories", {"query": "x", "limit": "ten"}, expect_error="validation")
        await s.call("search_memories", {"query": "x", "filters": {"source": {"regex": ".*"}}},
                     expect_error="validation")
        await s.call("get_memory", {"memory_id": "not-a-uuid"}, expect_error="validation")
        await s.call("get_memory", {"memory_id": "01900000-0000-7000-8000-000000000000"},
                     expect_error="not_found")
        await s.call("update_memory", {"memory_id": "01900000-0000-7000-8000-000000000000", "text": "x"},
                     expect_error="not_found")
        await s.call("add_memory", {}, expect_error="validation")
        await s.call("add_memory", {"text": "a", "messages": [{"role": "user", "content": "b"}]},
                     expect_error="validation")
        await s.call("add_memory", {"messages": [{"role": "robot", "content": "hi"}]},
                     expect_error="validation")
        await s.call("add_memory", {"text": "x", "user_id": "bad id with spaces"}, expect_error="validation")
        await s.call("delete_all_memories", {}, expect_error="validation")
        try:
            await client.call_tool("no_such_tool", {})
            raise AssertionError("unknown tool accepted")
        except MCPError as e:
            log("protocol_error", tool="no_such_tool", error=str(e))

        await s.call("delete_memory", {"memory_id": mid})
        await s.call("get_memory", {"memory_id": mid}, expect_error="not_found")
        r = await s.call("delete_all_memories", {"user_id": "alice"})
        check(r["deleted"] >= 1, "delete_all deleted something")
        r = await s.call("get_memories", {})
        check(r["results"] == [], "nothing left")


async def modern_session(args):
    """The 2026-07-28 revision (discover, no initialize), a default agent scope."""
    async with Client(server(args, "mcp", "--agent-id", "planner"), mode="auto") as client:
        log("connect", mode="auto", protocol_version=client.protocol_version)
        check(client.protocol_version == "2026-07-28", f"modern version {client.protocol_version}")
        tools = (await client.list_tools()).tools
        want = MEMORY_TOOLS + (GRAPH_TOOLS if args.graph else [])
        check([t.name for t in tools] == want, "tool list (modern)")
        s = Session(client)
        r = await s.call("add_memory", {"text": "Always answers in French", "infer": False})
        check(r["results"][0]["event"] == "ADD", "add (modern)")
        r = await s.call("search_memories", {"query": "language of answers"})
        if args.url:
            check(r["results"][0]["user_id"] == "alice", "server's default user applied")
        else:
            check(r["results"][0]["agent_id"] == "planner", "default agent applied")


async def graph_session(args, config):
    """Graph tools are listed and answer when graph memory is on."""
    async with Client(server(args, "--config", str(config), "mcp", "-u", "carol"), mode="legacy") as client:
        tools = [t.name for t in (await client.list_tools()).tools]
        log("tools", graph=True, names=tools)
        check(tools == MEMORY_TOOLS + GRAPH_TOOLS, f"graph tool list {tools}")
        s = Session(client)
        await s.call("add_memory", {"text": "My sister Maria lives in Madrid."})
        r = await s.call("get_relations", {})
        check(isinstance(r["results"], list), "relations")
        r = await s.call("list_entities", {})
        names = [e["name"] for e in r["results"]]
        check(all(e["relations"] >= 1 for e in r["results"]), "entity relation counts")
        if names:  # what SmolLM2 extracts varies; the tools must answer either way
            r = await s.call("neighbors", {"entity": names[0], "depth": 2})
            check(r["results"], f"neighbors of {names[0]}")
            await s.call("paths", {"from": names[0], "to": names[-1]})
        await s.call("neighbors", {"entity": "nobody-here"}, expect_error="not_found")
        await s.call("neighbors", {"entity": "carol", "depth": 99}, expect_error="validation")


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", help="MCP endpoint of a running `memlayer serve -u alice`")
    p.add_argument("--bin")
    p.add_argument("--db")
    p.add_argument("--graph-db")
    p.add_argument("--graph-config")
    p.add_argument("--graph", action="store_true", help="with --url: the server has graph memory on")
    p.add_argument("--chat", default="smollm2")
    args = p.parse_args()
    await memory_session(args)
    await modern_session(args)
    if args.url:
        if args.graph:
            await graph_session(args, None)
        log("done", ok=True)
        return
    args.db = args.graph_db
    await graph_session(args, args.graph_config)
    log("done", ok=True)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except AssertionError as e:
        log("failed", error=str(e))
        sys.exit(1)
