"""GZip: compress responses for clients that accept it.

The defaults are the safe ones: only bodies of at least 500 bytes (below that the gzip
framing and CPU cost do not pay for themselves), only media that compresses well (text, JSON,
JavaScript, XML, SVG — never images or archives that are compressed already), never a body
that is already encoded or marked ``cache-control: no-transform``, and never a 206 partial
body (its byte ranges refer to the uncompressed file).

A ``StreamingResponse`` is compressed chunk by chunk with a sync flush after each chunk, so a
slow stream still reaches the client as it is produced; ``text/event-stream`` is never
compressed, since proxies and browsers buffer compressed event streams. Responses that send
themselves in their own way (files, mounted apps, event sources) are left alone.

A compressed response gets ``content-encoding: gzip``, a weak ETag (the bytes changed) and no
``content-length`` of its own (the response computes it from the new body when sent). Every
response that *could* be compressed carries ``vary: accept-encoding``, so a cache never hands
the gzip variant to a client that did not ask for it.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing
from functools import lru_cache
from typing import cast

from bastion.exceptions import ConfigurationError
from bastion.http.headers import RawHeaders
from bastion.http.request import Request
from bastion.http.response import SENT_BY_MESSAGES, Response
from bastion.http.streaming import Content, StreamingResponse, iterate
from bastion.types import CallNext

COMPRESSIBLE = (
    "text/",
    "application/json",
    "application/problem+json",
    "application/ld+json",
    "application/manifest+json",
    "application/javascript",
    "application/xml",
    "application/xhtml+xml",
    "application/rss+xml",
    "application/atom+xml",
    "image/svg+xml",
)

_NO_BODY = frozenset({204, 206, 304})
_EVENT_STREAM = b"text/event-stream"
_VARY = (b"vary", b"accept-encoding")
_ENCODING = (b"content-encoding", b"gzip")


class GZip:
    """``GZip(minimum_size=500, compresslevel=6)``; ``compressible`` lists media type prefixes."""

    def __init__(
        self,
        minimum_size: int = 500,
        compresslevel: int = 6,
        compressible: Sequence[str] = COMPRESSIBLE,
    ) -> None:
        if not 1 <= compresslevel <= 9:
            raise ConfigurationError(
                f"GZip: compresslevel must be 1 (fastest) to 9 (smallest), not {compresslevel}"
            )
        if minimum_size < 0:
            raise ConfigurationError(f"GZip: minimum_size must be 0 or more, not {minimum_size}")
        if isinstance(compressible, str):
            compressible = [compressible]
        self.minimum_size = minimum_size
        self.compresslevel = compresslevel
        self.compressible = tuple(t.strip().lower().encode("ascii") for t in compressible)

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        response = await call_next(request)
        streaming = isinstance(response, StreamingResponse)
        if not streaming and (
            type(response) not in SENT_BY_MESSAGES or len(response.body) < self.minimum_size
        ):
            return response
        status = response.status_code
        if status < 200 or status in _NO_BODY:
            return response
        raw = response.raw_headers
        media = b""
        for name, value in raw:
            if name == b"content-type":
                media = value.lower()
            elif name == b"content-encoding" or (
                name == b"cache-control" and b"no-transform" in value.lower()
            ):
                return response
        if not media.startswith(self.compressible) or media.startswith(_EVENT_STREAM):
            return response
        raw.append(_VARY)
        if not _client_accepts_gzip(request.scope["headers"]):
            return response

        if isinstance(response, StreamingResponse):
            response.body_iterator = gzip_stream(response.body_iterator, self.compresslevel)
        else:
            response.body = zlib.compress(response.body, self.compresslevel, wbits=31)
        _rewrite_for_encoding(raw)
        raw.append(_ENCODING)
        return response


def _client_accepts_gzip(headers: RawHeaders) -> bool:
    value: bytes | None = None
    for name, item in headers:
        if name == b"accept-encoding":
            value = item if value is None else value + b"," + item
    return value is not None and accepts_gzip(value)


@lru_cache(maxsize=64)  # clients send a handful of distinct values; parse each once
def accepts_gzip(accept_encoding: bytes) -> bool:
    """Whether an ``Accept-Encoding`` value allows gzip (``gzip;q=0`` and ``*;q=0`` refuse)."""
    accept_encoding = accept_encoding.lower()
    if b"gzip" not in accept_encoding and b"*" not in accept_encoding:
        return False
    gzip_q: float | None = None
    any_q: float | None = None
    for item in accept_encoding.split(b","):
        coding, _, params = item.partition(b";")
        coding = coding.strip()
        if coding in (b"gzip", b"x-gzip"):
            gzip_q = _quality(params)
        elif coding == b"*":
            any_q = _quality(params)
    if gzip_q is not None:  # an explicit entry wins over the wildcard
        return gzip_q > 0
    return any_q is not None and any_q > 0


def _quality(params: bytes) -> float:
    for param in params.split(b";"):
        key, _, value = param.partition(b"=")
        if key.strip() == b"q":
            try:
                return float(value.strip())
            except ValueError:
                return 0.0  # unreadable weight: do not guess in favour of compressing
    return 1.0


def _rewrite_for_encoding(raw: RawHeaders) -> None:
    """Drop ``content-length`` and weaken a strong ETag: the bytes are no longer the same."""
    kept: RawHeaders = []
    for name, value in raw:
        if name == b"content-length":
            continue
        if name == b"etag" and not value.startswith(b"W/"):
            value = b"W/" + value
        kept.append((name, value))
    raw[:] = kept


async def gzip_stream(content: Content, compresslevel: int = 6) -> AsyncIterator[bytes]:
    """Gzip a stream incrementally, flushing after every non-empty chunk so it keeps flowing."""
    compressor = zlib.compressobj(compresslevel, zlib.DEFLATED, 31)
    try:
        chunks = cast(AsyncGenerator[bytes | str, None], iterate(content))
        async with aclosing(chunks):
            async for chunk in chunks:
                data = chunk.encode() if isinstance(chunk, str) else chunk
                if data:
                    yield compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
        yield compressor.flush()
    finally:
        if isinstance(content, AsyncGenerator):
            await content.aclose()  # a client that went away releases the producer promptly
