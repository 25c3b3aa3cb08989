"""Choosing a request's locale: URL prefix, cookie, user preference, Accept-Language."""

from __future__ import annotations

import logging

import pytest

from bastion import ConfigurationError, Settings, WebSocket
from bastion.i18n import I18nPlugin
from bastion.testing import TestClient
from tests.i18n._apps import app_with


def locale_of(client: TestClient, path: str = "/locale", **options) -> str:
    return client.get(path, **options).json()["locale"]


def test_nothing_chosen_means_the_default_locale():
    with TestClient(app_with(default="de")) as client:
        assert locale_of(client) == "de"


def test_a_url_prefix_chooses_and_is_taken_off_the_path():
    with TestClient(app_with()) as client:
        body = client.get("/fr/locale").json()
        assert body == {"locale": "fr", "path": "/locale", "root": "/fr"}
        assert client.get("/DE/locale").json()["locale"] == "de"
        assert client.get("/locale").json() == {"locale": "en", "path": "/locale", "root": ""}
        # a first segment that is not an offered locale is routed as it is
        assert client.get("/es/locale").status_code == 404


def test_a_prefix_that_is_only_the_locale_is_the_root():
    app = app_with()

    @app.get("/")
    async def home() -> str:
        return "home"

    with TestClient(app) as client:
        assert client.get("/fr").text == "home"


def test_the_cookie_chooses():
    with TestClient(app_with()) as client:
        client.cookies.set("locale", "de")
        assert locale_of(client) == "de"
        client.cookies.set("locale", "tlh")  # not offered: the next strategy decides
        assert locale_of(client) == "en"


def test_the_users_preference_chooses():
    app = app_with(user_locale=lambda request: request.headers.get("x-user-locale"))
    with TestClient(app) as client:
        assert locale_of(client, headers={"x-user-locale": "fr"}) == "fr"
        assert locale_of(client) == "en"


def test_a_failing_preference_hook_is_logged_and_skipped(caplog):
    def broken(request):
        raise RuntimeError("no profile")

    with TestClient(app_with(user_locale=broken)) as client, caplog.at_level(logging.ERROR):
        assert locale_of(client, headers={"accept-language": "de"}) == "de"
    assert "user_locale" in caplog.text


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("de", "de"),
        ("fr-CH, fr;q=0.9, en;q=0.8", "fr"),
        ("es, de;q=0.5, fr;q=0.7", "fr"),  # es is not offered; fr has the higher quality
        ("en;q=0, de;q=0.1", "de"),  # q=0 means "not this one"
        ("*", "en"),
        ("tlh, x-klingon", "en"),
        ("fr;q=abc, de", "de"),  # a malformed entry is skipped
        ("de-AT", "de"),
        ("", "en"),
        ("," * 10_000 + "fr", "en"),  # only the first 32 entries are read
    ],
)
def test_accept_language_chooses_by_quality(header, expected):
    with TestClient(app_with()) as client:
        assert locale_of(client, headers={"accept-language": header}) == expected


def test_the_order_of_strategies_is_configurable():
    both = {"headers": {"accept-language": "de", "cookie": "locale=fr"}}
    with TestClient(app_with(order=("cookie", "header"))) as client:
        assert locale_of(client, **both) == "fr"
        assert client.get("/de/locale").status_code == 404  # no prefix strategy: not taken off
    with TestClient(app_with(order=("header", "cookie"))) as client:
        assert locale_of(client, **both) == "de"
    with TestClient(app_with(order=("header", "prefix"))) as client:
        assert locale_of(client, "/fr/locale", headers={"accept-language": "de"}) == "de"
        assert locale_of(client, "/fr/locale") == "fr"


def test_the_user_hook_can_come_before_the_cookie():
    app = app_with(order=("user", "cookie"), user_locale=lambda request: "de")
    with TestClient(app) as client:
        assert locale_of(client, headers={"cookie": "locale=fr"}) == "de"


def test_responses_say_their_language_and_what_it_varies_on():
    with TestClient(app_with()) as client:
        response = client.get("/locale", headers={"accept-language": "fr"})
        assert response.headers["content-language"] == "fr"
        assert set(response.headers.get_list("vary")) >= {"cookie", "accept-language"}
        prefixed = client.get("/de/locale", headers={"accept-language": "fr"})
        assert prefixed.headers["content-language"] == "de"
        assert "vary" not in prefixed.headers  # the URL alone decided


def test_a_request_that_translates_nothing_gets_no_language_headers():
    with TestClient(app_with()) as client:
        response = client.get("/plain", headers={"accept-language": "fr"})
        assert response.text == "no translation here"
        assert "content-language" not in response.headers
        assert "vary" not in response.headers


def test_regional_locales_are_offered_and_matched():
    app = app_with(locales=("en", "pt_BR", "fr"))
    with TestClient(app) as client:
        assert locale_of(client, headers={"accept-language": "pt-br"}) == "pt_BR"
        assert locale_of(client, headers={"accept-language": "pt"}) == "pt_BR"
        assert locale_of(client, "/pt-br/locale") == "pt_BR"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"locales": ["en", "fr"], "default_locale": "de"}, "default_locale 'de' is not in"),
        ({"locales": ["en", "xx_nowhere"]}, "'xx_nowhere' is not a locale"),
        ({"locales": []}, "settings.locales is empty"),
        ({"default_timezone": "Mars/Olympus"}, "'Mars/Olympus' is not a time zone"),
        ({"locale_from": ["cookie", "cookie"]}, "names 'cookie' twice"),
    ],
)
def test_misconfiguration_fails_at_start_up_with_the_fix(settings, message):
    from bastion import App

    with pytest.raises(ConfigurationError, match=message):
        App(settings=Settings(profile="test", **settings), plugins=[I18nPlugin()])


def test_an_unknown_strategy_is_refused_by_the_settings():
    with pytest.raises(ConfigurationError, match="locale_from"):
        Settings(profile="test", locale_from=["cookie", "geoip"])  # type: ignore[list-item]


def test_locales_come_from_the_environment():
    settings = Settings.load(
        environ={"BASTION_LOCALES": "en,fr", "BASTION_LOCALE_FROM": "header,cookie"},
        env_file=None,
        toml_file=None,
    )
    assert settings.locales == ["en", "fr"]
    assert settings.locale_from == ["header", "cookie"]


def test_one_plugin_per_app():
    from bastion import App

    with pytest.raises(ConfigurationError, match="one I18nPlugin"):
        App(settings=Settings(profile="test"), plugins=[I18nPlugin(), I18nPlugin()])


def test_locale_path_gives_the_same_page_in_another_language():
    from bastion.i18n import locale_path

    app = app_with(locales=("en", "fr", "pt_BR"))

    @app.get("/articles/{slug}")
    async def article(slug: str) -> list[str]:
        return [locale_path("pt_BR"), locale_path("en"), locale_path("fr", "/")]

    with TestClient(app) as client:
        assert client.get("/fr/articles/a").json() == ["/pt-br/articles/a", "/en/articles/a", "/fr"]
    assert locale_path("fr", "/x") == "/x"  # outside a request: nothing to switch


def test_without_the_prefix_strategy_locale_path_keeps_the_path():
    from bastion.i18n import locale_path

    app = app_with(order=("cookie", "header"))

    @app.get("/here")
    async def here() -> str:
        return locale_path("de")

    with TestClient(app) as client:
        assert client.get("/here").text == "/here"


def test_a_websocket_connection_has_its_locale():
    from bastion.i18n import gettext

    app = app_with()

    @app.websocket("/ws")
    async def ws(socket: WebSocket) -> None:
        await socket.accept()
        await socket.send_text(gettext("Save"))
        await socket.close()

    with TestClient(app) as client:
        with client.websocket_connect("/ws", headers={"accept-language": "de"}) as session:
            assert session.receive_text() == "Speichern"
        with client.websocket_connect("/ws", headers={"cookie": "locale=fr"}) as session:
            assert session.receive_text() == "Enregistrer"
