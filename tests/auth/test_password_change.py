"""POST /auth/password: the current password proves the owner, the new one meets the policy,
and the change ends every other session and refresh token and forgets remembered devices,
while the session (or token client) that made it stays signed in."""

import time
from pathlib import Path
from typing import Any

import pyotp
from sqlalchemy import func, select

from bastion import App
from bastion.auth import (
    AuthPlugin,
    CurrentUser,
    JWTAuth,
    MemoryStore,
    PasswordHasher,
    SessionAuth,
    SessionPlugin,
)
from bastion.auth.account_sessions import AccountSessionRoutes
from bastion.auth.models import load_user
from bastion.auth.refresh import RefreshTokens
from bastion.auth.routes import AuthRoutes
from bastion.auth.two_factor import RememberedDevice
from bastion.auth.two_factor_routes import TwoFactorRoutes
from bastion.testing import TestClient
from tests.auth.conftest import SECRET, app_with_database, sign_up

PASSWORD = "a long enough password"
NEW = "an even longer new password"
LOGIN = {"email": "ada@example.com", "password": PASSWORD}


def make_app(tmp_path: Path, hasher: PasswordHasher) -> tuple[App, Any]:
    tokens = JWTAuth(secret=SECRET)

    def plugins(database: Any) -> list[Any]:
        return [
            SessionPlugin(MemoryStore()),
            AuthPlugin(SessionAuth(), tokens, load_user=load_user),
            AuthRoutes(hasher=hasher, tokens=tokens, throttle=None),
            RefreshTokens(tokens),
            AccountSessionRoutes(page_path=None),
            TwoFactorRoutes(),
        ]

    app, database = app_with_database(f"sqlite+aiosqlite:///{tmp_path}/p.db", plugins)

    @app.get("/me")
    async def me(user: CurrentUser) -> str:
        return user.email

    return app, database


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()


def use_session(client: TestClient, cookie: str) -> None:
    """Be the device holding this session cookie."""
    client.cookies.clear()
    client.cookies.set("session", cookie, domain="testserver.local")


def change(client: TestClient, current: str = PASSWORD, new: str = NEW, **kwargs: Any):
    body = {"current_password": current, "password": new}
    return client.post("/auth/password", json=body, **kwargs)


def test_a_wrong_current_password_or_a_weak_new_one_is_refused(
    tmp_path: Path, hasher: PasswordHasher
) -> None:
    app, _ = make_app(tmp_path, hasher)
    with TestClient(app, base_url="https://testserver") as client:
        assert problem(change(client), 401)  # signed out
        assert sign_up(client, {**LOGIN, "username": "ada"}).status_code == 200
        wrong = problem(change(client, current="not my password!"), 403)
        assert wrong["errors"] == [{"field": "body.current_password", "reason": "is wrong"}]
        weak = problem(change(client, new="short"), 422)
        assert weak["errors"][0]["field"] == "body.password"
        assert client.post("/auth/login", json=LOGIN).status_code == 200  # unchanged


def test_a_change_ends_other_sessions_and_tokens_and_keeps_this_one(
    tmp_path: Path, hasher: PasswordHasher
) -> None:
    app, _ = make_app(tmp_path, hasher)
    with TestClient(app, base_url="https://testserver") as client:
        assert sign_up(client, {**LOGIN, "username": "ada"}).status_code == 200
        here = client.cookies["session"]
        client.cookies.clear()
        token_login = client.post("/auth/login", json=LOGIN).json()  # another device
        elsewhere = client.cookies["session"]
        use_session(client, here)
        changed = change(client)
        assert changed.status_code == 200, changed.text
        assert changed.json()["refresh_token"]  # a token client gets new tokens
        assert client.get("/me").text == "ada@example.com"  # this session goes on
        use_session(client, elsewhere)
        assert client.get("/me").status_code == 401  # the other session ended
        refresh = {"refresh_token": token_login["refresh_token"]}
        assert problem(client.post("/auth/token/refresh", json=refresh), 401)
        new_refresh = {"refresh_token": changed.json()["refresh_token"]}
        assert client.post("/auth/token/refresh", json=new_refresh).status_code == 200
        assert problem(client.post("/auth/login", json=LOGIN), 401)
        assert client.post("/auth/login", json={**LOGIN, "password": NEW}).status_code == 200


def test_a_change_forgets_remembered_devices(tmp_path: Path, hasher: PasswordHasher) -> None:
    app, database = make_app(tmp_path, hasher)

    async def devices() -> int:
        async with database.sessions() as db:
            return int(await db.scalar(select(func.count()).select_from(RememberedDevice)))

    with TestClient(app, base_url="https://testserver") as client:
        assert sign_up(client, {**LOGIN, "username": "ada"}).status_code == 200
        secret = client.post("/auth/two-factor/enable", json={"password": PASSWORD}).json()
        secret = secret["secret"]
        code = pyotp.TOTP(secret).now()
        assert client.post("/auth/two-factor/confirm", json={"code": code}).status_code == 201
        client.post("/auth/logout")
        assert client.post("/auth/login", json=LOGIN).status_code == 202
        step = {"code": pyotp.TOTP(secret).at(time.time() + 30), "remember": True}
        assert client.post("/auth/two-factor/challenge", json=step).status_code == 200
        assert client.portal.call(devices()) == 1
        assert change(client).status_code == 200
        assert client.portal.call(devices()) == 0
