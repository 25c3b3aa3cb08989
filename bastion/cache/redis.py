"""The Redis backend (redis-py asyncio): one cache shared by every process and machine.

Entries are plain string keys with a PX expiry; a tag is a set of the keys stored with it
(``<prefix>#tag:<tag>``), kept alive as long as its longest-lived member, and
``invalidate_tags`` deletes the members and the set in one script. Scripts touch keys they do
not declare, so this backend wants a single Redis (or a primary), not Redis Cluster.

Reads are batched: the ``get`` calls made in one turn of the event loop (the requests that
arrived together) go to Redis as one MGET, on a connection of their own where batches are
pipelined and hiredis parses the replies (``bastion._redis_pipe``); that is what lets a Redis-backed
response cache keep up with many concurrent clients. Every other command goes through
redis-py (and reads too, around a ``client`` you made, or on a Unix socket).

Outages are fast: no retries, ``timeout`` seconds per command and per connection attempt,
and every connection or timeout error becomes ``BackendUnavailable``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bastion.cache.backend import BackendUnavailable
from bastion.exceptions import ConfigurationError

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from bastion._redis_pipe import RedisPipe

_TAG = """
local function tag(t, key, ms)
  local fresh = redis.call('EXISTS', t) == 0
  redis.call('SADD', t, key)
  if ms then
    local left = redis.call('PTTL', t)
    if fresh or (left >= 0 and left < ms) then redis.call('PEXPIRE', t, ms) end
  else
    redis.call('PERSIST', t)
  end
end
"""
# KEYS: the entry, then its tags; ARGV: the value, the TTL in ms or ''. The entry's tags are
# also kept under '#t:<key>', so touch can keep its tag sets alive as long as the entry.
_SET_TAGGED = (
    _TAG
    + """
local ms = tonumber(ARGV[2])
local meta = '#t:' .. KEYS[1]
local names = table.concat(KEYS, '\\n', 2)
if ms then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ms)
  redis.call('SET', meta, names, 'PX', ms)
else
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('SET', meta, names)
end
for i = 2, #KEYS do tag(KEYS[i], KEYS[1], ms) end
"""
)
_BATCH = 256  # keys per MGET at most

_INVALIDATE = """
for i = 1, #KEYS do
  local members = redis.call('SMEMBERS', KEYS[i])
  for j = 1, #members, 1000 do
    redis.call('UNLINK', unpack(members, j, math.min(j + 999, #members)))
  end
  redis.call('DEL', KEYS[i])
end
"""
_INCR = """
if ARGV[2] ~= '' then redis.call('SET', KEYS[1], 0, 'PX', ARGV[2], 'NX') end
return redis.call('INCRBY', KEYS[1], ARGV[1])
"""
_TOUCH = (
    _TAG
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local ms = tonumber(ARGV[1])
local meta = '#t:' .. KEYS[1]
local names = redis.call('GET', meta)
for _, k in ipairs(names and {KEYS[1], meta} or {KEYS[1]}) do
  if ms then redis.call('PEXPIRE', k, ms) else redis.call('PERSIST', k) end
end
if names then
  for t in string.gmatch(names, '[^\\n]+') do tag(t, KEYS[1], ms) end
end
return 1
"""
)
_DELETE_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _ms(ttl: float | None) -> int | None:
    return None if ttl is None else max(1, math.ceil(ttl * 1000))


def _glob(prefix: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in prefix) + "*"


class RedisBackend:
    """``RedisBackend("redis://host:6379/0", timeout=1.0)``, or around a ``client`` you
    made (then its own timeouts and retries apply)."""

    shared = True

    def __init__(
        self,
        url: str = "redis://localhost:6379/0",
        *,
        timeout: float = 1.0,
        client: Redis | None = None,
    ) -> None:
        try:
            import redis.exceptions
        except ImportError:
            raise ConfigurationError(
                "The Redis cache needs redis-py: pip install 'bastion[redis]'"
            ) from None
        self.url = url
        self.timeout = timeout
        self._given = client
        self._redis: Redis | None = client
        self._down: tuple[type[BaseException], ...] = (
            redis.exceptions.ConnectionError,
            redis.exceptions.TimeoutError,
            OSError,
            TimeoutError,
        )
        self._scripts: dict[str, Any] = {}
        self._reads: RedisPipe | None = None
        #: Keys asked for in this turn of the loop, with their waiters: one MGET at its end.
        self._batch: dict[str, list[asyncio.Future[bytes | None]]] | None = None
        self._flushes: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        parsed = self.url.split("@")[-1] if "@" in self.url else self.url
        return f"RedisBackend({parsed!r})"

    async def start(self) -> None:
        if self._redis is not None:
            return
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        try:
            self._redis = Redis.from_url(
                self.url,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                retry=Retry(NoBackoff(), 0),
            )
        except ValueError as exc:
            raise ConfigurationError(f"The cache's Redis URL is not valid: {exc}") from None
        try:
            from bastion._redis_pipe import RedisPipe
        except ImportError:  # redis-py without hiredis: reads go through redis-py
            return
        self._reads = RedisPipe.for_url(self.url, self.timeout)

    async def stop(self) -> None:
        reads, self._reads = self._reads, None
        if reads is not None:
            await reads.close()
        client, self._redis = self._redis, self._given
        if client is not None and client is not self._given:
            await client.aclose()

    def watch_prefix(self, prefix: str) -> None:
        return None

    @property
    def client(self) -> Redis:
        if self._redis is None:
            raise ConfigurationError(
                "The Redis cache is not started: run the app with its lifespan, or await "
                "backend.start()"
            )
        return self._redis

    async def _script(self, name: str, source: str, keys: list[str], args: list[Any]) -> Any:
        script = self._scripts.get(name)
        if script is None:
            script = self._scripts[name] = self.client.register_script(source)
        return await script(keys=keys, args=args)

    async def _run(self, operation: Any) -> Any:
        try:
            return await operation
        except self._down as exc:
            raise BackendUnavailable(f"Redis: {exc}") from exc

    # -- the protocol ----------------------------------------------------------------------
    async def get(self, key: str) -> bytes | None:
        self.client  # noqa: B018  (not started: say so here, not in the flush)
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bytes | None] = loop.create_future()
        batch = self._batch
        if batch is None or len(batch) >= _BATCH:
            batch = self._batch = {}
            loop.call_soon(self._flush, batch)
        waiters = batch.get(key)
        if waiters is None:
            batch[key] = [waiter]
        else:
            waiters.append(waiter)
        return await waiter

    def _flush(self, batch: dict[str, list[asyncio.Future[bytes | None]]]) -> None:
        if self._batch is batch:
            self._batch = None
        task = asyncio.get_running_loop().create_task(self._read(batch))
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _read(self, batch: dict[str, list[asyncio.Future[bytes | None]]]) -> None:
        keys = list(batch)
        reads = self._reads
        try:
            values: Any = await (
                self.client.mget(keys) if reads is None else reads.execute("MGET", *keys)
            )
        except Exception as exc:
            error: Exception = exc
            if isinstance(exc, self._down):
                error = BackendUnavailable(f"Redis: {exc}")
                error.__cause__ = exc
            for waiter in (w for waiters in batch.values() for w in waiters):
                if not waiter.done():
                    waiter.set_exception(error)
            return
        except BaseException:  # cancelled (the loop is closing): so are the readers
            for waiter in (w for waiters in batch.values() for w in waiters):
                waiter.cancel()
            raise
        for key, value in zip(keys, values, strict=True):
            for waiter in batch[key]:
                if not waiter.done():
                    waiter.set_result(value)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        return list(await self._run(self.client.mget(keys)))

    async def set(
        self, key: str, value: bytes, ttl: float | None, tags: Sequence[str] = ()
    ) -> None:
        if tags:
            await self._run(self._script("set", _SET_TAGGED, [key, *tags], [value, _ms(ttl) or ""]))
        else:
            await self._run(self.client.set(key, value, px=_ms(ttl)))

    async def set_many(
        self, items: Sequence[tuple[str, bytes]], ttl: float | None, tags: Sequence[str] = ()
    ) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            for key, value in items:
                if tags:
                    script = self._scripts.get("set") or self.client.register_script(_SET_TAGGED)
                    self._scripts["set"] = script
                    await script(keys=[key, *tags], args=[value, _ms(ttl) or ""], client=pipe)
                else:
                    pipe.set(key, value, px=_ms(ttl))
            await self._run(pipe.execute())

    async def add(self, key: str, value: bytes, ttl: float | None) -> bool:
        return bool(await self._run(self.client.set(key, value, px=_ms(ttl), nx=True)))

    async def delete(self, key: str) -> bool:
        return bool(await self._run(self.client.delete(key)))

    async def delete_if(self, key: str, value: bytes) -> bool:
        return bool(await self._run(self._script("delete_if", _DELETE_IF, [key], [value])))

    async def incr(self, key: str, delta: int, ttl: float | None) -> int:
        import redis.exceptions

        try:
            result = await self._run(self._script("incr", _INCR, [key], [delta, _ms(ttl) or ""]))
        except redis.exceptions.ResponseError as exc:
            raise TypeError(f"cache key {key!r} holds a value that is not an integer") from exc
        return int(result)

    async def touch(self, key: str, ttl: float | None) -> bool:
        return bool(await self._run(self._script("touch", _TOUCH, [key], [_ms(ttl) or ""])))

    async def clear(self, prefix: str) -> None:
        client = self.client
        batch: list[bytes] = []
        try:
            async for key in client.scan_iter(match=_glob(prefix), count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    await client.unlink(*batch)
                    batch.clear()
            if batch:
                await client.unlink(*batch)
        except self._down as exc:
            raise BackendUnavailable(f"Redis: {exc}") from exc

    async def invalidate_tags(self, tags: Sequence[str]) -> None:
        await self._run(self._script("invalidate", _INVALIDATE, list(tags), []))
