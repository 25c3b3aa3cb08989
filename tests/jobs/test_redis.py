"""The Redis jobs backend on a real server: the shared backend suite, then what only a
shared, networked store must show (several clients, wake-ups, key layout, configuration)."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bastion.exceptions import ConfigurationError
from bastion.jobs.backend import JobsBackend
from bastion.jobs.record import JobRecord, JobState
from bastion.jobs.redis import RedisJobsBackend
from tests.jobs.backend_suite import *  # noqa: F403


@pytest.fixture
def prefix() -> str:
    """Keys of their own for each test: the server is shared by the whole session."""
    return f"test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def backend(redis_url: str, prefix: str) -> AsyncIterator[RedisJobsBackend]:
    redis = RedisJobsBackend(redis_url, prefix=prefix)
    await redis.start()
    yield redis
    await redis.stop()


@pytest.fixture
async def peer(redis_url: str, prefix: str) -> AsyncIterator[RedisJobsBackend]:  # noqa: F811
    """Another worker's handle: its own client and connections, the same keys."""
    redis = RedisJobsBackend(redis_url, prefix=prefix)
    await redis.start()
    yield redis
    await redis.stop()


def test_redis_backend_is_a_jobs_backend(redis_url: str) -> None:
    backend = RedisJobsBackend(redis_url)
    assert isinstance(backend, JobsBackend)
    assert backend.transactional is False


# -- what only the Redis backend shows ---------------------------------------------------

LEASE = 30.0


def job(**fields: object) -> JobRecord:
    fields.setdefault("run_at", time.time() - 1.0)
    return JobRecord(name="tests.job", **fields)  # type: ignore[arg-type]


async def test_wait_wakes_within_milliseconds_of_an_enqueue(
    backend: RedisJobsBackend, peer: RedisJobsBackend
) -> None:
    delays = []
    for _ in range(15):
        waiter = asyncio.create_task(peer.wait(["default"], 5.0))
        await asyncio.sleep(0.02)  # let it block
        start = time.perf_counter()
        await backend.enqueue([job()])
        await asyncio.wait_for(waiter, timeout=5)
        delays.append(time.perf_counter() - start)
        await peer.claim(["default"], 10, worker="w", lease=LEASE)  # consume; leaves no token
    assert statistics.median(delays) < 0.02, delays


async def test_wait_returns_when_the_next_scheduled_job_is_due(backend: RedisJobsBackend) -> None:
    await backend.enqueue([job(run_at=time.time() + 0.3)])
    await _redis(backend, "delete", f"{backend.prefix}w:default")  # its token, taken by another
    start = time.monotonic()
    await asyncio.wait_for(backend.wait(["default"], 10.0), timeout=5)
    assert 0.2 < time.monotonic() - start < 1.5
    assert len(await backend.claim(["default"], 10, worker="w", lease=LEASE)) == 1


async def test_a_job_enqueued_for_later_while_a_worker_waits_starts_on_time(
    backend: RedisJobsBackend, peer: RedisJobsBackend
) -> None:
    started: list[float] = []

    async def worker() -> None:  # as bastion.jobs.worker does, with a long poll
        while not started:
            if await peer.claim(["default"], 1, worker="w", lease=LEASE):
                started.append(time.time())
            else:
                await peer.wait(["default"], 5.0)

    running = asyncio.create_task(worker())
    await asyncio.sleep(0.05)  # the worker blocks in wait()
    run_at = time.time() + 0.3  # as cron enqueues a tick ahead of time
    await backend.enqueue([job(run_at=run_at)])
    await asyncio.wait_for(running, timeout=5)
    assert run_at <= started[0] < run_at + 0.05  # Redis alone ends BLPOPs up to 0.1 s late


async def test_wait_on_other_queues_sleeps_through_an_enqueue(backend: RedisJobsBackend) -> None:
    waiter = asyncio.create_task(backend.wait(["mail"], 0.4))
    await asyncio.sleep(0.02)
    await backend.enqueue([job(queue="low")])
    start = time.monotonic()
    await asyncio.wait_for(waiter, timeout=5)
    assert time.monotonic() - start > 0.2


async def test_a_claim_leaving_work_behind_wakes_another_waiter(
    backend: RedisJobsBackend, peer: RedisJobsBackend
) -> None:
    await backend.enqueue([job() for _ in range(30)])
    await _redis(backend, "delete", f"{backend.prefix}w:default")  # tokens taken by others
    waiter = asyncio.create_task(peer.wait(["default"], 5.0))
    await asyncio.sleep(0.02)
    start = time.monotonic()
    await backend.claim(["default"], 5, worker="a", lease=LEASE)  # 24 still wait
    await asyncio.wait_for(waiter, timeout=5)
    assert time.monotonic() - start < 1.0


async def _redis(backend: RedisJobsBackend, command: str, *args: object) -> Any:
    """Run one command on a client of its own (to look at or change keys behind the backend)."""
    from redis.asyncio import Redis

    client = Redis.from_url(str(backend.url))
    try:
        return await getattr(client, command)(*args)
    finally:
        await client.aclose()


async def test_claim_across_queues_takes_the_most_urgent_first(backend: RedisJobsBackend) -> None:
    now = time.time()
    mail_late = job(queue="mail", priority=0, run_at=now - 1)
    low_urgent = job(queue="low", priority=-5, run_at=now - 1)
    mail_early = job(queue="mail", priority=0, run_at=now - 9)
    low_lazy = job(queue="low", priority=5, run_at=now - 99)
    await backend.enqueue([mail_late, low_urgent, mail_early, low_lazy])
    first = await backend.claim(["mail", "low"], 3, worker="w", lease=LEASE)
    assert [j.id for j in first] == [low_urgent.id, mail_early.id, mail_late.id]
    rest = await backend.claim(["low", "mail", "low"], 3, worker="w", lease=LEASE)
    assert [j.id for j in rest] == [low_lazy.id]


async def test_jobs_of_one_priority_and_run_at_run_in_enqueue_order(
    backend: RedisJobsBackend,
) -> None:
    at = time.time() - 1
    records = [job(run_at=at) for _ in range(50)]
    await backend.enqueue(records[:25])
    await backend.enqueue(records[25:])
    claimed = await backend.claim(["default"], 50, worker="w", lease=LEASE)
    assert [j.id for j in claimed] == [r.id for r in records]


async def test_enqueue_again_of_a_stored_id_keeps_the_stored_job(backend: RedisJobsBackend) -> None:
    record = job()
    assert await backend.enqueue([record]) == [record.id]
    await backend.claim(["default"], 1, worker="w", lease=LEASE)
    assert await backend.enqueue([record]) == [record.id]  # a retried call after a lost reply
    stored = await backend.get(record.id)
    assert stored is not None and stored.state is JobState.RUNNING
    assert await backend.claim(["default"], 1, worker="w", lease=LEASE) == []


async def test_enqueue_of_more_than_one_script_call(backend: RedisJobsBackend) -> None:
    records = [job(unique_key="same" if i in (10, 1500) else None) for i in range(2500)]
    ids = await backend.enqueue(records)
    assert ids[1500] == records[10].id
    assert ids[:1500] == [r.id for r in records[:1500]]
    assert (await backend.counts())[("default", JobState.PENDING)] == 2499


async def test_errors_with_quotes_and_newlines_are_kept_verbatim(backend: RedisJobsBackend) -> None:
    record = job(max_attempts=3)
    await backend.enqueue([record])
    error = "KeyError: 'a \"b\"'\n\tline two \\ é"
    await backend.claim(["default"], 1, worker="w", lease=LEASE)
    await backend.retry(record.id, worker="w", run_at=time.time() - 1, error=error)
    await backend.claim(["default"], 1, worker="w", lease=LEASE)
    await backend.fail(record.id, worker="w", error="second")
    stored = await backend.get(record.id)
    assert stored is not None and stored.errors == [error, "second"]


async def test_purge_and_finished_unique_keys_leave_no_keys_behind(
    backend: RedisJobsBackend,
) -> None:
    records = [job(unique_key=f"k{i}") for i in range(3)] + [job(unique_until=time.time() + 60)]
    await backend.enqueue(records)
    for claimed in await backend.claim(["default"], 10, worker="w", lease=LEASE):
        await backend.succeed(claimed.id, worker="w")
    assert await backend.purge(states=[JobState.SUCCEEDED], older_than=time.time() + 1) == 4
    assert await backend.list() == []
    left = await _keys(backend)
    # what stays: the queue names, the FIFO sequence, drained wake-up tokens at most
    assert left <= {"queues", "seq", "w:default"}, left


async def _keys(backend: RedisJobsBackend) -> set[str]:
    found = await _redis(backend, "keys", f"{backend.prefix}*")
    return {k.decode()[len(backend.prefix) :] for k in found}


async def test_a_unique_key_held_in_its_window_expires_by_itself(
    backend: RedisJobsBackend,
) -> None:
    record = job(unique_key="soon", unique_until=time.time() + 0.3)
    await backend.enqueue([record])
    await backend.claim(["default"], 1, worker="w", lease=LEASE)
    await backend.succeed(record.id, worker="w")
    assert "u:soon" in await _keys(backend)
    await asyncio.sleep(0.5)
    assert "u:soon" not in await _keys(backend)


async def test_succeeded_jobs_are_forgotten_after_keep_succeeded(
    redis_url: str, prefix: str
) -> None:
    backend = RedisJobsBackend(redis_url, prefix=prefix, keep_succeeded=0.3)
    old = [job(unique_key=f"k{i}") for i in range(3)]
    failed = job(max_attempts=1)
    await backend.enqueue([*old, failed])
    for claimed in await backend.claim(["default"], 10, worker="w", lease=LEASE):
        if claimed.id == failed.id:
            await backend.fail(claimed.id, worker="w", error="boom")
        else:
            await backend.succeed(claimed.id, worker="w")
    await asyncio.sleep(0.4)
    fresh = job()
    await backend.enqueue([fresh])
    await backend.claim(["default"], 1, worker="w", lease=LEASE)
    await backend.succeed(fresh.id, worker="w")  # forgets the old successes, a few at a time
    assert [await backend.get(r.id) for r in old] == [None, None, None]
    assert await backend.counts() == {
        ("default", JobState.SUCCEEDED): 1,
        ("default", JobState.FAILED): 1,
    }
    assert {j.id for j in await backend.list()} == {fresh.id, failed.id}
    assert not {f"u:k{i}" for i in range(3)} & await _keys(backend)
    await backend.stop()


async def test_keep_succeeded_none_keeps_them_until_purged(redis_url: str, prefix: str) -> None:
    backend = RedisJobsBackend(redis_url, prefix=prefix, keep_succeeded=None)
    first, second = job(), job()
    await backend.enqueue([first, second])
    await backend.claim(["default"], 1, worker="w", lease=LEASE)
    await backend.succeed(first.id, worker="w")
    await asyncio.sleep(0.05)
    await backend.claim(["default"], 1, worker="w", lease=LEASE)
    await backend.succeed(second.id, worker="w")
    assert (await backend.counts())[("default", JobState.SUCCEEDED)] == 2
    await backend.stop()


async def test_list_pages_through_more_jobs_than_one_script_call_reads(
    backend: RedisJobsBackend,
) -> None:
    now = time.time()
    rare = job(queue="rare", enqueued_at=now - 5000)
    await backend.enqueue([rare, *(job(enqueued_at=now - i) for i in range(4500))])
    assert [j.id for j in await backend.list(queue="rare")] == [rare.id]
    assert len(await backend.list(limit=3000)) == 3000


async def test_the_backend_works_from_several_event_loops(redis_url: str, prefix: str) -> None:
    backend = RedisJobsBackend(redis_url, prefix=prefix)
    record = job()

    def in_new_loop() -> list[str]:
        async def go() -> list[str]:
            ids = await backend.enqueue([record])
            await backend.stop()
            return ids

        return asyncio.run(go())

    assert await asyncio.to_thread(in_new_loop) == [record.id]
    stored = await backend.get(record.id)
    assert stored is not None and stored.state is JobState.PENDING
    await backend.stop()


async def test_a_client_passed_in_is_used_and_left_open(redis_url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    backend = RedisJobsBackend(client=client, prefix=prefix)
    await backend.start()
    record = job()
    await backend.enqueue([record])
    await backend.stop()
    assert await client.exists(f"{prefix}j:{record.id}") == 1
    await client.aclose()


async def test_wait_while_redis_is_unreachable_keeps_to_its_timeout() -> None:

    backend = RedisJobsBackend("redis://127.0.0.1:1/0")
    start = time.monotonic()
    await asyncio.wait_for(backend.wait(["default"], 0.3), timeout=30)
    assert 0.25 <= time.monotonic() - start < 1.0
    await backend.stop()


async def test_start_without_a_server_says_where_it_looked() -> None:
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff


    url = "redis://:s3cret@127.0.0.1:1/0"
    backend = RedisJobsBackend(url)
    backend._given = Redis.from_url(url, retry=Retry(NoBackoff(), 0))  # fail at once
    with pytest.raises(ConfigurationError, match=r"cannot reach redis://:\*\*\*@127.0.0.1") as e:
        await backend.start()
    assert "s3cret" not in str(e.value)
    await backend._given.aclose()


def test_misconfiguration_says_what_to_change(redis_url: str) -> None:
    with pytest.raises(ConfigurationError, match="exactly one of url="):
        RedisJobsBackend()
    with pytest.raises(ConfigurationError, match="redis://, rediss:// or unix://"):
        RedisJobsBackend("http://localhost:6379")
    with pytest.raises(ConfigurationError, match="keep_succeeded=0.*above 0, or None"):
        RedisJobsBackend(redis_url, keep_succeeded=0)


async def test_enqueue_with_a_session_says_redis_is_not_transactional(
    backend: RedisJobsBackend,
) -> None:
    with pytest.raises(ConfigurationError, match="not transactional.*on_commit"):
        await backend.enqueue([job()], session=object())


def test_without_redis_py_the_error_names_the_extra(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'bastion\[redis\]'"):
        RedisJobsBackend(redis_url)
