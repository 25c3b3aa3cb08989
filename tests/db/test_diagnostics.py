"""In the dev profile a request's statements are counted and timed (``Server-Timing`` and a
log line), and lazy loads and N+1 patterns are reported with the route's name; outside dev
nothing of it is installed."""

import logging
import re
from contextlib import asynccontextmanager

from sqlalchemy import ForeignKey, MetaData, String, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncAttrs, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bastion import App, Settings
from bastion.db import Prepared, SQLAlchemyPlugin
from bastion.db._diagnostics import Diagnostics
from bastion.testing import TestClient


class Base(AsyncAttrs, DeclarativeBase):
    metadata = MetaData()


class Owner(Base):
    __tablename__ = "diag_owners"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))


class Pet(Base):
    __tablename__ = "diag_pets"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("diag_owners.id"))
    owner: Mapped[Owner] = relationship()  # lazy="select": a lazy load when read


OWNER_NAME = Prepared(select(Owner.name).where(Owner.id == bindparam("id")))
OWNERS = Owner.__table__
RENAME = Prepared(
    update(OWNERS).where(OWNERS.c.id == bindparam("owner")).values(name=bindparam("new_name"))
)
TIMING = re.compile(r'db;dur=\d+\.\d{3};desc="(\d+) statements?"')


def make_app(url: str, settings: Settings, **options):
    plugin = SQLAlchemyPlugin(url, **options)

    @asynccontextmanager
    async def tables(app: App):
        async with plugin.engine.begin() as connection:
            await connection.run_sync(Base.metadata.drop_all)
            await connection.run_sync(Base.metadata.create_all)
            await connection.execute(insert(Owner), [{"name": f"o{n}"} for n in range(1, 8)])
            await connection.execute(insert(Pet), [{"owner_id": n} for n in range(1, 8)])
        yield

    app = App(settings=settings, plugins=[plugin])
    app.lifespan_contexts.append(tables)

    @app.get("/prepared/{owner_id}")
    async def prepared(owner_id: int, db: AsyncSession) -> str:
        return await OWNER_NAME.scalar(db, id=owner_id)

    @app.get("/mixed")
    async def mixed(db: AsyncSession) -> list[str]:
        first = await OWNER_NAME.scalar(db, id=1)
        return [first, (await db.get(Owner, 2)).name]

    @app.get("/owners-one-by-one", name="owners_one_by_one")
    async def one_by_one(db: AsyncSession) -> list[str]:
        return [(await db.get(Owner, n)).name for n in range(1, 7)]

    @app.get("/lazy")
    async def lazy(db: AsyncSession) -> str:
        pet = await db.get(Pet, 1)
        return (await pet.awaitable_attrs.owner).name

    @app.post("/rename/{owner_id}")
    async def rename(owner_id: int, db: AsyncSession) -> int:
        return await RENAME.execute(db, owner=owner_id, new_name="renamed")

    @app.get("/nothing")
    async def nothing() -> str:
        return "no database"

    return app, plugin


DEV = Settings(profile="dev")


def test_statements_and_their_time_are_in_server_timing_and_the_log(database_url, caplog):
    app, _ = make_app(database_url, DEV)
    with TestClient(app) as client, caplog.at_level(logging.INFO, logger="bastion.db"):
        one = client.get("/prepared/3")  # on PostgreSQL, straight on the driver: timed too
        assert one.text == "o3"
        assert TIMING.fullmatch(one.headers["server-timing"]).group(1) == "1"
        mixed = client.get("/mixed")
        assert TIMING.fullmatch(mixed.headers["server-timing"]).group(1) == "2"
        assert "server-timing" not in client.get("/nothing").headers
        renamed = client.post("/rename/4")  # a prepared write, on the driver on PostgreSQL
        assert renamed.json() == 1
        assert TIMING.fullmatch(renamed.headers["server-timing"]).group(1) == "1"
    lines = [r.getMessage() for r in caplog.records if r.name == "bastion.db"]
    assert any(
        re.fullmatch(r"GET /mixed \(mixed\): 2 statements in \d+\.\d{3} ms", m) for m in lines
    )
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_an_n_plus_one_pattern_is_a_warning_naming_the_route(database_url, caplog):
    app, _ = make_app(database_url, DEV)
    with TestClient(app) as client, caplog.at_level(logging.INFO, logger="bastion.db"):
        assert len(client.get("/owners-one-by-one").json()) == 6
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith(
        "GET /owners-one-by-one (owners_one_by_one): the same statement ran 6 times"
    )
    assert "SELECT" in warnings[0] and "diag_owners" in warnings[0]


def test_the_n_plus_one_threshold_is_the_plugins_option(database_url, caplog):
    app, _ = make_app(database_url, DEV, n_plus_one=7)
    with TestClient(app) as client, caplog.at_level(logging.INFO, logger="bastion.db"):
        client.get("/owners-one-by-one")
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


def test_a_lazy_load_is_a_warning_naming_the_route_and_the_relationship(database_url, caplog):
    app, _ = make_app(database_url, DEV)
    with TestClient(app) as client, caplog.at_level(logging.INFO, logger="bastion.db"):
        assert client.get("/lazy").text == "o1"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("GET /lazy (lazy): lazy load of Pet.owner")


def test_outside_dev_nothing_is_installed(database_url, caplog):
    app, plugin = make_app(database_url, Settings(profile="test"))
    with TestClient(app) as client, caplog.at_level(logging.DEBUG, logger="bastion.db"):
        assert not any(
            getattr(w, "__self__", None).__class__ is Diagnostics for w in app.endpoint_wrappers
        )
        assert not any(
            getattr(m, "__self__", None).__class__ is Diagnostics for m in app.middleware
        )
        dispatch = plugin.engine.sync_engine.dispatch
        assert not [f for f in dispatch.after_cursor_execute if "diagnostics" in f.__module__]
        assert "Watched" not in plugin.sessions.kw["sync_session_class"].__name__
        response = client.get("/owners-one-by-one")
        assert "server-timing" not in response.headers
        client.get("/lazy")
    assert not [r for r in caplog.records if r.name == "bastion.db"]


def test_a_cached_answer_carries_no_database_timing(database_url):
    from bastion.cache import CachePlugin, CachePolicy

    plugin = SQLAlchemyPlugin(database_url)
    app = App(settings=DEV, plugins=[plugin, CachePlugin()])

    @asynccontextmanager
    async def tables(app: App):
        async with plugin.engine.begin() as connection:
            await connection.run_sync(Base.metadata.drop_all)
            await connection.run_sync(Base.metadata.create_all)
            await connection.execute(insert(Owner), [{"name": "o1"}])
        yield

    app.lifespan_contexts.append(tables)

    @app.get("/cached", middleware=[CachePolicy(ttl=60)])
    async def cached(db: AsyncSession) -> str:
        return await OWNER_NAME.scalar(db, id=1)

    with TestClient(app) as client:
        miss = client.get("/cached")
        assert TIMING.fullmatch(miss.headers["server-timing"]).group(1) == "1"
        hit = client.get("/cached")
        assert hit.text == "o1" and "server-timing" not in hit.headers
