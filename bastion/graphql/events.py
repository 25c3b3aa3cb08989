"""A pub/sub topic as an async iterator, to feed subscription resolvers.

    @strawberry.subscription
    async def article_published(self, info: Info[AppContext, None]) -> AsyncIterator[Article]:
        async for message in events(info.context.pubsub, "articles"):
            yield Article(**message.payload)

With ``PubSubPlugin(RedisPubSub(url))`` a broadcast from any process (a job, another app
server) reaches every subscriber. Pub/sub subscribers must not block, so messages wait in a
bounded queue; a subscriber too slow to keep up loses the oldest ones, never the server's
memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from bastion.websockets.pubsub.base import Message, PubSub

logger = logging.getLogger("bastion.graphql")


async def events(pubsub: PubSub, topic: str, *, buffer: int = 100) -> AsyncIterator[Message]:
    """Every message broadcast on ``topic`` from now until the subscription ends."""
    queue: asyncio.Queue[Message] = asyncio.Queue(buffer)

    def receive(message: Message) -> None:
        if queue.full():
            queue.get_nowait()
            logger.warning("A GraphQL subscriber of %r fell behind; dropped a message", topic)
        queue.put_nowait(message)

    await pubsub.subscribe(topic, receive)
    try:
        while True:
            yield await queue.get()
    finally:
        await pubsub.unsubscribe(topic, receive)
