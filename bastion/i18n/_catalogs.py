"""Reading compiled catalogs: the framework's (domain ``bastion``) with the app's over them.

Catalogs live as ``<directory>/<locale>/LC_MESSAGES/<domain>.mo`` (gettext's layout, which
Babel and every translation tool know). The framework's ``.mo`` files are committed next to
their ``.po`` sources, so an installed Bastion needs no build step; an app compiles its own
with ``bastion i18n compile``. Reading uses the standard library's ``GNUTranslations``.
"""

from __future__ import annotations

import gettext
import logging
from pathlib import Path

from bastion.exceptions import ConfigurationError

FRAMEWORK_DIR = Path(__file__).parent / "locales"
FRAMEWORK_DOMAIN = "bastion"
logger = logging.getLogger("bastion.i18n")


def shipped_locales(directory: Path) -> list[str]:
    """The locales with a folder under ``directory``, sorted."""
    if not directory.is_dir():
        return []
    return sorted(
        entry.name
        for entry in directory.iterdir()
        if entry.is_dir() and (entry / "LC_MESSAGES").is_dir()
    )


def _candidates(locale: str) -> list[str]:
    """``pt_BR`` is looked for as ``pt_BR``, then ``pt``."""
    language = locale.partition("_")[0]
    return [locale] if language == locale else [locale, language]


def read_catalog(directory: Path, locale: str, domain: str) -> gettext.GNUTranslations | None:
    """The compiled catalog of ``locale`` in ``directory``; None if there is none. An app's
    ``.po`` without its ``.mo`` is a start-up error that says to compile."""
    for name in _candidates(locale):
        folder = directory / name / "LC_MESSAGES"
        mo, po = folder / f"{domain}.mo", folder / f"{domain}.po"
        if po.is_file() and directory != FRAMEWORK_DIR:
            compile_it = f"run `bastion i18n compile -d {directory}" + (
                "`" if domain == "messages" else f" --domain {domain}`"
            )
            if not mo.is_file():
                raise ConfigurationError(f"{po} has no compiled {mo.name}: {compile_it}")
            if mo.stat().st_mtime < po.stat().st_mtime:
                # a warning only: a fresh checkout gives files arbitrary times
                logger.warning("%s is older than %s: %s", mo, po.name, compile_it)
        if mo.is_file():
            with mo.open("rb") as file:
                try:
                    return gettext.GNUTranslations(file)
                except (OSError, ValueError) as exc:
                    raise ConfigurationError(
                        f"{mo} is not a compiled catalog ({exc}); run `bastion i18n compile`"
                    ) from None
    return None


def load_translations(
    locale: str, directory: Path | None = None, domain: str = "messages"
) -> gettext.NullTranslations:
    """The framework's catalog for ``locale`` with the app's (in ``directory``) over it; the
    app's plural rules win, since they are the same language's."""
    framework = read_catalog(FRAMEWORK_DIR, locale, FRAMEWORK_DOMAIN)
    app = read_catalog(directory, locale, domain) if directory is not None else None
    if app is None:
        return framework if framework is not None else gettext.NullTranslations()
    if framework is not None:
        catalog: dict[object, str] = app._catalog  # type: ignore[attr-defined]
        for key, text in framework._catalog.items():  # type: ignore[attr-defined]
            if key != "":  # the header (metadata) entry is the app's own
                catalog.setdefault(key, text)
    return app
