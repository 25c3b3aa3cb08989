"""``JobsPlugin``: connects a ``Jobs`` registry to a backend for the app's lifetime.

    App(plugins=[SQLAlchemyPlugin(), JobsPlugin(jobs)])

The backend is chosen by configuration, not code: ``backend=`` if given, else the
``jobs_backend`` setting (``BASTION_JOBS_BACKEND``): ``"memory"``, ``"database"`` or a
``redis://`` URL; else the database when the app has ``SQLAlchemyPlugin``, else memory. The
plugin starts and stops the backend with the app, adds ``bastion worker`` and ``bastion
jobs``, a readiness check and metrics when ``ObservabilityPlugin`` is there, and with
``run_worker=True`` (``BASTION_JOBS_WORKER=1``) runs a worker inside the app's processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Unpack

from bastion.exceptions import ConfigurationError
from bastion.jobs._runtime import Runtime, observability
from bastion.jobs.backend import JobsBackend
from bastion.jobs.registry import Jobs
from bastion.jobs.worker import Worker, WorkerOptions, worker_options

if TYPE_CHECKING:
    from bastion.app import App

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class JobsPlugin:
    """Jobs for one app. ``backend``: a ``JobsBackend``, ``"memory"``, ``"database"`` or a
    ``redis://`` URL (default: see the module docstring). The worker options are
    ``Worker``'s (``queues``, ``concurrency``, ``lease``, ``grace``, ``poll``,
    ``rescue_every``, ``retry_backoff``, ``max_backoff``, ``cron``): they apply to the
    worker started by this plugin (``run_worker``) and to ``bastion worker``, whose flags of
    the same names override them."""

    def __init__(
        self,
        jobs: Jobs,
        backend: JobsBackend | str | None = None,
        *,
        run_worker: bool | None = None,
        **worker: Unpack[WorkerOptions],
    ) -> None:
        if not isinstance(jobs, Jobs):
            raise ConfigurationError(
                f"JobsPlugin takes the app's Jobs() registry first, got {jobs!r}"
            )
        if backend is not None and not isinstance(backend, str | JobsBackend):
            raise ConfigurationError(
                f"JobsPlugin(backend={backend!r}): give 'memory', 'database', a redis:// URL "
                "or an object implementing bastion.jobs.JobsBackend"
            )
        self.jobs = jobs
        self.backend_spec = backend
        self.run_worker = run_worker
        worker_options(worker)  # refused here, not at start-up
        self.worker_options = worker
        self.app: App[Any] | None = None
        self.backend: JobsBackend | None = None
        self.runtime: Runtime | None = None
        self.worker: Worker | None = None

    def on_app_init(self, app: App[Any]) -> None:
        self.app = app
        self._include_migrations(app)
        self.backend = self._choose_backend(app)
        self.runtime = Runtime(self.backend, app.container)
        self.jobs._bind(self.runtime)
        if self.run_worker is None:
            self.run_worker = _flag(
                _setting(app, "jobs_worker"), "jobs_worker / BASTION_JOBS_WORKER"
            )
        app.lifespan_contexts.append(self._lifespan)
        from bastion.jobs.cli import jobs_commands, worker_command

        app.cli_commands.extend([worker_command(self), jobs_commands(self)])

    # -- the backend -----------------------------------------------------------------------
    def _include_migrations(self, app: App[Any]) -> None:
        """The jobs tables' migrations go with the app's whatever the backend: a database
        that has them applied must still find their revisions after a switch to Redis or
        memory, or ``bastion db upgrade`` cannot locate its current revision."""
        database = _database_plugin(app)
        if database is None or not _has_database():
            return
        import importlib

        module = importlib.import_module("bastion.jobs.database")
        database.include_migrations(module.MIGRATIONS, module.metadata)

    def _choose_backend(self, app: App[Any]) -> JobsBackend:
        spec = self.backend_spec
        if spec is None:
            spec = _setting(app, "jobs_backend") or None
        if spec is None:
            spec = "database" if _database_plugin(app) is not None and _has_database() else "memory"
        if not isinstance(spec, str):
            return spec
        if spec == "memory":
            from bastion.jobs.memory import MemoryBackend

            return MemoryBackend()
        if spec.startswith(("redis://", "rediss://", "unix://")):
            from bastion.jobs.redis import RedisJobsBackend

            return RedisJobsBackend(spec)
        if spec == "database":
            return self._database_backend(app)
        raise ConfigurationError(
            f"jobs backend {spec!r} is unknown: write 'memory', 'database' (the app's "
            "SQLAlchemyPlugin database) or a redis://host:6379/0 URL"
        )

    def _database_backend(self, app: App[Any]) -> JobsBackend:
        plugin = _database_plugin(app)
        if plugin is None:
            raise ConfigurationError(
                "The 'database' jobs backend uses the app's database: add SQLAlchemyPlugin "
                "before JobsPlugin, App(plugins=[SQLAlchemyPlugin(), JobsPlugin(jobs)])"
            )
        if app.plugins.index(plugin) > app.plugins.index(self):
            raise ConfigurationError(
                "JobsPlugin uses the database that SQLAlchemyPlugin opens, so it must come "
                "after it: App(plugins=[SQLAlchemyPlugin(...), JobsPlugin(jobs)])"
            )
        if not _has_database():
            raise ConfigurationError(
                "The 'database' jobs backend is not available in this version of Bastion; "
                "use 'memory' or a redis:// URL"
            )
        import importlib

        database = importlib.import_module("bastion.jobs.database")
        backend: JobsBackend = database.DatabaseBackend.for_app(app)
        return backend

    # -- the app's lifetime ------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _lifespan(self, app: App[Any]) -> AsyncIterator[None]:
        assert self.backend is not None and self.runtime is not None
        self._check_crons()
        await self.backend.start()
        self.runtime.metrics = self._metrics(app)
        obs = observability(app)
        tracing = obs.tracing if obs is not None else None
        self.runtime.tracer = tracing.tracer if tracing is not None else None
        self._add_readiness_check(app)
        task: asyncio.Task[None] | None = None
        if self.run_worker:
            self.worker = self.make_worker()
            self.worker.compile()  # a job that cannot be injected fails start-up
            task = asyncio.create_task(self.worker.run(), name="jobs worker")
        try:
            yield
        finally:
            try:
                if task is not None and self.worker is not None:
                    self.worker.stop()
                    await task
            finally:
                self.worker = None
                await self.backend.stop()

    def make_worker(self, **overrides: Any) -> Worker:
        """A worker for this app's jobs and backend (``bastion worker`` and ``run_worker``)."""
        assert self.backend is not None and self.runtime is not None
        options: Any = {
            **self.worker_options,
            **{k: v for k, v in overrides.items() if v is not None},
        }
        return Worker(
            self.jobs,
            self.backend,
            container=self.runtime.container,
            metrics=self.runtime.metrics,
            tracer=self.runtime.tracer,
            **options,
        )

    def _check_crons(self) -> None:
        from bastion.jobs.cron import check_names

        check_names(self.jobs.crons)  # else the worker's scheduler would stop, cron silent
        for entry in self.jobs.crons:
            job = self.jobs.jobs[entry.job]
            if job.spec.required:
                raise ConfigurationError(
                    f"cron job {job.name} takes arguments ({', '.join(job.spec.required)}), "
                    "but a schedule passes none: give them defaults, or inject them"
                )

    def _metrics(self, app: App[Any]) -> Any:
        obs = observability(app)
        metrics = obs.metrics if obs is not None else None
        if metrics is None:
            return None
        from bastion.jobs._metrics import JobMetrics

        registry = metrics.registry
        existing = _METRICS.get(id(registry)) if registry is not None else _METRICS.get(0)
        if existing is not None and existing[0] is registry:
            return existing[1]
        made = JobMetrics(registry)
        _METRICS[id(registry) if registry is not None else 0] = (registry, made)
        return made

    def _add_readiness_check(self, app: App[Any]) -> None:
        module = sys.modules.get("bastion.observability.plugin")
        if module is None:
            return
        from bastion.observability.health import HealthCheck

        backend = self.backend
        assert backend is not None

        async def probe() -> dict[str, Any]:
            await backend.get("0" * 32)  # one indexed lookup: the backend answers
            return {"backend": type(backend).__name__}

        for plugin in app.plugins:
            if isinstance(plugin, module.ObservabilityPlugin):
                checks = plugin.readiness_checks
                if not any(check.name == "jobs" for check in checks):
                    checks.append(HealthCheck("jobs", probe))


#: Metric families per registry: a registry refuses a second family of the same name, and an
#: app restarted in one process (tests) keeps its registry.
_METRICS: dict[int, tuple[Any, Any]] = {}


def _setting(app: App[Any], name: str) -> Any:
    """A jobs setting from ``app.settings`` (a field an app may add) or the environment."""
    value = getattr(app.settings, name, None)
    if value is None:
        value = os.environ.get(f"BASTION_{name.upper()}")
    return value


def _flag(value: Any, where: str) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigurationError(f"{where}={value!r}: write 1/true/yes/on or 0/false/no/off")


def _database_plugin(app: App[Any]) -> Any:
    module = sys.modules.get("bastion.db.plugin")
    if module is None:
        return None
    return next((p for p in app.plugins if isinstance(p, module.SQLAlchemyPlugin)), None)


def _has_database() -> bool:
    import importlib.util

    return importlib.util.find_spec("bastion.jobs.database") is not None
