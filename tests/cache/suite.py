"""The behaviour every cache backend must show: one suite, run against each backend.

A backend's test module imports the suite and provides three fixtures:

- ``cache``: a started ``Cache`` on the backend, with keys of its own (a fresh prefix);
- ``peer``: a second ``Cache`` on the same store and prefix through another backend object
  (other connections, as another process would have); ``cache`` itself for memory;
- ``outage``: ``(cache, stop)`` on a store of its own, where ``await stop()`` takes the store
  away for real (a server stopped, a database file gone); memory skips.

Expiry tests sleep just over a second: TTLs are whole seconds on some engines' side.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any

import msgspec
import pytest

from bastion.cache import Cache

__all__ = [
    "test_a_store_that_stops_degrades_to_misses",
    "test_add_stores_only_when_absent",
    "test_clear_empties_the_cache_and_namespaces",
    "test_default_ttl_applies_when_set_gets_none",
    "test_delete_reports_whether_something_was_deleted",
    "test_entries_expire_after_their_ttl",
    "test_get_many_returns_only_hits_and_set_many_stores_all",
    "test_incr_and_decr_count_and_keep_the_expiry",
    "test_incr_is_atomic_between_clients",
    "test_incr_of_a_non_integer_is_a_type_error",
    "test_invalidate_tags_deletes_tagged_entries_in_every_namespace",
    "test_keys_of_any_length_and_characters",
    "test_missing_key_returns_the_default",
    "test_namespaces_are_isolated_and_clear_alone",
    "test_plain_values_round_trip",
    "test_remember_after_a_failing_factory_computes_again",
    "test_remember_computes_once_for_50_concurrent_callers",
    "test_remember_computes_once_for_callers_on_two_clients",
    "test_remember_returns_typed_hits",
    "test_set_with_ttl_zero_deletes",
    "test_touch_gives_a_new_expiry",
    "test_typed_values_decode_and_a_wrong_type_is_a_miss",
]


class Article(msgspec.Struct):
    slug: str
    title: str
    tags: list[str] = []


@dataclasses.dataclass
class Point:
    x: int
    y: int


async def test_missing_key_returns_the_default(cache: Cache) -> None:
    assert await cache.get("nothing") is None
    assert await cache.get("nothing", "fallback") == "fallback"


async def test_plain_values_round_trip(cache: Cache) -> None:
    values: dict[str, Any] = {
        "dict": {"a": 1, "b": [1, 2.5, None]},
        "list": [1, "two", 3.0],
        "text": "héllo ✓",
        "bytes": b"\x00\xc1raw",
        "float": 2.5,
        "none": None,
        "true": True,
        "zero": 0,
        "negative": -42,
        "big": 2**70,
    }
    for key, value in values.items():
        await cache.set(key, value)
    for key, value in values.items():
        got = await cache.get(key, "missing")
        assert got == value and type(got) is type(value), key


async def test_typed_values_decode_and_a_wrong_type_is_a_miss(cache: Cache) -> None:
    article = Article("engine", "Notes on the engine", ["history"])
    await cache.set("article", article)
    await cache.set("point", Point(1, 2))
    assert await cache.get("article", type=Article) == article
    assert await cache.get("article") == {
        "slug": "engine",
        "title": "Notes on the engine",
        "tags": ["history"],
    }
    assert await cache.get("point", type=Point) == Point(1, 2)
    assert await cache.get("point", "stale", type=Article) == "stale"  # a deploy changed it
    assert await cache.get("article", type=list[int]) is None
    await cache.set("count", 7)
    assert await cache.get("count", type=int) == 7
    assert await cache.get("count", type=float) == 7.0


async def test_delete_reports_whether_something_was_deleted(cache: Cache) -> None:
    await cache.set("k", "v")
    assert await cache.delete("k") is True
    assert await cache.get("k") is None
    assert await cache.delete("k") is False


async def test_get_many_returns_only_hits_and_set_many_stores_all(cache: Cache) -> None:
    await cache.set_many({"a": 1, "b": {"x": [1]}, "c": "three"}, ttl=60)
    assert await cache.get_many(["a", "b", "c", "missing"]) == {
        "a": 1,
        "b": {"x": [1]},
        "c": "three",
    }
    assert await cache.get_many([]) == {}
    await cache.set_many({"p1": Point(1, 1), "p2": Point(2, 2)})
    assert await cache.get_many(["p1", "p2"], type=Point) == {"p1": Point(1, 1), "p2": Point(2, 2)}


async def test_add_stores_only_when_absent(cache: Cache) -> None:
    assert await cache.add("k", "first") is True
    assert await cache.add("k", "second") is False
    assert await cache.get("k") == "first"
    assert await cache.add("short", 1, ttl=1) is True
    await asyncio.sleep(1.2)
    assert await cache.add("short", 2) is True  # an expired entry counts as absent
    assert await cache.get("short") == 2


async def test_incr_and_decr_count_and_keep_the_expiry(cache: Cache) -> None:
    assert await cache.incr("hits") == 1
    assert await cache.incr("hits", 10) == 11
    assert await cache.decr("hits") == 10
    assert await cache.decr("hits", 4) == 6
    assert await cache.get("hits") == 6
    await cache.set("set-count", 41)
    assert await cache.incr("set-count") == 42
    assert await cache.incr("window", ttl=1) == 1
    assert await cache.incr("window", ttl=100) == 2  # an existing counter keeps its expiry
    await asyncio.sleep(1.2)
    assert await cache.get("window") is None
    assert await cache.incr("window", ttl=100) == 1


async def test_incr_of_a_non_integer_is_a_type_error(cache: Cache) -> None:
    await cache.set("text", "seven")
    with pytest.raises(TypeError, match="not an integer"):
        await cache.incr("text")
    with pytest.raises(TypeError):
        await cache.incr("text", True)  # type: ignore[arg-type]
    assert await cache.get("text") == "seven"


async def test_incr_is_atomic_between_clients(cache: Cache, peer: Cache) -> None:
    await asyncio.gather(*(c.incr("shared") for _ in range(25) for c in (cache, peer)))
    assert await cache.get("shared") == 50


async def test_entries_expire_after_their_ttl(cache: Cache) -> None:
    await cache.set("short", "v", ttl=1)
    await cache.set("forever", "v", ttl=None)
    await cache.set("long", "v", ttl=60)
    assert await cache.get("short") == "v"
    await asyncio.sleep(1.2)
    assert await cache.get("short") is None
    assert await cache.get_many(["short", "forever", "long"]) == {"forever": "v", "long": "v"}


async def test_set_with_ttl_zero_deletes(cache: Cache) -> None:
    await cache.set("k", "v")
    await cache.set("k", "w", ttl=0)
    assert await cache.get("k") is None


async def test_default_ttl_applies_when_set_gets_none(cache: Cache) -> None:
    short = Cache(cache.backend, prefix=cache.prefix + "short", default_ttl=1)
    await short.set("k", "v")
    await short.set("kept", "v", ttl=None)
    await asyncio.sleep(1.2)
    assert await short.get("k") is None
    assert await short.get("kept") == "v"


async def test_touch_gives_a_new_expiry(cache: Cache) -> None:
    await cache.set("k", Point(1, 2), ttl=1, tags=("points",))
    assert await cache.touch("k", 60) is True
    assert await cache.touch("missing", 60) is False
    await asyncio.sleep(1.2)
    assert await cache.get("k", type=Point) == Point(1, 2)
    await cache.invalidate_tags("points")  # touching kept the entry's tags
    assert await cache.get("k") is None
    await cache.set("n", 5, ttl=60)
    assert await cache.touch("n", 1) is True
    await asyncio.sleep(1.2)
    assert await cache.get("n") is None


async def test_namespaces_are_isolated_and_clear_alone(cache: Cache) -> None:
    blog, shop = cache.namespace("blog"), cache.namespace("shop")
    await blog.set("k", "blog")
    await shop.set("k", "shop")
    await cache.set("k", "root")
    drafts = blog.namespace("drafts")
    await drafts.set("k", "draft")
    assert [await c.get("k") for c in (blog, shop, cache, drafts)] == [
        "blog",
        "shop",
        "root",
        "draft",
    ]
    await blog.clear()
    assert [await c.get("k") for c in (blog, shop, cache, drafts)] == [None, "shop", "root", None]
    await blog.set("k", "again")
    assert await blog.get("k") == "again"


async def test_clear_empties_the_cache_and_namespaces(cache: Cache) -> None:
    other = Cache(cache.backend, prefix=cache.prefix[:-1] + "-other")  # a sibling cache
    await cache.set("a", 1)
    await cache.namespace("ns").set("b", 2)
    await other.set("a", "other's")
    await cache.clear()
    assert await cache.get("a") is None
    assert await cache.namespace("ns").get("b") is None
    assert await other.get("a") == "other's"
    await cache.set("a", 3)
    assert await cache.get("a") == 3


async def test_invalidate_tags_deletes_tagged_entries_in_every_namespace(cache: Cache) -> None:
    blog = cache.namespace("blog")
    await cache.set("list", [1, 2], tags=("articles",))
    await blog.set("one", "a", tags=["articles", "article:1"])
    await blog.set("two", "b", tags="article:2")
    await cache.set("users", ["ada"], tags=("users",))
    await cache.set("plain", "kept")
    await cache.set_many({"m1": 1, "m2": 2}, tags=("many",))
    await cache.invalidate_tags("articles")
    assert await cache.get("list") is None
    assert await blog.get("one") is None
    assert await blog.get("two") == "b"
    assert await cache.get("users") == ["ada"]
    assert await cache.get("plain") == "kept"
    await cache.invalidate_tags("article:2", "users", "many")
    assert await cache.get_many(["users", "m1", "m2"]) == {}
    assert await blog.get("two") is None
    await cache.set("list", [3], tags=("articles",))  # a tag works again after invalidation
    assert await cache.get("list") == [3]
    await cache.invalidate_tags("articles")
    assert await cache.get("list") is None
    await cache.invalidate_tags()  # nothing to do


async def test_keys_of_any_length_and_characters(cache: Cache) -> None:
    keys = ["with space", "tab\there", "ünïcode ✓", "k" * 1000, "a:b:c", "#h:x"]
    for i, key in enumerate(keys):
        await cache.set(key, i)
    assert [await cache.get(k) for k in keys] == list(range(len(keys)))


async def test_remember_computes_once_for_50_concurrent_callers(cache: Cache) -> None:
    calls = 0

    async def expensive() -> dict[str, int]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.2)
        return {"answer": 42}

    results = await asyncio.gather(*(cache.remember("r", 60, expensive) for _ in range(50)))
    assert calls == 1
    assert results == [{"answer": 42}] * 50
    assert await cache.remember("r", 60, expensive) == {"answer": 42}
    assert calls == 1


async def test_remember_computes_once_for_callers_on_two_clients(cache: Cache, peer: Cache) -> None:
    calls = 0

    async def expensive() -> list[int]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.3)
        return [1, 2, 3]

    callers = [c.remember("shared", 60, expensive) for _ in range(25) for c in (cache, peer)]
    assert await asyncio.gather(*callers) == [[1, 2, 3]] * 50
    assert calls == 1


async def test_remember_returns_typed_hits(cache: Cache) -> None:
    article = Article("engine", "Notes")
    assert await cache.remember("a", 60, lambda: article, type=Article) is article
    assert await cache.remember("a", 60, lambda: None, type=Article) == article
    assert await cache.remember("none", 60, lambda: None) is None  # None is a value too
    assert await cache.remember("none", 60, lambda: "recomputed") is None


async def test_remember_after_a_failing_factory_computes_again(cache: Cache) -> None:
    async def failing() -> int:
        await asyncio.sleep(0.05)
        raise RuntimeError("the database is down")

    results = await asyncio.gather(
        *(cache.remember("f", 60, failing) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    assert await cache.remember("f", 60, lambda: 7) == 7


async def test_a_store_that_stops_degrades_to_misses(
    outage: tuple[Cache, Any], caplog: pytest.LogCaptureFixture
) -> None:
    cache, stop = outage
    await cache.set("k", "v")
    assert await cache.get("k") == "v"
    await stop()
    with caplog.at_level(logging.WARNING, logger="bastion.cache"):
        started = time.monotonic()
        assert await cache.get("k") is None
        assert await cache.get("k", "fallback") == "fallback"
        await cache.set("k2", 1, tags=("t",))
        await cache.set_many({"a": 1})
        assert await cache.get_many(["k", "k2"]) == {}
        assert await cache.incr("n", 3) == 3
        assert await cache.add("a", 1) is False
        assert await cache.delete("k") is False
        assert await cache.touch("k", 5) is False
        await cache.clear()
        await cache.invalidate_tags("t")
        assert await cache.remember("r", 10, lambda: 7) == 7
        assert time.monotonic() - started < 20
    warnings = [r for r in caplog.records if r.name == "bastion.cache"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]  # one, not one per call
    assert warnings[0].levelno == logging.WARNING
    assert "unavailable" in warnings[0].getMessage()
