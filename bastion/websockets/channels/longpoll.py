"""Phoenix's long-poll transport, for clients that cannot keep a WebSocket open.

phoenix.js uses it when told to (``new Socket("/socket", {transport: LongPoll})``) or falls
back to it (``longPollFallbackMs: 2500``). Three kinds of request reach ``/socket/longpoll``:

- a GET without a session's token opens a session: the socket's ``connect`` runs on it, as
  on a WebSocket handshake, and the answer is ``{"status": 410, "token": ...}``;
- a GET with the token waits up to ``window`` seconds for frames:
  ``{"status": 200, "messages": [...]}``, or ``{"status": 204}`` when none came;
- a POST with the token carries client frames, one per line (``application/x-ndjson``).

phoenix.js appends ``token`` after the socket's own params, which may have a ``token`` too:
the last one is the session's, and a GET whose last token names no session opens one, as in
Phoenix. A session ends when its client has not polled for ``window`` seconds; the next
request with its token gets 410, and phoenix.js reconnects and rejoins. A session lives in
the process that opened it; with a shared pub/sub (Redis), a request that reaches another
process is relayed to it (``_relay.py``), so no sticky sessions are needed.
Refusals are problem+json answers, whose ``status`` member is what phoenix.js reads.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
from time import monotonic
from typing import TYPE_CHECKING, Any

from bastion.exceptions import Forbidden, Gone, HTTPError, PayloadTooLarge
from bastion.http.request import Request
from bastion.http.response import JSONResponse, Response
from bastion.types import Scope
from bastion.websockets.channels._relay import Relay
from bastion.websockets.pubsub.memory import MemoryPubSub
from bastion.websockets.websocket import WebSocketDisconnect, WSCloseCode

if TYPE_CHECKING:
    from bastion.websockets.channels.socket import ChannelSocket, Setup, SocketLimits


class LongPollSession:
    """One long-poll client: frames in from its POSTs, frames out to its GETs."""

    def __init__(self, node: str, scope: Scope, window: float, limits: SocketLimits) -> None:
        self.token = f"{node}.{secrets.token_urlsafe(24)}"
        self.scope = scope
        self.idle_timeout: float | None = None  # the poll window decides instead
        self.window = window
        self.max_message_size = limits.max_message_size
        self.inbox: asyncio.Queue[str | bytes] = asyncio.Queue(limits.burst)
        self.outbox: list[str] = []
        self.outbox_limit = limits.outbound_queue
        self.arrived = asyncio.Event()
        self.closed = False
        self.polling = 0
        self.last_seen = monotonic()
        self._reading: asyncio.Timeout | None = None

    # -- the transport, as the connection sees it ----------------------------------------------
    async def receive(self) -> str | bytes:
        while not self.closed:
            try:
                async with asyncio.timeout(self.window) as self._reading:
                    return await self.inbox.get()
            except TimeoutError:
                self._reading = None
                if self.polling == 0 and monotonic() - self.last_seen >= self.window:
                    self.end()  # the client stopped polling
            finally:
                self._reading = None
        raise WebSocketDisconnect(WSCloseCode.GOING_AWAY)

    async def send_text(self, data: str) -> None:
        if self.closed:
            raise WebSocketDisconnect(WSCloseCode.GOING_AWAY)
        if len(self.outbox) >= self.outbox_limit:
            raise WebSocketDisconnect(WSCloseCode.POLICY_VIOLATION, "Too slow: outbox full")
        self.outbox.append(data)
        self.arrived.set()

    async def close(self, code: int, reason: str) -> None:
        self.end()

    def end(self) -> None:
        self.closed = True
        self.arrived.set()  # a waiting poll answers now
        if self._reading is not None:
            self._reading.reschedule(-1)  # and the connection stops reading now
        while not self.inbox.empty():  # a post waiting for room goes on, and sees the end
            self.inbox.get_nowait()

    # -- the client's requests, from this process or relayed -----------------------------------
    async def take(self) -> tuple[int, list[str]]:
        """One poll: the frames written so far, or those that come within the window."""
        self.polling += 1
        try:
            if not self.outbox and not self.closed:
                self.arrived.clear()
                try:
                    async with asyncio.timeout(self.window):
                        await self.arrived.wait()
                except TimeoutError:
                    pass
                await asyncio.sleep(0)  # frames written together leave together
            messages, self.outbox = self.outbox, []
        finally:
            self.polling -= 1
            self.last_seen = monotonic()
        if messages:
            return 200, messages
        return (410 if self.closed else 204), []

    async def publish(self, body: bytes) -> None:
        """Queue the client's frames, one per line; 413 or 410 end the session."""
        self.last_seen = monotonic()
        for line in body.splitlines():
            if not line:
                continue
            if len(line) > self.max_message_size:
                self.end()
                raise PayloadTooLarge(
                    f"A message is over the limit of {self.max_message_size} bytes"
                )
            try:  # a full inbox holds the POST back, but not past the window
                async with asyncio.timeout(self.window):
                    await self.inbox.put(_frame(line))
            except TimeoutError:
                self.end()
            if self.closed:
                raise _gone()


async def poll(socket: ChannelSocket, setup: Setup, request: Request) -> Response:
    """A GET: the session's frames, relayed from its process if need be, or a new session."""
    token, session, owner = _locate(socket, setup, request)
    if session is not None:
        return _polled(session.token, *await session.take())
    if token and owner is not None:
        answer = await owner.ask(token, "poll", {}, socket.poll_window)
        if answer is not None:
            return _polled(token, answer.get("status", 204), answer.get("messages", []))
    return await _open(socket, setup, request)


async def publish(socket: ChannelSocket, setup: Setup, request: Request) -> Response:
    """A POST: the client's frames, for its session here or in another process."""
    token, session, owner = _locate(socket, setup, request)
    if session is not None:
        await session.publish(await request.body())
        return _answer(session.token, 200)
    if token and owner is not None:
        body = (await request.body()).decode("utf-8", "replace")
        answer = await owner.ask(token, "publish", {"body": body}, socket.poll_window) or {}
        status = answer.get("status", 410)
        if status == 200:
            return _answer(token, 200)
        if status != 410:
            raise HTTPError(answer.get("detail"), status_code=status)
    raise _gone()


def _locate(
    socket: ChannelSocket, setup: Setup, request: Request
) -> tuple[str | None, LongPollSession | None, Relay | None]:
    """The request's token; its session if open in this process, else the relay to the
    process that owns it (None when that is no other process)."""
    token = _token(request)
    session = socket.sessions.get(token) if token else None
    if session is not None and not session.closed:
        return token, session, None
    relay = relay_of(socket, setup)
    if token is None or relay is None or not relay.owns_elsewhere(token):
        return token, None, None
    return token, None, relay


def relay_of(socket: ChannelSocket, setup: Setup) -> Relay | None:
    """The socket's relay over a pub/sub shared between processes; None for one process."""
    pubsub = setup.plugin.pubsub
    if isinstance(pubsub, MemoryPubSub):
        return None
    if socket.relay is None or socket.relay.pubsub is not pubsub:
        socket.relay = Relay(pubsub)
    return socket.relay


async def _open(socket: ChannelSocket, setup: Setup, request: Request) -> Response:
    """A new session: the client is admitted as a WebSocket handshake would be."""
    from bastion.websockets.channels._connection import Connection
    from bastion.websockets.channels.socket import serializer_of

    try:
        outcome = await socket.admit(request, setup)
    except HTTPError as exc:
        outcome = exc.detail  # phoenix.js understands 403 only
    if isinstance(outcome, str):
        raise Forbidden(outcome)
    relay = relay_of(socket, setup)
    node = setup.plugin.pubsub.node_id
    session = LongPollSession(node, dict(request.scope), socket.poll_window, socket.limits)
    sessions = socket.sessions
    sessions[session.token] = session
    if relay is not None:
        await relay.serve(session)

    async def run() -> None:
        try:
            await Connection(socket, setup, session, outcome, serializer_of(request)).run()
        finally:
            session.end()
            sessions.pop(session.token, None)
            if relay is not None:
                await relay.stop_serving(session)

    task = asyncio.create_task(run(), name=f"bastion-longpoll-{session.token[-8:]}")
    socket.tasks.add(task)
    task.add_done_callback(socket.tasks.discard)
    return _answer(session.token, 410)


def _token(request: Request) -> str | None:
    """The session's token: the last ``token`` (the socket's params may carry one first)."""
    tokens = request.query_params.getlist("token")
    return tokens[-1] if tokens else None


def _frame(line: bytes) -> str | bytes:
    """A text frame, or a binary one that phoenix.js sent base64-encoded."""
    if line[:1] in (b"[", b"{"):
        return line.decode("utf-8", "replace")
    try:
        return base64.b64decode(line, validate=True)
    except binascii.Error:
        return line.decode("utf-8", "replace")  # the frame decoder will refuse it


def _polled(token: str, status: int, messages: list[str]) -> Response:
    if status == 410:
        raise _gone()
    return _answer(token, status, messages)


def _answer(token: str, status: int, messages: list[str] | None = None) -> Response:
    body: dict[str, Any] = {"status": status, "token": token}
    if messages:
        body["messages"] = messages
    return JSONResponse(body)


def _gone() -> Gone:
    return Gone("No such long-poll session, or it has ended; open a new one")
