import os
from pathlib import Path

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
    (tmp_path / "secret.txt").write_text("top secret")
    os.symlink(tmp_path / "secret.txt", root / "link.txt")
    return root


def client_for(root: Path, **options) -> TestClient:
    app = App(settings=Settings(profile="test"))
    app.mount("/static", StaticFiles(root, **options), name="static")
    return TestClient(app)


def test_serves_files_with_cache_headers(site):
    response = client_for(site).get("/static/css/app.css")
    assert response.status_code == 200
    assert response.text == "body{}"
    assert response.headers["content-type"].startswith("text/css")
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert "etag" in response.headers


def test_conditional_request_on_static_file(site):
    client = client_for(site)
    etag = client.get("/static/css/app.css").headers["etag"]
    assert client.get("/static/css/app.css", headers={"if-none-match": etag}).status_code == 304


@pytest.mark.parametrize("path", [
    "/static/../secret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/css/../../secret.txt",
    "/static/..%2fsecret.txt",
    "/static/%2e%2e%2fsecret.txt",
    "/static//etc/passwd",
    "/static/css/..%5c..%5csecret.txt",
    "/static/app.css%00.txt",
    "/static/link.txt",
])
def test_traversal_is_404(site, path):
    response = client_for(site).get(path)
    assert response.status_code == 404
    assert "top secret" not in response.text


def test_directory_without_html_mode_is_404(site):
    assert client_for(site).get("/static/docs").status_code == 404


def test_html_mode_serves_index(site):
    assert client_for(site, html=True).get("/static/").text == "<h1>home</h1>"


def test_only_get_and_head(site):
    client = client_for(site)
    response = client.post("/static/css/app.css")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert client.head("/static/css/app.css").status_code == 200


def test_url_for_static(site):
    app = App(settings=Settings(profile="test"))
    app.mount("/static", StaticFiles(site), name="static")
    assert app.url_path_for("static", path="css/app.css") == "/static/css/app.css"


def test_missing_directory_fails_at_construction(tmp_path):
    with pytest.raises(ConfigurationError, match="does not exist"):
        StaticFiles(tmp_path / "nope")
