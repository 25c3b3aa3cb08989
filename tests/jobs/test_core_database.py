"""JobsPlugin on the database backend (its default beside SQLAlchemyPlugin): a job enqueued in
a request is written in the request's transaction, on SQLite and PostgreSQL."""

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bastion import App, Settings
from bastion.db import SQLAlchemyPlugin
from bastion.exceptions import Conflict
from bastion.jobs import Jobs, JobsPlugin, JobState, Worker
from bastion.testing import AsyncTestClient
from tests.jobs._database import engine, jobs_url

__all__ = ["engine", "jobs_url"]


def shop(url: str) -> tuple[App, JobsPlugin, list[int]]:
    jobs = Jobs()
    shipped: list[int] = []

    @jobs.job
    async def ship(order: int, db: AsyncSession) -> None:
        count = await db.scalar(text("SELECT count(*) FROM orders WHERE id = :id"), {"id": order})
        assert count == 1  # the job runs after the row it needs is committed
        shipped.append(order)

    plugin = JobsPlugin(jobs, run_worker=True, poll=0.05)
    app = App(settings=Settings(profile="test"), plugins=[SQLAlchemyPlugin(url), plugin])

    @app.post("/orders/{order:int}")
    async def place(order: int, db: AsyncSession, fail: bool = False) -> None:
        await db.execute(text("INSERT INTO orders (id) VALUES (:id)"), {"id": order})
        await ship.enqueue(order=order)  # joins the request's transaction
        if fail:
            raise Conflict("rolled back")

    return app, plugin, shipped


async def test_a_request_transaction_carries_its_job(jobs_url: str, engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("DROP TABLE IF EXISTS orders"))
        await connection.execute(text("CREATE TABLE orders (id INTEGER PRIMARY KEY)"))
    app, plugin, shipped = shop(jobs_url)
    assert type(plugin.backend).__name__ == "DatabaseBackend"
    async with AsyncTestClient(app) as client:
        assert (await client.post("/orders/1")).status_code == 204
        assert (await client.post("/orders/2?fail=true")).status_code == 409
        for _ in range(200):
            if shipped:
                break
            await asyncio.sleep(0.02)
        assert plugin.backend is not None
        for _ in range(250):  # the outcome is recorded a moment after the job returns
            records = await plugin.backend.list()
            if records and records[0].state is JobState.SUCCEEDED:
                break
            await asyncio.sleep(0.02)
    assert shipped == [1]
    assert [(r.state, r.args) for r in records] == [(JobState.SUCCEEDED, b'{"order":1}')]


async def test_a_busy_worker_keeps_to_a_few_pooled_connections(
    jobs_url: str, engine: AsyncEngine
) -> None:
    """Each job recording its own outcome took a pooled connection each: with 20 running, the
    pool (5 kept) opened and closed a connection per job, and two workers on PostgreSQL ran
    ~210 jobs/s where the backend alone did ~1,450 claim+succeed/s. Outcomes now go together
    through one reporter, so the worker needs no more connections than the pool keeps."""
    from sqlalchemy import event

    from bastion.jobs.database import DatabaseBackend

    jobs = Jobs()

    @jobs.job
    async def noop(n: int) -> None:
        await asyncio.sleep(0.001 * (n % 3))  # outcomes that do not all come at once

    connects = 0

    def count(*_: object) -> None:
        nonlocal connects
        connects += 1

    event.listen(engine.sync_engine.pool, "connect", count)
    backend = DatabaseBackend(engine)
    app = App(settings=Settings(profile="test"), plugins=[JobsPlugin(jobs, backend=backend)])
    async with app.lifespan():
        await noop.enqueue_many({"n": n} for n in range(300))
        worker = Worker(jobs, backend, concurrency=20, poll=0.05, container=app.container)
        worker.cron = False
        task = asyncio.create_task(worker.run())
        for _ in range(1000):
            counts = await backend.counts()
            if counts.get(("default", JobState.SUCCEEDED), 0) == 300:
                break
            await asyncio.sleep(0.02)
        worker.stop()
        await task
        assert (await backend.counts()).get(("default", JobState.SUCCEEDED), 0) == 300
    assert connects <= 5, connects
