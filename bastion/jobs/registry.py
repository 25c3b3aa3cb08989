"""``Jobs``: a registry of jobs and cron schedules, included into others like routers.

jobs = Jobs()

@jobs.job(queue="mail")
async def send_digest(user_id: int) -> None: ...

@jobs.cron("0 7 * * *", tz="Europe/Paris")
async def morning_report() -> None: ...

jobs.include(billing.jobs)          # a feature module's own registry
App(plugins=[JobsPlugin(jobs)])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

from bastion.exceptions import ConfigurationError
from bastion.jobs.job import Job, JobOptions, check_job_function, job_name

if TYPE_CHECKING:
    from bastion.di.container import Container
    from bastion.jobs._runtime import Runtime
    from bastion.jobs.cron import Cron

F = TypeVar("F", bound=Callable[..., Any])


class Jobs:
    """Jobs and cron schedules, declared with ``@jobs.job`` and ``@jobs.cron``."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job[Any, Any]] = {}
        self._crons: list[Cron] = []
        self._included: list[Jobs] = []
        self._runtime: Runtime | None = None

    def __repr__(self) -> str:
        return f"<Jobs {sorted(self.jobs)}>"

    @overload
    def job(self, fn: Callable[..., Any]) -> Job[Any, Any]: ...

    @overload
    def job(
        self,
        *,
        name: str | None = None,
        queue: str = "default",
        priority: int = 0,
        max_attempts: int = 5,
        timeout: float | None = None,
        tags: Sequence[str] = (),
    ) -> Callable[[Callable[..., Any]], Job[Any, Any]]: ...

    def job(
        self,
        fn: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        queue: str = "default",
        priority: int = 0,
        max_attempts: int = 5,
        timeout: float | None = None,
        tags: Sequence[str] = (),
    ) -> Job[Any, Any] | Callable[[Callable[..., Any]], Job[Any, Any]]:
        """Register an async function as a job: ``@jobs.job`` or ``@jobs.job(queue=...)``.
        ``name`` (default ``module.function``) is what is stored, so keep it stable."""
        options = JobOptions(
            queue=queue,
            priority=priority,
            max_attempts=max_attempts,
            timeout=timeout,
            tags=tuple(tags),
        )

        def register(fn: Callable[..., Any]) -> Job[Any, Any]:
            check_job_function(fn, "@jobs.job")
            job: Job[Any, Any] = Job(fn, name or job_name(fn), self, options)
            self._add(job)
            return job

        return register(fn) if fn is not None else register

    def cron(
        self,
        expression: str,
        *,
        tz: str | None = None,
        name: str | None = None,
        queue: str = "default",
        priority: int = 0,
        max_attempts: int = 1,
        timeout: float | None = None,
        catch_up: float = 60.0,
    ) -> Callable[[F], Job[Any, Any]]:
        """Run an async function of no arguments on a schedule: ``"*/5 * * * *"`` (minute
        hour day month weekday), with seconds first (``"*/10 * * * * *"``) or ``@daily``;
        ``tz`` is an IANA zone (``"Europe/Paris"``, UTC when omitted). Each tick runs once
        however many workers run; see bastion/jobs/cron.py for missed ticks (``catch_up``).
        Stack it on a job, or on another ``@jobs.cron``, to give one job several schedules."""
        from bastion.jobs.cron import Cron

        def schedule(fn: F | Job[Any, Any]) -> Job[Any, Any]:
            if isinstance(fn, Job):
                job, label = fn, f"{fn.name} {' '.join(expression.split())}"
            else:
                job = self.job(
                    name=name,
                    queue=queue,
                    priority=priority,
                    max_attempts=max_attempts,
                    timeout=timeout,
                )(fn)
                label = job.name
            options = job.options
            self._crons.append(
                Cron(
                    job.name,
                    expression,
                    tz=tz,
                    name=label,
                    queue=options.queue,
                    priority=options.priority,
                    max_attempts=options.max_attempts,
                    timeout=options.timeout,
                    tags=options.tags,
                    catch_up=catch_up,
                )
            )
            return job

        return schedule

    def include(self, other: Jobs) -> None:
        """Add another registry's jobs and schedules (a feature module's ``Jobs()``)."""
        if other is self or self in other._walk():
            raise ConfigurationError("Jobs.include: a registry cannot include itself")
        self._included.append(other)
        if self._runtime is not None:
            other._bind(self._runtime)

    # -- what the plugin and the worker read --------------------------------------------------
    @property
    def jobs(self) -> dict[str, Job[Any, Any]]:
        """Every job by name, included registries' too."""
        found: dict[str, Job[Any, Any]] = {}
        for registry in self._walk():
            for name, job in registry._jobs.items():
                if found.setdefault(name, job) is not job:
                    raise ConfigurationError(
                        f"Two jobs are named {name!r} ({found[name].fn!r} and {job.fn!r}): "
                        "rename one, or give it @jobs.job(name='...')"
                    )
        return found

    @property
    def crons(self) -> list[Cron]:
        """Every cron schedule, included registries' too."""
        return [entry for registry in self._walk() for entry in registry._crons]

    @property
    def container(self) -> Container | None:
        return self._runtime.container if self._runtime is not None else None

    def runtime(self, where: str) -> Runtime:
        """The backend and app this registry is bound to (by ``JobsPlugin``)."""
        if self._runtime is None:
            raise ConfigurationError(
                f"{where}: these jobs belong to no app yet. Add App(plugins=[JobsPlugin(jobs)]) "
                "(include feature registries with jobs.include(...)), or in tests use "
                "bastion.jobs.testing.JobsTester(jobs)"
            )
        return self._runtime

    def _bind(self, runtime: Runtime | None) -> None:
        for registry in self._walk():
            registry._runtime = runtime

    def _add(self, job: Job[Any, Any]) -> None:
        if job.name in self._jobs:
            raise ConfigurationError(
                f"A job named {job.name!r} is already registered: rename the function, or "
                "give it @jobs.job(name='...')"
            )
        self._jobs[job.name] = job

    def _walk(self) -> list[Jobs]:
        seen: list[Jobs] = []
        stack: list[Jobs] = [self]
        while stack:
            registry = stack.pop()
            if any(registry is s for s in seen):
                continue
            seen.append(registry)
            stack.extend(reversed(registry._included))
        return seen
