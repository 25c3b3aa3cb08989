"""``on_commit``: callbacks run once the session's transaction is committed (a reader on
another connection sees the row), and never when it rolls back."""

import logging

import pytest
from sqlalchemy import MetaData, String, func, select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import NullPool

from bastion.db import on_commit
from bastion.db.testing import isolated_sync
from bastion.testing import TestClient
from tests.db.conftest import app_with_tables


class Base(DeclarativeBase):
    metadata = MetaData()


class Event(Base):
    __tablename__ = "commit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))


async def seen_elsewhere(url: str, name: str) -> bool:
    """Whether a connection of another engine (another client) can read the row."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            count = await connection.scalar(
                select(func.count()).select_from(Event).where(Event.name == name)
            )
            return bool(count)
    finally:
        await engine.dispose()


@pytest.fixture
def setup(database_url):
    app, plugin = app_with_tables(database_url, Base.metadata)
    heard: list[tuple[str, bool]] = []

    async def tell(name: str) -> None:
        heard.append((name, await seen_elsewhere(database_url, name)))

    @app.post("/events/{name}", status_code=201)
    async def add(name: str, db: AsyncSession, fail: bool = False) -> None:
        db.add(Event(name=name))
        await db.flush()
        on_commit(db, lambda: tell(name))
        if fail:
            raise RuntimeError("after the insert")

    @app.post("/savepoints", status_code=201)
    async def savepoints(db: AsyncSession) -> None:
        db.add(Event(name="outer"))
        on_commit(db, lambda: tell("outer"))
        async with db.begin_nested() as inner:
            db.add(Event(name="kept"))
            on_commit(db, lambda: tell("kept"))
        inner = await db.begin_nested()
        db.add(Event(name="undone"))
        await db.flush()
        on_commit(db, lambda: tell("undone"))
        await inner.rollback()

    @app.post("/fails-before-any-query")
    async def fails_early(db: AsyncSession) -> None:
        on_commit(db, lambda: heard.append(("early", True)))
        raise RuntimeError("before the session began")

    @app.post("/nothing-to-commit", status_code=201)
    async def nothing(db: AsyncSession) -> None:
        on_commit(db, lambda: heard.append(("idle", True)))

    @app.post("/callbacks-that-fail", status_code=201)
    async def failing(db: AsyncSession) -> None:
        db.add(Event(name="committed anyway"))
        on_commit(db, lambda: 1 / 0)
        on_commit(db, lambda: heard.append(("second", True)))

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, plugin, heard


def test_a_callback_runs_after_the_commit_where_others_see_the_row(setup):
    client, _, heard = setup
    assert client.post("/events/first").status_code == 201
    assert heard == [("first", True)]


def test_a_rolled_back_request_runs_no_callback(setup):
    client, _, heard = setup
    assert client.post("/events/lost", params={"fail": "true"}).status_code == 500
    assert heard == []
    assert client.post("/events/next").status_code == 201
    assert heard == [("next", True)]  # nothing of the failed request was left behind


def test_a_request_failing_before_its_first_query_runs_no_callback(setup):
    client, _, heard = setup
    assert client.post("/fails-before-any-query").status_code == 500
    assert client.post("/nothing-to-commit").status_code == 201
    assert heard == [("idle", True)]


def test_inside_test_isolation_callbacks_run_at_the_request_commit(setup):
    client, plugin, heard = setup
    with isolated_sync(client, plugin):
        assert client.post("/events/isolated").status_code == 201
        assert [name for name, _ in heard] == ["isolated"]  # only the test's transaction saw it
    assert heard == [("isolated", False)]


def test_a_rolled_back_savepoint_drops_its_callbacks_only(setup):
    client, _, heard = setup
    assert client.post("/savepoints").status_code == 201
    assert heard == [("outer", True), ("kept", True)]


def test_a_request_with_nothing_to_commit_runs_its_callbacks(setup):
    client, _, heard = setup
    assert client.post("/nothing-to-commit").status_code == 201
    assert heard == [("idle", True)]


def test_a_failing_callback_is_logged_and_the_others_run(setup, caplog):
    client, _, heard = setup
    with caplog.at_level(logging.ERROR, logger="bastion.db"):
        assert client.post("/callbacks-that-fail").status_code == 201
    assert heard == [("second", True)]
    assert "on_commit callback" in caplog.text and "ZeroDivisionError" in caplog.text


def test_a_plain_session_outside_a_request(setup, database_url):
    client, plugin, heard = setup

    async def scenario() -> None:
        async with plugin.sessions() as db:
            db.add(Event(name="script"))
            on_commit(db, lambda: heard.append(("sync callback", True)))
            await db.flush()
            assert heard == []
            await db.commit()
            assert heard == [("sync callback", True)]  # before commit() returned
            db.add(Event(name="dropped"))
            on_commit(db, lambda: heard.append(("dropped", True)))
            await db.rollback()
            await db.commit()  # a later commit does not revive a dropped callback
        assert await seen_elsewhere(database_url, "script")

    client.portal.call(scenario())
    assert heard == [("sync callback", True)]


def test_on_commit_refuses_what_it_cannot_call(setup):
    _, plugin, _ = setup
    with pytest.raises(TypeError, match="function of no arguments"):
        on_commit(plugin.sessions(), "notify")  # type: ignore[arg-type]
