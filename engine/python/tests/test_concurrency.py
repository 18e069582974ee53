"""Threads, asyncio and a second process on one database."""

import asyncio
import subprocess
import threading
import time

import memlayer
import pytest


def test_threads_share_one_memory(mem):
    errors = []

    def worker(t):
        try:
            for i in range(15):
                mem.add(f"thread {t} fact {i}", user_id=f"u{t % 4}", infer=False)
                mem.search(f"fact {i}", user_id=f"u{t % 4}", limit=3)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert mem.count() == 8 * 15
    for u in range(4):
        assert len(mem.get_all(user_id=f"u{u}", limit=1000)["results"]) == 2 * 15
    assert mem.verify()["ok"]


def test_the_gil_is_released_during_engine_work(mem):
    """While one thread runs a long call (2,000 embeddings), the main thread
    keeps running: its longest pause is far shorter than the call."""
    items = [{"text": f"imported sentence number {i} about topic {i % 17}", "user_id": "a"} for i in range(2000)]
    done = {}

    def bulk():
        t0 = time.perf_counter()
        mem.add_many(items)
        done["took"] = time.perf_counter() - t0

    t = threading.Thread(target=bulk)
    last = time.perf_counter()
    longest = 0.0
    t.start()
    while t.is_alive():
        now = time.perf_counter()
        longest = max(longest, now - last)
        last = now
    t.join()
    assert mem.count() == 2000
    assert longest < done["took"] / 2, (longest, done["took"])


def test_asyncio_runs_calls_concurrently(db):
    async def main():
        async with memlayer.AsyncMemory(db) as m:
            adds = [m.add(f"async fact {i}", user_id="a", infer=False) for i in range(20)]
            results = await asyncio.gather(*adds)
            assert all(r["results"][0]["event"] == "ADD" for r in results)
            hits = await asyncio.gather(*[m.search(f"fact {i}", user_id="a", limit=1) for i in range(5)])
            assert all(h["results"] for h in hits)
            page = await m.get_all(user_id="a", limit=100)
            assert len(page["results"]) == 20
            one = page["results"][0]["id"]
            await m.update(one, "changed")
            assert (await m.get(one))["memory"] == "changed"
            assert [e["event"] for e in await m.history(one)] == ["ADD", "UPDATE"]
            await m.delete(one)
            assert (await m.delete_all(user_id="a"))["deleted"] == 19
            await m.reset()
            assert await m.count() == 0

    asyncio.run(main())


OPEN = "import memlayer, sys; m = memlayer.Memory(sys.argv[1], lock_timeout=float(sys.argv[2])); print(m.count())"


def test_a_second_process_gets_a_clear_locked_error(mem, db, python):
    mem.add("held", user_id="a", infer=False)
    script = (
        "import memlayer, sys\n"
        "try:\n"
        "    memlayer.Memory(sys.argv[1])\n"
        "except memlayer.LockedError as e:\n"
        "    print(e.code, '|', e, '|', e.suggestion)\n"
    )
    out = subprocess.run([python, "-c", script, db], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    code, message, suggestion = (s.strip() for s in out.stdout.split("|"))
    assert code == "locked" and db in message and suggestion


def test_a_second_process_waits_for_the_lock(db, python):
    first = memlayer.Memory(db)
    first.add("from the first process", user_id="a", infer=False)
    waiter = subprocess.Popen([python, "-c", OPEN, db, "60"], stdout=subprocess.PIPE, text=True)
    time.sleep(1.5)
    assert waiter.poll() is None, "the second process should still be waiting"
    first.close()
    out, _ = waiter.communicate(timeout=120)
    assert waiter.returncode == 0 and out.strip() == "1"


@pytest.mark.parametrize("timeout", [-1, float("nan"), 1e300])
def test_a_bad_lock_timeout_is_rejected(db, timeout):
    with pytest.raises(memlayer.ValidationError, match="lock_timeout"):
        memlayer.Memory(db, lock_timeout=timeout)
