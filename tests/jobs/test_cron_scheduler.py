"""The cron scheduler (bastion/jobs/cron.py run_scheduler): leadership, exactly once per tick,
handover, catch-up, backend faults, prompt stop.

Most tests drive a fake clock so minutes of seconds-granularity ticks run in milliseconds; the
fake backend implements what the scheduler uses (``lead``, ``enqueue`` with unique keys) on
that clock, and counts a job as finished once its ``run_at`` has come (as if a worker ran it at
once), so unique keys are held only as long as the protocol says. One run uses real time on
the memory backend.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest

from bastion.exceptions import ConfigurationError
from bastion.jobs.cron import Cron, run_scheduler
from bastion.jobs.memory import MemoryBackend
from bastion.jobs.record import JobRecord

START = 1_704_067_200.0  # 2024-01-01 00:00:00 UTC
LEASE = 15.0


class FakeClock:
    """Virtual time: ``sleep`` waits until ``run_until`` reaches its deadline. Sleeps run on a
    monotonic timeline, as asyncio's do: setting the wall clock (``t``) does not move them."""

    def __init__(self, now: float) -> None:
        self.mono = 0.0
        self.offset = now
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @property
    def t(self) -> float:
        return self.mono + self.offset

    @t.setter
    def t(self, wall: float) -> None:
        self.offset = wall - self.mono

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        deadline = self.mono + max(seconds, 0.0)
        heapq.heappush(self._sleepers, (deadline, next(self._order), future))
        await future

    def asleep(self) -> int:
        return sum(1 for *_, future in self._sleepers if not future.done())

    async def run_until(self, end: float, *, tasks: int) -> None:
        """Let ``tasks`` scheduler tasks run until wall time ``end``: wait until all of them
        sleep, then jump to the earliest deadline and wake it."""
        while True:
            for _ in range(10_000):
                if self.asleep() >= tasks:
                    break
                await asyncio.sleep(0)
            else:
                raise AssertionError("a scheduler neither slept nor finished")
            while self._sleepers and self._sleepers[0][2].done():
                heapq.heappop(self._sleepers)  # cancelled sleeps
            end_mono = end - self.offset
            if not self._sleepers or self._sleepers[0][0] > end_mono:
                self.mono = max(self.mono, end_mono)
                return
            self.mono = max(self.mono, self._sleepers[0][0])
            while self._sleepers and self._sleepers[0][0] <= self.mono:
                _, _, future = heapq.heappop(self._sleepers)
                if not future.done():
                    future.set_result(None)


class FakeBackend:
    """``lead`` and ``enqueue`` (unique keys, per the JobsBackend contract) on a fake clock."""

    transactional = False

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.stored: list[JobRecord] = []
        self.keys: dict[str, JobRecord] = {}
        self.leader: tuple[str, float] | None = None
        self.took: list[tuple[str, float]] = []  # (holder, when) each time the lead changed
        self.down = False
        self.enqueued_by: Counter[str] = Counter()
        self.holder_of_call: str | None = None

    def _held(self, record: JobRecord | None) -> bool:
        if record is None:
            return False
        finished = record.run_at <= self.clock.now()  # a worker ran it at its tick
        return not finished or (record.unique_until or 0) > self.clock.now()

    async def enqueue(self, records: Sequence[JobRecord], *, session: Any = None) -> list[str]:
        if self.down:
            raise ConnectionError("backend unreachable")
        ids = []
        for record in records:
            assert record.unique_key is not None
            holder = self.keys.get(record.unique_key)
            if self._held(holder):
                assert holder is not None
                ids.append(holder.id)
                continue
            self.keys[record.unique_key] = record
            self.stored.append(record)
            ids.append(record.id)
        return ids

    async def lead(self, name: str, *, holder: str, ttl: float) -> bool:
        if self.down:
            raise ConnectionError("backend unreachable")
        assert name == "cron"
        now = self.clock.now()
        if self.leader is not None and self.leader[0] != holder and self.leader[1] > now:
            return False
        if self.leader is None or self.leader[0] != holder:
            self.took.append((holder, now))
        self.leader = (holder, now + ttl)
        return True

    def fired(self, name: str, after: float, until: float) -> Counter[float]:
        """How many jobs were stored for each tick of schedule ``name`` in (after, until]."""
        return Counter(
            r.run_at
            for r in self.stored
            if r.unique_key is not None
            and r.unique_key.startswith(f"cron:{name}:")
            and after < r.run_at <= until
        )


def start(
    entries: Sequence[Cron],
    backend: Any,
    holder: str,
    *,
    clock: FakeClock | None = None,
    lease: float = LEASE,
) -> tuple[asyncio.Task[None], asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_scheduler(entries, backend, holder=holder, stop=stop, lease=lease, clock=clock)
    )
    return task, stop


async def stop_all(*schedulers: tuple[asyncio.Task[None], asyncio.Event]) -> None:
    for _, stop in schedulers:
        stop.set()
    await asyncio.wait_for(asyncio.gather(*(task for task, _ in schedulers)), timeout=5)


def expect_each_tick_once(fired: Counter[float], ticks: list[float]) -> None:
    assert ticks, "the window holds no tick"
    missing = [t for t in ticks if fired[t] == 0]
    doubled = {t: n for t, n in fired.items() if n > 1}
    assert not missing, f"{len(missing)} ticks never fired, from {missing[0]}"
    assert not doubled, f"ticks fired more than once: {doubled}"
    assert sorted(fired) == ticks


async def test_two_schedulers_fire_each_tick_once_over_a_minute_of_seconds() -> None:
    clock = FakeClock(START)
    backend = FakeBackend(clock)
    every_second = Cron("app.tick", "* * * * * *")
    every_ten = Cron("app.poll", "*/10 * * * * *", queue="low")
    a = start([every_second, every_ten], backend, "worker-a", clock=clock)
    b = start([every_second, every_ten], backend, "worker-b", clock=clock)
    await clock.run_until(START + 60, tasks=2)
    await stop_all(a, b)

    expect_each_tick_once(
        backend.fired("app.tick", START, START + 60), every_second.ticks(START, START + 60)
    )
    expect_each_tick_once(
        backend.fired("app.poll", START, START + 60), every_ten.ticks(START, START + 60)
    )
    assert [holder for holder, _ in backend.took] == ["worker-a"]  # b never led
    poll = next(r for r in backend.stored if r.name == "app.poll")
    assert poll.queue == "low"
    assert poll.unique_key == f"cron:app.poll:{int(poll.run_at)}"


async def test_ticks_are_queued_ahead_to_run_at_their_tick() -> None:
    clock = FakeClock(START + 0.5)
    backend = FakeBackend(clock)
    a = start([Cron("app.tick", "* * * * * *")], backend, "worker-a", clock=clock)
    await clock.run_until(START + 1, tasks=1)
    await stop_all(a)
    # the first turn queued the next two leases of ticks, each to run at its tick; the tick
    # just gone (half a second ago) fired late, as the last missed tick
    run_ats = sorted(r.run_at for r in backend.stored)
    assert run_ats == [START + n for n in range(int(2 * LEASE) + 1)]


async def test_leader_killed_the_other_takes_over_within_a_lease_and_no_tick_is_lost() -> None:
    clock = FakeClock(START)
    backend = FakeBackend(clock)
    cron = Cron("app.tick", "* * * * * *")
    a = start([cron], backend, "worker-a", clock=clock)
    await clock.run_until(START + 0.1, tasks=1)
    b = start([cron], backend, "worker-b", clock=clock)
    await clock.run_until(START + 20, tasks=2)
    killed_at = clock.now()
    a[0].cancel()  # dies without a word: its lock stays until its lease runs out
    await asyncio.gather(a[0], return_exceptions=True)
    await clock.run_until(START + 90, tasks=1)
    await stop_all(b)

    assert [holder for holder, _ in backend.took] == ["worker-a", "worker-b"]
    took_over = backend.took[1][1]
    assert took_over - killed_at <= LEASE + 0.01  # within a lease of the death
    expect_each_tick_once(
        backend.fired("app.tick", START, START + 90), cron.ticks(START, START + 90)
    )


async def test_leaders_killed_in_turn_lose_and_double_no_tick() -> None:
    clock = FakeClock(START)
    backend = FakeBackend(clock)
    cron = Cron("app.tick", "*/2 * * * * *")
    alive = {name: start([cron], backend, name, clock=clock) for name in ("w1", "w2", "w3")}
    now = START
    for _ in range(2):  # kill whoever leads, twice
        now += 25
        await clock.run_until(now, tasks=len(alive))
        assert backend.leader is not None
        leader = backend.leader[0]
        task, _ = alive.pop(leader)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await clock.run_until(now + 60, tasks=len(alive))
    await stop_all(*alive.values())
    assert len(backend.took) == 3
    expect_each_tick_once(backend.fired("app.tick", START, now + 60), cron.ticks(START, now + 60))


async def test_a_restart_fires_at_most_the_last_missed_tick() -> None:
    clock = FakeClock(START)
    backend = FakeBackend(clock)
    often = Cron("app.poll", "*/10 * * * * *")  # catch_up 60 s by default
    daily = Cron("app.report", "0 0 * * *")
    a = start([often, daily], backend, "worker-a", clock=clock)
    await clock.run_until(START + 30, tasks=1)
    await stop_all(a)
    queued_until = max(r.run_at for r in backend.stored)

    # every process is down for an hour; the first one back finds the ticks of that hour
    # missed: it fires the last one (4 s old) and none before; the daily tick (an hour old)
    # is older than its catch-up window
    back = START + 3600 + 4
    clock.t = back
    b = start([often, daily], backend, "worker-b", clock=clock)
    await clock.run_until(back + 0.5, tasks=1)
    await stop_all(b)
    late = backend.fired("app.poll", queued_until, back)
    assert list(late) == [often.last_at_or_before(back)]
    assert backend.fired("app.report", 0, back) == {START: 1}  # a fired it at START, b did not


async def test_a_missed_tick_older_than_catch_up_is_skipped() -> None:
    clock = FakeClock(START + 45)
    backend = FakeBackend(clock)
    minutely = Cron("app.a", "0 * * * * *", catch_up=30)  # last tick 45 s ago: skipped
    lenient = Cron("app.b", "0 * * * * *", catch_up=50)  # within its catch-up: fires
    never = Cron("app.c", "0 * * * * *", catch_up=0)
    a = start([minutely, lenient, never], backend, "worker-a", clock=clock)
    await clock.run_until(START + 46, tasks=1)
    await stop_all(a)
    assert not backend.fired("app.a", START - 1, START + 45)
    assert list(backend.fired("app.b", START - 1, START + 45)) == [START]
    assert not backend.fired("app.c", START - 1, START + 45)


async def test_a_quick_restart_does_not_fire_a_tick_again() -> None:
    clock = FakeClock(START)
    backend = FakeBackend(clock)
    cron = Cron("app.poll", "*/10 * * * * *")
    a = start([cron], backend, "worker-a", clock=clock)
    await clock.run_until(START + 100, tasks=1)
    await stop_all(a)
    assert max(r.run_at for r in backend.stored) == START + 130  # queued two leases ahead
    clock.t = START + 135  # those ran at their ticks; a restart 35 s after the stop
    b = start([cron], backend, "worker-b", clock=clock)
    await clock.run_until(START + 200, tasks=1)
    await stop_all(b)
    # b's last missed tick is START+130, which a queued and a worker ran: its unique key is
    # still held, so b does not fire it twice
    expect_each_tick_once(
        backend.fired("app.poll", START, START + 200), cron.ticks(START, START + 200)
    )


async def test_the_backend_failing_is_logged_retried_and_loses_no_queued_tick(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="bastion.jobs.cron")
    clock = FakeClock(START)
    backend = FakeBackend(clock)
    cron = Cron("app.tick", "* * * * * *")
    a = start([cron], backend, "worker-a", clock=clock)
    await clock.run_until(START + 10, tasks=1)
    backend.down = True  # shorter than the ticks queued ahead (two leases)
    await clock.run_until(START + 30, tasks=1)
    backend.down = False
    await clock.run_until(START + 60, tasks=1)
    assert not a[0].done()
    await stop_all(a)
    assert "could not take or renew the cron lead: ConnectionError: backend unreachable" in (
        caplog.text
    )
    assert "retrying in" in caplog.text
    expect_each_tick_once(
        backend.fired("app.tick", START, START + 60), cron.ticks(START, START + 60)
    )


async def test_after_a_long_outage_only_the_last_missed_tick_fires() -> None:
    clock = FakeClock(START)
    backend = FakeBackend(clock)
    cron = Cron("app.tick", "*/5 * * * * *")
    a = start([cron], backend, "worker-a", clock=clock)
    await clock.run_until(START + 10, tasks=1)
    queued_until = max(r.run_at for r in backend.stored)
    backend.down = True
    await clock.run_until(START + 120, tasks=1)
    backend.down = False
    await clock.run_until(START + 140, tasks=1)
    await stop_all(a)
    fired = backend.fired("app.tick", START, START + 140)
    assert max(fired.values()) == 1
    late = [t for t in cron.ticks(queued_until, START + 120) if fired[t]]
    # of the ticks missed while the backend was away, only the last one fired, once it was back
    assert len(late) <= 1
    resumed = min(t for t in fired if t > queued_until)
    assert resumed >= START + 120
    assert sorted(t for t in fired if t >= resumed) == cron.ticks(resumed - 1, START + 140)


async def test_enqueue_failing_is_retried(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="bastion.jobs.cron")
    clock = FakeClock(START)
    backend = FakeBackend(clock)
    failures = 3
    enqueue = backend.enqueue

    async def flaky(records: Sequence[JobRecord], *, session: Any = None) -> list[str]:
        nonlocal failures
        if failures:
            failures -= 1
            raise RuntimeError("disk full")
        return await enqueue(records)

    backend.enqueue = flaky  # type: ignore[method-assign]
    cron = Cron("app.tick", "* * * * * *")
    a = start([cron], backend, "worker-a", clock=clock)
    await clock.run_until(START + 40, tasks=1)
    await stop_all(a)
    assert caplog.text.count("could not enqueue") == 3
    assert "RuntimeError: disk full" in caplog.text
    fired = backend.fired("app.tick", START, START + 40)
    assert max(fired.values()) == 1
    # three retries with backoff: 0.5 + 1 + 2 s without a queue; then every tick
    assert cron.ticks(START + 4, START + 40) == sorted(t for t in fired if t > START + 4)


async def test_a_clock_set_back_does_not_silence_the_schedule() -> None:
    clock = FakeClock(START)
    backend = FakeBackend(clock)
    cron = Cron("app.tick", "*/5 * * * * *")
    a = start([cron], backend, "worker-a", clock=clock)
    await clock.run_until(START + 10, tasks=1)
    clock.t = START - 3600  # the machine's clock is corrected an hour back
    await clock.run_until(START - 3600 + 30, tasks=1)
    await stop_all(a)
    expect_each_tick_once(
        backend.fired("app.tick", START - 3600, START - 3600 + 30),
        cron.ticks(START - 3600, START - 3600 + 30),
    )


async def test_dst_fall_back_fires_both_instants_of_a_repeated_time_once_each() -> None:
    # Paris 2024-10-27: 02:00-03:00 happens twice; "*/30 * * * *" is every 30 real minutes
    night = 1729980000.0  # 2024-10-27 00:00 CEST
    clock = FakeClock(night)
    backend = FakeBackend(clock)
    cron = Cron("app.half", "*/30 * * * *", tz="Europe/Paris")
    a = start([cron], backend, "worker-a", clock=clock, lease=120)
    b = start([cron], backend, "worker-b", clock=clock, lease=120)
    await clock.run_until(night + 6 * 3600, tasks=2)
    await stop_all(a, b)
    fired = backend.fired("app.half", night, night + 6 * 3600)
    expect_each_tick_once(fired, [night + n * 1800 for n in range(1, 13)])


async def test_stop_ends_the_scheduler_promptly_even_mid_call() -> None:
    class Hanging(FakeBackend):
        async def lead(self, name: str, *, holder: str, ttl: float) -> bool:
            await asyncio.Event().wait()  # a backend that never answers
            return True

    task, stop = start([Cron("app.tick", "* * * * * *")], Hanging(FakeClock(START)), "w")
    await asyncio.sleep(0.05)
    began = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, timeout=2)
    assert time.monotonic() - began < 0.5


async def test_stop_ends_the_scheduler_promptly_while_it_sleeps() -> None:
    task, stop = start([Cron("app.tick", "0 0 1 1 *")], MemoryBackend(), "w", lease=600)
    await asyncio.sleep(0.05)
    began = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, timeout=2)
    assert time.monotonic() - began < 0.5


async def test_a_backend_call_that_hangs_is_abandoned_and_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="bastion.jobs.cron")
    calls = 0

    class SlowOnce(MemoryBackend):
        async def lead(self, name: str, *, holder: str, ttl: float) -> bool:
            nonlocal calls
            calls += 1
            if calls == 1:
                await asyncio.sleep(3600)
            return await super().lead(name, holder=holder, ttl=ttl)

    backend = SlowOnce()
    task, stop = start([Cron("app.tick", "* * * * * *")], backend, "w", lease=0.6)
    await asyncio.sleep(0.6)
    stop.set()
    await asyncio.wait_for(task, timeout=2)
    assert "TimeoutError: the backend did not answer within 0.2s" in caplog.text
    assert calls >= 2
    assert await backend.list(name="app.tick")


async def test_two_schedulers_in_real_time_on_the_memory_backend() -> None:
    backend = MemoryBackend()
    cron = Cron("app.tick", "* * * * * *")
    began = time.time()
    a = start([cron], backend, "worker-a", lease=1.5)
    b = start([cron], backend, "worker-b", lease=1.5)
    await asyncio.sleep(2.2)
    a[0].cancel()  # the first leader dies; b takes over within a lease
    await asyncio.gather(a[0], return_exceptions=True)
    await asyncio.sleep(2.5)
    ended = time.time()
    await stop_all(b)
    jobs = await backend.list(name="app.tick", limit=1000)
    fired = Counter(job.run_at for job in jobs if began < job.run_at <= ended)
    expect_each_tick_once(fired, cron.ticks(began, ended))
    assert all(job.unique_key == f"cron:app.tick:{int(job.run_at)}" for job in jobs)


async def test_two_schedules_with_one_name_are_refused() -> None:
    entries = [Cron("app.report", "0 9 * * 1-5"), Cron("app.report", "0 12 * * 6,0")]
    with pytest.raises(ConfigurationError, match="two cron schedules are named 'app.report'"):
        await run_scheduler(entries, MemoryBackend(), holder="w", stop=asyncio.Event())
    weekend = Cron("app.report", "0 12 * * 6,0", name="app.report.weekend")
    stop = asyncio.Event()
    stop.set()
    await run_scheduler([entries[0], weekend], MemoryBackend(), holder="w", stop=stop)


async def test_no_schedule_returns_at_once() -> None:
    await asyncio.wait_for(
        run_scheduler([], MemoryBackend(), holder="w", stop=asyncio.Event()), timeout=1
    )


@pytest.mark.parametrize("lease", [0, -1.0])
async def test_a_lease_that_is_not_positive_is_refused(lease: float) -> None:
    with pytest.raises(ConfigurationError, match="lease must be positive"):
        await run_scheduler(
            [Cron("app.tick", "@hourly")],
            MemoryBackend(),
            holder="w",
            stop=asyncio.Event(),
            lease=lease,
        )
