"""The incoming request: a lazy view over the ASGI scope and receive channel.

Nothing is parsed until asked for, so a handler that reads only a path parameter pays for
nothing else. Parsing never does I/O except ``body()``/``stream()``, which read ``receive``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import msgspec

from bastion.exceptions import BadRequest, MalformedBody, PayloadTooLarge
from bastion.http.connection import HTTPConnection
from bastion.types import Receive, Scope

if TYPE_CHECKING:
    from bastion.http.forms import FormData

DEFAULT_MAX_BODY_SIZE = 1024 * 1024


class ClientDisconnect(Exception):
    """The client went away while its request body was being read; nothing can be answered."""


class Request(HTTPConnection):
    """An HTTP request. ``path_params`` are already converted by the route's converters."""

    __slots__ = (
        "_body",
        "_form",
        "before_send",
        "cleanup",
        "di_cache",
        "error",
        "max_body_size",
        "receive",
        "route",
    )

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        path_params: dict[str, Any] | None = None,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    ) -> None:
        # The base initialiser, inlined: this runs once per request on the hot path.
        self.scope = scope
        self.path_params = path_params if path_params is not None else {}
        self._headers = self._query = self._cookies = self._state = None
        self.receive = receive
        self.max_body_size = max_body_size
        self.route: Any = None
        self._body: bytes | None = None
        self._form: FormData | None = None
        #: Awaited after the handler returns and before the response exists (a database
        #: commit): their errors are answered like the handler's. Dependencies add to it.
        self.before_send: list[Callable[[], Awaitable[Any]]] | None = None
        #: The exception the request failed with, if any (teardown and tests want it).
        self.error: Exception | None = None
        #: Teardown of ``yield`` dependencies; created only when a route needs one.
        self.cleanup: AsyncExitStack | None = None
        #: Results of dependencies already resolved for this request.
        self.di_cache: dict[Any, Any] | None = None

    @property
    def method(self) -> str:
        return self.scope["method"]  # type: ignore[no-any-return]

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased (``application/json``)."""
        return self.headers.get("content-type", "").partition(";")[0].strip().lower()

    # -- the body ----------------------------------------------------------------------------
    async def stream(self) -> AsyncIterator[bytes]:
        """Yield body chunks as they arrive, enforcing the size limit as they come."""
        if self._body is not None:
            yield self._body
            return
        self._check_declared_length()
        async for chunk in self._rest(0):
            yield chunk

    async def _rest(self, size: int) -> AsyncIterator[bytes]:
        """Receive body messages until the last one; ``size`` bytes were read before."""
        limit = self.max_body_size
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return

    async def body(self) -> bytes:
        """The whole body, read once and kept."""
        if self._body is None:
            self._check_declared_length()
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect
            body: bytes = message.get("body", b"")
            if len(body) > self.max_body_size:
                raise _too_large(self.max_body_size)
            if message.get("more_body", False):  # more to come: gather the rest
                body = b"".join([body, *[chunk async for chunk in self._rest(len(body))]])
            self._body = body
        return self._body

    async def json(self) -> Any:
        """The body decoded as JSON (untyped); malformed JSON is a 400."""
        body = await self.body()
        try:
            return msgspec.json.decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise MalformedBody(f"The body is not valid JSON: {exc}") from None

    async def form(self) -> FormData:
        """The body parsed as a URL-encoded or multipart form (files stream to disk)."""
        if self._form is None:
            from bastion.http.forms import parse_form

            self._form = await parse_form(self)
        return self._form

    def _check_declared_length(self) -> None:
        declared = self.headers.get("content-length")
        if declared is None:
            return
        # isdigit() alone takes superscripts and other scripts' digits, which int() refuses.
        if not (declared.isascii() and declared.isdigit()):
            raise BadRequest("The Content-Length header is not a number")
        if int(declared) > self.max_body_size:
            raise _too_large(self.max_body_size)

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.path}>"


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body exceeds the limit of {limit} bytes")
