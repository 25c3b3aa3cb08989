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

from bastion.http.headers import RawHeaders
from bastion.http.preconditions import body_etag, http_date, not_modified
from bastion.http.request import Request
from bastion.http.response import SENT_BY_MESSAGES, Response
from bastion.types import CallNext

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
            or type(response) not in SENT_BY_MESSAGES
        ):
            return response
        headers = response.raw_headers
        etag = _header(headers, b"etag")
        if etag is None and "no-store" not in (_header(headers, b"cache-control") or ""):
            etag = body_etag(response.body, weak=True)
            headers.append((b"etag", etag.encode()))
        if not_modified(request.headers, etag, http_date(_header(headers, b"last-modified"))):
            unchanged = Response(b"", 304)
            unchanged.raw_headers = [(k, v) for k, v in headers if k in _KEPT]
            return unchanged
        return response


def _header(headers: RawHeaders, name: bytes) -> str | None:
    return next((value.decode("latin-1") for key, value in headers if key == name), None)
