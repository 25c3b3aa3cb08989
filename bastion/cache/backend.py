"""The contract every cache backend keeps: bytes under string keys, TTLs, tags, prefixes.

``Cache`` (the front end handlers use) encodes values, builds full keys and turns outages
into misses; a backend only stores bytes. Keys and tags arrive complete (prefixes applied),
TTLs in seconds (``None``: no expiry; never zero or negative, the front end deletes instead).

A backend raises ``BackendUnavailable`` when its store cannot be reached or does not answer in
time, and nothing else for outages: any other exception is a bug or a misuse and propagates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable


class BackendUnavailable(Exception):
    """The store is down or too slow: the front end answers a miss and logs a warning."""


@runtime_checkable
class CacheBackend(Protocol):
    """Where a ``Cache`` keeps its entries (memory, Redis, memcached, the database)."""

    #: True when other processes see the same entries: ``remember`` then also locks there.
    shared: bool

    async def start(self) -> None:
        """Connect (called at app start-up); starting twice is harmless."""

    async def stop(self) -> None:
        """Disconnect (called at shutdown)."""

    def watch_prefix(self, prefix: str) -> None:
        """``clear(prefix)`` may be called for this prefix; a backend that cannot delete by
        prefix (memcached) versions the entries under it instead."""

    async def get(self, key: str) -> bytes | None: ...

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]: ...

    async def set(
        self, key: str, value: bytes, ttl: float | None, tags: Sequence[str] = ()
    ) -> None: ...

    async def set_many(
        self, items: Sequence[tuple[str, bytes]], ttl: float | None, tags: Sequence[str] = ()
    ) -> None: ...

    async def add(self, key: str, value: bytes, ttl: float | None) -> bool:
        """Store only if absent (or expired); True when stored. Locks are built on it."""

    async def delete(self, key: str) -> bool: ...

    async def delete_if(self, key: str, value: bytes) -> bool:
        """Delete only while the key holds ``value`` (a lock released by its holder)."""

    async def incr(self, key: str, delta: int, ttl: float | None) -> int:
        """Add ``delta`` to an integer entry, creating it at ``delta`` (with ``ttl``) when
        absent; an existing entry keeps its expiry. ``TypeError`` if it holds a non-integer."""

    async def touch(self, key: str, ttl: float | None) -> bool: ...

    async def clear(self, prefix: str) -> None:
        """Delete every entry whose key starts with ``prefix``."""

    async def invalidate_tags(self, tags: Sequence[str]) -> None:
        """Delete (or make unreachable) every entry stored with any of ``tags``."""
