"""Mem0-style and memlayer configuration dicts → what the engine opens.

``Memory.from_config`` takes either memlayer's own configuration (the
``MemoryConfig`` fields: ``embedder``, ``chat``, ``llm``, ``index``,
``search``, ``prompts``, ``reconcile``, ``durability``, ``graph``,
``graph_options``) or a Mem0 configuration dict, whose keys are mapped as
far as they mean something for an offline engine:

* ``vector_store.config.path`` → the database file (``*.redb``) or the
  directory that holds ``memories.redb``; the provider, ``collection_name``,
  ``embedding_model_dims`` and ``on_disk`` are accepted and ignored (memlayer
  has its own index in the same file);
* ``llm.config.model`` (or ``model_path``) → a local GGUF chat model: a
  ``.gguf`` path or an installed alias (``qwen``, ``qwen1.5b``, ``smollm2``,
  ``gemma3``); ``temperature`` and ``max_tokens`` carry over;
* ``embedder.config.model`` → a local sentence-transformers directory or an
  alias (``minilm``, also ``sentence-transformers/all-MiniLM-L6-v2``);
  ``embedding_dims`` is accepted if it matches (384 for MiniLM);
* ``graph_store`` (any provider; its connection settings are not used, the
  graph lives in the same file) → graph memory on;
* ``custom_fact_extraction_prompt`` / ``custom_update_memory_prompt`` /
  ``custom_instructions`` → memlayer's prompts;
* ``version`` (the config format's version) is accepted and ignored.

Anything else — a remote store's ``host``/``url``/``api_key``, a hosted
model's ``api_key``/``*_base_url``, ``history_db_path`` (history lives in
the database file), ``reranker`` — is a :class:`memlayer.ValidationError`
naming the key and saying why.
Pure functions; no I/O except ``os.path`` checks and the environment.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Tuple

from .errors import ValidationError

OWN_KEYS = frozenset(
    ["embedder", "chat", "llm", "index", "search", "prompts", "reconcile", "durability", "graph", "graph_options"]
)
IGNORED_MEM0_KEYS = frozenset(["version"])
# Why a Mem0 key means nothing offline (rejected with this reason).
REJECTED_MEM0_KEYS = {
    "history_db_path": "memlayer keeps history in the database file itself; remove history_db_path",
    "reranker": "memlayer has no external reranker; remove reranker (to rerank with the local chat model, set search.rerank = true)",
    "rerank": "memlayer has no external reranker; remove rerank (to rerank with the local chat model, set search.rerank = true)",
}
# The keys of each Mem0 section's ``config`` that mean something offline;
# ``None`` = accepted and ignored.
SECTION_KEYS = {
    "vector_store": {"path", "collection_name", "embedding_model_dims", "on_disk"},
    "llm": {"model", "model_path", "temperature", "max_tokens"},
    "embedder": {"model", "embedding_dims"},
}
CHAT_ALIASES = frozenset(["qwen", "qwen1.5b", "smollm2", "gemma3"])
EMBEDDER_ALIASES = {
    "minilm": "minilm",
    "all-minilm-l6-v2": "minilm",
    "sentence-transformers/all-minilm-l6-v2": "minilm",
}


def default_path() -> str:
    """``$MEMLAYER_DB``, else ``$XDG_DATA_HOME/memlayer/memories.redb``, else
    ``~/.local/share/memlayer/memories.redb`` (the CLI's default too)."""
    env = os.environ.get("MEMLAYER_DB")
    if env:
        return env
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, "memlayer", "memories.redb")


def default_lock_timeout() -> float:
    """``$MEMLAYER_LOCK_TIMEOUT`` seconds, else 0 (fail at once with ``LockedError``)."""
    raw = os.environ.get("MEMLAYER_LOCK_TIMEOUT")
    if not raw:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        raise ValidationError(f"MEMLAYER_LOCK_TIMEOUT must be a number of seconds, not {raw!r}") from None
    if value < 0:
        raise ValidationError(f"MEMLAYER_LOCK_TIMEOUT must be >= 0, not {raw!r}")
    return value


def _section(config: Dict[str, Any], key: str) -> Tuple[Optional[str], Dict[str, Any]]:
    """A Mem0 ``{"provider": ..., "config": {...}}`` section."""
    sec = config[key]
    if not isinstance(sec, dict):
        raise ValidationError(f"config[{key!r}] must be a dict")
    inner = sec.get("config") or {}
    if not isinstance(inner, dict):
        raise ValidationError(f"config[{key!r}]['config'] must be a dict")
    unknown = set(sec) - {"provider", "config"}
    if unknown:
        raise ValidationError(f"config[{key!r}] has unknown keys {sorted(unknown)}; expected provider and config")
    allowed = SECTION_KEYS.get(key)
    if allowed is not None:
        extra = sorted(set(inner) - allowed)
        if extra:
            raise ValidationError(
                f"config[{key!r}]['config'][{extra[0]!r}] means nothing to memlayer, which runs offline "
                f"in one file with local models; {key} takes {sorted(allowed)}"
            )
    return sec.get("provider"), inner


def _chat_source(model: str) -> Dict[str, str]:
    if model in CHAT_ALIASES:
        return {"cached": model}
    if model.endswith(".gguf") or os.path.isfile(model):
        return {"path": model}
    raise ValidationError(
        f"llm.config.model {model!r} is not a local model: memlayer runs GGUF chat models in-process; "
        f"give a .gguf path or one of {sorted(CHAT_ALIASES)} (installed by scripts/fetch-models)"
    )


def _embedder_source(model: str) -> Dict[str, str]:
    alias = EMBEDDER_ALIASES.get(model.lower())
    if alias:
        return {"cached": alias}
    if os.path.isdir(model):
        return {"path": model}
    raise ValidationError(
        f"embedder.config.model {model!r} is not a local model: give a sentence-transformers directory "
        f"(config.json, model.safetensors, tokenizer.json) or one of {sorted(EMBEDDER_ALIASES)}"
    )


def env_models(config: Dict[str, Any]) -> Dict[str, Any]:
    """``$MEMLAYER_CHAT`` / ``$MEMLAYER_EMBEDDER`` (an alias or a path) for
    the chat model / embedder that the configuration does not name, so a
    script written for Mem0 picks local models without code changes."""
    out = dict(config)
    chat = os.environ.get("MEMLAYER_CHAT")
    if chat and "chat" not in out:
        out["chat"] = _chat_source(chat)
    emb = os.environ.get("MEMLAYER_EMBEDDER")
    if emb and "embedder" not in out:
        out["embedder"] = _embedder_source(emb)
    return out


def _db_path(p: str) -> str:
    p = os.path.expanduser(p)
    if p.endswith(".redb"):
        return p
    return os.path.join(p, "memories.redb")


def translate(config: Optional[Dict[str, Any]]) -> Tuple[Optional[str], Dict[str, Any], Optional[float]]:
    """``(path or None, memlayer config dict, lock_timeout or None)`` from a
    memlayer or Mem0 configuration dict."""
    if config is None:
        return None, {}, None
    if not isinstance(config, dict):
        raise ValidationError(f"config must be a dict, not {type(config).__name__}")
    out: Dict[str, Any] = {}
    path: Optional[str] = None
    lock_timeout: Optional[float] = None
    for key, value in config.items():
        if key == "path":
            if not isinstance(value, (str, os.PathLike)):
                raise ValidationError("config['path'] must be a file path")
            path = os.fspath(value)
        elif key == "lock_timeout":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValidationError("config['lock_timeout'] must be a number of seconds")
            lock_timeout = float(value)
        elif key in IGNORED_MEM0_KEYS:
            continue
        elif key in REJECTED_MEM0_KEYS:
            raise ValidationError(f"config key {key!r}: {REJECTED_MEM0_KEYS[key]}")
        elif key == "vector_store":
            _, inner = _section(config, key)
            if inner.get("path") and path is None:
                path = _db_path(str(inner["path"]))
        elif key == "graph_store":
            out["graph"] = True
        elif key == "custom_fact_extraction_prompt":
            out.setdefault("prompts", {})["fact_extraction"] = value
        elif key == "custom_update_memory_prompt":
            out.setdefault("prompts", {})["update_memory"] = value
        elif key == "custom_instructions":
            out.setdefault("prompts", {})["custom_instructions"] = value
        elif key == "llm" and isinstance(value, dict) and "provider" in value:
            _, inner = _section(config, key)
            model = inner.get("model") or inner.get("model_path")
            if model:
                out["chat"] = _chat_source(str(model))
            llm = out.setdefault("llm", {})
            for k in ("temperature", "max_tokens"):
                if inner.get(k) is not None:
                    llm[k] = inner[k]
        elif key == "embedder" and isinstance(value, dict) and "provider" in value:
            _, inner = _section(config, key)
            model = inner.get("model")
            source = _embedder_source(str(model)) if model else {"cached": "minilm"}
            if model:
                out["embedder"] = source
            dims = inner.get("embedding_dims")
            if dims is not None and source == {"cached": "minilm"} and dims != 384:
                raise ValidationError(f"embedder.config.embedding_dims is {dims!r} but all-MiniLM-L6-v2 gives 384")
        elif key in OWN_KEYS:
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key].update(value)
            else:
                out[key] = value
        else:
            raise ValidationError(
                f"unknown config key {key!r}: memlayer takes {sorted(OWN_KEYS | {'path', 'lock_timeout'})} "
                f"or Mem0's vector_store, llm, embedder, graph_store, custom_*_prompt"
            )
    return path, out, lock_timeout
