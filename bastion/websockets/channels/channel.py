"""``Channel``: what one socket does on one topic, written as a class.

One instance per (connection, topic), created on ``phx_join`` and dropped on leave or
disconnect, like a Phoenix channel process; its messages are handled one at a time, in order.
Every hook and handler is ``async`` and may declare dependencies like a route handler::

    class Room(Channel):
        intercepts = ("shout",)

        async def join(self, topic: str, params: JoinParams, user: CurrentUser) -> dict:
            if not user.may_enter(topic):
                raise ChannelError("unauthorized")       # error reply; no channel
            self.assigns["user"] = user
            return {"welcome": user.name}                 # ok reply

        @on("new_msg")
        async def new_msg(self, payload: NewMessage) -> None:
            await self.broadcast("new_msg", {"body": payload.body})   # replies ok

        async def handle_out(self, event: str, payload: Any) -> Any:
            return None if self.assigns["user"].muted else payload    # None: not sent
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from bastion.exceptions import ConfigurationError

if TYPE_CHECKING:
    from bastion.websockets.channels._connection import Connection

F = TypeVar("F", bound=Callable[..., Any])
_RESERVED = ("phx_join", "phx_leave", "phx_reply", "phx_close", "phx_error", "heartbeat")
_HOOKS = ("join", "after_join", "handle_out", "terminate")


class ChannelError(Exception):
    """Raised in ``join`` or a handler: the client gets ``{status: "error", response}``.

    ``ChannelError("unauthorized")`` replies ``{"reason": "unauthorized"}``; a mapping is
    sent as it is.
    """

    def __init__(self, response: str | Mapping[str, Any]) -> None:
        self.response = {"reason": response} if isinstance(response, str) else dict(response)
        super().__init__(self.response)


def on(event: str) -> Callable[[F], F]:
    """Mark a channel method as the handler of the client's pushes of ``event``.

    Its ``payload`` parameter receives the push's payload, validated against its annotation
    (a msgspec Struct, a dict, ``bytes`` for binary pushes…); what it returns is the ``ok``
    reply's response.
    """
    if event in _RESERVED or event.startswith("phx_"):
        raise ConfigurationError(f"@on({event!r}): {event!r} is reserved by the protocol")

    def decorator(fn: F) -> F:
        fn.__bastion_channel_event__ = event  # type: ignore[attr-defined]
        return fn

    return decorator


class Channel:
    """Base class of channels: override ``join`` (who may enter), add ``@on`` handlers."""

    #: Broadcast events that go through ``handle_out`` for each socket before being sent.
    intercepts: ClassVar[Sequence[str]] = ()
    #: ``event → method name``, gathered from the ``@on`` marks at class creation.
    handlers: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        handlers = dict(cls.handlers)
        for name, value in vars(cls).items():
            event = getattr(value, "__bastion_channel_event__", None)
            if event is None:
                continue
            if not inspect.iscoroutinefunction(value):
                raise ConfigurationError(
                    f"{cls.__name__}.{name}: a channel handler must be `async def`"
                )
            handlers[event] = name
        cls.handlers = handlers
        for hook in _HOOKS:
            method = getattr(cls, hook)
            if not inspect.iscoroutinefunction(method):
                raise ConfigurationError(f"{cls.__name__}.{hook} must be `async def`")
        if isinstance(cls.intercepts, str):
            raise ConfigurationError(
                f"{cls.__name__}.intercepts is a string; write a tuple: ({cls.intercepts!r},)"
            )
        if cls.intercepts and cls.handle_out is Channel.handle_out:
            raise ConfigurationError(
                f"{cls.__name__} intercepts {list(cls.intercepts)} but does not define "
                "`async def handle_out(self, event, payload)`; define it or drop intercepts"
            )

    def __init__(self, topic: str, connection: Connection, join_ref: str | None) -> None:
        self.topic = topic
        self.join_ref = join_ref
        #: Per-channel state, starting as a copy of what the socket's ``connect`` returned.
        self.assigns: dict[str, Any] = dict(connection.assigns)
        #: Unique per (connection, join): presence owner and ``broadcast_from`` sender.
        self.id = f"{connection.id}:{join_ref}"
        self._connection = connection

    # -- hooks ---------------------------------------------------------------------------------
    async def join(self, topic: str, params: dict[str, Any]) -> Any:
        """Decide whether the socket may join; return the ``ok`` response (None: ``{}``).

        Raise ``ChannelError`` (or an ``HTTPError``, e.g. from an auth dependency) to refuse.
        The default lets everyone in.
        """
        return None

    async def after_join(self) -> None:
        """Runs after the ``ok`` reply went out: push ``presence_state``, track, etc."""

    async def handle_out(self, event: str, payload: Any) -> Any:
        """For ``intercepts``: return the payload to send to this socket, or None to skip."""
        return payload

    async def terminate(self, reason: str) -> None:
        """The channel ends: ``"left"``, ``"closed"`` (socket gone), ``"rejoined"`` or
        ``"error"``. Presences are untracked already."""

    # -- actions -------------------------------------------------------------------------------
    async def push(self, event: str, payload: Any) -> None:
        """Send ``event`` to this socket only."""
        self._connection.push(self.join_ref, self.topic, event, payload)

    async def broadcast(self, event: str, payload: Any) -> None:
        """Send ``event`` to every socket on this topic, in every process (this one too)."""
        await self._connection.plugin.pubsub.broadcast(self.topic, event, payload)

    async def broadcast_from(self, event: str, payload: Any) -> None:
        """Like ``broadcast``, except to this socket."""
        pubsub = self._connection.plugin.pubsub
        await pubsub.broadcast(self.topic, event, payload, sender=self.id)

    async def track(self, key: str, meta: Mapping[str, Any]) -> str:
        """Mark ``key`` (a user id…) present on this topic with ``meta``; returns its
        ``phx_ref``. It leaves by itself when the channel ends."""
        return await self._connection.plugin.presence.track(self.id, self.topic, key, meta)

    async def update(self, key: str, meta: Mapping[str, Any]) -> str:
        """Replace the meta this channel tracks for ``key``."""
        return await self._connection.plugin.presence.update(self.id, self.topic, key, meta)

    async def untrack(self, key: str | None = None) -> None:
        """Remove ``key`` (or everything this channel tracks) from the topic's presence."""
        await self._connection.plugin.presence.untrack(self.id, self.topic, key)

    def presence_list(self) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """The topic's presences, as ``presence_state`` carries them."""
        return self._connection.plugin.presence.list(self.topic)
