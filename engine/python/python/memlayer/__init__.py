"""memlayer: offline long-term memory for AI agents, with Mem0's Python API.

``from mem0 import Memory`` becomes ``from memlayer import Memory``: the same
methods (``add``, ``search``, ``get``, ``get_all``, ``update``, ``delete``,
``delete_all``, ``history``, ``reset``) on an embedded Rust engine with
local models (all-MiniLM-L6-v2 embeddings, a llama.cpp chat model) and one
database file. Errors are :class:`memlayer.MemoryError` subclasses with a
``code`` and a ``suggestion``.
"""

from . import errors
from ._async import AsyncMemory
from ._memory import Memory
from ._native import __version__
from .errors import *  # noqa: F403 - the exception classes, listed in errors.__all__

__all__ = ["Memory", "AsyncMemory", "errors", "__version__", *errors.__all__]
