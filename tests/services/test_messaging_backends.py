"""The behaviour every messaging backend shares, run on memory, a real NATS (JetStream) and a
real Redis: requests and replies, headers, retries counted and given up on, a slow handler
kept (not run twice) by a group of two consumers, a stopped consumer's message redelivered;
and what only one backend does (NATS without JetStream refused, Redis dropping a request
whose requester gave up)."""

import asyncio
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from bastion.exceptions import ConfigurationError
from bastion.services.messaging import (
    Consumer,
    MemoryBackend,
    Message,
    MessageBus,
    MessagingBackend,
    NoResponders,
    RequestTimeout,
)
from bastion.services.messaging.nats import NatsBackend
from bastion.services.messaging.redis import RedisStreamsBackend
from tests._nats import nats_server, nats_url  # noqa: F401 (a fixture)

Factory = Callable[[], MessagingBackend]


class Order(msgspec.Struct):
    id: int


@pytest.fixture(params=["memory", "nats", "redis"])
async def new_backend(request: pytest.FixtureRequest) -> AsyncIterator[Factory]:
    """Makes started backends on one server and one prefix (the processes of one group)."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    made: list[MessagingBackend] = []
    memory = MemoryBackend()

    def make() -> MessagingBackend:
        if request.param == "memory":
            backend: MessagingBackend = memory
        elif request.param == "nats":
            backend = NatsBackend(request.getfixturevalue("nats_url"), prefix=prefix)
        else:
            backend = RedisStreamsBackend(request.getfixturevalue("redis_url"), prefix=prefix)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.stop()


async def started(factory: Factory) -> MessagingBackend:
    backend = factory()
    await backend.start()
    return backend


async def until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)
    assert condition(), what


async def test_requests_are_answered_with_headers_both_ways(new_backend: Factory) -> None:
    bus = MessageBus()

    @bus.message("math.double")
    async def double(n: int, msg: Message) -> dict[str, Any]:
        return {"n": n * 2, "trace": msg.headers.get("trace"), "request": msg.is_request}

    backend = await started(new_backend)
    bus.backend = backend
    consumer = Consumer(bus, backend, poll=0.2)
    await consumer.start()
    try:
        answers = await asyncio.gather(
            *(
                bus.request("math.double", n, headers={"trace": f"t{n}"}, timeout=20)
                for n in range(10)
            )
        )
        assert answers == [{"n": n * 2, "trace": f"t{n}", "request": True} for n in range(10)]
    finally:
        await consumer.stop()


async def test_a_request_nobody_answers_fails(new_backend: Factory) -> None:
    bus = MessageBus()
    backend = await started(new_backend)
    bus.backend = backend
    with pytest.raises((NoResponders, RequestTimeout)):  # Redis cannot know: it waits
        await bus.request("nobody.listens", 1, timeout=0.5)


async def test_a_failing_event_is_retried_with_its_attempt_counted(new_backend: Factory) -> None:
    bus = MessageBus()
    attempts: list[tuple[int, int, str | None]] = []

    @bus.message("orders.created")
    async def on_order(order: Order, msg: Message) -> None:
        attempts.append((order.id, msg.attempt, msg.headers.get("trace")))
        if order.id == 1 and msg.attempt < 3:
            raise ConnectionError("try again")
        if order.id == 2:
            raise ConnectionError("never")

    backend = await started(new_backend)
    bus.backend = backend
    consumer = Consumer(
        bus, backend, retry_delay=0.05, redeliver_after=1.0, max_attempts=3, poll=0.2
    )
    await consumer.start()
    try:
        await bus.publish("orders.created", Order(1), headers={"trace": "abc"})
        await bus.publish("orders.created", Order(2))
        await until(lambda: len(attempts) >= 6, f"retries: {attempts}")
        await asyncio.sleep(1.5)  # nothing more comes: order 2 was given up on
    finally:
        await consumer.stop()
    assert sorted(attempts) == [
        (1, 1, "abc"),
        (1, 2, "abc"),
        (1, 3, "abc"),
        (2, 1, None),
        (2, 2, None),
        (2, 3, None),
    ]


async def test_a_slow_handler_keeps_its_message_from_the_rest_of_the_group(
    new_backend: Factory,
) -> None:
    bus = MessageBus()
    runs: list[int] = []

    @bus.message("reports.build")
    async def build(n: int, msg: Message) -> None:
        runs.append(msg.attempt)
        await asyncio.sleep(3.5)  # well past redeliver_after; touched meanwhile

    members = []
    for _ in range(2):
        backend = await started(new_backend)
        # touched every 0.5 s: a stall of the loop (or a slow touch) up to 1 s is no redelivery
        members.append(Consumer(bus, backend, redeliver_after=1.5, poll=0.2))
    bus.backend = members[0].backend
    for member in members:
        await member.start()
    try:
        await bus.publish("reports.build", 1)
        await until(lambda: bool(runs), "never ran")
        await asyncio.sleep(4.0)
    finally:
        for member in members:
            await member.stop()
    assert runs == [1]


async def test_a_message_running_when_its_consumer_stops_goes_to_the_next(
    new_backend: Factory,
) -> None:
    bus = MessageBus()
    runs: list[int] = []

    @bus.message("orders.slow")
    async def slow(order: Order, msg: Message) -> None:
        runs.append(msg.attempt)
        if msg.attempt == 1:
            await asyncio.sleep(3600)  # cancelled past the grace, unacknowledged

    backend = await started(new_backend)
    bus.backend = backend
    first = Consumer(bus, backend, grace=0.1, redeliver_after=1.0, poll=0.2)
    await first.start()
    await bus.publish("orders.slow", Order(1))
    await until(lambda: runs == [1], "never ran")
    await first.stop()
    second = Consumer(bus, await started(new_backend), redeliver_after=1.0, poll=0.2)
    await second.start()
    try:
        await until(lambda: runs == [1, 2], f"not redelivered: {runs}")
    finally:
        await second.stop()


async def test_nats_without_jetstream_is_refused_with_the_fix() -> None:
    with tempfile.TemporaryDirectory() as base, nats_server(Path(base), jetstream=False) as url:
        backend = NatsBackend(url)
        with pytest.raises(ConfigurationError, match="nats-server -js"):
            await backend.start()


async def test_redis_drops_a_request_whose_requester_gave_up(redis_url: str) -> None:
    bus = MessageBus()
    calls: list[int] = []

    @bus.message("math.late")
    async def late(n: int) -> int:
        calls.append(n)
        return n

    backend = RedisStreamsBackend(redis_url, prefix=f"t{uuid.uuid4().hex[:10]}")
    await backend.start()
    bus.backend = backend
    consumer = Consumer(bus, backend, poll=0.2)
    await consumer.start()  # the group exists; then the consumer goes away
    await consumer.stop()
    with pytest.raises(RequestTimeout):
        await bus.request("math.late", 1, timeout=0.3)
    consumer = Consumer(bus, backend, poll=0.2)
    await consumer.start()
    try:
        key = backend.key("request", "math.late")
        async with asyncio.timeout(20):
            while await backend.client().xlen(key):
                await asyncio.sleep(0.05)
        assert calls == []  # deleted unanswered: nobody waited any more
        assert await bus.request("math.late", 2, timeout=20) == 2
    finally:
        await consumer.stop()
        await backend.stop()


async def test_redis_consumers_join_again_when_their_stream_is_deleted(redis_url: str) -> None:
    bus = MessageBus()
    seen: list[int] = []

    @bus.message("orders.created")
    async def on_order(order: Order) -> None:
        seen.append(order.id)

    backend = RedisStreamsBackend(redis_url, prefix=f"t{uuid.uuid4().hex[:10]}")
    await backend.start()
    bus.backend = backend
    consumer = Consumer(bus, backend, poll=0.2)
    await consumer.start()
    try:
        await bus.publish("orders.created", Order(1))
        await until(lambda: seen == [1], "first event")
        await backend.client().delete(backend.key("event", "orders.created"))  # as a flush
        await asyncio.sleep(0.5)  # the consumer meets NOGROUP and joins again
        await bus.publish("orders.created", Order(2))
        await until(lambda: seen == [1, 2], f"after the deletion: {seen}")
    finally:
        await consumer.stop()
        await backend.stop()


async def test_hostile_payloads_get_error_replies_and_the_consumer_goes_on(
    new_backend: Factory,
) -> None:
    bus = MessageBus()
    seen: list[int] = []

    @bus.message("orders.created")
    async def on_order(order: Order) -> None:
        seen.append(order.id)

    @bus.message("math.double")
    async def double(n: int) -> int:
        return n * 2

    backend = await started(new_backend)
    bus.backend = backend
    consumer = Consumer(bus, backend, poll=0.2, max_size=10_000)
    await consumer.start()
    try:
        for data, status in [
            (b"\xff\xfe{", "400"),
            (b'"two"', "422"),
            (b"1" * 20_000, "413"),
            (b"[" * 5_000 + b"]" * 5_000, "422"),  # deeply nested: refused, not recursed
        ]:
            reply = await backend.request("math.double", data, {}, timeout=20)
            assert reply.headers["Nats-Service-Error-Code"] == status, (data[:10], reply)
            problem = msgspec.json.decode(reply.data)
            assert problem["status"] == int(status) and "Traceback" not in problem["detail"]
        for data in [b"not json", b'{"id": "x"}', b"", b"\x00" * 100]:
            await backend.publish("orders.created", data, {})
        await bus.publish("orders.created", Order(5))
        await until(lambda: seen == [5], f"the consumer went on: {seen}")
        assert await bus.request("math.double", 21, timeout=20) == 42
    finally:
        await consumer.stop()


async def test_requests_sent_while_a_member_stops_are_answered_by_the_others(
    new_backend: Factory,
) -> None:
    bus = MessageBus()
    release = asyncio.Event()
    running: list[int] = []

    @bus.message("work.do")
    async def do(n: int) -> int:
        running.append(n)
        if n == 0:
            await release.wait()  # keeps the first member in its grace period
        return n

    leaving = Consumer(bus, await started(new_backend), poll=0.2, grace=30)
    bus.backend = leaving.backend
    await leaving.start()
    first = asyncio.create_task(bus.request("work.do", 0, timeout=60))
    await until(lambda: running == [0], "the first request never ran")
    staying = Consumer(bus, await started(new_backend), poll=0.2)
    await staying.start()
    stopping = asyncio.create_task(leaving.stop())
    try:
        await asyncio.sleep(0.5)  # the leaving member has stopped taking messages
        answers = await asyncio.gather(
            *(bus.request("work.do", n, timeout=20) for n in range(1, 9))
        )
        assert answers == list(range(1, 9))
        assert not stopping.done()  # still waiting for its running handler
        release.set()
        assert await first == 0
        await stopping
    finally:
        release.set()
        await staying.stop()
