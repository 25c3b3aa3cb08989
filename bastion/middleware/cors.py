"""CORS: answer preflight requests and label responses for cross-origin browsers.

The defaults are the safe ones: any origin may *read* responses, but never with the user's
cookies (``allow_credentials=False``), and a wildcard origin combined with credentials is
refused at construction, because it would let every site act as the logged-in user (browsers
refuse it too). A preflight that asks for something not allowed is answered with a 400
``application/problem+json`` naming what was refused, instead of a silent browser failure.

Rejections are *returned*, not raised: the preflight never reaches the app, and middleware
outside this one (``RequestId``, ``ServerTiming``) still labels the 400.

Everything that does not depend on the request (header bytes, the allowed sets, the regex)
is prepared in ``__init__``; a simple request costs one scan of the request headers and one
``list.extend``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bastion.exceptions import BadRequest, ConfigurationError
from bastion.http.headers import RawHeaders, raw_header
from bastion.http.request import Request
from bastion.http.response import ProblemResponse, Response
from bastion.types import CallNext

DEFAULT_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD")
#: Request headers a browser may always send; ``content-type`` is listed in preflights for
#: ``application/json`` bodies, so a JSON API works without naming it.
SAFELISTED_HEADERS = ("accept", "accept-language", "content-language", "content-type")

_ALLOW_ORIGIN = b"access-control-allow-origin"
_VARY_ORIGIN = (b"vary", b"origin")


class CORS:
    """``CORS(allow_origins=["https://app.example.com"], allow_credentials=True)``.

    ``allow_origins`` entries are exact origins (``scheme://host[:port]``, no trailing slash)
    or ``"*"``; ``allow_origin_regex`` is matched against the whole origin. ``"*"`` in
    ``allow_methods`` or ``allow_headers`` allows any.
    """

    def __init__(
        self,
        allow_origins: Sequence[str] = ("*",),
        allow_methods: Sequence[str] = DEFAULT_METHODS,
        allow_headers: Sequence[str] = (),
        allow_credentials: bool = False,
        expose_headers: Sequence[str] = (),
        max_age: int = 600,
        allow_origin_regex: str | None = None,
    ) -> None:
        if isinstance(allow_origins, str):
            allow_origins = [allow_origins]
        self.any_origin = "*" in allow_origins
        if self.any_origin and allow_credentials:
            raise ConfigurationError(
                "CORS: allow_origins=['*'] cannot be combined with allow_credentials=True "
                "(it would let any site send requests with your users' cookies); list the "
                "trusted origins instead, e.g. allow_origins=['https://app.example.com']"
            )
        origins = [_check_origin(o) for o in allow_origins if o != "*"]
        if not self.any_origin and not origins and allow_origin_regex is None:
            raise ConfigurationError(
                "CORS: no origin is allowed; pass allow_origins=['https://app.example.com'] "
                "or allow_origin_regex"
            )
        if max_age < 0:
            raise ConfigurationError(f"CORS: max_age must be 0 or more seconds, not {max_age}")
        self.origins = frozenset(_ascii(o, "allow_origins") for o in origins)
        self.origin_regex = _compile(allow_origin_regex) if allow_origin_regex else None
        self.any_method = "*" in allow_methods
        self.methods = frozenset(_ascii(m, "allow_methods").upper() for m in allow_methods)
        self.any_header = "*" in allow_headers
        self.headers = frozenset(
            _ascii(h, "allow_headers").strip().lower()
            for h in (*allow_headers, *SAFELISTED_HEADERS)
        )

        credentials = [(b"access-control-allow-credentials", b"true")] if allow_credentials else []
        expose = (
            [(b"access-control-expose-headers", _ascii(", ".join(expose_headers), "expose"))]
            if expose_headers
            else []
        )
        #: Added to a response for an allowed origin: after the origin itself when echoed.
        self._wildcard: RawHeaders = [(_ALLOW_ORIGIN, b"*"), *expose]
        self._echo_tail: RawHeaders = [_VARY_ORIGIN, *credentials, *expose]
        methods = b", ".join(sorted(self.methods - {b"*"}))
        self._preflight: RawHeaders = [
            *([] if self.any_method else [(b"access-control-allow-methods", methods)]),
            (b"access-control-max-age", str(max_age).encode()),
            *credentials,
        ]

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        if request.scope["method"] == "OPTIONS":
            return await self._options(request, call_next)
        origin = raw_header(request.scope["headers"], b"origin")
        if origin is None:
            return await call_next(request)
        response = await call_next(request)
        self._label(response.raw_headers, origin)
        return response

    def allowed(self, origin: bytes) -> bool:
        """Whether ``origin`` (the raw header value) may read responses."""
        if self.any_origin or origin in self.origins:
            return True
        return self.origin_regex is not None and self.origin_regex.fullmatch(origin) is not None

    def _label(self, raw: RawHeaders, origin: bytes) -> None:
        if self.any_origin:
            raw.extend(self._wildcard)
        elif self.allowed(origin):
            raw.append((_ALLOW_ORIGIN, origin))
            raw.extend(self._echo_tail)
        else:
            # No permission, but a cache must still not serve this answer to allowed origins.
            raw.append(_VARY_ORIGIN)

    async def _options(self, request: Request, call_next: CallNext) -> Response:
        origin = method = wanted = None
        for name, value in request.scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"access-control-request-method":
                method = value
            elif name == b"access-control-request-headers":
                wanted = value
        if origin is None:
            return await call_next(request)
        if method is None:  # a plain OPTIONS request from a page, not a preflight
            response = await call_next(request)
            self._label(response.raw_headers, origin)
            return response
        return self._preflight_response(origin, method.upper(), wanted)

    def _preflight_response(self, origin: bytes, method: bytes, wanted: bytes | None) -> Response:
        names = [h for h in (p.strip().lower() for p in (wanted or b"").split(b",")) if h]
        problems = []
        if not self.allowed(origin):
            problems.append(f"origin not allowed: {origin.decode('latin-1')}")
        if not self.any_method and method not in self.methods:
            problems.append(f"method {method.decode('latin-1') or '(none)'} not allowed")
        if not self.any_header:
            refused = [h.decode("latin-1") for h in names if h not in self.headers]
            if refused:
                problems.append(f"headers not allowed: {', '.join(refused)}")
        if problems:
            error = BadRequest("CORS preflight rejected: " + "; ".join(problems))
            return ProblemResponse(error.problem(), error.status_code)

        response = Response(b"", 204)
        raw = response.raw_headers
        if self.any_origin:
            raw.append((_ALLOW_ORIGIN, b"*"))
        else:
            raw.append((_ALLOW_ORIGIN, origin))
            raw.append(_VARY_ORIGIN)
        raw.extend(self._preflight)
        if self.any_method:
            raw.append((b"access-control-allow-methods", method))
        if names:
            raw.append((b"access-control-allow-headers", b", ".join(names)))
        return response


def _check_origin(origin: str) -> str:
    if origin == "null":
        return origin
    scheme, sep, rest = origin.partition("://")
    if not sep or not scheme or not rest or "/" in rest:
        raise ConfigurationError(
            f"CORS: {origin!r} is not an origin; write scheme://host[:port] with no path or "
            "trailing slash, e.g. 'https://app.example.com'"
        )
    return origin.lower()


def _compile(pattern: str) -> re.Pattern[bytes]:
    try:
        return re.compile(_ascii(pattern, "allow_origin_regex"))
    except re.error as exc:
        raise ConfigurationError(
            f"CORS: allow_origin_regex {pattern!r} is not a valid regular expression: {exc}"
        ) from None


def _ascii(text: str, option: str) -> bytes:
    try:
        return text.encode("ascii")
    except UnicodeEncodeError:
        raise ConfigurationError(
            f"CORS: {option} value {text!r} is not ASCII; write host names in their "
            "punycode (xn--) form"
        ) from None
