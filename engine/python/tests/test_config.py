"""Memory.from_config with memlayer and Mem0 configuration dicts."""

import os

import memlayer
import pytest
from memlayer import ValidationError
from memlayer._config import translate


def test_mem0_config_maps_to_local_models(tmp_path):
    path, cfg, timeout = translate(
        {
            "version": "v1.1",
            "vector_store": {
                "provider": "qdrant",
                "config": {"path": str(tmp_path / "qdrant"), "collection_name": "mem0", "embedding_model_dims": 384},
            },
            "llm": {"provider": "llama_cpp", "config": {"model": "smollm2", "temperature": 0.1, "max_tokens": 300}},
            "embedder": {"provider": "huggingface", "config": {"model": "sentence-transformers/all-MiniLM-L6-v2"}},
            "graph_store": {"provider": "neo4j", "config": {}},
            "custom_fact_extraction_prompt": "Extract facts.",
            "lock_timeout": 2,
        }
    )
    assert path == str(tmp_path / "qdrant" / "memories.redb")
    assert cfg == {
        "chat": {"cached": "smollm2"},
        "llm": {"temperature": 0.1, "max_tokens": 300},
        "embedder": {"cached": "minilm"},
        "graph": True,
        "prompts": {"fact_extraction": "Extract facts."},
    }
    assert timeout == 2.0


def test_from_config_opens_the_mapped_file(tmp_path):
    m = memlayer.Memory.from_config(
        {
            "vector_store": {"provider": "chroma", "config": {"path": str(tmp_path / "store.redb")}},
            "llm": {"provider": "llama_cpp", "config": {"model": "smollm2"}},
            "search": {"limit": 3},
        }
    )
    try:
        assert m.path == str(tmp_path / "store.redb")
        for i in range(5):
            m.add(f"fact {i}", user_id="a", infer=False)
        assert len(m.search("fact", user_id="a")["results"]) == 3
    finally:
        m.close()
    assert os.path.exists(tmp_path / "store.redb")


@pytest.mark.parametrize(
    "config, match",
    [
        ({"llm": {"provider": "openai", "config": {"model": "gpt-4o-mini"}}}, "not a local model"),
        ({"embedder": {"provider": "openai", "config": {"model": "text-embedding-3-small"}}}, "not a local model"),
        ({"vector_stor": {}}, "unknown config key 'vector_stor'"),
        ({"history_db_path": "/h.db"}, "'history_db_path': memlayer keeps history in the database file"),
        ({"reranker": {"provider": "cohere"}}, "'reranker'"),
        ({"vector_store": {"provider": "qdrant", "config": {"host": "localhost", "port": 6333}}}, "'host'"),
        ({"llm": {"provider": "openai", "config": {"model": "smollm2", "api_key": "sk-x"}}}, "'api_key'"),
        ({"embedder": {"provider": "huggingface", "config": {"embedding_dims": 768}}}, "384"),
        ({"search": {"limitt": 3}}, "limitt"),
        ({"search": {"semantic_weight": 7}}, "semantic_weight"),
        ({"llm": {"provider": "llama_cpp", "config": {}, "extra": 1}}, "unknown keys"),
        ("not a dict", "must be a dict"),
    ],
)
def test_bad_configs_are_validation_errors(tmp_path, config, match):
    with pytest.raises(ValidationError, match=match):
        memlayer.Memory(str(tmp_path / "m.redb"), config)


def test_env_names_the_models_and_default_path(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMLAYER_DB", str(tmp_path / "env.redb"))
    monkeypatch.setenv("MEMLAYER_CHAT", "smollm2")
    with memlayer.Memory() as m:
        assert m.path == str(tmp_path / "env.redb")
    monkeypatch.setenv("MEMLAYER_CHAT", "gpt-4o")
    with pytest.raises(ValidationError, match="gpt-4o"):
        memlayer.Memory()


def test_the_package_ships_type_stubs():
    pkg = os.path.dirname(memlayer.__file__)
    assert os.path.exists(os.path.join(pkg, "_native.pyi"))
    assert os.path.exists(os.path.join(pkg, "py.typed"))
    assert memlayer.Memory.search.__doc__ and memlayer.AsyncMemory.add.__doc__
