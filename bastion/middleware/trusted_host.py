"""TrustedHost: refuse requests whose Host header is not one of yours.

Guards against Host-header poisoning of absolute URLs (password-reset links, redirects).
``allowed_hosts`` takes exact names and ``*.example.com`` wildcards; ``*`` allows all.
"""

from __future__ import annotations

from collections.abc import Sequence

from bastion.exceptions import BadRequest
from bastion.http.request import Request
from bastion.http.response import Response
from bastion.types import CallNext


class TrustedHost:
    """A disallowed or missing Host is a 400 problem (raised as ``BadRequest``)."""

    def __init__(self, allowed_hosts: Sequence[str] = ("*",)) -> None:
        self.any = "*" in allowed_hosts
        self.exact = frozenset(h.lower() for h in allowed_hosts if not h.startswith("*."))
        self.suffixes = tuple(h[1:].lower() for h in allowed_hosts if h.startswith("*."))

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        if not self.any and not self.allowed(request.headers.get("host")):
            raise BadRequest("Invalid host header")
        return await call_next(request)

    def allowed(self, host: str | None) -> bool:
        if not host:
            return False
        name = host.lower()
        if name.startswith("["):  # an IPv6 literal, maybe with a port
            name = name[: name.find("]") + 1]
        else:
            name = name.rsplit(":", 1)[0] if name.count(":") == 1 else name
        return name in self.exact or (bool(self.suffixes) and name.endswith(self.suffixes))
