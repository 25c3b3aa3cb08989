"""CSRF: refuse forged state-changing requests from other sites.

A request is checked when its method is unsafe (POST, PUT, PATCH, DELETE…) and it carries
ambient credentials, the ones a browser attaches by itself to any site's request: cookies,
and ``Authorization`` with the ``Basic``, ``Digest``, ``Negotiate`` or ``NTLM`` scheme (any
case), which browsers remember after a login prompt. A request carrying a token (another
scheme, e.g. ``Bearer``, or an API key in one of ``token_headers``) is not checked: a page
on another site cannot make the browser send one. A blank header is no token.

A checked request must pass, in order:

1. **origin**: an ``Origin`` (else ``Referer``) header, when sent, names this site or one of
   ``trusted_origins``; otherwise 403 with ``"reason": "cross-origin"``;
2. **token**: the ``X-CSRF-Token`` header or the ``csrf_token`` form field holds a token from
   ``csrf_token(request)`` made for the secret in the ``csrftoken`` cookie; otherwise 403
   with ``"reason": "missing"``, ``"wrong"`` or ``"expired"``.

A refused browser (``Accept`` naming ``text/html``, as form posts do) gets the 403 as a short
page in its language, the reason in the ``X-CSRF-Refusal`` header; others get problem+json.

The form is read with ``request.form()``, which the request keeps: the handler still gets
its ``Form`` parameters, ``request.form()`` and ``request.body()``.

WebSocket handshakes carry no token, yet browsers open them to any site with that site's
cookies (cross-site WebSocket hijacking): a handshake with ambient credentials is refused,
before the handler runs and with a 403 to the browser, when its ``Origin`` is neither this
site nor trusted (``websocket_guard``, installed by ``SecurityPlugin``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypedDict, Unpack
from urllib.parse import urlsplit

import msgspec
from markupsafe import Markup

from bastion.exceptions import ConfigurationError, Forbidden, HTTPError
from bastion.http.connection import HTTPConnection
from bastion.http.cookies import SameSite, build_set_cookie
from bastion.http.forms import FORM_TYPES
from bastion.http.request import Request
from bastion.http.response import HTMLResponse, ProblemResponse, Response
from bastion.http.uploads import UploadFile
from bastion.routing.route import WebSocketRoute
from bastion.security._csrf_tokens import CSRFTokens
from bastion.types import CallNext, Endpoint

if TYPE_CHECKING:
    from bastion.routing._endpoint import CompiledRoute

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: Authorization schemes a browser sends by itself, as it does cookies.
AMBIENT_SCHEMES = frozenset({b"basic", b"digest", b"negotiate", b"ntlm"})
#: Scope keys: the middleware in charge, and the secret of this request once known.
ACTIVE = "bastion.csrf"
SECRET = "bastion.csrf_secret"
FRESH = "bastion.csrf_fresh"
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


class CSRFOptions(TypedDict, total=False):
    """Options of ``CSRF`` (and ``SecurityPlugin(csrf={...})``)."""

    cookie_name: str
    cookie_secure: bool
    cookie_httponly: bool
    cookie_samesite: SameSite
    cookie_domain: str | None
    cookie_path: str
    cookie_max_age: int | None
    header_name: str
    field_name: str
    token_max_age: int | None
    trusted_origins: Sequence[str]
    exempt_paths: Sequence[str]
    token_headers: Sequence[str]


class CSRF:
    """``CSRF(secret_key, trusted_origins=["https://app.example.com"])``.

    ``exempt_paths`` are path prefixes never checked (webhooks signed by their sender);
    ``token_headers`` name the headers whose value marks a request as token-authenticated,
    unless blank or an ambient scheme (default ``authorization``; add ``x-api-key`` if your
    API keys travel there).
    """

    def __init__(self, secret_key: str | None, **options: Unpack[CSRFOptions]) -> None:
        if not secret_key:
            raise ConfigurationError(
                "CSRF needs a secret key to sign its tokens: pass "
                "CSRF(settings.secret_key, ...) and set BASTION_SECRET_KEY"
            )
        self.tokens = CSRFTokens(secret_key, options.get("token_max_age"))
        self.cookie_name = options.get("cookie_name", "csrftoken")
        self.header_name = options.get("header_name", "X-CSRF-Token")
        self.field_name = options.get("field_name", "csrf_token")
        self._cookie: dict[str, Any] = {
            "max_age": options.get("cookie_max_age", 365 * 24 * 3600),
            "path": options.get("cookie_path", "/"),
            "domain": options.get("cookie_domain"),
            "secure": options.get("cookie_secure", True),
            "httponly": options.get("cookie_httponly", True),
            "samesite": options.get("cookie_samesite", "lax"),
        }
        try:
            build_set_cookie(self.cookie_name, "x", **self._cookie)
        except (ValueError, TypeError) as exc:  # e.g. SameSite=None without Secure
            raise ConfigurationError(f"CSRF cookie options: {exc}") from None
        self.trusted = frozenset(_origin(o) for o in options.get("trusted_origins", ()))
        self.exempt = tuple(options.get("exempt_paths", ()))
        self.token_headers = frozenset(
            h.lower().encode("latin-1") for h in options.get("token_headers", ("authorization",))
        )

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        scope = request.scope
        scope[ACTIVE] = self
        if (
            scope["method"] not in SAFE_METHODS
            and self._ambiently_authenticated(scope["headers"])
            and not self._exempt(scope["path"])
        ):
            refusal = await self._refusal(request)
            if refusal is not None:
                if refusal.status_code == 403 and "text/html" in request.headers.get("accept", ""):
                    return _refusal_page(refusal)  # a browser's form post: a page, not JSON
                return refusal
        response = await call_next(request)
        fresh: bytes | None = scope.get(FRESH)
        if fresh is not None:
            cookie = build_set_cookie(
                self.cookie_name, self.tokens.cookie_value(fresh), **self._cookie
            )
            response.raw_headers.append((b"set-cookie", cookie.encode("latin-1")))
        return response

    def websocket_guard(self, compiled: CompiledRoute) -> Endpoint:
        """An endpoint wrapper (``app.endpoint_wrappers``) refusing cross-origin WebSocket
        handshakes that carry ambient credentials; HTTP routes are left as they are."""
        endpoint = compiled.endpoint
        if not isinstance(compiled.route, WebSocketRoute):
            return endpoint

        async def guarded(request: Request) -> Any:
            scope = request.scope
            if self._ambiently_authenticated(scope["headers"]) and not self._exempt(scope["path"]):
                origin = self._foreign_origin(request)
                if origin is not None:
                    raise Forbidden(
                        f"Cross-origin WebSocket refused: {origin[:100]} is not this site "
                        "nor a trusted origin"
                    )
            return await endpoint(request)

        return guarded

    def token_for(self, request: Request) -> str:
        """A fresh token for this request's secret; a new secret (and cookie) if it has none."""
        scope = request.scope
        secret: bytes | None = scope.get(SECRET)
        if secret is None:
            secret = self.tokens.read_cookie(request.cookies.get(self.cookie_name, ""))
            if secret is None:
                secret = scope[FRESH] = self.tokens.new_secret()
            scope[SECRET] = secret
        return self.tokens.token(secret)

    def _exempt(self, path: str) -> bool:
        return bool(self.exempt) and path.startswith(self.exempt)

    def _ambiently_authenticated(self, headers: list[tuple[bytes, bytes]]) -> bool:
        """Whether the browser may have sent these credentials by itself (and no token)."""
        ambient = False
        for name, value in headers:
            if name == b"cookie":
                ambient = True
            elif name in self.token_headers:
                words = value.split(None, 1)
                if not words:
                    continue  # a blank header proves nothing
                if words[0].lower() not in AMBIENT_SCHEMES:
                    return False  # a token: never attached by a browser on its own
                ambient = True
        return ambient

    async def _refusal(self, request: Request) -> Response | None:
        """None if the request may go on, else the 403 (or the 4xx of an unreadable form)."""
        origin = self._foreign_origin(request)
        if origin is not None:
            return _forbidden(
                "cross-origin",
                f"Cross-origin request refused: {origin[:200]} is not this site nor a "
                "trusted origin",
            )
        secret = self.tokens.read_cookie(request.cookies.get(self.cookie_name, ""))
        if secret is None:
            if self.cookie_name in request.cookies:
                return _forbidden("wrong", "CSRF cookie is invalid; reload the page and retry")
            return _forbidden(
                "missing", "CSRF cookie missing; load the form page (which sets it) and retry"
            )
        try:
            token = await self._submitted_token(request)
        except HTTPError as exc:
            return ProblemResponse(exc.problem(), exc.status_code, exc.headers or None)
        if not token:
            return _forbidden(
                "missing",
                f"CSRF token missing: send csrf_token() in the {self.field_name} form field "
                f"or the {self.header_name} header",
            )
        verdict = self.tokens.check(token, secret)
        if verdict == "expired":
            return _forbidden("expired", "CSRF token expired; reload the page and retry")
        if verdict == "wrong":
            return _forbidden("wrong", "CSRF token does not match; reload the page and retry")
        request.scope[SECRET] = secret
        return None

    def _foreign_origin(self, request: Request) -> str | None:
        """The Origin (or Referer origin) if it is neither this site nor trusted."""
        headers = request.headers
        claimed = headers.get("origin")
        if claimed is None:
            referer = headers.get("referer")
            if referer is None:
                return None  # nothing to compare: the token alone decides
            claimed = _referer_origin(referer)
        origin = claimed.strip().lower()
        if origin in self.trusted:
            return None
        scheme = request.scope.get("scheme", "http")
        scheme = _PAGE_SCHEMES.get(scheme, scheme)  # a WebSocket's page is http(s)
        own = f"{scheme}://{headers.get('host', '')}".lower()
        return None if _without_default_port(origin) == _without_default_port(own) else claimed

    async def _submitted_token(self, request: Request) -> str | None:
        header = request.headers.get(self.header_name)
        if header is not None:
            return header.strip()
        if request.content_type not in FORM_TYPES:
            return None
        await request.body()  # kept by the request, so the handler can read it again
        value = (await request.form()).get(self.field_name)
        return None if isinstance(value, UploadFile) else value


def csrf_token(request: Request) -> str:
    """The token to send back with a form or an ``X-CSRF-Token`` header."""
    return _middleware(request).token_for(request)


def csrf_input(request: Request) -> Markup:
    """``<input type="hidden" name="csrf_token" value="…">`` for an HTML form."""
    middleware = _middleware(request)
    token = middleware.token_for(request)
    return Markup('<input type="hidden" name="{}" value="{}">').format(middleware.field_name, token)


def rotate_csrf_token(request: HTTPConnection) -> None:
    """Give the browser a new secret (and cookie) with this response, e.g. at login.
    ``bastion.auth.login`` calls it for you when the CSRF middleware is on."""
    middleware = _middleware(request)
    request.scope[SECRET] = request.scope[FRESH] = middleware.tokens.new_secret()


def _middleware(request: HTTPConnection) -> CSRF:
    middleware: CSRF | None = request.scope.get(ACTIVE)
    if middleware is None:
        raise ConfigurationError(
            "CSRF tokens need the CSRF middleware on this route; add "
            "plugins=[SecurityPlugin()] to the App"
        )
    return middleware


def _refusal_page(refusal: Response) -> Response:
    """The 403 as a page for a person, in their language; its reason stays in a header."""
    from bastion.i18n import gettext as _

    reason = str(msgspec.json.decode(refusal.body).get("reason", ""))
    if reason == "cross-origin":
        why = _("The form was sent from another site, so it was refused to protect your account.")
    else:
        why = _(
            "The form's security token was missing or out of date (the page may have been "
            "open too long). Go back, reload the page and send the form again."
        )
    title = _("This form could not be sent")
    page = Markup(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><meta name="viewport" '
        'content="width=device-width, initial-scale=1"><title>{}</title></head><body>'
        "<main><h1>{}</h1><p>{}</p></main></body></html>"
    ).format(title, title, why)
    return HTMLResponse(str(page), 403, {"x-csrf-refusal": reason})


def _forbidden(reason: str, detail: str) -> Response:
    error = Forbidden(detail, extra={"reason": reason})
    return ProblemResponse(error.problem(), error.status_code)


_PAGE_SCHEMES = {"ws": "http", "wss": "https"}


def _origin(origin: str) -> str:
    parts = urlsplit(origin.strip().lower())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise ConfigurationError(
            f"CSRF: trusted origin {origin!r} is not an origin; write scheme://host[:port], "
            "e.g. 'https://app.example.com'"
        )
    return f"{parts.scheme}://{parts.netloc}"


def _referer_origin(referer: str) -> str:
    try:
        parts = urlsplit(referer.strip())
        host = parts.netloc.rpartition("@")[2]
    except ValueError:
        return referer
    return f"{parts.scheme}://{host}" if parts.scheme and host else referer


def _without_default_port(origin: str) -> str:
    scheme = origin.partition("://")[0]
    return origin.removesuffix(_DEFAULT_PORTS.get(scheme, "\x00"))
