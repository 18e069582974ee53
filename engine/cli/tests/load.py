"""Load on loopback against `memlayer serve`: N concurrent clients send a mix
of add (infer=false), search, get, update and delete; every acknowledged
add is recorded, then checked to be present. Run by tests/serve.rs.

  python load.py run URL --clients 16 --requests 5000 --acked FILE [--no-deletes] [--until-down]
  python load.py verify URL --acked FILE

`run` prints {"requests", "seconds", "rps", "errors", "routes": {route: {n, p50, p95, p99}}};
with --until-down, connection failures (a killed server) end the run
instead of counting as errors. `verify` prints {"acked", "deleted", "lost"}.
"""

import argparse
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse


class Conn:
    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port
        self.c = None

    def call(self, method, path, body=None):
        if self.c is None:
            self.c = http.client.HTTPConnection(self.host, self.port, timeout=60)
        data = json.dumps(body) if body is not None else None
        try:
            self.c.request(method, path, body=data, headers={"Content-Type": "application/json"})
            r = self.c.getresponse()
            text = r.read()
        except Exception:
            self.c.close()
            self.c = None
            raise
        return r.status, json.loads(text) if text else None


def pct(xs, p):
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(p / 100 * len(xs)))] * 1e3, 2) if xs else None


def run(a):
    lock = threading.Lock()
    lat = {}
    errors = []
    done = [0]
    down = threading.Event()
    acked = open(a.acked, "a", buffering=1)

    def client(i):
        rnd = random.Random(i)
        conn = Conn(a.url)
        user = f"load-{i % 4}"
        mine = []
        share = a.requests // a.clients + (1 if i < a.requests % a.clients else 0)
        for n in range(share):
            if down.is_set():
                return
            x = rnd.random()
            if x < 0.4 or not mine:
                route, method, path = "add", "POST", "/memories"
                body = {"messages": f"Client {i} fact {n}: likes item {rnd.randrange(10**6)}",
                        "user_id": user, "infer": False, "metadata": {"client": i, "n": n}}
            elif x < 0.7:
                route, method, path = "search", "POST", "/search"
                body = {"query": f"item {rnd.randrange(1000)}", "user_id": user, "limit": 10}
            elif x < 0.85:
                route, method, path, body = "get", "GET", f"/memories/{rnd.choice(mine)}", None
            elif x < 0.95 or a.no_deletes:
                route, method = "update", "PUT"
                path, body = f"/memories/{rnd.choice(mine)}", {"metadata": {"touched": n}}
            else:
                mid = mine.pop(rnd.randrange(len(mine)))
                acked.write(f"D {mid}\n")  # before sending: a delete in flight may apply
                route, method, path, body = "delete", "DELETE", f"/memories/{mid}", None
            t = time.perf_counter()
            try:
                status, v = conn.call(method, path, body)
            except Exception as e:
                if a.until_down:
                    down.set()
                    return
                with lock:
                    errors.append(f"{route}: {e!r}")
                continue
            took = time.perf_counter() - t
            with lock:
                lat.setdefault(route, []).append(took)
                done[0] += 1
                if status != 200:
                    errors.append(f"{route} {path}: {status} {v}")
            if status == 200 and route == "add":
                mid = v["results"][0]["id"]
                mine.append(mid)
                acked.write(f"A {mid}\n")

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(a.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.perf_counter() - start
    acked.close()
    out = {
        "requests": done[0], "seconds": round(secs, 2), "rps": round(done[0] / secs, 1),
        "errors": len(errors), "error_samples": errors[:5], "server_went_down": down.is_set(),
        "routes": {r: {"n": len(x), "p50_ms": pct(x, 50), "p95_ms": pct(x, 95), "p99_ms": pct(x, 99)}
                   for r, x in sorted(lat.items())},
    }
    print(json.dumps(out))
    return 0 if not errors else 1


def verify(a):
    adds, deletes = [], set()
    for line in open(a.acked):
        kind, mid = line.split()
        (adds.append(mid) if kind == "A" else deletes.add(mid))
    conn = Conn(a.url)
    lost = [m for m in adds if m not in deletes and conn.call("GET", f"/memories/{m}")[0] != 200]
    print(json.dumps({"acked": len(adds), "deleted": len(deletes), "lost": len(lost), "lost_ids": lost[:5]}))
    return 0 if not lost else 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["run", "verify"])
    p.add_argument("url")
    p.add_argument("--acked", required=True)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--requests", type=int, default=5000)
    p.add_argument("--no-deletes", action="store_true")
    p.add_argument("--until-down", action="store_true")
    a = p.parse_args()
    sys.exit(run(a) if a.mode == "run" else verify(a))


if __name__ == "__main__":
    main()
