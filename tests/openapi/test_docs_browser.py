"""/docs in headless Chromium: Swagger UI reads the app's OpenAPI 3.1 document and shows its
operations (Swagger UI 4 answered "Unable to render this definition" to any 3.1 document),
with every file served by the app itself, and the version selector loads another document."""

from __future__ import annotations

import shutil
from urllib.parse import urlsplit

import msgspec
import pytest

from bastion import App, Versioning
from bastion.testing import TestClient
from tests._processes import missing


@pytest.fixture(scope="module")
def chromium():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("The playwright package is not installed (pip install playwright)")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        missing("Chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


class Pet(msgspec.Struct):
    name: str
    age: int | None = None


def open_docs(chromium, app: App):
    """A page showing the app's /docs, every request answered by the app (nothing else)."""
    client = TestClient(app)
    page = chromium.new_page()
    outside: list[str] = []

    def answer(route):
        url = urlsplit(route.request.url)
        if url.hostname != "localhost":
            outside.append(route.request.url)
            return route.abort()
        path = url.path + (f"?{url.query}" if url.query else "")
        response = client.get(path)
        route.fulfill(
            status=response.status_code, headers=dict(response.headers), body=response.content
        )

    page.route("**/*", answer)
    page.goto("http://localhost/docs")
    return page, outside


def test_swagger_ui_renders_the_openapi_31_document(chromium) -> None:
    app = App(title="Pets")

    @app.post("/pets", status_code=201)
    async def add_pet(pet: Pet) -> Pet:
        return pet

    @app.get("/pets/{pet_id:int}")
    async def get_pet(pet_id: int) -> Pet:
        return Pet("Rex")

    page, outside = open_docs(chromium, app)
    page.wait_for_selector(".opblock", timeout=15_000)
    assert page.locator(".opblock-summary-path").all_inner_texts() == ["/pets", "/pets/{pet_id}"]
    assert "Unable to render" not in page.content()
    assert not outside  # no CDN, no validator
    page.close()


def test_the_version_selector_loads_each_versions_document(chromium) -> None:
    app = App(title="Pets", versioning=Versioning(["1", "2"], by="prefix"))

    @app.get("/pets", versions="1")
    async def pets_v1() -> list[str]:
        return []

    @app.get("/animals", versions="2")
    async def pets_v2() -> list[str]:
        return []

    page, _ = open_docs(chromium, app)
    page.wait_for_selector(".opblock", timeout=15_000)
    first = page.locator(".opblock-summary-path").all_inner_texts()
    assert page.locator("select#select option").all_inner_texts() == ["v2", "v1"]
    page.select_option("select#select", index=1)
    page.wait_for_function(
        "prev => { const now = [...document.querySelectorAll('.opblock-summary-path')]"
        ".map(e => e.innerText).join(); return now !== '' && now !== prev; }",
        arg=",".join(first),
        timeout=15_000,
    )
    second = page.locator(".opblock-summary-path").all_inner_texts()
    assert {tuple(first), tuple(second)} == {("/v1/pets",), ("/v2/animals",)}
    page.close()
