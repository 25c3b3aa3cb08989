"""Security battery: headers, CSRF, proxies and HTTPS, safe redirects, rate limits.

``App(plugins=[SecurityPlugin()])`` is the usual way in; each piece is also plain middleware
(or a function) usable on its own. See docs/security.md.
"""

from typing import TYPE_CHECKING, Any

from bastion.security.csrf import CSRF, CSRFOptions, csrf_input, csrf_token, rotate_csrf_token
from bastion.security.headers import (
    DEFAULT_CSP,
    DEFAULT_PERMISSIONS,
    HeaderOptions,
    SecurityHeaders,
    csp_nonce,
)
from bastion.security.https import HTTPSRedirect
from bastion.security.plugin import SecurityPlugin
from bastion.security.proxy import ProxyHeaders
from bastion.security.ratelimit import (
    BackendUnavailable,
    MemoryBackend,
    Rate,
    RateLimit,
    RateLimitBackend,
    RedisBackend,
    by_header,
    by_ip,
)
from bastion.security.redirects import safe_next

if TYPE_CHECKING:
    from bastion.security.templates import install_template_globals


def __getattr__(name: str) -> Any:
    # Imported on use: it imports Jinja, which an API without templates need not load.
    if name == "install_template_globals":
        from bastion.security.templates import install_template_globals

        return install_template_globals
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CSRF",
    "DEFAULT_CSP",
    "DEFAULT_PERMISSIONS",
    "BackendUnavailable",
    "CSRFOptions",
    "HTTPSRedirect",
    "HeaderOptions",
    "MemoryBackend",
    "ProxyHeaders",
    "Rate",
    "RateLimit",
    "RateLimitBackend",
    "RedisBackend",
    "SecurityHeaders",
    "SecurityPlugin",
    "by_header",
    "by_ip",
    "csp_nonce",
    "csrf_input",
    "csrf_token",
    "install_template_globals",
    "rotate_csrf_token",
    "safe_next",
]
