"""WebSocket sessions against an in-process ASGI app, async and sync."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from bastion.testing._portal import Portal
from bastion.testing._transport import build_scope
from bastion.types import ASGIApp, Message
from bastion.websockets.websocket import WebSocketDisconnect


class WebSocketDenied(Exception):
    """The app closed the connection instead of accepting it."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"WebSocket handshake rejected with code {code} {reason}".strip())
        self.code = code
        self.reason = reason


class AsyncWebSocketSession:
    """``async with client.websocket_connect("/ws") as ws:`` then send/receive."""

    def __init__(
        self,
        app: ASGIApp,
        url: httpx.URL,
        headers: list[tuple[bytes, bytes]],
        subprotocols: list[str],
        timeout: float,
    ) -> None:
        request = httpx.Request(
            "GET", url.copy_with(scheme="ws" if url.scheme == "http" else "wss"), headers=headers
        )
        self.scope = build_scope(request, "websocket")
        self.scope["subprotocols"] = subprotocols
        self.app = app
        self.timeout = timeout
        self.accepted_subprotocol: str | None = None
        self.accept_headers: list[tuple[bytes, bytes]] = []
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AsyncWebSocketSession:
        self._task = asyncio.ensure_future(self._run())
        await self._to_app.put({"type": "websocket.connect"})
        message = await self._next()
        if message["type"] == "websocket.close":
            await self._wait_app()
            raise WebSocketDenied(message.get("code", 1000), message.get("reason", ""))
        self.accepted_subprotocol = message.get("subprotocol")
        self.accept_headers = list(message.get("headers", []))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
        await self._wait_app()

    async def _run(self) -> None:
        try:
            await self.app(self.scope, self._to_app.get, self._from_app.put)
        finally:
            # What a server does when the app returns: the connection ends.
            await self._from_app.put({"type": "websocket.close", "code": 1000, "reason": ""})

    async def _wait_app(self) -> None:
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self.timeout)
        except TimeoutError:
            self._task.cancel()

    async def _next(self) -> Message:
        try:
            return await asyncio.wait_for(self._from_app.get(), self.timeout)
        except TimeoutError:
            if self._task is not None and self._task.done() and self._task.exception():
                raise self._task.exception() from None  # type: ignore[misc]
            raise TimeoutError(
                f"No WebSocket message from the app within {self.timeout} s"
            ) from None

    async def send_text(self, data: str) -> None:
        await self._to_app.put({"type": "websocket.receive", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        await self._to_app.put({"type": "websocket.receive", "bytes": data})

    async def send_json(self, data: Any) -> None:
        await self.send_text(json.dumps(data))

    async def receive(self) -> Message:
        message = await self._next()
        if message["type"] == "websocket.close":
            if self._task is not None and self._task.done() and self._task.exception():
                raise self._task.exception()  # type: ignore[misc]
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason", "") or "")
        return message

    async def receive_text(self) -> str:
        message = await self.receive()
        return message["text"]  # type: ignore[no-any-return]

    async def receive_bytes(self) -> bytes:
        message = await self.receive()
        return message["bytes"]  # type: ignore[no-any-return]

    async def receive_json(self) -> Any:
        message = await self.receive()
        return json.loads(message.get("text") or message.get("bytes") or b"")

    async def close(self, code: int = 1000) -> None:
        await self._to_app.put({"type": "websocket.disconnect", "code": code})


class WebSocketSession:
    """The synchronous twin of ``AsyncWebSocketSession``, driven through the portal."""

    def __init__(self, session: AsyncWebSocketSession, portal: Portal, owner: Any = None) -> None:
        self._session = session
        self._portal = portal
        self._owner = owner  # keeps the client (and its event loop) alive while in use

    @property
    def accepted_subprotocol(self) -> str | None:
        return self._session.accepted_subprotocol

    def __enter__(self) -> WebSocketSession:
        self._portal.call(self._session.__aenter__())
        return self

    def __exit__(self, *exc: object) -> None:
        self._portal.call(self._session.__aexit__(*exc))

    def send_text(self, data: str) -> None:
        self._portal.call(self._session.send_text(data))

    def send_bytes(self, data: bytes) -> None:
        self._portal.call(self._session.send_bytes(data))

    def send_json(self, data: Any) -> None:
        self._portal.call(self._session.send_json(data))

    def receive(self) -> Message:
        return self._portal.call(self._session.receive())

    def receive_text(self) -> str:
        return self._portal.call(self._session.receive_text())

    def receive_bytes(self) -> bytes:
        return self._portal.call(self._session.receive_bytes())

    def receive_json(self) -> Any:
        return self._portal.call(self._session.receive_json())

    def close(self, code: int = 1000) -> None:
        self._portal.call(self._session.close(code))
