"""Jinja's i18n extension with Bastion's gettext, and the formatting functions as filters.

``bastion.templates.Templates`` calls ``install`` on its environment, so every template has
``{{ _("...") }}``, ``{% trans %}``, ``ngettext`` (Jinja's "newstyle": variables are filled
in and escaped) and ``|format_date``, ``|format_currency("EUR")`` and the other formatters,
all in the current request's locale and time zone.
"""

from __future__ import annotations

import jinja2

from bastion.i18n import formatting
from bastion.i18n._context import (
    get_locale,
    get_timezone,
    gettext,
    locale_path,
    ngettext,
    npgettext,
    pgettext,
)

_EXTENSION = "jinja2.ext.InternationalizationExtension"
FILTERS = {name: getattr(formatting, name) for name in formatting.__all__}


def install(env: jinja2.Environment) -> None:
    """Add the i18n extension with the current locale's gettext, unless the environment
    already has one (an app's own translations are left alone)."""
    if _EXTENSION not in env.extensions:
        env.add_extension("jinja2.ext.i18n")
        env.install_gettext_callables(  # type: ignore[attr-defined]
            gettext, ngettext, newstyle=True, pgettext=pgettext, npgettext=npgettext
        )
    for name, function in FILTERS.items():
        env.filters.setdefault(name, function)
    env.globals.setdefault("get_locale", get_locale)
    env.globals.setdefault("get_timezone", get_timezone)
    env.globals.setdefault("locale_path", locale_path)
