"""The Redis backend: one budget shared by every app process that uses the same server.

The whole GCRA step runs in a Lua script, so it is atomic on the server (no read-then-write
race between processes) and takes its clock from Redis ``TIME``, so app machines with
skewed clocks still agree. Each key expires when its budget is whole again.
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from typing import TYPE_CHECKING, Any

from bastion.exceptions import ConfigurationError
from bastion.security.ratelimit.backend import BackendUnavailable
from bastion.security.ratelimit.rate import Decision, Rate, decision_from

if TYPE_CHECKING:
    from redis.asyncio import Redis

#: KEYS[1] the bucket; ARGV[1] interval and ARGV[2] period, in milliseconds.
#: Returns {allowed, reset_after_ms, retry_after_ms} (as strings: Lua numbers would be
#: truncated to integers on the way out).
GCRA_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local ahead = tat - now
if ahead > period - interval then
  return {0, string.format('%.3f', ahead), string.format('%.3f', ahead + interval - period)}
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now))
return {1, string.format('%.3f', ahead + interval), '0'}
"""
#: Keys longer than this (user-chosen key functions) are stored as their SHA-256.
MAX_KEY = 128


class RedisBackend:
    """``RedisBackend("redis://localhost:6379/0")``, or ``RedisBackend(client=redis)``.

    With a URL, a client is made on first use in each event loop (a test client and the
    server may run the app in different loops); close them with ``await backend.close()``,
    e.g. ``app.on_shutdown.append(backend.close)``.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Redis | None = None,
        prefix: str = "bastion:ratelimit:",
    ) -> None:
        if (url is None) == (client is None):
            raise ConfigurationError(
                "RedisBackend needs exactly one of url='redis://host:6379/0' or client=Redis(...)"
            )
        try:
            import redis.asyncio  # noqa: F401
        except ImportError:
            raise ConfigurationError(
                "RedisBackend needs redis-py: pip install 'bastion[redis]'"
            ) from None
        self.url = url
        self.prefix = prefix
        self._given = client
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[Redis, Any]]
        self._clients = weakref.WeakKeyDictionary()

    async def hit(self, key: str, rate: Rate) -> Decision:
        from redis.exceptions import RedisError

        client, script = self._for_this_loop()
        if len(key) > MAX_KEY:
            key = hashlib.sha256(key.encode()).hexdigest()
        try:
            allowed, reset_ms, retry_ms = await script(
                keys=[self.prefix + key],
                args=[f"{rate.interval * 1000:.3f}", f"{rate.period * 1000:.3f}"],
                client=client,
            )
        except (RedisError, OSError) as exc:
            raise BackendUnavailable(f"Redis rate-limit store unreachable: {exc}") from exc
        reset_after = float(reset_ms) / 1000
        if int(allowed):
            return decision_from(rate, reset_after)
        return Decision(False, 0, reset_after, float(retry_ms) / 1000)

    async def close(self) -> None:
        """Close the clients this backend made (a client passed in is the caller's)."""
        clients, self._clients = self._clients, weakref.WeakKeyDictionary()
        for client, _ in list(clients.values()):
            if client is not self._given:
                await client.aclose()

    def _for_this_loop(self) -> tuple[Redis, Any]:
        loop = asyncio.get_running_loop()
        found = self._clients.get(loop)
        if found is None:
            from redis.asyncio import Redis

            client = self._given or Redis.from_url(str(self.url))
            found = self._clients[loop] = (client, client.register_script(GCRA_SCRIPT))
        return found
