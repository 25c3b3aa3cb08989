"""Broken multipart bodies are the client's fault (400), and a file where text is declared, or
text where a file is, is an invalid field (422): never a 500, and the handler is not called."""

from typing import Annotated

import pytest

from bastion import App, File, Form, Settings
from bastion.http.uploads import UploadFile
from bastion.testing import TestClient

CALLS: list[str] = []


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = App(settings=Settings(profile="test"))

    @app.post("/text")
    async def text(a: Annotated[str, Form()]) -> str:
        CALLS.append("text")
        return a

    @app.post("/upload")
    async def upload(file: UploadFile) -> int:
        CALLS.append("upload")
        return file.size

    @app.post("/uploads")
    async def uploads(
        files: Annotated[list[UploadFile], File()], note: Annotated[str, Form()] = ""
    ) -> int:
        CALLS.append("uploads")
        return len(files)

    @app.post("/maybe")
    async def maybe(file: UploadFile | None = None) -> bool:
        CALLS.append("maybe")
        return file is not None

    return TestClient(app)


def multipart(boundary: str, *parts: bytes) -> tuple[bytes, dict]:
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    body += b"--" + boundary.encode() + b"--\r\n"
    return body, {"content-type": f"multipart/form-data; boundary={boundary}"}


FIELD = b'Content-Disposition: form-data; name="a"\r\n\r\nvalue'


@pytest.mark.parametrize("length", [257, 300, 5000])
def test_a_boundary_over_256_characters_is_400(client, length):
    body, headers = multipart("b" * length, FIELD)
    response = client.post("/text", content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "boundary" in response.json()["detail"]


def test_a_boundary_of_256_characters_is_fine(client):
    body, headers = multipart("b" * 256, FIELD)
    assert client.post("/text", content=body, headers=headers).text == "value"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"x", "multipart/form-data"),  # no boundary
        (b"x", 'multipart/form-data; boundary=""'),
        (b"\x00\xff" * 50, "multipart/form-data; boundary=xyz"),  # not multipart at all
        (b"", "multipart/form-data; boundary=xyz"),
        (
            b'--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\nval',
            "multipart/form-data; boundary=xyz",
        ),
        (
            b"--xyzContent-Disposition: form-data\r\n\r\nx\r\n--xyz--\r\n",
            "multipart/form-data; boundary=xyz",
        ),
        (
            b'--xyz\nContent-Disposition: form-data; name="a"\n\nx\n--xyz--\n',
            "multipart/form-data; boundary=xyz",
        ),
        (
            b"--xyz\r\nContent-Disposition form-data\r\n\r\nx\r\n--xyz--\r\n",
            "multipart/form-data; boundary=xyz",
        ),
        (b"--xyz\r\nCont\x00ent: x\r\n\r\nx\r\n--xyz--\r\n", "multipart/form-data; boundary=xyz"),
        (
            b"--xyz\r\nContent-Disposition: attachment\r\n\r\nx\r\n--xyz--\r\n",
            "multipart/form-data; boundary=xyz",
        ),
        (
            b"--xyz\r\nContent-Disposition: ;;;==\r\n\r\nx\r\n--xyz--\r\n",
            "multipart/form-data; boundary=xyz",
        ),
        (
            b'--xyz\r\nContent-Disposition: form-data; filename="a"\r\n\r\nx\r\n--xyz--\r\n',
            "multipart/form-data; boundary=xyz",
        ),
        (
            b'--xyz\r\nContent-Disposition: form-data; name="\xff"\r\n\r\nx\r\n--xyz--\r\n',
            "multipart/form-data; boundary=xyz",
        ),
        (
            b'--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\n\xff\r\n--xyz--\r\n',
            "multipart/form-data; boundary=xyz",
        ),
        (
            b'--xyz\r\nContent-Disposition: form-data; name="a"\r\n'
            + b"X-Pad: "
            + b"p" * 9000
            + b"\r\n\r\nx\r\n--xyz--\r\n",
            "multipart/form-data; boundary=xyz",
        ),
    ],
    ids=[
        "no-boundary",
        "empty-boundary",
        "garbage",
        "empty-body",
        "truncated",
        "no-crlf-after-boundary",
        "lf-only",
        "header-without-colon",
        "nul-in-header-name",
        "disposition-not-form-data",
        "disposition-garbage",
        "disposition-without-name",
        "name-not-utf8",
        "value-not-utf8",
        "header-too-large",
    ],
)
@pytest.mark.parametrize("path", ["/text", "/upload"])
def test_malformed_multipart_is_400(client, body, content_type, path):
    CALLS.clear()
    response = client.post(path, content=body, headers={"content-type": content_type})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "Traceback" not in response.text
    assert CALLS == []


def test_a_non_ascii_boundary_is_no_500(client):
    response = client.post(
        "/text",
        content=b"--\xff\r\n\r\n",
        headers={"content-type": b"multipart/form-data; boundary=\xff"},
    )
    assert response.status_code == 400, response.text


def test_text_where_a_file_is_declared_is_422_and_the_handler_is_not_called(client):
    CALLS.clear()
    response = client.post("/upload", data={"file": "just text"})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "field": "form.file",
            "reason": "must be a file",
            "constraint": "type",
            "expected": "file",
            "got": "string",
        }
    ]
    assert CALLS == []


def test_text_among_files_is_422(client):
    CALLS.clear()
    response = client.post(
        "/uploads", data={"files": "text"}, files=[("files", ("a.txt", b"alpha", "text/plain"))]
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "form.files"
    assert CALLS == []


def test_text_for_an_optional_file_is_422(client):
    CALLS.clear()
    assert client.post("/maybe", data={"file": "text"}).status_code == 422
    assert client.post("/maybe", data={"other": "x"}).json() is False
    assert CALLS == ["maybe"]


def test_a_file_where_text_is_declared_is_422_and_the_handler_is_not_called(client):
    CALLS.clear()
    response = client.post("/text", files={"a": ("a.txt", b"data", "text/plain")})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "field": "form.a",
            "reason": "must be a string, not a file",
            "constraint": "type",
            "expected": "string",
            "got": "file",
        }
    ]
    assert CALLS == []


def test_files_and_fields_in_their_places_still_work(client):
    response = client.post(
        "/uploads",
        data={"note": "two"},
        files=[("files", ("a.txt", b"alpha")), ("files", ("b.txt", b"beta"))],
    )
    assert response.json() == 2
