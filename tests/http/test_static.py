import os
from pathlib import Path

import anyio
import pytest

from bastion import App, ConfigurationError, Settings
from bastion.http.static import StaticFiles
from bastion.testing import TestClient


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "public"
    (root / "css").mkdir(parents=True)
    (root / "css" / "app.css").write_text("body{}")
    (root / "index.html").write_text("<h1>home</h1>")
    (root / "docs").mkdir()
    (root / "docs" / "index.html").write_text("<h1>docs</h1>")
    (root / "empty").mkdir()
    (root / "hello world é.txt").write_text("unicode name")
    (tmp_path / "secret.txt").write_text("top secret")
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "key.txt").write_text("top secret key")
    os.symlink(tmp_path / "secret.txt", root / "link.txt")
    os.symlink(tmp_path / "private", root / "linked-dir")
    os.symlink(root / "css" / "app.css", root / "alias.css")
    return root


def client_for(root: Path, **options) -> TestClient:
    app = App(settings=Settings(profile="test"))
    app.mount("/static", StaticFiles(root, **options), name="static")
    return TestClient(app)


def test_serves_files_with_cache_headers(site):
    response = client_for(site).get("/static/css/app.css")
    assert response.status_code == 200
    assert response.text == "body{}"
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.headers["content-length"] == "6"
    assert "etag" in response.headers and "last-modified" in response.headers


def test_cache_control_can_be_changed_or_left_out(site):
    response = client_for(site, cache_control="no-store").get("/static/css/app.css")
    assert response.headers["cache-control"] == "no-store"
    response = client_for(site, cache_control=None).get("/static/css/app.css")
    assert "cache-control" not in response.headers


def test_percent_encoded_names_are_served(site):
    response = client_for(site).get("/static/hello%20world%20%C3%A9.txt")
    assert response.text == "unicode name"


def test_conditional_and_range_requests_on_static_files(site):
    client = client_for(site)
    etag = client.get("/static/css/app.css").headers["etag"]
    assert client.get("/static/css/app.css", headers={"if-none-match": etag}).status_code == 304
    part = client.get("/static/css/app.css", headers={"range": "bytes=0-3"})
    assert (part.status_code, part.text) == (206, "body")


def test_missing_file_is_a_404_problem(site):
    response = client_for(site).get("/static/css/nope.css")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


TRAVERSALS = [
    "/static/../secret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/%2E%2E/secret.txt",
    "/static/css/../../secret.txt",
    "/static/css/%2e%2e/%2e%2e/secret.txt",
    "/static/./../secret.txt",
    "/static/..%2fsecret.txt",
    "/static/%2e%2e%2fsecret.txt",
    "/static/..",
    "/static/%2e%2e",
    "/static/css/..%5c..%5csecret.txt",
    "/static/..%5csecret.txt",
    "/static/css%5capp.css",
    "/static/app.css%00.txt",
    "/static/css/app.css%00",
    "/static/link.txt",
    "/static/linked-dir/key.txt",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_is_404(site, path):
    response = client_for(site).get(path)
    assert response.status_code == 404
    assert "top secret" not in response.text


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/css/../../secret.txt",
        "/..",
        "/../public/css/app.css",  # even a detour that comes back inside is refused
        "/..\\secret.txt",
        "/css/app.css\x00.txt",
        "/link.txt",
        "/linked-dir/key.txt",
    ],
)
async def test_traversal_in_the_decoded_asgi_path_is_404(site, path):
    # Clients normalise a literal `..` away; a raw ASGI call shows what the app does with one.
    messages = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        messages.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": []}
    await StaticFiles(site)(scope, receive, send)
    assert messages[0]["status"] == 404
    assert b"top secret" not in b"".join(m.get("body", b"") for m in messages[1:])


def test_traversal_to_an_existing_file_looks_like_a_missing_one(site):
    client = client_for(site)
    existing = client.get("/static/%2e%2e/secret.txt")
    missing = client.get("/static/%2e%2e/no-such-file.txt")
    inside_missing = client.get("/static/no-such-file.txt")
    assert existing.status_code == missing.status_code == inside_missing.status_code == 404
    assert existing.content == missing.content == inside_missing.content


def test_absolute_looking_paths_stay_inside_the_directory(site):
    client = client_for(site)
    assert client.get("/static//etc/passwd").status_code == 404
    assert client.get("/static//css/app.css").text == "body{}"  # not the absolute /css/app.css


def test_symlink_that_stays_inside_the_directory_is_served(site):
    assert client_for(site).get("/static/alias.css").text == "body{}"


def test_follow_symlinks_lets_links_point_outside(site):
    client = client_for(site, follow_symlinks=True)
    assert client.get("/static/link.txt").text == "top secret"
    assert client.get("/static/linked-dir/key.txt").text == "top secret key"
    assert client.get("/static/../secret.txt").status_code == 404  # `..` still is not


def test_symlink_loop_is_404(site):
    os.symlink(site / "loop-b", site / "loop-a")
    os.symlink(site / "loop-a", site / "loop-b")
    assert client_for(site).get("/static/loop-a").status_code == 404


def test_fifo_is_404_without_blocking(site):
    os.mkfifo(site / "pipe")
    assert client_for(site).get("/static/pipe").status_code == 404


def test_directory_without_html_mode_is_404(site):
    client = client_for(site)
    assert client.get("/static/docs").status_code == 404
    assert client.get("/static/docs/").status_code == 404
    assert client.get("/static/").status_code == 404


def test_html_mode_serves_index(site):
    client = client_for(site, html=True)
    assert client.get("/static/").text == "<h1>home</h1>"
    assert client.get("/static/docs/").text == "<h1>docs</h1>"
    assert client.get("/static/docs/index.html").text == "<h1>docs</h1>"


def test_html_mode_redirects_a_directory_to_its_slash(site):
    client = client_for(site, html=True)
    response = client.get("/static/docs?lang=en", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/static/docs/?lang=en"
    root = client.get("/static", follow_redirects=False)
    assert (root.status_code, root.headers["location"]) == (307, "/static/")
    assert client.get("/static/docs").text == "<h1>docs</h1>"


def test_html_mode_directory_without_index_is_404(site):
    assert client_for(site, html=True).get("/static/empty/").status_code == 404


def test_file_asked_for_as_a_directory_is_404(site):
    assert client_for(site).get("/static/css/app.css/").status_code == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_only_get_and_head(site, method):
    response = client_for(site).request(method, "/static/css/app.css")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert response.headers["content-type"] == "application/problem+json"


def test_head_sends_headers_only(site):
    response = client_for(site).head("/static/css/app.css")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "6"


async def test_redirect_uses_the_mount_prefix_from_root_path(site):
    messages = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        messages.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/docs",
        "raw_path": b"/assets/docs",
        "root_path": "/assets",
        "query_string": b"",
        "headers": [],
    }
    await StaticFiles(site, html=True)(scope, receive, send)
    headers = dict(messages[0]["headers"])
    assert (messages[0]["status"], headers[b"location"]) == (307, b"/assets/docs/")


async def test_websocket_is_closed(site):
    sent = []

    async def receive():
        return {"type": "websocket.connect"}

    async def send(message):
        sent.append(message)

    with anyio.fail_after(2):
        await StaticFiles(site)({"type": "websocket", "path": "/"}, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1000}]


def test_url_for_static(site):
    app = App(settings=Settings(profile="test"))
    app.mount("/static", StaticFiles(site), name="static")
    assert app.url_path_for("static", path="css/app.css") == "/static/css/app.css"


def test_missing_directory_fails_at_construction(tmp_path):
    with pytest.raises(ConfigurationError, match="does not exist.*create it or pass the right"):
        StaticFiles(tmp_path / "nope")


def test_a_file_instead_of_a_directory_fails_at_construction(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ConfigurationError, match="is a file, not a directory"):
        StaticFiles(tmp_path / "file.txt")
