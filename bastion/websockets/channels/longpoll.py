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
the process that opened it, so several processes behind one address need sticky sessions.
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
from bastion.websockets.websocket import WebSocketDisconnect, WSCloseCode

if TYPE_CHECKING:
    from bastion.websockets.channels.socket import ChannelSocket, Setup


class LongPollSession:
    """One long-poll client: frames in from its POSTs, frames out to its GETs."""

    def __init__(self, scope: Scope, window: float, inbox: int, outbox: int) -> None:
        self.token = secrets.token_urlsafe(24)
        self.scope = scope
        self.idle_timeout: float | None = None  # the poll window decides instead
        self.window = window
        self.inbox: asyncio.Queue[str | bytes] = asyncio.Queue(inbox)
        self.outbox: list[str] = []
        self.outbox_limit = outbox
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
                    self._end()  # the client stopped polling
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
        self._end()

    def _end(self) -> None:
        self.closed = True
        self.arrived.set()  # a waiting poll answers now
        if self._reading is not None:
            self._reading.reschedule(-1)  # and the connection stops reading now

    # -- the client's requests -----------------------------------------------------------------
    async def poll(self) -> Response:
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
            return _answer(200, self.token, messages)
        if self.closed:
            raise Gone("This long-poll session has ended; open a new one")
        return _answer(204, self.token)

    async def publish(self, body: bytes, max_message_size: int) -> Response:
        self.last_seen = monotonic()
        for line in body.splitlines():
            if not line:
                continue
            if len(line) > max_message_size:
                self._end()
                raise PayloadTooLarge(f"A message is over the limit of {max_message_size} bytes")
            try:  # a full inbox holds the POST back, but not past the window
                async with asyncio.timeout(self.window):
                    await self.inbox.put(_frame(line))
            except TimeoutError:
                self._end()
            if self.closed:
                raise Gone("This long-poll session has ended; open a new one")
        return _answer(200, self.token)


async def open_session(socket: ChannelSocket, setup: Setup, request: Request) -> Response:
    """A GET without a token: admit the client as a WebSocket handshake would."""
    from bastion.websockets.channels._connection import Connection

    try:
        outcome = await socket.admit(request, setup)
    except HTTPError as exc:
        outcome = exc.detail  # phoenix.js understands 403 only
    if isinstance(outcome, str):
        raise Forbidden(outcome)
    limits = socket.limits
    session = LongPollSession(
        dict(request.scope), socket.poll_window, limits.burst, limits.outbound_queue
    )
    sessions = socket.sessions
    sessions[session.token] = session

    async def run() -> None:
        try:
            await Connection(socket, setup, session, outcome).run()
        finally:
            session._end()
            sessions.pop(session.token, None)

    task = asyncio.create_task(run(), name=f"bastion-longpoll-{session.token[:8]}")
    socket.tasks.add(task)
    task.add_done_callback(socket.tasks.discard)
    return _answer(410, session.token)


def session_of(socket: ChannelSocket, request: Request) -> LongPollSession | None:
    """The open session the request's last ``token`` names, or None."""
    tokens = request.query_params.getlist("token")
    session = socket.sessions.get(tokens[-1]) if tokens else None
    return None if session is None or session.closed else session


def _frame(line: bytes) -> str | bytes:
    """A text frame, or a binary one that phoenix.js sent base64-encoded."""
    if line[:1] in (b"[", b"{"):
        return line.decode("utf-8", "replace")
    try:
        return base64.b64decode(line, validate=True)
    except binascii.Error:
        return line.decode("utf-8", "replace")  # the frame decoder will refuse it


def _answer(status: int, token: str, messages: list[str] | None = None) -> Response:
    body: dict[str, Any] = {"status": status, "token": token}
    if messages is not None:
        body["messages"] = messages
    return JSONResponse(body)
