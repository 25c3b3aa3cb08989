"""Key functions: which budget a request spends. A key function returning None (it cannot
tell, e.g. an anonymous request for a per-user limit) falls back to the client address."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Awaitable, Callable
from functools import lru_cache

from bastion.exceptions import ConfigurationError
from bastion.http.request import Request

KeyFunction = Callable[[Request], str | None] | Callable[[Request], Awaitable[str | None]]


def by_ip(request: Request) -> str:
    """The client address (after ``ProxyHeaders``); IPv6 clients by their /64, since one
    subscriber usually owns a whole /64 and could otherwise rotate through it."""
    client = request.scope.get("client")
    return _address_key(client[0]) if client else "unknown"


def by_header(name: str) -> Callable[[Request], str | None]:
    """The value of a header (an API key, ``Authorization``), stored as a SHA-256 digest so
    the rate-limit store never holds credentials; None when the header is absent."""
    header = name.strip().lower()
    if not header:
        raise ConfigurationError("by_header needs a header name, e.g. by_header('x-api-key')")

    def key(request: Request) -> str | None:
        value = request.headers.get(header)
        if not value:
            return None
        return hashlib.sha256(value.encode("latin-1")).hexdigest()[:32]

    key.__name__ = f"by_header_{header}"
    return key


@lru_cache(maxsize=4096)
def _address_key(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
