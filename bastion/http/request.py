"""The incoming request: a lazy view over the ASGI scope and receive channel.

Nothing is parsed until asked for, so a handler that reads only a path parameter pays for
nothing else. Parsing never does I/O except ``body()``/``stream()``, which read ``receive``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import msgspec

from bastion.exceptions import BadRequest, MalformedBody, PayloadTooLarge
from bastion.http.cookies import parse_cookie_header
from bastion.http.headers import Headers, QueryParams
from bastion.types import Receive, Scope

if TYPE_CHECKING:
    from bastion.app import App
    from bastion.http.forms import FormData

DEFAULT_MAX_BODY_SIZE = 1024 * 1024


class ClientDisconnect(Exception):
    """The client went away while its request body was being read; nothing can be answered."""


class State:
    """Free-form per-request attributes set by middleware and dependencies."""

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"request.state has no attribute {name!r}; set it first")


class Request:
    """An HTTP request. ``path_params`` are already converted by the route's converters."""

    __slots__ = (
        "_body",
        "_cookies",
        "_form",
        "_headers",
        "_query",
        "_state",
        "cleanup",
        "di_cache",
        "max_body_size",
        "path_params",
        "receive",
        "route",
        "scope",
    )

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        path_params: dict[str, Any] | None = None,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    ) -> None:
        self.scope = scope
        self.receive = receive
        self.path_params = path_params if path_params is not None else {}
        self.max_body_size = max_body_size
        self.route: Any = None
        self._headers: Headers | None = None
        self._query: QueryParams | None = None
        self._cookies: dict[str, str] | None = None
        self._body: bytes | None = None
        self._form: FormData | None = None
        self._state: State | None = None
        #: Teardown of ``yield`` dependencies; created only when a route needs one.
        self.cleanup: AsyncExitStack | None = None
        #: Results of dependencies already resolved for this request.
        self.di_cache: dict[Any, Any] | None = None

    # -- what the client asked for ---------------------------------------------------------
    @property
    def app(self) -> App[Any]:
        return self.scope["app"]  # type: ignore[no-any-return]

    @property
    def method(self) -> str:
        return self.scope["method"]  # type: ignore[no-any-return]

    @property
    def path(self) -> str:
        return self.scope["path"]  # type: ignore[no-any-return]

    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = Headers(self.scope["headers"])
        return self._headers

    @property
    def query_params(self) -> QueryParams:
        if self._query is None:
            try:
                self._query = QueryParams(self.scope.get("query_string", b""))
            except UnicodeDecodeError:
                raise BadRequest("The query string is not valid UTF-8") from None
        return self._query

    @property
    def cookies(self) -> dict[str, str]:
        if self._cookies is None:
            self._cookies = parse_cookie_header(self.headers.get("cookie", ""))
        return self._cookies

    @property
    def client(self) -> tuple[str, int] | None:
        client = self.scope.get("client")
        return (client[0], client[1]) if client else None

    @property
    def state(self) -> State:
        if self._state is None:
            self._state = State()
        return self._state

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased (``application/json``)."""
        return self.headers.get("content-type", "").partition(";")[0].strip().lower()

    @property
    def base_url(self) -> str:
        scheme = self.scope.get("scheme", "http")
        host = self.headers.get("host")
        if host is None:
            server = self.scope.get("server") or ("localhost", None)
            host = server[0] if server[1] in (None, 80, 443) else f"{server[0]}:{server[1]}"
        return f"{scheme}://{host}{self.scope.get('root_path', '')}"

    @property
    def url(self) -> str:
        query = self.scope.get("query_string", b"")
        tail = "?" + query.decode("latin-1") if query else ""
        return f"{self.base_url}{self.path}{tail}"

    def url_for(self, name: str, /, **params: Any) -> str:
        """Absolute URL of the named route (for links that leave the app, e.g. in mail)."""
        return self.base_url + self.app.url_path_for(name, **params)

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
        if not declared.isdigit():
            raise BadRequest("The Content-Length header is not a number")
        if int(declared) > self.max_body_size:
            raise _too_large(self.max_body_size)

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.path}>"


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body exceeds the limit of {limit} bytes")
