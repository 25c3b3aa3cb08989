"""The account pages' templates: the app's own first, then the ones shipped in
``bastion/auth/templates`` (``auth/<name>.html``), so an app overrides a page by writing a
template of the same name."""

from __future__ import annotations

from pathlib import Path

import jinja2

from bastion.templates import Templates

SHIPPED = Path(__file__).resolve().parents[1] / "templates"


def auth_templates(app_templates: Templates | None) -> Templates:
    """``Templates`` that look in ``app_templates`` (its globals, filters and context
    processors kept) before the shipped pages."""
    shipped = jinja2.FileSystemLoader(SHIPPED)
    if app_templates is None:
        env = jinja2.Environment(loader=shipped, autoescape=True)
        return Templates(env=env)
    own = app_templates.env.loader
    loader = jinja2.ChoiceLoader([own, shipped]) if own is not None else shipped
    env = app_templates.env.overlay(loader=loader)
    return Templates(env=env, context_processors=app_templates.context_processors)
