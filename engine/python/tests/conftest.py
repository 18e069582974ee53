"""Shared fixtures: a fresh database per test on the real local models.

The models come from the memlayer model cache (``scripts/fetch-models``):
all-MiniLM-L6-v2 for embeddings and, where a test infers, SmolLM2-135M (the
fast test model) instead of the default chat model.
"""

import os
import sys

import pytest

import memlayer

SMOLLM2 = {"chat": {"cached": "smollm2"}}


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "m.redb")


@pytest.fixture
def mem(db):
    m = memlayer.Memory(db, SMOLLM2)
    yield m
    m.close()


@pytest.fixture
def python():
    return sys.executable


def pytest_report_header(config):
    return f"memlayer {memlayer.__version__} from {os.path.dirname(memlayer.__file__)}"
