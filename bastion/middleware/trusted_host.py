"""TrustedHost: refuse requests whose ``Host`` header is not one of yours.

The app builds absolute URLs (password-reset links, ``url_for`` in mail, redirects) from the
Host header, so an attacker who controls it controls where those links point. List your hosts:
exact names (``example.com``, ``[::1]``) and ``*.example.com`` for any subdomain (the bare
``example.com`` must be listed on its own). The port is ignored; a trailing dot is ignored.

The default ``("*",)`` turns the check off, so adding the middleware never breaks development;
in production pass the real names (``Settings.allowed_hosts`` is the usual source). With any
list other than ``*``, a missing Host, a repeated one, a malformed one
(``evil.com/x.example.com``, ``example.com:80@evil.com``) or an unlisted one is answered with a 400
``application/problem+json`` "Invalid host header" (or "Missing host header").

Rejections are *returned*, not raised, like the CORS preflight rejections: the app is never
reached, and outer middleware (``RequestId``) still labels the 400. With ``www_redirect=True``
a request for ``example.com`` is redirected (307) to ``www.example.com`` when only the latter
is allowed; temporary, so a configuration mistake is not cached by browsers for good.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bastion.exceptions import BadRequest, ConfigurationError
from bastion.http.request import Request
from bastion.http.response import ProblemResponse, RedirectResponse, Response, encode_json
from bastion.types import CallNext

#: What a host name may be made of once lower-cased; checked before a wildcard match so that
#: ``evil.com/x.example.com`` does not pass as a subdomain of ``example.com``.
_HOST_NAME = re.compile(rb"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
_CONFIG_NAME = re.compile(r"(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*|\[[0-9a-f:.]+\]")


class TrustedHost:
    """``TrustedHost(["example.com", "*.example.com"])``; see the module docstring."""

    def __init__(self, allowed_hosts: Sequence[str] = ("*",), www_redirect: bool = False) -> None:
        if isinstance(allowed_hosts, str):
            allowed_hosts = [allowed_hosts]
        if not allowed_hosts:
            raise ConfigurationError(
                "TrustedHost: allowed_hosts is empty, so every request would be refused; "
                "list your host names, e.g. ['example.com', '*.example.com'], or '*' for any"
            )
        self.any = "*" in allowed_hosts
        hosts = [_check_host(h) for h in allowed_hosts if h != "*"]
        self.exact = frozenset(h for h in hosts if not h.startswith(b"*."))
        self.suffixes = tuple(h[1:] for h in hosts if h.startswith(b"*."))
        self.www_redirect = www_redirect
        self._invalid = _problem("Invalid host header")
        self._missing = _problem("Missing host header")

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        if self.any:
            return await call_next(request)
        hosts = [value for name, value in request.scope["headers"] if name == b"host"]
        if not hosts:
            return _bad_request(self._missing)
        if len(hosts) > 1:  # RFC 9112 3.2: a proxy may believe the other one
            return _bad_request(self._invalid)
        host = hosts[0]
        hostname = _hostname(host)
        if hostname is not None:
            if self.allowed(hostname):
                return await call_next(request)
            if self.www_redirect and self.allowed(b"www." + hostname):
                return _to_www(request, host)
        return _bad_request(self._invalid)

    def allowed(self, hostname: bytes) -> bool:
        """Whether a host name (lower-case, no port) is listed exactly or by a wildcard."""
        if hostname in self.exact:
            return True
        return (
            bool(self.suffixes)
            and hostname.endswith(self.suffixes)
            and _HOST_NAME.fullmatch(hostname) is not None
        )


def _hostname(host: bytes) -> bytes | None:
    """``Example.COM:8000`` → ``example.com``; ``[::1]:8000`` → ``[::1]``; None if malformed."""
    host = host.lower()
    if host.startswith(b"["):  # an IPv6 literal
        end = host.find(b"]") + 1
        name, port = host[:end], host[end:]
        if not end or (port and not (port[:1] == b":" and port[1:].isdigit())):
            return None
        return name
    name, colon, port = host.rpartition(b":")
    if not colon:
        name = host
    elif not port.isdigit():
        return None
    if name.endswith(b"."):
        name = name[:-1]
    return name or None


def _check_host(host: str) -> bytes:
    name = host.strip().lower().removesuffix(".")
    if name.count(":") > 1 and not name.startswith("["):
        name = f"[{name}]"  # an IPv6 address written without brackets
    if not _CONFIG_NAME.fullmatch(name):
        raise ConfigurationError(
            f"TrustedHost: {host!r} is not a host name; write names without scheme or port, "
            "such as 'example.com', '*.example.com' or '[::1]', with international names in "
            "their punycode (xn--) form"
        )
    return name.encode("ascii")


def _problem(detail: str) -> bytes:
    return encode_json(BadRequest(detail).problem())


def _bad_request(body: bytes) -> Response:
    return Response(body, 400, media_type=ProblemResponse.media_type)


def _to_www(request: Request, host: bytes) -> Response:
    scope = request.scope
    query: bytes = scope.get("query_string", b"")
    url = "{}://www.{}{}{}{}".format(
        scope.get("scheme", "http"),
        host.decode("latin-1"),
        scope.get("root_path", ""),
        scope["path"],
        "?" + query.decode("latin-1") if query else "",
    )
    return RedirectResponse(url, 307)
