"""Procrastinate: the worker is ``procrastinate --app systems.procrastinate_jobs.app worker``
(LISTEN/NOTIFY on, its default), as its docs teach."""

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from procrastinate import App, PsycopgConnector

from systems._record import record

app = App(connector=PsycopgConnector(conninfo=os.environ.get("BENCH_PG_DSN", "")))


@app.task(name="noop")
async def noop(i: int) -> None:
    record(i)


async def create_tables() -> None:
    async with app.open_async():
        found = await app.connector.execute_query_one_async(
            "SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS found")
        if not found["found"]:  # a database given with BENCH_PG_DSN may have them already
            await app.schema_manager.apply_schema_async()


@asynccontextmanager
async def producer(engine: str) -> AsyncIterator[Callable[[int], Awaitable[object]]]:
    async with app.open_async():
        yield lambda i: noop.defer_async(i=i)
