"""Pub/sub: broadcast to a topic from anywhere, in one process or across many.

``PubSub`` is the contract; ``MemoryPubSub`` (the default, one process) and ``RedisPubSub``
(several processes) implement it; ``PubSubPlugin`` starts one with the app and provides it
to handlers; ``topic_events`` turns a topic into a resumable SSE stream, ``forward`` sends
a topic's broadcasts to a plain WebSocket.
"""

from bastion.websockets.pubsub.base import Message, PubSub, Subscriber
from bastion.websockets.pubsub.forward import forward
from bastion.websockets.pubsub.memory import MemoryPubSub
from bastion.websockets.pubsub.plugin import PubSubPlugin
from bastion.websockets.pubsub.redis import RedisPubSub
from bastion.websockets.pubsub.sse import topic_events

__all__ = [
    "MemoryPubSub",
    "Message",
    "PubSub",
    "PubSubPlugin",
    "RedisPubSub",
    "Subscriber",
    "forward",
    "topic_events",
]
