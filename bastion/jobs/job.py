"""``Job``: a registered function that can be enqueued, with per-call options (``using``).

    @jobs.job(queue="mail", max_attempts=5)
    async def send_digest(user_id: int, db: AsyncSession) -> None: ...

    await send_digest.enqueue(user_id=7)
    await send_digest.using(delay=60, unique="digest:7").enqueue(user_id=7)

Inside a request that uses the database session, ``enqueue`` joins its transaction: the job
exists only if the request's transaction commits (see ``_deliver``).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from bastion.exceptions import ConfigurationError
from bastion.jobs._args import ArgSpec
from bastion.jobs.record import JobRecord

if TYPE_CHECKING:
    from bastion.jobs.registry import Jobs

P = ParamSpec("P")
R = TypeVar("R")
_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class JobOptions:
    """How a job is enqueued: the job's defaults, overridden per call by ``using(...)``."""

    queue: str = "default"
    priority: int = 0  # lower runs first
    max_attempts: int = 5
    timeout: float | None = None  # seconds one attempt may run
    delay: float | None = None  # seconds from now
    run_at: datetime | float | None = None  # an aware datetime or epoch seconds
    unique: str | None = None  # one pending/running job per key
    unique_for: float | None = None  # ... and for this many seconds after enqueue
    tags: tuple[str, ...] = ()
    session: Any = None  # the SQLAlchemy session whose transaction the enqueue joins

    def checked(self, where: str) -> JobOptions:
        """These options, or a ``ValueError`` that says which one is wrong and why."""
        problems = []
        if not isinstance(self.queue, str) or not self.queue:
            problems.append(f"queue={self.queue!r} must be a non-empty string")
        if not isinstance(self.priority, int) or isinstance(self.priority, bool):
            problems.append(f"priority={self.priority!r} must be an integer (lower runs first)")
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            problems.append(f"max_attempts={self.max_attempts!r} must be an integer >= 1")
        for name in ("timeout", "unique_for"):
            value = getattr(self, name)
            if value is not None and not _positive(value):
                problems.append(f"{name}={value!r} must be a positive number of seconds")
        if self.delay is not None and not (_positive(self.delay) or self.delay == 0):
            problems.append(f"delay={self.delay!r} must be a number of seconds >= 0")
        if self.delay is not None and self.run_at is not None:
            problems.append("give delay= or run_at=, not both")
        if isinstance(self.run_at, datetime) and self.run_at.tzinfo is None:
            problems.append(
                "run_at must be an aware datetime (datetime.now(UTC) + ...), not a naive one"
            )
        elif self.run_at is not None and not isinstance(self.run_at, datetime | int | float):
            problems.append(f"run_at={self.run_at!r} must be a datetime or epoch seconds")
        if self.unique_for is not None and self.unique is None:
            problems.append("unique_for= needs unique= (the key it keeps for that long)")
        if isinstance(self.tags, str) or not all(isinstance(tag, str) for tag in self.tags):
            problems.append(f"tags={self.tags!r} must be a sequence of strings")
        if problems:
            raise ValueError(f"{where}: " + "; ".join(problems))
        return self

    def when(self, now: float) -> float:
        """The epoch second the job may start."""
        if self.delay is not None:
            return now + float(self.delay)
        if isinstance(self.run_at, datetime):
            return self.run_at.timestamp()
        if self.run_at is not None:
            return float(self.run_at)
        return now


def _positive(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and value > 0
        and math.isfinite(value)
    )


class Job(Generic[P, R]):
    """A function registered with ``Jobs.job``. Calling it runs the function directly (its
    dependencies are not injected); ``enqueue`` stores a run for a worker."""

    def __init__(
        self,
        fn: Callable[P, Awaitable[R]] | Callable[P, R],
        name: str,
        registry: Jobs,
        options: JobOptions,
    ) -> None:
        self.fn = fn
        self.name = name
        self.registry = registry
        self.options = options.checked(f"job {name}")
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__wrapped__ = fn
        self._spec: ArgSpec | None = None
        self._spec_for: Any = None

    def __repr__(self) -> str:
        return f"<Job {self.name} queue={self.options.queue!r}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Awaitable[R] | R:
        return self.fn(*args, **kwargs)

    @property
    def spec(self) -> ArgSpec:
        """The signature split into arguments and dependencies, made once per app."""
        container = self.registry.container
        if self._spec is None or self._spec_for is not container:
            self._spec = ArgSpec(self.name, self.fn, container)
            self._spec_for = container
        return self._spec

    def using(
        self,
        *,
        queue: str = _UNSET,
        priority: int = _UNSET,
        max_attempts: int = _UNSET,
        timeout: float | None = _UNSET,
        delay: float | timedelta | None = _UNSET,
        run_at: datetime | float | None = _UNSET,
        unique: str | None = _UNSET,
        unique_for: float | timedelta | None = _UNSET,
        tags: Sequence[str] = _UNSET,
        session: Any = _UNSET,
    ) -> JobCall:
        """This job with some options changed for the calls made through the result."""
        values = {
            "queue": queue,
            "priority": priority,
            "max_attempts": max_attempts,
            "timeout": timeout,
            "delay": delay,
            "run_at": run_at,
            "unique": unique,
            "unique_for": unique_for,
            "tags": tags,
            "session": session,
        }
        given = {k: v for k, v in values.items() if v is not _UNSET}
        for key in ("delay", "unique_for"):
            if isinstance(given.get(key), timedelta):
                given[key] = given[key].total_seconds()
        if "tags" in given and not isinstance(given["tags"], str):
            given["tags"] = tuple(given["tags"])
        if "delay" in given and "run_at" not in given:
            given["run_at"] = None
        if "run_at" in given and "delay" not in given:
            given["delay"] = None
        options = replace(self.options, **given).checked(f"{self.name}.using()")
        return JobCall(self, options)

    async def enqueue(self, **kwargs: Any) -> str:
        """Store a run of this job with these arguments; return its id. Arguments are checked
        here (``InvalidJobArguments`` names the bad one)."""
        return await JobCall(self, self.options).enqueue(**kwargs)

    async def enqueue_many(self, calls: Iterable[dict[str, Any]]) -> list[str]:
        """Enqueue one run per dict of arguments, in one round trip; return the ids."""
        return await JobCall(self, self.options).enqueue_many(calls)


class JobCall:
    """A job with the options of one ``using(...)``: enqueue through it."""

    __slots__ = ("job", "options")

    def __init__(self, job: Job[Any, Any], options: JobOptions) -> None:
        self.job = job
        self.options = options

    def __repr__(self) -> str:
        return f"<JobCall {self.job.name} {self.options}>"

    def record(self, kwargs: dict[str, Any]) -> JobRecord:
        """The stored form of one run (arguments checked and encoded)."""
        options = self.options
        now = time.time()
        return JobRecord(
            name=self.job.name,
            queue=options.queue,
            args=self.job.spec.encode(kwargs),
            priority=options.priority,
            run_at=options.when(now),
            max_attempts=options.max_attempts,
            timeout=options.timeout,
            unique_key=options.unique,
            unique_until=now + options.unique_for if options.unique_for is not None else None,
            tags=options.tags,
            enqueued_at=now,
            trace=_trace_context(),
        )

    async def enqueue(self, **kwargs: Any) -> str:
        return (await self._deliver([self.record(kwargs)]))[0]

    async def enqueue_many(self, calls: Iterable[dict[str, Any]]) -> list[str]:
        records = [self.record(dict(kwargs)) for kwargs in calls]
        return await self._deliver(records) if records else []

    async def _deliver(self, records: list[JobRecord]) -> list[str]:
        """Write now, or in the session's transaction, or once it commits."""
        runtime = self.job.registry.runtime(f"{self.job.name}.enqueue()")
        backend = runtime.backend
        session = self.options.session
        if session is None:
            session = _current_session()
        if session is None:
            ids = await backend.enqueue(records)
        elif backend.transactional:
            ids = await backend.enqueue(records, session=session)
        else:
            from bastion.db import on_commit

            async def after_commit() -> None:
                await backend.enqueue(records)
                runtime.enqueued(records)

            on_commit(session, after_commit)
            return [record.id for record in records]
        runtime.enqueued(records)
        return ids


def _current_session() -> Any:
    """The request's database session when the database battery provides one."""
    module = sys.modules.get("bastion.db")
    if module is None:
        return None
    current = getattr(module, "current_session", None)  # added with the database backend
    return current() if current is not None else None


def _trace_context() -> dict[str, str] | None:
    """The W3C trace context of the enqueuing code, when OpenTelemetry is in use."""
    if "opentelemetry.propagate" not in sys.modules:
        return None
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier or None


def job_name(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None) or "__main__"
    qualname = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    if "<locals>" in qualname:
        qualname = qualname.rsplit("<locals>.", 1)[-1]
    return f"{module}.{qualname}"


def check_job_function(fn: Any, where: str) -> None:
    if not callable(fn):
        raise ConfigurationError(f"{where}: a job must be a function, got {fn!r}")
