"""arq: the worker is ``arq systems.arq_jobs.WorkerSettings`` (``ArqFastSettings``: the same
with poll_delay=0.01 s instead of its default 0.5 s: arq polls its queue, it is not woken)."""

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from arq import create_pool
from arq.connections import RedisSettings

from systems._record import concurrency, record


async def noop(ctx: dict, i: int) -> None:
    record(i)


def _settings() -> RedisSettings:
    return RedisSettings.from_dsn(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))


class WorkerSettings:
    functions = [noop]
    redis_settings = _settings()
    max_jobs = concurrency()


class ArqFastSettings:  # arq reads a settings class's own attributes, not inherited ones
    functions = [noop]
    redis_settings = _settings()
    max_jobs = concurrency()
    poll_delay = 0.01


#: The CLI's logging (--custom-log-dict) at WARNING: no line per job, as for every system.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"err": {"class": "logging.StreamHandler", "level": "WARNING"}},
    "loggers": {"arq": {"handlers": ["err"], "level": "WARNING"}},
}


@asynccontextmanager
async def producer(engine: str) -> AsyncIterator[Callable[[int], Awaitable[object]]]:
    pool = await create_pool(_settings())
    try:
        yield lambda i: pool.enqueue_job("noop", i)
    finally:
        await pool.aclose()
