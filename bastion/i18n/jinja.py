"""Jinja's i18n extension with Bastion's gettext, and the formatting functions as filters.

``bastion.templates.Templates`` calls ``install`` on its environment, so every template has
``{{ _("...") }}``, ``{% trans %}``, ``ngettext`` (Jinja's "newstyle": variables are filled
in and escaped) and ``|format_date``, ``|format_currency("EUR")`` and the other formatters,
all in the current request's locale and time zone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jinja2

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
#: The formatting functions (``bastion.i18n.formatting``), which are also the filters' names.
FORMATTERS = (
    "format_currency",
    "format_date",
    "format_datetime",
    "format_decimal",
    "format_number",
    "format_percent",
    "format_time",
    "format_timedelta",
    "to_user_timezone",
)


def _formatter(name: str) -> Callable[..., Any]:
    """A filter that imports Babel on its first use, not when templates are set up."""

    def formatter(*args: Any, **kwargs: Any) -> Any:
        from bastion.i18n import formatting

        return getattr(formatting, name)(*args, **kwargs)

    formatter.__name__ = name
    return formatter


def install(env: jinja2.Environment) -> None:
    """Add the i18n extension with the current locale's gettext, unless the environment
    already has one (an app's own translations are left alone)."""
    if _EXTENSION not in env.extensions:
        env.add_extension("jinja2.ext.i18n")
        env.install_gettext_callables(  # type: ignore[attr-defined]
            gettext, ngettext, newstyle=True, pgettext=pgettext, npgettext=npgettext
        )
    for name in FORMATTERS:
        env.filters.setdefault(name, _formatter(name))
    env.globals.setdefault("get_locale", get_locale)
    env.globals.setdefault("get_timezone", get_timezone)
    env.globals.setdefault("locale_path", locale_path)
