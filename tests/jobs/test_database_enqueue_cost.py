"""What one enqueue costs the database backend on a real PostgreSQL: one statement (the INSERT
and its NOTIFY together), built once at import rather than at each call, where building it and
its cache key took about a third of an enqueue's CPU time (benchmarks/jobs/run)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import event

from bastion.jobs.database import DatabaseBackend
from bastion.jobs.record import JobRecord
from tests.jobs import _database

engine, backend = _database.engine, _database.backend


@pytest.fixture
def jobs_url(postgres_url: str) -> str:
    return postgres_url


async def test_each_enqueue_on_postgresql_sends_the_same_prebuilt_statement(
    backend: DatabaseBackend,
) -> None:
    assert backend._engine is not None
    sent: list[Any] = []

    def before_execute(_conn: Any, clause: Any, *_args: Any) -> None:
        sent.append(clause)

    event.listen(backend._engine.sync_engine, "before_execute", before_execute)
    try:
        for n in range(3):
            await backend.enqueue([JobRecord(name="tests.job", args=b'{"n":%d}' % n)])
    finally:
        event.remove(backend._engine.sync_engine, "before_execute", before_execute)

    assert len(sent) == 3  # one statement per enqueue: the INSERT and its NOTIFY
    assert sent[0] is sent[1] is sent[2]
    stored = await backend.list(limit=10)
    assert sorted(job.args for job in stored) == [b'{"n":0}', b'{"n":1}', b'{"n":2}']
    assert all(job.run_at <= time.time() for job in stored)
