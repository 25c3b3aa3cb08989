"""The pub/sub contract every backend implements, and the message it carries.

A backend delivers each broadcast to the local subscribers of its topic, in this process and
(for a shared backend) in every other process. Subscribers are plain functions called in the
event loop: they must not block and must not await, so one slow consumer can never hold up
the fan-out (channel connections put the message in their own bounded queue).

History: a broadcast made with ``history=True`` (the default) gets an ``id`` and is kept in a
bounded per-topic buffer, which SSE streams replay from ``Last-Event-ID``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from bastion.http.response import encode_json


class Message:
    """One broadcast: ``topic``, ``event``, ``payload`` (JSON-able), and where it came from.

    ``id`` is set when the message is kept in history; ``sender`` lets ``broadcast_from``
    skip the channel that sent it. The Phoenix frame is encoded once per serializer, however
    many sockets receive it.
    """

    __slots__ = ("_encoded", "_frame", "event", "id", "payload", "sender", "topic")

    def __init__(
        self,
        topic: str,
        event: str,
        payload: Any,
        id: str | None = None,
        sender: str | None = None,
    ) -> None:
        self.topic = topic
        self.event = event
        self.payload = payload
        self.id = id
        self.sender = sender
        self._frame: str | None = None
        self._encoded: dict[str, str] | None = None

    def frame(self) -> str:
        """The Phoenix V2 broadcast frame ``[null, null, topic, event, payload]``."""
        if self._frame is None:
            self._frame = encode_json([None, None, self.topic, self.event, self.payload]).decode()
        return self._frame

    def encoded(self, key: str, encode: Callable[[Message], str]) -> str:
        """``encode(self)``, computed once per ``key`` (a wire format) for every receiver."""
        encoded = self._encoded
        if encoded is None:
            encoded = self._encoded = {}
        text = encoded.get(key)
        if text is None:
            text = encoded[key] = encode(self)
        return text

    def __repr__(self) -> str:
        return f"Message({self.topic!r}, {self.event!r}, {self.payload!r}, id={self.id!r})"


Subscriber = Callable[[Message], None]


@runtime_checkable
class PubSub(Protocol):
    """Topics, subscribers and broadcasts, in one process or across many."""

    #: Unique per process: presence uses it to tell its own messages from its peers'.
    node_id: str

    async def start(self) -> None:
        """Connect (idempotent); called by the plugin's lifespan and on first use."""

    async def stop(self) -> None:
        """Disconnect and drop every subscription."""

    async def subscribe(self, topic: str, subscriber: Subscriber) -> None:
        """Call ``subscriber`` with every message broadcast on ``topic`` from now on."""

    async def unsubscribe(self, topic: str, subscriber: Subscriber) -> None:
        """Stop calling ``subscriber`` for ``topic`` (nothing happens if it was not there)."""

    async def broadcast(
        self,
        topic: str,
        event: str,
        payload: Any,
        *,
        sender: str | None = None,
        history: bool = True,
    ) -> Message:
        """Send to every subscriber of ``topic`` in every process; returns the message sent."""

    def local_broadcast(self, message: Message) -> None:
        """Deliver to this process's subscribers only (presence diffs are computed per node)."""

    async def history(self, topic: str, after: str | None = None) -> list[Message]:
        """Kept messages of ``topic`` newer than the id ``after`` (all kept ones if None)."""


_MAX_ID_PART = 2**64  # Redis stream ids are two unsigned 64-bit numbers


def id_key(message_id: str) -> tuple[int, int] | None:
    """Order of history ids (``"17"`` or Redis's ``"1700000000000-3"``); None if not an id.

    A client's ``Last-Event-ID`` comes through here, so anything else (``"²"``, 5,000
    digits, a number beyond 64 bits, which Redis refuses) is None, never an error.
    """
    first, _, second = message_id.partition("-")
    if not _id_part(first) or (second and not _id_part(second)):
        return None
    key = int(first), int(second or 0)
    return key if key[0] < _MAX_ID_PART and key[1] < _MAX_ID_PART else None


def _id_part(text: str) -> bool:
    return 0 < len(text) <= 20 and text.isascii() and text.isdigit()


def deliver(subscribers: Any, message: Message) -> None:
    """Call each subscriber; one that raises is logged and the others still get the message."""
    for subscriber in tuple(subscribers):
        try:
            subscriber(message)
        except Exception:
            import logging

            logging.getLogger("bastion.pubsub").exception(
                "A subscriber of %r failed on %r", message.topic, message.event
            )
