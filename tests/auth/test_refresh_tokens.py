"""Refresh tokens: rotation on use, reuse detection revoking the family, revocation on
log-out and password reset, expiry; on SQLite and PostgreSQL."""

import datetime
from typing import Any

import jwt
import pytest
from sqlalchemy import select, update

from bastion import App, ConfigurationError, Settings
from bastion.auth import AuthPlugin, CurrentUser, JWTAuth, PasswordHasher
from bastion.auth.models import load_user
from bastion.auth.refresh import RefreshTokenRow, RefreshTokens
from bastion.auth.routes import AuthRoutes, ResetLink
from bastion.db import SQLAlchemyPlugin
from bastion.testing import TestClient
from tests.auth.conftest import SECRET, app_with_database, sign_up

PASSWORD = "a long enough password"


def make_app(url: str, hasher: PasswordHasher, **options: Any):
    sent: list[ResetLink] = []
    tokens = JWTAuth(secret=SECRET)
    refresh = RefreshTokens(tokens, **options)
    routes = AuthRoutes(
        hasher=hasher, sessions=False, tokens=tokens, send_reset_link=sent.append, throttle=None
    )
    backends = AuthPlugin(tokens, load_user=load_user)
    app, database = app_with_database(url, lambda db: [backends, routes, refresh])

    @app.get("/me")
    async def me(user: CurrentUser) -> dict:
        return {"email": user.email}

    return app, database, sent


def register(client: TestClient) -> dict:
    """Sign ada up, then in: the login's tokens."""
    body = {"email": "ada@example.com", "username": "ada", "password": PASSWORD}
    response = sign_up(client, body)
    assert response.status_code == 200
    return response.json()


def refresh(client: TestClient, token: str):
    return client.post("/auth/token/refresh", json={"refresh_token": token})


def me(client: TestClient, access: str):
    return client.get("/me", headers={"Authorization": f"Bearer {access}"})


def assert_log_in_again(response, reason: str) -> None:
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert reason in response.json()["detail"] and "log in again" in response.json()["detail"]
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_login_answers_a_short_lived_access_token_and_a_refresh_token(
    database_url: str, hasher: PasswordHasher
) -> None:
    app, _, _ = make_app(database_url, hasher)
    with TestClient(app) as client:
        register(client)
        login = {"email": "ada@example.com", "password": PASSWORD}
        body = client.post("/auth/login", json=login).json()
        assert body["refresh_token"] and body["token"]
        claims = jwt.decode(body["token"], options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == 15 * 60
        assert me(client, body["token"]).json() == {"email": "ada@example.com"}


def test_each_refresh_rotates_the_pair_and_spends_the_old_refresh_token(
    database_url: str, hasher: PasswordHasher
) -> None:
    app, database, _ = make_app(database_url, hasher)
    with TestClient(app, headers={"user-agent": "TestPhone/1.0"}) as client:
        first = register(client)["refresh_token"]
        pair = refresh(client, first)
        assert pair.status_code == 200
        body = pair.json()
        assert set(body) == {"access_token", "refresh_token", "expires_in", "token_type"}
        assert body["token_type"] == "Bearer" and body["expires_in"] == 900
        assert body["refresh_token"] != first
        assert me(client, body["access_token"]).status_code == 200
        second = refresh(client, body["refresh_token"])
        assert second.status_code == 200

        async def rows() -> list[RefreshTokenRow]:
            async with database.sessions() as db:
                return list(await db.scalars(select(RefreshTokenRow).order_by(RefreshTokenRow.id)))

        stored = client.portal.call(rows())
        assert len({r.family for r in stored}) == 1
        assert [r.used_at is not None for r in stored] == [True, True, False]
        assert [r.parent_id for r in stored] == [None, stored[0].id, stored[1].id]
        assert all(r.user_agent == "TestPhone/1.0" for r in stored)
        assert first not in {r.token_hash for r in stored}  # only digests are kept


def test_the_occasional_purge_of_expired_tokens_runs_on_every_database(
    database_url: str, hasher: PasswordHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One refresh in PURGE_ODDS deletes expired rows; on SQLite that delete compared the
    loaded rows' naive expiry with an aware clock and answered 500."""
    monkeypatch.setattr("bastion.auth.refresh.PURGE_ODDS", 1)
    app, database, _ = make_app(database_url, hasher)
    with TestClient(app) as client:
        old = register(client)["refresh_token"]
        current = refresh(client, old).json()["refresh_token"]

        async def expire_the_spent_one() -> None:
            async with database.sessions() as db:
                past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
                await db.execute(
                    update(RefreshTokenRow)
                    .where(RefreshTokenRow.used_at.is_not(None))
                    .values(expires_at=past)
                )
                await db.commit()

        client.portal.call(expire_the_spent_one())
        assert refresh(client, current).status_code == 200

        async def count() -> int:
            async with database.sessions() as db:
                return len(list(await db.scalars(select(RefreshTokenRow))))

        assert client.portal.call(count()) == 2  # the expired one purged, two live


def test_a_reused_refresh_token_revokes_the_whole_family(
    database_url: str, hasher: PasswordHasher
) -> None:
    app, _, _ = make_app(database_url, hasher)
    with TestClient(app) as client:
        stolen = register(client)["refresh_token"]
        login = {"email": "ada@example.com", "password": PASSWORD}
        other_device = client.post("/auth/login", json=login).json()["refresh_token"]
        thief = refresh(client, stolen).json()["refresh_token"]
        assert_log_in_again(refresh(client, stolen), "already used")  # the victim's replay
        assert_log_in_again(refresh(client, thief), "revoked")  # the thief's copy is dead too
        assert refresh(client, other_device).status_code == 200  # another sign-in is not


def test_revoking_or_logging_out_ends_the_family(database_url: str, hasher: PasswordHasher) -> None:
    app, _, _ = make_app(database_url, hasher)
    with TestClient(app) as client:
        token = register(client)["refresh_token"]
        assert client.post("/auth/token/revoke", json={"refresh_token": token}).status_code == 204
        assert_log_in_again(refresh(client, token), "revoked")
        unknown = client.post("/auth/token/revoke", json={"refresh_token": "nope"})
        assert unknown.status_code == 204  # RFC 7009: the same answer

        login = {"email": "ada@example.com", "password": PASSWORD}
        body = client.post("/auth/login", json=login).json()
        bearer = {"Authorization": f"Bearer {body['token']}"}
        assert client.post("/auth/logout", headers=bearer).status_code == 204
        assert_log_in_again(refresh(client, body["refresh_token"]), "revoked")


def test_a_password_reset_revokes_every_refresh_token_of_the_user(
    database_url: str, hasher: PasswordHasher
) -> None:
    app, _, sent = make_app(database_url, hasher)
    with TestClient(app) as client:
        token = register(client)["refresh_token"]
        assert (
            client.post("/auth/password-reset", json={"email": "ada@example.com"}).status_code
            == 202
        )
        confirm = {"token": sent[0].token, "password": "a brand new passphrase"}
        assert client.post("/auth/password-reset/confirm", json=confirm).status_code == 204
        assert_log_in_again(refresh(client, token), "revoked")


def test_an_expired_or_unknown_refresh_token_is_refused(
    database_url: str, hasher: PasswordHasher
) -> None:
    app, database, _ = make_app(database_url, hasher)
    with TestClient(app) as client:
        token = register(client)["refresh_token"]

        async def expire() -> None:
            past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
            async with database.sessions() as db:
                await db.execute(update(RefreshTokenRow).values(expires_at=past))
                await db.commit()

        client.portal.call(expire())
        assert_log_in_again(refresh(client, token), "expired")
        assert_log_in_again(refresh(client, "x" * 43), "not valid")
        missing = client.post("/auth/token/refresh", json={})
        assert missing.status_code == 422
        assert missing.json()["errors"][0]["field"] == "body.refresh_token"
        too_long = refresh(client, "x" * 600)
        assert too_long.status_code == 422


def test_the_routes_are_in_the_openapi_document(tmp_path, hasher: PasswordHasher) -> None:
    app, _, _ = make_app(f"sqlite+aiosqlite:///{tmp_path / 'o.db'}", hasher)
    paths = TestClient(app).get("/openapi.json").json()["paths"]
    operation = paths["/auth/token/refresh"]["post"]
    assert "401" in operation["responses"] and "200" in operation["responses"]
    assert "/auth/token/revoke" in paths


def test_misconfiguration_fails_at_start_up() -> None:
    tokens = JWTAuth(secret=SECRET)
    with pytest.raises(ConfigurationError, match="shorter than"):
        RefreshTokens(tokens, access_expires_in=datetime.timedelta(days=90))
    with pytest.raises(ConfigurationError, match="SQLAlchemyPlugin"):
        App(settings=Settings(profile="test"), plugins=[RefreshTokens(tokens)])
    assert SQLAlchemyPlugin  # the database plugin the message names


def test_a_disabled_account_cannot_refresh(database_url: str, hasher: PasswordHasher) -> None:
    from bastion.auth.models import User

    app, database, _ = make_app(database_url, hasher)

    async def disable() -> None:
        async with database.sessions() as db:
            await db.execute(update(User).values(is_active=False))
            await db.commit()

    with TestClient(app) as client:
        tokens = register(client)
        client.portal.call(disable())
        assert_log_in_again(refresh(client, tokens["refresh_token"]), "disabled")
        # The family is revoked, not just refused this once.
        client.portal.call(_enable(database))
        assert_log_in_again(refresh(client, tokens["refresh_token"]), "revoked")


async def _enable(database: SQLAlchemyPlugin) -> None:
    from bastion.auth.models import User

    async with database.sessions() as db:
        await db.execute(update(User).values(is_active=True))
        await db.commit()
