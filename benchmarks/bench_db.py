"""The database scenarios of ../shared/bench/SPEC.md as idiomatic Bastion, four ways.

- ``prepared``: ``db: AsyncSession`` from ``SQLAlchemyPlugin`` with the selects as
  ``bastion.db.Prepared`` (compiled once by SQLAlchemy, run on the driver connection from
  SQLAlchemy's pool) and the writes as a SQLAlchemy Core executemany: what ``bench_app``
  serves, the fastest path on SQLAlchemy;
- ``orm_app``: models and the ORM on the same session (the path the docs teach first);
- ``core_app``: the same session, SQLAlchemy Core statements through ``db.execute``;
- ``driver_app``: the asyncpg pool itself, through an app-scoped dependency.

``benchmarks/db/run`` measures all four beside raw asyncpg, FastAPI and Litestar.
Needs ``BENCH_PG_DSN`` (postgresql://…).
"""

import os
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import asyncpg
import msgspec
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bastion import App, Depends, Request, Response, Router, Settings
from bastion.db import Model, Prepared, SQLAlchemyPlugin
from bastion.templates import Templates

DSN = os.environ.get("BENCH_PG_DSN", "postgresql://bastion@127.0.0.1:5432/bench")
POOL_SIZE = 16  # the asyncpg pool of driver_app (the user's own pool), as the peers'
templates = Templates(Path(__file__).parent / "templates")
settings = Settings(profile="prod", debug=False, secret_key="bench-" + "x" * 40)


def database() -> SQLAlchemyPlugin:
    """The plugin as a user gets it: its default pool (settings.database_pool_size), untuned."""
    return SQLAlchemyPlugin(DSN.replace("postgresql://", "postgresql+asyncpg://", 1))


class World(Model):
    __tablename__ = "world"
    id: Mapped[int] = mapped_column(primary_key=True)
    randomnumber: Mapped[int]


class Fortune(Model):
    __tablename__ = "fortune"
    id: Mapped[int] = mapped_column(primary_key=True)
    message: Mapped[str]


class WorldOut(msgspec.Struct):
    id: int
    randomNumber: int


def query_count(queries: str) -> int:
    """TechEmpower's rule: clamped to 1..500, anything that is not a number counts as 1."""
    n = int(queries) if queries.isdigit() else 1
    return min(max(n, 1), 500)


def random_ids(n: int) -> list[int]:
    """N distinct ids, sorted so concurrent updates never deadlock."""
    return sorted(random.sample(range(1, 10001), n))


def render_fortunes(request: Request, rows: list[tuple[int, str]]) -> Response:
    rows.append((0, "Additional fortune added at request time."))
    rows.sort(key=lambda row: row[1])
    return templates.render(request, "fortunes.html",
                            {"fortunes": [{"id": i, "message": m} for i, m in rows]})


# ---------------------------------------------------------------- Prepared (bench_app)
prepared = Router()
WORLD = Prepared(select(World.id, World.randomnumber).where(World.id == bindparam("id")))
FORTUNES = Prepared(select(Fortune.id, Fortune.message))
WORLD_TABLE = World.__table__
SET_NUMBER = (update(WORLD_TABLE).where(WORLD_TABLE.c.id == bindparam("world"))
              .values(randomnumber=bindparam("number")))


@prepared.get("/db")
async def prepared_single_query(db: AsyncSession) -> WorldOut:
    row = await WORLD.one(db, id=random_ids(1)[0])
    return WorldOut(row[0], row[1])


@prepared.get("/queries")
async def prepared_multiple_queries(db: AsyncSession, queries: str = "1") -> list[WorldOut]:
    rows = [await WORLD.one(db, id=i) for i in random_ids(query_count(queries))]
    return [WorldOut(r[0], r[1]) for r in rows]


@prepared.get("/updates")
async def prepared_updates(db: AsyncSession, queries: str = "1") -> list[WorldOut]:
    worlds = [WorldOut((await WORLD.one(db, id=i))[0], random.randint(1, 10000))
              for i in random_ids(query_count(queries))]
    await db.execute(SET_NUMBER, [{"world": w.id, "number": w.randomNumber} for w in worlds])
    return worlds  # committed after the handler


@prepared.get("/fortunes-db")
async def prepared_fortunes(request: Request, db: AsyncSession) -> Response:
    return render_fortunes(request, await FORTUNES.all(db))


# ---------------------------------------------------------------- ORM
orm = Router()


@orm.get("/db")
async def single_query(db: AsyncSession) -> WorldOut:
    world = await World.get_or_404(db, random_ids(1)[0])
    return WorldOut(world.id, world.randomnumber)


@orm.get("/queries")
async def multiple_queries(db: AsyncSession, queries: str = "1") -> list[WorldOut]:
    worlds = [await World.get_or_404(db, i) for i in random_ids(query_count(queries))]
    return [WorldOut(w.id, w.randomnumber) for w in worlds]


@orm.get("/updates")
async def updates(db: AsyncSession, queries: str = "1") -> list[WorldOut]:
    worlds = [await World.get_or_404(db, i) for i in random_ids(query_count(queries))]
    for world in worlds:
        world.randomnumber = random.randint(1, 10000)
    return [WorldOut(w.id, w.randomnumber) for w in worlds]  # committed after the handler


@orm.get("/fortunes-db")
async def fortunes(request: Request, db: AsyncSession) -> Response:
    rows = [(f.id, f.message) for f in await db.scalars(select(Fortune))]
    return render_fortunes(request, rows)


# ---------------------------------------------------------------- Core on the same session
core = Router()
ONE_WORLD = select(World.id, World.randomnumber).where(World.id == bindparam("id"))


@core.get("/db")
async def core_single_query(db: AsyncSession) -> WorldOut:
    row = (await db.execute(ONE_WORLD, {"id": random_ids(1)[0]})).one()
    return WorldOut(row[0], row[1])


@core.get("/queries")
async def core_multiple_queries(db: AsyncSession, queries: str = "1") -> list[WorldOut]:
    rows = [(await db.execute(ONE_WORLD, {"id": i})).one()
            for i in random_ids(query_count(queries))]
    return [WorldOut(r[0], r[1]) for r in rows]


@core.get("/updates")
async def core_updates(db: AsyncSession, queries: str = "1") -> list[WorldOut]:
    worlds = [WorldOut((await db.execute(ONE_WORLD, {"id": i})).one()[0],
                       random.randint(1, 10000)) for i in random_ids(query_count(queries))]
    # SQLAlchemy's bulk UPDATE by primary key: one executemany
    await db.execute(update(World), [{"id": w.id, "randomnumber": w.randomNumber}
                                     for w in worlds])
    return worlds


@core.get("/fortunes-db")
async def core_fortunes(request: Request, db: AsyncSession) -> Response:
    rows = [(r[0], r[1]) for r in await db.execute(select(Fortune.id, Fortune.message))]
    return render_fortunes(request, rows)


# ---------------------------------------------------------------- the driver itself
driver = Router()


async def pool() -> AsyncIterator[asyncpg.Pool]:
    """One asyncpg pool for the app's lifetime (created at start-up, closed at shutdown)."""
    pg_pool = await asyncpg.create_pool(DSN, min_size=POOL_SIZE, max_size=POOL_SIZE)
    yield pg_pool
    await pg_pool.close()


Pool = Annotated[asyncpg.Pool, Depends(pool, scope="app")]
SELECT = "SELECT id, randomnumber FROM world WHERE id = $1"


@driver.get("/db")
async def driver_single_query(pg: Pool) -> WorldOut:
    row = await pg.fetchrow(SELECT, random_ids(1)[0])
    return WorldOut(row[0], row[1])


@driver.get("/queries")
async def driver_multiple_queries(pg: Pool, queries: str = "1") -> list[WorldOut]:
    async with pg.acquire() as connection:
        rows = [await connection.fetchrow(SELECT, i) for i in random_ids(query_count(queries))]
    return [WorldOut(r[0], r[1]) for r in rows]


@driver.get("/updates")
async def driver_updates(pg: Pool, queries: str = "1") -> list[WorldOut]:
    async with pg.acquire() as connection:
        worlds = [WorldOut((await connection.fetchrow(SELECT, i))[0], random.randint(1, 10000))
                  for i in random_ids(query_count(queries))]
        await connection.executemany("UPDATE world SET randomnumber = $1 WHERE id = $2",
                                     [(w.randomNumber, w.id) for w in worlds])
    return worlds


@driver.get("/fortunes-db")
async def driver_fortunes(request: Request, pg: Pool) -> Response:
    rows = [(r[0], r[1]) for r in await pg.fetch("SELECT id, message FROM fortune")]
    return render_fortunes(request, rows)


async def plaintext() -> str:
    return "Hello, World!"


orm_app = App(settings=settings, plugins=[database()])
orm_app.include(orm)
core_app = App(settings=settings, plugins=[database()])
core_app.include(core)
driver_app = App(settings=settings)
driver_app.include(driver)
for variant in (orm_app, core_app, driver_app):
    variant.get("/plaintext")(plaintext)
