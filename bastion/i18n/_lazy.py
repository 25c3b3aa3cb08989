"""Lazy strings: messages declared at import time, translated each time they are shown."""

from __future__ import annotations

from collections import UserString
from typing import Any

from bastion.i18n._context import gettext, ngettext


class LazyString(UserString):
    """A message translated in the current locale whenever it is read.

    A ``UserString``: ``str(x)``, f-strings, ``+``, ``==``, ``len``, Jinja's ``{{ x }}`` and
    Bastion's JSON encoder all see the translation of the moment. Hashing follows the
    translation too, so do not use one as a dict key across locales.
    """

    def __init__(
        self, singular: str, plural: str | None = None, n: int = 1, **variables: Any
    ) -> None:
        self._singular = singular
        self._plural = plural
        self._n = n
        self._variables = variables

    @property
    def data(self) -> str:
        if self._plural is None:
            return gettext(self._singular, **self._variables)
        return ngettext(self._singular, self._plural, self._n, **self._variables)

    @data.setter
    def data(self, value: str) -> None:
        raise AttributeError("a LazyString's text comes from the catalog; make a new one")

    @property
    def message(self) -> str:
        """The untranslated message (the catalog's msgid)."""
        return self._singular

    def __repr__(self) -> str:
        return f"lazy_gettext({self._singular!r})"


def lazy_gettext(message: str, **variables: Any) -> LazyString:
    """``message``, translated when it is rendered: for module-level labels and messages."""
    return LazyString(message, **variables)


def lazy_ngettext(singular: str, plural: str, n: int, **variables: Any) -> LazyString:
    """``ngettext``, translated when it is rendered."""
    return LazyString(singular, plural, n, **variables)
