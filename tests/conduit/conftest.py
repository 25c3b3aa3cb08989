"""Conduit's tests run on SQLite and on a real PostgreSQL, each migrated once per session by
the real `bastion db upgrade`; every test then runs inside a transaction rolled back at its
end, and with an empty cache, so tests start from empty tables and cannot see each other."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bastion import Settings
from bastion.auth import PasswordHasher
from bastion.cache import Cache, CachePlugin
from bastion.db import SQLAlchemyPlugin
from bastion.db.testing import isolated_sync
from bastion.testing import TestClient
from examples.conduit.app import create_app

ROOT = Path(__file__).resolve().parents[2]
BASTION = str(Path(sys.executable).parent / "bastion")
APP = "examples.conduit.app:app"


def bastion_db(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`bastion --app examples.conduit.app:app db <args>` on ``url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
    env["BASTION_DATABASE_URL"] = url
    command = [BASTION, "--app", APP, "db", *args]
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def new_postgres_database(server_url: str) -> str:
    """An empty database of its own on the throwaway server: other tests' tables stay away."""
    import asyncpg

    name = f"conduit_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        connection = await asyncpg.connect(server_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    asyncio.run(create())
    return server_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def conduit_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated Conduit database on each engine."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('conduit') / 'conduit.db'}"
    else:
        url = new_postgres_database(request.getfixturevalue("postgres_url"))
    bastion_db(url, "upgrade")
    return url


@pytest.fixture(scope="session")
def conduit(conduit_url: str) -> Iterator[tuple[TestClient, SQLAlchemyPlugin]]:
    """The started app on one engine, with a cheap hasher (tests check behaviour, not cost)."""
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    app = create_app(Settings(profile="test"), database_url=conduit_url, hasher=hasher)
    database = next(p for p in app.plugins if isinstance(p, SQLAlchemyPlugin))
    with TestClient(app) as client:
        yield client, database


def app_cache(client: TestClient) -> Cache:
    """The app's default cache, where its cached answers live."""
    return next(p for p in client.app.plugins if isinstance(p, CachePlugin)).caches.default


@pytest.fixture
def client(conduit: tuple[TestClient, SQLAlchemyPlugin]) -> Iterator[TestClient]:
    test_client, database = conduit
    test_client.headers.pop("authorization", None)
    # Rolling the tables back does not reach the cache: answers a test stored would be
    # served to the next one (the invalidations of its writes ran at their commits).
    test_client.portal.call(app_cache(test_client).clear())
    with isolated_sync(test_client, database):
        yield test_client


class Api:
    """Shortcuts for the requests most tests start with."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def register(self, username: str, password: str = "secret-password") -> dict[str, str]:
        """Register ``username``; returns the Authorization header for them."""
        body = {"user": {"username": username, "email": f"{username}@example.com", "password": password}}
        response = self.client.post("/api/users", json=body)
        assert response.status_code == 201, response.text
        return {"Authorization": f"Token {response.json()['user']['token']}"}

    def article(self, auth: dict[str, str], title: str, tags: list[str] | None = None, **fields: Any) -> dict[str, Any]:
        """Create an article; returns its JSON."""
        article = {"title": title, "description": f"About {title}", "body": f"All of {title}", **fields}
        if tags is not None:
            article["tagList"] = tags
        response = self.client.post("/api/articles", json={"article": article}, headers=auth)
        assert response.status_code == 201, response.text
        return response.json()["article"]

    def comment(self, auth: dict[str, str], slug: str, body: str) -> dict[str, Any]:
        response = self.client.post(f"/api/articles/{slug}/comments", json={"comment": {"body": body}}, headers=auth)
        assert response.status_code == 200, response.text
        return response.json()["comment"]


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


@pytest.fixture
def ticking_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Conduit's clock, a millisecond later at every reading: a create and an update made in
    the same millisecond would otherwise carry the same stamp."""
    from datetime import UTC, datetime, timedelta

    import examples.conduit.models as models
    import examples.conduit.routes.articles as articles

    readings = iter(range(1_000_000))
    start = datetime.now(UTC)

    def tick() -> datetime:
        return start + timedelta(milliseconds=next(readings))

    monkeypatch.setattr(models, "utcnow", tick)
    monkeypatch.setattr(articles, "utcnow", tick)
