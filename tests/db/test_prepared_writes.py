"""``Prepared`` writes: on PostgreSQL an INSERT, UPDATE or DELETE runs on the driver inside
the request session's transaction, elsewhere through the session, with the same results: it
commits and rolls back with the request, sees what the unit of work holds, and fails as
SQLAlchemy fails."""

import datetime

import asyncpg
import pytest
from sqlalchemy import (
    DateTime,
    MetaData,
    String,
    bindparam,
    column,
    delete,
    event,
    func,
    insert,
    select,
    table,
    update,
)
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bastion.db import Prepared, on_commit
from bastion.testing import TestClient
from tests.db.conftest import app_with_tables

STAMP = datetime.datetime(2026, 12, 7, tzinfo=datetime.UTC)


def stamp() -> datetime.datetime:
    return STAMP


class Base(DeclarativeBase):
    metadata = MetaData()


class Note(Base):
    __tablename__ = "prepared_write_notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(40), unique=True)
    views: Mapped[int] = mapped_column(default=0)
    at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True), default=stamp, onupdate=stamp)


NOTES = Note.__table__
ADD = Prepared(
    insert(NOTES).values(title=bindparam("title")).returning(NOTES.c.id, NOTES.c.views, NOTES.c.at)
)
ADD_QUIETLY = Prepared(insert(NOTES).values(title=bindparam("title")))
VIEW = Prepared(
    update(NOTES).where(NOTES.c.title.startswith(bindparam("prefix"))).values(
        views=NOTES.c.views + 1
    )
)
RENAME = Prepared(
    update(NOTES).where(NOTES.c.id == bindparam("note")).values(title=bindparam("new_title"))
    .returning(NOTES.c.title)
)
DROP = Prepared(delete(NOTES).where(NOTES.c.title == bindparam("title")))
TITLES = Prepared(select(Note.title, Note.views).order_by(Note.id))
ACTIVITY = table("pg_stat_activity", column("state"))
IDLE_IN_TRANSACTION = Prepared(
    select(func.count()).select_from(ACTIVITY).where(ACTIVITY.c.state.like("idle in transaction%"))
)


def make_app(url: str, **options):
    app, plugin = app_with_tables(url, Base.metadata, **options)

    @app.post("/notes/{title}")
    async def add(title: str, db: AsyncSession) -> list:
        note_id, views, at = await ADD.one(db, title=title)
        return [note_id, views, at.replace(tzinfo=None).isoformat()]

    @app.post("/several")
    async def several(db: AsyncSession) -> list:
        before = await TITLES.all(db)  # on the driver while nothing is written
        db.add(Note(title="b-pending"))  # the unit of work holds it: flushed before the write
        counted = await VIEW.execute(db, prefix="b")
        await ADD_QUIETLY.execute(db, title="c")
        renamed = await RENAME.scalar(db, note=1, new_title="a2")
        dropped = await DROP.execute(db, title="nobody")
        after = await TITLES.all(db)  # through the session: it sees the writes
        return [before, counted, renamed, dropped, after]

    @app.post("/then-fail")
    async def then_fail(db: AsyncSession) -> None:
        await ADD.one(db, title="lost")
        raise RuntimeError("after the write")

    @app.post("/commit-between")
    async def commit_between(db: AsyncSession) -> None:
        await ADD.one(db, title="kept")
        await db.commit()  # a new transaction follows, on whatever connection it gets
        await ADD.one(db, title="dropped")
        await ADD_QUIETLY.execute(db, title="dropped too")
        raise RuntimeError("after the commit")

    @app.post("/write-then-orm")
    async def write_then_orm(db: AsyncSession, fail: bool = False) -> list:
        """A prepared write opens the transaction; the session, begun after it, joins it."""
        await ADD.one(db, title="w1")
        read = [title for title, _ in await TITLES.all(db)]  # on the driver, in the transaction
        db.add(Note(title="w2"))
        await db.flush()
        seen = (await db.execute(select(Note.title).order_by(Note.id))).scalars().all()
        await ADD_QUIETLY.execute(db, title="w3")
        on_commit(db, lambda: committed.append("write-then-orm"))
        if fail:
            raise RuntimeError("after the writes")
        return [read, list(seen)]

    @app.post("/rollback-between")
    async def rollback_between(db: AsyncSession) -> None:
        await ADD.one(db, title="undone")
        on_commit(db, lambda: committed.append("undone"))
        await db.rollback()
        await ADD.one(db, title="done")
        on_commit(db, lambda: committed.append("done"))

    @app.post("/begin-block")
    async def begin_block(db: AsyncSession) -> None:
        """A transaction of the session's that runs no SQL still commits what it took over."""
        await ADD.one(db, title="in-block")
        if db.in_transaction():  # the session began for the write (SQLite): commit it
            await db.commit()
        else:  # on PostgreSQL it has not: its own first transaction takes the write over
            async with db.begin():
                pass
        raise RuntimeError("after the block committed")

    @app.post("/add-rollback-write")
    async def add_rollback_write(db: AsyncSession) -> None:
        await ADD.one(db, title="rolled-back")
        db.add(Note(title="never-flushed"))
        await db.rollback()
        await ADD.one(db, title="after-rollback")

    @app.get("/notes")
    async def notes(db: AsyncSession) -> list:
        return await TITLES.all(db)

    @app.get("/idle-in-transaction")
    async def idle_in_transaction(db: AsyncSession) -> int:
        """Connections left inside a transaction (a pooled one would be a leak)."""
        return await IDLE_IN_TRANSACTION.scalar(db)

    committed: list[str] = []
    app.state.committed = committed
    return app, plugin


def test_writes_commit_with_the_request_and_give_the_same_answers_everywhere(database_url):
    app, plugin = make_app(database_url)
    with TestClient(app, raise_server_exceptions=False) as client:
        seen: list[str] = []
        event.listen(
            plugin.engine.sync_engine, "before_cursor_execute",
            lambda _c, _cur, statement, *_: seen.append(statement.split()[0]),
        )
        first = client.post("/notes/a").json()
        assert isinstance(first, list), first
        assert first[1:] == [0, "2026-12-07T00:00:00"] and isinstance(first[0], int)
        assert client.post("/notes/b").status_code == 201
        answer = client.post("/several").json()
        assert answer == [
            [["a", 0], ["b", 0]],
            2,  # b and the flushed b-pending
            "a2",
            0,
            [["a2", 0], ["b", 1], ["b-pending", 1], ["c", 0]],
        ]
        if database_url.startswith("postgresql"):  # the prepared writes ran on the driver:
            assert "UPDATE" not in seen and "DELETE" not in seen  # SQLAlchemy ran the rest
            assert seen.count("INSERT") == 1  # the unit of work's flush of b-pending
        assert client.post("/then-fail").status_code == 500
        assert [title for title, _ in client.get("/notes").json()] == ["a2", "b", "b-pending", "c"]
        assert client.post("/commit-between").status_code == 500
        titles = [title for title, _ in client.get("/notes").json()]
        assert titles == ["a2", "b", "b-pending", "c", "kept"]
        assert plugin.engine.pool.checkedout() == 0


def test_the_session_joins_the_transaction_a_prepared_write_opened(database_url):
    """On PostgreSQL the first write opens the transaction on the request's connection, not
    the session's: an ORM flush and read after it see it, and it all commits or rolls back
    as one, with ``on_commit`` callbacks after the commit only; ``db.rollback()`` undoes it."""
    app, plugin = make_app(database_url)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/write-then-orm", params={"fail": True}).status_code == 500
        assert client.get("/notes").json() == []
        assert app.state.committed == []
        assert client.post("/write-then-orm").json() == [["w1"], ["w1", "w2"]]
        assert [title for title, _ in client.get("/notes").json()] == ["w1", "w2", "w3"]
        assert app.state.committed == ["write-then-orm"]
        assert client.post("/rollback-between").status_code == 204
        assert [title for title, _ in client.get("/notes").json()][3:] == ["done"]
        assert app.state.committed == ["write-then-orm", "done"]
        assert client.post("/begin-block").status_code == 500
        assert client.post("/add-rollback-write").status_code == 204
        titles = [title for title, _ in client.get("/notes").json()][4:]
        assert titles == ["in-block", "after-rollback"]
        if database_url.startswith("postgresql"):
            assert client.get("/idle-in-transaction").json() == 0
        assert plugin.engine.pool.checkedout() == 0


def test_a_watched_pool_hands_its_checked_out_connection_to_the_session(postgres_url):
    """With a pre-ping the lease is a checked-out connection rather than a pool record: the
    session takes that one over the same way."""
    app, plugin = make_app(postgres_url, pool_pre_ping=True)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/write-then-orm", params={"fail": True}).status_code == 500
        assert client.post("/write-then-orm").json() == [["w1"], ["w1", "w2"]]
        assert [title for title, _ in client.get("/notes").json()] == ["w1", "w2", "w3"]
        assert plugin.engine.pool.checkedout() == 0


def test_a_connection_killed_inside_a_prepared_transaction_is_dropped(postgres_url):
    app, plugin = make_app(postgres_url)
    backend = Prepared(select(func.pg_backend_pid()))

    @app.post("/killed")
    async def killed(db: AsyncSession) -> None:
        await ADD.one(db, title="before")
        pid = await backend.scalar(db)  # the same connection: the transaction's
        killer = await asyncpg.connect(postgres_url.replace("+asyncpg", ""))
        await killer.execute("SELECT pg_terminate_backend($1)", pid)
        await killer.close()
        await ADD.one(db, title="after")

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/killed").status_code == 500
        assert client.post("/notes/fresh").status_code == 201  # the pool is whole
        assert [title for title, _ in client.get("/notes").json()] == ["fresh"]
        assert plugin.engine.pool.checkedout() == 0


def test_a_broken_rule_is_sqlalchemys_error_and_a_409(database_url):
    app, plugin = make_app(database_url)
    with TestClient(app) as client:
        assert client.post("/notes/same").status_code == 201
        response = client.post("/notes/same")
        assert response.status_code == 409, response.text
        assert client.get("/notes").json() == [["same", 0]]
        assert plugin.engine.pool.checkedout() == 0


def test_the_wrong_call_is_named():
    with pytest.raises(InvalidRequestError, match="returns no rows"):
        import asyncio

        asyncio.run(ADD_QUIETLY.one(None, title="x"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unknown parameter.s. views, xyz; this statement takes: title"):
        import asyncio

        asyncio.run(ADD_QUIETLY.execute(None, title="x", views=5, xyz=1))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"\.all\(\) or \.one\(\)"):
        import asyncio

        asyncio.run(TITLES.execute(None))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not from a write"):
        ADD.into(dict)
    with pytest.raises(TypeError, match=r"\(Note.__table__, .*not the model Note or its"):
        Prepared(update(Note).values(views=1))
    with pytest.raises(TypeError, match="not the model Note or its attributes"):
        Prepared(delete(NOTES).where(Note.id == 1))
    # Through the session SQLAlchemy refuses these at the first call; the driver would run them.
    with pytest.raises(ValueError, match=r"bindparam\('id'\) is named like the column "
                       r"prepared_write_notes.id, .* UPDATE sets: rename it, e.g. bindparam\('id_'\)"):
        Prepared(update(NOTES).where(NOTES.c.id == bindparam("id")).values(views=0))
    with pytest.raises(ValueError, match="column prepared_write_notes.views"):
        Prepared(insert(NOTES).values(title=bindparam("views")))
    Prepared(update(NOTES).where(NOTES.c.id == bindparam("id_")).values(title=bindparam("title")))
    Prepared(delete(NOTES).where(NOTES.c.id == bindparam("id")))
    with pytest.raises(TypeError, match="not TextClause"):
        from sqlalchemy import text

        Prepared(text("SELECT 1"))  # type: ignore[arg-type]
