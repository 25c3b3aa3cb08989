"""The memory backend: the shared suite, then its bounds (a least-recently-used cache)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from bastion.cache import Cache, CacheBackend, MemoryBackend
from bastion.exceptions import ConfigurationError
from tests.cache.suite import *  # noqa: F403


@pytest.fixture
async def cache() -> AsyncIterator[Cache]:
    made = Cache(MemoryBackend(), prefix=f"test:{uuid.uuid4().hex[:8]}")
    await made.start()
    yield made
    await made.stop()


@pytest.fixture
def peer(cache: Cache) -> Cache:
    return cache  # one process: the same store is the same object


@pytest.fixture
def outage() -> None:
    pytest.skip("the memory backend lives in the process: it cannot be unreachable")


def test_memory_backend_is_a_cache_backend() -> None:
    assert isinstance(MemoryBackend(), CacheBackend)
    assert MemoryBackend.shared is False


async def test_least_recently_used_entries_go_first() -> None:
    backend = MemoryBackend(max_entries=3)
    cache = Cache(backend)
    for key in "abc":
        await cache.set(key, key)
    assert await cache.get("a") == "a"  # now b is the least recently used
    await cache.set("d", "d")
    assert len(backend) == 3
    assert await cache.get_many(["a", "b", "c", "d"]) == {"a": "a", "c": "c", "d": "d"}


async def test_entries_read_since_the_last_eviction_get_a_second_chance() -> None:
    backend = MemoryBackend(max_entries=3)
    cache = Cache(backend)
    for key in "abc":
        await cache.set(key, key)
    await cache.get("a")
    await cache.get("b")
    await cache.set("d", "d")  # a and b were read: c goes; a and b, unmarked, go behind d
    await cache.set("e", "e")  # then the oldest not read since: d
    assert await cache.get_many(["a", "b", "c", "d", "e"]) == {"a": "a", "b": "b", "e": "e"}


async def test_the_value_just_stored_is_not_the_one_evicted() -> None:
    backend = MemoryBackend(max_bytes=1000)
    cache = Cache(backend)
    await cache.set("old", b"x" * 300)
    await cache.get("old")
    await cache.set("new", b"x" * 800)  # too much for both: the older goes, read or not
    assert await cache.get_many(["old", "new"]) == {"new": b"x" * 800}


async def test_max_bytes_bounds_the_values_kept() -> None:
    backend = MemoryBackend(max_bytes=1000)
    cache = Cache(backend)
    for i in range(10):
        await cache.set(f"k{i}", b"x" * 300, tags=("big",))
    assert len(backend) == 3
    assert sorted(await cache.get_many([f"k{i}" for i in range(10)])) == ["k7", "k8", "k9"]
    await cache.invalidate_tags("big")
    assert len(backend) == 0


@pytest.mark.parametrize("options", [{"max_entries": 0}, {"max_bytes": -1}, {"max_entries": 1.5}])
def test_bad_bounds_fail_at_start_up(options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError, match="use a number >= 1"):
        MemoryBackend(**options)  # type: ignore[arg-type]
