"""The shared backend: Redis pub/sub between processes, Redis Streams for history.

Each process holds one pub/sub connection, subscribed to the Redis channel of every topic
that has a local subscriber. A broadcast is one Lua call that appends to the topic's stream
(capped at ``history_size``, expiring after ``history_ttl`` seconds of silence) and publishes
with the stream id, so the id order is the delivery order. The sending process delivers to
its own subscribers at once and skips its own message when Redis echoes it back.

Delivery is at most once, as with Phoenix's PubSub: a process that loses its connection
misses what was published meanwhile (SSE clients catch up from the stream).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Any

import msgspec

from bastion._tasks import cancel_and_wait
from bastion.exceptions import ConfigurationError
from bastion.websockets.pubsub.base import Message, Subscriber, deliver, id_key

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub as RedisPubSubConnection

logger = logging.getLogger("bastion.pubsub")

_PUBLISH_KEPT = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*', 'm', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', ARGV[4], id .. '\\n' .. ARGV[2])
return id
"""
_Body = tuple[str, str, Any, "str | None"]  # node, event, payload, sender


class RedisPubSub:
    """``RedisPubSub("redis://localhost:6379/0")``; every app process uses the same URL.

    ``prefix`` namespaces the Redis keys and channels, so several apps can share a server.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "bastion",
        history_size: int = 100,
        history_ttl: float = 86_400,
    ) -> None:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigurationError(
                f"RedisPubSub needs a redis://, rediss:// or unix:// URL, got {url!r}"
            )
        if history_size < 0 or history_ttl <= 0:
            raise ConfigurationError(
                "RedisPubSub: history_size must be 0 or more and history_ttl positive, "
                f"got {history_size} and {history_ttl}"
            )
        self.url = url
        self.prefix = prefix
        self.history_size = history_size
        self.history_ttl = history_ttl
        self.node_id = uuid.uuid4().hex
        self._subscribers: dict[str, list[Subscriber]] = {}
        self._redis: Redis | None = None
        self._pubsub: RedisPubSubConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._starting: asyncio.Lock | None = None
        self._decoder = msgspec.json.Decoder(tuple[str, str, Any, str | None])

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._redis is not None:
                return
            from redis.asyncio import Redis

            client = Redis.from_url(self.url)
            pubsub = client.pubsub()
            # A private channel, so the connection exists before any topic is subscribed.
            await pubsub.subscribe(self._channel(f"node:{self.node_id}"))
            self._redis, self._pubsub = client, pubsub
            self._publish_kept = client.register_script(_PUBLISH_KEPT)
            self._reader = asyncio.create_task(self._read(pubsub), name="bastion-pubsub-redis")

    async def stop(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            await cancel_and_wait([reader])
        pubsub, client = self._pubsub, self._redis
        self._pubsub = self._redis = None
        self._subscribers.clear()
        if pubsub is not None:
            # Typed only in recent redis-py releases: called through Any so both check alike.
            pubsub_any: Any = pubsub
            await pubsub_any.aclose()
        if client is not None:
            await client.aclose()

    async def _connected(self) -> tuple[Redis, RedisPubSubConnection]:
        if self._redis is None or self._pubsub is None:
            await self.start()
        assert self._redis is not None and self._pubsub is not None
        return self._redis, self._pubsub

    # -- subscriptions -------------------------------------------------------------------------
    def _channel(self, topic: str) -> str:
        return f"{self.prefix}:t:{topic}"

    async def subscribe(self, topic: str, subscriber: Subscriber) -> None:
        _, pubsub = await self._connected()
        subscribers = self._subscribers.setdefault(topic, [])
        subscribers.append(subscriber)
        if len(subscribers) == 1:
            await pubsub.subscribe(self._channel(topic))

    async def unsubscribe(self, topic: str, subscriber: Subscriber) -> None:
        subscribers = self._subscribers.get(topic)
        if subscribers is None or subscriber not in subscribers:
            return
        subscribers.remove(subscriber)
        if not subscribers:
            del self._subscribers[topic]
            if self._pubsub is not None:
                await self._pubsub.unsubscribe(self._channel(topic))

    async def _read(self, pubsub: RedisPubSubConnection) -> None:
        """Deliver what other processes publish; reconnect (and resubscribe) after errors."""
        start = len(self.prefix) + 3  # "<prefix>:t:"
        delay = 0.1
        while True:
            try:
                raw = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                delay = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("Redis pub/sub connection lost (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if raw is None or raw.get("type") != "message":
                continue
            channel = raw["channel"].decode()
            if not channel.startswith(f"{self.prefix}:t:"):
                continue
            message = self._decode(channel[start:], raw["data"])
            if message is not None and message.topic in self._subscribers:
                deliver(self._subscribers[message.topic], message)

    def _decode(self, topic: str, data: bytes) -> Message | None:
        message_id, _, body = data.partition(b"\n")
        try:
            node, event, payload, sender = self._decoder.decode(body)
        except msgspec.DecodeError:
            logger.warning("Dropped a malformed message on topic %r", topic)
            return None
        if node == self.node_id:
            return None  # delivered locally when it was sent
        return Message(topic, event, payload, message_id.decode() or None, sender)

    # -- sending -------------------------------------------------------------------------------
    async def broadcast(
        self,
        topic: str,
        event: str,
        payload: Any,
        *,
        sender: str | None = None,
        history: bool = True,
    ) -> Message:
        client, _ = await self._connected()
        body: _Body = (self.node_id, event, payload, sender)
        data = msgspec.json.encode(body)
        message = Message(topic, event, payload, None, sender)
        if history and self.history_size:
            keys = [self._stream(topic)]
            ttl = int(self.history_ttl * 1000)
            args: list[int | bytes | str] = [self.history_size, data, ttl, self._channel(topic)]
            message.id = (await self._publish_kept(keys=keys, args=args)).decode()
        else:
            await client.publish(self._channel(topic), b"\n" + data)
        self.local_broadcast(message)
        return message

    def local_broadcast(self, message: Message) -> None:
        subscribers = self._subscribers.get(message.topic)
        if subscribers:
            deliver(subscribers, message)

    # -- history -------------------------------------------------------------------------------
    def _stream(self, topic: str) -> str:
        return f"{self.prefix}:h:{topic}"

    async def history(self, topic: str, after: str | None = None) -> list[Message]:
        client, _ = await self._connected()
        start = "-" if after is None or id_key(after) is None else f"({after}"
        entries: Any = await client.xrange(self._stream(topic), min=start, max="+")
        result = []
        for entry_id, fields in entries or ():
            try:
                _, event, payload, sender = self._decoder.decode(fields[b"m"])
            except (msgspec.DecodeError, KeyError, TypeError):
                continue
            result.append(Message(topic, event, payload, entry_id.decode(), sender))
        return result
