"""The document says what each route really answers: pages and redirects by their response
class, problem+json on every error, and HTML routes left out unless asked for.

Each test sends the request too and checks the answer against what the document promised.
"""

from typing import Annotated, Any

import jinja2
import pytest
from sqlalchemy import MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bastion import (
    App,
    Form,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Request,
    Response,
    Settings,
)
from bastion.auth import JWTAuth, PasswordHasher
from bastion.auth.routes import AuthRoutes
from bastion.db.crud import CRUDRouter
from bastion.openapi import build_document
from bastion.templates import Templates
from bastion.testing import TestClient
from tests.auth.conftest import SECRET, app_with_database
from tests.db.conftest import app_with_tables, database_url  # noqa: F401  (shared fixture)

PAGES = Templates(
    env=jinja2.Environment(
        loader=jinja2.DictLoader({"form.html": "<form>{{ error }}</form>"}), autoescape=True
    )
)
Note = Annotated[str, Form(max_length=100)]


def pages_app(**options: Any) -> App:
    """Pages for browsers beside one JSON route; ``options`` go on every page route."""
    app = App(settings=Settings(profile="test"))

    @app.get("/form", **options)
    async def show_form(request: Request) -> HTMLResponse:
        return PAGES.render(request, "form.html")

    @app.post("/form", **options)
    async def submit(request: Request, note: Note) -> HTMLResponse | RedirectResponse:
        if not note.strip():
            return PAGES.render(request, "form.html", {"error": "blank"})
        return RedirectResponse("/form")

    @app.post("/preview", **options)
    async def preview(request: Request, note: Note) -> HTMLResponse:
        return PAGES.render(request, "form.html", {"error": note})

    @app.post("/moved", **{"status_code": 302, **options})
    async def moved() -> RedirectResponse:
        return RedirectResponse("/form", 302)

    @app.post("/api/notes")
    async def add_note(note: Note) -> dict[str, str]:
        return {"note": note}

    return app


def check_answer(document: dict[str, Any], method: str, path: str, response: Any) -> None:
    """The answer's status, media type and Location are among those documented."""
    operation = document["paths"][path][method.lower()]
    documented = operation["responses"].get(str(response.status_code))
    assert documented is not None, (response.status_code, sorted(operation["responses"]))
    media = response.headers.get("content-type")
    if media is None or not response.content:
        assert "content" not in documented or not response.content
    else:
        assert media in documented.get("content", {}), (media, documented)
    if "location" in response.headers:
        assert "Location" in documented["headers"]


def test_pages_and_form_posts_are_left_out_by_default():
    paths = build_document(pages_app())["paths"]
    assert list(paths) == ["/api/notes"]


def test_a_page_can_be_put_back_with_include_in_schema():
    document = build_document(pages_app(include_in_schema=True))
    assert set(document["paths"]) == {"/form", "/preview", "/moved", "/api/notes"}


def test_a_post_rendering_a_template_is_documented_as_html_200():
    document = build_document(pages_app(include_in_schema=True))
    responses = document["paths"]["/preview"]["post"]["responses"]
    assert responses["200"]["content"] == {"text/html; charset=utf-8": {"schema": {"type": "string"}}}
    assert "201" not in responses
    with TestClient(pages_app(include_in_schema=True)) as client:
        check_answer(document, "POST", "/preview", client.post("/preview", data={"note": "hi"}))


def test_a_post_that_redirects_is_documented_as_303_with_its_location():
    app = pages_app(include_in_schema=True)
    document = build_document(app)
    responses = document["paths"]["/form"]["post"]["responses"]
    assert responses["303"]["headers"]["Location"]["schema"] == {"type": "string"}
    assert "content" not in responses["303"]
    assert "text/html; charset=utf-8" in responses["200"]["content"]
    assert not {"201", "application/json"} & set(responses)
    with TestClient(app, follow_redirects=False) as client:
        check_answer(document, "POST", "/form", client.post("/form", data={"note": "hi"}))
        check_answer(document, "POST", "/form", client.post("/form", data={"note": " "}))


def test_a_redirect_route_with_its_own_status_is_documented_with_it():
    app = pages_app(include_in_schema=True)
    document = build_document(app)
    responses = document["paths"]["/moved"]["post"]["responses"]
    assert set(responses) == {"302"}
    with TestClient(app, follow_redirects=False) as client:
        check_answer(document, "POST", "/moved", client.post("/moved"))


def test_a_response_class_keeps_its_own_status_and_media_type():
    app = App(settings=Settings(profile="test"))

    @app.post("/raw")
    async def raw() -> JSONResponse:
        return JSONResponse({"any": ["json"]})

    @app.post("/accepted", status_code=202)
    async def accepted() -> Response:
        return Response(b"", 202)

    document = build_document(app)
    raw_responses = document["paths"]["/raw"]["post"]["responses"]
    assert raw_responses["200"]["content"] == {"application/json": {"schema": {}}}
    assert set(document["paths"]["/accepted"]["post"]["responses"]) == {"202"}
    with TestClient(app) as client:
        check_answer(document, "POST", "/raw", client.post("/raw"))
        check_answer(document, "POST", "/accepted", client.post("/accepted"))


def test_described_error_responses_are_problem_json():
    app = App(settings=Settings(profile="test"))

    @app.get("/gone", responses={410: "Gone for good", 302: "Moved"})
    async def gone() -> str:
        return "x"

    responses = build_document(app)["paths"]["/gone"]["get"]["responses"]
    assert responses["410"] == {
        "description": "Gone for good",
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    assert responses["302"] == {"description": "Moved"}


def test_auth_routes_document_their_401_and_429_as_problem_json(database_url):  # noqa: F811
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    routes = AuthRoutes(
        sessions=False, tokens=JWTAuth(secret=SECRET), hasher=hasher, throttle="2/minute"
    )
    app, _ = app_with_database(database_url, lambda db: [routes])
    document = build_document(app)
    for path in ("/auth/login", "/auth/password-reset"):
        responses = document["paths"][path]["post"]["responses"]
        assert "application/problem+json" in responses["429"]["content"]
    assert "application/problem+json" in document["paths"]["/auth/login"]["post"]["responses"]["401"]["content"]
    wrong = {"email": "nobody@example.com", "password": "not the password"}
    with TestClient(app) as client:
        answers = [client.post("/auth/login", json=wrong) for _ in range(3)]
    assert [a.status_code for a in answers] == [401, 401, 429]
    for answer in answers:
        check_answer(document, "POST", "/auth/login", answer)


class Base(DeclarativeBase):
    metadata = MetaData()


class Record(Base):
    __tablename__ = "records"
    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(40))


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_crud_writes_document_their_412_as_problem_json(tmp_path, method):
    app, _ = app_with_tables(f"sqlite+aiosqlite:///{tmp_path / 'crud.db'}", Base.metadata)
    app.include(CRUDRouter(Record))
    document = build_document(app)
    (item,) = [p for p in document["paths"] if p.startswith("/records/")]
    stale = document["paths"][item][method.lower()]["responses"]["412"]
    assert "application/problem+json" in stale["content"]
    with TestClient(app) as client:
        assert client.post("/records", json={"label": "a"}).status_code == 201
        body = {"label": "b"} if method != "DELETE" else None
        answer = client.request(method, "/records/1", json=body, headers={"if-match": '"old"'})
    assert answer.status_code == 412
    check_answer(document, method, item, answer)
