"""Internationalisation: translated messages, a locale per request, locale-aware formatting.

    from bastion.i18n import gettext as _, ngettext, lazy_gettext

    _("Save")                                   # in the current request's locale
    _("Hello %(name)s", name=user.name)         # variables are filled in after translating
    ngettext("%(num)d row", "%(num)d rows", n, num=n)
    TITLE = lazy_gettext("Title")               # module level: translated when rendered

Importing this package loads the standard library only: the core translates its validation
messages and problem titles with it. Babel (formatting) and the plugin load on first use.
See docs/i18n.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bastion.i18n._context import (
    N_,
    get_locale,
    get_timezone,
    gettext,
    locale_path,
    ngettext,
    npgettext,
    pgettext,
    use_locale,
)
from bastion.i18n._lazy import LazyString, lazy_gettext, lazy_ngettext

if TYPE_CHECKING:
    from bastion.i18n.formatting import (
        format_currency,
        format_date,
        format_datetime,
        format_decimal,
        format_number,
        format_percent,
        format_time,
        format_timedelta,
        to_user_timezone,
    )
    from bastion.i18n.plugin import I18nPlugin

_ = gettext

#: Names loaded on first use, and the module each comes from (they import Babel).
_LAZY = {
    "I18nPlugin": "bastion.i18n.plugin",
    "format_currency": "bastion.i18n.formatting",
    "format_date": "bastion.i18n.formatting",
    "format_datetime": "bastion.i18n.formatting",
    "format_decimal": "bastion.i18n.formatting",
    "format_number": "bastion.i18n.formatting",
    "format_percent": "bastion.i18n.formatting",
    "format_time": "bastion.i18n.formatting",
    "format_timedelta": "bastion.i18n.formatting",
    "to_user_timezone": "bastion.i18n.formatting",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bastion.i18n' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "I18nPlugin",
    "LazyString",
    "N_",
    "_",
    "format_currency",
    "format_date",
    "format_datetime",
    "format_decimal",
    "format_number",
    "format_percent",
    "format_time",
    "format_timedelta",
    "get_locale",
    "get_timezone",
    "gettext",
    "lazy_gettext",
    "lazy_ngettext",
    "locale_path",
    "ngettext",
    "npgettext",
    "pgettext",
    "to_user_timezone",
    "use_locale",
]
