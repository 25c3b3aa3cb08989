"""Where quotas count and usage is kept: the ``MeterStore`` protocol and its memory and
Redis implementations.

Usage is stored per day and key as one Redis hash (``<prefix>usage:<day>:<key>``) whose
fields are ``<route>|requests``, ``<route>|errors`` and ``<route>|micros``, each added to with
``HINCRBY``: batches from many processes add up exactly, in any order.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bastion.exceptions import ConfigurationError

if TYPE_CHECKING:
    from redis.asyncio import Redis

#: (key, route, day) -> [requests, errors, microseconds]
Batch = Mapping[tuple[str, str, str], list[int]]
_FIELDS = ("requests", "errors", "micros")


@dataclass(frozen=True)
class UsageRow:
    """The usage of one key on one route on one day."""

    key: str
    route: str
    day: str
    requests: int
    errors: int
    micros: int

    @property
    def mean_ms(self) -> float:
        return self.micros / self.requests / 1000 if self.requests else 0.0


class MeterStore(Protocol):
    """A quota counter and a usage sink shared by the app's processes."""

    async def count(self, key: str, expire_at: float) -> int:
        """Add one to ``key`` and return the new count; the key vanishes at ``expire_at``
        (a Unix time). Atomic: two processes never get the same count."""
        ...

    async def add(self, batch: Batch) -> None:
        """Add a batch of usage counters (all or nothing, as far as the store allows)."""
        ...

    async def usage(self, keys: Iterable[str], days: Iterable[str]) -> list[UsageRow]: ...

    async def close(self) -> None: ...


class MemoryStore:
    """One process's counts: for development, tests and single-process deployments."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, float]] = {}
        self._usage: dict[tuple[str, str, str], list[int]] = {}

    async def count(self, key: str, expire_at: float) -> int:
        now = time.time()
        value, expiry = self._counts.get(key, (0, expire_at))
        if expiry <= now:
            value, expiry = 0, expire_at
        self._counts[key] = (value + 1, expiry)
        if len(self._counts) > 10_000:
            self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
        return value + 1

    async def add(self, batch: Batch) -> None:
        for where, counters in batch.items():
            kept = self._usage.setdefault(where, [0, 0, 0])
            for i, value in enumerate(counters):
                kept[i] += value

    async def usage(self, keys: Iterable[str], days: Iterable[str]) -> list[UsageRow]:
        wanted_keys, wanted_days = set(keys), set(days)
        return [
            UsageRow(key, route, day, *counters)
            for (key, route, day), counters in sorted(self._usage.items())
            if key in wanted_keys and day in wanted_days
        ]

    async def close(self) -> None:
        return None


class RedisStore:
    """``RedisStore("redis://host:6379/0")``: counts shared by every process using the server.

    A client is made on first use in each event loop (the test client and the server may
    run the app in different loops).
    """

    def __init__(self, url: str, *, prefix: str = "bastion:apim:") -> None:
        try:
            import redis.asyncio  # noqa: F401
        except ImportError:
            raise ConfigurationError(
                "RedisStore needs redis-py: pip install 'bastion[redis]'"
            ) from None
        self.url = url
        self.prefix = prefix
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Redis]
        self._clients = weakref.WeakKeyDictionary()

    async def count(self, key: str, expire_at: float) -> int:
        async with self._client().pipeline(transaction=True) as pipe:
            pipe.incr(self.prefix + "quota:" + key)
            pipe.expireat(self.prefix + "quota:" + key, int(expire_at) + 1)
            value, _ = await pipe.execute()
        return int(value)

    async def add(self, batch: Batch) -> None:
        async with self._client().pipeline(transaction=True) as pipe:
            for (key, route, day), counters in batch.items():
                name = f"{self.prefix}usage:{day}:{key}"
                for field, value in zip(_FIELDS, counters, strict=True):
                    if value:
                        pipe.hincrby(name, f"{route}|{field}", value)
                pipe.sadd(f"{self.prefix}usage-keys:{day}", key)
            await pipe.execute()

    async def usage(self, keys: Iterable[str], days: Iterable[str]) -> list[UsageRow]:
        wanted = [(key, day) for day in days for key in keys]
        async with self._client().pipeline(transaction=False) as pipe:
            for key, day in wanted:
                pipe.hgetall(f"{self.prefix}usage:{day}:{key}")
            replies = await pipe.execute()
        rows: list[UsageRow] = []
        for (key, day), fields in zip(wanted, replies, strict=True):
            routes: dict[str, dict[str, int]] = {}
            for field, value in fields.items():
                route, _, name = field.decode().rpartition("|")
                routes.setdefault(route, {})[name] = int(value)
            rows.extend(
                UsageRow(key, route, day, *(c.get(f, 0) for f in _FIELDS))
                for route, c in sorted(routes.items())
            )
        return rows

    async def close(self) -> None:
        clients, self._clients = self._clients, weakref.WeakKeyDictionary()
        for client in list(clients.values()):
            await client.aclose()

    def _client(self) -> Redis:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            from redis.asyncio import Redis

            client = self._clients[loop] = Redis.from_url(self.url)
        return client


def store_from(spec: str | MeterStore) -> MeterStore:
    """``"memory"``, a ``redis://`` URL, or a store object."""
    if not isinstance(spec, str):
        return spec
    if spec == "memory":
        return MemoryStore()
    if spec.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(spec)
    raise ConfigurationError(
        f"APIManagement(store={spec!r}): write 'memory' or a redis://host:6379/0 URL"
    )
