"""``memlayer.Memory``: Mem0's ``Memory`` API on the embedded engine."""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Union

from . import _native
from ._config import default_lock_timeout, default_path, env_models, translate
from .errors import ValidationError

Messages = Union[str, Dict[str, Any], List[Dict[str, Any]]]
SCOPE_KEYS = ("user_id", "agent_id", "run_id")


def _drop_none(d: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _check(name: str, value: Any, types: Any, what: str) -> None:
    """A keyword argument of the wrong type is a ValidationError naming it."""
    if value is None:
        return
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise ValidationError(f"{name} must be {what}, not a bool")
    if not isinstance(value, types):
        raise ValidationError(f"{name} must be {what}, not {type(value).__name__}")


def _count(name: str, value: Optional[int]) -> None:
    _check(name, value, int, "a whole number >= 1")
    if value is not None and value < 1:
        raise ValidationError(f"{name} must be a whole number >= 1, not {value}")


def _limit(limit: Optional[int], top_k: Optional[int]) -> Optional[int]:
    """``limit``, or Mem0 2.x's name for it, ``top_k``."""
    if limit is not None and top_k is not None and limit != top_k:
        raise ValidationError("give limit or top_k (the same thing), not both")
    _count("limit", limit)
    _count("top_k", top_k)
    return limit if limit is not None else top_k


def _ids(user_id: Any, agent_id: Any, run_id: Any) -> None:
    for name, value in (("user_id", user_id), ("agent_id", agent_id), ("run_id", run_id)):
        _check(name, value, str, "a string")


def _scope(
    user_id: Optional[str],
    agent_id: Optional[str],
    run_id: Optional[str],
    filters: Optional[Dict[str, Any]],
) -> Dict[str, Any]:
    """The scope ids and the remaining filters of a read.

    Mem0 2.x puts the ids inside ``filters`` (``filters={"user_id": "alice"}``);
    Mem0 1.x passes them as keyword arguments. Both work: a top-level string
    id in ``filters`` becomes the scope, and an id given both ways must agree.
    """
    _ids(user_id, agent_id, run_id)
    scope = {"user_id": user_id, "agent_id": agent_id, "run_id": run_id}
    rest: Optional[Dict[str, Any]] = None
    if filters is not None:
        if not isinstance(filters, dict):
            raise ValidationError(f"filters must be a dict, not {type(filters).__name__}")
        rest = dict(filters)
        for key in SCOPE_KEYS:
            value = rest.get(key)
            if isinstance(value, str):
                del rest[key]
                if scope[key] is not None and scope[key] != value:
                    raise ValidationError(
                        f"filters ask for {key} {value!r} but the call is scoped to {key} {scope[key]!r}",
                        "validation",
                        "give the id once, as a keyword argument or in filters",
                    )
                scope[key] = value
    out = _drop_none(scope)
    if rest:
        out["filters"] = rest
    return out


class Memory:
    """A long-term memory in one local database file, with Mem0's methods.

    ``Memory()`` opens the default file (``$MEMLAYER_DB``, else
    ``~/.local/share/memlayer/memories.redb``) with the default local models
    (``$MEMLAYER_CHAT`` / ``$MEMLAYER_EMBEDDER`` name others: an alias such
    as ``smollm2`` or a path);
    ``Memory(path)`` another file; ``Memory.from_config(dict)`` takes a
    memlayer or a Mem0 configuration dict (see ``memlayer._config``).

    Every call runs with the GIL released, so threads share one ``Memory``
    and run in parallel. One process at a time may open a file: another
    gets :class:`memlayer.LockedError` after ``lock_timeout`` seconds
    (default ``$MEMLAYER_LOCK_TIMEOUT``, else 0). Use ``close()`` or a
    ``with`` block to release the file.

    >>> m = Memory("/tmp/demo.redb")                                  # doctest: +SKIP
    >>> m.add("I live in Lisbon and I'm vegetarian", user_id="alice")  # doctest: +SKIP
    {'results': [{'id': '...', 'memory': 'Lives in Lisbon', 'event': 'ADD'}, ...]}
    >>> m.search("where does she live?", user_id="alice", limit=1)     # doctest: +SKIP
    {'results': [{'id': '...', 'memory': 'Lives in Lisbon', 'score': 0.71, ...}]}
    """

    def __init__(
        self,
        path: Optional[Union[str, "os.PathLike[str]"]] = None,
        config: Optional[Dict[str, Any]] = None,
        *,
        lock_timeout: Optional[float] = None,
    ) -> None:
        cfg_path, engine_config, cfg_timeout = translate(config)
        chosen = os.fspath(path) if path is not None else (cfg_path or default_path())
        parent = os.path.dirname(os.path.abspath(chosen))
        os.makedirs(parent, exist_ok=True)
        timeout = lock_timeout if lock_timeout is not None else cfg_timeout
        if timeout is None:
            timeout = default_lock_timeout()
        self._native = _native.Memory(chosen, env_models(engine_config), float(timeout))

    @classmethod
    def from_config(cls, config_dict: Dict[str, Any]) -> "Memory":
        """Opens a memory from a configuration dict (memlayer's keys, or Mem0's
        ``vector_store`` / ``llm`` / ``embedder`` / ``graph_store`` / ``custom_*_prompt``)."""
        return cls(config=config_dict)

    @property
    def path(self) -> str:
        """The database file."""
        return self._native.path

    def add(
        self,
        messages: Messages,
        *,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        run_id: Optional[str] = None,
        metadata: Optional[Dict[str, Any]] = None,
        infer: bool = True,
        memory_type: Optional[str] = None,
        prompt: Optional[str] = None,
        timestamp: Optional[Union[int, float, str]] = None,
        expiration_date: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Remembers what ``messages`` say about a user, agent or run.

        ``messages`` is a string, a ``{"role", "content"}`` dict or a list of
        them. With ``infer=True`` the local chat model extracts facts and
        reconciles them with what is remembered (ADD / UPDATE / DELETE /
        NONE); with ``infer=False`` each message is stored as it is.
        ``memory_type="procedural_memory"`` stores an agent's summary of the run.
        ``timestamp`` (Unix seconds or RFC 3339) is the memories' ``created_at``.

        Returns ``{"results": [{"id", "memory", "event", ...}], "relations": {...}}``
        (``relations`` only with graph memory on).
        """
        _ids(user_id, agent_id, run_id)
        _check("metadata", metadata, dict, "a dict")
        _check("infer", infer, bool, "True or False")
        _check("memory_type", memory_type, str, "a string")
        _check("prompt", prompt, str, "a string")
        _check("timestamp", timestamp, (int, float, str), "Unix seconds or an RFC 3339 string")
        _check("expiration_date", expiration_date, str, "a date string")
        options = _drop_none(
            {
                "user_id": user_id,
                "agent_id": agent_id,
                "run_id": run_id,
                "metadata": metadata,
                "infer": infer,
                "memory_type": memory_type,
                "prompt": prompt,
                "timestamp": timestamp,
                "expiration_date": expiration_date,
            }
        )
        return self._native.add(messages, options)

    def add_many(self, items: List[Dict[str, Any]]) -> Dict[str, Any]:
        """Stores many raw memories (no LLM) in bounded write batches.

        Each item: ``{"text", "user_id"/"agent_id"/"run_id", "metadata"?,
        "role"?, "actor_id"?, "timestamp"?, "expiration_date"?}``. Every item
        is validated before anything is written. Returns ``{"ids", "skipped", "commits"}``.
        """
        return self._native.add_many(items)

    def search(
        self,
        query: str,
        *,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        run_id: Optional[str] = None,
        limit: Optional[int] = None,
        top_k: Optional[int] = None,
        filters: Optional[Dict[str, Any]] = None,
        threshold: Optional[float] = None,
        rerank: bool = True,
        include_superseded: bool = False,
        explain: bool = False,
    ) -> Dict[str, Any]:
        """The memories that best answer ``query`` (semantic + keyword ranking).

        The scope comes from ``user_id``/``agent_id``/``run_id`` or, as in
        Mem0 2.x, from ``filters`` (``{"user_id": "alice", "city": "Lisbon"}``;
        ``AND``/``OR``/``NOT`` and ``eq ne gt gte lt lte in nin contains`` work).
        ``top_k`` is Mem0 2.x's name for ``limit``. Superseded memories (a
        changed fact's old value) are hidden unless ``include_superseded``.

        Returns ``{"results": [{"id", "memory", "score", "metadata", ...}], "relations": [...]}``.
        """
        n = _limit(limit, top_k)
        _check("threshold", threshold, (int, float), "a number")
        options = _scope(user_id, agent_id, run_id, filters)
        options.update(_drop_none({"limit": n, "threshold": threshold}))
        if not rerank:
            options["no_rerank"] = True
        if include_superseded:
            options["include_superseded"] = True
        if explain:
            options["explain"] = True
        return self._native.search(query, options)

    def get(self, memory_id: str) -> Optional[Dict[str, Any]]:
        """One memory by id, or ``None``."""
        return self._native.get(memory_id)

    def get_all(
        self,
        *,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        run_id: Optional[str] = None,
        filters: Optional[Dict[str, Any]] = None,
        limit: Optional[int] = None,
        top_k: Optional[int] = None,
        cursor: Optional[str] = None,
        include_superseded: bool = False,
    ) -> Dict[str, Any]:
        """A scope's memories, newest first: ``{"results": [...], "next_cursor": ...}``.

        Pass ``next_cursor`` back as ``cursor`` for the next page.
        """
        n = _limit(limit, top_k)
        _check("cursor", cursor, str, "a string (a next_cursor)")
        options = _scope(user_id, agent_id, run_id, filters)
        options.update(_drop_none({"limit": n, "cursor": cursor}))
        if include_superseded:
            options["include_superseded"] = True
        return self._native.get_all(options)

    def update(
        self,
        memory_id: str,
        data: Optional[str] = None,
        *,
        metadata: Optional[Dict[str, Any]] = None,
    ) -> Dict[str, Any]:
        """Replaces a memory's text (``data``) and/or merges ``metadata``.

        Returns ``{"message": "Memory updated successfully!", "result": <memory>}``.
        """
        _check("data", data, str, "a string")
        _check("metadata", metadata, dict, "a dict")
        item = self._native.update(memory_id, _drop_none({"text": data, "metadata": metadata}))
        return {"message": "Memory updated successfully!", "result": item}

    def delete(self, memory_id: str) -> Dict[str, str]:
        """Deletes one memory (its history keeps a DELETE event)."""
        self._native.delete(memory_id)
        return {"message": "Memory deleted successfully!"}

    def delete_all(
        self,
        *,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        run_id: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Deletes every memory of a scope (at least one id is required;
        ``reset()`` deletes everything)."""
        _ids(user_id, agent_id, run_id)
        report = self._native.delete_all(_drop_none({"user_id": user_id, "agent_id": agent_id, "run_id": run_id}))
        return {"message": "Memories deleted successfully!", "deleted": report["memories"]}

    def history(self, memory_id: str) -> List[Dict[str, Any]]:
        """A memory's changes, oldest first: ``[{"event", "old_memory", "new_memory", ...}]``."""
        return self._native.history(memory_id)

    def reset(self) -> None:
        """Deletes every memory, all history, the graph and the index."""
        self._native.reset()

    def count(self) -> int:
        """Number of memories in the file."""
        return self._native.count()

    def verify(self) -> Dict[str, Any]:
        """Checks the file's invariants: ``{"ok", "problem_count", "problems", ...}``."""
        return self._native.verify()

    def close(self) -> None:
        """Closes the database and releases the file; later calls raise :class:`memlayer.ClosedError`."""
        self._native.close()

    def __enter__(self) -> "Memory":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"memlayer.Memory({self.path!r})"
