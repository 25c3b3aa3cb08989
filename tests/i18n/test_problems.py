"""Validation messages and problem+json titles in the request's language."""

from __future__ import annotations

from typing import Annotated

import msgspec

from bastion import App, Body, Forbidden, Query, Settings
from bastion.testing import TestClient
from tests.i18n._apps import app_with


class Article(msgspec.Struct):
    title: Annotated[str, msgspec.Meta(min_length=3)]
    tags: Annotated[list[str], msgspec.Meta(max_length=2)]
    rating: Annotated[int, msgspec.Meta(le=5)] = 1


def article_app(app: App) -> App:
    @app.post("/articles")
    async def create(article: Annotated[Article, Body()]) -> dict[str, str]:
        return {"title": article.title}

    return app


BAD = {"title": "ab", "tags": ["a", "b", "c"], "rating": 9}


def test_a_422_is_in_french():
    with TestClient(app_with()) as client:
        problem = client.get("/items?limit=0", headers={"accept-language": "fr"}).json()
    assert problem["title"] == "Entité non traitable"
    assert problem["detail"] == "query.limit: doit être au moins 1 (et 1 autre)"
    assert [e["reason"] for e in problem["errors"]] == ["doit être au moins 1", "est obligatoire"]
    assert problem["errors"][0]["constraint"] == "minimum"  # programs read the same keys


def test_a_422_is_in_german():
    with TestClient(app_with()) as client:
        problem = client.get("/de/items?limit=x").json()
    assert problem["title"] == "Nicht verarbeitbare Entität"
    assert [e["reason"] for e in problem["errors"]] == [
        "muss eine ganze Zahl sein",
        "ist erforderlich",
    ]


def test_body_errors_are_translated_with_plural_forms():
    with TestClient(article_app(app_with())) as client:
        fr = client.post("/fr/articles", json=BAD).json()
        de = client.post("/de/articles", json=BAD).json()
    assert [e["reason"] for e in fr["errors"]] == [
        "doit contenir au moins 3 caractères",
        "doit contenir au plus 2 éléments",
        "doit être au plus 5",
    ]
    assert [e["reason"] for e in de["errors"]] == [
        "muss mindestens 3 Zeichen lang sein",
        "darf höchstens 2 Elemente enthalten",
        "darf höchstens 5 sein",
    ]
    assert de["detail"] == "body.title: muss mindestens 3 Zeichen lang sein (und 2 weitere)"


def test_english_problems_are_byte_for_byte_those_of_an_app_without_i18n():
    plain = App(settings=Settings(profile="test"))

    @plain.get("/items")
    async def items(limit: Annotated[int, Query(ge=1)], name: str) -> dict[str, str]:
        return {}

    article_app(plain)
    with TestClient(plain) as a, TestClient(article_app(app_with())) as b:
        for method, path, body in [
            ("GET", "/items?limit=0", None),
            ("GET", "/items?limit=abc&name=", None),
            ("POST", "/articles", BAD),
            ("POST", "/articles", {"title": 3}),
            ("POST", "/nowhere", None),
        ]:
            expected = a.request(method, path, json=body)
            got = b.request(method, path, json=body, headers={"accept-language": "en"})
            assert got.status_code == expected.status_code
            assert got.content == expected.content


def test_titles_of_other_errors_are_translated():
    app = app_with()

    @app.get("/secret")
    async def secret() -> None:
        raise Forbidden()

    with TestClient(app) as client:
        denied = client.get("/secret", headers={"accept-language": "de"}).json()
        missing = client.get("/fr/nowhere").json()
    assert denied["title"] == denied["detail"] == "Verboten"
    assert missing["title"] == "Introuvable"


def test_errors_raised_by_middleware_are_in_the_requests_language():
    app = app_with()

    async def refuse(request, call_next):
        raise Forbidden()

    app.add_middleware(refuse)
    with TestClient(app) as client:
        assert client.get("/locale", headers={"accept-language": "fr"}).json()["title"] == (
            "Interdit"
        )
