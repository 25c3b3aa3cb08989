"""The embedded backend: one process, no server, nothing to start."""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict, deque
from typing import Any

from bastion.exceptions import ConfigurationError
from bastion.websockets.pubsub.base import Message, Subscriber, deliver, id_key


class MemoryPubSub:
    """Subscribers in a dict, history in a bounded deque per topic.

    ``history_size`` messages are kept per topic (0 keeps none) for at most ``max_topics``
    topics, the least recently used topic being forgotten first.
    """

    def __init__(self, *, history_size: int = 100, max_topics: int = 10_000) -> None:
        if history_size < 0 or max_topics < 1:
            raise ConfigurationError(
                "MemoryPubSub(history_size=..., max_topics=...): history_size must be 0 or "
                f"more and max_topics 1 or more, got {history_size} and {max_topics}"
            )
        self.node_id = uuid.uuid4().hex
        self.history_size = history_size
        self.max_topics = max_topics
        self._subscribers: dict[str, list[Subscriber]] = {}
        self._history: OrderedDict[str, deque[Message]] = OrderedDict()
        self._counter = 0
        # Ids are "<start ms>-<n>": after a restart they still sort after the old ones.
        self._epoch = int(time.time() * 1000)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self._subscribers.clear()

    async def subscribe(self, topic: str, subscriber: Subscriber) -> None:
        self._subscribers.setdefault(topic, []).append(subscriber)

    async def unsubscribe(self, topic: str, subscriber: Subscriber) -> None:
        subscribers = self._subscribers.get(topic)
        if subscribers is None:
            return
        try:
            subscribers.remove(subscriber)
        except ValueError:
            return
        if not subscribers:
            del self._subscribers[topic]

    async def broadcast(
        self,
        topic: str,
        event: str,
        payload: Any,
        *,
        sender: str | None = None,
        history: bool = True,
    ) -> Message:
        message = Message(topic, event, payload, None, sender)
        if history and self.history_size:
            self._counter += 1
            message.id = f"{self._epoch}-{self._counter}"
            self._keep(message)
        self.local_broadcast(message)
        return message

    def local_broadcast(self, message: Message) -> None:
        subscribers = self._subscribers.get(message.topic)
        if subscribers:
            deliver(subscribers, message)

    def _keep(self, message: Message) -> None:
        kept = self._history.get(message.topic)
        if kept is None:
            kept = self._history[message.topic] = deque(maxlen=self.history_size)
            if len(self._history) > self.max_topics:
                self._history.popitem(last=False)
        else:
            self._history.move_to_end(message.topic)
        kept.append(message)

    async def history(self, topic: str, after: str | None = None) -> list[Message]:
        kept = list(self._history.get(topic, ()))
        if after is None:
            return kept
        key = id_key(after)
        if key is None:
            return kept
        return [m for m in kept if (id_key(m.id or "") or (0, 0)) > key]
