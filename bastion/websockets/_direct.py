"""Writing a text frame straight to the server's transport, on servers where that is safe.

A server-to-client WebSocket frame is not masked, so without an extension negotiated
(permessage-deflate compresses per connection) the bytes of one message are the same for
every socket: a broadcast can frame its text once and hand those bytes to each transport.
Through ASGI each socket's ``send`` frames the message again and runs the server's own
checks, which is most of a fan-out's cost. ``direct_writer`` recognises a server whose
connection it can write to (uvicorn's ``websockets-sansio`` protocol, its default) and
returns a ``write(frame) -> bool`` that writes only when the server itself would write at
once (connection open, no close sent, the transport not pushing back) and says False
otherwise, so the caller falls back to ``send``, which waits, raises or closes as the
server decides. Anything else (another server, a wrapped ``send``, an extension) gets None.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bastion.types import Send

#: ``write(frame bytes)``: True if written, False if the caller must go through ``send``.
DirectWrite = Callable[[bytes], bool]

_UVICORN_SANSIO = (
    "uvicorn.protocols.websockets.websockets_sansio_impl",
    "WebSocketsSansIOProtocol",
)


def direct_writer(send: Send) -> DirectWrite | None:
    """A direct writer for the accepted connection behind ``send``, or None."""
    protocol: Any = getattr(send, "__self__", None)
    kind = type(protocol)
    if (kind.__module__, kind.__qualname__) != _UVICORN_SANSIO:
        return None
    conn = getattr(protocol, "conn", None)
    transport = getattr(protocol, "transport", None)
    writable = getattr(protocol, "writable", None)
    if conn is None or transport is None or writable is None or conn.extensions:
        return None
    state = conn.state
    opened = type(state).OPEN
    if state is not opened:
        return None
    is_writable = writable.is_set
    is_closing = transport.is_closing
    write_bytes = transport.write

    def write(frame: bytes) -> bool:
        if (
            conn.state is not opened
            or protocol.close_sent
            or protocol.disconnected
            or not is_writable()
            or is_closing()
        ):
            return False
        write_bytes(frame)
        return True

    return write


def text_frame(data: bytes) -> bytes:
    """One unmasked, final text frame carrying ``data`` (UTF-8), as RFC 6455 §5.2 lays out."""
    size = len(data)
    if size < 126:
        head = bytes((0x81, size))
    elif size < 65_536:
        head = b"\x81\x7e" + size.to_bytes(2, "big")
    else:
        head = b"\x81\x7f" + size.to_bytes(8, "big")
    return head + data


class TextFramer:
    """Frames texts, keeping the last one: a broadcast's text (one ``str`` shared by every
    socket with the same serializer) is encoded and framed once, however many sockets."""

    __slots__ = ("_frame", "_text")

    def __init__(self) -> None:
        self._text: str | None = None
        self._frame = b""

    def __call__(self, text: str) -> bytes:
        if text is not self._text:
            self._frame = text_frame(text.encode())
            self._text = text
        return self._frame
