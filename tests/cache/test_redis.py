"""The Redis backend on a real server: the shared suite, then what only Redis shows (tag sets
that expire with their entries, misconfiguration)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bastion.cache import Cache, CacheBackend
from bastion.cache.redis import RedisBackend
from tests._redis import redis_server
from tests.cache.suite import *  # noqa: F403


@pytest.fixture
def prefix() -> str:
    """Keys of their own for each test: the server is shared by the whole session."""
    return f"test:{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def cache(redis_url: str, prefix: str) -> AsyncIterator[Cache]:
    made = Cache(RedisBackend(redis_url), prefix=prefix)
    await made.start()
    yield made
    await made.stop()


@pytest.fixture
async def peer(redis_url: str, prefix: str) -> AsyncIterator[Cache]:
    made = Cache(RedisBackend(redis_url), prefix=prefix)
    await made.start()
    yield made
    await made.stop()


@pytest.fixture
async def outage(tmp_path: Path) -> AsyncIterator[tuple[Cache, Any]]:
    with redis_server(tmp_path) as (url, process):
        made = Cache(RedisBackend(url, timeout=0.5), prefix="outage")
        await made.start()

        async def stop() -> None:
            process.terminate()
            process.wait(10)

        yield made, stop
        await made.stop()


def test_redis_backend_is_a_cache_backend(redis_url: str) -> None:
    assert isinstance(RedisBackend(redis_url), CacheBackend)
    assert RedisBackend.shared is True


async def test_a_tag_set_lives_as_long_as_its_longest_entry(cache: Cache) -> None:
    client = cache.backend.client  # type: ignore[attr-defined]
    tag = cache.tag_keys("t")[0]
    await cache.set("a", 1, ttl=10, tags=("t",))
    assert 9_000 < await client.pttl(tag) <= 10_000
    await cache.set("b", 1, ttl=100, tags=("t",))
    assert await client.pttl(tag) > 90_000
    await cache.set("c", 1, ttl=5, tags=("t",))
    assert await client.pttl(tag) > 90_000  # a shorter entry does not shorten it
    await cache.set("d", 1, ttl=None, tags=("t",))
    assert await client.pttl(tag) == -1
    await cache.invalidate_tags("t")
    assert await client.exists(tag) == 0


async def test_keys_are_readable_under_the_prefix(cache: Cache) -> None:
    client = cache.backend.client  # type: ignore[attr-defined]
    await cache.namespace("blog").set("post:1", 5, ttl=30)
    assert await client.get(cache.prefix + "blog:post:1") == b"5"


async def test_clear_escapes_glob_characters(redis_url: str, prefix: str) -> None:
    star = Cache(RedisBackend(redis_url), prefix=prefix + "*")
    plain = Cache(RedisBackend(redis_url), prefix=prefix + "x")
    for made in (star, plain):
        await made.start()
        await made.set("k", 1)
    await star.clear()
    assert await star.get("k") is None
    assert await plain.get("k") == 1
    for made in (star, plain):
        await made.stop()


async def test_reads_made_together_go_to_redis_as_one_mget(cache: Cache) -> None:
    import asyncio

    await cache.set_many({f"k{i}": i for i in range(10)})
    client = cache.backend.client  # type: ignore[attr-defined]
    await client.config_resetstat()
    values = await asyncio.gather(*(cache.get(f"k{i % 12}") for i in range(50)))
    assert values == [i % 12 if i % 12 < 10 else None for i in range(50)]
    stats = await client.info("commandstats")
    assert stats["cmdstat_mget"]["calls"] == 1
    assert "cmdstat_get" not in stats
