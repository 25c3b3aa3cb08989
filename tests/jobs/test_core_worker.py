"""The worker: runs, retries, timeouts, cancellation, drain, leases and faults."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Annotated, Any

import pytest

from bastion import App
from bastion.di.depends import Depends
from bastion.jobs import Jobs, JobsPlugin, JobState, MemoryBackend, Worker
from bastion.jobs.record import JobRecord
from bastion.jobs.worker import backoff


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true in time")
        await asyncio.sleep(0.01)


async def state_is(backend: MemoryBackend, job_id: str, state: JobState) -> bool:
    record = await backend.get(job_id)
    return record is not None and record.state is state


class Harness:
    """A registry bound to a memory backend in a started app, and workers to run it."""

    def __init__(self) -> None:
        self.jobs = Jobs()
        self.backend = MemoryBackend()
        self.app = App(plugins=[JobsPlugin(self.jobs, backend=self.backend)])
        self.workers: list[tuple[Worker, asyncio.Task[None]]] = []

    def worker(self, **options: Any) -> Worker:
        options.setdefault("poll", 0.05)
        options.setdefault("lease", 1.0)
        options.setdefault("retry_backoff", 0.01)
        options.setdefault("grace", 1.0)
        worker = Worker(self.jobs, self.backend, container=self.app.container, **options)
        self.workers.append((worker, asyncio.create_task(worker.run())))
        return worker

    async def stop(self) -> None:
        for worker, task in self.workers:
            worker.stop()
            await asyncio.wait_for(task, 10)

    async def get(self, job_id: str) -> JobRecord:
        record = await self.backend.get(job_id)
        assert record is not None
        return record


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    harness = Harness()
    async with harness.app.lifespan():
        try:
            yield harness
        finally:
            await harness.stop()


async def test_a_job_runs_with_its_arguments_and_dependencies(h: Harness) -> None:
    seen: list[tuple[int, str, str]] = []

    def prefix() -> str:
        return "Dear"

    async def app_wide() -> str:
        return "shared"

    @h.jobs.job
    async def greet(
        user_id: int,
        word: Annotated[str, Depends(prefix)],
        shared: Annotated[str, Depends(app_wide, scope="app")],
    ) -> None:
        seen.append((user_id, word, shared))

    job_id = await greet.enqueue(user_id=7)
    h.worker()
    await until(lambda: state_is(h.backend, job_id, JobState.SUCCEEDED))
    assert seen == [(7, "Dear", "shared")]


async def test_dependencies_are_compiled_once_when_the_worker_starts(h: Harness) -> None:
    @h.jobs.job
    async def noop(n: int) -> None:
        pass

    worker = h.worker()
    await asyncio.sleep(0)
    runner = worker.runners[noop.name]
    await noop.enqueue_many({"n": i} for i in range(3))
    await until(lambda: _all_done(h.backend, 3))
    assert worker.runners[noop.name] is runner


async def _all_done(backend: MemoryBackend, count: int) -> bool:
    counts = await backend.counts()
    return counts.get(("default", JobState.SUCCEEDED), 0) == count


async def test_yield_dependencies_are_torn_down_after_each_run(h: Harness) -> None:
    events: list[str] = []

    async def resource() -> AsyncIterator[str]:
        events.append("open")
        yield "r"
        events.append("close")

    @h.jobs.job
    async def use(r: Annotated[str, Depends(resource)]) -> None:
        events.append("run")

    job_id = await use.enqueue()
    h.worker()
    await until(lambda: state_is(h.backend, job_id, JobState.SUCCEEDED))
    assert events == ["open", "run", "close"]


async def test_a_sync_job_runs_in_a_thread(h: Harness) -> None:
    ran: list[int] = []

    @h.jobs.job
    def blocking(n: int) -> None:
        time.sleep(0.01)
        ran.append(n)

    job_id = await blocking.enqueue(n=3)
    h.worker()
    await until(lambda: state_is(h.backend, job_id, JobState.SUCCEEDED))
    assert ran == [3]


async def test_a_failing_job_is_retried_then_succeeds(h: Harness) -> None:
    calls: list[int] = []

    @h.jobs.job(max_attempts=3)
    async def flaky() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("smtp down")

    job_id = await flaky.enqueue()
    h.worker()
    await until(lambda: state_is(h.backend, job_id, JobState.SUCCEEDED))
    record = await h.get(job_id)
    assert record.attempt == 3
    assert len(record.errors) == 2
    assert record.errors[0].startswith("ConnectionError: smtp down (at test_core_worker.py:")


async def test_a_job_failing_every_attempt_is_kept_failed_and_others_still_run(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    @h.jobs.job(max_attempts=2)
    async def broken() -> None:
        raise ValueError("bad data")

    @h.jobs.job
    async def fine() -> None:
        pass

    bad = await broken.enqueue()
    good = await fine.enqueue()
    h.worker()
    await until(lambda: state_is(h.backend, bad, JobState.FAILED))
    await until(lambda: state_is(h.backend, good, JobState.SUCCEEDED))
    record = await h.get(bad)
    assert record.attempt == 2
    assert [e.split(" (at")[0] for e in record.errors] == ["ValueError: bad data"] * 2

    def failed() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.getMessage().startswith("failed ")]

    async def logged() -> bool:
        return bool(failed())

    # The worker stores the failure, then logs it: the line may come a moment after the state.
    await until(logged)
    assert failed()[0].job_id == bad  # type: ignore[attr-defined]


async def test_a_job_over_its_timeout_is_stopped_and_retried(h: Harness) -> None:
    @h.jobs.job(timeout=0.05, max_attempts=2)
    async def slow() -> None:
        await asyncio.sleep(5)

    job_id = await slow.enqueue()
    h.worker()
    await until(lambda: state_is(h.backend, job_id, JobState.FAILED))
    record = await h.get(job_id)
    assert record.errors == ["TimeoutError: ran over its timeout of 0.05 s"] * 2


async def test_arguments_that_no_longer_decode_fail_the_job_not_the_worker(h: Harness) -> None:
    @h.jobs.job
    async def renamed(user_id: int) -> None:
        pass

    stale = JobRecord(name=renamed.name, args=b'{"uid": 7}', run_at=time.time() - 1)
    await h.backend.enqueue([stale])
    later = await renamed.enqueue(user_id=1)
    h.worker()
    await until(lambda: state_is(h.backend, stale.id, JobState.FAILED))
    await until(lambda: state_is(h.backend, later, JobState.SUCCEEDED))
    record = await h.get(stale.id)
    assert record.attempt == 1  # retrying would not help
    assert record.errors[-1].startswith(f"arguments no longer fit {renamed.name}:")
    assert "args.uid is not a known field" in record.errors[-1]


async def test_an_unknown_job_is_retried_then_failed_saying_why(h: Harness) -> None:
    ghost = JobRecord(name="gone.job", max_attempts=2, run_at=time.time() - 1)
    await h.backend.enqueue([ghost])
    h.worker()
    await until(lambda: state_is(h.backend, ghost.id, JobState.FAILED))
    record = await h.get(ghost.id)
    assert "no job named 'gone.job' in this worker" in record.errors[-1]


async def test_concurrency_limits_jobs_running_at_once(h: Harness) -> None:
    running = peak = 0

    @h.jobs.job
    async def busy(n: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1

    await busy.enqueue_many({"n": i} for i in range(12))
    h.worker(concurrency=3)
    await until(lambda: _all_done(h.backend, 12))
    assert peak == 3


async def test_a_worker_takes_only_its_queues(h: Harness) -> None:
    @h.jobs.job(queue="mail")
    async def mail() -> None:
        pass

    @h.jobs.job(queue="reports")
    async def report() -> None:
        pass

    m = await mail.enqueue()
    r = await report.enqueue()
    worker = h.worker(queues=["mail"])
    await until(lambda: state_is(h.backend, m, JobState.SUCCEEDED))
    await asyncio.sleep(0.1)
    assert await state_is(h.backend, r, JobState.PENDING)
    assert worker.queues == ["mail"]


async def test_by_default_a_worker_takes_every_queue_its_jobs_name(h: Harness) -> None:
    @h.jobs.job(queue="mail")
    async def mail() -> None:
        pass

    assert h.worker().queues == ["default", "mail"]


async def test_a_running_job_is_cancelled_on_request(h: Harness) -> None:
    started = asyncio.Event()

    @h.jobs.job(max_attempts=5)
    async def long() -> None:
        started.set()
        await asyncio.sleep(30)

    job_id = await long.enqueue()
    h.worker(lease=0.6)  # renewed every 0.2 s: that is when the request is seen
    await asyncio.wait_for(started.wait(), 5)
    assert await h.backend.cancel(job_id) is True
    await until(lambda: state_is(h.backend, job_id, JobState.CANCELLED))
    assert (await h.get(job_id)).attempt == 1


async def test_leases_are_renewed_while_a_job_runs(h: Harness) -> None:
    runs = 0

    @h.jobs.job
    async def longer_than_its_lease() -> None:
        nonlocal runs
        runs += 1
        await asyncio.sleep(1.5)

    # renewed every 0.2 s, so a stall of the loop up to 0.4 s is no expiry
    job_id = await longer_than_its_lease.enqueue()
    h.worker(lease=0.6, rescue_every=0.05)
    h.worker(lease=0.6, rescue_every=0.05)  # rescues often: must find nothing expired
    await until(lambda: state_is(h.backend, job_id, JobState.SUCCEEDED))
    assert runs == 1


async def test_a_dead_workers_job_is_run_by_another_after_its_lease(h: Harness) -> None:
    ran: list[str] = []

    @h.jobs.job(max_attempts=3)
    async def work() -> None:
        ran.append("done")

    job_id = await work.enqueue()
    # a worker that claimed the job and died (kill -9): nobody renews its lease
    assert await h.backend.claim(["default"], 1, worker="dead", lease=0.1)
    h.worker(rescue_every=0.05)
    await until(lambda: state_is(h.backend, job_id, JobState.SUCCEEDED))
    record = await h.get(job_id)
    assert ran == ["done"] and record.attempt == 2


async def test_stop_lets_running_jobs_finish_within_the_grace_period(h: Harness) -> None:
    started = asyncio.Event()

    @h.jobs.job
    async def short() -> None:
        started.set()
        await asyncio.sleep(0.1)

    job_id = await short.enqueue()
    waiting = await short.using(delay=0.3).enqueue()
    worker = h.worker(grace=5)
    await asyncio.wait_for(started.wait(), 5)
    worker.stop()
    await asyncio.wait_for(h.workers[-1][1], 5)
    assert await state_is(h.backend, job_id, JobState.SUCCEEDED)
    await asyncio.sleep(0.4)
    assert await state_is(h.backend, waiting, JobState.PENDING)  # not claimed after stop


async def test_stop_hands_back_jobs_still_running_after_the_grace_period(h: Harness) -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    @h.jobs.job
    async def endless() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    job_id = await endless.enqueue()
    worker = h.worker(grace=0.1)
    await asyncio.wait_for(started.wait(), 5)
    worker.stop()
    await asyncio.wait_for(h.workers[-1][1], 5)
    assert cancelled.is_set()
    record = await h.get(job_id)
    assert record.state is JobState.PENDING and record.attempt == 0  # attempt not counted


async def test_retries_back_off_exponentially_with_jitter() -> None:
    delays = [backoff(attempt, 1.0, 3600.0) for attempt in (1, 2, 3, 4)]
    for attempt, delay in enumerate(delays, start=1):
        full = 2.0 ** (attempt - 1)
        assert full / 2 <= delay <= full
    assert backoff(30, 1.0, 60.0) <= 60.0
    assert len({backoff(5, 1.0, 3600.0) for _ in range(20)}) > 1  # jittered


class Flaky(MemoryBackend):
    """A backend that is unreachable for its first ``outage`` calls of ``methods``."""

    def __init__(self, outage: int, methods: Sequence[str]) -> None:
        super().__init__()
        self.outage = outage
        self.methods = set(methods)
        self.failed = 0

    def _maybe_fail(self, method: str) -> None:
        if method in self.methods and self.failed < self.outage:
            self.failed += 1
            raise ConnectionError("backend restarting")

    async def claim(self, *args: Any, **kwargs: Any) -> list[JobRecord]:
        self._maybe_fail("claim")
        return await super().claim(*args, **kwargs)

    async def succeed(self, job_id: str, *, worker: str) -> None:
        self._maybe_fail("succeed")
        await super().succeed(job_id, worker=worker)


async def test_a_backend_that_goes_away_is_retried_without_losing_jobs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    jobs = Jobs()
    ran: list[int] = []

    @jobs.job
    async def record(n: int) -> None:
        ran.append(n)

    backend = Flaky(outage=3, methods=["claim", "succeed"])
    app = App(plugins=[JobsPlugin(jobs, backend=backend)])
    async with app.lifespan():
        ids = await record.enqueue_many({"n": i} for i in range(3))
        worker = Worker(jobs, backend, poll=0.05, lease=5)
        task = asyncio.create_task(worker.run())
        try:
            for job_id in ids:
                await until(lambda job_id=job_id: state_is(backend, job_id, JobState.SUCCEEDED))
        finally:
            worker.stop()
            await task
    assert sorted(ran) == [0, 1, 2]
    assert backend.failed == 3
    assert any("claiming failed" in r.getMessage() for r in caplog.records)


async def test_in_app_worker_runs_jobs_with_run_worker() -> None:
    jobs = Jobs()
    done = asyncio.Event()

    @jobs.job
    async def ping() -> None:
        done.set()

    app = App(plugins=[JobsPlugin(jobs, backend="memory", run_worker=True, poll=0.05)])
    async with app.lifespan():
        await ping.enqueue()
        await asyncio.wait_for(done.wait(), 5)


async def test_worker_logs_carry_the_job_id(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, "bastion.jobs")

    @h.jobs.job
    async def quiet() -> None:
        pass

    def lines() -> list[logging.LogRecord]:
        return [r for r in caplog.records if getattr(r, "job_id", None) == job_id]

    async def logged() -> bool:  # the worker stores the success, then logs it
        return any(r.getMessage().startswith("succeeded ") for r in lines())

    job_id = await quiet.enqueue()
    h.worker()
    await until(lambda: state_is(h.backend, job_id, JobState.SUCCEEDED))
    await until(logged)
    assert lines()[-1].getMessage().startswith(f"succeeded {quiet.name} {job_id}")
    assert lines()[-1].queue == "default"  # type: ignore[attr-defined]


async def test_successful_runs_are_logged_at_debug_only(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A line per successful job costs a busy worker more than the job (and says nothing
    that the metrics do not); failures and retries are still logged at WARNING and ERROR."""
    caplog.set_level(logging.INFO, "bastion.jobs")

    @h.jobs.job
    async def quiet() -> None:
        pass

    job_id = await quiet.enqueue()
    h.worker()
    await until(lambda: state_is(h.backend, job_id, JobState.SUCCEEDED))
    assert not [r for r in caplog.records if getattr(r, "job_id", None) == job_id]


class Counting(MemoryBackend):
    """A memory backend that notes how outcomes reach it."""

    def __init__(self) -> None:
        super().__init__()
        self.outcomes: list[list[str]] = []

    async def succeed(self, job_id: str, *, worker: str) -> None:
        self.outcomes.append([job_id])
        await super().succeed(job_id, worker=worker)

    async def succeed_many(self, ids: Sequence[str], *, worker: str) -> None:
        self.outcomes.append(list(ids))
        await super().succeed_many(ids, worker=worker)


async def test_jobs_ending_together_are_recorded_in_one_call() -> None:
    jobs = Jobs()
    go = asyncio.Event()

    @jobs.job
    async def wait_for_go(n: int) -> None:
        await go.wait()

    backend = Counting()
    app = App(plugins=[JobsPlugin(jobs, backend=backend)])
    async with app.lifespan():
        ids = await wait_for_go.enqueue_many({"n": n} for n in range(10))
        worker = Worker(jobs, backend, concurrency=10, poll=0.05, container=app.container)
        task = asyncio.create_task(worker.run())
        await until(lambda: _running(backend, 10))
        go.set()
        for job_id in ids:
            await until(lambda job_id=job_id: state_is(backend, job_id, JobState.SUCCEEDED))
        worker.stop()
        await task
    assert sorted(job_id for call in backend.outcomes for job_id in call) == sorted(ids)
    assert len(backend.outcomes) == 1  # one round trip for ten outcomes


async def _running(backend: MemoryBackend, count: int) -> bool:
    return (await backend.counts()).get(("default", JobState.RUNNING), 0) == count


class SlowOutcomes(MemoryBackend):
    """Recording a success takes a while (a slow network)."""

    async def succeed(self, job_id: str, *, worker: str) -> None:
        await self.succeed_many([job_id], worker=worker)

    async def succeed_many(self, ids: Sequence[str], *, worker: str) -> None:
        await asyncio.sleep(0.3)
        await super().succeed_many(ids, worker=worker)


async def test_stop_waits_for_an_outcome_on_its_way_instead_of_handing_the_job_back() -> None:
    jobs = Jobs()
    runs: list[int] = []

    @jobs.job
    async def once(n: int) -> None:
        runs.append(n)

    backend = SlowOutcomes()
    app = App(plugins=[JobsPlugin(jobs, backend=backend)])
    async with app.lifespan():
        job_id = await once.enqueue(n=1)
        worker = Worker(jobs, backend, poll=0.05, grace=0.05, container=app.container)
        task = asyncio.create_task(worker.run())
        await until(lambda: asyncio.sleep(0, bool(runs)))
        worker.stop()  # grace ends while the success is being recorded
        await asyncio.wait_for(task, 5)
        record = await backend.get(job_id)
    assert record is not None and record.state is JobState.SUCCEEDED
    assert runs == [1]
