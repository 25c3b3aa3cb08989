"""Template helpers: ``csrf_token()``, ``csrf_input()`` and ``csp_nonce()`` in Jinja.

``install_template_globals(templates)`` adds them to a ``Templates`` environment; they read
the request that ``templates.render(request, …)`` puts in the context::

    <form method="post">{{ csrf_input() }} …</form>
    <script nonce="{{ csp_nonce() }}">…</script>
"""

from __future__ import annotations

from typing import Any

import jinja2
from markupsafe import Markup

from bastion.exceptions import ConfigurationError
from bastion.http.request import Request
from bastion.security import csrf, headers
from bastion.templates import Templates


def install_template_globals(templates: Templates) -> None:
    """Make the security helpers available to every template of ``templates``."""
    templates.env.globals.update(
        csrf_token=_csrf_token, csrf_input=_csrf_input, csp_nonce=_csp_nonce
    )


def _request(context: jinja2.runtime.Context, helper: str) -> Request:
    request = context.get("request")
    if not isinstance(request, Request):
        raise ConfigurationError(
            f"{helper}() in a template needs the request: render with "
            "templates.render(request, name, ...)"
        )
    return request


@jinja2.pass_context
def _csrf_token(context: jinja2.runtime.Context) -> str:
    return csrf.csrf_token(_request(context, "csrf_token"))


@jinja2.pass_context
def _csrf_input(context: jinja2.runtime.Context) -> Markup:
    return csrf.csrf_input(_request(context, "csrf_input"))


@jinja2.pass_context
def _csp_nonce(context: jinja2.runtime.Context) -> Any:
    return headers.csp_nonce(_request(context, "csp_nonce"))
