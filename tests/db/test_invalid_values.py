"""Values no column can hold are bad input: 422 naming the field (404 for a path segment),
never a 500, on SQLite and PostgreSQL alike (bastion/db/errors.py)."""

import msgspec
import pytest
from sqlalchemy import BigInteger, MetaData, SmallInteger, String, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bastion.db import Prepared
from bastion.testing import TestClient
from tests.db.conftest import app_with_tables

HUGE = 99999999999999999999999


class Base(DeclarativeBase):
    metadata = MetaData()


class Gauge(Base):
    __tablename__ = "gauges"
    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(8))
    reading: Mapped[int] = mapped_column(BigInteger, default=0)
    level: Mapped[int] = mapped_column(SmallInteger, default=0)


class NewGauge(msgspec.Struct):
    label: str
    reading: int = 0
    level: int = 0


LABELS_FROM = Prepared(select(Gauge.label).where(Gauge.id >= bindparam("start")))


@pytest.fixture
def client(database_url):
    app, _ = app_with_tables(database_url, Base.metadata)

    @app.get("/gauges")
    async def gauges(db: AsyncSession, offset: int = 0) -> list[str]:
        return list(await db.scalars(select(Gauge.label).order_by(Gauge.id).offset(offset)))

    @app.get("/gauges/{gauge_id}")
    async def gauge(gauge_id: int, db: AsyncSession) -> str:
        row = await db.get(Gauge, gauge_id)
        return row.label if row is not None else ""

    @app.get("/boom")
    async def boom() -> float:
        return float(10**400)  # the application's own OverflowError

    @app.get("/from")
    async def labels_from(start: int, db: AsyncSession) -> list[str]:
        return await LABELS_FROM.scalars(db, start=start)

    @app.post("/gauges", status_code=201)
    async def add(data: NewGauge, db: AsyncSession) -> int:
        row = Gauge(label=data.label, reading=data.reading, level=data.level)
        db.add(row)
        await db.flush()
        return row.id

    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def problem_of(response, status=422):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "SELECT" not in response.text and "Traceback" not in response.text
    return response.json()


@pytest.mark.parametrize("offset", [HUGE, 2**63])
def test_an_offset_beyond_64_bits_is_a_422_naming_the_query_parameter(client, offset):
    problem = problem_of(client.get("/gauges", params={"offset": offset}))
    assert problem["errors"] == [
        {
            "field": "query.offset",
            "reason": "must be an integer from -9223372036854775808 to 9223372036854775807",
        }
    ]
    assert problem["detail"].startswith("The value of query.offset must be an integer")
    assert client.get("/gauges", params={"offset": 0}).status_code == 200


def test_an_id_no_column_can_hold_is_a_404(client):
    problem = problem_of(client.get(f"/gauges/{HUGE}"), 404)
    assert "path.gauge_id" in problem["detail"]


def test_a_prepared_read_with_a_value_out_of_range_is_a_422(client):
    problem = problem_of(client.get("/from", params={"start": HUGE}))
    assert problem["errors"][0]["field"] == "query.start"
    assert client.get("/from", params={"start": 1}).json() == []


def test_a_body_value_out_of_range_names_its_column(client):
    problem = problem_of(client.post("/gauges", json={"label": "a", "reading": 2**64}))
    assert problem["errors"][0]["field"] == "reading"
    assert client.post("/gauges", json={"label": "a", "reading": 2**62}).status_code == 201


def test_postgres_column_widths_and_text_rules_are_422(postgres_url):
    app, _ = app_with_tables(postgres_url, Base.metadata)

    @app.post("/gauges", status_code=201)
    async def add(data: NewGauge, db: AsyncSession) -> int:
        row = Gauge(label=data.label, reading=data.reading, level=data.level)
        db.add(row)
        await db.flush()
        return row.id

    @app.get("/find")
    async def find(label: str, db: AsyncSession) -> list[int]:
        return list(await db.scalars(select(Gauge.id).where(Gauge.label == label)))

    with TestClient(app, raise_server_exceptions=False) as client:
        too_long = problem_of(client.post("/gauges", json={"label": "x" * 9}))
        assert too_long["errors"] == [
            {"field": "label", "reason": "must be at most 8 characters long"}
        ]
        small = problem_of(client.post("/gauges", json={"label": "a", "level": 40000}))
        assert small["errors"] == [
            {"field": "level", "reason": "must be an integer from -32768 to 32767"}
        ]
        nul = problem_of(client.get("/find", params={"label": "a\x00b"}))
        assert nul["errors"] == [
            {"field": "query.label", "reason": "must not contain NUL characters"}
        ]
        assert client.post("/gauges", json={"label": "x" * 8}).status_code == 201


def test_an_application_overflow_error_stays_a_500(client):
    assert client.get("/boom").status_code == 500
