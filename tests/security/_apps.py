"""Small apps shared by the security tests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from bastion import App, Form, HTMLResponse, Request, Settings
from bastion.security import SecurityPlugin, csrf_token, install_template_globals
from bastion.templates import Templates
from bastion.testing import TestClient

SECRET = "s" * 40
BASE = "https://testserver"


def csrf_app(profile: str = "test", **plugin: Any) -> App:
    """A form page, a form post, a JSON post and an upload, behind ``SecurityPlugin``."""
    app = App(settings=Settings(profile=profile, secret_key=SECRET), plugins=[SecurityPlugin(**plugin)])

    @app.get("/token")
    async def token(request: Request) -> dict[str, str]:
        return {"token": csrf_token(request)}

    @app.post("/comment")
    async def comment(request: Request, text: Annotated[str, Form()]) -> dict[str, Any]:
        body = await request.body()  # still readable after the CSRF check read the form
        return {"text": text, "body_bytes": len(body)}

    @app.post("/json")
    async def json_post(request: Request) -> dict[str, Any]:
        return {"got": await request.json()}

    @app.put("/item")
    async def put_item() -> dict[str, bool]:
        return {"ok": True}

    @app.delete("/item")
    async def delete_item() -> dict[str, bool]:
        return {"deleted": True}

    @app.post("/webhooks/stripe")
    async def webhook() -> dict[str, bool]:
        return {"ok": True}

    return app


def client_with_token(app: App, base_url: str = BASE) -> tuple[TestClient, str]:
    """A client holding the CSRF cookie, and a token for it."""
    client = TestClient(app, base_url=base_url)
    response = client.get("/token")
    assert response.status_code == 200
    return client, response.json()["token"]


def page_templates(tmp_path: Path) -> Templates:
    (tmp_path / "form.html").write_text(
        "<form method='post'>{{ csrf_input() }}<input name='text'></form>"
        "<script nonce='{{ csp_nonce() }}'>go()</script>"
    )
    (tmp_path / "echo.html").write_text(
        "<p>{{ value }}</p><a title='{{ value }}'>x</a><a title=\"{{ value }}\">y</a>"
    )
    templates = Templates(tmp_path)
    install_template_globals(templates)
    return templates


def templated_app(tmp_path: Path) -> App:
    templates = page_templates(tmp_path)
    app = csrf_app()

    @app.get("/form")
    async def form(request: Request) -> HTMLResponse:
        return templates.render(request, "form.html")

    @app.get("/echo")
    async def echo(request: Request, value: str = "") -> HTMLResponse:
        return templates.render(request, "echo.html", {"value": value})

    return app
