"""CORS: answer preflights and label responses for cross-origin browsers.

Safe defaults: no credentials, and wildcard origins cannot be combined with credentials
(browsers reject it and it would expose cookies to any site), which fails at construction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bastion.exceptions import ConfigurationError
from bastion.http.request import Request
from bastion.http.response import ProblemResponse, Response
from bastion.types import CallNext

SAFE_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD")


class CORS:
    """``CORS(allow_origins=["https://app.example"], allow_credentials=True)``."""

    def __init__(
        self,
        allow_origins: Sequence[str] = ("*",),
        allow_methods: Sequence[str] = SAFE_METHODS,
        allow_headers: Sequence[str] = (),
        allow_credentials: bool = False,
        expose_headers: Sequence[str] = (),
        max_age: int = 600,
        allow_origin_regex: str | None = None,
    ) -> None:
        self.any_origin = "*" in allow_origins
        if self.any_origin and allow_credentials:
            raise ConfigurationError(
                "CORS: allow_origins=['*'] cannot be combined with allow_credentials=True; "
                "list the trusted origins explicitly"
            )
        self.origins = frozenset(allow_origins)
        self.origin_regex = re.compile(allow_origin_regex) if allow_origin_regex else None
        self.methods = frozenset(m.upper() for m in allow_methods)
        self.any_header = "*" in allow_headers
        self.headers = frozenset(h.lower() for h in allow_headers)
        self.credentials = allow_credentials
        self._simple: list[tuple[bytes, bytes]] = []
        if allow_credentials:
            self._simple.append((b"access-control-allow-credentials", b"true"))
        if expose_headers:
            self._simple.append(
                (b"access-control-expose-headers", ", ".join(expose_headers).encode("latin-1"))
            )
        self._preflight = [
            (b"access-control-allow-methods", ", ".join(sorted(self.methods)).encode("latin-1")),
            (b"access-control-max-age", str(max_age).encode()),
            *self._simple,
        ]

    def _allowed(self, origin: str) -> bool:
        if self.any_origin or origin in self.origins:
            return True
        return self.origin_regex is not None and self.origin_regex.fullmatch(origin) is not None

    def _origin_headers(self, origin: bytes) -> list[tuple[bytes, bytes]]:
        if self.any_origin:
            return [(b"access-control-allow-origin", b"*")]
        return [(b"access-control-allow-origin", origin), (b"vary", b"origin")]

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        origin: bytes | None = None
        method_requested = False
        for key, value in request.scope["headers"]:
            if key == b"origin":
                origin = value
            elif key == b"access-control-request-method":
                method_requested = True
        if origin is None:
            return await call_next(request)
        if request.scope["method"] == "OPTIONS" and method_requested:
            return self._answer_preflight(request, origin)
        response = await call_next(request)
        if self._allowed(origin.decode("latin-1")):
            response.raw_headers.extend(self._origin_headers(origin))
            if self._simple:
                response.raw_headers.extend(self._simple)
        return response

    def _answer_preflight(self, request: Request, origin: bytes) -> Response:
        method = request.headers.get("access-control-request-method", "").upper()
        wanted = request.headers.get("access-control-request-headers", "")
        headers = [h.strip().lower() for h in wanted.split(",") if h.strip()]
        problems = []
        if not self._allowed(origin.decode("latin-1")):
            problems.append("origin not allowed")
        if method not in self.methods:
            problems.append(f"method {method or '(none)'} not allowed")
        rejected = [h for h in headers if not self.any_header and h not in self.headers]
        if rejected:
            problems.append(f"headers not allowed: {', '.join(rejected)}")
        if problems:
            detail = "CORS preflight rejected: " + "; ".join(problems)
            return ProblemResponse(
                {"type": "about:blank", "title": "Bad Request", "status": 400, "detail": detail},
                400,
            )
        response = Response(b"", 204)
        response.raw_headers.extend(self._origin_headers(origin))
        response.raw_headers.extend(self._preflight)
        if headers:
            response.raw_headers.append(
                (b"access-control-allow-headers", ", ".join(headers).encode("latin-1"))
            )
        return response
