from pathlib import Path

import pytest

from bastion import App, Settings
from bastion.http.files import FileResponse
from bastion.testing import TestClient

CONTENT = bytes(range(256)) * 4  # 1024 bytes


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    path = tmp_path / "data.bin"
    path.write_bytes(CONTENT)
    (tmp_path / "notes.txt").write_text("hello notes")
    app = App(settings=Settings(profile="test"))

    @app.get("/data")
    async def data() -> FileResponse:
        return FileResponse(path)

    @app.get("/download")
    async def download() -> FileResponse:
        return FileResponse(tmp_path / "notes.txt", filename="résumé notes.txt")

    @app.get("/missing")
    async def missing() -> FileResponse:
        return FileResponse(tmp_path / "nope.bin")

    return TestClient(app)


def test_whole_file_with_validators(client):
    response = client.get("/data")
    assert response.status_code == 200
    assert response.content == CONTENT
    assert response.headers["content-length"] == "1024"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"].startswith('"')
    assert "GMT" in response.headers["last-modified"]
    assert response.headers["content-type"] == "application/octet-stream"


def test_text_file_media_type_and_download_name(client):
    response = client.get("/download")
    assert response.text == "hello notes"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert "filename*=utf-8''r%C3%A9sum%C3%A9%20notes.txt" in response.headers["content-disposition"]


def test_if_none_match_gives_304(client):
    etag = client.get("/data").headers["etag"]
    response = client.get("/data", headers={"if-none-match": etag})
    assert response.status_code == 304
    assert response.content == b""


def test_if_modified_since_gives_304(client):
    modified = client.get("/data").headers["last-modified"]
    assert client.get("/data", headers={"if-modified-since": modified}).status_code == 304


def test_garbage_if_modified_since_is_ignored(client):
    assert client.get("/data", headers={"if-modified-since": "yesterday-ish"}).status_code == 200


def test_range_request_returns_206(client):
    response = client.get("/data", headers={"range": "bytes=10-19"})
    assert response.status_code == 206
    assert response.content == CONTENT[10:20]
    assert response.headers["content-range"] == "bytes 10-19/1024"
    assert response.headers["content-length"] == "10"


def test_open_ended_and_suffix_ranges(client):
    assert client.get("/data", headers={"range": "bytes=1000-"}).content == CONTENT[1000:]
    assert client.get("/data", headers={"range": "bytes=-24"}).content == CONTENT[-24:]
    assert client.get("/data", headers={"range": "bytes=1000-5000"}).content == CONTENT[1000:]


def test_unsatisfiable_range_is_416(client):
    response = client.get("/data", headers={"range": "bytes=5000-6000"})
    assert response.status_code == 416
    assert response.headers["content-range"] == "bytes */1024"
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("header", ["bytes=abc", "items=0-1", "bytes=5", "bytes=-", "bytes=1-2,4-5"])
def test_malformed_or_multiple_ranges_send_the_whole_file(client, header):
    response = client.get("/data", headers={"range": header})
    assert response.status_code == 200
    assert response.content == CONTENT


def test_stale_if_range_sends_the_whole_file(client):
    response = client.get("/data", headers={"range": "bytes=0-9", "if-range": '"stale"'})
    assert response.status_code == 200
    assert len(response.content) == 1024


def test_head_sends_headers_only(client):
    response = client.head("/data")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "1024"


def test_missing_file_is_404_problem(client):
    response = client.get("/missing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
