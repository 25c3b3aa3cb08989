"""The contract every messaging backend implements: memory, NATS, Redis Streams.

A backend moves bytes: it publishes events, sends requests and waits for their reply, and
hands a consumer the messages of one subscription through a ``Source``. Each received
message is a ``Delivery`` that the consumer settles explicitly: ``ack`` (done, never again),
``retry`` (again after a delay, to any member of the group), or nothing at all, when the
process dies, and then the backend hands it to another member once it has been idle for the
subscription's ``redeliver_after`` (``touch`` tells it the work goes on). What to decode,
run, answer and retry is the consumer's business (``consumer.py``), written once.

Events are at least once across a group: each is delivered to one member, and again only
when it was not acknowledged. Requests are answered once by whichever member takes them.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["event", "request"]


@dataclass(frozen=True, slots=True)
class Subscription:
    """What a consumer asks a backend for: one subject's events or requests, for a group."""

    subject: str
    kind: Kind
    group: str
    #: Seconds an unacknowledged message may stay idle before another member gets it.
    redeliver_after: float = 30.0
    #: Deliveries before a message is given up on (a process that dies on it counts too).
    max_attempts: int = 5


@dataclass(frozen=True, slots=True)
class Reply:
    """A request's answer as it came back: the body and the headers (errors are headers)."""

    data: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class Delivery(abc.ABC):
    """One received message, settled once by the consumer."""

    __slots__ = ("attempt", "data", "deadline", "headers", "id", "kind", "subject")

    def __init__(
        self,
        *,
        subject: str,
        kind: Kind,
        data: bytes,
        headers: Mapping[str, str],
        attempt: int,
        id: str,
        deadline: float | None = None,
    ) -> None:
        self.subject = subject
        self.kind = kind
        self.data = data
        self.headers = headers
        self.attempt = attempt  # 1 on the first delivery
        self.id = id
        self.deadline = deadline  # epoch seconds after which nobody waits for the reply

    @abc.abstractmethod
    async def ack(self) -> None:
        """Handled (or given up on): never deliver it again."""

    @abc.abstractmethod
    async def retry(self, delay: float) -> None:
        """Failed: deliver it again, to any member of the group, after ``delay`` seconds."""

    @abc.abstractmethod
    async def touch(self) -> None:
        """Still being handled: restart the idle time that would hand it to another member."""

    @abc.abstractmethod
    async def respond(self, data: bytes, headers: Mapping[str, str]) -> None:
        """Send the reply of a request (called once, before ``ack``)."""


class Source(abc.ABC):
    """The messages of one subscription, fetched as the consumer has room for them."""

    @abc.abstractmethod
    async def fetch(self, limit: int, wait: float) -> list[Delivery]:
        """Up to ``limit`` messages, waiting at most ``wait`` seconds for the first: the
        redeliveries due first, then new ones. An empty list when none came."""

    def wake(self) -> None:
        """End a waiting ``fetch`` early, at stop, if that loses nothing (brokers' fetches
        end by themselves within ``wait``: cut short, they could leave a message claimed)."""
        self.woken = True  # nothing else to do: a broker's fetch ends within ``wait``

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop receiving; messages fetched and not settled are redelivered later."""


class MessagingBackend(abc.ABC):
    """Where messages travel. Safe to share by many processes (except ``MemoryBackend``)."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect, and create what publishing needs (a NATS stream); idempotent."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Disconnect; stored events stay stored."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """One round trip to the server (the readiness check); raises when it is away."""

    @abc.abstractmethod
    async def publish(self, subject: str, data: bytes, headers: Mapping[str, str]) -> None:
        """Store one event for every group that consumes ``subject``; returns once stored."""

    @abc.abstractmethod
    async def request(
        self,
        subject: str,
        data: bytes,
        headers: Mapping[str, str],
        timeout: float,  # noqa: ASYNC109
    ) -> Reply:
        """Send a request to one member of the group answering ``subject`` and wait for the
        reply: ``RequestTimeout`` after ``timeout`` seconds, ``NoResponders`` when the
        backend knows at once that nobody listens."""

    @abc.abstractmethod
    async def subscribe(self, subscription: Subscription, consumer: str) -> Source:
        """Join ``subscription.group`` as ``consumer`` (a name unique to this process)."""
