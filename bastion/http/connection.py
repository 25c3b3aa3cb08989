"""What HTTP requests and WebSocket connections share: a lazy view over the ASGI scope."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bastion.exceptions import BadRequest
from bastion.http.cookies import parse_cookie_header
from bastion.http.headers import Headers, QueryParams
from bastion.types import Scope

if TYPE_CHECKING:
    from bastion.app import App


class State:
    """Free-form per-connection attributes set by middleware and dependencies."""

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"request.state has no attribute {name!r}; set it first")


class HTTPConnection:
    """Headers, query, cookies and URLs, each parsed on first use and kept."""

    __slots__ = ("_cookies", "_headers", "_query", "_state", "path_params", "scope")

    def __init__(self, scope: Scope, path_params: dict[str, Any] | None = None) -> None:
        self.scope = scope
        self.path_params = path_params if path_params is not None else {}
        self._headers: Headers | None = None
        self._query: QueryParams | None = None
        self._cookies: dict[str, str] | None = None
        self._state: State | None = None

    @property
    def app(self) -> App[Any]:
        return self.scope["app"]  # type: ignore[no-any-return]

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

    @property
    def user(self) -> Any:
        """The authenticated user, None when anonymous; set by ``bastion.auth`` on routes that
        authenticate. Kept in the scope, so the WebSocket and its dependencies share it."""
        try:
            return self.scope["user"]
        except KeyError:
            raise AttributeError(
                "request.user is set only on routes that authenticate: add a `user: "
                "CurrentUser` (or OptionalUser) parameter or a requires(...) guard, with "
                "bastion.auth.AuthPlugin in App(plugins=[...])"
            ) from None

    @user.setter
    def user(self, value: Any) -> None:
        self.scope["user"] = value

    @property
    def session(self) -> Any:
        """The session (a dict-like ``bastion.auth.Session``), loaded by the session plugin."""
        try:
            return self.scope["session"]
        except KeyError:
            raise AttributeError(
                "request.session needs the session plugin: add "
                "bastion.auth.SessionPlugin() to App(plugins=[...])"
            ) from None

    def url_for(self, name: str, /, **params: Any) -> str:
        """Absolute URL of the named route (for links that leave the app, e.g. in mail)."""
        return self.base_url + self.app.url_path_for(name, **params)
