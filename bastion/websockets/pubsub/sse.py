"""Server-Sent Events fed by the pub/sub, resumable with ``Last-Event-ID``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from bastion.http.sse import ServerSentEvent
from bastion.websockets.pubsub.base import Message, PubSub, id_key


async def topic_events(
    pubsub: PubSub,
    topic: str,
    *,
    last_event_id: str | None = None,
    queue_size: int = 1000,
) -> AsyncIterator[ServerSentEvent]:
    """Every broadcast on ``topic`` as an SSE event (``event`` = the event name, ``id`` =
    the history id), for ``EventSourceResponse(topic_events(pubsub, topic, ...))``.

    With ``last_event_id`` the kept history after that id is sent first, then live events
    (none twice). A client that falls ``queue_size`` events behind is cut off; its browser
    reconnects with ``Last-Event-ID`` and catches up from history, so a slow reader never
    holds memory without bound.
    """
    queue: asyncio.Queue[Message] = asyncio.Queue(queue_size)
    overflowed = False

    def receive(message: Message) -> None:
        nonlocal overflowed
        try:
            queue.put_nowait(message)
        except asyncio.QueueFull:
            overflowed = True

    # Subscribe before reading history, so nothing published in between is lost.
    await pubsub.subscribe(topic, receive)
    try:
        last: tuple[int, int] | None = None
        if last_event_id is not None:
            for message in await pubsub.history(topic, last_event_id):
                yield _event(message)
                last = id_key(message.id or "")
        while not overflowed:
            message = await queue.get()
            key = id_key(message.id) if message.id is not None else None
            if last is not None and key is not None and key <= last:
                continue  # already sent from history
            yield _event(message)
    finally:
        await pubsub.unsubscribe(topic, receive)


def _event(message: Message) -> ServerSentEvent:
    return ServerSentEvent(message.payload, event=message.event, id=message.id)
