"""A body that fails validation reports every invalid field at once, each as a sentence with
the rule it broke beside it (JSON Schema keyword, its value, a JSON pointer)."""

import dataclasses
import enum
from typing import Annotated, Literal, NotRequired, TypedDict

import msgspec
import pydantic
import pytest

from bastion import App, Depends, Header, Query, Settings
from bastion.testing import TestClient

Meta = msgspec.Meta
EMAIL = r"^[^@\s]+@[^@\s]+$"


class Status(enum.Enum):
    draft = "draft"
    published = "published"


class Tag(msgspec.Struct):
    name: Annotated[str, Meta(min_length=1)]


class Post(msgspec.Struct):
    title: Annotated[str, Meta(min_length=1, max_length=100)]
    status: Literal["draft", "published"]
    author: Annotated[str, Meta(pattern=EMAIL)] = "ada@example.com"
    stars: Annotated[int, Meta(ge=1, le=5)] = 1
    tags: Annotated[list[Tag], Meta(max_length=2)] = []
    scores: dict[str, int] = {}
    parent: "Post | None" = None


class Strict(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    user_name: str


class Range(msgspec.Struct):
    low: int
    high: int

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError("low must not exceed high")


@dataclasses.dataclass
class Point:
    x: int
    y: Annotated[int, Meta(ge=0)]


class Movie(TypedDict):
    title: str
    year: NotRequired[Annotated[int, Meta(ge=1888)]]
    kind: NotRequired[Status]


class Review(pydantic.BaseModel):
    title: str = pydantic.Field(min_length=1)
    status: Literal["draft", "published"]
    stars: int = pydantic.Field(ge=1, le=5)


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = App(settings=Settings(profile="test"))

    @app.post("/posts")
    async def create_post(post: Post) -> Post:
        return post

    @app.post("/strict")
    async def strict(body: Strict) -> Strict:
        return body

    @app.post("/ranges")
    async def ranges(body: Range) -> Range:
        return body

    @app.post("/points")
    async def points(point: Point) -> dict:
        return {"sum": point.x + point.y}

    @app.post("/movies")
    async def movies(movie: Movie) -> Movie:
        return movie

    @app.post("/reviews")
    async def reviews(review: Review) -> Review:
        return review

    @app.post("/posts/{slug}")
    async def edit_post(slug: str, post: Post, notify: Annotated[int, Query(ge=0)] = 0) -> dict:
        return {}

    return TestClient(app)


def errors(response) -> list[dict]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()["errors"]


def test_every_invalid_field_of_a_struct_is_reported(client):
    found = errors(client.post("/posts", json={"title": "", "status": "nope"}))
    assert found == [
        {
            "field": "body.title",
            "reason": "must be at least 1 character long",
            "constraint": "minLength",
            "expected": 1,
            "pointer": "/title",
        },
        {
            "field": "body.status",
            "reason": "must be one of 'draft', 'published'",
            "constraint": "enum",
            "expected": ["draft", "published"],
            "pointer": "/status",
        },
    ]


def test_the_problem_detail_counts_the_other_errors(client):
    problem = client.post("/posts", json={"title": "", "status": "nope"}).json()
    assert problem["detail"] == "body.title: must be at least 1 character long (and 1 more)"


def test_nested_structs_lists_and_dicts_are_walked(client):
    body = {
        "title": "x" * 101,
        "status": "draft",
        "author": "not an address",
        "stars": 9,
        "tags": [{"name": ""}, {}, {"name": 3}],
        "scores": {"ada": "high"},
        "parent": {"title": 1},
    }
    found = {e["field"]: e["reason"] for e in errors(client.post("/posts", json=body))}
    assert found == {
        "body.title": "must be at most 100 characters long",
        "body.author": "must be a valid e-mail address",
        "body.stars": "must be at most 5",
        "body.tags": "must have at most 2 items",
        "body.tags[0].name": "must be at least 1 character long",
        "body.tags[1].name": "is required",
        "body.tags[2].name": "must be a string",
        "body.scores.ada": "must be an integer",
        "body.parent.title": "must be a string",
        "body.parent.status": "is required",
    }


def test_each_entry_keeps_the_rule_for_programs(client):
    body = {"title": "ok", "status": "draft", "author": "nope", "stars": 0, "tags": [{"name": 3}]}
    found = {e["field"]: e for e in errors(client.post("/posts", json=body))}
    assert found["body.author"]["constraint"] == "pattern"
    assert found["body.author"]["expected"] == EMAIL
    assert found["body.stars"] == {
        "field": "body.stars",
        "reason": "must be at least 1",
        "constraint": "minimum",
        "expected": 1,
        "pointer": "/stars",
    }
    assert found["body.tags[0].name"]["pointer"] == "/tags/0/name"
    assert found["body.tags[0].name"]["got"] == "integer"
    assert found["body.tags[0].name"]["expected"] == "string"


def test_a_wrong_type_for_the_whole_body_is_one_error(client):
    assert errors(client.post("/posts", json=[1, 2])) == [
        {
            "field": "body",
            "reason": "must be an object",
            "constraint": "type",
            "expected": "object",
            "got": "array",
            "pointer": "",
        }
    ]


def test_unknown_fields_of_a_closed_struct_are_each_named(client):
    found = errors(client.post("/strict", json={"userName": 1, "a": 1, "b": 2}))
    assert [(e["field"], e["reason"]) for e in found] == [
        ("body.userName", "must be a string"),
        ("body.a", "is not a known field"),
        ("body.b", "is not a known field"),
    ]


def test_a_post_init_check_keeps_its_own_words(client):
    assert errors(client.post("/ranges", json={"low": 2, "high": 1})) == [
        {"field": "body", "reason": "low must not exceed high", "pointer": ""}
    ]
    found = errors(client.post("/ranges", json={"low": "a", "high": "b"}))
    assert [e["field"] for e in found] == ["body.low", "body.high"]


def test_dataclass_bodies_report_every_field(client):
    found = errors(client.post("/points", json={"x": "a", "y": -1}))
    assert [(e["field"], e["reason"]) for e in found] == [
        ("body.x", "must be an integer"),
        ("body.y", "must be at least 0"),
    ]


def test_typeddict_bodies_report_every_field(client):
    found = errors(client.post("/movies", json={"year": 1500, "kind": "musical"}))
    assert [(e["field"], e["reason"]) for e in found] == [
        ("body.title", "is required"),
        ("body.year", "must be at least 1888"),
        ("body.kind", "must be one of 'draft', 'published'"),
    ]


def test_pydantic_bodies_report_every_field_in_the_same_words(client):
    found = errors(client.post("/reviews", json={"title": "", "status": "nope", "stars": 0}))
    assert found == [
        {
            "field": "body.title",
            "reason": "must be at least 1 character long",
            "constraint": "minLength",
            "expected": 1,
            "pointer": "/title",
        },
        {
            "field": "body.status",
            "reason": "must be one of 'draft', 'published'",
            "constraint": "enum",
            "expected": ["draft", "published"],
            "pointer": "/status",
        },
        {
            "field": "body.stars",
            "reason": "must be at least 1",
            "constraint": "minimum",
            "expected": 1,
            "pointer": "/stars",
        },
    ]
    missing = errors(client.post("/reviews", json={"stars": "many"}))
    assert [(e["field"], e["reason"]) for e in missing] == [
        ("body.title", "is required"),
        ("body.status", "is required"),
        ("body.stars", "must be an integer"),
    ]


def test_invalid_json_after_an_invalid_field_is_400_not_422(client):
    response = client.post(
        "/posts", content=b'{"title": "", "status": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["detail"]


def test_a_valid_body_still_decodes(client):
    body = {
        "title": "t",
        "status": "published",
        "tags": [{"name": "a"}],
        "parent": {"title": "p", "status": "draft"},
    }
    response = client.post("/posts", json=body)
    assert response.status_code == 201
    assert response.json()["parent"]["title"] == "p"


def test_query_and_body_errors_are_reported_together(client):
    found = errors(client.post("/posts/hello?notify=-1", json={"status": "draft"}))
    assert [(e["field"], e["reason"]) for e in found] == [
        ("query.notify", "must be at least 0"),
        ("body.title", "is required"),
    ]


def test_a_huge_invalid_body_reports_at_most_a_hundred_errors():
    app = App(settings=Settings(profile="test"))

    @app.post("/tags")
    async def tags(tags: list[Tag]) -> int:
        return len(tags)

    response = TestClient(app).post("/tags", json=[{"name": ""}] * 5000)
    assert len(errors(response)) == 100


def test_a_deep_recursive_body_is_walked_to_a_bounded_depth():
    app = App(settings=Settings(profile="test"))

    @app.post("/posts")
    async def create(post: Post) -> dict:
        return {}

    body: dict = {"title": 1, "status": "draft"}
    for _ in range(200):
        body = {"title": "t", "status": "draft", "parent": body}
    found = errors(TestClient(app).post("/posts", json=body))
    assert len(found) == 1
    assert found[0]["field"].startswith("body" + ".parent" * 32)


def test_dependencies_do_not_run_for_a_refused_request():
    app = App(settings=Settings(profile="test"))
    calls = []

    async def audit() -> None:
        calls.append("audit")

    @app.post("/posts")
    async def create(
        limit: Annotated[int, Query(ge=1)], post: Post, _: Annotated[None, Depends(audit)]
    ) -> dict:
        return {}

    response = TestClient(app).post("/posts?limit=0", json={"title": "", "status": "draft"})
    assert [e["field"] for e in errors(response)] == ["query.limit", "body.title"]
    assert calls == []


class Kind(enum.Enum):
    book = "book"
    film = "film"


@pytest.mark.parametrize(
    ("url", "headers", "field", "reason"),
    [
        ("/s?limit=0", {}, "query.limit", "must be at least 1"),
        ("/s?limit=101", {}, "query.limit", "must be at most 100"),
        ("/s?limit=ten", {}, "query.limit", "must be an integer"),
        ("/s?kind=game", {}, "query.kind", "must be one of 'book', 'film'"),
        ("/s?kinds=book&kinds=game", {}, "query.kinds[1]", "must be one of 'book', 'film'"),
        ("/s?q=" + "x" * 6, {}, "query.q", "must be at most 5 characters long"),
        ("/s?email=nope", {}, "query.email", "must be a valid e-mail address"),
        ("/s?exact=maybe", {}, "query.exact", "must be true or false"),
        ("/s", {"x-retries": "many"}, "header.x-retries", "must be an integer"),
        ("/s?need=", {}, "query.need", "must be at least 1 character long"),
    ],
)
def test_parameter_errors_read_as_sentences(url, headers, field, reason):
    app = App(settings=Settings(profile="test"))

    @app.get("/s")
    async def search(
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
        kind: Kind | None = None,
        kinds: list[Kind] | None = None,
        q: Annotated[str, Query(max_length=5)] = "",
        email: Annotated[str, Query(pattern=EMAIL)] = "a@b.c",
        exact: bool = False,
        x_retries: Annotated[int, Header()] = 0,
        need: Annotated[str, Query(min_length=1)] = "x",
    ) -> dict:
        return {}

    found = errors(TestClient(app).get(url, headers=headers))
    assert [(e["field"], e["reason"]) for e in found] == [(field, reason)]
    assert "pointer" not in found[0]  # pointers point into a JSON body


def test_a_missing_parameter_is_required():
    app = App(settings=Settings(profile="test"))

    @app.get("/s")
    async def search(q: str) -> str:
        return q

    assert errors(TestClient(app).get("/s")) == [
        {"field": "query.q", "reason": "is required", "constraint": "required"}
    ]
