"""Optional parameters with constraints: validated when sent, allowed when absent, documented."""

import enum
from typing import Annotated, Any, Literal

import pytest
from openapi_spec_validator import validate

from bastion import App, Body, ConfigurationError, Cookie, Form, Header, Path, Query, Settings
from bastion.openapi import build_document
from bastion.testing import TestClient

MARKERS = {"query": Query, "header": Header, "cookie": Cookie}


def make_app() -> App:
    return App(settings=Settings(profile="test"))


def send(client: TestClient, location: str, value: str | None) -> Any:
    """GET /v with the parameter `v` sent in ``location`` (or not at all)."""
    if value is None:
        return client.get("/v")
    if location == "query":
        return client.get("/v", params={"v": value})
    if location == "header":
        return client.get("/v", headers={"v": value})
    return client.get("/v", headers={"cookie": f"v={value}"})


def app_with(annotation: Any) -> App:
    app = make_app()

    async def handler(v: Any = None) -> dict:
        return {"v": v}

    handler.__annotations__["v"] = annotation
    app.get("/v")(handler)
    return app


CASES = [
    # (python type, constraint, valid, invalid, converted valid, JSON Schema keyword)
    (str, {"max_length": 5}, "abc", "abcdef", "abc", {"type": "string", "maxLength": 5}),
    (int, {"ge": 1}, "3", "0", 3, {"type": "integer", "minimum": 1}),
]


@pytest.mark.parametrize("location", MARKERS)
@pytest.mark.parametrize(("tp", "constraint", "valid", "invalid", "value", "schema"), CASES)
def test_optional_constrained_parameter_is_validated_when_sent(
    location, tp, constraint, valid, invalid, value, schema
):
    marker = MARKERS[location](**constraint)
    client = TestClient(app_with(Annotated[tp | None, marker]))

    bad = send(client, location, invalid)
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in bad.json()["errors"]] == [f"{location}.v"]

    good = send(client, location, valid)
    assert good.status_code == 200
    assert good.json() == {"v": value}

    absent = send(client, location, None)
    assert absent.status_code == 200
    assert absent.json() == {"v": None}


@pytest.mark.parametrize("location", MARKERS)
@pytest.mark.parametrize(("tp", "constraint", "valid", "invalid", "value", "schema"), CASES)
def test_optional_constrained_parameter_documents_its_constraints(
    location, tp, constraint, valid, invalid, value, schema
):
    marker = MARKERS[location](**constraint)
    document = build_document(app_with(Annotated[tp | None, marker]))
    validate(document)
    (parameter,) = document["paths"]["/v"]["get"]["parameters"]
    assert parameter["in"] == location
    assert parameter["required"] is False
    assert parameter["schema"] == schema


def test_a_marker_inside_the_optional_is_enforced_too():
    client = TestClient(app_with(Annotated[int, Query(ge=1)] | None))
    assert client.get("/v?v=0").status_code == 422
    assert client.get("/v?v=1").json() == {"v": 1}
    assert client.get("/v").json() == {"v": None}


def test_a_sent_optional_value_must_be_of_the_type_none_is_said_by_absence():
    client = TestClient(app_with(int | None))
    response = client.get("/v?v=null")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "query.v"


def test_optional_list_bounds_the_count_and_each_value():
    app = make_app()

    @app.get("/ids")
    async def ids(id: Annotated[list[int] | None, Query(ge=1, max_length=2)] = None) -> dict:
        return {"ids": id}

    client = TestClient(app)
    assert client.get("/ids?id=1&id=2").json() == {"ids": [1, 2]}
    assert client.get("/ids").json() == {"ids": None}
    too_many = client.get("/ids?id=1&id=2&id=3")
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["field"] == "query.id"
    too_small = client.get("/ids?id=1&id=0")
    assert too_small.status_code == 422
    assert too_small.json()["errors"][0]["field"] == "query.id[1]"

    (parameter,) = build_document(app)["paths"]["/ids"]["get"]["parameters"]
    assert parameter["schema"] == {
        "type": "array",
        "items": {"type": "integer", "minimum": 1},
        "maxItems": 2,
    }


def test_optional_header_list_checks_each_value():
    app = make_app()

    @app.get("/h")
    async def h(x_n: Annotated[list[int] | None, Header(le=9)] = None) -> dict:
        return {"n": x_n}

    client = TestClient(app)
    assert client.get("/h", headers=[("x-n", "1"), ("x-n", "9")]).json() == {"n": [1, 9]}
    bad = client.get("/h", headers=[("x-n", "1"), ("x-n", "10")])
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "header.x-n[1]"


@pytest.mark.parametrize(
    ("annotation", "phrase"),
    [
        (Annotated[int | None, Query(max_length=3)], "Query(max_length=3) cannot apply to int"),
        (Annotated[str, Header(ge=1)], "Header(ge=1) cannot apply to str"),
        (Annotated[int | str | None, Query(lt=5)], "Query(lt=5) cannot apply to int | str"),
    ],
)
def test_a_constraint_the_type_cannot_take_fails_at_startup(annotation, phrase):
    with pytest.raises(ConfigurationError, match="parameter `v`") as info:
        TestClient(app_with(annotation)).get("/v")
    assert phrase in str(info.value)


class Color(enum.Enum):
    red = "red"
    blue = "blue"


SCHEMAS = [
    (int, {"gt": 1}, {"type": "integer", "exclusiveMinimum": 1}),
    (int, {"ge": 1}, {"type": "integer", "minimum": 1}),
    (int, {"lt": 9}, {"type": "integer", "exclusiveMaximum": 9}),
    (int, {"le": 9}, {"type": "integer", "maximum": 9}),
    (int, {"multiple_of": 3}, {"type": "integer", "multipleOf": 3}),
    (float, {"ge": 0.5}, {"type": "number", "minimum": 0.5}),
    (str, {"min_length": 2}, {"type": "string", "minLength": 2}),
    (str, {"max_length": 5}, {"type": "string", "maxLength": 5}),
    (str, {"pattern": "^[a-z]+$"}, {"type": "string", "pattern": "^[a-z]+$"}),
    (Literal["a", "b"], {}, {"enum": ["a", "b"]}),
]


# A path parameter is always sent, so it has no optional form.
WHERE = [("path", False)] + [(where, optional) for where in MARKERS for optional in (False, True)]


@pytest.mark.parametrize(("location", "optional"), WHERE)
@pytest.mark.parametrize(("tp", "constraint", "schema"), SCHEMAS)
def test_every_enforced_constraint_is_in_the_schema(tp, constraint, schema, location, optional):
    app = make_app()
    marker = (MARKERS | {"path": Path})[location](**constraint)
    annotation = Annotated[tp | None if optional else tp, marker]

    async def handler(v: Any = None) -> dict:
        return {}

    if not optional:
        handler.__defaults__ = None
    handler.__annotations__["v"] = annotation
    app.get("/p/{v}" if location == "path" else "/p")(handler)

    document = build_document(app)
    validate(document)
    (parameter,) = next(iter(document["paths"].values()))["get"]["parameters"]
    assert parameter["required"] is not optional
    assert parameter["schema"] == schema


@pytest.mark.parametrize("optional", [False, True], ids=["required", "optional"])
def test_enum_parameter_lists_its_values(optional):
    document = build_document(app_with(Color | None if optional else Color))
    (parameter,) = document["paths"]["/v"]["get"]["parameters"]
    ref = parameter["schema"]["$ref"].rpartition("/")[2]
    assert sorted(document["components"]["schemas"][ref]["enum"]) == ["blue", "red"]


def test_optional_form_field_and_body_take_their_constraints_too():
    app = make_app()

    @app.post("/note")
    async def note(text: Annotated[str | None, Form(max_length=3)] = None) -> dict:
        return {"text": text}

    @app.post("/ids")
    async def ids(body: Annotated[list[int] | None, Body(ge=1, max_length=2)] = None) -> dict:
        return {"ids": body}

    client = TestClient(app)
    assert client.post("/note", data={"text": "abc"}).json() == {"text": "abc"}
    long = client.post("/note", data={"text": "abcd"})
    assert long.status_code == 422
    assert [e["field"] for e in long.json()["errors"]] == ["form.text"]

    json = {"content-type": "application/json"}
    assert client.post("/ids", content=b"[1, 2]", headers=json).json() == {"ids": [1, 2]}
    assert client.post("/ids", content=b"null", headers=json).json() == {"ids": None}
    for bad in (b"[1, 0]", b"[1, 2, 3]"):
        response = client.post("/ids", content=bad, headers=json)
        assert response.status_code == 422, bad
        assert response.json()["errors"][0]["field"].startswith("body")
