"""Fixtures of the database backend's tests: an empty jobs table on SQLite and on a real
PostgreSQL (tests/_postgres.py; a missing PostgreSQL fails in CI)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bastion.db.engine import create_engine
from bastion.jobs.database import DatabaseBackend, metadata
from tests import _postgres


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


class Server:
    """A PostgreSQL of this test's own, which it can crash and start again."""

    def __init__(self) -> None:
        if not _postgres._bin_dir():
            _postgres.missing("PostgreSQL is not installed (initdb not found)")
        self.base = Path(tempfile.mkdtemp(prefix="bastion-pg-restart-"))
        self._running = _postgres.start_postgres(self.base)
        self.url = next(self._running)

    def pg_ctl(self, *args: str) -> None:
        bin_dir = _postgres._bin_dir()
        assert bin_dir is not None
        run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        command = [*run_as, str(bin_dir / "pg_ctl"), "-D", str(self.base / "data"), *args]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def crash(self) -> None:
        self.pg_ctl("-m", "immediate", "-w", "stop")

    def start_again(self) -> None:
        port = self.url.rsplit(":", 1)[1].split("/")[0]
        options = f"-p {port} -k {self.base / 'sockets'} -c listen_addresses=127.0.0.1"
        self.pg_ctl("-o", options, "-l", str(self.base / "log"), "-w", "-t", "30", "start")

    async def create_tables(self) -> None:
        engine = create_engine(self.url)
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        await engine.dispose()

    def close(self) -> None:
        try:
            next(self._running, None)  # stops the server
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
