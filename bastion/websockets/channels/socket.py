"""``ChannelSocket``: a Phoenix-compatible socket endpoint, included like a router.

    app = App(plugins=[PubSubPlugin()])
    app.include(ChannelSocket("/socket", channels={"room:*": RoomChannel}, connect=auth))

serves ``/socket/websocket?vsn=2.0.0``, the URL the ``phoenix`` JS client builds for
``new Socket("/socket")``, and with ``longpoll=True`` also ``/socket/longpoll`` (see
``longpoll.py``). ``connect`` (optional, with dependencies) runs on the handshake: it
returns the socket's assigns (a mapping), or False / raises ``HTTPError`` to refuse.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from bastion.di.depends import Depends
from bastion.exceptions import ConfigurationError
from bastion.http.connection import HTTPConnection
from bastion.http.request import Request
from bastion.http.response import Response
from bastion.routing.router import Router
from bastion.websockets.channels import longpoll as long_poll
from bastion.websockets.channels._calls import Call
from bastion.websockets.channels._frames import V2, Serializer, serializer_for
from bastion.websockets.channels._relay import Relay
from bastion.websockets.channels.channel import Channel
from bastion.websockets.channels.longpoll import LongPollSession
from bastion.websockets.pubsub.plugin import PubSubPlugin, plugin_of
from bastion.websockets.websocket import WebSocket, WSCloseCode

_TOKEN_PREFIX = "base64url.bearer.phx."
#: Frames phoenix.js sends in one long-poll POST at most.
_BATCH = 100


@dataclass(frozen=True)
class SocketLimits:
    """Per-connection limits; a client that breaks one is disconnected.

    - ``max_message_size`` bytes per frame (close 1009);
    - ``messages_per_second`` sustained, ``burst`` at once (close 1008);
    - ``outbound_queue`` frames waiting for a slow client (then close 1008: the socket
      reconnects and catches up, instead of the server buffering without end);
    - ``max_channels`` joined topics, ``max_pending`` unhandled pushes per channel
      (error replies);
    - ``heartbeat_timeout`` seconds without any frame (close 1000; phoenix.js sends a
      heartbeat every 30 s).
    """

    max_message_size: int = 65_536
    messages_per_second: float = 50.0
    burst: int = 100
    outbound_queue: int = 1_000
    max_channels: int = 100
    max_pending: int = 100
    heartbeat_timeout: float = 60.0

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not value > 0:
                raise ConfigurationError(f"SocketLimits({name}={value!r}): use a positive number")


class Setup:
    """What a connection needs, compiled once per app (and again if overrides change)."""

    def __init__(self, socket: ChannelSocket, plugin: PubSubPlugin, request: Request) -> None:
        app = request.app
        self.plugin = plugin
        self.stamp = tuple(app.dependency_overrides.items())
        container = app.container
        where = f"ChannelSocket {socket.path}"
        self.connect = (
            Call(socket.connect, where=f"{where} connect", container=container, given=())
            if socket.connect is not None
            else None
        )
        self.calls: dict[tuple[type[Channel], str], Call] = {}
        for cls in {*socket.exact.values(), *(c for _, c in socket.prefixes)}:
            for name, given in [("join", ("topic", "params"))] + [
                (method, ("payload", "event")) for method in cls.handlers.values()
            ]:
                fn = getattr(cls, name)
                self.calls[cls, name] = Call(
                    fn,
                    where=f"{where} {cls.__name__}.{name}",
                    container=container,
                    given=given,
                    method=True,
                )


class ChannelSocket(Router):
    """A socket at ``path`` whose topics are served by channel classes.

    ``channels`` maps topics to classes: exact (``"lobby"``) or a prefix ending in ``*``
    (``"room:*"``); the longest matching prefix wins. ``check_origin``: True accepts
    browsers only from the socket's own host, a list names the allowed origins
    (``"https://example.com"``), False accepts any (clients without Origin always pass).
    ``longpoll=True`` adds Phoenix's long-poll transport; ``poll_window`` is how long a poll
    waits for frames, and how long a session outlives its client's last request.
    """

    def __init__(
        self,
        path: str,
        *,
        channels: Mapping[str, type[Channel]],
        connect: Callable[..., Any] | None = None,
        limits: SocketLimits | None = None,
        check_origin: bool | Sequence[str] = True,
        longpoll: bool = False,
        poll_window: float = 10.0,
        dependencies: Sequence[Any] = (),
    ) -> None:
        if not path.startswith("/") or path.endswith("/"):
            raise ConfigurationError(
                f"ChannelSocket path {path!r} must start with '/' and not end with one, "
                "e.g. '/socket' (clients connect to '/socket/websocket')"
            )
        super().__init__(dependencies=dependencies)
        self.path = path
        self.connect = connect
        self.limits = limits if limits is not None else SocketLimits()
        self.check_origin = check_origin if isinstance(check_origin, bool) else set(check_origin)
        self.exact, self.prefixes = _compile_topics(channels)
        if not poll_window > 0:
            raise ConfigurationError(f"ChannelSocket poll_window={poll_window!r}: use seconds > 0")
        self.poll_window = poll_window
        #: Open long-poll sessions by token, and the tasks serving them.
        self.sessions: dict[str, LongPollSession] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.relay: Relay | None = None  # made on first use, with a shared pub/sub
        self._setup: Setup | None = None
        # Real objects, not strings: the dependency is this instance's own method.
        setup = Annotated[Setup, Depends(self._prepare, scope="app")]

        async def serve(websocket: WebSocket, setup: Setup) -> None:
            await self._serve(websocket, setup)

        serve.__annotations__ = {"websocket": WebSocket, "setup": setup, "return": None}
        # Named after the path, not "serve"/"poll": an app's own route names stay its own.
        name = "phoenix" + path.replace("/", "_")
        self.websocket(path + "/websocket", name=name + "_websocket")(serve)
        if not longpoll:
            return

        async def poll(request: Request, setup: Setup) -> Response:
            return await long_poll.poll(self, await self._current(setup, request), request)

        async def publish(request: Request, setup: Setup) -> Response:
            return await long_poll.publish(self, setup, request)

        for handler in (poll, publish):
            handler.__annotations__ = {"request": Request, "setup": setup, "return": Response}
        self.get(path + "/longpoll", include_in_schema=False, name=name + "_longpoll")(poll)
        self.post(
            path + "/longpoll",
            include_in_schema=False,
            name=name + "_longpoll",
            max_body_size=_BATCH * self.limits.max_message_size,
        )(publish)

    def channel_for(self, topic: str) -> type[Channel] | None:
        """The class serving ``topic``, or None."""
        found = self.exact.get(topic)
        if found is not None:
            return found
        for prefix, cls in self.prefixes:
            if topic.startswith(prefix):
                return cls
        return None

    async def _prepare(self, request: Request) -> Setup:
        """App-scoped: compiled at start-up, so a wrong signature stops the app there."""
        self._setup = Setup(self, plugin_of(request.app, f"ChannelSocket({self.path!r})"), request)
        return self._setup

    async def _current(self, setup: Setup, connection: HTTPConnection) -> Setup:
        """``setup``, compiled again if a test has changed the dependency overrides since."""
        if setup.stamp != tuple(connection.app.dependency_overrides.items()):
            return await self._prepare(Request(connection.scope, _no_receive))
        return setup

    async def _serve(self, websocket: WebSocket, setup: Setup) -> None:
        from bastion.websockets.channels._connection import Connection, OverWebSocket

        setup = await self._current(setup, websocket)
        outcome = await self.admit(websocket, setup)
        if isinstance(outcome, str):
            await websocket.close(WSCloseCode.POLICY_VIOLATION, outcome)
            return
        offered = websocket.subprotocols
        await websocket.accept(subprotocol="phoenix" if "phoenix" in offered else None)
        transport = OverWebSocket(websocket, self.limits.heartbeat_timeout)
        await Connection(self, setup, transport, outcome, serializer_of(websocket)).run()

    async def admit(self, connection: HTTPConnection, setup: Setup) -> dict[str, Any] | str:
        """A new connection's assigns, or why it is refused (``connect`` may raise too)."""
        refusal = self._refusal(connection)
        if refusal is not None:
            return refusal
        if setup.connect is None:
            return {}
        assigns = await setup.connect(connection.scope, {})
        if assigns is False:
            return "Connection refused"
        if assigns is None or assigns is True:
            return {}
        if not isinstance(assigns, Mapping):
            raise TypeError(
                f"ChannelSocket connect returned {assigns!r}; return a mapping of "
                "assigns, True/None to accept, or False to refuse"
            )
        return dict(assigns)

    def _refusal(self, connection: HTTPConnection) -> str | None:
        vsn = connection.query_params.get("vsn")
        if serializer_for(vsn) is None:
            return f"Unsupported serializer vsn {vsn}; this socket speaks 2.0.0 and 1.0.0"
        origin = connection.headers.get("origin")
        if origin is None or self.check_origin is False:
            return None
        if self.check_origin is True:
            host = connection.headers.get("host", "")
            allowed = origin.split("://", 1)[-1] == host
        else:
            allowed = origin in self.check_origin
        return None if allowed else f"Origin {origin} is not allowed"


def serializer_of(connection: HTTPConnection) -> Serializer:
    """The serializer of an admitted connection (``admit`` refuses unknown versions)."""
    return serializer_for(connection.query_params.get("vsn")) or V2


def phoenix_token(connection: HTTPConnection) -> str | None:
    """The ``authToken`` phoenix.js sends: in ``Sec-WebSocket-Protocol`` on a WebSocket,
    in ``X-Phoenix-AuthToken`` on a long poll. Takes the WebSocket or a ``Request``."""
    headers = connection.headers
    token = headers.get("x-phoenix-authtoken")
    if token is not None:
        return token
    for protocol in headers.get("sec-websocket-protocol", "").split(","):
        protocol = protocol.strip()
        if protocol.startswith(_TOKEN_PREFIX):
            encoded = protocol[len(_TOKEN_PREFIX) :]
            try:
                return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
            except (ValueError, UnicodeDecodeError):
                return None
    return None


def _compile_topics(
    channels: Mapping[str, type[Channel]],
) -> tuple[dict[str, type[Channel]], list[tuple[str, type[Channel]]]]:
    exact: dict[str, type[Channel]] = {}
    prefixes: list[tuple[str, type[Channel]]] = []
    if not channels:
        raise ConfigurationError("ChannelSocket(channels={...}) is empty; map a topic to a Channel")
    for pattern, cls in channels.items():
        if not (isinstance(cls, type) and issubclass(cls, Channel)):
            raise ConfigurationError(
                f"ChannelSocket channels[{pattern!r}] is {cls!r}; map topics to Channel subclasses"
            )
        if not pattern or pattern == "phoenix" or "*" in pattern[:-1]:
            raise ConfigurationError(
                f"ChannelSocket topic pattern {pattern!r}: use an exact topic ('lobby') or a "
                "prefix ending in '*' ('room:*'); 'phoenix' is reserved for heartbeats"
            )
        if pattern.endswith("*"):
            prefixes.append((pattern[:-1], cls))
        else:
            exact[pattern] = cls
    prefixes.sort(key=lambda item: len(item[0]), reverse=True)
    return exact, prefixes


async def _no_receive() -> dict[str, Any]:
    return {"type": "websocket.disconnect", "code": 1000}
