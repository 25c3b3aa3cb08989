"""``RedisStreamsBackend``: events and requests on Redis Streams (redis-py asyncio).

Keys, under ``prefix`` (default ``bastion``):

- ``bastion:events:<subject>``: a stream per subject (``XADD``, trimmed to about ``max_len``
  entries). Each group is a Redis consumer group on it, created at the first entry the stream
  holds; members read with ``XREADGROUP`` and acknowledge with ``XACK``. An entry left
  unacknowledged for ``redeliver_after`` seconds (its consumer died, or asked for a retry) is
  taken over with ``XAUTOCLAIM`` by whichever member looks next, up to ``max_attempts``
  deliveries. A running handler resets the entry's idle time (``XCLAIM ... JUSTID``).
- ``bastion:requests:<subject>``: requests, read the same way, each carrying the key of the
  list where its reply goes (``LPUSH``, expiring) and the time after which nobody waits for
  it; an answered request is deleted. A request whose member died is taken over too, and
  answered if its requester still waits.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from bastion.exceptions import ConfigurationError
from bastion.services.messaging.backend import (
    Delivery,
    Kind,
    MessagingBackend,
    Reply,
    Source,
    Subscription,
)
from bastion.services.messaging.errors import MessagingError, RequestTimeout

logger = logging.getLogger("bastion.services.messaging")
_headers = msgspec.json.Decoder(dict[str, str])


class RedisStreamsBackend(MessagingBackend):
    """Redis at ``url`` (6.2 or later, for ``XAUTOCLAIM``). ``max_len``: entries kept per
    subject's stream (approximately, older ones trimmed)."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "bastion",
        max_len: int = 100_000,
        client: Redis | None = None,
    ) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", prefix):
            raise ConfigurationError(
                f"RedisStreamsBackend(prefix={prefix!r}): letters, digits, '_', '.', '-' only"
            )
        self.url = url
        self.prefix = prefix
        self.max_len = max_len
        self._given = client
        self._redis: Redis | None = client

    def __repr__(self) -> str:
        return f"RedisStreamsBackend({self.url!r}, prefix={self.prefix!r})"

    def key(self, kind: Kind, subject: str) -> str:
        return f"{self.prefix}:{'events' if kind == 'event' else 'requests'}:{subject}"

    async def start(self) -> None:
        if self._redis is None:
            self._redis = Redis.from_url(self.url)

    async def stop(self) -> None:
        redis, self._redis = self._redis, self._given
        if redis is not None and redis is not self._given:
            await redis.aclose()

    async def ping(self) -> None:
        await self.client().ping()

    def client(self) -> Redis:
        if self._redis is None:
            raise MessagingError(
                "RedisStreamsBackend is not started (the app's lifespan starts it)"
            )
        return self._redis

    async def publish(self, subject: str, data: bytes, headers: Mapping[str, str]) -> None:
        fields: dict[Any, Any] = {"d": data}
        if headers:
            fields["h"] = msgspec.json.encode(headers)
        await self.client().xadd(
            self.key("event", subject), fields, maxlen=self.max_len, approximate=True
        )

    async def request(
        self,
        subject: str,
        data: bytes,
        headers: Mapping[str, str],
        timeout: float,  # noqa: ASYNC109
    ) -> Reply:
        redis = self.client()
        reply_key = f"{self.prefix}:replies:{uuid.uuid4().hex}"
        fields: dict[Any, Any] = {"d": data, "r": reply_key, "t": repr(time.time() + timeout)}
        if headers:
            fields["h"] = msgspec.json.encode(headers)
        await redis.xadd(
            self.key("request", subject), fields, maxlen=self.max_len, approximate=True
        )
        answer = await redis.blpop([reply_key], timeout=timeout)
        if answer is None:
            raise RequestTimeout(f"no reply on {subject!r} within {timeout} s")
        head, body = msgspec.json.decode(answer[1], type=tuple[dict[str, str], bytes])
        return Reply(body, head)

    async def subscribe(self, subscription: Subscription, consumer: str) -> Source:
        key = self.key(subscription.kind, subscription.subject)
        await _join(self.client(), key, subscription.group)
        return _StreamSource(self, key, subscription, consumer)


async def _join(redis: Redis, key: str, group: str) -> None:
    """Create the group at the stream's first entry, or join it if it exists."""
    try:
        await redis.xgroup_create(key, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


class _StreamSource(Source):
    def __init__(
        self, backend: RedisStreamsBackend, key: str, subscription: Subscription, consumer: str
    ) -> None:
        self.backend = backend
        self.key = key
        self.subscription = subscription
        self.group = subscription.group
        self.consumer = consumer
        self.idle_ms = int(subscription.redeliver_after * 1000)
        # Look for idle entries a few times per redeliver_after, and at once at start (the
        # entries of a member that died before this one started).
        self.claim_every = max(0.05, min(subscription.redeliver_after / 4, 5.0))
        self.next_claim = 0.0

    async def fetch(self, limit: int, wait: float) -> list[Delivery]:
        try:
            return await self._fetch(limit, wait)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # The stream or group went away (a Redis restarted without persistence, a
            # key deleted): join it again, as at start.
            await _join(self.backend.client(), self.key, self.group)
            return []

    async def _fetch(self, limit: int, wait: float) -> list[Delivery]:
        redis = self.backend.client()
        if time.monotonic() >= self.next_claim:
            claimed = await self._claim(redis, limit)
            if claimed:
                return claimed
            self.next_claim = time.monotonic() + self.claim_every
        block = max(1, int(min(wait, max(0.0, self.next_claim - time.monotonic())) * 1000))
        answer: Any = await redis.xreadgroup(
            self.group, self.consumer, {self.key: ">"}, count=limit, block=block
        )
        deliveries: list[Delivery] = []
        for _, entries in answer or ():
            for entry_id, fields in entries:
                deliveries.append(_StreamDelivery(self, entry_id, fields, 1))
        return deliveries

    async def _claim(self, redis: Redis, limit: int) -> list[Delivery]:
        """Entries idle for ``redeliver_after``: taken over, their deliveries counted."""
        result: Any = await redis.xautoclaim(
            self.key, self.group, self.consumer, self.idle_ms, start_id="0-0", count=limit
        )
        entries = result[1]
        if len(result) > 2 and result[2]:  # trimmed away while pending
            await redis.xack(self.key, self.group, *result[2])
        entries = [(entry_id, fields) for entry_id, fields in entries if fields]
        if not entries:
            return []
        async with redis.pipeline(transaction=False) as pipe:
            for entry_id, _ in entries:
                pipe.xpending_range(self.key, self.group, entry_id, entry_id, 1)
            pending = await pipe.execute()
        deliveries: list[Delivery] = []
        for (entry_id, fields), info in zip(entries, pending, strict=True):
            attempt = int(info[0]["times_delivered"]) if info else 2
            if attempt > self.subscription.max_attempts:
                logger.error(
                    "dropped %s %s after %d deliveries",
                    self.key,
                    _text(entry_id),
                    attempt - 1,
                    extra={"subject": self.subscription.subject, "message_id": _text(entry_id)},
                )
                await self._settle(redis, entry_id)
                continue
            deliveries.append(_StreamDelivery(self, entry_id, fields, attempt))
        return deliveries

    async def _settle(self, redis: Redis, entry_id: Any) -> None:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.xack(self.key, self.group, entry_id)
            if self.subscription.kind == "request":  # nobody else reads a request
                pipe.xdel(self.key, entry_id)
            await pipe.execute()

    async def close(self) -> None:
        return None  # what was fetched and not settled is claimed by another member


class _StreamDelivery(Delivery):
    __slots__ = ("entry_id", "reply_key", "source")

    def __init__(self, source: _StreamSource, entry_id: Any, fields: Any, attempt: int) -> None:
        raw = fields.get(b"h")
        deadline = fields.get(b"t")
        super().__init__(
            subject=source.subscription.subject,
            kind=source.subscription.kind,
            data=fields.get(b"d", b""),
            headers=_decode_headers(raw) if raw else {},
            attempt=attempt,
            id=_text(entry_id),
            deadline=_float(deadline) if deadline is not None else None,
        )
        self.source = source
        self.entry_id = entry_id
        reply_key = fields.get(b"r")
        self.reply_key = reply_key.decode() if isinstance(reply_key, bytes) else None

    async def ack(self) -> None:
        await self.source._settle(self.source.backend.client(), self.entry_id)

    async def retry(self, delay: float) -> None:
        # Claimable again once idle for redeliver_after: make it look idle that long less
        # ``delay``, so XAUTOCLAIM takes it (counting the delivery) ``delay`` seconds from now.
        source = self.source
        idle = max(0, source.idle_ms - int(delay * 1000))
        await source.backend.client().xclaim(
            source.key, source.group, source.consumer, 0, [self.entry_id], idle=idle, justid=True
        )

    async def touch(self) -> None:
        source = self.source
        await source.backend.client().xclaim(
            source.key, source.group, source.consumer, 0, [self.entry_id], idle=0, justid=True
        )

    async def respond(self, data: bytes, headers: Mapping[str, str]) -> None:
        if self.reply_key is None:
            return
        ttl = 60_000
        if self.deadline is not None:
            ttl = max(1000, int((self.deadline - time.time()) * 1000) + 1000)
        async with self.source.backend.client().pipeline(transaction=True) as pipe:
            pipe.lpush(self.reply_key, msgspec.json.encode((dict(headers), data)))
            pipe.pexpire(self.reply_key, ttl)
            await pipe.execute()


def _decode_headers(raw: bytes) -> dict[str, str]:
    try:
        return _headers.decode(raw)
    except msgspec.MsgspecError:
        return {}


def _float(raw: Any) -> float | None:
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
