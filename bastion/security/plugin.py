"""SecurityPlugin: the security middleware, in the right order, configured from settings.

``App(plugins=[SecurityPlugin()])`` turns on security headers and CSRF protection. It reads
the app's settings once: HSTS outside the dev profile (and never with ``debug``), a
``Secure`` CSRF cookie in the prod profile (as the session's), the CSRF signing key from
``settings.secret_key``. Proxy trust and the HTTPS redirect are off until configured,
because both depend on how the app is deployed.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bastion.security.csrf import CSRF, CSRFOptions
from bastion.security.headers import HeaderOptions, SecurityHeaders
from bastion.security.https import HTTPSRedirect
from bastion.security.proxy import ProxyHeaders

if TYPE_CHECKING:
    from bastion.app import App

logger = logging.getLogger("bastion.security")

#: The Swagger UI page starts itself with an inline script and styles.
DOCS_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'", "'unsafe-inline'"],
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
}


class SecurityPlugin:
    """``SecurityPlugin(headers={...}, csrf={...}, trusted_proxies=[...], https_redirect=True)``.

    ``headers`` and ``csrf`` take the options of ``SecurityHeaders`` and ``CSRF`` (``False``
    turns one off). ``trusted_proxies`` adds ``ProxyHeaders`` as the first middleware.
    """

    def __init__(
        self,
        *,
        headers: HeaderOptions | bool = True,
        csrf: CSRFOptions | bool = True,
        trusted_proxies: Sequence[str] = (),
        https_redirect: bool = False,
        https_exempt_paths: Sequence[str] = (),
    ) -> None:
        self.headers = headers
        self.csrf = csrf
        self.trusted_proxies = list(trusted_proxies)
        self.https_redirect = https_redirect
        self.https_exempt_paths = list(https_exempt_paths)

    def on_app_init(self, app: App[Any]) -> None:
        settings = app.settings
        development = settings.profile == "dev" or bool(settings.debug)
        first: list[Any] = []
        if self.trusted_proxies:
            first.append(ProxyHeaders(self.trusted_proxies))
        if self.https_redirect:
            first.append(HTTPSRedirect(exempt_paths=self.https_exempt_paths))
        # Ahead of the app's own middleware: logging and host checks see the real client.
        app.middleware[0:0] = first
        if self.headers is not False:
            options: HeaderOptions = {"hsts": not development}
            if settings.docs_url:
                options["csp_overrides"] = {settings.docs_url: DOCS_CSP}
            options.update(self.headers if isinstance(self.headers, dict) else {})
            app.add_middleware(SecurityHeaders(**options))
        if self.csrf is not False:
            csrf_options: CSRFOptions = {"cookie_secure": settings.profile == "prod"}
            csrf_options.update(self.csrf if isinstance(self.csrf, dict) else {})
            csrf = CSRF(self._secret_key(settings.secret_key), **csrf_options)
            app.add_middleware(csrf)
            app.endpoint_wrappers.append(csrf.websocket_guard)

    @staticmethod
    def _secret_key(configured: str | None) -> str:
        """The configured key; in dev and test (prod requires one) a key for this process."""
        if configured:
            return configured
        logger.warning(
            "No secret_key: CSRF tokens are signed with a random key and stop working when "
            "the process restarts; set BASTION_SECRET_KEY"
        )
        return secrets.token_urlsafe(32)
