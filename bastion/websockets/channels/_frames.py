"""Phoenix's serializers: V2 (``vsn=2.0.0``, phoenix.js since 1.4) and V1 (``vsn=1.0.0``).

V2 frames are JSON arrays ``[join_ref, ref, topic, event, payload]``; binary frames are the
client's binary pushes (kind 0), whose payload reaches the handler as ``bytes``. V1 frames,
which older and third-party clients speak, are JSON objects ``{"topic", "event", "payload",
"ref", "join_ref"}`` and have no binary form. Anything else is a broken client, answered
with a close code: 1007 for bytes that are not JSON, 1008 for JSON that is not a frame,
1003 for a binary frame that is not a push.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

import msgspec

from bastion.http.response import encode_json
from bastion.websockets.pubsub.base import Message
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
    return Frame(*_decoded(_decoder, text, "[join_ref, ref, topic, event, payload]", "2.0.0"))


def _decoded(decoder: msgspec.json.Decoder[Any], text: str, shape: str, vsn: str) -> Any:
    """``text`` decoded, or the close code and reason for a broken client."""
    try:
        return decoder.decode(text)
    except msgspec.ValidationError:
        reason = f"A frame is {shape} (serializer {vsn})"
        raise FrameError(WSCloseCode.POLICY_VIOLATION, reason) from None
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


# -- V1 ------------------------------------------------------------------------------------------
class _V1Frame(msgspec.Struct):
    topic: str
    event: str
    payload: Any = None
    ref: str | None = None
    join_ref: str | None = None


_v1_decoder = msgspec.json.Decoder(_V1Frame)


def decode_v1_text(text: str) -> Frame:
    shape = '{"topic", "event", "payload", "ref", "join_ref"}'
    f = _decoded(_v1_decoder, text, shape, "1.0.0")
    return Frame(f.join_ref, f.ref, f.topic, f.event, f.payload)


def decode_v1_binary(data: bytes) -> Frame:
    raise FrameError(WSCloseCode.UNSUPPORTED_DATA, "Serializer 1.0.0 has no binary frames")


def _v1(join_ref: str | None, ref: str | None, topic: str, event: str, payload: Any) -> str:
    frame = {"topic": topic, "event": event, "payload": payload, "ref": ref, "join_ref": join_ref}
    return encode_json(frame).decode()


def reply_v1(join_ref: str | None, ref: str | None, topic: str, status: str, response: Any) -> str:
    payload = {"status": status, "response": {} if response is None else response}
    return _v1(join_ref, ref, topic, "phx_reply", payload)


def push_v1(join_ref: str | None, topic: str, event: str, payload: Any) -> str:
    return _v1(join_ref, None, topic, event, {} if payload is None else payload)


def broadcast_v1(message: Message) -> str:
    """The V1 frame of a broadcast, encoded once for every V1 socket."""
    return message.encoded("phoenix-v1", _encode_v1)


def _encode_v1(message: Message) -> str:
    return _v1(None, None, message.topic, message.event, message.payload)


class Serializer(NamedTuple):
    """One wire format: how frames are read and written on a connection."""

    decode_text: Callable[[str], Frame]
    decode_binary: Callable[[bytes], Frame]
    reply: Callable[[str | None, str | None, str, str, Any], str]
    push: Callable[[str | None, str, str, Any], str]
    #: A pub/sub broadcast as a frame; V2's is encoded once for every socket (``Message.frame``).
    broadcast: Callable[[Message], str]


V2 = Serializer(decode_text, decode_binary, reply, push, Message.frame)
V1 = Serializer(decode_v1_text, decode_v1_binary, reply_v1, push_v1, broadcast_v1)


#: A semantic version, as Phoenix's ``Version.parse`` reads it (pre-release and build allowed).
_VERSION = re.compile(r"(\d+)\.(\d+)\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?", re.ASCII)


def serializer_for(vsn: str | None) -> Serializer | None:
    """The serializer a client's ``vsn`` asks for (none given: V2); None if unknown.

    As Phoenix's defaults, ``~> 2.0.0`` and ``~> 1.0.0``: ``2.0.x`` or ``1.0.x``, so
    ``2.0``, ``2.1.0`` and ``2.0.0.0`` are refused rather than guessed at.
    """
    if vsn is None:
        return V2
    version = _VERSION.fullmatch(vsn)
    if version is None or version[2] != "0":
        return None
    return {"2": V2, "1": V1}.get(version[1])
