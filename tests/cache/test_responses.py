"""Response caching through the test client: what is cached, under which key, what is never
cached, the headers sent, 304s with ConditionalGet, tag invalidation, routers, stampedes and
a cache that is down."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bastion import App, Router
from bastion.cache import Cache, CachePlugin, CachePolicy
from bastion.cache.redis import RedisBackend
from bastion.exceptions import ConfigurationError
from bastion.http.request import Request
from bastion.http.response import JSONResponse, Response
from bastion.middleware.conditional import ConditionalGet
from bastion.testing import AsyncTestClient, TestClient
from tests._redis import redis_server

calls: Counter[str] = Counter()


def make_app(*plugins: Any, cache_spec: str | None = None, **app_options: Any) -> App[Any]:
    calls.clear()
    prefix = f"test-{uuid.uuid4().hex[:12]}"  # a shared server keeps earlier tests' keys
    app = App(plugins=[*plugins, CachePlugin(cache_spec, prefix=prefix)], **app_options)
    policy = CachePolicy(ttl=60, vary=("accept-language",), tags=("articles",))

    @app.get("/articles", middleware=[policy])
    async def articles(page: int = 1, request: Request = None) -> dict[str, Any]:  # type: ignore[assignment]
        calls["articles"] += 1
        return {
            "page": page,
            "lang": request.headers.get("accept-language"),
            "n": calls["articles"],
        }

    @app.get("/articles/{slug}", middleware=[CachePolicy(ttl=60, tags=("article:{slug}",))])
    async def article(slug: str) -> dict[str, Any]:
        calls[slug] += 1
        return {"slug": slug, "n": calls[slug]}

    @app.post("/articles/{slug}")
    async def edit(slug: str, cache: Cache) -> None:
        await cache.invalidate_tags(f"article:{slug}", "articles")

    @app.get("/cookie", middleware=[CachePolicy(ttl=60)])
    async def cookie() -> Response:
        calls["cookie"] += 1
        response = JSONResponse({"n": calls["cookie"]})
        response.set_cookie("seen", "1")
        return response

    @app.get("/private", middleware=[CachePolicy(ttl=60)])
    async def private() -> Response:
        calls["private"] += 1
        return JSONResponse({"n": calls["private"]}, headers={"cache-control": "private"})

    @app.get("/missing", middleware=[CachePolicy(ttl=60)])
    async def missing() -> Response:
        calls["missing"] += 1
        return JSONResponse({"n": calls["missing"]}, 404)

    def user_of(request: Request) -> str | None:
        return request.headers.get("authorization")

    @app.get("/me", middleware=[CachePolicy(ttl=60, key=user_of)])
    async def me(request: Request) -> dict[str, Any]:
        calls["me"] += 1
        return {"user": request.headers.get("authorization"), "n": calls["me"]}

    @app.get("/slow", middleware=[CachePolicy(ttl=60)])
    async def slow() -> dict[str, int]:
        calls["slow"] += 1
        await asyncio.sleep(0.2)
        return {"n": calls["slow"]}

    return app


@pytest.fixture(params=["memory", "redis", "memcached"])
def cache_spec(request: pytest.FixtureRequest) -> str | None:
    """The memory backend, and shared ones (a real Redis, a real memcached)."""
    if request.param == "memory":
        return None
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture(params=["middleware", "bare"])
def client(request: pytest.FixtureRequest, cache_spec: str | None) -> Iterator[TestClient]:
    """The app with function middleware, and without: there, hits on static paths are
    answered before a ``Request`` exists (``App.answer_early``), and must not differ."""
    middleware = [ConditionalGet()] if request.param == "middleware" else []
    with TestClient(make_app(middleware=middleware, cache_spec=cache_spec)) as made:
        yield made


def test_a_cached_answer_is_served_without_running_the_handler(client: TestClient) -> None:
    first = client.get("/articles")
    second = client.get("/articles")
    assert first.json() == second.json() == {"page": 1, "lang": None, "n": 1}
    assert calls["articles"] == 1
    assert first.headers["cache-control"] == second.headers["cache-control"] == "max-age=60"
    assert first.headers["etag"] == second.headers["etag"]
    assert first.headers["vary"] == "accept-language"
    assert "age" not in first.headers and second.headers["age"] == "0"
    assert second.headers["content-type"] == "application/json"


def test_the_key_holds_the_query_and_the_varied_headers(client: TestClient) -> None:
    assert client.get("/articles?page=2").json()["n"] == 1
    assert client.get("/articles?page=2").json()["n"] == 1
    assert client.get("/articles?page=3").json()["n"] == 2
    french = client.get("/articles?page=2", headers={"accept-language": "fr"}).json()
    assert french == {"page": 2, "lang": "fr", "n": 3}
    assert client.get("/articles?page=2", headers={"accept-language": "fr"}).json()["n"] == 3
    assert client.get("/articles?page=2", headers={"user-agent": "other"}).json()["n"] == 1


def test_head_is_served_from_the_cache(client: TestClient) -> None:
    client.get("/articles")
    head = client.head("/articles")
    assert head.status_code == 200 and head.content == b"" and "age" in head.headers
    assert calls["articles"] == 1


def test_requests_with_credentials_are_never_cached(client: TestClient) -> None:
    client.get("/articles")
    answer = client.get("/articles", headers={"authorization": "Bearer x"})
    assert answer.json()["n"] == 2
    assert client.get("/articles", headers={"authorization": "Bearer x"}).json()["n"] == 3
    assert client.get("/articles", headers={"cookie": "session=abc"}).json()["n"] == 4
    assert client.get("/articles", headers={"cookie": "theme=dark"}).json()["n"] == 1


def test_the_session_plugins_cookie_marks_a_request_private() -> None:
    from bastion.auth import SessionPlugin

    app = make_app(SessionPlugin(cookie_name="sid", secret_key="k" * 32))
    with TestClient(app) as client:
        client.get("/articles")
        assert client.get("/articles", headers={"cookie": "sid=x"}).json()["n"] == 2
        assert client.get("/articles", headers={"cookie": "a=1; sid=x"}).json()["n"] == 3
        assert client.get("/articles", headers={"cookie": "nosid=x"}).json()["n"] == 1


def test_a_key_function_caches_private_requests_under_its_key(client: TestClient) -> None:
    ada = client.get("/me", headers={"authorization": "ada"})
    assert ada.json() == {"user": "ada", "n": 1}
    assert ada.headers["cache-control"] == "private, max-age=60"
    assert client.get("/me", headers={"authorization": "ada"}).json()["n"] == 1
    assert client.get("/me", headers={"authorization": "bob"}).json() == {"user": "bob", "n": 2}
    assert client.get("/me").json()["n"] == 3  # None from the key function: not cached
    assert client.get("/me").json()["n"] == 4


def test_answers_that_set_cookies_or_say_private_are_not_stored(client: TestClient) -> None:
    assert client.get("/cookie").json()["n"] == 1
    client.cookies.clear()
    assert client.get("/cookie").json()["n"] == 2
    assert client.get("/private").json()["n"] == 1
    assert client.get("/private").json()["n"] == 2
    assert client.get("/private").headers["cache-control"] == "private"
    assert client.get("/missing").json()["n"] == 1
    assert client.get("/missing").json()["n"] == 2  # only 200s by default


def test_a_request_saying_no_store_bypasses_the_cache(client: TestClient) -> None:
    client.get("/articles")
    assert client.get("/articles", headers={"cache-control": "no-store"}).json()["n"] == 2
    assert client.get("/articles").json()["n"] == 1  # and stored nothing


def test_conditional_get_answers_304_from_the_cache() -> None:
    with TestClient(make_app(middleware=[ConditionalGet()])) as client:
        etag = client.get("/articles").headers["etag"]
        again = client.get("/articles", headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag and again.headers["cache-control"] == "max-age=60"
    assert calls["articles"] == 1


def test_hits_are_answered_before_a_request_exists_when_nothing_else_runs_first(
    monkeypatch: pytest.MonkeyPatch, cache_spec: str | None
) -> None:
    made: list[Request] = []

    class CountedRequest(Request):
        __slots__ = ()

        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            made.append(self)

    monkeypatch.setattr("bastion.app.Request", CountedRequest)
    with TestClient(make_app(cache_spec=cache_spec)) as client:
        first, second = client.get("/articles?page=2"), client.get("/articles?page=2")
        assert len(made) == 1  # the miss only
        assert second.content == first.content and second.headers["age"] == "0"
        head = client.head("/articles?page=2")
        assert head.content == b"" and head.headers["content-length"] == str(len(first.content))
        assert len(made) == 1
        client.get("/articles?page=2", headers={"accept-language": "fr"})  # varied: serve
        client.get("/articles/engine")  # a path with parameters: serve
        client.get("/articles/engine")
        assert len(made) == 4 and calls["engine"] == 1

    async def stamp(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        response.headers["x-seen"] = "yes"
        return response

    made.clear()
    with TestClient(make_app(middleware=[stamp], cache_spec=cache_spec)) as client:
        answers = [client.get("/articles") for _ in range(2)]
    assert len(made) == 2 and calls["articles"] == 1  # app middleware runs on every hit
    assert [a.headers["x-seen"] for a in answers] == ["yes", "yes"]


def test_a_miss_answered_early_asks_a_shared_backend_once(
    monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    asked: list[str] = []
    get = RedisBackend.get

    async def counted(self: RedisBackend, key: str) -> bytes | None:
        if ":responses:" in key:  # not the start-up probe
            asked.append(key)
        return await get(self, key)

    monkeypatch.setattr(RedisBackend, "get", counted)
    with TestClient(make_app(cache_spec=redis_url)) as client:
        first, second = client.get("/articles"), client.get("/articles")
        assert first.json() == second.json() and calls["articles"] == 1
        assert len(asked) == 2 and asked[0] == asked[1]  # the miss, then the hit: once each
        long = "/articles?page=1&" + "x" * 300  # serve hashes such keys; early leaves them
        assert [client.get(long).json()["n"] for _ in range(2)] == [2, 2]
        assert len(asked) == 4 and asked[2] == asked[3] and len(asked[2]) < 100


def test_the_age_of_a_hit_counts_seconds_since_it_was_stored(
    monkeypatch: pytest.MonkeyPatch, client: TestClient
) -> None:
    from bastion.cache import memory, responses

    now = [1_000_000.0]
    for module, name in ((responses, "_time"), (responses, "_monotonic"), (memory, "_monotonic")):
        monkeypatch.setattr(module, name, lambda: now[0])
    monkeypatch.setattr(responses.time, "time", lambda: now[0])  # the time stored
    client.get("/articles")
    ages = []
    for step in (0.4, 0.7, 1.2, 30):
        now[0] += step
        ages.append(client.get("/articles").headers["age"])
    assert ages == ["0", "1", "2", "32"]


def test_handlers_invalidate_cached_answers_by_tag(client: TestClient) -> None:
    assert client.get("/articles/engine").json()["n"] == 1
    assert client.get("/articles/loom").json()["n"] == 1
    assert client.get("/articles").json()["n"] == 1
    assert client.post("/articles/engine").status_code == 204
    assert client.get("/articles/engine").json()["n"] == 2
    assert client.get("/articles/loom").json()["n"] == 1  # another slug's tag
    assert client.get("/articles").json()["n"] == 2


async def test_concurrent_misses_run_the_handler_once() -> None:
    app = make_app()
    async with AsyncTestClient(app) as client:
        answers = await asyncio.gather(*(client.get("/slow") for _ in range(20)))
    assert {a.json()["n"] for a in answers} == {1}
    assert calls["slow"] == 1


def test_a_router_policy_caches_its_reads_and_a_route_policy_wins() -> None:
    seen: Counter[str] = Counter()
    router = Router("/api", middleware=[CachePolicy(ttl=60)])

    @router.get("/a")
    async def a() -> dict[str, int]:
        seen["a"] += 1
        return {"n": seen["a"]}

    @router.get("/b", middleware=[CachePolicy(ttl=5, max_age=0)])
    async def b() -> dict[str, int]:
        seen["b"] += 1
        return {"n": seen["b"]}

    @router.post("/a")
    async def write() -> dict[str, int]:
        seen["write"] += 1
        return {"n": seen["write"]}

    app = App(plugins=[CachePlugin()])
    app.include(router)
    with TestClient(app) as client:
        assert [client.get("/api/a").json()["n"] for _ in range(2)] == [1, 1]
        assert [client.post("/api/a").json()["n"] for _ in range(2)] == [1, 2]
        answer = client.get("/api/b")
        assert answer.headers["cache-control"] == "no-cache"  # route policy: max_age=0
        assert client.get("/api/b").json()["n"] == 1


def test_a_policy_without_the_plugin_says_what_to_add() -> None:
    app = App()

    @app.get("/x", middleware=[CachePolicy(ttl=60)])
    async def x() -> str:
        return "x"

    with TestClient(app) as client, pytest.raises(ConfigurationError, match="CachePlugin"):
        client.get("/x")


def test_a_policy_naming_an_unknown_cache_fails_at_start_up() -> None:
    app = App(plugins=[CachePlugin()])

    @app.get("/x", middleware=[CachePolicy(ttl=60, cache="shared")])
    async def x() -> str:
        return "x"

    with pytest.raises(ConfigurationError, match="names no cache"):
        asyncio.run(app.startup())


def test_a_tag_naming_no_path_parameter_fails_at_start_up() -> None:
    app = App(plugins=[CachePlugin()])

    @app.get("/x/{id}", middleware=[CachePolicy(ttl=60, tags=("x:{slug}",))])
    async def x(id: int) -> str:
        return "x"

    with pytest.raises(ConfigurationError, match="not a path parameter"):
        asyncio.run(app.startup())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ttl": 0}, "ttl"),
        ({"ttl": 60, "vary": "accept-language"}, "trailing comma"),
        ({"ttl": 60, "vary": ("bad header",)}, "not a header name"),
        ({"ttl": 60, "max_age": -1}, "max_age"),
    ],
)
def test_bad_policies_fail_when_declared(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        CachePolicy(**options)


def test_a_redis_cache_that_stops_serves_from_the_handler(tmp_path: Path) -> None:
    with redis_server(tmp_path) as (url, process):
        app = make_app(cache_spec=url)
        with TestClient(app) as client:
            assert [client.get("/articles").json()["n"] for _ in range(2)] == [1, 1]
            process.terminate()
            process.wait(10)
            assert [client.get("/articles").status_code for _ in range(2)] == [200, 200]
            assert calls["articles"] == 3
