"""On PostgreSQL the plugin's default pool is fixed-size (``database_pool_size``, 10): under a
burst of requests a warm process opens no new connection. SQLAlchemy's default (5 + 10
overflow) closed overflow connections as they came back and opened new ones at the next burst,
each introspecting types and preparing statements again (issue 22 measured a fifth of the
throughput)."""

import asyncio

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

from bastion import App, Settings
from bastion.db import SQLAlchemyPlugin
from bastion.testing import AsyncTestClient


def burst_app(url: str, **settings):
    plugin = SQLAlchemyPlugin(url)
    app = App(settings=Settings(profile="test", **settings), plugins=[plugin])

    @app.get("/one")
    async def one(db: AsyncSession) -> int:
        value = (await db.execute(text("SELECT 1"))).scalar_one()
        await asyncio.sleep(0.002)  # hold the connection so the burst needs many
        return value

    return app, plugin


async def test_a_warm_process_opens_no_connection_under_64_concurrent_requests(postgres_url):
    app, plugin = burst_app(postgres_url)
    async with AsyncTestClient(app) as client:
        assert plugin.engine is not None
        pool = plugin.engine.pool
        assert pool.size() == 10 and pool._max_overflow == 0
        warm = await asyncio.gather(*(client.get("/one") for _ in range(64)))
        assert {r.status_code for r in warm} == {200}
        opened: list[object] = []
        event.listen(plugin.engine.sync_engine, "connect", lambda *_: opened.append(1))
        for _ in range(3):
            answers = await asyncio.gather(*(client.get("/one") for _ in range(64)))
            assert {r.status_code for r in answers} == {200}
        assert opened == []
        assert pool.checkedout() == 0


async def test_the_pool_size_comes_from_settings_and_explicit_options_win(postgres_url):
    app, plugin = burst_app(postgres_url, database_pool_size=3)
    async with AsyncTestClient(app):
        assert plugin.engine is not None and plugin.engine.pool.size() == 3
    tuned = SQLAlchemyPlugin(postgres_url, pool_size=4, max_overflow=2)
    async with AsyncTestClient(App(settings=Settings(profile="test"), plugins=[tuned])):
        assert tuned.engine is not None
        assert tuned.engine.pool.size() == 4 and tuned.engine.pool._max_overflow == 2
