"""``Prepared``'s extensions: ``IN`` lists (one array on PostgreSQL), rows built into Structs
and dataclasses, whole entities loaded read-only with their joined to-one relationships.
Each gives the same answer on the direct path (an idle session on PostgreSQL) and through the
session (SQLite, or a session that has begun), and the same as the ORM."""

import dataclasses
import datetime

import msgspec
import pytest
from sqlalchemy import ForeignKey, MetaData, String, bindparam, event, func, insert, select
from sqlalchemy import inspect as inspect_state
from sqlalchemy.exc import NoResultFound
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    aliased,
    mapped_column,
    relationship,
    selectinload,
)

from bastion.db import Model, Prepared, Timestamps
from bastion.testing import TestClient
from tests.db.conftest import app_with_tables


class Base(DeclarativeBase):
    metadata = MetaData()


class Writer(Base):
    __tablename__ = "shape_writers"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    bio: Mapped[str | None] = mapped_column(String(200), default=None)


class Post(Base):
    __tablename__ = "shape_posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime.datetime] = mapped_column()
    writer_id: Mapped[int] = mapped_column(ForeignKey("shape_writers.id"))
    editor_id: Mapped[int | None] = mapped_column(ForeignKey("shape_writers.id"))
    writer: Mapped[Writer] = relationship(foreign_keys=[writer_id], lazy="joined", innerjoin=True)
    editor: Mapped[Writer | None] = relationship(foreign_keys=[editor_id], lazy="joined")


class PostOut(msgspec.Struct):
    title: str
    writer: str
    id: int = 0


@dataclasses.dataclass
class PostRow:
    id: int
    title: str


WRITERS = [{"name": "Ann", "bio": "poet"}, {"name": "Bob"}, {"name": "Cy", "bio": "critic"}]
POSTS = [
    {"title": "One", "at": datetime.datetime(2026, 1, 1), "writer_id": 1, "editor_id": 2},
    {"title": "Two", "at": datetime.datetime(2026, 1, 2), "writer_id": 2, "editor_id": None},
    {"title": "Three", "at": datetime.datetime(2026, 1, 3), "writer_id": 1, "editor_id": 3},
]

TITLES_IN = Prepared(
    select(Post.title).where(Post.id.in_(bindparam("ids", expanding=True))).order_by(Post.id)
)
TITLES_NOT_IN = Prepared(
    select(Post.title).where(Post.id.not_in(bindparam("ids", expanding=True))).order_by(Post.id)
)
BY_NAME_IN = Prepared(
    select(func.count())
    .select_from(Writer)
    .where(Writer.name.in_(bindparam("names", expanding=True)))
)
OUT = Prepared(
    select(Post.title, Writer.name.label("writer"), Post.id).join(Post.writer).order_by(Post.id)
).into(PostOut)
OUT_ONE = Prepared(
    select(Writer.name.label("writer"), Post.title)
    .join(Post.writer)
    .where(Post.id == bindparam("id"))
).into(PostOut)
ROWS = Prepared(select(Post.title, Post.id).order_by(Post.id)).into(PostRow)
POST_ENTITIES = Prepared(select(Post).order_by(Post.id))
POST_AND_NAME = Prepared(
    select(Post, Writer.name)
    .join(Writer, Writer.id == Post.writer_id)
    .where(Writer.name == bindparam("name"))
    .order_by(Post.id)
)
WRITER = Prepared(select(Writer).where(Writer.id == bindparam("id")))
Reviewer = aliased(Writer, name="reviewer")
#: An entity beside an outer join to an alias (PostgreSQL's IN rewrite once broke its FROM).
POST_AND_REVIEWER = Prepared(
    select(Post, Reviewer.name)
    .select_from(Post)
    .outerjoin(Reviewer, Reviewer.id == bindparam("reviewer"))
    .where(Post.id == bindparam("id"))
)


def post_fields(post: Post | None) -> object:
    if post is None:
        return None
    return [
        post.id,
        post.title,
        post.at,
        post.writer_id,
        post.editor_id,
        writer_fields(post.writer),
        writer_fields(post.editor),
    ]


def writer_fields(writer: Writer | None) -> object:
    return None if writer is None else [writer.id, writer.name, writer.bio]


async def every_answer(db: AsyncSession) -> dict:
    writer = await WRITER.scalar(db, id=1)
    return {
        "in": await TITLES_IN.scalars(db, ids=[3, 1]),
        "in set": await TITLES_IN.scalars(db, ids={2}),
        "in empty": await TITLES_IN.scalars(db, ids=[]),
        "not in": await TITLES_NOT_IN.scalars(db, ids=(1,)),
        "not in empty": await TITLES_NOT_IN.scalars(db, ids=[]),
        "strings in": await BY_NAME_IN.scalar(db, names=["Ann", "Cy", "Zed"]),
        "into": [msgspec.to_builtins(out) for out in await OUT.all(db)],
        "into one": msgspec.to_builtins(await OUT_ONE.one(db, id=2)),
        "into first": await OUT_ONE.first(db, id=99),
        "dataclasses": [dataclasses.asdict(row) for row in await ROWS.all(db)],
        "entities": [post_fields(post) for post in await POST_ENTITIES.scalars(db)],
        "entity rows": [
            [post_fields(post), name] for post, name in await POST_AND_NAME.all(db, name="Ann")
        ],
        "entity": writer_fields(writer),
        "aliased join": [
            [post_fields(post), name]
            for reviewer in (3, 99)
            for post, name in await POST_AND_REVIEWER.all(db, id=1, reviewer=reviewer)
        ],
        "detached": inspect_state(writer).detached,
        "none": await WRITER.first(db, id=99),
    }


def make_app(url: str):
    app, plugin = app_with_tables(url, Base.metadata)

    @app.post("/seed")
    async def seed(db: AsyncSession) -> None:
        await db.execute(insert(Writer), WRITERS)
        await db.execute(insert(Post), POSTS)

    @app.get("/idle")
    async def idle(db: AsyncSession) -> dict:
        return await every_answer(db)

    @app.get("/begun")
    async def begun(db: AsyncSession) -> dict:
        await db.execute(select(1))  # the session has begun: every read goes through it
        return await every_answer(db)

    @app.get("/orm")
    async def orm(db: AsyncSession) -> list:
        return [post_fields(post) for post in await db.scalars(select(Post).order_by(Post.id))]

    @app.get("/one-missing")
    async def one_missing(db: AsyncSession) -> str:
        try:
            await OUT_ONE.one(db, id=99)
        except NoResultFound:
            return "404"
        return "found"

    return app, plugin


EXPECTED = {
    "in": ["One", "Three"],
    "in set": ["Two"],
    "in empty": [],
    "not in": ["Two", "Three"],
    "not in empty": ["One", "Two", "Three"],
    "strings in": 2,
    "into": [
        {"title": "One", "writer": "Ann", "id": 1},
        {"title": "Two", "writer": "Bob", "id": 2},
        {"title": "Three", "writer": "Ann", "id": 3},
    ],
    "into one": {"title": "Two", "writer": "Bob", "id": 0},
    "into first": None,
    "dataclasses": [
        {"id": 1, "title": "One"},
        {"id": 2, "title": "Two"},
        {"id": 3, "title": "Three"},
    ],
    "entity": [1, "Ann", "poet"],
    "detached": True,
    "none": None,
}


def test_every_shape_gives_the_same_answer_on_every_path(database_url):
    app, plugin = make_app(database_url)
    with TestClient(app) as client:
        client.post("/seed")
        seen: list[str] = []
        event.listen(
            plugin.engine.sync_engine,
            "before_cursor_execute",
            lambda _c, _cur, statement, *_: seen.append(statement),
        )
        direct = client.get("/idle").json()
        if database_url.startswith("postgresql"):
            assert seen == []  # IN lists, Structs and entities all ran on the driver
        assert client.get("/begun").json() == direct
        assert {key: direct[key] for key in EXPECTED} == EXPECTED
        orm = client.get("/orm").json()
        assert direct["entities"] == orm  # what the ORM loads, editor's outer join included
        assert orm[1][-1] is None and orm[0][-1] == [2, "Bob", None]
        assert direct["entity rows"] == [[orm[0], "Ann"], [orm[2], "Ann"]]
        assert direct["aliased join"] == [[orm[0], "Cy"], [orm[0], None]]
        assert client.get("/one-missing").text == "404"


def test_a_postgres_in_list_is_one_array_whatever_its_length(postgres_url):
    app, plugin = make_app(postgres_url)
    with TestClient(app) as client:
        client.post("/seed")
        TITLES_IN._plan = None
        client.get("/idle")
        plan = TITLES_IN._plan_for(plugin.engine.dialect)
        assert plan is not None and "= ANY ($1::INTEGER[])" in plan.sql


def test_into_names_what_does_not_match_at_build_time():
    with pytest.raises(TypeError, match=r"no field for \['name'\], no column for \['writer'\]"):
        Prepared(select(Post.title, Writer.name)).into(PostOut)
    with pytest.raises(TypeError, match="a msgspec Struct or a dataclass"):
        Prepared(select(Post.title)).into(dict)
    with pytest.raises(TypeError, match="select the columns, not entities"):
        Prepared(select(Post)).into(PostRow)


def test_loader_options_are_refused_with_the_way_out():
    with pytest.raises(TypeError, match="run a select with .options"):
        Prepared(select(Post).options(selectinload(Post.writer)))


def test_read_only_entities_are_not_tracked_by_the_session(database_url):
    app, _ = make_app(database_url)

    @app.post("/rename")
    async def rename(db: AsyncSession) -> list[str]:
        writer = await WRITER.scalar(db, id=2)
        writer.name = "Changed"  # a detached object: nothing is written
        await db.flush()
        tracked = await db.get(Writer, 2)  # the session loads its own
        return [tracked.name, writer.name]

    with TestClient(app) as client:
        client.post("/seed")
        assert client.post("/rename").json() == ["Bob", "Changed"]
        assert client.get("/idle").json()["into"][1]["writer"] == "Bob"


class Stamped(Timestamps, Model):
    """A model with "load" listeners (Timestamps marks SQLite's naive timestamps UTC again)."""

    __abstract__ = True
    metadata = MetaData()


class Entry(Stamped):
    __tablename__ = "shape_entries"
    id: Mapped[int] = mapped_column(primary_key=True)


ENTRIES = Prepared(select(Entry).order_by(Entry.id))


def test_entities_get_the_models_load_listeners_as_the_orm_does(database_url):
    app, _ = app_with_tables(database_url, Stamped.metadata)

    @app.post("/entries")
    async def entries(db: AsyncSession) -> list:
        db.add(Entry())
        await db.commit()
        orm = (await db.scalars(select(Entry))).one()
        db.expunge_all()
        (prepared,) = await ENTRIES.scalars(db)
        return [orm.created_at == prepared.created_at, prepared.created_at.tzinfo is not None]

    with TestClient(app) as client:
        assert client.post("/entries").json() == [True, True]
