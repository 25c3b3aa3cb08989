"""GraphiQL in headless Chromium: the vendored page renders, introspects the schema and runs a
query, with every request answered by the app (nothing fetched from a CDN)."""

from __future__ import annotations

import shutil
from typing import Any
from urllib.parse import urlsplit

import pytest
import strawberry

from bastion import App, Settings
from bastion.graphql import GraphQL
from bastion.testing import TestClient
from tests._processes import missing


@pytest.fixture(scope="module")
def chromium() -> Any:
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


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "Hello from Bastion"


def test_graphiql_runs_a_query_offline(chromium: Any) -> None:
    app = App(settings=Settings(debug=False), plugins=[GraphQL(strawberry.Schema(query=Query))])
    client = TestClient(app)
    page = chromium.new_page()
    outside: list[str] = []

    def answer(route: Any) -> None:
        request = route.request
        url = urlsplit(request.url)
        if url.hostname != "localhost":
            outside.append(request.url)
            route.abort()
            return
        path = url.path + (f"?{url.query}" if url.query else "")
        response = client.request(
            request.method, path, headers=request.headers, content=request.post_data_buffer
        )
        route.fulfill(
            status=response.status_code, headers=dict(response.headers), body=response.content
        )

    page.route("**/*", answer)
    page.goto("http://localhost/graphql")
    page.wait_for_selector(".graphiql-query-editor .CodeMirror", timeout=20_000)
    page.evaluate(
        "document.querySelector('.graphiql-query-editor .CodeMirror')"
        ".CodeMirror.setValue('{ hello }')"
    )
    page.click(".graphiql-execute-button")
    page.wait_for_function(
        "document.querySelector('.result-window .CodeMirror')"
        ".CodeMirror.getValue().includes('Hello from Bastion')",
        timeout=15_000,
    )
    assert not outside
    page.close()
