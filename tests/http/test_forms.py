from typing import Annotated

import msgspec
import pytest

from bastion import App, File, Form, Request, Settings
from bastion.http.uploads import UploadFile
from bastion.testing import TestClient


def make_app(**settings) -> App:
    return App(settings=Settings(profile="test", **settings))


def test_urlencoded_fields():
    app = make_app()

    @app.post("/login")
    async def login(username: Annotated[str, Form()], remember: Annotated[bool, Form()] = False) -> dict:
        return {"username": username, "remember": remember}

    response = TestClient(app).post("/login", data={"username": "ada", "remember": "true"})
    assert response.json() == {"username": "ada", "remember": True}


def test_missing_form_field_is_named():
    app = make_app()
    app.post("/login")(lambda username: username)

    @app.post("/f")
    async def f(username: Annotated[str, Form()]) -> str:
        return username

    response = TestClient(app).post("/f", data={"other": "x"})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "form.username", "reason": "is required", "constraint": "required"}
    ]


def test_invalid_form_value():
    app = make_app()

    @app.post("/age")
    async def age(age: Annotated[int, Form()]) -> int:
        return age

    response = TestClient(app).post("/age", data={"age": "old"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "form.age"


class Signup(msgspec.Struct):
    email: str
    age: int
    tags: list[str] = []


def test_struct_from_form():
    app = make_app()

    @app.post("/signup")
    async def signup(data: Annotated[Signup, Form()]) -> Signup:
        return data

    response = TestClient(app).post("/signup", data={"email": "a@b.c", "age": "30", "tags": ["x", "y"]})
    assert response.json() == {"email": "a@b.c", "age": 30, "tags": ["x", "y"]}


def test_multipart_files_and_fields():
    app = make_app()

    @app.post("/upload")
    async def upload(
        files: Annotated[list[UploadFile], File()], title: Annotated[str, Form()]
    ) -> dict:
        return {
            "title": title,
            "files": [{"name": f.filename, "type": f.content_type, "data": (await f.read()).decode()} for f in files],
        }

    response = TestClient(app).post(
        "/upload",
        data={"title": "two files"},
        files=[("files", ("a.txt", b"alpha", "text/plain")), ("files", ("b.csv", b"beta", "text/csv"))],
    )
    assert response.json() == {
        "title": "two files",
        "files": [
            {"name": "a.txt", "type": "text/plain", "data": "alpha"},
            {"name": "b.csv", "type": "text/csv", "data": "beta"},
        ],
    }


def test_big_upload_spills_to_disk():
    app = make_app(max_body_size=8 * 1024 * 1024)

    @app.post("/big")
    async def big(file: UploadFile) -> dict:
        return {"size": file.size, "in_memory": file.in_memory, "tail": (await file.read())[-3:].decode()}

    payload = b"x" * (3 * 1024 * 1024) + b"end"
    response = TestClient(app).post("/big", files={"file": ("big.bin", payload)})
    assert response.json() == {"size": len(payload), "in_memory": False, "tail": "end"}


def test_upload_over_body_limit_is_413():
    app = make_app(max_body_size=1000)

    @app.post("/up")
    async def up(file: UploadFile) -> int:
        return file.size

    response = TestClient(app).post("/up", files={"file": ("f.bin", b"x" * 5000)})
    assert response.status_code == 413


def test_form_on_request():
    app = make_app()

    @app.post("/raw")
    async def raw(request: Request) -> dict:
        form = await request.form()
        return {"a": form.getlist("a")}

    assert TestClient(app).post("/raw", data={"a": ["1", "2"]}).json() == {"a": ["1", "2"]}


@pytest.mark.parametrize("body, content_type, status", [
    (b"--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue", "multipart/form-data; boundary=xyz", 400),
    (b"garbage", "multipart/form-data", 400),
    (b"--xyz\r\nContent-Type: text/plain\r\n\r\nno name\r\n--xyz--\r\n", "multipart/form-data; boundary=xyz", 400),
    (b"a=%ff%fe", "application/x-www-form-urlencoded", 400),
    (b'{"a": 1}', "application/json", 415),
    (b"--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\xff\xfe\r\n--xyz--\r\n", "multipart/form-data; boundary=xyz", 400),
])
def test_malformed_forms_are_4xx(body, content_type, status):
    app = make_app()

    @app.post("/f")
    async def f(a: Annotated[str, Form()]) -> str:
        return a

    response = TestClient(app).post("/f", content=body, headers={"content-type": content_type})
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_too_many_fields_is_413():
    from bastion.exceptions import PayloadTooLarge
    from bastion.http.forms import _parse_urlencoded

    with pytest.raises(PayloadTooLarge, match="more than 3 fields"):
        _parse_urlencoded(b"a=1&b=2&c=3&d=4", max_fields=3)


class Preferences(msgspec.Struct):
    name: str
    newsletter: bool = False
    terms: bool | None = None


def test_html_checkboxes_send_on_when_checked_and_nothing_when_not():
    app = make_app()

    @app.post("/remember")
    async def remember(remember: Annotated[bool, Form()] = False) -> bool:
        return remember

    @app.post("/preferences")
    async def preferences(prefs: Annotated[Preferences, Form()]) -> dict:
        return msgspec.to_builtins(prefs)

    client = TestClient(app)
    assert client.post("/remember", data={"remember": "on"}).json() is True
    empty_form = {"content-type": "application/x-www-form-urlencoded"}  # as a browser sends it
    assert client.post("/remember", content=b"", headers=empty_form).json() is False
    assert client.post("/remember", data={"remember": "false"}).json() is False
    assert client.post("/preferences", data={"name": "ada", "newsletter": "on",
                                             "terms": "on"}).json() == {
        "name": "ada", "newsletter": True, "terms": True}
    assert client.post("/preferences", data={"name": "ada"}).json() == {
        "name": "ada", "newsletter": False, "terms": None}
    refused = client.post("/remember", data={"remember": "maybe"})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "form.remember"
    # "on" is a checkbox's word only: a text field keeps it
    assert client.post("/preferences", data={"name": "on"}).json()["name"] == "on"
