"""Cron across processes on a real Redis: two scheduler processes over a minute of
seconds-granularity ticks, the leader SIGKILLed half-way and replaced; every tick's job is
stored once and run once.

The minute test takes about 65 s, nearly all of it waiting for the clock (it is the slowest
cron test, and likely of the whole suite); it is the only test in this file so that
``pytest -n 2 --dist loadfile`` runs it beside the rest of the suite instead of after it.
test_cron_database.py runs the same check on PostgreSQL and SQLite over 10 s.
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import NamedTuple

import pytest

from bastion.jobs.backend import JobsBackend
from bastion.jobs.cron import Cron
from bastion.jobs.redis import RedisJobsBackend

ROOT = Path(__file__).resolve().parents[2]
QUEUE = "cron-test"
JOB = "tests.cron.tick"

#: A scheduler process: runs the schedule on a Redis or database backend until SIGTERM,
#: logging to stderr.
SCHEDULER = f"""
import asyncio, logging, signal, sys, time

from bastion.jobs.cron import Cron, run_scheduler

async def main(kind, url, prefix, holder, lease):
    logging.basicConfig(level=logging.INFO, format='%(created).3f %(name)s %(message)s')
    if kind == 'redis':
        from bastion.jobs.redis import RedisJobsBackend
        backend = RedisJobsBackend(url, prefix=prefix)
    else:
        from bastion.jobs.database import DatabaseBackend
        backend = DatabaseBackend(url)
    await backend.start()
    stop, asked = asyncio.Event(), [0.0]

    def terminate():
        asked[0] = time.monotonic()
        stop.set()

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, terminate)
    print('ready', flush=True)
    entry = Cron({JOB!r}, '* * * * * *', queue={QUEUE!r})
    await run_scheduler([entry], backend, holder=holder, stop=stop, lease=float(lease))
    stopped = time.monotonic()
    await backend.stop()
    print('stopped in', stopped - asked[0], 'closed in', time.monotonic() - stopped, flush=True)

asyncio.run(main(*sys.argv[1:]))
"""


class Scheduler:
    """A scheduler process on ``target``'s backend; its log says when it led and stopped."""

    def __init__(self, holder: str, target: Target, folder: Path) -> None:
        self.holder = holder
        self.log = folder / f"{holder}.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", SCHEDULER, *target.argv, holder, str(target.lease)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )

    def took_the_lead(self) -> float | None:
        """When this process took the lead (epoch, from its log), or None."""
        for line in self.log.read_text().splitlines():
            if f"{self.holder} took the cron lead" in line:
                return float(line.split()[0])
        return None

    def stopped_in(self) -> float:
        """How long run_scheduler took to return once SIGTERM set its stop event."""
        line = next(x for x in self.log.read_text().splitlines() if x.startswith("stopped in"))
        return float(line.split()[2])

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def terminate(self) -> float:
        """SIGTERM once the process handles it (a process still importing on a loaded
        machine would die of the signal instead); return how long it took to exit."""
        deadline = time.monotonic() + 30
        while "ready" not in self.log.read_text().splitlines():
            assert self.process.poll() is None and time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.05)
        began = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=10)
        return time.monotonic() - began


async def until(check: Callable[[], object], timeout: float, what: str) -> float:
    """Poll ``check()`` until true; return the time it took."""
    began = time.monotonic()
    while not check():
        assert time.monotonic() - began < timeout, what
        await asyncio.sleep(0.05)
    return time.monotonic() - began


@pytest.fixture
async def backend(redis_url: str) -> AsyncIterator[RedisJobsBackend]:
    backend = RedisJobsBackend(redis_url, prefix=f"test:{uuid.uuid4().hex[:12]}:")
    await backend.start()
    yield backend
    await backend.stop()


async def test_a_cron_job_with_two_schedulers_fires_once_per_tick_over_a_minute(
    backend: RedisJobsBackend, tmp_path: Path
) -> None:
    target = Target(("redis", str(backend.url), backend.prefix), lease=3.0)
    await two_schedulers_fire_each_tick_once(backend, target, tmp_path, seconds=61)


class Target(NamedTuple):
    argv: tuple[str, str, str]  # kind, url, prefix
    lease: float


async def two_schedulers_fire_each_tick_once(
    backend: JobsBackend, target: Target, folder: Path, *, seconds: float, stop_within: float = 0.5
) -> None:
    """Two scheduler processes run ``seconds`` of every-second ticks while this process works
    the jobs; half-way the leader is SIGKILLed and a third process started. Each tick's job
    must be stored once and run once."""
    lease = target.lease
    ran: Counter[str] = Counter()  # unique key -> times a worker was handed its job
    late: list[float] = []
    running = True

    async def worker() -> None:  # claims and finishes the jobs as they come due
        while running:
            for job in await backend.claim([QUEUE], 100, worker="runner", lease=30):
                ran[job.unique_key or ""] += 1
                late.append((job.started_at or 0) - job.run_at)
                await backend.succeed(job.id, worker="runner")
            await backend.wait([QUEUE], 0.05)

    runner = asyncio.create_task(worker())
    schedulers = [Scheduler(name, target, folder) for name in ("s1", "s2")]
    try:
        await until(lambda: any(s.took_the_lead() for s in schedulers), 20, "nobody led")
        first_lead = min(s.took_the_lead() or math.inf for s in schedulers)
        await asyncio.sleep(max(0.0, first_lead + seconds / 2 - time.time()))
        leader = next(s for s in schedulers if s.took_the_lead())
        survivor = next(s for s in schedulers if s is not leader)
        leader.kill()  # without a word: its lock lives until its lease ends
        schedulers = [survivor, Scheduler("s3", target, folder)]
        waited = await until(
            lambda: any(s.took_the_lead() for s in schedulers), 2 * lease, "no one took over"
        )
        assert waited <= lease + lease / 3 + 0.5  # a non-leader asks every lease/3
        await asyncio.sleep(max(0.0, first_lead + seconds - time.time()))
        ended = time.time()
        for scheduler in schedulers:
            exited = scheduler.terminate()
            assert scheduler.process.returncode == 0, scheduler.log.read_text()
            assert scheduler.stopped_in() < stop_within, "SIGTERM stops run_scheduler promptly"
            assert exited < 10, "and the process exits"
        await asyncio.sleep(0.3)  # the worker takes the last due jobs
    finally:
        running = False
        for scheduler in schedulers:
            if scheduler.process.poll() is None:
                scheduler.kill()
        await runner

    # from the first scheduler's first turn (the processes take a moment to start) to the end
    window = Cron(JOB, "* * * * * *").ticks(first_lead, ended)
    assert len(window) >= int(seconds) - 1
    keys = [f"cron:{JOB}:{int(tick)}" for tick in window]
    stored = Counter(
        job.unique_key for job in await backend.list(name=JOB, limit=1000) if job.unique_key
    )
    assert [key for key in keys if stored[key] != 1] == [], "each tick stored exactly once"
    assert [key for key in keys if ran[key] != 1] == [], "each tick's job ran exactly once"
    assert max(ran.values()) == 1
    assert sorted(late)[len(late) // 2] < 0.5  # the jobs run at their tick, not later
