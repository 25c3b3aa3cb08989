"""The worker: claims jobs from a backend and runs them, at most ``concurrency`` at a time.

Delivery is at least once. While a job runs its lease is renewed (every third of it); a
worker that dies stops renewing, and ``rescue`` (any worker calls it now and then) hands the
job to another. A job that raises or runs over its timeout is retried after an exponential
backoff with jitter, and kept as failed after its last attempt; one whose arguments no longer
decode, or that this worker does not know, is failed or retried with a sentence that says so.
Nothing a job does stops the worker; a backend that goes away is retried with backoff.

``stop()`` (SIGTERM) stops claiming, lets running jobs finish for ``grace`` seconds, then
cancels the rest and hands them back (``release``) without counting their attempt.

Per job the loop does little: claims take as many jobs as there are free slots, outcomes go
to one reporter that records the jobs finished meanwhile together (``succeed_many``: one round
trip, and one connection of the pool, however many ended), and a job stays in ``running``
(its lease renewed, its slot taken) until its outcome is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import socket
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from bastion._tasks import cancel_and_wait
from bastion.exceptions import ConfigurationError
from bastion.jobs._args import InvalidJobArguments
from bastion.jobs._inject import Runner
from bastion.jobs._runtime import log_fields
from bastion.jobs.backend import JobsBackend
from bastion.jobs.record import JobRecord

if TYPE_CHECKING:
    from bastion.di.container import Container
    from bastion.jobs._metrics import JobMetrics
    from bastion.jobs.registry import Jobs

logger = logging.getLogger("bastion.jobs")
#: How long a backend that failed is left alone, at most (the delay doubles up to this).
MAX_RECONNECT_DELAY = 30.0


def worker_id() -> str:
    """``host:pid:random``: unique across machines and restarts, readable in ``jobs list``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def backoff(attempt: int, base: float, cap: float) -> float:
    """Seconds before attempt ``attempt + 1``: ``base * 2**(attempt-1)`` up to ``cap``, of
    which a random half is kept ("equal jitter"), so failed jobs do not retry in lockstep."""
    delay = min(base * 2.0 ** max(attempt - 1, 0), cap)
    return delay / 2 + random.uniform(0.0, delay / 2)


def describe(exc: BaseException) -> str:
    """One line for the job's error list: the type, the message and where it was raised."""
    text = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        text += f" (at {os.path.basename(last.filename)}:{last.lineno} in {last.name})"
    return text[:2000]


class Worker:
    """Runs the jobs of ``jobs`` found in ``backend``'s ``queues``.

    ``queues`` defaults to every queue the registry's jobs name (and ``default``); a job sent
    elsewhere with ``using(queue=...)`` needs a worker for that queue. ``lease`` is how long a
    claimed job stays this worker's without renewal, so a dead worker's jobs wait at most that
    long; ``poll`` bounds the wait for new jobs when the backend sends no notification.
    """

    def __init__(
        self,
        jobs: Jobs,
        backend: JobsBackend,
        *,
        container: Container | None = None,
        metrics: JobMetrics | None = None,
        name: str | None = None,
        tracer: Any = None,
        **given: Unpack[WorkerOptions],
    ) -> None:
        options = worker_options(given)
        self.jobs = jobs
        self.backend = backend
        queues = options["queues"]
        self.queues = list(queues) if queues else _queues_of(jobs)
        self.concurrency = options["concurrency"]
        self.lease = options["lease"]
        self.poll = options["poll"]
        self.grace = options["grace"]
        self.rescue_every = options["rescue_every"]
        self.retry_backoff = options["retry_backoff"]
        self.max_backoff = options["max_backoff"]
        self.container = container if container is not None else jobs.container
        self.metrics = metrics
        self.id = name or worker_id()
        self.cron = options["cron"]
        self.runners: dict[str, Runner] = {}
        self.running: dict[str, tuple[asyncio.Task[None], JobRecord]] = {}
        self._cancel_asked: set[str] = set()
        self._stopping = asyncio.Event()
        self._slot = asyncio.Event()  # a slot freed, or stop()
        self._sleeper: asyncio.Task[Any] | None = None
        # outcomes waiting for the reporter: successes (batched), then other calls in order
        self._succeeded: list[str] = []
        self._outcomes: list[tuple[Callable[..., Awaitable[Any]], tuple[Any, ...], dict[str, Any]]]
        self._outcomes = []
        self._reported = asyncio.Event()  # set when outcomes wait for the reporter
        self._flushed: asyncio.Future[None] | None = None  # resolved when they are recorded
        self._finishing: set[str] = set()  # ids of ended jobs whose outcome is being recorded
        self._reporter: asyncio.Task[None] | None = None
        #: Exceptions jobs raised, kept when set to a list (the testing helpers re-raise them).
        self.errors: list[BaseException] | None = None
        #: An OpenTelemetry tracer (ObservabilityPlugin's, with tracing on): a span per run.
        self.tracer = tracer
        self._failed_attempts: set[str] = set()

    def __repr__(self) -> str:
        return f"<Worker {self.id} queues={self.queues} concurrency={self.concurrency}>"

    # -- lifecycle ---------------------------------------------------------------------------
    def compile(self) -> None:
        """Compile every job's dependencies (once; ``run`` calls it), and refuse cron
        schedules the scheduler would refuse (two of one name) before running any."""
        if not self.runners:
            self.runners = {
                name: Runner(job, self.container) for name, job in self.jobs.jobs.items()
            }
            if self.cron and self.jobs.crons:
                from bastion.jobs.cron import check_names

                check_names(self.jobs.crons)

    def stop(self) -> None:
        """Stop claiming; ``run`` returns once running jobs end or ``grace`` has passed."""
        self._stopping.set()
        self._slot.set()
        if self._sleeper is not None:
            self._sleeper.cancel()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self) -> None:
        """Claim and run jobs until ``stop()``; then drain (see the module docstring)."""
        self.compile()
        logger.info(
            "worker %s: queues %s, up to %d at a time",
            self.id,
            ", ".join(self.queues),
            self.concurrency,
            extra={"worker": self.id, "queues": self.queues},
        )
        housekeeping = asyncio.create_task(self._housekeeping())
        scheduler = self._start_scheduler()
        self._start_reporter()
        try:
            await self._claim_loop()
        finally:
            try:
                await cancel_and_wait(t for t in (housekeeping, scheduler) if t is not None)
                await self._drain()
            finally:
                await self._stop_reporter()
            logger.info("worker %s stopped", self.id, extra={"worker": self.id})

    async def run_once(self) -> int:
        """Claim what is available now, run it to the end, return how many ran (tests)."""
        self.compile()
        self._start_reporter()
        total = 0
        try:
            while True:
                claimed = await self.backend.claim(
                    self.queues, self.concurrency, worker=self.id, lease=self.lease
                )
                if not claimed:
                    return total
                total += len(claimed)
                await asyncio.gather(*(self._execute(record) for record in claimed))
        finally:
            await self._stop_reporter()

    # -- claiming ----------------------------------------------------------------------------
    async def _claim_loop(self) -> None:
        failures = 0
        while not self.stopping:
            free = self.concurrency - len(self.running)
            if free <= 0:
                self._slot.clear()
                await self._slot.wait()  # a job's end, or stop(), sets it: no task per wait
                continue
            try:
                claimed = await self.backend.claim(
                    self.queues, free, worker=self.id, lease=self.lease
                )
            except Exception as exc:
                failures += 1
                delay = min(0.1 * 2**failures, MAX_RECONNECT_DELAY)
                logger.warning(
                    "worker %s: claiming failed (%s); trying again in %.1f s",
                    self.id,
                    describe(exc),
                    delay,
                    extra={"worker": self.id},
                )
                await self._sleep(asyncio.sleep(delay))
                continue
            if failures:
                logger.info("worker %s: the backend answers again", self.id)
                failures = 0
            for record in claimed:
                self._start(record)
            if len(claimed) < free:
                await self._sleep(self.backend.wait(self.queues, self.poll))

    async def _sleep(self, waiting: Awaitable[Any]) -> None:
        """Wait for ``waiting`` unless ``stop()`` comes first; a failed wait is a short nap."""
        self._sleeper = asyncio.ensure_future(waiting)
        try:
            await self._sleeper
        except asyncio.CancelledError:
            if not self.stopping:
                raise
        except Exception as exc:
            logger.warning("worker %s: waiting failed (%s)", self.id, describe(exc))
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(min(self.poll, 1.0))
        finally:
            self._sleeper = None

    def _start(self, record: JobRecord) -> None:
        task = asyncio.create_task(self._execute(record), name=f"job {record.name} {record.id}")
        self.running[record.id] = (task, record)
        task.add_done_callback(functools.partial(self._done, record.id))

    def _done(self, job_id: str, _task: object = None) -> None:
        self.running.pop(job_id, None)
        self._cancel_asked.discard(job_id)
        self._slot.set()

    # -- running one job ---------------------------------------------------------------------
    async def _execute(self, record: JobRecord) -> None:
        if self.tracer is None:
            await self._attempt(record)
            return
        span, token = self._open_span(record)
        try:
            await self._attempt(record)
        except BaseException as exc:
            span.record_exception(exc)
            raise
        finally:
            self._close_span(span, token, record)

    def _open_span(self, record: JobRecord) -> tuple[Any, Any]:
        """A consumer span for one attempt, child of the code that enqueued the job."""
        from opentelemetry import context, propagate, trace

        parent = propagate.extract(record.trace or {})
        span = self.tracer.start_span(
            f"job {record.name}",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "bastion.jobs",
                "messaging.destination.name": record.queue,
                "messaging.message.id": record.id,
                "job.attempt": record.attempt,
            },
        )
        return span, context.attach(trace.set_span_in_context(span, parent))

    def _close_span(self, span: Any, token: Any, record: JobRecord) -> None:
        from opentelemetry import context, trace

        if record.id in self._failed_attempts:
            self._failed_attempts.discard(record.id)
            span.set_status(trace.Status(trace.StatusCode.ERROR))
        span.end()
        context.detach(token)

    async def _attempt(self, record: JobRecord) -> None:
        started = time.time()
        if self.metrics is not None:
            self.metrics.started(record, started)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("started %s %s", record.name, record.id, extra=self._fields(record))
        runner = self.runners.get(record.name)
        try:
            if runner is None:
                raise UnknownJob(record.name, sorted(self.runners))
            kwargs = runner.spec.decode(record.args)
            if record.timeout is not None:
                async with asyncio.timeout(record.timeout):
                    await runner(kwargs)
            else:
                await runner(kwargs)
        except asyncio.CancelledError:
            if record.id not in self._cancel_asked:
                raise  # shutting down: _drain releases it
            await self._report(self.backend.fail, record.id, worker=self.id, error="cancelled")
            logger.info("cancelled %s %s", record.name, record.id, extra=self._fields(record))
            self._count(record, "failed", started)
        except InvalidJobArguments as exc:
            error = f"arguments no longer fit {record.name}: {exc.detail}"
            if self.errors is not None:
                self.errors.append(exc)
            await self._report(self.backend.fail, record.id, worker=self.id, error=error)
            fields = self._fields(record)
            logger.error("failed %s %s: %s", record.name, record.id, error, extra=fields)
            self._count(record, "failed", started)
        except Exception as exc:
            if isinstance(exc, TimeoutError) and record.timeout is not None:
                error = f"TimeoutError: ran over its timeout of {record.timeout:g} s"
            elif isinstance(exc, UnknownJob):
                error = str(exc)
            else:
                error = describe(exc)
            await self._failed(record, error, exc, started, self._fields(record))
        else:
            ran = time.time() - started
            await self._succeeded_one(record.id)
            self._count(record, "succeeded", started, ran)
            if logger.isEnabledFor(logging.DEBUG):  # each run at INFO: ~15 us a job, noise
                logger.debug(
                    "succeeded %s %s in %.1f ms",
                    record.name,
                    record.id,
                    ran * 1000,
                    extra=self._fields(record),
                )

    def _fields(self, record: JobRecord) -> dict[str, Any]:
        return log_fields(record, worker=self.id)

    async def _failed(
        self,
        record: JobRecord,
        error: str,
        exc: Exception,
        started: float,
        fields: dict[str, Any],
    ) -> None:
        exc_info = None if isinstance(exc, UnknownJob | TimeoutError) else exc
        if self.errors is not None:
            self.errors.append(exc)
        if record.attempt < record.max_attempts:
            run_at = time.time() + backoff(record.attempt, self.retry_backoff, self.max_backoff)
            await self._report(
                self.backend.retry, record.id, worker=self.id, run_at=run_at, error=error
            )
            logger.warning(
                "attempt %d/%d of %s %s failed, retrying in %.1f s: %s",
                record.attempt,
                record.max_attempts,
                record.name,
                record.id,
                run_at - time.time(),
                error,
                exc_info=exc_info,
                extra=fields,
            )
            self._count(record, "retried", started)
        else:
            await self._report(self.backend.fail, record.id, worker=self.id, error=error)
            logger.error(
                "failed %s %s after %d attempts: %s",
                record.name,
                record.id,
                record.attempt,
                error,
                exc_info=exc_info,
                extra=fields,
            )
            self._count(record, "failed", started)

    def _count(
        self, record: JobRecord, outcome: str, started: float, ran: float | None = None
    ) -> None:
        if self.tracer is not None and outcome != "succeeded":
            self._failed_attempts.add(record.id)
        if self.metrics is not None:
            self.metrics.finished(record, outcome, time.time() - started if ran is None else ran)

    # -- recording outcomes ------------------------------------------------------------------
    async def _succeeded_one(self, job_id: str) -> None:
        self._succeeded.append(job_id)
        await self._until_recorded(job_id)

    async def _report(self, method: Callable[..., Awaitable[Any]], job_id: str, **kw: Any) -> None:
        """Have the reporter tell the backend how job ``job_id`` ended; return once it has."""
        self._outcomes.append((method, (job_id,), kw))
        await self._until_recorded(job_id)

    async def _until_recorded(self, job_id: str) -> None:
        self._finishing.add(job_id)  # ended: _drain waits for its outcome, not cancels it
        try:
            await self._recorded()
        finally:
            self._finishing.discard(job_id)

    async def _recorded(self) -> None:
        if self._reporter is None:  # no reporter (a job run outside run/run_once)
            await self._record()
            return
        if self._flushed is None:
            self._flushed = asyncio.get_running_loop().create_future()
        flushed = self._flushed
        self._reported.set()
        await asyncio.shield(flushed)  # a cancelled job still gets its outcome recorded

    def _start_reporter(self) -> None:
        if self._reporter is None:
            self._reporter = asyncio.create_task(self._report_loop(), name=f"{self.id} reporter")

    async def _stop_reporter(self) -> None:
        """Let the reporter finish the batch it is recording (not cancelled half-way: those
        jobs would run again), then record what is left; later outcomes go straight."""
        reporter, self._reporter = self._reporter, None
        if reporter is None:
            return
        self._reported.set()
        await reporter
        await self._record()

    async def _report_loop(self) -> None:
        """One batch of outcomes at a time: those that arrive meanwhile form the next."""
        me = asyncio.current_task()
        while self._reporter is me:
            await self._reported.wait()
            self._reported.clear()
            await self._record()

    async def _record(self) -> None:
        flushed, self._flushed = self._flushed, None
        succeeded, self._succeeded = self._succeeded, []
        outcomes, self._outcomes = self._outcomes, []
        try:
            if succeeded:
                await self._send(self.backend.succeed_many, succeeded, worker=self.id)
            for method, args, kw in outcomes:
                await self._send(method, *args, **kw)
        finally:
            if flushed is not None and not flushed.done():
                flushed.set_result(None)

    async def _send(self, method: Callable[..., Awaitable[Any]], *args: Any, **kw: Any) -> None:
        """Tell the backend how jobs ended, trying again while it is unreachable (for up
        to a lease: after that the jobs are rescued and run again anyway)."""
        deadline = time.monotonic() + self.lease
        delay = 0.05
        while True:
            try:
                await method(*args, **kw)
                return
            except Exception as exc:
                if time.monotonic() + delay > deadline:
                    logger.error(
                        "worker %s: could not record the outcome of job(s) %s (%s); they "
                        "run again when their lease runs out",
                        self.id,
                        ", ".join(args[0]) if args and isinstance(args[0], list) else args[0],
                        describe(exc),
                    )
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    # -- leases, rescue, depth ---------------------------------------------------------------
    async def _housekeeping(self) -> None:
        every = max(self.lease / 3, 0.01)
        next_rescue = time.monotonic() + random.uniform(0, self.rescue_every)
        next_depth = time.monotonic()
        while True:
            await asyncio.sleep(every)
            try:
                await self.renew()
                now = time.monotonic()
                if now >= next_rescue:
                    next_rescue = now + self.rescue_every * random.uniform(0.8, 1.2)
                    rescued = await self.backend.rescue()
                    if rescued:
                        logger.warning(
                            "rescued %d job(s) whose worker stopped renewing their lease",
                            rescued,
                            extra={"worker": self.id},
                        )
                if self.metrics is not None and now >= next_depth:
                    next_depth = now + 5.0
                    self.metrics.set_depth(await self.backend.counts())
            except Exception as exc:
                logger.warning("worker %s: housekeeping failed (%s)", self.id, describe(exc))

    async def renew(self) -> None:
        """Extend the leases of running jobs; cancel those whose cancellation was asked."""
        if not self.running:
            return
        cancelled = await self.backend.extend(list(self.running), worker=self.id, lease=self.lease)
        for job_id in cancelled:
            entry = self.running.get(job_id)
            if entry is not None and job_id not in self._cancel_asked:
                self._cancel_asked.add(job_id)
                entry[0].cancel()

    async def _drain(self) -> None:
        """Let running jobs finish within ``grace``; cancel and release the others."""
        if not self.running:
            return
        tasks = [task for task, _ in self.running.values()]
        logger.info(
            "worker %s: waiting up to %g s for %d running job(s)",
            self.id,
            self.grace,
            len(tasks),
        )
        _, late = await asyncio.wait(tasks, timeout=self.grace) if self.grace > 0 else ((), tasks)
        if not late:
            return
        ended = [t for job_id, (t, _) in self.running.items() if job_id in self._finishing]
        ids = [
            job_id
            for job_id, (task, _) in list(self.running.items())
            if task in late and job_id not in self._finishing
        ]
        for task in late:
            if task not in ended:
                task.cancel()
        await asyncio.gather(*(task for task in late if task not in ended), return_exceptions=True)
        if ended:  # their outcome is on its way: let it be recorded rather than run them again
            await asyncio.wait(ended, timeout=self.lease)
        if not ids:
            return
        try:
            await self.backend.release(ids, worker=self.id)
            logger.warning(
                "worker %s: handed %d unfinished job(s) back to the queue",
                self.id,
                len(ids),
                extra={"worker": self.id, "job_ids": ids},
            )
        except Exception as exc:
            logger.error(
                "worker %s: could not hand back %d job(s) (%s); they run again when their "
                "lease runs out",
                self.id,
                len(ids),
                describe(exc),
            )

    # -- cron ----------------------------------------------------------------------------------
    def _start_scheduler(self) -> asyncio.Task[Any] | None:
        """Every worker runs the scheduler; only the holder of the "cron" lock enqueues."""
        crons = self.jobs.crons
        if not self.cron or not crons:
            return None
        from bastion.jobs.cron import run_scheduler

        async def scheduler() -> None:
            try:
                await run_scheduler(crons, self.backend, holder=self.id, stop=self._stopping)
            except Exception:
                logger.exception("worker %s: the cron scheduler stopped", self.id)

        return asyncio.create_task(scheduler(), name=f"cron scheduler of {self.id}")


class WorkerOptions(TypedDict, total=False):
    """How a worker runs: ``Worker``'s, ``JobsPlugin``'s and ``bastion worker``'s options,
    declared once (their defaults are ``WORKER_DEFAULTS``)."""

    queues: Sequence[str] | None
    concurrency: int
    lease: float
    poll: float
    grace: float
    rescue_every: float
    retry_backoff: float
    max_backoff: float
    cron: bool


WORKER_DEFAULTS: WorkerOptions = {
    "queues": None,
    "concurrency": 10,
    "lease": 30.0,
    "poll": 1.0,
    "grace": 30.0,
    "rescue_every": 15.0,
    "retry_backoff": 1.0,
    "max_backoff": 3600.0,
    "cron": True,
}


def worker_options(given: WorkerOptions) -> WorkerOptions:
    """``given`` over the defaults; options no worker can run with are refused in a
    sentence."""
    options: WorkerOptions = {**WORKER_DEFAULTS, **given}
    concurrency, lease, poll = options["concurrency"], options["lease"], options["poll"]
    grace, rescue_every = options["grace"], options["rescue_every"]
    retry_backoff, max_backoff = options["retry_backoff"], options["max_backoff"]
    if not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigurationError(f"concurrency={concurrency!r}: a worker runs at least 1 job")
    if not lease > 0 or not poll > 0:
        raise ConfigurationError(f"lease={lease!r} and poll={poll!r} must be > 0 seconds")
    if not rescue_every > 0:
        raise ConfigurationError(
            f"rescue_every={rescue_every!r} must be > 0 seconds (how often a worker looks for "
            "jobs whose worker died)"
        )
    if not grace >= 0 or not retry_backoff >= 0 or not max_backoff >= 0:
        raise ConfigurationError(
            f"grace={grace!r}, retry_backoff={retry_backoff!r} and max_backoff={max_backoff!r} "
            "must be 0 or more seconds"
        )
    return options


class UnknownJob(Exception):
    """A stored job whose name this worker does not know (not deployed here yet, renamed)."""

    def __init__(self, name: str, known: list[str]) -> None:
        shown = ", ".join(known[:10]) + (", ..." if len(known) > 10 else "")
        super().__init__(
            f"no job named {name!r} in this worker (it knows {shown or 'none'}); deploy the "
            "code that defines it, or keep @jobs.job(name=...) when renaming a job"
        )


def _queues_of(jobs: Jobs) -> list[str]:
    return sorted({"default", *(job.options.queue for job in jobs.jobs.values())})
