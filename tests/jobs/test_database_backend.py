"""What only the database backend shows, on SQLite and on a real PostgreSQL: jobs written in
a caller's transaction (visible, and announced, only at its commit), unique keys decided
atomically between transactions, wake-ups (LISTEN/NOTIFY, in-process, scheduled), claims by
two processes that never share a job, and a claimer killed with its lease running out."""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bastion.jobs.database import DatabaseBackend
from bastion.jobs.record import JobRecord, JobState
from tests.jobs import _database

jobs_url, engine, backend, peer = (
    _database.jobs_url,
    _database.engine,
    _database.backend,
    _database.peer,
)
ROOT = Path(__file__).resolve().parents[2]
LEASE = 30.0


def job(**fields: object) -> JobRecord:
    fields.setdefault("run_at", time.time() - 1.0)
    return JobRecord(name="tests.job", **fields)  # type: ignore[arg-type]


def on_postgres(backend: DatabaseBackend) -> bool:
    return backend._postgres


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@pytest.fixture
async def deaf(jobs_url: str, backend: DatabaseBackend) -> AsyncIterator[DatabaseBackend]:
    """Another process's backend that polls too seldom to explain a quick wake-up."""
    other = DatabaseBackend(jobs_url, poll_interval=30.0)
    await other.start()
    yield other
    await other.stop()


# -- transactions ------------------------------------------------------------------------


async def test_a_rolled_back_transactions_job_never_becomes_visible(
    backend: DatabaseBackend, peer: DatabaseBackend, sessions: async_sessionmaker[AsyncSession]
) -> None:
    lost, kept = job(unique_key="k"), job()
    async with sessions() as db:
        assert await backend.enqueue([lost], session=db) == [lost.id]
        if on_postgres(backend):  # (a SQLite reader would wait for the writer instead)
            assert await peer.get(lost.id) is None
        await db.rollback()
    await backend.enqueue([kept])
    assert await peer.get(lost.id) is None and await backend.get(lost.id) is None
    assert [j.id for j in await peer.claim(["default"], 10, worker="w", lease=LEASE)] == [kept.id]
    again = job(unique_key="k")  # the key was never taken
    assert await backend.enqueue([again]) == [again.id]


async def test_a_committed_transactions_job_appears_and_wakes_workers_at_commit(
    backend: DatabaseBackend,
    peer: DatabaseBackend,
    deaf: DatabaseBackend,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    if not on_postgres(backend):
        deaf = peer  # another process hears of a SQLite commit by polling
    waiting = asyncio.create_task(deaf.wait(["default"], 20.0))
    await asyncio.sleep(0.1)
    new = job()
    async with sessions() as db:
        await db.execute(text("SELECT 1"))
        await backend.enqueue([new], session=db)
        await asyncio.sleep(0.3)
        assert not waiting.done()  # nobody is told of a job that may still be rolled back
        if on_postgres(backend):  # (a SQLite reader would wait for the writer instead)
            assert await deaf.get(new.id) is None
        committed = time.monotonic()
        await db.commit()
    await asyncio.wait_for(waiting, timeout=5)
    assert time.monotonic() - committed < 1.0  # NOTIFY is delivered at commit
    stored = await deaf.get(new.id)
    assert stored is not None and stored.state is JobState.PENDING


async def test_a_commit_wakes_waiters_of_the_same_backend_at_once(
    jobs_url: str, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    local = DatabaseBackend(engine, poll_interval=30.0)
    await local.start()
    try:
        waiting = asyncio.create_task(local.wait(["default"], 20.0))
        await asyncio.sleep(0.1)
        async with sessions() as db:
            await local.enqueue([job()], session=db)
            await db.commit()
        committed = time.monotonic()
        await asyncio.wait_for(waiting, timeout=5)
        assert time.monotonic() - committed < 1.0
    finally:
        await local.stop()


async def test_a_unique_key_held_by_an_open_transaction_waits_for_its_outcome(
    backend: DatabaseBackend, peer: DatabaseBackend, sessions: async_sessionmaker[AsyncSession]
) -> None:
    first, second, third = job(unique_key="k"), job(unique_key="k"), job(unique_key="k")
    async with sessions() as db:
        await backend.enqueue([first], session=db)
        racing = asyncio.create_task(peer.enqueue([second]))
        await asyncio.sleep(0.3)
        assert not racing.done()  # it cannot know yet whether the key is taken
        await db.rollback()
    assert await asyncio.wait_for(racing, timeout=10) == [second.id]
    async with sessions() as db:
        assert await backend.enqueue([third], session=db) == [second.id]
        await db.commit()


async def test_concurrent_enqueues_of_one_key_store_one_job(
    backend: DatabaseBackend, peer: DatabaseBackend
) -> None:
    records = [job(unique_key="once") for _ in range(30)]
    ids = await asyncio.gather(
        *((backend if i % 2 else peer).enqueue([r]) for i, r in enumerate(records))
    )
    assert len({i for (i,) in ids}) == 1
    assert await backend.counts() == {("default", JobState.PENDING): 1}


# -- storage -----------------------------------------------------------------------------


async def test_errors_with_quotes_and_newlines_are_kept_verbatim(backend: DatabaseBackend) -> None:
    odd = ['ValueError: "quoted" \\ back]slash,', "two\nlines\tand é ✓", "[]", ""]
    record = job(max_attempts=10)
    await backend.enqueue([record])
    for error in odd[:-1]:
        await backend.claim(["default"], 1, worker='w "1" \\', lease=LEASE)
        await backend.retry(record.id, worker='w "1" \\', run_at=time.time() - 1, error=error)
    await backend.claim(["default"], 1, worker='w "1" \\', lease=0.01)
    await asyncio.sleep(0.05)
    assert await backend.rescue() == 1
    await backend.claim(["default"], 1, worker="w", lease=LEASE)
    await backend.fail(record.id, worker="w", error=odd[-1])
    stored = await backend.get(record.id)
    assert stored is not None
    assert stored.errors[:3] == odd[:3]
    assert stored.errors[3] == 'lease expired: worker w "1" \\ stopped renewing it'
    assert stored.errors[4:] == odd[3:]


async def test_enqueue_of_thousands_in_one_call(backend: DatabaseBackend) -> None:
    records = [job(args=b'{"n":%d}' % n) for n in range(2500)]
    assert await backend.enqueue(records) == [r.id for r in records]
    assert await backend.counts() == {("default", JobState.PENDING): 2500}


# -- waking ------------------------------------------------------------------------------


async def test_wait_returns_when_the_next_scheduled_job_is_due(deaf: DatabaseBackend) -> None:
    await deaf.enqueue([job(run_at=time.time() + 0.3)])
    start = time.monotonic()
    await asyncio.wait_for(deaf.wait(["default"], 10.0), timeout=5)
    assert 0.2 < time.monotonic() - start < 1.5
    assert len(await deaf.claim(["default"], 10, worker="w", lease=LEASE)) == 1


async def test_a_job_scheduled_while_waiting_is_run_on_time(
    backend: DatabaseBackend, deaf: DatabaseBackend
) -> None:
    if not on_postgres(backend):
        pytest.skip("another process's enqueue reaches a SQLite worker by polling")
    waiting = asyncio.create_task(deaf.wait(["default"], 10.0))
    await asyncio.sleep(0.1)
    start = time.monotonic()
    await backend.enqueue([job(run_at=time.time() + 0.4)])
    await asyncio.wait_for(waiting, timeout=5)
    assert 0.3 < time.monotonic() - start < 1.5  # not at once, and not at the timeout


async def test_wait_on_other_queues_sleeps_through_an_enqueue(backend: DatabaseBackend) -> None:
    waiting = asyncio.create_task(backend.wait(["mail"], 0.4))
    await asyncio.sleep(0.05)
    start = time.monotonic()
    await backend.enqueue([job(queue="low")])
    await asyncio.wait_for(waiting, timeout=5)
    assert time.monotonic() - start > 0.25


async def test_listen_notify_wakes_another_process_within_milliseconds(
    backend: DatabaseBackend, deaf: DatabaseBackend
) -> None:
    if not on_postgres(backend):
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    delays = []
    for _ in range(15):
        waiting = asyncio.create_task(deaf.wait(["default"], 10.0))
        await asyncio.sleep(0.05)  # let it start waiting
        start = time.perf_counter()
        await backend.enqueue([job()])
        await asyncio.wait_for(waiting, timeout=5)
        delays.append(time.perf_counter() - start)
        await deaf.claim(["default"], 10, worker="w", lease=LEASE)
    assert statistics.median(delays) < 0.02, delays


async def test_a_dropped_listen_connection_is_opened_again(
    backend: DatabaseBackend, deaf: DatabaseBackend, engine: AsyncEngine
) -> None:
    if not on_postgres(backend):
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    await deaf.wait(["default"], 0.2)  # starts listening

    async def terminate_listeners() -> int:
        async with engine.connect() as connection:
            killed = await connection.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"
                )
            )
            await connection.commit()
            return int(killed or 0)

    for _ in range(50):  # the listener is up once its LISTEN shows
        if await terminate_listeners():
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("no LISTEN connection to drop")

    deadline = time.monotonic() + 15
    while True:  # waiting workers find jobs meanwhile, and are woken at once again soon
        waiting = asyncio.create_task(deaf.wait(["default"], 10.0))
        await asyncio.sleep(0.05)
        start = time.monotonic()
        await backend.enqueue([job()])
        await asyncio.wait_for(waiting, timeout=12)
        took = time.monotonic() - start
        await deaf.claim(["default"], 10, worker="w", lease=LEASE)
        if took < 0.1:
            break
        assert time.monotonic() < deadline, "the LISTEN connection was not opened again"


# -- processes ---------------------------------------------------------------------------

CLAIMER = """
    import asyncio, os, sys, time
    from bastion.jobs.database import DatabaseBackend

    url, name, go, out = sys.argv[1:5]

    async def main():
        backend = DatabaseBackend(url)
        await backend.start()
        open(out + ".ready", "w").close()
        while not os.path.exists(go):
            time.sleep(0.005)
        with open(out, "w") as claimed:
            while True:
                jobs = await backend.claim(["default"], 5, worker=name, lease=60)
                if not jobs:
                    break
                for job in jobs:
                    claimed.write(job.id + "\\n")
                    await backend.succeed(job.id, worker=name)
        await backend.stop()

    asyncio.run(main())
"""

HOLDER = """
    import asyncio, sys
    from bastion.jobs.database import DatabaseBackend

    async def main():
        backend = DatabaseBackend(sys.argv[1])
        await backend.start()
        (job,) = await backend.claim(["default"], 1, worker="doomed", lease=0.5)
        print(job.id, flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
"""


def python(script: str, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


async def test_two_processes_claiming_never_get_the_same_job(
    jobs_url: str, backend: DatabaseBackend, tmp_path: Path
) -> None:
    records = [job(args=b'{"n":%d}' % n) for n in range(2000)]
    await backend.enqueue(records)
    go = tmp_path / "go"
    outs = [tmp_path / f"claimed{n}" for n in range(2)]
    processes = [python(CLAIMER, jobs_url, f"p{n}", str(go), str(outs[n])) for n in range(2)]
    for _ in range(600):  # both connected and waiting for the start (imports may be slow)
        if all(Path(f"{out}.ready").exists() for out in outs):
            break
        await asyncio.sleep(0.05)
    go.touch()
    for process in processes:
        _, errors = await asyncio.to_thread(process.communicate, timeout=240)
        assert process.returncode == 0, errors.decode()
    claimed = [out.read_text().split() for out in outs]
    assert all(claimed), "one process claimed every job: they did not overlap"
    everything = claimed[0] + claimed[1]
    assert len(everything) == len(set(everything)), "a job was claimed twice"
    assert sorted(everything) == sorted(r.id for r in records), "a job was never claimed"
    assert await backend.counts() == {("default", JobState.SUCCEEDED): 2000}


async def test_a_killed_claimers_job_is_rescued_when_its_lease_runs_out(
    jobs_url: str, backend: DatabaseBackend
) -> None:
    record = job(max_attempts=3)
    await backend.enqueue([record])
    holder = python(HOLDER, jobs_url)
    try:
        line = await asyncio.wait_for(asyncio.to_thread(holder.stdout.readline), timeout=60)
        assert line.decode().strip() == record.id, holder.stderr.read().decode()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate()
    assert await backend.claim(["default"], 1, worker="heir", lease=LEASE) == []  # leased
    deadline = time.monotonic() + 10
    while not await backend.rescue():
        assert time.monotonic() < deadline, "the lease never ran out"
        await asyncio.sleep(0.1)
    (again,) = await backend.claim(["default"], 1, worker="heir", lease=LEASE)
    assert again.id == record.id and again.attempt == 2
    assert again.errors == ["lease expired: worker doomed stopped renewing it"]
    await backend.succeed(record.id, worker="doomed")  # too late: ignored
    await backend.succeed(record.id, worker="heir")
    stored = await backend.get(record.id)
    assert stored is not None and stored.state is JobState.SUCCEEDED and stored.attempt == 2


# -- the server restarted ------------------------------------------------------------------


async def test_a_restarted_postgres_is_reconnected_to_without_an_error() -> None:
    server = _database.Server()
    backend = DatabaseBackend(server.url)
    try:
        await server.create_tables()
        await backend.start()
        first = job()
        await backend.enqueue([first])
        assert await backend.get(first.id) is not None  # the pool holds live connections
        server.crash()
        server.start_again()
        stored = await backend.get(first.id)  # a dead pooled connection is replaced
        assert stored is not None and stored.state is JobState.PENDING
        (claimed,) = await backend.claim(["default"], 5, worker="w", lease=LEASE)
        await backend.succeed(claimed.id, worker="w")
        assert await backend.counts() == {("default", JobState.SUCCEEDED): 1}
    finally:
        await backend.stop()
        server.close()
