"""The database backend on SQLite and a real PostgreSQL: the shared suite, then its tables
(the shipped migration creates exactly them) and misconfiguration."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bastion.cache import Cache, CacheBackend
from bastion.cache.database import DatabaseBackend, metadata
from bastion.db.engine import create_engine
from bastion.exceptions import ConfigurationError
from tests._postgres import start_postgres
from tests.cache.suite import *  # noqa: F403


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'cache.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    made = create_engine(db_url)
    async with made.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield made
    await made.dispose()


@pytest.fixture
def prefix() -> str:
    return f"test:{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def cache(engine: AsyncEngine, prefix: str) -> AsyncIterator[Cache]:
    # A roomy timeout: these tests are about behaviour, and on a loaded machine 50 writers
    # queued on SQLite's write lock can wait longer than the default second (a miss).
    made = Cache(DatabaseBackend(engine, timeout=15), prefix=prefix)
    await made.start()
    yield made
    await made.stop()


@pytest.fixture
async def peer(db_url: str, prefix: str, cache: Cache) -> AsyncIterator[Cache]:
    """Another process's view: its own engine and pool."""
    made = Cache(DatabaseBackend(db_url, timeout=15), prefix=prefix)
    await made.start()
    yield made
    await made.stop()


@pytest.fixture(params=["sqlite", "postgres"])
async def outage(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Cache, Any]]:
    if request.param == "sqlite":
        folder = tmp_path / "data"
        folder.mkdir()
        backend = DatabaseBackend(f"sqlite+aiosqlite:///{folder / 'cache.db'}", timeout=2)
        made = Cache(backend, prefix="outage")
        await made.start()
        async with backend._engine.begin() as connection:  # type: ignore[union-attr]
            await connection.run_sync(metadata.create_all)

        async def stop() -> None:  # the file's folder is gone: no connection can open it
            folder.rename(tmp_path / "gone")
            await backend._engine.dispose()  # type: ignore[union-attr]

        yield made, stop
        await made.stop()
        return
    base = Path(tempfile.mkdtemp(prefix="bastion-pg-"))  # its own server, to stop
    servers = start_postgres(base)
    try:
        url = next(servers)
        backend = DatabaseBackend(url, timeout=2)
        made = Cache(backend, prefix="outage")
        await made.start()
        async with backend._engine.begin() as connection:  # type: ignore[union-attr]
            await connection.run_sync(metadata.create_all)

        async def stop() -> None:
            servers.close()

        yield made, stop
        await made.stop()
    finally:
        servers.close()
        shutil.rmtree(base, ignore_errors=True)


def test_database_backend_is_a_cache_backend() -> None:
    assert isinstance(DatabaseBackend("sqlite+aiosqlite://"), CacheBackend)


async def test_missing_tables_say_how_to_create_them(tmp_path: Path) -> None:
    cache = Cache(DatabaseBackend(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"))
    await cache.start()
    try:
        with pytest.raises(ConfigurationError, match="db upgrade"):
            await cache.get("k")
    finally:
        await cache.stop()


async def test_expired_rows_are_purged(cache: Cache, engine: AsyncEngine) -> None:
    from sqlalchemy import func, select

    from bastion.cache._db_schema import entries

    backend: DatabaseBackend = cache.backend  # type: ignore[assignment]
    await cache.set("old", 1, ttl=0.1)
    import asyncio

    await asyncio.sleep(0.2)
    backend._next_purge = 0.0
    await cache.set("new", 1)
    async with engine.connect() as connection:
        keys = (
            (
                await connection.execute(
                    select(entries.c.key).where(
                        func.substr(entries.c.key, 1, len(cache.prefix)) == cache.prefix
                    )
                )
            )
            .scalars()
            .all()
        )
    assert keys == [cache.key("new")]
