"""CachePlugin: injection of the default and named caches, backends chosen by configuration,
the database cache through SQLAlchemyPlugin, and misconfiguration stopping start-up."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bastion import App
from bastion.cache import Cache, CachePlugin, Caches, MemoryBackend
from bastion.cache.memcached import MemcachedBackend
from bastion.cache.redis import RedisBackend
from bastion.config import Settings
from bastion.exceptions import ConfigurationError
from bastion.testing import TestClient


def test_handlers_get_the_default_cache_and_named_ones() -> None:
    app = App(plugins=[CachePlugin(caches={"sessions": "memory"})])

    @app.post("/visit")
    async def visit(cache: Cache, caches: Caches) -> dict[str, int]:
        return {
            "default": await cache.incr("visits"),
            "sessions": await caches["sessions"].incr("visits", 10),
        }

    @app.get("/same")
    async def same(cache: Cache, caches: Caches) -> dict[str, Any]:
        return {"same": cache is caches.default, "names": sorted(caches)}

    with TestClient(app) as client:
        assert client.post("/visit").json() == {"default": 1, "sessions": 10}
        assert client.post("/visit").json() == {"default": 2, "sessions": 20}
        assert client.get("/same").json() == {"same": True, "names": ["default", "sessions"]}


def test_an_unknown_cache_name_says_which_exist() -> None:
    plugin = CachePlugin(caches={"sessions": "memory"})
    App(plugins=[plugin])
    with pytest.raises(KeyError, match="the app has default, sessions"):
        plugin.caches["session"]


def test_keys_are_prefixed_with_the_app_and_the_cache_name() -> None:
    plugin = CachePlugin(caches={"local": "memory"})
    App(plugins=[plugin], settings=Settings(app_name="shop"))
    assert plugin.caches["local"].prefix == "shop:cache:local:"
    other = CachePlugin(prefix="v2")
    App(plugins=[other])
    assert other.caches.default.prefix == "v2:default:"


def test_backends_come_from_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASTION_CACHE_URL", "memory://?max_entries=5")
    monkeypatch.setenv("BASTION_CACHE_SHARED_URL", "redis://127.0.0.1:1/0")
    plugin = CachePlugin(caches={"shared": None, "mc": "memcached://127.0.0.1:11211"})
    App(plugins=[plugin])
    default = plugin.caches.default.backend
    assert isinstance(default, MemoryBackend) and default.max_entries == 5
    assert isinstance(plugin.caches["shared"].backend, RedisBackend)
    assert isinstance(plugin.caches["mc"].backend, MemcachedBackend)
    given = MemoryBackend()
    assert CachePlugin(given).specs["default"] is given


def test_an_argument_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASTION_CACHE_URL", "redis://127.0.0.1:1/0")
    plugin = CachePlugin("memory")
    App(plugins=[plugin])
    assert isinstance(plugin.caches.default.backend, MemoryBackend)


@pytest.mark.parametrize(
    ("plugin", "message"),
    [
        (lambda: CachePlugin("mongodb://x"), "is unknown"),
        (lambda: CachePlugin(caches={"shared": None}), "BASTION_CACHE_SHARED_URL"),
        (lambda: CachePlugin(caches={"Bad-Name": "memory"}), "lowercase letters"),
        (lambda: CachePlugin("memory", caches={"default": "memory"}), "given twice"),
        (lambda: CachePlugin("memory://?max_entries=lots"), "max_entries=N"),
        (lambda: CachePlugin("database"), "add SQLAlchemyPlugin"),
        (lambda: CachePlugin(timeout=0), "timeout"),
        (lambda: CachePlugin(default_ttl=-1), "default_ttl"),
    ],
)
def test_misconfiguration_fails_at_start_up(plugin: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        App(plugins=[plugin()])


def test_one_cache_plugin_per_app() -> None:
    with pytest.raises(ConfigurationError, match="one CachePlugin"):
        App(plugins=[CachePlugin(), CachePlugin()])


def test_the_database_cache_must_come_after_the_database() -> None:
    from bastion.db import SQLAlchemyPlugin

    with pytest.raises(ConfigurationError, match="must come after it"):
        App(plugins=[CachePlugin("database"), SQLAlchemyPlugin("sqlite+aiosqlite://")])


def test_the_database_cache_uses_the_apps_database(tmp_path: Path) -> None:
    from bastion.cache.database import MIGRATIONS, metadata
    from bastion.db import SQLAlchemyPlugin
    from bastion.db.engine import create_engine

    url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"

    async def create() -> None:
        engine = create_engine(url)
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        await engine.dispose()

    asyncio.run(create())
    database = SQLAlchemyPlugin(url)
    app = App(plugins=[database, CachePlugin("database")])
    assert (MIGRATIONS, metadata) in database.migration_branches  # `bastion db upgrade` has it

    @app.post("/count")
    async def count(cache: Cache) -> int:
        return await cache.incr("n")

    with TestClient(app) as client:
        assert [client.post("/count").json() for _ in range(3)] == [1, 2, 3]


def test_a_store_down_at_start_up_is_a_warning_not_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:

    app = App(plugins=[CachePlugin("redis://127.0.0.1:1/0", timeout=0.2)])

    @app.get("/n")
    async def n(cache: Cache) -> int:
        return await cache.incr("n")

    with TestClient(app) as client:
        assert client.get("/n").json() == 1
    assert any("does not answer at start-up" in r.getMessage() for r in caplog.records)
