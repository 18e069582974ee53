"""``memlayer.AsyncMemory``: the same methods as coroutines."""

from __future__ import annotations

import asyncio
import functools
import os
from typing import Any, Callable, Dict, List, Optional, TypeVar, Union

from ._memory import Memory, Messages

T = TypeVar("T")


class AsyncMemory:
    """:class:`memlayer.Memory` for asyncio code (Mem0's ``AsyncMemory``).

    Each method runs the blocking call in a worker thread
    (``asyncio.to_thread``); the engine releases the GIL, so the event loop
    keeps running and concurrent calls proceed in parallel.
    Opening loads the models and may block: construct it before the loop
    is busy, or with ``await asyncio.to_thread(AsyncMemory, path)``.
    """

    def __init__(
        self,
        path: Optional[Union[str, "os.PathLike[str]"]] = None,
        config: Optional[Dict[str, Any]] = None,
        *,
        lock_timeout: Optional[float] = None,
    ) -> None:
        self.sync = Memory(path, config, lock_timeout=lock_timeout)

    @classmethod
    def from_config(cls, config_dict: Dict[str, Any]) -> "AsyncMemory":
        """See :meth:`memlayer.Memory.from_config`."""
        return cls(config=config_dict)

    @property
    def path(self) -> str:
        """The database file."""
        return self.sync.path

    @staticmethod
    async def _run(f: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(functools.partial(f, *args, **kwargs))

    async def add(self, messages: Messages, **kwargs: Any) -> Dict[str, Any]:
        """See :meth:`memlayer.Memory.add`."""
        return await self._run(self.sync.add, messages, **kwargs)

    async def add_many(self, items: List[Dict[str, Any]]) -> Dict[str, Any]:
        """See :meth:`memlayer.Memory.add_many`."""
        return await self._run(self.sync.add_many, items)

    async def search(self, query: str, **kwargs: Any) -> Dict[str, Any]:
        """See :meth:`memlayer.Memory.search`."""
        return await self._run(self.sync.search, query, **kwargs)

    async def get(self, memory_id: str) -> Optional[Dict[str, Any]]:
        """See :meth:`memlayer.Memory.get`."""
        return await self._run(self.sync.get, memory_id)

    async def get_all(self, **kwargs: Any) -> Dict[str, Any]:
        """See :meth:`memlayer.Memory.get_all`."""
        return await self._run(self.sync.get_all, **kwargs)

    async def update(self, memory_id: str, data: Optional[str] = None, **kwargs: Any) -> Dict[str, Any]:
        """See :meth:`memlayer.Memory.update`."""
        return await self._run(self.sync.update, memory_id, data, **kwargs)

    async def delete(self, memory_id: str) -> Dict[str, str]:
        """See :meth:`memlayer.Memory.delete`."""
        return await self._run(self.sync.delete, memory_id)

    async def delete_all(self, **kwargs: Any) -> Dict[str, Any]:
        """See :meth:`memlayer.Memory.delete_all`."""
        return await self._run(self.sync.delete_all, **kwargs)

    async def history(self, memory_id: str) -> List[Dict[str, Any]]:
        """See :meth:`memlayer.Memory.history`."""
        return await self._run(self.sync.history, memory_id)

    async def reset(self) -> None:
        """See :meth:`memlayer.Memory.reset`."""
        await self._run(self.sync.reset)

    async def count(self) -> int:
        """See :meth:`memlayer.Memory.count`."""
        return await self._run(self.sync.count)

    async def close(self) -> None:
        """See :meth:`memlayer.Memory.close`."""
        await self._run(self.sync.close)

    async def __aenter__(self) -> "AsyncMemory":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
