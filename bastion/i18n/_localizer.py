"""How a request's locale and time zone are chosen, and which catalog each locale reads.

A ``Localizer`` is built once, at start-up, from the settings and the plugin's hooks: the
supported locales, the strategies in their order (``prefix``, ``cookie``, ``user``,
``header``), the catalogs of every supported locale. Choosing is a few dict lookups.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bastion.exceptions import ConfigurationError
from bastion.i18n._catalogs import FRAMEWORK_DIR, load_translations, shipped_locales
from bastion.i18n._context import Current, Translations

if TYPE_CHECKING:
    from bastion.http.request import Request

logger = logging.getLogger("bastion.i18n")

Strategy = Literal["prefix", "cookie", "user", "header"]
STRATEGIES: tuple[Strategy, ...] = ("prefix", "cookie", "user", "header")
#: ``(request) -> str | None``: a locale ("fr") or a time zone ("Europe/Paris"), or None.
Hook = Callable[["Request"], "str | None"]
#: Languages considered from one Accept-Language header (the rest is ignored, not parsed).
_MAX_LANGUAGES = 32


class Localizer:
    """The locales an app offers and how one is picked for a request."""

    def __init__(
        self,
        locales: Sequence[str],
        default_locale: str,
        *,
        order: Sequence[str] = STRATEGIES,
        default_timezone: str = "UTC",
        translations: dict[str, Translations] | None = None,
        user_locale: Hook | None = None,
        user_timezone: Hook | None = None,
        cookie_name: str = "locale",
        timezone_cookie: str | None = "timezone",
    ) -> None:
        self.locales = [_canonical(locale, "locales") for locale in locales]
        if not self.locales:
            raise ConfigurationError("settings.locales is empty; offer at least one, e.g. ['en']")
        self.default_locale = _canonical(default_locale, "default_locale")
        if self.default_locale not in self.locales:
            raise ConfigurationError(
                f"settings.default_locale {default_locale!r} is not in settings.locales "
                f"{self.locales}; add it there or choose one of them"
            )
        self._lookup: dict[str, str] = {}
        for locale in self.locales:
            self._lookup[locale.lower()] = locale
            self._lookup.setdefault(locale.partition("_")[0].lower(), locale)
        self.prefixes = {locale.replace("_", "-").lower(): locale for locale in self.locales}
        self.order = _order(order, user_locale)
        self.default_timezone = _setting_zone(default_timezone)
        self.translations = translations if translations is not None else {}
        self.user_locale = user_locale
        self.user_timezone = user_timezone
        self.cookie_name = cookie_name
        self.timezone_cookie = timezone_cookie
        chooser = {
            "prefix": self._from_prefix,
            "cookie": self._from_cookie,
            "user": self._from_user,
            "header": self._from_header,
        }
        varies = {"cookie": (b"vary", b"cookie"), "header": (b"vary", b"accept-language")}
        self._strategies = [(chooser[name], varies.get(name)) for name in self.order]

    # -- choosing ------------------------------------------------------------------------
    def select(self, current: Current) -> str:
        """The first supported locale the strategies find for the request, else the default."""
        request = current.request
        if request is not None:
            for strategy, vary in self._strategies:
                if vary is not None:
                    current.vary.append(vary)
                found = strategy(current, request)
                if found is not None:
                    return found
        return self.default_locale

    def match(self, tag: str | None) -> str | None:
        """The supported locale ``tag`` names (``fr-CH`` → ``fr`` when only fr is offered)."""
        if not tag:
            return None
        key = tag.strip().replace("-", "_").lower()
        return self._lookup.get(key) or self._lookup.get(key.partition("_")[0])

    def negotiate(self, header: str | None) -> str | None:
        """The best supported locale of an ``Accept-Language`` header, by quality then order."""
        if not header:
            return None
        ranked: list[tuple[float, int, str]] = []
        for index, item in enumerate(header.split(",", _MAX_LANGUAGES)[:_MAX_LANGUAGES]):
            tag, _, params = item.partition(";")
            quality = 1.0
            params = params.strip()
            if params.startswith("q="):
                try:
                    quality = float(params[2:])
                except ValueError:
                    continue  # a malformed entry is skipped, never an error
            if quality > 0:
                ranked.append((-quality, index, tag.strip()))
        for _, _, tag in sorted(ranked):
            found = self.match(tag)
            if found is not None:
                return found
        return None

    def _from_prefix(self, current: Current, request: Request) -> str | None:
        return current.prefix

    def _from_cookie(self, current: Current, request: Request) -> str | None:
        return self.match(request.cookies.get(self.cookie_name))

    def _from_user(self, current: Current, request: Request) -> str | None:
        return self.match(self._ask(self.user_locale, request, "user_locale"))

    def _from_header(self, current: Current, request: Request) -> str | None:
        return self.negotiate(request.headers.get("accept-language"))

    def timezone_for(self, current: Current) -> ZoneInfo:
        """The user's time zone (the hook, then the ``timezone`` cookie), else the default."""
        request = current.request
        if request is not None:
            name = self._ask(self.user_timezone, request, "user_timezone")
            if name is None and self.timezone_cookie is not None:
                name = request.cookies.get(self.timezone_cookie)
            zone = self.zone(name) if name else None
            if zone is not None:
                return zone
        return self.default_timezone

    @staticmethod
    def _ask(hook: Hook | None, request: Request, name: str) -> str | None:
        """A hook's answer; one that fails is logged and counts as no answer, since it runs
        while messages (error responses among them) are being written."""
        if hook is None:
            return None
        try:
            return hook(request)
        except Exception:
            logger.exception("I18nPlugin(%s=...) failed; using the next choice", name)
            return None

    # -- catalogs and zones ---------------------------------------------------------------
    def translations_for(self, locale: str) -> Translations:
        found = self.translations.get(locale)
        if found is None:  # a locale given to use_locale that the catalogs were not read for
            found = self.translations[locale] = load_translations(locale)
        return found

    def path_for(self, locale: str, path: str) -> str:
        """``path`` (as routed, without a prefix) under ``locale``'s prefix."""
        if "prefix" not in self.order:
            return path
        prefix = "/" + self.require(locale).replace("_", "-").lower()
        return prefix if path == "/" else prefix + path

    def require(self, locale: str) -> str:
        found = self.match(locale)
        if found is None:
            raise ValueError(f"locale {locale!r} is not offered; use one of {self.locales}")
        return found

    @staticmethod
    def zone(name: str | ZoneInfo | None) -> ZoneInfo | None:
        """A ``ZoneInfo`` for ``name``; None for an unknown one (users send anything)."""
        if name is None or isinstance(name, ZoneInfo):
            return name
        try:
            return _zone(name)
        except (ZoneInfoNotFoundError, ValueError):
            return None


def _setting_zone(name: str) -> ZoneInfo:
    zone = Localizer.zone(name)
    if zone is None:
        raise ConfigurationError(
            f"settings.default_timezone {name!r} is not a time zone; use an IANA name such "
            "as 'UTC' or 'Europe/Paris'"
        )
    return zone


@functools.lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    if not name or len(name) > 64:
        raise ValueError(name)
    return ZoneInfo(name)


def _canonical(locale: str, setting: str) -> str:
    """``fr-ch`` → ``fr_CH``, checked against CLDR (Babel) so a typo fails at start-up."""
    from babel import Locale, UnknownLocaleError

    try:
        return str(Locale.parse(locale.replace("-", "_")))
    except (UnknownLocaleError, ValueError, TypeError):
        raise ConfigurationError(
            f"settings.{setting}: {locale!r} is not a locale; use identifiers such as "
            "'en', 'fr' or 'pt_BR'"
        ) from None


def _order(order: Sequence[str], user_locale: Hook | None) -> list[Strategy]:
    chosen: list[Strategy] = []
    for name in order:
        if name not in STRATEGIES:
            raise ConfigurationError(
                f"settings.locale_from: unknown strategy {name!r}; use some of "
                f"{', '.join(STRATEGIES)}, in the order to try them"
            )
        if name in chosen:
            raise ConfigurationError(f"settings.locale_from names {name!r} twice; keep one")
        if name == "user" and user_locale is None:
            continue  # no hook: nothing to ask (the default order names it)
        chosen.append(name)
    return chosen


@functools.cache
def framework_localizer() -> Localizer:
    """The framework's own catalogs, for ``use_locale`` in a process without ``I18nPlugin``."""
    locales = shipped_locales(FRAMEWORK_DIR)
    return Localizer(locales, "en" if "en" in locales else locales[0])
