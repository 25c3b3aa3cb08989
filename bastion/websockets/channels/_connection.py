"""One Phoenix socket connection: read frames, route them to channels, write to the wire.

The reader (the WebSocket handler itself) checks limits and decodes frames; a joined
channel's messages are handled in order by a task that exists only while it has some to
handle. Frames are written where they are produced, without a task or a queue hop: the
server's ``send`` is stepped once, and on uvicorn that step writes to the transport and
finishes (a broadcast to 5,000 sockets is 5,000 writes in one loop turn, as in a bare ASGI
app). Only when a write has to wait (the client reads slowly, the transport pushed back)
does a writer task finish it, and frames produced meanwhile wait in a bounded backlog: a
client whose backlog is full is disconnected, so a slow consumer never grows memory or
slows the fan-out.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Protocol

from bastion.exceptions import HTTPError
from bastion.types import Scope
from bastion.websockets._direct import (
    CLOSE_TIMEOUT,
    DirectWrite,
    Writer,
    direct_writer,
    framer_for,
)
from bastion.websockets.channels import _frames
from bastion.websockets.channels._frames import Frame, FrameError
from bastion.websockets.channels.channel import Channel, ChannelError
from bastion.websockets.pubsub.base import Message
from bastion.websockets.websocket import WebSocket, WebSocketDisconnect, WSCloseCode

if TYPE_CHECKING:
    from bastion.websockets.channels.socket import ChannelSocket, Setup

logger = logging.getLogger("bastion.channels")
MESSAGE_TOO_BIG = 1009  # RFC 6455 §7.4.1


class Transport(Protocol):
    """What a connection needs from the wire: a WebSocket, or a long-poll session."""

    #: The handshake's scope: what ``connect``, ``join`` and handlers resolve parameters from.
    scope: Scope
    #: Seconds without a client frame before closing, or None (the transport watches itself).
    idle_timeout: float | None

    async def receive(self) -> str | bytes:
        """The next client frame; raises ``WebSocketDisconnect`` once the client left."""
        ...

    def send_text(self, data: str) -> Awaitable[None]:
        """Write one frame; awaiting it raises (any error) once the client is gone."""
        ...

    async def close(self, code: int, reason: str) -> None: ...


class OverWebSocket:
    """The WebSocket transport; phoenix.js heartbeats every 30 s, so silence means gone.

    Made once the handshake is accepted; ``direct`` writes frames to the server's
    transport where the server allows it (see ``bastion.websockets._direct``).
    """

    __slots__ = ("direct", "idle_timeout", "scope", "websocket")

    def __init__(self, websocket: WebSocket, idle_timeout: float) -> None:
        self.websocket = websocket
        self.scope = websocket.scope
        self.idle_timeout: float | None = idle_timeout
        self.direct: DirectWrite | None = direct_writer(websocket._send)

    async def receive(self) -> str | bytes:
        message = await self.websocket._receive_message()
        data: str | bytes | None = message.get("text")
        return data if data is not None else message.get("bytes") or b""

    def send_text(self, data: str) -> Awaitable[None]:
        # The server's own send, not a coroutine wrapping it: one frame less per write.
        return self.websocket._send({"type": "websocket.send", "text": data})

    async def close(self, code: int, reason: str) -> None:
        await self.websocket.close(code, reason)


class _Joined:
    """A joined channel: its instance, its inbox and the task working through it (None
    while the inbox is empty: an idle channel costs no task)."""

    __slots__ = ("channel", "inbox", "subscriber", "task")

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.inbox: deque[tuple[str, Any]] = deque()
        self.task: asyncio.Task[None] | None = None
        self.subscriber: Any = None


class Connection:
    """The server side of one ``phoenix.js`` Socket."""

    def __init__(
        self,
        socket: ChannelSocket,
        setup: Setup,
        transport: Transport,
        assigns: dict[str, Any],
        serializer: _frames.Serializer = _frames.V2,
    ) -> None:
        self.socket = socket
        self.serializer = serializer
        self.setup = setup
        self.plugin = setup.plugin
        self.transport = transport
        self.assigns = assigns
        self.id = secrets.token_hex(8)
        self.limits = socket.limits
        self.channels: dict[str, _Joined] = {}
        self.closing = False  # nothing more is written
        self._closed = False  # the close frame went out (or the client is gone)
        self.writer = Writer(
            transport.send_text,
            direct=getattr(transport, "direct", None),
            framer=framer_for(serializer),
            limit=self.limits.outbound_queue,
            on_lost=self._lost,
            on_full=self._too_slow,
        )
        self._deadline: asyncio.Timeout | None = None
        self._done = asyncio.Event()

    # -- the connection's life -----------------------------------------------------------------
    async def run(self) -> None:
        self.plugin.connections.add(self)
        try:
            await self._read()
        finally:
            self.plugin.connections.discard(self)
            for joined in list(self.channels.values()):
                await self._end(joined, "closed")
            self.closing = True
            await self.writer.stop()
            self._done.set()

    async def shutdown(self, code: int) -> None:
        """Close from the server side (app shutdown) and wait until the connection ended."""
        await self.close(code, "Server shutting down")
        await self._done.wait()

    async def close(self, code: int, reason: str) -> None:
        if self._closed:
            return
        self.closing = self._closed = True
        await self.writer.stop()  # no send may run while the close frame goes out
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):  # a client that reads nothing
                await self.transport.close(code, reason)
        except Exception:
            pass  # the peer is gone already, or never took the close frame
        if self._deadline is not None:
            self._deadline.reschedule(-1)  # wake the reader now

    def send(self, frame: str) -> None:
        """Write a frame now if the transport takes it, else after the waiting ones (see
        ``Writer``); a client too slow to keep up is disconnected."""
        if not self.closing:
            self.writer.write(frame)

    def _too_slow(self) -> None:
        logger.warning("Socket %s: outbound queue full, disconnecting a slow client", self.id)
        self.closing = True  # nothing more is written; the close frame goes next
        asyncio.get_running_loop().create_task(self._close_now())

    async def _close_now(self) -> None:
        await self.close(WSCloseCode.POLICY_VIOLATION, "Too slow: outbound queue full")

    def _lost(self) -> None:
        """The client is gone: stop writing and wake the reader, which ends the connection."""
        self.closing = self._closed = True  # no close frame: nobody would read it
        if self._deadline is not None:
            self._deadline.reschedule(-1)

    def push(self, join_ref: str | None, topic: str, event: str, payload: Any) -> None:
        self.send(self.serializer.push(join_ref, topic, event, payload))

    def reply(self, frame: Frame, status: str, response: Any) -> None:
        join_ref = frame.join_ref if frame.event != "phx_join" else frame.join_ref or frame.ref
        self.send(self.serializer.reply(join_ref, frame.ref, frame.topic, status, response))

    async def _read(self) -> None:
        limits = self.limits
        tokens, stamp = float(limits.burst), time.monotonic()
        while not self.closing:
            try:
                async with asyncio.timeout(self.transport.idle_timeout) as self._deadline:
                    data = await self.transport.receive()
            except TimeoutError:
                await self.close(WSCloseCode.NORMAL, "Heartbeat timeout")
                return
            except (WebSocketDisconnect, RuntimeError):
                return  # the peer left (or we closed and the socket is done)
            finally:
                self._deadline = None
            if len(data) > limits.max_message_size:
                await self.close(MESSAGE_TOO_BIG, "Message too big")
                return
            now = time.monotonic()
            tokens = min(float(limits.burst), tokens + (now - stamp) * limits.messages_per_second)
            stamp = now
            if tokens < 1:
                await self.close(WSCloseCode.POLICY_VIOLATION, "Rate limit exceeded")
                return
            tokens -= 1
            try:
                frame = (
                    self.serializer.decode_text(data)
                    if isinstance(data, str)
                    else self.serializer.decode_binary(data)
                )
            except FrameError as error:
                await self.close(error.code, error.reason)
                return
            await self._dispatch(frame)

    # -- routing frames ------------------------------------------------------------------------
    async def _dispatch(self, frame: Frame) -> None:
        if frame.topic == "phoenix" and frame.event == "heartbeat":
            self.reply(frame, "ok", {})
            return
        if frame.event == "phx_join":
            await self._join(frame)
            return
        joined = self.channels.get(frame.topic)
        if joined is None or frame.join_ref not in (None, joined.channel.join_ref):
            self.reply(frame, "error", {"reason": "unmatched topic"})
            return
        if len(joined.inbox) >= self.limits.max_pending:
            self.reply(frame, "error", {"reason": "too many pending messages"})
            return
        self._handle_later(joined, "leave" if frame.event == "phx_leave" else "in", frame)

    def _handle_later(self, joined: _Joined, kind: str, item: Any) -> None:
        """Queue an item for the channel; a task works through the inbox if none does yet."""
        joined.inbox.append((kind, item))
        if joined.task is None:
            joined.task = asyncio.get_running_loop().create_task(self._work(joined))

    async def _join(self, frame: Frame) -> None:
        cls = self.socket.channel_for(frame.topic)
        if cls is None:
            self.reply(frame, "error", {"reason": "unmatched topic"})
            return
        old = self.channels.get(frame.topic)
        if old is not None:  # a rejoin: the old channel closes first, as in Phoenix
            await self._end(old, "rejoined")
            self.push(old.channel.join_ref, frame.topic, "phx_close", {})
        if len(self.channels) >= self.limits.max_channels:
            self.reply(frame, "error", {"reason": "too many channels"})
            return
        channel = cls(frame.topic, self, frame.join_ref or frame.ref)
        joined = self.channels[frame.topic] = _Joined(channel)
        joined.task = asyncio.create_task(self._serve_join(joined, frame))

    async def _serve_join(self, joined: _Joined, join: Frame) -> None:
        try:
            if await self._join_channel(joined, join):
                await self._handle_inbox(joined)
        finally:
            if joined.task is asyncio.current_task():
                joined.task = None

    async def _work(self, joined: _Joined) -> None:
        try:
            await self._handle_inbox(joined)
        finally:
            if joined.task is asyncio.current_task():
                joined.task = None

    async def _join_channel(self, joined: _Joined, join: Frame) -> bool:
        """Run ``join`` and ``after_join``; False if the channel did not survive them."""
        channel = joined.channel
        scope = self.transport.scope
        values = {"topic": channel.topic, "params": join.payload}
        try:
            response = await self.setup.calls[type(channel), "join"](scope, values, channel)
        except Exception as exc:
            self.reply(join, "error", _failure(exc, f"{type(channel).__name__}.join"))
            if self.channels.get(channel.topic) is joined:
                del self.channels[channel.topic]
            return False
        joined.subscriber = self._subscriber(joined)
        await self.plugin.pubsub.subscribe(channel.topic, joined.subscriber)
        await self.plugin.presence.watch(channel.topic)
        self.reply(join, "ok", response)
        try:
            await channel.after_join()
        except Exception as exc:
            logger.error("%s.after_join failed", type(channel).__name__, exc_info=exc)
            self.push(channel.join_ref, channel.topic, "phx_error", {})
            await self._end(joined, "error")
            return False
        return True

    async def _handle_inbox(self, joined: _Joined) -> None:
        """The channel's pushes, intercepted broadcasts and leave, one at a time, in order."""
        channel, inbox = joined.channel, joined.inbox
        while inbox:
            kind, item = inbox.popleft()
            if kind == "in":
                await self._handle_in(channel, item)
            elif kind == "out":
                await self._handle_out(channel, item)
            else:
                self.reply(item, "ok", {})
                await self._end(joined, "left")
                self.push(channel.join_ref, channel.topic, "phx_close", {})
                return

    def _subscriber(self, joined: _Joined) -> Any:
        channel = joined.channel
        intercepts = frozenset(type(channel).intercepts)
        encode = self.serializer.broadcast
        max_pending = self.limits.max_pending

        def deliver(message: Message) -> None:
            if message.sender is not None and message.sender == channel.id:
                return
            if message.event in intercepts:
                if len(joined.inbox) >= max_pending:
                    self.send(encode(message))  # the inbox overflowed: it cannot be filtered
                    logger.warning("Socket %s: intercept queue full", self.id)
                else:
                    self._handle_later(joined, "out", message)
            else:
                self.send(encode(message))

        return deliver

    async def _handle_in(self, channel: Channel, frame: Frame) -> None:
        method = type(channel).handlers.get(frame.event)
        if method is None:
            self.reply(frame, "error", {"reason": f"unhandled event {frame.event!r}"})
            return
        values = {"payload": frame.payload, "event": frame.event}
        try:
            response = await self.setup.calls[type(channel), method](
                self.transport.scope, values, channel
            )
        except Exception as exc:
            self.reply(frame, "error", _failure(exc, f"{type(channel).__name__}.{method}"))
            return
        self.reply(frame, "ok", response)

    async def _handle_out(self, channel: Channel, message: Message) -> None:
        try:
            payload = await channel.handle_out(message.event, message.payload)
        except Exception as exc:
            logger.error("%s.handle_out failed", type(channel).__name__, exc_info=exc)
            return
        if payload is not None:
            self.push(channel.join_ref, channel.topic, message.event, payload)

    async def _end(self, joined: _Joined, reason: str) -> None:
        """Stop a channel: unsubscribe, untrack its presences, run its ``terminate``."""
        channel = joined.channel
        if self.channels.get(channel.topic) is joined:
            del self.channels[channel.topic]
        task = joined.task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if joined.subscriber is None:
            return  # never joined
        try:
            await self.plugin.pubsub.unsubscribe(channel.topic, joined.subscriber)
            await self.plugin.presence.untrack(channel.id, channel.topic)
            await self.plugin.presence.unwatch(channel.topic)
            await channel.terminate(reason)
        except Exception as exc:
            logger.error(
                "Ending %s on %r failed", type(channel).__name__, channel.topic, exc_info=exc
            )


def _failure(exc: Exception, where: str) -> dict[str, Any]:
    """The error reply for a failed join or handler; bugs are logged, not shown."""
    if isinstance(exc, ChannelError):
        return exc.response
    if isinstance(exc, HTTPError):
        return {"reason": exc.detail, "status": exc.status_code}
    logger.error("%s failed", where, exc_info=exc)
    return {"reason": "internal error"}
