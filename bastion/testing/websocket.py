"""WebSocket sessions against an in-process ASGI app, async and sync.

The session plays the server: it hands the app ``websocket.connect``, then what the test
sends, and checks the app's messages the way a server would (nothing before ``accept``,
nothing after ``close``). Every wait for the app has a timeout, so a broken test fails with a
message instead of hanging.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

import httpx

from bastion.testing._portal import Portal
from bastion.testing._transport import DISCONNECT_GRACE, build_scope
from bastion.types import ASGIApp, Message
from bastion.websockets.websocket import WebSocketDisconnect

#: What the handshake request carries besides the client's own headers.
_HANDSHAKE = {
    "connection": "upgrade",
    "upgrade": "websocket",
    "sec-websocket-version": "13",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
}


class _ClientGone(OSError):
    """What the app's ``send`` raises once the test closed the connection (ASGI spec 2.4)."""


class WebSocketDenied(Exception):
    """The app closed the connection instead of accepting it (a server answers HTTP 403)."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"WebSocket handshake rejected with code {code} {reason}".strip())
        self.code = code
        self.reason = reason


def handshake(request: httpx.Request, subprotocols: list[str]) -> httpx.Request:
    """Turn a GET built by the client (its headers and cookies merged) into an upgrade."""
    request.headers.update(_HANDSHAKE)
    if subprotocols:
        request.headers["sec-websocket-protocol"] = ", ".join(subprotocols)
    return request


class AsyncWebSocketSession:
    """``async with client.websocket_connect("/ws") as ws:`` then send and receive."""

    def __init__(
        self,
        app: ASGIApp,
        request: httpx.Request,
        subprotocols: list[str],
        timeout: float,
        raise_app_exceptions: bool = True,
        state: dict[str, Any] | None = None,
    ) -> None:
        self.scope = build_scope(request, "websocket", state)
        self.scope["scheme"] = "wss" if request.url.scheme == "https" else "ws"
        self.scope["subprotocols"] = list(subprotocols)
        self.app = app
        self.timeout = timeout
        self.raise_app_exceptions = raise_app_exceptions
        self.accepted_subprotocol: str | None = None
        self.accepted_headers = httpx.Headers()
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._app_state = "connecting"  # → "open" → "closed", as the app drives it
        self._close: Message | None = None  # the close the test has seen, or sent
        self._error_seen = False

    # -- the server side: what the app's receive/send see -------------------------------------
    async def _app_receive(self) -> Message:
        message = await self._to_app.get()
        if message["type"] == "websocket.disconnect":
            self._to_app.put_nowait(message)  # every later receive sees the disconnect too
        return message

    async def _app_send(self, message: Message) -> None:
        kind = message["type"]
        if self._app_state == "closed":
            raise RuntimeError(f"The app sent {kind} after closing the WebSocket")
        if self._close is not None and kind != "websocket.close":
            raise _ClientGone(f"The client closed the WebSocket; the app's {kind} is not sent")
        if self._app_state == "connecting":
            if kind not in ("websocket.accept", "websocket.close"):
                raise RuntimeError(
                    f"The app sent {kind} before accepting; call websocket.accept() first"
                )
        elif kind == "websocket.accept":
            raise RuntimeError("The app accepted the WebSocket twice; accept once")
        elif kind != "websocket.send" and kind != "websocket.close":
            raise RuntimeError(f"Unexpected ASGI message {kind!r} on a WebSocket")
        if kind == "websocket.accept":
            self._app_state = "open"
        elif kind == "websocket.close":
            self._app_state = "closed"
            # The client answers the close frame, so the app's next receive sees it end.
            self._to_app.put_nowait({"type": "websocket.disconnect", "code": message.get("code")})
        await self._from_app.put(message)

    async def _run(self) -> None:
        try:
            await self.app(self.scope, self._app_receive, self._app_send)
        except Exception:
            if self._app_state != "closed":
                # What a server does: a failed handshake is refused, an open socket gets 1011.
                await self._from_app.put({"type": "websocket.close", "code": 1011, "reason": ""})
            raise
        if self._app_state == "connecting":
            reason = "The app returned without accepting the connection"
            await self._from_app.put({"type": "websocket.close", "code": 1006, "reason": reason})
        elif self._app_state == "open":
            await self._from_app.put({"type": "websocket.close", "code": 1000, "reason": ""})
        self._app_state = "closed"

    # -- the test side ------------------------------------------------------------------------
    async def __aenter__(self) -> AsyncWebSocketSession:
        self._task = asyncio.ensure_future(self._run())
        await self._to_app.put({"type": "websocket.connect"})
        message = await self._next("accept or close the connection")
        if message["type"] == "websocket.close":
            await self._wait_app()
            self._raise_app_error()
            raise WebSocketDenied(message.get("code") or 1000, message.get("reason") or "")
        self.accepted_subprotocol = message.get("subprotocol")
        self.accepted_headers = httpx.Headers(list(message.get("headers") or []))
        return self

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        await self.close()
        await self._wait_app()
        if exc_type is None:
            self._raise_app_error()

    async def _next(self, expected: str) -> Message:
        try:
            return await asyncio.wait_for(self._from_app.get(), self.timeout)
        except TimeoutError:
            self._raise_app_error()
            raise TimeoutError(
                f"The app did not {expected} within {self.timeout} s; raise the client's "
                "websocket_timeout if it is slow on purpose"
            ) from None

    async def _wait_app(self) -> None:
        """Give the app a moment to end after the connection is over, then cancel it."""
        if self._task is None:
            return
        done, _ = await asyncio.wait({self._task}, timeout=DISCONNECT_GRACE)
        if not done:
            self._task.cancel()
            await asyncio.wait({self._task})

    def _raise_app_error(self) -> None:
        task = self._task
        if task is None or not task.done() or task.cancelled():
            return
        error = task.exception()
        if isinstance(error, _ClientGone):
            return  # the app sent after the test left: a server logs that, the test is fine
        if error is not None and self.raise_app_exceptions and not self._error_seen:
            self._error_seen = True
            raise error

    async def send_text(self, data: str) -> None:
        await self._send({"type": "websocket.receive", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        await self._send({"type": "websocket.receive", "bytes": bytes(data)})

    async def send_json(self, data: Any, mode: Literal["text", "binary"] = "text") -> None:
        text = json.dumps(data, separators=(",", ":"))
        await (self.send_text(text) if mode == "text" else self.send_bytes(text.encode()))

    async def _send(self, message: Message) -> None:
        if self._close is not None and self._close["type"] == "websocket.disconnect":
            raise RuntimeError("This WebSocket session was closed by the test; open a new one")
        await self._to_app.put(message)

    async def receive(self) -> Message:
        """The app's next ``websocket.send`` message; ``WebSocketDisconnect`` once it closed."""
        if self._close is not None:
            raise WebSocketDisconnect(
                self._close.get("code") or 1000, self._close.get("reason", "")
            )
        message = await self._next("send a message")
        if message["type"] == "websocket.close":
            self._close = message
            self._raise_app_error()  # a failing app has already ended when its close arrives
            raise WebSocketDisconnect(message.get("code") or 1000, message.get("reason") or "")
        return message

    async def receive_text(self) -> str:
        return str(_field(await self.receive(), "text", "receive_bytes()"))

    async def receive_bytes(self) -> bytes:
        return bytes(_field(await self.receive(), "bytes", "receive_text()"))

    async def receive_json(self) -> Any:
        """The next message (text or binary) decoded as JSON."""
        message = await self.receive()
        return json.loads(message["text"] if message.get("text") is not None else message["bytes"])

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close from the client side; the app's next receive raises ``WebSocketDisconnect``."""
        if self._close is None:
            self._close = {"type": "websocket.disconnect", "code": code, "reason": reason}
            await self._to_app.put(self._close)


def _field(message: Message, name: str, other: str) -> Any:
    value = message.get(name)
    if value is None:
        kind = "bytes" if name == "text" else "text"
        raise TypeError(f"The app sent a {kind} message ({message!r}); use {other} for it")
    return value


class WebSocketSession:
    """The synchronous twin of ``AsyncWebSocketSession``, driven through the client's loop.

    Every call waits at most the session's timeout (plus a second, should the app block
    the loop itself), so a broken test fails instead of hanging.
    """

    def __init__(self, session: AsyncWebSocketSession, portal: Portal, owner: Any = None) -> None:
        self._session = session
        self._portal = portal
        self._owner = owner  # keeps the client (and its event loop) alive while in use

    @property
    def accepted_subprotocol(self) -> str | None:
        return self._session.accepted_subprotocol

    @property
    def accepted_headers(self) -> httpx.Headers:
        return self._session.accepted_headers

    @property
    def scope(self) -> dict[str, Any]:
        return dict(self._session.scope)

    def _call(self, coro: Any) -> Any:
        return self._portal.call(coro, self._session.timeout + 1 + DISCONNECT_GRACE)

    def __enter__(self) -> WebSocketSession:
        self._call(self._session.__aenter__())
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._call(self._session.__aexit__(exc_type, exc, tb))

    def send_text(self, data: str) -> None:
        self._call(self._session.send_text(data))

    def send_bytes(self, data: bytes) -> None:
        self._call(self._session.send_bytes(data))

    def send_json(self, data: Any, mode: Literal["text", "binary"] = "text") -> None:
        self._call(self._session.send_json(data, mode))

    def receive(self) -> Message:
        result: Message = self._call(self._session.receive())
        return result

    def receive_text(self) -> str:
        return str(self._call(self._session.receive_text()))

    def receive_bytes(self) -> bytes:
        return bytes(self._call(self._session.receive_bytes()))

    def receive_json(self) -> Any:
        return self._call(self._session.receive_json())

    def close(self, code: int = 1000, reason: str = "") -> None:
        self._call(self._session.close(code, reason))
