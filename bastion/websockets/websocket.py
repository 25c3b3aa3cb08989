"""A WebSocket connection over the ASGI websocket protocol, with typed JSON decoding."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from enum import IntEnum
from typing import Any, TypeVar, overload

import msgspec

from bastion.http.connection import HTTPConnection
from bastion.http.response import encode_json
from bastion.types import Receive, Scope, Send

T = TypeVar("T")


class WSCloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    UNSUPPORTED_DATA = 1003
    INVALID_PAYLOAD = 1007
    POLICY_VIOLATION = 1008
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012


class WebSocketDisconnect(Exception):
    """The peer closed the connection (or it was lost)."""

    def __init__(self, code: int = 1000, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


class WebSocketDataError(Exception):
    """A received message could not be decoded or validated; the socket was closed."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class WebSocket(HTTPConnection):
    """One WebSocket connection: ``accept``, then ``send_*`` / ``receive_*``, then ``close``."""

    __slots__ = ("_receive", "_send", "accepted", "closed")

    def __init__(
        self, scope: Scope, receive: Receive, send: Send, path_params: dict[str, Any] | None = None
    ) -> None:
        super().__init__(scope, path_params)
        self._receive = receive
        self._send = send
        self.accepted = False
        self.closed = False

    # -- lifecycle -----------------------------------------------------------------------------
    async def accept(
        self, subprotocol: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        if self.accepted:
            raise RuntimeError("WebSocket.accept() was called twice; accept once per connection")
        message = await self._receive()
        if message["type"] == "websocket.disconnect":
            self.closed = True
            raise WebSocketDisconnect(message.get("code", 1000))
        raw = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()
        ]
        await self._send({"type": "websocket.accept", "subprotocol": subprotocol, "headers": raw})
        self.accepted = True

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection; before ``accept`` this rejects the handshake (HTTP 403)."""
        if self.closed:
            return
        self.closed = True
        await self._send({"type": "websocket.close", "code": int(code), "reason": reason})

    # -- sending -------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if not self.accepted:
            raise RuntimeError("Call `await websocket.accept()` before sending or receiving")
        if self.closed:
            raise RuntimeError("The WebSocket is closed; nothing more can be sent")

    async def send_text(self, data: str) -> None:
        self._check_open()
        await self._send({"type": "websocket.send", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        self._check_open()
        await self._send({"type": "websocket.send", "bytes": data})

    async def send_json(self, data: Any) -> None:
        """Encode ``data`` (dicts, lists, Structs, dataclasses…) as a JSON text message."""
        await self.send_text(encode_json(data).decode())

    # -- receiving -----------------------------------------------------------------------------
    async def _receive_message(self) -> dict[str, Any]:
        self._check_open()
        message = await self._receive()
        if message["type"] == "websocket.disconnect":
            self.closed = True
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason") or "")
        return dict(message)

    async def receive_text(self) -> str:
        message = await self._receive_message()
        text = message.get("text")
        if text is None:
            await self._fail(WSCloseCode.UNSUPPORTED_DATA, "Expected a text message")
        return text  # type: ignore[return-value]

    async def receive_bytes(self) -> bytes:
        message = await self._receive_message()
        data = message.get("bytes")
        if data is None:
            await self._fail(WSCloseCode.UNSUPPORTED_DATA, "Expected a binary message")
        return data  # type: ignore[return-value]

    @overload
    async def receive_json(self) -> Any: ...
    @overload
    async def receive_json(self, type: type[T]) -> T: ...
    async def receive_json(self, type: Any = None) -> Any:
        """Decode a JSON message; with ``type`` it is validated too.

        Malformed JSON closes the socket with 1007 (invalid payload); valid JSON of the wrong
        shape closes it with 1008 (policy violation). Both raise ``WebSocketDataError``.
        """
        message = await self._receive_message()
        data = message.get("text")
        if data is None:
            data = message.get("bytes") or b""
        try:
            if type is None:
                return msgspec.json.decode(data)
            return msgspec.json.decode(data, type=type)
        except msgspec.ValidationError as exc:
            await self._fail(WSCloseCode.POLICY_VIOLATION, f"Invalid message: {exc}"[:120])
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            await self._fail(WSCloseCode.INVALID_PAYLOAD, f"Malformed JSON: {exc}"[:120])

    async def _fail(self, code: int, reason: str) -> Any:
        await self.close(code, reason)
        raise WebSocketDataError(code, reason)

    async def iter_text(self) -> AsyncIterator[str]:
        try:
            while True:
                yield await self.receive_text()
        except WebSocketDisconnect:
            return

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        try:
            while True:
                yield await self.receive_bytes()
        except WebSocketDisconnect:
            return

    async def iter_json(self, type: Any = None) -> AsyncIterator[Any]:
        try:
            while True:
                yield (
                    await self.receive_json(type) if type is not None else await self.receive_json()
                )
        except WebSocketDisconnect:
            return
