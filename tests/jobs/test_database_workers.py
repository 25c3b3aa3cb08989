"""Real ``bastion worker`` processes on the database backend, as the issue asks of every
engine (SQLite and a real PostgreSQL): 10,000 jobs run by two workers, none lost and none
twice; a worker SIGKILLed mid-job and its job finished by the other; SIGTERM drains; and on
PostgreSQL, the server crashed and restarted under running workers loses no job."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bastion.jobs.database import DatabaseBackend
from bastion.jobs.record import JobRecord, JobState
from tests.jobs import _database

jobs_url, engine = _database.jobs_url, _database.engine
ROOT = Path(__file__).resolve().parents[2]

APP = """
import asyncio, os
from bastion import App, Settings
from bastion.db import SQLAlchemyPlugin
from bastion.jobs import Jobs, JobsPlugin

LOG = os.environ["JOBS_LOG"]
jobs = Jobs()
_out = open(os.path.join(LOG, f"{os.getpid()}.log"), "a", buffering=1)


@jobs.job
async def mark(n: int) -> None:
    _out.write(f"ran {n}\\n")


@jobs.job
async def slow(n: int) -> None:
    _out.write(f"started {n}\\n")
    await asyncio.sleep(float(os.environ["SLOW"]))
    _out.write(f"done {n}\\n")


app = App(
    settings=Settings(profile="test"),
    plugins=[
        SQLAlchemyPlugin(os.environ["JOBS_URL"]),
        JobsPlugin(
            jobs,
            backend="database",
            concurrency=20,
            lease=float(os.environ["LEASE"]),
            grace=float(os.environ["GRACE"]),
        ),
    ],
)
"""


class Workers:
    """``bastion --app workapp:app worker`` processes on one database; each notes what it
    ran in a file of its own (``<pid>.log``)."""

    def __init__(self, folder: Path, url: str) -> None:
        (folder / "workapp.py").write_text(textwrap.dedent(APP))
        self.logs = folder / "logs"
        self.logs.mkdir()
        self.folder, self.url = folder, url
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, *, slow: float = 1.0, lease: float = 30.0, grace: float = 30.0) -> Any:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(self.folder), str(ROOT)]),
            "JOBS_URL": self.url,
            "JOBS_LOG": str(self.logs),
            "SLOW": str(slow),
            "LEASE": str(lease),
            "GRACE": str(grace),
        }
        output = (self.folder / f"worker{len(self.processes)}.out").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "bastion.cli", "--app", "workapp:app", "worker"],
            cwd=self.folder,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def lines(self, kind: str) -> list[tuple[int, int]]:
        """(job number, worker pid) of each ``kind`` line ("ran", "started", "done")."""
        found = []
        for log in self.logs.glob("*.log"):
            for line in log.read_text().splitlines():
                word, _, n = line.partition(" ")
                if word == kind:
                    found.append((int(n), int(log.stem)))
        return found

    def output(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.folder.glob("worker*.out")))

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture
async def backend(engine: Any) -> AsyncIterator[DatabaseBackend]:
    backend = DatabaseBackend(engine)
    await backend.start()
    yield backend
    await backend.stop()


@pytest.fixture
def workers(tmp_path: Path, jobs_url: str, engine: Any) -> Iterator[Workers]:
    started = Workers(tmp_path, jobs_url)
    try:
        yield started
    finally:
        started.stop()


async def until(check: Callable[[], Any], what: str, workers: Workers, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"{what}; the workers said:\n{workers.output()}"
        await asyncio.sleep(0.1)


def record(name: str, n: int, **fields: Any) -> JobRecord:
    return JobRecord(name=f"workapp.{name}", args=b'{"n":%d}' % n, **fields)


async def test_two_workers_run_10000_jobs_none_lost_none_twice(
    backend: DatabaseBackend, workers: Workers
) -> None:
    total = 10_000
    await backend.enqueue([record("mark", n) for n in range(total)])
    first, second = workers.start(), workers.start()

    async def all_done() -> bool:
        counts = await backend.counts()
        return counts.get(("default", JobState.SUCCEEDED), 0) == total

    await until(all_done, "the jobs did not all run", workers, timeout=600)
    ran = Counter(n for n, _ in workers.lines("ran"))
    assert not [n for n, times in ran.items() if times > 1], "a job ran twice"
    assert sorted(ran) == list(range(total)), "a job was lost"
    assert len({pid for _, pid in workers.lines("ran")}) == 2  # both took part
    assert await backend.counts() == {("default", JobState.SUCCEEDED): total}
    for process in (first, second):
        process.send_signal(signal.SIGTERM)
    for process in (first, second):
        assert await asyncio.to_thread(process.wait, 30) == 0, workers.output()


async def test_a_worker_killed_mid_job_has_its_job_finished_by_the_other(
    backend: DatabaseBackend, workers: Workers
) -> None:
    doomed = workers.start(slow=1.0, lease=1.0)
    job = record("slow", 1, max_attempts=3)
    await backend.enqueue([job])

    async def started() -> bool:
        return bool(workers.lines("started"))

    await until(started, "the first worker did not start the job", workers, timeout=60)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    heir = workers.start(slow=0.2, lease=1.0)

    async def rescued_and_done() -> bool:
        await backend.rescue()  # any process may; the heir's own rescue runs now and then
        stored = await backend.get(job.id)  # recorded a moment after the job's own last line
        return bool(workers.lines("done")) and stored is not None and (
            stored.state is JobState.SUCCEEDED
        )

    await until(rescued_and_done, "the job was not finished by the other", workers, timeout=60)
    assert workers.lines("done") == [(1, heir.pid)]
    stored = await backend.get(job.id)
    assert stored is not None
    assert stored.state is JobState.SUCCEEDED and stored.attempt == 2
    assert "lease expired" in stored.errors[0]


async def test_sigterm_lets_a_job_finish_within_grace(
    backend: DatabaseBackend, workers: Workers
) -> None:
    worker = workers.start(slow=0.5, grace=20.0)
    job = record("slow", 1)
    await backend.enqueue([job])

    async def started() -> bool:
        return bool(workers.lines("started"))

    await until(started, "the worker did not start the job", workers, timeout=60)
    worker.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(worker.wait, 30) == 0, workers.output()
    assert workers.lines("done") == [(1, worker.pid)]
    stored = await backend.get(job.id)
    assert stored is not None and stored.state is JobState.SUCCEEDED


async def test_sigterm_hands_back_a_job_overrunning_grace_without_counting_it(
    backend: DatabaseBackend, workers: Workers
) -> None:
    worker = workers.start(slow=30.0, grace=0.3)
    job = record("slow", 1)
    await backend.enqueue([job])

    async def started() -> bool:
        return bool(workers.lines("started"))

    await until(started, "the worker did not start the job", workers, timeout=60)
    worker.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(worker.wait, 30) == 0, workers.output()
    assert workers.lines("done") == []
    stored = await backend.get(job.id)
    assert stored is not None
    assert stored.state is JobState.PENDING and stored.attempt == 0 and stored.worker is None
    again = await backend.claim(["default"], 1, worker="next", lease=30)
    assert [j.id for j in again] == [job.id]


# -- PostgreSQL restarted ------------------------------------------------------------------


async def test_postgres_crashed_under_running_workers_loses_no_job(tmp_path: Path) -> None:
    server, total = _database.Server(), 6000
    try:
        await server.create_tables()
        backend = DatabaseBackend(server.url)
        await backend.start()
        workers = Workers(tmp_path, server.url)
        try:
            await backend.enqueue([record("mark", n) for n in range(total)])
            workers.start(lease=2.0)
            workers.start(lease=2.0)

            async def a_third_ran() -> bool:
                return len(workers.lines("ran")) >= total // 3

            await until(a_third_ran, "the workers did not start", workers, timeout=120)
            # Mid-run: some jobs are still to come (workers drain ~1,000 jobs a second, so a
            # tighter bound on how many ran by now measures the machine's load, not the code).
            assert len(workers.lines("ran")) < total
            server.crash()
            await asyncio.sleep(1.0)  # the workers meet a dead server meanwhile
            server.start_again()

            async def all_done() -> bool:
                try:
                    await backend.rescue()  # runs whose outcome was lost with the server
                    counts = await backend.counts()
                except Exception:  # this process's pool meets the restart too
                    return False
                return counts.get(("default", JobState.SUCCEEDED), 0) == total

            await until(all_done, "jobs were lost", workers, timeout=240)
            ran = [n for n, _ in workers.lines("ran")]
            assert set(ran) == set(range(total))
            assert len(ran) < total + 200  # at least once: only runs cut by the crash again
            assert await backend.counts() == {("default", JobState.SUCCEEDED): total}
        finally:
            workers.stop()
            await backend.stop()
    finally:
        server.close()
