"""Exceptions raised by memlayer.

Every failure is a :class:`MemoryError` (this package's, not the built-in
of the same name) with a stable ``code`` and a ``suggestion`` of what to do.
The subclasses also derive from the closest built-in, so ``except
ValueError`` catches bad arguments and ``except LookupError`` a missing
memory.
"""

from __future__ import annotations

__all__ = [
    "MemoryError",
    "ValidationError",
    "NotFoundError",
    "ModelError",
    "StorageError",
    "VectorIndexError",
    "ConflictError",
    "LockedError",
    "CancelledError",
    "ClosedError",
]


class MemoryError(Exception):  # noqa: A001 - Mem0-compatible name, shadows the built-in on purpose
    """Base class of every memlayer error.

    Attributes:
        message: what went wrong (the whole cause chain, on one line).
        code: stable machine-readable category (``validation``,
            ``not_found``, ``model``, ``storage``, ``index``, ``conflict``,
            ``locked``, ``cancelled``, ``closed``).
        suggestion: what to do about it.
    """

    default_code = "error"
    default_suggestion = ""

    def __init__(self, message: str, code: str | None = None, suggestion: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.suggestion = suggestion or self.default_suggestion

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class ValidationError(MemoryError, ValueError):
    """An argument is invalid (messages, scope, filters, metadata, config); nothing was changed."""

    default_code = "validation"
    default_suggestion = "fix the argument named in the message; nothing was changed"


class NotFoundError(MemoryError, LookupError):
    """No memory has this id."""

    default_code = "not_found"


class ModelError(MemoryError):
    """A local model failed to load or run (run ``scripts/fetch-models``, or check the model path)."""

    default_code = "model"


class StorageError(MemoryError):
    """The database file failed (I/O, corruption)."""

    default_code = "storage"


class VectorIndexError(MemoryError):
    """The vector index failed (code ``index``)."""

    default_code = "index"


class ConflictError(MemoryError):
    """A concurrent change won; nothing was changed. Retry the call."""

    default_code = "conflict"


class LockedError(MemoryError):
    """Another process has the database open (and kept it past ``lock_timeout``)."""

    default_code = "locked"


class CancelledError(MemoryError):
    """The operation was cancelled before it finished."""

    default_code = "cancelled"


class ClosedError(MemoryError):
    """The :class:`memlayer.Memory` was closed."""

    default_code = "closed"
