"""ConditionalGet: ETags on GET answers, and 304 Not Modified for clients that hold them.

What Rails' ``Rack::ETag`` + ``ConditionalGet`` and Django's ``ConditionalGetMiddleware`` do:
a 200 answer to GET or HEAD whose body is in memory gets a weak ETag, a hash of its bytes
(weak, because compression or a proxy may change the bytes of the same representation),
unless the handler set one or said ``cache-control: no-store``. A request whose
``If-None-Match`` names that tag (or whose ``If-Modified-Since`` is not older than the
answer's ``Last-Modified``, when it sends no ``If-None-Match``) gets a 304 without the body:
the handler still ran, but the bytes do not travel again. Streams and files are left alone
(files have their own ETags and 304s).
"""

from __future__ import annotations

import hashlib
from email.utils import parsedate_to_datetime

from bastion.http.headers import RawHeaders
from bastion.http.request import Request
from bastion.http.response import Response
from bastion.types import CallNext

_SEND_BODY = Response.__call__  # responses whose whole payload is ``response.body``
#: What a 304 keeps of the 200 it stands for (RFC 9110 §15.4.5), and its cookies.
_KEPT = frozenset(
    {
        b"cache-control",
        b"content-location",
        b"date",
        b"etag",
        b"expires",
        b"last-modified",
        b"vary",
        b"set-cookie",
    }
)


class ConditionalGet:
    """``App(middleware=[ConditionalGet()])``."""

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        response = await call_next(request)
        if (
            request.scope["method"] not in ("GET", "HEAD")
            or response.status_code != 200
            or type(response).__call__ is not _SEND_BODY
        ):
            return response
        headers = response.raw_headers
        etag = _header(headers, b"etag")
        if etag is None and b"no-store" not in (_header(headers, b"cache-control") or b""):
            digest = hashlib.blake2b(response.body, digest_size=16).hexdigest()
            etag = f'W/"{digest}"'.encode()
            headers.append((b"etag", etag))
        if _not_modified(request, etag, _header(headers, b"last-modified")):
            unchanged = Response(b"", 304)
            unchanged.raw_headers = [(k, v) for k, v in headers if k in _KEPT]
            unchanged.background = response.background
            return unchanged
        return response


def _header(headers: RawHeaders, name: bytes) -> bytes | None:
    return next((value for key, value in headers if key == name), None)


def _not_modified(request: Request, etag: bytes | None, last_modified: bytes | None) -> bool:
    """RFC 9110 §13.2.2: If-None-Match decides when sent (weak comparison), else
    If-Modified-Since against Last-Modified."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        if etag is None:
            return False
        if if_none_match.strip() == "*":
            return True
        ours = etag.decode("latin-1").removeprefix("W/")
        return any(tag.strip().removeprefix("W/") == ours for tag in if_none_match.split(","))
    since = request.headers.get("if-modified-since")
    if since is None or last_modified is None:
        return False
    try:
        return parsedate_to_datetime(last_modified.decode("latin-1")) <= parsedate_to_datetime(
            since
        )
    except (TypeError, ValueError):  # an unreadable date: answer in full
        return False
