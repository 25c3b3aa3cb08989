"""The framework's catalogs, and an app's catalogs merged over them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from bastion import App, ConfigurationError, Settings
from bastion.i18n import I18nPlugin
from bastion.i18n._catalogs import FRAMEWORK_DIR
from bastion.testing import TestClient
from tests.i18n._apps import app_with

SHIPPED = ("en", "fr", "de")


def framework_po(locale: str) -> Catalog:
    path = FRAMEWORK_DIR / locale / "LC_MESSAGES" / "bastion.po"
    with path.open("rb") as file:
        return read_po(file, locale=locale, domain="bastion")


def test_english_french_and_german_are_shipped():
    assert sorted(p.name for p in FRAMEWORK_DIR.iterdir() if p.is_dir()) == sorted(SHIPPED)


@pytest.mark.parametrize("locale", ["fr", "de"])
def test_every_framework_message_is_translated(locale):
    catalog = framework_po(locale)
    untranslated = [
        m.id
        for m in catalog
        if m.id
        and (m.fuzzy or not (all(m.string) if isinstance(m.string, tuple | list) else m.string))
    ]
    assert untranslated == [], "translate these, then run bastion i18n compile"


@pytest.mark.parametrize("locale", ["fr", "de"])
def test_translations_keep_their_placeholders(locale):
    problems = [(m.id, errors) for m, errors in framework_po(locale).check()]
    assert problems == []


@pytest.mark.parametrize("locale", SHIPPED)
def test_every_catalog_holds_the_messages_of_the_template(locale):
    with (FRAMEWORK_DIR / "bastion.pot").open("rb") as file:
        template = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(file) if m.id}
    messages = {m.id if isinstance(m.id, str) else m.id[0] for m in framework_po(locale) if m.id}
    assert template - messages == set(), "run bastion i18n update"


@pytest.mark.parametrize("locale", SHIPPED)
def test_compiled_catalogs_are_up_to_date(locale):
    """The committed .mo holds exactly what compiling the .po gives."""
    compiled = io.BytesIO()
    write_mo(compiled, framework_po(locale))
    compiled.seek(0)
    with (FRAMEWORK_DIR / locale / "LC_MESSAGES" / "bastion.mo").open("rb") as file:
        shipped = read_mo(file)
    fresh = read_mo(compiled)
    assert entries(shipped) == entries(fresh)


def entries(catalog: Catalog) -> dict[object, object]:
    def key(value: object) -> object:
        return tuple(value) if isinstance(value, list | tuple) else value

    return {key(m.id): key(m.string) for m in catalog if m.id}


def compile_catalog(directory: Path, locale: str, messages: dict[str, str]) -> None:
    catalog = Catalog(locale=locale, domain="messages")
    for message, translation in messages.items():
        catalog.add(message, translation)
    folder = directory / locale / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "messages.mo").open("wb") as file:
        write_mo(file, catalog)


def test_an_apps_catalog_is_merged_over_the_frameworks(tmp_path):
    compile_catalog(tmp_path, "fr", {"Save": "Sauvegarder", "Hello": "Bonjour"})
    app = app_with(directory=tmp_path)

    @app.get("/words")
    async def words() -> list[str]:
        from bastion.i18n import gettext

        return [gettext("Save"), gettext("Hello"), gettext("is required")]

    with TestClient(app) as client:
        assert client.get("/fr/words").json() == ["Sauvegarder", "Bonjour", "est obligatoire"]
        assert client.get("/de/words").json() == ["Speichern", "Hello", "ist erforderlich"]


def test_an_app_can_reword_the_frameworks_english(tmp_path):
    compile_catalog(tmp_path, "en", {"is required": "cannot be left out"})
    with TestClient(app_with(directory=tmp_path)) as client:
        problem = client.get("/items?limit=2").json()
    assert problem["errors"][0]["reason"] == "cannot be left out"


def test_the_locales_folder_of_the_working_directory_is_read(tmp_path, monkeypatch):
    compile_catalog(tmp_path / "locales", "de", {"Save": "Sichern"})
    monkeypatch.chdir(tmp_path)
    with TestClient(app_with()) as client:
        assert client.get("/de/items?limit=1&name=x").json() == {"saved": "Sichern"}


def test_a_catalog_never_compiled_stops_start_up(tmp_path):
    folder = tmp_path / "fr" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.po").write_text('msgid "Save"\nmsgstr "Sauver"\n')
    with pytest.raises(ConfigurationError, match="bastion i18n compile"):
        app_with(directory=tmp_path)


def test_a_missing_catalog_folder_stops_start_up(tmp_path):
    with pytest.raises(ConfigurationError, match="no such folder"):
        App(
            settings=Settings(profile="test"),
            plugins=[I18nPlugin(directory=tmp_path / "nowhere")],
        )


def test_a_broken_compiled_catalog_stops_start_up(tmp_path):
    folder = tmp_path / "fr" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.mo").write_bytes(b"not a catalog at all")
    with pytest.raises(ConfigurationError, match="not a compiled catalog"):
        app_with(directory=tmp_path)


def test_a_locale_the_framework_does_not_ship_falls_back_to_english(tmp_path):
    with TestClient(app_with(locales=("en", "es"))) as client:
        problem = client.get("/es/items?limit=1").json()
    assert problem["errors"][0]["reason"] == "is required"


def test_every_message_marked_in_the_framework_is_in_the_catalogs(tmp_path, monkeypatch):
    """Extracting bastion/ now finds nothing the shipped catalogs lack: a message marked since
    the last update would be English in every language."""
    from click.testing import CliRunner

    from bastion.cli import main

    package = FRAMEWORK_DIR.parent.parent
    monkeypatch.chdir(package.parent)
    pot = tmp_path / "bastion.pot"
    result = CliRunner().invoke(main, ["i18n", "extract", "bastion", "-o", str(pot)])
    assert result.exit_code == 0, result.output
    with pot.open("rb") as file:
        marked = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(file) if m.id}
    for locale in ("fr", "de"):
        shipped = {m.id if isinstance(m.id, str) else m.id[0] for m in framework_po(locale) if m.id}
        assert sorted(marked - shipped) == [], (
            "new messages: run `bastion i18n extract bastion -d bastion/i18n/locales --domain "
            "bastion --project Bastion`, then `bastion i18n update -d bastion/i18n/locales "
            "--domain bastion`, translate fr and de, and `bastion i18n compile -d "
            "bastion/i18n/locales --domain bastion` (docs/i18n.md)"
        )
