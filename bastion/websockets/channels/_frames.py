"""The Phoenix V2 serializer: ``[join_ref, ref, topic, event, payload]`` JSON arrays.

Text frames carry JSON; binary frames are the client's binary pushes (kind 0), whose payload
reaches the handler as ``bytes``. Anything else is a broken client, answered with a close
code: 1007 for bytes that are not JSON, 1008 for JSON that is not a frame, 1003 for a binary
frame that is not a push.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import msgspec

from bastion.http.response import encode_json
from bastion.websockets.websocket import WSCloseCode


class Frame(NamedTuple):
    join_ref: str | None
    ref: str | None
    topic: str
    event: str
    payload: Any


class FrameError(Exception):
    """A frame that cannot be read; the connection closes with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


_decoder = msgspec.json.Decoder(tuple[str | None, str | None, str, str, Any])


def decode_text(text: str) -> Frame:
    try:
        return Frame(*_decoder.decode(text))
    except msgspec.ValidationError:
        raise FrameError(
            WSCloseCode.POLICY_VIOLATION,
            "A frame is [join_ref, ref, topic, event, payload] (serializer 2.0.0)",
        ) from None
    except (msgspec.DecodeError, RecursionError):
        raise FrameError(WSCloseCode.INVALID_PAYLOAD, "Malformed JSON frame") from None


def decode_binary(data: bytes) -> Frame:
    """``kind(0) | 4 sizes | join_ref | ref | topic | event | payload`` (phoenix.js)."""
    if len(data) < 5 or data[0] != 0:
        raise FrameError(WSCloseCode.UNSUPPORTED_DATA, "Unsupported binary frame")
    sizes = data[1:5]
    offset = 5
    fields = []
    for size in sizes:
        chunk = data[offset : offset + size]
        if len(chunk) != size:
            raise FrameError(WSCloseCode.UNSUPPORTED_DATA, "Truncated binary frame")
        try:
            fields.append(chunk.decode())
        except UnicodeDecodeError:
            raise FrameError(WSCloseCode.INVALID_PAYLOAD, "Binary frame header not UTF-8") from None
        offset += size
    join_ref, ref, topic, event = fields
    return Frame(join_ref or None, ref or None, topic, event, data[offset:])


def reply(join_ref: str | None, ref: str | None, topic: str, status: str, response: Any) -> str:
    payload = {"status": status, "response": {} if response is None else response}
    return encode_json([join_ref, ref, topic, "phx_reply", payload]).decode()


def push(join_ref: str | None, topic: str, event: str, payload: Any) -> str:
    return encode_json([join_ref, None, topic, event, {} if payload is None else payload]).decode()
