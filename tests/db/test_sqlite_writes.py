"""Concurrent writers on the embedded default (SQLite) wait for each other instead of failing.

A deferred ``BEGIN`` that reads and then writes cannot wait for the write lock: when another
connection wrote in between, SQLite answers "database is locked" at once, which reached users
as a 500 under two concurrent clients (schemathesis --workers 2 found it on Conduit).
"""

import asyncio

from sqlalchemy import Integer, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bastion.db import Model
from bastion.testing import AsyncTestClient
from tests.db.conftest import app_with_tables


class Counter(Model):
    __tablename__ = "write_counters"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


async def test_concurrent_read_then_write_requests_all_succeed_and_lose_no_update(tmp_path):
    app, _ = app_with_tables(f"sqlite+aiosqlite:///{tmp_path / 'writes.db'}", Model.metadata)

    @app.post("/bump", status_code=200)
    async def bump(db: AsyncSession) -> int:
        counter = (await db.execute(select(Counter).where(Counter.id == 1))).scalar_one_or_none()
        if counter is None:
            counter = Counter(id=1, value=0)
            db.add(counter)
            await db.flush()
        await asyncio.sleep(0.01)  # another request reads and writes meanwhile
        counter.value += 1
        return counter.value

    async with AsyncTestClient(app) as client:
        answers = await asyncio.gather(*(client.post("/bump") for _ in range(12)))
        assert [a.status_code for a in answers] == [200] * 12, answers[0].text
        assert sorted(a.json() for a in answers) == list(range(1, 13))


async def test_sqlite_connections_use_wal_with_synchronous_normal(tmp_path):
    """WAL with synchronous=NORMAL: commits do not wait for an fsync (FULL measured ~500
    job claims a second on this machine's disk), and the database stays consistent."""
    from sqlalchemy import text

    from bastion.db.engine import create_engine

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'pragmas.db'}")
    async with engine.connect() as connection:
        assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await connection.execute(text("PRAGMA synchronous"))).scalar() == 1  # NORMAL
    await engine.dispose()
