"""Content negotiation: answers in JSON or MessagePack by Accept (q-values honoured, 406 when
nothing fits), bodies read by Content-Type, OpenAPI listing the media types; JSON-only apps
keep their direct JSON path."""

from __future__ import annotations

import msgspec
import pytest
from openapi_spec_validator import validate

from bastion import App, ConfigurationError, Settings
from bastion.http.negotiation import JSON_ENCODER, MSGPACK_ENCODER, Encoder
from bastion.testing import TestClient

MSGPACK = "application/msgpack"


class Item(msgspec.Struct):
    name: str
    price: float


def make_app(encoders=(JSON_ENCODER, MSGPACK_ENCODER)) -> App[object]:
    app = App(settings=Settings(profile="test"), encoders=list(encoders))

    @app.get("/items/{item_id:int}", headers={"x-kind": "item"})
    async def show(item_id: int) -> Item:
        return Item(f"item {item_id}", 9.5)

    @app.post("/items")
    async def create(item: Item) -> Item:
        return Item(item.name.upper(), item.price * 2)

    @app.get("/hello")
    async def hello() -> str:
        return "hi"

    return app


@pytest.fixture
def client() -> TestClient:
    return TestClient(make_app())


def test_json_by_default_and_when_asked(client):
    for headers in ({}, {"accept": "*/*"}, {"accept": "application/json"}):
        response = client.get("/items/3", headers=headers)
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"name": "item 3", "price": 9.5}
        assert response.headers["vary"] == "accept"
        assert response.headers["x-kind"] == "item"  # the route's own headers survive


def test_msgpack_when_asked(client):
    for accept in (MSGPACK, "application/x-msgpack", "application/*;q=0.1, application/msgpack"):
        response = client.get("/items/3", headers={"accept": accept})
        assert response.status_code == 200
        assert response.headers["content-type"] == MSGPACK
        assert msgspec.msgpack.decode(response.content) == {"name": "item 3", "price": 9.5}


def test_q_values_choose_between_encoders(client):
    prefers_json = f"{MSGPACK};q=0.5, application/json;q=0.9"
    assert (
        client.get("/items/1", headers={"accept": prefers_json}).headers["content-type"]
        == "application/json"
    )
    prefers_msgpack = f"application/json;q=0.2, {MSGPACK}"
    assert (
        client.get("/items/1", headers={"accept": prefers_msgpack}).headers["content-type"]
        == MSGPACK
    )
    # q=0 refuses a type even when a wildcard would take it.
    refuses_json = "application/json;q=0, */*;q=0.1"
    assert (
        client.get("/items/1", headers={"accept": refuses_json}).headers["content-type"] == MSGPACK
    )
    # Equal q: the more specific range wins over the app's order.
    assert (
        client.get("/items/1", headers={"accept": f"*/*, {MSGPACK}"}).headers["content-type"]
        == MSGPACK
    )


def test_406_problem_when_nothing_fits(client):
    calls = []
    app = make_app()

    @app.delete("/items/{item_id:int}")
    async def remove(item_id: int) -> dict[str, int]:
        calls.append(item_id)
        return {"removed": item_id}

    for accept in ("text/html", "application/xml, text/csv;q=0.5", "application/json;q=0"):
        response = TestClient(app).delete("/items/4", headers={"accept": accept})
        assert response.status_code == 406
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["available"] == ["application/json", MSGPACK]
        assert "application/msgpack" in problem["detail"]
    assert calls == []  # refused before the handler ran


def test_request_bodies_by_content_type(client):
    as_json = client.post("/items", json={"name": "pen", "price": 1.5})
    assert as_json.status_code == 201 and as_json.json() == {"name": "PEN", "price": 3.0}
    packed = msgspec.msgpack.encode({"name": "pen", "price": 1.5})
    response = client.post(
        "/items", content=packed, headers={"content-type": MSGPACK, "accept": MSGPACK}
    )
    assert response.status_code == 201
    assert msgspec.msgpack.decode(response.content) == {"name": "PEN", "price": 3.0}
    # MessagePack in, JSON out.
    mixed = client.post("/items", content=packed, headers={"content-type": MSGPACK})
    assert mixed.json() == {"name": "PEN", "price": 3.0}


def test_bad_msgpack_bodies_are_4xx_problems(client):
    wrong = msgspec.msgpack.encode({"name": "pen", "price": "free"})
    response = client.post("/items", content=wrong, headers={"content-type": MSGPACK})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.price"
    garbage = client.post("/items", content=b"\xc1\xff", headers={"content-type": MSGPACK})
    assert garbage.status_code == 400
    assert "not valid MessagePack" in garbage.json()["detail"]
    other = client.post("/items", content=b"<x/>", headers={"content-type": "application/xml"})
    assert other.status_code == 415
    assert "application/msgpack" in other.json()["detail"]


def test_text_and_errors_are_not_negotiated(client):
    assert client.get("/hello", headers={"accept": MSGPACK}).text == "hi"
    missing = client.get("/items/x", headers={"accept": MSGPACK})
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


def test_openapi_lists_the_media_types(client):
    document = client.get("/openapi.json").json()
    validate(document)
    create = document["paths"]["/items"]["post"]
    assert set(create["requestBody"]["content"]) == {"application/json", MSGPACK}
    assert set(create["responses"]["201"]["content"]) == {"application/json", MSGPACK}
    assert create["responses"]["406"]["content"]["application/problem+json"]
    show = document["paths"]["/items/{item_id}"]["get"]
    assert (
        show["responses"]["200"]["content"][MSGPACK]
        == show["responses"]["200"]["content"]["application/json"]
    )


def test_a_registered_encoder_of_ones_own():
    csvish = Encoder(
        "text/x-kv",
        lambda value: "\n".join(f"{k}={v}" for k, v in msgspec.to_builtins(value).items()).encode(),
        lambda target: (
            lambda body: msgspec.convert(
                dict(line.split("=", 1) for line in body.decode().splitlines()),
                target,
                strict=False,
            )
        ),
    )
    client = TestClient(make_app((JSON_ENCODER, csvish)))
    assert client.get("/items/2", headers={"accept": "text/x-kv"}).text == "name=item 2\nprice=9.5"
    made = client.post(
        "/items", content=b"name=ink\nprice=2", headers={"content-type": "text/x-kv"}
    )
    assert made.json() == {"name": "INK", "price": 4.0}


def test_json_only_apps_compile_no_negotiation():
    for app in (make_app(()), make_app((JSON_ENCODER,))):
        client = TestClient(app)
        assert app.negotiation is None
        response = client.get("/items/1", headers={"accept": MSGPACK})
        assert response.headers["content-type"] == "application/json"  # as before: no 406
        assert "vary" not in response.headers
        assert all(c.endpoint.__name__ == "endpoint" for c in app.compiled)
    negotiated = make_app()
    TestClient(negotiated).get("/hello")
    assert {c.endpoint.__name__ for c in negotiated.compiled} == {"negotiated"}


def test_misconfigured_encoders_fail_at_start_up():
    with pytest.raises(ConfigurationError, match="item 1"):
        TestClient(make_app((JSON_ENCODER, "msgpack"))).get("/hello")
    with pytest.raises(ConfigurationError, match="twice"):
        TestClient(make_app((JSON_ENCODER, MSGPACK_ENCODER, MSGPACK_ENCODER))).get("/hello")
