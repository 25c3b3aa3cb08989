"""The database backend passes the shared backend suite on SQLite and on PostgreSQL; the
``peer`` in the concurrency tests is another backend with its own engine (another process's
view of the same tables)."""

from __future__ import annotations

from bastion.jobs.backend import JobsBackend
from bastion.jobs.database import DatabaseBackend
from tests.jobs import _database
from tests.jobs.backend_suite import *  # noqa: F403

jobs_url, engine, backend = _database.jobs_url, _database.engine, _database.backend
peer = _database.peer  # replaces the suite's (the backend itself)


def test_database_backend_is_a_transactional_jobs_backend() -> None:
    database = DatabaseBackend("sqlite+aiosqlite:///:memory:")
    assert isinstance(database, JobsBackend)
    assert database.transactional is True


def test_the_peer_is_another_backend(backend: DatabaseBackend, peer: DatabaseBackend) -> None:
    assert peer is not backend
