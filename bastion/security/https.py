"""HTTPSRedirect: send plain-HTTP requests to the same URL over HTTPS.

308 by default, so a POST stays a POST with its body (301/302 let clients turn it into a
GET). Behind a TLS-terminating proxy put ``ProxyHeaders`` before it, or every request looks
like plain HTTP and is redirected for ever. ``exempt_paths`` (prefixes) are served over HTTP
anyway, e.g. the load balancer's health check.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import quote

from bastion.exceptions import BadRequest, ConfigurationError
from bastion.http.headers import raw_header
from bastion.http.request import Request
from bastion.http.response import ProblemResponse, RedirectResponse, Response
from bastion.types import CallNext

_PATH_SAFE = "/:@!$&'()*+,;=~-._"
_HOST = re.compile(rb"(?:[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")


class HTTPSRedirect:
    """``HTTPSRedirect(status_code=308, exempt_paths=["/healthz"])``."""

    def __init__(self, *, status_code: int = 308, exempt_paths: Sequence[str] = ()) -> None:
        if status_code not in (301, 302, 307, 308):
            raise ConfigurationError(
                f"HTTPSRedirect: status_code must be 301, 302, 307 or 308, not {status_code}; "
                "308 keeps the method and body of a POST"
            )
        self.status_code = status_code
        self.exempt = tuple(exempt_paths)

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        scope = request.scope
        if scope.get("scheme") == "https" or (
            self.exempt and scope["path"].startswith(self.exempt)
        ):
            return await call_next(request)
        host = raw_header(scope["headers"], b"host")
        if host is None or not _HOST.fullmatch(host):
            error = BadRequest("Missing or malformed Host header; cannot redirect to HTTPS")
            return ProblemResponse(error.problem(), error.status_code)
        name = host.decode("ascii").removesuffix(":80")
        path = quote(scope.get("root_path", "") + scope["path"], safe=_PATH_SAFE)
        query: bytes = scope.get("query_string", b"")
        url = f"https://{name}{path}" + ("?" + query.decode("latin-1") if query else "")
        return RedirectResponse(url, self.status_code)
