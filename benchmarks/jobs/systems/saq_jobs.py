"""SAQ on Redis and on PostgreSQL: the worker is ``saq systems.saq_jobs.redis_settings``
(or ``pg_settings``), as SAQ's README teaches."""

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from saq import Queue

from systems._record import concurrency, record


async def noop(ctx: dict, *, i: int) -> None:
    record(i)


def _queue(engine: str) -> Queue:
    if engine == "redis":
        return Queue.from_url(os.environ["BENCH_REDIS_URL"])
    return Queue.from_url(os.environ["BENCH_PG_DSN"])


def redis_settings() -> dict:
    return {"queue": _queue("redis"), "functions": [noop], "concurrency": concurrency()}


def pg_settings() -> dict:
    return {"queue": _queue("postgres"), "functions": [noop], "concurrency": concurrency()}


async def create_tables() -> None:
    queue = _queue("postgres")
    await queue.connect()  # runs SAQ's migrations
    await queue.disconnect()


@asynccontextmanager
async def producer(engine: str) -> AsyncIterator[Callable[[int], Awaitable[object]]]:
    queue = _queue(engine)
    await queue.connect()
    try:
        yield lambda i: queue.enqueue("noop", i=i)
    finally:
        await queue.disconnect()
