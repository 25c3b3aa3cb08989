"""``Model.get`` answers what ``session.get`` answers (the same objects, the same SQL rules),
with its SELECT built once per model instead of once per call."""

from sqlalchemy import MetaData, String, event, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

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
        assert len(seen) == 2 * through_session  # the same statements, no more
        assert client.get("/planets/2").text == "Venus"
        assert client.get("/planets/99").status_code == 404


def test_a_primary_key_read_reuses_one_statement(database_url):
    app, _ = make_app(database_url)
    with TestClient(app) as client:
        client.post("/seed")
        assert client.get("/statements").json() is True
