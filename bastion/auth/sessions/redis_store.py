"""Sessions in Redis (redis-py asyncio), shared by every app process; Redis expires them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bastion.exceptions import ConfigurationError

if TYPE_CHECKING:
    from redis.asyncio import Redis


class RedisStore:
    """``SessionPlugin(RedisStore("redis://localhost:6379/0"))``; pass ``client=`` to share a
    connection pool with the rest of the app. The server is checked at start-up."""

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Redis | None = None,
        prefix: str = "bastion:session:",
    ) -> None:
        if (url is None) == (client is None):
            raise ConfigurationError(
                "RedisStore needs exactly one of url='redis://host:6379/0' or client=Redis(...)"
            )
        self.url = url
        self.prefix = prefix
        self._client = client
        self._owned = client is None

    @property
    def client(self) -> Redis:
        if self._client is None:
            raise RuntimeError("RedisStore is not open: run the app with its lifespan")
        return self._client

    async def open(self) -> None:
        from redis.asyncio import Redis
        from redis.exceptions import RedisError

        if self._owned:
            assert self.url is not None
            self._client = Redis.from_url(self.url)
        try:
            await self.client.ping()
        except (RedisError, OSError) as exc:
            await self.close()
            raise ConfigurationError(
                f"Cannot reach Redis for sessions ({type(exc).__name__}: {exc}); check the "
                "RedisStore URL and that the server is running"
            ) from None

    async def close(self) -> None:
        if self._owned and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def load(self, key: str) -> bytes | None:
        value = await self.client.get(self.prefix + key)
        return value.encode() if isinstance(value, str) else value

    async def save(self, key: str, value: bytes, ttl: int) -> None:
        await self.client.set(self.prefix + key, value, ex=ttl)

    async def delete(self, key: str) -> None:
        await self.client.delete(self.prefix + key)

    # A user's sessions: a set of keys under ``{prefix}user:{subject}``, kept as long as the
    # longest session it lists could live; ended sessions are pruned when it is read.
    async def index(self, subject: str, key: str, ttl: int) -> None:
        name = self._user_key(subject)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.sadd(name, key)
            pipe.expire(name, ttl, gt=True)
            pipe.expire(name, ttl, nx=True)
            await pipe.execute()

    async def records_of(self, subject: str) -> list[tuple[str, bytes]]:
        members = await self.client.smembers(self._user_key(subject))
        keys = sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)
        if not keys:
            return []
        values = await self.client.mget([self.prefix + k for k in keys])
        ended = [k for k, value in zip(keys, values, strict=True) if value is None]
        if ended:
            await self.client.srem(self._user_key(subject), *ended)
        return [
            (k, v.encode() if isinstance(v, str) else v)
            for k, v in zip(keys, values, strict=True)
            if v is not None
        ]

    async def end(self, subject: str, keys: list[str]) -> None:
        if keys:
            await self.client.delete(*(self.prefix + k for k in keys))
            await self.client.srem(self._user_key(subject), *keys)

    def _user_key(self, subject: str) -> str:
        return f"{self.prefix}user:{subject}"
