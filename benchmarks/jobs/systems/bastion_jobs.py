"""Bastion: one no-op job; ``redis_app`` (the Redis backend) and ``pg_app`` (the database
backend on PostgreSQL: FOR UPDATE SKIP LOCKED, LISTEN/NOTIFY). The worker is
``bastion --app systems.bastion_jobs:redis_app worker``, as docs/jobs.md teaches."""

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from bastion import App
from bastion.jobs import Jobs, JobsPlugin
from systems._record import concurrency, record

jobs = Jobs()


@jobs.job(name="bench.noop")
async def noop(i: int) -> None:
    record(i)


def _redis_app() -> App:
    return App(plugins=[JobsPlugin(jobs, backend=os.environ["BENCH_REDIS_URL"],
                                   concurrency=concurrency())])


def _pg_url() -> str:
    return os.environ["BENCH_PG_DSN"].replace("postgresql://", "postgresql+asyncpg://", 1)


def _pg_app() -> App:
    from bastion.db import SQLAlchemyPlugin

    return App(plugins=[SQLAlchemyPlugin(_pg_url(), **_POOL),
                        JobsPlugin(jobs, backend="database", concurrency=concurrency())])


_apps: dict[str, App] = {}
#: --bastion-pool-size: SQLAlchemy's pool for the app (default 5 + 10 overflow connections).
_POOL = {"pool_size": int(os.environ["BENCH_PG_POOL"])} if os.environ.get("BENCH_PG_POOL") else {}


def __getattr__(name: str) -> App:  # build only the app asked for (its engine's env is set)
    makers = {"redis_app": _redis_app, "pg_app": _pg_app}
    if name not in makers:
        raise AttributeError(name)
    if name not in _apps:
        _apps[name] = makers[name]()
    return _apps[name]


async def create_tables() -> None:
    """The jobs tables, as bastion db upgrade would make them (tests do the same)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from bastion.jobs.database import metadata

    engine = create_async_engine(_pg_url())
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    await engine.dispose()


@asynccontextmanager
async def producer(engine: str) -> AsyncIterator[Callable[[int], Awaitable[object]]]:
    app = __getattr__("redis_app" if engine == "redis" else "pg_app")
    async with app.lifespan():
        yield lambda i: noop.enqueue(i=i)
