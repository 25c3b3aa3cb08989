"""The Redis jobs backend across processes and through a Redis restart: separate worker
processes never get the same job, a killed worker's job is taken over once its lease runs out,
and a server killed mid-run (append-only, fsync always) comes back with every job."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bastion.jobs.record import JobRecord, JobState
from bastion.jobs.redis import RedisJobsBackend
from tests._processes import free_port
from tests._redis import redis_server

ROOT = Path(__file__).resolve().parents[2]

#: A worker process: waits until ``peers`` processes are ready, then claims (batches of 7)
#: and succeeds jobs until the queue stays empty; prints the ids it ran as one JSON list.
CLAIMER = """
import asyncio, json, sys
from redis.asyncio import Redis
from bastion.jobs.redis import RedisJobsBackend

async def main(url, prefix, name, peers):
    backend = RedisJobsBackend(url, prefix=prefix)
    await backend.start()
    gate = Redis.from_url(url)
    await gate.incr(prefix + 'test:ready')
    while int(await gate.get(prefix + 'test:ready')) < peers:
        await asyncio.sleep(0.005)
    ran, idle = [], 0
    while idle < 3:
        jobs = await backend.claim(['default'], 7, worker=name, lease=30)
        idle = 0 if jobs else idle + 1
        for job in jobs:
            await backend.succeed(job.id, worker=name)
            ran.append(job.id)
    print(json.dumps(ran))
    await gate.aclose()
    await backend.stop()

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
"""

#: Claims one job under a short lease, says so, and hangs without renewing it.
HOLDER = """
import asyncio, sys
from bastion.jobs.redis import RedisJobsBackend

async def main(url, prefix):
    backend = RedisJobsBackend(url, prefix=prefix)
    jobs = await backend.claim(['default'], 1, worker='doomed', lease=0.5)
    print(jobs[0].id, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def python(script: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )


def job(**fields: object) -> JobRecord:
    fields.setdefault("run_at", time.time() - 1.0)
    return JobRecord(name="tests.job", **fields)  # type: ignore[arg-type]


@pytest.fixture
async def backend(redis_url: str) -> RedisJobsBackend:
    backend = RedisJobsBackend(redis_url, prefix=f"test:{uuid.uuid4().hex[:12]}:")
    await backend.start()
    yield backend  # type: ignore[misc]
    await backend.stop()


async def test_two_processes_claiming_at_once_run_every_job_exactly_once(
    backend: RedisJobsBackend,
) -> None:
    records = [job(args=b'{"i":%d}' % i) for i in range(2000)]
    await backend.enqueue(records)
    workers = [python(CLAIMER, str(backend.url), backend.prefix, f"p{n}", "2") for n in range(2)]
    outputs = await asyncio.to_thread(lambda: [w.communicate(timeout=120) for w in workers])
    ran: list[str] = []
    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
        mine = json.loads(out)
        assert mine, "both processes took part"
        ran.extend(mine)
    assert len(ran) == len(set(ran)) == 2000
    assert set(ran) == {r.id for r in records}
    assert await backend.counts() == {("default", JobState.SUCCEEDED): 2000}


async def test_a_killed_workers_job_is_rescued_and_run_by_another(
    backend: RedisJobsBackend,
) -> None:
    record = job(max_attempts=3)
    await backend.enqueue([record])
    holder = python(HOLDER, str(backend.url), backend.prefix)
    try:
        line = await asyncio.to_thread(holder.stdout.readline)  # type: ignore[union-attr]
        assert line.strip() == record.id, holder.stderr.read()  # type: ignore[union-attr]
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert await backend.claim(["default"], 1, worker="heir", lease=30) == []  # still leased
    deadline = time.monotonic() + 10
    while await backend.rescue() == 0:
        assert time.monotonic() < deadline, "the lease never ran out"
        await asyncio.sleep(0.05)
    taken = await backend.claim(["default"], 1, worker="heir", lease=30)
    assert [j.id for j in taken] == [record.id] and taken[0].attempt == 2
    await backend.succeed(record.id, worker="heir")
    stored = await backend.get(record.id)
    assert stored is not None and stored.state is JobState.SUCCEEDED
    assert "doomed" in stored.errors[0]


@pytest.fixture
def redis_folder() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="bastion-redis-restart-"))
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


async def test_redis_killed_mid_run_loses_no_job_and_the_backend_reconnects(
    redis_folder: Path,
) -> None:
    port = free_port()
    total = 600
    with redis_server(redis_folder, port=port, appendonly=True) as (url, server):
        backend = RedisJobsBackend(url, prefix="restart:")
        await backend.start()
        # Leases and attempts with room: on a loaded machine a stalled loop must not see a
        # held job rescued and, after five such turns, given up on (then it never succeeds).
        records = [job(args=b'{"i":%d}' % i, max_attempts=100) for i in range(total)]
        await backend.enqueue(records)
        done: set[str] = set()
        errors: list[Exception] = []

        async def work() -> None:
            while len(done) < total:
                try:
                    jobs = await backend.claim(["default"], 5, worker="w", lease=3.0)
                    for claimed in jobs:
                        await asyncio.sleep(0.001)  # the job's work
                        await backend.succeed(claimed.id, worker="w")
                        done.add(claimed.id)
                    if not jobs:
                        # A succeed whose reply died with the server is done in Redis but
                        # not in ``done``: Redis' own count says when every job is done.
                        counts = await backend.counts()
                        if counts.get(("default", JobState.SUCCEEDED)) == total:
                            return
                        await backend.rescue()  # jobs claimed when a reply was lost
                        await backend.wait(["default"], 0.2)
                except Exception as exc:  # Redis is away: try again, as the worker does
                    errors.append(exc)
                    await asyncio.sleep(0.05)

        worker = asyncio.create_task(work())
        while len(done) < total // 3:
            await asyncio.sleep(0.01)
        server.send_signal(signal.SIGKILL)
        server.wait()
        killed_at = len(done)
    assert killed_at < total
    await asyncio.sleep(0.3)  # the worker meets a dead server meanwhile
    with redis_server(redis_folder, port=port, appendonly=True):
        try:
            await asyncio.wait_for(worker, timeout=60)
        except TimeoutError:
            stuck = await backend.counts()
            raise AssertionError(f"{len(done)} done; states {stuck}; last errors {errors[-3:]}")
        counts = await backend.counts()
        assert counts == {("default", JobState.SUCCEEDED): total}, counts
        assert done <= {r.id for r in records} and len(done) >= total - 5  # 5: one claim
        await backend.stop()
