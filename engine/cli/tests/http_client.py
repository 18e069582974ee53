"""Every REST route of `memlayer serve` and the bad inputs, with a real HTTP
client (Python's http.client). Run by tests/serve.rs against a server
started with an API key and --max-body-bytes 65536; prints one JSON line
per exchange.

usage: python http_client.py URL API_KEY
"""

import http.client
import json
import sys
import urllib.parse

URL = urllib.parse.urlparse(sys.argv[1])
KEY = sys.argv[2]


def request(method, path, body=None, key=KEY, raw=None, headers=None):
    c = http.client.HTTPConnection(URL.hostname, URL.port, timeout=120)
    h = {"Content-Type": "application/json", **(headers or {})}
    if key is not None:
        h["Authorization"] = f"Bearer {key}"
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    try:
        value = json.loads(text)
    except ValueError:
        value = text
    shown = (data[:120] + "...") if isinstance(data, str) and len(data) > 120 else data
    print(json.dumps({"request": f"{method} {path}", "body": shown, "status": r.status,
                      "response": value if len(text) < 600 else text[:600]}), flush=True)
    return r.status, value


def ok(method, path, body=None):
    status, v = request(method, path, body)
    assert status == 200, f"{method} {path}: {status} {v}"
    return v


def bad(method, path, body=None, status=400, code=None, **kw):
    s, v = request(method, path, body, **kw)
    assert s == status, f"{method} {path}: expected {status}, got {s} {v}"
    if code:
        assert v["error"]["code"] == code, f"{method} {path}: code {v['error']['code']} != {code}"
        assert v["error"]["message"] and v["error"]["suggestion"], v
    return v


def count(user):
    return len(ok("GET", f"/memories?user_id={user}&limit=1000")["results"])


# Routes.
assert ok("GET", "/health")["status"] == "ok"
r = ok("POST", "/memories", {"messages": [{"role": "user", "content": "Lives in Lisbon"}],
                             "user_id": "alice", "infer": False, "metadata": {"topic": "home"}})
mid = r["results"][0]["id"]
ok("POST", "/memories", {"messages": "Plays the cello", "user_id": "alice", "infer": False})
ok("POST", "/memories", {"messages": "Owns a red bicycle", "user_id": "bob", "infer": False})
r = ok("POST", "/search", {"query": "where does she live", "user_id": "alice", "limit": 5})
assert r["results"][0]["id"] == mid, r
r = ok("POST", "/search", {"query": "home", "user_id": "alice", "filters": {"topic": "home"}})
assert [m["id"] for m in r["results"]] == [mid], r
page = ok("GET", "/memories?user_id=alice&limit=1")
assert len(page["results"]) == 1 and page["next_cursor"], page
page2 = ok("GET", "/memories?user_id=alice&limit=1&cursor=" + urllib.parse.quote(page["next_cursor"]))
assert page2["results"][0]["id"] != page["results"][0]["id"]
assert ok("GET", f"/memories/{mid}")["memory"] == "Lives in Lisbon"
r = ok("PUT", f"/memories/{mid}", {"data": "Lives in Porto"})
assert r["result"]["memory"] == "Lives in Porto", r
ok("PUT", f"/memories/{mid}", {"metadata": {"topic": "moved"}})
h = ok("GET", f"/memories/{mid}/history")
assert [e["event"] for e in h] == ["ADD", "UPDATE", "UPDATE"], h
assert h[1]["old_memory"] == "Lives in Lisbon" and h[1]["new_memory"] == "Lives in Porto", h
metrics_before = request("GET", "/metrics")[1]
assert 'route="/search"' in metrics_before and "memlayer_engine_duration_seconds" in metrics_before
assert 'op="add",stage="store"' in metrics_before and 'op="search",stage="embed"' in metrics_before, metrics_before

# Bad inputs: each a clear 4xx with our code, nothing changed.
before = (count("alice"), count("bob"))
bad("POST", "/memories", raw="{not json", code="bad_json")
bad("POST", "/memories", raw="[1, 2]", code="bad_json")
bad("POST", "/memories", {"user_id": "alice"}, code="validation")
bad("POST", "/memories", {"messages": "x", "user_id": "alice", "colour": "red"}, code="unknown_field")
bad("POST", "/memories", {"messages": [{"role": "robot", "content": "hi"}], "user_id": "alice"}, code="validation")
bad("POST", "/memories", {"messages": "x"}, code="validation")  # no scope
bad("POST", "/memories", {"messages": "x", "user_id": "a b"}, code="validation")
bad("POST", "/memories", {"messages": "x" * 70000, "user_id": "alice", "infer": False},
    status=413, code="payload_too_large")
bad("POST", "/search", {"user_id": "alice"}, code="validation")
bad("POST", "/search", {"query": "x", "user_id": "alice", "limit": 0}, code="validation")
bad("POST", "/search", {"query": "x", "user_id": "alice", "filters": {"topic": {"regex": "."}}}, code="validation")
bad("POST", "/search", {"query": "x", "user_id": "alice", "filters": {"user_id": "bob"}},
    status=403, code="scope_conflict")
bad("GET", "/memories?user_id=alice&filters=" + urllib.parse.quote('{"AND": [{"user_id": "bob"}]}'),
    status=403, code="scope_conflict")
bad("GET", "/memories?user_id=alice&limit=lots", code="validation")
bad("GET", "/memories?user_id=alice&colour=red", code="unknown_field")
bad("GET", "/memories", code="validation")  # no scope
bad("GET", "/memories/not-a-uuid", code="validation")
bad("GET", "/memories/01900000-0000-7000-8000-000000000000", status=404, code="not_found")
bad("PUT", f"/memories/{mid}", {}, code="validation")
bad("PUT", f"/memories/{mid}", {"text": "a", "data": "b"}, code="validation")
bad("DELETE", "/memories/01900000-0000-7000-8000-000000000000", status=404, code="not_found")
bad("DELETE", "/memories", code="validation")  # delete_all needs a scope
bad("GET", "/nowhere", status=404, code="not_found_route")
bad("PATCH", "/search", status=405, code="method_not_allowed")
# API key: missing, wrong, wrong scheme; /health stays open.
bad("GET", "/memories?user_id=alice", status=401, code="unauthorized", key=None)
bad("POST", "/search", {"query": "x", "user_id": "alice"}, status=401, code="unauthorized", key="wrong-key-0123456789")
bad("GET", "/metrics", status=401, code="unauthorized", key=None,
    headers={"Authorization": f"Basic {KEY}"})
bad("POST", "/reset", status=401, code="unauthorized", key=None)
s, _ = request("GET", "/health", key=None)
assert s == 200
after = (count("alice"), count("bob"))
assert before == after, f"bad requests changed the store: {before} -> {after}"
assert ok("GET", f"/memories/{mid}")["memory"] == "Lives in Porto"

# Deletes.
ok("DELETE", f"/memories/{mid}")
bad("GET", f"/memories/{mid}", status=404, code="not_found")
r = ok("DELETE", "/memories?user_id=alice")
assert r["deleted"] == 1, r
assert count("alice") == 0 and count("bob") == 1
ok("POST", "/reset")
assert count("bob") == 0
print(json.dumps({"done": True}))
