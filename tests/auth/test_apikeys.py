"""API keys on SQLite and PostgreSQL: shown once, stored hashed, scoped, revocable."""

import datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bastion import App, ConfigurationError, Settings
from bastion.auth import AuthPlugin, CurrentUser, requires
from bastion.auth.apikeys import APIKey, APIKeyAuth
from bastion.db import SQLAlchemyPlugin
from bastion.testing import TestClient
from tests.auth.conftest import app_with_database


def make_app(url: str) -> tuple[App, APIKeyAuth]:
    holder: dict[str, APIKeyAuth] = {}

    def plugins(database: SQLAlchemyPlugin) -> list[Any]:
        holder["keys"] = APIKeyAuth(database)
        return [AuthPlugin(holder["keys"])]

    app, _ = app_with_database(url, plugins)
    keys = holder["keys"]

    @app.post("/keys", status_code=201)
    async def create(db: AsyncSession, scopes: str = "", days: int = 0) -> dict:
        expires = None
        if days:
            expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=days)
        new = await keys.create(
            db, owner="42", scopes=scopes.split(",") if scopes else [], expires_at=expires
        )
        return {"id": new.record.id, "key": new.key}

    @app.delete("/keys/{key_id}")
    async def revoke(key_id: int, db: AsyncSession) -> dict:
        return {"revoked": await keys.revoke(db, key_id)}

    @app.get("/me")
    async def me(user: CurrentUser) -> dict:
        return {"owner": user.subject, "scopes": sorted(user.scopes), "via": user.backend}

    @app.get("/reports", dependencies=[requires(scopes=["reports:read"])])
    async def reports() -> str:
        return "reports"

    @app.get("/stored")
    async def stored(db: AsyncSession) -> list[dict]:
        rows = await db.scalars(select(APIKey))
        return [{"lookup": r.lookup, "hash": r.key_hash, "name": r.name} for r in rows]

    return app, keys


def test_keys_authenticate_their_owner_with_their_scopes(database_url: str) -> None:
    app, _ = make_app(database_url)
    with TestClient(app) as client:
        key = client.post("/keys?scopes=reports:read,a").json()["key"]
        assert key.startswith("bst_") and len(key) == 4 + 16 + 1 + 43
        me = client.get("/me", headers={"X-API-Key": key}).json()
        assert me == {"owner": "42", "scopes": ["a", "reports:read"], "via": "api_key"}
        assert client.get("/reports", headers={"X-API-Key": key}).text == "reports"


def test_only_a_hash_is_stored(database_url: str) -> None:
    app, _ = make_app(database_url)
    with TestClient(app) as client:
        key = client.post("/keys").json()["key"]
        [row] = client.get("/stored").json()
        assert row["lookup"] in key and row["hash"] not in key
        assert key.split("_", 2)[2] not in str(row)  # the secret may contain "_"
        import hashlib

        assert row["hash"] == hashlib.sha256(key.encode()).hexdigest()


def test_revoked_and_expired_keys_are_refused(database_url: str) -> None:
    app, _ = make_app(database_url)
    with TestClient(app) as client:
        created = client.post("/keys").json()
        assert client.get("/me", headers={"X-API-Key": created["key"]}).status_code == 200
        assert client.delete(f"/keys/{created['id']}").json() == {"revoked": True}
        assert client.delete(f"/keys/{created['id']}").json() == {"revoked": False}
        refused = client.get("/me", headers={"X-API-Key": created["key"]})
        assert refused.status_code == 401
        assert refused.json()["detail"] == "The API key has been revoked"
        expired = client.post("/keys?days=-1").json()["key"]
        response = client.get("/me", headers={"X-API-Key": expired})
        assert (response.status_code, response.json()["detail"]) == (
            401,
            "The API key has expired",
        )


def test_missing_scope_is_403(database_url: str) -> None:
    app, _ = make_app(database_url)
    with TestClient(app) as client:
        key = client.post("/keys?scopes=other").json()["key"]
        response = client.get("/reports", headers={"X-API-Key": key})
        assert response.status_code == 403
        assert response.json()["detail"] == "The credentials used lack the scope reports:read"


@pytest.mark.parametrize(
    "presented",
    [
        "nonsense",
        "bst_0000000000000000_" + "A" * 43,
        "xyz_0123456789abcdef_" + "A" * 43,
        "bst_0123456789abcdef_" + "A" * 42 + "'; DROP TABLE auth_api_keys; --",
    ],
)
def test_unknown_and_malformed_keys_are_401(database_url: str, presented: str) -> None:
    app, _ = make_app(database_url)
    with TestClient(app) as client:
        client.post("/keys")
        response = client.get("/me", headers={"X-API-Key": presented})
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith('ApiKey header="X-API-Key"')
        assert len(client.get("/stored").json()) == 1


def test_a_tampered_secret_with_a_real_lookup_is_401(database_url: str) -> None:
    app, _ = make_app(database_url)
    with TestClient(app) as client:
        key = client.post("/keys").json()["key"]
        tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
        response = client.get("/me", headers={"X-API-Key": tampered})
        assert (response.status_code, response.json()["detail"]) == (
            401,
            "The API key is not valid",
        )


def test_the_database_plugin_must_be_in_the_app() -> None:
    other = SQLAlchemyPlugin("sqlite+aiosqlite:///:memory:")
    with pytest.raises(ConfigurationError, match="needs that SQLAlchemyPlugin"):
        App(settings=Settings(profile="test"), plugins=[AuthPlugin(APIKeyAuth(other))])
