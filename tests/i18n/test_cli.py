"""``bastion i18n extract|init|update|compile`` on a project of its own."""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po, write_po
from click.testing import CliRunner, Result

from bastion import App, Settings
from bastion.cli import main
from bastion.i18n import I18nPlugin, gettext, ngettext
from bastion.testing import TestClient

CODE = """
from bastion.i18n import gettext as _, lazy_gettext, ngettext

TITLE = lazy_gettext("Articles")

def greet(name):
    # TRANSLATORS: shown on the home page
    return _("Hello %(name)s", name=name)

def count(n):
    return ngettext("%(num)d article", "%(num)d articles", n, num=n)
"""
TEMPLATE = "<h1>{{ _('Welcome') }}</h1>{% trans %}Goodbye{% endtrans %}"


def run(project: Path, *args: str) -> Result:
    result = CliRunner().invoke(main, ["i18n", *args], catch_exceptions=False)
    return result


def project(tmp_path: Path, monkeypatch) -> Path:
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "views.py").write_text(CODE)
    (tmp_path / "shop" / "templates").mkdir()
    (tmp_path / "shop" / "templates" / "home.html").write_text(TEMPLATE)
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "lib.py").write_text("_('never read')")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def translate(po: Path, translations: dict[object, object]) -> None:
    with po.open("rb") as file:
        catalog = read_po(file)
    for message in catalog:
        key = tuple(message.id) if isinstance(message.id, list | tuple) else message.id
        if key in translations:
            message.string = translations[key]
    with po.open("wb") as file:
        write_po(file, catalog)


def test_extract_init_translate_compile_and_serve(tmp_path, monkeypatch):
    root = project(tmp_path, monkeypatch)
    extracted = run(root, "extract")
    assert extracted.exit_code == 0, extracted.output
    assert "Extracted 5 messages from 2 files into locales/messages.pot" in extracted.output
    assert "bastion i18n init" in extracted.output
    pot = (root / "locales" / "messages.pot").read_text()
    for message in ("Articles", "Hello %(name)s", "%(num)d articles", "Welcome", "Goodbye"):
        assert f'"{message}"' in pot
    assert "never read" not in pot  # hidden folders (.venv) are skipped
    assert "shown on the home page" in pot  # translator comments are kept
    assert "views.py:" not in pot  # no line numbers: editing code does not rewrite catalogs

    created = run(root, "init", "-l", "fr")
    assert created.exit_code == 0, created.output
    po = root / "locales" / "fr" / "LC_MESSAGES" / "messages.po"
    assert f"Created {Path('locales/fr/LC_MESSAGES/messages.po')}" in created.output
    assert "5 messages to translate, French" in created.output

    translate(
        po,
        {
            "Hello %(name)s": "Bonjour %(name)s",
            ("%(num)d article", "%(num)d articles"): ("%(num)d article", "%(num)d articles", "x"),
            "Welcome": "Bienvenue",
        },
    )
    compiled = run(root, "compile")
    assert compiled.exit_code == 0, compiled.output
    assert "fr" in compiled.output and "messages.mo" in compiled.output
    assert (po.parent / "messages.mo").is_file()

    app = App(settings=Settings(profile="test", locales=["en", "fr"]), plugins=[I18nPlugin()])

    @app.get("/")
    async def home() -> list[str]:
        return [
            gettext("Hello %(name)s", name="Ada"),
            ngettext("%(num)d article", "%(num)d articles", 1, num=1),
            gettext("Goodbye"),
        ]

    with TestClient(app) as client:
        assert client.get("/fr/").json() == ["Bonjour Ada", "1 article", "Goodbye"]


def test_update_adds_new_messages_and_keeps_translations(tmp_path, monkeypatch):
    root = project(tmp_path, monkeypatch)
    run(root, "extract")
    run(root, "init", "-l", "de")
    po = root / "locales" / "de" / "LC_MESSAGES" / "messages.po"
    translate(po, {"Welcome": "Willkommen", "Goodbye": "Tschüss"})
    (root / "shop" / "templates" / "home.html").write_text("{{ _('Welcome') }}{{ _('Basket') }}")
    run(root, "extract")
    updated = run(root, "update")
    assert updated.exit_code == 0, updated.output
    assert "Updated catalogs" in updated.output
    with po.open("rb") as file:
        catalog = read_po(file)
    assert catalog.get("Welcome").string == "Willkommen"
    assert catalog.get("Basket").string == ""
    assert catalog.get("Goodbye") is None  # gone from the code: dropped


def test_commands_say_what_to_run_first(tmp_path, monkeypatch):
    root = project(tmp_path, monkeypatch)
    missing = run(root, "update")
    assert missing.exit_code == 1
    assert "locales/messages.pot does not exist" in missing.output
    assert "bastion i18n extract" in missing.output
    run(root, "extract")
    assert "bastion i18n init" in run(root, "compile").output
    run(root, "init", "-l", "fr")
    again = run(root, "init", "-l", "fr")
    assert again.exit_code == 1 and "bastion i18n update" in again.output
    bad = run(root, "init", "-l", "klingon-xx")
    assert bad.exit_code == 2 and "is not a locale" in bad.output


def test_compile_refuses_a_translation_with_a_placeholder_the_code_does_not_fill(
    tmp_path, monkeypatch
):
    root = project(tmp_path, monkeypatch)
    run(root, "extract")
    run(root, "init", "-l", "fr")
    po = root / "locales" / "fr" / "LC_MESSAGES" / "messages.po"
    translate(po, {"Hello %(name)s": "Bonjour %(nom)s"})  # a KeyError at run time
    result = run(root, "compile")
    assert result.exit_code == 1
    assert "Hello %(name)s" in result.output
    assert not (po.parent / "messages.mo").exists()


def test_extract_takes_sources_and_an_output(tmp_path, monkeypatch):
    root = project(tmp_path, monkeypatch)
    result = run(root, "extract", "shop/views.py", "-o", "out/app.pot", "-k", "greet")
    assert result.exit_code == 0, result.output
    assert "Extracted 3 messages from 1 files into out/app.pot" in result.output
