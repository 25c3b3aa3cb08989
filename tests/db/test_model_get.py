"""``Model.get`` answers what ``session.get`` answers (the same objects, the same SQL rules),
with its SELECT built once per model instead of once per call, and on the driver while the
session is idle (PostgreSQL)."""

from sqlalchemy import ForeignKey, MetaData, String, event, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bastion.db import Model
from bastion.testing import TestClient
from tests.db.conftest import app_with_tables

metadata = MetaData()


class Base(Model):
    __abstract__ = True
    metadata = metadata


class Planet(Base):
    __tablename__ = "get_planets"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))


class Moon(Base):
    __tablename__ = "get_moons"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    planet_id: Mapped[int] = mapped_column(ForeignKey("get_planets.id"))
    planet: Mapped[Planet] = relationship()  # lazy="select": loaded when asked


class Ring(Base):
    __tablename__ = "get_rings"
    id: Mapped[int] = mapped_column(primary_key=True)
    planet_id: Mapped[int] = mapped_column(ForeignKey("get_planets.id"))
    planet: Mapped[Planet] = relationship(lazy="selectin")  # eager: always via the session


class Pair(Base):
    __tablename__ = "get_pairs"
    left: Mapped[int] = mapped_column(primary_key=True)
    right: Mapped[int] = mapped_column(primary_key=True)


def make_app(url: str):
    app, plugin = app_with_tables(url, metadata)

    @app.post("/seed")
    async def seed(db: AsyncSession) -> None:
        await db.execute(insert(Planet), [{"name": "Mercury"}, {"name": "Venus"}])
        await db.execute(insert(Pair), [{"left": 1, "right": 2}])

    @app.post("/seed-moons")
    async def seed_moons(db: AsyncSession) -> None:
        await db.execute(insert(Moon), [{"name": "Phobos", "planet_id": 1}])
        await db.execute(insert(Ring), [{"planet_id": 2}])

    @app.post("/rename/{planet_id}")
    async def rename(planet_id: int, name: str, db: AsyncSession) -> list:
        planet = await Planet.get_or_404(db, planet_id)
        tracked = planet in db and await Planet.get(db, planet_id) is planet
        planet.name = name  # flushed and committed after the handler, by the unit of work
        return [tracked, planet.name]

    @app.get("/moons/{moon_id}")
    async def moon(moon_id: int, db: AsyncSession) -> list:
        found = await Moon.get_or_404(db, moon_id)
        planet = await db.run_sync(lambda _: found.planet)  # a lazy load, through the session
        return [found.name, planet.name, planet is await Planet.get(db, planet.id)]

    @app.get("/rings/{ring_id}")
    async def ring(ring_id: int, db: AsyncSession) -> str:
        return (await Ring.get_or_404(db, ring_id)).planet.name

    @app.get("/two-planets")
    async def two_planets(db: AsyncSession) -> list:
        first, second = await Planet.get_or_404(db, 1), await Planet.get_or_404(db, 2)
        return [first.name, second.name, first in db and second in db]

    @app.get("/planet-then-names")
    async def planet_then_names(db: AsyncSession) -> list:
        planet = await Planet.get_or_404(db, 1)
        names = list(await db.scalars(select(Planet.name).order_by(Planet.id)))
        return [planet.name, names]

    async def story(db: AsyncSession, get) -> list:
        first = await get(db, Planet, 1)
        again = await get(db, Planet, 1)  # in the identity map: the same object, no SQL
        first.name = "Changed"
        seen_change = (await get(db, Planet, 1)).name
        db.add(Planet(id=3, name="Earth"))  # pending: found once autoflushed
        pending = (await get(db, Planet, 3)).name
        await db.delete(await get(db, Planet, 2))
        await db.flush()
        deleted = await get(db, Planet, 2)
        missing = await get(db, Planet, 99)
        pair = await get(db, Pair, (1, 2))  # a composite key
        answer = [first is again, seen_change, pending, deleted, missing, [pair.left, pair.right]]
        await db.rollback()
        return answer

    @app.get("/model-get")
    async def model_get(db: AsyncSession) -> list:
        return await story(db, lambda db, model, ident: model.get(db, ident))

    @app.get("/session-get")
    async def session_get(db: AsyncSession) -> list:
        return await story(db, lambda db, model, ident: db.get(model, ident))

    @app.get("/statements")
    async def statements(db: AsyncSession) -> bool:
        seen = []
        event.listen(db.sync_session, "do_orm_execute", lambda state: seen.append(state.statement))
        await Planet.get(db, 1)
        await Planet.get(db, 2)
        return len(seen) == 2 and seen[0] is seen[1]

    @app.get("/planets/{planet_id}")
    async def planet(planet_id: int, db: AsyncSession) -> str:
        return (await Planet.get_or_404(db, planet_id)).name

    return app, plugin


def test_model_get_answers_what_session_get_answers(database_url):
    app, plugin = make_app(database_url)
    with TestClient(app) as client:
        client.post("/seed")
        seen: list[str] = []
        event.listen(
            plugin.engine.sync_engine,
            "before_cursor_execute",
            lambda _c, _cur, sql, *_: sql.startswith("SELECT") and seen.append(sql),
        )
        expected = client.get("/session-get").json()
        through_session = len(seen)
        assert expected == [True, "Changed", "Earth", None, None, [1, 2]]
        assert client.get("/model-get").json() == expected
        read_directly = database_url.startswith("postgresql")
        # The same statements, no more; on PostgreSQL the first read of an idle session runs
        # on the driver, out of SQLAlchemy's sight.
        assert len(seen) == 2 * through_session - read_directly
        assert client.get("/planets/2").text == "Venus"
        assert client.get("/planets/99").status_code == 404


def test_a_primary_key_read_reuses_one_statement(database_url):
    app, _ = make_app(database_url)
    with TestClient(app) as client:
        client.post("/seed")
        assert client.get("/statements").json() is True


def test_a_row_read_on_the_driver_is_tracked_by_the_session(database_url):
    app, plugin = make_app(database_url)
    with TestClient(app) as client:
        client.post("/seed")
        seen: list[str] = []
        event.listen(plugin.engine.sync_engine, "before_cursor_execute",
                     lambda _c, _cur, sql, *_: seen.append(sql.split()[0]))
        assert client.post("/rename/1", params={"name": "Ares"}).json() == [True, "Ares"]
        if database_url.startswith("postgresql"):
            assert "SELECT" not in seen  # the read ran on the driver; the write did not
        assert "UPDATE" in seen
        assert client.get("/planet-then-names").json() == ["Ares", ["Ares", "Venus"]]
        seen.clear()
        assert client.get("/two-planets").json() == ["Ares", "Venus", True]
        if database_url.startswith("postgresql"):
            assert seen == []  # every read of an idle session on the driver, none through it
        assert client.post("/rename/99", params={"name": "x"}).status_code == 404


def test_lazy_relationships_load_through_the_session_and_eager_ones_are_kept(database_url):
    app, plugin = make_app(database_url)
    with TestClient(app) as client:
        client.post("/seed")
        client.post("/seed-moons")
        assert client.get("/moons/1").json() == ["Phobos", "Mercury", True]
        assert client.get("/moons/2").status_code == 404
        assert client.get("/rings/1").text == "Venus"  # selectin: loaded with the row, as ever
