"""GZip: compress responses for clients that accept it.

Small bodies are left alone (compression would not pay for itself), as are bodies already
encoded and media that is compressed by nature. Streams are compressed chunk by chunk with a
flush after each, so they still flow; Server-Sent Events are never compressed.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from bastion.http.request import Request
from bastion.http.response import Response
from bastion.http.streaming import StreamingResponse, iterate
from bastion.types import CallNext

COMPRESSIBLE = (
    "text/",
    "application/json",
    "application/problem+json",
    "application/javascript",
    "application/xml",
    "image/svg+xml",
)


class GZip:
    """``GZip(minimum_size=500, compresslevel=6)``."""

    def __init__(
        self,
        minimum_size: int = 500,
        compresslevel: int = 6,
        compressible: Sequence[str] = COMPRESSIBLE,
    ) -> None:
        self.minimum_size = minimum_size
        self.compresslevel = compresslevel
        self.compressible = tuple(compressible)

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        response = await call_next(request)
        if not _accepts_gzip(request) or not self._compressible(response):
            return response
        if isinstance(response, StreamingResponse):
            response.body_iterator = _compress_stream(
                iterate(response.body_iterator), self.compresslevel
            )
            _drop(response, b"content-length")
        elif len(response.body) >= self.minimum_size:
            response.body = gzip.compress(response.body, self.compresslevel, mtime=0)
        else:
            return response
        response.raw_headers.append((b"content-encoding", b"gzip"))
        response.raw_headers.append((b"vary", b"accept-encoding"))
        return response

    def _compressible(self, response: Response) -> bool:
        media = b""
        for key, value in response.raw_headers:
            if key == b"content-encoding":
                return False
            if key == b"content-type":
                media = value
        text = media.decode("latin-1").lower()
        if text.startswith("text/event-stream"):
            return False
        return text.startswith(self.compressible)


def _accepts_gzip(request: Request) -> bool:
    for coding in request.headers.get("accept-encoding", "").split(","):
        name, _, params = coding.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            q = params.strip().removeprefix("q=")
            try:
                return not params or float(q) > 0
            except ValueError:
                return False
    return False


def _drop(response: Response, name: bytes) -> None:
    response.raw_headers[:] = [(k, v) for k, v in response.raw_headers if k != name]


async def _compress_stream(chunks: Any, level: int) -> AsyncIterator[bytes]:
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)
    async for chunk in chunks:
        data = chunk.encode() if isinstance(chunk, str) else chunk
        yield compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    yield compressor.flush()
