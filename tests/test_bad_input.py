"""Hostile and malformed requests: each gets its precise 4xx and a problem+json body.

Every case names what it sends, the status it must get, and the field (or detail text) the
problem document must name. None may produce a 5xx, a traceback or a hang.
"""

import datetime
import enum
import uuid
from pathlib import Path
from typing import Annotated

import msgspec
import pytest

from bastion import App, Cookie, File, Form, Header, Query, Request, Settings
from bastion.http.files import FileResponse
from bastion.http.static import StaticFiles
from bastion.http.uploads import UploadFile
from bastion.middleware import CORS, TrustedHost
from bastion.testing import TestClient


class Kind(enum.Enum):
    book = "book"
    film = "film"


class Item(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=20)]
    price: Annotated[float, msgspec.Meta(gt=0, lt=1e6)]
    tags: list[str] = []
    kind: Kind = Kind.book


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> TestClient:
    root: Path = tmp_path_factory.mktemp("site")
    (root / "public").mkdir()
    (root / "public" / "a.txt").write_text("public")
    (root / "secret.txt").write_text("secret")
    (root / "file.bin").write_bytes(b"0123456789")
    app = App(
        settings=Settings(profile="test", max_body_size=4096),
        middleware=[TrustedHost(["testserver", "*.example.com"]), CORS(allow_origins=["https://ok.example.com"])],
    )
    app.mount("/static", StaticFiles(root / "public"))

    @app.post("/items")
    async def create(item: Item) -> Item:
        return item

    @app.get("/search")
    async def search(
        q: Annotated[str, Query(max_length=50)],
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
        kind: Kind | None = None,
        ids: list[int] | None = None,
        exact: bool = False,
        ratio: float = 1.0,
        ref: uuid.UUID | None = None,
        day: datetime.date | None = None,
    ) -> dict:
        return {"q": q}

    @app.get("/users/{user_id:int}")
    async def user(user_id: int) -> dict:
        return {"id": user_id}

    @app.get("/orders/{order_id}")
    async def order(order_id: uuid.UUID) -> dict:
        return {"id": str(order_id)}

    @app.get("/secure")
    async def secure(
        x_token: Annotated[str, Header()],
        x_retries: Annotated[int, Header()] = 0,
        visits: Annotated[int, Cookie()] = 0,
    ) -> dict:
        return {}

    @app.post("/login")
    async def login(username: Annotated[str, Form(min_length=1)], age: Annotated[int, Form()]) -> dict:
        return {}

    @app.post("/upload")
    async def upload(file: Annotated[UploadFile, File()]) -> dict:
        return {"size": file.size}

    @app.post("/raw-json")
    async def raw_json(request: Request) -> dict:
        return {"type": type(await request.json()).__name__}

    @app.get("/file")
    async def file() -> FileResponse:
        return FileResponse(root / "file.bin")

    return TestClient(app)


JSON = {"content-type": "application/json"}
MULTI = "multipart/form-data; boundary=B"
GOOD = b'{"name": "widget", "price": 9.5}'

CASES = [
    # -- JSON bodies ------------------------------------------------------------------------------
    ("malformed-json", "POST", "/items", {"content": b'{"name": ', "headers": JSON}, 400, "not valid JSON"),
    ("json-array-not-object", "POST", "/items", {"content": b"[]", "headers": JSON}, 422, "body"),
    ("json-scalar", "POST", "/items", {"content": b"42", "headers": JSON}, 422, "body"),
    ("json-null", "POST", "/items", {"content": b"null", "headers": JSON}, 422, "body"),
    ("wrong-field-type", "POST", "/items", {"json": {"name": 5, "price": 1}}, 422, "body.name"),
    ("missing-field", "POST", "/items", {"json": {"price": 1}}, 422, "body.name"),
    ("null-required-field", "POST", "/items", {"json": {"name": None, "price": 1}}, 422, "body.name"),
    ("empty-string", "POST", "/items", {"json": {"name": "", "price": 1}}, 422, "body.name"),
    ("string-too-long", "POST", "/items", {"json": {"name": "x" * 21, "price": 1}}, 422, "body.name"),
    ("zero-price", "POST", "/items", {"json": {"name": "a", "price": 0}}, 422, "body.price"),
    ("negative-price", "POST", "/items", {"json": {"name": "a", "price": -1}}, 422, "body.price"),
    ("price-too-big", "POST", "/items", {"json": {"name": "a", "price": 1e7}}, 422, "body.price"),
    ("price-as-string", "POST", "/items", {"json": {"name": "a", "price": "9"}}, 422, "body.price"),
    ("tags-not-list", "POST", "/items", {"json": {"name": "a", "price": 1, "tags": "x"}}, 422, "body.tags"),
    ("tag-not-string", "POST", "/items", {"json": {"name": "a", "price": 1, "tags": ["a", 2]}}, 422, "body.tags[1]"),
    ("bad-enum", "POST", "/items", {"json": {"name": "a", "price": 1, "kind": "game"}}, 422, "body.kind"),
    ("empty-body", "POST", "/items", {"content": b"", "headers": JSON}, 422, "body"),
    ("text-plain-body", "POST", "/items", {"content": GOOD, "headers": {"content-type": "text/plain"}}, 415, "JSON body"),
    ("form-to-json-endpoint", "POST", "/items", {"data": {"name": "a"}}, 415, "JSON body"),
    ("xml-body", "POST", "/items", {"content": b"<item/>", "headers": {"content-type": "application/xml"}}, 415, "JSON body"),
    ("invalid-utf8", "POST", "/items", {"content": b'{"name": "\xff\xfe", "price": 1}', "headers": JSON}, 400, "not valid JSON"),
    ("trailing-garbage", "POST", "/items", {"content": GOOD + b"xyz", "headers": JSON}, 400, "not valid JSON"),
    ("nan-literal", "POST", "/items", {"content": b'{"name": "a", "price": NaN}', "headers": JSON}, 400, "not valid JSON"),
    ("deep-nesting", "POST", "/items", {"content": b"[" * 1500 + b"]" * 1500, "headers": JSON}, 422, "body"),
    ("deep-nesting-untyped", "POST", "/raw-json", {"content": b"[" * 2000 + b"]" * 2000, "headers": JSON}, 400, "not valid JSON"),
    ("bom-prefixed", "POST", "/items", {"content": b"\xef\xbb\xbf" + GOOD, "headers": JSON}, 400, "not valid JSON"),
    ("body-too-large", "POST", "/items", {"content": b"x" * 5000, "headers": JSON}, 413, "limit of 4096 bytes"),
    ("body-too-large-chunked", "POST", "/items", {"content": iter([b"x" * 3000, b"x" * 3000]), "headers": JSON}, 413, "limit of 4096 bytes"),
    ("content-length-not-number", "POST", "/items", {"content": GOOD, "headers": {**JSON, "content-length": "abc"}}, 400, "Content-Length"),
    ("content-length-negative", "POST", "/items", {"content": GOOD, "headers": {**JSON, "content-length": "-1"}}, 400, "Content-Length"),
    # -- query parameters ----------------------------------------------------------------------
    ("missing-query", "GET", "/search", {}, 422, "query.q"),
    ("query-too-long", "GET", "/search", {"params": {"q": "x" * 51}}, 422, "query.q"),
    ("limit-not-int", "GET", "/search", {"params": {"q": "a", "limit": "ten"}}, 422, "query.limit"),
    ("limit-float", "GET", "/search", {"params": {"q": "a", "limit": "1.5"}}, 422, "query.limit"),
    ("limit-below", "GET", "/search", {"params": {"q": "a", "limit": "0"}}, 422, "query.limit"),
    ("limit-above", "GET", "/search", {"params": {"q": "a", "limit": "101"}}, 422, "query.limit"),
    ("limit-empty", "GET", "/search", {"params": {"q": "a", "limit": ""}}, 422, "query.limit"),
    ("limit-huge", "GET", "/search", {"params": {"q": "a", "limit": "9" * 400}}, 422, "query.limit"),
    ("bad-enum-query", "GET", "/search", {"params": {"q": "a", "kind": "game"}}, 422, "query.kind"),
    ("bad-list-item", "GET", "/search?q=a&ids=1&ids=two", {}, 422, "query.ids[1]"),
    ("bad-bool", "GET", "/search", {"params": {"q": "a", "exact": "maybe"}}, 422, "query.exact"),
    ("bad-float", "GET", "/search", {"params": {"q": "a", "ratio": "abc"}}, 422, "query.ratio"),
    ("bad-uuid-query", "GET", "/search", {"params": {"q": "a", "ref": "not-a-uuid"}}, 422, "query.ref"),
    ("bad-date", "GET", "/search", {"params": {"q": "a", "day": "2024-13-45"}}, 422, "query.day"),
    ("bad-percent-encoding", "GET", "/search?q=%ff%fe", {}, 400, "UTF-8"),
    ("many-errors-at-once", "GET", "/search?limit=0&exact=maybe", {}, 422, "query.q"),
    # -- path ----------------------------------------------------------------------------------
    ("path-int-text", "GET", "/users/abc", {}, 404, "No route"),
    ("path-int-negative", "GET", "/users/-1", {}, 404, "No route"),
    ("path-int-unicode-digits", "GET", "/users/\u0661\u0662", {}, 404, "No route"),
    ("path-uuid-bad", "GET", "/orders/1234", {}, 404, "No route"),
    ("unknown-path", "GET", "/nowhere", {}, 404, "No route"),
    ("wrong-method", "DELETE", "/users/1", {}, 405, "use one of"),
    ("static-traversal", "GET", "/static/../secret.txt", {}, 404, "No route"),  # normalised by the client
    ("static-encoded-traversal", "GET", "/static/%2e%2e/secret.txt", {}, 404, "No such file"),
    ("static-nul", "GET", "/static/a.txt%00", {}, 404, "No such file"),
    ("static-post", "POST", "/static/a.txt", {}, 405, "use one of"),
    # -- headers and cookies -------------------------------------------------------------------
    ("missing-header", "GET", "/secure", {}, 422, "header.x-token"),
    ("bad-int-header", "GET", "/secure", {"headers": {"x-token": "t", "x-retries": "many"}}, 422, "header.x-retries"),
    ("bad-int-cookie", "GET", "/secure", {"headers": {"x-token": "t", "cookie": "visits=lots"}}, 422, "cookie.visits"),
    ("untrusted-host", "GET", "/users/1", {"headers": {"host": "evil.com"}}, 400, "Invalid host"),
    ("host-suffix-trick", "GET", "/users/1", {"headers": {"host": "x.example.com.evil.com"}}, 400, "Invalid host"),
    ("cors-bad-origin-preflight", "OPTIONS", "/items", {"headers": {"origin": "https://evil.com", "access-control-request-method": "POST"}}, 400, "origin not allowed"),
    ("cors-bad-method-preflight", "OPTIONS", "/items", {"headers": {"origin": "https://ok.example.com", "access-control-request-method": "TRACE"}}, 400, "method TRACE"),
    ("too-many-headers", "GET", "/users/1", {"headers": {f"x-h{i}": "v" for i in range(150)}}, 431, "the limits are 100 headers"),
    ("giant-header", "GET", "/users/1", {"headers": {"x-big": "a" * 70000}}, 431, "65536 bytes"),
    ("giant-cookie", "GET", "/secure", {"headers": {"x-token": "t", "cookie": "c=" + "a" * 70000}}, 431, "65536 bytes"),
    ("range-unsatisfiable", "GET", "/file", {"headers": {"range": "bytes=100-200"}}, 416, "10 bytes"),
    # -- forms and uploads ---------------------------------------------------------------------
    ("form-missing-field", "POST", "/login", {"data": {"username": "ada"}}, 422, "form.age"),
    ("form-bad-int", "POST", "/login", {"data": {"username": "ada", "age": "old"}}, 422, "form.age"),
    ("form-empty-username", "POST", "/login", {"data": {"username": "", "age": "3"}}, 422, "form.username"),
    ("form-bad-percent", "POST", "/login", {"content": b"username=%ff&age=1", "headers": {"content-type": "application/x-www-form-urlencoded"}}, 400, "UTF-8"),
    ("form-json-content-type", "POST", "/login", {"json": {"username": "a"}}, 415, "form body"),
    ("multipart-no-boundary", "POST", "/upload", {"content": b"x", "headers": {"content-type": "multipart/form-data"}}, 400, "boundary"),
    ("multipart-truncated", "POST", "/upload", {"content": b'--B\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc', "headers": {"content-type": MULTI}}, 400, "multipart"),
    ("multipart-no-name", "POST", "/upload", {"content": b"--B\r\nContent-Type: text/plain\r\n\r\nabc\r\n--B--\r\n", "headers": {"content-type": MULTI}}, 400, "name"),
    ("multipart-bad-utf8-name", "POST", "/upload", {"content": b'--B\r\nContent-Disposition: form-data; name="\xff"\r\n\r\nabc\r\n--B--\r\n', "headers": {"content-type": MULTI}}, 400, "UTF-8"),
    ("upload-missing", "POST", "/upload", {"data": {"other": "x"}, "files": {"nope": ("a.txt", b"x")}}, 422, "form.file"),
    ("upload-too-large", "POST", "/upload", {"files": {"file": ("big.bin", b"x" * 8000)}}, 413, "limit of 4096 bytes"),
]


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_bad_input_gets_precise_4xx_problem(client, case):
    _, method, path, kwargs, status, names = case
    response = client.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert problem["title"]
    fields = [e["field"] for e in problem.get("errors", [])]
    assert names in fields or names in problem["detail"], problem
    for error in problem.get("errors", []):
        assert error["reason"], error
    assert "Traceback" not in response.text


def test_there_are_at_least_fifty_kinds():
    assert len(CASES) >= 50
    assert len({case[0] for case in CASES}) == len(CASES)


def test_good_requests_still_pass(client):
    assert client.post("/items", content=GOOD, headers={"content-type": "application/json; charset=utf-8"}).status_code == 201
    assert client.post("/items", content=GOOD, headers={"content-type": "application/vnd.api+json"}).status_code == 201
    assert client.get("/search", params={"q": "a", "ids": ["1", "2"], "day": "2024-01-31"}).status_code == 200
