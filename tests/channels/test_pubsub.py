"""Pub/sub backends (memory, real Redis), SSE resume, and presence across nodes."""

import asyncio
import time
import uuid
from typing import Annotated

import pytest

from bastion import App, Header, Settings
from bastion._tasks import cancel_and_wait
from bastion.exceptions import ConfigurationError
from bastion.http.sse import EventSourceResponse
from bastion.testing import TestClient
from bastion.websockets.presence import Presence
from bastion.websockets.pubsub import (
    MemoryPubSub,
    Message,
    PubSub,
    PubSubPlugin,
    RedisPubSub,
    topic_events,
)


@pytest.fixture(params=["memory", "redis"])
def backends(request):
    """Two handles on one pub/sub: two processes for Redis, the same object for memory."""
    if request.param == "memory":
        shared = MemoryPubSub(history_size=3)
        return lambda: shared
    url = request.getfixturevalue("redis_url")
    prefix = f"test{uuid.uuid4().hex[:8]}"
    return lambda: RedisPubSub(url, prefix=prefix, history_size=3)


async def until(condition, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def test_broadcast_reaches_subscribers_of_the_topic_only(backends):
    one, two = backends(), backends()
    await one.start()
    await two.start()
    got: list[Message] = []
    other: list[Message] = []
    await two.subscribe("room:1", got.append)
    await two.subscribe("room:2", other.append)
    sent = await one.broadcast("room:1", "msg", {"n": 1})
    await until(lambda: got)
    assert (got[0].topic, got[0].event, got[0].payload, got[0].id) == (
        "room:1",
        "msg",
        {"n": 1},
        sent.id,
    )
    assert other == []
    await two.unsubscribe("room:1", got.append)
    await one.broadcast("room:1", "msg", {"n": 2})
    await one.broadcast("room:2", "msg", {"n": 3})
    await until(lambda: other)
    assert len(got) == 1
    await one.stop()
    await two.stop()


async def test_history_is_bounded_and_resumes_after_an_id(backends):
    one = backends()
    sent = [await one.broadcast("feed", "item", {"n": n}) for n in range(5)]
    await one.broadcast("feed", "ping", {}, history=False)
    kept = await one.history("feed")
    assert [m.payload["n"] for m in kept] == [2, 3, 4]
    after = await one.history("feed", after=sent[2].id)
    assert [m.payload["n"] for m in after] == [3, 4]
    assert await one.history("feed", after=sent[4].id) == []
    await one.stop()


async def test_a_failing_subscriber_does_not_stop_the_others(caplog):
    pubsub = MemoryPubSub()
    got = []

    def broken(message):
        raise ValueError("subscriber bug")

    await pubsub.subscribe("t", broken)
    await pubsub.subscribe("t", got.append)
    await pubsub.broadcast("t", "e", {})
    assert len(got) == 1 and "subscriber bug" in caplog.text


def test_bad_backend_settings_are_configuration_errors():
    with pytest.raises(ConfigurationError, match="redis://"):
        RedisPubSub("localhost:6379")
    with pytest.raises(ConfigurationError, match="history_size"):
        MemoryPubSub(history_size=-1)
    with pytest.raises(ConfigurationError, match="RedisPubSub"):
        PubSubPlugin(backend="redis://x")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="down_after"):
        Presence(MemoryPubSub(), heartbeat_interval=5, down_after=1)


# -- SSE ---------------------------------------------------------------------------------------


def sse_app(backend: PubSub) -> App:
    app = App(settings=Settings(profile="test"), plugins=[PubSubPlugin(backend)])

    @app.get("/feed")
    async def feed(
        pubsub: PubSub, last_event_id: Annotated[str | None, Header()] = None
    ) -> EventSourceResponse:
        return EventSourceResponse(topic_events(pubsub, "feed", last_event_id=last_event_id))

    return app


def read_events(lines, count):
    events, current = [], {}
    for line in lines:
        if not line:
            if current:
                events.append(current)
                current = {}
            if len(events) == count:
                return events
            continue
        field, _, value = line.partition(": ")
        current[field] = value
    return events


def test_sse_resumes_after_last_event_id(backends):
    backend = backends()
    app = sse_app(backend)
    with TestClient(app) as client:
        sent = [client.portal.call(backend.broadcast("feed", "item", {"n": n})) for n in range(3)]
        headers = {"last-event-id": sent[0].id}
        with client.stream("GET", "/feed", headers=headers) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.iter_lines()
            replayed = read_events(lines, 2)
            assert [(e["event"], e["data"], e["id"]) for e in replayed] == [
                ("item", '{"n":1}', sent[1].id),
                ("item", '{"n":2}', sent[2].id),
            ]
            live = client.portal.call(backend.broadcast("feed", "item", {"n": 3}))
            [event] = read_events(lines, 1)
            assert (event["data"], event["id"]) == ('{"n":3}', live.id)


# -- presence across nodes ---------------------------------------------------------------------


def two_nodes(redis_url, heartbeat_interval, down_after):
    """Two presence trackers on their own pub/subs of one Redis (a prefix of their own)."""
    prefix = f"test{uuid.uuid4().hex[:8]}"
    a_bus, b_bus = RedisPubSub(redis_url, prefix=prefix), RedisPubSub(redis_url, prefix=prefix)
    a = Presence(a_bus, heartbeat_interval=heartbeat_interval, down_after=down_after)
    b = Presence(b_bus, heartbeat_interval=heartbeat_interval, down_after=down_after)
    return a_bus, b_bus, a, b


async def alice_on_a_seen_by_b(a, b):
    await b.watch("room:1")
    await a.watch("room:1")
    await a.track("owner-a", "room:1", "alice", {})
    await until(lambda: "alice" in b.list("room:1"))


async def test_presence_replicates_between_nodes_and_a_dead_node_leaves(redis_url):
    a_bus, b_bus, a, b = two_nodes(redis_url, 0.1, 0.6)
    diffs: list[dict] = []
    await b_bus.subscribe("room:1", lambda m: diffs.append(m.payload))
    await a.watch("room:1")
    ref = await a.track("owner-a", "room:1", "alice", {"device": "phone"})
    await b.watch("room:1")  # joins late: asks a for its state
    await until(lambda: "alice" in b.list("room:1"))
    assert b.list("room:1") == {"alice": {"metas": [{"device": "phone", "phx_ref": ref}]}}
    await until(lambda: diffs)  # diffs are batched: sent within presence's diff_interval
    assert diffs[-1]["joins"]["alice"]["metas"][0]["phx_ref"] == ref

    new_ref = await a.update("owner-a", "room:1", "alice", {"device": "laptop"})
    await until(lambda: b.list("room:1")["alice"]["metas"][0]["phx_ref"] == new_ref)
    assert b.list("room:1")["alice"]["metas"][0]["phx_ref_prev"] == ref

    await b.track("owner-b", "room:1", "bob", {})
    await until(lambda: "bob" in a.list("room:1"))

    # Node a dies without a word: its tasks stop, nothing is announced.
    await cancel_and_wait(a._tasks)
    try:
        await until(lambda: "alice" not in b.list("room:1"), timeout=5)
    except AssertionError:  # once in CI: say what b knew, for the next time
        seen = {node: round(time.monotonic() - at, 2) for node, at in b._seen.items()}
        raise AssertionError(
            f"b still lists alice; b's tasks {b._tasks}, seconds since heard {seen}, a is {a.node}"
        ) from None
    await until(lambda: diffs[-1]["leaves"])
    assert set(diffs[-1]["leaves"]) == {"alice"}
    assert set(b.list("room:1")) == {"bob"}
    await b.stop()
    await a_bus.stop()
    await b_bus.stop()


async def test_a_backend_that_stops_answering_does_not_stop_noticing_dead_nodes(redis_url):
    """With Redis paused, b's heartbeat publish hangs; it gives up after ``down_after``, so b
    lets the silent node a go within about two of them, not when Redis comes back (or, here,
    when redis-py's own 5 s timeout ends the publish)."""
    from redis.asyncio import Redis

    a_bus, b_bus, a, b = two_nodes(redis_url, 0.2, 1.0)
    await alice_on_a_seen_by_b(a, b)
    admin = Redis.from_url(redis_url)
    await admin.ping()  # connected before a goes silent: the pause starts at once
    try:
        await cancel_and_wait(a._tasks)
        await admin.execute_command("CLIENT", "PAUSE", "10000", "WRITE")  # PUBLISH waits
        assert "alice" in b.list("room:1")  # still: b has not heard a's silence yet
        await until(lambda: "alice" not in b.list("room:1"), timeout=4)  # redis-py gives up after 5 s
    finally:
        await admin.execute_command("CLIENT", "UNPAUSE")
        await admin.aclose()
    await b.stop()
    await a_bus.stop()
    await b_bus.stop()


async def test_a_clean_shutdown_removes_presences_at_once(redis_url):
    a_bus, b_bus, a, b = two_nodes(redis_url, 5, 60)
    await alice_on_a_seen_by_b(a, b)
    await a.stop()
    await until(lambda: b.list("room:1") == {}, timeout=2)
    await b.stop()
    await a_bus.stop()
    await b_bus.stop()


@pytest.mark.parametrize(
    "garbage", ["1" * 5000, "\u00b2", "1-\u00b2", "18446744073709551616", "99999999999999999999-0", "1-" + "9" * 30]
)
def test_sse_with_a_garbage_last_event_id_replays_the_history(backends, garbage):
    """A Last-Event-ID that is no id of ours is ignored: int() of 5,000 digits or of '²'
    raised, and Redis refused ids beyond 64 bits; both were 500s mid-stream."""
    backend = backends()
    app = sse_app(backend)
    with TestClient(app) as client:
        sent = client.portal.call(backend.broadcast("feed", "item", {"n": 1}))
        with client.stream("GET", "/feed", headers={"last-event-id": garbage.encode()}) as response:
            assert response.status_code == 200
            [event] = read_events(response.iter_lines(), 1)
            assert event["id"] == sent.id


async def test_presence_diffs_are_batched_per_topic():
    """Many changes at once make one diff; a ref that comes and goes within it is not sent."""
    bus = MemoryPubSub()
    presence = Presence(bus, diff_interval=0.05)
    diffs: list[dict] = []
    await bus.subscribe("room:1", lambda m: diffs.append(m.payload))
    await presence.watch("room:1")
    try:
        for n in range(50):
            await presence.track(f"socket{n}", "room:1", f"user{n}", {"n": n})
        await presence.track("brief", "room:1", "brief", {})
        await presence.untrack("brief", "room:1")
        await until(lambda: diffs)
        await asyncio.sleep(0.1)
        assert len(diffs) == 1
        assert set(diffs[0]["joins"]) == {f"user{n}" for n in range(50)}
        assert diffs[0]["leaves"] == {}
        await presence.untrack("socket0", "room:1")
        await until(lambda: len(diffs) == 2)
        assert set(diffs[1]["leaves"]) == {"user0"} and diffs[1]["joins"] == {}
        assert set(presence.list("room:1")) == {f"user{n}" for n in range(1, 50)}
    finally:
        await presence.stop()


def test_presence_diff_interval_is_checked():
    with pytest.raises(ConfigurationError, match="diff_interval"):
        Presence(MemoryPubSub(), diff_interval=-1)
