"""``bastion i18n``: the gettext workflow with Babel.

    bastion i18n extract            # messages of the code and templates → locales/messages.pot
    bastion i18n init -l fr         # start locales/fr/LC_MESSAGES/messages.po
    bastion i18n update             # bring every .po up to date with the .pot
    bastion i18n compile            # .po → .mo, which I18nPlugin reads

Python files are read for ``_``, ``gettext``, ``ngettext``, ``lazy_gettext``,
``lazy_ngettext``, ``pgettext`` and ``N_`` calls, templates (``.html``, ``.jinja``) for
``{{ _(...) }}`` and ``{% trans %}``. Locations are written without line numbers, so that
editing code does not rewrite every catalog.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from babel.messages.catalog import Catalog

KEYWORDS: dict[str, Any] = {
    "lazy_gettext": None,
    "lazy_ngettext": (1, 2),
    "N_": None,
}
METHODS = [
    ("**.py", "python"),
    ("**.html", "jinja2.ext:babel_extract"),
    ("**.jinja", "jinja2.ext:babel_extract"),
]
#: Folders never read: virtual environments, dependencies, build output, caches.
SKIPPED = {"node_modules", "venv", "build", "dist", "site-packages", "__pycache__"}
COMMENT_TAGS = ("TRANSLATORS:",)
_console = Console(highlight=False, soft_wrap=True)

DIRECTORY = click.option(
    "-d",
    "--directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("locales"),
    show_default=True,
    help="Folder of the catalogs: <directory>/<locale>/LC_MESSAGES/<domain>.po.",
)
DOMAIN = click.option(
    "--domain", default="messages", show_default=True, help="Catalog name (the .po file's)."
)
TEMPLATE = click.option(
    "-i",
    "--input",
    "template",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The template catalog (.pot). Default: <directory>/<domain>.pot.",
)


@click.group()
def i18n() -> None:
    """Translations: extract messages, start and update catalogs, compile them.

    \b
    Examples:
      bastion i18n extract                 messages of . into locales/messages.pot
      bastion i18n init -l fr              start the French catalog
      bastion i18n update                  merge new messages into every catalog
      bastion i18n compile                 write the .mo files the app reads
    """


@i18n.command()
@click.argument("sources", nargs=-1, type=click.Path(exists=True, path_type=Path))
@DIRECTORY
@DOMAIN
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the template. Default: <directory>/<domain>.pot.",
)
@click.option("--project", default="PROJECT", show_default=True, help="Named in the header.")
@click.option(
    "-k", "--keyword", "keywords", multiple=True, help="Another function that marks messages."
)
def extract(
    sources: tuple[Path, ...],
    directory: Path,
    domain: str,
    output: Path | None,
    project: str,
    keywords: tuple[str, ...],
) -> None:
    """Collect marked messages into a template (.pot).

    SOURCES are files or folders (default: the current folder)."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import DEFAULT_KEYWORDS

    output = output or directory / f"{domain}.pot"
    catalog = Catalog(project=project, charset="utf-8", fuzzy=False)
    marks = {**DEFAULT_KEYWORDS, **KEYWORDS, **dict.fromkeys(keywords)}
    files: set[str] = set()
    for filename, lineno, message, comments, context in _extract(sources or (Path("."),), marks):
        files.add(filename)
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    _write_po(output, catalog)
    _console.print(
        f"[green]Extracted {len(catalog)} messages[/] from {len(files)} files into "
        f"[bold]{output}[/]"
    )
    folder = output.parent
    if not any(folder.glob(f"*/LC_MESSAGES/{domain}.po")):
        _console.print(f"Next: [bold]bastion i18n init -l <locale> -d {folder}[/]")
    else:
        _console.print(f"Next: [bold]bastion i18n update -d {folder}[/]")


def _extract(sources: Iterable[Path], keywords: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    from babel.messages.extract import extract_from_dir, extract_from_file

    for source in sources:
        if source.is_file():
            method = next(
                (m for pattern, m in METHODS if source.name.endswith(pattern[3:])), "python"
            )
            for lineno, message, comments, context in extract_from_file(
                method, source, keywords=keywords, comment_tags=COMMENT_TAGS
            ):
                yield str(source), lineno, message, comments, context
            continue
        for filename, lineno, message, comments, context in extract_from_dir(
            source,
            METHODS,
            keywords=keywords,
            comment_tags=COMMENT_TAGS,
            strip_comment_tags=True,
            directory_filter=_wanted,
        ):
            yield os.path.normpath(source / filename), lineno, message, comments, context


def _wanted(path: str) -> bool:
    name = os.path.basename(path)
    return not name.startswith((".", "_")) and name not in SKIPPED


@i18n.command()
@click.option("-l", "--locale", "locales", multiple=True, required=True, help="e.g. fr, pt_BR.")
@DIRECTORY
@DOMAIN
@TEMPLATE
def init(locales: tuple[str, ...], directory: Path, domain: str, template: Path | None) -> None:
    """Start the catalog of a new locale from the template (.pot)."""
    from babel import Locale, UnknownLocaleError

    source = _template(template, directory, domain)
    for name in locales:
        try:
            locale = Locale.parse(name.replace("-", "_"))
        except (UnknownLocaleError, ValueError):
            raise click.BadParameter(
                f"{name!r} is not a locale; use identifiers such as fr, de or pt_BR",
                param_hint="--locale",
            ) from None
        po = directory / str(locale) / "LC_MESSAGES" / f"{domain}.po"
        if po.exists():
            raise click.ClickException(
                f"{po} exists already; `bastion i18n update -d {directory}` merges new messages"
            )
        catalog = _read_po(source, locale=str(locale), domain=domain)
        catalog.locale = locale
        catalog.revision_date = datetime.now(UTC)
        catalog.fuzzy = False
        _write_po(po, catalog)
        _console.print(
            f"[green]Created[/] [bold]{po}[/] ({len(catalog)} messages to translate, "
            f"{locale.english_name})"
        )


@i18n.command()
@DIRECTORY
@DOMAIN
@TEMPLATE
@click.option("-l", "--locale", "locales", multiple=True, help="Only these (default: all).")
@click.option(
    "--no-fuzzy-matching", is_flag=True, help="Do not guess translations of new messages."
)
def update(
    directory: Path,
    domain: str,
    template: Path | None,
    locales: tuple[str, ...],
    no_fuzzy_matching: bool,
) -> None:
    """Merge the template into every catalog (.po).

    New messages are added (untranslated, or fuzzy when a close old one is found); messages
    no longer in the template are dropped."""
    source = _read_po(_template(template, directory, domain))
    table = _table("Updated catalogs", "new", "dropped")
    for locale, po in _catalogs(directory, domain, locales):
        catalog = _read_po(po, locale=locale, domain=domain)
        before = {m.id for m in catalog if m.id}
        catalog.update(source, no_fuzzy_matching=no_fuzzy_matching)
        after = {m.id for m in catalog if m.id}
        _write_po(po, catalog, ignore_obsolete=True)
        table.add_row(
            locale, *_counts(catalog), str(len(after - before)), str(len(before - after)), str(po)
        )
    _print(table)
    _console.print(f"Next: translate, then [bold]bastion i18n compile -d {directory}[/]")


@i18n.command(name="compile")
@DIRECTORY
@DOMAIN
@click.option("-l", "--locale", "locales", multiple=True, help="Only these (default: all).")
@click.option("--use-fuzzy", is_flag=True, help="Include fuzzy translations.")
def compile_(directory: Path, domain: str, locales: tuple[str, ...], use_fuzzy: bool) -> None:
    """Compile every catalog (.po) into the .mo the app reads.

    Stops at a translation with a placeholder its message does not have."""
    from babel.messages.mofile import write_mo

    table = _table("Compiled catalogs")
    problems: list[str] = []
    for locale, po in _catalogs(directory, domain, locales):
        catalog = _read_po(po, locale=locale, domain=domain)
        for message, errors in catalog.check():
            problems += [f"{po}: {message.id!r}: {error}" for error in errors]
        if problems:
            continue
        with po.with_suffix(".mo").open("wb") as file:
            write_mo(file, catalog, use_fuzzy=use_fuzzy)
        table.add_row(locale, *_counts(catalog), str(po.with_suffix(".mo")))
    if problems:
        raise click.ClickException("fix these translations:\n" + "\n".join(problems))
    _print(table)


def _template(given: Path | None, directory: Path, domain: str) -> Path:
    path = given or directory / f"{domain}.pot"
    if not path.is_file():
        raise click.ClickException(
            f"{path} does not exist; make it first with `bastion i18n extract -d {directory}`"
        )
    return path


def _catalogs(directory: Path, domain: str, only: tuple[str, ...]) -> list[tuple[str, Path]]:
    found = sorted(
        (po.parent.parent.name, po) for po in directory.glob(f"*/LC_MESSAGES/{domain}.po")
    )
    if only:
        found = [(locale, po) for locale, po in found if locale in only]
    if not found:
        raise click.ClickException(
            f"no {domain}.po under {directory}; start one with "
            f"`bastion i18n init -l <locale> -d {directory}`"
        )
    return found


def _read_po(path: Path, **options: Any) -> Catalog:
    from babel.messages.pofile import PoFileError, read_po

    with path.open("rb") as file:
        try:
            return read_po(file, abort_invalid=True, **options)
        except PoFileError as exc:
            raise click.ClickException(f"{path} is not a valid catalog: {exc}") from None


def _write_po(path: Path, catalog: Catalog, **options: Any) -> None:
    from babel.messages.pofile import write_po

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        write_po(file, catalog, width=100, include_lineno=False, **options)


def _print(table: Table) -> None:
    """Folded to a terminal's width; whole lines into a pipe or file (rich would cut to 80)."""
    console = _console
    if not console.is_terminal:
        natural = Console(width=100_000).measure(table).maximum
        console = Console(width=max(console.width, natural), highlight=False)
    console.print(table)


def _table(title: str, *extra: str) -> Table:
    table = Table(title=title)
    for column in ("locale", "messages", "translated", "fuzzy", "untranslated", *extra, "file"):
        right = column not in ("locale", "file")
        table.add_column(column, justify="right" if right else "left", overflow="fold")
    return table


def _counts(catalog: Catalog) -> tuple[str, str, str, str]:
    messages = [m for m in catalog if m.id]
    translated = sum(1 for m in messages if _done(m.string) and not m.fuzzy)
    fuzzy = sum(1 for m in messages if m.fuzzy)
    untranslated = len(messages) - translated - fuzzy
    return str(len(messages)), str(translated), str(fuzzy), str(untranslated)


def _done(string: Any) -> bool:
    return all(string) if isinstance(string, tuple | list) else bool(string)
