"""Where server-side sessions live: one protocol, and the in-process store.

A store keeps opaque bytes under a key for ``ttl`` seconds. Keys are hashes of session ids,
so a leaked store (a database dump, a Redis snapshot) hands out no usable session ids.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class SessionStore(Protocol):
    """A session backend; ``open``/``close`` run with the app's lifespan."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def load(self, key: str) -> bytes | None: ...

    async def save(self, key: str, value: bytes, ttl: int) -> None: ...

    async def delete(self, key: str) -> None: ...


@runtime_checkable
class UserIndex(SessionStore, Protocol):
    """A store that also finds a user's sessions (to list their devices and end them).
    ``index`` runs when a logged-in session is first saved; ``records_of`` answers the
    user's stored sessions by key (dropping ended ones from the index); ``end`` deletes
    some of them. The last two are called from handlers only."""

    async def index(self, subject: str, key: str, ttl: int) -> None: ...

    async def records_of(self, subject: str) -> list[tuple[str, bytes]]: ...

    async def end(self, subject: str, keys: list[str]) -> None: ...


class MemoryStore:
    """Sessions in this process's memory: for development and single-process apps (a
    restart logs everyone out, and several workers would not share it)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._items: dict[str, tuple[float, bytes]] = {}
        self._users: dict[str, set[str]] = {}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def load(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] <= time.monotonic():
            del self._items[key]
            return None
        return item[1]

    async def save(self, key: str, value: bytes, ttl: int) -> None:
        if len(self._items) >= self.max_entries and key not in self._items:
            self._purge()
        self._items[key] = (time.monotonic() + ttl, value)

    async def delete(self, key: str) -> None:
        self._items.pop(key, None)

    async def index(self, subject: str, key: str, ttl: int) -> None:
        self._users.setdefault(subject, set()).add(key)

    async def records_of(self, subject: str) -> list[tuple[str, bytes]]:
        found = []
        for key in sorted(self._users.get(subject, ())):
            value = await self.load(key)
            if value is None:
                self._users[subject].discard(key)  # ended: leave the index
            else:
                found.append((key, value))
        return found

    async def end(self, subject: str, keys: list[str]) -> None:
        for key in keys:
            await self.delete(key)
        self._users.get(subject, set()).difference_update(keys)

    def _purge(self) -> None:
        """Drop expired entries, then the oldest-expiring ones, to stay under the bound."""
        now = time.monotonic()
        self._items = {k: v for k, v in self._items.items() if v[0] > now}
        overflow = len(self._items) - self.max_entries + 1
        if overflow > 0:
            for key in sorted(self._items, key=lambda k: self._items[k][0])[:overflow]:
                del self._items[key]

    def __len__(self) -> int:
        return len(self._items)
