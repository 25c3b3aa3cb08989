"""The account pages' and mails' templates: ``bastion/auth/templates/auth/*.html``, each
replaced by an app template of the same name (``auth/login.html``...) when the app gives
its own folder or ``Templates``."""

from __future__ import annotations

from os import PathLike
from typing import Any

import jinja2

from bastion.exceptions import ConfigurationError
from bastion.templates import Templates

AppTemplates = Templates | str | PathLike[str] | None


def auth_templates(app_templates: AppTemplates, *, forms: bool = True) -> Templates:
    """The app's templates first, then the battery's; an app's ``Templates`` keeps its
    globals, filters and context processors. With ``forms``, the CSRF helpers."""
    shipped = jinja2.PackageLoader("bastion.auth", "templates")
    processors: list[Any] = []
    if isinstance(app_templates, Templates):
        own = app_templates.env.loader
        loader = jinja2.ChoiceLoader([own, shipped]) if own is not None else shipped
        env = app_templates.env.overlay(loader=loader)
        env.globals = dict(env.globals)  # ours to add to, not the app's
        processors = app_templates.context_processors
    elif isinstance(app_templates, str | PathLike) or app_templates is None:
        loaders: list[jinja2.BaseLoader] = [shipped]
        if app_templates is not None:
            loaders.insert(0, jinja2.FileSystemLoader(app_templates))
        env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=True)
    else:
        raise ConfigurationError(
            f"templates={app_templates!r}: give the app's template folder ('templates') or "
            "its bastion.templates.Templates"
        )
    templates = Templates(env=env, context_processors=processors)
    if forms:
        from bastion.security.templates import install_template_globals

        install_template_globals(templates)
    return templates


def needs_csrf(app: Any, who: str) -> None:
    """Pages post forms with a session cookie: refuse to start without CSRF protection."""
    from bastion.security.csrf import CSRF

    if not any(isinstance(m, CSRF) for m in app.middleware) and not _security_plugin(app):
        raise ConfigurationError(
            f"{who}'s pages post forms: add SecurityPlugin() (CSRF protection) to "
            "App(plugins=[...]), or turn the pages off with pages=None"
        )


def _security_plugin(app: Any) -> bool:
    from bastion.security.plugin import SecurityPlugin

    return any(isinstance(p, SecurityPlugin) and p.csrf is not False for p in app.plugins)
