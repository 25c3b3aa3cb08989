"""How values become bytes: integers as ASCII digits (so every engine's native increment
works on them), everything else as msgpack behind a marker byte, decoded by type on request.
"""

from __future__ import annotations

from typing import Any

import msgspec

#: 0xC1 is the one byte msgpack never uses: it marks a msgpack payload, unlike "-" or a digit.
MARK = b"\xc1"
_MARK_BYTE = MARK[0]


def _enc_hook(obj: Any) -> Any:
    dump = getattr(obj, "model_dump", None)  # pydantic models, when installed
    if dump is not None:
        return dump()
    raise NotImplementedError(f"a cache value of type {type(obj).__name__} cannot be encoded")


_encoder = msgspec.msgpack.Encoder(enc_hook=_enc_hook)
_plain = msgspec.msgpack.Decoder()
_decoders: dict[Any, msgspec.msgpack.Decoder[Any]] = {}


def encode(value: Any) -> bytes:
    if type(value) is int:  # not bool: True stays msgpack, so it comes back as True
        return str(value).encode()
    return MARK + _encoder.encode(value)


def is_integer(data: bytes) -> bool:
    return bool(data) and data[0] != _MARK_BYTE


def decode(data: bytes, tp: Any = None) -> Any:
    """The value, as ``tp`` when given; ``msgspec.ValidationError``/``DecodeError`` when the
    stored bytes do not fit it (an entry from before a deploy changed the type)."""
    if data[0] != _MARK_BYTE:
        number = int(data)
        return number if tp is None or tp is int else msgspec.convert(number, tp)
    if tp is None:
        return _plain.decode(memoryview(data)[1:])
    decoder = _decoders.get(tp)
    if decoder is None:
        decoder = _decoders[tp] = msgspec.msgpack.Decoder(tp)
    return decoder.decode(memoryview(data)[1:])
