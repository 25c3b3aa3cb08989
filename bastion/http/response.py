"""Responses: one small class per body kind, each an ASGI callable.

A ``Response`` holds its encoded body and raw header list; ``__call__`` sends it. Headers are
kept as raw ``(bytes, bytes)`` pairs so the common case builds no dict and encodes nothing
twice; ``response.headers`` is an editable view for middleware.
"""

from __future__ import annotations

from collections import UserString
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote

import msgspec

from bastion.http.cookies import SameSite, build_set_cookie
from bastion.http.headers import MutableHeaders, RawHeaders
from bastion.types import Message, Receive, Scope, Send

_NO_BODY_STATUSES = frozenset({204, 304}) | frozenset(range(100, 200))


def _enc_hook(obj: Any) -> Any:
    """Teach the JSON encoder the types msgspec does not know natively (pydantic models,
    lazy strings)."""
    dump = getattr(obj, "model_dump", None)
    if dump is not None:
        return dump(mode="json")
    if isinstance(obj, UserString):  # bastion.i18n's lazy strings: their text of the moment
        return str(obj)
    raise NotImplementedError(f"Objects of type {type(obj).__name__} are not JSON serializable")


json_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)
encode_json = json_encoder.encode


#: The response classes whose answer is exactly their ``messages()``, so their whole payload
#: is ``body``: the app sends those messages itself, and GZip, ConditionalGet and the response
#: cache may rewrite or store the body. Filled in as the classes are defined.
SENT_BY_MESSAGES: set[type[Response]] = set()

#: ``content-length`` headers by size, made once for sizes under 16 KiB (most answers).
_LENGTHS: dict[int, tuple[bytes, bytes]] = {}


def content_length(size: int) -> tuple[bytes, bytes]:
    header = (b"content-length", b"%d" % size)
    if size < 16384:
        _LENGTHS[size] = header
    return header


class Response:
    """Bytes (or text) with a status and headers.

    A class that keeps this ``__call__`` is in ``SENT_BY_MESSAGES``: the app awaits its
    ``messages()`` itself, which spares every request one coroutine.
    """

    media_type: ClassVar[str | None] = None
    content_type_header: ClassVar[tuple[bytes, bytes] | None] = None
    #: Headers this class adds, as OpenAPI header objects by name (``PageResponse``'s Link).
    openapi_headers: ClassVar[dict[str, Any]] = {}

    __slots__ = ("body", "raw_headers", "status_code")

    def __init__(
        self,
        content: Any = b"",
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.body = self.render(content)
        if media_type is not None:
            ct = media_type + ("; charset=utf-8" if media_type.startswith("text/") else "")
            raw: RawHeaders = [(b"content-type", ct.encode("latin-1"))]
        elif self.content_type_header is not None:
            raw = [self.content_type_header]
        else:
            raw = []
        if headers:
            raw.extend(
                (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()
            )
        self.raw_headers = raw

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):
            return content
        if isinstance(content, str):
            return content.encode()
        raise TypeError(f"{type(self).__name__} takes bytes or str, not {type(content).__name__}")

    @property
    def headers(self) -> MutableHeaders:
        return MutableHeaders(self.raw_headers)

    def set_cookie(
        self,
        key: str,
        value: str = "",
        *,
        max_age: int | None = None,
        expires: datetime | None = None,
        path: str = "/",
        domain: str | None = None,
        secure: bool = True,
        httponly: bool = True,
        samesite: SameSite | None = "lax",
    ) -> None:
        """Add a cookie; Secure, HttpOnly and SameSite=Lax unless told otherwise."""
        value_header = build_set_cookie(
            key,
            value,
            max_age=max_age,
            expires=expires,
            path=path,
            domain=domain,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
        )
        self.raw_headers.append((b"set-cookie", value_header.encode("latin-1")))

    def delete_cookie(self, key: str, *, path: str = "/", domain: str | None = None) -> None:
        self.set_cookie(key, "", max_age=0, path=path, domain=domain)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__call__ is Response.__call__:
            SENT_BY_MESSAGES.add(cls)

    def messages(self, method: str) -> tuple[Message, Message]:
        """The start and body messages that answer a request made with ``method``."""
        status = self.status_code
        if status in _NO_BODY_STATUSES:
            headers, body = self.raw_headers, b""
        else:
            body = self.body
            size = len(body)
            headers = [*self.raw_headers, _LENGTHS.get(size) or content_length(size)]
            if method == "HEAD":
                body = b""
        start = {"type": "http.response.start", "status": status, "headers": headers}
        return start, {"type": "http.response.body", "body": body}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start, body = self.messages(scope["method"])
        await send(start)
        await send(body)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status_code}>"


SENT_BY_MESSAGES.add(Response)


class TextResponse(Response):
    media_type = "text/plain"
    content_type_header = (b"content-type", b"text/plain; charset=utf-8")
    __slots__ = ()


class HTMLResponse(Response):
    media_type = "text/html"
    content_type_header = (b"content-type", b"text/html; charset=utf-8")
    __slots__ = ()


class JSONResponse(Response):
    """Any msgspec-encodable value (dict, list, Struct, dataclass, pydantic model) as JSON."""

    media_type = "application/json"
    content_type_header = (b"content-type", b"application/json")
    __slots__ = ()

    def render(self, content: Any) -> bytes:
        return encode_json(content)


class ProblemResponse(JSONResponse):
    """An RFC 9457 ``application/problem+json`` document."""

    media_type = "application/problem+json"
    content_type_header = (b"content-type", b"application/problem+json")
    __slots__ = ()


class RedirectResponse(Response):
    """A redirect; 303 by default, so a POSTed form lands on a GET."""

    __slots__ = ()

    def __init__(
        self, url: str, status_code: int = 303, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(b"", status_code, headers)
        location = quote(url, safe=":/%#?=@[]!$&'()*+,;~")
        self.raw_headers.append((b"location", location.encode("latin-1")))
