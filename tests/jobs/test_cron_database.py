"""Cron across processes on the database backend: two scheduler processes on a real
PostgreSQL, and on one SQLite file, over seconds-granularity ticks with the leader SIGKILLed
half-way; every tick's job is stored once and run once (lead() is the leaders table's upsert).

Its own file, like test_cron_processes.py, so ``--dist loadfile`` runs it beside the rest.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bastion.db.engine import create_engine
from bastion.jobs.database import DatabaseBackend, metadata
from tests.jobs.test_cron_processes import Target, two_schedulers_fire_each_tick_once


@pytest.fixture(params=["postgres", "sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}"
    else:
        url = str(request.getfixturevalue("fresh_postgres_url"))

    async def create_tables() -> None:
        engine = create_engine(url)
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        await engine.dispose()

    asyncio.run(create_tables())
    return url


async def test_two_scheduler_processes_fire_each_tick_once(
    database_url: str, tmp_path: Path
) -> None:
    backend = DatabaseBackend(database_url)
    await backend.start()
    try:
        target = Target(("database", database_url, ""), lease=2.0)
        # On SQLite a statement waiting for the write lock (another process holds it) runs in
        # aiosqlite's thread until SQLite's busy timeout (5 s): a stop must wait for it.
        sqlite = database_url.startswith("sqlite")
        await two_schedulers_fire_each_tick_once(
            backend, target, tmp_path, seconds=10, stop_within=5.5 if sqlite else 0.5
        )
    finally:
        await backend.stop()
