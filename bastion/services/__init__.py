"""Services beside the HTTP app, in the same deployment and with the same DI, settings, auth
and observability: gRPC servers (``bastion.services.grpc``) and message handlers on NATS,
Redis Streams or memory (``bastion.services.messaging``).

Each service lives in its own module and is imported only when asked for, so an app that
uses none of them needs none of their libraries (``grpcio`` comes with the ``grpc`` extra).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bastion.services.grpc import GRPC
    from bastion.services.messaging import Message, MessageBus, MessagingPlugin

#: Loaded on first use: name -> module.
_LAZY = {
    "GRPC": "bastion.services.grpc",
    "Message": "bastion.services.messaging",
    "MessageBus": "bastion.services.messaging",
    "MessagingPlugin": "bastion.services.messaging",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bastion.services' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once
    return value


__all__ = ["GRPC", "Message", "MessageBus", "MessagingPlugin"]
