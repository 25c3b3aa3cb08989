"""A JSON body must say it is JSON: application/json or application/*+json, else 415."""

import msgspec
import pytest

from bastion import App, Settings
from bastion.testing import TestClient

GOOD = b'{"name": "lamp"}'


class Item(msgspec.Struct):
    name: str


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = App(settings=Settings(profile="test"))

    @app.post("/items")
    async def create(item: Item) -> Item:
        return item

    @app.patch("/items")
    async def patch(item: Item | None = None) -> dict:
        return {"given": item is not None}

    return TestClient(app)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON ;charset=UTF-8",
        "application/merge-patch+json",
        "application/vnd.api+json",
        "application/problem+json; charset=utf-8",
    ],
)
def test_json_media_types_are_accepted(client, content_type):
    response = client.post("/items", content=GOOD, headers={"content-type": content_type})
    assert response.status_code == 201, response.text


def test_httpx_json_argument_sends_the_header(client):
    assert client.post("/items", json={"name": "lamp"}).status_code == 201


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no Content-Type at all
        {"content-type": ";;;==,,/"},
        {"content-type": ""},
        {"content-type": "text/plain"},
        {"content-type": "text/json"},
        {"content-type": "text/x+json"},
        {"content-type": "application/jsonp"},
        {"content-type": "application/json, text/plain"},
        {"content-type": "application/x-www-form-urlencoded"},
    ],
)
def test_a_json_body_without_a_json_content_type_is_415(client, headers):
    response = client.post("/items", content=GOOD, headers=headers)
    assert response.status_code == 415, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["title"] == "Unsupported Media Type"
    assert "application/json" in problem["detail"]


def test_the_415_names_what_was_sent(client):
    detail = client.post("/items", content=GOOD, headers={"content-type": ";;;==,,/"}).json()[
        "detail"
    ]
    assert detail.endswith("the request has Content-Type ';;;==,,/'")
    detail = client.post("/items", content=GOOD).json()["detail"]
    assert detail.endswith("the request has no Content-Type")


def test_no_body_and_no_content_type_is_an_absent_body(client):
    assert client.patch("/items").json() == {"given": False}
    missing = client.post("/items")
    assert missing.status_code == 422
    assert missing.json()["errors"] == [
        {"field": "body", "reason": "is required", "constraint": "required", "pointer": ""}
    ]
