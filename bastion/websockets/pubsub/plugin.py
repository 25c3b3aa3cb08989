"""``PubSubPlugin``: one pub/sub and one presence tracker for the app, started with it.

``App(plugins=[PubSubPlugin()])`` runs in one process; ``PubSubPlugin(RedisPubSub(url))``
spans every process sharing that Redis. Handlers ask for ``pubsub: PubSub`` or
``presence: Presence``; code outside requests (jobs, scripts) calls ``plugin.broadcast``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol

from bastion.exceptions import ConfigurationError

# A module reference, not a name: presence imports this package's base first.
from bastion.websockets.presence import tracker
from bastion.websockets.pubsub.base import Message, PubSub
from bastion.websockets.pubsub.memory import MemoryPubSub
from bastion.websockets.websocket import WSCloseCode

if TYPE_CHECKING:
    from bastion.app import App

logger = logging.getLogger("bastion.pubsub")


class Closable(Protocol):
    """An open connection the plugin closes when the app shuts down."""

    async def shutdown(self, code: int) -> None: ...


class PubSubPlugin:
    """Starts the backend and presence with the app; on shutdown closes the open channel
    sockets with 1001 (going away), tells the peers its presences left, and disconnects.

    ``presence_heartbeat`` and ``presence_timeout`` (seconds): how often this process says
    it is alive, and how long a silent process keeps its presences before they leave;
    ``presence_diff_interval``: the presence changes of that many seconds on a topic go to
    its sockets as one ``presence_diff``.
    """

    def __init__(
        self,
        backend: PubSub | None = None,
        *,
        presence_heartbeat: float = 5.0,
        presence_timeout: float = 30.0,
        presence_diff_interval: float = 0.05,
        shutdown_timeout: float = 5.0,
    ) -> None:
        if backend is not None and not isinstance(backend, PubSub):
            raise ConfigurationError(
                f"PubSubPlugin(backend=...) takes a pub/sub backend such as MemoryPubSub() or "
                f"RedisPubSub(url), not {backend!r}"
            )
        self.pubsub: PubSub = backend if backend is not None else MemoryPubSub()
        self.presence = tracker.Presence(
            self.pubsub,
            heartbeat_interval=presence_heartbeat,
            down_after=presence_timeout,
            diff_interval=presence_diff_interval,
        )
        self.shutdown_timeout = shutdown_timeout
        #: Open channel connections, closed with 1001 at shutdown.
        self.connections: set[Closable] = set()

    def on_app_init(self, app: App[Any]) -> None:
        if any(isinstance(p, PubSubPlugin) and p is not self for p in app.plugins):
            raise ConfigurationError(
                "App(plugins=[...]) has two PubSubPlugin instances; keep one (it serves every "
                "ChannelSocket and SSE endpoint of the app)"
            )
        app.provide(PubSub, self._provide_pubsub)
        app.provide(tracker.Presence, self._provide_presence)
        app.lifespan_contexts.append(self._lifespan)

    async def _provide_pubsub(self) -> PubSub:
        return self.pubsub

    async def _provide_presence(self) -> tracker.Presence:
        return self.presence

    async def broadcast(self, topic: str, event: str, payload: Any) -> Message:
        """Send ``event`` to every socket joined to ``topic`` and every SSE stream on it."""
        return await self.pubsub.broadcast(topic, event, payload)

    async def start(self) -> None:
        await self.pubsub.start()
        await self.presence.start()

    @asynccontextmanager
    async def _lifespan(self, app: App[Any]) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self._close_connections()
            await self.presence.stop()
            await self.pubsub.stop()

    async def _close_connections(self) -> None:
        connections = list(self.connections)
        if not connections:
            return
        closing = [c.shutdown(WSCloseCode.GOING_AWAY) for c in connections]
        results = await asyncio.wait_for(
            asyncio.gather(*closing, return_exceptions=True), self.shutdown_timeout
        )
        for result in results:
            if isinstance(result, Exception):
                logger.warning("A socket failed to close cleanly: %s", result)


def plugin_of(app: App[Any], user: str) -> PubSubPlugin:
    """The app's ``PubSubPlugin``, or an error telling ``user`` how to add one."""
    for plugin in app.plugins:
        if isinstance(plugin, PubSubPlugin):
            return plugin
    raise ConfigurationError(
        f"{user} needs a pub/sub: add plugins=[PubSubPlugin()] to App(...) for one process, "
        "or PubSubPlugin(RedisPubSub('redis://...')) for several"
    )
