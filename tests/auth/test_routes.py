"""The account routes on the ready User model, on SQLite and PostgreSQL."""

from typing import Any

import pytest
from sqlalchemy import select

from bastion import App, ConfigurationError, Settings
from bastion.auth import (
    AuthPlugin,
    CurrentUser,
    JWTAuth,
    PasswordHasher,
    SessionAuth,
    SessionPlugin,
)
from bastion.auth.models import User, load_user
from bastion.auth.routes import AuthRoutes, ResetLink
from bastion.db import SQLAlchemyPlugin
from bastion.testing import TestClient
from tests.auth.conftest import SECRET, app_with_database

PASSWORD = "a long enough password"


def make_app(url: str, hasher: PasswordHasher, **options: Any) -> tuple[App, list[ResetLink]]:
    sent: list[ResetLink] = []
    tokens = JWTAuth(secret=SECRET, scheme="Token")
    routes = AuthRoutes(hasher=hasher, send_reset_link=sent.append, tokens=tokens, **options)
    backends = AuthPlugin(SessionAuth(), tokens, load_user=load_user)
    app, _ = app_with_database(url, lambda db: [SessionPlugin(), backends, routes])

    @app.get("/me")
    async def me(user: CurrentUser) -> dict:
        return {"email": user.email, "id": user.id}

    return app, sent


def client_for(app: App) -> TestClient:
    return TestClient(app, base_url="https://testserver")


def register(client: TestClient, email: str = "ada@example.com", password: str = PASSWORD):
    return client.post(
        "/auth/register", json={"email": email, "username": "ada", "password": password}
    )


def sign_up(client: TestClient, email: str = "ada@example.com", password: str = PASSWORD):
    """Register, then log in (register signs nobody in)."""
    assert register(client, email, password).status_code == 202
    return client.post("/auth/login", json={"email": email, "password": password})


def test_register_creates_the_account_and_login_answers_a_token(
    database_url: str, hasher: PasswordHasher
) -> None:
    app, _ = make_app(database_url, hasher)
    with client_for(app) as client:
        response = register(client, email="Ada@Example.COM")
        assert response.status_code == 202 and "sign in" in response.json()["detail"]
        assert "set-cookie" not in response.headers and client.get("/me").status_code == 401
        login = {"email": "ada@example.com", "password": PASSWORD}
        body = client.post("/auth/login", json=login).json()
        assert body["email"] == "ada@example.com" and body["roles"] == []
        assert client.get("/me").json()["email"] == "ada@example.com"  # the session
        client.cookies.clear()
        assert client.get("/me").status_code == 401
        token = {"Authorization": f"Token {body['token']}"}
        assert client.get("/me", headers=token).json()["id"] == body["id"]


def test_register_answers_a_taken_address_as_a_new_one(
    database_url: str, hasher: PasswordHasher, caplog: pytest.LogCaptureFixture
) -> None:
    """Sign-up never tells whether an address has an account: the same status and body,
    nothing created, the first password still the one that works."""
    app, _ = make_app(database_url, hasher)
    with client_for(app) as client:
        new = register(client)
        with caplog.at_level("INFO", logger="bastion.auth"):
            taken = register(client, email="ADA@example.com", password="another long password")
        assert taken.status_code == new.status_code == 202 and taken.json() == new.json()
        assert "nothing created" in caplog.text
        login = {"email": "ada@example.com", "password": "another long password"}
        assert client.post("/auth/login", json=login).status_code == 401
        assert sign_up(client).status_code == 200


def test_register_refuses_weak_passwords_and_bad_addresses(
    database_url: str, hasher: PasswordHasher
) -> None:
    app, _ = make_app(database_url, hasher)
    with client_for(app) as client:
        weak = register(client, email="bob@example.com", password="short")
        assert weak.status_code == 422
        assert weak.json()["errors"] == [
            {"field": "body.password", "reason": "Use at least 12 characters"}
        ]
        bad_email = register(client, email="not-an-email")
        assert bad_email.status_code == 422
        assert bad_email.json()["errors"][0]["field"] == "body.email"


def test_login_and_logout(database_url: str, hasher: PasswordHasher) -> None:
    app, _ = make_app(database_url, hasher)
    with client_for(app) as client:
        register(client)
        client.cookies.clear()
        assert client.get("/me").status_code == 401
        wrong = client.post("/auth/login", json={"email": "ada@example.com", "password": "nope"})
        assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
        right = client.post("/auth/login", json={"email": "ADA@example.com", "password": PASSWORD})
        assert right.status_code == 200 and right.json()["token"]
        assert client.get("/me").status_code == 200
        assert client.post("/auth/logout").status_code == 204
        assert client.get("/me").status_code == 401


def test_unknown_email_and_wrong_password_look_the_same(
    database_url: str, hasher: PasswordHasher
) -> None:
    app, _ = make_app(database_url, hasher)
    with client_for(app) as client:
        register(client)
        unknown = client.post("/auth/login", json={"email": "x@example.com", "password": "p"})
        wrong = client.post("/auth/login", json={"email": "ada@example.com", "password": "p"})
        assert unknown.status_code == wrong.status_code == 401
        assert unknown.json() == wrong.json()
        assert unknown.headers["www-authenticate"] == wrong.headers["www-authenticate"]


def test_login_rehashes_an_outdated_hash(database_url: str, hasher: PasswordHasher) -> None:
    app, _ = make_app(database_url, hasher)
    database = app.plugins[0]
    weaker = PasswordHasher(time_cost=1, memory_cost=512, parallelism=1)
    with client_for(app) as client:

        async def old_account() -> None:
            async with database.sessions() as db:  # type: ignore[attr-defined]
                digest = await weaker.hash(PASSWORD)
                db.add(User(email="ada@example.com", username="ada", password_hash=digest))
                await db.commit()

        client.portal.call(old_account())
        assert "$m=512,t=1,p=1$" in stored_hash(client, app)
        wrong = client.post("/auth/login", json={"email": "ada@example.com", "password": "no"})
        assert wrong.status_code == 401 and "$m=512," in stored_hash(client, app)
        client.post("/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
        assert "$m=1024,t=1,p=1$" in stored_hash(client, app)
        client.cookies.clear()
        again = client.post("/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
        assert again.status_code == 200


def stored_hash(client: TestClient, app: App) -> str:
    database = app.plugins[0]

    async def read() -> str:
        async with database.sessions() as db:  # type: ignore[attr-defined]
            return str(await db.scalar(select(User.password_hash)))

    return client.portal.call(read())


def test_password_reset_is_single_use(database_url: str, hasher: PasswordHasher) -> None:
    app, sent = make_app(database_url, hasher)
    with client_for(app) as client:
        register(client)
        unknown = client.post("/auth/password-reset", json={"email": "nobody@example.com"})
        known = client.post("/auth/password-reset", json={"email": "ada@example.com"})
        assert unknown.status_code == known.status_code == 202
        assert unknown.content == known.content == b""
        [link] = sent
        assert link.email == "ada@example.com"
        assert link.url == f"https://testserver/auth/password-reset/confirm?token={link.token}"
        new = "an entirely new passphrase"
        confirm = {"token": link.token, "password": new}
        assert client.post("/auth/password-reset/confirm", json=confirm).status_code == 204
        reused = client.post("/auth/password-reset/confirm", json={**confirm, "password": "x" * 20})
        assert reused.status_code == 400
        assert reused.json()["detail"].startswith("The reset link is invalid or has expired")
        old = client.post("/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
        assert old.status_code == 401
        fresh = client.post("/auth/login", json={"email": "ada@example.com", "password": new})
        assert fresh.status_code == 200


def test_reset_tokens_expire_and_keep_the_policy(
    database_url: str, hasher: PasswordHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, sent = make_app(database_url, hasher)
    with client_for(app) as client:
        register(client)
        client.post("/auth/password-reset", json={"email": "ada@example.com"})
        token = sent[0].token
        weak = client.post("/auth/password-reset/confirm", json={"token": token, "password": "x"})
        assert weak.status_code == 422  # and the token still works afterwards
        import time

        real = time.time
        monkeypatch.setattr(time, "time", lambda: real() + 3601)
        late = client.post(
            "/auth/password-reset/confirm", json={"token": token, "password": "y" * 20}
        )
        assert late.status_code == 400


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "é" * 10, "x" * 2048])
def test_garbage_reset_tokens_are_400(
    database_url: str, hasher: PasswordHasher, token: str
) -> None:
    app, _ = make_app(database_url, hasher)
    with client_for(app) as client:
        body = {"token": token, "password": "y" * 20}
        assert client.post("/auth/password-reset/confirm", json=body).status_code == 400


def test_disabled_accounts_cannot_log_in(database_url: str, hasher: PasswordHasher) -> None:
    app, _ = make_app(database_url, hasher)
    database = app.plugins[0]
    with client_for(app) as client:
        register(client)

        async def disable() -> None:
            async with database.sessions() as db:  # type: ignore[attr-defined]
                user = await db.scalar(select(User))
                user.is_active = False
                await db.commit()

        client.portal.call(disable())
        login = client.post("/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
        assert login.status_code == 401
        assert client.get("/me").status_code == 401  # the old session no longer loads a user


@pytest.mark.parametrize(
    ("plugins", "message"),
    [
        (lambda: [AuthRoutes()], "needs the database"),
        (lambda: [SQLAlchemyPlugin(), AuthRoutes()], "SessionPlugin"),
    ],
)
def test_misconfiguration(plugins: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        App(settings=Settings(profile="test"), plugins=plugins())
    with pytest.raises(ConfigurationError, match="tokens=JWTAuth"):
        AuthRoutes(sessions=False)


def test_a_password_change_ends_every_session(database_url: str, hasher: PasswordHasher) -> None:
    app, sent = make_app(database_url, hasher)
    with client_for(app) as client:
        sign_up(client)
        laptop = client.cookies["session"]
        client.cookies.clear()
        client.post("/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
        phone = client.cookies["session"]
        assert laptop != phone
        client.cookies.clear()
        for cookie in (laptop, phone):
            assert client.get("/me", headers={"cookie": f"session={cookie}"}).status_code == 200
        client.post("/auth/password-reset", json={"email": "ada@example.com"})
        new = {"token": sent[0].token, "password": "an entirely new passphrase"}
        assert client.post("/auth/password-reset/confirm", json=new).status_code == 204
        for cookie in (laptop, phone):
            assert client.get("/me", headers={"cookie": f"session={cookie}"}).status_code == 401
        login = {"email": "ada@example.com", "password": new["password"]}
        assert client.post("/auth/login", json=login).status_code == 200
        assert client.get("/me").status_code == 200
