"""The server-side stores on their real engines: Redis, SQLite and PostgreSQL."""

import asyncio
import hashlib
from typing import Any

import pytest
from sqlalchemy import func, select

from bastion import App, ConfigurationError, Settings
from bastion.auth import RedisStore, SessionPlugin
from bastion.auth.sessions.database_store import DatabaseStore, SessionRow
from bastion.testing import TestClient
from tests.auth.conftest import SECRET, add_session_routes, app_with_database


def redis_app(url: str) -> App:
    plugin = SessionPlugin(RedisStore(url, prefix="test:session:"))
    return add_session_routes(
        App(settings=Settings(profile="test", secret_key=SECRET), plugins=[plugin])
    )


def redis_keys(url: str) -> list[bytes]:
    from redis.asyncio import Redis

    async def keys() -> list[bytes]:
        client = Redis.from_url(url)
        try:
            return sorted(await client.keys("test:session:*"))
        finally:
            await client.aclose()

    return asyncio.run(keys())


def test_redis_sessions_are_shared_by_two_app_processes(redis_url: str) -> None:
    with (
        TestClient(redis_app(redis_url), base_url="https://testserver") as first,
        TestClient(redis_app(redis_url), base_url="https://testserver") as second,
    ):
        first.post("/put/cart/42")
        cookie = {"cookie": f"session={first.cookies['session']}"}
        assert second.get("/get/cart", headers=cookie).json() == {"value": "42"}
        assert second.get("/get/cart").json() == {"value": None}


def test_redis_keys_are_hashes_with_the_idle_timeout_as_ttl(redis_url: str) -> None:
    from redis.asyncio import Redis

    with TestClient(redis_app(redis_url), base_url="https://testserver") as client:
        client.post("/put/a/b")
        cookie = client.cookies["session"]
        session_id = cookie.rsplit(".", 1)[0]
        keys = redis_keys(redis_url)
        assert keys and all(session_id.encode() not in key for key in keys)

        async def ttl(key: bytes) -> int:
            connection = Redis.from_url(redis_url)
            try:
                return int(await connection.ttl(key))
            finally:
                await connection.aclose()

        key = b"test:session:" + hashlib.sha256(session_id.encode()).hexdigest().encode()
        assert key in keys
        assert 7190 <= asyncio.run(ttl(key)) <= 7200


def test_redis_rotation_and_logout_delete_the_old_record(redis_url: str) -> None:
    with TestClient(redis_app(redis_url), base_url="https://testserver") as client:
        before = set(redis_keys(redis_url))
        client.post("/put/a/b")
        first = set(redis_keys(redis_url)) - before
        client.post("/rotate")
        second = set(redis_keys(redis_url)) - before
        assert len(first) == len(second) == 1 and first != second
        client.post("/clear")
        assert set(redis_keys(redis_url)) - before == set()


def test_unreachable_redis_fails_at_start_up() -> None:
    app = redis_app("redis://127.0.0.1:1/0")
    with pytest.raises(RuntimeError, match="ConfigurationError: Cannot reach Redis"):
        with TestClient(app):
            pass


def test_redis_store_takes_a_url_or_a_client() -> None:
    with pytest.raises(ConfigurationError, match="exactly one"):
        RedisStore()


def database_app(url: str) -> tuple[App, Any]:
    app, database = app_with_database(url, lambda db: [SessionPlugin(DatabaseStore(db))])
    return add_session_routes(app), database


def count_rows(client: TestClient, database: Any) -> int:
    async def count() -> int:
        async with database.sessions() as db:
            return int(await db.scalar(select(func.count()).select_from(SessionRow)) or 0)

    return client.portal.call(count())


def test_database_sessions(database_url: str) -> None:
    app, database = database_app(database_url)
    with TestClient(app, base_url="https://testserver") as client:
        client.post("/put/cart/7")
        assert client.get("/get/cart").json() == {"value": "7"}
        assert count_rows(client, database) == 1
        client.post("/put/cart/8")  # an update of the same row
        assert count_rows(client, database) == 1
        old = client.cookies["session"]
        client.post("/rotate")
        assert count_rows(client, database) == 1 and client.cookies["session"] != old
        assert client.get("/get/cart").json() == {"value": "8"}
        client.post("/clear")
        assert count_rows(client, database) == 0
        assert client.get("/get/cart").json() == {"value": None}


def test_database_store_expires_and_purges(database_url: str) -> None:
    app, database = database_app(database_url)
    store = DatabaseStore(database)
    with TestClient(app) as client:

        async def scenario() -> tuple[bytes | None, bytes | None, int]:
            await store.save("gone", b"old", 1)
            await store.save("kept", b"new", 3600)
            await asyncio.sleep(1.1)
            return await store.load("gone"), await store.load("kept"), await store.purge()

        assert client.portal.call(scenario()) == (None, b"new", 1)
