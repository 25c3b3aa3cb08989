import dataclasses
import enum
from typing import Annotated, TypedDict

import msgspec
import pydantic
import pytest

from bastion import App, Body, ConfigurationError, Cookie, Header, Query, Request, Settings
from bastion.testing import TestClient


def make_app() -> App:
    return App(settings=Settings(profile="test"))


class Color(enum.Enum):
    red = "red"
    blue = "blue"


def test_query_scalars_are_converted_and_defaulted():
    app = make_app()

    @app.get("/search")
    async def search(q: str, page: int = 1, exact: bool = False, ratio: float = 0.5) -> dict:
        return {"q": q, "page": page, "exact": exact, "ratio": ratio}

    client = TestClient(app)
    assert client.get("/search?q=a&page=3&exact=true&ratio=2.5").json() == {
        "q": "a",
        "page": 3,
        "exact": True,
        "ratio": 2.5,
    }
    assert client.get("/search?q=b").json() == {"q": "b", "page": 1, "exact": False, "ratio": 0.5}


def test_missing_required_query_names_the_field():
    app = make_app()
    app.get("/search")(lambda q: q)
    response = TestClient(app).get("/search")
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "query.q", "reason": "is required", "constraint": "required"}
    ]


def test_query_constraints_from_annotated():
    app = make_app()

    @app.get("/page")
    async def page(limit: Annotated[int, Query(ge=1, le=100)] = 10) -> dict:
        return {"limit": limit}

    client = TestClient(app)
    assert client.get("/page?limit=100").json() == {"limit": 100}
    for bad in ("0", "101", "abc", "1.5"):
        response = client.get(f"/page?limit={bad}")
        assert response.status_code == 422, bad
        assert response.json()["errors"][0]["field"] == "query.limit"


def test_query_list_collects_repeated_values_and_reports_the_bad_index():
    app = make_app()

    @app.get("/ids")
    async def ids(id: list[int]) -> dict:
        return {"ids": id}

    client = TestClient(app)
    assert client.get("/ids?id=1&id=2&id=3").json() == {"ids": [1, 2, 3]}
    response = client.get("/ids?id=1&id=x")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "query.id[1]"


def test_query_enum():
    app = make_app()

    @app.get("/paint")
    async def paint(color: Color) -> dict:
        return {"color": color.value}

    client = TestClient(app)
    assert client.get("/paint?color=red").json() == {"color": "red"}
    assert client.get("/paint?color=green").status_code == 422


def test_query_alias():
    app = make_app()

    @app.get("/a")
    async def a(page_size: Annotated[int, Query(alias="page-size")] = 5) -> dict:
        return {"size": page_size}

    assert TestClient(app).get("/a?page-size=7").json() == {"size": 7}


def test_all_invalid_fields_are_reported_together():
    app = make_app()

    @app.get("/multi")
    async def multi(a: int, b: int, c: str) -> dict:
        return {}

    errors = TestClient(app).get("/multi?a=x&b=y").json()["errors"]
    assert {e["field"] for e in errors} == {"query.a", "query.b", "query.c"}


def test_header_and_cookie_params():
    app = make_app()

    @app.get("/who")
    async def who(
        x_token: Annotated[str, Header()],
        session: Annotated[str | None, Cookie()] = None,
        retries: Annotated[int, Header(alias="x-retries")] = 0,
    ) -> dict:
        return {"token": x_token, "session": session, "retries": retries}

    client = TestClient(app)
    response = client.get(
        "/who", headers={"x-token": "t1", "x-retries": "2"}, cookies={"session": "s1"}
    )
    assert response.json() == {"token": "t1", "session": "s1", "retries": 2}
    missing = client.get("/who")
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "header.x-token"


class NewItem(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(min_length=1)]
    tags: list[str] = []


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Movie(TypedDict):
    title: str
    year: int


class PydanticUser(pydantic.BaseModel):
    name: str
    age: int = pydantic.Field(ge=0)


def test_struct_body():
    app = make_app()

    @app.post("/items")
    async def create(item: NewItem) -> NewItem:
        return item

    client = TestClient(app)
    response = client.post("/items", json={"name": "x", "tags": ["a"]})
    assert response.status_code == 201
    assert response.json() == {"name": "x", "tags": ["a"]}
    bad = client.post("/items", json={"name": "x", "tags": ["a", 2]})
    assert bad.status_code == 422
    assert bad.json()["errors"] == [
        {
            "field": "body.tags[1]",
            "reason": "must be a string",
            "constraint": "type",
            "expected": "string",
            "got": "integer",
            "pointer": "/tags/1",
        }
    ]


def test_missing_body_field_is_named():
    app = make_app()

    @app.post("/items")
    async def create(item: NewItem) -> NewItem:
        return item

    response = TestClient(app).post("/items", json={"tags": []})
    assert response.json()["errors"] == [
        {"field": "body.name", "reason": "is required", "constraint": "required", "pointer": "/name"}
    ]


def test_dataclass_body():
    app = make_app()

    @app.post("/points")
    async def create(point: Point) -> dict:
        return {"sum": point.x + point.y}

    assert TestClient(app).post("/points", json={"x": 1, "y": 2}).json() == {"sum": 3}


def test_typeddict_body():
    app = make_app()

    @app.post("/movies")
    async def create(movie: Movie) -> Movie:
        return movie

    client = TestClient(app)
    assert client.post("/movies", json={"title": "Up", "year": 2009}).json()["year"] == 2009
    assert client.post("/movies", json={"title": "Up"}).status_code == 422


def test_pydantic_body_and_response():
    app = make_app()

    @app.post("/users")
    async def create(user: PydanticUser) -> PydanticUser:
        return user

    client = TestClient(app)
    assert client.post("/users", json={"name": "ada", "age": 36}).json() == {
        "name": "ada",
        "age": 36,
    }
    bad = client.post("/users", json={"name": "ada", "age": -1})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "body.age"
    malformed = client.post(
        "/users", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400


def test_explicit_body_for_a_list():
    app = make_app()

    @app.post("/sum")
    async def total(numbers: Annotated[list[int], Body()]) -> dict:
        return {"total": sum(numbers)}

    assert TestClient(app).post("/sum", json=[1, 2, 3]).json() == {"total": 6}


def test_optional_body_may_be_absent():
    app = make_app()

    @app.post("/maybe")
    async def maybe(item: NewItem | None = None) -> dict:
        return {"given": item is not None}

    client = TestClient(app)
    assert client.post("/maybe").json() == {"given": False}
    assert client.post("/maybe", json={"name": "x"}).json() == {"given": True}


def test_request_is_injected_by_annotation():
    app = make_app()

    @app.get("/raw")
    async def raw(request: Request) -> dict:
        return {"path": request.path, "q": request.query_params.get("q")}

    assert TestClient(app).get("/raw?q=1").json() == {"path": "/raw", "q": "1"}


def test_unknown_parameter_type_fails_at_startup_naming_route_and_parameter():
    class Unknown:
        pass

    app = make_app()

    @app.get("/x")
    async def x(thing: Unknown) -> str:
        return ""

    with pytest.raises(
        ConfigurationError, match=r"route GET /x parameter `thing`: nothing provides Unknown"
    ):
        TestClient(app).get("/x")


def test_return_types_are_encoded_by_type():
    app = make_app()
    app.get("/text")(lambda: "plain")
    app.get("/list")(lambda: [1, 2])
    app.get("/struct")(lambda: NewItem(name="n"))
    app.get("/none")(lambda: None)
    client = TestClient(app)
    assert client.get("/text").headers["content-type"] == "text/plain; charset=utf-8"
    assert client.get("/list").json() == [1, 2]
    assert client.get("/struct").json() == {"name": "n", "tags": []}
    assert client.get("/none").status_code == 204


def test_declared_status_and_headers():
    app = make_app()

    @app.put("/thing", status_code=202, headers={"x-kind": "thing"})
    async def thing() -> dict:
        return {"ok": True}

    response = TestClient(app).put("/thing")
    assert response.status_code == 202
    assert response.headers["x-kind"] == "thing"


def test_response_model_shapes_other_objects():
    class Public(msgspec.Struct):
        name: str

    class Row:
        def __init__(self) -> None:
            self.name = "ada"
            self.password_hash = "secret"

    app = make_app()

    @app.get("/me", response_model=Public)
    async def me() -> object:
        return Row()

    assert TestClient(app).get("/me").json() == {"name": "ada"}
