"""The current locale, one per request, and the gettext functions that read it.

Standard library only, so the core (validation messages, problem titles) can translate
without loading Babel. ``I18nPlugin``'s middleware puts a ``Current`` into ``_current`` for
each request; the locale is worked out the first time something is translated, so a request
that translates nothing pays for one contextvar set. Outside a request, the default locale of
the running app with the plugin is used (``use_locale`` forces one).
"""

from __future__ import annotations

import gettext as _gettext
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from bastion.http.request import Request
    from bastion.i18n._localizer import Localizer

Translations = _gettext.NullTranslations
UTC = ZoneInfo("UTC")


class Current:
    """A request's (or a ``use_locale`` block's) locale, time zone and catalog, each worked
    out on first use and kept."""

    __slots__ = ("locale", "localizer", "prefix", "request", "timezone", "translations", "vary")

    def __init__(
        self,
        localizer: Localizer,
        request: Request | None,
        locale: str | None = None,
        timezone: ZoneInfo | None = None,
    ) -> None:
        self.localizer = localizer
        self.request = request
        self.prefix: str | None = None  # the locale named by the URL prefix, if any
        self.locale = locale
        self.timezone = timezone
        self.translations: Translations | None = None
        #: The request headers the choice read, for the response's ``Vary``.
        self.vary: list[tuple[bytes, bytes]] = []

    def get_locale(self) -> str:
        if self.locale is None:
            self.locale = self.localizer.select(self)
        return self.locale

    def get_translations(self) -> Translations:
        if self.translations is None:
            self.translations = self.localizer.translations_for(self.get_locale())
        return self.translations

    def get_timezone(self) -> ZoneInfo:
        if self.timezone is None:
            self.timezone = self.localizer.timezone_for(self)
        return self.timezone


_current: ContextVar[Current | None] = ContextVar("bastion.i18n.current", default=None)
#: Outside a request: the running app with ``I18nPlugin`` (set from start-up to shutdown).
_fallback: list[Current] = []


def _state() -> Current | None:
    current = _current.get()
    if current is None and _fallback:
        return _fallback[0]
    return current


def set_fallback(current: Current | None) -> Current | None:
    """Make ``current`` what code outside any request translates with (the plugin does, while
    its app runs); returns the one it replaces."""
    previous = _fallback[0] if _fallback else None
    _fallback[:] = [current] if current is not None else []
    return previous


def activate(current: Current) -> Any:
    """Make ``current`` the locale of this context; returns the token to ``deactivate``."""
    return _current.set(current)


def deactivate(token: Any) -> None:
    _current.reset(token)


def gettext(message: str, **variables: Any) -> str:
    """``message`` in the current locale; with keyword ``variables``, ``%``-formatted after
    translating: ``gettext("Hello %(name)s", name="Ada")``."""
    current = _state()
    if current is None or not message:  # gettext("") would be the catalog's header
        text = message
    else:
        text = current.get_translations().gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    """The form of ``singular``/``plural`` for ``n`` in the current locale's plural rules;
    formatted with ``variables`` (and ``num=n``) only when variables are given."""
    current = _state()
    if current is None:
        text = singular if n == 1 else plural
    else:
        text = current.get_translations().ngettext(singular, plural, n)
    if variables:
        return text % {"num": n, **variables}
    return text


def pgettext(context: str, message: str, **variables: Any) -> str:
    """``gettext`` for a ``message`` that needs a ``context`` to be told apart ("May" the
    month, "May" the verb)."""
    current = _state()
    text = message if current is None else current.get_translations().pgettext(context, message)
    return text % variables if variables else text


def npgettext(context: str, singular: str, plural: str, n: int, **variables: Any) -> str:
    """``ngettext`` with a context."""
    current = _state()
    if current is None:
        text = singular if n == 1 else plural
    else:
        text = current.get_translations().npgettext(context, singular, plural, n)
    if variables:
        return text % {"num": n, **variables}
    return text


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it (translate where it is shown)."""
    return message


def get_locale() -> str:
    """The current locale ("en", "fr", "pt_BR"): the request's, else the default one."""
    current = _state()
    return "en" if current is None else current.get_locale()


def get_timezone() -> ZoneInfo:
    """The current user's time zone: the request's, else the default one (UTC by default)."""
    current = _state()
    return UTC if current is None else current.get_timezone()


def locale_path(locale: str, path: str | None = None) -> str:
    """The current page's path (or ``path``) under ``locale``'s URL prefix, for a language
    menu: on ``/fr/articles``, ``locale_path("de")`` is ``/de/articles``. Without the
    ``prefix`` strategy the path is returned as it is (a menu then sets the cookie)."""
    current = _state()
    if current is None:
        return path if path is not None else "/"
    if path is None:
        path = current.request.path if current.request is not None else "/"
    return current.localizer.path_for(locale, path)


@contextmanager
def use_locale(locale: str, timezone: str | ZoneInfo | None = None) -> Iterator[str]:
    """Translate and format in ``locale`` inside the block (a job, an e-mail, a test).

    ``locale`` must be one the app offers (or, without ``I18nPlugin``, one the framework
    ships); ``timezone`` defaults to the current user's. The block yields the locale chosen."""
    from bastion.i18n._localizer import framework_localizer

    state = _state()
    localizer = state.localizer if state is not None else framework_localizer()
    chosen = localizer.require(locale)
    if timezone is not None:
        zone = localizer.zone(timezone)
        if zone is None:
            raise ValueError(f"{timezone!r} is not a time zone; use an IANA name like 'UTC'")
    else:  # the surrounding request's (or block's) user keeps their time zone
        zone = state.get_timezone() if state is not None else localizer.default_timezone
    token = _current.set(Current(localizer, None, chosen, zone))
    try:
        yield chosen
    finally:
        _current.reset(token)
