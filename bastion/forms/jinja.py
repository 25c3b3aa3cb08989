"""The forms' Jinja side: ``install_forms(templates)`` makes ``forms/macros.html`` importable
and adds ``forms_stylesheet()``, the default theme as an inline ``<style>`` (with the CSP
nonce when SecurityHeaders is on). An app restyles by leaving the stylesheet out and
writing its own CSS for the ``bf-`` classes, or overrides ``forms/macros.html`` in its own
template folder (the app's folder is searched first)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2
from markupsafe import Markup

from bastion.i18n import gettext, ngettext
from bastion.templates import Templates

#: The default theme's stylesheet, to serve as a file instead of inlining it.
STYLESHEET = Path(__file__).resolve().parent / "templates" / "forms" / "theme.css"


def install_forms(templates: Templates) -> None:
    """Add the form macros and ``forms_stylesheet()`` to ``templates`` (at start-up)."""
    env = templates.env
    shipped = jinja2.PackageLoader("bastion.forms", "templates")
    if env.loader is None:
        env.loader = shipped
    elif not _has_forms(env.loader):
        env.loader = jinja2.ChoiceLoader([env.loader, shipped])
    # Jinja's i18n extension (bastion.i18n installs it) provides these; until then, or
    # without it, the same functions.
    env.globals.setdefault("_", gettext)
    env.globals.setdefault("gettext", gettext)
    env.globals.setdefault("ngettext", ngettext)
    env.globals["forms_stylesheet"] = forms_stylesheet


def _has_forms(loader: jinja2.BaseLoader) -> bool:
    if isinstance(loader, jinja2.PackageLoader):
        return loader.package_name == "bastion.forms"
    if isinstance(loader, jinja2.ChoiceLoader):
        return any(_has_forms(inner) for inner in loader.loaders)
    return False


@cache
def _css() -> str:
    return STYLESHEET.read_text(encoding="utf-8")


@jinja2.pass_context
def forms_stylesheet(context: jinja2.runtime.Context) -> Markup:
    """``{{ forms_stylesheet() }}`` in a page's ``<head>``: the default form theme."""
    request = context.get("request")
    nonce = ""
    if request is not None and "bastion.security_headers" in getattr(request, "scope", {}):
        from bastion.security.headers import csp_nonce

        nonce = csp_nonce(request)
    opening = Markup('<style nonce="{}">').format(nonce) if nonce else Markup("<style>")
    return opening + Markup(_css()) + Markup("</style>")
