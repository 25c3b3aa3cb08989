"""``MemoryBackend``: messages in this process only, for tests and single-process apps.

The same contract as the brokers in one process: events wait in a queue per subject (even
before a consumer starts), each is handled once, a failure is retried after its delay, and
messages fetched but not settled when a consumer stops go back to the queue. Requests go to
the handler through the same path and fail at once with ``NoResponders`` when no consumer
has subscribed to the subject. ``await backend.join()`` waits until all that was published
has been handled, which is what a test wants after ``publish``.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
from collections.abc import Mapping

from bastion.services.messaging.backend import (
    Delivery,
    Kind,
    MessagingBackend,
    Reply,
    Source,
    Subscription,
)
from bastion.services.messaging.errors import NoResponders, RequestTimeout


class _Queue:
    def __init__(self) -> None:
        self.items: collections.deque[_Item] = collections.deque()
        self.subscribers = 0
        self._arrived: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None

    @property
    def arrived(self) -> asyncio.Event:
        """Set when items arrive; one per event loop, as the backend may outlive a loop (an
        app started by ``asyncio.run`` and again by a ``TestClient``)."""
        loop = asyncio.get_running_loop()
        if self._arrived is None or self._arrived[0] is not loop:
            self._arrived = (loop, asyncio.Event())
        return self._arrived[1]


class _Item:
    __slots__ = ("attempt", "data", "headers", "id", "reply")

    def __init__(
        self,
        id: str,
        data: bytes,
        headers: Mapping[str, str],
        reply: asyncio.Future[Reply] | None = None,
    ) -> None:
        self.id = id
        self.data = data
        self.headers = headers
        self.reply = reply
        self.attempt = 0


class MemoryBackend(MessagingBackend):
    """In-process queues; ``max_len`` events per subject are kept (the oldest dropped)."""

    def __init__(self, *, max_len: int = 10_000) -> None:
        self.max_len = max_len
        self._queues: dict[tuple[Kind, str], _Queue] = {}
        self._ids = itertools.count(1)
        self._busy = 0  # fetched or waiting to be retried

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    def _queue(self, kind: Kind, subject: str) -> _Queue:
        queue = self._queues.get((kind, subject))
        if queue is None:
            queue = self._queues[(kind, subject)] = _Queue()
        return queue

    def _put(self, queue: _Queue, item: _Item, *, front: bool = False) -> None:
        if front:
            queue.items.appendleft(item)
        else:
            queue.items.append(item)
            while len(queue.items) > self.max_len:
                queue.items.popleft()
        queue.arrived.set()

    async def publish(self, subject: str, data: bytes, headers: Mapping[str, str]) -> None:
        self._put(self._queue("event", subject), _Item(str(next(self._ids)), data, headers))

    async def request(
        self,
        subject: str,
        data: bytes,
        headers: Mapping[str, str],
        timeout: float,  # noqa: ASYNC109
    ) -> Reply:
        queue = self._queue("request", subject)
        if not queue.subscribers:
            raise NoResponders(f"no handler answers requests on {subject!r} in this process")
        reply: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._put(queue, _Item(str(next(self._ids)), data, headers, reply))
        try:
            return await asyncio.wait_for(reply, timeout)
        except TimeoutError:
            raise RequestTimeout(f"no reply on {subject!r} within {timeout} s") from None

    async def subscribe(self, subscription: Subscription, consumer: str) -> Source:
        queue = self._queue(subscription.kind, subscription.subject)
        queue.subscribers += 1
        return _MemorySource(self, queue, subscription)

    async def join(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until every message published so far for a subscribed subject has been
        handled (or dropped); ``TimeoutError`` after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            while not self._settled():  # noqa: ASYNC110 (several counters, one test helper)
                await asyncio.sleep(0.005)

    def _settled(self) -> bool:
        return self._busy == 0 and not any(q.items for q in self._queues.values() if q.subscribers)

    def _done(self) -> None:
        self._busy -= 1


class _MemorySource(Source):
    def __init__(self, backend: MemoryBackend, queue: _Queue, subscription: Subscription) -> None:
        self.backend = backend
        self.queue = queue
        self.subscription = subscription
        self.unsettled: set[_MemoryDelivery] = set()
        self.woken = False

    def wake(self) -> None:
        super().wake()
        self.queue.arrived.set()

    async def fetch(self, limit: int, wait: float) -> list[Delivery]:
        queue = self.queue
        if not queue.items and not self.woken:
            queue.arrived.clear()
            try:
                await asyncio.wait_for(queue.arrived.wait(), wait)
            except TimeoutError:
                return []
        if self.woken:
            return []
        taken: list[Delivery] = []
        while queue.items and len(taken) < limit:
            item = queue.items.popleft()
            item.attempt += 1
            if item.attempt > self.subscription.max_attempts:
                continue
            delivery = _MemoryDelivery(self, item)
            self.unsettled.add(delivery)
            self.backend._busy += 1
            taken.append(delivery)
        return taken

    async def close(self) -> None:
        self.queue.subscribers -= 1
        for delivery in list(self.unsettled):  # back to the queue, as a broker would
            self.backend._put(self.queue, delivery.item, front=True)
            self.unsettled.discard(delivery)
            self.backend._done()


class _MemoryDelivery(Delivery):
    __slots__ = ("item", "source")

    def __init__(self, source: _MemorySource, item: _Item) -> None:
        super().__init__(
            subject=source.subscription.subject,
            kind=source.subscription.kind,
            data=item.data,
            headers=item.headers,
            attempt=item.attempt,
            id=item.id,
        )
        self.source = source
        self.item = item

    def _settle(self) -> bool:
        if self not in self.source.unsettled:
            return False
        self.source.unsettled.discard(self)
        return True

    async def ack(self) -> None:
        if self._settle():
            self.source.backend._done()

    async def retry(self, delay: float) -> None:
        if not self._settle():
            return
        backend, queue = self.source.backend, self.source.queue

        def again() -> None:
            backend._put(queue, self.item)
            backend._done()

        asyncio.get_running_loop().call_later(delay, again)

    async def touch(self) -> None:
        return None

    async def respond(self, data: bytes, headers: Mapping[str, str]) -> None:
        reply = self.item.reply
        if reply is not None and not reply.done():
            reply.set_result(Reply(data, dict(headers)))
