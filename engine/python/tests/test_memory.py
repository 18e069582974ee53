"""Every method of memlayer.Memory, every message shape, filters, errors."""

import memlayer
import pytest
from memlayer import NotFoundError, ValidationError


def raw(mem, text, **kw):
    kw.setdefault("user_id", "alice")
    return mem.add(text, infer=False, **kw)["results"]


def test_message_shapes_are_stored_as_given(mem):
    (a,) = raw(mem, "I live in Lisbon")
    assert (a["event"], a["memory"]) == ("ADD", "I live in Lisbon")
    (b,) = raw(mem, {"role": "user", "content": "I am vegetarian"})
    assert b["memory"] == "I am vegetarian"
    many = raw(
        mem,
        [
            {"role": "user", "content": "My dog is called Rex"},
            {"role": "assistant", "content": "Rex is a nice name"},
        ],
    )
    assert [r["memory"] for r in many] == ["My dog is called Rex", "Rex is a nice name"]
    got = mem.get(a["id"])
    assert got["memory"] == "I live in Lisbon" and got["user_id"] == "alice"
    assert mem.count() == 4


def test_search_takes_scope_as_kwargs_or_mem0_2_filters(mem):
    raw(mem, "I live in Lisbon", metadata={"kind": "home"})
    raw(mem, "I play the cello on Sundays", metadata={"kind": "hobby"})
    raw(mem, "Bob lives in Oslo", user_id="bob")
    hits = mem.search("where do I live?", user_id="alice", limit=1)["results"]
    assert hits[0]["memory"] == "I live in Lisbon" and hits[0]["score"] > 0
    same = mem.search("where do I live?", filters={"user_id": "alice"}, top_k=1)["results"]
    assert [h["id"] for h in same] == [hits[0]["id"]]
    hobby = mem.search("where do I live?", filters={"user_id": "alice", "kind": "hobby"})["results"]
    assert [h["memory"] for h in hobby] == ["I play the cello on Sundays"]
    ops = mem.search("music", user_id="alice", filters={"kind": {"in": ["hobby", "x"]}})["results"]
    assert [h["memory"] for h in ops] == ["I play the cello on Sundays"]
    assert all(h["user_id"] == "alice" for h in mem.search("Oslo", user_id="alice")["results"])
    assert mem.search("where do I live?", user_id="alice", threshold=0.99)["results"] == []
    explained = mem.search("Lisbon", user_id="alice", limit=1, explain=True)["results"][0]
    assert set(explained["explain"]) >= {"semantic", "keyword", "fused"}


def test_get_all_pages_with_a_cursor(mem):
    for i in range(7):
        raw(mem, f"note number {i}")
    raw(mem, "other user's note", user_id="bob")
    first = mem.get_all(user_id="alice", limit=5)
    assert len(first["results"]) == 5 and first["next_cursor"]
    rest = mem.get_all(filters={"user_id": "alice"}, limit=5, cursor=first["next_cursor"])
    seen = {r["memory"] for r in first["results"] + rest["results"]}
    assert seen == {f"note number {i}" for i in range(7)}
    assert rest.get("next_cursor") is None


def test_update_delete_history_delete_all_reset(mem):
    (a,) = raw(mem, "I live in Lisbon")
    r = mem.update(a["id"], "I live in Porto", metadata={"moved": True})
    assert r["message"] == "Memory updated successfully!"
    assert r["result"]["memory"] == "I live in Porto" and r["result"]["metadata"]["moved"] is True
    assert mem.update(memory_id=a["id"], data="I live in Faro")["result"]["memory"] == "I live in Faro"
    events = mem.history(a["id"])
    assert [e["event"] for e in events] == ["ADD", "UPDATE", "UPDATE"]
    assert (events[1]["old_memory"], events[1]["new_memory"]) == ("I live in Lisbon", "I live in Porto")
    assert mem.delete(a["id"]) == {"message": "Memory deleted successfully!"}
    assert mem.get(a["id"]) is None
    assert mem.history(a["id"])[-1]["event"] == "DELETE"
    raw(mem, "one")
    raw(mem, "two")
    raw(mem, "bob's", user_id="bob")
    assert mem.delete_all(user_id="alice") == {"message": "Memories deleted successfully!", "deleted": 2}
    assert mem.count() == 1
    mem.reset()
    assert mem.count() == 0
    assert mem.verify()["ok"] is True


def test_add_many_imports_raw_memories_with_dates(mem):
    items = [{"text": f"imported line {i}", "user_id": "alice", "timestamp": 1_700_000_000 + i} for i in range(40)]
    r = mem.add_many(items)
    assert len(r["ids"]) == 40 and r["commits"] == 1
    assert mem.get(r["ids"][0])["created_at"].startswith("2023-11-14")
    before = mem.count()
    with pytest.raises(ValidationError, match="item 1"):
        mem.add_many([{"text": "ok", "user_id": "a"}, {"text": "no scope"}])
    assert mem.count() == before


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m: m.add([1, 2], user_id="a", infer=False), "messages"),
        (lambda m: m.add({"role": "wizard", "content": "x"}, user_id="a", infer=False), "role"),
        (lambda m: m.add("", user_id="a", infer=False), "message"),
        (lambda m: m.add("hi", infer=False), "user_id"),
        (lambda m: m.add("hi", user_id="a", metadata="x", infer=False), "metadata"),
        (lambda m: m.add("hi", user_id="a", metadata={"k": object()}, infer=False), "metadata"),
        (lambda m: m.add("hi", user_id=7, infer=False), "user_id"),
        (lambda m: m.add("hi", user_id="a", infer="no"), "infer"),
        (lambda m: m.add("hi", user_id="a b", infer=False), "user_id"),
        (lambda m: m.add("hi", user_id="a", timestamp="May 8", infer=False), "timestamp"),
        (lambda m: m.search("q"), "user_id"),
        (lambda m: m.search("q", user_id="a", filters={"user_id": "b"}), "scoped to user_id"),
        (lambda m: m.search("q", user_id="a", filters={"k": {"near": 1}}), "near"),
        (lambda m: m.search("q", user_id="a", limit=3, top_k=4), "top_k"),
        (lambda m: m.search("q", user_id="a", filters=[1]), "filters"),
        (lambda m: m.get_all(user_id="a", limit=-1), "limit"),
        (lambda m: m.search("q", user_id="a", limit=0), "limit"),
        (lambda m: m.search("q", user_id="a", threshold="high"), "threshold"),
        (lambda m: m.update("00000000-0000-0000-0000-000000000000", metadata=[1]), "metadata"),
        (lambda m: m.delete_all(), "user_id"),
        (lambda m: m.update("00000000-0000-0000-0000-000000000000"), "nothing to update"),
        (lambda m: m.get("not-a-uuid"), "id"),
    ],
)
def test_bad_input_is_a_validation_error_and_changes_nothing(mem, call, match):
    raw(mem, "I live in Lisbon")
    with pytest.raises(ValidationError, match=match) as e:
        call(mem)
    assert isinstance(e.value, ValueError) and isinstance(e.value, memlayer.MemoryError)
    assert e.value.code == "validation" and e.value.suggestion
    assert mem.count() == 1 and mem.verify()["ok"]


def test_missing_memories_are_not_found_errors(mem):
    missing = "0190a4b2-0000-7000-8000-000000000000"
    assert mem.get(missing) is None
    for call in (lambda: mem.update(missing, "x"), lambda: mem.delete(missing)):
        with pytest.raises(NotFoundError) as e:
            call()
        assert e.value.code == "not_found" and isinstance(e.value, LookupError)
        assert missing in str(e.value)


def test_closed_memory_says_so(db):
    with memlayer.Memory(db) as m:
        raw(m, "kept")
    with pytest.raises(memlayer.ClosedError) as e:
        m.count()
    assert e.value.code == "closed"
    with memlayer.Memory(db) as again:
        assert again.count() == 1


def test_infer_extracts_facts_with_the_local_model(mem):
    r = mem.add(
        [
            {"role": "user", "content": "Hi! My name is Alice and I live in Lisbon."},
            {"role": "assistant", "content": "Nice to meet you, Alice."},
        ],
        user_id="alice",
        metadata={"source": "chat"},
    )
    assert r["results"], r
    assert {e["event"] for e in r["results"]} <= {"ADD", "UPDATE", "DELETE", "NONE"}
    stored = mem.get_all(user_id="alice")["results"]
    assert stored and all(m["metadata"]["source"] == "chat" for m in stored)
    assert any("Lisbon" in m["memory"] or "Alice" in m["memory"] for m in stored), stored
    proc = mem.add("Step 1: opened the file. Step 2: fixed the typo.", agent_id="coder", memory_type="procedural_memory")
    assert proc["results"][0]["event"] == "ADD"
    assert mem.get(proc["results"][0]["id"])["memory_type"] == "procedural_memory"
