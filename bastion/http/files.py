"""File responses with validators, conditional requests and byte ranges (RFC 9110).

``FileResponse(path)`` sends ``ETag`` (strong, from mtime and size), ``Last-Modified``,
``Accept-Ranges: bytes`` and ``Content-Length``, then the file in chunks read in a worker
thread. For a 200 answer to GET or HEAD it also honours the request's validators:

- ``If-None-Match`` (weak comparison), else ``If-Modified-Since``: 304 with no body.
- ``Range: bytes=…``: one range is a 206 with ``Content-Range``. Several ranges are sorted and
  overlapping or adjacent ones merged; if one is left it is a plain 206, otherwise a 206
  ``multipart/byteranges`` body (more than ``MAX_RANGES`` after merging: the whole file, 200).
  Ranges that start past the end are dropped; if none is left, 416 with ``bytes */size``.
- A malformed ``Range`` (bad unit, ``5-2``, non-digits), one on an empty file, or one whose
  ``If-Range`` no longer matches is ignored: the whole file with 200.

A file that is missing (or not a regular file) when the response is sent is answered with a
404 problem+json before anything else is sent; the app does not turn exceptions raised by a
response into problems, so raising here would become a 500.
"""

from __future__ import annotations

import mimetypes
import os
import re
import secrets
import stat
import unicodedata
from collections.abc import Mapping
from email.utils import formatdate
from pathlib import Path
from typing import BinaryIO, Literal
from urllib.parse import quote

import anyio.to_thread
from anyio import AsyncFile

from bastion.exceptions import HTTPError, NotFound, RangeNotSatisfiable
from bastion.http.headers import Headers, RawHeaders
from bastion.http.preconditions import http_date, not_modified
from bastion.http.response import ProblemResponse, Response
from bastion.types import Receive, Scope, Send

CHUNK_SIZE = 64 * 1024
#: More (merged) ranges than this in one request is more likely abuse than a video player.
MAX_RANGES = 32

_RANGE_SPEC = re.compile(r"[ \t]*([0-9]*)-([0-9]*)[ \t]*")
_SAFE_FILENAME = re.compile(r"[ !#-\[\]-~]+")  # printable ASCII without '"' and '\'


class FileResponse(Response):
    """Send a file from disk, e.g. ``return FileResponse("report.pdf", filename="Q3.pdf")``.

    ``filename`` sets ``Content-Disposition`` (``attachment`` to download, ``inline`` to show
    in the browser); ``stat_result``, when given, is what the validators are computed from.
    """

    __slots__ = ("chunk_size", "path", "stat_result")

    def __init__(
        self,
        path: str | os.PathLike[str],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        filename: str | None = None,
        content_disposition: Literal["attachment", "inline"] = "attachment",
        stat_result: os.stat_result | None = None,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        if content_disposition not in ("attachment", "inline"):
            raise ValueError(
                f"content_disposition must be 'attachment' or 'inline', not {content_disposition!r}"
            )
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive number of bytes, not {chunk_size}")

        self.path = Path(path)
        media = media_type or mimetypes.guess_type(filename or self.path.name)[0]
        super().__init__(b"", status_code, headers, media or "application/octet-stream")
        if filename is not None:
            value = disposition(content_disposition, filename)
            self.raw_headers.append((b"content-disposition", value.encode("latin-1")))
        self.stat_result = stat_result
        self.chunk_size = chunk_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            file, info = await anyio.to_thread.run_sync(_open, self.path, self.stat_result)
        except NotFound as exc:
            await _problem(exc)(scope, receive, send)
            return
        try:
            await self._send(scope, receive, send, AsyncFile(file), info)
        finally:
            file.close()

    async def _send(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        file: AsyncFile[bytes],
        info: os.stat_result,
    ) -> None:
        size = info.st_size
        mtime = int(info.st_mtime)
        etag = f'"{info.st_mtime_ns:x}-{size:x}"'
        headers: RawHeaders = [
            *self.raw_headers,
            (b"etag", etag.encode()),
            (b"last-modified", formatdate(mtime, usegmt=True).encode()),
            (b"accept-ranges", b"bytes"),
        ]
        method = scope.get("method", "GET")
        ranges: list[tuple[int, int]] | None = None
        if self.status_code == 200 and method in ("GET", "HEAD"):
            request = Headers(scope["headers"])
            if not_modified(request, etag, mtime):
                skip = (b"content-type", b"content-length")
                unchanged = [(k, v) for k, v in headers if k not in skip]
                await send({"type": "http.response.start", "status": 304, "headers": unchanged})
                await send({"type": "http.response.body", "body": b""})
                return
            try:
                ranges = _wanted_ranges(request, etag, mtime, size)
            except RangeNotSatisfiable as exc:
                await _problem(exc)(scope, receive, send)
                return
        with_body = method != "HEAD"
        if ranges is None:
            headers.append((b"content-length", str(size).encode()))
            await _start(send, self.status_code, headers)
            if with_body:
                await self._send_bytes(send, file, 0, size, last=True)
        elif len(ranges) == 1:
            start, end = ranges[0]
            headers.append((b"content-range", f"bytes {start}-{end}/{size}".encode()))
            headers.append((b"content-length", str(end - start + 1).encode()))
            await _start(send, 206, headers)
            if with_body:
                await self._send_bytes(send, file, start, end - start + 1, last=True)
        else:
            await self._send_multipart(send, file, headers, ranges, size, with_body)
        if not with_body:
            await send({"type": "http.response.body", "body": b""})

    async def _send_multipart(
        self,
        send: Send,
        file: AsyncFile[bytes],
        headers: RawHeaders,
        ranges: list[tuple[int, int]],
        size: int,
        with_body: bool,
    ) -> None:
        boundary = secrets.token_hex(16)
        part_type = next((v for k, v in headers if k == b"content-type"), b"")
        heads = [
            b"--%s\r\ncontent-type: %s\r\ncontent-range: bytes %d-%d/%d\r\n\r\n"
            % (boundary.encode(), part_type, start, end, size)
            for start, end in ranges
        ]
        tail = b"--%s--\r\n" % boundary.encode()
        length = sum(
            len(h) + end - start + 1 + 2 for h, (start, end) in zip(heads, ranges, strict=True)
        )
        headers = [(k, v) for k, v in headers if k != b"content-type"]
        headers.append((b"content-type", f"multipart/byteranges; boundary={boundary}".encode()))
        headers.append((b"content-length", str(length + len(tail)).encode()))
        await _start(send, 206, headers)
        if not with_body:
            return
        for head, (start, end) in zip(heads, ranges, strict=True):
            await send({"type": "http.response.body", "body": head, "more_body": True})
            await self._send_bytes(send, file, start, end - start + 1, last=False)
            await send({"type": "http.response.body", "body": b"\r\n", "more_body": True})
        await send({"type": "http.response.body", "body": tail})

    async def _send_bytes(
        self, send: Send, file: AsyncFile[bytes], start: int, length: int, *, last: bool
    ) -> None:
        """``length`` bytes from ``start``; ``last`` ends the response body with them."""
        await file.seek(start)
        remaining = length
        while remaining > 0:
            chunk = await file.read(min(self.chunk_size, remaining))
            if not chunk:  # the file shrank while being sent; the client sees a short body
                break
            remaining -= len(chunk)
            more = remaining > 0 or not last
            await send({"type": "http.response.body", "body": chunk, "more_body": more})
        if last and (remaining > 0 or length == 0):
            await send({"type": "http.response.body", "body": b""})


def disposition(kind: str, filename: str) -> str:
    """``Content-Disposition`` per RFC 6266: a plain ``filename`` when it is safe ASCII, else
    an ASCII fallback plus ``filename*`` in UTF-8, so every browser gets a usable name."""
    if _SAFE_FILENAME.fullmatch(filename):
        return f'{kind}; filename="{filename}"'
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    fallback = "".join(c if _SAFE_FILENAME.fullmatch(c) else "_" for c in ascii_name)
    return f"{kind}; filename=\"{fallback or 'download'}\"; filename*=UTF-8''{quote(filename)}"


def _open(path: Path, known: os.stat_result | None) -> tuple[BinaryIO, os.stat_result]:
    """Open a regular file for reading (in a worker thread). ``O_NONBLOCK`` makes a FIFO fail
    fast instead of blocking the thread forever; it changes nothing for regular files."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        raise NotFound("The file does not exist") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotFound("The file does not exist")
        return os.fdopen(fd, "rb"), known or info
    except BaseException:
        os.close(fd)
        raise


def _problem(exc: HTTPError) -> ProblemResponse:
    return ProblemResponse(exc.problem(), status_code=exc.status_code, headers=exc.headers)


async def _start(send: Send, status: int, headers: RawHeaders) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})


def _wanted_ranges(
    request: Headers, etag: str, mtime: int, size: int
) -> list[tuple[int, int]] | None:
    """The merged byte ranges to send, or None for the whole file; raises RangeNotSatisfiable."""
    header = request.get("range")
    if header is None or size == 0:
        return None
    if_range = request.get("if-range")
    if if_range is not None:
        if_range = if_range.strip()
        current = if_range == etag if if_range.startswith('"') else http_date(if_range) == mtime
        if not current:
            return None
    ranges = parse_range(header, size)
    if ranges == []:
        raise RangeNotSatisfiable(
            f"The file has {size} bytes; no requested range starts inside it",
            headers={"content-range": f"bytes */{size}"},
        )
    if ranges is not None and len(ranges) > MAX_RANGES:
        return None
    return ranges


def parse_range(header: str, size: int) -> list[tuple[int, int]] | None:
    """``bytes=0-99,-50`` → sorted, merged inclusive ``(start, end)`` pairs within ``size``.

    None means "ignore the header" (malformed); ``[]`` means nothing in it is satisfiable.
    """
    unit, sep, specs = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    ranges: list[tuple[int, int]] = []
    seen = False
    for spec in specs.split(","):
        if not spec.strip():
            continue  # list syntax allows empty elements
        match = _RANGE_SPEC.fullmatch(spec)
        if match is None or match.group(1) == match.group(2) == "":
            return None
        seen = True
        try:
            first, last = (int(g) if g else None for g in match.groups())
        except ValueError:  # thousands of digits: Python refuses to convert them
            return None
        if first is None:
            if last:  # a suffix: the last N bytes; ``-0`` asks for nothing
                ranges.append((max(0, size - last), size - 1))
        elif last is not None and last < first:
            return None
        elif first < size:
            ranges.append((first, size - 1 if last is None else min(last, size - 1)))
    if not seen:
        return None
    ranges.sort()
    merged: list[tuple[int, int]] = []
    for start, end in ranges:
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
