"""gettext, ngettext, lazy strings and use_locale, outside and inside requests."""

from __future__ import annotations

import msgspec
import pytest

from bastion import App, JSONResponse, Settings
from bastion.http.response import encode_json
from bastion.i18n import (
    N_,
    LazyString,
    _,
    get_locale,
    gettext,
    lazy_gettext,
    lazy_ngettext,
    ngettext,
    pgettext,
    use_locale,
)
from bastion.testing import TestClient
from tests.i18n._apps import app_with

SAVE = lazy_gettext("Save")


def test_without_a_locale_messages_are_returned_as_written():
    assert gettext("Save") == "Save"
    assert _("is required") == "is required"
    assert ngettext("%(num)s item", "%(num)s items", 2) == "%(num)s items"
    assert get_locale() == "en"


def test_variables_are_filled_in_after_translating():
    with use_locale("fr"):
        assert gettext("must be at least %(limit)s", limit=3) == "doit être au moins 3"
    assert gettext("must be at least %(limit)s", limit=3) == "must be at least 3"


def test_a_percent_sign_without_variables_is_left_alone():
    assert gettext("100% sure") == "100% sure"
    assert ngettext("1%", "%d%%", 3) == "%d%%"


def test_the_empty_message_is_not_the_catalog_header():
    with use_locale("fr"):
        assert gettext("") == ""


def test_use_locale_translates_without_a_plugin():
    with use_locale("de") as chosen:
        assert chosen == "de"
        assert get_locale() == "de"
        assert gettext("is required") == "ist erforderlich"
    assert gettext("is required") == "is required"


def test_use_locale_refuses_a_locale_not_offered():
    with pytest.raises(ValueError, match="'xx' is not offered"), use_locale("xx"):
        pass


def test_use_locale_matches_a_region_to_its_language():
    with use_locale("fr-CH") as chosen:
        assert chosen == "fr"


@pytest.mark.parametrize(
    ("locale", "counts"),
    [
        # French uses the singular for 0 and 1; German and English only for 1
        ("fr", {0: "1 autre", 1: "1 autre", 2: "2 autres"}),
        ("de", {0: "0 weitere", 1: "1 weiterer", 2: "2 weitere"}),
        ("en", {0: "0 more", 1: "1 more", 2: "2 more"}),
    ],
)
def test_plural_forms_follow_each_languages_rules(locale, counts):
    with use_locale(locale):
        for n, expected in counts.items():
            text = ngettext(" (and %(num)s more)", " (and %(num)s more)", n, num=n)
            assert text.strip(" ()").endswith(expected.split(" ", 1)[1])
            assert str(n) in text
    with use_locale("fr"):
        assert ngettext("must have exactly %(num)s item", "x", 0, num=0) == (
            "doit contenir exactement 0 élément"
        )
        assert ngettext("must have exactly %(num)s item", "x", 5, num=5) == (
            "doit contenir exactement 5 éléments"
        )


def test_pgettext_falls_back_to_the_message():
    with use_locale("fr"):
        assert pgettext("month", "May") == "May"


def test_n_marks_without_translating():
    with use_locale("fr"):
        assert N_("Save") == "Save"


def test_a_lazy_string_is_translated_each_time_it_is_read():
    assert isinstance(SAVE, LazyString)
    assert str(SAVE) == "Save"
    with use_locale("fr"):
        assert str(SAVE) == "Enregistrer"
        assert f"[{SAVE}]" == "[Enregistrer]"
        assert SAVE + "!" == "Enregistrer!"
        assert SAVE == "Enregistrer"
        assert len(SAVE) == len("Enregistrer")
    with use_locale("de"):
        assert f"{SAVE}" == "Speichern"
    assert SAVE.message == "Save"
    assert repr(SAVE) == "lazy_gettext('Save')"


def test_a_lazy_plural_and_variables():
    rows = lazy_ngettext(
        "must have at least %(num)s item", "must have at least %(num)s items", 2, num=2
    )
    with use_locale("de"):
        assert str(rows) == "muss mindestens 2 Elemente enthalten"


def test_bastions_json_encoder_writes_the_translation():
    class Labels(msgspec.Struct):
        label: str

    with use_locale("fr"):
        assert encode_json({"label": SAVE}) == b'{"label":"Enregistrer"}'
        assert encode_json(Labels(label=SAVE)) == b'{"label":"Enregistrer"}'  # type: ignore[arg-type]


def test_a_lazy_string_in_a_response_is_in_the_requests_locale():
    app = app_with()

    @app.get("/label")
    async def label() -> JSONResponse:
        return JSONResponse({"label": SAVE})

    with TestClient(app) as client:
        assert client.get("/label", headers={"accept-language": "de"}).json() == {
            "label": "Speichern"
        }
        assert client.get("/label").json() == {"label": "Save"}


def test_outside_a_request_the_running_apps_default_locale_is_used():
    app = app_with(default="de")
    assert gettext("is required") == "is required"  # not running yet
    with TestClient(app):
        assert get_locale() == "de"
        assert gettext("is required") == "ist erforderlich"
    assert gettext("is required") == "is required"


def test_an_app_without_the_plugin_keeps_english_messages():
    plain = App(settings=Settings(profile="test"))

    @plain.get("/n")
    async def n(limit: int) -> int:
        return limit

    app_with(default="fr")  # built, not running: changes nothing for other apps
    with TestClient(plain) as client:
        assert client.get("/n").json()["errors"][0]["reason"] == "is required"
