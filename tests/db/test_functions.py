"""``list_of``: a column's values over a group as one list, on PostgreSQL and SQLite alike,
through the session and on ``Prepared``'s driver path."""

import pytest
from sqlalchemy import ForeignKey, MetaData, String, bindparam, insert, select
from sqlalchemy.dialects import mysql
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bastion.db import Prepared, list_of
from bastion.testing import TestClient
from tests.db.conftest import app_with_tables


class Base(DeclarativeBase):
    metadata = MetaData()


class Shelf(Base):
    __tablename__ = "fn_shelves"
    id: Mapped[int] = mapped_column(primary_key=True)


class Volume(Base):
    __tablename__ = "fn_volumes"
    id: Mapped[int] = mapped_column(primary_key=True)
    shelf_id: Mapped[int] = mapped_column(ForeignKey("fn_shelves.id"))
    title: Mapped[str] = mapped_column(String(40))


TITLES = select(list_of(Volume.title)).where(Volume.shelf_id == Shelf.id).scalar_subquery()
SHELVES = Prepared(select(Shelf.id, TITLES).order_by(Shelf.id))
ONE_SHELF = Prepared(select(Shelf.id, TITLES).where(Shelf.id == bindparam("id")))


def test_list_of_gives_lists_and_empty_lists_on_every_path(database_url):
    app, _ = app_with_tables(database_url, Base.metadata)

    @app.get("/shelves")
    async def shelves(db: AsyncSession) -> list:
        await db.execute(insert(Shelf), [{"id": 1}, {"id": 2}])
        volumes = [{"shelf_id": 1, "title": t} for t in ("Émile", "b", 'say "a"')]
        await db.execute(insert(Volume), volumes)
        await db.commit()  # idle again: Prepared runs on the driver on PostgreSQL
        direct = [[i, sorted(titles)] for i, titles in await SHELVES.all(db)]
        one = await ONE_SHELF.one(db, id=2)
        through_session = [[i, sorted(t)] for i, t in await db.execute(select(Shelf.id, TITLES))]
        return [direct, list(one), through_session]

    with TestClient(app) as client:
        direct, one, through_session = client.get("/shelves").json()
    assert direct == [[1, ["b", 'say "a"', "Émile"]], [2, []]]
    assert one == [2, []] and through_session == direct


def test_list_of_names_the_databases_it_is_written_for():
    with pytest.raises(CompileError, match="written for PostgreSQL and SQLite, not mysql"):
        select(list_of(Volume.title)).compile(dialect=mysql.dialect())
