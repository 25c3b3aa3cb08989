"""Testing helpers: see what was enqueued, run jobs inline, drain queues.

    from bastion.jobs.testing import JobsTester

    async def test_signup_sends_a_digest():
        with JobsTester(jobs, app=app) as tester:    # jobs go to a fresh in-memory backend
            ...                                      # code that enqueues
            tester.assert_enqueued(send_digest, user_id=7)
            await tester.drain()                     # run them (and what they enqueue)

While a tester is open, the registry's jobs go to it instead of the app's backend; closing it
puts the app's backend back. ``inline=True`` runs each job as soon as it is enqueued.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from bastion.jobs._inject import Runner
from bastion.jobs._runtime import Runtime
from bastion.jobs.job import Job
from bastion.jobs.memory import MemoryBackend
from bastion.jobs.record import JobRecord
from bastion.jobs.registry import Jobs
from bastion.jobs.worker import Worker

if TYPE_CHECKING:
    from bastion.app import App


@dataclass(frozen=True)
class Enqueued:
    """One enqueued run, as a test sees it: the job's name, its arguments, its record."""

    name: str
    kwargs: dict[str, Any]
    record: JobRecord

    @property
    def id(self) -> str:
        return self.record.id


class _TestBackend(MemoryBackend):
    """The memory backend, remembering every record it was given (in order)."""

    def __init__(self, tester: JobsTester) -> None:
        super().__init__()
        self.tester = tester
        self.given: list[JobRecord] = []

    async def enqueue(self, records: Sequence[JobRecord], *, session: Any = None) -> list[str]:
        ids = await super().enqueue(records, session=session)
        self.given.extend(r for r, stored in zip(records, ids, strict=True) if r.id == stored)
        if self.tester.inline and not self.tester._draining:
            await self.tester.drain()
        return ids


class JobsTester:
    """Binds ``jobs`` to a fresh in-memory backend until ``close()`` (or the ``with``
    block's end). ``app`` gives jobs its dependencies (the database session, ``Depends``)."""

    def __init__(self, jobs: Jobs, *, app: App[Any] | None = None, inline: bool = False) -> None:
        self.jobs = jobs
        self.inline = inline
        self.backend = _TestBackend(self)
        container = app.container if app is not None else jobs.container
        self._previous = jobs._runtime
        self.runtime = Runtime(self.backend, container)
        jobs._bind(self.runtime)
        self._draining = False
        self._worker: Worker | None = None

    def close(self) -> None:
        """Give the registry back to the backend it had before."""
        if self.jobs._runtime is self.runtime:
            self.jobs._bind(self._previous)

    def __enter__(self) -> JobsTester:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> JobsTester:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- what was enqueued -------------------------------------------------------------------
    def enqueued(self, job: Job[Any, Any] | str | None = None) -> list[Enqueued]:
        """Every run enqueued so far (of ``job`` if given), oldest first."""
        name = job.name if isinstance(job, Job) else job
        found = []
        all_jobs = self.jobs.jobs
        for record in self.backend.given:
            if name is not None and record.name != name:
                continue
            known = all_jobs.get(record.name)
            kwargs = known.spec.decode(record.args) if known is not None else {}
            found.append(Enqueued(record.name, kwargs, record))
        return found

    def assert_enqueued(self, job: Job[Any, Any] | str, /, **kwargs: Any) -> Enqueued:
        """The run of ``job`` whose arguments include ``kwargs``; an ``AssertionError``
        listing what was enqueued when there is none."""
        runs = self.enqueued(job)
        for run in runs:
            if all(run.kwargs.get(k, _MISSING) == v for k, v in kwargs.items()):
                return run
        name = job.name if isinstance(job, Job) else job
        shown = "\n".join(f"  {r.name}({_args(r.kwargs)})" for r in self.enqueued()) or "  nothing"
        raise AssertionError(f"{name}({_args(kwargs)}) was not enqueued; enqueued:\n{shown}")

    def assert_not_enqueued(self, job: Job[Any, Any] | str | None = None) -> None:
        runs = self.enqueued(job)
        if runs:
            shown = "\n".join(f"  {r.name}({_args(r.kwargs)})" for r in runs)
            raise AssertionError(f"expected no job to be enqueued, found:\n{shown}")

    def clear(self) -> None:
        """Forget what was enqueued so far (the stored jobs stay)."""
        self.backend.given.clear()

    # -- running -----------------------------------------------------------------------------
    async def drain(
        self, queues: Sequence[str] | None = None, *, raise_errors: bool = True, due: bool = False
    ) -> int:
        """Run every job available in ``queues`` (default: all), and the jobs they enqueue,
        until none is left; return how many ran. ``due=True`` runs delayed and retried ones
        now too. With ``raise_errors`` the first exception a job raised is raised here."""
        worker = Worker(
            self.jobs,
            self.backend,
            queues=queues or self._queues(),
            container=self.runtime.container,
            retry_backoff=0.0,
        )
        worker.errors = []
        self._draining = True
        total = 0
        try:
            while True:
                if due:
                    self._make_due(queues)
                ran = await worker.run_once()
                total += ran
                if not ran:
                    break
                if queues is None:
                    worker.queues = self._queues()
        finally:
            self._draining = False
        if raise_errors and worker.errors:
            raise worker.errors[0]
        return total

    async def run(self, job: Job[Any, Any], /, **kwargs: Any) -> Any:
        """Run ``job`` now, in this task, with its dependencies injected; return its result.
        The arguments go through the same checks and encoding as ``enqueue``."""
        decoded = job.spec.decode(job.spec.encode(kwargs))
        return await Runner(job, self.runtime.container)(decoded)

    def _queues(self) -> list[str]:
        named = {job.options.queue for job in self.jobs.jobs.values()}
        return sorted({"default", *named, *(job.queue for job in self.backend._jobs.values())})

    def _make_due(self, queues: Sequence[str] | None) -> None:
        self.backend.make_due(queues, time.time())


_MISSING = object()


def _args(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
