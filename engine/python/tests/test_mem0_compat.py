"""The Mem0 quickstart script runs unchanged (but for its import) on the real models."""

import os
import subprocess


def test_mem0_quickstart_runs_with_only_the_import_changed(tmp_path, python):
    script = os.path.join(os.path.dirname(__file__), "mem0_compat.py")
    with open(script) as f:
        assert "from memlayer import Memory" in f.read()
    env = dict(os.environ, MEMLAYER_DB=str(tmp_path / "compat.redb"), MEMLAYER_CHAT="smollm2")
    out = subprocess.run([python, script], env=env, capture_output=True, text=True, timeout=600)
    print(out.stdout)
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(":", 1) for line in out.stdout.splitlines() if ":" in line)
    assert "'event': 'ADD'" in lines["add"]
    assert lines["get"].strip()
    assert "Memory updated successfully!" in lines["update"]
    assert "('UPDATE'" in lines["history"] and "Alex is vegan" in lines["history"]
    assert "Memories deleted successfully!" in lines["delete_all"]
    assert lines["after"].strip() == "[]"
