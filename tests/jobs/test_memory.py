"""The memory backend passes the shared backend suite (tests/jobs/backend_suite.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bastion.jobs.backend import JobsBackend
from bastion.jobs.memory import MemoryBackend
from tests.jobs.backend_suite import *  # noqa: F403


@pytest.fixture
async def backend() -> AsyncIterator[JobsBackend]:
    memory = MemoryBackend()
    await memory.start()
    yield memory
    await memory.stop()


def test_memory_backend_is_a_jobs_backend() -> None:
    assert isinstance(MemoryBackend(), JobsBackend)
