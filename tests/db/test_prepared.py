"""``Prepared``: compiled once; on PostgreSQL a request's reads run on the driver until its
session begins, everywhere else through the session, with the same results."""

import datetime
import decimal
import enum
import uuid

import asyncpg
import pytest
from sqlalchemy import (
    JSON,
    DateTime,
    Enum,
    MetaData,
    Numeric,
    String,
    Uuid,
    bindparam,
    event,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, aliased, mapped_column

from bastion.db import Prepared
from bastion.db.testing import isolated_sync
from bastion.testing import TestClient
from tests.db.conftest import app_with_tables


class Base(DeclarativeBase):
    metadata = MetaData()


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class City(Base):
    __tablename__ = "query_cities"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    population: Mapped[int]


class Sample(Base):
    """Types whose values SQLAlchemy converts on the way in or out."""

    __tablename__ = "query_samples"
    id: Mapped[int] = mapped_column(primary_key=True)
    colour: Mapped[Colour] = mapped_column(Enum(Colour))
    data: Mapped[dict] = mapped_column(JSON)
    key: Mapped[uuid.UUID] = mapped_column(Uuid)
    at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))
    price: Mapped[decimal.Decimal] = mapped_column(Numeric(10, 2))


SAMPLE_COLUMNS = (Sample.colour, Sample.data, Sample.key, Sample.at, Sample.price)
SAMPLES = Prepared(select(*SAMPLE_COLUMNS).where(Sample.colour == bindparam("colour"))
                   .order_by(Sample.id))
CITY = Prepared(select(City.id, City.name).where(City.id == bindparam("id")))
BIG = Prepared(select(City.name).where(City.population > bindparam("at_least", 1000))
            .order_by(City.name))
COUNT = Prepared(select(func.count()).select_from(City))
SOME = Prepared(select(City.name).where(City.id.in_([1, 2])).order_by(City.id))
MISSING_TABLE = Prepared(select(text("x")).select_from(text("no_such_table")))
BACKEND_PID = Prepared(select(func.pg_backend_pid()))
SEED = [{"name": "Oslo", "population": 700}, {"name": "Lima", "population": 10_000},
        {"name": "Kyiv", "population": 3_000}]


def make_app(url: str, **options):
    app, plugin = app_with_tables(url, Base.metadata, pool_size=1, max_overflow=0,
                                  pool_timeout=5, **options)

    @app.post("/seed")
    async def seed(db: AsyncSession) -> None:
        await db.execute(insert(City), SEED)

    @app.get("/reads")
    async def reads(db: AsyncSession) -> dict:
        return {"one": list(await CITY.one(db, id=2)), "first": await CITY.first(db, id=99),
                "all": await BIG.all(db), "scalars": await BIG.scalars(db, at_least=500),
                "scalar": await COUNT.scalar(db), "in": await SOME.scalars(db)}

    @app.get("/cities/{city_id}")
    async def city(city_id: int, db: AsyncSession) -> str:
        return str((await CITY.one(db, id=city_id))[1])

    @app.post("/read-then-write")
    async def read_then_write(db: AsyncSession) -> list[int]:
        before = await COUNT.scalar(db)
        db.add(City(name="Rome", population=2_800))
        pending = await COUNT.scalar(db)  # autoflushed: the session's change is seen
        return [before, pending, await COUNT.scalar(db)]

    @app.post("/write-then-fail")
    async def write_then_fail(db: AsyncSession) -> None:
        await COUNT.scalar(db)
        db.add(City(name="Nowhere", population=1))
        await db.flush()
        raise RuntimeError("after a write")

    @app.get("/missing-table")
    async def missing_table(db: AsyncSession) -> str:
        try:
            await MISSING_TABLE.all(db)
        except DBAPIError as error:
            return type(error).__name__
        return "no error"

    @app.get("/samples")
    async def samples(db: AsyncSession) -> bool:
        db.add_all([
            Sample(colour=Colour.RED, data={"a": [1, 2]}, key=uuid.UUID(int=7),
                   at=datetime.datetime(2026, 11, 23, 12, tzinfo=datetime.UTC),
                   price=decimal.Decimal("9.95")),
            Sample(colour=Colour.BLUE, data={}, key=uuid.uuid4(),
                   at=datetime.datetime.now(datetime.UTC), price=decimal.Decimal(1)),
        ])
        await db.commit()
        prepared = await SAMPLES.all(db, colour=Colour.RED)  # idle again: direct on PostgreSQL
        through_session = [tuple(row) for row in await db.execute(
            select(*SAMPLE_COLUMNS).where(Sample.colour == Colour.RED).order_by(Sample.id))]
        assert prepared == through_session, (prepared, through_session)
        assert isinstance(prepared[0][0], Colour) and prepared[0][1] == {"a": [1, 2]}
        return True

    @app.get("/pid")
    async def pid(db: AsyncSession) -> int:
        return int(await BACKEND_PID.scalar(db))

    return app, plugin


def count_statements(plugin) -> list[str]:
    """The statements that went through SQLAlchemy's execution (direct reads do not)."""
    seen: list[str] = []
    event.listen(plugin.engine.sync_engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_: statement.startswith("SELECT")
                 and seen.append(statement))
    return seen


def test_every_read_gives_the_same_rows_on_both_databases(database_url):
    app, _ = make_app(database_url)
    with TestClient(app) as client:
        client.post("/seed")
        assert client.get("/reads").json() == {
            "one": [2, "Lima"], "first": None, "all": [["Kyiv"], ["Lima"]],
            "scalars": ["Kyiv", "Lima", "Oslo"], "scalar": 3, "in": ["Oslo", "Lima"]}


def test_values_convert_as_sqlalchemy_converts_them(database_url):
    app, plugin = make_app(database_url)
    with TestClient(app) as client:
        seen = count_statements(plugin)
        assert client.get("/samples").json() is True
        assert len(seen) == (1 if database_url.startswith("postgresql") else 2)


def test_postgres_reads_skip_sqlalchemys_execution_and_sqlite_goes_through_it(database_url):
    app, plugin = make_app(database_url)
    with TestClient(app) as client:
        client.post("/seed")
        seen = count_statements(plugin)
        assert client.get("/cities/1").text == "Oslo"
        assert len(seen) == (0 if database_url.startswith("postgresql") else 1)
        # an IN list runs on PostgreSQL as one array (= ANY), through the session elsewhere
        assert client.get("/reads").json()["in"] == ["Oslo", "Lima"]
        through_session = sum("IN (" in statement for statement in seen)
        assert through_session == (0 if database_url.startswith("postgresql") else 1)


def test_reads_in_one_transaction_when_autocommit_reads_are_off(postgres_url):
    app, plugin = make_app(postgres_url, autocommit_reads=False)
    with TestClient(app) as client:
        client.post("/seed")
        seen = count_statements(plugin)
        assert client.get("/cities/3").text == "Kyiv"
    assert len(seen) == 1


def test_missing_row_is_a_404_problem(database_url):
    app, _ = make_app(database_url)
    with TestClient(app) as client:
        response = client.get("/cities/404")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "The requested row does not exist"


def test_a_read_sees_the_sessions_own_unflushed_and_flushed_changes(database_url):
    """One connection in the pool: the read's connection goes back before the write takes
    it, or this request would wait for itself until pool_timeout."""
    app, plugin = make_app(database_url)
    with TestClient(app) as client:
        client.post("/seed")
        assert client.post("/read-then-write").json() == [3, 4, 4]
        assert client.get("/reads").json()["scalar"] == 4
        assert plugin.engine.pool.checkedout() == 0


def test_driver_errors_are_sqlalchemys_and_the_pool_stays_whole(database_url):
    app, plugin = make_app(database_url)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.post("/seed")
        for _ in range(100):
            assert client.get("/missing-table").text == "ProgrammingError" if (
                database_url.startswith("postgresql")) else "OperationalError"
            assert client.post("/write-then-fail").status_code == 500
        assert client.get("/reads").json()["scalar"] == 3  # every failed write rolled back
        assert plugin.engine.pool.checkedout() == 0


def test_a_connection_killed_under_a_read_is_dropped_not_pooled(postgres_url):
    app, plugin = make_app(postgres_url)
    with TestClient(app, raise_server_exceptions=False) as client:
        pid = client.get("/pid").json()

        async def terminate() -> None:
            connection = await asyncpg.connect(postgres_url.replace("+asyncpg", ""))
            await connection.execute("SELECT pg_terminate_backend($1)", pid)
            await connection.close()

        client.portal.call(terminate())
        assert client.get("/pid").status_code == 500  # the read on the dead connection
        assert client.get("/pid").json() != pid  # a new connection, the pool is whole
        assert plugin.engine.pool.checkedout() == 0


def test_reads_lease_the_pools_connection_without_a_checkout_unless_it_is_watched(postgres_url):
    """A read holds no transaction, so its lease skips SQLAlchemy's checkout and its reset on
    return (a rollback); a pool with checkout or checkin listeners, or a pre-ping, keeps them."""
    app, plugin = make_app(postgres_url)
    with TestClient(app) as client:
        client.post("/seed")
        pool = plugin.engine.sync_engine.pool
        resets: list[object] = []
        event.listen(pool, "reset", lambda *_: resets.append(1))
        for _ in range(3):
            assert client.get("/cities/2").text == "Lima"
        assert resets == [] and pool.checkedout() == 0
        seen: list[str] = []
        event.listen(pool, "checkout", lambda *_: seen.append("out"))
        event.listen(pool, "checkin", lambda *_: seen.append("in"))
        for _ in range(3):
            assert client.get("/cities/2").text == "Lima"
        assert seen == ["out", "in"] * 3 and len(resets) == 3 and pool.checkedout() == 0
    app, plugin = make_app(postgres_url, pool_pre_ping=True)
    with TestClient(app) as client:
        pings: list[object] = []
        event.listen(plugin.engine.sync_engine, "engine_connect", lambda *_: pings.append(1))
        client.post("/seed")
        resets.clear()
        event.listen(plugin.engine.sync_engine.pool, "reset", lambda *_: resets.append(1))
        for _ in range(3):
            assert client.get("/cities/2").text == "Lima"
        assert len(resets) == 3 and plugin.engine.pool.checkedout() == 0


def test_reads_see_rows_of_an_isolated_test(database_url):
    app, plugin = make_app(database_url)
    with TestClient(app) as client, isolated_sync(client, plugin):
        client.post("/seed")
        assert client.get("/cities/2").text == "Lima"


def test_only_selects_of_columns_and_plain_entities_and_writes_on_tables_are_prepared():
    with pytest.raises(TypeError, match="not the model City or its attributes"):
        Prepared(insert(City))
    with pytest.raises(TypeError, match="Prepared takes a select"):
        Prepared(text("DELETE FROM query_cities"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="plain mapped classes"):
        Prepared(select(aliased(City)))


def test_a_missing_parameter_is_named(database_url):
    app, _ = make_app(database_url)

    @app.get("/no-id")
    async def no_id(db: AsyncSession) -> str:
        try:
            await CITY.all(db)
        except SQLAlchemyError as error:
            return str(error)
        return "no error"

    with TestClient(app) as client:
        assert "A value is required for bind parameter 'id'" in client.get("/no-id").text
