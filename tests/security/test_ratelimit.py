import asyncio
import uuid

import pytest

from bastion import App, Request, Router, Settings
from bastion.exceptions import ConfigurationError
from bastion.security import MemoryBackend, Rate, RateLimit, RedisBackend, by_header, by_ip
from bastion.security.ratelimit.rate import gcra
from bastion.testing import TestClient


def limited_app(*limits, route_limits=()) -> App:
    app = App(settings=Settings(profile="test"), middleware=list(limits))

    @app.get("/a", middleware=list(route_limits))
    async def a() -> str:
        return "a"

    @app.get("/b")
    async def b() -> str:
        return "b"

    return app


@pytest.mark.parametrize(
    "text, limit, period",
    [("10/minute", 10, 60), ("10/min", 10, 60), ("100 per hour", 100, 3600), ("5/30s", 5, 30),
     ("1000/day", 1000, 86400), ("3/seconds", 3, 1), ("2/5m", 2, 300)],
)
def test_rates_parse(text, limit, period):
    assert Rate.parse(text) == Rate(limit, period)


@pytest.mark.parametrize("text", ["10", "ten/minute", "10/fortnight", "0/minute", "5/0s", "-1/s"])
def test_bad_rates_fail_at_construction(text):
    with pytest.raises(ConfigurationError, match="'10/minute'|at least 1"):
        RateLimit(text)


def test_gcra_allows_a_burst_then_refills_one_interval_at_a_time():
    rate = Rate(3, 60)
    tat, results = 0.0, []
    for _ in range(4):
        decision, tat = gcra(tat, 100.0, rate)
        results.append((decision.allowed, decision.remaining))
    assert results == [(True, 2), (True, 1), (True, 0), (False, 0)]
    assert decision.retry_after == pytest.approx(20.0)
    later, _ = gcra(tat, 120.0, rate)  # one interval later: one request allowed
    assert later.allowed and later.remaining == 0


@pytest.mark.parametrize("now", [0.1, 87.3, 1234.567, 98765.4321, 3.3e6 + 0.7])
def test_gcra_never_refuses_a_fresh_key_to_rounding(now):
    # (now + 60) - 60 rounds above now for many clock values; a fresh key must still pass.
    for rate in (Rate(1, 60), Rate(3, 1), Rate(7, 0.1)):
        decision, tat = gcra(now, now, rate)
        assert decision.allowed and decision.remaining == rate.limit - 1
        assert tat == now + rate.interval


def test_headers_on_success_and_429_with_retry_after():
    client = TestClient(limited_app(RateLimit("2/minute")))
    first = client.get("/a")
    assert first.status_code == 200
    assert first.headers["ratelimit-limit"] == "2"
    assert first.headers["ratelimit-remaining"] == "1"
    assert first.headers["ratelimit-reset"] == "30"
    assert first.headers["ratelimit-policy"] == "2;w=60"
    assert client.get("/b").headers["ratelimit-remaining"] == "0"  # app-level: one budget
    refused = client.get("/a")
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "30"
    assert refused.headers["ratelimit-remaining"] == "0"
    assert refused.json()["retry_after"] == 30
    assert "2 requests per 60 seconds" in refused.json()["detail"]


def test_route_limit_costs_only_its_route():
    client = TestClient(limited_app(route_limits=[RateLimit("1/minute")]))
    assert client.get("/a").status_code == 200
    assert client.get("/a").status_code == 429
    assert client.get("/b").status_code == 200
    assert "ratelimit-limit" not in client.get("/b").headers


def test_router_limit_is_one_budget_for_its_routes():
    app = App(settings=Settings(profile="test"))
    api = Router("/api", middleware=[RateLimit("2/minute")])
    api.get("/x")(lambda: "x")
    api.get("/y")(lambda: "y")
    app.include(api)
    app.get("/free")(lambda: "free")
    client = TestClient(app)
    assert [client.get(p).status_code for p in ("/api/x", "/api/y", "/api/x")] == [200, 200, 429]
    assert client.get("/free").status_code == 200


def test_keys_separate_budgets():
    limit = RateLimit("1/minute", key=by_header("x-api-key"))
    client = TestClient(limited_app(limit))
    assert client.get("/a", headers={"x-api-key": "one"}).status_code == 200
    assert client.get("/a", headers={"x-api-key": "one"}).status_code == 429
    assert client.get("/a", headers={"x-api-key": "two"}).status_code == 200
    # No key: falls back to the client address, its own budget.
    assert client.get("/a").status_code == 200
    assert client.get("/a").status_code == 429


def test_async_key_function_for_users():
    async def by_user(request: Request) -> str | None:
        return request.headers.get("x-user")

    client = TestClient(limited_app(RateLimit("1/minute", key=by_user)))
    assert client.get("/a", headers={"x-user": "ann"}).status_code == 200
    assert client.get("/a", headers={"x-user": "bob"}).status_code == 200
    assert client.get("/a", headers={"x-user": "ann"}).status_code == 429


def test_ipv6_clients_share_their_64():
    class Req:
        def __init__(self, host):
            self.scope = {"client": (host, 1)}

    assert by_ip(Req("2001:db8:1:2:aaaa::1")) == by_ip(Req("2001:db8:1:2:bbbb::9")) == "2001:db8:1:2::/64"
    assert by_ip(Req("::ffff:192.0.2.1")) == "192.0.2.1"
    assert by_ip(Req("192.0.2.1")) == "192.0.2.1"


async def test_memory_backend_forgets_keys_at_full_budget():
    backend = MemoryBackend(sweep_above=10)
    rate = Rate(100, 0.001)
    for i in range(10):
        await backend.hit(f"k{i}", rate)
    await asyncio.sleep(0.01)
    await backend.hit("last", rate)
    assert len(backend._tat) <= 2


# -- Redis ---------------------------------------------------------------------------------


async def test_redis_backend_enforces_the_limit(redis_url):
    backend = RedisBackend(redis_url, prefix=f"test:{uuid.uuid4().hex}:")
    try:
        rate = Rate(3, 60)
        decisions = [await backend.hit("k", rate) for _ in range(4)]
        assert [d.allowed for d in decisions] == [True, True, True, False]
        assert [d.remaining for d in decisions] == [2, 1, 0, 0]
        assert decisions[0].reset_after == pytest.approx(20, abs=0.5)
        assert decisions[3].retry_after == pytest.approx(20, abs=0.5)
        assert (await backend.hit("other", rate)).allowed
    finally:
        await backend.close()


async def test_redis_backend_is_atomic_under_concurrency(redis_url):
    backend = RedisBackend(redis_url, prefix=f"test:{uuid.uuid4().hex}:")
    try:
        decisions = await asyncio.gather(*(backend.hit("k", Rate(10, 3600)) for _ in range(50)))
        assert sum(d.allowed for d in decisions) == 10
    finally:
        await backend.close()


async def test_redis_keys_expire_when_the_budget_is_whole(redis_url):
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    backend = RedisBackend(client=client, prefix=f"test:{uuid.uuid4().hex}:")
    try:
        await backend.hit("k", Rate(10, 60))
        ttl = await client.pttl(backend.prefix + "k")
        assert 0 < ttl <= 6000
        long_key = "x" * 500
        await backend.hit(long_key, Rate(10, 60))
        assert len(await client.keys(backend.prefix + "*")) == 2
        assert all(len(k) < 200 for k in await client.keys(backend.prefix + "*"))
    finally:
        await backend.close()
        await client.aclose()


def test_redis_through_the_app(redis_url):
    backend = RedisBackend(redis_url, prefix=f"test:{uuid.uuid4().hex}:")
    client = TestClient(limited_app(RateLimit("2/minute", backend=backend)))
    assert [client.get("/a").status_code for _ in range(3)] == [200, 200, 429]


def test_unreachable_redis_is_503_or_passes_when_fail_open():
    down = RedisBackend("redis://127.0.0.1:1/0")
    closed = TestClient(limited_app(RateLimit("2/minute", backend=down))).get("/a")
    assert closed.status_code == 503
    assert closed.headers["content-type"] == "application/problem+json"
    opened = TestClient(limited_app(RateLimit("2/minute", backend=down, fail_open=True))).get("/a")
    assert opened.status_code == 200


def test_redis_backend_needs_one_source():
    with pytest.raises(ConfigurationError, match="exactly one"):
        RedisBackend()
