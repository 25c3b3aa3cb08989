"""Logging in rotates the CSRF secret, as it rotates the session id: a CSRF cookie an attacker
planted before the login (token fixation) is worth nothing after it (Django does the same)."""

from types import SimpleNamespace

from bastion import App, Request, Settings
from bastion.auth import SessionPlugin, login
from bastion.security import SecurityPlugin, csrf_token
from bastion.testing import TestClient

SECRET = "s" * 40


def make_app(*plugins: object) -> App:
    app = App(
        settings=Settings(profile="test", secret_key=SECRET), plugins=[SessionPlugin(), *plugins]
    )

    @app.get("/token")
    async def token(request: Request) -> dict[str, str]:
        return {"token": csrf_token(request)}

    @app.post("/login")
    async def sign_in(request: Request) -> dict[str, str]:
        login(request, SimpleNamespace(id=7))
        return {"token": csrf_token(request)}

    @app.post("/notes")
    async def post_note() -> dict[str, bool]:
        return {"ok": True}

    return app


def test_login_gives_a_new_csrf_cookie_and_tokens_from_before_stop_working():
    client = TestClient(make_app(SecurityPlugin()))
    before = client.get("/token").json()["token"]
    planted = client.cookies["csrftoken"]
    response = client.post("/login", headers={"x-csrf-token": before})
    assert response.status_code == 201
    assert client.cookies["csrftoken"] != planted
    after = response.json()["token"]
    assert client.post("/notes", headers={"x-csrf-token": after}).status_code == 201
    refused = client.post("/notes", headers={"x-csrf-token": before})
    assert refused.status_code == 403 and refused.json()["reason"] == "wrong"


def test_login_without_the_csrf_middleware_still_works():
    app = App(settings=Settings(profile="test", secret_key=SECRET), plugins=[SessionPlugin()])

    @app.post("/login")
    async def sign_in(request: Request) -> dict[str, bool]:
        login(request, SimpleNamespace(id=7))
        return {"ok": True}

    assert TestClient(app).post("/login").json() == {"ok": True}
