"""The memcached backend on a real server: the shared suite, then what only memcached shows
(versioned tags and prefixes instead of sets, sub-second TTLs, odd keys)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bastion.cache import Cache, CacheBackend
from bastion.cache.memcached import MemcachedBackend
from bastion.exceptions import ConfigurationError
from tests._memcached import memcached_server
from tests.cache.suite import *  # noqa: F403


@pytest.fixture
def prefix() -> str:
    return f"test:{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def cache(memcached_url: str, prefix: str) -> AsyncIterator[Cache]:
    made = Cache(MemcachedBackend(memcached_url), prefix=prefix)
    await made.start()
    yield made
    await made.stop()


@pytest.fixture
async def peer(memcached_url: str, prefix: str, cache: Cache) -> AsyncIterator[Cache]:
    made = Cache(MemcachedBackend(memcached_url), prefix=prefix)
    await made.start()
    yield made
    await made.stop()


@pytest.fixture
async def outage() -> AsyncIterator[tuple[Cache, Any]]:
    with memcached_server() as (url, process):
        made = Cache(MemcachedBackend(url, timeout=0.5), prefix="outage")
        await made.start()

        async def stop() -> None:
            process.terminate()
            process.wait(10)

        yield made, stop
        await made.stop()


def test_memcached_backend_is_a_cache_backend(memcached_url: str) -> None:
    assert isinstance(MemcachedBackend(memcached_url), CacheBackend)


def test_a_url_that_is_not_memcached_fails_at_start_up() -> None:
    with pytest.raises(ConfigurationError, match="memcached://host:11211"):
        MemcachedBackend("redis://localhost")


async def test_ttls_below_a_second_hold(cache: Cache) -> None:
    await cache.set("k", "v", ttl=0.3)
    assert await cache.get("k") == "v"
    await asyncio.sleep(0.4)
    assert await cache.get("k") is None


async def test_a_one_second_ttl_outlasts_memcacheds_clock_tick(cache: Cache, memcached_url: str) -> None:
    """memcached's clock moves once a second: told "1", it may drop the item at its next tick,
    a moment later. The server is told a second more; the entry's own expiry decides."""
    await cache.set("k", "v", ttl=1)
    host, port = memcached_url.removeprefix("memcached://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"mg " + MemcachedBackend._k(cache.prefix + "k") + b" t\r\n")  # t: seconds left
    line = await reader.readline()
    writer.close()
    assert line.startswith(b"HD t") and int(line.split(b" t")[1]) >= 2, line
    await asyncio.sleep(1.2)
    assert await cache.get("k") is None


async def test_another_client_sees_invalidations_and_clears(cache: Cache, peer: Cache) -> None:
    await cache.set("a", 1, tags=("t",))
    await cache.namespace("blog").set("b", 2)
    assert await peer.get("a") == 1
    await peer.invalidate_tags("t")
    await peer.namespace("blog").clear()
    assert await cache.get("a") is None
    assert await cache.namespace("blog").get("b") is None


async def test_an_evicted_version_makes_its_entries_stale(cache: Cache) -> None:
    backend: MemcachedBackend = cache.backend  # type: ignore[assignment]
    await cache.set("a", 1, tags=("t",))
    await backend.client.delete(backend._version_key("t:" + cache.tag_keys("t")[0]))
    assert await cache.get("a") is None
    await cache.set("a", 2, tags=("t",))
    assert await cache.get("a") == 2
