"""Templates: Jinja's i18n extension and the format filters in the request's locale."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import jinja2

from bastion import Request
from bastion.i18n import use_locale
from bastion.templates import Templates
from bastion.testing import TestClient
from tests.i18n._apps import app_with

PAGE = """{{ _("Save") }}|{{ gettext("Hello %(name)s", name=name) }}|\
{% trans %}is required{% endtrans %}|\
{% trans num=n %}must have exactly {{ num }} item{% pluralize %}must have exactly \
{{ num }} items{% endtrans %}|{{ ngettext("%(num)s item", "%(num)s items", n) }}|\
{{ day|format_date }}|{{ price|format_currency("EUR") }}|{{ get_locale() }}"""


def templates(tmp_path: Path) -> Templates:
    (tmp_path / "page.html").write_text(PAGE)
    return Templates(tmp_path)


def test_templates_render_in_the_requests_locale(tmp_path):
    pages = templates(tmp_path)
    app = app_with()

    @app.get("/page")
    async def page(request: Request, n: int = 1) -> object:
        return pages.render(
            request,
            "page.html",
            {"name": "<Ada>", "n": n, "day": date(2024, 3, 1), "price": 1234.5},
        )

    with TestClient(app) as client:
        english = client.get("/page?n=2").text
        french = client.get("/fr/page?n=2").text
        german = client.get("/page?n=1", headers={"accept-language": "de"}).text
    assert english.split("|") == [
        "Save", "Hello &lt;Ada&gt;", "is required", "must have exactly 2 items", "2 items",
        "Mar 1, 2024", "€1,234.50", "en",
    ]  # fmt: skip
    assert french.split("|") == [
        "Enregistrer", "Hello &lt;Ada&gt;", "est obligatoire",
        "doit contenir exactement 2 éléments", "2 items", "1 mars 2024", "1\u202f234,50\xa0€",
        "fr",
    ]  # fmt: skip
    assert german.split("|")[:4] == [
        "Speichern", "Hello &lt;Ada&gt;", "ist erforderlich", "muss genau 1 Element enthalten",
    ]  # fmt: skip


def test_render_string_outside_a_request_uses_use_locale(tmp_path):
    pages = templates(tmp_path)
    context = {"name": "x", "n": 0, "day": date(2024, 12, 24), "price": 3}
    with use_locale("de"):
        text = pages.render_string("page.html", context)
    assert text.split("|")[0] == "Speichern"
    assert text.split("|")[5] == "24.12.2024"


def test_an_environment_with_its_own_translations_keeps_them():
    env = jinja2.Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    own = env.globals["gettext"]
    Templates(env=env)
    assert env.globals["gettext"] is own
    assert "format_datetime" in env.filters


def test_datetimes_are_shown_in_the_users_time_zone(tmp_path):
    (tmp_path / "when.html").write_text("{{ at|format_datetime('short') }}")
    pages = Templates(tmp_path)
    app = app_with(user_timezone=lambda request: request.headers.get("x-tz"))

    @app.get("/when")
    async def when(request: Request) -> object:
        return pages.render(request, "when.html", {"at": datetime(2024, 7, 1, 12, 0)})

    with TestClient(app) as client:
        assert client.get("/when").text == "7/1/24, 12:00\u202fPM"
        assert client.get("/when", headers={"x-tz": "Asia/Tokyo"}).text == "7/1/24, 9:00\u202fPM"
        assert client.get("/fr/when", headers={"x-tz": "Europe/Paris"}).text == "01/07/2024 14:00"


def test_the_filters_are_the_formatting_functions():
    from bastion.i18n import formatting
    from bastion.i18n.jinja import FORMATTERS

    assert sorted(FORMATTERS) == sorted(formatting.__all__)


def test_setting_up_templates_does_not_load_babel():
    import subprocess
    import sys

    code = (
        "import sys; from bastion.templates import Templates; import jinja2; "
        "Templates(env=jinja2.Environment()); print('babel' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
