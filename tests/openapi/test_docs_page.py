import re

from bastion import App, Settings
from bastion.testing import TestClient


def client() -> TestClient:
    app = App(settings=Settings(profile="test"), title="My <API>")
    app.get("/x")(lambda: "x")
    return TestClient(app)


def test_docs_page_is_served_with_no_external_urls():
    page = client().get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "My &lt;API&gt;" in page.text
    assert not re.findall(r"https?://", page.text)
    assert '"/openapi.json"' in page.text


def test_assets_are_served_from_the_package():
    c = client()
    js = c.get("/docs/assets/swagger-ui-bundle.js")
    assert js.status_code == 200
    assert "javascript" in js.headers["content-type"]
    assert "SwaggerUIBundle" in js.text
    css = c.get("/docs/assets/swagger-ui.css")
    assert css.headers["content-type"].startswith("text/css")
    assert "max-age" in css.headers["cache-control"]


def test_unknown_or_traversing_assets_are_404():
    c = client()
    assert c.get("/docs/assets/index.html").status_code == 404
    assert c.get("/docs/assets/..%2F..%2Fetc%2Fpasswd").status_code == 404
    assert c.get("/docs/assets/%2e%2e").status_code == 404
