"""The same form page in English and French: the framework's catalog translates the fields'
messages, the macros' words and the CSRF page; an app catalog translates its own labels."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo

from bastion.i18n import I18nPlugin
from bastion.testing import TestClient
from tests.forms._app import BASE, signup_app

APP_MESSAGES = {"Sign up": "Inscription", "Name": "Nom", "Email": "E-mail", "Age": "Âge"}


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    folder = tmp_path / "locales" / "fr" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    catalog = Catalog(locale="fr", domain="messages")
    for english, french in APP_MESSAGES.items():
        catalog.add(english, french)
    with (folder / "messages.mo").open("wb") as file:
        write_mo(file, catalog)
    app = signup_app(
        extra=[I18nPlugin(tmp_path / "locales")],
        settings={"locales": ["en", "fr"], "locale_from": ["header"]},
    )
    return TestClient(app, base_url=BASE)


def post_bad(client: TestClient, language: str):
    headers = {"accept-language": language, "accept": "text/html"}
    page = client.get("/signup", headers=headers).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    data = {"csrf_token": token.group(1), "name": "A", "email": "ann@", "age": "x"}
    return page, client.post("/signup", data=data, headers=headers)


def test_the_page_in_english(client):
    page, bad = post_bad(client, "en")
    assert "<title>Sign up</title>" in page
    assert 'for="id_bio">About you <span class="bf-optional">(optional)</span>' in page
    assert bad.status_code == 422
    text = unescape(bad.text)
    for message in (
        "Please correct the errors below.",
        "Enter at least 2 characters.",
        "Enter a valid email address.",
        "Enter a whole number.",
        "This field is required.",
        "Tick this box to continue.",
        "Choose an option.",
    ):
        assert message in text


def test_the_same_page_in_french(client):
    page, bad = post_bad(client, "fr-FR,fr;q=0.9")
    assert "<title>Inscription</title>" in page  # the app's catalog
    assert '<label class="bf-label" for="id_name">Nom</label>' in page
    assert "(facultatif)" in page and "Choisir…" in page  # the macros' words
    assert bad.status_code == 422
    text = unescape(bad.text)
    for message in (
        "Veuillez corriger les erreurs ci-dessous.",
        "Saisissez au moins 2 caractères.",
        "Saisissez une adresse e-mail valide.",
        "Saisissez un nombre entier.",
        "Ce champ est obligatoire.",
        "Cochez cette case pour continuer.",
        "Choisissez une option.",
    ):
        assert message in text
    assert "Enter" not in text and "This field" not in text
    assert 'name="name" value="A"' in text  # the values stay as typed


def test_the_csrf_refusal_page_follows_the_language(client):
    client.get("/signup")
    english = client.post("/signup", data={}, headers={"accept": "text/html"})
    french = client.post(
        "/signup", data={}, headers={"accept": "text/html", "accept-language": "fr"}
    )
    assert "This form could not be sent" in english.text
    assert "Ce formulaire n&#39;a pas pu être envoyé" in french.text
    assert english.status_code == french.status_code == 403
