"""The default backend: a bounded LRU in this process (nothing to install or run).

Entries are bytes, as on every backend, so a cached object is never shared with whoever
mutates it. Once ``max_entries`` or ``max_bytes`` is reached, the least recently used entries
go first, by second chance (CLOCK): a read only marks its entry, and eviction sends a marked
entry to the back, unmarked, and takes the oldest unmarked one (a hit costs one store instead
of a reordering). Expired entries go when met. Not shared between processes: with several workers,
each has its own (use Redis or memcached for one cache across them).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TypeVar

from bastion.cache._codec import is_integer
from bastion.exceptions import ConfigurationError

_monotonic = time.monotonic
T = TypeVar("T")


class MemoryBackend:
    """``MemoryBackend(max_entries=10_000, max_bytes=64 MiB)``: byte counts are the values'."""

    shared = False

    def __init__(self, *, max_entries: int = 10_000, max_bytes: int = 64 * 1024 * 1024) -> None:
        for name, value in (("max_entries", max_entries), ("max_bytes", max_bytes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"MemoryBackend({name}={value!r}): use a number >= 1")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        # key -> [value, expires (monotonic) or None, tags, (decode, decoded) or None, read]
        self._data: OrderedDict[str, list[object]] = OrderedDict()
        self._tags: dict[str, set[str]] = {}
        self._bytes = 0

    def __repr__(self) -> str:
        return f"MemoryBackend(max_entries={self.max_entries}, max_bytes={self.max_bytes})"

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def watch_prefix(self, prefix: str) -> None:
        return None

    def __len__(self) -> int:
        return len(self._data)

    # -- reading -------------------------------------------------------------------------------
    def lookup(self, key: str) -> bytes | None:
        """``get`` without the coroutine: the response cache's hit path calls this."""
        entry = self._data.get(key)
        if entry is None:
            return None
        expires = entry[1]
        if expires is not None and expires <= _monotonic():  # type: ignore[operator]
            self._drop(key)
            return None
        entry[4] = True
        return entry[0]  # type: ignore[return-value]

    def lookup_decoded(self, key: str, decode: Callable[[bytes], T], now: float) -> T | None:
        """``lookup``, then ``decode(value)``, run once per stored value and kept beside it:
        the response cache's hits reuse the answer decoded at the first hit. ``decode``'s
        result must not be mutated; its errors propagate (and nothing is kept). ``now``:
        ``time.monotonic()``, read by the caller, who needs it too."""
        try:
            entry = self._data[key]  # cheaper than .get() on a hit; a miss costs more
        except KeyError:
            return None
        expires = entry[1]
        if expires is not None and expires <= now:  # type: ignore[operator]
            self._drop(key)
            return None
        entry[4] = True
        memo = entry[3]
        if memo is not None and memo[0] is decode:  # type: ignore[index]
            return memo[1]  # type: ignore[index,no-any-return]
        decoded = decode(entry[0])  # type: ignore[arg-type]
        entry[3] = (decode, decoded)
        return decoded

    async def get(self, key: str) -> bytes | None:
        return self.lookup(key)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return [self.lookup(key) for key in keys]

    # -- writing -------------------------------------------------------------------------------
    def _store(self, key: str, value: bytes, ttl: float | None, tags: Sequence[str]) -> None:
        if key in self._data:
            self._drop(key)
        expires = None if ttl is None else _monotonic() + ttl
        self._data[key] = [value, expires, tuple(tags), None, False]
        self._bytes += len(value)
        for tag in tags:
            self._tags.setdefault(tag, set()).add(key)
        while len(self._data) > self.max_entries or (
            self._bytes > self.max_bytes and len(self._data) > 1
        ):
            oldest = next(iter(self._data))
            entry = self._data[oldest]
            if entry[4] or oldest == key:  # read since its last round, or the one just stored
                entry[4] = False
                self._data.move_to_end(oldest)
            else:
                self._drop(oldest)

    def _drop(self, key: str) -> None:
        value, _, tags, _, _ = self._data.pop(key)
        self._bytes -= len(value)  # type: ignore[arg-type]
        for tag in tags:  # type: ignore[attr-defined]
            keys = self._tags.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._tags[tag]

    async def set(
        self, key: str, value: bytes, ttl: float | None, tags: Sequence[str] = ()
    ) -> None:
        self._store(key, value, ttl, tags)

    async def set_many(
        self, items: Sequence[tuple[str, bytes]], ttl: float | None, tags: Sequence[str] = ()
    ) -> None:
        for key, value in items:
            self._store(key, value, ttl, tags)

    async def add(self, key: str, value: bytes, ttl: float | None) -> bool:
        if self.lookup(key) is not None:
            return False
        self._store(key, value, ttl, ())
        return True

    async def delete(self, key: str) -> bool:
        if self.lookup(key) is None:
            return False
        self._drop(key)
        return True

    async def delete_if(self, key: str, value: bytes) -> bool:
        if self.lookup(key) != value:
            return False
        self._drop(key)
        return True

    async def incr(self, key: str, delta: int, ttl: float | None) -> int:
        current = self.lookup(key)
        if current is None:
            self._store(key, str(delta).encode(), ttl, ())
            return delta
        if not is_integer(current):
            raise TypeError(f"cache key {key!r} holds a value that is not an integer")
        entry = self._data[key]
        number = int(current) + delta
        entry[0] = str(number).encode()
        entry[3] = None
        self._bytes += len(entry[0]) - len(current)  # type: ignore[arg-type]
        return number

    async def touch(self, key: str, ttl: float | None) -> bool:
        if self.lookup(key) is None:
            return False
        self._data[key][1] = None if ttl is None else _monotonic() + ttl
        return True

    async def clear(self, prefix: str) -> None:
        for key in [k for k in self._data if k.startswith(prefix)]:
            self._drop(key)

    async def invalidate_tags(self, tags: Sequence[str]) -> None:
        for tag in tags:
            for key in list(self._tags.get(tag, ())):
                if key in self._data:
                    self._drop(key)
            self._tags.pop(tag, None)
