"""Fixtures of the database backend's tests: an empty jobs table on SQLite and on a real
PostgreSQL (tests/_postgres.py; a missing PostgreSQL fails in CI)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bastion.db.engine import create_engine
from bastion.jobs.database import DatabaseBackend, metadata


@pytest.fixture(params=["sqlite", "postgres"])
def jobs_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def engine(jobs_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a database whose jobs tables are new and empty."""
    engine = create_engine(jobs_url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.drop_all)
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
async def backend(engine: AsyncEngine) -> AsyncIterator[DatabaseBackend]:
    backend = DatabaseBackend(engine)
    await backend.start()
    yield backend
    await backend.stop()


@pytest.fixture
async def peer(jobs_url: str, backend: DatabaseBackend) -> AsyncIterator[DatabaseBackend]:
    """Another process's view of the same tables: its own engine and pool."""
    peer = DatabaseBackend(jobs_url)
    await peer.start()
    yield peer
    await peer.stop()
