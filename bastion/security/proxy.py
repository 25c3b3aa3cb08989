"""ProxyHeaders: believe ``X-Forwarded-*`` only when a proxy you run sent them.

Behind a load balancer the socket peer is the balancer, and the scheme is whatever it spoke
to the app. Each proxy appends the address it received from to ``X-Forwarded-For``; the
client is the rightmost address that is *not* one of your proxies (anything to its left was
written by the client and proves nothing). A request whose peer is not a trusted proxy keeps
its own address and scheme, so a client cannot claim another address by sending the header.

Afterwards ``request.client`` is the real client (with port 0), ``scope["scheme"]`` the
scheme the client used (``X-Forwarded-Proto``, its last value), and, only with
``forwarded_host=True``, the ``Host`` header is the one the client sent
(``X-Forwarded-Host``). Put it first in the middleware list so everything after sees this.

``rfc7239=True`` reads the standard ``Forwarded`` header (``for=…;proto=…;host=…``) instead,
with the same rules. Only one of the two is read, the one your proxy writes: a proxy passes
the other through as the client sent it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from functools import lru_cache

from bastion.exceptions import ConfigurationError
from bastion.http.request import Request
from bastion.http.response import Response
from bastion.types import CallNext

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_HOST = re.compile(rb"(?:[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")
_SCHEMES = {b"http": "http", b"https": "https"}


class ProxyHeaders:
    """``ProxyHeaders(["10.0.0.0/8", "127.0.0.1"])``: addresses or networks of your proxies.

    ``"*"`` trusts any peer: only when the app cannot be reached except through the proxy.
    """

    def __init__(
        self,
        trusted_proxies: Sequence[str],
        *,
        forwarded_for: bool = True,
        forwarded_proto: bool = True,
        forwarded_host: bool = False,
        rfc7239: bool = False,
    ) -> None:
        if isinstance(trusted_proxies, str):
            trusted_proxies = [trusted_proxies]
        if not trusted_proxies:
            raise ConfigurationError(
                "ProxyHeaders: trusted_proxies is empty, so no forwarded header would ever be "
                "believed; list your proxies' addresses, e.g. ['10.0.0.0/8', '127.0.0.1']"
            )
        self.any = "*" in trusted_proxies
        self.networks = tuple(_network(p) for p in trusted_proxies if p != "*")
        self.forwarded_for = forwarded_for
        self.forwarded_proto = forwarded_proto
        self.forwarded_host = forwarded_host
        self.rfc7239 = rfc7239
        # Proxies are few and clients repeat: remember each address's verdict.
        self.trusted = lru_cache(maxsize=4096)(self._is_trusted)

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        scope = request.scope
        peer = scope.get("client")
        if not self.any and (peer is None or not self.trusted(peer[0])):
            return await call_next(request)
        hops, proto, host = (_forwarded if self.rfc7239 else _x_forwarded)(scope["headers"])
        if self.forwarded_for and hops:
            client = self._client(hops)
            if client is not None:
                scope["client"] = (client, 0)
        if self.forwarded_proto and proto is not None:
            scheme = _SCHEMES.get(proto.strip().lower())
            if scheme is not None:
                scope["scheme"] = scheme
        if self.forwarded_host and host is not None:
            value = host.strip()
            if _HOST.fullmatch(value):
                headers = scope["headers"]
                headers[:] = [(k, v) for k, v in headers if k != b"host"] + [(b"host", value)]
        return await call_next(request)

    def _client(self, hops: list[str]) -> str | None:
        """The rightmost untrusted address; the leftmost if every hop is a proxy."""
        for hop in reversed(hops):
            if not _is_address(hop):
                return None  # a mangled chain proves nothing: keep the socket peer
            if not self.trusted(hop):
                return hop
        return hops[0] if hops else None

    def _is_trusted(self, address: str) -> bool:
        if self.any:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)


Forwarded = tuple[list[str], bytes | None, bytes | None]  # client chain, last proto, last host


def _x_forwarded(headers: list[tuple[bytes, bytes]]) -> Forwarded:
    """``X-Forwarded-For`` (every line, in order), the last ``X-Forwarded-Proto`` and
    ``X-Forwarded-Host`` values."""
    chain: list[str] = []
    proto = host = None
    for name, value in headers:
        if name == b"x-forwarded-for":
            chain.extend(hop.strip() for hop in value.decode("latin-1").split(","))
        elif name == b"x-forwarded-proto":
            proto = value.rpartition(b",")[2]
        elif name == b"x-forwarded-host":
            host = value.rpartition(b",")[2]
    return chain, proto, host


def _forwarded(headers: list[tuple[bytes, bytes]]) -> Forwarded:
    """RFC 7239: ``Forwarded: for=192.0.2.60;proto=https, for="[2001:db8::17]:4711"``, one
    element per hop; a ``for`` that is not an address (``unknown``, ``_hidden``) stays in
    the chain and so stops it."""
    chain: list[str] = []
    proto = host = None
    for name, value in headers:
        if name != b"forwarded":
            continue
        for element in value.decode("latin-1").split(","):
            pairs = (pair.partition("=") for pair in element.split(";"))
            fields = {k.strip().lower(): v.strip().strip('"') for k, _, v in pairs}
            if "for" in fields:
                chain.append(_node_address(fields["for"]))
            if "proto" in fields:
                proto = fields["proto"].encode("latin-1")
            if "host" in fields:
                host = fields["host"].encode("latin-1")
    return chain, proto, host


def _node_address(node: str) -> str:
    """``[2001:db8::17]:4711`` → ``2001:db8::17``, ``192.0.2.60:8080`` → ``192.0.2.60``."""
    if node.startswith("["):
        return node[1:].partition("]")[0]
    return node.partition(":")[0] if node.count(":") == 1 else node


@lru_cache(maxsize=4096)
def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _network(text: str) -> Network:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ConfigurationError(
            f"ProxyHeaders: {text!r} is not an IP address or network; write e.g. "
            "'10.0.0.1', '10.0.0.0/8' or 'fd00::/8' (or '*' to trust any peer)"
        ) from None
