
import msgspec
import pytest
from sqlalchemy import String, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bastion import App, ConfigurationError, Settings
from bastion.db import Model, SQLAlchemyPlugin
from bastion.testing import TestClient
from tests.db.conftest import app_with_tables


class Tag(Model):
    __tablename__ = "tags"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)


class NewTag(msgspec.Struct):
    name: str


def make_app(url: str) -> tuple[App, SQLAlchemyPlugin]:
    app, plugin = app_with_tables(url)

    @app.post("/tags")
    async def create(tag: NewTag, db: AsyncSession) -> dict:
        row = Tag(name=tag.name)
        db.add(row)
        await db.flush()
        return {"id": row.id, "name": row.name}

    @app.post("/tags/fail")
    async def create_then_fail(tag: NewTag, db: AsyncSession) -> dict:
        db.add(Tag(name=tag.name))
        await db.flush()
        raise RuntimeError("after the insert")

    @app.get("/tags/count")
    async def count(db: AsyncSession) -> int:
        return int(await db.scalar(select(func.count()).select_from(Tag)) or 0)

    @app.post("/tags/nested")
    async def nested(tag: NewTag, db: AsyncSession) -> dict:
        db.add(Tag(name=tag.name))
        try:
            async with db.begin_nested():  # a savepoint: its failure leaves the outer insert
                db.add(Tag(name=tag.name))
                await db.flush()
        except Exception:
            pass
        return {"ok": True}

    @app.get("/tags/{tag_id}")
    async def show(tag_id: int, db: AsyncSession) -> dict:
        row = await Tag.get_or_404(db, tag_id)
        return {"id": row.id, "name": row.name}

    @app.get("/tags/exists/{name}")
    async def exists(name: str, db: AsyncSession) -> bool:
        return await Tag.exists(db, Tag.name == name)

    return app, plugin


def test_session_commits_when_the_handler_succeeds(database_url):
    app, _ = make_app(database_url)
    with TestClient(app) as client:
        created = client.post("/tags", json={"name": "python"})
        assert created.status_code == 201
        assert client.get(f"/tags/{created.json()['id']}").json() == {"id": 1, "name": "python"}
        assert client.get("/tags/exists/python").json() is True


def test_session_rolls_back_when_the_handler_raises(database_url):
    app, _ = make_app(database_url)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/tags/fail", json={"name": "ghost"}).status_code == 500
        assert client.get("/tags/count").json() == 0


def test_unique_conflict_is_409_and_nothing_is_kept(database_url):
    app, _ = make_app(database_url)
    with TestClient(app) as client:
        assert client.post("/tags", json={"name": "dup"}).status_code == 201
        conflict = client.post("/tags", json={"name": "dup"})
        assert conflict.status_code == 409
        assert conflict.headers["content-type"] == "application/problem+json"
        assert "INSERT" not in conflict.text
        assert client.get("/tags/count").json() == 1


def test_missing_row_is_404_naming_the_model(database_url):
    app, _ = make_app(database_url)
    with TestClient(app) as client:
        response = client.get("/tags/99")
        assert response.status_code == 404
        assert response.json()["detail"] == "Tag 99 does not exist"


def test_pool_is_whole_after_many_failing_requests(database_url):
    app, plugin = make_app(database_url)
    with TestClient(app, raise_server_exceptions=False) as client:
        for i in range(1000):
            assert client.post("/tags/fail", json={"name": f"t{i}"}).status_code == 500
        assert plugin.engine is not None
        assert plugin.engine.pool.checkedout() == 0
        assert client.get("/tags/count").json() == 0


def test_sqlite_is_tuned_for_web_use(tmp_path):
    app, plugin = make_app(f"sqlite+aiosqlite:///{tmp_path / 'tuned.db'}")

    @app.get("/pragmas")
    async def pragmas(db: AsyncSession) -> dict:
        return {
            "journal": (await db.execute(__import__("sqlalchemy").text("PRAGMA journal_mode"))).scalar(),
            "fk": (await db.execute(__import__("sqlalchemy").text("PRAGMA foreign_keys"))).scalar(),
        }

    with TestClient(app) as client:
        assert client.get("/pragmas").json() == {"journal": "wal", "fk": 1}


@pytest.mark.parametrize("url", [
    "sqlite+aiosqlite:////nonexistent/dir/x.db",
    "postgresql+asyncpg://nobody@127.0.0.1:1/nothing",
])
def test_unreachable_database_fails_at_startup(url):
    app = App(settings=Settings(profile="test"), plugins=[SQLAlchemyPlugin(url)])
    with pytest.raises(RuntimeError, match="Cannot connect to the database"):
        with TestClient(app):
            pass


def test_malformed_url_fails_at_startup():
    app = App(settings=Settings(profile="test"), plugins=[SQLAlchemyPlugin("not a url")])
    with pytest.raises(RuntimeError, match="is not a database URL"):
        with TestClient(app):
            pass


def test_session_outside_the_lifespan_says_what_to_do(database_url):
    app, _ = make_app(database_url)
    response = TestClient(app, raise_server_exceptions=False).get("/tags/count")
    assert response.status_code == 500
    with pytest.raises(ConfigurationError, match="database is not started"):
        TestClient(app).get("/tags/count")


def test_savepoints_work_inside_the_request_transaction(database_url):
    app, _ = make_app(database_url)
    with TestClient(app) as client:
        assert client.post("/tags/nested", json={"name": "once"}).status_code == 201
        assert client.get("/tags/count").json() == 1


def test_client_disconnects_leak_no_session(database_url):
    import asyncio

    from bastion import Request

    app, plugin = make_app(database_url)

    @app.post("/tags/slow-upload")
    async def slow_upload(request: Request, db: AsyncSession) -> dict:
        db.add(Tag(name="never"))
        await db.flush()
        await request.body()  # the client goes away while we wait for its body
        return {}

    async def scenario() -> None:
        async with app.lifespan():
            for _ in range(50):
                messages = [{"type": "http.disconnect"}]

                async def receive():
                    return messages[0]

                async def send(message):
                    raise AssertionError("nothing may be sent to a client that left")

                scope = {"type": "http", "method": "POST", "path": "/tags/slow-upload",
                         "headers": [(b"content-type", b"application/json")],
                         "query_string": b"", "root_path": "", "scheme": "http"}
                await app(scope, receive, send)
            assert plugin.engine is not None
            assert plugin.engine.pool.checkedout() == 0
            async with plugin.sessions() as session:
                count = await session.scalar(select(func.count()).select_from(Tag))
            assert count == 0

    asyncio.run(scenario())


def test_the_url_comes_from_the_database_url_setting(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'from_settings.db'}"
    plugin = SQLAlchemyPlugin()
    app = App(settings=Settings(profile="test", database_url=url), plugins=[plugin])
    with TestClient(app):
        assert plugin.url == url
    assert (tmp_path / "from_settings.db").exists()


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://u:p@db.example/app", "postgresql+asyncpg://u:p@db.example/app"),
        ("postgresql://u@db.example/app", "postgresql+asyncpg://u@db.example/app"),
        ("sqlite:///./app.db", "sqlite+aiosqlite:///./app.db"),
        ("postgresql+psycopg://u@db.example/app", "postgresql+psycopg://u@db.example/app"),
    ],
)
def test_platform_urls_get_the_async_driver(given, used):
    from bastion.db.engine import async_url

    assert async_url(given) == used


def test_the_platforms_database_url_is_read_last(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'platform.db'}"
    monkeypatch.delenv("BASTION_DATABASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", url)
    plugin = SQLAlchemyPlugin()
    with TestClient(App(settings=Settings(profile="test"), plugins=[plugin])):
        assert plugin.engine is not None and plugin.engine.url.drivername == "sqlite+aiosqlite"
    assert (tmp_path / "platform.db").exists()


async def test_requests_beyond_the_pool_get_connections_in_arrival_order(database_url):
    import asyncio

    from bastion.testing import AsyncTestClient

    app, plugin = app_with_tables(database_url, pool_size=2, max_overflow=0)
    order: list[int] = []

    @app.get("/turn/{number}")
    async def turn(number: int, db: AsyncSession) -> int:
        order.append(number)
        await db.execute(select(1))
        await asyncio.sleep(0.005)  # hold the connection while the others queue
        return number

    async with AsyncTestClient(app) as client:
        answers = await asyncio.gather(*(client.get(f"/turn/{n}") for n in range(30)))
        assert [a.json() for a in answers] == list(range(30))
        assert order == list(range(30))
        assert plugin.engine is not None and plugin.engine.pool.checkedout() == 0
