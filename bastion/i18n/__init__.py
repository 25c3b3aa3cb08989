"""Internationalisation: translated messages and locale-aware formatting.

This is the contract other batteries mark their strings with; the catalogs,
locale selection and formatting fill it in.
"""

from __future__ import annotations


def gettext(message: str) -> str:
    """The message in the current locale (the message itself until catalogs load)."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for ``n`` in the current locale."""
    return singular if n == 1 else plural


def lazy_gettext(message: str) -> str:
    """A message translated when it is rendered, for module-level strings."""
    return message


_ = gettext

__all__ = ["_", "gettext", "lazy_gettext", "ngettext"]
