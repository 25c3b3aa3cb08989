"""On PostgreSQL a request's reads run in autocommit and its first write opens the
transaction (bastion/db/_lazy.py). ``txid_current()`` names the transaction a statement runs
in: two calls agree inside one transaction and differ in autocommit."""

import pytest
from sqlalchemy import MetaData, String, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bastion.testing import TestClient
from tests.db.conftest import app_with_tables

TRANSACTION_ID = text("SELECT txid_current()")


async def in_one_transaction(db: AsyncSession) -> bool:
    """Whether the session's next statements share a transaction."""
    return await db.scalar(TRANSACTION_ID) == await db.scalar(TRANSACTION_ID)


class Base(DeclarativeBase):
    metadata = MetaData()


class Note(Base):
    __tablename__ = "lazy_notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(50))


def make_app(url: str, **options):
    app, plugin = app_with_tables(url, Base.metadata, pool_size=1, max_overflow=0, **options)

    @app.get("/reads")
    async def reads(db: AsyncSession) -> bool:
        await db.execute(select(Note))
        return await in_one_transaction(db)

    @app.get("/read-write-read")
    async def read_write_read(db: AsyncSession) -> bool:
        await db.execute(select(Note))
        db.add(Note(text="written in a GET"))
        await db.flush()
        return await in_one_transaction(db)

    @app.get("/for-update")
    async def for_update(db: AsyncSession) -> bool:
        await db.execute(select(Note).with_for_update())
        return await in_one_transaction(db)

    @app.post("/two-writes-then-fail")
    async def two_writes_then_fail(db: AsyncSession) -> None:
        db.add(Note(text="first"))
        await db.flush()
        await db.execute(text("INSERT INTO lazy_notes (text) VALUES ('second')"))
        raise RuntimeError("after two writes")

    @app.get("/count")
    async def count(db: AsyncSession) -> int:
        return int(await db.scalar(select(func.count()).select_from(Note)) or 0)

    return app


@pytest.fixture
def client(postgres_url):
    with TestClient(make_app(postgres_url), raise_server_exceptions=False) as client:
        yield client


def test_reads_run_in_autocommit(client):
    assert client.get("/reads").json() is False


def test_the_first_write_opens_the_transaction(client):
    assert client.get("/read-write-read").json() is True
    assert client.get("/count").json() == 1


def test_select_for_update_opens_the_transaction(client):
    assert client.get("/for-update").json() is True


def test_all_writes_of_a_failing_request_roll_back(client):
    assert client.post("/two-writes-then-fail").status_code == 500
    assert client.get("/count").json() == 0


def test_a_pooled_connection_reads_lazily_again_after_a_write(client):
    # pool_size=1: every request gets the same connection
    assert client.get("/read-write-read").json() is True
    assert client.get("/reads").json() is False
    assert client.get("/for-update").json() is True
    assert client.get("/reads").json() is False


def test_autocommit_reads_can_be_turned_off(postgres_url):
    with TestClient(make_app(postgres_url, autocommit_reads=False)) as client:
        assert client.get("/reads").json() is True
