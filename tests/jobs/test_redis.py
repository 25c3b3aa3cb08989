"""The Redis jobs backend on a real server: the shared backend suite, then what only a
shared, networked store must show (several clients, wake-ups, key layout, configuration)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from bastion.jobs.backend import JobsBackend
from bastion.jobs.redis import RedisJobsBackend
from tests.jobs.backend_suite import *  # noqa: F403


@pytest.fixture
def prefix() -> str:
    """Keys of their own for each test: the server is shared by the whole session."""
    return f"test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def backend(redis_url: str, prefix: str) -> AsyncIterator[RedisJobsBackend]:
    redis = RedisJobsBackend(redis_url, prefix=prefix)
    await redis.start()
    yield redis
    await redis.stop()


@pytest.fixture
async def peer(redis_url: str, prefix: str) -> AsyncIterator[RedisJobsBackend]:  # noqa: F811
    """Another worker's handle: its own client and connections, the same keys."""
    redis = RedisJobsBackend(redis_url, prefix=prefix)
    await redis.start()
    yield redis
    await redis.stop()


def test_redis_backend_is_a_jobs_backend(redis_url: str) -> None:
    backend = RedisJobsBackend(redis_url)
    assert isinstance(backend, JobsBackend)
    assert backend.transactional is False
