"""The memory backend passes the shared backend suite (tests/jobs/backend_suite.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from bastion.jobs.backend import JobsBackend
from bastion.jobs.memory import MemoryBackend
from bastion.jobs.record import JobRecord
from tests.jobs.backend_suite import *  # noqa: F403


@pytest.fixture
async def backend() -> AsyncIterator[JobsBackend]:
    memory = MemoryBackend()
    await memory.start()
    yield memory
    await memory.stop()


def test_memory_backend_is_a_jobs_backend() -> None:
    assert isinstance(MemoryBackend(), JobsBackend)


async def test_a_job_falling_due_is_claimed_in_priority_order_with_the_ready_ones(
    backend: JobsBackend,
) -> None:
    now = time.time()
    ready = JobRecord(name="tests.job", priority=5, run_at=now - 1)
    soon = JobRecord(name="tests.job", priority=0, run_at=now + 0.2)
    also = JobRecord(name="tests.job", priority=5, run_at=now - 0.5)
    await backend.enqueue([ready, soon, also])
    (first,) = await backend.claim(["default"], 1, worker="w", lease=30)
    assert first.id == ready.id
    await asyncio.sleep(0.25)
    assert [j.id for j in await backend.claim(["default"], 5, worker="w", lease=30)] == [
        soon.id,
        also.id,
    ]
