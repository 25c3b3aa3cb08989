"""SecurityHeaders: the response headers that make browsers refuse whole classes of attack.

Every header is prepared once, as bytes, when the middleware is built; a request costs one
scan of the response headers (a header the handler set itself is kept, so one route can
loosen or tighten its own policy) and, only for pages that asked for one, a CSP nonce.

Defaults, each changeable by an option of the same name:

* ``Strict-Transport-Security: max-age=63072000; includeSubDomains`` on HTTPS responses
  (RFC 6797 forbids sending it over plain HTTP); ``SecurityPlugin`` turns it off in dev.
* ``Content-Security-Policy``: scripts, styles and everything else from the app's own origin
  only, no plugins, no framing; inline ``<script nonce="{{ csp_nonce() }}">`` is allowed.
* ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
  ``Referrer-Policy: strict-origin-when-cross-origin``, ``Cross-Origin-Opener-Policy:
  same-origin`` and a ``Permissions-Policy`` that turns off camera, microphone, geolocation…
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Literal, TypedDict, Unpack

from bastion.exceptions import ConfigurationError
from bastion.http.headers import RawHeaders
from bastion.http.request import Request
from bastion.http.response import Response
from bastion.types import CallNext

#: A policy: directive → sources, e.g. ``{"img-src": ["'self'", "data:"]}``.
CSP = Mapping[str, Sequence[str]]

DEFAULT_CSP: CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
}
DEFAULT_PERMISSIONS: Mapping[str, Sequence[str]] = {
    feature: []
    for feature in ("camera", "microphone", "geolocation", "payment", "usb", "browsing-topics")
}
#: Scope keys: the middleware marks the scope; ``csp_nonce()`` stores the nonce there.
ACTIVE = "bastion.security_headers"
NONCE = "bastion.csp_nonce"
_NONCE_DIRECTIVES = ("script-src", "style-src")
_PLACEHOLDER = "\x00"
_DIRECTIVE = re.compile(r"[a-z][a-z0-9-]*")
_SOURCE = re.compile(r"[!-+\--:<-~]+")  # visible ASCII except ',' and ';'


class HeaderOptions(TypedDict, total=False):
    """Options of ``SecurityHeaders`` (and ``SecurityPlugin(headers={...})``); None turns a
    header off."""

    hsts: bool
    hsts_max_age: int
    hsts_include_subdomains: bool
    hsts_preload: bool
    csp: CSP | None
    csp_report_only: bool
    csp_overrides: Mapping[str, CSP | None]
    frame_options: Literal["DENY", "SAMEORIGIN"] | None
    content_type_options: bool
    referrer_policy: str | None
    permissions_policy: Mapping[str, Sequence[str]] | None
    cross_origin_opener_policy: str | None


class SecurityHeaders:
    """``SecurityHeaders(csp={...}, frame_options="SAMEORIGIN")``; see the module docstring.

    ``csp_overrides`` maps exact paths to their own policy (None: no CSP there), e.g. a page
    built by a third-party tool that needs inline scripts.
    """

    def __init__(self, **options: Unpack[HeaderOptions]) -> None:
        frame = options.get("frame_options", "DENY")
        if frame not in ("DENY", "SAMEORIGIN", None):
            raise ConfigurationError(
                f"SecurityHeaders: frame_options must be 'DENY', 'SAMEORIGIN' or None, not "
                f"{frame!r}; allow other sites to frame pages with csp 'frame-ancestors'"
            )
        ancestors = {"DENY": "'none'", "SAMEORIGIN": "'self'", None: None}[frame]
        csp_name = (
            b"content-security-policy-report-only"
            if options.get("csp_report_only", False)
            else b"content-security-policy"
        )
        self._csp_name = csp_name
        self._csp = _compile_csp(options.get("csp", DEFAULT_CSP), ancestors)
        self._overrides = {
            path: _compile_csp(policy, ancestors)
            for path, policy in options.get("csp_overrides", {}).items()
        }
        fixed: RawHeaders = []
        if options.get("content_type_options", True):
            fixed.append((b"x-content-type-options", b"nosniff"))
        if frame is not None:
            fixed.append((b"x-frame-options", frame.encode()))
        referrer = options.get("referrer_policy", "strict-origin-when-cross-origin")
        if referrer is not None:
            fixed.append((b"referrer-policy", _header_value(referrer, "referrer_policy")))
        opener = options.get("cross_origin_opener_policy", "same-origin")
        if opener is not None:
            fixed.append((b"cross-origin-opener-policy", _header_value(opener, "opener")))
        permissions = options.get("permissions_policy", DEFAULT_PERMISSIONS)
        if permissions:
            fixed.append((b"permissions-policy", _permissions(permissions)))
        self._fixed = fixed
        self._hsts = _hsts(options) if options.get("hsts", True) else None
        names = {name for name, _ in fixed} | {csp_name}
        if self._hsts is not None:
            names.add(b"strict-transport-security")
        self._names = frozenset(names)

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        scope = request.scope
        scope[ACTIVE] = True
        response = await call_next(request)
        raw = response.raw_headers
        present = {name for name, _ in raw if name in self._names}
        for name, value in self._fixed:
            if name not in present:
                raw.append((name, value))
        if (
            self._hsts is not None
            and scope.get("scheme") == "https"
            and b"strict-transport-security" not in present
        ):
            raw.append((b"strict-transport-security", self._hsts))
        if self._csp_name not in present:
            policy = self._overrides.get(scope["path"], self._csp) if self._overrides else self._csp
            if policy is not None:
                nonce: str | None = scope.get(NONCE)
                raw.append(
                    (self._csp_name, policy[0] if nonce is None else nonce.encode().join(policy[1]))
                )
        return response


def csp_nonce(request: Request) -> str:
    """A nonce for this response's inline ``<script>``/``<style>``, added to its CSP header.

    In templates: ``<script nonce="{{ csp_nonce() }}">`` (see ``install_template_globals``).
    """
    scope = request.scope
    nonce: str | None = scope.get(NONCE)
    if nonce is None:
        if ACTIVE not in scope:
            raise ConfigurationError(
                "csp_nonce() needs the SecurityHeaders middleware, which sends the nonce in "
                "the CSP header; add plugins=[SecurityPlugin()] to the App"
            )
        nonce = scope[NONCE] = secrets.token_urlsafe(16)
    return nonce


def _compile_csp(policy: CSP | None, ancestors: str | None) -> tuple[bytes, list[bytes]] | None:
    """The header without a nonce, and its pieces to join around one."""
    if policy is None:
        return None
    for name, sources in policy.items():
        if not _DIRECTIVE.fullmatch(name) or isinstance(sources, str):
            raise ConfigurationError(
                f"SecurityHeaders: CSP directive {name!r} must be a lower-case name with a "
                f"list of sources, e.g. {{'img-src': [\"'self'\", 'data:']}}"
            )
        for source in sources:
            if not _SOURCE.fullmatch(source):
                raise ConfigurationError(
                    f"SecurityHeaders: CSP source {source!r} of {name} is not a single source "
                    "expression; give each source as its own list item, without ';' or ','"
                )
    directives = {name: list(sources) for name, sources in policy.items()}
    if ancestors is not None:
        directives.setdefault("frame-ancestors", [ancestors])
    targets = [d for d in _NONCE_DIRECTIVES if d in directives] or ["default-src"]
    plain = "; ".join(" ".join([name, *sources]).strip() for name, sources in directives.items())
    with_nonce = dict(directives)
    for target in targets:
        with_nonce[target] = [*directives.get(target, []), f"'nonce-{_PLACEHOLDER}'"]
    text = "; ".join(" ".join([name, *sources]) for name, sources in with_nonce.items())
    return plain.encode("ascii"), [part.encode("ascii") for part in text.split(_PLACEHOLDER)]


def _hsts(options: HeaderOptions) -> bytes:
    max_age = options.get("hsts_max_age", 63072000)
    if max_age < 0:
        raise ConfigurationError(
            f"SecurityHeaders: hsts_max_age must be 0 or more seconds, not {max_age}; two "
            "years (63072000) is the usual value"
        )
    value = f"max-age={max_age}"
    if options.get("hsts_include_subdomains", True):
        value += "; includeSubDomains"
    if options.get("hsts_preload", False):
        value += "; preload"
    return value.encode()


def _permissions(policy: Mapping[str, Sequence[str]]) -> bytes:
    items = []
    for feature, origins in policy.items():
        if not _DIRECTIVE.fullmatch(feature) or isinstance(origins, str):
            raise ConfigurationError(
                f"SecurityHeaders: permissions_policy entry {feature!r} must map a feature "
                "name to a list of origins, e.g. {'camera': []} or {'fullscreen': ['self']}"
            )
        allowed = " ".join(o if o in ("self", "*") else f'"{o}"' for o in origins)
        items.append(f"{feature}=({allowed})")
    return _header_value(", ".join(items), "permissions_policy")


def _header_value(value: str, option: str) -> bytes:
    if not value.isascii() or not value.isprintable():
        raise ConfigurationError(
            f"SecurityHeaders: {option} {value!r} must be printable ASCII, as header values are"
        )
    return value.encode("ascii")
