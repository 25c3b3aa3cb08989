"""Message handlers on a broker: events and request/reply over NATS, Redis Streams or memory
(see docs/messaging.md).

from bastion.services.messaging import MessageBus, MessagingPlugin

bus = MessageBus()

@bus.message("orders.created")
async def on_order(order: Order, db: AsyncSession) -> None: ...

app = App(plugins=[MessagingPlugin(bus, backend="nats://127.0.0.1:4222", group="shop")])
await bus.publish("orders.created", Order(id=7))
"""

from bastion.services.messaging._options import ConsumerOptions
from bastion.services.messaging.backend import (
    Delivery,
    MessagingBackend,
    Reply,
    Source,
    Subscription,
)
from bastion.services.messaging.bus import MessageBus
from bastion.services.messaging.consumer import Consumer
from bastion.services.messaging.errors import (
    MessagingError,
    NoResponders,
    RequestFailed,
    RequestTimeout,
)
from bastion.services.messaging.handler import Handler, Message
from bastion.services.messaging.memory import MemoryBackend
from bastion.services.messaging.plugin import MessagingPlugin

__all__ = [
    "Consumer",
    "ConsumerOptions",
    "Delivery",
    "Handler",
    "MemoryBackend",
    "Message",
    "MessageBus",
    "MessagingBackend",
    "MessagingError",
    "MessagingPlugin",
    "NoResponders",
    "Reply",
    "RequestFailed",
    "RequestTimeout",
    "Source",
    "Subscription",
]
