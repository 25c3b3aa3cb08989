"""``NatsBackend``: events on JetStream, requests on core NATS (nats-py).

Names, under ``prefix`` (default ``bastion``):

- events on subject ``bastion.events.<subject>``, stored in the stream ``bastion_events``
  (created at start; JetStream must be on: ``nats-server -js``). Each group reads a subject
  through one durable pull consumer, ``<group>_<subject>``, shared by all its members: a
  message goes to one member, is acknowledged explicitly, and is redelivered when
  unacknowledged for ``redeliver_after`` seconds (``ack_wait``), ``max_attempts`` times in
  all (``max_deliver``). A new group starts at the oldest event the stream keeps.
- requests on subject ``bastion.requests.<subject>``, a queue group per group, and the reply
  on the requester's inbox; ``NoResponders`` at once when nobody subscribes. A request is
  not stored: if its handler's process dies, the requester's timeout tells it.

Any NATS client can take part: publish JSON to ``bastion.events.orders.created`` with
JetStream, or ``nats request bastion.requests.prices.quote '{"sku": "A1"}'``.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Mapping
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import api

from bastion.exceptions import ConfigurationError
from bastion.services.messaging.backend import (
    Delivery,
    MessagingBackend,
    Reply,
    Source,
    Subscription,
)
from bastion.services.messaging.bus import ERROR, ERROR_CODE
from bastion.services.messaging.errors import MessagingError, NoResponders, RequestTimeout

_STOPPING = (
    b'{"type":"about:blank","title":"Service Unavailable","status":503,'
    b'"detail":"The consumer is stopping; try again"}'
)


class NatsBackend(MessagingBackend):
    """NATS at ``url``. ``max_age`` and ``max_len``: how long, and how many per subject,
    events are kept in the stream for groups to read (older ones are dropped)."""

    def __init__(
        self,
        url: str = "nats://127.0.0.1:4222",
        *,
        prefix: str = "bastion",
        max_age: float = 7 * 86400,
        max_len: int = 1_000_000,
        connect_options: Mapping[str, Any] | None = None,
    ) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", prefix):
            raise ConfigurationError(
                f"NatsBackend(prefix={prefix!r}): letters, digits, '_' and '-' only"
            )
        self.url = url
        self.prefix = prefix
        self.stream = f"{prefix}_events"
        self.max_age = max_age
        self.max_len = max_len
        self.connect_options = dict(connect_options or {})
        self._nc: Client | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"NatsBackend({self.url!r}, prefix={self.prefix!r})"

    async def start(self) -> None:
        async with self._lock:
            if self._nc is not None and not self._nc.is_closed:
                return
            options: dict[str, Any] = {
                "name": "bastion",
                "max_reconnect_attempts": -1,  # a restarted server is found again
                "allow_reconnect": True,
                **self.connect_options,
            }
            try:
                nc = await nats.connect(self.url, **options)
            except Exception as exc:
                raise MessagingError(f"cannot connect to NATS at {self.url}: {exc!r}") from exc
            if not nc._server_info.get("jetstream"):
                await nc.close()
                raise ConfigurationError(
                    f"the NATS server at {self.url} has JetStream off, and events are stored "
                    "there: start it with `nats-server -js` (or jetstream {} in its config)"
                )
            await nc.jetstream().add_stream(
                name=self.stream,
                subjects=[f"{self.prefix}.events.>"],
                max_age=self.max_age,
                max_msgs_per_subject=self.max_len,
                storage=api.StorageType.FILE,
            )
            self._nc = nc

    async def stop(self) -> None:
        async with self._lock:
            nc, self._nc = self._nc, None
            if nc is not None and not nc.is_closed:
                await nc.drain()

    async def ping(self) -> None:
        await self._client().flush(timeout=2)

    def _client(self) -> Client:
        if self._nc is None:
            raise MessagingError("NatsBackend is not started (the app's lifespan starts it)")
        return self._nc

    async def publish(self, subject: str, data: bytes, headers: Mapping[str, str]) -> None:
        js = self._client().jetstream()
        try:
            await js.publish(f"{self.prefix}.events.{subject}", data, headers=dict(headers) or None)
        except nats.js.errors.NoStreamResponseError:
            raise MessagingError(
                f"no JetStream stream stores {self.prefix}.events.{subject}: the stream "
                f"{self.stream} was deleted; restart the app to create it again"
            ) from None

    async def request(
        self,
        subject: str,
        data: bytes,
        headers: Mapping[str, str],
        timeout: float,  # noqa: ASYNC109
    ) -> Reply:
        try:
            msg = await self._client().request(
                f"{self.prefix}.requests.{subject}",
                data,
                timeout=timeout,
                headers=dict(headers) or None,
            )
        except nats.errors.NoRespondersError:
            raise NoResponders(f"no handler answers requests on {subject!r}") from None
        except (nats.errors.TimeoutError, TimeoutError):
            raise RequestTimeout(f"no reply on {subject!r} within {timeout} s") from None
        return Reply(msg.data, dict(msg.headers or {}))

    async def subscribe(self, subscription: Subscription, consumer: str) -> Source:
        nc = self._client()
        subject = subscription.subject
        if subscription.kind == "request":
            source = _RequestSource(subscription)
            source.sub = await nc.subscribe(
                f"{self.prefix}.requests.{subject}", queue=subscription.group, cb=source.arrived
            )
            return source
        js = nc.jetstream()
        durable = _durable(subscription.group, subject)
        config = api.ConsumerConfig(
            durable_name=durable,
            filter_subject=f"{self.prefix}.events.{subject}",
            ack_policy=api.AckPolicy.EXPLICIT,
            deliver_policy=api.DeliverPolicy.ALL,
            ack_wait=subscription.redeliver_after,
            max_deliver=subscription.max_attempts,
            max_ack_pending=-1,
        )
        await js.add_consumer(self.stream, config)  # creates, or updates the options
        pull = await js.pull_subscribe_bind(durable, self.stream)
        return _EventSource(subscription, pull)


def _durable(group: str, subject: str) -> str:
    """A consumer name per group and subject (no dots allowed; the hash keeps ``a_b.c`` and
    ``a.b_c`` apart)."""
    digest = hashlib.sha1(f"{group}\0{subject}".encode()).hexdigest()[:8]
    return f"{group}_{subject.replace('.', '_')}_{digest}"


class _EventSource(Source):
    def __init__(self, subscription: Subscription, pull: Any) -> None:
        self.subscription = subscription
        self.pull = pull

    async def fetch(self, limit: int, wait: float) -> list[Delivery]:
        try:
            msgs = await self.pull.fetch(limit, timeout=wait)
        except (nats.errors.TimeoutError, TimeoutError):
            return []
        return [_EventDelivery(self.subscription, msg) for msg in msgs]

    async def close(self) -> None:
        await self.pull.unsubscribe()


class _EventDelivery(Delivery):
    __slots__ = ("msg",)

    def __init__(self, subscription: Subscription, msg: Msg) -> None:
        metadata = msg.metadata
        super().__init__(
            subject=subscription.subject,
            kind="event",
            data=msg.data,
            headers=dict(msg.headers or {}),
            attempt=metadata.num_delivered or 1,
            id=str(metadata.sequence.stream if metadata.sequence else ""),
        )
        self.msg = msg

    async def ack(self) -> None:
        await self.msg.ack()

    async def retry(self, delay: float) -> None:
        await self.msg.nak(delay=delay)

    async def touch(self) -> None:
        await self.msg.in_progress()

    async def respond(self, data: bytes, headers: Mapping[str, str]) -> None:
        return None  # events are not answered


class _RequestSource(Source):
    """Core NATS pushes requests; they wait here until the consumer has room for them."""

    def __init__(self, subscription: Subscription) -> None:
        self.subscription = subscription
        self.queue: asyncio.Queue[Msg] = asyncio.Queue()
        self.sub: Any = None
        self.leaving: asyncio.Task[None] | None = None

    async def arrived(self, msg: Msg) -> None:
        self.queue.put_nowait(msg)

    async def fetch(self, limit: int, wait: float) -> list[Delivery]:
        try:
            first = await asyncio.wait_for(self.queue.get(), wait)
        except TimeoutError:
            return []
        msgs = [first]
        while len(msgs) < limit and not self.queue.empty():
            msgs.append(self.queue.get_nowait())
        return [_RequestDelivery(self.subscription, msg) for msg in msgs]

    def wake(self) -> None:
        # Stopping: leave the queue group now, so new requests go to the members that stay.
        super().wake()
        if self.sub is not None:
            sub, self.sub = self.sub, None
            self.leaving = asyncio.get_running_loop().create_task(sub.unsubscribe())

    async def close(self) -> None:
        if self.sub is not None:
            await self.sub.unsubscribe()
        if self.leaving is not None:
            await self.leaving
        while not self.queue.empty():  # arrived while leaving: say so rather than be silent
            msg = self.queue.get_nowait()
            if msg.reply:
                await msg._client.publish(
                    msg.reply,
                    _STOPPING,
                    headers={ERROR_CODE: "503", ERROR: "The consumer is stopping; try again"},
                )


class _RequestDelivery(Delivery):
    __slots__ = ("msg",)

    def __init__(self, subscription: Subscription, msg: Msg) -> None:
        super().__init__(
            subject=subscription.subject,
            kind="request",
            data=msg.data,
            headers=dict(msg.headers or {}),
            attempt=1,
            id=msg.reply or "",
        )
        self.msg = msg

    async def ack(self) -> None:
        return None  # a request is settled by its reply

    async def retry(self, delay: float) -> None:
        return None

    async def touch(self) -> None:
        return None

    async def respond(self, data: bytes, headers: Mapping[str, str]) -> None:
        if self.msg.reply:
            await self.msg._client.publish(self.msg.reply, data, headers=dict(headers) or None)
