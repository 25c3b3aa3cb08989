"""File responses with validators (ETag, Last-Modified), conditional 304 and byte ranges.

Only a single byte range is served as 206 (``bytes=0-99``, ``bytes=-500``, ``bytes=100-``);
a request for several ranges gets the whole file with 200, which RFC 9110 allows. A malformed
``Range`` header is ignored, an unsatisfiable one is a 416.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import stat
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote

from bastion.exceptions import NotFound
from bastion.http.headers import Headers
from bastion.http.response import ProblemResponse, Response
from bastion.types import Receive, Scope, Send

CHUNK_SIZE = 64 * 1024


class FileResponse(Response):
    """Send a file from disk in chunks, read off the event loop."""

    __slots__ = ("chunk_size", "path", "stat_result")

    def __init__(
        self,
        path: str | os.PathLike[str],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        filename: str | None = None,
        content_disposition: str = "attachment",
        stat_result: os.stat_result | None = None,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self.path = Path(path)
        media = media_type or mimetypes.guess_type(filename or self.path.name)[0]
        super().__init__(b"", status_code, headers, media or "application/octet-stream")
        if filename is not None:
            quoted = quote(filename)
            disposition = (
                f'{content_disposition}; filename="{quoted}"'
                if quoted == filename
                else f"{content_disposition}; filename*=utf-8''{quoted}"
            )
            self.raw_headers.append((b"content-disposition", disposition.encode("latin-1")))
        self.stat_result = stat_result
        self.chunk_size = chunk_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        import anyio

        try:
            info = self.stat_result or await anyio.Path(self.path).stat()
        except (FileNotFoundError, NotADirectoryError):
            info = None
        if info is None or not stat.S_ISREG(info.st_mode):
            # Sent, not raised: a response is already being answered when this runs.
            missing = NotFound("The file does not exist")
            await ProblemResponse(missing.problem(), 404)(scope, receive, send)
            return
        size = info.st_size
        etag = _etag(info)
        modified = format_datetime(datetime.fromtimestamp(info.st_mtime, UTC), usegmt=True)
        validators = [
            (b"etag", etag.encode()),
            (b"last-modified", modified.encode()),
            (b"accept-ranges", b"bytes"),
        ]
        request_headers = Headers(scope["headers"])
        if _not_modified(request_headers, etag, info.st_mtime):
            await _send_head(send, 304, [*validators, *self._without_type()])
            return
        start, end = 0, size - 1
        status = self.status_code
        extra: list[tuple[bytes, bytes]] = []
        wanted = _range(request_headers, etag, modified, size)
        if wanted == "unsatisfiable":
            problem = ProblemResponse(
                {
                    "type": "about:blank",
                    "title": "Range Not Satisfiable",
                    "status": 416,
                    "detail": f"The file has {size} bytes",
                },
                416,
                {"content-range": f"bytes */{size}"},
            )
            await problem(scope, receive, send)
            return
        if isinstance(wanted, tuple):
            start, end = wanted
            status = 206
            extra.append((b"content-range", f"bytes {start}-{end}/{size}".encode()))
        length = max(0, end - start + 1)
        headers = [
            *self.raw_headers,
            *validators,
            *extra,
            (b"content-length", str(length).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if scope["method"] == "HEAD" or length == 0:
            await send({"type": "http.response.body", "body": b""})
            return
        async with await anyio.open_file(self.path, "rb") as file:
            await file.seek(start)
            remaining = length
            while remaining > 0:
                chunk = await file.read(min(self.chunk_size, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                await send(
                    {"type": "http.response.body", "body": chunk, "more_body": remaining > 0}
                )
        if remaining > 0:  # the file shrank while being sent: end the body cleanly
            await send({"type": "http.response.body", "body": b""})
        if self.background is not None:
            await self.background()

    def _without_type(self) -> list[tuple[bytes, bytes]]:
        return [(k, v) for k, v in self.raw_headers if k != b"content-type"]


async def _send_head(send: Send, status: int, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def _etag(info: os.stat_result) -> str:
    token = hashlib.md5(f"{info.st_mtime_ns}-{info.st_size}".encode(), usedforsecurity=False)
    return f'"{token.hexdigest()}"'


def _not_modified(headers: Headers, etag: str, mtime: float) -> bool:
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return "*" in tags or etag in tags
    if_modified_since = headers.get("if-modified-since")
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        return int(mtime) <= since.timestamp()
    return False


def _range(headers: Headers, etag: str, modified: str, size: int) -> tuple[int, int] | str | None:
    """The one byte range to send, ``"unsatisfiable"``, or None for the whole file."""
    header = headers.get("range")
    if not header or not header.startswith("bytes="):
        return None
    if_range = headers.get("if-range")
    if if_range is not None and if_range not in (etag, modified):
        return None  # the client's copy is stale: send everything
    specs = header[6:].split(",")
    if len(specs) != 1:
        return None
    first, sep, last = specs[0].strip().partition("-")
    if (
        not sep
        or not (first.isdigit() or last.isdigit())
        or (first and not first.isdigit())
        or (last and not last.isdigit())
    ):
        return None
    if not first:  # a suffix: the last N bytes
        count = int(last)
        if count == 0:
            return "unsatisfiable"
        return max(0, size - count), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        return "unsatisfiable"
    return start, end
