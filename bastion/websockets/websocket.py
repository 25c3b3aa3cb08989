"""A WebSocket connection over the ASGI websocket protocol, with typed JSON decoding.

The connection is a small state machine: ``CONNECTING`` until the app answers the handshake,
``OPEN`` after ``accept()``, ``CLOSED`` once the app closes it or the peer leaves. Calls that
make no sense in the current state raise ``RuntimeError`` with the fix.

Bad messages close the socket with a code from RFC 6455 and raise ``WebSocketDataError``:

- ``receive_text`` got a binary frame (or ``receive_bytes`` a text one): 1003 unsupported data;
- ``receive_json`` got bytes that are not UTF-8 JSON: 1007 invalid payload;
- ``receive_json(type)`` got valid JSON of the wrong shape: 1008 policy violation (the message
  breaks the endpoint's contract; 1003 is kept for the wrong frame type).
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Mapping
from typing import Any, NoReturn, TypeVar, overload

import msgspec

from bastion.http.connection import HTTPConnection
from bastion.http.response import encode_json
from bastion.types import Message, Receive, Scope, Send

T = TypeVar("T")

#: A close frame's reason is at most 123 bytes of UTF-8 (RFC 6455 §5.5).
MAX_REASON_BYTES = 123


class WSCloseCode(enum.IntEnum):
    """The close codes an application sends (RFC 6455 §7.4.1, plus 1012 from the registry)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    UNSUPPORTED_DATA = 1003
    INVALID_PAYLOAD = 1007
    POLICY_VIOLATION = 1008
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012


class WebSocketState(enum.Enum):
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSED = "closed"


class WebSocketDisconnect(Exception):
    """The peer closed the connection (or it was lost); ``code`` says how."""

    def __init__(self, code: int = 1000, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return f"WebSocket closed with code {self.code}" + (
            f": {self.reason}" if self.reason else ""
        )


class WebSocketDataError(Exception):
    """A received message could not be decoded or validated; the socket is already closed."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class WebSocket(HTTPConnection):
    """One WebSocket connection: ``accept``, then ``send_*`` / ``receive_*``, then ``close``.

    ``headers``, ``query_params``, ``cookies``, ``path_params``, ``client``, ``url``,
    ``state`` and ``app`` come from the handshake request, as on ``Request``.
    """

    __slots__ = (
        "_connect_received",
        "_receive",
        "_send",
        "accepted",
        "close_code",
        "connection_state",
    )

    def __init__(
        self, scope: Scope, receive: Receive, send: Send, path_params: dict[str, Any] | None = None
    ) -> None:
        super().__init__(scope, path_params)
        self._receive = receive
        self._send = send
        self._connect_received = False
        #: Where the connection is: ``CONNECTING``, ``OPEN`` or ``CLOSED``.
        self.connection_state = WebSocketState.CONNECTING
        #: True once the handshake was accepted (stays True after closing).
        self.accepted = False
        #: The code it was closed with (by either side), once ``CLOSED``.
        self.close_code: int | None = None

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered, in its order of preference."""
        return list(self.scope.get("subprotocols") or [])

    @property
    def closed(self) -> bool:
        return self.connection_state is WebSocketState.CLOSED

    # -- lifecycle -----------------------------------------------------------------------------
    async def accept(
        self, subprotocol: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        """Complete the handshake, optionally choosing one of the offered ``subprotocols``."""
        if self.connection_state is not WebSocketState.CONNECTING:
            raise RuntimeError(
                f"WebSocket.accept() called on a {self.connection_state.value} connection; "
                "accept once, before sending or receiving"
            )
        if subprotocol is not None and subprotocol not in self.subprotocols:
            raise RuntimeError(
                f"Subprotocol {subprotocol!r} was not offered by the client "
                f"(offered: {self.subprotocols}); pick one of websocket.subprotocols or None"
            )
        if not self._connect_received:
            message = await self._receive()
            self._connect_received = True
            if message["type"] == "websocket.disconnect":
                self._mark_closed(message.get("code", 1006))
                raise WebSocketDisconnect(self.close_code or 1006, message.get("reason") or "")
        raw = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()
        ]
        await self._send_message(
            {"type": "websocket.accept", "subprotocol": subprotocol, "headers": raw}
        )
        self.connection_state = WebSocketState.OPEN
        self.accepted = True

    async def close(self, code: int = WSCloseCode.NORMAL, reason: str = "") -> None:
        """Close the connection; before ``accept`` this rejects the handshake (HTTP 403).

        Closing twice, or after the peer left, does nothing. A reason longer than 123 bytes is
        cut at a character boundary.
        """
        if self.connection_state is WebSocketState.CLOSED:
            return
        self._mark_closed(int(code))
        try:
            await self._send({"type": "websocket.close", "code": int(code), "reason": clip(reason)})
        except OSError:
            pass  # the peer is already gone: the socket is closed either way

    def _mark_closed(self, code: int) -> None:
        self.connection_state = WebSocketState.CLOSED
        self.close_code = code

    # -- sending -------------------------------------------------------------------------------
    def _require_open(self, action: str) -> None:
        if self.connection_state is WebSocketState.CONNECTING:
            raise RuntimeError(f"Call `await websocket.accept()` before {action}")
        if self.connection_state is WebSocketState.CLOSED:
            raise RuntimeError(
                f"The WebSocket is closed (code {self.close_code}); stop {action} "
                "(iter_text/iter_json end by themselves when the peer leaves)"
            )

    async def _send_message(self, message: Message) -> None:
        try:
            await self._send(message)
        except OSError:
            # Servers raise an OSError subclass when the peer has gone (ASGI spec 2.4).
            self._mark_closed(1006)
            raise WebSocketDisconnect(1006, "Connection lost") from None

    async def send_text(self, data: str) -> None:
        self._require_open("sending")
        await self._send_message({"type": "websocket.send", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        self._require_open("sending")
        await self._send_message({"type": "websocket.send", "bytes": bytes(data)})

    async def send_json(self, data: Any) -> None:
        """Encode ``data`` (dicts, lists, Structs, dataclasses…) as a JSON text message."""
        self._require_open("sending")
        await self._send_message({"type": "websocket.send", "text": encode_json(data).decode()})

    # -- receiving -----------------------------------------------------------------------------
    async def _receive_message(self) -> Message:
        self._require_open("receiving")
        message = await self._receive()
        if message["type"] == "websocket.disconnect":
            code = message.get("code", 1005)
            self._mark_closed(code)
            raise WebSocketDisconnect(code, message.get("reason") or "")
        return message

    async def receive_text(self) -> str:
        """The next text message; a binary one closes the socket with 1003."""
        message = await self._receive_message()
        text = message.get("text")
        if text is None:
            await self._fail(WSCloseCode.UNSUPPORTED_DATA, "Expected a text message")
        return str(text)

    async def receive_bytes(self) -> bytes:
        """The next binary message; a text one closes the socket with 1003."""
        message = await self._receive_message()
        data = message.get("bytes")
        if data is None:
            await self._fail(WSCloseCode.UNSUPPORTED_DATA, "Expected a binary message")
        return bytes(data)

    @overload
    async def receive_json(self) -> Any: ...
    @overload
    async def receive_json(self, type: type[T]) -> T: ...
    @overload
    async def receive_json(self, type: Any) -> Any: ...
    async def receive_json(self, type: Any = None) -> Any:
        """Decode a JSON message (text or binary); with ``type`` it is validated too.

        ``await websocket.receive_json(Move)`` returns a ``Move`` or closes the socket
        (1007 for malformed JSON, 1008 for the wrong shape) and raises ``WebSocketDataError``.
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
            await self._fail(WSCloseCode.POLICY_VIOLATION, f"Invalid message: {exc}")
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            await self._fail(WSCloseCode.INVALID_PAYLOAD, f"Malformed JSON: {exc}")

    async def _fail(self, code: int, reason: str) -> NoReturn:
        await self.close(code, reason)
        raise WebSocketDataError(code, reason)

    async def iter_text(self) -> AsyncIterator[str]:
        """Text messages until the peer disconnects."""
        try:
            while True:
                yield await self.receive_text()
        except WebSocketDisconnect:
            return

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """Binary messages until the peer disconnects."""
        try:
            while True:
                yield await self.receive_bytes()
        except WebSocketDisconnect:
            return

    @overload
    def iter_json(self) -> AsyncIterator[Any]: ...
    @overload
    def iter_json(self, type: type[T]) -> AsyncIterator[T]: ...
    @overload
    def iter_json(self, type: Any) -> AsyncIterator[Any]: ...
    def iter_json(self, type: Any = None) -> AsyncIterator[Any]:
        """JSON messages (validated against ``type`` if given) until the peer disconnects."""
        return self._iter_json(type)

    async def _iter_json(self, type: Any) -> AsyncIterator[Any]:
        try:
            while True:
                yield await self.receive_json(type)
        except WebSocketDisconnect:
            return


def clip(reason: str) -> str:
    """``reason`` cut to what fits in a close frame, never inside a character."""
    encoded = reason.encode()
    if len(encoded) <= MAX_REASON_BYTES:
        return reason
    return encoded[:MAX_REASON_BYTES].decode(errors="ignore")
