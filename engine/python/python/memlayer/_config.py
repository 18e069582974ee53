"""Mem0-style and memlayer configuration dicts → what the engine opens.

``Memory.from_config`` takes either memlayer's own configuration (the
``MemoryConfig`` fields: ``embedder``, ``chat``, ``llm``, ``index``,
``search``, ``prompts``, ``reconcile``, ``durability``, ``graph``,
``graph_options``) or a Mem0 configuration dict, whose keys are mapped as
far as they mean something for an offline engine:

* ``vector_store.config.path`` → the database file (``*.redb``) or the
  directory that holds ``memories.redb``; the provider is ignored (memlayer
  has its own index in the same file);
* ``llm.config.model`` → a local GGUF chat model: a ``.gguf`` path or an
  installed alias (``qwen``, ``qwen1.5b``, ``smollm2``, ``gemma3``);
  ``temperature`` and ``max_tokens`` carry over;
* ``embedder.config.model`` → a local sentence-transformers directory or an
  alias (``minilm``, also ``sentence-transformers/all-MiniLM-L6-v2``);
* ``graph_store`` (any provider) → graph memory on;
* ``custom_fact_extraction_prompt`` / ``custom_update_memory_prompt`` /
  ``custom_instructions`` → memlayer's prompts;
* ``version``, ``history_db_path`` and ``reranker`` are accepted and
  ignored (history lives in the same file).

Anything else is a :class:`memlayer.ValidationError` naming the key.
Pure functions; no I/O except ``os.path`` checks and the environment.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Tuple

from .errors import ValidationError

OWN_KEYS = frozenset(
    ["embedder", "chat", "llm", "index", "search", "prompts", "reconcile", "durability", "graph", "graph_options"]
)
IGNORED_MEM0_KEYS = frozenset(["version", "history_db_path", "reranker", "rerank"])
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
            if model:
                out["embedder"] = _embedder_source(str(model))
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
